/*
 * copybin.h: PostgreSQL binary COPY encoding into a growable buffer.
 *
 * Binary COPY carries bytea as plain bytes (no hex or escape doubling) and
 * needs no quoting of text.  Text values are made valid UTF-8 on the way in
 * (NUL and invalid sequences become U+FFFD), so a value from the wire can
 * never make the server refuse a row for its encoding.  Allocation failure
 * sets `oom` and turns further writes into no-ops: check it once at the end.
 */
#ifndef SPAMLAB_COPYBIN_H
#define SPAMLAB_COPYBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid7.h"

#define COPYBIN_OID_INT4 23
#define COPYBIN_OID_INT8 20
#define COPYBIN_OID_TEXT 25

/* The 19-byte file header and the 2-byte trailer. */
#define COPYBIN_HEADER_LEN 19
extern const uint8_t copybin_header[COPYBIN_HEADER_LEN];
extern const uint8_t copybin_trailer[2];

struct copybuf
{
	uint8_t *data;
	size_t len;
	size_t cap;
	bool oom;
};

void copybuf_init(struct copybuf *b);
void copybuf_free(struct copybuf *b);
void copybuf_put(struct copybuf *b, const void *p, size_t n);
void copybuf_put_i16(struct copybuf *b, int16_t v);
void copybuf_put_i32(struct copybuf *b, int32_t v);
void copybuf_put_i64(struct copybuf *b, int64_t v);

/* A tuple of nfields fields follows. */
void copybin_tuple(struct copybuf *b, int nfields);

/* Field values; the pointer variants write NULL for a NULL pointer. */
void copybin_null(struct copybuf *b);
void copybin_text(struct copybuf *b, const char *s, size_t n);
void copybin_cstr(struct copybuf *b, const char *s);
void copybin_bytea(struct copybuf *b, const void *p, size_t n);
void copybin_int4(struct copybuf *b, int32_t v);
void copybin_int8(struct copybuf *b, int64_t v);
void copybin_uuid(struct copybuf *b, const struct uuid7 *id);
/* Unix microseconds to timestamptz. */
void copybin_timestamptz(struct copybuf *b, int64_t unix_us);
/* IPv4/IPv6 text to inet; NULL when s is NULL or not an address. */
void copybin_inet(struct copybuf *b, const char *s);

/*
 * A field whose length is known only after writing it: begin returns a
 * mark, end patches the length in.
 */
size_t copybin_field_begin(struct copybuf *b);
void copybin_field_end(struct copybuf *b, size_t mark);

/* One-dimensional array header (lower bound 1), then n elements. */
void copybin_array_header(struct copybuf *b, size_t n, uint32_t elemoid,
                          bool hasnull);

/*
 * Append s[0..n) as valid UTF-8 without NULs: every byte that does not
 * start a well-formed sequence (and every NUL) becomes U+FFFD.
 */
void copybuf_put_utf8(struct copybuf *b, const char *s, size_t n);

/* Is s[0..n) valid UTF-8 without NUL? */
bool utf8_valid(const char *s, size_t n);

#endif /* SPAMLAB_COPYBIN_H */
