/*
 * record.h: what ingestd hands to PostgreSQL: one message, or one SMTP
 * session.
 *
 * Ownership: a record is a view.  Every pointer in it belongs to the caller
 * and only has to stay valid for the duration of the pgsink_add_*() call:
 * the sink encodes (copies) the record into its own buffer before it
 * returns, so the caller may free or reuse everything (including raw) right
 * after.  NULL string pointers become SQL NULL.  Text fields from the wire
 * may hold any bytes: the sink turns NUL and invalid UTF-8 into U+FFFD, so a
 * record is never refused for its encoding.
 */
#ifndef SPAMLAB_RECORD_H
#define SPAMLAB_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid7.h"

/* Longest command text kept per SMTP command (longer ones are cut). */
#define RECORD_COMMAND_MAX 512

/* A message for spamlab.message (+ its session link). */
struct msg_record
{
	struct uuid7 id;     /* with received_at the primary key */
	int64_t received_at; /* Unix microseconds */
	bool has_session;    /* session_id is set */
	struct uuid7 session_id;
	const char *sensor;  /* configured trap name, or NULL */
	const char *source;  /* "smtp", "mbox", "maildir", "eml", "imap" */
	const char *label;   /* "spam", "ham", "sent" or NULL */
	const char *folder;  /* mailbox folder for imports, or NULL */
	const char *peer_ip; /* text, IPv4 or IPv6 ("192.0.2.1"), or NULL */
	int peer_port;       /* 0..65535, -1 for none */
	const char *helo;
	const char *mail_from; /* "" for the null sender <> */
	const char *const *rcpt_to;
	size_t n_rcpt;         /* rcpt_to[0..n_rcpt-1]; none: NULL array */
	const char *tls;       /* "TLSv1.3 TLS_AES_256_GCM_SHA384" or NULL */
	const char *auth_user; /* AUTH user name or NULL */
	/*
	 * The AUTH password never goes into spamlab.message: the sink writes
	 * it, with auth_user, to spamlab.message_auth (a table of its own, keyed
	 * like the message).  Sessions also record every AUTH attempt in
	 * spamlab.smtp_auth.
	 */
	const char *auth_password;
	const uint8_t *raw; /* the message as received, byte for byte */
	size_t raw_len;
	/*
	 * The Received header the MTA persona would add (CRLF-terminated), or
	 * NULL: prepended to a relayed copy only, never stored or encoded.
	 */
	const char *relay_header;
};

/* One SMTP command line and its reply. */
struct session_command
{
	int64_t at;       /* microseconds since the session started */
	const char *text; /* the command line as sent (no CRLF), cut to
	                      RECORD_COMMAND_MAX bytes by the sink; AUTH data
	                      lines are recorded as given by the caller */
	size_t text_len;  /* bytes in text (need not be NUL-terminated) */
	int reply_code;   /* 250, 354, 550, ...; 0 when no reply was sent */
};

/* One AUTH attempt (PLAIN, LOGIN, ...). */
struct session_auth
{
	int64_t at;              /* microseconds since the session started */
	const char *mechanism;   /* "PLAIN", "LOGIN", ... */
	const char *username;    /* decoded, or NULL */
	const char *password;    /* decoded, or NULL */
	int reply_code;          /* what we answered (235, 535, ...) */
	const char *workstation; /* the client's machine name where the
	                            mechanism sends one (NTLM), or NULL */
};

/* A finished SMTP session for spamlab.smtp_session (+ children). */
struct session_record
{
	struct uuid7 id;
	int64_t started_at; /* Unix microseconds */
	int64_t ended_at;   /* Unix microseconds */
	const char *sensor;
	const char *peer_ip; /* text form, or NULL */
	int peer_port;       /* -1 for none */
	const char *helo;    /* last HELO/EHLO argument, or NULL */
	const char *tls;     /* negotiated TLS version and cipher, or NULL */
	const char *disconnect_reason; /* "quit", "timeout", "eof", ... */
	const char *rdns;              /* the client's PTR name, or NULL */
	const char *rdns_status; /* "confirmed", ... (rdns.h), NULL: no lookup */
	const struct session_command *commands;
	size_t n_commands;
	const struct session_auth *auths;
	size_t n_auths;
};

/*
 * A deterministic message id for imports: the millisecond timestamp from
 * received_at (so ids still sort by time) and 74 bits of SHA-256 over the
 * raw bytes.  The same message imported again gets the same
 * (received_at, id) key, so a re-import inserts nothing.
 */
void record_content_id(struct uuid7 *out, int64_t received_at,
                       const uint8_t *raw, size_t raw_len);

struct copybuf;

/*
 * Columns of the sink's staging tables, in COPY order.  A message tuple is
 * spamlab.message's columns (id ... session_id, 16) then auth_password, so
 * dropping the last field gives a row for a direct COPY.  A session tuple
 * ends with rdns and rdns_status (sql/025_session_rdns.sql), then
 * auth_workstation (sql/024_auth_workstation.sql): columns are only ever
 * appended.
 */
#define RECORD_MESSAGE_FIELDS 17
#define RECORD_SESSION_FIELDS 20
#define RECORD_SESSION_RDNS   17 /* rdns's field; rdns_status follows */

/*
 * Append one binary COPY tuple for the staging table (pgsink.c has the
 * column lists).  False for a record that can never be stored (no source,
 * raw NULL with a length, raw over 1 GB) or on allocation failure; the
 * buffer may then hold a partial tuple and must be discarded.
 */
bool record_encode_message(struct copybuf *b, const struct msg_record *m)
    __attribute__((warn_unused_result));
bool record_encode_session(struct copybuf *b, const struct session_record *s)
    __attribute__((warn_unused_result));

/*
 * The same session as rows of the tables themselves, for the sink's direct
 * COPY: one spamlab.smtp_session tuple (RECORD_SESSION_DIRECT_FIELDS), then
 * at *cmd_off one spamlab.smtp_command tuple per command, then at *auth_off
 * one spamlab.smtp_auth tuple per AUTH attempt.  The values are those the
 * staged INSERT ... SELECT derives from record_encode_session()'s arrays.
 */
#define RECORD_SESSION_DIRECT_FIELDS 13
#define RECORD_COMMAND_FIELDS        5
#define RECORD_AUTH_FIELDS           8
bool record_encode_session_direct(struct copybuf *b,
                                  const struct session_record *s,
                                  size_t *cmd_off, size_t *auth_off)
    __attribute__((warn_unused_result));

#endif /* SPAMLAB_RECORD_H */
