/*
 * persona.c: the MTA personas as data, and their template expansion.
 *
 * Texts are from each MTA's documentation and default configuration
 * (Postfix smtpd(8) and postconf(5) defaults on Debian; Exim 4.96's
 * specification, "The default configuration file"; sendmail 8.17's
 * cf/README and op.me; Exchange Server 2019 receive connector defaults).
 */
#include "persona.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const struct persona postfix = {
    .name = "postfix",
    .ehlo_keywords = {"PIPELINING", "SIZE %s", "VRFY", "ETRN", "STARTTLS",
                      "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8",
                      "CHUNKING", NULL},
    .reply =
        {
            [PERSONA_BANNER] = "220 %h ESMTP Postfix (Debian/GNU)",
            [PERSONA_HELO] = "250 %h",
            [PERSONA_EHLO_GREETING] = "%h",
            [PERSONA_MAIL_OK] = "250 2.1.0 Ok",
            [PERSONA_RCPT_OK] = "250 2.1.5 Ok",
            [PERSONA_DATA] = "354 End data with <CR><LF>.<CR><LF>",
            [PERSONA_QUEUED] = "250 2.0.0 Ok: queued as %q",
            [PERSONA_RSET] = "250 2.0.0 Ok",
            [PERSONA_NOOP] = "250 2.0.0 Ok",
            [PERSONA_QUIT] = "221 2.0.0 Bye",
            [PERSONA_VRFY] = "252 2.0.0 %a",
            [PERSONA_EXPN] = "502 5.5.2 Error: command not recognized",
            [PERSONA_HELP] = "502 5.5.2 Error: command not recognized",
            [PERSONA_UNKNOWN] = "502 5.5.2 Error: command not recognized",
            [PERSONA_NEED_MAIL] = "503 5.5.1 Error: need MAIL command",
            [PERSONA_NEED_RCPT] = "503 5.5.1 Error: need RCPT command",
            [PERSONA_TOO_BIG] = "552 5.3.4 Message size exceeds fixed limit",
            [PERSONA_STARTTLS] = "220 2.0.0 Ready to start TLS",
            [PERSONA_RECEIVED] = "Received: from %c (unknown [%i])\n"
                                 "\tby %h (Postfix) with ESMTP id %q\n"
                                 "\tfor <%r>; %d (UTC)",
        },
    .qid = PERSONA_QID_POSTFIX,
    .banner_delay_ms = {0, 20},
    .reply_delay_ms = {0, 5},
};

static const struct persona exim = {
    .name = "exim",
    .ehlo_keywords = {"SIZE %s", "8BITMIME", "PIPELINING", "CHUNKING", "PRDR",
                      "STARTTLS", "HELP", NULL},
    .reply =
        {
            [PERSONA_BANNER] = "220 %h ESMTP Exim 4.96 %D",
            [PERSONA_HELO] = "250 %h Hello %c [%i]",
            [PERSONA_EHLO_GREETING] = "%h Hello %c [%i]",
            [PERSONA_MAIL_OK] = "250 OK",
            [PERSONA_RCPT_OK] = "250 Accepted",
            [PERSONA_DATA] = "354 Enter message, ending with \".\" on a line "
                             "by itself",
            [PERSONA_QUEUED] = "250 OK id=%q",
            [PERSONA_RSET] = "250 Reset OK",
            [PERSONA_NOOP] = "250 OK",
            [PERSONA_QUIT] = "221 %h closing connection",
            [PERSONA_VRFY] = "252 Administrative prohibition",
            [PERSONA_EXPN] = "550 Administrative prohibition",
            [PERSONA_HELP] = "214-Commands supported:\n"
                             "214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT "
                             "NOOP QUIT RSET HELP",
            [PERSONA_UNKNOWN] = "500 unrecognized command",
            [PERSONA_NEED_MAIL] = "503 sender not yet given",
            [PERSONA_NEED_RCPT] = "503 valid RCPT command must precede DATA",
            [PERSONA_TOO_BIG] = "552 Message size exceeds maximum permitted",
            [PERSONA_STARTTLS] = "220 TLS go ahead",
            [PERSONA_RECEIVED] = "Received: from [%i] (helo=%c)\n"
                                 "\tby %h with esmtp (Exim 4.96)\n"
                                 "\t(envelope-from <%f>)\n"
                                 "\tid %q\n"
                                 "\tfor %r; %D",
        },
    .qid = PERSONA_QID_EXIM,
    .banner_delay_ms = {0, 30},
    .reply_delay_ms = {0, 5},
};

static const struct persona sendmail = {
    .name = "sendmail",
    .ehlo_keywords = {"ENHANCEDSTATUSCODES", "PIPELINING", "EXPN", "VERB",
                      "8BITMIME", "SIZE", "DSN", "ETRN", "STARTTLS",
                      "DELIVERBY", "HELP", NULL},
    .reply =
        {
            [PERSONA_BANNER] = "220 %h ESMTP Sendmail 8.17.1.9/8.17.1.9; %d",
            [PERSONA_HELO] = "250 %h Hello %c [%i], pleased to meet you",
            [PERSONA_EHLO_GREETING] = "%h Hello %c [%i], pleased to meet you",
            [PERSONA_MAIL_OK] = "250 2.1.0 <%a>... Sender ok",
            [PERSONA_RCPT_OK] = "250 2.1.5 <%a>... Recipient ok",
            [PERSONA_DATA] = "354 Enter mail, end with \".\" on a line by "
                             "itself",
            [PERSONA_QUEUED] = "250 2.0.0 %q Message accepted for delivery",
            [PERSONA_RSET] = "250 2.0.0 Reset state",
            [PERSONA_NOOP] = "250 2.0.0 OK",
            [PERSONA_QUIT] = "221 2.0.0 %h closing connection",
            [PERSONA_VRFY] = "252 2.5.2 Cannot VRFY user; try RCPT to attempt "
                             "delivery (or try finger)",
            [PERSONA_EXPN] = "502 5.7.0 Sorry, we do not allow this operation",
            [PERSONA_HELP] =
                "214-2.0.0 This is sendmail version 8.17.1.9\n"
                "214-2.0.0 Topics:\n"
                "214-2.0.0 \tHELO\tEHLO\tMAIL\tRCPT\tDATA\n"
                "214-2.0.0 \tRSET\tNOOP\tQUIT\tHELP\tVRFY\n"
                "214-2.0.0 \tEXPN\tVERB\tETRN\tDSN\tAUTH\n"
                "214-2.0.0 \tSTARTTLS\n"
                "214-2.0.0 For more info use \"HELP <topic>\".\n"
                "214-2.0.0 To report bugs in the implementation see\n"
                "214-2.0.0 \thttp://www.sendmail.org/email-addresses.html\n"
                "214-2.0.0 For local information send email to Postmaster at "
                "your site.\n"
                "214 2.0.0 End of HELP info",
            [PERSONA_UNKNOWN] = "500 5.5.1 Command unrecognized: \"%a\"",
            [PERSONA_NEED_MAIL] = "503 5.0.0 Need MAIL before RCPT",
            [PERSONA_NEED_RCPT] = "503 5.0.0 Need RCPT (recipient)",
            [PERSONA_TOO_BIG] = "552 5.2.3 Message size exceeds maximum value",
            [PERSONA_STARTTLS] = "220 2.0.0 Ready to start TLS",
            [PERSONA_RECEIVED] =
                "Received: from %c ([%i])\n"
                "\tby %h (8.17.1.9/8.17.1.9) with ESMTP id %q\n"
                "\tfor <%r>; %d",
        },
    .qid = PERSONA_QID_SENDMAIL,
    .banner_delay_ms = {0, 50},
    .reply_delay_ms = {0, 10},
};

static const struct persona exchange = {
    .name = "exchange",
    .ehlo_keywords = {"SIZE %s", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES",
                      "STARTTLS", "8BITMIME", "BINARYMIME", "CHUNKING",
                      "SMTPUTF8", NULL},
    .reply =
        {
            [PERSONA_BANNER] =
                "220 %h Microsoft ESMTP MAIL Service ready at %d",
            [PERSONA_HELO] = "250 %h Hello [%i]",
            [PERSONA_EHLO_GREETING] = "%h Hello [%i]",
            [PERSONA_MAIL_OK] = "250 2.1.0 Sender OK",
            [PERSONA_RCPT_OK] = "250 2.1.5 Recipient OK",
            [PERSONA_DATA] = "354 Start mail input; end with <CRLF>.<CRLF>",
            [PERSONA_QUEUED] = "250 2.6.0 <%m> [InternalId=%n, Hostname=%h] "
                               "Queued mail for delivery",
            [PERSONA_RSET] = "250 2.0.0 Resetting",
            [PERSONA_NOOP] = "250 2.0.0 OK",
            [PERSONA_QUIT] = "221 2.0.0 Service closing transmission channel",
            [PERSONA_VRFY] = "252 2.1.5 Cannot VRFY user",
            [PERSONA_EXPN] = "502 5.3.3 Command not implemented",
            [PERSONA_HELP] =
                "214-This server supports the following commands:\n"
                "214 HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT "
                "HELP AUTH BDAT",
            [PERSONA_UNKNOWN] = "500 5.3.3 Unrecognized command '%a'",
            [PERSONA_NEED_MAIL] = "503 5.5.2 Need mail command",
            [PERSONA_NEED_RCPT] = "503 5.5.2 Need rcpt command",
            [PERSONA_TOO_BIG] = "552 5.3.4 Message size exceeds fixed maximum "
                                "message size",
            [PERSONA_STARTTLS] = "220 2.0.0 SMTP server ready",
            [PERSONA_RECEIVED] =
                "Received: from %c ([%i]) by %h with Microsoft "
                "SMTP Server id 15.2.1258.28; %d",
        },
    .qid = PERSONA_QID_EXCHANGE,
    .banner_delay_ms = {0, 100},
    .reply_delay_ms = {0, 10},
};

const struct persona *const persona_all[] = {&postfix, &exim, &sendmail,
                                             &exchange, NULL};

const struct persona *
persona_find(const char *name)
{
	for (size_t i = 0; persona_all[i]; i++)
		if (strcmp(persona_all[i]->name, name) == 0)
			return persona_all[i];
	return NULL;
}

static void
random_bytes(void *buf, size_t n)
{
	if (getrandom(buf, n, 0) != (ssize_t)n)
		for (size_t i = 0; i < n; i++)
			((unsigned char *)buf)[i] = (unsigned char)rand();
}

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void
persona_queue_id(const struct persona *p, time_t now, char *out, size_t outlen)
{
	unsigned char r[16];
	struct tm tm;

	random_bytes(r, sizeof(r));
	gmtime_r(&now, &tm);
	switch (p->qid)
	{
		case PERSONA_QID_POSTFIX:
			snprintf(out, outlen, "%02X%02X%02X%02X%X%X", r[0], r[1], r[2],
			         r[3], r[4] & 15, r[5] & 15);
			break;
		case PERSONA_QID_EXIM:
		{
			/* time in base 62, pid, fraction: 6-6-2 */
			char s[17];
			unsigned long t = (unsigned long)now;

			for (int i = 5; i >= 0; i--, t /= 62)
				s[i] = b62[t % 62];
			s[6] = '-';
			for (int i = 7; i < 13; i++)
				s[i] = b62[r[i] % 62];
			s[13] = '-';
			s[14] = b62[r[14] % 62];
			s[15] = b62[r[15] % 62];
			s[16] = '\0';
			snprintf(out, outlen, "%s", s);
			break;
		}
		case PERSONA_QID_SENDMAIL:
			/* year, month, day, hour, minute, second in base 60, then two
			   sequence characters and a pid */
			snprintf(
			    out, outlen, "%c%c%c%c%c%c%c%c%06u", b62[tm.tm_year % 60],
			    b62[tm.tm_mon], b62[tm.tm_mday], b62[tm.tm_hour],
			    b62[tm.tm_min % 60], b62[tm.tm_sec % 60], b62[r[0] % 60],
			    b62[r[1] % 60],
			    (unsigned)(((unsigned)r[2] << 16 | r[3] << 8 | r[4]) % 900000) +
			        10000);
			break;
		case PERSONA_QID_EXCHANGE:
			snprintf(out, outlen, "%u%08u",
			         (unsigned)(r[0] % 9 + 1) * 1000 + (r[1] % 100) * 10 +
			             r[2] % 10,
			         (unsigned)(((unsigned)r[3] << 24 | r[4] << 16 | r[5] << 8 |
			                     r[6]) %
			                    100000000u));
			break;
	}
}

unsigned
persona_delay_ms(const struct persona *p, bool banner)
{
	const unsigned *d = banner ? p->banner_delay_ms : p->reply_delay_ms;
	unsigned r;

	if (d[1] <= d[0])
		return d[0];
	random_bytes(&r, sizeof(r));
	return d[0] + r % (d[1] - d[0] + 1);
}

/* Append s (n bytes) at *o; false when it does not fit. */
static bool
put(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
	if (*o + n >= outlen)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

size_t
persona_format(const struct persona *p, enum persona_reply r,
               const struct persona_vars *v, char *out, size_t outlen)
{
	const char *t = (r < PERSONA_N_REPLIES) ? p->reply[r] : NULL;
	size_t o = 0;

	if (t == NULL || outlen == 0)
		return 0;
	for (; *t; t++)
	{
		char buf[64];
		const char *s = buf;
		struct tm tm;

		if (*t != '%' || t[1] == '\0')
		{
			if (!put(out, outlen, &o, t, 1))
				return 0;
			continue;
		}
		t++;
		switch (*t)
		{
			case 'h':
				s = v->host;
				break;
			case 'c':
				s = v->client_helo;
				break;
			case 'i':
				s = v->client_ip;
				break;
			case 'a':
				s = v->arg;
				break;
			case 'q':
				s = v->queue_id;
				break;
			case 'f':
				s = v->mail_from;
				break;
			case 'r':
				s = v->rcpt;
				break;
			case 'm':
				s = v->message_id;
				break;
			case 'n':
				persona_queue_id(&exchange, v->now, buf, sizeof(buf));
				break;
			case 'd':
			case 'D':
				/* %d: "Mon, 2 Mar 2026 ..." (most MTAs); %D: "02" (Exim) */
				gmtime_r(&v->now, &tm);
				strftime(buf, sizeof(buf),
				         *t == 'd' ? "%a, %e %b %Y %H:%M:%S +0000"
				                   : "%a, %d %b %Y %H:%M:%S +0000",
				         &tm);
				if (*t == 'd' && buf[5] == ' ')
					memmove(buf + 5, buf + 6, strlen(buf + 6) + 1);
				break;
			case '%':
				s = "%";
				break;
			default:
				return 0; /* a bad template: a bug in the table */
		}
		if (s == NULL)
			s = "";
		if (!put(out, outlen, &o, s, strlen(s)))
			return 0;
	}
	out[o] = '\0';
	return o;
}

size_t
persona_ehlo(const struct persona *p, const struct persona_vars *v,
             bool offer_starttls, char *out, size_t outlen)
{
	const char *kw[17];
	size_t n = 0, o = 0, len;
	char line[512];

	kw[n++] = p->reply[PERSONA_EHLO_GREETING];
	for (size_t i = 0; p->ehlo_keywords[i]; i++)
		if (offer_starttls || strcmp(p->ehlo_keywords[i], "STARTTLS") != 0)
			kw[n++] = p->ehlo_keywords[i];
	for (size_t i = 0; i < n; i++)
	{
		char body[400];

		if (i == 0)
		{
			if (persona_format(p, PERSONA_EHLO_GREETING, v, body,
			                   sizeof(body)) == 0)
				return 0;
		}
		else if (strcmp(kw[i], "SIZE %s") == 0)
			snprintf(body, sizeof(body), "SIZE %zu", v->max_size);
		else
			snprintf(body, sizeof(body), "%s", kw[i]);
		len = (size_t)snprintf(line, sizeof(line), "250%c%s\r\n",
		                       i + 1 < n ? '-' : ' ', body);
		if (len >= sizeof(line) || !put(out, outlen, &o, line, len))
			return 0;
	}
	out[o] = '\0';
	return o;
}
