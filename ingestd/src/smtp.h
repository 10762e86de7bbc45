/*
 * smtp.h: the SMTP protocol (RFC 5321 and extensions): a command parser
 * and a command table whose rows say in which states a command is allowed
 * (check) and what it does (act).
 */
#ifndef SPAMLAB_SMTP_H
#define SPAMLAB_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persona.h"

struct session;

enum smtp_verb
{
	SMTP_HELO,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_BDAT,
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_VRFY,
	SMTP_EXPN,
	SMTP_HELP,
	SMTP_STARTTLS,
	SMTP_AUTH,
	SMTP_UNKNOWN,
};

/* A command line split into verb and argument (a view into the line). */
struct smtp_command
{
	enum smtp_verb verb;
	const char *arg; /* after the verb and spaces; "" if none */
	size_t arg_len;
};

/* MAIL FROM / RCPT TO parameters we understand. */
struct smtp_params
{
	int64_t size; /* SIZE=, -1 if absent */
	bool body_8bit;
	bool smtputf8;
};

/* Split a command line (no CRLF) into verb and argument. */
void smtp_parse_command(const char *line, size_t len, struct smtp_command *out);

/*
 * Parse "FROM:<path> params" (prefix "FROM:") or "TO:<path> params" into
 * the address (without brackets, NUL-terminated in addr) and the offset of
 * the parameters.  False on a syntax error.
 */
bool smtp_parse_path(const char *arg, size_t len, const char *prefix,
                     char *addr, size_t addrsz, size_t *params_off)
    __attribute__((warn_unused_result));

/*
 * Parse MAIL parameters.  Returns 0 if fine, else the reply code to send
 * (501 syntax, 555 unsupported), with the parameter's name in err.  DSN's
 * RET and ENVID are accepted and ignored.
 */
int smtp_parse_mail_params(const char *p, size_t len, struct smtp_params *out,
                           char *err, size_t errsz);

/* Decode base64 (RFC 4648, no line breaks); -1 if malformed. */
long smtp_base64_decode(const char *in, size_t len, uint8_t *out, size_t outsz);

/* Send reply r of the configured persona; arg is its %a. */
void smtp_reply(struct session *s, enum persona_reply r, const char *arg);

/*
 * A refusal before a session exists (too many connections): the persona's
 * reply r for a client at ip, CRLF-terminated, in out; its length or 0.
 */
size_t smtp_refusal(enum persona_reply r, const char *ip, char *out,
                    size_t outlen);

/* Hold the next replies for the persona's delay of this kind, scaled by
 * the persona_delay setting (nothing when it is off). */
void smtp_delay(struct session *s, enum persona_delay kind);

/* The 220 greeting for a new (or TLS-restarted) session. */
void smtp_greet(struct session *s);

/* Handle one complete command line (no CRLF). */
void smtp_handle_line(struct session *s, const char *line, size_t len);

/* The message content is complete (DATA end or BDAT LAST). */
void smtp_message_done(struct session *s);

/* A BDAT chunk (not the last) was read completely. */
void smtp_bdat_chunk_done(struct session *s);

#endif /* SPAMLAB_SMTP_H */
