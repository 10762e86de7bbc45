/*
 * mxlookup.h: ask one resolver for a domain's MX records, over UDP, on the
 * caller's libevent loop (packets: dnsmx.h).
 */
#ifndef SPAMLAB_MXLOOKUP_H
#define SPAMLAB_MXLOOKUP_H

#include <sys/socket.h>

#include "dnsmx.h"

struct event_base;
struct dnsmx_query;

typedef void (*dnsmx_cb)(void *arg, enum dnsmx_status status,
                         const struct dnsmx_host *hosts, size_t n);

/*
 * Ask the resolver at ns for domain's MX records; cb runs exactly once,
 * later, from the loop (unless cancelled).  Each try waits timeout_ms; the
 * query is sent `tries` times at most.  NULL on a bad domain or no memory.
 */
struct dnsmx_query *dnsmx_lookup(struct event_base *base,
                                 const struct sockaddr *ns, socklen_t ns_len,
                                 const char *domain, unsigned timeout_ms,
                                 unsigned tries, dnsmx_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Stop a lookup; its callback will not run. */
void dnsmx_cancel(struct dnsmx_query *q);

#endif /* SPAMLAB_MXLOOKUP_H */
