/*
 * persona.h: what a real MTA says, so the trap does not look like a trap.
 *
 * A persona (postfix, exim, sendmail, exchange) is a data table: banner,
 * EHLO keywords in the MTA's order (with its AUTH mechanisms), every reply
 * the daemon can send (errors, 421s, TLS and AUTH replies included) with
 * the MTA's enhanced status codes, the queue-id format, HELP/VRFY/EXPN
 * behaviour, the Received header the MTA would add, and the MTA's small
 * delays (banner, replies, queue write).  Templates expand:
 *
 *   %h  our host name            %c  the client's HELO/EHLO argument
 *   %i  the client's IP address  %L  our address the client reached
 *                                %a  the command's argument (address,
 *                                    verb, byte count: see the reply)
 *   %q  a queue id (persona_queue_id())
 *   %m  the message's Message-ID (without <>), or a made-up one
 *   %d  the date, RFC 5322 ("Mon, 2 Mar 2026 10:11:12 +0000")
 *   %D  the same with a two-digit day ("Mon, 02 Mar 2026 ...", Exim)
 *   %e  the same with a blank-padded day ("Mon,  2 Mar 2026 ...", Postfix)
 *   %f  the envelope sender      %r  the (first) recipient
 *   %n  a random 12-digit number %b  the configured banner text
 *   %p  the protocol, "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"
 *   %P  the same in lower case (Exim)
 *   %F  the persona's received_for text when there is one recipient
 *   %t  the persona's received_tls text when the session used TLS
 *   %N  the client's reverse DNS name (PTR), "" when there is none
 *   %o  the persona's received_from clause for what the client's reverse
 *       DNS gave: none, a name that is not confirmed, a confirmed name
 *   %v  the TLS version ("TLSv1.3")  %V  the same as "TLS1_3" (Exchange)
 *   %C  the TLS cipher               %B  the cipher's bits ("256")
 *   %%  a percent sign
 *
 * Every value comes from the session or is random per message: no fixed
 * string in a persona names the trap.
 */
#ifndef SPAMLAB_PERSONA_H
#define SPAMLAB_PERSONA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum persona_reply
{
	PERSONA_BANNER,
	PERSONA_HELO,
	PERSONA_EHLO_GREETING, /* the first line of the EHLO reply, no code */
	PERSONA_MAIL_OK,
	PERSONA_RCPT_OK,
	PERSONA_DATA,
	PERSONA_QUEUED,
	PERSONA_RSET,
	PERSONA_NOOP,
	PERSONA_QUIT,
	PERSONA_VRFY,
	PERSONA_EXPN,
	PERSONA_HELP, /* may hold several lines separated by \n */
	PERSONA_UNKNOWN,
	PERSONA_NEED_MAIL,
	PERSONA_NEED_RCPT,
	PERSONA_TOO_BIG,
	PERSONA_STARTTLS,
	PERSONA_RECEIVED, /* the header, lines separated by \n */
	/* syntax and sequence errors */
	PERSONA_SYNTAX_HELO,   /* HELO/EHLO without a name; %a = the verb */
	PERSONA_SYNTAX_MAIL,   /* MAIL without a valid FROM:<address> */
	PERSONA_SYNTAX_RCPT,   /* RCPT without a valid TO:<address> */
	PERSONA_SYNTAX,        /* another command's argument; %a = the verb */
	PERSONA_PARAM_SYNTAX,  /* a bad SIZE= or BODY= value; %a = the name */
	PERSONA_PARAM_UNKNOWN, /* a MAIL parameter we do not know; %a */
	PERSONA_NEED_HELO,     /* a transaction before HELO/EHLO */
	PERSONA_NESTED_MAIL,   /* MAIL inside a transaction */
	PERSONA_NO_VALID_RCPT, /* DATA after MAIL without a recipient */
	PERSONA_BAD_SEQUENCE,  /* any other command out of place */
	PERSONA_LINE_TOO_LONG,
	PERSONA_TOO_MANY_RCPT,   /* 452 */
	PERSONA_NOT_IMPLEMENTED, /* a switched-off feature (STARTTLS, BDAT) */
	/* local trouble */
	PERSONA_NO_STORAGE,  /* 452/451: out of memory */
	PERSONA_QUEUE_ERROR, /* 451: the spool write failed */
	/* 421: the session ends */
	PERSONA_TOO_MANY_ERRORS,
	PERSONA_TIMEOUT,
	PERSONA_SHUTDOWN,
	PERSONA_TOO_MANY_CONNECTIONS, /* before the banner */
	PERSONA_TOO_MANY_FROM_IP,     /* before the banner */
	/* TLS */
	PERSONA_TLS_ACTIVE,      /* STARTTLS inside TLS */
	PERSONA_TLS_UNAVAILABLE, /* STARTTLS on but no certificate */
	/* AUTH */
	PERSONA_AUTH_DISABLED, /* AUTH when it is switched off */
	PERSONA_AUTH_ALREADY,
	PERSONA_AUTH_IN_MAIL,  /* AUTH inside a transaction */
	PERSONA_AUTH_PROMPT,   /* 334 for PLAIN without initial response */
	PERSONA_AUTH_USER,     /* 334 for LOGIN: the user name */
	PERSONA_AUTH_PASS,     /* 334 for LOGIN: the password */
	PERSONA_AUTH_OK,       /* 235 */
	PERSONA_AUTH_BAD_MECH, /* an unknown mechanism; %a = it */
	PERSONA_AUTH_DECODE,   /* not base64 */
	PERSONA_AUTH_ABORTED,  /* "*" */
	PERSONA_AUTH_NTLM,     /* 334 for NTLM without initial response
	                          (reached only where NTLM is offered) */
	PERSONA_AUTH_FAILED,   /* 535: a GSSAPI or NTLM exchange that failed */
	/* BDAT */
	PERSONA_BDAT_OK, /* a chunk that is not the last; %a = octets */
	PERSONA_N_REPLIES
};

/* Kinds of delay (persona.delay_ms). */
enum persona_delay
{
	PERSONA_DELAY_BANNER, /* connect to banner: the MTA's reverse-DNS look-up */
	PERSONA_DELAY_REPLY,  /* each reply: processing jitter */
	PERSONA_DELAY_QUEUED, /* DATA's final dot to 250: the queue-file write */
	PERSONA_N_DELAYS
};

/* persona_ehlo() flags. */
#define PERSONA_EHLO_STARTTLS 1u /* offer STARTTLS */
#define PERSONA_EHLO_AUTH     2u /* offer AUTH */
#define PERSONA_EHLO_TLS      4u /* the session is in TLS (AUTH list differs) */
#define PERSONA_EHLO_CHUNKING 8u /* offer CHUNKING */

enum persona_qid
{
	PERSONA_QID_POSTFIX,  /* 10 upper-case hex digits */
	PERSONA_QID_EXIM,     /* base-62 6-6-2: "1kXyZa-0003Ab-Cd" */
	PERSONA_QID_SENDMAIL, /* base-60 time, 2 more, pid: "5AMNJ1iS029468" */
	PERSONA_QID_EXCHANGE, /* a 12-digit InternalId */
};

/* What the client's reverse DNS gave, for the Received header (%o). */
enum persona_rdns
{
	PERSONA_RDNS_NONE,           /* no name (none, timeout, error, off) */
	PERSONA_RDNS_UNCONFIRMED,    /* a name whose A/AAAA do not match */
	PERSONA_RDNS_CONFIRMED,      /* forward-confirmed (FCrDNS) */
	PERSONA_RDNS_CONFIRMED_HELO, /* confirmed, and the HELO is that name */
	PERSONA_RDNS_N
};

struct persona
{
	const char *name;
	/* in order, NULL-terminated; "SIZE %s"; "AUTH" is replaced with the
	   auth lines; STARTTLS, AUTH and CHUNKING appear only when offered */
	const char *ehlo_keywords[20];
	const char *auth[2]; /* the AUTH line(s) before / inside TLS, "\n"
	                        between lines; NULL: not offered then */
	const char *reply[PERSONA_N_REPLIES];
	const char *received_for; /* %F */
	const char *received_tls; /* %t */
	/* %o: the "from" clause of the Received header, by the client's
	 * reverse DNS (enum persona_rdns) */
	const char *received_from[PERSONA_RDNS_N];
	enum persona_qid qid;
	unsigned delay_ms[PERSONA_N_DELAYS][2]; /* random in [min, max] */
};

/* Values for one expansion; NULL strings expand to "". */
struct persona_vars
{
	const char *host, *client_helo, *client_ip, *arg, *queue_id, *message_id;
	const char *mail_from, *rcpt;
	const char *banner;      /* %b */
	const char *local_ip;    /* %L */
	const char *tls;         /* "TLSv1.3 TLS_AES_256_GCM_SHA384", NULL: none */
	const char *client_name; /* %N: the PTR name, or NULL */
	enum persona_rdns rdns;  /* which received_from clause %o takes */
	bool esmtp, auth;        /* for %p */
	size_t n_rcpt;           /* for %F */
	time_t now;
	size_t max_size; /* for "SIZE %s" */
};

/* Whether the persona's AUTH line (inside TLS or not) lists mechanism
 * mech (len bytes, any case). */
bool persona_offers_auth(const struct persona *p, bool tls, const char *mech,
                         size_t len);

/* The persona called name, or NULL. */
const struct persona *persona_find(const char *name);

/* The personas, NULL-terminated. */
extern const struct persona *const persona_all[];

/*
 * Expand one reply (or the Received header) into out; the length, or 0
 * when it does not fit.  Multi-line texts keep "\n" between lines (the SMTP
 * layer writes "code-" continuations and CRLF).
 */
size_t persona_format(const struct persona *p, enum persona_reply r,
                      const struct persona_vars *v, char *out, size_t outlen);

/* The full EHLO reply, CRLF-terminated lines "250-..." and "250 ...";
 * flags are PERSONA_EHLO_*. */
size_t persona_ehlo(const struct persona *p, const struct persona_vars *v,
                    unsigned flags, char *out, size_t outlen);

/* A fresh random queue id in the persona's format. */
void persona_queue_id(const struct persona *p, time_t now, char *out,
                      size_t outlen);

/* A random delay in [min, max] milliseconds, times scale, capped at 10 s. */
unsigned persona_delay_ms(const struct persona *p, enum persona_delay kind,
                          double scale);

/*
 * Parse the persona_delay setting: "on" (1), "off" (0) or a scale factor
 * from 0 to 10 ("0.5": half the persona's delays).  False if malformed.
 */
bool persona_delay_parse(const char *s, double *scale)
    __attribute__((warn_unused_result));

#endif /* SPAMLAB_PERSONA_H */
