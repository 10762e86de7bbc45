/*
 * mxlookup.c: an MX lookup over UDP to one resolver, on libevent.
 */
#include "mxlookup.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DNS_PKT_MAX 1232

static unsigned
get16(const uint8_t *p)
{
	return ((unsigned)p[0] << 8) | p[1];
}

struct dnsmx_query
{
	struct event_base *base;
	struct event *ev;
	int fd;
	uint16_t id;
	uint8_t pkt[DNS_PKT_MAX];
	size_t pkt_len;
	unsigned timeout_ms, tries_left;
	dnsmx_cb cb;
	void *arg;
};

static void
query_free(struct dnsmx_query *q)
{
	if (q->ev)
		event_free(q->ev);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

static void
query_finish(struct dnsmx_query *q, enum dnsmx_status st,
             const struct dnsmx_host *h, size_t n)
{
	dnsmx_cb cb = q->cb;
	void *arg = q->arg;

	query_free(q);
	cb(arg, st, h, n);
}

static bool
query_send(struct dnsmx_query *q)
{
	struct timeval tv = {q->timeout_ms / 1000, (q->timeout_ms % 1000) * 1000};

	q->tries_left--;
	if (send(q->fd, q->pkt, q->pkt_len, 0) < 0 && errno != EAGAIN)
		return false;
	return event_add(q->ev, &tv) == 0;
}

static void
query_event(evutil_socket_t fd, short what, void *arg)
{
	struct dnsmx_query *q = arg;
	struct dnsmx_host hosts[DNSMX_HOSTS_MAX];
	uint8_t buf[4096];
	size_t n;
	ssize_t got;
	enum dnsmx_status st;

	if (what & EV_TIMEOUT)
	{
		if (q->tries_left == 0 || !query_send(q))
			query_finish(q, DNSMX_TEMPFAIL, NULL, 0);
		return;
	}
	got = recv(fd, buf, sizeof(buf), 0);
	if (got < 0)
	{
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* ICMP refused: the resolver is down */
		query_finish(q, DNSMX_TEMPFAIL, NULL, 0);
		return;
	}
	st = dnsmx_parse(buf, (size_t)got, q->id, hosts, &n);
	if (st == DNSMX_BAD && got >= 2 && get16(buf) != q->id)
		return; /* a stray packet: keep waiting */
	query_finish(q, st, hosts, n);
}

struct dnsmx_query *
dnsmx_lookup(struct event_base *base, const struct sockaddr *ns,
             socklen_t ns_len, const char *domain, unsigned timeout_ms,
             unsigned tries, dnsmx_cb cb, void *arg)
{
	struct dnsmx_query *q = calloc(1, sizeof(*q));
	uint16_t id = 0;

	if (q == NULL)
		return NULL;
	q->fd = -1;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		id = (uint16_t)(rand() & 0xffff);
	q->id = id;
	q->pkt_len = dnsmx_build_query(q->pkt, sizeof(q->pkt), id, domain);
	if (q->pkt_len == 0)
		goto fail;
	q->base = base;
	q->timeout_ms = timeout_ms ? timeout_ms : 1;
	q->tries_left = tries ? tries : 1;
	q->cb = cb;
	q->arg = arg;
	q->fd = socket(ns->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, ns, ns_len) < 0)
		goto fail;
	q->ev = event_new(base, q->fd, EV_READ | EV_PERSIST, query_event, q);
	if (q->ev == NULL || !query_send(q))
		goto fail;
	return q;
fail:
	query_free(q);
	return NULL;
}

void
dnsmx_cancel(struct dnsmx_query *q)
{
	if (q != NULL)
		query_free(q);
}
