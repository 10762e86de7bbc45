/*
 * hdrscan.h: a fast, lenient scanner over a message's header block.
 *
 * Pure C (no PostgreSQL, no gmime), so fuzzers and benchmarks link it alone.
 * It never allocates: fields point into the caller's buffer.  Mail from the
 * wild is taken as it comes: LF or CRLF line ends, an mbox "From " line
 * first, spaces before the colon, NUL bytes inside values.  The header block
 * ends at the first empty line, or at the first line that is neither a field
 * nor a continuation (what follows is body).
 */
#ifndef SPAMLAB_HDRSCAN_H
#define SPAMLAB_HDRSCAN_H

#include <stdbool.h>
#include <stddef.h>

struct hdr_field
{
	const char *name; /* field name, without trailing blanks */
	size_t name_len;
	const char *value; /* raw value after the colon, folding kept, */
	size_t value_len;  /* final line end excluded */
};

struct hdr_iter
{
	const char *p;
	const char *end;
	bool done;
};

void hdr_iter_init(struct hdr_iter *it, const char *buf, size_t len);

/* The next field, or false at the end of the header block. */
bool hdr_iter_next(struct hdr_iter *it, struct hdr_field *f);

/* Offset of the body: just past the empty line ending the header block. */
size_t hdr_body_offset(const char *buf, size_t len);

/* Does field f have this name (ASCII case-insensitive)? */
bool hdr_name_is(const struct hdr_field *f, const char *name);

/*
 * Unfold a raw value into out (which has room for n bytes): line breaks
 * inside the value are removed (the folding whitespace stays), NUL bytes
 * become spaces, and leading and trailing whitespace is trimmed.  Returns
 * the length written.
 */
size_t hdr_unfold(const char *v, size_t n, char *out);

#endif /* SPAMLAB_HDRSCAN_H */
