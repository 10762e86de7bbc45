/*
 * fuzzutil.h: checks the fuzz targets share.
 */
#ifndef SPAMLAB_FUZZUTIL_H
#define SPAMLAB_FUZZUTIL_H

#include <stddef.h>

/* Strict UTF-8 check (no overlongs, surrogates or values past U+10FFFF). */
static inline int
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

#endif
