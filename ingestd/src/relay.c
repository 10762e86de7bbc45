/*
 * relay.c: the probe delivery client.
 *
 * One job per submitted message.  Job states and what moves them:
 *
 *   state      event                         action / next state
 *   ---------  ----------------------------  ------------------------------
 *   MX         MX answer ok / no MX          host list (no MX: the domain)
 *              NXDOMAIN, null MX             FINISH permanent
 *              tempfail                      attempt failed
 *   ADDR       address found                 connect; BANNER
 *              not found                     next host
 *   BANNER     2xx                           EHLO; EHLO
 *   EHLO       2xx, STARTTLS offered         STARTTLS; STARTTLS
 *              2xx                           MAIL; MAIL
 *              5xx                           HELO; HELO
 *   STARTTLS   220                           TLS handshake; TLS
 *              other                         MAIL (go on in clear); MAIL
 *   TLS        handshake done                EHLO; EHLO2
 *   EHLO2/HELO 2xx                           MAIL; MAIL
 *   MAIL       2xx                           RCPT 1; RCPT
 *   RCPT       any                           next RCPT, or DATA if one was
 *                                            accepted; DATA
 *   DATA       354                           body, "."; BODY
 *   BODY       2xx                           delivered; QUIT; QUIT
 *   QUIT       reply, close or timeout       FINISH delivered
 *   any        5xx                           FINISH permanent
 *   BODY       timeout, error, EOF           FINISH permanent (the message
 *                                            may have arrived: at most once)
 *   any        4xx, timeout, error, EOF      next host
 *
 * When the host list is exhausted the attempt has failed: the job waits
 * backoff_ms * 2^(attempt-1) (capped) and starts over, or, after
 * max_attempts, finishes with the last reply.  Continuations from
 * callbacks that may run synchronously (evdns numeric answers) go through a
 * zero-delay timer so a job is never freed under its caller.
 */
#include "relay.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "mxlookup.h"
#include "relaycap.h"
#include "smtpparse.h"

#define RELAY_LINE_MAX  1000 /* reply line (RFC 5321 4.5.3.1.5: 512) */
#define RELAY_REPLY_MAX 100  /* lines in one multi-line reply */
#define RELAY_QUIT_MS   5000
#define RELAY_HARD_SIZE (64u * 1024 * 1024)

enum job_state
{
	JOB_WAIT,
	JOB_MX,
	JOB_ADDR,
	JOB_CONNECT,
	JOB_BANNER,
	JOB_EHLO,
	JOB_HELO,
	JOB_STARTTLS,
	JOB_TLS,
	JOB_EHLO2,
	JOB_MAIL,
	JOB_RCPT,
	JOB_DATA,
	JOB_BODY,
	JOB_QUIT,
};

enum timer_action
{
	TIMER_RETRY,
	TIMER_CONNECT,
	TIMER_NEXT_HOST,
};

struct job
{
	struct relay *relay;
	struct job *prev, *next;
	enum job_state state;
	char *mail_from;
	char **rcpt;
	size_t n_rcpt, rcpt_idx, rcpt_ok;
	uint8_t *raw;
	size_t raw_len;
	relay_done_fn done;
	void *arg;

	char domain[DNSMX_NAME_MAX];
	struct dnsmx_host hosts[DNSMX_HOSTS_MAX];
	size_t n_hosts, host_idx;
	unsigned port;

	struct dnsmx_query *mxq;
	struct evdns_getaddrinfo_request *gai;
	bool gai_done;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool have_addr;

	struct event *timer;
	enum timer_action timer_action;

	struct bufferevent *bev;
	bool tls_active, offers_starttls;
	int reply_code;
	unsigned reply_lines;

	struct relay_result result;
};

struct relay
{
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ssl_ctx;
	struct relay_config cfg;
	char *smarthost_host;
	unsigned smarthost_port;
	char *helo;
	struct sockaddr_storage ns;
	socklen_t ns_len;
	struct job *jobs;
	size_t n_jobs;
	relay_retry_fn retry;
};

static void host_next(struct job *j);
static void session_close(struct job *j);

void
relay_config_default(struct relay_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mx_port = 25;
	cfg->starttls = true;
	cfg->connect_timeout_ms = 30000;
	cfg->command_timeout_ms = 120000;
	cfg->dns_timeout_ms = 5000;
	cfg->max_attempts = 5;
	cfg->backoff_ms = 60000;
	cfg->backoff_max_ms = 3600000;
	cfg->max_size = 10 * 1024 * 1024;
}

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)((ms % 1000) * 1000)};

	return tv;
}

/* The first nameserver line of /etc/resolv.conf, as "ip". */
static bool
resolv_conf_first(char *out, size_t outlen)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[256];
	bool ok = false;

	if (f == NULL)
		return false;
	while (!ok && fgets(line, sizeof(line), f) != NULL)
		ok = sscanf(line, " nameserver %63s", out) == 1 && outlen > 63;
	fclose(f);
	return ok;
}

/* "host", "host:port", "[v6]:port" into a malloc'd host and a port. */
static bool
parse_hostport(const char *s, char **host, unsigned *port, unsigned dflt)
{
	const char *colon;
	size_t hl;
	char *end;
	unsigned long p = dflt;

	if (s[0] == '[')
	{
		const char *rb = strchr(s, ']');

		if (rb == NULL)
			return false;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] != '\0' && colon == NULL)
			return false;
	}
	else
	{
		colon = strrchr(s, ':');
		hl = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (colon != NULL)
	{
		errno = 0;
		p = strtoul(colon + 1, &end, 10);
		if (errno || *end != '\0' || p == 0 || p > 65535)
			return false;
	}
	if (hl == 0 || hl >= DNSMX_NAME_MAX)
		return false;
	*host = strndup(s, hl);
	*port = (unsigned)p;
	return *host != NULL;
}

struct relay *
relay_new(struct event_base *base, const struct relay_config *cfg, char *err,
          size_t errlen)
{
	struct relay *r = calloc(1, sizeof(*r));
	char ns[128];
	int len;

	if (r == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->base = base;
	r->cfg = *cfg;
	r->cfg.smarthost = NULL;
	r->cfg.resolver = NULL;
	r->cfg.helo_name = NULL;
	if (r->cfg.max_attempts == 0)
		r->cfg.max_attempts = 1;
	if (r->cfg.max_size == 0 || r->cfg.max_size > RELAY_HARD_SIZE)
		r->cfg.max_size = RELAY_HARD_SIZE;
	if (r->cfg.mx_port == 0 || r->cfg.mx_port > 65535)
		r->cfg.mx_port = 25;
	r->helo = strdup(cfg->helo_name ? cfg->helo_name : "localhost");
	if (r->helo == NULL || strpbrk(r->helo, " \r\n") != NULL)
	{
		snprintf(err, errlen, "relay.helo_name must be one word");
		goto fail;
	}
	if (cfg->smarthost != NULL && cfg->smarthost[0] != '\0' &&
	    !parse_hostport(cfg->smarthost, &r->smarthost_host, &r->smarthost_port,
	                    25))
	{
		snprintf(err, errlen, "relay.smarthost: expected host[:port]: %s",
		         cfg->smarthost);
		goto fail;
	}
	if (cfg->resolver != NULL && cfg->resolver[0] != '\0')
		snprintf(ns, sizeof(ns), "%s", cfg->resolver);
	else if (!resolv_conf_first(ns, sizeof(ns)))
		snprintf(ns, sizeof(ns), "127.0.0.1");
	len = (int)sizeof(r->ns);
	if (evutil_parse_sockaddr_port(ns, (struct sockaddr *)&r->ns, &len) < 0)
	{
		snprintf(err, errlen, "relay.resolver: expected ip[:port]: %s", ns);
		goto fail;
	}
	r->ns_len = (socklen_t)len;
	if (r->ns.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&r->ns)->sin_port == 0)
		((struct sockaddr_in *)&r->ns)->sin_port = htons(53);
	if (r->ns.ss_family == AF_INET6 &&
	    ((struct sockaddr_in6 *)&r->ns)->sin6_port == 0)
		((struct sockaddr_in6 *)&r->ns)->sin6_port = htons(53);
	r->dns = evdns_base_new(base, 0);
	if (r->dns == NULL ||
	    evdns_base_nameserver_sockaddr_add(r->dns, (struct sockaddr *)&r->ns,
	                                       r->ns_len, 0) != 0)
	{
		snprintf(err, errlen, "cannot set up the resolver %s", ns);
		goto fail;
	}
	{
		char t[16];

		snprintf(t, sizeof(t), "%u.%u", r->cfg.dns_timeout_ms / 1000,
		         r->cfg.dns_timeout_ms % 1000);
		(void)evdns_base_set_option(r->dns, "timeout:", t);
		(void)evdns_base_set_option(r->dns, "attempts:", "2");
	}
	r->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (r->ssl_ctx == NULL)
	{
		snprintf(err, errlen, "cannot create a TLS context");
		goto fail;
	}
	/* opportunistic TLS between MTAs: encrypt, do not authenticate */
	SSL_CTX_set_verify(r->ssl_ctx, SSL_VERIFY_NONE, NULL);
	return r;
fail:
	relay_free(r);
	return NULL;
}

void
relay_set_retry_cb(struct relay *r, relay_retry_fn fn)
{
	r->retry = fn;
}

size_t
relay_pending(const struct relay *r)
{
	return r->n_jobs;
}

static void
job_unlink(struct job *j)
{
	struct relay *r = j->relay;

	if (j->prev)
		j->prev->next = j->next;
	else
		r->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	r->n_jobs--;
}

static void
job_free(struct job *j)
{
	session_close(j);
	if (j->mxq)
		dnsmx_cancel(j->mxq);
	if (j->gai)
		evdns_getaddrinfo_cancel(j->gai);
	if (j->timer)
		event_free(j->timer);
	for (size_t i = 0; i < j->n_rcpt; i++)
		free(j->rcpt[i]);
	free(j->rcpt);
	free(j->mail_from);
	free(j->raw);
	free(j);
}

/* Report the outcome and free the job. */
static void
job_finish(struct job *j, bool delivered, bool permanent)
{
	relay_done_fn done = j->done;
	void *arg = j->arg;
	struct relay_result res;

	j->result.delivered = delivered;
	j->result.permanent = permanent;
	j->result.finished_at = now_us();
	res = j->result;
	job_unlink(j);
	job_free(j);
	if (done)
		done(arg, &res);
}

static void
set_reply(struct job *j, int code, const char *text)
{
	j->result.code = code;
	snprintf(j->result.reply, sizeof(j->result.reply), "%s", text);
}

static void
timer_start(struct job *j, enum timer_action a, unsigned ms)
{
	struct timeval tv = ms_tv(ms);

	j->timer_action = a;
	evtimer_add(j->timer, &tv);
}

/* Every host failed this attempt: back off, or give up. */
static void
attempt_failed(struct job *j)
{
	unsigned ms;

	session_close(j);
	if (j->result.attempts >= j->relay->cfg.max_attempts)
	{
		job_finish(j, false, false);
		return;
	}
	if (j->relay->retry)
		j->relay->retry(j->arg, &j->result);
	ms = j->relay->cfg.backoff_ms;
	for (unsigned i = 1; i < j->result.attempts && ms < UINT32_MAX / 2; i++)
		ms *= 2;
	if (ms > j->relay->cfg.backoff_max_ms)
		ms = j->relay->cfg.backoff_max_ms;
	j->state = JOB_WAIT;
	timer_start(j, TIMER_RETRY, ms);
}

static void
mx_done(void *arg, enum dnsmx_status st, const struct dnsmx_host *h, size_t n)
{
	struct job *j = arg;
	char why[300];

	j->mxq = NULL;
	switch (st)
	{
		case DNSMX_OK:
			memcpy(j->hosts, h, n * sizeof(*h));
			j->n_hosts = n;
			break;
		case DNSMX_NODATA:
			/* RFC 5321 5.1: no MX, the domain itself is the host */
			j->hosts[0].pref = 0;
			memcpy(j->hosts[0].name, j->domain, strlen(j->domain) + 1);
			j->n_hosts = 1;
			break;
		case DNSMX_NXDOMAIN:
		case DNSMX_NULLMX:
			snprintf(why, sizeof(why), "dns: %s for %s", dnsmx_status_name(st),
			         j->domain);
			set_reply(j, 0, why);
			job_finish(j, false, true);
			return;
		default:
			snprintf(why, sizeof(why), "dns: %s for %s", dnsmx_status_name(st),
			         j->domain);
			set_reply(j, 0, why);
			attempt_failed(j);
			return;
	}
	j->host_idx = 0;
	j->state = JOB_ADDR;
	timer_start(j, TIMER_NEXT_HOST, 0);
}

static void
attempt_start(struct job *j)
{
	struct relay *r = j->relay;

	j->result.attempts++;
	j->n_hosts = 0;
	j->host_idx = 0;
	if (r->smarthost_host != NULL)
	{
		snprintf(j->hosts[0].name, sizeof(j->hosts[0].name), "%s",
		         r->smarthost_host);
		j->n_hosts = 1;
		j->port = r->smarthost_port;
		j->state = JOB_ADDR;
		timer_start(j, TIMER_NEXT_HOST, 0);
		return;
	}
	j->port = r->cfg.mx_port;
	j->state = JOB_MX;
	j->mxq = dnsmx_lookup(r->base, (struct sockaddr *)&r->ns, r->ns_len,
	                      j->domain, r->cfg.dns_timeout_ms, 2, mx_done, j);
	if (j->mxq == NULL)
	{
		set_reply(j, 0, "dns: cannot send the MX query");
		attempt_failed(j);
	}
}

static void
gai_done(int err, struct evutil_addrinfo *res, void *arg)
{
	struct job *j = arg;
	struct evutil_addrinfo *pick = NULL;

	if (err == EVUTIL_EAI_CANCEL)
		return; /* the job is being freed */
	j->gai = NULL;
	j->gai_done = true;
	j->have_addr = false;
	for (struct evutil_addrinfo *a = res; a; a = a->ai_next)
		if (pick == NULL ||
		    (a->ai_family == AF_INET && pick->ai_family != AF_INET))
			pick = a;
	if (err == 0 && pick != NULL && pick->ai_addrlen <= sizeof(j->addr))
	{
		memcpy(&j->addr, pick->ai_addr, pick->ai_addrlen);
		j->addr_len = (socklen_t)pick->ai_addrlen;
		j->have_addr = true;
	}
	else
	{
		char why[512];

		snprintf(why, sizeof(why), "dns: no address for %s: %s",
		         j->hosts[j->host_idx].name, evutil_gai_strerror(err));
		set_reply(j, 0, why);
	}
	if (res)
		evutil_freeaddrinfo(res);
	timer_start(j, j->have_addr ? TIMER_CONNECT : TIMER_NEXT_HOST, 0);
}

static void
send_line(struct job *j, enum job_state next, const char *fmt, const char *a)
{
	evbuffer_add_printf(bufferevent_get_output(j->bev), fmt, a);
	j->state = next;
	j->reply_code = 0;
	j->reply_lines = 0;
}

/* The message onto out, lines ending CRLF, leading dots doubled, then
 * the final dot. */
static void
body_stuff(const uint8_t *raw, size_t len, struct evbuffer *out)
{
	size_t i = 0;

	while (i < len)
	{
		const uint8_t *nl = memchr(raw + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - raw) : len;
		size_t stop = end;

		if (stop > i && raw[stop - 1] == '\r')
			stop--;
		if (raw[i] == '.')
			evbuffer_add(out, ".", 1);
		evbuffer_add(out, raw + i, stop - i);
		evbuffer_add(out, "\r\n", 2);
		i = nl ? end + 1 : len;
	}
	evbuffer_add(out, ".\r\n", 3);
}

static void
send_mail(struct job *j)
{
	char from[600];

	snprintf(from, sizeof(from), "<%s>", j->mail_from);
	send_line(j, JOB_MAIL, "MAIL FROM:%s\r\n", from);
}

static void
send_rcpt(struct job *j)
{
	char to[600];

	snprintf(to, sizeof(to), "<%s>", j->rcpt[j->rcpt_idx]);
	send_line(j, JOB_RCPT, "RCPT TO:%s\r\n", to);
}

static void event_cb(struct bufferevent *bev, short what, void *arg);
static void read_cb(struct bufferevent *bev, void *arg);

static void
session_close(struct job *j)
{
	if (j->bev)
		bufferevent_free(j->bev);
	j->bev = NULL;
	j->tls_active = false;
	j->offers_starttls = false;
}

/* A reply or connection failure that is not final: try the next host. */
static void
session_fail_temp(struct job *j)
{
	session_close(j);
	j->host_idx++;
	host_next(j);
}

static void
start_tls(struct job *j)
{
	struct relay *r = j->relay;
	SSL *ssl = SSL_new(r->ssl_ctx);
	struct bufferevent *tb;

	if (ssl == NULL)
		goto fail;
	SSL_set_tlsext_host_name(ssl, j->hosts[j->host_idx].name);
	tb = bufferevent_openssl_filter_new(r->base, j->bev, ssl,
	                                    BUFFEREVENT_SSL_CONNECTING,
	                                    BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL)
	{
		SSL_free(ssl);
		goto fail;
	}
	j->bev = tb;
	{
		struct timeval rt = ms_tv(r->cfg.command_timeout_ms);
		struct timeval wt = ms_tv(r->cfg.command_timeout_ms);

		bufferevent_set_timeouts(tb, &rt, &wt);
	}
	bufferevent_setcb(tb, read_cb, NULL, event_cb, j);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
	j->state = JOB_TLS;
	return;
fail:
	set_reply(j, 0, "tls: cannot start");
	session_fail_temp(j);
}

/* One complete reply in state j->state. */
static void
on_reply(struct job *j, int code)
{
	int cls = code / 100;

	if (j->state == JOB_QUIT)
	{
		job_finish(j, true, false);
		return;
	}
	if (cls == 5 && j->state == JOB_EHLO)
	{
		send_line(j, JOB_HELO, "HELO %s\r\n", j->relay->helo);
		return;
	}
	if (j->state == JOB_RCPT)
	{
		if (cls == 2)
			j->rcpt_ok++;
		if (++j->rcpt_idx < j->n_rcpt)
		{
			send_rcpt(j);
			return;
		}
		if (j->rcpt_ok == 0)
			goto refused;
		send_line(j, JOB_DATA, "%s", "DATA\r\n");
		return;
	}
	if (j->state == JOB_STARTTLS)
	{
		if (code == 220)
			start_tls(j);
		else
			send_mail(j);
		return;
	}
	if (j->state == JOB_DATA)
	{
		if (code != 354)
			goto refused;
		body_stuff(j->raw, j->raw_len, bufferevent_get_output(j->bev));
		j->state = JOB_BODY;
		j->reply_code = 0;
		j->reply_lines = 0;
		return;
	}
	if (cls != 2)
		goto refused;
	switch (j->state)
	{
		case JOB_CONNECT: /* a banner read before the connected event */
		case JOB_BANNER:
			send_line(j, JOB_EHLO, "EHLO %s\r\n", j->relay->helo);
			break;
		case JOB_EHLO:
			if (j->relay->cfg.starttls && j->offers_starttls && !j->tls_active)
				send_line(j, JOB_STARTTLS, "%s", "STARTTLS\r\n");
			else
				send_mail(j);
			break;
		case JOB_EHLO2:
		case JOB_HELO:
			send_mail(j);
			break;
		case JOB_MAIL:
			j->rcpt_idx = 0;
			j->rcpt_ok = 0;
			send_rcpt(j);
			break;
		case JOB_BODY:
		{
			struct timeval tv = ms_tv(RELAY_QUIT_MS);

			send_line(j, JOB_QUIT, "%s", "QUIT\r\n");
			bufferevent_set_timeouts(j->bev, &tv, &tv);
			break;
		}
		default:
			break;
	}
	return;
refused:
	if (cls == 5)
	{
		session_close(j);
		job_finish(j, false, true);
	}
	else
		session_fail_temp(j);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct job *j = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL)
	{
		int code;
		bool last;

		if (n > RELAY_LINE_MAX || !smtp_parse_reply_line(line, n, &code, &last))
		{
			set_reply(j, 0, "protocol: malformed reply");
			free(line);
			session_fail_temp(j);
			return;
		}
		if (j->reply_lines++ == 0)
			j->reply_code = code;
		if ((j->state == JOB_EHLO || j->state == JOB_EHLO2) &&
		    smtp_reply_has_keyword(line, n, "STARTTLS"))
			j->offers_starttls = true;
		if (code != j->reply_code || j->reply_lines > RELAY_REPLY_MAX)
		{
			set_reply(j, 0, "protocol: inconsistent multi-line reply");
			free(line);
			session_fail_temp(j);
			return;
		}
		if (!last)
		{
			free(line);
			continue;
		}
		if (j->state != JOB_QUIT)
			set_reply(j, code, line);
		free(line);
		on_reply(j, code);
		return; /* one reply per wake-up: the job may be gone */
	}
	if (evbuffer_get_length(in) > RELAY_LINE_MAX)
	{
		set_reply(j, 0, "protocol: reply line too long");
		session_fail_temp(j);
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct job *j = arg;

	if (what & BEV_EVENT_CONNECTED)
	{
		if (j->state == JOB_TLS)
		{
			SSL *ssl = bufferevent_openssl_get_ssl(bev);

			j->tls_active = true;
			j->offers_starttls = false;
			snprintf(j->result.tls, sizeof(j->result.tls), "%s %s",
			         SSL_get_version(ssl), SSL_get_cipher_name(ssl));
			send_line(j, JOB_EHLO2, "EHLO %s\r\n", j->relay->helo);
		}
		else
		{
			struct timeval rt = ms_tv(j->relay->cfg.command_timeout_ms);

			bufferevent_set_timeouts(bev, &rt, &rt);
			/* the banner may have been read before this event */
			if (j->state == JOB_CONNECT)
				j->state = JOB_BANNER;
		}
		return;
	}
	if (j->state == JOB_QUIT)
	{
		/* delivered; the server just closed or was slow to answer QUIT */
		job_finish(j, true, false);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		set_reply(j, 0, "timeout");
	else if (what & BEV_EVENT_EOF)
		set_reply(j, 0, "connection closed by the server");
	else
	{
		char why[256];
		unsigned long e = bufferevent_get_openssl_error(bev);

		if (e != 0)
			snprintf(why, sizeof(why), "tls: %s",
			         ERR_reason_error_string(e) ? ERR_reason_error_string(e)
			                                    : "error");
		else
			snprintf(why, sizeof(why), "connection error: %s",
			         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		set_reply(j, 0, why);
	}
	if (j->state == JOB_BODY)
	{
		/*
		 * The message (and its final dot) may have reached the server
		 * before the reply was lost: a retry could deliver the probe twice.
		 * At most once: this failure is final.
		 */
		char why[sizeof(j->result.reply)];

		snprintf(why, sizeof(why),
		         "%.200s after the message data; not retried, it may have "
		         "been delivered",
		         j->result.reply);
		set_reply(j, 0, why);
		session_close(j);
		job_finish(j, false, true);
		return;
	}
	session_fail_temp(j);
}

static void
connect_host(struct job *j)
{
	struct relay *r = j->relay;
	char ip[INET6_ADDRSTRLEN] = "?";
	struct timeval ct = ms_tv(r->cfg.connect_timeout_ms);

	if (j->addr.ss_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&j->addr)->sin_addr,
		                 ip, sizeof(ip));
	else if (j->addr.ss_family == AF_INET6)
		evutil_inet_ntop(AF_INET6,
		                 &((struct sockaddr_in6 *)&j->addr)->sin6_addr, ip,
		                 sizeof(ip));
	snprintf(j->result.target, sizeof(j->result.target), "%s[%s]:%u",
	         j->hosts[j->host_idx].name, ip, j->port);
	j->result.tls[0] = '\0';
	j->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (j->bev == NULL)
	{
		set_reply(j, 0, "out of memory");
		session_fail_temp(j);
		return;
	}
	bufferevent_setcb(j->bev, read_cb, NULL, event_cb, j);
	bufferevent_set_timeouts(j->bev, &ct, &ct);
	bufferevent_enable(j->bev, EV_READ | EV_WRITE);
	j->state = JOB_CONNECT;
	j->reply_code = 0;
	j->reply_lines = 0;
	if (bufferevent_socket_connect(j->bev, (struct sockaddr *)&j->addr,
	                               (int)j->addr_len) < 0)
	{
		set_reply(j, 0, "connect failed");
		session_fail_temp(j);
	}
}

/* Resolve and connect to hosts[host_idx], or fail the attempt. */
static void
host_next(struct job *j)
{
	struct relay *r = j->relay;
	struct evutil_addrinfo hints;
	char port[8];

	if (j->host_idx >= j->n_hosts)
	{
		attempt_failed(j);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof(port), "%u", j->port);
	j->state = JOB_ADDR;
	j->gai_done = false;
	{
		struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(
		    r->dns, j->hosts[j->host_idx].name, port, &hints, gai_done, j);

		/* a numeric host is answered inside the call: req is NULL then */
		if (!j->gai_done)
			j->gai = req;
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	switch (j->timer_action)
	{
		case TIMER_RETRY:
			attempt_start(j);
			break;
		case TIMER_CONNECT:
			connect_host(j);
			break;
		case TIMER_NEXT_HOST:
			host_next(j);
			break;
	}
}

bool
relay_submit(struct relay *r, const char *mail_from, const char *const *rcpt,
             size_t n_rcpt, const uint8_t *raw, size_t raw_len,
             relay_done_fn done, void *arg)
{
	struct job *j;
	char dom[DNSMX_NAME_MAX];

	if (n_rcpt == 0 || n_rcpt > RELAYCAP_HARD_RCPT || raw == NULL ||
	    raw_len > r->cfg.max_size || mail_from == NULL ||
	    strlen(mail_from) > 512 || strpbrk(mail_from, "\r\n<>") != NULL)
		return false;
	for (size_t i = 0; i < n_rcpt; i++)
	{
		char d[DNSMX_NAME_MAX];

		if (rcpt[i] == NULL || strlen(rcpt[i]) > 512 ||
		    strpbrk(rcpt[i], "\r\n<>") != NULL ||
		    !relaycap_rcpt_domain(rcpt[i], d, sizeof(d)))
			return false;
		if (i == 0)
			memcpy(dom, d, sizeof(d));
		else if (r->smarthost_host == NULL && strcmp(d, dom) != 0)
			return false; /* MX mode: one domain per job */
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return false;
	j->relay = r;
	j->done = done;
	j->arg = arg;
	memcpy(j->domain, dom, sizeof(dom));
	j->mail_from = strdup(mail_from);
	j->rcpt = calloc(n_rcpt, sizeof(char *));
	j->raw = malloc(raw_len ? raw_len : 1);
	j->timer = evtimer_new(r->base, timer_cb, j);
	if (j->mail_from == NULL || j->rcpt == NULL || j->raw == NULL ||
	    j->timer == NULL)
		goto fail;
	for (size_t i = 0; i < n_rcpt; i++)
	{
		j->rcpt[i] = strdup(rcpt[i]);
		if (j->rcpt[i] == NULL)
			goto fail;
		j->n_rcpt = i + 1;
	}
	memcpy(j->raw, raw, raw_len);
	j->raw_len = raw_len;
	j->next = r->jobs;
	if (r->jobs)
		r->jobs->prev = j;
	r->jobs = j;
	r->n_jobs++;
	j->state = JOB_WAIT;
	timer_start(j, TIMER_RETRY, 0);
	return true;
fail:
	job_free(j);
	return false;
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	while (r->jobs)
	{
		set_reply(r->jobs, 0, "cancelled");
		job_finish(r->jobs, false, false);
	}
	if (r->dns)
		evdns_base_free(r->dns, 0);
	if (r->ssl_ctx)
		SSL_CTX_free(r->ssl_ctx);
	free(r->smarthost_host);
	free(r->helo);
	free(r);
}
