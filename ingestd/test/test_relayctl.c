/*
 * test_relayctl.c: the relay.* settings table, and the path from an
 * accepted message to decision records: disabled, capped, killed (kill
 * file), and real delivery attempts on loopback (smarthost refused; MX mode
 * split per recipient domain with a resolver that does not answer).
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relayctl.h"
#include "unit.h"

struct seen_records
{
	int n;
	char decision[8][16], cap[8][16], target[8][64], rule[8][32];
	char reply[8][128];
	unsigned attempts[8];
	int64_t delivered_at[8];
	int sending; /* SENDING versions (not in the arrays) */
	char sending_target[8][64];
	unsigned sending_attempts[8];
};

static void
on_record(void *arg, const struct relay_decision_record *d)
{
	struct seen_records *s = arg;
	int i;

	if (d->status == RELAY_STATUS_SENDING)
	{
		/* announced before the delivery starts, before its outcome */
		if (s->sending < 8)
		{
			snprintf(s->sending_target[s->sending], 64, "%s",
			         d->target ? d->target : "");
			s->sending_attempts[s->sending] = d->attempts;
		}
		s->sending++;
		return;
	}
	i = s->n++;
	if (i >= 8)
		return;
	snprintf(s->decision[i], 16, "%s", d->decision);
	snprintf(s->cap[i], 16, "%s", d->cap ? d->cap : "");
	snprintf(s->target[i], 64, "%s", d->target ? d->target : "");
	snprintf(s->rule[i], 32, "%s", d->rule);
	snprintf(s->reply[i], 128, "%s", d->final_reply ? d->final_reply : "");
	s->attempts[i] = d->attempts;
	s->delivered_at[i] = d->delivered_at;
}

static void
test_settings(void)
{
	static const struct
	{
		const char *key, *value;
		bool ok;
	} cases[] = {
	    {"relay.enabled", "true", true},
	    {"relay.enabled", "maybe", false},
	    {"relay.max_per_day", "100", true},
	    {"relay.max_per_day", "100000", false}, /* above the ceiling */
	    {"relay.max_per_day", "-1", false},
	    {"relay.max_rcpt", "6", false},
	    {"relay.rule", "r1: new-peer max-size=10k", true},
	    {"relay.rule", "r1: new-peer", false}, /* duplicate */
	    {"relay.trap_name", "mx.trap.example", true},
	    {"relay.smarthost", "127.0.0.1:2525", true},
	    {"relay.mx_port", "70000", false},
	    {"relay.nonsense", "1", false},
	};
	struct relayctl_settings s;
	const char *key, *dflt;
	char err[200];
	size_t n = 0;

	relayctl_settings_default(&s);
	CHECK(!s.caps.enabled);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_MSG(relayctl_settings_set(&s, cases[i].key, cases[i].value, err,
		                                sizeof(err)) == cases[i].ok,
		          "case %zu %s=%s: %s", i, cases[i].key, cases[i].value, err);
	CHECK(s.caps.enabled && s.caps.per_day == 100);
	CHECK(strcmp(s.smarthost, "127.0.0.1:2525") == 0);
	CHECK(relayctl_settings_finish(&s, err, sizeof(err)));
	CHECK(s.probe.n_rules == 1); /* configured rules replace the defaults */
	relayctl_settings_default(&s);
	CHECK(relayctl_settings_finish(&s, err, sizeof(err)));
	CHECK(s.probe.n_rules == 3);
	while (relayctl_key(n, &key, &dflt))
	{
		CHECK(strncmp(key, "relay.", 6) == 0 && dflt != NULL);
		n++;
	}
	CHECK(n >= 20);
}

static struct msg_record
message(const char *peer, const char *const *rcpt, size_t n, const char *raw)
{
	struct msg_record m;

	memset(&m, 0, sizeof(m));
	CHECK(uuid7_generate(&m.id, &(struct timespec){1780000000, 0}));
	m.received_at = 1780000000LL * 1000000;
	m.source = "smtp";
	m.peer_ip = peer;
	m.mail_from = "spammer@spam.test";
	m.rcpt_to = rcpt;
	m.n_rcpt = n;
	m.raw = (const uint8_t *)raw;
	m.raw_len = strlen(raw);
	return m;
}

static int
closed_port(int type)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		port = 9;
	else
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/*
 * Relay settings: the defaults, then each "key", "value" pair of kv (ended
 * by NULL), every one of which must be accepted.
 */
static void
relay_settings(struct relayctl_settings *s, const char *const *kv)
{
	char err[200];

	relayctl_settings_default(s);
	for (; kv[0] != NULL; kv += 2)
		CHECK_MSG(relayctl_settings_set(s, kv[0], kv[1], err, sizeof(err)),
		          "%s: %s", kv[0], err);
	CHECK_MSG(relayctl_settings_finish(s, err, sizeof(err)), "%s", err);
}

static void
run_until_idle(struct event_base *base, struct relayctl *c)
{
	for (int i = 0; i < 2000 && relayctl_pending(c) > 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
}

static void
test_decisions(void)
{
	struct event_base *base = event_base_new();
	struct relayctl_settings s;
	struct relayctl *c;
	struct seen_records rec;
	struct probe_verdict v;
	char err[200], v1[64], kill[64];
	const char *r1[] = {"box@drop.test"};
	const char *r2[] = {"a@one.test", "b@two.test", "c@one.test"};
	struct msg_record m;

	CHECK(base != NULL);
	if (base == NULL)
		return;
	/* disabled (the default): probes are recorded, nothing is sent */
	memset(&rec, 0, sizeof(rec));
	relayctl_settings_default(&s);
	CHECK(relayctl_settings_set(&s, "relay.rule", "self: mentions-trap", err,
	                            sizeof(err)));
	CHECK(relayctl_settings_finish(&s, err, sizeof(err)));
	c = relayctl_new(base, &s, on_record, &rec, err, sizeof(err));
	CHECK(c != NULL);
	if (c == NULL)
		return;
	m = message("192.0.2.1", r1, 1, "Subject: 192.0.2.99\r\n\r\nhi\r\n");
	relayctl_consider(c, &m, "192.0.2.99", &v);
	CHECK(v.probe && strcmp(v.rule_name, "self") == 0);
	m = message("192.0.2.1", r1, 1, "Subject: spam\r\n\r\nhi\r\n");
	relayctl_consider(c, &m, "192.0.2.99", &v);
	CHECK(!v.probe);
	CHECK(rec.n == 1 && strcmp(rec.decision[0], "disabled") == 0 &&
	      strcmp(rec.rule[0], "self") == 0 && relayctl_pending(c) == 0);
	relayctl_free(c);

	/* enabled, smarthost refusing connections: cap after 2 per peer, the
	   kill file, and a real failed delivery with its record */
	memset(&rec, 0, sizeof(rec));
	snprintf(v1, sizeof(v1), "127.0.0.1:%d", closed_port(SOCK_STREAM));
	snprintf(kill, sizeof(kill), "/tmp/relayctl-kill.%d", (int)getpid());
	unlink(kill);
	relay_settings(
	    &s, (const char *const[]){"relay.enabled", "on", "relay.rule",
	                              "all: max-rcpt=5", "relay.max_per_peer", "2",
	                              "relay.smarthost", v1, "relay.max_attempts",
	                              "1", "relay.kill_file", kill, NULL});
	c = relayctl_new(base, &s, on_record, &rec, err, sizeof(err));
	CHECK(c != NULL);
	if (c == NULL)
		return;
	m = message("192.0.2.2", r1, 1, "x\r\n");
	relayctl_consider(c, &m, NULL, NULL);
	relayctl_consider(c, &m, NULL, NULL);
	relayctl_consider(c, &m, NULL, NULL); /* third from this peer */
	CHECK(rec.n == 1 && strcmp(rec.cap[0], "cap-peer") == 0);
	{
		FILE *f = fopen(kill, "w");

		if (f)
			fclose(f);
	}
	m = message("192.0.2.3", r1, 1, "x\r\n");
	relayctl_consider(c, &m, NULL, NULL);
	CHECK(rec.n == 2 && strcmp(rec.decision[1], "killed") == 0);
	unlink(kill);
	run_until_idle(base, c);
	CHECK(rec.n == 4);
	for (int i = 2; i < 4 && i < rec.n; i++)
		CHECK_MSG(strcmp(rec.decision[i], "relay") == 0 &&
		              rec.attempts[i] == 1 && rec.delivered_at[i] == 0 &&
		              strstr(rec.reply[i], "refused") != NULL &&
		              strcmp(rec.target[i], v1) == 0,
		          "record %d: %s %u %s", i, rec.decision[i], rec.attempts[i],
		          rec.reply[i]);
	/* the kill file is gone: probes are charged and sent again */
	m = message("192.0.2.7", r1, 1, "x\r\n");
	relayctl_consider(c, &m, NULL, NULL);
	CHECK(rec.sending == 3 && rec.n == 4);
	run_until_idle(base, c);
	CHECK(rec.n == 5 && strcmp(rec.decision[4], "relay") == 0);
	relayctl_free(c);

	/* MX mode: one delivery per recipient domain; the resolver is silent */
	memset(&rec, 0, sizeof(rec));
	snprintf(v1, sizeof(v1), "127.0.0.1:%d", closed_port(SOCK_DGRAM));
	relay_settings(&s,
	               (const char *const[]){"relay.enabled", "true", "relay.rule",
	                                     "all: max-rcpt=5", "relay.resolver",
	                                     v1, "relay.dns_timeout_ms", "100",
	                                     "relay.max_attempts", "1", NULL});
	c = relayctl_new(base, &s, on_record, &rec, err, sizeof(err));
	CHECK(c != NULL);
	if (c == NULL)
		return;
	m = message("192.0.2.4", r2, 3, "x\r\n");
	relayctl_consider(c, &m, NULL, NULL);
	CHECK(relayctl_pending(c) == 2);
	/* each delivery's row is announced first, with the same target */
	CHECK(rec.sending == 2 && rec.n == 0);
	CHECK(strcmp(rec.sending_target[0], "one.test") == 0 &&
	      strcmp(rec.sending_target[1], "two.test") == 0);
	run_until_idle(base, c);
	CHECK(rec.n == 2);
	CHECK(rec.n == 2 && ((strcmp(rec.target[0], "one.test") == 0 &&
	                      strcmp(rec.target[1], "two.test") == 0) ||
	                     (strcmp(rec.target[1], "one.test") == 0 &&
	                      strcmp(rec.target[0], "two.test") == 0)));
	CHECK(rec.n == 2 && strstr(rec.reply[0], "tempfail") != NULL);
	relayctl_free(c);
	event_base_free(base);
}

/* A probe accepted before its spool fsync is held: released as stored it
 * is delivered, released as not stored it is dropped without a trace. */
static void
test_hold_release(void)
{
	struct event_base *base = event_base_new();
	struct relayctl_settings s;
	struct relayctl *c;
	struct seen_records rec;
	char err[200], sh[64];
	const char *r1[] = {"box@drop.test"};
	struct msg_record m1, m2;

	memset(&rec, 0, sizeof(rec));
	snprintf(sh, sizeof(sh), "127.0.0.1:%d", closed_port(SOCK_STREAM));
	relay_settings(&s,
	               (const char *const[]){"relay.enabled", "true", "relay.rule",
	                                     "all: max-rcpt=5", "relay.smarthost",
	                                     sh, "relay.max_attempts", "1", NULL});
	c = base ? relayctl_new(base, &s, on_record, &rec, err, sizeof(err)) : NULL;
	CHECK(c != NULL);
	if (c == NULL)
		return;
	{
		/* the caller's buffers may change after the call: held is a copy */
		char raw[] = "Subject: x\r\n\r\nbody\r\n";

		m1 = message("192.0.2.5", r1, 1, raw);
		CHECK(relayctl_consider_held(c, &m1, NULL, NULL));
		memset(raw, 'Z', sizeof(raw) - 1);
	}
	m2 = message("192.0.2.6", r1, 1, "x\r\n");
	CHECK(relayctl_consider_held(c, &m2, NULL, NULL));
	/* the SENDING rows come at once, to be spooled with the message */
	CHECK(relayctl_pending(c) == 0 && rec.n == 0 && rec.sending == 2);
	CHECK(strcmp(rec.sending_target[0], sh) == 0);
	relayctl_release(c, &m2.id, false); /* spool failed: dropped */
	relayctl_release(c, &m2.id, true);  /* unknown now: ignored */
	CHECK(relayctl_pending(c) == 0 && rec.n == 0);
	relayctl_release(c, &m1.id, true);
	CHECK(relayctl_pending(c) == 1);
	run_until_idle(base, c);
	CHECK(rec.n == 1 && strcmp(rec.decision[0], "relay") == 0 &&
	      strstr(rec.reply[0], "refused") != NULL);
	/* a held probe at shutdown is freed without a record */
	CHECK(relayctl_consider_held(c, &m2, NULL, NULL));
	relayctl_free(c);
	CHECK(rec.n == 1);
	event_base_free(base);
}

/* A retried delivery reports a SENDING version per failed attempt (with
 * the attempts so far), then its final record. */
static void
test_retry_versions(void)
{
	struct event_base *base = event_base_new();
	struct relayctl_settings s;
	struct relayctl *c;
	struct seen_records rec;
	char err[200], sh[64];
	const char *r1[] = {"box@drop.test"};
	struct msg_record m;

	memset(&rec, 0, sizeof(rec));
	snprintf(sh, sizeof(sh), "127.0.0.1:%d", closed_port(SOCK_STREAM));
	relay_settings(&s,
	               (const char *const[]){"relay.enabled", "true", "relay.rule",
	                                     "all: max-rcpt=5", "relay.smarthost",
	                                     sh, "relay.max_attempts", "3",
	                                     "relay.backoff_ms", "5", NULL});
	c = base ? relayctl_new(base, &s, on_record, &rec, err, sizeof(err)) : NULL;
	CHECK(c != NULL);
	if (c == NULL)
		return;
	m = message("192.0.2.8", r1, 1, "x\r\n");
	relayctl_consider(c, &m, NULL, NULL);
	run_until_idle(base, c);
	CHECK_MSG(rec.sending == 3, "sending versions: %d", rec.sending);
	CHECK(rec.sending_attempts[0] == 0 && rec.sending_attempts[1] == 1 &&
	      rec.sending_attempts[2] == 2);
	CHECK(rec.n == 1 && rec.attempts[0] == 3);
	relayctl_free(c);
	event_base_free(base);
}

void
test_relayctl(void)
{
	test_settings();
	test_decisions();
	test_hold_release();
	test_retry_versions();
}
