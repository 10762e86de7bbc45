/*
 * whois.h: what whois.c (the lookup chain, the cache, the SQL functions)
 * and whoisnet.c (one query: resolve, rate-limit, connect, read) share.
 * Internal to the extension; include after postgres.h.
 */
#ifndef SPAMLAB_WHOIS_H
#define SPAMLAB_WHOIS_H

#include <netdb.h>
#include <sys/socket.h>

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "domain.h"
#include "whoisparse.h"

/* Answers larger than this are cut (status "truncated"). */
#define WHOIS_MAX_ANSWER (256 * 1024)
#define WHOIS_PORT       43

/* Settings (whois.c) that whoisnet.c reads. */
extern int whois_timeout_ms;
extern bool whois_allow_private;
extern double whois_rate;

/* A name lookup handed to glibc's resolver thread (malloc'd: see below). */
typedef struct AsyncResolve
{
	struct gaicb cb;
	struct addrinfo hints;
	char host[WHOIS_SERVER_MAX + 1];
	char port[8];
} AsyncResolve;

/* Where a job is in its chain of queries. */
typedef enum
{
	STEP_TLD,      /* find the TLD's server (maybe by asking IANA) */
	STEP_IANA,     /* asking IANA */
	STEP_REGISTRY, /* asking the TLD's server */
	STEP_REFERRAL, /* asking the server the registry named */
	STEP_DONE
} WhoisStep;

/* Where a job's current query is. */
typedef enum
{
	CONN_IDLE,       /* no query under way: advance the chain */
	CONN_RESOLVING,  /* name lookup under way (getaddrinfo_a) */
	CONN_WAIT_TOKEN, /* rate limited until not_before */
	CONN_CONNECTING,
	CONN_SENDING,
	CONN_READING
} WhoisConnState;

typedef struct WhoisJob
{
	char domain[DOMAIN_MAX + 1]; /* registrable domain */
	const char *tld;             /* points into domain */
	WhoisStep step;
	WhoisConnState conn;

	/* the current query */
	char server[WHOIS_SERVER_MAX + 8]; /* as shown: host or host:port */
	bool referral; /* the server came from an answer: check it */
	struct AsyncResolve *resolve;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;
	StringInfoData query;
	int sent;
	StringInfoData answer;
	bool truncated;
	TimestampTz deadline;
	TimestampTz not_before;
	const char *qstatus; /* connection outcome: NULL while running */

	/* the result */
	struct whois_fields fields;
	bool have_registry;
	struct whois_fields registry;
	char *registry_raw;
	char *raw;
	const char *status;
	TimestampTz queried_at;
} WhoisJob;

/* whoisnet.c: one query of job->server, driven by jobs_run() in whois.c */
void whois_query_begin(WhoisJob *job, const char *what, const char *fmt,
                       bool referral);
void whois_query_end(WhoisJob *job, const char *status);
bool whois_resolve_poll(WhoisJob *job, TimestampTz now);
bool whois_rate_take(const char *server, TimestampTz now,
                     TimestampTz *wait_until);
void whois_connect(WhoisJob *job, TimestampTz now);
void whois_io(WhoisJob *job);
void whois_close(WhoisJob *job);

#endif /* SPAMLAB_WHOIS_H */
