/*
 * domain.h: host names to registrable domains (eTLD+1) with libpsl.
 *
 * Pure C (no PostgreSQL), shared by registrable_domain(), extract_urls()
 * and whois, and linked by the fuzzers.
 */
#ifndef SPAMLAB_DOMAIN_H
#define SPAMLAB_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host name handled (RFC 1035: 253 octets, plus slack for U-labels). */
#define DOMAIN_MAX 1024

/*
 * Write the registrable domain of host (lower-cased, trailing dot dropped)
 * into out, which has outlen bytes.  icann_only ignores the Public Suffix
 * List's private section (blogspot.com, github.io are then ordinary
 * domains), which is what whois needs.  False, with out empty, for IP
 * literals, public suffixes themselves, names without a known suffix,
 * empty or over-long names.
 */
bool domain_registrable(const char *host, size_t len, bool icann_only,
                        char *out, size_t outlen);

/* Is host (len bytes) a dotted-quad IPv4 or an IPv6 literal? */
bool domain_is_ip_literal(const char *host, size_t len);

#endif /* SPAMLAB_DOMAIN_H */
