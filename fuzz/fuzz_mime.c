/*
 * fuzz_mime.c: the gmime MIME walk on arbitrary bytes, then the URL scan
 * and HTML reduction over every text part it yields (what extract_urls and
 * body_text do).  Text must come out as valid UTF-8 without NUL bytes.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mimewalk.h"
#include "urlscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
ignore_hit(void *arg, const struct url_hit *h)
{
	(void)arg;
	(void)h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mw_message *m =
	    mw_parse((const char *)data, size, size & 1 ? MW_HASH : 0);

	for (int i = 0; i < m->nparts; i++)
	{
		struct mw_part *p = &m->parts[i];

		if (p->n != i + 1 || p->content_type == NULL)
			abort();
		if (p->text == NULL)
			continue;
		if (!g_utf8_validate(p->text, p->text_len, NULL) ||
		    strlen(p->text) != p->text_len)
			abort();
		if (p->is_html)
		{
			size_t n;
			char *t = html_to_text(p->text, p->text_len, &n);

			url_scan_html(p->text, p->text_len, ignore_hit, NULL);
			free(t);
		}
		else
			url_scan_text(p->text, p->text_len, URL_SRC_TEXT, ignore_hit, NULL);
	}
	mw_free(m);
	return 0;
}
