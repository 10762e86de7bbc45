/*
 * fuzz_whois.c: the whois answer parser and date reader on arbitrary bytes.
 * Checks that strings come back NUL-terminated within their bounds, that a
 * referral is what whois_clean_server() accepts, and that sanitising leaves
 * valid UTF-8 without NULs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "whoisparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct whois_fields f;
	struct whois_time t;
	char srv[WHOIS_SERVER_MAX + 1];
	char *copy;

	/* exact-size heap copy, not NUL-terminated: overreads are caught */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	whois_parse_answer(copy, size, &f);
	if (strlen(f.registrar) > WHOIS_REGISTRAR_MAX ||
	    strlen(f.referral_server) > WHOIS_SERVER_MAX)
		abort();
	if (f.referral_server[0] != '\0' &&
	    !whois_clean_server(f.referral_server, strlen(f.referral_server), srv,
	                        sizeof(srv)))
		abort();
	if ((f.throttled || f.not_found) && (f.has_created || f.registrar[0]))
		abort();
	if (whois_parse_date(copy, size, &t) && (t.usec < 0 || t.usec > 999999))
		abort();
	(void)whois_clean_server(copy, size, srv, sizeof(srv));

	whois_sanitize(copy, size, size & 1);
	for (size_t i = 0; i < size; i++)
		if (copy[i] == '\0' || ((size & 1) && (unsigned char)copy[i] > 0x7f))
			abort();
	free(copy);
	return 0;
}
