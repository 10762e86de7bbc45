/*
 * rdns.h: the client's reverse DNS name, forward-confirmed (FCrDNS), looked
 * up on libevent's evdns before the banner, as a real MTA does.
 *
 * A lookup asks for the PTR record of the peer address; if a name comes
 * back (and is a valid host name), for its A (IPv4 peer) or AAAA (IPv6
 * peer) records; the name is confirmed when the peer address is among
 * them.  One timer bounds the whole lookup.
 */
#ifndef SPAMLAB_RDNS_H
#define SPAMLAB_RDNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct rdns_resolver;
struct rdns_lookup;

enum rdns_status
{
	RDNS_CONFIRMED,   /* PTR name whose A/AAAA records hold the address */
	RDNS_UNCONFIRMED, /* PTR name, but the forward lookup disagrees or fails */
	RDNS_NONE,        /* NXDOMAIN or no PTR record */
	RDNS_TIMEOUT,     /* rdns_timeout expired (name kept if the PTR came) */
	RDNS_ERROR,       /* SERVFAIL, refused, malformed answer, no memory */
	RDNS_N_STATUS
};

/* The longest name kept, NUL included (a DNS name is at most 253). */
#define RDNS_NAME_MAX 256

/* "confirmed", "unconfirmed", "none", "timeout", "error". */
const char *rdns_status_name(enum rdns_status st);

/*
 * A PTR name as stored: lower-cased, trailing dots removed, bytes outside
 * printable ASCII replaced by '?', cut to RDNS_NAME_MAX - 1.  True when the
 * result is a valid host name (labels of letters, digits, '-' and '_', 1 to
 * 63 bytes each, 253 in all): only such a name is looked up forward and can
 * be confirmed.  out has RDNS_NAME_MAX bytes.
 */
bool rdns_normalize_name(const char *in, char *out);

/*
 * A resolver on base: nameservers is "" (use /etc/resolv.conf) or a
 * comma-separated list of ip[:port] ("127.0.0.1:5353,[::1]:53");
 * timeout_s bounds each lookup.  NULL with a message in err on failure.
 */
struct rdns_resolver *
rdns_resolver_new(struct event_base *base, const char *nameservers,
                  unsigned timeout_s, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Check a nameserver list without making a resolver. */
bool rdns_nameservers_valid(const char *nameservers, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/*
 * Let go of the resolver: it is freed once its last lookup finished or was
 * cancelled (lookups keep it alive), so a reload can swap resolvers while
 * lookups run.
 */
void rdns_resolver_release(struct rdns_resolver *r);

/* name: the normalised PTR name, or NULL. */
typedef void (*rdns_cb)(void *arg, enum rdns_status st, const char *name);

/*
 * Look up the client at sa (AF_INET or AF_INET6); cb runs exactly once,
 * later, from the loop, unless the lookup is cancelled first.  NULL on no
 * memory or an address family without reverse DNS.
 */
struct rdns_lookup *rdns_lookup_start(struct rdns_resolver *r,
                                      const struct sockaddr *sa, rdns_cb cb,
                                      void *arg)
    __attribute__((warn_unused_result));

/*
 * Stop a lookup: cb will not run.  The evdns request is cancelled; the
 * lookup's memory goes when evdns reports the cancellation (it always
 * calls back once), so nothing ever points at the caller's freed object.
 */
void rdns_lookup_cancel(struct rdns_lookup *l);

#endif /* SPAMLAB_RDNS_H */
