/*
 * pgsink.c: messages, SMTP sessions and relay decisions into PostgreSQL with non-blocking
 * binary COPY, driven by the caller's libevent loop.
 *
 * One connection.  States:
 *
 *   DISCONNECTED --retry timer--> CONNECTING --poll OK--> SETUP --> IDLE
 *   IDLE --batch due--> BUSY --batch done--> IDLE
 *   any --connection lost--> DISCONNECTED (in-flight records requeued)
 *   DISCONNECTED --max_attempts reached--> FAILED (records stay queued)
 *
 * A batch is a fixed list of steps sent one after another:
 *
 *   [SELECT ensure_message_partitions(m, m) for new months]  own transaction
 *   BEGIN
 *   COPY pg_temp.ingest_stage_message FROM STDIN (FORMAT binary)
 *   COPY pg_temp.ingest_stage_session FROM STDIN (FORMAT binary)
 *   COPY pg_temp.ingest_stage_relay FROM STDIN (FORMAT binary)
 *   INSERT ... SELECT ... ON CONFLICT DO NOTHING (x 2 + 3 + 1); COMMIT
 *
 * Fast path (direct_copy): while no replay is seen, a batch COPYs its
 * sessions straight into spamlab.smtp_session, smtp_command and smtp_auth
 * (rows encoded at add time by record_encode_session_direct()), and, when
 * no message carries an AUTH password, its messages straight into
 * spamlab.message; this is cheaper than staging.  Each COPY either inserts
 * every row or fails whole; a unique violation (a replay) rolls back the
 * transaction and sends the batch, and the next SINK_STAGED_AFTER_CONFLICT
 * batches, through staging + ON CONFLICT.  Either way no key is ever
 * stored twice.
 *
 * Errors after BEGIN send ROLLBACK, then: a data or constraint error
 * (SQLSTATE class 22, 23, 54) retries the batch's records one per
 * transaction so the bad one is isolated and REJECTED; anything else
 * (permissions, resources, shutdown) requeues the batch and retries after
 * the backoff delay.
 */
#include "pgsink.h"

#include <errno.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copybin.h"
#include "relayrec.h"

#define SINK_CONNECT_TIMEOUT_MS    10000
#define SINK_STAGED_AFTER_CONFLICT 16
#define SINK_ERRLEN                512

enum sink_state
{
	SINK_DISCONNECTED,
	SINK_CONNECTING,
	SINK_SETUP,
	SINK_IDLE,
	SINK_BUSY,
	SINK_FAILED,
};

enum item_kind
{
	ITEM_MESSAGE,
	ITEM_SESSION,
	ITEM_RELAY,
};

struct item
{
	struct item *next;
	enum item_kind kind;
	uint8_t *buf; /* one binary COPY tuple */
	size_t len;
	size_t mem;        /* len + dlen: what the queue counts */
	int64_t ts;        /* received_at / started_at, Unix us */
	int64_t queued_us; /* monotonic, for lag and the flush timer */
	size_t last_off;   /* message: offset of its last field (password) */
	bool has_pw;       /* message: the password is not NULL */
	uint8_t *dbuf;     /* session: table rows for the direct COPY */
	size_t dlen;       /* session: bytes in dbuf */
	size_t cmd_off;    /* session: smtp_command tuples start here */
	size_t auth_off;   /* session: smtp_auth tuples start here, to dlen */
	char id[UUID7_STRLEN + 1];
	pgsink_done_fn done;
	void *arg;
};

struct itemq
{
	struct item *head;
	struct item *tail;
	size_t n;
	size_t bytes;
};

enum step_kind
{
	STEP_ENSURE, /* partitions, own transaction, errors tolerated */
	STEP_BEGIN,
	STEP_COPY_MESSAGE,
	STEP_COPY_SESSION,
	STEP_COPY_COMMAND, /* direct only: spamlab.smtp_command */
	STEP_COPY_AUTH,    /* direct only: spamlab.smtp_auth */
	STEP_COPY_RELAY,
	STEP_INSERT, /* the INSERTs and COMMIT, one simple query */
	STEP_ROLLBACK,
};

/* Where a COPY's data stream stands. */
enum copy_phase
{
	COPY_NONE,
	COPY_HEADER,
	COPY_ROWS,
	COPY_TRAILER,
	COPY_END,
	COPY_DONE,
};

#define MAX_STEPS 9

struct pgsink
{
	struct event_base *base;
	char *conninfo;
	struct pgsink_config cfg;
	char appname[64];

	enum sink_state state;
	PGconn *conn;
	struct event *io; /* socket readiness, re-made when fd changes */
	evutil_socket_t io_fd;
	short io_what;
	struct event *flush_ev; /* batch fill timer */
	struct event *retry_ev; /* backoff, reconnect and connect timeout */
	struct event *kick_ev;  /* deferred advance (from add/flush) */
	bool retry_wait;        /* IDLE but waiting out a backoff delay */
	unsigned attempts;      /* consecutive failures */

	struct itemq queue;
	struct itemq inflight;
	size_t single_left; /* records still to send one per transaction */
	bool flush_now;
	bool draining;

	/* the running batch */
	enum step_kind steps[MAX_STEPS];
	int nsteps, cur;
	enum copy_phase copy;
	struct item *copy_item;
	bool copy_hdr_sent;   /* direct COPY: this item's field count is out */
	bool batch_direct;    /* some rows go straight into their tables */
	bool direct_msgs;     /* messages: COPY into spamlab.message */
	bool direct_sess;     /* sessions: COPY into smtp_session/command/auth */
	unsigned staged_left; /* batches still to stage after a conflict */
	char sqlstate[6];     /* of the batch's first error */
	bool step_failed;
	bool batch_failed; /* set before ROLLBACK */
	bool batch_data_error;
	int insert_stmt;     /* index of the next INSERT result */
	bool batch_has_msgs; /* first INSERT result is spamlab.message */
	bool batch_has_sess;
	bool batch_has_relay;
	char ensure_sql[1024];
	int ensure_months[16];
	int n_ensure;
	int64_t batch_rows_inserted, batch_msgs_inserted;

	int *months; /* partition months already ensured (year*12+month) */
	size_t n_months, cap_months;

	struct pgsink_stats st;
	char last_error[SINK_ERRLEN];
};

static void sink_advance(struct pgsink *s);

/* --- small helpers ------------------------------------------------------ */

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One key=value log line on stderr; msg is quoted, line breaks flattened. */
static void
sink_log(const char *level, const char *event, const char *fmt, ...)
{
	char text[SINK_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"')
			*p = *p == '"' ? '\'' : ' ';
	fprintf(stderr, "ingestd: level=%s component=pgsink event=%s msg=\"%s\"\n",
	        level, event, text);
}

static void
set_error(struct pgsink *s, const char *what, const char *detail)
{
	size_t n;

	snprintf(s->last_error, sizeof(s->last_error), "%s: %s", what,
	         detail ? detail : "");
	n = strlen(s->last_error);
	while (n > 0 &&
	       (s->last_error[n - 1] == '\n' || s->last_error[n - 1] == ' '))
		s->last_error[--n] = '\0';
}

static void
q_push_tail(struct itemq *q, struct item *it)
{
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	q->bytes += it->mem;
}

static struct item *
q_pop_head(struct itemq *q)
{
	struct item *it = q->head;

	if (!it)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= it->mem;
	it->next = NULL;
	return it;
}

/* Put all of `from` in front of `to`, keeping order; from becomes empty. */
static void
q_prepend(struct itemq *to, struct itemq *from)
{
	if (!from->head)
		return;
	from->tail->next = to->head;
	if (!to->head)
		to->tail = from->tail;
	to->head = from->head;
	to->n += from->n;
	to->bytes += from->bytes;
	memset(from, 0, sizeof(*from));
}

static void
item_finish(struct item *it, enum pgsink_status status)
{
	if (it->done)
		it->done(it->arg, status);
	free(it->buf);
	free(it->dbuf);
	free(it);
}

/* Month number (year*12 + month-1) of a Unix-microsecond time. */
static int
month_of(int64_t us)
{
	time_t t = (time_t)(us / 1000000 - (us % 1000000 < 0 ? 1 : 0));
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -1;
	return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static bool
month_known(const struct pgsink *s, int m)
{
	for (size_t i = 0; i < s->n_months; i++)
		if (s->months[i] == m)
			return true;
	return false;
}

static void
month_remember(struct pgsink *s, int m)
{
	if (month_known(s, m))
		return;
	if (s->n_months == s->cap_months)
	{
		size_t cap = s->cap_months ? s->cap_months * 2 : 16;
		int *p = realloc(s->months, cap * sizeof(*p));

		if (!p)
			return; /* only a cache: ensure again next time */
		s->months = p;
		s->cap_months = cap;
	}
	s->months[s->n_months++] = m;
}

/* --- configuration and lifecycle --------------------------------------- */

void
pgsink_config_default(struct pgsink_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->batch_rows = 1000;
	cfg->batch_bytes = 8 * 1024 * 1024;
	cfg->flush_ms = 200;
	cfg->backoff_min_ms = 100;
	cfg->backoff_max_ms = 30000;
	cfg->max_attempts = 0;
	cfg->direct_copy = true;
	cfg->ensure_partitions = true;
	cfg->partition_min_year = 1990;
	cfg->application_name = "ingestd";
}

static void
io_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_advance(arg);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_advance(arg);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg);

struct pgsink *
pgsink_new(struct event_base *base, const char *conninfo,
           const struct pgsink_config *cfg)
{
	struct pgsink *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base = base;
	if (cfg)
		s->cfg = *cfg;
	else
		pgsink_config_default(&s->cfg);
	if (s->cfg.batch_rows == 0)
		s->cfg.batch_rows = 1;
	if (s->cfg.backoff_min_ms == 0)
		s->cfg.backoff_min_ms = 1;
	if (s->cfg.backoff_max_ms < s->cfg.backoff_min_ms)
		s->cfg.backoff_max_ms = s->cfg.backoff_min_ms;
	snprintf(s->appname, sizeof(s->appname), "%s",
	         s->cfg.application_name ? s->cfg.application_name : "ingestd");
	s->cfg.application_name = s->appname;
	s->conninfo = strdup(conninfo ? conninfo : "");
	s->io_fd = -1;
	s->flush_ev = evtimer_new(base, flush_cb, s);
	s->retry_ev = evtimer_new(base, retry_cb, s);
	s->kick_ev = event_new(base, -1, 0, flush_cb, s);
	if (!s->conninfo || !s->flush_ev || !s->retry_ev || !s->kick_ev)
	{
		pgsink_free(s);
		return NULL;
	}
	s->state = SINK_DISCONNECTED;
	event_active(s->retry_ev, EV_TIMEOUT, 0); /* connect from the loop */
	return s;
}

static void
io_clear(struct pgsink *s)
{
	if (s->io)
	{
		event_free(s->io);
		s->io = NULL;
	}
	s->io_fd = -1;
	s->io_what = 0;
}

void
pgsink_free(struct pgsink *s)
{
	struct item *it;

	if (!s)
		return;
	io_clear(s);
	if (s->conn)
		PQfinish(s->conn);
	if (s->flush_ev)
		event_free(s->flush_ev);
	if (s->retry_ev)
		event_free(s->retry_ev);
	if (s->kick_ev)
		event_free(s->kick_ev);
	q_prepend(&s->queue, &s->inflight);
	while ((it = q_pop_head(&s->queue)))
		item_finish(it, PGSINK_CANCELLED);
	free(s->months);
	free(s->conninfo);
	free(s);
}

/* Wait for the connection's socket to become ready for `what`. */
static void
io_watch(struct pgsink *s, short what)
{
	evutil_socket_t fd = s->conn ? PQsocket(s->conn) : -1;

	if (fd < 0)
	{
		io_clear(s);
		return;
	}
	if (!s->io || fd != s->io_fd || what != s->io_what)
	{
		io_clear(s);
		s->io = event_new(s->base, fd, what, io_cb, s);
		if (!s->io)
			return; /* the retry timer still moves us on */
		s->io_fd = fd;
		s->io_what = what;
	}
	event_add(s->io, NULL);
}

static void
retry_in(struct pgsink *s, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	evtimer_add(s->retry_ev, &tv);
}

/* The backoff delay after `attempts` consecutive failures. */
static unsigned
backoff_ms(const struct pgsink *s)
{
	uint64_t ms = s->cfg.backoff_min_ms;

	for (unsigned i = 1; i < s->attempts && ms < s->cfg.backoff_max_ms; i++)
		ms *= 2;
	return ms > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms : (unsigned)ms;
}

/* Count a failure; true when the sink must give up. */
static bool
count_failure(struct pgsink *s)
{
	s->attempts++;
	if (s->cfg.max_attempts && s->attempts >= s->cfg.max_attempts)
	{
		s->state = SINK_FAILED;
		s->st.failed = true;
		sink_log("error", "give_up", "gave up after %u attempts: %s",
		         s->attempts, s->last_error);
		return true;
	}
	return false;
}

/*
 * The connection is gone or unusable: close it, put in-flight records back
 * at the head of the queue, and schedule a reconnect.
 */
static void
conn_lost(struct pgsink *s, const char *why)
{
	bool was_busy = s->state == SINK_BUSY;

	if (s->conn)
	{
		set_error(s, why, PQerrorMessage(s->conn));
		PQfinish(s->conn);
		s->conn = NULL;
	}
	else
		set_error(s, why, "");
	io_clear(s);
	if (was_busy)
		s->st.batch_errors++;
	else if (s->state == SINK_CONNECTING || s->state == SINK_SETUP)
		s->st.connect_errors++;
	q_prepend(&s->queue, &s->inflight);
	s->copy = COPY_NONE;
	s->st.connected = false;
	s->state = SINK_DISCONNECTED;
	s->retry_wait = false;
	if (count_failure(s))
		return;
	sink_log("warn", "disconnected", "%s; retry in %u ms", s->last_error,
	         backoff_ms(s));
	retry_in(s, backoff_ms(s));
}

static void
conn_start(struct pgsink *s)
{
	const char *keys[] = {"application_name", "dbname", NULL};
	const char *vals[] = {s->cfg.application_name, s->conninfo, NULL};

	s->conn = PQconnectStartParams(keys, vals, 1);
	if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD)
	{
		s->state = SINK_CONNECTING;
		conn_lost(s, "connect");
		return;
	}
	s->state = SINK_CONNECTING;
	retry_in(s, SINK_CONNECT_TIMEOUT_MS);
	sink_advance(s);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgsink *s = arg;

	switch (s->state)
	{
		case SINK_DISCONNECTED:
			conn_start(s);
			return;
		case SINK_CONNECTING:
		case SINK_SETUP:
			conn_lost(s, "connect timeout");
			return;
		case SINK_IDLE:
			s->retry_wait = false;
			sink_advance(s);
			return;
		default:
			return;
	}
}

/* --- adding records ----------------------------------------------------- */

static void
kick(struct pgsink *s)
{
	if (s->state == SINK_IDLE && !event_pending(s->kick_ev, EV_TIMEOUT, NULL))
		event_active(s->kick_ev, EV_TIMEOUT, 0);
}

static int32_t
get_be32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	                 (uint32_t)p[2] << 8 | p[3]);
}

/* Offset of field k (its length word) in an encoded tuple. */
static size_t
tuple_field_offset(const uint8_t *buf, int k)
{
	size_t pos = 2;

	for (int i = 0; i < k; i++)
	{
		int32_t n = get_be32(buf + pos);

		pos += 4 + (n > 0 ? (size_t)n : 0);
	}
	return pos;
}

/*
 * Queue a record: b is its staging tuple, d (or NULL) its rows for the
 * direct COPY; the item takes both buffers, also on failure (freed).
 */
static struct item *
enqueue(struct pgsink *s, struct copybuf *b, struct copybuf *d,
        enum item_kind kind, int64_t ts, const struct uuid7 *id,
        pgsink_done_fn done, void *arg)
{
	struct item *it;

	if (b->oom || (d && d->oom) || !(it = calloc(1, sizeof(*it))))
	{
		copybuf_free(b);
		if (d)
			copybuf_free(d);
		return NULL;
	}
	if (kind == ITEM_MESSAGE)
	{
		it->last_off = tuple_field_offset(b->data, RECORD_MESSAGE_FIELDS - 1);
		it->has_pw = get_be32(b->data + it->last_off) != -1;
	}
	it->kind = kind;
	it->buf = b->data;
	it->len = b->len;
	if (d)
	{
		it->dbuf = d->data;
		it->dlen = d->len;
	}
	it->mem = it->len + it->dlen;
	it->ts = ts;
	it->queued_us = mono_us();
	uuid7_format(id, it->id);
	it->done = done;
	it->arg = arg;
	q_push_tail(&s->queue, it);
	kick(s);
	return it;
}

bool
pgsink_add_message(struct pgsink *s, const struct msg_record *msg,
                   pgsink_done_fn done, void *arg)
{
	struct copybuf b;

	if (s->state == SINK_FAILED)
		return false;
	copybuf_init(&b);
	if (!record_encode_message(&b, msg))
	{
		copybuf_free(&b);
		return false;
	}
	return enqueue(s, &b, NULL, ITEM_MESSAGE, msg->received_at, &msg->id, done,
	               arg) != NULL;
}

bool
pgsink_add_session(struct pgsink *s, const struct session_record *ses,
                   pgsink_done_fn done, void *arg)
{
	struct copybuf b, d;
	size_t cmd_off = 0, auth_off = 0;
	struct item *it;

	if (s->state == SINK_FAILED)
		return false;
	copybuf_init(&b);
	copybuf_init(&d);
	if (!record_encode_session(&b, ses) ||
	    (s->cfg.direct_copy &&
	     !record_encode_session_direct(&d, ses, &cmd_off, &auth_off)))
	{
		copybuf_free(&b);
		copybuf_free(&d);
		return false;
	}
	it = enqueue(s, &b, s->cfg.direct_copy ? &d : NULL, ITEM_SESSION,
	             ses->started_at, &ses->id, done, arg);
	if (!it)
		return false;
	/* kick() only schedules: no batch can have taken the item yet */
	it->cmd_off = cmd_off;
	it->auth_off = auth_off;
	return true;
}

bool
pgsink_add_relay(struct pgsink *s, const struct relay_decision_record *d,
                 pgsink_done_fn done, void *arg)
{
	struct copybuf b;

	if (s->state == SINK_FAILED)
		return false;
	if (!d->decision || !d->rule)
		return false;
	copybuf_init(&b);
	if (!relayrec_encode(&b, d))
	{
		copybuf_free(&b);
		return false;
	}
	return enqueue(s, &b, NULL, ITEM_RELAY, d->received_at, &d->message_id,
	               done, arg) != NULL;
}

/* --- the batch ---------------------------------------------------------- */

static const char setup_sql[] =
    "SET client_min_messages = warning;"
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage_message ("
    " id uuid, received_at timestamptz, sensor text, source text,"
    " label text, folder text, peer_ip inet, peer_port int, helo text,"
    " mail_from text, rcpt_to text[], tls text, auth_user text,"
    " size int, raw bytea, session_id uuid, auth_password text)"
    " ON COMMIT DELETE ROWS;"
    "ALTER TABLE ingest_stage_message ALTER raw SET STORAGE EXTERNAL;"
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage_session ("
    " id uuid, sensor text, started_at timestamptz, ended_at timestamptz,"
    " peer_ip inet, peer_port int, helo text, tls text,"
    " disconnect_reason text, cmd_at bigint[], cmd_text text[],"
    " cmd_reply int[], auth_at bigint[], auth_mech text[],"
    " auth_user text[], auth_pass text[], auth_reply int[], rdns text,"
    " rdns_status text, auth_ws text[])"
    " ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage_relay ("
    " message_id uuid, received_at timestamptz, decided_at timestamptz,"
    " sensor text, peer_ip inet, rule text, decision text, cap text,"
    " target text, rcpt_to text[], attempts int, final_code int,"
    " final_reply text, tls text, delivered_at timestamptz, status text)"
    " ON COMMIT DELETE ROWS";

static const char insert_message_sql[] =
    "INSERT INTO spamlab.message (id, received_at, sensor, source, label,"
    " folder, peer_ip, peer_port, helo, mail_from, rcpt_to, tls, auth_user,"
    " size, raw, session_id)"
    " SELECT id, received_at, sensor, source, label, folder, peer_ip,"
    " peer_port, helo, mail_from, rcpt_to, tls, auth_user, size, raw,"
    " session_id FROM pg_temp.ingest_stage_message"
    " ON CONFLICT DO NOTHING;"
    "INSERT INTO spamlab.message_auth (received_at, message_id, username,"
    " password)"
    " SELECT received_at, id, auth_user, auth_password"
    " FROM pg_temp.ingest_stage_message WHERE auth_password IS NOT NULL"
    " ON CONFLICT DO NOTHING;";

static const char direct_copy_sql[] =
    "COPY spamlab.message (id, received_at, sensor, source, label, folder,"
    " peer_ip, peer_port, helo, mail_from, rcpt_to, tls, auth_user, size,"
    " raw, session_id) FROM STDIN (FORMAT binary)";

static const char direct_session_sql[] =
    "COPY spamlab.smtp_session (id, sensor, started_at, ended_at, peer_ip,"
    " peer_port, helo, tls, disconnect_reason, n_commands, n_auth, rdns,"
    " rdns_status) FROM STDIN (FORMAT binary)";

static const char direct_command_sql[] =
    "COPY spamlab.smtp_command (session_id, n, at, command, reply_code)"
    " FROM STDIN (FORMAT binary)";

static const char direct_auth_sql[] =
    "COPY spamlab.smtp_auth (session_id, n, at, mechanism, username,"
    " password, reply_code, workstation) FROM STDIN (FORMAT binary)";

static const char insert_session_sql[] =
    "INSERT INTO spamlab.smtp_session (id, sensor, started_at, ended_at,"
    " peer_ip, peer_port, helo, tls, disconnect_reason, n_commands, n_auth,"
    " rdns, rdns_status)"
    " SELECT id, sensor, started_at, ended_at, peer_ip, peer_port, helo, tls,"
    " disconnect_reason, cardinality(cmd_text), cardinality(auth_mech), rdns,"
    " rdns_status FROM pg_temp.ingest_stage_session ON CONFLICT DO NOTHING;"
    "INSERT INTO spamlab.smtp_command (session_id, n, at, command,"
    " reply_code)"
    " SELECT s.id, c.n, s.started_at + c.at * interval '1 microsecond',"
    " c.t, nullif(c.r, 0) FROM pg_temp.ingest_stage_session s,"
    " unnest(s.cmd_at, s.cmd_text, s.cmd_reply) WITH ORDINALITY"
    " AS c(at, t, r, n) ON CONFLICT DO NOTHING;"
    "INSERT INTO spamlab.smtp_auth (session_id, n, at, mechanism, username,"
    " password, reply_code, workstation)"
    " SELECT s.id, a.n, s.started_at + a.at * interval '1 microsecond',"
    " a.m, a.u, a.p, nullif(a.r, 0), a.w FROM pg_temp.ingest_stage_session s,"
    " unnest(s.auth_at, s.auth_mech, s.auth_user, s.auth_pass, s.auth_reply,"
    " s.auth_ws) WITH ORDINALITY AS a(at, m, u, p, r, w, n)"
    " ON CONFLICT DO NOTHING;";

/*
 * Relay rows come in versions (sending, interrupted, final; see
 * sql/022_relay_status.sql): the highest-ranked version in the batch
 * replaces a lower-ranked stored one; equal or lower ones are no-ops, so
 * replays change nothing.
 */
static const char insert_relay_sql[] =
    "INSERT INTO spamlab.relay_decision (" RELAYREC_COLUMNS ")"
    " SELECT DISTINCT ON (message_id, target) " RELAYREC_COLUMNS
    " FROM pg_temp.ingest_stage_relay ORDER BY message_id, target,"
    " spamlab.relay_status_rank(status) DESC, attempts DESC"
    " ON CONFLICT (message_id, target) DO UPDATE SET"
    " attempts = excluded.attempts, final_code = excluded.final_code,"
    " final_reply = excluded.final_reply, tls = excluded.tls,"
    " delivered_at = excluded.delivered_at, status = excluded.status"
    " WHERE (spamlab.relay_status_rank(excluded.status), excluded.attempts) >"
    " (spamlab.relay_status_rank(relay_decision.status),"
    " relay_decision.attempts);";

/* Is it time to send what is queued? Arms the flush timer when not yet. */
static bool
batch_due(struct pgsink *s)
{
	int64_t age_us, wait_us;
	struct timeval tv;

	if (!s->queue.n)
	{
		s->flush_now = false;
		return false;
	}
	if (s->retry_wait)
		return false;
	if (s->draining || s->flush_now || s->single_left ||
	    s->queue.n >= s->cfg.batch_rows || s->queue.bytes >= s->cfg.batch_bytes)
		return true;
	age_us = mono_us() - s->queue.head->queued_us;
	wait_us = (int64_t)s->cfg.flush_ms * 1000 - age_us;
	if (wait_us <= 0)
		return true;
	tv.tv_sec = wait_us / 1000000;
	tv.tv_usec = wait_us % 1000000 + 1;
	evtimer_add(s->flush_ev, &tv);
	return false;
}

/* Months of this batch's messages still to ensure, as one SELECT. */
static void
batch_plan_partitions(struct pgsink *s)
{
	int now_m = month_of(wall_us());
	int min_m = s->cfg.partition_min_year * 12;
	size_t len;

	s->n_ensure = 0;
	if (!s->cfg.ensure_partitions)
		return;
	for (struct item *it = s->inflight.head; it; it = it->next)
	{
		int m;
		bool dup = false;

		if (it->kind != ITEM_MESSAGE)
			continue;
		m = month_of(it->ts);
		if (m < min_m || m > now_m + 1 || month_known(s, m))
			continue;
		for (int i = 0; i < s->n_ensure; i++)
			dup |= s->ensure_months[i] == m;
		if (dup)
			continue;
		if (s->n_ensure ==
		    (int)(sizeof(s->ensure_months) / sizeof(s->ensure_months[0])))
			break; /* the rest next batch */
		s->ensure_months[s->n_ensure++] = m;
	}
	if (!s->n_ensure)
		return;
	len = (size_t)snprintf(s->ensure_sql, sizeof(s->ensure_sql),
	                       "SELECT spamlab.ensure_message_partitions(t, t)"
	                       " FROM unnest('{");
	for (int i = 0; i < s->n_ensure; i++)
		len += (size_t)snprintf(
		    s->ensure_sql + len, sizeof(s->ensure_sql) - len,
		    "%s\"%04d-%02d-01 00:00:00+00\"", i ? "," : "",
		    s->ensure_months[i] / 12, s->ensure_months[i] % 12 + 1);
	snprintf(s->ensure_sql + len, sizeof(s->ensure_sql) - len,
	         "}'::timestamptz[]) AS t");
}

/* Take the next batch off the queue and plan its steps. */
static void
batch_take(struct pgsink *s)
{
	size_t rows = 0, bytes = 0;
	bool msgs = false, sess = false, relay = false, pw = false;
	bool cmds = false, auths = false;

	while (s->queue.head)
	{
		struct item *it = s->queue.head;

		if (rows && (rows >= s->cfg.batch_rows ||
		             bytes + it->mem > s->cfg.batch_bytes || s->single_left))
			break;
		it = q_pop_head(&s->queue);
		q_push_tail(&s->inflight, it);
		rows++;
		bytes += it->mem;
		msgs |= it->kind == ITEM_MESSAGE;
		sess |= it->kind == ITEM_SESSION;
		relay |= it->kind == ITEM_RELAY;
		pw |= it->kind == ITEM_MESSAGE && it->has_pw;
		if (it->kind == ITEM_SESSION && it->dbuf)
		{
			cmds |= it->auth_off > it->cmd_off;
			auths |= it->dlen > it->auth_off;
		}
	}
	s->direct_msgs = msgs && !pw && s->cfg.direct_copy && s->staged_left == 0;
	s->direct_sess = sess && s->cfg.direct_copy && s->staged_left == 0;
	s->batch_direct = s->direct_msgs || s->direct_sess;
	if ((msgs || sess) && s->staged_left)
		s->staged_left--;
	s->sqlstate[0] = '\0';
	batch_plan_partitions(s);
	s->nsteps = 0;
	if (s->n_ensure)
		s->steps[s->nsteps++] = STEP_ENSURE;
	s->steps[s->nsteps++] = STEP_BEGIN;
	if (msgs)
		s->steps[s->nsteps++] = STEP_COPY_MESSAGE;
	if (sess)
		s->steps[s->nsteps++] = STEP_COPY_SESSION;
	if (s->direct_sess && cmds)
		s->steps[s->nsteps++] = STEP_COPY_COMMAND;
	if (s->direct_sess && auths)
		s->steps[s->nsteps++] = STEP_COPY_AUTH;
	if (relay)
		s->steps[s->nsteps++] = STEP_COPY_RELAY;
	s->steps[s->nsteps++] = STEP_INSERT;
	s->batch_has_msgs = msgs;
	s->batch_has_sess = sess;
	s->batch_has_relay = relay;
	s->cur = 0;
	s->batch_failed = false;
	s->batch_data_error = false;
	s->batch_rows_inserted = 0;
	s->batch_msgs_inserted = 0;
}

/* Send the current step's query; false if the connection broke. */
static bool
step_send(struct pgsink *s)
{
	char sql[sizeof(insert_message_sql) + sizeof(insert_session_sql) +
	         sizeof(insert_relay_sql) + 16];
	const char *q = sql;

	s->step_failed = false;
	s->copy = COPY_NONE;
	s->insert_stmt = 0;
	switch (s->steps[s->cur])
	{
		case STEP_ENSURE:
			q = s->ensure_sql;
			break;
		case STEP_BEGIN:
			q = "BEGIN";
			break;
		case STEP_COPY_MESSAGE:
			q = s->direct_msgs ? direct_copy_sql
			                   : "COPY pg_temp.ingest_stage_message FROM STDIN"
			                     " (FORMAT binary)";
			break;
		case STEP_COPY_SESSION:
			q = s->direct_sess ? direct_session_sql
			                   : "COPY pg_temp.ingest_stage_session FROM STDIN"
			                     " (FORMAT binary)";
			break;
		case STEP_COPY_COMMAND:
			q = direct_command_sql;
			break;
		case STEP_COPY_AUTH:
			q = direct_auth_sql;
			break;
		case STEP_COPY_RELAY:
			q = "COPY pg_temp.ingest_stage_relay FROM STDIN (FORMAT binary)";
			break;
		case STEP_INSERT:
			snprintf(
			    sql, sizeof(sql), "%s%s%sCOMMIT",
			    s->batch_has_msgs && !s->direct_msgs ? insert_message_sql : "",
			    s->batch_has_sess && !s->direct_sess ? insert_session_sql : "",
			    s->batch_has_relay ? insert_relay_sql : "");
			break;
		case STEP_ROLLBACK:
			q = "ROLLBACK";
			break;
	}
	return PQsendQuery(s->conn, q) == 1;
}

/*
 * The bytes item `it` adds to step k's COPY data; *n is 0 when none.  A
 * direct message is its staging tuple without the field count (sent
 * apart, one less) and the last field (the password).
 */
static void
item_slice(const struct pgsink *s, const struct item *it, enum step_kind k,
           const uint8_t **p, size_t *n)
{
	*p = it->buf;
	*n = 0;
	switch (k)
	{
		case STEP_COPY_MESSAGE:
			if (it->kind != ITEM_MESSAGE)
				return;
			if (s->direct_msgs)
			{
				*p = it->buf + 2;
				*n = it->last_off - 2;
			}
			else
				*n = it->len;
			return;
		case STEP_COPY_SESSION:
			if (it->kind != ITEM_SESSION)
				return;
			if (s->direct_sess)
			{
				*p = it->dbuf;
				*n = it->cmd_off;
			}
			else
				*n = it->len;
			return;
		case STEP_COPY_COMMAND:
			if (it->kind != ITEM_SESSION || !it->dbuf)
				return;
			*p = it->dbuf + it->cmd_off;
			*n = it->auth_off - it->cmd_off;
			return;
		case STEP_COPY_AUTH:
			if (it->kind != ITEM_SESSION || !it->dbuf)
				return;
			*p = it->dbuf + it->auth_off;
			*n = it->dlen - it->auth_off;
			return;
		case STEP_COPY_RELAY:
			if (it->kind == ITEM_RELAY)
				*n = it->len;
			return;
		default:
			return;
	}
}

/* Push COPY data; 1 all sent, 0 would block, -1 broken. */
static int
copy_push(struct pgsink *s)
{
	enum step_kind k = s->steps[s->cur];
	const uint8_t *p;
	size_t n = 0;
	int r;

	for (;;)
	{
		switch (s->copy)
		{
			case COPY_HEADER:
				r = PQputCopyData(s->conn, (const char *)copybin_header,
				                  COPYBIN_HEADER_LEN);
				if (r != 1)
					return r;
				s->copy = COPY_ROWS;
				s->copy_item = s->inflight.head;
				s->copy_hdr_sent = false;
				break;
			case COPY_ROWS:
				for (; s->copy_item; s->copy_item = s->copy_item->next)
				{
					item_slice(s, s->copy_item, k, &p, &n);
					if (n)
						break;
				}
				if (!s->copy_item)
				{
					s->copy = COPY_TRAILER;
					break;
				}
				if (k == STEP_COPY_MESSAGE && s->direct_msgs &&
				    !s->copy_hdr_sent)
				{
					static const char nfields[2] = {0,
					                                RECORD_MESSAGE_FIELDS - 1};

					r = PQputCopyData(s->conn, nfields, 2);
					if (r != 1)
						return r;
					s->copy_hdr_sent = true;
				}
				r = PQputCopyData(s->conn, (const char *)p, (int)n);
				if (r != 1)
					return r;
				s->copy_hdr_sent = false;
				s->copy_item = s->copy_item->next;
				break;
			case COPY_TRAILER:
				r = PQputCopyData(s->conn, (const char *)copybin_trailer, 2);
				if (r != 1)
					return r;
				s->copy = COPY_END;
				break;
			case COPY_END:
				r = PQputCopyEnd(s->conn, NULL);
				if (r != 1)
					return r;
				s->copy = COPY_DONE;
				return 1;
			default:
				return 1;
		}
	}
}

/* Is this SQLSTATE about the data of some record (so bisecting helps)? */
static bool
is_data_error(const char *sqlstate)
{
	return sqlstate &&
	       (strncmp(sqlstate, "22", 2) == 0 ||
	        strncmp(sqlstate, "23", 2) == 0 || strncmp(sqlstate, "54", 2) == 0);
}

static void
step_result(struct pgsink *s, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COPY_IN)
	{
		s->copy = COPY_HEADER;
		return;
	}
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
	{
		enum step_kind k = s->steps[s->cur];

		if ((k == STEP_COPY_MESSAGE && s->direct_msgs) ||
		    (k == STEP_COPY_SESSION && s->direct_sess) ||
		    k == STEP_COPY_COMMAND || k == STEP_COPY_AUTH)
		{
			long n = strtol(PQcmdTuples(r), NULL, 10);

			s->batch_rows_inserted += n;
			if (k == STEP_COPY_MESSAGE)
				s->batch_msgs_inserted += n;
		}
		if (s->steps[s->cur] == STEP_INSERT &&
		    strncmp(PQcmdStatus(r), "INSERT", 6) == 0)
		{
			long n = strtol(PQcmdTuples(r), NULL, 10);

			s->batch_rows_inserted += n;
			if (s->batch_has_msgs && !s->direct_msgs && s->insert_stmt == 0)
				s->batch_msgs_inserted += n;
			s->insert_stmt++;
		}
		return;
	}
	/* an error (or an unexpected status) */
	if (!s->step_failed)
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		char what[32];

		s->step_failed = true;
		s->batch_data_error = is_data_error(state);
		snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state ? state : "");
		snprintf(what, sizeof(what), "sqlstate=%s", state ? state : "?");
		set_error(s, what,
		          PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
		              ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
		              : PQresultErrorMessage(r));
	}
}

/* The running batch is over: commit bookkeeping or failure handling. */
static void
batch_end(struct pgsink *s, bool ok)
{
	struct itemq done = s->inflight;
	size_t n = done.n;
	struct item *it;

	memset(&s->inflight, 0, sizeof(s->inflight));
	s->state = SINK_IDLE;
	if (ok)
	{
		s->attempts = 0;
		s->st.batches++;
		if (s->batch_direct)
			s->st.batches_direct++;
		s->st.records_committed += n;
		s->st.bytes_committed += done.bytes;
		s->st.rows_inserted += (uint64_t)s->batch_rows_inserted;
		s->st.messages_inserted += (uint64_t)s->batch_msgs_inserted;
		if (s->single_left)
			s->single_left -= s->single_left < n ? s->single_left : n;
		while ((it = q_pop_head(&done)))
			item_finish(it, PGSINK_COMMITTED);
		return;
	}
	if (s->batch_direct && strcmp(s->sqlstate, "23505") == 0)
	{
		/* a replay: some key is stored already; go through staging */
		q_prepend(&s->queue, &done);
		s->staged_left = SINK_STAGED_AFTER_CONFLICT;
		sink_log("info", "replay",
		         "rows=%zu hold stored keys; loading through staging", n);
		return;
	}
	s->st.batch_errors++;
	if (s->batch_data_error && n == 1)
	{
		it = q_pop_head(&done);
		s->st.records_rejected++;
		if (s->single_left)
			s->single_left--;
		sink_log("error", "record_rejected", "kind=%s id=%s %s",
		         it->kind == ITEM_MESSAGE   ? "message"
		         : it->kind == ITEM_SESSION ? "session"
		                                    : "relay",
		         it->id, s->last_error);
		item_finish(it, PGSINK_REJECTED);
		return;
	}
	q_prepend(&s->queue, &done);
	if (s->batch_data_error)
	{
		/* isolate the bad record: the next n go one per transaction */
		sink_log("warn", "batch_failed", "rows=%zu retrying one by one: %s", n,
		         s->last_error);
		s->single_left = n;
		return;
	}
	if (count_failure(s))
		return;
	sink_log("warn", "batch_failed", "rows=%zu retry in %u ms: %s", n,
	         backoff_ms(s), s->last_error);
	s->retry_wait = true;
	retry_in(s, backoff_ms(s));
}

/* The current query returned all its results. */
static void
step_done(struct pgsink *s)
{
	enum step_kind k = s->steps[s->cur];

	if (k == STEP_ENSURE)
	{
		if (s->step_failed)
			sink_log("warn", "partitions",
			         "%s (rows go to the default partition)", s->last_error);
		else
			for (int i = 0; i < s->n_ensure; i++)
				month_remember(s, s->ensure_months[i]);
		s->step_failed = false;
		s->batch_data_error = false;
		s->sqlstate[0] = '\0';
	}
	if (k == STEP_ROLLBACK)
	{
		batch_end(s, false);
		return;
	}
	if (s->step_failed)
	{
		if (k == STEP_INSERT && PQtransactionStatus(s->conn) == PQTRANS_IDLE)
		{
			batch_end(s, false); /* COMMIT itself failed: nothing to undo */
			return;
		}
		s->batch_failed = true;
		s->steps[s->cur + 1] = STEP_ROLLBACK;
		s->nsteps = s->cur + 2;
	}
	else if (k == STEP_INSERT)
	{
		batch_end(s, true);
		return;
	}
	s->cur++;
	if (!step_send(s))
		conn_lost(s, "send");
}

/*
 * Drive the running query (setup or batch step): push COPY data, flush,
 * read results.  True when the query finished; false when waiting (the
 * right socket event is armed) or the connection broke (state changed).
 */
static bool
query_advance(struct pgsink *s)
{
	for (;;)
	{
		int r;

		if (s->copy >= COPY_HEADER && s->copy < COPY_DONE)
		{
			r = copy_push(s);
			if (r < 0 && PQstatus(s->conn) == CONNECTION_OK)
			{
				/* the server ended the COPY (an error): read why */
				set_error(s, "copy", PQerrorMessage(s->conn));
				s->step_failed = true;
				s->copy = COPY_DONE;
				r = 1;
			}
			if (r < 0)
			{
				conn_lost(s, "copy");
				return false;
			}
			if (r == 0)
			{
				io_watch(s, EV_WRITE);
				return false;
			}
		}
		r = PQflush(s->conn);
		if (r < 0)
		{
			conn_lost(s, "flush");
			return false;
		}
		if (r > 0)
		{
			/* libpq wants both: the server may be waiting for us to read */
			if (!PQconsumeInput(s->conn))
			{
				conn_lost(s, "read");
				return false;
			}
			io_watch(s, EV_READ | EV_WRITE);
			return false;
		}
		if (!PQconsumeInput(s->conn))
		{
			conn_lost(s, "read");
			return false;
		}
		while (!PQisBusy(s->conn))
		{
			PGresult *res = PQgetResult(s->conn);

			if (!res)
				return true;
			if (s->state == SINK_SETUP)
			{
				if (PQresultStatus(res) != PGRES_COMMAND_OK)
				{
					set_error(s, "setup", PQresultErrorMessage(res));
					s->step_failed = true;
				}
			}
			else
				step_result(s, res);
			PQclear(res);
			if (s->copy == COPY_HEADER)
				break; /* COPY IN started: push data */
		}
		if (s->copy == COPY_HEADER)
			continue;
		if (PQstatus(s->conn) == CONNECTION_BAD)
		{
			conn_lost(s, "connection");
			return false;
		}
		io_watch(s, EV_READ);
		return false;
	}
}

/* Advance the state machine as far as it goes without blocking. */
static void
sink_advance(struct pgsink *s)
{
	for (;;)
	{
		switch (s->state)
		{
			case SINK_DISCONNECTED:
			case SINK_FAILED:
				return;
			case SINK_CONNECTING:
				switch (PQconnectPoll(s->conn))
				{
					case PGRES_POLLING_READING:
						io_watch(s, EV_READ);
						return;
					case PGRES_POLLING_WRITING:
						io_watch(s, EV_WRITE);
						return;
					case PGRES_POLLING_OK:
						if (PQsetnonblocking(s->conn, 1) != 0 ||
						    PQsendQuery(s->conn, setup_sql) != 1)
						{
							conn_lost(s, "setup");
							return;
						}
						s->step_failed = false;
						s->state = SINK_SETUP;
						break;
					default:
						conn_lost(s, "connect");
						return;
				}
				break;
			case SINK_SETUP:
				if (!query_advance(s))
					return;
				if (s->step_failed)
				{
					conn_lost(s, "setup");
					return;
				}
				evtimer_del(s->retry_ev);
				s->st.connected = true;
				s->state = SINK_IDLE;
				if (s->attempts)
					sink_log("info", "connected", "after %u failed attempts",
					         s->attempts);
				break;
			case SINK_BUSY:
				if (!query_advance(s))
					return;
				step_done(s);
				break;
			case SINK_IDLE:
				/* notice a server that went away while we had nothing to do */
				if (!PQconsumeInput(s->conn) ||
				    PQstatus(s->conn) == CONNECTION_BAD)
				{
					conn_lost(s, "idle");
					return;
				}
				if (!batch_due(s))
				{
					io_watch(s, EV_READ);
					return;
				}
				evtimer_del(s->flush_ev);
				batch_take(s);
				s->state = SINK_BUSY;
				if (!step_send(s))
				{
					conn_lost(s, "send");
					return;
				}
				break;
		}
	}
}

/* --- queries for the caller --------------------------------------------- */

size_t
pgsink_pending_bytes(const struct pgsink *s)
{
	return s->queue.bytes + s->inflight.bytes;
}

size_t
pgsink_pending_records(const struct pgsink *s)
{
	return s->queue.n + s->inflight.n;
}

void
pgsink_flush(struct pgsink *s)
{
	s->flush_now = true;
	kick(s);
}

void
pgsink_drain(struct pgsink *s)
{
	s->draining = true;
	kick(s);
}

bool
pgsink_idle(const struct pgsink *s)
{
	return pgsink_pending_records(s) == 0;
}

bool
pgsink_failed(const struct pgsink *s)
{
	return s->state == SINK_FAILED;
}

const char *
pgsink_last_error(const struct pgsink *s)
{
	return s->last_error;
}

void
pgsink_get_stats(const struct pgsink *s, struct pgsink_stats *out)
{
	const struct item *oldest =
	    s->inflight.head ? s->inflight.head : s->queue.head;

	*out = s->st;
	out->pending_records = pgsink_pending_records(s);
	out->pending_bytes = pgsink_pending_bytes(s);
	out->lag_seconds =
	    oldest ? (double)(mono_us() - oldest->queued_us) / 1e6 : 0.0;
	out->connected = s->state == SINK_IDLE || s->state == SINK_BUSY;
	out->failed = s->state == SINK_FAILED;
}

bool
pgsink_wait_below(struct pgsink *s, size_t bytes)
{
	while (pgsink_pending_bytes(s) > bytes && s->state != SINK_FAILED)
		if (event_base_loop(s->base, EVLOOP_ONCE) != 0)
			return false; /* error, or nothing left that could move */
	return s->state != SINK_FAILED;
}

bool
pgsink_wait_idle(struct pgsink *s)
{
	pgsink_flush(s);
	while (pgsink_pending_records(s) && s->state != SINK_FAILED)
	{
		s->flush_now = true;
		kick(s);
		if (event_base_loop(s->base, EVLOOP_ONCE) != 0)
			return false;
	}
	return s->state != SINK_FAILED;
}
