/*
 * fuzz_rdns.c: the PTR name a client's DNS hands us (any bytes a hostile
 * zone can publish) as ingestd stores and writes it: the result is at most
 * RDNS_NAME_MAX - 1 printable ASCII bytes, lower case, no trailing dot, and
 * a name called valid holds only letters, digits, '-', '_' and dots.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rdns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), out[RDNS_NAME_MAX];
	size_t n;
	bool valid;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	valid = rdns_normalize_name(in, out);
	n = strlen(out);
	if (n > RDNS_NAME_MAX - 1 || (n && out[n - 1] == '.'))
		abort();
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char)out[i];

		if (c < 0x21 || c > 0x7e || (c >= 'A' && c <= 'Z'))
			abort();
		if (valid && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		               c == '-' || c == '_' || c == '.'))
			abort();
	}
	if (valid && (n == 0 || n > 253 || out[0] == '.' || strstr(out, "..")))
		abort();
	free(in);
	return 0;
}
