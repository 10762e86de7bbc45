/*
 * probe.c: the relay-test rules engine (see probe.h for the rule syntax).
 */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seen.h"

#define PROBE_MEMORY_MAX SEEN_CAPACITY_MAX

struct probe_engine
{
	struct probe_config cfg;
	struct seen *peers;
	struct seen *senders;
	struct seen *dropbox;
};

static const struct
{
	const char *word;
	unsigned bit;
} cond_words[] = {
    {"mentions-trap", PROBE_COND_MENTIONS_TRAP},
    {"new-peer", PROBE_COND_NEW_PEER},
    {"new-sender", PROBE_COND_NEW_SENDER},
    {"dropbox-rcpt", PROBE_COND_DROPBOX_RCPT},
};

void
probe_config_default(struct probe_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->peer_memory = 65536;
	cfg->dropbox_memory = 4096;
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse a positive decimal with an optional k or M suffix. */
static bool
parse_count(const char *s, size_t n, size_t *out)
{
	size_t v = 0, mult = 1;

	if (n > 0 && (s[n - 1] == 'k' || s[n - 1] == 'K'))
		mult = 1024, n--;
	else if (n > 0 && s[n - 1] == 'M')
		mult = 1024 * 1024, n--;
	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	if (v == 0)
		return false;
	*out = v * mult;
	return true;
}

static bool
parse_cond(struct probe_rule *r, const char *w, size_t n, char *err,
           size_t errlen)
{
	size_t v;

	for (size_t i = 0; i < sizeof(cond_words) / sizeof(cond_words[0]); i++)
		if (strlen(cond_words[i].word) == n &&
		    memcmp(cond_words[i].word, w, n) == 0)
		{
			r->conds |= cond_words[i].bit;
			return true;
		}
	if (n > 9 && memcmp(w, "max-rcpt=", 9) == 0)
	{
		if (!parse_count(w + 9, n - 9, &v) || v > 100000)
			goto bad_value;
		r->conds |= PROBE_COND_MAX_RCPT;
		r->max_rcpt = (unsigned)v;
		return true;
	}
	if (n > 9 && memcmp(w, "max-size=", 9) == 0)
	{
		if (!parse_count(w + 9, n - 9, &v))
			goto bad_value;
		r->conds |= PROBE_COND_MAX_SIZE;
		r->max_size = v;
		return true;
	}
	snprintf(err, errlen, "rule %s: unknown condition \"%.*s\"", r->name,
	         (int)(n > 40 ? 40 : n), w);
	return false;
bad_value:
	snprintf(err, errlen, "rule %s: bad number in \"%.*s\"", r->name,
	         (int)(n > 40 ? 40 : n), w);
	return false;
}

bool
probe_config_add_rule(struct probe_config *cfg, const char *text, char *err,
                      size_t errlen)
{
	struct probe_rule r;
	const char *p = text, *colon;
	size_t n;

	memset(&r, 0, sizeof(r));
	while (is_space(*p))
		p++;
	colon = strchr(p, ':');
	if (colon == NULL)
	{
		snprintf(err, errlen, "rule needs \"NAME: CONDITION ...\"");
		return false;
	}
	n = (size_t)(colon - p);
	if (n == 0 || n >= PROBE_NAME_MAX)
	{
		snprintf(err, errlen, "rule name must be 1 to %d characters",
		         PROBE_NAME_MAX - 1);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
		      p[i] == '-' || p[i] == '_'))
		{
			snprintf(err, errlen,
			         "rule name may hold only a-z, 0-9, - and _: \"%.*s\"",
			         (int)n, p);
			return false;
		}
	memcpy(r.name, p, n);
	for (size_t i = 0; i < cfg->n_rules; i++)
		if (strcmp(cfg->rules[i].name, r.name) == 0)
		{
			snprintf(err, errlen, "rule %s defined twice", r.name);
			return false;
		}
	if (cfg->n_rules >= PROBE_RULES_MAX)
	{
		snprintf(err, errlen, "more than %d rules", PROBE_RULES_MAX);
		return false;
	}
	p = colon + 1;
	for (;;)
	{
		const char *w;

		while (is_space(*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		w = p;
		while (*p != '\0' && !is_space(*p))
			p++;
		if (!parse_cond(&r, w, (size_t)(p - w), err, errlen))
			return false;
	}
	if (r.conds == 0)
	{
		snprintf(err, errlen, "rule %s has no condition", r.name);
		return false;
	}
	cfg->rules[cfg->n_rules++] = r;
	return true;
}

bool
probe_config_add_trap_name(struct probe_config *cfg, const char *name,
                           char *err, size_t errlen)
{
	size_t n = strlen(name);

	if (n < 3 || n >= PROBE_TRAP_NAME_MAX)
	{
		snprintf(err, errlen, "trap name must be 3 to %d characters",
		         PROBE_TRAP_NAME_MAX - 1);
		return false;
	}
	if (cfg->n_trap_names >= PROBE_TRAP_NAMES_MAX)
	{
		snprintf(err, errlen, "more than %d trap names", PROBE_TRAP_NAMES_MAX);
		return false;
	}
	memcpy(cfg->trap_names[cfg->n_trap_names++], name, n + 1);
	return true;
}

bool
probe_config_add_default_rules(struct probe_config *cfg)
{
	static const char *const defaults[] = {
	    "self-mention: mentions-trap max-rcpt=5",
	    "dropbox: dropbox-rcpt max-rcpt=5",
	    "first-peer: new-peer max-rcpt=3 max-size=64k",
	};
	char err[128];

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!probe_config_add_rule(cfg, defaults[i], err, sizeof(err)))
			return false;
	return true;
}

void
probe_rule_format(const struct probe_rule *r, char *out, size_t outlen)
{
	size_t used;

	snprintf(out, outlen, "%s:", r->name);
	for (size_t i = 0; i < sizeof(cond_words) / sizeof(cond_words[0]); i++)
		if (r->conds & cond_words[i].bit)
		{
			used = strlen(out);
			snprintf(out + used, outlen - used, " %s", cond_words[i].word);
		}
	used = strlen(out);
	if (r->conds & PROBE_COND_MAX_RCPT)
		snprintf(out + used, outlen - used, " max-rcpt=%u", r->max_rcpt);
	used = strlen(out);
	if (r->conds & PROBE_COND_MAX_SIZE)
		snprintf(out + used, outlen - used, " max-size=%zu", r->max_size);
}

struct probe_engine *
probe_engine_new(const struct probe_config *cfg)
{
	struct probe_engine *e = calloc(1, sizeof(*e));
	size_t pm = cfg->peer_memory, dm = cfg->dropbox_memory;

	if (e == NULL)
		return NULL;
	e->cfg = *cfg;
	if (pm < 1)
		pm = 1;
	if (pm > PROBE_MEMORY_MAX)
		pm = PROBE_MEMORY_MAX;
	if (dm < 1)
		dm = 1;
	if (dm > PROBE_MEMORY_MAX)
		dm = PROBE_MEMORY_MAX;
	e->peers = seen_new(pm, 0);
	e->senders = seen_new(pm, 0);
	e->dropbox = seen_new(dm, 0);
	if (e->peers == NULL || e->senders == NULL || e->dropbox == NULL)
	{
		probe_engine_free(e);
		return NULL;
	}
	return e;
}

void
probe_engine_free(struct probe_engine *e)
{
	if (e == NULL)
		return;
	seen_free(e->peers);
	seen_free(e->senders);
	seen_free(e->dropbox);
	free(e);
}

static bool
token_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Does the needle (n bytes, matched case-insensitively) start at p, as a
 * whole token of buf? */
static bool
token_at(const uint8_t *buf, size_t len, size_t i, const char *needle, size_t n)
{
	for (size_t j = 1; j < n; j++)
		if (lower(buf[i + j]) != lower((unsigned char)needle[j]))
			return false;
	/* a whole token: not inside a longer name or number */
	if (i > 0 && (token_char(buf[i - 1]) || buf[i - 1] == '.'))
		return false;
	if (i + n < len)
	{
		uint8_t c = buf[i + n];

		if (token_char(c))
			return false;
		if (c == '.' && i + n + 1 < len && token_char(buf[i + n + 1]))
			return false;
	}
	return true;
}

bool
probe_mentions(const uint8_t *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	int lo, up;
	const uint8_t *pl = NULL, *pu = NULL, *end;

	if (n == 0 || buf == NULL || len < n)
		return false;
	lo = lower((unsigned char)needle[0]);
	up = (lo >= 'a' && lo <= 'z') ? lo - 'a' + 'A' : lo;
	end = buf + (len - n + 1); /* candidate starts are below end */
	/* memchr for the first byte, in either case: most bytes are skipped
	   without a compare */
	pl = memchr(buf, lo, (size_t)(end - buf));
	pu = up != lo ? memchr(buf, up, (size_t)(end - buf)) : NULL;
	while (pl != NULL || pu != NULL)
	{
		const uint8_t *p = (pu == NULL || (pl != NULL && pl < pu)) ? pl : pu;

		if (token_at(buf, len, (size_t)(p - buf), needle, n))
			return true;
		if (p == pl)
			pl = p + 1 < end ? memchr(p + 1, lo, (size_t)(end - p - 1)) : NULL;
		else
			pu = p + 1 < end ? memchr(p + 1, up, (size_t)(end - p - 1)) : NULL;
	}
	return false;
}

static bool
mentions_trap(const struct probe_engine *e, const struct probe_message *m)
{
	for (size_t i = 0; i < e->cfg.n_trap_names; i++)
		if (probe_mentions(m->raw, m->raw_len, e->cfg.trap_names[i]))
			return true;
	if (m->local_ip != NULL && strlen(m->local_ip) >= 3 &&
	    probe_mentions(m->raw, m->raw_len, m->local_ip))
		return true;
	return false;
}

static bool
rcpt_in_dropbox(const struct probe_engine *e, const struct probe_message *m)
{
	for (size_t i = 0; i < m->n_rcpt; i++)
		if (m->rcpt[i] != NULL &&
		    seen_contains(e->dropbox, m->rcpt[i], strlen(m->rcpt[i])))
			return true;
	return false;
}

void
probe_engine_judge(struct probe_engine *e, const struct probe_message *m,
                   struct probe_verdict *out)
{
	const char *peer = m->peer_ip ? m->peer_ip : "";
	const char *from = m->mail_from ? m->mail_from : "";
	bool new_peer = !seen_contains(e->peers, peer, strlen(peer));
	bool new_sender = !seen_contains(e->senders, from, strlen(from));
	int mention = -1, dropbox = -1; /* computed lazily: -1 = not yet */

	out->probe = false;
	out->rule = -1;
	out->rule_name = "";
	for (size_t i = 0; i < e->cfg.n_rules; i++)
	{
		const struct probe_rule *r = &e->cfg.rules[i];

		if ((r->conds & PROBE_COND_NEW_PEER) && !new_peer)
			continue;
		if ((r->conds & PROBE_COND_NEW_SENDER) && !new_sender)
			continue;
		if ((r->conds & PROBE_COND_MAX_RCPT) && m->n_rcpt > r->max_rcpt)
			continue;
		if ((r->conds & PROBE_COND_MAX_SIZE) && m->raw_len > r->max_size)
			continue;
		if (r->conds & PROBE_COND_DROPBOX_RCPT)
		{
			if (dropbox < 0)
				dropbox = rcpt_in_dropbox(e, m);
			if (!dropbox)
				continue;
		}
		if (r->conds & PROBE_COND_MENTIONS_TRAP)
		{
			if (mention < 0)
				mention = mentions_trap(e, m);
			if (!mention)
				continue;
		}
		out->probe = true;
		out->rule = (int)i;
		out->rule_name = r->name;
		break;
	}
	(void)seen_touch(e->peers, peer, strlen(peer));
	(void)seen_touch(e->senders, from, strlen(from));
	if (out->probe)
		for (size_t i = 0; i < m->n_rcpt; i++)
			if (m->rcpt[i] != NULL)
				(void)seen_touch(e->dropbox, m->rcpt[i], strlen(m->rcpt[i]));
}
