/*
 * relayrec.h: relay decision records (relayctl.h) as binary COPY tuples
 * for spamlab.relay_decision, and an append-only file of them.
 *
 * The daemon spools decisions and sends them to PostgreSQL through the
 * sink (pgsink_add_relay(), which stages relayrec_encode() tuples and
 * upserts RELAYREC_COLUMNS: a later version of a row, by status rank,
 * replaces the outcome columns of an earlier one; anything else is a
 * no-op).  The file is an optional
 * extra copy (relay.decision_file) and the output of `ingestd relay-send`:
 * a COPY header, then one tuple per record, appended with one write(2)
 * each (binary COPY accepts a file without the trailer), loadable with
 * `\copy ... FROM FILE (FORMAT binary)`.
 */
#ifndef SPAMLAB_RELAYREC_H
#define SPAMLAB_RELAYREC_H

#include <stdbool.h>

#include "relayctl.h"

struct copybuf;

#define RELAYREC_COLUMNS                                                       \
	"message_id, received_at, decided_at, sensor, peer_ip, rule, decision, "   \
	"cap, target, rcpt_to, attempts, final_code, final_reply, tls, "           \
	"delivered_at, status"
#define RELAYREC_FIELDS 16

/* One tuple; false on allocation failure (the buffer is then unusable). */
bool relayrec_encode(struct copybuf *b, const struct relay_decision_record *d)
    __attribute__((warn_unused_result));

/* Append one record to path (created with a COPY header); fsync when
 * durable.  False on any I/O error (errno set). */
bool relayrec_file_append(const char *path,
                          const struct relay_decision_record *d, bool durable)
    __attribute__((warn_unused_result));

#endif /* SPAMLAB_RELAYREC_H */
