/*
 * relay.h: deliver a probe (a spammer's relay test) with a small SMTP
 * client on the caller's libevent loop.
 *
 * Through a configured smarthost, or straight to the recipient domain's MX
 * hosts (MX via dnsmx.c, addresses via evdns, both asking the configured
 * resolver).  STARTTLS when the server offers it (opportunistic: the
 * certificate is not verified, as between MTAs).  Per attempt: every MX
 * host in preference order; a 4xx reply, a timeout or a connection failure
 * moves on, and when all hosts failed the attempt is retried after an
 * exponential backoff, up to max_attempts.  A 5xx reply is final.  The
 * caller's copy of the message (in spamlab.message) is never touched: relay
 * works on its own copy and only reports an outcome.
 *
 * relay.c sends nothing the caps did not allow: callers must have charged
 * relaycap_charge() first (relay only enforces RELAYCAP_HARD_RCPT and the
 * size limit itself).
 */
#ifndef SPAMLAB_RELAY_H
#define SPAMLAB_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

struct relay_config
{
	const char *smarthost; /* "host[:port]" (port 25); NULL: MX delivery */
	const char *resolver;  /* "ip[:port]"; NULL: first nameserver of
	                          /etc/resolv.conf */
	unsigned mx_port;      /* 25; tests point it at a local server */
	const char *helo_name; /* EHLO argument; "localhost" if NULL */
	bool starttls;         /* use STARTTLS when offered: true */
	unsigned connect_timeout_ms; /* 30000 */
	unsigned command_timeout_ms; /* 120000: wait for each reply */
	unsigned dns_timeout_ms;     /* 5000 per try, 2 tries */
	unsigned max_attempts;       /* 5 */
	unsigned backoff_ms;         /* 60000: delay before attempt 2 */
	unsigned backoff_max_ms;     /* 3600000: cap of the doubling */
	size_t max_size;             /* 10 MiB: larger messages are refused */
};

void relay_config_default(struct relay_config *cfg);

struct relay_result
{
	bool delivered;
	bool permanent;      /* a 5xx, or a DNS answer that cannot change */
	unsigned attempts;   /* attempts made (>= 1 once one started) */
	int code;            /* last SMTP reply code, 0 if none */
	char reply[512];     /* last reply line or failure reason */
	char target[300];    /* "mx1.example.org[192.0.2.1]:25" of the last try */
	char tls[64];        /* TLS version of the last session, "" if none */
	int64_t finished_at; /* Unix microseconds */
};

typedef void (*relay_done_fn)(void *arg, const struct relay_result *r);

struct relay;

/* A new relay client; NULL with a message in err on a bad setting. */
struct relay *relay_new(struct event_base *base, const struct relay_config *cfg,
                        char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Queue one delivery: raw (copied) from mail_from to rcpt[0..n-1], which in
 * MX mode must share one domain.  done runs exactly once, from the loop,
 * with the final outcome (also on relay_free: "cancelled").  False (done
 * not called) on a bad argument or no memory.
 */
bool relay_submit(struct relay *r, const char *mail_from,
                  const char *const *rcpt, size_t n_rcpt, const uint8_t *raw,
                  size_t raw_len, relay_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/*
 * Optional: called from the loop after each failed attempt that will be
 * retried, with the job's arg and the result so far (attempts, last
 * reply).  done still runs once, at the end.
 */
typedef void (*relay_retry_fn)(void *arg, const struct relay_result *r);
void relay_set_retry_cb(struct relay *r, relay_retry_fn fn);

/* Deliveries queued, in progress or waiting for a retry. */
size_t relay_pending(const struct relay *r);

/* Cancel everything (each done gets a cancelled result) and free. */
void relay_free(struct relay *r);

#endif /* SPAMLAB_RELAY_H */
