/*
 * rcvd.h: parse one Received header value into its parts.
 *
 * Pure C (no PostgreSQL), used by parse_received() and origin_ip() and
 * linked by the fuzzers.  One pass over the value, no regex engine, no
 * allocation: text fields are spans into the caller's buffer, which must
 * stay alive while the hop is used.  See docs/received.md for the formats
 * and the meaning of each field.
 */
#ifndef SPAMLAB_RCVD_H
#define SPAMLAB_RCVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rcvd_status
{
	RCVD_UNPARSED, /* nothing usable; only the raw text */
	RCVD_PARTIAL,  /* some fields, but not a from/by pair with an address */
	RCVD_OK,       /* from and by parsed, with the sender's address */
	RCVD_LOCAL     /* a hand-over inside one host (pickup, LMTP, uid) */
};

/* A piece of the caller's buffer; p == NULL when absent. */
struct rcvd_span
{
	const char *p;
	size_t n;
};

/* An IP address in network order; family 0 when absent. */
struct rcvd_ip
{
	int family; /* 0, 4 or 6 */
	uint8_t addr[16];
};

struct rcvd_hop
{
	enum rcvd_status status;
	struct rcvd_span from_helo;     /* name the client gave in HELO/EHLO */
	struct rcvd_span from_rdns;     /* name the receiver looked up */
	struct rcvd_span from_ident;    /* ident / local user */
	struct rcvd_span by_host;       /* the receiving host */
	struct rcvd_span protocol;      /* the "with" value */
	struct rcvd_span auth;          /* authenticated-submission marker */
	struct rcvd_span queue_id;      /* the "id" value */
	struct rcvd_span envelope_from; /* envelope sender, if written */
	struct rcvd_span envelope_for;  /* the "for" recipient */
	struct rcvd_ip ip;              /* the client's address */
	int tls;                        /* 1 yes, 0 no, -1 not said */
	bool date_valid;
	int64_t date; /* Unix seconds, when date_valid */
};

/*
 * Parse the unfolded value s (n bytes) into *h.  Never fails: a value with
 * nothing recognisable gives RCVD_UNPARSED and empty fields.
 */
void rcvd_parse(const char *s, size_t n, struct rcvd_hop *h);

/*
 * Parse an address as it appears in mail: "1.2.3.4", "[1.2.3.4]",
 * "IPv6:2001:db8::1", "[2001:db8::1%eth0]", "1.2.3.4:25".  IPv4-mapped
 * IPv6 addresses come back as IPv4.
 */
bool rcvd_ip_parse(const char *s, size_t n, struct rcvd_ip *ip);

/* Is ip private, loopback, link-local, documentation or otherwise reserved? */
bool rcvd_ip_is_private(const struct rcvd_ip *ip);

/* Find the first IP address among the words of s (X-Originating-IP). */
bool rcvd_ip_find(const char *s, size_t n, struct rcvd_ip *ip);

#endif /* SPAMLAB_RCVD_H */
