/*
 * hdrscan.c: a fast, lenient scanner over a message's header block.
 */
#include "hdrscan.h"

#include <stdint.h>
#include <string.h>

/* End of the line starting at p: the position of its LF (or end). */
static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', end - p);

	return nl ? nl : end;
}

/* Is the line [p, e) empty, allowing a CR before the LF? */
static bool
line_is_empty(const char *p, const char *e)
{
	return e == p || (e - p == 1 && p[0] == '\r');
}

/* Length of a field name at p on a line ending at e, or 0 if not a field. */
static size_t
field_name_len(const char *p, const char *e, const char **colon)
{
	const char *q = p;

	while (q < e && *q != ':' && (unsigned char)*q > 32 &&
	       (unsigned char)*q < 127)
		q++;
	if (q == p)
		return 0;
	{
		size_t n = q - p;

		/* tolerate "Subject : x" */
		while (q < e && (*q == ' ' || *q == '\t'))
			q++;
		if (q >= e || *q != ':')
			return 0;
		*colon = q;
		return n;
	}
}

void
hdr_iter_init(struct hdr_iter *it, const char *buf, size_t len)
{
	it->p = buf;
	it->end = buf + len;
	it->done = false;
	/* an mbox separator line before the first field */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0)
	{
		const char *e = line_end(buf, it->end);

		it->p = e < it->end ? e + 1 : e;
	}
}

bool
hdr_iter_next(struct hdr_iter *it, struct hdr_field *f)
{
	const char *p = it->p, *e, *colon = NULL, *v, *ve;
	size_t nlen;

	if (it->done || p >= it->end)
	{
		it->done = true;
		return false;
	}
	e = line_end(p, it->end);
	nlen = line_is_empty(p, e) ? 0 : field_name_len(p, e, &colon);
	if (nlen == 0)
	{
		/* empty line, or body text without a separating empty line */
		it->done = true;
		return false;
	}
	f->name = p;
	f->name_len = nlen;
	v = colon + 1;
	/* continuation lines start with a blank */
	while (e < it->end && e + 1 < it->end && (e[1] == ' ' || e[1] == '\t'))
		e = line_end(e + 1, it->end);
	ve = e;
	if (ve > v && ve[-1] == '\r')
		ve--;
	f->value = v;
	f->value_len = ve - v;
	it->p = e < it->end ? e + 1 : e;
	return true;
}

size_t
hdr_body_offset(const char *buf, size_t len)
{
	struct hdr_iter it;
	struct hdr_field f;
	const char *e;

	hdr_iter_init(&it, buf, len);
	while (hdr_iter_next(&it, &f))
		;
	/* it.p is at the line that ended the block; skip it if empty */
	e = line_end(it.p, it.end);
	if (it.p < it.end && line_is_empty(it.p, e))
		return (e < it.end ? e + 1 : e) - buf;
	return it.p - buf;
}

bool
hdr_name_is(const struct hdr_field *f, const char *name)
{
	size_t n = strlen(name);

	if (n != f->name_len)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char a = f->name[i], b = name[i];

		if (a >= 'A' && a <= 'Z')
			a += 32;
		if (b >= 'A' && b <= 'Z')
			b += 32;
		if (a != b)
			return false;
	}
	return true;
}

/* Does the 64-bit word x hold a zero byte?  (Exact: no false positives.) */
#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGH 0x8080808080808080ULL
static inline bool
has_zero_byte(uint64_t x)
{
	return ((x - SWAR_ONES) & ~x & SWAR_HIGH) != 0;
}

size_t
hdr_unfold(const char *v, size_t n, char *out)
{
	size_t o = 0, i = 0, start, end;

	while (i < n)
	{
		size_t stop;

		/* eight bytes at a time while none is CR, LF or NUL */
		while (i + 8 <= n)
		{
			uint64_t x;

			memcpy(&x, v + i, 8);
			if (has_zero_byte(x) || has_zero_byte(x ^ (SWAR_ONES * '\r')) ||
			    has_zero_byte(x ^ (SWAR_ONES * '\n')))
				break;
			memcpy(out + o, &x, 8);
			i += 8;
			o += 8;
		}
		/* then byte by byte past the one that stopped the word copy */
		stop = n - i > 8 ? i + 8 : n;
		for (; i < stop; i++)
		{
			char c = v[i];

			if (c == '\r' || c == '\n')
				continue;
			out[o++] = c == '\0' ? ' ' : c;
		}
	}
	start = 0;
	while (start < o && (out[start] == ' ' || out[start] == '\t'))
		start++;
	end = o;
	while (end > start && (out[end - 1] == ' ' || out[end - 1] == '\t'))
		end--;
	if (start > 0)
		memmove(out, out + start, end - start);
	return end - start;
}
