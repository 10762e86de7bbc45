/*
 * persona.h: what a real MTA says, so the trap does not look like a trap.
 *
 * A persona (postfix, exim, sendmail, exchange) is a data table: banner,
 * EHLO keywords in the MTA's order, reply texts with enhanced status codes,
 * the queue-id format, HELP/VRFY/EXPN behaviour, the Received header the
 * MTA would add, and small reply delays.  Templates expand:
 *
 *   %h  our host name            %c  the client's HELO/EHLO argument
 *   %i  the client's IP address  %a  the command's address argument
 *   %q  a queue id (persona_queue_id())
 *   %m  the message's Message-ID (without <>), or a made-up one
 *   %d  the date, RFC 5322 ("Mon, 2 Mar 2026 10:11:12 +0000")
 *   %D  the same with a two-digit day ("Mon, 02 Mar 2026 ...", Exim)
 *   %f  the envelope sender      %r  the (first) recipient
 *   %n  a random 12-digit number %%  a percent sign
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
	PERSONA_N_REPLIES
};

enum persona_qid
{
	PERSONA_QID_POSTFIX,  /* 10 upper-case hex digits */
	PERSONA_QID_EXIM,     /* base-62 6-6-2: "1kXyZa-0003Ab-Cd" */
	PERSONA_QID_SENDMAIL, /* base-60 time, 2 more, pid: "5AMNJ1iS029468" */
	PERSONA_QID_EXCHANGE, /* a 12-digit InternalId */
};

struct persona
{
	const char *name;
	const char *ehlo_keywords[16]; /* in order, NULL-terminated; "SIZE %s" */
	const char *reply[PERSONA_N_REPLIES];
	enum persona_qid qid;
	unsigned banner_delay_ms[2]; /* random in [min, max] */
	unsigned reply_delay_ms[2];
};

/* Values for one expansion; NULL strings expand to "". */
struct persona_vars
{
	const char *host, *client_helo, *client_ip, *arg, *queue_id, *message_id;
	const char *mail_from, *rcpt;
	time_t now;
	size_t max_size; /* for "SIZE %s" */
};

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

/* The full EHLO reply, CRLF-terminated lines "250-..." and "250 ...". */
size_t persona_ehlo(const struct persona *p, const struct persona_vars *v,
                    bool offer_starttls, char *out, size_t outlen);

/* A fresh random queue id in the persona's format. */
void persona_queue_id(const struct persona *p, time_t now, char *out,
                      size_t outlen);

/* A random delay in [min, max] milliseconds before the banner / a reply. */
unsigned persona_delay_ms(const struct persona *p, bool banner);

#endif /* SPAMLAB_PERSONA_H */
