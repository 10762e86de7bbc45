/*
 * fuzz_domain.c: registrable-domain reduction on arbitrary bytes.  The
 * result, when there is one, is a suffix of the lower-cased input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DOMAIN_MAX + 1];
	char *host = malloc(size + 1);

	memcpy(host, data, size);
	host[size] = '\0';
	if (domain_registrable(host, size, size & 1, out, sizeof(out)) &&
	    strlen(out) > size)
		abort();
	(void)domain_is_ip_literal(host, size);
	free(host);
	return 0;
}
