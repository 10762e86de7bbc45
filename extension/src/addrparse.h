/*
 * addrparse.h: a lenient parser for address header values (From, To, ...).
 *
 * Pure C (no PostgreSQL, no gmime), so fuzz_addresses links it.  It takes
 * what spam really contains: groups, comments, missing angle brackets,
 * unquoted commas in display names ("Doe, John <j@x>"), a quoted address as
 * the name ("a@b" <c@d>), bare user@host, source routes, stray "mailto:".
 * Encoded words are left to the caller (the display name comes out raw).
 */
#ifndef SPAMLAB_ADDRPARSE_H
#define SPAMLAB_ADDRPARSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One mailbox: display name (quotes and escapes removed, blanks collapsed;
 * NULL when there is none) and address (blanks and comments removed; NULL
 * when the mailbox had none, "" for the null path "<>").  Both are
 * NUL-terminated and valid during the call.
 */
typedef void (*addr_emit_fn)(void *arg, const char *display,
                             const char *address);

/* Report every mailbox of an unfolded header value, in order. */
void addr_parse(const char *value, size_t len, addr_emit_fn emit, void *arg);

#endif /* SPAMLAB_ADDRPARSE_H */
