/*
 * dnsmx.h: MX query and answer packets.
 *
 * libevent's evdns resolves A, AAAA and PTR only, so MX queries are built
 * and parsed here (and sent by mxlookup.c).  Pure and bounds-checked: every
 * offset is checked against the packet length before it is read, and
 * compression pointers may only point backwards.
 */
#ifndef SPAMLAB_DNSMX_H
#define SPAMLAB_DNSMX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSMX_HOSTS_MAX 8
#define DNSMX_NAME_MAX  256 /* a presentation-form name, NUL included */

struct dnsmx_host
{
	unsigned pref;
	char name[DNSMX_NAME_MAX];
};

enum dnsmx_status
{
	DNSMX_OK,       /* hosts listed, best (lowest preference) first */
	DNSMX_NODATA,   /* the name exists but has no MX: use the name itself */
	DNSMX_NXDOMAIN, /* no such domain: permanent */
	DNSMX_NULLMX,   /* "MX 0 ." (RFC 7505): accepts no mail, permanent */
	DNSMX_TEMPFAIL, /* SERVFAIL, refused, timeout, truncated: try later */
	DNSMX_BAD,      /* malformed or mismatched answer */
};

const char *dnsmx_status_name(enum dnsmx_status s);

/* A query for domain's MX records into buf; its length, 0 if the name is
 * not a valid domain or buf is too small. */
size_t dnsmx_build_query(uint8_t *buf, size_t cap, uint16_t id,
                         const char *domain);

/* Parse an answer to query id; up to DNSMX_HOSTS_MAX hosts into out. */
enum dnsmx_status dnsmx_parse(const uint8_t *pkt, size_t len, uint16_t id,
                              struct dnsmx_host *out, size_t *n_out);

#endif /* SPAMLAB_DNSMX_H */
