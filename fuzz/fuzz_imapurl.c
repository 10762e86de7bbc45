/*
 * fuzz_imapurl.c: the IMAP importer's URL parser and modified UTF-7
 * decoder on arbitrary bytes.  Parsed fields are terminated and bounded;
 * a decoded name is valid UTF-8 and fits the documented 2n+1 bound; a
 * refused one comes back unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "imapurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
