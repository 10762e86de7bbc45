/*
 * relayhook.c: the daemon's side of probe relaying: settings from the
 * config, the local address of the session, decision records appended to
 * the decision file and logged.
 */
#include "relayhook.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "relayctl.h"
#include "relayrec.h"
#include "session.h"

static struct relayctl *g_relay;
static char g_decision_file[CONFIG_STR_MAX + 64];

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
	 * Delivery outcomes (a few hundred a day at most) are fsynced; refusals
	 * can come in floods, so they are only written: an fsync each would
	 * stall the event loop.
	 */
	if (!relayrec_file_append(g_decision_file, d,
	                          strcmp(d->decision, "relay") == 0))
		log_event(LOG_ERROR, NULL, "relay_decision_write_failed",
		          "file=%s error=\"%s\"", g_decision_file, strerror(errno));
}

bool
relay_hook_start(const struct config *cfg, char *err, size_t errsz)
{
	struct relayctl_settings s = cfg->relay;

	if (!s.caps.enabled)
		return true;
	if (!relayctl_settings_finish(&s, err, errsz))
		return false;
	if (s.decision_file[0])
		snprintf(g_decision_file, sizeof(g_decision_file), "%s",
		         s.decision_file);
	else
		snprintf(g_decision_file, sizeof(g_decision_file),
		         "%s/relay-decisions.copy", cfg->spool_dir);
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
	log_event(
	    LOG_WARN, NULL, "relay_enabled", "mode=%s max_per_day=%u decisions=%s",
	    s.smarthost[0] ? "smarthost" : "mx", s.caps.per_day, g_decision_file);
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
	if (relayctl_consider_held(g_relay, &r, local[0] ? local : NULL, &v))
		log_event(LOG_INFO, s->sid, "relay_probe", "rule=%s held=yes",
		          v.rule_name);
}

void
relay_hook_release(const struct uuid7 *id, bool stored)
{
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
}
