/*
 * metrics.c: counters and gauges in Prometheus text format on /metrics.
 */
#include "metrics.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

uint64_t metric_counters[M_COUNTER_COUNT];
int64_t metric_gauges[G_GAUGE_COUNT];

struct metric_def
{
	const char *name;
	const char *labels; /* NULL or `key="value"` */
	const char *help;
};

/* Same order as enum metric_counter. */
static const struct metric_def counter_defs[M_COUNTER_COUNT] = {
    {"ingestd_sessions_total", NULL, "SMTP sessions accepted"},
    {"ingestd_messages_total", NULL, "messages durably spooled (250 sent)"},
    {"ingestd_message_bytes_total", NULL, "bytes of spooled messages"},
    {"ingestd_recipients_total", NULL, "recipients accepted"},
    {"ingestd_commands_total", NULL, "SMTP commands read"},
    {"ingestd_tls_handshakes_total", NULL, "completed TLS handshakes"},
    {"ingestd_auth_attempts_total", NULL, "AUTH attempts recorded"},
    {"ingestd_refused_total", "reason=\"max_sessions\"",
     "connections refused or limits hit, by reason"},
    {"ingestd_refused_total", "reason=\"max_sessions_per_ip\"", NULL},
    {"ingestd_refused_total", "reason=\"draining\"", NULL},
    {"ingestd_limit_total", "limit=\"message_size\"",
     "per-session limits hit, by limit"},
    {"ingestd_limit_total", "limit=\"recipients\"", NULL},
    {"ingestd_limit_total", "limit=\"line_length\"", NULL},
    {"ingestd_limit_total", "limit=\"data_line_length\"", NULL},
    {"ingestd_limit_total", "limit=\"command_timeout\"", NULL},
    {"ingestd_limit_total", "limit=\"data_timeout\"", NULL},
    {"ingestd_limit_total", "limit=\"errors\"", NULL},
    {"ingestd_limit_total", "limit=\"commands_per_wakeup\"", NULL},
    {"ingestd_backpressure_pauses_total", NULL,
     "times reading from clients was paused for in-flight bytes"},
    {"ingestd_bad_commands_total", NULL, "unknown or malformed commands"},
    {"ingestd_bad_sequence_total", NULL, "commands out of order"},
    {"ingestd_spool_errors_total", NULL, "spool write or fsync failures"},
    {"ingestd_spool_fsyncs_total", NULL, "group-commit fsync passes"},
    {"ingestd_spool_records_total", NULL, "records written to the spool"},
    {"ingestd_sink_rows_committed_total", NULL,
     "spool records committed in PostgreSQL"},
    {"ingestd_disconnects_total", "reason=\"quit\"", "session ends, by reason"},
    {"ingestd_disconnects_total", "reason=\"client\"", NULL},
    {"ingestd_disconnects_total", "reason=\"timeout\"", NULL},
    {"ingestd_disconnects_total", "reason=\"error\"", NULL},
    {"ingestd_disconnects_total", "reason=\"shutdown\"", NULL},
    {"ingestd_rdns_lookups_total", "status=\"confirmed\"",
     "reverse DNS lookups of clients, by result"},
    {"ingestd_rdns_lookups_total", "status=\"unconfirmed\"", NULL},
    {"ingestd_rdns_lookups_total", "status=\"none\"", NULL},
    {"ingestd_rdns_lookups_total", "status=\"timeout\"", NULL},
    {"ingestd_rdns_lookups_total", "status=\"error\"", NULL},
};

static const struct metric_def gauge_defs[G_GAUGE_COUNT] = {
    {"ingestd_sessions_active", NULL, "open SMTP sessions"},
    {"ingestd_inflight_bytes", NULL,
     "message bytes held in memory (sessions, spool queue)"},
    {"ingestd_spool_records_pending", NULL,
     "spooled records not yet committed in PostgreSQL (spool depth)"},
    {"ingestd_spool_bytes_pending", NULL,
     "bytes of spooled records not yet committed in PostgreSQL"},
    {"ingestd_spool_segments", NULL, "spool segment files on disk"},
    {"ingestd_sink_lag_seconds", NULL,
     "age of the oldest spooled record not yet in PostgreSQL (COPY lag)"},
    {"ingestd_paused", NULL, "1 while reading from clients is paused"},
};

static struct evhttp *http;

char *
metrics_render(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *out;

	if (!b)
		return NULL;
	for (int i = 0; i < M_COUNTER_COUNT; i++)
	{
		const struct metric_def *d = &counter_defs[i];

		if (d->help)
			evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", d->name,
			                    d->help, d->name);
		evbuffer_add_printf(b, "%s%s%s%s %llu\n", d->name, d->labels ? "{" : "",
		                    d->labels ? d->labels : "", d->labels ? "}" : "",
		                    (unsigned long long)metric_counters[i]);
	}
	for (int i = 0; i < G_GAUGE_COUNT; i++)
	{
		const struct metric_def *d = &gauge_defs[i];

		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n",
		                    d->name, d->help, d->name, d->name,
		                    (long long)metric_gauges[i]);
	}
	len = evbuffer_get_length(b);
	out = malloc(len + 1);
	if (out)
	{
		evbuffer_remove(b, out, len);
		out[len] = '\0';
	}
	evbuffer_free(b);
	return out;
}

static void
metrics_handle(struct evhttp_request *req, void *arg)
{
	struct evbuffer *reply;
	char *text;

	if (strcmp(evhttp_request_get_uri(req), "/metrics") != 0)
	{
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	text = metrics_render();
	reply = evbuffer_new();
	if (!text || !reply)
	{
		free(text);
		if (reply)
			evbuffer_free(reply);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	evbuffer_add(reply, text, strlen(text));
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", reply);
	evbuffer_free(reply);
}

bool
metrics_start(struct event_base *base, const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	int port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return false;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	port = atoi(colon + 1);
	http = evhttp_new(base);
	if (!http)
		return false;
	evhttp_set_gencb(http, metrics_handle, NULL);
	evhttp_set_timeout(http, 10);
	if (evhttp_bind_socket(http, host, (unsigned short)port) != 0)
	{
		evhttp_free(http);
		http = NULL;
		return false;
	}
	return true;
}

void
metrics_stop(void)
{
	if (http)
		evhttp_free(http);
	http = NULL;
}
