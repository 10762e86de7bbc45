/*
 * smtp.c: the SMTP protocol.  Each command is one row of a table: the
 * states in which it is allowed and the reply when it is not (the check),
 * whether it takes an argument, and the function that acts on it.  Every
 * state change goes through session_enter_state().
 *
 * Replies imitate Postfix, so to a prober this looks like a real,
 * carelessly configured MTA that relays anything.
 */
#include "smtp.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "persona.h"
#include "relayhook.h"
#include "session.h"
#include "spool.h"
#include "spoolrec.h"

#define ADDR_MAX 1024

/* ---- parsing ---- */

static const char *const verb_names[] = {
    [SMTP_HELO] = "HELO",         [SMTP_EHLO] = "EHLO", [SMTP_MAIL] = "MAIL",
    [SMTP_RCPT] = "RCPT",         [SMTP_DATA] = "DATA", [SMTP_BDAT] = "BDAT",
    [SMTP_RSET] = "RSET",         [SMTP_NOOP] = "NOOP", [SMTP_QUIT] = "QUIT",
    [SMTP_VRFY] = "VRFY",         [SMTP_EXPN] = "EXPN", [SMTP_HELP] = "HELP",
    [SMTP_STARTTLS] = "STARTTLS", [SMTP_AUTH] = "AUTH",
};

void
smtp_parse_command(const char *line, size_t len, struct smtp_command *out)
{
	size_t vlen = 0, i;

	while (vlen < len && line[vlen] != ' ' && line[vlen] != '\t')
		vlen++;
	out->verb = SMTP_UNKNOWN;
	for (i = 0; i < SMTP_UNKNOWN; i++)
	{
		if (strlen(verb_names[i]) == vlen &&
		    strncasecmp(line, verb_names[i], vlen) == 0)
		{
			out->verb = (enum smtp_verb)i;
			break;
		}
	}
	i = vlen;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	/* trailing blanks are not part of the argument */
	while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	out->arg = line + i;
	out->arg_len = len - i;
}

bool
smtp_parse_path(const char *arg, size_t len, const char *prefix, char *addr,
                size_t addrsz, size_t *params_off)
{
	size_t plen = strlen(prefix), i, start, end;

	if (len < plen || strncasecmp(arg, prefix, plen) != 0)
		return false;
	i = plen;
	while (i < len && arg[i] == ' ') /* tolerated, like Postfix */
		i++;
	if (i < len && arg[i] == '<')
	{
		start = ++i;
		while (i < len && arg[i] != '>')
			i++;
		if (i == len)
			return false;
		end = i++;
		/* a source route "<@a,@b:user@c>" keeps only the mailbox */
		if (end > start && arg[start] == '@')
		{
			const char *colon = memchr(arg + start, ':', end - start);

			if (colon)
				start = (size_t)(colon - arg) + 1;
		}
	}
	else
	{
		/* bare address, as sloppy clients send */
		start = i;
		while (i < len && arg[i] != ' ')
			i++;
		end = i;
		if (end == start)
			return false;
	}
	if (end - start >= addrsz)
		return false;
	for (size_t k = start; k < end; k++)
		if ((unsigned char)arg[k] < 0x20 || arg[k] == 0x7f)
			return false;
	memcpy(addr, arg + start, end - start);
	addr[end - start] = '\0';
	if (i < len && arg[i] != ' ')
		return false;
	while (i < len && arg[i] == ' ')
		i++;
	*params_off = i;
	return true;
}

int
smtp_parse_mail_params(const char *p, size_t len, struct smtp_params *out,
                       char *err, size_t errsz)
{
	size_t i = 0;

	out->size = -1;
	out->body_8bit = false;
	out->smtputf8 = false;
	while (i < len)
	{
		size_t start = i, klen;
		const char *eq;
		char val[64];
		size_t vlen;

		while (i < len && p[i] != ' ')
			i++;
		eq = memchr(p + start, '=', i - start);
		klen = eq ? (size_t)(eq - (p + start)) : i - start;
		vlen = eq ? (size_t)(p + i - eq - 1) : 0;
		if (vlen >= sizeof(val))
			vlen = sizeof(val) - 1;
		if (eq)
			memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';

		if (klen == 4 && strncasecmp(p + start, "SIZE", 4) == 0 && eq)
		{
			char *end;
			long long v = strtoll(val, &end, 10);

			if (!*val || *end || v < 0 || !isdigit((unsigned char)val[0]))
			{
				snprintf(err, errsz, "5.5.4 Bad message size syntax");
				return 501;
			}
			out->size = v;
		}
		else if (klen == 4 && strncasecmp(p + start, "BODY", 4) == 0 && eq)
		{
			if (strcasecmp(val, "8BITMIME") == 0)
				out->body_8bit = true;
			else if (strcasecmp(val, "7BIT") != 0)
			{
				snprintf(err, errsz, "5.5.4 Unsupported BODY parameter");
				return 501;
			}
		}
		else if (klen == 8 && strncasecmp(p + start, "SMTPUTF8", 8) == 0 && !eq)
			out->smtputf8 = true;
		else if (klen == 4 && strncasecmp(p + start, "AUTH", 4) == 0 && eq)
			; /* RFC 4954 AUTH=<>: accepted and ignored */
		else
		{
			snprintf(err, errsz, "5.5.4 Unsupported option: %.*s",
			         (int)(klen > 40 ? 40 : klen), p + start);
			return 555;
		}
		while (i < len && p[i] == ' ')
			i++;
	}
	return 0;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
smtp_base64_decode(const char *in, size_t len, uint8_t *out, size_t outsz)
{
	size_t o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		int v;

		if (in[i] == '=')
		{
			/* padding only at the end, at most two */
			if (i < len - 2 || ++pad > 2)
				return -1;
			continue;
		}
		if (pad)
			return -1;
		v = b64val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (long)o;
}

/* ---- replies and helpers ---- */

static const char *
smtp_hostname(void)
{
	return g_daemon.hostname;
}

/* A command failed: count it; too many ends the session. */
static void
smtp_error(struct session *s)
{
	if (++s->errors >= g_daemon.cfg.max_errors)
	{
		METRIC_INC(M_LIMIT_ERRORS);
		log_event(LOG_INFO, s->sid, "limit", "limit=errors errors=%d",
		          s->errors);
		session_reply(s, 421, "4.7.0 %s Error: too many errors",
		              smtp_hostname());
		session_close(s, "errors");
	}
}

/*
 * The configured persona, or NULL for the default (postfix): its replies
 * are the inline texts in this file, which existing clients and tests pin,
 * so the default behaves exactly as before the persona setting existed.
 */
static const struct persona *
smtp_persona(void)
{
	const struct persona *p = persona_find(g_daemon.cfg.persona);

	return p && strcmp(p->name, "postfix") != 0 ? p : NULL;
}

/* Copy a client-supplied string for a reply: bounded, no control bytes. */
static const char *
smtp_reply_safe(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; in && in[n] && n + 1 < outlen; n++)
		out[n] = ((unsigned char)in[n] < 0x20 || in[n] == 0x7f) ? '?' : in[n];
	out[n] = '\0';
	return out;
}

/* The template values for a persona reply in this session. */
static void
smtp_persona_vars(struct session *s, struct persona_vars *v, const char *arg,
                  char *helo, char *argbuf, size_t buflen)
{
	memset(v, 0, sizeof(*v));
	v->host = smtp_hostname();
	v->client_helo = smtp_reply_safe(s->helo, helo, buflen);
	v->client_ip = s->peer_ip;
	v->arg = smtp_reply_safe(arg, argbuf, buflen);
	v->mail_from = s->mail_from;
	v->rcpt = s->n_rcpt ? s->rcpt[0] : NULL;
	v->now = time(NULL);
	v->max_size = (size_t)g_daemon.cfg.max_message_size;
}

/*
 * Send reply r of the configured persona (multi-line texts become "code-"
 * continuation lines with CRLF).  False when the default persona is on, so
 * the caller sends its inline text instead.
 */
static bool
smtp_persona_reply(struct session *s, enum persona_reply r, const char *arg,
                   const char *queue_id, const char *message_id)
{
	const struct persona *p = smtp_persona();
	struct persona_vars v;
	char helo[256], argbuf[256], text[2048], out[2304];
	size_t n, o = 0;

	if (!p)
		return false;
	smtp_persona_vars(s, &v, arg, helo, argbuf, sizeof(helo));
	v.queue_id = queue_id;
	v.message_id = message_id;
	n = persona_format(p, r, &v, text, sizeof(text));
	if (n < 4 || !isdigit((unsigned char)text[0]) ||
	    !isdigit((unsigned char)text[1]) || !isdigit((unsigned char)text[2]))
		return false; /* a bad table row: fall back to the inline text */
	for (size_t i = 0; i < n && o + 5 < sizeof(out); i++)
	{
		if (text[i] == '\n')
			out[o++] = '\r';
		out[o++] = text[i];
	}
	out[o++] = '\r';
	out[o++] = '\n';
	out[o] = '\0';
	session_reply_raw(
	    s, (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0'), out);
	return true;
}

void
smtp_greet(struct session *s)
{
	if (!smtp_persona_reply(s, PERSONA_BANNER, NULL, NULL, NULL))
		session_reply(s, 220, "%s %s", smtp_hostname(), g_daemon.cfg.banner);
	session_enter_state(s, SESSION_STATE_GREETED);
}

/* ---- command actions ---- */

/*
 * Drop keyword kw's line from a persona's EHLO reply (a feature switched
 * off, such as CHUNKING); when it was the last line, the one before it
 * becomes the last ("250 ").
 */
static void
smtp_ehlo_drop(char *text, const char *kw)
{
	char pat[64];
	size_t n = (size_t)snprintf(pat, sizeof(pat), "250-%s\r\n", kw);
	size_t len = strlen(text);
	char *p;

	if (n >= sizeof(pat))
		return;
	if ((p = strstr(text, pat)))
	{
		memmove(p, p + n, strlen(p + n) + 1);
		return;
	}
	pat[3] = ' ';
	if (len > n && strcmp(text + len - n, pat) == 0 &&
	    text[len - n - 1] == '\n')
	{
		text[len - n] = '\0';
		for (p = text + len - n - 1; p > text && p[-1] != '\n'; p--)
			;
		if (strlen(p) > 3)
			p[3] = ' ';
	}
}

static void
act_helo(struct session *s, const struct smtp_command *c)
{
	char line[512];

	free(s->helo);
	s->helo = session_strdup_wire(c->arg, c->arg_len);
	s->esmtp = c->verb == SMTP_EHLO;
	session_reset_transaction(s);
	if (!s->esmtp)
	{
		if (!smtp_persona_reply(s, PERSONA_HELO, NULL, NULL, NULL))
			session_reply(s, 250, "%s", smtp_hostname());
		session_enter_state(s, SESSION_STATE_READY);
		return;
	}
	if (smtp_persona())
	{
		struct persona_vars v;
		char helo[256], argbuf[256], text[4096];

		smtp_persona_vars(s, &v, NULL, helo, argbuf, sizeof(helo));
		if (persona_ehlo(smtp_persona(), &v,
		                 g_daemon.cfg.starttls && g_daemon.ssl_ctx &&
		                     !s->tls_active,
		                 text, sizeof(text)) > 0)
		{
			if (!g_daemon.cfg.chunking)
				smtp_ehlo_drop(text, "CHUNKING");
			session_reply_raw(s, 250, text);
			session_enter_state(s, SESSION_STATE_READY);
			return;
		}
	}
	{
		struct evbuffer *b = evbuffer_new();
		size_t len;
		char *text;

		if (!b)
		{
			session_reply(s, 421, "4.3.0 %s Error: out of memory",
			              smtp_hostname());
			session_close(s, "error");
			return;
		}
		evbuffer_add_printf(b,
		                    "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n"
		                    "250-VRFY\r\n250-ETRN\r\n",
		                    smtp_hostname(),
		                    (long long)g_daemon.cfg.max_message_size);
		if (g_daemon.cfg.starttls && g_daemon.ssl_ctx && !s->tls_active)
			evbuffer_add_printf(b, "250-STARTTLS\r\n");
		if (g_daemon.cfg.auth)
			evbuffer_add_printf(b, "250-AUTH PLAIN LOGIN\r\n"
			                       "250-AUTH=PLAIN LOGIN\r\n");
		evbuffer_add_printf(b, "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n");
		if (g_daemon.cfg.chunking)
			evbuffer_add_printf(b, "250-CHUNKING\r\n");
		evbuffer_add_printf(b, "250 SMTPUTF8\r\n");
		len = evbuffer_get_length(b);
		text = (char *)evbuffer_pullup(b, -1);
		if (len < sizeof(line) * 2 && text)
		{
			char *copy = malloc(len + 1);

			if (copy)
			{
				memcpy(copy, text, len);
				copy[len] = '\0';
				session_reply_raw(s, 250, copy);
				free(copy);
			}
		}
		evbuffer_free(b);
	}
	session_enter_state(s, SESSION_STATE_READY);
}

static void
act_mail(struct session *s, const struct smtp_command *c)
{
	char addr[ADDR_MAX], err[128];
	struct smtp_params params;
	size_t poff;
	int code;

	if (!smtp_parse_path(c->arg, c->arg_len, "FROM:", addr, sizeof(addr),
	                     &poff))
	{
		session_reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
		smtp_error(s);
		return;
	}
	code = smtp_parse_mail_params(c->arg + poff, c->arg_len - poff, &params,
	                              err, sizeof(err));
	if (code)
	{
		session_reply(s, code, "%s", err);
		smtp_error(s);
		return;
	}
	if (params.size > g_daemon.cfg.max_message_size)
	{
		METRIC_INC(M_LIMIT_MESSAGE_SIZE);
		log_event(LOG_INFO, s->sid, "limit",
		          "limit=message_size declared=%lld max=%lld",
		          (long long)params.size,
		          (long long)g_daemon.cfg.max_message_size);
		if (!smtp_persona_reply(s, PERSONA_TOO_BIG, NULL, NULL, NULL))
			session_reply(s, 552, "5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->mail_from = strdup(addr);
	s->smtputf8 = params.smtputf8;
	if (!smtp_persona_reply(s, PERSONA_MAIL_OK, addr, NULL, NULL))
		session_reply(s, 250, "2.1.0 Ok");
	session_enter_state(s, SESSION_STATE_MAIL);
}

static void
act_rcpt(struct session *s, const struct smtp_command *c)
{
	char addr[ADDR_MAX];
	size_t poff;

	if (!smtp_parse_path(c->arg, c->arg_len, "TO:", addr, sizeof(addr),
	                     &poff) ||
	    !*addr)
	{
		session_reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>");
		smtp_error(s);
		return;
	}
	if ((int64_t)s->n_rcpt >= g_daemon.cfg.max_recipients)
	{
		METRIC_INC(M_LIMIT_RECIPIENTS);
		log_event(LOG_INFO, s->sid, "limit", "limit=recipients max=%lld",
		          (long long)g_daemon.cfg.max_recipients);
		session_reply(s, 452, "4.5.3 Error: too many recipients");
		return;
	}
	if (s->n_rcpt == s->cap_rcpt)
	{
		size_t cap = s->cap_rcpt ? s->cap_rcpt * 2 : 4;
		char **r = realloc(s->rcpt, cap * sizeof(*r));

		if (!r)
		{
			session_reply(s, 452, "4.3.1 Error: insufficient system storage");
			return;
		}
		s->rcpt = r;
		s->cap_rcpt = cap;
	}
	if (!(s->rcpt[s->n_rcpt] = strdup(addr)))
	{
		session_reply(s, 452, "4.3.1 Error: insufficient system storage");
		return;
	}
	s->n_rcpt++;
	METRIC_INC(M_RECIPIENTS);
	if (!smtp_persona_reply(s, PERSONA_RCPT_OK, addr, NULL, NULL))
		session_reply(s, 250, "2.1.5 Ok");
	session_enter_state(s, SESSION_STATE_RCPT);
}

/* Allocate the body buffer and a message id for DATA or the first BDAT. */
static bool
smtp_begin_message(struct session *s)
{
	if (!s->body && !(s->body = evbuffer_new()))
		return false;
	s->too_big = false;
	dotstuff_init(&s->ds);
	return true;
}

static void
act_data(struct session *s, const struct smtp_command *c)
{
	if (!smtp_begin_message(s))
	{
		session_reply(s, 451, "4.3.0 Error: insufficient system storage");
		return;
	}
	if (!smtp_persona_reply(s, PERSONA_DATA, NULL, NULL, NULL))
		session_reply(s, 354, "End data with <CR><LF>.<CR><LF>");
	session_enter_state(s, SESSION_STATE_DATA);
}

static void
act_bdat(struct session *s, const struct smtp_command *c)
{
	char buf[64], *end;
	long long n;
	bool last = false;
	size_t i = 0;

	while (i < c->arg_len && i < sizeof(buf) - 1 && c->arg[i] != ' ')
	{
		buf[i] = c->arg[i];
		i++;
	}
	buf[i] = '\0';
	n = strtoll(buf, &end, 10);
	if (!*buf || *end || n < 0 || !isdigit((unsigned char)buf[0]))
	{
		/* the chunk size is unknown: nothing can be skipped reliably */
		session_reply(s, 501, "5.5.4 Syntax: BDAT count [LAST]");
		session_close(s, "protocol");
		return;
	}
	while (i < c->arg_len && c->arg[i] == ' ')
		i++;
	if (i < c->arg_len)
	{
		if (c->arg_len - i == 4 && strncasecmp(c->arg + i, "LAST", 4) == 0)
			last = true;
		else
		{
			session_reply(s, 501, "5.5.4 Syntax: BDAT count [LAST]");
			session_close(s, "protocol");
			return;
		}
	}
	s->bdat_remaining = n;
	s->bdat_last = last;
	/* a chunk out of sequence is read and thrown away (RFC 3030) */
	s->bdat_failed =
	    !g_daemon.cfg.chunking || s->state == SESSION_STATE_GREETED ||
	    s->state == SESSION_STATE_READY || s->state == SESSION_STATE_MAIL;
	if (!s->bdat_failed && !s->body && !smtp_begin_message(s))
		s->bdat_failed = true;
	session_enter_state(s, SESSION_STATE_BDAT);
}

static void
act_rset(struct session *s, const struct smtp_command *c)
{
	session_reset_transaction(s);
	if (!smtp_persona_reply(s, PERSONA_RSET, NULL, NULL, NULL))
		session_reply(s, 250, "2.0.0 Ok");
	session_enter_state(s, s->state == SESSION_STATE_GREETED
	                           ? SESSION_STATE_GREETED
	                           : SESSION_STATE_READY);
}

static void
act_noop(struct session *s, const struct smtp_command *c)
{
	if (!smtp_persona_reply(s, PERSONA_NOOP, NULL, NULL, NULL))
		session_reply(s, 250, "2.0.0 Ok");
}

static void
act_quit(struct session *s, const struct smtp_command *c)
{
	if (!smtp_persona_reply(s, PERSONA_QUIT, NULL, NULL, NULL))
		session_reply(s, 221, "2.0.0 Bye");
	session_close(s, "quit");
}

static void
act_vrfy(struct session *s, const struct smtp_command *c)
{
	char addr[ADDR_MAX];
	size_t n = c->arg_len < sizeof(addr) - 1 ? c->arg_len : sizeof(addr) - 1;

	if (c->arg_len == 0)
	{
		session_reply(s, 501, "5.5.4 Syntax: VRFY address");
		smtp_error(s);
		return;
	}
	memcpy(addr, c->arg, n);
	addr[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)addr[i] < 0x20)
			addr[i] = '?';
	if (!smtp_persona_reply(s, PERSONA_VRFY, addr, NULL, NULL))
		session_reply(s, 252, "2.0.0 %s", addr);
}

static void
act_expn(struct session *s, const struct smtp_command *c)
{
	if (!smtp_persona_reply(s, PERSONA_EXPN, NULL, NULL, NULL))
		session_reply(s, 502, "5.5.1 Error: command not implemented");
}

static void
act_help(struct session *s, const struct smtp_command *c)
{
	if (smtp_persona_reply(s, PERSONA_HELP, NULL, NULL, NULL))
		return;
	session_reply(s, 214,
	              "2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT "
	              "RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

static void
act_starttls(struct session *s, const struct smtp_command *c)
{
	if (!g_daemon.cfg.starttls || !g_daemon.ssl_ctx)
	{
		session_reply(s, 502, "5.5.1 Error: command not implemented");
		smtp_error(s);
		return;
	}
	if (s->tls_active)
	{
		session_reply(s, 554, "5.5.1 Error: TLS already active");
		smtp_error(s);
		return;
	}
	if (c->arg_len)
	{
		session_reply(s, 501, "5.5.4 Syntax: STARTTLS");
		smtp_error(s);
		return;
	}
	if (!smtp_persona_reply(s, PERSONA_STARTTLS, NULL, NULL, NULL))
		session_reply(s, 220, "2.0.0 Ready to start TLS");
	if (!session_start_tls(s))
		session_close(s, "tls_error");
}

/* PLAIN response: authzid NUL authcid NUL passwd. */
static void
smtp_auth_plain(struct session *s, const char *b64, size_t len)
{
	uint8_t buf[1024];
	long n;
	const uint8_t *p1, *p2;
	char *user, *pass;

	n = smtp_base64_decode(b64, len, buf, sizeof(buf));
	if (n < 0 || !(p1 = memchr(buf, 0, (size_t)n)) ||
	    !(p2 = memchr(p1 + 1, 0, (size_t)(buf + n - (p1 + 1)))))
	{
		session_record_auth(s, "PLAIN", NULL, NULL, 501);
		session_reply(s, 501, "5.5.2 Cannot decode response");
		smtp_error(s);
		return;
	}
	user = session_strdup_wire((const char *)p1 + 1, (size_t)(p2 - p1 - 1));
	pass =
	    session_strdup_wire((const char *)p2 + 1, (size_t)(buf + n - (p2 + 1)));
	session_record_auth(s, "PLAIN", user, pass, 235);
	free(s->auth_user);
	free(s->auth_pass);
	s->auth_user = user;
	s->auth_pass = pass;
	session_reply(s, 235, "2.7.0 Authentication successful");
}

static void
act_auth(struct session *s, const struct smtp_command *c)
{
	size_t mlen = 0, i;

	if (!g_daemon.cfg.auth)
	{
		session_reply(s, 502, "5.5.1 Error: command not implemented");
		smtp_error(s);
		return;
	}
	if (s->auth_user)
	{
		session_reply(s, 503, "5.5.1 Error: already authenticated");
		smtp_error(s);
		return;
	}
	while (mlen < c->arg_len && c->arg[mlen] != ' ')
		mlen++;
	i = mlen;
	while (i < c->arg_len && c->arg[i] == ' ')
		i++;
	METRIC_INC(M_AUTH_ATTEMPTS);
	if (mlen == 5 && strncasecmp(c->arg, "PLAIN", 5) == 0)
	{
		if (i < c->arg_len)
		{
			if (c->arg_len - i == 1 && c->arg[i] == '=')
				smtp_auth_plain(s, "", 0);
			else
				smtp_auth_plain(s, c->arg + i, c->arg_len - i);
			return;
		}
		s->auth_step = AUTH_STEP_PLAIN;
		session_reply(s, 334, " ");
		session_enter_state(s, SESSION_STATE_AUTH);
		return;
	}
	if (mlen == 5 && strncasecmp(c->arg, "LOGIN", 5) == 0)
	{
		if (i < c->arg_len)
		{
			uint8_t buf[512];
			long n = smtp_base64_decode(c->arg + i, c->arg_len - i, buf,
			                            sizeof(buf));

			if (n < 0)
			{
				session_record_auth(s, "LOGIN", NULL, NULL, 501);
				session_reply(s, 501, "5.5.2 Cannot decode response");
				smtp_error(s);
				return;
			}
			s->auth_pending_user = session_strdup_wire((char *)buf, (size_t)n);
			s->auth_step = AUTH_STEP_LOGIN_PASS;
			session_reply(s, 334, "UGFzc3dvcmQ6");
		}
		else
		{
			s->auth_step = AUTH_STEP_LOGIN_USER;
			session_reply(s, 334, "VXNlcm5hbWU6");
		}
		session_enter_state(s, SESSION_STATE_AUTH);
		return;
	}
	{
		char mech[32];
		size_t n = mlen < sizeof(mech) - 1 ? mlen : sizeof(mech) - 1;

		memcpy(mech, c->arg, n);
		mech[n] = '\0';
		session_record_auth(s, mech, NULL, NULL, 535);
	}
	session_reply(s, 535,
	              "5.7.8 Error: authentication failed: Invalid "
	              "authentication mechanism");
	smtp_error(s);
}

/* A continuation line of AUTH (state SESSION_STATE_AUTH). */
static void
smtp_auth_continue(struct session *s, const char *line, size_t len)
{
	enum auth_step step = s->auth_step;
	uint8_t buf[512];
	long n;

	s->auth_step = AUTH_STEP_NONE;
	session_enter_state(s, SESSION_STATE_READY);
	if (len == 1 && line[0] == '*')
	{
		session_record_auth(s, step == AUTH_STEP_PLAIN ? "PLAIN" : "LOGIN",
		                    s->auth_pending_user, NULL, 501);
		free(s->auth_pending_user);
		s->auth_pending_user = NULL;
		session_reply(s, 501, "5.7.0 Authentication aborted");
		return;
	}
	if (step == AUTH_STEP_PLAIN)
	{
		smtp_auth_plain(s, line, len);
		return;
	}
	n = smtp_base64_decode(line, len, buf, sizeof(buf));
	if (n < 0)
	{
		session_record_auth(s, "LOGIN", s->auth_pending_user, NULL, 501);
		free(s->auth_pending_user);
		s->auth_pending_user = NULL;
		session_reply(s, 501, "5.5.2 Cannot decode response");
		smtp_error(s);
		return;
	}
	if (step == AUTH_STEP_LOGIN_USER)
	{
		free(s->auth_pending_user);
		s->auth_pending_user = session_strdup_wire((char *)buf, (size_t)n);
		s->auth_step = AUTH_STEP_LOGIN_PASS;
		session_reply(s, 334, "UGFzc3dvcmQ6");
		session_enter_state(s, SESSION_STATE_AUTH);
		return;
	}
	free(s->auth_user);
	free(s->auth_pass);
	s->auth_user = s->auth_pending_user;
	s->auth_pending_user = NULL;
	s->auth_pass = session_strdup_wire((char *)buf, (size_t)n);
	session_record_auth(s, "LOGIN", s->auth_user, s->auth_pass, 235);
	session_reply(s, 235, "2.7.0 Authentication successful");
}

/* ---- the command table ---- */

#define ST(x)  (1u << SESSION_STATE_##x)
#define ST_ANY (ST(GREETED) | ST(READY) | ST(MAIL) | ST(RCPT))

enum arg_rule
{
	ARG_NONE,     /* an argument is a syntax error */
	ARG_REQUIRED, /* a missing argument is a syntax error */
	ARG_ANY,
};

struct smtp_cmd_def
{
	enum smtp_verb verb;
	unsigned states;     /* check: where it is allowed */
	const char *refusal; /* check: reply when it is not (503 ...) */
	enum arg_rule arg;
	const char *syntax; /* reply text for an argument error */
	void (*act)(struct session *s, const struct smtp_command *c);
};

static const struct smtp_cmd_def cmd_table[] = {
    {SMTP_HELO, ST_ANY, NULL, ARG_REQUIRED, "Syntax: HELO hostname", act_helo},
    {SMTP_EHLO, ST_ANY, NULL, ARG_REQUIRED, "Syntax: EHLO hostname", act_helo},
    {SMTP_MAIL, ST(READY), NULL, ARG_REQUIRED,
     "5.5.4 Syntax: MAIL FROM:<address>", act_mail},
    {SMTP_RCPT, ST(MAIL) | ST(RCPT), "5.5.1 Error: need MAIL command",
     ARG_REQUIRED, "5.5.4 Syntax: RCPT TO:<address>", act_rcpt},
    {SMTP_DATA, ST(RCPT), NULL, ARG_NONE, "5.5.4 Syntax: DATA", act_data},
    {SMTP_BDAT, ST_ANY, NULL, ARG_REQUIRED, "5.5.4 Syntax: BDAT count [LAST]",
     act_bdat},
    {SMTP_RSET, ST_ANY, NULL, ARG_NONE, "5.5.4 Syntax: RSET", act_rset},
    {SMTP_NOOP, ST_ANY, NULL, ARG_ANY, NULL, act_noop},
    {SMTP_QUIT, ST_ANY, NULL, ARG_ANY, NULL, act_quit},
    {SMTP_VRFY, ST_ANY, NULL, ARG_ANY, NULL, act_vrfy},
    {SMTP_EXPN, ST_ANY, NULL, ARG_ANY, NULL, act_expn},
    {SMTP_HELP, ST_ANY, NULL, ARG_ANY, NULL, act_help},
    {SMTP_STARTTLS, ST(GREETED) | ST(READY), NULL, ARG_ANY, NULL, act_starttls},
    {SMTP_AUTH, ST(READY), NULL, ARG_REQUIRED, "5.5.4 Syntax: AUTH mechanism",
     act_auth},
};

/*
 * The check half for commands whose refusal depends on the state in a way
 * one string cannot say (Postfix's wording differs by situation).
 */
static void
smtp_refuse_sequence(struct session *s, const struct smtp_cmd_def *d)
{
	METRIC_INC(M_BAD_SEQUENCE);
	if (d->verb == SMTP_RCPT &&
	    smtp_persona_reply(s, PERSONA_NEED_MAIL, NULL, NULL, NULL))
		;
	else if (d->refusal)
		session_reply(s, 503, "%s", d->refusal);
	else if (s->state == SESSION_STATE_GREETED)
		session_reply(s, 503, "5.5.1 Error: send HELO/EHLO first");
	else if (d->verb == SMTP_MAIL)
		session_reply(s, 503, "5.5.1 Error: nested MAIL command");
	else if (d->verb == SMTP_DATA &&
	         smtp_persona_reply(s, PERSONA_NEED_RCPT, NULL, NULL, NULL))
		;
	else if (d->verb == SMTP_DATA && s->state == SESSION_STATE_MAIL)
		session_reply(s, 554, "5.5.1 Error: no valid recipients");
	else if (d->verb == SMTP_DATA)
		session_reply(s, 503, "5.5.1 Error: need RCPT command");
	else if (d->verb == SMTP_AUTH)
		session_reply(s, 503, "5.5.1 Error: MAIL transaction in progress");
	else
		session_reply(s, 503, "5.5.1 Error: bad sequence of commands");
	smtp_error(s);
}

void
smtp_handle_line(struct session *s, const char *line, size_t len)
{
	struct smtp_command c;
	const struct smtp_cmd_def *d = NULL;

	METRIC_INC(M_COMMANDS);
	session_record_command(s, line, len);
	if (s->state == SESSION_STATE_AUTH)
	{
		smtp_auth_continue(s, line, len);
		return;
	}
	smtp_parse_command(line, len, &c);
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
	{
		if (cmd_table[i].verb == c.verb)
		{
			d = &cmd_table[i];
			break;
		}
	}
	if (!d)
	{
		METRIC_INC(M_BAD_COMMANDS);
		char verb[64];
		size_t vn = 0;

		while (vn + 1 < sizeof(verb) && vn < len && line[vn] != ' ' &&
		       line[vn] != '\r' && line[vn] != '\n')
		{
			verb[vn] = line[vn];
			vn++;
		}
		verb[vn] = '\0';
		if (!smtp_persona_reply(s, PERSONA_UNKNOWN, verb, NULL, NULL))
			session_reply(s, 502, "5.5.2 Error: command not recognized");
		smtp_error(s);
		return;
	}
	/* check: argument rule, then state */
	if ((d->arg == ARG_NONE && c.arg_len) ||
	    (d->arg == ARG_REQUIRED && !c.arg_len))
	{
		METRIC_INC(M_BAD_COMMANDS);
		session_reply(s, 501, "%s", d->syntax);
		smtp_error(s);
		return;
	}
	if (!(d->states & (1u << s->state)))
	{
		smtp_refuse_sequence(s, d);
		return;
	}
	d->act(s, &c);
}

/* ---- message completion ---- */

static void
smtp_spooled(void *arg, bool ok)
{
	struct session *s = arg;

	s->spool_wait = false;
	relay_hook_release(&s->msg_id, ok); /* probe relaying (issue 6) */
	if (ok)
	{
		METRIC_INC(M_MESSAGES);
		METRIC_ADD(M_MESSAGE_BYTES, s->msg_bytes);
	}
	else
		METRIC_INC(M_SPOOL_ERRORS);
	if (s->dead)
	{
		session_close(s, s->reason ? s->reason : "client");
		return;
	}
	if (ok)
	{
		const struct persona *p = smtp_persona();

		if (p)
		{
			/* the persona's own queue-id shape; the log maps it to ours */
			char qid[64], mid[384];

			persona_queue_id(p, time(NULL), qid, sizeof(qid));
			snprintf(mid, sizeof(mid), "%s@%s", qid, smtp_hostname());
			log_event(LOG_INFO, s->sid, "queued", "id=%s qid=%s", s->msg_sid,
			          qid);
			if (!smtp_persona_reply(s, PERSONA_QUEUED, NULL, qid, mid))
				session_reply(s, 250, "2.0.0 Ok: queued as %s", s->msg_sid);
		}
		else
		{
			log_event(LOG_INFO, s->sid, "queued", "id=%s", s->msg_sid);
			session_reply(s, 250, "2.0.0 Ok: queued as %s", s->msg_sid);
		}
	}
	else
		session_reply(s, 451, "4.3.0 Error: queue file write error");
	session_reset_transaction(s);
	session_enter_state(s, SESSION_STATE_READY);
}

void
smtp_message_done(struct session *s)
{
	struct msg_record m;
	struct evbuffer *head = NULL;
	struct evbuffer_iovec *chunks = NULL;
	struct iovec *iov = NULL;
	struct timespec now;
	size_t raw_len = s->body ? evbuffer_get_length(s->body) : 0;
	int nchunks, niov;
	bool ok = false;

	if (s->too_big || !s->body)
	{
		METRIC_INC(M_LIMIT_MESSAGE_SIZE);
		log_event(LOG_INFO, s->sid, "limit", "limit=message_size max=%lld",
		          (long long)g_daemon.cfg.max_message_size);
		if (!smtp_persona_reply(s, PERSONA_TOO_BIG, NULL, NULL, NULL))
			session_reply(s, 552, "5.3.4 Message size exceeds fixed limit");
		session_reset_transaction(s);
		session_enter_state(s, SESSION_STATE_READY);
		return;
	}
	if (s->ds.long_lines)
	{
		METRIC_INC(M_LIMIT_DATA_LINE_LENGTH);
		log_event(LOG_INFO, s->sid, "limit",
		          "limit=data_line_length lines=%llu stored=as_sent",
		          (unsigned long long)s->ds.long_lines);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (!uuid7_generate(&s->msg_id, &now))
		goto fail;
	uuid7_format(&s->msg_id, s->msg_sid);
	memset(&m, 0, sizeof(m));
	m.id = s->msg_id;
	m.received_at = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	m.has_session = true;
	m.session_id = s->id;
	m.sensor = g_daemon.sensor;
	m.source = "smtp";
	m.peer_ip = s->peer_ip;
	m.peer_port = s->peer_port;
	m.helo = s->helo;
	m.mail_from = s->mail_from ? s->mail_from : "";
	m.rcpt_to = (const char *const *)s->rcpt;
	m.n_rcpt = s->n_rcpt;
	m.tls = s->tls_desc;
	m.auth_user = s->auth_user;
	m.auth_password = s->auth_pass;

	head = evbuffer_new();
	if (!head || !spoolrec_encode_msg_head(head, &m, raw_len))
		goto fail;
	nchunks = evbuffer_peek(s->body, -1, NULL, NULL, 0);
	chunks = calloc((size_t)nchunks + 1, sizeof(*chunks));
	iov = calloc((size_t)nchunks + 1, sizeof(*iov));
	if (!chunks || !iov)
		goto fail;
	iov[0].iov_base = evbuffer_pullup(head, -1);
	iov[0].iov_len = evbuffer_get_length(head);
	niov = 1 + evbuffer_peek(s->body, -1, NULL, chunks, nchunks);
	for (int i = 1; i < niov; i++)
	{
		iov[i].iov_base = chunks[i - 1].iov_base;
		iov[i].iov_len = chunks[i - 1].iov_len;
	}
	s->spool_wait = true;
	s->msg_bytes = raw_len;
	session_enter_state(s, SESSION_STATE_SPOOLING);
	if (!spool_append(g_daemon.spool, SPOOL_REC_MESSAGE, iov, niov,
	                  smtp_spooled, s))
	{
		s->spool_wait = false;
		goto fail;
	}
	ok = true;
	relay_hook_consider(s, &m); /* probe relaying (issue 6) */
	/* the bytes are in the page cache now: release the memory */
	session_drop_body(s);
fail:
	if (!ok)
	{
		METRIC_INC(M_SPOOL_ERRORS);
		session_reply(s, 451, "4.3.0 Error: queue file write error");
		session_reset_transaction(s);
		session_enter_state(s, SESSION_STATE_READY);
	}
	if (head)
		evbuffer_free(head);
	free(chunks);
	free(iov);
}

void
smtp_bdat_chunk_done(struct session *s)
{
	if (s->bdat_failed)
	{
		if (s->state == SESSION_STATE_BDAT)
			session_enter_state(
			    s,
			    s->mail_from
			        ? (s->n_rcpt ? SESSION_STATE_RCPT : SESSION_STATE_MAIL)
			        : (s->helo ? SESSION_STATE_READY : SESSION_STATE_GREETED));
		METRIC_INC(M_BAD_SEQUENCE);
		if (!s->helo)
			session_reply(s, 503, "5.5.1 Error: send HELO/EHLO first");
		else if (!g_daemon.cfg.chunking)
			session_reply(s, 502, "5.5.1 Error: command not implemented");
		else
			session_reply(s, 503, "5.5.1 Error: need RCPT command");
		smtp_error(s);
		return;
	}
	if (s->bdat_last)
	{
		smtp_message_done(s);
		return;
	}
	session_reply(s, 250, "2.0.0 Ok: %zu octets", evbuffer_get_length(s->body));
	session_enter_state(s, SESSION_STATE_RCPT);
}
