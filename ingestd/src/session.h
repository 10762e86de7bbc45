/*
 * session.h: one SMTP connection: its buffers, limits, timers, the record
 * of what it did, and the one place its state changes.
 */
#ifndef SPAMLAB_SESSION_H
#define SPAMLAB_SESSION_H

#include <event2/util.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dotstuff.h"
#include "record.h"
#include "uuid7.h"

struct bufferevent;
struct evbuffer;
struct event;

/* Named states (see docs/ingestd.md for the state/event/action table). */
enum session_state
{
	SESSION_STATE_TLS_HANDSHAKE, /* implicit TLS or after STARTTLS */
	SESSION_STATE_GREETED,       /* 220 sent, waiting for HELO/EHLO */
	SESSION_STATE_READY,         /* HELO/EHLO done, no transaction */
	SESSION_STATE_MAIL,          /* MAIL accepted, no recipient yet */
	SESSION_STATE_RCPT,          /* at least one recipient */
	SESSION_STATE_DATA,          /* reading message content after 354 */
	SESSION_STATE_BDAT,          /* reading a BDAT chunk */
	SESSION_STATE_AUTH,          /* waiting for an AUTH continuation line */
	SESSION_STATE_SPOOLING,      /* message complete, waiting for fsync */
	SESSION_STATE_CLOSING,       /* flushing the last reply, then close */
	SESSION_STATE_COUNT
};

enum auth_step
{
	AUTH_STEP_NONE,
	AUTH_STEP_PLAIN,             /* waiting for the PLAIN response */
	AUTH_STEP_LOGIN_USER,        /* waiting for the user name */
	AUTH_STEP_LOGIN_PASS,        /* waiting for the password */
	AUTH_STEP_NTLM_NEGOTIATE,    /* waiting for NTLM's NEGOTIATE */
	AUTH_STEP_NTLM_AUTHENTICATE, /* CHALLENGE sent, waiting for the answer */
	AUTH_STEP_GSSAPI,            /* waiting for a GSSAPI token */
};

/* Caps on what one session records about itself. */
#define SESSION_RECORD_COMMANDS_MAX 1000
#define SESSION_RECORD_BYTES_MAX    (64 * 1024)
#define SESSION_RECORD_AUTHS_MAX    50

struct peer_count;
struct rdns_lookup;

struct session
{
	struct uuid7 id;
	char sid[UUID7_STRLEN + 1];
	struct bufferevent *bev;
	struct event *resume_ev; /* continue after the commands-per-wakeup cap */
	char peer_ip[64];
	int peer_port;
	struct peer_count *peer;
	enum session_state state;
	int64_t started_at; /* Unix microseconds */
	int64_t deadline;   /* monotonic ms when the current wait times out */
	bool esmtp;
	bool tls_active;
	bool implicit_tls;
	bool discarding;  /* skipping the rest of an over-long line */
	bool spool_wait;  /* a spool callback will come back to us */
	bool dead;        /* closed while spool_wait: free on callback */
	bool paused;      /* reading disabled for backpressure */
	bool out_blocked; /* reading disabled until replies drain */
	bool conn_dead;   /* EOF or error: nothing more can be sent */
	char *helo;
	char *tls_desc;
	int errors;

	/* the transaction */
	char *mail_from;
	char **rcpt;
	size_t n_rcpt, cap_rcpt;
	bool smtputf8;
	struct evbuffer *body;
	struct dotstuff ds;
	bool too_big;
	int64_t bdat_remaining;
	int64_t bdat_chunk; /* the size the current BDAT announced */
	bool bdat_last;
	bool bdat_failed;   /* a chunk arrived out of order: swallow, then 503 */
	int64_t held_bytes; /* counted in g_daemon.inflight_bytes */
	size_t msg_bytes;   /* size of the message being spooled */
	struct uuid7 msg_id;
	char msg_sid[UUID7_STRLEN + 1];
	char msg_qid[64]; /* the persona's queue id in the 250 reply */

	/* the persona's delays: replies wait in held_out until delay_ev */
	struct event *delay_ev;
	struct evbuffer *held_out;
	bool delaying;    /* no command is read meanwhile (replies stay in order) */
	bool delay_timer; /* delay_ev runs (delaying may also be rdns_wait) */
	bool pipelined;   /* more input follows the command being handled */

	/* reverse DNS (rdns.c): replies are held (delaying) until it is done */
	struct rdns_lookup *rdns_q;
	bool rdns_wait;          /* the lookup runs */
	bool rdns_confirmed;     /* rdns is forward-confirmed */
	char *rdns;              /* the PTR name, or NULL */
	const char *rdns_status; /* rdns_status_name() or "abandoned", NULL:
	                            not looked up */

	/* AUTH */
	enum auth_step auth_step;
	char *auth_user; /* last accepted credentials, attached to messages */
	char *auth_pass;
	char *auth_pending_user;
	uint8_t ntlm_challenge[8]; /* the server challenge we sent */
	uint32_t ntlm_flags;       /* and the flags it granted */

	/* what the session did, for spamlab.smtp_session */
	struct session_command *cmds;
	size_t n_cmds, cap_cmds, cmd_bytes, cmds_dropped;
	bool cmd_open; /* the last command has no reply code yet */
	struct session_auth *auths;
	size_t n_auths;
	const char *reason;

	struct session *prev, *next; /* g_daemon.sessions */
};

/* Take over an accepted socket; false (socket closed) on failure. */
bool session_start(evutil_socket_t fd, const struct sockaddr *sa, int salen,
                   bool implicit_tls);

/* The one place a session changes state: timers and reading follow. */
void session_enter_state(struct session *s, enum session_state st);

/* Send one reply line (CRLF added); records the code for the command. */
void session_reply(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Queue raw reply text (multi-line replies); records code like above. */
void session_reply_raw(struct session *s, int code, const char *text);

/*
 * Hold the replies that follow for ms milliseconds (a libevent timer, the
 * loop goes on): until then they wait in order and no further command is
 * read, so pipelined commands are still answered in order.  A delay asked
 * for while one runs is ignored.
 */
void session_delay(struct session *s, unsigned ms);

/* Record a command line (AUTH secrets are recorded as given). */
void session_record_command(struct session *s, const char *line, size_t len);

/* Record an AUTH attempt. */
void session_record_auth(struct session *s, const char *mech, const char *user,
                         const char *pass, const char *workstation, int code);

/* Flush pending replies, then close; reason goes to the log and record. */
void session_close(struct session *s, const char *reason);

/* Start TLS on the connection (after 220 for STARTTLS). */
bool session_start_tls(struct session *s) __attribute__((warn_unused_result));

/* Free the message body buffer (after spooling it or on failure). */
void session_drop_body(struct session *s);

/* Drop the current transaction (RSET, after a message, errors). */
void session_reset_transaction(struct session *s);

/* A copy of wire bytes as a C string; NUL bytes become 0xff. */
char *session_strdup_wire(const char *p, size_t n);

/* Reading paused or resumed after global backpressure changed. */
void session_apply_backpressure(struct session *s);

/* Janitor pass: time out sessions whose deadline passed. */
void session_janitor(int64_t now_ms);

/* SIGTERM: idle sessions get 421 now; all get one after drain_timeout. */
void session_drain_all(int64_t deadline_ms);

/* Monotonic milliseconds. */
int64_t session_now_ms(void);

/* Unix microseconds. */
int64_t session_wall_us(void);

#endif /* SPAMLAB_SESSION_H */
