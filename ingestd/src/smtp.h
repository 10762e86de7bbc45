/*
 * smtp.h: the SMTP protocol (RFC 5321 and extensions): a command table
 * whose rows say in which states a command is allowed (check) and what it
 * does (act); the line parsers are in smtpparse.h.
 */
#ifndef SPAMLAB_SMTP_H
#define SPAMLAB_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persona.h"
#include "smtpparse.h"

struct session;

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
