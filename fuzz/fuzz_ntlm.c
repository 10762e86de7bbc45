/*
 * fuzz_ntlm.c: AUTH NTLM's message code on arbitrary bytes, read as a
 * NEGOTIATE, as an AUTHENTICATE and (its first bytes) as the host name a
 * CHALLENGE is built for.  A parsed AUTHENTICATE points only inside the
 * input, its names are valid UTF-8 within the documented bound, and every
 * CHALLENGE fits and ends with its target information.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "ntlm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *s)
{
	size_t n = strlen(s);

	/* a unit is at most 3 bytes; a pair 4 for 2; an odd byte adds one */
	if (n > 3 * NTLM_NAME_MAX + 3 || !valid_utf8((const unsigned char *)s, n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ch[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t msg[NTLM_CHALLENGE_MAX];
	char host[256];
	uint32_t flags = 0;
	struct ntlm_auth a;
	size_t n, hn = size < sizeof(host) - 1 ? size : sizeof(host) - 1;

	if (ntlm_parse_negotiate(data, size, &flags) !=
	    (size >= 16 && memcmp(data, "NTLMSSP", 8) == 0 && data[8] == 1 &&
	     !data[9] && !data[10] && !data[11]))
		abort();
	memcpy(host, data, hn);
	host[hn] = '\0';
	n = ntlm_build_challenge(msg, sizeof(msg), flags, ch, host, size);
	if (n < 56 + 16 || msg[8] != 2 ||
	    (size_t)(msg[44] | msg[45] << 8) + (msg[40] | msg[41] << 8) != n ||
	    (size_t)(msg[16] | msg[17] << 8) + (msg[12] | msg[13] << 8) > n)
		abort();

	if (!ntlm_parse_authenticate(data, size, flags, &a))
		return 0;
	check_name(a.domain);
	check_name(a.user);
	check_name(a.workstation);
	if ((a.lm_len && (a.lm < data || a.lm + a.lm_len > data + size)) ||
	    (a.nt_len && (a.nt < data || a.nt + a.nt_len > data + size)))
		abort();
	{
		char *h = ntlm_hashcat(&a, ch), *acct = ntlm_account(&a);

		if (h && (a.nt_len < 24 || strlen(h) < 2 * a.nt_len))
			abort();
		if (!acct || strlen(acct) < strlen(a.user))
			abort();
		free(h);
		free(acct);
	}
	ntlm_auth_free(&a);
	return 0;
}
