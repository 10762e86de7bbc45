/*
 * session.c: connection handling for SMTP sessions: accepting (with the
 * total and per-address caps), reading with bounded buffers, the
 * commands-per-wakeup cap, backpressure, timeouts, TLS, closing, and the
 * session record written to the spool when the session ends.
 */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "rdns.h"
#include "smtp.h"
#include "spool.h"
#include "spoolrec.h"

/* DATA is decoded in steps of this many input bytes. */
#define DATA_STEP 65536
/* The most libevent 2.1 reads from a socket per read event. */
#define EV_READ_CAP 4096

/* ---- per-address session counts ---- */

#define PEER_BUCKETS 1024

struct peer_count
{
	char ip[64];
	int64_t n;
	struct peer_count *next;
};

static struct peer_count *peer_table[PEER_BUCKETS];

static unsigned
peer_hash(const char *ip)
{
	unsigned h = 5381;

	while (*ip)
		h = h * 33 + (unsigned char)*ip++;
	return h % PEER_BUCKETS;
}

static struct peer_count *
peer_get(const char *ip, bool create)
{
	unsigned h = peer_hash(ip);
	struct peer_count *p;

	for (p = peer_table[h]; p; p = p->next)
		if (strcmp(p->ip, ip) == 0)
			return p;
	if (!create || !(p = calloc(1, sizeof(*p))))
		return NULL;
	snprintf(p->ip, sizeof(p->ip), "%s", ip);
	p->next = peer_table[h];
	peer_table[h] = p;
	return p;
}

static void
peer_put(struct peer_count *p)
{
	struct peer_count **pp;

	if (--p->n > 0)
		return;
	for (pp = &peer_table[peer_hash(p->ip)]; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	free(p);
}

/* ---- time ---- */

int64_t
session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
session_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- small helpers ---- */

char *
session_strdup_wire(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = p[i] ? p[i] : (char)0xff;
	s[n] = '\0';
	return s;
}

/* Count message bytes held in memory by this session. */
static void
session_hold(struct session *s, int64_t delta)
{
	s->held_bytes += delta;
	g_daemon.inflight_bytes += delta;
	GAUGE_SET(G_INFLIGHT_BYTES, g_daemon.inflight_bytes);
	daemon_check_backpressure();
}

void
session_drop_body(struct session *s)
{
	if (s->body)
	{
		evbuffer_free(s->body);
		s->body = NULL;
	}
	if (s->held_bytes)
		session_hold(s, -s->held_bytes);
}

void
session_reset_transaction(struct session *s)
{
	free(s->mail_from);
	s->mail_from = NULL;
	for (size_t i = 0; i < s->n_rcpt; i++)
		free(s->rcpt[i]);
	free(s->rcpt);
	s->rcpt = NULL;
	s->n_rcpt = s->cap_rcpt = 0;
	s->smtputf8 = false;
	s->too_big = false;
	s->bdat_remaining = 0;
	s->bdat_last = false;
	s->bdat_failed = false;
	session_drop_body(s);
}

/* ---- the record of what the session did ---- */

void
session_record_command(struct session *s, const char *line, size_t len)
{
	struct session_command *c;

	s->cmd_open = false;
	if (len > RECORD_COMMAND_MAX)
		len = RECORD_COMMAND_MAX;
	if (s->n_cmds >= SESSION_RECORD_COMMANDS_MAX ||
	    s->cmd_bytes + len > SESSION_RECORD_BYTES_MAX)
	{
		s->cmds_dropped++;
		return;
	}
	if (s->n_cmds == s->cap_cmds)
	{
		size_t cap = s->cap_cmds ? s->cap_cmds * 2 : 8;
		struct session_command *n = realloc(s->cmds, cap * sizeof(*n));

		if (!n)
		{
			s->cmds_dropped++;
			return;
		}
		s->cmds = n;
		s->cap_cmds = cap;
	}
	c = &s->cmds[s->n_cmds];
	c->text = len ? malloc(len) : NULL;
	if (len && !c->text)
	{
		s->cmds_dropped++;
		return;
	}
	if (len)
		memcpy((char *)c->text, line, len);
	c->text_len = len;
	c->at = session_wall_us() - s->started_at;
	c->reply_code = 0;
	s->n_cmds++;
	s->cmd_bytes += len;
	s->cmd_open = true;
}

void
session_record_auth(struct session *s, const char *mech, const char *user,
                    const char *pass, const char *workstation, int code)
{
	struct session_auth *a, *n;

	if (s->n_auths >= SESSION_RECORD_AUTHS_MAX)
		return;
	n = realloc(s->auths, (s->n_auths + 1) * sizeof(*n));
	if (!n)
		return;
	s->auths = n;
	a = &s->auths[s->n_auths++];
	a->at = session_wall_us() - s->started_at;
	a->mechanism = strdup(mech);
	a->username = user ? strdup(user) : NULL;
	a->password = pass ? strdup(pass) : NULL;
	a->workstation = workstation ? strdup(workstation) : NULL;
	a->reply_code = code;
	log_event(LOG_INFO, s->sid, "auth", "mechanism=%s code=%d", mech, code);
}

/* ---- replies ---- */

/* Plain sessions start with writing off (see session_start): turn it on
 * before anything is buffered for the bufferevent to write. */
static void
session_enable_write(struct session *s)
{
	if (!(bufferevent_get_enabled(s->bev) & EV_WRITE))
		bufferevent_enable(s->bev, EV_WRITE);
}

/*
 * Queue reply bytes: behind a running persona delay, or to the client.  A
 * positive reply (2xx, 3xx) on a plain connection with nothing queued goes
 * straight to the socket: a bufferevent write would arm EPOLLOUT, wait for
 * the next loop pass, write, then disarm it (two epoll_ctl calls and a
 * wake-up for every reply of every message).  What the kernel does not
 * take, error replies (which may precede a close with unread input, whose
 * timing clients see) and everything on TLS go through the bufferevent as
 * before, so ordering, the output bound (session_buffer_max) and error
 * reporting are unchanged.
 */
static void
session_write(struct session *s, int code, const char *p, size_t n)
{
	if (s->delaying)
	{
		evbuffer_add(s->held_out, p, n);
		return;
	}
	if (code >= 200 && code < 400 && !s->implicit_tls &&
	    !bufferevent_get_underlying(s->bev) &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
	{
		ssize_t w =
		    send(bufferevent_getfd(s->bev), p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		/* an error is left to the bufferevent's write, which reports it */
		if (w > 0)
		{
			p += w;
			n -= (size_t)w;
		}
	}
	if (!n)
		return;
	session_enable_write(s);
	bufferevent_write(s->bev, p, n);
}

static void
session_note_reply(struct session *s, int code)
{
	if (s->cmd_open && s->n_cmds)
	{
		s->cmds[s->n_cmds - 1].reply_code = code;
		s->cmd_open = false;
	}
}

void
session_reply(struct session *s, int code, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (s->conn_dead)
		return;
	n = snprintf(line, sizeof(line), "%03d ", code);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	/* "334 " with an empty challenge must stay "334 " */
	session_write(s, code, line, (size_t)n);
	session_note_reply(s, code);
}

void
session_reply_raw(struct session *s, int code, const char *text)
{
	if (s->conn_dead)
		return;
	session_write(s, code, text, strlen(text));
	session_note_reply(s, code);
}

static void session_finish_close(struct session *s);

/*
 * Nothing holds the replies any more (the persona's delay is over and the
 * reverse DNS lookup is done): send what waited, read on.
 */
static void
session_release_held(struct session *s)
{
	if (s->delay_timer || s->rdns_wait || !s->delaying)
		return;
	s->delaying = false;
	if (s->conn_dead)
		evbuffer_drain(s->held_out, evbuffer_get_length(s->held_out));
	else
	{
		session_enable_write(s);
		bufferevent_write_buffer(s->bev, s->held_out);
	}
	if (s->state == SESSION_STATE_CLOSING)
	{
		session_finish_close(s);
		return;
	}
	/* commands that arrived meanwhile (pipelining) */
	event_active(s->resume_ev, 0, 0);
}

static void
session_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->delay_timer = false;
	session_release_held(s);
}

void
session_delay(struct session *s, unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (ms == 0 || s->delay_timer || s->conn_dead)
		return;
	if (!s->delay_ev &&
	    !(s->delay_ev = evtimer_new(g_daemon.base, session_delay_cb, s)))
		return;
	if (!s->held_out && !(s->held_out = evbuffer_new()))
		return;
	if (evtimer_add(s->delay_ev, &tv) == 0)
		s->delay_timer = s->delaying = true;
}

/* ---- reverse DNS ---- */

static const enum metric_counter rdns_metric[RDNS_N_STATUS] = {
    M_RDNS_CONFIRMED, M_RDNS_UNCONFIRMED, M_RDNS_NONE,
    M_RDNS_TIMEOUT,   M_RDNS_ERROR,
};

/* Record a finished lookup: the session, a log line, a counter. */
static void
session_rdns_note(struct session *s, enum rdns_status st, const char *name)
{
	char q[RDNS_NAME_MAX * 4];

	s->rdns_status = rdns_status_name(st);
	s->rdns_confirmed = st == RDNS_CONFIRMED && name;
	free(s->rdns);
	s->rdns = name ? strdup(name) : NULL;
	METRIC_INC(rdns_metric[(unsigned)st < RDNS_N_STATUS ? st : RDNS_ERROR]);
	log_event(LOG_INFO, s->sid, "rdns",
	          "peer=%s status=%s name=%s duration_ms=%lld", s->peer_ip,
	          s->rdns_status,
	          name ? log_quote(q, sizeof(q), name, strlen(name)) : "-",
	          (long long)((session_wall_us() - s->started_at) / 1000));
}

static void
session_rdns_cb(void *arg, enum rdns_status st, const char *name)
{
	struct session *s = arg;

	s->rdns_q = NULL;
	s->rdns_wait = false;
	session_rdns_note(s, st, name);
	session_release_held(s);
}

/*
 * Look the client up before the banner (the replies wait in held_out like
 * behind a persona delay, and run in parallel with the banner delay).
 */
static void
session_rdns_start(struct session *s, const struct sockaddr *sa)
{
	if (!s->held_out && !(s->held_out = evbuffer_new()))
	{
		session_rdns_note(s, RDNS_ERROR, NULL);
		return;
	}
	s->rdns_q = rdns_lookup_start(g_daemon.rdns, sa, session_rdns_cb, s);
	if (!s->rdns_q)
	{
		session_rdns_note(s, RDNS_ERROR, NULL);
		return;
	}
	s->rdns_wait = s->delaying = true;
}

/* The client left during the lookup: abandon it.  Recorded as such: a
 * client that will not wait for a banner is itself worth knowing. */
static void
session_rdns_abandon(struct session *s)
{
	if (!s->rdns_q)
		return;
	rdns_lookup_cancel(s->rdns_q);
	s->rdns_q = NULL;
	s->rdns_wait = false;
	s->rdns_status = "abandoned";
	log_event(LOG_INFO, s->sid, "rdns", "peer=%s status=abandoned", s->peer_ip);
}

/* ---- state ---- */

static const char *const state_names[SESSION_STATE_COUNT] = {
    "tls_handshake", "greeted", "ready", "mail",     "rcpt",
    "data",          "bdat",    "auth",  "spooling", "closing",
};

static bool
state_reads_commands(enum session_state st)
{
	return st == SESSION_STATE_GREETED || st == SESSION_STATE_READY ||
	       st == SESSION_STATE_MAIL || st == SESSION_STATE_RCPT ||
	       st == SESSION_STATE_AUTH;
}

static bool
state_reads_data(enum session_state st)
{
	return st == SESSION_STATE_DATA || st == SESSION_STATE_BDAT;
}

/* Should this session be read, given global backpressure? */
static bool
session_may_read(const struct session *s)
{
	if (state_reads_commands(s->state))
		return g_daemon.pause_level < 1;
	if (state_reads_data(s->state))
		return g_daemon.pause_level < 2;
	return false;
}

void
session_enter_state(struct session *s, enum session_state st)
{
	enum session_state prev = s->state;
	int64_t now = session_now_ms();

	s->state = st;
	if (st != prev)
		log_event(LOG_DEBUG, s->sid, "state", "from=%s to=%s",
		          state_names[prev], state_names[st]);
	switch (st)
	{
		case SESSION_STATE_TLS_HANDSHAKE:
			s->deadline = now + g_daemon.cfg.tls_handshake_timeout * 1000;
			break;
		case SESSION_STATE_DATA:
		case SESSION_STATE_BDAT:
			s->deadline = now + g_daemon.cfg.data_timeout * 1000;
			break;
		case SESSION_STATE_SPOOLING:
			s->deadline = 0; /* the spool always answers */
			break;
		case SESSION_STATE_CLOSING:
			s->deadline = now + 10000; /* to flush the last reply */
			bufferevent_disable(s->bev, EV_READ);
			if (s->conn_dead || s->spool_wait ||
			    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
				event_active(s->resume_ev, 0, 0);
			return;
		default:
			s->deadline = now + g_daemon.cfg.command_timeout * 1000;
			break;
	}
	if (g_daemon.draining &&
	    (st == SESSION_STATE_READY || st == SESSION_STATE_GREETED))
	{
		smtp_reply(s, PERSONA_SHUTDOWN, NULL);
		session_close(s, "shutdown");
		return;
	}
	/* TLS: the filter bufferevent reads during the handshake.  SPOOLING
	 * leaves reading on (off and on again would cost two epoll_ctl calls
	 * per message): session_process() takes nothing in this state, the
	 * read high-water mark (session_buffer_max) bounds what a pipelining
	 * client queues meanwhile, and an end of file is handled only after
	 * the spool answered (session_event_cb) */
	if (st == SESSION_STATE_SPOOLING || st == SESSION_STATE_TLS_HANDSHAKE)
		return;
	session_apply_backpressure(s);
	/* input that arrived while we were not reading (pipelining) */
	if ((prev == SESSION_STATE_SPOOLING ||
	     prev == SESSION_STATE_TLS_HANDSHAKE) &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		event_active(s->resume_ev, 0, 0);
}

void
session_apply_backpressure(struct session *s)
{
	bool may = session_may_read(s) && !s->out_blocked;

	if (s->state == SESSION_STATE_CLOSING ||
	    s->state == SESSION_STATE_SPOOLING ||
	    s->state == SESSION_STATE_TLS_HANDSHAKE)
		return;
	if (may)
	{
		if (s->paused)
		{
			s->paused = false;
			if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
				event_active(s->resume_ev, 0, 0);
		}
		bufferevent_enable(s->bev, EV_READ);
	}
	else
	{
		if (!s->paused && !s->out_blocked)
			METRIC_INC(M_BACKPRESSURE_PAUSES);
		s->paused = !session_may_read(s);
		bufferevent_disable(s->bev, EV_READ);
	}
}

/* ---- reading ---- */

static char *line_buf;
static size_t line_buf_size;

/* Decode DATA input; true if the caller should go on processing. */
static bool
session_read_data(struct session *s, struct evbuffer *in)
{
	static char out[DATA_STEP + 2];
	struct evbuffer_iovec v;
	size_t used, outlen;

	if (evbuffer_get_length(in) == 0 ||
	    evbuffer_peek(in, DATA_STEP, NULL, &v, 1) < 1 || v.iov_len == 0)
		return false;
	if (v.iov_len > DATA_STEP)
		v.iov_len = DATA_STEP;
	used = dotstuff_feed(&s->ds, v.iov_base, v.iov_len, out, &outlen);
	evbuffer_drain(in, used);
	s->deadline = session_now_ms() + g_daemon.cfg.data_timeout * 1000;
	if (!s->too_big && outlen)
	{
		if ((int64_t)(evbuffer_get_length(s->body) + outlen) >
		    g_daemon.cfg.max_message_size)
		{
			/* keep reading to the end, store nothing more */
			s->too_big = true;
			session_drop_body(s);
		}
		else
		{
			evbuffer_add(s->body, out, outlen);
			session_hold(s, (int64_t)outlen);
		}
	}
	if (s->ds.done)
	{
		/* the end-of-data line gets the message's reply in the record */
		session_record_command(s, ".", 1);
		smtp_message_done(s);
	}
	return true;
}

/*
 * DATA on a plain connection, the input buffer just emptied: libevent 2.1
 * reads at most 4096 bytes per read event (EVBUFFER_MAX_READ), so a 4 KB
 * message took two loop passes (each a wake-up, an ioctl and a read) and
 * a 40 KB one ten.  Read the socket directly instead, into the same input
 * buffer (order kept; bytes after the end of the data stay there for the
 * command reader), at most DATA_STEP or session_buffer_max at a time.
 * The bufferevent freezes the end of its input buffer, so the bytes go in
 * at the front, which is the end while it is empty.
 * An end of file or an error is left to the bufferevent's next read,
 * which reports it as before.  True if bytes were added.
 */
static bool
session_read_direct(struct session *s, struct evbuffer *in, bool *more)
{
	static char buf[DATA_STEP];
	size_t want = sizeof(buf);
	ssize_t r;

	if (!*more || s->implicit_tls || bufferevent_get_underlying(s->bev) ||
	    evbuffer_get_length(in) != 0)
		return false;
	if ((size_t)g_daemon.cfg.session_buffer_max < want)
		want = (size_t)g_daemon.cfg.session_buffer_max;
	r = recv(bufferevent_getfd(s->bev), buf, want, MSG_DONTWAIT);
	/* a short read drained the socket: do not ask again (EAGAIN) */
	*more = r == (ssize_t)want;
	if (r <= 0)
		return false;
	if (evbuffer_prepend(in, buf, (size_t)r) != 0)
	{
		/* the bytes are gone: this message cannot be accepted */
		*more = false;
		session_reply(s, 421, "4.3.0 %s Error: out of memory",
		              g_daemon.hostname);
		session_close(s, "error");
		return false;
	}
	return true;
}

/* Move BDAT chunk bytes; true if the caller should go on processing. */
static bool
session_read_bdat(struct session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t n =
	    avail < (uint64_t)s->bdat_remaining ? avail : (size_t)s->bdat_remaining;

	if (n == 0 && s->bdat_remaining > 0)
		return false;
	s->deadline = session_now_ms() + g_daemon.cfg.data_timeout * 1000;
	if (s->bdat_failed || s->too_big)
		evbuffer_drain(in, n);
	else if ((int64_t)(evbuffer_get_length(s->body) + n) >
	         g_daemon.cfg.max_message_size)
	{
		s->too_big = true;
		session_drop_body(s);
		evbuffer_drain(in, n);
	}
	else
	{
		evbuffer_remove_buffer(in, s->body, n);
		session_hold(s, (int64_t)n);
	}
	s->bdat_remaining -= (int64_t)n;
	if (s->bdat_remaining == 0)
	{
		if (s->too_big && !s->bdat_last)
		{
			/* swallow the rest of the chunks; report at LAST */
			char num[32];

			snprintf(num, sizeof(num), "%lld", (long long)s->bdat_chunk);
			smtp_reply(s, PERSONA_BDAT_OK, num);
			session_enter_state(s, SESSION_STATE_RCPT);
		}
		else if (s->too_big)
		{
			smtp_message_done(s);
		}
		else
			smtp_bdat_chunk_done(s);
	}
	return true;
}

/* Too-long command line: one 500 per line, the rest skipped. */
static void
session_line_too_long(struct session *s)
{
	METRIC_INC(M_LIMIT_LINE_LENGTH);
	log_event(LOG_INFO, s->sid, "limit", "limit=line_length max=%lld",
	          (long long)g_daemon.cfg.max_line_length);
	session_record_command(s, "(line too long)", 15);
	smtp_reply(s, PERSONA_LINE_TOO_LONG, NULL);
	if (s->state == SESSION_STATE_AUTH)
	{
		s->auth_step = AUTH_STEP_NONE;
		session_enter_state(s, SESSION_STATE_READY);
	}
}

/* Read what the client sent, as far as state and caps allow. */
static void
session_process(struct session *s)
{
	int ncmd = 0;
	/* libevent's read may have stopped at its cap: more may be waiting */
	bool more =
	    evbuffer_get_length(bufferevent_get_input(s->bev)) >= EV_READ_CAP;

	for (;;)
	{
		struct evbuffer *in = bufferevent_get_input(s->bev);
		struct evbuffer_ptr eol;
		size_t eol_len = 0, avail, len;

		if (s->paused || s->out_blocked || s->delaying)
			return;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    (size_t)g_daemon.cfg.session_buffer_max)
		{
			/* the client does not read our replies: stop reading it */
			s->out_blocked = true;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (s->state == SESSION_STATE_DATA)
		{
			if (!session_read_data(s, in) && !session_read_direct(s, in, &more))
				return;
			continue;
		}
		if (s->state == SESSION_STATE_BDAT)
		{
			if (!session_read_bdat(s, in))
				return;
			continue;
		}
		if (!state_reads_commands(s->state))
			return;
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return;
		if (ncmd >= g_daemon.cfg.commands_per_wakeup)
		{
			/* let other sessions run; continue on the next loop pass */
			METRIC_INC(M_LIMIT_COMMANDS_PER_WAKEUP);
			event_active(s->resume_ev, 0, 0);
			return;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0)
		{
			if (avail > (size_t)g_daemon.cfg.max_line_length)
			{
				if (!s->discarding)
				{
					session_line_too_long(s);
					s->discarding = true;
				}
				evbuffer_drain(in, avail);
			}
			return;
		}
		len = (size_t)eol.pos;
		if (s->discarding || len > (size_t)g_daemon.cfg.max_line_length)
		{
			evbuffer_drain(in, len + eol_len);
			if (!s->discarding)
				session_line_too_long(s);
			s->discarding = false;
			ncmd++;
			continue;
		}
		if (len + 1 > line_buf_size)
		{
			char *nb = realloc(line_buf, len + 1);

			if (!nb)
			{
				smtp_reply(s, PERSONA_NO_STORAGE, NULL);
				session_close(s, "error");
				return;
			}
			line_buf = nb;
			line_buf_size = len + 1;
		}
		evbuffer_remove(in, line_buf, len);
		evbuffer_drain(in, eol_len);
		if (len && line_buf[len - 1] == '\r')
			len--;
		line_buf[len] = '\0';
		ncmd++;
		s->pipelined = evbuffer_get_length(in) > 0;
		smtp_handle_line(s, line_buf, len);
		if (state_reads_commands(s->state))
			s->deadline =
			    session_now_ms() + g_daemon.cfg.command_timeout * 1000;
	}
}

static void session_free(struct session *s);

/* Reply bytes not yet handed to the kernel (TLS: both layers). */
static size_t
session_output_pending(struct session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	if (s->held_out)
		n += evbuffer_get_length(s->held_out);
	return n;
}

/* CLOSING: free once the last reply is out (or cannot go out). */
static void
session_finish_close(struct session *s)
{
	static const struct timeval retry = {0, 20000};

	if (s->conn_dead && s->rdns_wait)
	{
		/* nobody will read the banner: do not wait for the lookup */
		session_rdns_abandon(s);
		if (!s->delay_timer)
		{
			s->delaying = false;
			evbuffer_drain(s->held_out, evbuffer_get_length(s->held_out));
		}
	}
	if (s->spool_wait || s->delaying)
		return; /* the spool callback, delay timer or lookup comes back */
	if (s->conn_dead || session_output_pending(s) == 0)
	{
		session_free(s);
		return;
	}
	/* the TLS layer below flushes on its own; look again shortly */
	if (!bufferevent_get_underlying(s->bev))
		return; /* the write callback will come */
	event_add(s->resume_ev, &retry);
}

static void
session_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == SESSION_STATE_CLOSING)
	{
		session_finish_close(s);
		return;
	}
	session_process(s);
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SESSION_STATE_CLOSING)
	{
		session_finish_close(s);
		return;
	}
	if (s->out_blocked)
	{
		s->out_blocked = false;
		session_apply_backpressure(s);
		event_active(s->resume_ev, 0, 0);
	}
}

/* Describe the negotiated TLS session, "TLSv1.3 TLS_AES_256_GCM_SHA384". */
static void
session_tls_done(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	char buf[128];

	snprintf(buf, sizeof(buf), "%s %s", ssl ? SSL_get_version(ssl) : "?",
	         ssl ? SSL_get_cipher_name(ssl) : "?");
	free(s->tls_desc);
	s->tls_desc = strdup(buf);
	s->tls_active = true;
	METRIC_INC(M_TLS_HANDSHAKES);
	log_event(LOG_INFO, s->sid, "tls", "tls=\"%s\"", buf);
	if (s->implicit_tls && !s->helo && s->n_cmds == 0)
	{
		smtp_greet(s);
		return;
	}
	/* RFC 3207: forget everything learnt before TLS */
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	free(s->auth_user);
	free(s->auth_pass);
	s->auth_user = s->auth_pass = NULL;
	session_reset_transaction(s);
	session_enter_state(s, SESSION_STATE_GREETED);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
	{
		session_tls_done(s);
		return;
	}
	if (what & BEV_EVENT_ERROR)
	{
		unsigned long e = bufferevent_get_openssl_error(bev);
		char buf[256] = "";

		if (e)
			ERR_error_string_n(e, buf, sizeof(buf));
		log_event(LOG_INFO, s->sid, "conn_error", "error=\"%s\"",
		          e ? buf : strerror(EVUTIL_SOCKET_ERROR()));
	}
	if (what == (BEV_EVENT_EOF | BEV_EVENT_READING) &&
	    s->state == SESSION_STATE_SPOOLING)
	{
		/* the client closed its side while its message is being spooled
		 * (a half-close may still read the 250): the bufferevent stopped
		 * reading; when the next state turns reading on again, the input
		 * already read is processed first and the end of file comes
		 * back, in order */
		return;
	}
	s->conn_dead = true;
	if (s->state == SESSION_STATE_CLOSING)
	{
		event_active(s->resume_ev, 0, 0);
		return;
	}
	if (s->state == SESSION_STATE_TLS_HANDSHAKE)
		session_close(s, "tls_error");
	else
		session_close(s, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

static void
session_set_callbacks(struct session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	                  session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0,
	                         (size_t)g_daemon.cfg.session_buffer_max);
}

bool
session_start_tls(struct session *s)
{
	SSL *ssl = SSL_new(g_daemon.ssl_ctx);
	struct bufferevent *tls;

	if (!ssl)
		return false;
	/* anything pipelined after STARTTLS was sent in clear: drop it
	 * (CVE-2011-0411 class of command injection) */
	evbuffer_drain(bufferevent_get_input(s->bev),
	               evbuffer_get_length(bufferevent_get_input(s->bev)));
	/* the TLS filter writes through the plain bufferevent */
	bufferevent_enable(s->bev, EV_WRITE);
	tls = bufferevent_openssl_filter_new(g_daemon.base, s->bev, ssl,
	                                     BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (!tls)
	{
		SSL_free(ssl);
		return false;
	}
	s->bev = tls;
	session_set_callbacks(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	session_enter_state(s, SESSION_STATE_TLS_HANDSHAKE);
	return true;
}

/* ---- start and end ---- */

static void
session_refuse(evutil_socket_t fd, const char *why, enum persona_reply r,
               enum metric_counter m, const char *ip)
{
	char line[512];
	size_t n = smtp_refusal(r, ip, line, sizeof(line));

	METRIC_INC(m);
	log_event(LOG_INFO, NULL, "refused", "reason=%s peer=%s", why, ip);
	if (n && send(fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_event(LOG_DEBUG, NULL, "refuse_send_failed", "peer=%s", ip);
	evutil_closesocket(fd);
}

bool
session_start(evutil_socket_t fd, const struct sockaddr *sa, int salen,
              bool implicit_tls)
{
	struct session *s;
	char ip[64] = "?";
	int port = -1;
	struct peer_count *peer;
	struct timespec now;

	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	}
	else if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	if (g_daemon.draining)
	{
		session_refuse(fd, "draining", PERSONA_SHUTDOWN, M_REFUSED_DRAINING,
		               ip);
		return false;
	}
	if (g_daemon.n_sessions >= g_daemon.cfg.max_sessions)
	{
		session_refuse(fd, "max_sessions", PERSONA_TOO_MANY_CONNECTIONS,
		               M_REFUSED_MAX_SESSIONS, ip);
		return false;
	}
	peer = peer_get(ip, true);
	if (!peer)
	{
		evutil_closesocket(fd);
		return false;
	}
	if (peer->n >= g_daemon.cfg.max_sessions_per_ip)
	{
		session_refuse(fd, "max_sessions_per_ip", PERSONA_TOO_MANY_FROM_IP,
		               M_REFUSED_MAX_SESSIONS_PER_IP, ip);
		return false;
	}
	peer->n++;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto fail;
	s->peer = peer;
	clock_gettime(CLOCK_REALTIME, &now);
	if (!uuid7_generate(&s->id, &now))
		goto fail;
	uuid7_format(&s->id, s->sid);
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", ip);
	s->peer_port = port;
	s->started_at = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	s->implicit_tls = implicit_tls;
	s->resume_ev = event_new(g_daemon.base, -1, 0, session_resume_cb, s);
	if (!s->resume_ev)
		goto fail;
	if (implicit_tls)
	{
		SSL *ssl = SSL_new(g_daemon.ssl_ctx);

		if (!ssl)
			goto fail;
		s->bev = bufferevent_openssl_socket_new(g_daemon.base, fd, ssl,
		                                        BUFFEREVENT_SSL_ACCEPTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
		if (!s->bev)
		{
			SSL_free(ssl);
			goto fail;
		}
	}
	else
	{
		s->bev =
		    bufferevent_socket_new(g_daemon.base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!s->bev)
			goto fail;
	}
	fd = -1; /* the bufferevent owns it now */
	session_set_callbacks(s);
	/* plain: writing is turned on by session_write() when a reply has to
	 * be buffered (most never are); on with nothing queued it would arm
	 * EPOLLOUT, wake up once and disarm it for every connection */
	if (implicit_tls)
		bufferevent_enable(s->bev, EV_WRITE);
	s->next = g_daemon.sessions;
	if (s->next)
		s->next->prev = s;
	g_daemon.sessions = s;
	g_daemon.n_sessions++;
	GAUGE_SET(G_SESSIONS_ACTIVE, g_daemon.n_sessions);
	METRIC_INC(M_SESSIONS);
	log_event(LOG_INFO, s->sid, "connect", "peer=%s port=%d tls=%s", ip, port,
	          implicit_tls ? "implicit" : "no");
	if (implicit_tls)
	{
		s->state = SESSION_STATE_TLS_HANDSHAKE;
		session_enter_state(s, SESSION_STATE_TLS_HANDSHAKE);
		bufferevent_enable(s->bev, EV_READ);
	}
	if (g_daemon.rdns)
		session_rdns_start(s, sa);
	if (!implicit_tls)
		smtp_greet(s);
	return true;
fail:
	log_event(LOG_ERROR, NULL, "session_start_failed", "peer=%s", ip);
	if (s)
	{
		if (s->bev)
			bufferevent_free(s->bev);
		if (s->resume_ev)
			event_free(s->resume_ev);
		free(s);
	}
	if (fd >= 0)
		evutil_closesocket(fd);
	peer_put(peer);
	return false;
}

void
session_close(struct session *s, const char *reason)
{
	if (!s->reason)
		s->reason = reason;
	if (s->spool_wait)
	{
		/* the spool will call back; free then */
		s->dead = true;
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	if (s->state != SESSION_STATE_CLOSING)
		session_enter_state(s, SESSION_STATE_CLOSING);
}

static void
session_spool_noop(void *arg, bool ok)
{
	if (!ok)
		METRIC_INC(M_SPOOL_ERRORS);
}

/* Spool the session record for spamlab.smtp_session. */
static void
session_write_record(struct session *s)
{
	struct session_record r;
	struct evbuffer *b;
	struct iovec iov;

	if (!g_daemon.spool)
		return;
	memset(&r, 0, sizeof(r));
	r.id = s->id;
	r.started_at = s->started_at;
	r.ended_at = session_wall_us();
	r.sensor = g_daemon.sensor;
	r.peer_ip = s->peer_ip;
	r.peer_port = s->peer_port;
	r.helo = s->helo;
	r.tls = s->tls_desc;
	r.disconnect_reason = s->reason ? s->reason : "unknown";
	r.rdns = s->rdns;
	r.rdns_status = s->rdns_status;
	r.commands = s->cmds;
	r.n_commands = s->n_cmds;
	r.auths = s->auths;
	r.n_auths = s->n_auths;
	b = evbuffer_new();
	if (!b || !spoolrec_encode_session(b, &r))
	{
		log_event(LOG_ERROR, s->sid, "session_record_failed", NULL);
		if (b)
			evbuffer_free(b);
		return;
	}
	iov.iov_len = evbuffer_get_length(b);
	iov.iov_base = evbuffer_pullup(b, -1);
	if (!spool_append(g_daemon.spool, SPOOL_REC_SESSION, &iov, 1,
	                  session_spool_noop, NULL))
		METRIC_INC(M_SPOOL_ERRORS);
	evbuffer_free(b);
}

static enum metric_counter
disconnect_metric(const char *reason)
{
	if (!strcmp(reason, "quit"))
		return M_DISCONNECT_QUIT;
	if (!strcmp(reason, "eof"))
		return M_DISCONNECT_CLIENT;
	if (!strcmp(reason, "timeout"))
		return M_DISCONNECT_TIMEOUT;
	if (!strcmp(reason, "shutdown"))
		return M_DISCONNECT_SHUTDOWN;
	return M_DISCONNECT_ERROR;
}

static void
session_free(struct session *s)
{
	const char *reason = s->reason ? s->reason : "unknown";

	METRIC_INC(disconnect_metric(reason));
	log_event(LOG_INFO, s->sid, "disconnect",
	          "reason=%s commands=%zu dropped_commands=%zu duration_ms=%lld",
	          reason, s->n_cmds, s->cmds_dropped,
	          (long long)((session_wall_us() - s->started_at) / 1000));
	session_write_record(s);
	session_reset_transaction(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		g_daemon.sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	g_daemon.n_sessions--;
	GAUGE_SET(G_SESSIONS_ACTIVE, g_daemon.n_sessions);
	peer_put(s->peer);
	if (s->rdns_q)
		rdns_lookup_cancel(s->rdns_q);
	free(s->rdns);
	bufferevent_free(s->bev);
	event_free(s->resume_ev);
	if (s->delay_ev)
		event_free(s->delay_ev);
	if (s->held_out)
		evbuffer_free(s->held_out);
	for (size_t i = 0; i < s->n_cmds; i++)
		free((char *)s->cmds[i].text);
	free(s->cmds);
	for (size_t i = 0; i < s->n_auths; i++)
	{
		free((char *)s->auths[i].mechanism);
		free((char *)s->auths[i].username);
		free((char *)s->auths[i].password);
		free((char *)s->auths[i].workstation);
	}
	free(s->auths);
	free(s->helo);
	free(s->tls_desc);
	free(s->auth_user);
	free(s->auth_pass);
	free(s->auth_pending_user);
	free(s);
}

void
session_janitor(int64_t now)
{
	struct session *s, *next;

	for (s = g_daemon.sessions; s; s = next)
	{
		next = s->next;
		if (!s->deadline || now < s->deadline || s->spool_wait)
			continue;
		if (s->state == SESSION_STATE_CLOSING)
		{
			/* the client does not take our last reply: give up */
			s->conn_dead = true;
			session_free(s);
			continue;
		}
		if (g_daemon.draining)
		{
			smtp_reply(s, PERSONA_SHUTDOWN, NULL);
			session_close(s, "shutdown");
			continue;
		}
		if (state_reads_data(s->state))
			METRIC_INC(M_LIMIT_DATA_TIMEOUT);
		else
			METRIC_INC(M_LIMIT_COMMAND_TIMEOUT);
		log_event(LOG_INFO, s->sid, "limit", "limit=%s state=%s",
		          state_reads_data(s->state) ? "data_timeout"
		                                     : "command_timeout",
		          state_names[s->state]);
		smtp_reply(s, PERSONA_TIMEOUT, NULL);
		session_close(s, "timeout");
	}
}

void
session_drain_all(int64_t deadline)
{
	struct session *s, *next;

	for (s = g_daemon.sessions; s; s = next)
	{
		next = s->next;
		if ((s->state == SESSION_STATE_READY ||
		     s->state == SESSION_STATE_GREETED) &&
		    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
		{
			smtp_reply(s, PERSONA_SHUTDOWN, NULL);
			session_close(s, "shutdown");
		}
		else if (s->state != SESSION_STATE_CLOSING &&
		         (!s->deadline || s->deadline > deadline))
			s->deadline = deadline;
	}
}
