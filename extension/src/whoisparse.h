/*
 * whoisparse.h: reading whois answers (port 43 text) into fields.
 *
 * Pure C (no PostgreSQL), shared by whois_parse() and whois(), and linked
 * by the fuzzer.  Nothing here allocates: the caller owns every buffer.
 */
#ifndef SPAMLAB_WHOISPARSE_H
#define SPAMLAB_WHOISPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest registrar name and referral server kept (longer ones are cut). */
#define WHOIS_REGISTRAR_MAX 255
#define WHOIS_SERVER_MAX    255

/* A point in time: seconds since 1970-01-01 00:00:00 UTC plus microseconds. */
struct whois_time
{
	int64_t epoch;
	int32_t usec;
	bool zoned; /* the text named a zone (else it was read as UTC) */
};

struct whois_fields
{
	bool has_created;
	bool has_updated;
	bool has_expires;
	struct whois_time created;
	struct whois_time updated;
	struct whois_time expires;
	char registrar[WHOIS_REGISTRAR_MAX + 1];    /* "" when absent */
	char referral_server[WHOIS_SERVER_MAX + 1]; /* host or host:port, or "" */
	bool not_found;                             /* "No match for ..." */
	bool throttled;                             /* "limit exceeded" ... */
};

/*
 * Read the fields of a whois answer of len bytes (need not be
 * NUL-terminated).  The first creation, update and expiry dates and the
 * first registrar win, so contact objects after the domain object (RIPE
 * style) do not override it.  Dates without a zone are UTC, except on
 * JPRS's "[key] value" lines, which are Japan time (+09:00).  Never fails:
 * what is not understood is left empty.
 */
void whois_parse_answer(const char *text, size_t len, struct whois_fields *out);

/*
 * Read one date as registries write it (ISO 8601, dd-Mon-yyyy, dd.mm.yyyy,
 * yyyy.mm.dd, yyyy/mm/dd, yyyymmdd, Mon dd yyyy, with or without a time and
 * a zone; no zone means UTC) at the start of s (len bytes).  Anything after
 * the date that is separated from it (" #123", " (JST)") is ignored.
 */
bool whois_parse_date(const char *s, size_t len, struct whois_time *out);

/*
 * Clean a referral ("whois://host:port/", "rwhois://...", "host") into
 * host or host:port, lower-cased, into out.  False (out empty) when it is
 * not a host name or address with an optional port (URLs over http are
 * not whois servers).
 */
bool whois_clean_server(const char *s, size_t len, char *out, size_t outlen);

/*
 * Replace every byte that is not part of valid UTF-8 (and every NUL) with
 * '?', in place, so a raw answer can be stored as text.  With ascii_only,
 * every byte over 0x7f is replaced too (for non-UTF-8 databases).
 */
void whois_sanitize(char *buf, size_t len, bool ascii_only);

#endif /* SPAMLAB_WHOISPARSE_H */
