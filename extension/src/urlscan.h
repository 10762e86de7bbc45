/*
 * urlscan.h: find URLs in plain text and HTML, and put them in canonical form.
 *
 * Pure C (no PostgreSQL, no gmime), so the fuzzers link it alone.  One pass
 * over the input, no regular expressions: text is cut into runs between
 * blanks and delimiters, and each run is looked at once.  HTML is walked tag
 * by tag; URL-bearing attributes are reported with their source, visible
 * text is entity-decoded and scanned like plain text.
 *
 * Every URL-like thing found is reported, also when it cannot be parsed
 * (then host is NULL): nothing is silently dropped.
 */
#ifndef SPAMLAB_URLSCAN_H
#define SPAMLAB_URLSCAN_H

#include <stdbool.h>
#include <stddef.h>

enum url_source
{
	URL_SRC_TEXT,
	URL_SRC_HTML_HREF,
	URL_SRC_HTML_SRC,
	URL_SRC_HTML_FORM,
	URL_SRC_HTML_OTHER,
	URL_SRC_HEADER
};

/* Name of a source as the SQL column shows it ("text", "html_href", ...). */
const char *url_source_name(enum url_source src);

/* One URL found.  All strings are NUL-terminated, valid during the call. */
struct url_hit
{
	const char *raw;    /* as found, after HTML entity decoding */
	size_t raw_len;     /* raw may contain NUL bytes */
	const char *url;    /* canonical form */
	const char *scheme; /* lower case, defanged; NULL when relative */
	const char *host;   /* lower case, ASCII (punycode); NULL if none */
	const char *regdom; /* registrable domain of host, or NULL */
	const char *anchor; /* HTML anchor text for <a href>, else NULL */
	enum url_source source;
};

typedef void (*url_emit_fn)(void *arg, const struct url_hit *hit);

/* Report every URL in plain text (any bytes; UTF-8 expected). */
void url_scan_text(const char *buf, size_t len, enum url_source src,
                   url_emit_fn emit, void *arg);

/* Report every URL in an HTML document: attributes, then visible text. */
void url_scan_html(const char *buf, size_t len, url_emit_fn emit, void *arg);

/*
 * HTML reduced to text: tags dropped (block tags become line breaks),
 * script/style/comments skipped, entities decoded, blank runs collapsed.
 * Returns a malloc'ed NUL-terminated string, its length in *outlen.
 */
char *html_to_text(const char *buf, size_t len, size_t *outlen);

/*
 * Canonicalize one URL candidate (raw bytes) and report it as a hit of the
 * given source.  schemeless: the candidate may lack a scheme (http assumed
 * for host-like values).  Used for header values and tests.
 */
void url_emit_one(const char *raw, size_t len, enum url_source src,
                  const char *anchor, url_emit_fn emit, void *arg);

/*
 * Parse a numeric IPv4 host the way browsers do (dotted, hex 0x7f, octal
 * 0177, decimal 3232235777, fewer than four parts).  Writes the dotted quad
 * into out (16 bytes).  False when host is not numeric or out of range.
 */
bool url_parse_ipv4(const char *host, size_t len, char *out);

#endif /* SPAMLAB_URLSCAN_H */
