/*
 * mimefast.h: the text parts of a message, read without gmime.
 *
 * Pure C (no PostgreSQL), so the fuzzers link it.  Most spam is a single
 * text entity or a multipart/alternative or multipart/mixed of text parts
 * and attachments; extract_urls() needs only the decoded text parts, and a
 * strict reader here finds the same parts, numbers them the same way and
 * decodes them to the same bytes as mw_parse() at a fraction of the cost.
 * Anything it is not sure gmime reads the same way (odd header lines,
 * comments, RFC 2231 parameters, message/... parts, multipart/digest,
 * unusual transfer encodings, irregular base64 or quoted-printable, lines
 * that look almost like a boundary, unclosed inner multiparts) is declined,
 * and the caller walks the message with mw_parse() as before.
 */
#ifndef SPAMLAB_MIMEFAST_H
#define SPAMLAB_MIMEFAST_H

#include <stdbool.h>
#include <stddef.h>

#include "mimewalk.h"

/* Deeper multipart nesting is declined. */
#define MF_MAX_DEPTH 8
/* Messages with more parts than this are declined. */
#define MF_MAX_PARTS 1000

/*
 * If this reader is sure of the whole message, return a mw_message that
 * holds its text parts only, in order, each with the part number, depth,
 * content type, HTML flag and decoded UTF-8 text mw_parse() gives it (so
 * nparts counts text parts; non-text parts are skipped but numbered).
 * Otherwise return NULL with nothing allocated.  Free with mw_free().
 */
struct mw_message *mw_fast_parse(const char *buf, size_t len);

#endif /* SPAMLAB_MIMEFAST_H */
