/*
 * rdns.c: forward-confirmed reverse DNS of a client on libevent's evdns
 * (see rdns.h).
 *
 * Lifetimes: evdns calls a request's callback exactly once, also after
 * evdns_cancel_request() (with DNS_ERR_CANCEL, or with the answer if it was
 * already on its way).  So a lookup is freed only from that callback, or
 * at once when no request is outstanding; cancelling merely detaches the
 * caller (cb = NULL).  Each lookup holds a reference on its resolver, so
 * the evdns base outlives every request on it.
 *
 * SERVFAIL: evdns 2.1 takes a SERVFAIL answer as a reason to retry and, once
 * the tries are used up, reports DNS_ERR_TIMEOUT.  Its per-try timeout is
 * set to half of rdns_timeout with three tries, so a silent server can only
 * ever hit our own timer first: a DNS_ERR_TIMEOUT that arrives before it
 * means the server answered with failures, and is reported as an error.
 */
#include "rdns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Requests evdns sends at once (its default is 64; the rest wait). */
#define RDNS_MAX_INFLIGHT "512"

struct rdns_resolver
{
	struct event_base *base;
	struct evdns_base *dns;
	unsigned timeout_s;
	int refs; /* the owner's, plus one per live lookup */
};

struct rdns_lookup
{
	struct rdns_resolver *r;
	struct evdns_request *req; /* outstanding: its callback will come */
	struct event *timer;
	int family;
	struct in_addr a4;
	struct in6_addr a6;
	char name[RDNS_NAME_MAX];
	bool have_name;
	rdns_cb cb; /* NULL once delivered or cancelled */
	void *arg;
};

static const char *const status_names[RDNS_N_STATUS] = {
    "confirmed", "unconfirmed", "none", "timeout", "error",
};

const char *
rdns_status_name(enum rdns_status st)
{
	return (unsigned)st < RDNS_N_STATUS ? status_names[st] : "error";
}

bool
rdns_normalize_name(const char *in, char *out)
{
	size_t n = strlen(in), label = 0;
	bool valid = true;

	if (n > RDNS_NAME_MAX - 1)
		n = RDNS_NAME_MAX - 1; /* too long to be valid anyway */
	while (n > 0 && in[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char)in[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c < 0x21 || c > 0x7e)
			c = '?';
		out[i] = (char)c;
		if (c == '.')
		{
			if (label == 0)
				valid = false;
			label = 0;
		}
		else if (isalnum(c) || c == '-' || c == '_')
		{
			if (++label > 63)
				valid = false;
		}
		else
			valid = false;
	}
	out[n] = '\0';
	return valid && n > 0 && n <= 253 && label > 0;
}

/* ---- the resolver ---- */

/* evdns's own messages ("nameserver ... is down") as debug log lines. */
static void
rdns_evdns_log(int severity, const char *msg)
{
	char q[512];

	log_event(severity >= EVENT_LOG_WARN ? LOG_INFO : LOG_DEBUG, NULL, "evdns",
	          "msg=\"%s\"", log_quote(q, sizeof(q), msg, strlen(msg)));
}

/* Free an evdns base from the loop, never from inside its own callback. */
static void
resolver_free_cb(evutil_socket_t fd, short what, void *arg)
{
	evdns_base_free(arg, 0);
}

static void
resolver_unref(struct rdns_resolver *r)
{
	static const struct timeval now = {0, 0};

	if (--r->refs > 0)
		return;
	if (event_base_once(r->base, -1, EV_TIMEOUT, resolver_free_cb, r->dns,
	                    &now) != 0)
		evdns_base_free(r->dns, 0);
	free(r);
}

void
rdns_resolver_release(struct rdns_resolver *r)
{
	if (r)
		resolver_unref(r);
}

/* Call fn(item) for each comma-separated, blank-trimmed item of list. */
static bool
each_nameserver(const char *list, bool (*fn)(void *, const char *), void *arg,
                char *err, size_t errsz)
{
	const char *p = list;

	while (*p)
	{
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char item[128];

		while (n && isspace((unsigned char)*p))
			p++, n--;
		while (n && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0 || n >= sizeof(item))
		{
			snprintf(err, errsz, "rdns_nameservers: empty or overlong entry");
			return false;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (!fn(arg, item))
		{
			snprintf(err, errsz,
			         "rdns_nameservers: \"%s\" is not an ip[:port] address",
			         item);
			return false;
		}
		p = e ? e + 1 : p + strlen(p);
	}
	return true;
}

static bool
ns_check(void *arg, const char *item)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	return evutil_parse_sockaddr_port(item, (struct sockaddr *)&ss, &len) == 0;
}

static bool
ns_add(void *arg, const char *item)
{
	return ns_check(NULL, item) && evdns_base_nameserver_ip_add(arg, item) == 0;
}

bool
rdns_nameservers_valid(const char *nameservers, char *err, size_t errsz)
{
	return each_nameserver(nameservers, ns_check, NULL, err, errsz);
}

struct rdns_resolver *
rdns_resolver_new(struct event_base *base, const char *nameservers,
                  unsigned timeout_s, char *err, size_t errsz)
{
	struct rdns_resolver *r = calloc(1, sizeof(*r));
	char tmo[32];

	if (!r)
	{
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	evdns_set_log_fn(rdns_evdns_log);
	r->base = base;
	r->timeout_s = timeout_s ? timeout_s : 1;
	r->refs = 1;
	r->dns = evdns_base_new(
	    base, (*nameservers ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS) |
	              EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!r->dns)
	{
		snprintf(err, errsz, "cannot create a DNS resolver");
		free(r);
		return NULL;
	}
	if (*nameservers &&
	    !each_nameserver(nameservers, ns_add, r->dns, err, errsz))
		goto fail;
	if (evdns_base_count_nameservers(r->dns) == 0)
	{
		snprintf(err, errsz, "no nameserver (rdns_nameservers, resolv.conf)");
		goto fail;
	}
	snprintf(tmo, sizeof(tmo), "%.1f", r->timeout_s / 2.0);
	if (evdns_base_set_option(r->dns, "timeout:", tmo) != 0 ||
	    evdns_base_set_option(r->dns, "attempts:", "3") != 0 ||
	    evdns_base_set_option(r->dns, "max-inflight:", RDNS_MAX_INFLIGHT) != 0)
	{
		snprintf(err, errsz, "cannot set the resolver's options");
		goto fail;
	}
	return r;
fail:
	evdns_base_free(r->dns, 0);
	free(r);
	return NULL;
}

/* ---- one lookup ---- */

static void
lookup_free(struct rdns_lookup *l)
{
	event_free(l->timer);
	resolver_unref(l->r);
	free(l);
}

/* Hand the result to the caller (once); free if evdns owes nothing. */
static void
lookup_deliver(struct rdns_lookup *l, enum rdns_status st)
{
	rdns_cb cb = l->cb;

	l->cb = NULL;
	evtimer_del(l->timer);
	if (cb)
		cb(l->arg, st, l->have_name ? l->name : NULL);
	if (!l->req)
		lookup_free(l);
}

/* An evdns callback for a lookup nobody waits for any more. */
static bool
lookup_orphaned(struct rdns_lookup *l)
{
	l->req = NULL;
	if (l->cb)
		return false;
	lookup_free(l);
	return true;
}

static bool
forward_has_peer(const struct rdns_lookup *l, char type, int count,
                 const void *addrs)
{
	for (int i = 0; addrs && i < count; i++)
	{
		if (type == DNS_IPv4_A && l->family == AF_INET &&
		    memcmp((const struct in_addr *)addrs + i, &l->a4, 4) == 0)
			return true;
		if (type == DNS_IPv6_AAAA && l->family == AF_INET6 &&
		    memcmp((const struct in6_addr *)addrs + i, &l->a6, 16) == 0)
			return true;
	}
	return false;
}

static void
forward_cb(int result, char type, int count, int ttl, void *addrs, void *arg)
{
	struct rdns_lookup *l = arg;

	if (lookup_orphaned(l))
		return;
	lookup_deliver(l, result == DNS_ERR_NONE &&
	                          forward_has_peer(l, type, count, addrs)
	                      ? RDNS_CONFIRMED
	                      : RDNS_UNCONFIRMED);
}

static void
ptr_cb(int result, char type, int count, int ttl, void *addrs, void *arg)
{
	struct rdns_lookup *l = arg;
	const char *name = NULL;
	bool valid;

	if (lookup_orphaned(l))
		return;
	if (result == DNS_ERR_NONE && type == DNS_PTR && count >= 1 && addrs)
		name = *(const char *const *)addrs;
	if (result == DNS_ERR_NOTEXIST || result == DNS_ERR_NODATA ||
	    (result == DNS_ERR_NONE && (!name || !*name)))
	{
		lookup_deliver(l, RDNS_NONE);
		return;
	}
	if (result != DNS_ERR_NONE)
	{
		/* a DNS_ERR_TIMEOUT here is a SERVFAIL (see the top) */
		lookup_deliver(l, RDNS_ERROR);
		return;
	}
	valid = rdns_normalize_name(name, l->name);
	l->have_name = true;
	if (!valid)
	{
		/* like Postfix: a malformed name is not looked up */
		lookup_deliver(l, RDNS_UNCONFIRMED);
		return;
	}
	if (l->family == AF_INET)
		l->req = evdns_base_resolve_ipv4(l->r->dns, l->name,
		                                 DNS_QUERY_NO_SEARCH, forward_cb, l);
	else
		l->req = evdns_base_resolve_ipv6(l->r->dns, l->name,
		                                 DNS_QUERY_NO_SEARCH, forward_cb, l);
	if (!l->req)
		lookup_deliver(l, RDNS_UNCONFIRMED);
}

static void
lookup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rdns_lookup *l = arg;
	struct evdns_request *req = l->req;

	lookup_deliver(l, RDNS_TIMEOUT); /* frees l unless req is set */
	if (req)
		evdns_cancel_request(NULL, req); /* its callback frees l */
}

struct rdns_lookup *
rdns_lookup_start(struct rdns_resolver *r, const struct sockaddr *sa,
                  rdns_cb cb, void *arg)
{
	struct rdns_lookup *l;
	struct timeval tv = {(time_t)r->timeout_s, 0};

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return NULL;
	if (!(l = calloc(1, sizeof(*l))))
		return NULL;
	if (sa->sa_family == AF_INET)
	{
		l->family = AF_INET;
		l->a4 = ((const struct sockaddr_in *)sa)->sin_addr;
	}
	else
	{
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
		{
			/* a dual-stack listener: the client is IPv4 */
			l->family = AF_INET;
			memcpy(&l->a4, a->s6_addr + 12, 4);
		}
		else
		{
			l->family = AF_INET6;
			l->a6 = *a;
		}
	}
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	if (!(l->timer = evtimer_new(r->base, lookup_timer_cb, l)))
	{
		free(l);
		return NULL;
	}
	if (l->family == AF_INET)
		l->req = evdns_base_resolve_reverse(r->dns, &l->a4, DNS_QUERY_NO_SEARCH,
		                                    ptr_cb, l);
	else
		l->req = evdns_base_resolve_reverse_ipv6(
		    r->dns, &l->a6, DNS_QUERY_NO_SEARCH, ptr_cb, l);
	if (!l->req || evtimer_add(l->timer, &tv) != 0)
	{
		if (l->req)
		{
			/* evdns calls back with DNS_ERR_CANCEL: free then */
			l->cb = NULL;
			r->refs++;
			evdns_cancel_request(NULL, l->req);
			return NULL;
		}
		event_free(l->timer);
		free(l);
		return NULL;
	}
	r->refs++;
	return l;
}

void
rdns_lookup_cancel(struct rdns_lookup *l)
{
	if (!l)
		return;
	l->cb = NULL;
	evtimer_del(l->timer);
	if (l->req)
		evdns_cancel_request(NULL, l->req);
	else
		lookup_free(l);
}
