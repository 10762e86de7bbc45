/*
 * fuzz_hdrscan.c: the header scanner on arbitrary bytes.  Every field it
 * returns must lie inside the input, and unfolding (eight bytes at a time)
 * must give what the byte-by-byte definition gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdrscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Unfolding by definition: drop CR and LF, NUL to space, trim blanks. */
static size_t
unfold_reference(const char *v, size_t n, char *out)
{
	size_t o = 0, start = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] != '\r' && v[i] != '\n')
			out[o++] = v[i] == '\0' ? ' ' : v[i];
	while (start < o && (out[start] == ' ' || out[start] == '\t'))
		start++;
	while (o > start && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	memmove(out, out + start, o - start);
	return o - start;
}

static void
check_unfold(const char *v, size_t n)
{
	char *a = malloc(n + 1), *b = malloc(n + 1);
	size_t na = hdr_unfold(v, n, a), nb = unfold_reference(v, n, b);

	if (na != nb || memcmp(a, b, na) != 0)
		abort();
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct hdr_iter it;
	struct hdr_field f;
	size_t body;

	hdr_iter_init(&it, buf, size);
	while (hdr_iter_next(&it, &f))
	{
		char *out;
		size_t n;

		if (f.name < buf || f.name + f.name_len > buf + size || f.value < buf ||
		    f.value + f.value_len > buf + size)
			abort();
		out = malloc(f.value_len + 1);
		n = hdr_unfold(f.value, f.value_len, out);
		if (n > f.value_len)
			abort();
		free(out);
		(void)hdr_name_is(&f, "received");
	}
	check_unfold(buf, size);
	body = hdr_body_offset(buf, size);
	if (body > size)
		abort();
	return 0;
}
