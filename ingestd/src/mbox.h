/*
 * mbox.h: splitting mbox files, and what import needs to know about a
 * message: is it mail at all, and when was it received.
 *
 * Pure functions over a caller's buffer (no allocation, no I/O), so unit
 * tests and fuzzers call them directly.
 *
 * Splitting: a message starts at a "From " line at the start of the file, or
 * at a "From " line that follows an empty line and either carries a
 * parseable date or is followed by a header field.  Content-Length is
 * ignored.  The empty line before the next From_ line is the separator and
 * not part of the message.
 */
#ifndef SPAMLAB_MBOX_H
#define SPAMLAB_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How ">From " lines in a message body were quoted by the writer. */
enum mbox_variant
{
	MBOX_RD,  /* mboxrd: ">*From " lines lose one '>' (the default) */
	MBOX_O,   /* mboxo: only ">From " becomes "From " */
	MBOX_RAW, /* leave the bytes alone */
};

struct mbox_iter
{
	const char *buf;
	size_t len;
	size_t pos;
};

struct mbox_msg
{
	size_t from_off; /* the From_ line (without its line end) */
	size_t from_len;
	size_t off; /* the message, still quoted */
	size_t len;
};

void mbox_iter_init(struct mbox_iter *it, const char *buf, size_t len);

/* The next message, or false at the end. */
bool mbox_next(struct mbox_iter *it, struct mbox_msg *m);

/*
 * Undo From-quoting of in[0..n) into out (room for n bytes); returns the
 * length written (never more than n).  in and out may not overlap.
 */
size_t mbox_unquote(const char *in, size_t n, enum mbox_variant v, char *out);

/* Does in[0..n) contain any line unquoting would change? */
bool mbox_needs_unquote(const char *in, size_t n, enum mbox_variant v);

/* The date on a From_ line ("From sender Wed May 16 00:40:34 2001"), UTC. */
bool mbox_from_date(const char *line, size_t n, int64_t *unix_us);

/*
 * A mail date ("Tue, 15 May 2001 23:40:33 +0000 (GMT)", asctime, ...) in
 * Unix microseconds: the extension's lenient maildate_parse(), shared.
 */
bool mail_parse_date(const char *s, size_t n, int64_t *unix_us);

/*
 * When the message was received: the date after the last ';' of the first
 * (newest) Received field, else the Date field.  False if neither parses.
 */
bool mail_received_at(const char *buf, size_t n, int64_t *unix_us);

/*
 * Does buf look like an Internet message?  Its header block must start at
 * the first byte (an mbox From_ line allowed), hold at least two fields,
 * one of them a field every mail has (From, Date, Subject, Received, ...).
 */
bool mail_looks_like(const char *buf, size_t n);

#endif /* SPAMLAB_MBOX_H */
