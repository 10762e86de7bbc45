/*
 * mimefast.h: the text of a message that is one plain text part, without
 * gmime.
 *
 * Pure C (no PostgreSQL), so fuzz_mime links it.  Most spam is a single
 * text/plain or text/html entity; for those extract_urls() needs only the
 * decoded body, and a strict reader here gives the same bytes as
 * mw_parse() at a fraction of the cost.  Anything it is not sure of
 * (multipart, odd header lines, comments, RFC 2231 parameters, unusual
 * transfer encodings, irregular base64 or quoted-printable) is declined, and
 * the caller walks the message with mw_parse() as before.
 */
#ifndef SPAMLAB_MIMEFAST_H
#define SPAMLAB_MIMEFAST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * If the message is a single text/... entity this reader is sure of, set
 * *text (malloc'ed, valid UTF-8, NUL-terminated, as mw_parse() gives part
 * 1's text), *text_len and *is_html and return true; else return false
 * with nothing allocated.
 */
bool mw_fast_text(const char *buf, size_t len, char **text, size_t *text_len,
                  bool *is_html);

#endif /* SPAMLAB_MIMEFAST_H */
