/*
 * dotstuff.c: the DATA decoder, a four-state byte machine.
 *
 *   BOL    at the start of a line     '.' -> DOT (held), else emit -> MID/BOL
 *   MID    inside a line              emit; '\n' -> BOL
 *   DOT    line began with '.'        '\r' -> DOTCR (held); '\n' -> end;
 *                                     else drop the dot, emit -> MID
 *   DOTCR  line began with ".\r"      '\n' -> end; else emit '\r' and the
 *                                     byte (the dot is dropped) -> MID
 */
#include "dotstuff.h"

#include <string.h>

enum
{
	DS_BOL,
	DS_MID,
	DS_DOT,
	DS_DOTCR,
};

void
dotstuff_init(struct dotstuff *d)
{
	memset(d, 0, sizeof(*d));
	d->state = DS_BOL;
}

/* Count a finished line's length against the RFC limit. */
static inline void
dotstuff_end_line(struct dotstuff *d)
{
	if (d->line_len > DOTSTUFF_LINE_MAX)
		d->long_lines++;
	d->line_len = 0;
}

size_t
dotstuff_feed(struct dotstuff *d, const char *in, size_t len, char *out,
              size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < len && !d->done)
	{
		char c = in[i];

		switch (d->state)
		{
			case DS_BOL:
				if (c == '.')
				{
					d->state = DS_DOT;
					d->line_len = 1;
					i++;
					break;
				}
				d->state = DS_MID;
				/* FALLTHROUGH */
			case DS_MID:
			{
				/* copy up to and including the next LF in one go */
				const char *nl = memchr(in + i, '\n', len - i);
				size_t n = nl ? (size_t)(nl - (in + i)) + 1 : len - i;

				memcpy(out + o, in + i, n);
				o += n;
				i += n;
				d->line_len += n;
				if (nl)
				{
					dotstuff_end_line(d);
					d->state = DS_BOL;
				}
				break;
			}
			case DS_DOT:
				i++;
				if (c == '\r')
					d->state = DS_DOTCR;
				else if (c == '\n')
					d->done = true;
				else
				{
					out[o++] = c;
					d->line_len++;
					d->state = DS_MID;
				}
				break;
			case DS_DOTCR:
				i++;
				if (c == '\n')
				{
					d->done = true;
					break;
				}
				out[o++] = '\r';
				out[o++] = c;
				d->line_len += 2;
				d->state = DS_MID;
				if (c == '\r')
					d->state = DS_MID;
				break;
		}
	}
	*outlen = o;
	return i;
}
