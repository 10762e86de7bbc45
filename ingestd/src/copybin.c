/*
 * copybin.c: PostgreSQL binary COPY encoding.
 */
#include "copybin.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL's own address family codes in inet's binary form. */
#define PGSQL_AF_INET  2
#define PGSQL_AF_INET6 3

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

const uint8_t copybin_header[COPYBIN_HEADER_LEN] = {
    'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
    0,   0,   0,   0,   0,   0,   0,    0,    0};
const uint8_t copybin_trailer[2] = {0xff, 0xff};

void
copybuf_init(struct copybuf *b)
{
	memset(b, 0, sizeof(*b));
}

void
copybuf_free(struct copybuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Room for n more bytes; false (and oom set) when it cannot be had. */
static bool
copybuf_reserve(struct copybuf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->oom)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len)
	{
		b->oom = true;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
	{
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void
copybuf_put(struct copybuf *b, const void *p, size_t n)
{
	if (n == 0 || !copybuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
copybuf_put_i16(struct copybuf *b, int16_t v)
{
	uint16_t u = (uint16_t)v;
	uint8_t x[2] = {(uint8_t)(u >> 8), (uint8_t)u};

	copybuf_put(b, x, 2);
}

void
copybuf_put_i32(struct copybuf *b, int32_t v)
{
	uint32_t u = (uint32_t)v;
	uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8),
	                (uint8_t)u};

	copybuf_put(b, x, 4);
}

void
copybuf_put_i64(struct copybuf *b, int64_t v)
{
	copybuf_put_i32(b, (int32_t)((uint64_t)v >> 32));
	copybuf_put_i32(b, (int32_t)((uint64_t)v & 0xffffffffu));
}

void
copybin_tuple(struct copybuf *b, int nfields)
{
	copybuf_put_i16(b, (int16_t)nfields);
}

void
copybin_null(struct copybuf *b)
{
	copybuf_put_i32(b, -1);
}

size_t
copybin_field_begin(struct copybuf *b)
{
	size_t mark = b->len;

	copybuf_put_i32(b, 0);
	return mark;
}

void
copybin_field_end(struct copybuf *b, size_t mark)
{
	size_t n;

	if (b->oom)
		return;
	n = b->len - mark - 4;
	if (n > INT32_MAX)
	{
		b->oom = true; /* PostgreSQL cannot take it either */
		return;
	}
	b->data[mark] = (uint8_t)(n >> 24);
	b->data[mark + 1] = (uint8_t)(n >> 16);
	b->data[mark + 2] = (uint8_t)(n >> 8);
	b->data[mark + 3] = (uint8_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef)
	{
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0) /* overlong */
			return 0;
		if (c == 0xed && s[1] > 0x9f) /* surrogate */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4)
	{
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90) /* overlong */
			return 0;
		if (c == 0xf4 && s[1] > 0x8f) /* above U+10FFFF */
			return 0;
		return 4;
	}
	return 0; /* NUL, continuation byte, 0xc0, 0xc1, 0xf5.. */
}

bool
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n)
	{
		size_t k = utf8_seq_len(p + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

void
copybuf_put_utf8(struct copybuf *b, const char *s, size_t n)
{
	static const char fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	while (i < n)
	{
		size_t k = utf8_seq_len(p + i, n - i);

		if (k)
		{
			i += k;
			continue;
		}
		copybuf_put(b, s + run, i - run);
		copybuf_put(b, fffd, 3);
		i++;
		run = i;
	}
	copybuf_put(b, s + run, n - run);
}

void
copybin_text(struct copybuf *b, const char *s, size_t n)
{
	size_t mark;

	if (!s)
	{
		copybin_null(b);
		return;
	}
	mark = copybin_field_begin(b);
	copybuf_put_utf8(b, s, n);
	copybin_field_end(b, mark);
}

void
copybin_cstr(struct copybuf *b, const char *s)
{
	copybin_text(b, s, s ? strlen(s) : 0);
}

void
copybin_bytea(struct copybuf *b, const void *p, size_t n)
{
	if (!p && n)
	{
		copybin_null(b);
		return;
	}
	if (n > INT32_MAX)
	{
		b->oom = true;
		return;
	}
	copybuf_put_i32(b, (int32_t)n);
	copybuf_put(b, p, n);
}

void
copybin_int4(struct copybuf *b, int32_t v)
{
	copybuf_put_i32(b, 4);
	copybuf_put_i32(b, v);
}

void
copybin_int8(struct copybuf *b, int64_t v)
{
	copybuf_put_i32(b, 8);
	copybuf_put_i64(b, v);
}

void
copybin_uuid(struct copybuf *b, const struct uuid7 *id)
{
	copybuf_put_i32(b, 16);
	copybuf_put(b, id->b, 16);
}

void
copybin_timestamptz(struct copybuf *b, int64_t unix_us)
{
	copybin_int8(b, unix_us - PG_EPOCH_OFFSET_US);
}

void
copybin_inet(struct copybuf *b, const char *s)
{
	uint8_t a[16];

	if (s && inet_pton(AF_INET, s, a) == 1)
	{
		uint8_t h[4] = {PGSQL_AF_INET, 32, 0, 4};

		copybuf_put_i32(b, 8);
		copybuf_put(b, h, 4);
		copybuf_put(b, a, 4);
	}
	else if (s && inet_pton(AF_INET6, s, a) == 1)
	{
		uint8_t h[4] = {PGSQL_AF_INET6, 128, 0, 16};

		copybuf_put_i32(b, 20);
		copybuf_put(b, h, 4);
		copybuf_put(b, a, 16);
	}
	else
		copybin_null(b);
}

void
copybin_array_header(struct copybuf *b, size_t n, uint32_t elemoid,
                     bool hasnull)
{
	if (n == 0)
	{
		copybuf_put_i32(b, 0); /* ndim 0: the empty array */
		copybuf_put_i32(b, 0);
		copybuf_put_i32(b, (int32_t)elemoid);
		return;
	}
	copybuf_put_i32(b, 1);
	copybuf_put_i32(b, hasnull ? 1 : 0);
	copybuf_put_i32(b, (int32_t)elemoid);
	copybuf_put_i32(b, (int32_t)n);
	copybuf_put_i32(b, 1);
}
