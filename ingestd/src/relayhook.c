/*
 * relayhook.c: the daemon's side of probe relaying: settings from the
 * config, the local address of the session, decision records logged and
 * queued to the PostgreSQL sink (and appended to relay.decision_file when
 * that is set).
 *
 * A decision goes to the sink only once its message is durable: refusals
 * made while the spool fsync is pending (relayctl_consider_held() records
 * them at once) are held here until relay_hook_release() says the message
 * was stored, and dropped if it was not; delivery outcomes come after the
 * release anyway.  The sink itself keeps decisions in memory only, so a
 * crash before its transaction commits loses them (the messages are safe).
 */
#include "relayhook.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "pgsink.h"
#include "relayctl.h"
#include "relayrec.h"
#include "session.h"

/* A decision whose message is not durable yet: a deep copy. */
struct held
{
	struct held *next;
	struct relay_decision_record d;
	char **rcpt;
};

static struct relayctl *g_relay;
static char g_decision_file[CONFIG_STR_MAX + 64];
static bool g_considering; /* inside relayctl_consider_held() */
static struct held *g_held;

static void
sink_done(void *arg, enum pgsink_status status)
{
	if (status == PGSINK_REJECTED)
		log_event(LOG_ERROR, NULL, "relay_decision_rejected",
		          "effect=\"the decision row is not stored\"");
}

/* Queue one decision to the sink; logs a failure (the row is then lost). */
static void
hook_queue(const struct relay_decision_record *d)
{
	char sid[UUID7_STRLEN + 1];

	if (g_daemon.sink && pgsink_add_relay(g_daemon.sink, d, sink_done, NULL))
		return;
	uuid7_format(&d->message_id, sid);
	log_event(LOG_ERROR, NULL, "relay_decision_lost",
	          "id=%s reason=\"the sink refused the record\"", sid);
}

static char *
dup_or_null(const char *p, bool *ok)
{
	char *q;

	if (p == NULL)
		return NULL;
	q = strdup(p);
	if (q == NULL)
		*ok = false;
	return q;
}

static void
held_free(struct held *h)
{
	if (h == NULL)
		return;
	free((char *)h->d.sensor);
	free((char *)h->d.peer_ip);
	free((char *)h->d.rule);
	free((char *)h->d.decision);
	free((char *)h->d.cap);
	free((char *)h->d.target);
	free((char *)h->d.final_reply);
	free((char *)h->d.tls);
	if (h->rcpt)
		for (size_t i = 0; i < h->d.n_rcpt; i++)
			free(h->rcpt[i]);
	free(h->rcpt);
	free(h);
}

/* Keep a copy of d until its message's fate is known; false on OOM. */
static bool
hook_hold(const struct relay_decision_record *d)
{
	struct held *h = calloc(1, sizeof(*h));
	bool ok = true;

	if (h == NULL)
		return false;
	h->d = *d;
	h->d.sensor = dup_or_null(d->sensor, &ok);
	h->d.peer_ip = dup_or_null(d->peer_ip, &ok);
	h->d.rule = dup_or_null(d->rule, &ok);
	h->d.decision = dup_or_null(d->decision, &ok);
	h->d.cap = dup_or_null(d->cap, &ok);
	h->d.target = dup_or_null(d->target, &ok);
	h->d.final_reply = dup_or_null(d->final_reply, &ok);
	h->d.tls = dup_or_null(d->tls, &ok);
	h->d.rcpt = NULL;
	if (d->rcpt)
	{
		h->rcpt = calloc(d->n_rcpt + 1, sizeof(*h->rcpt));
		if (h->rcpt == NULL)
			ok = false;
		else
		{
			for (size_t i = 0; i < d->n_rcpt; i++)
				h->rcpt[i] = dup_or_null(d->rcpt[i] ? d->rcpt[i] : "", &ok);
			h->d.rcpt = (const char *const *)h->rcpt;
		}
	}
	else
		h->d.n_rcpt = 0;
	if (!ok)
	{
		held_free(h);
		return false;
	}
	h->next = g_held;
	g_held = h;
	return true;
}

static void
hook_record(void *arg, const struct relay_decision_record *d)
{
	char sid[UUID7_STRLEN + 1], reply[160];

	uuid7_format(&d->message_id, sid);
	log_quote(reply, sizeof(reply), d->final_reply ? d->final_reply : "",
	          d->final_reply ? strlen(d->final_reply) : 0);
	log_event(LOG_INFO, NULL, "relay_decision",
	          "id=%s rule=%s decision=%s cap=%s target=%s attempts=%u "
	          "code=%d delivered=%s reply=\"%s\"",
	          sid, d->rule, d->decision, d->cap ? d->cap : "-",
	          d->target ? d->target : "-", d->attempts, d->final_code,
	          d->delivered_at ? "yes" : "no", reply);
	/*
	 * The optional file: delivery outcomes (a few hundred a day at most)
	 * are fsynced; refusals can come in floods, so they are only written:
	 * an fsync each would stall the event loop.
	 */
	if (g_decision_file[0] &&
	    !relayrec_file_append(g_decision_file, d,
	                          strcmp(d->decision, "relay") == 0))
		log_event(LOG_ERROR, NULL, "relay_decision_write_failed",
		          "file=%s error=\"%s\"", g_decision_file, strerror(errno));
	if (!g_considering)
		hook_queue(d);
	else if (!hook_hold(d))
		log_event(LOG_ERROR, NULL, "relay_decision_lost",
		          "id=%s reason=\"out of memory\"", sid);
}

bool
relay_hook_start(const struct config *cfg, char *err, size_t errsz)
{
	struct relayctl_settings s = cfg->relay;

	if (!s.caps.enabled)
		return true;
	if (!relayctl_settings_finish(&s, err, errsz))
		return false;
	snprintf(g_decision_file, sizeof(g_decision_file), "%s", s.decision_file);
	if (s.state_file[0] == '\0' &&
	    snprintf(s.state_file, sizeof(s.state_file), "%s/relay-caps.state",
	             cfg->spool_dir) >= (int)sizeof(s.state_file))
	{
		snprintf(err, errsz, "spool_dir too long for relay.state_file");
		return false;
	}
	g_relay = relayctl_new(g_daemon.base, &s, hook_record, NULL, err, errsz);
	if (g_relay == NULL)
		return false;
	if (!relayctl_state_ok(g_relay))
		log_event(LOG_WARN, NULL, "relay_state_unreadable",
		          "file=%s effect=\"no probe is delivered until the next "
		          "UTC day\"",
		          s.state_file);
	log_event(LOG_WARN, NULL, "relay_enabled",
	          "mode=%s max_per_day=%u decisions=database%s%s",
	          s.smarthost[0] ? "smarthost" : "mx", s.caps.per_day,
	          g_decision_file[0] ? ",file:" : "", g_decision_file);
	return true;
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

	if (g_relay == NULL || s->body == NULL)
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
	struct held **pp = &g_held;

	while (*pp)
	{
		struct held *h = *pp;

		if (memcmp(&h->d.message_id, id, sizeof(*id)) != 0)
		{
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		if (stored)
			hook_queue(&h->d);
		held_free(h);
	}
	if (g_relay != NULL)
		relayctl_release(g_relay, id, stored);
}

size_t
relay_hook_pending(void)
{
	return g_relay ? relayctl_pending(g_relay) : 0;
}

void
relay_hook_stop(void)
{
	relayctl_free(g_relay);
	g_relay = NULL;
	while (g_held)
	{
		struct held *h = g_held;

		g_held = h->next;
		held_free(h);
	}
}
