/*
 * relaycap.h: the hard caps on probe delivery.  Every probe the rules
 * select must pass here before relay.c may send it anywhere.
 *
 * Caps are per UTC day: probes in total, per peer IP, per recipient domain,
 * and recipients per probe.  Configured values are clamped to compiled-in
 * ceilings (RELAYCAP_HARD_*), so no configuration or input can exceed them.
 * Relaying is off unless enabled; the kill switch stops it at once.  A
 * probe is charged all-or-nothing: when any cap would be exceeded nothing is
 * counted and nothing may be sent.  Memory is fixed at creation; the
 * counts can be saved to a file after each charge and loaded at start, so a
 * restart does not reset the day.
 */
#ifndef SPAMLAB_RELAYCAP_H
#define SPAMLAB_RELAYCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAYCAP_HARD_PER_DAY    1000 /* probes per UTC day, in total */
#define RELAYCAP_HARD_PER_PEER   50   /* per peer IP and day */
#define RELAYCAP_HARD_PER_DOMAIN 100  /* per recipient domain and day */
#define RELAYCAP_HARD_RCPT       5    /* recipients of one probe */

struct relaycap_config
{
	bool enabled;        /* relay.enabled: false */
	unsigned per_day;    /* relay.max_per_day: 50 */
	unsigned per_peer;   /* relay.max_per_peer: 3 */
	unsigned per_domain; /* relay.max_per_domain: 5 */
	unsigned max_rcpt;   /* relay.max_rcpt: 3 */
};

enum relaycap_result
{
	RELAYCAP_OK,       /* charged: the probe may be sent */
	RELAYCAP_DISABLED, /* relay.enabled is false */
	RELAYCAP_KILLED,   /* the kill switch is on */
	RELAYCAP_NO_RCPT,  /* no usable recipient domain */
	RELAYCAP_RCPT,     /* too many recipients */
	RELAYCAP_DAY,      /* daily total reached */
	RELAYCAP_PEER,     /* this peer's daily share reached */
	RELAYCAP_DOMAIN,   /* a recipient domain's daily share reached */
};

void relaycap_config_default(struct relaycap_config *cfg);

/* Clamp cfg's values into [0, ceiling] in place (what relaycap_new uses). */
void relaycap_config_clamp(struct relaycap_config *cfg);

struct relaycap;

struct relaycap *relaycap_new(const struct relaycap_config *cfg)
    __attribute__((warn_unused_result));
void relaycap_free(struct relaycap *c);

/* Turn the kill switch on or off. */
void relaycap_kill(struct relaycap *c, bool on);

/*
 * May a probe from peer_ip to these recipients be sent at time now (Unix
 * seconds)?  Recipients are addresses; their domain part (lower-cased)
 * counts.  On RELAYCAP_OK the probe is counted against every cap.
 */
enum relaycap_result relaycap_charge(struct relaycap *c, int64_t now,
                                     const char *peer_ip,
                                     const char *const *rcpt, size_t n_rcpt)
    __attribute__((warn_unused_result));

/*
 * Keep the day's counts across restarts: save writes them to path
 * atomically (temporary file, fsync, rename); load reads them back if they
 * are for the UTC day of `now` (a missing file is fine: nothing charged).
 * False on an I/O error or a malformed file (nothing loaded then).
 */
bool relaycap_save(const struct relaycap *c, const char *path)
    __attribute__((warn_unused_result));
bool relaycap_load(struct relaycap *c, const char *path, int64_t now)
    __attribute__((warn_unused_result));

/* Probes charged today (as of the last charge). */
unsigned relaycap_today(const struct relaycap *c);

/* A short name for SQL and logs: "ok", "disabled", "cap-day", ... */
const char *relaycap_result_name(enum relaycap_result r);

/* The domain of an address ("<a@B.org>" -> "b.org"), lower-cased into out;
 * false if there is none or it does not fit. */
bool relaycap_rcpt_domain(const char *addr, char *out, size_t outlen);

#endif /* SPAMLAB_RELAYCAP_H */
