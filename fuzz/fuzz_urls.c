/*
 * fuzz_urls.c: the URL extractor on arbitrary bytes, as plain text and as
 * HTML, and HTML reduced to text.  Every hit must carry a canonical URL and a
 * host without upper-case letters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "urlscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_hit(void *arg, const struct url_hit *h)
{
	size_t *count = arg;

	if (h->url == NULL || h->raw == NULL)
		abort();
	if (h->host != NULL)
		for (const char *p = h->host; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
	if (h->regdom != NULL && h->host == NULL)
		abort();
	(*count)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t count = 0, n;
	char *text;

	url_scan_text((const char *)data, size, URL_SRC_TEXT, check_hit, &count);
	url_scan_html((const char *)data, size, check_hit, &count);
	text = html_to_text((const char *)data, size, &n);
	if (text == NULL || strlen(text) > n)
		abort();
	free(text);
	return 0;
}
