/*
 * daemon.c: the SMTP collector: configuration, listeners, privileges,
 * signals as loop events, the janitor timer, and the path from the spool
 * into the PostgreSQL sink.
 *
 *   client -> session (smtp.c) -> spool (group commit) -> 250
 *                                   spool reader -> pgsink (COPY)
 *                                   pgsink commit -> spool_release
 */
#include "daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <grp.h>
#include <openssl/ssl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pgsink.h"
#include "rdns.h"
#include "relayhook.h"
#include "session.h"
#include "spool.h"
#include "spoolrec.h"
#include "tls.h"

struct daemon g_daemon;

#define MAX_LISTENERS 16
#define MAX_FLAGS     64

/* A bound listener and the listen/tls_listen entry it came from. */
struct listener
{
	struct evconnlistener *l;
	char addr[128];
	bool tls;
};

static struct listener listeners[MAX_LISTENERS];
static int n_listeners;
static const char *config_path;
static const char *flag_keys[MAX_FLAGS];
static const char *flag_values[MAX_FLAGS];
static int n_flags;
static struct event *feed_ev;
static int64_t drain_deadline;
static bool sink_draining;

/* A spool record pgsink did not take (allocation failure): retried. */
static struct spool_rec stash;
static bool stash_full;
static int stash_tries;

/* ---- configuration ---- */

/* Defaults, then the file, then --key=value flags. */
static bool
daemon_load_config(struct config *c, char *err, size_t errsz)
{
	config_defaults(c);
	if (config_path && !config_load_file(c, config_path, err, errsz))
		return false;
	for (int i = 0; i < n_flags; i++)
	{
		char kerr[512];

		if (!config_set(c, flag_keys[i], flag_values[i], kerr, sizeof(kerr)))
		{
			snprintf(err, errsz, "--%s: %s", flag_keys[i], kerr);
			return false;
		}
	}
	return config_validate(c, err, errsz);
}

static void
daemon_usage(FILE *out)
{
	fputs("usage: ingestd [--config FILE] [--check-config] [--KEY=VALUE ...]\n"
	      "       ingestd import [options] PATH...\n\n"
	      "Settings (in the config file as `key = value`):\n",
	      out);
	config_usage(out);
}

/* ---- the sink side ---- */

struct sink_ctx
{
	struct spool_ref ref;
};

static void
sink_done(void *arg, enum pgsink_status status)
{
	struct sink_ctx *ctx = arg;

	if (status == PGSINK_COMMITTED || status == PGSINK_REJECTED)
	{
		spool_release(g_daemon.spool, ctx->ref);
		if (status == PGSINK_COMMITTED)
			METRIC_INC(M_SINK_ROWS_COMMITTED);
	}
	/* CANCELLED: the record stays in the spool for the next start */
	free(ctx);
	event_active(feed_ev, 0, 0);
}

/* Hand one spool record to the sink; false if the sink did not take it. */
static bool
sink_add(struct spool_rec *rec)
{
	struct spoolrec d;
	struct sink_ctx *ctx;
	bool ok;

	if (!spoolrec_decode(rec->data, rec->len, rec->type, &d))
	{
		log_event(LOG_ERROR, NULL, "spool_record_invalid",
		          "segment=%016llx offset=%llu type=%u",
		          (unsigned long long)rec->ref.seg,
		          (unsigned long long)rec->ref.off, rec->type);
		spool_release(g_daemon.spool, rec->ref);
		return true;
	}
	ctx = malloc(sizeof(*ctx));
	if (!ctx)
	{
		spoolrec_free(&d);
		return false;
	}
	ctx->ref = rec->ref;
	if (rec->type == SPOOL_REC_MESSAGE)
		ok = pgsink_add_message(g_daemon.sink, &d.msg, sink_done, ctx);
	else if (rec->type == SPOOL_REC_RELAY)
	{
		ok = pgsink_add_relay(g_daemon.sink, &d.relay, sink_done, ctx);
		if (ok)
			relay_hook_spooled(&d.relay, d.run); /* an earlier run's? */
	}
	else
		ok = pgsink_add_session(g_daemon.sink, &d.ses, sink_done, ctx);
	spoolrec_free(&d);
	if (!ok)
		free(ctx);
	return ok;
}

/* Move durable spool records into the sink while it has room. */
static void
sink_feed(void)
{
	size_t limit = (size_t)g_daemon.cfg.sink_batch_bytes * 2;

	if (!g_daemon.sink)
		return;
	if (stash_full)
	{
		if (!sink_add(&stash))
		{
			if (++stash_tries < 5)
				return;
			log_event(LOG_ERROR, NULL, "sink_refused_record",
			          "segment=%016llx offset=%llu",
			          (unsigned long long)stash.ref.seg,
			          (unsigned long long)stash.ref.off);
			spool_release(g_daemon.spool, stash.ref);
		}
		free(stash.data);
		stash_full = false;
		stash_tries = 0;
	}
	while (pgsink_pending_bytes(g_daemon.sink) < limit)
	{
		struct spool_rec rec;

		if (!spool_read(g_daemon.spool, &rec))
			break;
		if (!sink_add(&rec))
		{
			stash = rec;
			stash_full = true;
			return;
		}
		free(rec.data);
	}
	if (sink_draining)
		pgsink_flush(g_daemon.sink);
}

static void
feed_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_feed();
}

static void
spool_readable(void *arg)
{
	event_active(feed_ev, 0, 0);
}

/* ---- backpressure ---- */

void
daemon_check_backpressure(void)
{
	int64_t cap = g_daemon.cfg.inflight_max_bytes;
	int64_t b = g_daemon.inflight_bytes;
	int level = g_daemon.pause_level;

	if (b > 2 * cap)
		level = 2;
	else if (b > cap)
		level = level > 1 ? level : 1;
	else if (b < cap / 2)
		level = 0;
	else if (level == 2)
		level = 1;
	if (level == g_daemon.pause_level)
		return;
	log_event(LOG_INFO, NULL, "backpressure", "level=%d inflight_bytes=%lld",
	          level, (long long)b);
	g_daemon.pause_level = level;
	GAUGE_SET(G_PAUSED, level);
	for (struct session *s = g_daemon.sessions; s; s = s->next)
		session_apply_backpressure(s);
}

/* ---- janitor, signals ---- */

static void
daemon_update_gauges(void)
{
	struct spool_stats st;

	spool_get_stats(g_daemon.spool, &st);
	GAUGE_SET(G_SPOOL_RECORDS_PENDING, st.records_pending);
	GAUGE_SET(G_SPOOL_BYTES_PENDING, st.bytes_on_disk);
	GAUGE_SET(G_SPOOL_SEGMENTS, st.segments);
	metric_counters[M_SPOOL_FSYNCS] = st.fsync_passes;
	metric_counters[M_SPOOL_RECORDS] = st.records_appended;
	if (g_daemon.sink)
	{
		struct pgsink_stats ps;

		pgsink_get_stats(g_daemon.sink, &ps);
		GAUGE_SET(G_SINK_LAG_SECONDS, (int64_t)ps.lag_seconds);
	}
}

static void
janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = session_now_ms();

	session_janitor(now);
	spool_janitor(g_daemon.spool);
	sink_feed();
	daemon_update_gauges();
	if (!g_daemon.draining)
		return;
	if (g_daemon.n_sessions == 0)
	{
		struct spool_stats st;

		spool_get_stats(g_daemon.spool, &st);
		if (!sink_draining)
		{
			sink_draining = true;
			pgsink_drain(g_daemon.sink);
			/* the sink gets its own drain_timeout */
			drain_deadline = now + g_daemon.cfg.drain_timeout * 1000;
		}
		/* deliveries in progress still owe their decision rows */
		if ((st.records_pending == 0 && relay_hook_pending() == 0 &&
		     pgsink_idle(g_daemon.sink)) ||
		    now >= drain_deadline)
		{
			log_event(LOG_INFO, NULL, "drained", "records_left_in_spool=%llu",
			          (unsigned long long)st.records_pending);
			event_base_loopexit(g_daemon.base, NULL);
		}
	}
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	int64_t now = session_now_ms();

	if (g_daemon.draining)
	{
		log_event(LOG_INFO, NULL, "signal", "signal=%d action=exit_now",
		          (int)sig);
		event_base_loopexit(g_daemon.base, NULL);
		return;
	}
	log_event(LOG_INFO, NULL, "signal", "signal=%d action=drain sessions=%lld",
	          (int)sig, (long long)g_daemon.n_sessions);
	g_daemon.draining = true;
	for (int i = 0; i < n_listeners; i++)
		evconnlistener_disable(listeners[i].l);
	drain_deadline = now + g_daemon.cfg.drain_timeout * 1000;
	session_drain_all(drain_deadline);
}

/* ---- listeners, privileges ---- */

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
	if (!session_start(fd, sa, salen, arg != NULL))
		return;
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: the caps should prevent it; keep serving */
	log_event(LOG_WARN, NULL, "accept_failed", "error=\"%s\"",
	          evutil_socket_error_to_string(e));
}

/* Listen on one host:port; NULL with a message in err. */
static struct evconnlistener *
daemon_listen(const char *addr, bool tls, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	struct evconnlistener *l;

	if (strlen(addr) >= sizeof(listeners[0].addr) ||
	    evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0)
	{
		snprintf(err, errsz, "cannot parse listen address \"%.100s\"", addr);
		return NULL;
	}
	l = evconnlistener_new_bind(
	    g_daemon.base, accept_cb, tls ? (void *)1 : NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
	    (struct sockaddr *)&ss, sslen);
	if (!l)
	{
		snprintf(err, errsz, "cannot listen on %s: %s", addr, strerror(errno));
		return NULL;
	}
	evconnlistener_set_error_cb(l, accept_error_cb);
	log_event(LOG_INFO, NULL, "listening", "addr=%s tls=%s", addr,
	          tls ? "implicit" : "starttls");
	return l;
}

/*
 * Make the listeners of one kind (tls: tls_listen, else listen) match a
 * comma-separated list: addresses already bound are kept, new ones bound
 * first, and only when all of them are bound are the dropped ones closed.
 * False (with err) if one cannot be bound: then nothing changed.
 */
static bool
daemon_bind(const char *list, bool tls, char *err, size_t errsz)
{
	struct listener next[MAX_LISTENERS];
	bool kept[MAX_LISTENERS] = {false}, fresh[MAX_LISTENERS] = {false};
	char buf[CONFIG_STR_MAX], *save = NULL, *tok;
	int n = 0;

	for (int i = 0; i < n_listeners; i++)
		if (listeners[i].tls != tls)
			next[n++] = listeners[i];
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save))
	{
		int old = -1;

		for (int i = 0; i < n_listeners && old < 0; i++)
			if (listeners[i].tls == tls && !kept[i] &&
			    strcmp(listeners[i].addr, tok) == 0)
				old = i;
		if (n == MAX_LISTENERS)
		{
			snprintf(err, errsz, "too many listeners");
			goto fail;
		}
		if (old >= 0)
		{
			kept[old] = true;
			next[n++] = listeners[old];
			continue;
		}
		next[n].l = daemon_listen(tok, tls, err, errsz);
		if (!next[n].l)
			goto fail;
		snprintf(next[n].addr, sizeof(next[n].addr), "%s", tok);
		next[n].tls = tls;
		fresh[n++] = true;
	}
	for (int i = 0; i < n_listeners; i++)
		if (listeners[i].tls == tls && !kept[i])
		{
			log_event(LOG_INFO, NULL, "listen_closed", "addr=%s tls=%s",
			          listeners[i].addr, tls ? "implicit" : "starttls");
			evconnlistener_free(listeners[i].l);
		}
	memcpy(listeners, next, sizeof(next[0]) * (size_t)n);
	n_listeners = n;
	return true;
fail:
	for (int i = 0; i < n; i++)
		if (fresh[i])
			evconnlistener_free(next[i].l);
	return false;
}

/* ---- SIGHUP ---- */

/* The host name in replies and the sensor name stored with each row. */
static void
daemon_set_identity(const struct config *c)
{
	if (*c->hostname)
		snprintf(g_daemon.hostname, sizeof(g_daemon.hostname), "%s",
		         c->hostname);
	else if (gethostname(g_daemon.hostname, sizeof(g_daemon.hostname) - 1) != 0)
		strcpy(g_daemon.hostname, "localhost");
	snprintf(g_daemon.sensor, sizeof(g_daemon.sensor), "%s",
	         *c->sensor ? c->sensor : g_daemon.hostname);
}

/* A setting bound at start: keep the running value, say so if it changed. */
static void
reload_keep(const char *key, char *now, const char *running, size_t size)
{
	if (strcmp(now, running) == 0)
		return;
	log_event(LOG_WARN, NULL, "reload_kept",
	          "key=%s effect=\"needs a restart\"", key);
	memcpy(now, running, size);
}

/*
 * A new TLS context from c's certificate and key, for sessions that start
 * from now on (a running session holds a reference to its own context).
 * False, with the running context kept, when the files do not load.
 */
static bool
reload_tls(struct config *c)
{
	char err[512], tlsdir[CONFIG_STR_MAX + 8];
	SSL_CTX *ctx;

	if (!c->starttls && !*c->tls_listen)
		return true;
	snprintf(tlsdir, sizeof(tlsdir), "%s/tls", c->spool_dir);
	ctx = tls_context_new(c->tls_cert, c->tls_key, tlsdir, g_daemon.hostname,
	                      err, sizeof(err));
	if (!ctx)
	{
		log_event(LOG_ERROR, NULL, "reload_failed",
		          "what=tls error=\"%s\" effect=\"the running certificate "
		          "stays\"",
		          err);
		memcpy(c->tls_cert, g_daemon.cfg.tls_cert, sizeof(c->tls_cert));
		memcpy(c->tls_key, g_daemon.cfg.tls_key, sizeof(c->tls_key));
		if (!g_daemon.ssl_ctx)
		{
			/* TLS was off and cannot come on */
			c->starttls = false;
			memcpy(c->tls_listen, g_daemon.cfg.tls_listen,
			       sizeof(c->tls_listen));
		}
		return false;
	}
	if (g_daemon.ssl_ctx)
		SSL_CTX_free(g_daemon.ssl_ctx); /* sessions keep their reference */
	g_daemon.ssl_ctx = ctx;
	log_event(LOG_INFO, NULL, "tls_reloaded", "cert=%s",
	          *c->tls_cert ? c->tls_cert : "(self-signed)");
	return true;
}

/*
 * The reverse DNS resolver for c (NULL when rdns is off); at start a
 * failure is fatal, on reload the running resolver is kept.  Lookups that
 * run keep the resolver they started on (rdns_resolver_release()).
 */
static bool
daemon_rdns_apply(struct config *c, bool reload)
{
	struct rdns_resolver *r = NULL;
	char err[512];

	if (reload && c->rdns == g_daemon.cfg.rdns &&
	    c->rdns_timeout == g_daemon.cfg.rdns_timeout &&
	    strcmp(c->rdns_nameservers, g_daemon.cfg.rdns_nameservers) == 0)
		return true;
	if (c->rdns &&
	    !(r = rdns_resolver_new(g_daemon.base, c->rdns_nameservers,
	                            (unsigned)c->rdns_timeout, err, sizeof(err))))
	{
		if (!reload)
			fatal("rdns: %s", err);
		log_event(LOG_ERROR, NULL, "reload_failed",
		          "what=rdns error=\"%s\" effect=\"the running resolver "
		          "stays\"",
		          err);
		c->rdns = g_daemon.cfg.rdns;
		c->rdns_timeout = g_daemon.cfg.rdns_timeout;
		memcpy(c->rdns_nameservers, g_daemon.cfg.rdns_nameservers,
		       sizeof(c->rdns_nameservers));
		return false;
	}
	rdns_resolver_release(g_daemon.rdns);
	g_daemon.rdns = r;
	log_event(LOG_INFO, NULL, "rdns", "rdns=%s timeout=%lld nameservers=%s",
	          c->rdns ? "on" : "off", (long long)c->rdns_timeout,
	          *c->rdns_nameservers ? c->rdns_nameservers : "resolv.conf");
	return true;
}

/* Rebind one kind of listener if its list changed; keep the old on error. */
static void
reload_listen(const char *key, char *now, const char *running, size_t size,
              bool tls)
{
	char err[512];

	if (strcmp(now, running) == 0)
		return;
	if (tls && *now && !g_daemon.ssl_ctx)
		snprintf(err, sizeof(err), "no TLS context");
	else if (daemon_bind(now, tls, err, sizeof(err)))
		return;
	log_event(LOG_ERROR, NULL, "reload_failed",
	          "what=%s error=\"%s\" effect=\"the running listeners stay\"", key,
	          err);
	memcpy(now, running, size);
}

/*
 * SIGHUP: re-read the file and apply it: limits, timeouts, log level, host
 * and sensor names, the relay settings (relayhook.c), the TLS certificate
 * for new sessions, the listeners.  What is bound at start (spool, identity, database, metrics
 * port) keeps its running value, with a log line.
 */
static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct config c;
	char err[512];
	enum log_level lvl;

	if (!daemon_load_config(&c, err, sizeof(err)))
	{
		log_event(LOG_ERROR, NULL, "reload_failed", "error=\"%s\"", err);
		return;
	}
	if (g_daemon.draining)
	{
		log_event(LOG_WARN, NULL, "reload_failed",
		          "error=\"draining\" effect=\"nothing changed\"");
		return;
	}
#define KEEP(f) reload_keep(#f, c.f, g_daemon.cfg.f, sizeof(c.f))
	KEEP(spool_dir);
	KEEP(user);
	KEEP(pg_dsn);
	KEEP(metrics_listen);
#undef KEEP
	if (c.spool_segment_size != g_daemon.cfg.spool_segment_size)
	{
		log_event(LOG_WARN, NULL, "reload_kept",
		          "key=spool_segment_size effect=\"needs a restart\"");
		c.spool_segment_size = g_daemon.cfg.spool_segment_size;
	}
	daemon_set_identity(&c);
	(void)reload_tls(&c);
	reload_listen("listen", c.listen, g_daemon.cfg.listen, sizeof(c.listen),
	              false);
	reload_listen("tls_listen", c.tls_listen, g_daemon.cfg.tls_listen,
	              sizeof(c.tls_listen), true);
	(void)daemon_rdns_apply(&c, true);
	g_daemon.cfg = c;
	if (log_parse_level(c.log_level, &lvl))
		log_set_level(lvl);
	relay_hook_reload(&g_daemon.cfg);
	log_event(LOG_INFO, NULL, "reloaded", "config=%s",
	          config_path ? config_path : "-");
}

/* Give the spool to `user` and become that user. */
static bool
daemon_drop_privileges(const char *user, char *err, size_t errsz)
{
	struct passwd *pw;

	if (!*user)
		return true;
	pw = getpwnam(user);
	if (!pw)
	{
		snprintf(err, errsz, "user \"%s\" does not exist", user);
		return false;
	}
	if (chown(g_daemon.cfg.spool_dir, pw->pw_uid, pw->pw_gid) != 0)
	{
		snprintf(err, errsz, "chown %s: %s", g_daemon.cfg.spool_dir,
		         strerror(errno));
		return false;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
	{
		snprintf(err, errsz, "cannot become %s: %s", user, strerror(errno));
		return false;
	}
	log_event(LOG_INFO, NULL, "privileges_dropped", "user=%s uid=%d", user,
	          (int)pw->pw_uid);
	return true;
}

/* Enough descriptors for max_sessions (plus spool, sink, listeners). */
static void
daemon_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)g_daemon.cfg.max_sessions + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < want)
	{
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_event(LOG_WARN, NULL, "rlimit", "error=\"%s\"",
			          strerror(errno));
	}
	if (rl.rlim_cur < want)
		log_event(LOG_WARN, NULL, "rlimit",
		          "nofile=%llu below max_sessions+256",
		          (unsigned long long)rl.rlim_cur);
}

int
daemon_main(int argc, char **argv)
{
	char err[1024], tlsdir[CONFIG_STR_MAX + 8];
	bool check_only = false;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct event *janitor = NULL;
	struct timeval tv;
	struct pgsink_config pcfg;
	enum log_level lvl;
	int rc = 1;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
		{
			daemon_usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--check-config"))
			check_only = true;
		else if ((!strcmp(a, "--config") || !strcmp(a, "-c")) && i + 1 < argc)
			config_path = argv[++i];
		else if (!strncmp(a, "--config=", 9))
			config_path = a + 9;
		else if (!strncmp(a, "--", 2) && strchr(a, '=') && n_flags < MAX_FLAGS)
		{
			char *k = strndup(a + 2, (size_t)(strchr(a, '=') - a - 2));

			if (!k)
				return 1;
			flag_keys[n_flags] = k;
			flag_values[n_flags] = strchr(a, '=') + 1;
			n_flags++;
		}
		else
		{
			fprintf(stderr, "ingestd: unknown argument \"%s\"\n", a);
			daemon_usage(stderr);
			return 2;
		}
	}
	if (!daemon_load_config(&g_daemon.cfg, err, sizeof(err)))
	{
		fprintf(stderr, "ingestd: %s\n", err);
		return 2;
	}
	if (check_only)
	{
		config_dump(&g_daemon.cfg, stdout);
		fprintf(stderr, "ingestd: configuration ok\n");
		return 0;
	}
	if (log_parse_level(g_daemon.cfg.log_level, &lvl))
		log_set_level(lvl);
	daemon_set_identity(&g_daemon.cfg);

	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();
	g_daemon.base = event_base_new();
	/* 0 unused, 1 default, 2 the spool's group-commit flush (runs last) */
	if (!g_daemon.base || event_base_priority_init(g_daemon.base, 3) != 0)
		fatal("cannot create the event loop");
	feed_ev = event_new(g_daemon.base, -1, 0, feed_cb, NULL);
	/*
	 * Signals before the first listener: a client (or a test) that sees the
	 * port open may send SIGHUP at once, and without a handler its default
	 * action would kill the daemon.  The callbacks run only once the loop
	 * dispatches, after everything below is set up.
	 */
	ev_term = evsignal_new(g_daemon.base, SIGTERM, sigterm_cb, NULL);
	ev_int = evsignal_new(g_daemon.base, SIGINT, sigterm_cb, NULL);
	ev_hup = evsignal_new(g_daemon.base, SIGHUP, sighup_cb, NULL);
	janitor = event_new(g_daemon.base, -1, EV_PERSIST, janitor_cb, NULL);
	tv.tv_sec = g_daemon.cfg.janitor_interval_ms / 1000;
	tv.tv_usec = (g_daemon.cfg.janitor_interval_ms % 1000) * 1000;
	if (!ev_term || !ev_int || !ev_hup || !janitor || !feed_ev ||
	    event_add(ev_term, NULL) || event_add(ev_int, NULL) ||
	    event_add(ev_hup, NULL) || event_add(janitor, &tv))
		fatal("cannot set up signal handling");

	if (!daemon_bind(g_daemon.cfg.listen, false, err, sizeof(err)))
		fatal("%s", err);
	if ((g_daemon.cfg.starttls || *g_daemon.cfg.tls_listen))
	{
		if (mkdir(g_daemon.cfg.spool_dir, 0700) != 0 && errno != EEXIST)
			fatal("%s: %s", g_daemon.cfg.spool_dir, strerror(errno));
		snprintf(tlsdir, sizeof(tlsdir), "%s/tls", g_daemon.cfg.spool_dir);
		g_daemon.ssl_ctx =
		    tls_context_new(g_daemon.cfg.tls_cert, g_daemon.cfg.tls_key, tlsdir,
		                    g_daemon.hostname, err, sizeof(err));
		if (!g_daemon.ssl_ctx)
			fatal("%s", err);
	}
	if (*g_daemon.cfg.tls_listen &&
	    !daemon_bind(g_daemon.cfg.tls_listen, true, err, sizeof(err)))
		fatal("%s", err);
	if (*g_daemon.cfg.metrics_listen &&
	    !metrics_start(g_daemon.base, g_daemon.cfg.metrics_listen))
		fatal("cannot serve metrics on %s", g_daemon.cfg.metrics_listen);
	if (mkdir(g_daemon.cfg.spool_dir, 0700) != 0 && errno != EEXIST)
		fatal("%s: %s", g_daemon.cfg.spool_dir, strerror(errno));
	if (!daemon_drop_privileges(g_daemon.cfg.user, err, sizeof(err)))
		fatal("%s", err);

	g_daemon.spool =
	    spool_open(g_daemon.base, g_daemon.cfg.spool_dir,
	               (uint64_t)g_daemon.cfg.spool_segment_size, err, sizeof(err));
	if (!g_daemon.spool)
		fatal("spool: %s", err);
	pgsink_config_default(&pcfg);
	pcfg.batch_rows = (size_t)g_daemon.cfg.sink_batch_rows;
	pcfg.batch_bytes = (size_t)g_daemon.cfg.sink_batch_bytes;
	g_daemon.sink = pgsink_new(g_daemon.base, g_daemon.cfg.pg_dsn, &pcfg);
	if (!g_daemon.sink)
		fatal("cannot create the PostgreSQL sink");
	spool_set_reader(g_daemon.spool, spool_readable, NULL);
	if (!relay_hook_start(&g_daemon.cfg, err, sizeof(err))) /* issue 6 */
		fatal("relay: %s", err);
	(void)daemon_rdns_apply(&g_daemon.cfg, false);

	/* replay: whatever the last run left in the spool goes first */
	sink_feed();
	log_event(LOG_INFO, NULL, "started", "pid=%d hostname=%s sensor=%s",
	          (int)getpid(), g_daemon.hostname, g_daemon.sensor);
	event_base_dispatch(g_daemon.base);

	log_event(LOG_INFO, NULL, "stopping", NULL);
	rc = 0;
	for (int i = 0; i < n_listeners; i++)
		evconnlistener_free(listeners[i].l);
	while (g_daemon.sessions)
	{
		struct session *s = g_daemon.sessions;

		s->conn_dead = true;
		session_close(s, "shutdown");
		/* session_close defers the free; do it now */
		event_base_loop(g_daemon.base, EVLOOP_NONBLOCK);
		if (g_daemon.sessions == s)
			break;
	}
	relay_hook_stop();
	/* sessions are gone: their lookups were cancelled, so this frees it */
	rdns_resolver_release(g_daemon.rdns);
	g_daemon.rdns = NULL;
	pgsink_free(g_daemon.sink);
	spool_close(g_daemon.spool);
	metrics_stop();
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(janitor);
	event_free(feed_ev);
	if (g_daemon.ssl_ctx)
		SSL_CTX_free(g_daemon.ssl_ctx);
	event_base_free(g_daemon.base);
	return rc;
}
