/*
 * fuzz_imapurl.c: the IMAP importer's URL parser and modified UTF-7
 * decoder on arbitrary bytes.  Parsed fields are terminated and bounded;
 * a decoded name is valid UTF-8 and fits the documented 2n+1 bound; a
 * refused one comes back unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict UTF-8 check (no overlongs, surrogates or values past U+10FFFF). */
static int
valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n)
	{
		unsigned c = s[i], len, cp;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (unsigned k = 1; k < len; k++)
		{
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *out;
	struct imap_url u;
	char err[256];
	size_t cap;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (imapurl_parse(in, &u, err, sizeof(err)))
	{
		if (strlen(u.user) >= sizeof(u.user) ||
		    strlen(u.host) >= sizeof(u.host) ||
		    strlen(u.folder) >= sizeof(u.folder) || u.port == 0 || !u.user[0])
			abort();
	}
	else if (!err[0])
		abort();
	cap = 2 * strlen(in) + 1;
	out = malloc(cap);
	if (out)
	{
		if (imapurl_mutf7_decode(in, out, cap))
		{
			if (!valid_utf8((const unsigned char *)out, strlen(out)))
				abort();
		}
		else if (strcmp(out, in) != 0)
			abort();
		/* a small buffer never overflows and is always terminated */
		(void)imapurl_mutf7_decode(in, out, 4);
		if (strlen(out) >= 4)
			abort();
		free(out);
	}
	free(in);
	return 0;
}
