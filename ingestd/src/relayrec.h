/*
 * relayrec.h: relay decision records (relayctl.h) as binary COPY tuples
 * for spamlab.relay_decision, and an append-only file of them.
 *
 * The sink (pgsink.c) carries messages and sessions only.  Until it takes
 * a third record kind (the proposed addition is pgsink_add_relay(), using
 * relayrec_encode() and RELAYREC_COLUMNS with a staging table and INSERT
 * ... ON CONFLICT DO NOTHING like the others), decisions go to a file that
 * `\copy spamlab.relay_decision (RELAYREC_COLUMNS) FROM FILE (FORMAT
 * binary)` loads: a COPY header, then one tuple per record, appended with
 * one write(2) each (binary COPY accepts a file without the trailer).
 */
#ifndef SPAMLAB_RELAYREC_H
#define SPAMLAB_RELAYREC_H

#include <stdbool.h>

#include "relayctl.h"

struct copybuf;

#define RELAYREC_COLUMNS                                                       \
	"message_id, received_at, decided_at, sensor, peer_ip, rule, decision, "   \
	"cap, target, rcpt_to, attempts, final_code, final_reply, tls, "           \
	"delivered_at"
#define RELAYREC_FIELDS 15

/* One tuple; false on allocation failure (the buffer is then unusable). */
bool relayrec_encode(struct copybuf *b, const struct relay_decision_record *d)
    __attribute__((warn_unused_result));

/* Append one record to path (created with a COPY header); fsync when
 * durable.  False on any I/O error (errno set). */
bool relayrec_file_append(const char *path,
                          const struct relay_decision_record *d, bool durable)
    __attribute__((warn_unused_result));

#endif /* SPAMLAB_RELAYREC_H */
