/*
 * metrics.h: counters and gauges, served as Prometheus text on a local
 * HTTP port (evhttp).  Updated from the event-loop thread only.
 */
#ifndef SPAMLAB_METRICS_H
#define SPAMLAB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;

/* Counters: only ever grow.  Keep in step with the table in metrics.c. */
enum metric_counter
{
	M_SESSIONS,
	M_MESSAGES,
	M_MESSAGE_BYTES,
	M_RECIPIENTS,
	M_COMMANDS,
	M_TLS_HANDSHAKES,
	M_AUTH_ATTEMPTS,
	M_REFUSED_MAX_SESSIONS,
	M_REFUSED_MAX_SESSIONS_PER_IP,
	M_REFUSED_DRAINING,
	M_LIMIT_MESSAGE_SIZE,
	M_LIMIT_RECIPIENTS,
	M_LIMIT_LINE_LENGTH,
	M_LIMIT_DATA_LINE_LENGTH,
	M_LIMIT_COMMAND_TIMEOUT,
	M_LIMIT_DATA_TIMEOUT,
	M_LIMIT_ERRORS,
	M_LIMIT_COMMANDS_PER_WAKEUP,
	M_BACKPRESSURE_PAUSES,
	M_BAD_COMMANDS,
	M_BAD_SEQUENCE,
	M_SPOOL_ERRORS,
	M_SPOOL_FSYNCS,
	M_SPOOL_RECORDS,
	M_SINK_ROWS_COMMITTED,
	M_DISCONNECT_QUIT,
	M_DISCONNECT_CLIENT,
	M_DISCONNECT_TIMEOUT,
	M_DISCONNECT_ERROR,
	M_DISCONNECT_SHUTDOWN,
	M_RDNS_CONFIRMED, /* in the order of enum rdns_status */
	M_RDNS_UNCONFIRMED,
	M_RDNS_NONE,
	M_RDNS_TIMEOUT,
	M_RDNS_ERROR,
	M_COUNTER_COUNT
};

/* Gauges: current values. */
enum metric_gauge
{
	G_SESSIONS_ACTIVE,
	G_INFLIGHT_BYTES,
	G_SPOOL_RECORDS_PENDING,
	G_SPOOL_BYTES_PENDING,
	G_SPOOL_SEGMENTS,
	G_SINK_LAG_SECONDS,
	G_PAUSED,
	G_GAUGE_COUNT
};

extern uint64_t metric_counters[M_COUNTER_COUNT];
extern int64_t metric_gauges[G_GAUGE_COUNT];

#define METRIC_INC(c)    (metric_counters[(c)]++)
#define METRIC_ADD(c, n) (metric_counters[(c)] += (uint64_t)(n))
#define GAUGE_SET(g, v)  (metric_gauges[(g)] = (int64_t)(v))
#define GAUGE_ADD(g, v)  (metric_gauges[(g)] += (int64_t)(v))

/* Serve /metrics on addr ("host:port"); false if it cannot bind. */
bool metrics_start(struct event_base *base, const char *addr)
    __attribute__((warn_unused_result));
void metrics_stop(void);

/* Prometheus text of every metric, malloc'ed (caller frees). */
char *metrics_render(void);

#endif /* SPAMLAB_METRICS_H */
