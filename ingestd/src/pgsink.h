/*
 * pgsink.h: a PostgreSQL sink for messages, SMTP sessions and probe-relay
 * decisions, driven by the caller's libevent loop with non-blocking libpq.
 *
 * Records are encoded (copied) when added and queued in memory.  A batch,
 * bounded by rows and bytes, goes out as binary COPY into TEMP staging
 * tables followed by INSERT ... SELECT ... ON CONFLICT DO NOTHING, all in
 * one transaction, so a replayed record (same key) is a no-op.  Each
 * record's done callback runs only after the transaction holding it
 * COMMITTED (the daemon deletes the spool file then), or once the database
 * refused that record on its own (REJECTED: isolated by retrying the failed
 * batch row by row, logged and counted).
 *
 * PostgreSQL unreachable: records stay queued, the sink reconnects with
 * exponential backoff; the caller applies backpressure by watching
 * pgsink_pending_bytes() (stop reading clients above a high-water mark).
 *
 * Connection handling follows pg_cron's shape: a bad connection is "not
 * ready", the state machine advances on each socket event, and PQsocket()
 * is re-read after each step (it changes across PQconnectPoll()).
 */
#ifndef SPAMLAB_PGSINK_H
#define SPAMLAB_PGSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct event_base;
struct pgsink;
struct relay_decision_record;

/* Tunables; pgsink_config_default() fills the defaults shown. */
struct pgsink_config
{
	size_t batch_rows;            /* 1000: records per transaction */
	size_t batch_bytes;           /* 8 MiB: encoded bytes per transaction */
	unsigned flush_ms;            /* 200: max wait for a batch to fill */
	unsigned backoff_min_ms;      /* 100: first reconnect/retry delay */
	unsigned backoff_max_ms;      /* 30000: cap of the doubling delay */
	unsigned max_attempts;        /* 0: consecutive failed attempts (connect or
	                             batch) before the sink gives up and fails
	                             (0 = never: the daemon's setting) */
	bool direct_copy;             /* true: COPY messages straight into
	                                 spamlab.message while no replay is seen
	                                 (a unique violation sends the batch, and
	                                 the next 16, through the staging table) */
	bool ensure_partitions;       /* true: call ensure_message_partitions() for
	                             each new month seen (cached per sink) */
	int partition_min_year;       /* 1990: months outside [min year, now + 1
	                             month] stay in the default partition */
	const char *application_name; /* "ingestd" */
};

enum pgsink_status
{
	PGSINK_COMMITTED, /* the transaction with this record committed
	                     (inserted, or already there: a replay) */
	PGSINK_REJECTED,  /* the database refused this record alone (data or
	                     constraint error); logged; will never succeed */
	PGSINK_CANCELLED, /* the sink was freed before the record went out */
};

/* Called once per record, from the event loop. */
typedef void (*pgsink_done_fn)(void *arg, enum pgsink_status status);

/* Counters for /metrics and the import summary; monotonic. */
struct pgsink_stats
{
	uint64_t records_committed; /* records in committed transactions */
	uint64_t rows_inserted;     /* message, session, relay rows actually new */
	uint64_t messages_inserted; /* spamlab.message rows actually new */
	uint64_t records_rejected;  /* isolated bad records */
	uint64_t batches;           /* committed transactions */
	uint64_t batches_direct;    /* of which COPYed rows straight into tables */
	uint64_t batch_errors;      /* failed transactions (any cause) */
	uint64_t connect_errors;    /* failed connection attempts */
	uint64_t bytes_committed;   /* encoded bytes of committed records */
	size_t pending_records;     /* queued + in flight */
	size_t pending_bytes;
	double lag_seconds; /* age of the oldest pending record */
	bool connected;
	bool failed; /* gave up (max_attempts reached) */
};

void pgsink_config_default(struct pgsink_config *cfg);

/*
 * A new sink on `base`; connects lazily (at once, in the background).
 * conninfo is a libpq connection string ("" = PG* environment).  The sink
 * copies conninfo and cfg.  NULL on allocation failure.
 */
struct pgsink *pgsink_new(struct event_base *base, const char *conninfo,
                          const struct pgsink_config *cfg)
    __attribute__((warn_unused_result));

/*
 * Queue one record.  The sink copies what it needs before returning (see
 * record.h).  done(arg, status) is called exactly once, later, from the
 * loop; done may be NULL.  False (nothing queued, done not called) on
 * allocation failure, an invalid record (missing raw/source), or after the
 * sink failed.
 */
bool pgsink_add_message(struct pgsink *sink, const struct msg_record *msg,
                        pgsink_done_fn done, void *arg)
    __attribute__((warn_unused_result));
bool pgsink_add_session(struct pgsink *sink, const struct session_record *ses,
                        pgsink_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/*
 * The same for a probe-relay decision (relayctl.h), into
 * spamlab.relay_decision; the key is (message_id, target), so a replayed
 * decision is a no-op.  False also when rule or decision is missing.
 */
bool pgsink_add_relay(struct pgsink *sink,
                      const struct relay_decision_record *d,
                      pgsink_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/* Encoded bytes queued or in flight: the backpressure signal. */
size_t pgsink_pending_bytes(const struct pgsink *sink);

/* Records queued or in flight. */
size_t pgsink_pending_records(const struct pgsink *sink);

/* Send what is queued now, without waiting for the flush timer. */
void pgsink_flush(struct pgsink *sink);

/* Draining: no flush delay any more; pgsink_idle() says when all is out. */
void pgsink_drain(struct pgsink *sink);
bool pgsink_idle(const struct pgsink *sink);

/* True once the sink gave up (max_attempts); pending records stay. */
bool pgsink_failed(const struct pgsink *sink);

/* Last error text (connection or SQL), "" if none. */
const char *pgsink_last_error(const struct pgsink *sink);

void pgsink_get_stats(const struct pgsink *sink, struct pgsink_stats *out);

/*
 * Blocking helpers for `ingestd import` (and tests): run the event loop
 * until pending bytes fall to `bytes` or less, or the sink failed.
 * pgsink_wait_idle() waits for everything (flushes first).  True on
 * success, false when the sink failed.
 */
bool pgsink_wait_below(struct pgsink *sink, size_t bytes);
bool pgsink_wait_idle(struct pgsink *sink);

/*
 * Free the sink: closes the connection; queued records' done callbacks get
 * PGSINK_CANCELLED (drain first to avoid that).
 */
void pgsink_free(struct pgsink *sink);

#endif /* SPAMLAB_PGSINK_H */
