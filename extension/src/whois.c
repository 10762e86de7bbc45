/*
 * whois.c: whois_parse(), whois(), whois_refresh() and their settings.
 *
 * A lookup is a small chain of port-43 queries: the TLD's whois server
 * (from spamlab.whois_servers, a built-in map, or a referral from IANA,
 * cached in whois_tld), then for thin registries the registrar's server
 * that the registry names.  Every query (whoisnet.c) runs on a
 * non-blocking socket waited on here with a WaitEventSet, so Ctrl-C and
 * statement_timeout cancel it promptly; whois_refresh() drives many such
 * chains at once in one set.
 * Answers land in the whois_cache table; a per-backend token bucket per
 * server keeps big queries from hammering a registry.
 */
#include "postgres.h"

#include <idn2.h>
#include <string.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "domain.h"
#include "spamlab.h"
#include "whois.h"
#include "whoisparse.h"

#define IANA_SERVER "whois.iana.org"

typedef enum
{
	WHOIS_MODE_OFF,
	WHOIS_MODE_CACHE_ONLY,
	WHOIS_MODE_LIVE
} WhoisMode;

static const struct config_enum_entry whois_mode_options[] = {
    {"off", WHOIS_MODE_OFF, false},
    {"cache_only", WHOIS_MODE_CACHE_ONLY, false},
    {"live", WHOIS_MODE_LIVE, false},
    {NULL, 0, false}};

static int whois_mode = WHOIS_MODE_CACHE_ONLY;
int whois_timeout_ms = 10000;
static char *whois_servers = NULL;
bool whois_allow_private = false;
static int whois_cache_ttl = 30 * 86400;
static int whois_negative_ttl = 3600;
double whois_rate = 1.0;
static int whois_concurrency = 8;

/*
 * Whois servers of common TLDs, so most lookups skip IANA.  query is the
 * format of the question (DENIC wants its full-record flags, JPRS "/e" for
 * English keys); NULL means "%s\r\n".
 */
static const struct
{
	const char *tld;
	const char *server;
	const char *query;
} builtin_servers[] = {
    {"com", "whois.verisign-grs.com", "domain %s\r\n"},
    {"net", "whois.verisign-grs.com", "domain %s\r\n"},
    {"cc", "ccwhois.verisign-grs.com", "domain %s\r\n"},
    {"tv", "whois.nic.tv", NULL},
    {"org", "whois.publicinterestregistry.org", NULL},
    {"info", "whois.nic.info", NULL},
    {"biz", "whois.nic.biz", NULL},
    {"io", "whois.nic.io", NULL},
    {"co", "whois.nic.co", NULL},
    {"xyz", "whois.nic.xyz", NULL},
    {"top", "whois.nic.top", NULL},
    {"us", "whois.nic.us", NULL},
    {"uk", "whois.nic.uk", NULL},
    {"de", "whois.denic.de", "-T dn,ace %s\r\n"},
    {"fr", "whois.nic.fr", NULL},
    {"it", "whois.nic.it", NULL},
    {"nl", "whois.domain-registry.nl", NULL},
    {"pl", "whois.dns.pl", NULL},
    {"ru", "whois.tcinet.ru", NULL},
    {"su", "whois.tcinet.ru", NULL},
    {"cn", "whois.cnnic.cn", NULL},
    {"jp", "whois.jprs.jp", "%s/e\r\n"},
    {"br", "whois.registro.br", NULL},
    {"au", "whois.auda.org.au", NULL},
    {"kr", "whois.kr", NULL},
    {"eu", "whois.eu", NULL},
    {"ca", "whois.cira.ca", NULL},
    {"ch", "whois.nic.ch", NULL},
    {"se", "whois.iis.se", NULL},
};

static bool whois_servers_check(char **newval, void **extra, GucSource source);

/*
 * Register the whois settings; called from _PG_init.
 */
void
whois_define_gucs(void)
{
	DefineCustomEnumVariable(
	    "spamlab.whois_mode", "Whether whois() may query whois servers.",
	    "off: never, not even the cache; cache_only: answer from the cache "
	    "only; live: query servers on a cache miss.",
	    &whois_mode, WHOIS_MODE_CACHE_ONLY, whois_mode_options, PGC_SUSET, 0,
	    NULL, NULL, NULL);
	DefineCustomIntVariable("spamlab.whois_timeout",
	                        "Time limit for one whois query.", NULL,
	                        &whois_timeout_ms, 10000, 100, 600000, PGC_USERSET,
	                        GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable(
	    "spamlab.whois_servers", "Whois servers to use instead of the usual.",
	    "Comma-separated tld=host[:port] entries; iana=host[:port] replaces "
	    "whois.iana.org.",
	    &whois_servers, "", PGC_SUSET, 0, whois_servers_check, NULL, NULL);
	DefineCustomBoolVariable(
	    "spamlab.whois_allow_private",
	    "Follow referrals to private, loopback and link-local addresses.", NULL,
	    &whois_allow_private, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("spamlab.whois_cache_ttl",
	                        "How long a whois answer is reused.", NULL,
	                        &whois_cache_ttl, 30 * 86400, 0, INT_MAX,
	                        PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable(
	    "spamlab.whois_negative_ttl",
	    "How long a failed or negative whois answer is reused.", NULL,
	    &whois_negative_ttl, 3600, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S, NULL,
	    NULL, NULL);
	DefineCustomRealVariable("spamlab.whois_rate",
	                         "Queries per second to any one whois server.",
	                         "Per backend; 0 means no limit.", &whois_rate, 1.0,
	                         0.0, 1000.0, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
	    "spamlab.whois_concurrency", "Lookups whois_refresh() runs at once.",
	    NULL, &whois_concurrency, 8, 1, 64, PGC_USERSET, 0, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Server selection
 * ---------------------------------------------------------------------
 */

/* Check "tld=host[:port],..." (every host as whois_clean_server wants). */
static bool
whois_servers_check(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;

	while (p != NULL && *p != '\0')
	{
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		char host[WHOIS_SERVER_MAX + 1];

		while (len > 0 && p[0] == ' ')
		{
			p++;
			len--;
		}
		if (len > 0)
		{
			if (eq == NULL || eq == p ||
			    !whois_clean_server(eq + 1, len - (eq + 1 - p), host,
			                        sizeof(host)))
			{
				GUC_check_errdetail("Entry \"%.*s\" is not tld=host[:port].",
				                    (int)len, p);
				return false;
			}
		}
		p = end ? end + 1 : NULL;
	}
	return true;
}

/* The override for key (a TLD or "iana") from spamlab.whois_servers. */
static bool
server_override(const char *key, char *out, size_t outlen)
{
	const char *p = whois_servers;
	size_t klen = strlen(key);

	while (p != NULL && *p != '\0')
	{
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq;

		while (len > 0 && *p == ' ')
		{
			p++;
			len--;
		}
		eq = memchr(p, '=', len);
		if (eq != NULL && (size_t)(eq - p) == klen &&
		    pg_strncasecmp(p, key, klen) == 0)
			return whois_clean_server(eq + 1, len - (eq + 1 - p), out, outlen);
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* ---------------------------------------------------------------------
 * The chain of queries and the cache
 * ---------------------------------------------------------------------
 */

static bool
fields_empty(const struct whois_fields *f)
{
	return !f->has_created && !f->has_updated && !f->has_expires &&
	       f->registrar[0] == '\0';
}

/* The answer as storable text (valid in the database encoding). */
static char *
answer_text(WhoisJob *job)
{
	return pnstrdup(job->answer.data, job->answer.len);
}

/* The TLD's server from the whois_tld cache; "" if IANA named none. */
static bool
tld_cache_get(const char *tld, char *out, size_t outlen)
{
	char *s;
	int ret;

	ret = SPI_execute_with_args(
	    "SELECT coalesce(server, '') FROM spamlab.whois_tld WHERE tld = $1 "
	    "AND queried_at + make_interval(secs => $2) > now()",
	    2, (Oid[]){TEXTOID, FLOAT8OID},
	    (Datum[]){CStringGetTextDatum(tld),
	              Float8GetDatum((double)whois_cache_ttl)},
	    NULL, false, 1); /* not read-only: see what other jobs stored */
	if (ret != SPI_OK_SELECT || SPI_processed == 0)
		return false;
	if (out != NULL)
	{
		s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		strlcpy(out, s ? s : "", outlen);
	}
	SPI_freetuptable(SPI_tuptable);
	return true;
}

static bool
can_write(void)
{
	return !XactReadOnly && !RecoveryInProgress();
}

static void
tld_cache_put(const char *tld, const char *server)
{
	if (!can_write())
		return;
	SPI_execute_with_args(
	    "INSERT INTO spamlab.whois_tld (tld, server, queried_at) "
	    "VALUES ($1, $2, clock_timestamp()) ON CONFLICT (tld) DO UPDATE "
	    "SET server = EXCLUDED.server, queried_at = EXCLUDED.queried_at",
	    2, (Oid[]){TEXTOID, TEXTOID},
	    (Datum[]){CStringGetTextDatum(tld), CStringGetTextDatum(server)},
	    server[0] ? NULL : " n", false, 0);
}

static Datum
time_datum(const struct whois_time *t)
{
	return TimestampTzGetDatum((TimestampTz)(t->epoch - 946684800) * 1000000 +
	                           t->usec);
}

static bool
time_ok(bool has, const struct whois_time *t)
{
	/* PostgreSQL's range, and then some; years 1000..9999 always fit */
	return has && t->epoch > -30000000000LL && t->epoch < 250000000000LL;
}

/* Store the job's result in whois_cache. */
static void
job_cache_put(WhoisJob *job)
{
	Datum v[10];
	char n[11] = "          ";
	const struct whois_fields *f = &job->fields;

	if (!can_write())
		return;
	v[0] = CStringGetTextDatum(job->domain);
	v[1] = CStringGetTextDatum(job->status);
	v[2] = CStringGetTextDatum(job->server);
	v[3] = time_datum(&f->created);
	v[4] = time_datum(&f->updated);
	v[5] = time_datum(&f->expires);
	v[6] = CStringGetTextDatum(f->registrar);
	v[7] = CStringGetTextDatum(job->raw ? job->raw : "");
	v[8] = CStringGetTextDatum(job->registry_raw ? job->registry_raw : "");
	v[9] = TimestampTzGetDatum(job->queried_at);
	if (job->server[0] == '\0')
		n[2] = 'n';
	if (!time_ok(f->has_created, &f->created))
		n[3] = 'n';
	if (!time_ok(f->has_updated, &f->updated))
		n[4] = 'n';
	if (!time_ok(f->has_expires, &f->expires))
		n[5] = 'n';
	if (f->registrar[0] == '\0')
		n[6] = 'n';
	if (job->raw == NULL)
		n[7] = 'n';
	if (job->registry_raw == NULL)
		n[8] = 'n';
	SPI_execute_with_args(
	    "INSERT INTO spamlab.whois_cache AS c (domain, status, server, "
	    "created, updated, expires, registrar, raw, registry_raw, queried_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
	    "ON CONFLICT (domain) DO UPDATE SET status = EXCLUDED.status, "
	    "server = EXCLUDED.server, created = EXCLUDED.created, "
	    "updated = EXCLUDED.updated, expires = EXCLUDED.expires, "
	    "registrar = EXCLUDED.registrar, raw = EXCLUDED.raw, "
	    "registry_raw = EXCLUDED.registry_raw, "
	    "queried_at = EXCLUDED.queried_at",
	    10,
	    (Oid[]){TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	            TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID},
	    v, n, false, 0);
}

static void
job_finish(WhoisJob *job, const char *status)
{
	job->status = status;
	job->step = STEP_DONE;
	if (job->queried_at == 0)
		job->queried_at = GetCurrentTimestamp();
	job_cache_put(job);
	/* a bulk refresh keeps only the small fields of finished jobs */
	if (job->query.data != NULL)
	{
		pfree(job->query.data);
		pfree(job->answer.data);
		job->query.data = job->answer.data = NULL;
	}
	if (job->raw != NULL)
		pfree(job->raw);
	if (job->registry_raw != NULL)
		pfree(job->registry_raw);
	job->raw = job->registry_raw = NULL;
}

/* Is a referral the server we just asked (then there is nothing to follow)? */
static bool
same_server(const char *a, const char *b)
{
	size_t la = strcspn(a, ":"), lb = strcspn(b, ":");
	const char *pa = a[la] ? a + la + 1 : "43";
	const char *pb = b[lb] ? b + lb + 1 : "43";

	return la == lb && pg_strncasecmp(a, b, la) == 0 && atoi(pa) == atoi(pb);
}

/* Status of an answer that came back in full or cut. */
static const char *
answer_status(WhoisJob *job, const struct whois_fields *f)
{
	if (f->throttled)
		return "throttled";
	if (f->not_found)
		return "not_found";
	if (fields_empty(f))
		return "unparsed";
	return job->truncated ? "truncated" : "ok";
}

/*
 * Move the chain on after a query ended (or at the start).  May start the
 * next query or finish the job.
 */
static void
job_advance(WhoisJob *job)
{
	char srv[WHOIS_SERVER_MAX + 1];
	const char *fmt = NULL;

	switch (job->step)
	{
		case STEP_TLD:
			if (server_override(job->tld, srv, sizeof(srv)))
			{
				strlcpy(job->server, srv, sizeof(job->server));
				job->step = STEP_REGISTRY;
				whois_query_begin(job, job->domain, NULL, false);
				return;
			}
			for (int i = 0; i < lengthof(builtin_servers); i++)
				if (strcmp(builtin_servers[i].tld, job->tld) == 0)
				{
					strlcpy(job->server, builtin_servers[i].server,
					        sizeof(job->server));
					fmt = builtin_servers[i].query;
					job->step = STEP_REGISTRY;
					whois_query_begin(job, job->domain, fmt, false);
					return;
				}
			if (tld_cache_get(job->tld, srv, sizeof(srv)))
			{
				if (srv[0] == '\0')
				{
					strlcpy(job->server, IANA_SERVER, sizeof(job->server));
					job_finish(job, "no_server");
					return;
				}
				strlcpy(job->server, srv, sizeof(job->server));
				job->step = STEP_REGISTRY;
				whois_query_begin(job, job->domain, NULL, true);
				return;
			}
			if (!server_override("iana", job->server, sizeof(job->server)))
				strlcpy(job->server, IANA_SERVER, sizeof(job->server));
			job->step = STEP_IANA;
			whois_query_begin(job, job->tld, NULL, false);
			return;

		case STEP_IANA:
			if (strcmp(job->qstatus, "ok") != 0)
			{
				job_finish(job, job->qstatus);
				return;
			}
			{
				struct whois_fields f;

				whois_parse_answer(job->answer.data, job->answer.len, &f);
				if (f.throttled)
				{
					job_finish(job, "throttled");
					return;
				}
				tld_cache_put(job->tld, f.referral_server);
				if (f.referral_server[0] == '\0')
				{
					job_finish(job, "no_server");
					return;
				}
				strlcpy(job->server, f.referral_server, sizeof(job->server));
			}
			job->step = STEP_REGISTRY;
			whois_query_begin(job, job->domain, NULL, true);
			return;

		case STEP_REGISTRY:
			if (strcmp(job->qstatus, "ok") != 0)
			{
				job_finish(job, job->qstatus);
				return;
			}
			job->raw = answer_text(job);
			whois_parse_answer(job->answer.data, job->answer.len, &job->fields);
			if (!job->fields.throttled && !job->fields.not_found &&
			    job->fields.referral_server[0] != '\0' &&
			    !same_server(job->fields.referral_server, job->server))
			{
				job->registry = job->fields;
				job->have_registry = true;
				job->registry_raw = job->raw;
				job->raw = NULL;
				strlcpy(job->server, job->fields.referral_server,
				        sizeof(job->server));
				job->step = STEP_REFERRAL;
				whois_query_begin(job, job->domain, NULL, true);
				return;
			}
			job_finish(job, answer_status(job, &job->fields));
			return;

		case STEP_REFERRAL:
		{
			struct whois_fields f;
			const struct whois_fields *r = &job->registry;
			const char *st;

			if (strcmp(job->qstatus, "ok") != 0)
			{
				/* registry fields stay; the status says the hop failed */
				job_finish(job, job->qstatus);
				return;
			}
			job->raw = answer_text(job);
			whois_parse_answer(job->answer.data, job->answer.len, &f);
			st = answer_status(job, &f);
			/* the registry is authoritative; the registrar fills gaps */
			job->fields = f;
			if (r->has_created)
			{
				job->fields.created = r->created;
				job->fields.has_created = true;
			}
			if (r->has_updated)
			{
				job->fields.updated = r->updated;
				job->fields.has_updated = true;
			}
			if (r->has_expires)
			{
				job->fields.expires = r->expires;
				job->fields.has_expires = true;
			}
			if (f.registrar[0] == '\0')
				strlcpy(job->fields.registrar, r->registrar,
				        sizeof(job->fields.registrar));
			if (strcmp(st, "throttled") != 0 && !fields_empty(&job->fields))
				st = job->truncated ? "truncated" : "ok";
			job_finish(job, st);
			return;
		}

		case STEP_DONE:
			return;
	}
}

/* Is another job asking IANA about this job's TLD right now? */
static bool
iana_in_flight(const WhoisJob *jobs, int n, const WhoisJob *job)
{
	for (int i = 0; i < n; i++)
		if (&jobs[i] != job && jobs[i].step == STEP_IANA && jobs[i].fd >= 0 &&
		    strcmp(jobs[i].tld, job->tld) == 0)
			return true;
	return false;
}

/*
 * Run jobs to completion, at most whois_concurrency at once, in one
 * WaitEventSet.  Cancellable at every wait.
 */
static void
jobs_run(WhoisJob *jobs, int njobs)
{
	volatile int next = 0;
	WaitEventSet *volatile wes = NULL;

	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now = GetCurrentTimestamp();
			TimestampTz wake = 0;
			int active = 0, nsock = 0;
			WaitEvent ev[64];
			int nev;
			long timeout;

			CHECK_FOR_INTERRUPTS();
			/* count the running jobs, start new ones */
			for (int i = 0; i < next; i++)
				if (jobs[i].step != STEP_DONE)
					active++;
			while (next < njobs && active < whois_concurrency)
			{
				job_advance(&jobs[next]);
				if (jobs[next].step != STEP_DONE)
					active++;
				next++;
			}
			/* move every job on as far as it goes without waiting */
			for (int i = 0; i < next; i++)
			{
				WhoisJob *job = &jobs[i];

				while (job->step != STEP_DONE)
				{
					if (job->conn == CONN_IDLE)
						job_advance(job);
					else if (job->conn == CONN_WAIT_TOKEN)
					{
						if (job->not_before > now)
							break;
						if (job->step == STEP_IANA &&
						    tld_cache_get(job->tld, NULL, 0))
						{
							job->step = STEP_TLD;
							job->conn = CONN_IDLE;
							continue;
						}
						if (job->step == STEP_IANA &&
						    iana_in_flight(jobs, next, job))
						{
							/* look again soon: it will cache the answer */
							job->not_before =
							    TimestampTzPlusMilliseconds(now, 20);
							break;
						}
						if (whois_rate_take(job->server, now, &job->not_before))
							whois_connect(job, now);
						else
							break;
					}
					else if (job->conn == CONN_RESOLVING)
					{
						if (!whois_resolve_poll(job, now))
							break;
					}
					else if (now >= job->deadline)
						whois_query_end(job, "timeout");
					else
						break;
				}
				if (job->step == STEP_DONE)
					continue;
				if (job->conn == CONN_WAIT_TOKEN)
				{
					if (wake == 0 || job->not_before < wake)
						wake = job->not_before;
				}
				else if (job->conn == CONN_RESOLVING)
				{
					/* no descriptor to wait on: look again in 10 ms */
					TimestampTz t = Min(job->deadline,
					                    TimestampTzPlusMilliseconds(now, 10));

					if (wake == 0 || t < wake)
						wake = t;
				}
				else
				{
					if (wake == 0 || job->deadline < wake)
						wake = job->deadline;
					nsock++;
				}
			}
			if (next == njobs)
			{
				bool all = true;

				for (int i = 0; i < njobs; i++)
					all = all && jobs[i].step == STEP_DONE;
				if (all)
					break;
			}
			if (wake == 0)
				continue;

			wes = CreateWaitEventSet(CurrentMemoryContext, nsock + 2);
			AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch,
			                  NULL);
			AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL,
			                  NULL);
			for (int i = 0; i < next; i++)
			{
				WhoisJob *job = &jobs[i];

				if (job->step == STEP_DONE || job->fd < 0)
					continue;
				AddWaitEventToSet(wes,
				                  job->conn == CONN_READING
				                      ? WL_SOCKET_READABLE
				                      : WL_SOCKET_WRITEABLE,
				                  job->fd, NULL, job);
			}
			timeout = (long)Max(0, (wake - now + 999) / 1000);
			nev = WaitEventSetWait(wes, timeout, ev, lengthof(ev),
			                       PG_WAIT_EXTENSION);
			for (int e = 0; e < nev; e++)
			{
				if (ev[e].events & WL_LATCH_SET)
					ResetLatch(MyLatch);
				else if (ev[e].user_data != NULL)
					whois_io((WhoisJob *)ev[e].user_data);
			}
			FreeWaitEventSet(wes);
			wes = NULL;
		}
	}
	PG_CATCH();
	{
		if (wes != NULL)
			FreeWaitEventSet(wes);
		for (int i = 0; i < njobs; i++)
			whois_close(&jobs[i]);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static void
job_init(WhoisJob *job, const char *domain)
{
	memset(job, 0, sizeof(*job));
	strlcpy(job->domain, domain, sizeof(job->domain));
	job->tld = strrchr(job->domain, '.');
	job->tld = job->tld ? job->tld + 1 : job->domain;
	job->fd = -1;
	job->step = STEP_TLD;
	job->conn = CONN_IDLE;
}

/*
 * Reduce a host name (or the domain of a mail address) to its registrable
 * domain (ICANN section only), in ASCII: IDNs become A-labels, so
 * "bücher.de" and "xn--bcher-kva.de" share a cache entry.  False for
 * anything that is not then made of letters, digits, '-' and '.', so
 * nothing else can reach a whois query line.
 */
static bool
registrable(text *t, char *out, size_t outlen)
{
	const char *s = VARDATA_ANY(t);
	size_t len = VARSIZE_ANY_EXHDR(t);
	const char *at = memrchr(s, '@', len);
	bool ascii = true;

	if (at != NULL)
	{
		len -= at + 1 - s;
		s = at + 1;
	}
	if (!domain_registrable(s, len, true, out, outlen))
		return false;
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = false;
	if (!ascii)
	{
		char *a = NULL;
		bool ok;

		ok = idn2_to_ascii_8z(out, &a, IDN2_NONTRANSITIONAL) == IDN2_OK &&
		     strlen(a) < outlen;
		if (ok)
			strlcpy(out, a, outlen);
		idn2_free(a);
		if (!ok)
			return false;
	}
	for (const char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.'))
			return false;
	return true;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/*
 * spamlab.whois_parse(response text) -> (created, updated, expires,
 * registrar, referral_server)
 */
PG_FUNCTION_INFO_V1(whois_parse);
Datum
whois_parse(PG_FUNCTION_ARGS)
{
	text *resp = PG_GETARG_TEXT_PP(0);
	TupleDesc tupdesc;
	Datum v[5];
	bool n[5];
	struct whois_fields *f = palloc(sizeof(*f));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	whois_parse_answer(VARDATA_ANY(resp), VARSIZE_ANY_EXHDR(resp), f);
	n[0] = !time_ok(f->has_created, &f->created);
	n[1] = !time_ok(f->has_updated, &f->updated);
	n[2] = !time_ok(f->has_expires, &f->expires);
	v[0] = n[0] ? 0 : time_datum(&f->created);
	v[1] = n[1] ? 0 : time_datum(&f->updated);
	v[2] = n[2] ? 0 : time_datum(&f->expires);
	n[3] = f->registrar[0] == '\0';
	v[3] = n[3] ? 0 : CStringGetTextDatum(f->registrar);
	n[4] = f->referral_server[0] == '\0';
	v[4] = n[4] ? 0 : CStringGetTextDatum(f->referral_server);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/*
 * spamlab.whois(domain text) -> whois_result: from the cache, or (mode
 * live) from the servers, storing the answer in the cache.
 */
PG_FUNCTION_INFO_V1(whois);
Datum
whois(PG_FUNCTION_ARGS)
{
	text *arg = PG_GETARG_TEXT_PP(0);
	TupleDesc tupdesc;
	Datum v[9];
	bool n[9];
	char dom[DOMAIN_MAX + 1];
	MemoryContext outer = CurrentMemoryContext;
	HeapTuple tup = NULL;
	WhoisJob *job;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	memset(n, true, sizeof(n));
	v[0] = PointerGetDatum(arg);
	n[0] = false;
	if (!registrable(arg, dom, sizeof(dom)))
	{
		v[7] = CStringGetTextDatum("invalid");
		n[7] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
	}
	v[1] = CStringGetTextDatum(dom);
	n[1] = false;
	if (whois_mode == WHOIS_MODE_OFF)
	{
		v[7] = CStringGetTextDatum("disabled");
		n[7] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
	}

	SPI_connect();
	{
		/* cache_only serves stale rows too: they are all there is */
		static SPIPlanPtr plan = NULL;
		Datum args[4];
		int ret;

		if (plan == NULL)
		{
			SPIPlanPtr p = SPI_prepare(
			    "SELECT created, updated, expires, registrar, server, status, "
			    "queried_at FROM spamlab.whois_cache WHERE domain = $1 AND "
			    "($2 OR queried_at + make_interval(secs => CASE WHEN status "
			    "IN ('ok', 'truncated') THEN $3 ELSE $4 END) > now())",
			    4, (Oid[]){TEXTOID, BOOLOID, FLOAT8OID, FLOAT8OID});

			if (p == NULL || SPI_keepplan(p) != 0)
				elog(ERROR, "could not prepare the whois cache lookup");
			plan = p;
		}
		args[0] = v[1];
		args[1] = BoolGetDatum(whois_mode != WHOIS_MODE_LIVE);
		args[2] = Float8GetDatum((double)whois_cache_ttl);
		args[3] = Float8GetDatum((double)whois_negative_ttl);
		ret = SPI_execute_plan(plan, args, NULL, true, 1);

		if (ret == SPI_OK_SELECT && SPI_processed == 1)
		{
			HeapTuple row = SPI_tuptable->vals[0];
			MemoryContext old;

			for (int i = 0; i < 7; i++)
				v[2 + i] =
				    SPI_getbinval(row, SPI_tuptable->tupdesc, i + 1, &n[2 + i]);
			old = MemoryContextSwitchTo(outer);
			tup = heap_form_tuple(tupdesc, v, n);
			MemoryContextSwitchTo(old);
		}
	}
	if (tup == NULL && whois_mode != WHOIS_MODE_LIVE)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		v[7] = CStringGetTextDatum("not_cached");
		n[7] = false;
		tup = heap_form_tuple(tupdesc, v, n);
		MemoryContextSwitchTo(old);
	}
	if (tup == NULL)
	{
		MemoryContext old;
		const struct whois_fields *f;

		job = palloc(sizeof(WhoisJob));
		job_init(job, dom);
		jobs_run(job, 1);
		f = &job->fields;
		old = MemoryContextSwitchTo(outer);
		n[2] = !time_ok(f->has_created, &f->created);
		v[2] = n[2] ? 0 : time_datum(&f->created);
		n[3] = !time_ok(f->has_updated, &f->updated);
		v[3] = n[3] ? 0 : time_datum(&f->updated);
		n[4] = !time_ok(f->has_expires, &f->expires);
		v[4] = n[4] ? 0 : time_datum(&f->expires);
		n[5] = f->registrar[0] == '\0';
		v[5] = n[5] ? 0 : CStringGetTextDatum(f->registrar);
		n[6] = job->server[0] == '\0';
		v[6] = n[6] ? 0 : CStringGetTextDatum(job->server);
		v[7] = CStringGetTextDatum(job->status);
		n[7] = false;
		v[8] = TimestampTzGetDatum(job->queried_at);
		n[8] = job->queried_at == 0;
		tup = heap_form_tuple(tupdesc, v, n);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}

/* whois_refresh() runs its lookups in batches of this many jobs. */
#define REFRESH_BATCH 256

static int
cmp_cstring(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * spamlab.whois_refresh(domains text[]) -> int: look up every domain not
 * fresh in the cache, concurrently; the number of domains looked up.
 */
PG_FUNCTION_INFO_V1(whois_refresh);
Datum
whois_refresh(PG_FUNCTION_ARGS)
{
	ArrayType *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum *elems;
	bool *nulls;
	int nelems, ntodo = 0, nunique = 0, looked = 0;
	char **todo;
	WhoisJob *jobs;

	if (whois_mode != WHOIS_MODE_LIVE)
		ereport(ERROR,
		        (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		         errmsg("whois_refresh needs spamlab.whois_mode = live"),
		         errhint("A superuser can SET spamlab.whois_mode = live to "
		                 "allow queries to whois servers.")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls,
	                  &nelems);

	/* the distinct registrable domains */
	todo = palloc(sizeof(char *) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		char dom[DOMAIN_MAX + 1];

		CHECK_FOR_INTERRUPTS();
		if (!nulls[i] &&
		    registrable(DatumGetTextPP(elems[i]), dom, sizeof(dom)))
			todo[ntodo++] = pstrdup(dom);
	}
	if (ntodo > 1)
		qsort(todo, ntodo, sizeof(char *), cmp_cstring);
	for (int i = 0; i < ntodo; i++)
		if (nunique == 0 || strcmp(todo[nunique - 1], todo[i]) != 0)
			todo[nunique++] = todo[i];

	/* those not fresh in the cache, a batch of jobs at a time */
	jobs = palloc(sizeof(WhoisJob) * REFRESH_BATCH);
	SPI_connect();
	for (int i = 0; i < nunique;)
	{
		int njobs = 0;

		while (i < nunique && njobs < REFRESH_BATCH)
		{
			int ret;

			CHECK_FOR_INTERRUPTS();
			ret = SPI_execute_with_args(
			    "SELECT 1 FROM spamlab.whois_cache WHERE domain = $1 AND "
			    "queried_at + make_interval(secs => CASE WHEN status IN "
			    "('ok', 'truncated') THEN $2 ELSE $3 END) > now()",
			    3, (Oid[]){TEXTOID, FLOAT8OID, FLOAT8OID},
			    (Datum[]){CStringGetTextDatum(todo[i]),
			              Float8GetDatum((double)whois_cache_ttl),
			              Float8GetDatum((double)whois_negative_ttl)},
			    NULL, false, 1);
			if (ret != SPI_OK_SELECT || SPI_processed == 0)
				job_init(&jobs[njobs++], todo[i]);
			SPI_freetuptable(SPI_tuptable);
			i++;
		}
		if (njobs > 0)
			jobs_run(jobs, njobs);
		looked += njobs;
	}
	SPI_finish();
	PG_RETURN_INT32(looked);
}
