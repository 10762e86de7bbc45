/*
 * test_dotstuff.c: the DATA decoder, fed whole and byte by byte.
 */
#include <stdlib.h>
#include <string.h>

#include "dotstuff.h"
#include "unit.h"

struct ds_case
{
	const char *in;
	size_t in_len;   /* 0: strlen */
	const char *out; /* decoded message */
	size_t consumed; /* input bytes up to the end marker; 0: none found */
	uint64_t long_lines;
};

/* Decode in pieces of `step` bytes; returns the consumed count or 0. */
static size_t
ds_run(const struct ds_case *c, size_t step, char *out, size_t *outlen,
       uint64_t *long_lines)
{
	struct dotstuff d;
	size_t len = c->in_len ? c->in_len : strlen(c->in), pos = 0;
	char *buf = malloc(len + 2);

	dotstuff_init(&d);
	*outlen = 0;
	while (pos < len && !d.done)
	{
		size_t n = len - pos < step ? len - pos : step, o;
		size_t used = dotstuff_feed(&d, c->in + pos, n, buf, &o);

		memcpy(out + *outlen, buf, o);
		*outlen += o;
		pos += used;
		if (used < n && !d.done)
			break; /* must never happen */
	}
	free(buf);
	*long_lines = d.long_lines;
	return d.done ? pos : 0;
}

void
test_dotstuff(void)
{
	static char long_line[2100];
	static const struct ds_case cases[] = {
	    {"Subject: x\r\n\r\nbody\r\n.\r\n", 0, "Subject: x\r\n\r\nbody\r\n", 23,
	     0},
	    {".\r\n", 0, "", 3, 0},
	    {"..leading dot\r\n.\r\n", 0, ".leading dot\r\n", 18, 0},
	    {"a\r\n..\r\n.\r\n", 0, "a\r\n.\r\n", 10, 0},
	    {"bare\nlf\n.\n", 0, "bare\nlf\n", 10, 0},
	    {"mixed\r\nend\n.\r\n", 0, "mixed\r\nend\n", 14, 0},
	    {"no end\r\n", 0, "no end\r\n", 0, 0},
	    {"a\r\n.\r\nQUIT\r\n", 0, "a\r\n", 6, 0},
	    {"x.\r\n.\r\n", 0, "x.\r\n", 7, 0},
	    {".\rx\r\n.\r\n", 0, "\rx\r\n", 8, 0},
	    {"\r\n.\r\n", 0, "\r\n", 5, 0},
	    {"nul\0byte\r\n.\r\n", 13, "nul\0byte\r\n", 13, 0},
	    {".x\r\n.\r\n", 0, "x\r\n", 7, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		static const size_t steps[] = {1, 2, 3, 7, 100000};
		size_t want_len = cases[i].in_len && cases[i].consumed
		                      ? cases[i].in_len - 3
		                      : strlen(cases[i].out);

		if (i == 11)
			want_len = 10;
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		{
			char out[256];
			size_t outlen;
			uint64_t ll;
			size_t used = ds_run(&cases[i], steps[k], out, &outlen, &ll);

			CHECK_MSG(used == cases[i].consumed, "case %zu step %zu: used %zu",
			          i, steps[k], used);
			CHECK_MSG(outlen == want_len &&
			              memcmp(out, cases[i].out, outlen) == 0,
			          "case %zu step %zu: out %zu bytes", i, steps[k], outlen);
		}
	}

	/* a line over 1000 bytes is kept whole and counted */
	{
		struct ds_case c = {0};
		char *out = malloc(sizeof(long_line) + 16);
		size_t outlen;
		uint64_t ll;

		memset(long_line, 'x', sizeof(long_line));
		memcpy(long_line + sizeof(long_line) - 6, "\r\n.\r\n", 6);
		c.in = long_line;
		c.in_len = sizeof(long_line) - 1;
		c.consumed = c.in_len;
		CHECK(ds_run(&c, 4096, out, &outlen, &ll) == c.in_len);
		CHECK(outlen == c.in_len - 3);
		CHECK(ll == 1);
		free(out);
	}
}
