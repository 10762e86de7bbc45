/*
 * mimewalk.h: parse a message with gmime once and flatten its MIME tree.
 *
 * Pure C (no PostgreSQL), so fuzz_mime links it.  The result is plain
 * malloc'ed data, independent of gmime's objects (which are freed before
 * mw_parse returns), so a backend can cache it across calls.
 *
 * Parts are numbered 1, 2, ... in depth-first pre-order over every MIME
 * entity: the top-level entity is part 1, a multipart's children follow
 * it, an attached message's entities follow the message/rfc822 part.
 */
#ifndef SPAMLAB_MIMEWALK_H
#define SPAMLAB_MIMEWALK_H

#include <stdbool.h>
#include <stddef.h>

/* Deeper nesting is not walked (the part is still reported). */
#define MW_MAX_DEPTH 64
/* More parts than this are not reported. */
#define MW_MAX_PARTS 10000

struct mw_part
{
	int n;              /* part number, 1-based */
	int depth;          /* 0 for the top-level entity */
	char *content_type; /* lower-case "type/subtype" */
	char *filename;     /* UTF-8, or NULL */
	char *disposition;  /* lower-case "attachment"/"inline", or NULL */
	bool container;     /* multipart/... or message/rfc822 */
	bool is_text;       /* text/...: text holds it decoded, as UTF-8 */
	bool is_html;       /* text/html */
	bool attachment;    /* what attachments() reports */
	char *text;         /* valid UTF-8, NUL-terminated, or NULL */
	size_t text_len;
	long long size;  /* decoded size in bytes; -1 for containers and for */
	                 /* non-text leaves parsed without MW_HASH */
	char sha256[65]; /* hex digest of the decoded content; "" for */
	                 /* containers and without MW_HASH */
};

struct mw_message
{
	struct mw_part *parts;
	int nparts;
	int cap;
	size_t size; /* bytes held, for cache accounting */
	int flags;   /* the MW_* flags it was parsed with */
};

/*
 * Decode non-text leaves too, for their size and SHA-256.  Without it only
 * text parts are decoded (what extract_urls and body_text need), which
 * skips the bulk of big attachments.
 */
#define MW_HASH 1

/* g_mime_init, once per process. */
void mw_init(void);

/* Parse a raw message; never NULL (a hopeless one has no parts). */
struct mw_message *mw_parse(const char *buf, size_t len, int flags);

void mw_free(struct mw_message *m);

/*
 * Convert bytes in the given charset (NULL: UTF-8 expected) to valid UTF-8:
 * unknown charsets and bad sequences fall back to UTF-8 with replacement
 * characters, or Latin-1 when that is no better.  NUL bytes become spaces.
 * Returns a malloc'ed NUL-terminated string, its length in *outlen.
 */
char *mw_to_utf8(const char *buf, size_t len, const char *charset,
                 size_t *outlen);

/* Valid UTF-8 without NUL bytes: glib's g_utf8_validate_len(), faster. */
bool mw_utf8_valid(const char *buf, size_t len);

/* Make bytes valid UTF-8 (replacement characters), malloc'ed copy. */
char *mw_make_valid(const char *buf, size_t len, size_t *outlen);

#endif /* SPAMLAB_MIMEWALK_H */
