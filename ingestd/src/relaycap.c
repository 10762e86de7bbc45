/*
 * relaycap.c: per-day probe caps in fixed memory.
 *
 * Per-peer and per-domain counts live in one open-addressing table of
 * (kind, key) -> count, reset when the UTC day changes.  Only successful
 * charges add entries, and each adds at most 1 + RELAYCAP_HARD_RCPT, so a
 * table of 2 * per_day * (1 + max_rcpt) slots can never fill.
 */
#include "relaycap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_MAX 256

struct slot
{
	bool used;
	char kind; /* 'p' peer, 'd' domain */
	unsigned count;
	char key[KEY_MAX];
};

struct relaycap
{
	struct relaycap_config cfg;
	bool killed;
	int64_t day; /* UTC day number of the counts */
	unsigned today;
	struct slot *slot;
	size_t nslots;
};

void
relaycap_config_default(struct relaycap_config *cfg)
{
	cfg->enabled = false;
	cfg->per_day = 50;
	cfg->per_peer = 3;
	cfg->per_domain = 5;
	cfg->max_rcpt = 3;
}

static unsigned
clamp(unsigned v, unsigned hi)
{
	return v > hi ? hi : v;
}

void
relaycap_config_clamp(struct relaycap_config *cfg)
{
	cfg->per_day = clamp(cfg->per_day, RELAYCAP_HARD_PER_DAY);
	cfg->per_peer = clamp(cfg->per_peer, RELAYCAP_HARD_PER_PEER);
	cfg->per_domain = clamp(cfg->per_domain, RELAYCAP_HARD_PER_DOMAIN);
	cfg->max_rcpt = clamp(cfg->max_rcpt, RELAYCAP_HARD_RCPT);
}

struct relaycap *
relaycap_new(const struct relaycap_config *cfg)
{
	struct relaycap *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cfg = *cfg;
	relaycap_config_clamp(&c->cfg);
	c->nslots = 2 * ((size_t)c->cfg.per_day + 1) * (1 + c->cfg.max_rcpt);
	c->slot = calloc(c->nslots, sizeof(*c->slot));
	if (c->slot == NULL)
	{
		free(c);
		return NULL;
	}
	c->day = -1;
	return c;
}

void
relaycap_free(struct relaycap *c)
{
	if (c == NULL)
		return;
	free(c->slot);
	free(c);
}

void
relaycap_kill(struct relaycap *c, bool on)
{
	c->killed = on;
}

unsigned
relaycap_today(const struct relaycap *c)
{
	return c->today;
}

const char *
relaycap_result_name(enum relaycap_result r)
{
	switch (r)
	{
		case RELAYCAP_OK:
			return "ok";
		case RELAYCAP_DISABLED:
			return "disabled";
		case RELAYCAP_KILLED:
			return "killed";
		case RELAYCAP_NO_RCPT:
			return "no-rcpt";
		case RELAYCAP_RCPT:
			return "cap-rcpt";
		case RELAYCAP_DAY:
			return "cap-day";
		case RELAYCAP_PEER:
			return "cap-peer";
		case RELAYCAP_DOMAIN:
			return "cap-domain";
	}
	return "unknown";
}

bool
relaycap_rcpt_domain(const char *addr, char *out, size_t outlen)
{
	const char *at, *end;
	size_t n;

	if (addr == NULL)
		return false;
	at = strrchr(addr, '@');
	if (at == NULL)
		return false;
	at++;
	end = at + strlen(at);
	while (end > at && (end[-1] == '>' || end[-1] == ' ' || end[-1] == '.'))
		end--;
	n = (size_t)(end - at);
	if (n == 0 || n >= outlen)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char ch = at[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '.' || ch == '[' || ch == ']' || ch == ':'))
			return false;
		out[i] = ch;
	}
	out[n] = '\0';
	return true;
}

static int64_t
utc_day(int64_t now)
{
	return now >= 0 ? now / 86400 : -1 - (-now - 1) / 86400;
}

static size_t
slot_hash(char kind, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (unsigned char)kind;

	for (const char *p = key; *p; p++)
	{
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

/* The slot for (kind, key), or the empty slot where it would go. */
static struct slot *
slot_find(struct relaycap *c, char kind, const char *key)
{
	size_t i = slot_hash(kind, key) % c->nslots;

	for (size_t probes = 0; probes < c->nslots; probes++)
	{
		struct slot *s = &c->slot[i];

		if (!s->used || (s->kind == kind && strcmp(s->key, key) == 0))
			return s;
		i = (i + 1) % c->nslots;
	}
	return NULL; /* cannot happen: see the sizing argument above */
}

static unsigned
slot_count(struct relaycap *c, char kind, const char *key)
{
	struct slot *s = slot_find(c, kind, key);

	return (s != NULL && s->used) ? s->count : 0;
}

static void
slot_add(struct relaycap *c, char kind, const char *key)
{
	struct slot *s = slot_find(c, kind, key);

	if (s == NULL)
		return;
	if (!s->used)
	{
		s->used = true;
		s->kind = kind;
		strncpy(s->key, key, KEY_MAX - 1);
		s->key[KEY_MAX - 1] = '\0';
		s->count = 0;
	}
	s->count++;
}

enum relaycap_result
relaycap_charge(struct relaycap *c, int64_t now, const char *peer_ip,
                const char *const *rcpt, size_t n_rcpt)
{
	char dom[RELAYCAP_HARD_RCPT][KEY_MAX];
	char peer[KEY_MAX];
	size_t nd = 0;
	int64_t day = utc_day(now);

	if (!c->cfg.enabled)
		return RELAYCAP_DISABLED;
	if (c->killed)
		return RELAYCAP_KILLED;
	if (n_rcpt == 0)
		return RELAYCAP_NO_RCPT;
	if (n_rcpt > c->cfg.max_rcpt)
		return RELAYCAP_RCPT;
	if (day != c->day)
	{
		memset(c->slot, 0, c->nslots * sizeof(*c->slot));
		c->day = day;
		c->today = 0;
	}
	if (c->today >= c->cfg.per_day)
		return RELAYCAP_DAY;
	strncpy(peer, peer_ip ? peer_ip : "", KEY_MAX - 1);
	peer[KEY_MAX - 1] = '\0';
	if (slot_count(c, 'p', peer) >= c->cfg.per_peer)
		return RELAYCAP_PEER;
	for (size_t i = 0; i < n_rcpt; i++)
	{
		char d[KEY_MAX];
		bool dup = false;

		if (!relaycap_rcpt_domain(rcpt[i], d, sizeof(d)))
			return RELAYCAP_NO_RCPT;
		for (size_t j = 0; j < nd; j++)
			dup |= strcmp(dom[j], d) == 0;
		if (dup)
			continue;
		if (slot_count(c, 'd', d) >= c->cfg.per_domain)
			return RELAYCAP_DOMAIN;
		memcpy(dom[nd++], d, sizeof(d));
	}
	/* every cap has room: charge them all */
	c->today++;
	slot_add(c, 'p', peer);
	for (size_t j = 0; j < nd; j++)
		slot_add(c, 'd', dom[j]);
	return RELAYCAP_OK;
}

/* Keys are IP addresses and domains: no blanks, no control characters. */
static bool
key_ok(const char *k)
{
	if (k[0] == '\0')
		return false;
	for (const char *p = k; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

bool
relaycap_save(const struct relaycap *c, const char *path)
{
	char tmp[4096];
	FILE *f;
	bool ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return false;
	f = fopen(tmp, "w");
	if (f == NULL)
		return false;
	fprintf(f, "spamlab-relaycap 1\nday %lld\ntoday %u\n", (long long)c->day,
	        c->today);
	for (size_t i = 0; i < c->nslots; i++)
		if (c->slot[i].used && key_ok(c->slot[i].key))
			fprintf(f, "%c %u %s\n", c->slot[i].kind, c->slot[i].count,
			        c->slot[i].key);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = (fclose(f) == 0) && ok;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	if (!ok)
		unlink(tmp);
	return ok;
}

bool
relaycap_load(struct relaycap *c, const char *path, int64_t now)
{
	FILE *f = fopen(path, "r");
	char line[KEY_MAX + 64], key[KEY_MAX];
	long long day;
	unsigned today, count;
	char kind;
	bool ok = false;

	if (f == NULL)
	{
		if (errno == ENOENT)
			return true;
		c->day = utc_day(now); /* fail closed, as below */
		c->today = c->cfg.per_day;
		return false;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "spamlab-relaycap 1\n") != 0 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "day %lld", &day) != 1 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "today %u", &today) != 1)
		goto out;
	memset(c->slot, 0, c->nslots * sizeof(*c->slot));
	c->day = utc_day(now);
	c->today = 0;
	if (day != c->day)
	{
		ok = true; /* another day's counts: today starts at zero */
		goto out;
	}
	c->today = today;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		struct slot *s;

		if (sscanf(line, "%c %u %255s", &kind, &count, key) != 3 ||
		    (kind != 'p' && kind != 'd'))
			goto out;
		s = slot_find(c, kind, key);
		if (s == NULL)
			goto out; /* more entries than this configuration holds */
		if (!s->used)
		{
			s->used = true;
			s->kind = kind;
			memcpy(s->key, key, strlen(key) + 1);
			s->count = 0;
		}
		s->count += count;
	}
	ok = true;
out:
	if (!ok)
	{
		/* unreadable: fail closed, as if the day's caps were used up */
		c->day = utc_day(now);
		c->today = c->cfg.per_day;
	}
	fclose(f);
	return ok;
}
