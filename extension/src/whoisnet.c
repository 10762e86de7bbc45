/*
 * whoisnet.c: one whois query on a non-blocking socket.
 *
 * A query resolves its server (cached, numeric, or with getaddrinfo_a so
 * the wait stays cancellable), refuses referrals to private addresses and
 * privileged ports, takes a token from the server's rate bucket, connects,
 * sends the question and reads the answer up to WHOIS_MAX_ANSWER.  Nothing
 * here blocks: jobs_run() in whois.c waits on the sockets and calls back.
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include "mb/pg_wchar.h"
#include "utils/hsearch.h"

#include "whois.h"

/* One token bucket per server, per backend. */
typedef struct RateBucket
{
	char server[WHOIS_SERVER_MAX + 8]; /* hash key */
	double tokens;
	TimestampTz last;
} RateBucket;

static HTAB *rate_buckets = NULL;

/* Is this address private, loopback, link-local or otherwise not public? */
static bool
addr_is_private(const struct sockaddr *sa)
{
	const unsigned char *b;

	if (sa->sa_family == AF_INET6)
	{
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		static const unsigned char zero[16];

		b = a->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			b += 12; /* checked as IPv4 below */
		else
			return memcmp(b, zero, 15) == 0 ||                /* :: and ::1 */
			       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
			       (b[0] & 0xfe) == 0xfc ||                   /* fc00::/7 */
			       b[0] == 0xff;                              /* multicast */
	}
	else if (sa->sa_family == AF_INET)
		b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	else
		return true;
	return b[0] == 0 || b[0] == 10 || b[0] == 127 ||
	       (b[0] == 100 && (b[1] & 0xc0) == 64) || /* 100.64/10 */
	       (b[0] == 169 && b[1] == 254) ||         /* link-local */
	       (b[0] == 172 && (b[1] & 0xf0) == 16) || /* 172.16/12 */
	       (b[0] == 192 && b[1] == 168) || b[0] >= 224;
}

/* Resolved servers, per backend, reused for ADDR_CACHE_SECS. */
#define ADDR_CACHE_SECS 300

typedef struct AddrEntry
{
	char server[WHOIS_SERVER_MAX + 8]; /* hash key */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	TimestampTz resolved_at;
} AddrEntry;

static HTAB *addr_cache = NULL;

static bool
addr_cache_get(WhoisJob *job)
{
	AddrEntry *e;
	char key[WHOIS_SERVER_MAX + 8];

	if (addr_cache == NULL)
		return false;
	memset(key, 0, sizeof(key));
	strlcpy(key, job->server, sizeof(key));
	e = hash_search(addr_cache, key, HASH_FIND, NULL);
	if (e == NULL ||
	    TimestampDifferenceExceeds(e->resolved_at, GetCurrentTimestamp(),
	                               ADDR_CACHE_SECS * 1000))
		return false;
	memcpy(&job->addr, &e->addr, e->addrlen);
	job->addrlen = e->addrlen;
	return true;
}

static void
addr_cache_put(WhoisJob *job)
{
	AddrEntry *e;
	char key[WHOIS_SERVER_MAX + 8];

	if (addr_cache == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(AddrEntry);
		addr_cache = hash_create("spamlab whois addresses", 64, &ctl,
		                         HASH_ELEM | HASH_STRINGS);
	}
	memset(key, 0, sizeof(key));
	strlcpy(key, job->server, sizeof(key));
	e = hash_search(addr_cache, key, HASH_ENTER, NULL);
	memcpy(&e->addr, &job->addr, job->addrlen);
	e->addrlen = job->addrlen;
	e->resolved_at = GetCurrentTimestamp();
}

/*
 * Use the first IPv4 address of a resolver answer (not every host with
 * IPv6 addresses has a route), else the first.
 */
static bool
job_take_address(WhoisJob *job, const struct addrinfo *res)
{
	const struct addrinfo *use = res;

	for (const struct addrinfo *a = res; a != NULL; a = a->ai_next)
		if (a->ai_family == AF_INET)
		{
			use = a;
			break;
		}
	if (use == NULL || use->ai_addrlen > sizeof(job->addr))
		return false;
	memcpy(&job->addr, use->ai_addr, use->ai_addrlen);
	job->addrlen = use->ai_addrlen;
	return true;
}

/*
 * The address is known: refuse a referral to a private address, or to a
 * privileged port other than whois's own (an answer must not make us talk
 * to someone's SMTP or HTTP server); else wait for a rate token.
 */
static void
job_resolved(WhoisJob *job)
{
	int port = job->addr.ss_family == AF_INET6
	               ? ntohs(((struct sockaddr_in6 *)&job->addr)->sin6_port)
	               : ntohs(((struct sockaddr_in *)&job->addr)->sin_port);

	if (job->referral && ((port < 1024 && port != WHOIS_PORT) ||
	                      (!whois_allow_private &&
	                       addr_is_private((struct sockaddr *)&job->addr))))
	{
		whois_query_end(job, "blocked");
		return;
	}
	job->conn = CONN_WAIT_TOKEN;
	job->not_before = 0;
}

/*
 * Give up a name lookup under way.  The request belongs to glibc's helper
 * thread until it is cancelled or done; one that can be neither is left
 * to it (a few hundred bytes, once per abandoned lookup).
 */
static void
job_resolve_abandon(WhoisJob *job)
{
	AsyncResolve *r = job->resolve;

	if (r == NULL)
		return;
	job->resolve = NULL;
	switch (gai_cancel(&r->cb))
	{
		case EAI_CANCELED:
			free(r);
			break;
		case EAI_ALLDONE:
			if (r->cb.ar_result != NULL)
				freeaddrinfo(r->cb.ar_result);
			free(r);
			break;
		default:
			break; /* EAI_NOTCANCELED: still running, leave it */
	}
}

/*
 * Start resolving the job's server ("host" or "host:port").  Cached and
 * numeric addresses are ready at once; names go to getaddrinfo_a(), polled
 * by jobs_run() so the wait is cancellable and bounded by whois_timeout.
 */
static void
job_resolve_start(WhoisJob *job, TimestampTz now)
{
	char host[WHOIS_SERVER_MAX + 1];
	char *colon;
	int port = WHOIS_PORT;
	struct addrinfo hints, *res = NULL;
	char portstr[8];
	AsyncResolve *r;
	struct gaicb *list[1];

	strlcpy(host, job->server, sizeof(host));
	colon = strrchr(host, ':');
	if (colon != NULL)
	{
		*colon = '\0';
		port = atoi(colon + 1);
		if (port <= 0 || port > 65535)
		{
			whois_query_end(job, "error");
			return;
		}
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (addr_cache_get(job))
	{
		job_resolved(job);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, portstr, &hints, &res) == 0)
	{
		bool ok = job_take_address(job, res);

		freeaddrinfo(res);
		if (ok)
			job_resolved(job);
		else
			whois_query_end(job, "error");
		return;
	}

	r = calloc(1, sizeof(AsyncResolve));
	if (r == NULL)
	{
		whois_query_end(job, "error");
		return;
	}
	strlcpy(r->host, host, sizeof(r->host));
	strlcpy(r->port, portstr, sizeof(r->port));
	r->hints.ai_socktype = SOCK_STREAM;
	r->hints.ai_family = AF_UNSPEC;
	r->cb.ar_name = r->host;
	r->cb.ar_service = r->port;
	r->cb.ar_request = &r->hints;
	list[0] = &r->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0)
	{
		free(r);
		whois_query_end(job, "error");
		return;
	}
	job->resolve = r;
	job->conn = CONN_RESOLVING;
	job->deadline = TimestampTzPlusMilliseconds(now, whois_timeout_ms);
}

/* Check on a name lookup under way; false while it is still running. */
bool
whois_resolve_poll(WhoisJob *job, TimestampTz now)
{
	AsyncResolve *r = job->resolve;
	int rc = gai_error(&r->cb);
	bool ok;

	if (rc == EAI_INPROGRESS)
	{
		if (now < job->deadline)
			return false;
		job_resolve_abandon(job);
		whois_query_end(job, "timeout");
		return true;
	}
	job->resolve = NULL;
	ok = rc == 0 && job_take_address(job, r->cb.ar_result);
	if (r->cb.ar_result != NULL)
		freeaddrinfo(r->cb.ar_result);
	free(r);
	if (!ok)
	{
		whois_query_end(job, "error");
		return true;
	}
	addr_cache_put(job);
	job_resolved(job);
	return true;
}

/* ---------------------------------------------------------------------
 * Rate limits
 * ---------------------------------------------------------------------
 */

/*
 * Take a token for server.  True if one was there; otherwise *wait_until
 * says when the next one will be.
 */
bool
whois_rate_take(const char *server, TimestampTz now, TimestampTz *wait_until)
{
	RateBucket *b;
	bool found;
	double cap = Max(1.0, whois_rate);
	char key[WHOIS_SERVER_MAX + 8];

	if (whois_rate <= 0)
		return true;
	if (rate_buckets == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(RateBucket);
		rate_buckets = hash_create("spamlab whois rate buckets", 64, &ctl,
		                           HASH_ELEM | HASH_STRINGS);
	}
	memset(key, 0, sizeof(key));
	strlcpy(key, server, sizeof(key));
	b = hash_search(rate_buckets, key, HASH_ENTER, &found);
	if (!found)
	{
		b->tokens = cap;
		b->last = now;
	}
	b->tokens =
	    Min(cap, b->tokens + (double)(now - b->last) / 1e6 * whois_rate);
	b->last = now;
	if (b->tokens >= 1.0)
	{
		b->tokens -= 1.0;
		return true;
	}
	*wait_until = now + (int64)((1.0 - b->tokens) / whois_rate * 1e6) + 1000;
	return false;
}

/* ---------------------------------------------------------------------
 * One query on a non-blocking socket
 * ---------------------------------------------------------------------
 */

void
whois_close(WhoisJob *job)
{
	if (job->fd >= 0)
		close(job->fd);
	job->fd = -1;
	job_resolve_abandon(job);
}

/* End the current query with a connection-level outcome. */
void
whois_query_end(WhoisJob *job, const char *status)
{
	whois_close(job);
	job->qstatus = status;
	job->conn = CONN_IDLE;
	/* answers are read as text: make them valid (a cut may split a char) */
	if (job->answer.data != NULL)
		whois_sanitize(job->answer.data, job->answer.len,
		               GetDatabaseEncoding() != PG_UTF8);
}

/*
 * Begin a query of the job's server for what (a domain or a TLD): resolve,
 * check, take a rate token or wait for one, connect.
 */
void
whois_query_begin(WhoisJob *job, const char *what, const char *fmt,
                  bool referral)
{
	if (job->query.data == NULL)
	{
		initStringInfo(&job->query);
		initStringInfo(&job->answer);
	}
	resetStringInfo(&job->query);
	appendStringInfo(&job->query, fmt ? fmt : "%s\r\n", what);
	resetStringInfo(&job->answer);
	job->sent = 0;
	job->truncated = false;
	job->qstatus = NULL;
	job->queried_at = GetCurrentTimestamp();
	job->referral = referral;
	job_resolve_start(job, job->queried_at);
}

/* The job has its rate token: open the connection. */
void
whois_connect(WhoisJob *job, TimestampTz now)
{
	int fd;

	job->deadline = TimestampTzPlusMilliseconds(now, whois_timeout_ms);
	job->queried_at = now;
	fd = socket(job->addr.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
	{
		whois_query_end(job, "error");
		return;
	}
	job->fd = fd;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
	{
		whois_query_end(job, "error");
		return;
	}
	if (connect(fd, (struct sockaddr *)&job->addr, job->addrlen) == 0)
		job->conn = CONN_SENDING;
	else if (errno == EINPROGRESS)
		job->conn = CONN_CONNECTING;
	else
		whois_query_end(job, errno == ECONNREFUSED ? "refused" : "error");
}

/* The socket is ready: move the query along. */
void
whois_io(WhoisJob *job)
{
	if (job->conn == CONN_CONNECTING)
	{
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(job->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err != 0)
		{
			whois_query_end(job, err == ECONNREFUSED ? "refused" : "error");
			return;
		}
		job->conn = CONN_SENDING;
	}
	if (job->conn == CONN_SENDING)
	{
		ssize_t n = send(job->fd, job->query.data + job->sent,
		                 job->query.len - job->sent, MSG_NOSIGNAL);

		if (n < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n < 0)
		{
			whois_query_end(job, errno == ECONNREFUSED ? "refused" : "error");
			return;
		}
		job->sent += n;
		if (job->sent == job->query.len)
			job->conn = CONN_READING;
		return;
	}
	if (job->conn == CONN_READING)
	{
		for (;;)
		{
			int room = WHOIS_MAX_ANSWER - job->answer.len;
			ssize_t n;

			if (room <= 0)
			{
				job->truncated = true;
				whois_query_end(job, "ok");
				return;
			}
			enlargeStringInfo(&job->answer, Min(room, 65536));
			n = recv(job->fd, job->answer.data + job->answer.len,
			         Min(room, 65536), 0);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
			{
				/* a reset after an answer still leaves the answer */
				whois_query_end(job, job->answer.len > 0 ? "ok" : "error");
				return;
			}
			if (n == 0)
			{
				whois_query_end(job, "ok");
				return;
			}
			job->answer.len += n;
			job->answer.data[job->answer.len] = '\0';
		}
	}
}
