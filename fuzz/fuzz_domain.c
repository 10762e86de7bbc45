/*
 * fuzz_domain.c: registrable-domain reduction on arbitrary bytes.  The
 * result, when there is one, is a suffix of the lower-cased input, and the
 * cache of recent answers keeps the ICANN-only and full-list answers apart
 * (asking again after the other variant gives the first answer).
 */
#include <stdbool.h>
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
	char again[DOMAIN_MAX + 1], other[DOMAIN_MAX + 1];
	bool found, found_again;

	memcpy(host, data, size);
	host[size] = '\0';
	found = domain_registrable(host, size, size & 1, out, sizeof(out));
	if (found && strlen(out) > size)
		abort();
	(void)domain_registrable(host, size, !(size & 1), other, sizeof(other));
	found_again =
	    domain_registrable(host, size, size & 1, again, sizeof(again));
	if (found != found_again || strcmp(out, again) != 0)
		abort();
	(void)domain_is_ip_literal(host, size);
	free(host);
	return 0;
}
