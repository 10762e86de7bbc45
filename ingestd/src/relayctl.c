/*
 * relayctl.c: rules -> caps -> delivery -> decision records, and the
 * relay.* settings table.
 */
#include "relayctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

struct held;

struct relayctl
{
	struct relayctl_settings s;
	struct probe_engine *probe;
	struct relaycap *caps;
	struct relay *relay;
	relayctl_record_fn record;
	void *arg;
	struct relayctl_stats stats;
	struct held *held; /* probes waiting for their message to be durable */
	bool state_ok;     /* the caps' state file loaded (or none was set) */
	bool killed;       /* relayctl_kill() */
	struct relay *retired[4]; /* replaced clients finishing their jobs */
	struct event_base *base;
};

/* One delivery in flight: what its record needs when it ends. */
struct pending
{
	struct relayctl *ctl;
	struct uuid7 message_id;
	int64_t received_at, decided_at;
	char rule[PROBE_NAME_MAX];
	char peer_ip[64];
	char target[256];
	char sensor[128];
	bool has_sensor, has_peer;
	size_t n_rcpt;
	char *rcpt[RELAYCAP_HARD_RCPT];
};

enum key_kind
{
	KEY_BOOL,
	KEY_UINT,
	KEY_SIZE,
	KEY_STRING,
	KEY_RULE,
	KEY_TRAP_NAME,
};

/* Each relay.* setting: kind, where it goes, its maximum, its default
 * (documentation only: relayctl_settings_default() sets the values). */
static const struct
{
	const char *key;
	enum key_kind kind;
	size_t offset, size;
	unsigned long max;
	const char *dflt;
} keys[] = {
#define OFF(f)                                                                 \
	offsetof(struct relayctl_settings, f),                                     \
	    sizeof(((struct relayctl_settings *)0)->f)
    {"relay.enabled", KEY_BOOL, OFF(caps.enabled), 1, "false"},
    {"relay.rule", KEY_RULE, 0, 0, 0, "(the three default rules)"},
    {"relay.trap_name", KEY_TRAP_NAME, 0, 0, 0,
     "(none; the local address counts)"},
    {"relay.peer_memory", KEY_SIZE, OFF(probe.peer_memory), 1u << 24, "65536"},
    {"relay.dropbox_memory", KEY_SIZE, OFF(probe.dropbox_memory), 1u << 24,
     "4096"},
    {"relay.max_per_day", KEY_UINT, OFF(caps.per_day), RELAYCAP_HARD_PER_DAY,
     "50"},
    {"relay.max_per_peer", KEY_UINT, OFF(caps.per_peer), RELAYCAP_HARD_PER_PEER,
     "3"},
    {"relay.max_per_domain", KEY_UINT, OFF(caps.per_domain),
     RELAYCAP_HARD_PER_DOMAIN, "5"},
    {"relay.max_rcpt", KEY_UINT, OFF(caps.max_rcpt), RELAYCAP_HARD_RCPT, "3"},
    {"relay.kill_file", KEY_STRING, OFF(kill_file), 0, "(none)"},
    {"relay.decision_file", KEY_STRING, OFF(decision_file), 0,
     "(none: the database only)"},
    {"relay.smarthost", KEY_STRING, OFF(smarthost), 0, "(none: MX delivery)"},
    {"relay.resolver", KEY_STRING, OFF(resolver), 0,
     "(first nameserver in /etc/resolv.conf)"},
    {"relay.mx_port", KEY_UINT, OFF(relay.mx_port), 65535, "25"},
    {"relay.helo_name", KEY_STRING, OFF(helo_name), 0, "localhost"},
    {"relay.starttls", KEY_BOOL, OFF(relay.starttls), 1, "true"},
    {"relay.connect_timeout_ms", KEY_UINT, OFF(relay.connect_timeout_ms),
     600000, "30000"},
    {"relay.command_timeout_ms", KEY_UINT, OFF(relay.command_timeout_ms),
     600000, "120000"},
    {"relay.dns_timeout_ms", KEY_UINT, OFF(relay.dns_timeout_ms), 60000,
     "5000"},
    {"relay.max_attempts", KEY_UINT, OFF(relay.max_attempts), 20, "5"},
    {"relay.backoff_ms", KEY_UINT, OFF(relay.backoff_ms), 86400000, "60000"},
    {"relay.backoff_max_ms", KEY_UINT, OFF(relay.backoff_max_ms), 86400000,
     "3600000"},
    {"relay.max_size", KEY_SIZE, OFF(relay.max_size), 64u << 20, "10485760"},
#undef OFF
};

bool
relayctl_key(size_t i, const char **key, const char **dflt)
{
	if (i >= sizeof(keys) / sizeof(keys[0]))
		return false;
	*key = keys[i].key;
	*dflt = keys[i].dflt;
	return true;
}

void
relayctl_settings_default(struct relayctl_settings *s)
{
	memset(s, 0, sizeof(*s));
	probe_config_default(&s->probe);
	relaycap_config_default(&s->caps);
	relay_config_default(&s->relay);
}

static bool
parse_ulong(const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long x;

	if (v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end != '\0' || x > max)
		return false;
	*out = x;
	return true;
}

bool
relayctl_settings_set(struct relayctl_settings *s, const char *key,
                      const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
	{
		char *field = (char *)s + keys[i].offset;
		unsigned long x;

		if (strcmp(keys[i].key, key) != 0)
			continue;
		switch (keys[i].kind)
		{
			case KEY_BOOL:
				if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
				    strcmp(value, "on") == 0)
					*(bool *)field = true;
				else if (strcmp(value, "false") == 0 ||
				         strcmp(value, "no") == 0 || strcmp(value, "off") == 0)
					*(bool *)field = false;
				else
					goto bad;
				return true;
			case KEY_UINT:
				if (!parse_ulong(value, keys[i].max, &x))
					goto bad;
				*(unsigned *)field = (unsigned)x;
				return true;
			case KEY_SIZE:
				if (!parse_ulong(value, keys[i].max, &x))
					goto bad;
				*(size_t *)field = (size_t)x;
				return true;
			case KEY_STRING:
				if (strlen(value) >= keys[i].size)
					goto bad;
				memcpy(field, value, strlen(value) + 1);
				return true;
			case KEY_RULE:
				return probe_config_add_rule(&s->probe, value, err, errlen);
			case KEY_TRAP_NAME:
				return probe_config_add_trap_name(&s->probe, value, err,
				                                  errlen);
		}
	bad:
		if (keys[i].kind == KEY_UINT || keys[i].kind == KEY_SIZE)
			snprintf(err, errlen, "%s: bad value \"%.60s\" (at most %lu)", key,
			         value, keys[i].max);
		else
			snprintf(err, errlen, "%s: bad value \"%.60s\"", key, value);
		return false;
	}
	snprintf(err, errlen, "unknown setting %.60s", key);
	return false;
}

bool
relayctl_settings_finish(struct relayctl_settings *s, char *err, size_t errlen)
{
	if (s->probe.n_rules == 0 && !probe_config_add_default_rules(&s->probe))
	{
		snprintf(err, errlen, "cannot add the default relay rules");
		return false;
	}
	return true;
}

const char *
relay_status_name(enum relay_status st)
{
	switch (st)
	{
		case RELAY_STATUS_SENDING:
			return "sending";
		case RELAY_STATUS_INTERRUPTED:
			return "interrupted";
		case RELAY_STATUS_FINAL:
			break;
	}
	return "final";
}

static void delivery_retry(void *arg, const struct relay_result *r);

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

struct relayctl *
relayctl_new(struct event_base *base, const struct relayctl_settings *s,
             relayctl_record_fn record, void *arg, char *err, size_t errlen)
{
	struct relayctl *c = calloc(1, sizeof(*c));

	if (c == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->s = *s;
	c->base = base;
	c->record = record;
	c->arg = arg;
	c->s.relay.smarthost = c->s.smarthost[0] ? c->s.smarthost : NULL;
	c->s.relay.resolver = c->s.resolver[0] ? c->s.resolver : NULL;
	c->s.relay.helo_name = c->s.helo_name[0] ? c->s.helo_name : NULL;
	c->probe = probe_engine_new(&c->s.probe);
	c->caps = relaycap_new(&c->s.caps);
	if (c->probe == NULL || c->caps == NULL)
	{
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (c->s.state_file[0])
	{
		struct timeval tv;

		gettimeofday(&tv, NULL);
		c->state_ok = relaycap_load(c->caps, c->s.state_file, tv.tv_sec);
	}
	else
		c->state_ok = true;
	/* no client (and no resolver socket) unless relaying is on */
	if (c->s.caps.enabled)
	{
		c->relay = relay_new(base, &c->s.relay, err, errlen);
		if (c->relay == NULL)
			goto fail;
		relay_set_retry_cb(c->relay, delivery_retry);
	}
	return c;
fail:
	relayctl_free(c);
	return NULL;
}

bool
relayctl_state_ok(const struct relayctl *c)
{
	return c->state_ok;
}

void
relayctl_kill(struct relayctl *c, bool on)
{
	c->killed = on;
	relaycap_kill(c->caps, on);
}

/* Free replaced clients whose last delivery ended (never from inside one
 * of their callbacks: only from the daemon's calls into relayctl). */
static void
reap_retired(struct relayctl *c)
{
	for (size_t i = 0; i < sizeof(c->retired) / sizeof(c->retired[0]); i++)
		if (c->retired[i] && relay_pending(c->retired[i]) == 0)
		{
			relay_free(c->retired[i]);
			c->retired[i] = NULL;
		}
}

size_t
relayctl_pending(struct relayctl *c)
{
	size_t n = c->relay ? relay_pending(c->relay) : 0;

	reap_retired(c);
	for (size_t i = 0; i < sizeof(c->retired) / sizeof(c->retired[0]); i++)
		if (c->retired[i])
			n += relay_pending(c->retired[i]);
	return n;
}

/* Do two settings need different delivery clients? */
static bool
relay_settings_differ(const struct relayctl_settings *a,
                      const struct relayctl_settings *b)
{
	struct relay_config x = a->relay, y = b->relay;

	x.smarthost = x.resolver = x.helo_name = NULL;
	y.smarthost = y.resolver = y.helo_name = NULL;
	return strcmp(a->smarthost, b->smarthost) != 0 ||
	       strcmp(a->resolver, b->resolver) != 0 ||
	       strcmp(a->helo_name, b->helo_name) != 0 ||
	       memcmp(&x, &y, sizeof(x)) != 0;
}

bool
relayctl_reconfigure(struct relayctl *c, const struct relayctl_settings *s,
                     char *err, size_t errlen)
{
	struct relayctl_settings n = *s;
	struct probe_engine *probe = NULL;
	struct relaycap *caps = NULL;
	struct relay *relay = NULL;
	bool new_probe, new_relay;
	size_t slot = 0;
	struct timeval tv;

	reap_retired(c);
	n.relay.smarthost = n.smarthost[0] ? n.smarthost : NULL;
	n.relay.resolver = n.resolver[0] ? n.resolver : NULL;
	n.relay.helo_name = n.helo_name[0] ? n.helo_name : NULL;
	new_probe = memcmp(&n.probe, &c->s.probe, sizeof(n.probe)) != 0;
	new_relay = n.caps.enabled &&
	            (c->relay == NULL || relay_settings_differ(&n, &c->s));
	if (new_probe && (probe = probe_engine_new(&n.probe)) == NULL)
	{
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* the day's counts carry over: through the state file, as at a start */
	caps = relaycap_new(&n.caps);
	if (caps == NULL)
	{
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	gettimeofday(&tv, NULL);
	if (n.state_file[0] && (!relaycap_save(c->caps, n.state_file) ||
	                        !relaycap_load(caps, n.state_file, tv.tv_sec)))
	{
		snprintf(err, errlen, "cannot carry the day's counts over via %s",
		         n.state_file);
		goto fail;
	}
	if (new_relay && c->relay != NULL)
	{
		while (slot < sizeof(c->retired) / sizeof(c->retired[0]) &&
		       c->retired[slot] != NULL)
			slot++;
		if (slot == sizeof(c->retired) / sizeof(c->retired[0]))
		{
			snprintf(err, errlen,
			         "too many reloads while deliveries are running");
			goto fail;
		}
	}
	if (new_relay &&
	    (relay = relay_new(c->base, &n.relay, err, errlen)) == NULL)
		goto fail;

	/* nothing can fail from here on */
	if (probe)
	{
		probe_engine_free(c->probe);
		c->probe = probe;
	}
	relaycap_free(c->caps);
	c->caps = caps;
	relaycap_kill(c->caps, c->killed);
	if (relay)
	{
		if (c->relay && relay_pending(c->relay) > 0)
			c->retired[slot] = c->relay; /* its jobs finish as they were */
		else
			relay_free(c->relay);
		c->relay = relay;
	}
	c->s = n;
	c->s.relay.smarthost = c->s.smarthost[0] ? c->s.smarthost : NULL;
	c->s.relay.resolver = c->s.resolver[0] ? c->s.resolver : NULL;
	c->s.relay.helo_name = c->s.helo_name[0] ? c->s.helo_name : NULL;
	return true;
fail:
	probe_engine_free(probe);
	relaycap_free(caps);
	relay_free(relay);
	return false;
}

void
relayctl_get_stats(const struct relayctl *c, struct relayctl_stats *out)
{
	*out = c->stats;
}

static void
emit_refusal(struct relayctl *c, const struct msg_record *m, const char *rule,
             enum relaycap_result why)
{
	struct relay_decision_record d = {
	    .message_id = m->id,
	    .received_at = m->received_at,
	    .decided_at = now_us(),
	    .sensor = m->sensor,
	    .peer_ip = m->peer_ip,
	    .rule = rule,
	    .rcpt = m->rcpt_to,
	    .n_rcpt = m->n_rcpt,
	};

	switch (why)
	{
		case RELAYCAP_DISABLED:
			d.decision = "disabled";
			break;
		case RELAYCAP_KILLED:
			d.decision = "killed";
			break;
		default:
			d.decision = "capped";
			d.cap = relaycap_result_name(why);
			break;
	}
	if (c->record)
		c->record(c->arg, &d);
}

static void
pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n_rcpt; i++)
		free(p->rcpt[i]);
	free(p);
}

/* A delivery's row after an attempt: the outcome so far, status FINAL. */
static struct relay_decision_record
attempt_row(const struct pending *p, const struct relay_result *r)
{
	struct relay_decision_record d = {
	    .message_id = p->message_id,
	    .received_at = p->received_at,
	    .decided_at = p->decided_at,
	    .sensor = p->has_sensor ? p->sensor : NULL,
	    .peer_ip = p->has_peer ? p->peer_ip : NULL,
	    .rule = p->rule,
	    .decision = "relay",
	    .target = p->target,
	    .rcpt = (const char *const *)p->rcpt,
	    .n_rcpt = p->n_rcpt,
	    .attempts = r->attempts,
	    .final_code = r->code,
	    .final_reply = r->reply,
	    .tls = r->tls[0] ? r->tls : NULL,
	};

	return d;
}

static void
delivery_done(void *arg, const struct relay_result *r)
{
	struct pending *p = arg;
	struct relayctl *c = p->ctl;
	struct relay_decision_record d = attempt_row(p, r);

	d.delivered_at = r->delivered ? r->finished_at : 0;
	if (r->delivered)
		c->stats.delivered++;
	else
		c->stats.failed++;
	if (c->record)
		c->record(c->arg, &d);
	pending_free(p);
}

/* An attempt failed and will be retried: the row's SENDING version with
 * the attempts so far and the last reply. */
static void
delivery_retry(void *arg, const struct relay_result *r)
{
	struct pending *p = arg;
	struct relayctl *c = p->ctl;
	struct relay_decision_record d = attempt_row(p, r);

	d.status = RELAY_STATUS_SENDING;
	if (c->record)
		c->record(c->arg, &d);
}

/* Start one delivery of m to rcpt[0..n-1] (one domain, or all via the
 * smarthost); its record comes from delivery_done(). */
static void
deliver(struct relayctl *c, const struct msg_record *m, const char *rule,
        int64_t decided_at, const char *target, const char *const *rcpt,
        size_t n)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		goto fail;
	p->ctl = c;
	p->message_id = m->id;
	p->received_at = m->received_at;
	p->decided_at = decided_at;
	snprintf(p->rule, sizeof(p->rule), "%s", rule);
	snprintf(p->target, sizeof(p->target), "%s", target);
	if (m->sensor)
		snprintf(p->sensor, sizeof(p->sensor), "%s", m->sensor);
	p->has_sensor = m->sensor != NULL;
	if (m->peer_ip)
		snprintf(p->peer_ip, sizeof(p->peer_ip), "%s", m->peer_ip);
	p->has_peer = m->peer_ip != NULL;
	for (size_t i = 0; i < n; i++)
	{
		p->rcpt[i] = strdup(rcpt[i]);
		if (p->rcpt[i] == NULL)
			goto fail;
		p->n_rcpt = i + 1;
	}
	if (!relay_submit(c->relay, m->mail_from ? m->mail_from : "", rcpt, n,
	                  m->raw, m->raw_len, delivery_done, p))
		goto fail;
	c->stats.relayed++;
	return;
fail:
{
	struct relay_result r;

	memset(&r, 0, sizeof(r));
	snprintf(r.reply, sizeof(r.reply),
	         "not submitted (bad address, "
	         "size or memory)");
	if (p != NULL)
		delivery_done(p, &r);
}
}

/* What to do with each delivery of a probe (one per target). */
enum plan_action
{
	PLAN_ANNOUNCE, /* record it as SENDING */
	PLAN_DELIVER,  /* start it */
};

/* Announce the SENDING row of one delivery. */
static void
announce(struct relayctl *c, const struct msg_record *m, const char *rule,
         int64_t decided_at, const char *target, const char *const *rcpt,
         size_t n)
{
	struct relay_decision_record d = {
	    .message_id = m->id,
	    .received_at = m->received_at,
	    .decided_at = decided_at,
	    .sensor = m->sensor,
	    .peer_ip = m->peer_ip,
	    .rule = rule,
	    .decision = "relay",
	    .target = target,
	    .rcpt = rcpt,
	    .n_rcpt = n,
	    .status = RELAY_STATUS_SENDING,
	};

	if (c->record)
		c->record(c->arg, &d);
}

/*
 * The deliveries of m: all recipients via the smarthost, or one per
 * recipient domain (MX).  Announcing and delivering walk the same plan, so
 * each delivery's final record completes the SENDING row announced for it.
 */
static void
dispatch(struct relayctl *c, const struct msg_record *m, const char *rule,
         int64_t decided_at, enum plan_action act)
{
	bool done[RELAYCAP_HARD_RCPT] = {false};
	void (*fn)(struct relayctl *, const struct msg_record *, const char *,
	           int64_t, const char *, const char *const *, size_t) =
	    act == PLAN_ANNOUNCE ? announce : deliver;

	if (c->s.relay.smarthost != NULL)
	{
		fn(c, m, rule, decided_at, c->s.smarthost, m->rcpt_to, m->n_rcpt);
		return;
	}
	for (size_t i = 0; i < m->n_rcpt && i < RELAYCAP_HARD_RCPT; i++)
	{
		const char *group[RELAYCAP_HARD_RCPT];
		char d[256], e[256];
		size_t n = 0;

		if (done[i] || !relaycap_rcpt_domain(m->rcpt_to[i], d, sizeof(d)))
			continue;
		for (size_t k = i; k < m->n_rcpt && k < RELAYCAP_HARD_RCPT; k++)
			if (!done[k] && relaycap_rcpt_domain(m->rcpt_to[k], e, sizeof(e)) &&
			    strcmp(d, e) == 0)
			{
				group[n++] = m->rcpt_to[k];
				done[k] = true;
			}
		fn(c, m, rule, decided_at, d, group, n);
	}
}

/* Judge m and charge the caps; true when it may be delivered (refusals
 * are recorded here). */
static bool
judge_and_charge(struct relayctl *c, const struct msg_record *m,
                 const char *local_ip, struct probe_verdict *v)
{
	struct probe_message pm = {
	    .peer_ip = m->peer_ip,
	    .local_ip = local_ip,
	    .mail_from = m->mail_from,
	    .rcpt = m->rcpt_to,
	    .n_rcpt = m->n_rcpt,
	    .raw = m->raw,
	    .raw_len = m->raw_len,
	};
	enum relaycap_result cap;
	struct stat st;

	c->stats.judged++;
	probe_engine_judge(c->probe, &pm, v);
	if (!v->probe)
		return false;
	c->stats.probes++;
	/* the kill file counts while it exists: removing it resumes */
	if (c->s.kill_file[0])
		relaycap_kill(c->caps, c->killed || stat(c->s.kill_file, &st) == 0);
	cap = relaycap_charge(c->caps, m->received_at / 1000000, m->peer_ip,
	                      m->rcpt_to, m->n_rcpt);
	if (cap == RELAYCAP_OK && c->s.state_file[0] &&
	    !relaycap_save(c->caps, c->s.state_file))
		c->stats.state_errors++;
	if (cap == RELAYCAP_OK && c->relay != NULL)
		return true;
	if (cap == RELAYCAP_OK)
		cap = RELAYCAP_DISABLED;
	c->stats.refused[cap & 7]++;
	emit_refusal(c, m, v->rule_name, cap);
	return false;
}

void
relayctl_consider(struct relayctl *c, const struct msg_record *m,
                  const char *local_ip, struct probe_verdict *out)
{
	struct probe_verdict v;

	if (judge_and_charge(c, m, local_ip, &v))
	{
		int64_t at = now_us();

		dispatch(c, m, v.rule_name, at, PLAN_ANNOUNCE);
		dispatch(c, m, v.rule_name, at, PLAN_DELIVER);
	}
	if (out)
		*out = v;
}

/* A probe charged before its message was durable, waiting for release. */
struct held
{
	struct held *next;
	struct msg_record m; /* pointers into the fields below */
	char rule[PROBE_NAME_MAX];
	int64_t decided_at;
	char *sensor, *peer_ip, *mail_from;
	char *rcpt[RELAYCAP_HARD_RCPT];
	uint8_t *raw;
};

static void
held_free(struct held *h)
{
	free(h->sensor);
	free(h->peer_ip);
	free(h->mail_from);
	for (size_t i = 0; i < h->m.n_rcpt; i++)
		free(h->rcpt[i]);
	free(h->raw);
	free(h);
}

static char *
dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*ok = false;
	return d;
}

bool
relayctl_consider_held(struct relayctl *c, const struct msg_record *m,
                       const char *local_ip, struct probe_verdict *out)
{
	struct probe_verdict v;
	struct held *h;
	bool ok = true;
	size_t hlen;

	if (!judge_and_charge(c, m, local_ip, &v))
	{
		if (out)
			*out = v;
		return false;
	}
	if (out)
		*out = v;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto oom;
	h->m = *m;
	snprintf(h->rule, sizeof(h->rule), "%s", v.rule_name);
	h->m.sensor = h->sensor = dup_or_null(m->sensor, &ok);
	h->m.peer_ip = h->peer_ip = dup_or_null(m->peer_ip, &ok);
	h->m.mail_from = h->mail_from = dup_or_null(m->mail_from, &ok);
	h->m.helo = h->m.tls = h->m.auth_user = h->m.auth_password = NULL;
	h->m.label = h->m.folder = NULL;
	for (size_t i = 0; i < m->n_rcpt && i < RELAYCAP_HARD_RCPT; i++)
		h->rcpt[i] = dup_or_null(m->rcpt_to[i], &ok);
	h->m.rcpt_to = (const char *const *)h->rcpt;
	/* the copy for the next hop starts with the persona's Received
	   header (the stored message stays as the client sent it) */
	hlen = m->relay_header ? strlen(m->relay_header) : 0;
	h->raw = malloc(hlen + m->raw_len + 1);
	if (!ok || h->raw == NULL)
	{
		held_free(h);
		goto oom;
	}
	memcpy(h->raw, m->relay_header ? m->relay_header : "", hlen);
	memcpy(h->raw + hlen, m->raw, m->raw_len);
	h->m.raw = h->raw;
	h->m.raw_len = hlen + m->raw_len;
	h->m.relay_header = NULL;
	h->next = c->held;
	c->held = h;
	/* the SENDING rows go into the spool with the message */
	h->decided_at = now_us();
	dispatch(c, &h->m, h->rule, h->decided_at, PLAN_ANNOUNCE);
	return true;
oom:
{
	struct relay_decision_record d = {
	    .message_id = m->id,
	    .received_at = m->received_at,
	    .decided_at = now_us(),
	    .sensor = m->sensor,
	    .peer_ip = m->peer_ip,
	    .rule = v.rule_name,
	    .decision = "relay",
	    .rcpt = m->rcpt_to,
	    .n_rcpt = m->n_rcpt,
	    .final_reply = "not submitted (out of memory)",
	};

	if (c->record)
		c->record(c->arg, &d);
}
	return false;
}

void
relayctl_release(struct relayctl *c, const struct uuid7 *id, bool stored)
{
	struct held **pp = &c->held;

	while (*pp && memcmp((*pp)->m.id.b, id->b, sizeof(id->b)) != 0)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	{
		struct held *h = *pp;

		*pp = h->next;
		/* a message that was never stored is never delivered */
		if (stored)
			dispatch(c, &h->m, h->rule, h->decided_at, PLAN_DELIVER);
		held_free(h);
	}
}

void
relayctl_free(struct relayctl *c)
{
	if (c == NULL)
		return;
	while (c->held)
	{
		struct held *h = c->held;

		c->held = h->next;
		held_free(h);
	}
	relay_free(c->relay); /* cancelled deliveries report their records */
	for (size_t i = 0; i < sizeof(c->retired) / sizeof(c->retired[0]); i++)
		relay_free(c->retired[i]);
	probe_engine_free(c->probe);
	relaycap_free(c->caps);
	free(c);
}
