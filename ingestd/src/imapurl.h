/*
 * imapurl.h: the pure parts of `ingestd import imap://...`: URL parsing,
 * modified UTF-7 mailbox names, INTERNALDATE arithmetic and the folder ->
 * label rules.  No I/O, no libetpan: unit-tested in test/test_imapurl.c.
 */
#ifndef SPAMLAB_IMAPURL_H
#define SPAMLAB_IMAPURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAPURL_HOST_MAX 256
#define IMAPURL_USER_MAX 256
#define IMAPURL_PATH_MAX 1024

struct imap_url
{
	bool tls;                      /* imaps:// (TLS from the first byte) */
	char user[IMAPURL_USER_MAX];   /* percent-decoded */
	char host[IMAPURL_HOST_MAX];   /* without [] for IPv6 literals */
	uint16_t port;                 /* 143 or 993 unless given */
	char folder[IMAPURL_PATH_MAX]; /* percent-decoded; "" for all */
};

/* True when arg starts with imap:// or imaps:// (case-insensitive). */
bool imapurl_is_url(const char *arg);

/*
 * Parse imap[s]://user@host[:port][/folder].  False with a reason in err
 * for anything else, including a password in the URL (passwords never go on
 * the command line) and RFC 5092 ;parameters.
 */
bool imapurl_parse(const char *url, struct imap_url *out, char *err,
                   size_t errsize) __attribute__((warn_unused_result));

/*
 * A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3) as UTF-8, into
 * out (size bytes, NUL-terminated).  False for a malformed name or a too
 * small buffer; then out holds the name unchanged (cut to fit).  2 *
 * strlen(in) + 1 bytes are always enough.
 */
bool imapurl_mutf7_decode(const char *in, char *out, size_t size);

/*
 * An INTERNALDATE's fields (zone as +hhmm, e.g. -500 for -0500) as Unix
 * microseconds; false for an impossible date.
 */
bool imapurl_date_us(int year, int month, int day, int hour, int min, int sec,
                     int zone, int64_t *out)
    __attribute__((warn_unused_result));

/* Special-use attributes of a mailbox (RFC 6154) that matter here. */
enum imap_special
{
	IMAP_SPECIAL_NONE = 0,
	IMAP_SPECIAL_JUNK = 1 << 0,
	IMAP_SPECIAL_SENT = 1 << 1,
	IMAP_SPECIAL_ALL = 1 << 2,     /* virtual: every message again */
	IMAP_SPECIAL_FLAGGED = 1 << 3, /* virtual: flagged messages again */
	IMAP_SPECIAL_NOSELECT = 1 << 4 /* \Noselect or \NonExistent */
};

/* A mailbox attribute (without the backslash) as its enum bit, or 0. */
int imapurl_special_flag(const char *attr);

/* --folder-label FOLDER=LABEL, parsed at the last '=' into the two parts. */
struct imap_folder_label
{
	char *folder;
	const char *label; /* "spam", "ham" or "sent" */
};

/* Which rule gave a folder its label (for the log). */
enum imap_label_rule
{
	IMAP_LABEL_MAP,         /* --folder-label */
	IMAP_LABEL_SPECIAL_USE, /* \Junk, \Sent */
	IMAP_LABEL_NAME,        /* a well-known name, server without flags */
	IMAP_LABEL_FALLBACK,    /* --label or none */
};

/*
 * The label a folder's messages get: an explicit --folder-label (folder
 * names compare exactly, INBOX case-insensitively), else \Junk -> spam and
 * \Sent -> sent, else, when by_name (the server marks no folder with a
 * special use), well-known names ("Junk", "Spam", "Junk E-mail", "Sent",
 * "Sent Items", ..., case-insensitive, also as the last level of a path),
 * else fallback (--label, may be NULL).  *rule says which; may be NULL.
 */
const char *imapurl_folder_label(const char *folder, int special,
                                 const struct imap_folder_label *map, size_t n,
                                 bool by_name, const char *fallback,
                                 enum imap_label_rule *rule);

/* Folder names equal under IMAP's rules (INBOX is case-insensitive). */
bool imapurl_folder_eq(const char *a, const char *b);

#endif /* SPAMLAB_IMAPURL_H */
