/*
 * fuzz_mbox.c: the import's mbox splitter, From-unquoting, date parsing,
 * is-it-mail test and the sink's UTF-8 repair on arbitrary bytes.  Messages
 * must lie inside the input and tile it in order; unquoting never grows;
 * repaired text is always valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct mbox_iter it;
	struct mbox_msg m;
	struct copybuf b;
	size_t last = 0;
	int64_t t;

	mbox_iter_init(&it, buf, size);
	while (mbox_next(&it, &m))
	{
		char *out;
		size_t n;

		if (m.from_off < last || m.from_off + m.from_len > size ||
		    m.off < m.from_off || m.off + m.len > size || it.pos <= m.from_off)
			abort();
		last = it.pos;
		out = malloc(m.len + 1);
		for (int v = MBOX_RD; v <= MBOX_RAW; v++)
		{
			n = mbox_unquote(buf + m.off, m.len, (enum mbox_variant)v, out);
			if (n > m.len ||
			    (n != m.len) != mbox_needs_unquote(buf + m.off, m.len,
			                                       (enum mbox_variant)v))
				abort();
		}
		free(out);
		(void)mbox_from_date(buf + m.from_off, m.from_len, &t);
		(void)mail_looks_like(buf + m.off, m.len);
		(void)mail_received_at(buf + m.off, m.len, &t);
	}
	(void)mail_parse_date(buf, size, &t);
	copybuf_init(&b);
	copybuf_put_utf8(&b, buf, size);
	if (!b.oom && !utf8_valid((const char *)b.data, b.len))
		abort();
	copybuf_free(&b);
	return 0;
}
