/*
 * probe.h: decide, per accepted message, whether it is a spammer's relay
 * test ("probe"): the ordered, named rules of the relay.rule settings.
 *
 * A rule is a name and a list of conditions that must all hold:
 *
 *   relay.rule = NAME: COND [COND ...]
 *
 *   mentions-trap   the message (any header or the body) contains one of
 *                   the trap's own addresses or host names (relay.trap_name
 *                   settings, plus the local address the client connected
 *                   to), as a whole token
 *   new-peer        first message from this peer IP (within memory)
 *   new-sender      first message with this envelope sender (within memory)
 *   dropbox-rcpt    a recipient was a recipient of an earlier probe
 *   max-rcpt=N      at most N recipients (N >= 1)
 *   max-size=N      at most N bytes; k/M suffixes allowed (N >= 1)
 *
 * Rules are tried in the order configured; the first whose conditions all
 * hold decides "probe" and is recorded; when none does, the message is only
 * stored.  Memory of peers, senders and drop-box recipients is bounded (LRU,
 * see seen.h).  Whether a probe is then delivered is for the caps
 * (relaycap.h), not for this module.
 */
#ifndef SPAMLAB_PROBE_H
#define SPAMLAB_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_RULES_MAX      16
#define PROBE_NAME_MAX       32 /* rule name, NUL included */
#define PROBE_TRAP_NAMES_MAX 16
#define PROBE_TRAP_NAME_MAX  256

/* Condition bits of a rule. */
#define PROBE_COND_MENTIONS_TRAP 0x01u
#define PROBE_COND_NEW_PEER      0x02u
#define PROBE_COND_NEW_SENDER    0x04u
#define PROBE_COND_DROPBOX_RCPT  0x08u
#define PROBE_COND_MAX_RCPT      0x10u
#define PROBE_COND_MAX_SIZE      0x20u

struct probe_rule
{
	char name[PROBE_NAME_MAX];
	unsigned conds; /* PROBE_COND_* bits, never 0 */
	unsigned max_rcpt;
	size_t max_size;
};

struct probe_config
{
	struct probe_rule rules[PROBE_RULES_MAX];
	size_t n_rules;
	char trap_names[PROBE_TRAP_NAMES_MAX][PROBE_TRAP_NAME_MAX];
	size_t n_trap_names;
	size_t peer_memory;    /* peers and senders remembered: 65536 */
	size_t dropbox_memory; /* probe recipients remembered: 4096 */
};

/* No rules (nothing is a probe), no trap names, default memory sizes. */
void probe_config_default(struct probe_config *cfg);

/*
 * Parse "NAME: COND ..." and append it.  False with a message in err on a
 * syntax error, a duplicate name or too many rules.
 */
bool probe_config_add_rule(struct probe_config *cfg, const char *text,
                           char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Append one of the trap's own addresses or host names. */
bool probe_config_add_trap_name(struct probe_config *cfg, const char *name,
                                char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The recommended rule set (docs/relay.md explains each). */
bool probe_config_add_default_rules(struct probe_config *cfg)
    __attribute__((warn_unused_result));

/* Format a rule back into its config syntax. */
void probe_rule_format(const struct probe_rule *r, char *out, size_t outlen);

/* What the engine is told about one accepted message. */
struct probe_message
{
	const char *peer_ip;  /* text form, or NULL */
	const char *local_ip; /* the trap address connected to, or NULL */
	const char *mail_from;
	const char *const *rcpt;
	size_t n_rcpt;
	const uint8_t *raw;
	size_t raw_len;
};

struct probe_verdict
{
	bool probe;
	int rule;              /* index of the rule that fired, -1 if none */
	const char *rule_name; /* its name, "" if none */
};

struct probe_engine;

/* A new engine with a copy of cfg; NULL on allocation failure. */
struct probe_engine *probe_engine_new(const struct probe_config *cfg)
    __attribute__((warn_unused_result));
void probe_engine_free(struct probe_engine *e);

/*
 * Judge one message, then remember its peer and sender (and, when it is a
 * probe, its recipients as drop-boxes).  Never fails.
 */
void probe_engine_judge(struct probe_engine *e, const struct probe_message *m,
                        struct probe_verdict *out);

/* Does buf contain needle as a whole token (ASCII case-insensitive)? */
bool probe_mentions(const uint8_t *buf, size_t len, const char *needle);

#endif /* SPAMLAB_PROBE_H */
