/*
 * test_relaycap.c: the probe caps hold whatever the configuration and the
 * flood of probes: off by default, kill switch, per day / peer / domain,
 * recipients per probe, all-or-nothing charging, a new day resets.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relaycap.h"
#include "unit.h"

#define DAY 86400

static void
test_defaults_and_domains(void)
{
	struct relaycap_config cfg;
	struct relaycap *c;
	const char *r[] = {"a@b.test"};
	char d[64];

	relaycap_config_default(&cfg);
	CHECK(!cfg.enabled);
	c = relaycap_new(&cfg);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(relaycap_charge(c, 100, "192.0.2.1", r, 1) == RELAYCAP_DISABLED);
	relaycap_free(c);

	CHECK(relaycap_rcpt_domain("<User@Example.ORG>", d, sizeof(d)) &&
	      strcmp(d, "example.org") == 0);
	CHECK(relaycap_rcpt_domain("x@[192.0.2.1]", d, sizeof(d)));
	CHECK(!relaycap_rcpt_domain("nodomain", d, sizeof(d)));
	CHECK(!relaycap_rcpt_domain("a@", d, sizeof(d)));
	CHECK(!relaycap_rcpt_domain("a@b c", d, sizeof(d)));
	CHECK(!relaycap_rcpt_domain("a@waytoolongforthisbuffer.example", d, 8));
	CHECK(strcmp(relaycap_result_name(RELAYCAP_DOMAIN), "cap-domain") == 0);
}

static void
test_clamp(void)
{
	struct relaycap_config cfg = {true, 100000, 100000, 100000, 100000};

	relaycap_config_clamp(&cfg);
	CHECK(cfg.per_day == RELAYCAP_HARD_PER_DAY);
	CHECK(cfg.per_peer == RELAYCAP_HARD_PER_PEER);
	CHECK(cfg.per_domain == RELAYCAP_HARD_PER_DOMAIN);
	CHECK(cfg.max_rcpt == RELAYCAP_HARD_RCPT);
}

static void
test_caps(void)
{
	struct relaycap_config cfg = {true, 5, 2, 3, 2};
	struct relaycap *c = relaycap_new(&cfg);
	const char *one[] = {"x@a.test"};
	const char *two_same[] = {"x@a.test", "y@A.TEST"};
	const char *three[] = {"x@a.test", "y@b.test", "z@c.test"};
	const char *mixed[] = {"x@b.test", "bad"};
	const char *bt[] = {"x@b.test"}, *ct[] = {"x@c.test"}, *dt[] = {"x@d.test"};
	int64_t t = 20000 * (int64_t)DAY + 5;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(relaycap_charge(c, t, "p1", three, 3) == RELAYCAP_RCPT);
	CHECK(relaycap_charge(c, t, "p1", one, 0) == RELAYCAP_NO_RCPT);
	CHECK(relaycap_charge(c, t, "p1", mixed, 2) == RELAYCAP_NO_RCPT);
	/* nothing was charged by the refusals above */
	CHECK(relaycap_today(c) == 0);
	CHECK(relaycap_charge(c, t, "p1", one, 1) == RELAYCAP_OK);
	/* two addresses of one domain count once for the domain */
	CHECK(relaycap_charge(c, t, "p2", two_same, 2) == RELAYCAP_OK);
	CHECK(relaycap_charge(c, t, "p3", one, 1) == RELAYCAP_OK);
	/* a.test has had 3: its cap */
	CHECK(relaycap_charge(c, t, "p4", one, 1) == RELAYCAP_DOMAIN);
	CHECK(relaycap_charge(c, t, "p1", bt, 1) == RELAYCAP_OK);
	/* p1 has had 2: its cap */
	CHECK(relaycap_charge(c, t, "p1", ct, 1) == RELAYCAP_PEER);
	CHECK(relaycap_charge(c, t, "p5", ct, 1) == RELAYCAP_OK);
	CHECK(relaycap_today(c) == 5);
	/* the day's total is reached */
	CHECK(relaycap_charge(c, t, "p6", dt, 1) == RELAYCAP_DAY);
	/* the kill switch beats everything, and can be turned off */
	relaycap_kill(c, true);
	CHECK(relaycap_charge(c, t + DAY, "p6", dt, 1) == RELAYCAP_KILLED);
	relaycap_kill(c, false);
	/* a new UTC day starts from zero */
	CHECK(relaycap_charge(c, t + DAY, "p1", one, 1) == RELAYCAP_OK);
	CHECK(relaycap_today(c) == 1);
	relaycap_free(c);
}

/* A flood of probe-like messages from many peers to many domains, with
 * configured caps far above the ceilings: the ceilings hold. */
static void
test_flood(void)
{
	struct relaycap_config cfg = {true, 999999, 999999, 999999, 999999};
	struct relaycap *c = relaycap_new(&cfg);
	unsigned ok = 0, per_peer[10] = {0}, per_dom[7] = {0};
	int64_t t = 20001 * (int64_t)DAY;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (int i = 0; i < 200000; i++)
	{
		char peer[32], a[64], b[64];
		const char *r[2] = {a, b};
		int p = i % 10, d = (i / 10) % 7;

		snprintf(peer, sizeof(peer), "10.0.0.%d", p);
		snprintf(a, sizeof(a), "u%d@d%d.test", i, d);
		snprintf(b, sizeof(b), "v%d@d%d.test", i, d);
		if (relaycap_charge(c, t + i / 10, peer, r, 2) == RELAYCAP_OK)
		{
			ok++;
			per_peer[p]++;
			per_dom[d]++;
		}
	}
	CHECK(ok <= RELAYCAP_HARD_PER_DAY);
	for (int p = 0; p < 10; p++)
		CHECK(per_peer[p] <= RELAYCAP_HARD_PER_PEER);
	for (int d = 0; d < 7; d++)
		CHECK(per_dom[d] <= RELAYCAP_HARD_PER_DOMAIN);
	/* 10 peers x 50 = 500 would pass the peer cap; domains allow 700 */
	CHECK_MSG(ok == 500, "flood let %u probes through", ok);
	relaycap_free(c);
}

/* The day's counts survive a restart through the state file; another
 * day's file is ignored; a damaged file fails closed. */
static void
test_state_file(void)
{
	struct relaycap_config cfg = {true, 3, 2, 5, 2};
	struct relaycap *a = relaycap_new(&cfg), *b = relaycap_new(&cfg);
	const char *one[] = {"x@a.test"};
	int64_t t = 20002 * (int64_t)DAY + 100;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/relaycap-test.%d", (int)getpid());
	unlink(path);
	CHECK(a && b);
	if (!a || !b)
		return;
	CHECK(relaycap_load(b, path, t)); /* no file: nothing charged */
	CHECK(relaycap_charge(a, t, "p1", one, 1) == RELAYCAP_OK);
	CHECK(relaycap_charge(a, t, "p1", one, 1) == RELAYCAP_OK);
	CHECK(relaycap_save(a, path));
	/* "restarted": b knows p1 had 2 and the day had 2 */
	CHECK(relaycap_load(b, path, t + 60));
	CHECK(relaycap_today(b) == 2);
	CHECK(relaycap_charge(b, t + 60, "p1", one, 1) == RELAYCAP_PEER);
	CHECK(relaycap_charge(b, t + 60, "p2", one, 1) == RELAYCAP_OK);
	CHECK(relaycap_charge(b, t + 60, "p3", one, 1) == RELAYCAP_DAY);
	/* the next day the file counts for nothing */
	CHECK(relaycap_load(b, path, t + DAY));
	CHECK(relaycap_today(b) == 0);
	CHECK(relaycap_charge(b, t + DAY, "p1", one, 1) == RELAYCAP_OK);
	/* damaged: refused, and today counts as used up */
	f = fopen(path, "w");
	if (f)
	{
		fputs("spamlab-relaycap 1\nday x\n", f);
		fclose(f);
	}
	CHECK(!relaycap_load(b, path, t));
	CHECK(relaycap_charge(b, t, "p9", one, 1) == RELAYCAP_DAY);
	unlink(path);
	relaycap_free(a);
	relaycap_free(b);
}

void
test_relaycap(void)
{
	test_defaults_and_domains();
	test_clamp();
	test_caps();
	test_flood();
	test_state_file();
}
