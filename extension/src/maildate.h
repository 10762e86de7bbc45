/*
 * maildate.h: a lenient parser for the dates found in mail headers.
 *
 * Pure C (no PostgreSQL), shared by mail_date(), parse_mail_date() and the
 * Received parser, and linked by the fuzzers.  It accepts RFC 5322 dates and
 * the broken forms seen in the wild: no weekday, 2- and 3-digit years, named
 * zones (EST, PDT, UT, GMT, CEST, ...), no zone (taken as UTC), "+0000 (UTC)"
 * comments, ISO 8601 ("2009-11-03T10:00:00Z"), asctime ("Tue Nov  3
 * 10:00:00 2009"), dotted dates and times, extra blanks, single-digit parts.
 * It runs in one pass over the input and never allocates.
 */
#ifndef SPAMLAB_MAILDATE_H
#define SPAMLAB_MAILDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parse the date in s (n bytes, need not be NUL-terminated).  On success
 * store the instant as seconds since 1970-01-01 00:00:00 UTC in *out and
 * return true; return false when no day, month and year can be found or a
 * part is out of range (month 13, 31 February, hour 25, ...).
 */
bool maildate_parse(const char *s, size_t n, int64_t *out);

/*
 * The two halves of maildate_parse: a fast path for the RFC 5322 form
 * ("Tue, 3 Nov 2009 10:00:00 +0000 (UTC)"), which declines anything else,
 * and the lenient parser.  Whatever the fast path accepts, the lenient
 * parser reads the same (fuzz_maildate checks it).
 */
bool maildate_parse_strict(const char *s, size_t n, int64_t *out);
bool maildate_parse_lenient(const char *s, size_t n, int64_t *out);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), and the
 * number of days in a month: shared with the whois date parser. */
int64_t maildate_days_from_civil(long y, int m, int d);
int maildate_days_in_month(long y, int m);

#endif /* SPAMLAB_MAILDATE_H */
