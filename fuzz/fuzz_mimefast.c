/*
 * fuzz_mimefast.c: differential check of the gmime-free reader of text
 * parts.  Whenever mw_fast_parse() accepts an input, the gmime walk must
 * yield the same text parts, in the same order, with the same part
 * numbers, depths, content types, HTML flags and text bytes; a difference
 * would change extract_urls() rows.  mw_utf8_valid() must agree with
 * glib's g_utf8_validate_len() on every input.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mimefast.h"
#include "mimewalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw_message *f, *m;
	int k = 0;

	if (mw_utf8_valid((const char *)data, size) !=
	    (bool)g_utf8_validate_len((const char *)data, (gssize)size, NULL))
		abort();
	f = mw_fast_parse((const char *)data, size);
	if (f == NULL)
		return 0;
	m = mw_parse((const char *)data, size, 0);
	for (int i = 0; i < m->nparts; i++)
	{
		const struct mw_part *g = &m->parts[i], *p;

		if (g->text == NULL)
			continue;
		if (k >= f->nparts)
			abort();
		p = &f->parts[k++];
		if (p->n != g->n || p->depth != g->depth || p->is_html != g->is_html ||
		    strcmp(p->content_type, g->content_type) != 0 ||
		    p->text_len != g->text_len ||
		    memcmp(p->text, g->text, g->text_len) != 0 ||
		    p->text[p->text_len] != '\0')
			abort();
	}
	if (k != f->nparts)
		abort();
	mw_free(m);
	mw_free(f);
	return 0;
}
