/*
 * fuzz_mimefast.c: differential check of the gmime-free reader of
 * single-part text messages.  Whenever mw_fast_text() accepts an input, the
 * gmime walk must yield exactly one part whose text and HTML flag are the
 * same bytes; a difference would change extract_urls() rows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mimefast.h"
#include "mimewalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	size_t len;
	bool html;
	struct mw_message *m;

	if (!mw_fast_text((const char *)data, size, &text, &len, &html))
		return 0;
	m = mw_parse((const char *)data, size, 0);
	if (m->nparts != 1 || m->parts[0].text == NULL ||
	    m->parts[0].text_len != len || m->parts[0].is_html != html ||
	    memcmp(m->parts[0].text, text, len) != 0 || text[len] != '\0')
		abort();
	mw_free(m);
	free(text);
	return 0;
}
