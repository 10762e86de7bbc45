/*
 * relayctl.h: probe relaying inside the daemon: the settings (relay.* keys)
 * and the one call the accept path makes, relayctl_consider().
 *
 * For each accepted message: the rules (probe.h) judge it; a probe is
 * charged against the caps (relaycap.h); if they allow it, it is delivered
 * (relay.h), per recipient domain in MX mode.  Each outcome is reported as
 * a decision record (one per message and target, matching
 * spamlab.relay_decision) through the callback given to relayctl_new():
 * at once for probes not delivered, when the delivery ends otherwise.
 * Messages no rule picks produce no record.  The message itself was made
 * durable before; nothing here can lose or change it.
 */
#ifndef SPAMLAB_RELAYCTL_H
#define SPAMLAB_RELAYCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe.h"
#include "record.h"
#include "relay.h"
#include "relaycap.h"

struct event_base;

struct relayctl_settings
{
	struct probe_config probe;
	struct relaycap_config caps;
	struct relay_config relay; /* string fields point into the arrays below */
	char smarthost[256];
	char resolver[128];
	char helo_name[256];
	char kill_file[512];     /* the kill switch is on while this file exists */
	char decision_file[512]; /* optional extra copy of decision records */
	char state_file[512];    /* the caps' counts survive restarts here */
};

void relayctl_settings_default(struct relayctl_settings *s);

/*
 * Apply one setting (key with its "relay." prefix).  False with a message
 * in err for an unknown key or a bad value.  relay.rule and relay.trap_name
 * add one more each time.
 */
bool relayctl_settings_set(struct relayctl_settings *s, const char *key,
                           const char *value, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* After the last setting: the default rules if none were given. */
bool relayctl_settings_finish(struct relayctl_settings *s, char *err,
                              size_t errlen)
    __attribute__((warn_unused_result));

/* The i-th relay.* key and its default, as text (docs, --help, tests);
 * false past the last. */
bool relayctl_key(size_t i, const char **key, const char **dflt);

/*
 * Which version of a decision row a record is (sql/022_relay_status.sql):
 * a delivery's row is first recorded as SENDING when the caps allow it,
 * then as FINAL with the outcome; INTERRUPTED is written by the next start
 * for a delivery the daemon did not see end.  Refusals are FINAL at once.
 * Zero is FINAL, so a zeroed record is a final one.
 */
enum relay_status
{
	RELAY_STATUS_FINAL = 0,
	RELAY_STATUS_SENDING,
	RELAY_STATUS_INTERRUPTED,
};

/* "final", "sending", "interrupted". */
const char *relay_status_name(enum relay_status st);

/* One row of spamlab.relay_decision. */
struct relay_decision_record
{
	struct uuid7 message_id;
	int64_t received_at; /* Unix microseconds, the message's */
	int64_t decided_at;
	const char *sensor;
	const char *peer_ip;
	const char *rule;
	const char *decision; /* "relay", "disabled", "killed", "capped" */
	const char *cap;      /* relaycap_result_name() when capped, else NULL */
	const char *target;   /* domain or smarthost; NULL when not delivered */
	const char *const *rcpt;
	size_t n_rcpt;
	unsigned attempts;
	int final_code; /* 0 = NULL */
	const char *final_reply;
	const char *tls;
	int64_t delivered_at; /* 0 = NULL */
	enum relay_status status;
};

typedef void (*relayctl_record_fn)(void *arg,
                                   const struct relay_decision_record *d);

struct relayctl;

struct relayctl *
relayctl_new(struct event_base *base, const struct relayctl_settings *s,
             relayctl_record_fn record, void *arg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Judge one accepted (durable) message; local_ip is the trap address the
 * client connected to (or NULL).  The verdict goes to *out when not NULL.
 */
void relayctl_consider(struct relayctl *c, const struct msg_record *m,
                       const char *local_ip, struct probe_verdict *out);

/*
 * The same, for a message whose durability is not yet known (the spool
 * fsync is pending): a probe the caps allow is held (copied) and true is
 * returned; relayctl_release() then delivers it if the message was stored,
 * or drops it if not.  Refusals are recorded at once, as above.
 */
bool relayctl_consider_held(struct relayctl *c, const struct msg_record *m,
                            const char *local_ip, struct probe_verdict *out);
void relayctl_release(struct relayctl *c, const struct uuid7 *id, bool stored);

/* False when the state file could not be read (today's caps used up). */
bool relayctl_state_ok(const struct relayctl *c);

/* The kill switch (also on while relay.kill_file exists). */
void relayctl_kill(struct relayctl *c, bool on);

/* Deliveries in progress or waiting to retry (also frees clients that a
 * reconfiguration replaced once their last delivery ended). */
size_t relayctl_pending(struct relayctl *c);

/*
 * New settings, in place (SIGHUP): the rules (their memories restart only
 * if the rules, trap names or memory sizes changed), the caps with the
 * day's counts carried over through the state file, the kill file, and a
 * new delivery client if any delivery setting changed (deliveries already
 * running finish with the old one).  False with a message in err: nothing
 * changed.  With caps.enabled off, probes are refused as "disabled".
 */
bool relayctl_reconfigure(struct relayctl *c, const struct relayctl_settings *s,
                          char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Counters for /metrics. */
struct relayctl_stats
{
	uint64_t judged, probes, relayed, delivered, failed, refused[8];
	uint64_t state_errors; /* the caps' state file could not be saved */
};
void relayctl_get_stats(const struct relayctl *c, struct relayctl_stats *out);

/* Cancel deliveries in flight (each reports its record) and free. */
void relayctl_free(struct relayctl *c);

#endif /* SPAMLAB_RELAYCTL_H */
