/*
 * test_probe.c: the relay-test rules: syntax, each condition, rule order,
 * the bounded memories, and whole-token matching of the trap's names.
 */
#include <stdio.h>
#include <string.h>

#include "probe.h"
#include "seen.h"
#include "unit.h"

static void
test_seen_lru(void)
{
	struct seen *s = seen_new(3, 42);
	char k[16];

	CHECK(s != NULL);
	if (s == NULL)
		return;
	CHECK(!seen_touch(s, "a", 1));
	CHECK(!seen_touch(s, "b", 1));
	CHECK(!seen_touch(s, "c", 1));
	CHECK(seen_touch(s, "A", 1));  /* case folded; refreshes a */
	CHECK(!seen_touch(s, "d", 1)); /* evicts b, the oldest */
	CHECK(seen_contains(s, "a", 1));
	CHECK(!seen_contains(s, "b", 1));
	CHECK(seen_contains(s, "c", 1) && seen_contains(s, "d", 1));
	CHECK(seen_count(s) == 3);
	/* many keys: never more than capacity, the newest always present */
	for (int i = 0; i < 10000; i++)
	{
		snprintf(k, sizeof(k), "k%d", i);
		(void)seen_touch(s, k, strlen(k));
		if (!seen_contains(s, k, strlen(k)) || seen_count(s) > 3)
		{
			CHECK_MSG(0, "key %d lost or set overfull", i);
			break;
		}
	}
	CHECK(!seen_contains(s, "k9996", 5) && seen_contains(s, "k9997", 5));
	seen_free(s);
	CHECK(seen_new(0, 1) == NULL);
	CHECK(seen_new(SEEN_CAPACITY_MAX + 1, 1) == NULL);
}

static void
test_rule_syntax(void)
{
	static const struct
	{
		const char *text;
		bool ok;
		const char *formatted; /* or the expected error fragment */
	} cases[] = {
	    {"a: new-peer", true, "a: new-peer"},
	    {"  small :max-rcpt=2  max-size=4k", false, "rule name"},
	    {"small: max-rcpt=2  max-size=4k", true,
	     "small: max-rcpt=2 max-size=4096"},
	    {"x: mentions-trap new-sender dropbox-rcpt # comment", true,
	     "x: mentions-trap new-sender dropbox-rcpt"},
	    {"big: max-size=2M", true, "big: max-size=2097152"},
	    {"no colon here", false, "NAME: CONDITION"},
	    {": new-peer", false, "rule name"},
	    {"Upper: new-peer", false, "rule name"},
	    {"empty:", false, "no condition"},
	    {"e: new-peeer", false, "unknown condition"},
	    {"z: max-rcpt=0", false, "bad number"},
	    {"z: max-rcpt=x", false, "bad number"},
	    {"z: max-size=99999999999", false, "bad number"},
	    {"a: new-sender", false, "defined twice"},
	};
	struct probe_config cfg;
	char err[160], buf[200];

	probe_config_default(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		size_t before = cfg.n_rules;
		bool ok;

		err[0] = '\0';
		ok = probe_config_add_rule(&cfg, cases[i].text, err, sizeof(err));
		CHECK_MSG(ok == cases[i].ok, "case %zu \"%s\": %s", i, cases[i].text,
		          err);
		if (ok && cases[i].ok)
		{
			probe_rule_format(&cfg.rules[before], buf, sizeof(buf));
			CHECK_MSG(strcmp(buf, cases[i].formatted) == 0,
			          "case %zu formats as \"%s\"", i, buf);
		}
		else if (!ok && !cases[i].ok)
			CHECK_MSG(strstr(err, cases[i].formatted) != NULL,
			          "case %zu error \"%s\"", i, err);
	}
	/* at most PROBE_RULES_MAX rules */
	probe_config_default(&cfg);
	for (int i = 0; i < PROBE_RULES_MAX + 1; i++)
	{
		snprintf(buf, sizeof(buf), "r%d: new-peer", i);
		CHECK((i < PROBE_RULES_MAX) ==
		      probe_config_add_rule(&cfg, buf, err, sizeof(err)));
	}
	CHECK(!probe_config_add_trap_name(&cfg, "ab", err, sizeof(err)));
	CHECK(probe_config_add_trap_name(&cfg, "192.0.2.25", err, sizeof(err)));
}

static void
test_mentions(void)
{
	static const struct
	{
		const char *hay, *needle;
		bool hit;
	} cases[] = {
	    {"Subject: relay test 192.0.2.25\r\n", "192.0.2.25", true},
	    {"Subject: 192.0.2.251\r\n", "192.0.2.25", false},
	    {"Subject: 10.192.0.2.25\r\n", "192.0.2.25", false},
	    {"ip=192.0.2.25.", "192.0.2.25", true},
	    {"ip=192.0.2.25.7", "192.0.2.25", false},
	    {"[192.0.2.25]", "192.0.2.25", true},
	    {"via MX.Trap.Example works", "mx.trap.example", true},
	    {"via mx.trap.example.org", "mx.trap.example", false},
	    {"via smx.trap.example", "mx.trap.example", false},
	    {"via a.mx.trap.example", "mx.trap.example", false},
	    {"mx.trap.example", "mx.trap.example", true},
	    {"mx.trap.exampl", "mx.trap.example", false},
	    {"", "mx.trap.example", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_MSG(
		    probe_mentions((const uint8_t *)cases[i].hay, strlen(cases[i].hay),
		                   cases[i].needle) == cases[i].hit,
		    "case %zu: \"%s\" in \"%s\"", i, cases[i].needle, cases[i].hay);
}

/* One message of a scenario and the rule expected to fire ("" = none). */
struct judge_case
{
	const char *peer, *from, *rcpt1, *rcpt2, *body;
	size_t pad; /* extra bytes of size */
	const char *expect;
};

static void
run_judge(const char *const *rules, size_t n_rules,
          const struct judge_case *cases, size_t n_cases, size_t memory)
{
	struct probe_config cfg;
	struct probe_engine *e;
	char err[160];
	static uint8_t raw[70000];

	probe_config_default(&cfg);
	cfg.peer_memory = memory;
	cfg.dropbox_memory = memory;
	for (size_t i = 0; i < n_rules; i++)
		CHECK_MSG(probe_config_add_rule(&cfg, rules[i], err, sizeof(err)), "%s",
		          err);
	CHECK(
	    probe_config_add_trap_name(&cfg, "trap.example.net", err, sizeof(err)));
	e = probe_engine_new(&cfg);
	CHECK(e != NULL);
	if (e == NULL)
		return;
	for (size_t i = 0; i < n_cases; i++)
	{
		const struct judge_case *c = &cases[i];
		const char *rcpt[2] = {c->rcpt1, c->rcpt2};
		struct probe_message m = {
		    .peer_ip = c->peer,
		    .local_ip = "198.51.100.7",
		    .mail_from = c->from,
		    .rcpt = rcpt,
		    .n_rcpt = c->rcpt2 ? 2 : 1,
		};
		struct probe_verdict v;
		size_t n = strlen(c->body);

		memset(raw, 'x', sizeof(raw));
		memcpy(raw, c->body, n);
		m.raw = raw;
		m.raw_len = n + c->pad;
		probe_engine_judge(e, &m, &v);
		CHECK_MSG(strcmp(v.rule_name, c->expect) == 0 &&
		              v.probe == (c->expect[0] != '\0'),
		          "message %zu: rule \"%s\", expected \"%s\"", i, v.rule_name,
		          c->expect);
	}
	probe_engine_free(e);
}

static void
test_judge(void)
{
	static const char *const rules[] = {
	    "self: mentions-trap max-rcpt=5",
	    "dropbox: dropbox-rcpt",
	    "first-peer: new-peer max-rcpt=2 max-size=1k",
	    "first-sender: new-sender max-size=64",
	};
	static const struct judge_case cases[] = {
	    /* the trap's name in the body: rule 1 even from a known-new peer */
	    {"203.0.113.1", "a@x.test", "box@drop.test", NULL,
	     "Subject: test\r\n\r\nrelay trap.example.net ok\r\n", 0, "self"},
	    /* the local address counts as a trap name */
	    {"203.0.113.2", "b@x.test", "c@y.test", NULL,
	     "Subject: 198.51.100.7\r\n\r\nhi\r\n", 0, "self"},
	    /* a new peer, small: first-peer */
	    {"203.0.113.3", "c@x.test", "d@y.test", NULL, "Subject: hi\r\n\r\n", 0,
	     "first-peer"},
	    /* the same peer again, new sender but too big for first-sender */
	    {"203.0.113.3", "e@x.test", "d2@y.test", NULL, "Subject: hi\r\n\r\n",
	     100, ""},
	    /* known peer, known sender: nothing */
	    {"203.0.113.3", "e@x.test", "d3@y.test", NULL, "Subject: hi\r\n\r\n", 0,
	     ""},
	    /* a recipient of an earlier probe, in a big run: dropbox */
	    {"203.0.113.3", "e@x.test", "other@z.test", "BOX@drop.test",
	     "Subject: buy\r\n\r\n", 60000, "dropbox"},
	    /* a new peer with too many recipients for first-peer, and too big
	       for first-sender */
	    {"203.0.113.9", "f@x.test", "u@v.test", "w@v.test", "S: x\r\n\r\n",
	     2000, ""},
	    /* a new peer and a new sender, small: first-peer wins (order) */
	    {"203.0.113.10", "g@x.test", "u@v.test", NULL, "S\r\n\r\n", 0,
	     "first-peer"},
	    /* (u@v.test is now a drop-box: the probe above went to it) */
	    /* the trap name inside a longer host name is not a mention */
	    {"203.0.113.10", "g@x.test", "n@v.test", NULL,
	     "see smtp.trap.example.net.evil.test\r\n", 0, ""},
	};

	run_judge(rules, 4, cases, sizeof(cases) / sizeof(cases[0]), 1000);
}

static void
test_judge_memory_bound(void)
{
	/* with room for two peers, the third evicts the first: it is new again */
	static const char *const rules[] = {"first: new-peer"};
	static const struct judge_case cases[] = {
	    {"192.0.2.1", "a@b.c", "r@s.t", NULL, "x", 0, "first"},
	    {"192.0.2.2", "a@b.c", "r@s.t", NULL, "x", 0, "first"},
	    {"192.0.2.1", "a@b.c", "r@s.t", NULL, "x", 0, ""},
	    {"192.0.2.3", "a@b.c", "r@s.t", NULL, "x", 0, "first"},
	    {"192.0.2.2", "a@b.c", "r@s.t", NULL, "x", 0, "first"},
	    {"192.0.2.3", "a@b.c", "r@s.t", NULL, "x", 0, ""},
	};

	run_judge(rules, 1, cases, sizeof(cases) / sizeof(cases[0]), 2);
}

static void
test_no_rules(void)
{
	static const struct judge_case cases[] = {
	    {"192.0.2.1", "a@b.c", "r@s.t", NULL, "trap.example.net", 0, ""},
	};
	struct probe_config cfg;

	run_judge(NULL, 0, cases, 1, 10);
	probe_config_default(&cfg);
	CHECK(probe_config_add_default_rules(&cfg) && cfg.n_rules == 3);
}

void
test_probe(void)
{
	test_seen_lru();
	test_rule_syntax();
	test_mentions();
	test_judge();
	test_judge_memory_bound();
	test_no_rules();
}
