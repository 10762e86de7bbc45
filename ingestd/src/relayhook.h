/*
 * relayhook.h: where the SMTP daemon meets probe relaying (issue 6).
 *
 * Calls in the daemon: start after the spool is open, consider each
 * message when it has been handed to the spool (body still in memory),
 * release it when the spool says whether it is durable, and show it each
 * relay record the spool reader hands to the sink.  Everything else
 * (rules, caps, delivery, decision records) is in relayctl.c.  Inactive,
 * and free of cost, unless relay.enabled is on.
 */
#ifndef SPAMLAB_RELAYHOOK_H
#define SPAMLAB_RELAYHOOK_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "relayctl.h"

struct config;
struct session;

/* Set up from cfg->relay; false with a message on a bad setting. */
bool relay_hook_start(const struct config *cfg, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/*
 * SIGHUP: apply cfg->relay (relayctl_reconfigure(): the day's counts carry
 * over; deliveries running finish).  Turning relay.enabled off stops
 * judging new messages.  A bad setting is logged and changes nothing.
 */
void relay_hook_reload(const struct config *cfg);

/* A message of session s was handed to the spool: judge it (a probe the
 * caps allow is held until relay_hook_release()). */
void relay_hook_consider(struct session *s, const struct msg_record *m);

/* The spool fsync for message id finished (stored or not). */
void relay_hook_release(const struct uuid7 *id, bool stored);

/*
 * The spool reader handed a relay record (written by run) to the sink: a
 * SENDING row of an earlier run whose delivery never started gets its
 * INTERRUPTED version.
 */
void relay_hook_spooled(const struct relay_decision_record *d, uint64_t run);

/* Deliveries in progress (for draining). */
size_t relay_hook_pending(void);

/* Cancel deliveries (their records are written) and free. */
void relay_hook_stop(void);

#endif /* SPAMLAB_RELAYHOOK_H */
