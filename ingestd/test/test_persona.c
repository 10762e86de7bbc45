/*
 * test_persona.c: each persona's replies match, line by line and in shape,
 * a transcript of the real MTA written from its documentation
 * (test/data/persona/NAME.txt).  Shape: host names, addresses, IP
 * addresses, dates and queue ids may differ, in their own format; every
 * other character must be equal.  Also: queue ids are random per message.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona.h"
#include "unit.h"

/* Replace every match of pattern in s (in place) with token. */
static void
subst(char *s, size_t cap, const char *pattern, const char *token)
{
	regex_t re;
	regmatch_t m;
	char out[2048];
	size_t o = 0;
	const char *p = s;

	if (regcomp(&re, pattern, REG_EXTENDED) != 0)
	{
		CHECK_MSG(0, "bad pattern %s", pattern);
		return;
	}
	while (regexec(&re, p, 1, &m, p == s ? 0 : REG_NOTBOL) == 0 &&
	       m.rm_eo > m.rm_so)
	{
		size_t tl = strlen(token);

		if (o + (size_t)m.rm_so + tl >= sizeof(out))
			break;
		memcpy(out + o, p, (size_t)m.rm_so);
		o += (size_t)m.rm_so;
		memcpy(out + o, token, tl);
		o += tl;
		p += m.rm_eo;
	}
	if (o + strlen(p) < sizeof(out) && o + strlen(p) < cap)
	{
		strcpy(out + o, p);
		memcpy(s, out, o + strlen(p) + 1);
	}
	regfree(&re);
}

static const char *
qid_pattern(enum persona_qid q)
{
	switch (q)
	{
		case PERSONA_QID_POSTFIX:
			return "[0-9A-F]{10,11}";
		case PERSONA_QID_EXIM:
			return "[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}";
		case PERSONA_QID_SENDMAIL:
			return "[0-9A-Za-x]{8}[0-9]{6}";
		case PERSONA_QID_EXCHANGE:
			return "[1-9][0-9]{11}";
	}
	return "x";
}

static void
shape(const struct persona *p, char *s, size_t cap)
{
	subst(s, cap, "[A-Za-z0-9._-]+@[A-Za-z0-9.-]+", "<ADDR>");
	subst(s, cap,
	      "[A-Z][a-z]{2}, [1-9] [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:"
	      "[0-9]{2} [+-][0-9]{4}",
	      "<DATE>");
	subst(s, cap,
	      "[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:"
	      "[0-9]{2} [+-][0-9]{4}",
	      "<DATE2>");
	subst(s, cap,
	      "[A-Z][a-z]{2},  [1-9] [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:"
	      "[0-9]{2} [+-][0-9]{4}",
	      "<DATE3>");
	subst(s, cap, qid_pattern(p->qid), "<QID>");
	subst(s, cap, "[0-9]{1,3}(\\.[0-9]{1,3}){3}", "<IP>");
	subst(s, cap, "[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+", "<HOST>");
}

static const struct
{
	const char *kind;
	enum persona_reply r;
	const char *arg;
} kinds[] = {
    {"banner", PERSONA_BANNER, NULL},
    {"helo", PERSONA_HELO, NULL},
    {"starttls", PERSONA_STARTTLS, NULL},
    {"mail", PERSONA_MAIL_OK, "a@spam.test"},
    {"rcpt", PERSONA_RCPT_OK, "b@probe.test"},
    {"data", PERSONA_DATA, NULL},
    {"queued", PERSONA_QUEUED, NULL},
    {"rset", PERSONA_RSET, NULL},
    {"noop", PERSONA_NOOP, NULL},
    {"vrfy", PERSONA_VRFY, "b@probe.test"},
    {"expn", PERSONA_EXPN, "list"},
    {"help", PERSONA_HELP, NULL},
    {"unknown", PERSONA_UNKNOWN, "XYZZY"},
    {"needmail", PERSONA_NEED_MAIL, NULL},
    {"needrcpt", PERSONA_NEED_RCPT, NULL},
    {"toobig", PERSONA_TOO_BIG, NULL},
    {"quit", PERSONA_QUIT, NULL},
    {"received", PERSONA_RECEIVED, NULL},
    {"received_tls", PERSONA_RECEIVED, NULL},
    {"syntax_helo", PERSONA_SYNTAX_HELO, "EHLO"},
    {"syntax_mail", PERSONA_SYNTAX_MAIL, NULL},
    {"syntax_rcpt", PERSONA_SYNTAX_RCPT, NULL},
    {"syntax", PERSONA_SYNTAX, "VRFY address"},
    {"param_syntax", PERSONA_PARAM_SYNTAX, "SIZE"},
    {"param_unknown", PERSONA_PARAM_UNKNOWN, "FOO"},
    {"needhelo", PERSONA_NEED_HELO, NULL},
    {"nestedmail", PERSONA_NESTED_MAIL, NULL},
    {"novalidrcpt", PERSONA_NO_VALID_RCPT, NULL},
    {"badsequence", PERSONA_BAD_SEQUENCE, NULL},
    {"linetoolong", PERSONA_LINE_TOO_LONG, NULL},
    {"toomanyrcpt", PERSONA_TOO_MANY_RCPT, NULL},
    {"notimpl", PERSONA_NOT_IMPLEMENTED, "STARTTLS"},
    {"nostorage", PERSONA_NO_STORAGE, NULL},
    {"queueerror", PERSONA_QUEUE_ERROR, NULL},
    {"toomanyerrors", PERSONA_TOO_MANY_ERRORS, NULL},
    {"timeout", PERSONA_TIMEOUT, NULL},
    {"shutdown", PERSONA_SHUTDOWN, NULL},
    {"toomanyconn", PERSONA_TOO_MANY_CONNECTIONS, NULL},
    {"toomanyfromip", PERSONA_TOO_MANY_FROM_IP, NULL},
    {"tlsactive", PERSONA_TLS_ACTIVE, NULL},
    {"tlsunavailable", PERSONA_TLS_UNAVAILABLE, NULL},
    {"authdisabled", PERSONA_AUTH_DISABLED, NULL},
    {"authalready", PERSONA_AUTH_ALREADY, NULL},
    {"authinmail", PERSONA_AUTH_IN_MAIL, NULL},
    {"authprompt", PERSONA_AUTH_PROMPT, NULL},
    {"authuser", PERSONA_AUTH_USER, NULL},
    {"authpass", PERSONA_AUTH_PASS, NULL},
    {"authok", PERSONA_AUTH_OK, NULL},
    {"authbadmech", PERSONA_AUTH_BAD_MECH, "CRAM-MD5"},
    {"authdecode", PERSONA_AUTH_DECODE, NULL},
    {"authaborted", PERSONA_AUTH_ABORTED, NULL},
    {"authntlm", PERSONA_AUTH_NTLM, NULL},
    {"authfailed", PERSONA_AUTH_FAILED, NULL},
    {"bdatok", PERSONA_BDAT_OK, "4096"},
};

/* Our text for `kind` into lines[] (split at \n or CRLF); how many. */
static int
our_lines(const struct persona *p, const char *kind, struct persona_vars *v,
          char lines[][512], int max)
{
	char buf[4096], *s, *save = NULL;
	int n = 0;

	buf[0] = '\0';
	v->tls = strcmp(kind, "received_tls") == 0
	             ? "TLSv1.3 TLS_AES_256_GCM_SHA384"
	             : NULL;
	if (strcmp(kind, "ehlo") == 0)
		CHECK(persona_ehlo(p, v,
		                   PERSONA_EHLO_STARTTLS | PERSONA_EHLO_AUTH |
		                       PERSONA_EHLO_CHUNKING,
		                   buf, sizeof(buf)) > 0);
	else if (strcmp(kind, "ehlo_tls") == 0)
		CHECK(persona_ehlo(p, v,
		                   PERSONA_EHLO_AUTH | PERSONA_EHLO_TLS |
		                       PERSONA_EHLO_CHUNKING,
		                   buf, sizeof(buf)) > 0);
	else
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(kinds[i].kind, kind) == 0)
			{
				v->arg = kinds[i].arg;
				CHECK_MSG(persona_format(p, kinds[i].r, v, buf, sizeof(buf)) >
				              0,
				          "%s: %s does not expand", p->name, kind);
			}
	for (s = strtok_r(buf, "\r\n", &save); s && n < max;
	     s = strtok_r(NULL, "\r\n", &save))
		snprintf(lines[n++], 512, "%s", s);
	return n;
}

static void
check_persona(const struct persona *p)
{
	char path[128], line[1024], kind[32] = "", ours[24][512];
	struct persona_vars v = {
	    .host = "mx.trap.test",
	    .client_helo = "bot.spam.test",
	    .client_ip = "192.0.2.44",
	    .message_id = "x1y2@spam.test",
	    .mail_from = "a@spam.test",
	    .rcpt = "b@probe.test",
	    .banner = "ESMTP Postfix (Debian/GNU)",
	    .local_ip = "198.51.100.25",
	    .esmtp = true,
	    .n_rcpt = 1,
	    .now = 1772446272, /* 2026-03-02: a one-digit day tells %d from %D */
	};
	char qid[64];
	int n_ours = 0, idx = 0, checked = 0;
	FILE *f;

	persona_queue_id(p, v.now, qid, sizeof(qid));
	v.queue_id = qid;
	snprintf(path, sizeof(path), "data/persona/%s.txt", p->name);
	f = fopen(path, "r");
	CHECK_MSG(f != NULL, "cannot open %s", path);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		char *tab = strchr(line, '\t'), theirs[1024], mine[1024];

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || tab == NULL)
			continue;
		*tab = '\0';
		if (strcmp(line, "size") == 0)
		{
			v.max_size = (size_t)strtoul(tab + 1, NULL, 10);
			continue;
		}
		if (strcmp(line, kind) != 0)
		{
			CHECK_MSG(idx == n_ours, "%s %s: we have %d lines, they %d",
			          p->name, kind, n_ours, idx);
			snprintf(kind, sizeof(kind), "%.31s", line);
			n_ours = our_lines(p, kind, &v, ours, 24);
			idx = 0;
		}
		if (idx >= n_ours)
		{
			CHECK_MSG(0, "%s %s: we lack line %d", p->name, kind, idx + 1);
			idx++;
			continue;
		}
		snprintf(theirs, sizeof(theirs), "%s", tab + 1);
		snprintf(mine, sizeof(mine), "%s", ours[idx++]);
		shape(p, theirs, sizeof(theirs));
		shape(p, mine, sizeof(mine));
		CHECK_MSG(strcmp(theirs, mine) == 0,
		          "%s %s:\n    real: %s\n    ours: %s", p->name, kind, theirs,
		          mine);
		checked++;
	}
	CHECK_MSG(idx == n_ours, "%s %s: we have %d lines, they %d", p->name, kind,
	          n_ours, idx);
	fclose(f);
	CHECK_MSG(checked >= 70, "%s: only %d lines checked", p->name, checked);
}

/*
 * The first line of the Received header for each state of the client's
 * reverse DNS (%o, %N): what each MTA writes (persona.c says where each
 * form comes from).
 */
static void
test_persona_received_from(void)
{
	static const struct
	{
		const char *persona;
		enum persona_rdns rdns;
		const char *want;
	} cases[] = {
	    {"postfix", PERSONA_RDNS_NONE,
	     "Received: from bot.test (unknown [192.0.2.7])"},
	    {"postfix", PERSONA_RDNS_UNCONFIRMED,
	     "Received: from bot.test (unknown [192.0.2.7])"},
	    {"postfix", PERSONA_RDNS_CONFIRMED,
	     "Received: from bot.test (dsl-7.pool.test [192.0.2.7])"},
	    {"exim", PERSONA_RDNS_NONE,
	     "Received: from [192.0.2.7] (helo=bot.test)"},
	    {"exim", PERSONA_RDNS_UNCONFIRMED,
	     "Received: from [192.0.2.7] (helo=bot.test)"},
	    {"exim", PERSONA_RDNS_CONFIRMED,
	     "Received: from dsl-7.pool.test ([192.0.2.7] helo=bot.test)"},
	    {"exim", PERSONA_RDNS_CONFIRMED_HELO,
	     "Received: from dsl-7.pool.test ([192.0.2.7])"},
	    {"postfix", PERSONA_RDNS_CONFIRMED_HELO,
	     "Received: from bot.test (dsl-7.pool.test [192.0.2.7])"},
	    {"sendmail", PERSONA_RDNS_CONFIRMED_HELO,
	     "Received: from bot.test (dsl-7.pool.test [192.0.2.7])"},
	    {"sendmail", PERSONA_RDNS_NONE,
	     "Received: from bot.test ([192.0.2.7])"},
	    {"sendmail", PERSONA_RDNS_UNCONFIRMED,
	     "Received: from bot.test (dsl-7.pool.test [192.0.2.7] (may be "
	     "forged))"},
	    {"sendmail", PERSONA_RDNS_CONFIRMED,
	     "Received: from bot.test (dsl-7.pool.test [192.0.2.7])"},
	    {"exchange", PERSONA_RDNS_NONE,
	     "Received: from bot.test (192.0.2.7) by h.test"},
	    {"exchange", PERSONA_RDNS_CONFIRMED,
	     "Received: from bot.test (192.0.2.7) by h.test"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct persona_vars v = {.host = "h.test",
		                         .client_helo = "bot.test",
		                         .client_ip = "192.0.2.7",
		                         .local_ip = "198.51.100.25",
		                         .queue_id = "Q1",
		                         .now = 1780000000};
		char buf[2048], *nl;

		v.rdns = cases[i].rdns;
		v.client_name =
		    cases[i].rdns == PERSONA_RDNS_NONE ? NULL : "dsl-7.pool.test";
		CHECK(persona_format(persona_find(cases[i].persona), PERSONA_RECEIVED,
		                     &v, buf, sizeof(buf)) > 0);
		if ((nl = strchr(buf, '\n')))
			*nl = '\0';
		CHECK_MSG(strcmp(buf, cases[i].want) == 0, "%s rdns=%d: \"%s\"",
		          cases[i].persona, (int)cases[i].rdns, buf);
	}
}

void
test_persona(void)
{
	int n = 0;

	for (size_t i = 0; persona_all[i]; i++, n++)
	{
		const struct persona *p = persona_all[i];
		char a[64], b[64], buf[2048];
		struct persona_vars v = {.host = "h.test", .now = 1780000000};

		check_persona(p);
		/* queue ids: random per message */
		persona_queue_id(p, v.now, a, sizeof(a));
		persona_queue_id(p, v.now, b, sizeof(b));
		CHECK_MSG(strcmp(a, b) != 0, "%s: queue id %s twice", p->name, a);
		/* without STARTTLS, AUTH, CHUNKING offered, they are absent */
		CHECK(persona_ehlo(p, &v, 0, buf, sizeof(buf)) > 0 &&
		      strstr(buf, "STARTTLS") == NULL && strstr(buf, "AUTH") == NULL &&
		      strstr(buf, "CHUNKING") == NULL);
		/* a buffer too small: 0, never an overflow */
		CHECK(persona_format(p, PERSONA_BANNER, &v, buf, 8) == 0);
		/* every reply is there, starts with a code, names no trap */
		for (int r = 0; r < PERSONA_N_REPLIES; r++)
		{
			size_t len =
			    persona_format(p, (enum persona_reply)r, &v, buf, sizeof(buf));

			CHECK_MSG(len > 0, "%s: reply %d does not expand", p->name, r);
			if (r != PERSONA_EHLO_GREETING && r != PERSONA_RECEIVED)
				CHECK_MSG(len >= 4 && buf[0] >= '2' && buf[0] <= '5' &&
				              buf[3] == (strchr(buf, '\n') ? '-' : ' '),
				          "%s: reply %d: %s", p->name, r, buf);
			for (char *c = buf; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			CHECK_MSG(!strstr(buf, "spamlab") && !strstr(buf, "trap") &&
			              !strstr(buf, "ingestd") && !strstr(buf, "honeypot"),
			          "%s: reply %d names the trap", p->name, r);
		}
		/* delays: in [min, max] times the scale, none when off */
		for (int k = 0; k < PERSONA_N_DELAYS; k++)
		{
			unsigned d = persona_delay_ms(p, (enum persona_delay)k, 1);
			unsigned d2 = persona_delay_ms(p, (enum persona_delay)k, 2);

			CHECK(d >= p->delay_ms[k][0] && d <= p->delay_ms[k][1]);
			CHECK(d2 >= 2 * p->delay_ms[k][0] && d2 <= 2 * p->delay_ms[k][1]);
			CHECK(persona_delay_ms(p, (enum persona_delay)k, 0) == 0);
		}
		CHECK(p->delay_ms[PERSONA_DELAY_BANNER][0] > 0);
		CHECK(persona_find(p->name) == p);
	}
	CHECK(n == 4);
	CHECK(persona_find("qmail") == NULL);
	{
		double x = -1;

		CHECK(persona_delay_parse("on", &x) && x == 1);
		CHECK(persona_delay_parse("off", &x) && x == 0);
		CHECK(persona_delay_parse("0.5", &x) && x == 0.5);
		CHECK(persona_delay_parse("10", &x) && x == 10);
		CHECK(!persona_delay_parse("11", &x));
		CHECK(!persona_delay_parse("-1", &x));
		CHECK(!persona_delay_parse("yes", &x));
		CHECK(!persona_delay_parse("", &x));
		CHECK(!persona_delay_parse("1x", &x));
	}
	test_persona_received_from();
}
