/*
 * smtpparse.h: parsers of what an SMTP client sends (RFC 5321 command
 * lines, MAIL/RCPT paths and parameters, AUTH's base64) and of the reply
 * lines a server sends back (the probe relay's client side).  Pure: no
 * session, no I/O; every output stays within the given buffers.
 */
#ifndef SPAMLAB_SMTPPARSE_H
#define SPAMLAB_SMTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The verb's name ("MAIL"), "" for SMTP_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb v);

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

/*
 * One line of a server's reply (no CRLF), as a client reads it: "250 text",
 * "250-text" or a bare "250".  Sets the code (200-599) and whether the
 * line ends the reply; false when the line is not a reply line.
 */
bool smtp_parse_reply_line(const char *line, size_t len, int *code, bool *last)
    __attribute__((warn_unused_result));

/* Whether an EHLO reply line (no CRLF) advertises keyword, which must be
 * followed by the end of the line or a space ("250-STARTTLS"). */
bool smtp_reply_has_keyword(const char *line, size_t len, const char *keyword);

#endif /* SPAMLAB_SMTPPARSE_H */
