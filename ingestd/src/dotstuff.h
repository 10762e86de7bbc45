/*
 * dotstuff.h: the DATA decoder: removes dot-stuffing (RFC 5321 4.5.2) and
 * finds the end-of-data line, CRLF.CRLF or a bare-LF variant.  The message
 * bytes are otherwise kept exactly as sent (bare LF stays LF).
 */
#ifndef SPAMLAB_DOTSTUFF_H
#define SPAMLAB_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.6: 1000 octets including CRLF. */
#define DOTSTUFF_LINE_MAX 1000

struct dotstuff
{
	int state;
	bool done;
	size_t line_len;     /* bytes in the current line so far */
	uint64_t long_lines; /* lines longer than DOTSTUFF_LINE_MAX */
};

void dotstuff_init(struct dotstuff *d);

/*
 * Decode up to len input bytes into out, which must hold len + 2 bytes.
 * Returns how many input bytes were consumed; *outlen gets the number of
 * decoded bytes.  Stops right after the end-of-data line, setting d->done;
 * the rest of the input belongs to the next command.
 */
size_t dotstuff_feed(struct dotstuff *d, const char *in, size_t len, char *out,
                     size_t *outlen);

#endif /* SPAMLAB_DOTSTUFF_H */
