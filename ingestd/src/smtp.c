/*
 * smtp.c: the SMTP protocol.  Each command is one row of a table: the
 * states in which it is allowed and the reply when it is not (the check),
 * whether it takes an argument, and the function that acts on it.  Every
 * state change goes through session_enter_state().
 *
 * Every reply comes from the configured persona (persona.c: Postfix by
 * default), so to a prober this looks like a real, carelessly configured
 * MTA that relays anything; no text in this file is sent to a client.
 * The persona's small delays (banner, replies, queue write) are libevent
 * timers in session.c (session_delay()), never a blocking sleep.
 */
#include "smtp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "ntlm.h"
#include "persona.h"
#include "rdns.h"
#include "relayhook.h"
#include "session.h"
#include "spool.h"
#include "spoolrec.h"

#define ADDR_MAX 1024

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
		smtp_reply(s, PERSONA_TOO_MANY_ERRORS, NULL);
		session_close(s, "errors");
	}
}

/* The configured persona (config_validate() made sure it exists). */
static const struct persona *
smtp_persona(void)
{
	const struct persona *p = persona_find(g_daemon.cfg.persona);

	return p ? p : persona_all[0];
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

/* The template values for a persona reply in this session (s may be a
 * blank session: a refusal before the session exists). */
static void
smtp_persona_vars(const struct session *s, struct persona_vars *v,
                  const char *arg, char *helo, char *argbuf, size_t buflen)
{
	char namebuf[RDNS_NAME_MAX];

	memset(v, 0, sizeof(*v));
	v->host = smtp_hostname();
	v->client_helo = smtp_reply_safe(s->helo, helo, buflen);
	v->client_ip = s->peer_ip;
	v->arg = smtp_reply_safe(arg, argbuf, buflen);
	v->mail_from = s->mail_from;
	v->rcpt = s->n_rcpt ? s->rcpt[0] : NULL;
	v->n_rcpt = s->n_rcpt;
	v->banner = g_daemon.cfg.banner;
	v->tls = s->tls_desc;
	/* the client's name as the MTA would write it (%N, %o): a name that
	 * is not even a valid host name counts as none */
	v->client_name = s->rdns;
	if (s->rdns_confirmed)
		v->rdns = s->helo && strcasecmp(s->helo, s->rdns) == 0
		              ? PERSONA_RDNS_CONFIRMED_HELO
		              : PERSONA_RDNS_CONFIRMED;
	else if (s->rdns && rdns_normalize_name(s->rdns, namebuf))
		v->rdns = PERSONA_RDNS_UNCONFIRMED;
	else
		v->rdns = PERSONA_RDNS_NONE;
	v->esmtp = s->esmtp;
	v->auth = s->auth_user != NULL;
	v->now = time(NULL);
	v->max_size = (size_t)g_daemon.cfg.max_message_size;
}

/*
 * Expand reply r into CRLF-terminated lines (multi-line texts become
 * "code-" continuations); the reply code, or 0 when the table row is bad
 * (the unit test expands every row of every persona, so never in practice).
 */
static int
smtp_persona_text(const struct session *s, enum persona_reply r,
                  const char *arg, const char *queue_id, const char *message_id,
                  char *out, size_t outlen)
{
	struct persona_vars v;
	char helo[256], argbuf[256], text[2048];
	size_t n, o = 0;

	smtp_persona_vars(s, &v, arg, helo, argbuf, sizeof(helo));
	v.queue_id = queue_id;
	v.message_id = message_id;
	n = persona_format(smtp_persona(), r, &v, text, sizeof(text));
	if (n < 4 || !isdigit((unsigned char)text[0]) ||
	    !isdigit((unsigned char)text[1]) || !isdigit((unsigned char)text[2]))
		return 0;
	for (size_t i = 0; i < n && o + 5 < outlen; i++)
	{
		if (text[i] == '\n')
			out[o++] = '\r';
		out[o++] = text[i];
	}
	out[o++] = '\r';
	out[o++] = '\n';
	out[o] = '\0';
	return (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
}

/* Send reply r of the persona, with a queue id and Message-ID. */
static void
smtp_reply_queued(struct session *s, enum persona_reply r, const char *arg,
                  const char *queue_id, const char *message_id)
{
	char out[2304];
	int code =
	    smtp_persona_text(s, r, arg, queue_id, message_id, out, sizeof(out));

	if (code == 0)
	{
		log_event(LOG_ERROR, s->sid, "persona_bad_reply", "persona=%s reply=%d",
		          smtp_persona()->name, (int)r);
		code = 451;
		snprintf(out, sizeof(out), "451 \r\n");
	}
	session_reply_raw(s, code, out);
}

void
smtp_reply(struct session *s, enum persona_reply r, const char *arg)
{
	smtp_reply_queued(s, r, arg, NULL, NULL);
}

size_t
smtp_refusal(enum persona_reply r, const char *ip, char *out, size_t outlen)
{
	static struct session blank;

	snprintf(blank.peer_ip, sizeof(blank.peer_ip), "%s", ip);
	if (smtp_persona_text(&blank, r, NULL, NULL, NULL, out, outlen) == 0)
		return 0;
	return strlen(out);
}

void
smtp_delay(struct session *s, enum persona_delay kind)
{
	double scale;
	unsigned ms;

	if (!persona_delay_parse(g_daemon.cfg.persona_delay, &scale) || scale <= 0)
		return;
	ms = persona_delay_ms(smtp_persona(), kind, scale);
	if (ms)
		session_delay(s, ms);
}

void
smtp_greet(struct session *s)
{
	/* a real MTA looks the client up in the DNS before its banner */
	smtp_delay(s, PERSONA_DELAY_BANNER);
	smtp_reply(s, PERSONA_BANNER, NULL);
	session_enter_state(s, SESSION_STATE_GREETED);
}

/* ---- command actions ---- */

static void
act_helo(struct session *s, const struct smtp_command *c)
{
	struct persona_vars v;
	char helo[256], argbuf[256], text[4096];
	unsigned flags = 0;

	free(s->helo);
	s->helo = session_strdup_wire(c->arg, c->arg_len);
	s->esmtp = c->verb == SMTP_EHLO;
	session_reset_transaction(s);
	if (!s->esmtp)
	{
		smtp_reply(s, PERSONA_HELO, NULL);
		session_enter_state(s, SESSION_STATE_READY);
		return;
	}
	if (g_daemon.cfg.starttls && g_daemon.ssl_ctx && !s->tls_active)
		flags |= PERSONA_EHLO_STARTTLS;
	if (g_daemon.cfg.auth)
		flags |= PERSONA_EHLO_AUTH;
	if (s->tls_active)
		flags |= PERSONA_EHLO_TLS;
	if (g_daemon.cfg.chunking)
		flags |= PERSONA_EHLO_CHUNKING;
	smtp_persona_vars(s, &v, NULL, helo, argbuf, sizeof(helo));
	if (persona_ehlo(smtp_persona(), &v, flags, text, sizeof(text)) > 0)
		session_reply_raw(s, 250, text);
	else
		smtp_reply(s, PERSONA_HELO, NULL); /* a bad table: never */
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
		smtp_reply(s, PERSONA_SYNTAX_MAIL, NULL);
		smtp_error(s);
		return;
	}
	code = smtp_parse_mail_params(c->arg + poff, c->arg_len - poff, &params,
	                              err, sizeof(err));
	if (code)
	{
		smtp_reply(
		    s, code == 501 ? PERSONA_PARAM_SYNTAX : PERSONA_PARAM_UNKNOWN, err);
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
		smtp_reply(s, PERSONA_TOO_BIG, NULL);
		return;
	}
	s->mail_from = strdup(addr);
	s->smtputf8 = params.smtputf8;
	smtp_reply(s, PERSONA_MAIL_OK, addr);
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
		smtp_reply(s, PERSONA_SYNTAX_RCPT, NULL);
		smtp_error(s);
		return;
	}
	if ((int64_t)s->n_rcpt >= g_daemon.cfg.max_recipients)
	{
		METRIC_INC(M_LIMIT_RECIPIENTS);
		log_event(LOG_INFO, s->sid, "limit", "limit=recipients max=%lld",
		          (long long)g_daemon.cfg.max_recipients);
		smtp_reply(s, PERSONA_TOO_MANY_RCPT, NULL);
		return;
	}
	if (s->n_rcpt == s->cap_rcpt)
	{
		size_t cap = s->cap_rcpt ? s->cap_rcpt * 2 : 4;
		char **r = realloc(s->rcpt, cap * sizeof(*r));

		if (!r)
		{
			smtp_reply(s, PERSONA_NO_STORAGE, NULL);
			return;
		}
		s->rcpt = r;
		s->cap_rcpt = cap;
	}
	if (!(s->rcpt[s->n_rcpt] = strdup(addr)))
	{
		smtp_reply(s, PERSONA_NO_STORAGE, NULL);
		return;
	}
	s->n_rcpt++;
	METRIC_INC(M_RECIPIENTS);
	smtp_reply(s, PERSONA_RCPT_OK, addr);
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
		smtp_reply(s, PERSONA_NO_STORAGE, NULL);
		return;
	}
	smtp_reply(s, PERSONA_DATA, NULL);
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
		smtp_reply(s, PERSONA_SYNTAX, "BDAT count [LAST]");
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
			smtp_reply(s, PERSONA_SYNTAX, "BDAT count [LAST]");
			session_close(s, "protocol");
			return;
		}
	}
	s->bdat_remaining = n;
	s->bdat_chunk = n;
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
	smtp_reply(s, PERSONA_RSET, NULL);
	session_enter_state(s, s->state == SESSION_STATE_GREETED
	                           ? SESSION_STATE_GREETED
	                           : SESSION_STATE_READY);
}

static void
act_noop(struct session *s, const struct smtp_command *c)
{
	smtp_reply(s, PERSONA_NOOP, NULL);
}

static void
act_quit(struct session *s, const struct smtp_command *c)
{
	smtp_reply(s, PERSONA_QUIT, NULL);
	session_close(s, "quit");
}

static void
act_vrfy(struct session *s, const struct smtp_command *c)
{
	char addr[ADDR_MAX];
	size_t n = c->arg_len < sizeof(addr) - 1 ? c->arg_len : sizeof(addr) - 1;

	if (c->arg_len == 0)
	{
		smtp_reply(s, PERSONA_SYNTAX, "VRFY address");
		smtp_error(s);
		return;
	}
	memcpy(addr, c->arg, n);
	addr[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)addr[i] < 0x20)
			addr[i] = '?';
	smtp_reply(s, PERSONA_VRFY, addr);
}

static void
act_expn(struct session *s, const struct smtp_command *c)
{
	smtp_reply(s, PERSONA_EXPN, NULL);
}

static void
act_help(struct session *s, const struct smtp_command *c)
{
	smtp_reply(s, PERSONA_HELP, NULL);
}

static void
act_starttls(struct session *s, const struct smtp_command *c)
{
	if (!g_daemon.cfg.starttls)
	{
		smtp_reply(s, PERSONA_NOT_IMPLEMENTED, "STARTTLS");
		smtp_error(s);
		return;
	}
	if (!g_daemon.ssl_ctx)
	{
		/* switched on, but there is no certificate */
		smtp_reply(s, PERSONA_TLS_UNAVAILABLE, NULL);
		smtp_error(s);
		return;
	}
	if (s->tls_active)
	{
		smtp_reply(s, PERSONA_TLS_ACTIVE, NULL);
		smtp_error(s);
		return;
	}
	if (c->arg_len)
	{
		smtp_reply(s, PERSONA_SYNTAX, "STARTTLS");
		smtp_error(s);
		return;
	}
	smtp_reply(s, PERSONA_STARTTLS, NULL);
	if (!session_start_tls(s))
		session_close(s, "tls_error");
}

/* Credentials accepted (any are): record them (with the client's machine
 * name where the mechanism gives one), keep them for the session's
 * messages (taking over user and pass), answer 235. */
static void
smtp_auth_accept(struct session *s, const char *mech, char *user, char *pass,
                 const char *workstation)
{
	session_record_auth(s, mech, user, pass, workstation, 235);
	free(s->auth_user);
	free(s->auth_pass);
	s->auth_user = user;
	s->auth_pass = pass;
	smtp_reply(s, PERSONA_AUTH_OK, NULL);
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
		session_record_auth(s, "PLAIN", NULL, NULL, NULL, 501);
		smtp_reply(s, PERSONA_AUTH_DECODE, NULL);
		smtp_error(s);
		return;
	}
	user = session_strdup_wire((const char *)p1 + 1, (size_t)(p2 - p1 - 1));
	pass =
	    session_strdup_wire((const char *)p2 + 1, (size_t)(buf + n - (p2 + 1)));
	smtp_auth_accept(s, "PLAIN", user, pass, NULL);
}

/* The mechanism a pending AUTH step belongs to. */
static const char *
auth_step_mechanism(enum auth_step step)
{
	switch (step)
	{
		case AUTH_STEP_PLAIN:
			return "PLAIN";
		case AUTH_STEP_NTLM_NEGOTIATE:
		case AUTH_STEP_NTLM_AUTHENTICATE:
			return "NTLM";
		case AUTH_STEP_GSSAPI:
			return "GSSAPI";
		default:
			return "LOGIN";
	}
}

/* An AUTH exchange that cannot go on: record it, answer, count an error. */
static void
smtp_auth_fail(struct session *s, const char *mech, enum persona_reply r)
{
	int code = r == PERSONA_AUTH_DECODE  ? 501
	           : r == PERSONA_NO_STORAGE ? 452
	                                     : 535;

	session_record_auth(s, mech, NULL, NULL, NULL, code);
	smtp_reply(s, r, NULL);
	smtp_error(s);
}

/* FILETIME now: 100 ns units since 1601-01-01. */
static uint64_t
filetime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec + 11644473600u) * 10000000u +
	       (uint64_t)ts.tv_nsec / 100;
}

/*
 * NTLM's NEGOTIATE (base64): answer with a CHALLENGE naming our host, as
 * Exchange does ([MS-SMTPNTLM] 3.2.5), and wait for the AUTHENTICATE.
 */
static void
smtp_auth_ntlm_negotiate(struct session *s, const char *b64, size_t len)
{
	uint8_t in[512], msg[NTLM_CHALLENGE_MAX];
	char text[4 + 4 * ((NTLM_CHALLENGE_MAX + 2) / 3) + 3];
	long n = smtp_base64_decode(b64, len, in, sizeof(in));
	uint32_t flags;
	size_t mlen;

	if (n < 0)
	{
		smtp_auth_fail(s, "NTLM", PERSONA_AUTH_DECODE);
		return;
	}
	if (!ntlm_parse_negotiate(in, (size_t)n, &flags))
	{
		smtp_auth_fail(s, "NTLM", PERSONA_AUTH_FAILED);
		return;
	}
	if (getrandom(s->ntlm_challenge, 8, 0) != 8)
		for (int i = 0; i < 8; i++)
			s->ntlm_challenge[i] = (uint8_t)rand();
	mlen = ntlm_build_challenge(msg, sizeof(msg), flags, s->ntlm_challenge,
	                            smtp_hostname(), filetime_now());
	if (mlen == 0) /* a host name longer than 255 bytes: never */
	{
		smtp_auth_fail(s, "NTLM", PERSONA_AUTH_FAILED);
		return;
	}
	s->ntlm_flags = (uint32_t)msg[20] | (uint32_t)msg[21] << 8 |
	                (uint32_t)msg[22] << 16 | (uint32_t)msg[23] << 24;
	memcpy(text, "334 ", 4);
	n = EVP_EncodeBlock((unsigned char *)text + 4, msg, (int)mlen);
	memcpy(text + 4 + n, "\r\n", 3);
	s->auth_step = AUTH_STEP_NTLM_AUTHENTICATE;
	session_reply_raw(s, 334, text);
	session_enter_state(s, SESSION_STATE_AUTH);
}

/*
 * NTLM's AUTHENTICATE (base64): accepted whatever it holds, like every
 * other AUTH here.  The account is recorded as DOMAIN\user and, in place
 * of the password the client never sends, its response in hashcat's
 * NetNTLM form, with the client's workstation name.
 */
static void
smtp_auth_ntlm_authenticate(struct session *s, const char *b64, size_t len)
{
	uint8_t *buf = malloc(len / 4 * 3 + 3);
	long n = buf ? smtp_base64_decode(b64, len, buf, len / 4 * 3 + 3) : -1;
	struct ntlm_auth a;
	char *account, *response, ws[3 * NTLM_NAME_MAX + 1];

	if (!buf)
	{
		smtp_auth_fail(s, "NTLM", PERSONA_NO_STORAGE);
		return;
	}
	if (n < 0 || !ntlm_parse_authenticate(buf, (size_t)n, s->ntlm_flags, &a))
	{
		free(buf);
		smtp_auth_fail(s, "NTLM",
		               n < 0 ? PERSONA_AUTH_DECODE : PERSONA_AUTH_FAILED);
		return;
	}
	account = ntlm_account(&a);
	response = ntlm_hashcat(&a, s->ntlm_challenge);
	log_event(LOG_INFO, s->sid, "auth_ntlm", "workstation=\"%s\" nt_len=%zu",
	          log_quote(ws, sizeof(ws), a.workstation, strlen(a.workstation)),
	          a.nt_len);
	if (account)
		smtp_auth_accept(s, "NTLM", account, response,
		                 *a.workstation ? a.workstation : NULL);
	else
	{
		free(response);
		smtp_auth_fail(s, "NTLM", PERSONA_NO_STORAGE);
	}
	ntlm_auth_free(&a);
	free(buf);
}

/* Integrated authentication the persona offers (NTLM, GSSAPI): true when
 * handled. */
static bool
smtp_auth_integrated(struct session *s, const char *mech, size_t mlen,
                     const char *initial, size_t ilen)
{
	bool ntlm = mlen == 4 && strncasecmp(mech, "NTLM", 4) == 0;

	if (!ntlm && !(mlen == 6 && strncasecmp(mech, "GSSAPI", 6) == 0))
		return false;
	if (!persona_offers_auth(smtp_persona(), s->tls_active, mech, mlen))
		return false;
	if (ilen && ntlm)
		smtp_auth_ntlm_negotiate(s, initial, ilen);
	else if (ilen) /* a Kerberos ticket we cannot take */
		smtp_auth_fail(s, "GSSAPI", PERSONA_AUTH_FAILED);
	else
	{
		s->auth_step = ntlm ? AUTH_STEP_NTLM_NEGOTIATE : AUTH_STEP_GSSAPI;
		smtp_reply(s, ntlm ? PERSONA_AUTH_NTLM : PERSONA_AUTH_PROMPT, NULL);
		session_enter_state(s, SESSION_STATE_AUTH);
	}
	return true;
}

static void
act_auth(struct session *s, const struct smtp_command *c)
{
	size_t mlen = 0, i;

	if (!g_daemon.cfg.auth)
	{
		smtp_reply(s, PERSONA_AUTH_DISABLED, NULL);
		smtp_error(s);
		return;
	}
	if (s->auth_user)
	{
		smtp_reply(s, PERSONA_AUTH_ALREADY, NULL);
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
		smtp_reply(s, PERSONA_AUTH_PROMPT, NULL);
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
				session_record_auth(s, "LOGIN", NULL, NULL, NULL, 501);
				smtp_reply(s, PERSONA_AUTH_DECODE, NULL);
				smtp_error(s);
				return;
			}
			s->auth_pending_user = session_strdup_wire((char *)buf, (size_t)n);
			s->auth_step = AUTH_STEP_LOGIN_PASS;
			smtp_reply(s, PERSONA_AUTH_PASS, NULL);
		}
		else
		{
			s->auth_step = AUTH_STEP_LOGIN_USER;
			smtp_reply(s, PERSONA_AUTH_USER, NULL);
		}
		session_enter_state(s, SESSION_STATE_AUTH);
		return;
	}
	if (smtp_auth_integrated(s, c->arg, mlen, c->arg + i, c->arg_len - i))
		return;
	{
		char mech[32];
		size_t n = mlen < sizeof(mech) - 1 ? mlen : sizeof(mech) - 1;

		memcpy(mech, c->arg, n);
		mech[n] = '\0';
		session_record_auth(s, mech, NULL, NULL, NULL, 535);
		smtp_reply(s, PERSONA_AUTH_BAD_MECH, mech);
	}
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
		session_record_auth(s, auth_step_mechanism(step), s->auth_pending_user,
		                    NULL, NULL, 501);
		free(s->auth_pending_user);
		s->auth_pending_user = NULL;
		smtp_reply(s, PERSONA_AUTH_ABORTED, NULL);
		return;
	}
	switch (step)
	{
		case AUTH_STEP_PLAIN:
			smtp_auth_plain(s, line, len);
			return;
		case AUTH_STEP_NTLM_NEGOTIATE:
			smtp_auth_ntlm_negotiate(s, line, len);
			return;
		case AUTH_STEP_NTLM_AUTHENTICATE:
			smtp_auth_ntlm_authenticate(s, line, len);
			return;
		case AUTH_STEP_GSSAPI:
			smtp_auth_fail(s, "GSSAPI", PERSONA_AUTH_FAILED);
			return;
		default:
			break;
	}
	n = smtp_base64_decode(line, len, buf, sizeof(buf));
	if (n < 0)
	{
		session_record_auth(s, "LOGIN", s->auth_pending_user, NULL, NULL, 501);
		free(s->auth_pending_user);
		s->auth_pending_user = NULL;
		smtp_reply(s, PERSONA_AUTH_DECODE, NULL);
		smtp_error(s);
		return;
	}
	if (step == AUTH_STEP_LOGIN_USER)
	{
		free(s->auth_pending_user);
		s->auth_pending_user = session_strdup_wire((char *)buf, (size_t)n);
		s->auth_step = AUTH_STEP_LOGIN_PASS;
		smtp_reply(s, PERSONA_AUTH_PASS, NULL);
		session_enter_state(s, SESSION_STATE_AUTH);
		return;
	}
	{
		char *user = s->auth_pending_user;

		s->auth_pending_user = NULL;
		smtp_auth_accept(s, "LOGIN", user,
		                 session_strdup_wire((char *)buf, (size_t)n), NULL);
	}
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
	unsigned states; /* check: where it is allowed */
	enum arg_rule arg;
	enum persona_reply syntax; /* check: the reply to an argument error */
	const char *usage;         /* its %a: "VRFY address" */
	void (*act)(struct session *s, const struct smtp_command *c);
};

static const struct smtp_cmd_def cmd_table[] = {
    {SMTP_HELO, ST_ANY, ARG_REQUIRED, PERSONA_SYNTAX_HELO, "HELO", act_helo},
    {SMTP_EHLO, ST_ANY, ARG_REQUIRED, PERSONA_SYNTAX_HELO, "EHLO", act_helo},
    {SMTP_MAIL, ST(READY), ARG_REQUIRED, PERSONA_SYNTAX_MAIL, NULL, act_mail},
    {SMTP_RCPT, ST(MAIL) | ST(RCPT), ARG_REQUIRED, PERSONA_SYNTAX_RCPT, NULL,
     act_rcpt},
    {SMTP_DATA, ST(RCPT), ARG_NONE, PERSONA_SYNTAX, "DATA", act_data},
    {SMTP_BDAT, ST_ANY, ARG_REQUIRED, PERSONA_SYNTAX, "BDAT count [LAST]",
     act_bdat},
    {SMTP_RSET, ST_ANY, ARG_NONE, PERSONA_SYNTAX, "RSET", act_rset},
    {SMTP_NOOP, ST_ANY, ARG_ANY, PERSONA_SYNTAX, NULL, act_noop},
    {SMTP_QUIT, ST_ANY, ARG_ANY, PERSONA_SYNTAX, NULL, act_quit},
    {SMTP_VRFY, ST_ANY, ARG_ANY, PERSONA_SYNTAX, NULL, act_vrfy},
    {SMTP_EXPN, ST_ANY, ARG_ANY, PERSONA_SYNTAX, NULL, act_expn},
    {SMTP_HELP, ST_ANY, ARG_ANY, PERSONA_SYNTAX, NULL, act_help},
    {SMTP_STARTTLS, ST(GREETED) | ST(READY), ARG_ANY, PERSONA_SYNTAX, NULL,
     act_starttls},
    {SMTP_AUTH, ST(READY), ARG_REQUIRED, PERSONA_SYNTAX, "AUTH mechanism",
     act_auth},
};

/*
 * The check half for commands whose refusal depends on the state in a way
 * one reply cannot say (MTAs word each situation differently).
 */
static void
smtp_refuse_sequence(struct session *s, const struct smtp_cmd_def *d)
{
	enum persona_reply r = PERSONA_BAD_SEQUENCE;

	METRIC_INC(M_BAD_SEQUENCE);
	if (d->verb == SMTP_RCPT)
		r = PERSONA_NEED_MAIL;
	else if (s->state == SESSION_STATE_GREETED)
		r = PERSONA_NEED_HELO;
	else if (d->verb == SMTP_MAIL)
		r = PERSONA_NESTED_MAIL;
	else if (d->verb == SMTP_DATA && s->state == SESSION_STATE_MAIL)
		r = PERSONA_NO_VALID_RCPT;
	else if (d->verb == SMTP_DATA)
		r = PERSONA_NEED_RCPT;
	else if (d->verb == SMTP_AUTH)
		r = PERSONA_AUTH_IN_MAIL;
	smtp_reply(s, r, NULL);
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
	/*
	 * The persona's processing time, once per group of pipelined commands
	 * (after its last one, as an MTA flushes its replies then), so that
	 * pipelined commands are still handled back to back.  STARTTLS's 220
	 * must precede the handshake at once (session_start_tls() swaps the
	 * bufferevent).
	 */
	if (!s->pipelined && c.verb != SMTP_STARTTLS)
		smtp_delay(s, PERSONA_DELAY_REPLY);
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
		smtp_reply(s, PERSONA_UNKNOWN, verb);
		smtp_error(s);
		return;
	}
	/* check: argument rule, then state */
	if ((d->arg == ARG_NONE && c.arg_len) ||
	    (d->arg == ARG_REQUIRED && !c.arg_len))
	{
		METRIC_INC(M_BAD_COMMANDS);
		smtp_reply(s, d->syntax, d->usage ? d->usage : smtp_verb_name(d->verb));
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
		/* the queue id was chosen in smtp_message_done() (the Received
		   header of a relayed copy has it too); the log maps it to ours */
		char mid[384];

		snprintf(mid, sizeof(mid), "%s@%s", s->msg_qid, smtp_hostname());
		if (strcmp(s->msg_qid, s->msg_sid) != 0)
			log_event(LOG_INFO, s->sid, "queued", "id=%s qid=%s", s->msg_sid,
			          s->msg_qid);
		else
			log_event(LOG_INFO, s->sid, "queued", "id=%s", s->msg_sid);
		/* a real MTA writes and syncs its queue file before the 250 */
		smtp_delay(s, PERSONA_DELAY_QUEUED);
		smtp_reply_queued(s, PERSONA_QUEUED, NULL, s->msg_qid, mid);
	}
	else
		smtp_reply(s, PERSONA_QUEUE_ERROR, NULL);
	session_reset_transaction(s);
	session_enter_state(s, SESSION_STATE_READY);
}

/* Our address this session's client connected to ("" if unknown). */
static const char *
smtp_local_ip(struct session *s, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = s->bev ? bufferevent_getfd(s->bev) : -1;

	out[0] = '\0';
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return out;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
		          (socklen_t)outlen);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out,
		          (socklen_t)outlen);
	return out;
}

/*
 * The Received header the persona would add (CRLF line ends, folded as
 * the MTA folds it), for copies relayed to the next hop; NULL if it does
 * not fit.  The stored message never gets it.
 */
static const char *
smtp_received_header(struct session *s, char *out, size_t outlen)
{
	struct persona_vars v;
	char helo[256], argbuf[256], text[1536], local[64];
	size_t n, o = 0;

	smtp_persona_vars(s, &v, NULL, helo, argbuf, sizeof(helo));
	v.queue_id = s->msg_qid;
	v.local_ip = smtp_local_ip(s, local, sizeof(local));
	n = persona_format(smtp_persona(), PERSONA_RECEIVED, &v, text,
	                   sizeof(text));
	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n && o + 4 < outlen; i++)
	{
		if (text[i] == '\n')
			out[o++] = '\r';
		out[o++] = text[i];
	}
	if (o + 3 > outlen)
		return NULL;
	out[o++] = '\r';
	out[o++] = '\n';
	out[o] = '\0';
	return out;
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
	char received[2048];

	if (s->too_big || !s->body)
	{
		METRIC_INC(M_LIMIT_MESSAGE_SIZE);
		log_event(LOG_INFO, s->sid, "limit", "limit=message_size max=%lld",
		          (long long)g_daemon.cfg.max_message_size);
		smtp_reply(s, PERSONA_TOO_BIG, NULL);
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
	/* the queue id: in the 250 and in a relayed copy's header */
	if (strcmp(g_daemon.cfg.queue_id, "message") == 0)
		snprintf(s->msg_qid, sizeof(s->msg_qid), "%s", s->msg_sid);
	else
		persona_queue_id(smtp_persona(), now.tv_sec, s->msg_qid,
		                 sizeof(s->msg_qid));
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
	m.relay_header = smtp_received_header(s, received, sizeof(received));

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
		smtp_reply(s, PERSONA_QUEUE_ERROR, NULL);
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
			smtp_reply(s, PERSONA_NEED_HELO, NULL);
		else if (!g_daemon.cfg.chunking)
			smtp_reply(s, PERSONA_NOT_IMPLEMENTED, "BDAT");
		else
			smtp_reply(s, PERSONA_NEED_RCPT, NULL);
		smtp_error(s);
		return;
	}
	if (s->bdat_last)
	{
		smtp_message_done(s);
		return;
	}
	{
		char n[32];

		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(s->body));
		smtp_reply(s, PERSONA_BDAT_OK, n);
	}
	session_enter_state(s, SESSION_STATE_RCPT);
}
