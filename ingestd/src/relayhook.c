/*
 * relayhook.c: the daemon's side of probe relaying: settings from the
 * config, the local address of the session, and decision records made
 * durable in the spool (and appended to relay.decision_file when set).
 *
 * Durability (docs/relay.md, "Durability"):
 *   - Every version of a decision row is a SPOOL_REC_RELAY record; the
 *     spool reader hands it to the PostgreSQL sink like a message, which
 *     upserts it by status rank.  Refusals and the SENDING rows of allowed
 *     probes are appended right after their message, in the same group
 *     commit; outcomes when the delivery ends.
 *   - The in-flight journal (SPOOL_DIR/relay-inflight) lists the SENDING
 *     rows of deliveries that started and whose outcome is not durable yet.
 *     It is rewritten (temporary file, fsync, rename) before a delivery
 *     starts and after its outcome is durable: a few writes per probe, and
 *     the caps bound probes to at most 1000 a day.
 *   - A start finds what its predecessor left: each journal entry gets an
 *     INTERRUPTED version ("may have been delivered"), and a SENDING row
 *     of an earlier run replayed from the spool without a journal entry
 *     gets one saying it was never sent.  Nothing is delivered again.
 */
#include "relayhook.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "relayctl.h"
#include "relayrec.h"
#include "session.h"
#include "spool.h"
#include "spoolrec.h"

#define JOURNAL_MAGIC     "SLRJ1\n"
#define JOURNAL_MAGIC_LEN 6
#define JOURNAL_ENTRY_MAX (1u << 20)

static const char reply_interrupted[] =
    "interrupted: the daemon stopped during the delivery; not retried, "
    "it may have been delivered";
static const char reply_never_sent[] =
    "interrupted: the daemon stopped before the delivery started; not sent";

/* The key of a decision row: message id and target ("" for none). */
struct rowkey
{
	struct uuid7 id;
	char target[256];
};

/* A SENDING row as its spool payload, with its key. */
struct entry
{
	struct entry *next;
	struct rowkey key;
	uint8_t *data;
	size_t len;
};

static struct relayctl *g_relay;
static bool g_enabled; /* judge new messages (g_relay may finish deliveries
                          after relay.enabled was turned off) */
static char g_decision_file[CONFIG_STR_MAX + 64];
static char g_journal[CONFIG_STR_MAX + 64];
static uint64_t g_run;           /* this run's id, in every record it spools */
static bool g_considering;       /* inside relayctl_consider_held() */
static struct entry *g_held;     /* SENDING rows whose message is not durable */
static struct entry *g_inflight; /* the journal's entries */
static struct rowkey *g_old;     /* keys the journal held at start */
static size_t g_n_old;

static void
rowkey_set(struct rowkey *k, const struct relay_decision_record *d)
{
	memset(k, 0, sizeof(*k));
	k->id = d->message_id;
	snprintf(k->target, sizeof(k->target), "%s", d->target ? d->target : "");
}

static bool
rowkey_eq(const struct rowkey *a, const struct rowkey *b)
{
	return memcmp(a->id.b, b->id.b, sizeof(a->id.b)) == 0 &&
	       strcmp(a->target, b->target) == 0;
}

static void
entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	free(e->data);
	free(e);
}

static void
list_free(struct entry **head)
{
	while (*head)
	{
		struct entry *e = *head;

		*head = e->next;
		entry_free(e);
	}
}

/* A copy of d as a spool payload; NULL on allocation failure. */
static struct entry *
entry_new(const struct relay_decision_record *d)
{
	struct evbuffer *b = evbuffer_new();
	struct entry *e = calloc(1, sizeof(*e));

	if (b == NULL || e == NULL || !spoolrec_encode_relay(b, d, g_run))
		goto fail;
	e->len = evbuffer_get_length(b);
	e->data = malloc(e->len ? e->len : 1);
	if (e->data == NULL || evbuffer_remove(b, e->data, e->len) != (int)e->len)
		goto fail;
	rowkey_set(&e->key, d);
	evbuffer_free(b);
	return e;
fail:
	if (b)
		evbuffer_free(b);
	entry_free(e);
	return NULL;
}

/* ---- the in-flight journal ---- */

static bool
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;

	while (n > 0)
	{
		ssize_t w = write(fd, q, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		q += w;
		n -= (size_t)w;
	}
	return true;
}

/* fsync the directory holding path (a rename or unlink in it). */
static bool
sync_dir_of(const char *path)
{
	char dir[sizeof(g_journal)];
	char *slash;
	int fd;
	bool ok;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

/* Write g_inflight to the journal (none: remove it); false on an error. */
static bool
journal_save(void)
{
	char tmp[sizeof(g_journal) + 8];
	int fd;

	if (!g_journal[0])
		return true;
	if (g_inflight == NULL)
	{
		if ((unlink(g_journal) != 0 && errno != ENOENT) ||
		    !sync_dir_of(g_journal))
			goto fail;
		return true;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", g_journal);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (!write_all(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN))
		goto fail_fd;
	for (struct entry *e = g_inflight; e; e = e->next)
	{
		uint8_t h[4];

		for (int i = 0; i < 4; i++)
			h[i] = (uint8_t)(e->len >> (8 * i));
		if (!write_all(fd, h, 4) || !write_all(fd, e->data, e->len))
			goto fail_fd;
	}
	if (fsync(fd) != 0)
		goto fail_fd;
	close(fd);
	if (rename(tmp, g_journal) != 0 || !sync_dir_of(g_journal))
		goto fail;
	return true;
fail_fd:
	close(fd);
	unlink(tmp);
fail:
	log_event(LOG_ERROR, NULL, "relay_journal_write_failed",
	          "file=%s error=\"%s\" effect=\"a crash during a delivery may "
	          "leave its row as sending\"",
	          g_journal, strerror(errno));
	return false;
}

static void spool_version(const struct relay_decision_record *d);

/*
 * Read what the previous run left in the journal: every entry becomes an
 * INTERRUPTED version (spooled now) and stays in the journal until that
 * version is durable.
 */
static void
journal_load(void)
{
	int fd = open(g_journal, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf = NULL;
	size_t pos = JOURNAL_MAGIC_LEN, n = 0;

	if (fd < 0)
	{
		if (errno != ENOENT)
			log_event(LOG_ERROR, NULL, "relay_journal_unreadable",
			          "file=%s error=\"%s\"", g_journal, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || st.st_size < JOURNAL_MAGIC_LEN ||
	    st.st_size > (off_t)64 << 20)
		goto bad;
	buf = malloc((size_t)st.st_size);
	if (buf == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size ||
	    memcmp(buf, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0)
		goto bad;
	/* count, then keep the keys for relay_hook_spooled() */
	while (pos + 4 <= (size_t)st.st_size)
	{
		uint32_t len = (uint32_t)buf[pos] | (uint32_t)buf[pos + 1] << 8 |
		               (uint32_t)buf[pos + 2] << 16 |
		               (uint32_t)buf[pos + 3] << 24;

		if (len > JOURNAL_ENTRY_MAX || len > (size_t)st.st_size - pos - 4)
			goto bad;
		pos += 4 + len;
		n++;
	}
	g_old = n ? calloc(n, sizeof(*g_old)) : NULL;
	if (n && g_old == NULL)
		goto bad;
	pos = JOURNAL_MAGIC_LEN;
	for (size_t i = 0; i < n; i++)
	{
		uint32_t len = (uint32_t)buf[pos] | (uint32_t)buf[pos + 1] << 8 |
		               (uint32_t)buf[pos + 2] << 16 |
		               (uint32_t)buf[pos + 3] << 24;
		struct spoolrec r;
		struct entry *e;

		pos += 4;
		if (!spoolrec_decode(buf + pos, len, SPOOL_REC_RELAY, &r))
		{
			pos += len;
			continue;
		}
		pos += len;
		/* keep it in the journal until its INTERRUPTED version is durable */
		e = entry_new(&r.relay);
		if (e)
		{
			e->next = g_inflight;
			g_inflight = e;
		}
		rowkey_set(&g_old[g_n_old++], &r.relay);
		r.relay.status = RELAY_STATUS_INTERRUPTED;
		r.relay.final_reply = reply_interrupted;
		r.relay.final_code = 0; /* attempts: as of the last retry */
		r.relay.delivered_at = 0;
		spool_version(&r.relay);
		log_event(LOG_WARN, NULL, "relay_delivery_interrupted",
		          "target=%s effect=\"not retried; recorded as interrupted\"",
		          r.relay.target ? r.relay.target : "-");
		spoolrec_free(&r);
	}
	free(buf);
	close(fd);
	return;
bad:
	log_event(LOG_ERROR, NULL, "relay_journal_damaged",
	          "file=%s effect=\"deliveries of the last run may stay recorded "
	          "as sending\"",
	          g_journal);
	free(buf);
	close(fd);
}

/* ---- spooling decision versions ---- */

/* A final or interrupted version on its way to the disk. */
struct version_ctx
{
	struct rowkey key;
};

static void
version_durable(void *arg, bool ok)
{
	struct version_ctx *ctx = arg;
	struct entry **pp = &g_inflight;
	bool found = false;

	if (ctx == NULL)
		return;
	/* the outcome is safe: the delivery leaves the journal */
	while (ok && *pp)
	{
		struct entry *e = *pp;

		if (!rowkey_eq(&e->key, &ctx->key))
		{
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		entry_free(e);
		found = true;
	}
	if (found)
		journal_save(); /* logs a failure */
	free(ctx);
}

/* Append one version of a decision row to the spool. */
static void
spool_version(const struct relay_decision_record *d)
{
	struct evbuffer *b = evbuffer_new();
	struct version_ctx *ctx = NULL;
	struct iovec iov;
	char sid[UUID7_STRLEN + 1];

	if (b == NULL || !spoolrec_encode_relay(b, d, g_run))
		goto fail;
	if (d->status != RELAY_STATUS_SENDING)
	{
		ctx = malloc(sizeof(*ctx));
		if (ctx == NULL)
			goto fail;
		rowkey_set(&ctx->key, d);
	}
	iov.iov_len = evbuffer_get_length(b);
	iov.iov_base = evbuffer_pullup(b, -1);
	if (!g_daemon.spool || !spool_append(g_daemon.spool, SPOOL_REC_RELAY, &iov,
	                                     1, version_durable, ctx))
		goto fail;
	evbuffer_free(b);
	return;
fail:
	free(ctx);
	if (b)
		evbuffer_free(b);
	uuid7_format(&d->message_id, sid);
	log_event(LOG_ERROR, NULL, "relay_decision_lost",
	          "id=%s status=%s reason=\"the spool refused the record\"", sid,
	          relay_status_name(d->status));
}

static void
hook_record(void *arg, const struct relay_decision_record *d)
{
	char sid[UUID7_STRLEN + 1], reply[160];

	uuid7_format(&d->message_id, sid);
	log_quote(reply, sizeof(reply), d->final_reply ? d->final_reply : "",
	          d->final_reply ? strlen(d->final_reply) : 0);
	log_event(LOG_INFO, NULL, "relay_decision",
	          "id=%s rule=%s decision=%s status=%s cap=%s target=%s "
	          "attempts=%u code=%d delivered=%s reply=\"%s\"",
	          sid, d->rule, d->decision, relay_status_name(d->status),
	          d->cap ? d->cap : "-", d->target ? d->target : "-", d->attempts,
	          d->final_code, d->delivered_at ? "yes" : "no", reply);
	/*
	 * The optional file holds final rows only: delivery outcomes (a few
	 * hundred a day at most) are fsynced; refusals can come in floods, so
	 * they are only written: an fsync each would stall the event loop.
	 */
	if (g_decision_file[0] && d->status == RELAY_STATUS_FINAL &&
	    !relayrec_file_append(g_decision_file, d,
	                          strcmp(d->decision, "relay") == 0))
		log_event(LOG_ERROR, NULL, "relay_decision_write_failed",
		          "file=%s error=\"%s\"", g_decision_file, strerror(errno));
	spool_version(d);
	if (d->status != RELAY_STATUS_SENDING)
		return;
	/* a delivery to come: journal it before it starts */
	{
		struct entry *e = entry_new(d);

		if (e == NULL)
		{
			log_event(LOG_ERROR, NULL, "relay_journal_write_failed",
			          "id=%s error=\"out of memory\"", sid);
			return;
		}
		if (g_considering)
		{
			/* its message is not durable yet: relay_hook_release() */
			e->next = g_held;
			g_held = e;
			return;
		}
		/* a retry's version replaces the entry: the attempts so far */
		for (struct entry **pp = &g_inflight; *pp; pp = &(*pp)->next)
			if (rowkey_eq(&(*pp)->key, &e->key))
			{
				struct entry *o = *pp;

				e->next = o->next;
				*pp = e;
				entry_free(o);
				e = NULL;
				break;
			}
		if (e)
		{
			e->next = g_inflight;
			g_inflight = e;
		}
		journal_save();
	}
}

/* cfg's relay settings, completed (default rules, state file). */
static bool
hook_settings(const struct config *cfg, struct relayctl_settings *s, char *err,
              size_t errsz)
{
	*s = cfg->relay;
	if (!relayctl_settings_finish(s, err, errsz))
		return false;
	if (s->state_file[0] == '\0' &&
	    snprintf(s->state_file, sizeof(s->state_file), "%s/relay-caps.state",
	             cfg->spool_dir) >= (int)sizeof(s->state_file))
	{
		snprintf(err, errsz, "spool_dir too long for relay.state_file");
		return false;
	}
	return true;
}

static void
hook_log_enabled(const struct relayctl_settings *s, const char *event)
{
	log_event(LOG_WARN, NULL, event,
	          "enabled=%s mode=%s max_per_day=%u max_per_peer=%u "
	          "max_per_domain=%u rules=%zu decisions=spool%s%s",
	          s->caps.enabled ? "yes" : "no",
	          s->smarthost[0] ? "smarthost" : "mx", s->caps.per_day,
	          s->caps.per_peer, s->caps.per_domain, s->probe.n_rules,
	          g_decision_file[0] ? ",file:" : "", g_decision_file);
}

bool
relay_hook_start(const struct config *cfg, char *err, size_t errsz)
{
	struct relayctl_settings s;

	if (getrandom(&g_run, sizeof(g_run), 0) != (ssize_t)sizeof(g_run))
		g_run = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	if (snprintf(g_journal, sizeof(g_journal), "%s/relay-inflight",
	             cfg->spool_dir) >= (int)sizeof(g_journal))
	{
		snprintf(err, errsz, "spool_dir too long for the relay journal");
		return false;
	}
	/* even with relaying off now: record what the last run left running */
	journal_load();
	if (!cfg->relay.caps.enabled)
		return true;
	if (!hook_settings(cfg, &s, err, errsz))
		return false;
	snprintf(g_decision_file, sizeof(g_decision_file), "%s", s.decision_file);
	g_relay = relayctl_new(g_daemon.base, &s, hook_record, NULL, err, errsz);
	if (g_relay == NULL)
		return false;
	g_enabled = true;
	if (!relayctl_state_ok(g_relay))
		log_event(LOG_WARN, NULL, "relay_state_unreadable",
		          "file=%s effect=\"no probe is delivered until the next "
		          "UTC day\"",
		          s.state_file);
	hook_log_enabled(&s, "relay_enabled");
	return true;
}

void
relay_hook_reload(const struct config *cfg)
{
	struct relayctl_settings s;
	char err[512];

	if (!cfg->relay.caps.enabled && g_relay == NULL)
		return; /* off, and it was off */
	if (!hook_settings(cfg, &s, err, sizeof(err)))
		goto fail;
	if (g_relay == NULL)
	{
		g_relay = relayctl_new(g_daemon.base, &s, hook_record, NULL, err,
		                       sizeof(err));
		if (g_relay == NULL)
			goto fail;
	}
	else if (!relayctl_reconfigure(g_relay, &s, err, sizeof(err)))
		goto fail;
	g_enabled = s.caps.enabled;
	snprintf(g_decision_file, sizeof(g_decision_file), "%s", s.decision_file);
	hook_log_enabled(&s, "relay_reloaded");
	return;
fail:
	log_event(LOG_ERROR, NULL, "reload_failed",
	          "what=relay error=\"%s\" effect=\"the relay settings stay as "
	          "they were\"",
	          err);
}

void
relay_hook_consider(struct session *s, const struct msg_record *m)
{
	struct msg_record r;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char local[INET6_ADDRSTRLEN] = "";
	evutil_socket_t fd;
	struct probe_verdict v;
	bool held;

	if (g_relay == NULL || !g_enabled || s->body == NULL)
		return;
	r = *m;
	r.raw_len = evbuffer_get_length(s->body);
	r.raw = evbuffer_pullup(s->body, -1);
	if (r.raw == NULL && r.raw_len > 0)
		return;
	fd = s->bev ? bufferevent_getfd(s->bev) : -1;
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
	{
		if (ss.ss_family == AF_INET)
			evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			                 local, sizeof(local));
		else if (ss.ss_family == AF_INET6)
			evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			                 local, sizeof(local));
	}
	g_considering = true;
	held = relayctl_consider_held(g_relay, &r, local[0] ? local : NULL, &v);
	g_considering = false;
	if (held)
		log_event(LOG_INFO, s->sid, "relay_probe", "rule=%s held=yes",
		          v.rule_name);
}

void
relay_hook_release(const struct uuid7 *id, bool stored)
{
	struct entry **pp = &g_held;
	bool moved = false;

	while (*pp)
	{
		struct entry *e = *pp;

		if (memcmp(e->key.id.b, id->b, sizeof(id->b)) != 0)
		{
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		if (stored)
		{
			e->next = g_inflight;
			g_inflight = e;
			moved = true;
		}
		else
			entry_free(e);
	}
	/* journaled before the first byte goes out */
	if (moved)
		journal_save();
	if (g_relay != NULL)
		relayctl_release(g_relay, id, stored);
}

void
relay_hook_spooled(const struct relay_decision_record *d, uint64_t run)
{
	struct rowkey k;
	struct relay_decision_record v;

	if (run == g_run || d->status != RELAY_STATUS_SENDING)
		return;
	rowkey_set(&k, d);
	for (size_t i = 0; i < g_n_old; i++)
		if (rowkey_eq(&g_old[i], &k))
			return; /* journaled: its INTERRUPTED version is spooled */
	/* an earlier run announced it but never started it (unless an attempt
	 * was made: then its journal entry was lost) */
	v = *d;
	v.status = RELAY_STATUS_INTERRUPTED;
	v.final_reply = d->attempts > 0 ? reply_interrupted : reply_never_sent;
	v.final_code = 0;
	v.delivered_at = 0;
	spool_version(&v);
	log_event(LOG_WARN, NULL, "relay_delivery_interrupted",
	          "target=%s effect=\"%s\"", d->target ? d->target : "-",
	          d->attempts > 0 ? "not retried; recorded as interrupted"
	                          : "never started; recorded as not sent");
}

size_t
relay_hook_pending(void)
{
	return g_relay ? relayctl_pending(g_relay) : 0;
}

void
relay_hook_stop(void)
{
	relayctl_free(g_relay); /* cancelled deliveries spool their outcome */
	g_relay = NULL;
	g_enabled = false;
	list_free(&g_held);
	list_free(&g_inflight);
	free(g_old);
	g_old = NULL;
	g_n_old = 0;
}
