/*
 * fuzz_relay.c: the probe relay's parsers of hostile input, from ingestd:
 * DNS MX answers (dnsmx.c), relay rule text (probe.c) and the whole-token
 * search over message bytes (probe.c).  The first input byte picks one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../ingestd/src/dnsmx.c"
#include "../ingestd/src/probe.c"
#include "../ingestd/src/seen.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsmx_host hosts[DNSMX_HOSTS_MAX];
	size_t n;

	if (size < 1)
		return 0;
	switch (data[0] % 3)
	{
		case 0:
			if (size >= 3)
				(void)dnsmx_parse(data + 1, size - 1,
				                  (uint16_t)(data[1] << 8 | data[2]), hosts,
				                  &n);
			break;
		case 1:
		{
			struct probe_config cfg;
			char *text = malloc(size);
			char err[128];

			if (text == NULL)
				return 0;
			memcpy(text, data + 1, size - 1);
			text[size - 1] = '\0';
			probe_config_default(&cfg);
			if (probe_config_add_rule(&cfg, text, err, sizeof(err)))
			{
				char out[512];

				probe_rule_format(&cfg.rules[0], out, sizeof(out));
			}
			free(text);
			break;
		}
		case 2:
		{
			/* needle: up to the first NUL, haystack: the rest */
			const uint8_t *nul = memchr(data + 1, 0, size - 1);
			char needle[64];
			size_t nl;

			if (nul == NULL)
				return 0;
			nl = (size_t)(nul - (data + 1));
			if (nl >= sizeof(needle))
				return 0;
			memcpy(needle, data + 1, nl);
			needle[nl] = '\0';
			(void)probe_mentions(nul + 1, size - 1 - nl - 1, needle);
			break;
		}
	}
	return 0;
}
