/*
 * smtpload.c: a small, fast SMTP load generator for bench/ingest.
 *
 *   smtpload [-s SESSIONS] [-m MESSAGES] [-l SIZE] [-d] [-P] [-f FROM]
 *            [-t TO] [-T IDLE_TIMEOUT_S] HOST:PORT
 *
 * SESSIONS connections in parallel (default 20), MESSAGES messages in all
 * (default 1000) of SIZE bytes (default 4096, CRLF lines of 78 bytes plus a
 * few header lines).  Without -d each connection carries one message and
 * QUITs (EHLO, MAIL, RCPT, DATA, QUIT); with -d every connection sends
 * messages until all are handed out.  -P pipelines MAIL, RCPT and DATA in
 * one write (RFC 2920; off by default, like smtp-source).
 *
 * One thread, epoll, no allocation per message: the message is built once
 * and written from the same buffer on every connection, so the client costs
 * far less CPU than the servers it measures (Postfix smtp-source spends a
 * large share of a core at these rates).
 *
 * Prints one line, key=value:
 *   smtpload: messages=N accepted=N failed=N connections=N
 *             connect_errors=N elapsed=S rate=R cpu=S
 * and exits 1 unless every message got a 2xx to its end of data.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX 4096

enum conn_state
{
	ST_CONNECTING,
	ST_GREETING,
	ST_EHLO,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_QUIT,
};

struct conn
{
	int fd;
	enum conn_state st;
	bool in_msg;     /* a message is assigned and not yet answered */
	bool first_sent; /* the message assigned at connect is under way */
	int pipelined;   /* -P: replies still expected for MAIL/RCPT/DATA */
	bool pipe_bad;   /* -P: one of them was refused */
	const char *wp;  /* pending output */
	size_t wlen;
	char cmd[512]; /* command text (wp may point here) */
	char rbuf[REPLY_MAX];
	size_t rlen;
};

static struct
{
	int sessions;
	long messages;
	size_t size;
	bool many;
	bool pipelining;
	const char *from, *to;
	int idle_timeout_s;
	struct sockaddr_in addr;

	char *body;
	size_t body_len;
	long assigned, accepted, failed, connections, connect_errors;
	int open;
	int ep;
} g;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The message: a few header lines, then 78-byte lines up to size bytes. */
static bool
build_body(void)
{
	static const char line[] =
	    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
	    "eiusmod te\r\n";
	size_t n;

	g.body = malloc(g.size + sizeof(line) + 64);
	if (!g.body)
		return false;
	n = (size_t)snprintf(g.body, g.size + 64,
	                     "From: <%s>\r\nTo: <%s>\r\nSubject: smtpload\r\n\r\n",
	                     g.from, g.to);
	while (n + sizeof(line) - 1 <= g.size)
	{
		memcpy(g.body + n, line, sizeof(line) - 1);
		n += sizeof(line) - 1;
	}
	while (n + 2 < g.size)
		g.body[n++] = 'x';
	if (n + 2 <= g.size)
	{
		g.body[n++] = '\r';
		g.body[n++] = '\n';
	}
	memcpy(g.body + n, ".\r\n", 3);
	g.body_len = n + 3;
	return true;
}

static void
conn_close(struct conn *c)
{
	if (c->in_msg)
	{
		g.failed++;
		c->in_msg = false;
	}
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
	g.open--;
}

static void
conn_want(struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
	                         .data.ptr = c};

	epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what is pending; false if the connection failed. */
static bool
conn_flush(struct conn *c)
{
	while (c->wlen)
	{
		ssize_t w = send(c->fd, c->wp, c->wlen, MSG_NOSIGNAL);

		if (w < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
			{
				conn_want(c, true);
				return true;
			}
			return false;
		}
		c->wp += w;
		c->wlen -= (size_t)w;
	}
	return true;
}

static bool
conn_send(struct conn *c, const char *p, size_t n)
{
	c->wp = p;
	c->wlen = n;
	return conn_flush(c);
}

static bool
conn_sendf(struct conn *c, const char *fmt, const char *arg)
{
	int n = snprintf(c->cmd, sizeof(c->cmd), fmt, arg);

	return conn_send(c, c->cmd, (size_t)n);
}

/* Start the next message on c, or QUIT when none is left.  The first
 * message of a connection is assigned when it opens. */
static bool
conn_next_message(struct conn *c)
{
	if (!c->first_sent)
		c->first_sent = true;
	else if (!g.many || g.assigned >= g.messages)
	{
		c->st = ST_QUIT;
		return conn_sendf(c, "%s", "QUIT\r\n");
	}
	else
	{
		g.assigned++;
		c->in_msg = true;
	}
	if (g.pipelining)
	{
		int n = snprintf(c->cmd, sizeof(c->cmd),
		                 "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", g.from,
		                 g.to);

		c->st = ST_DATA;
		c->pipelined = 3;
		c->pipe_bad = false;
		return conn_send(c, c->cmd, (size_t)n);
	}
	c->st = ST_MAIL;
	return conn_sendf(c, "MAIL FROM:<%s>\r\n", g.from);
}

/* One complete reply with this code arrived; false to close. */
static bool
conn_reply(struct conn *c, int code)
{
	switch (c->st)
	{
		case ST_CONNECTING:
			return false;
		case ST_GREETING:
			if (code != 220)
				return false;
			c->st = ST_EHLO;
			return conn_sendf(c, "%s", "EHLO smtpload.example\r\n");
		case ST_EHLO:
			if (code != 250)
				return false;
			return conn_next_message(c);
		case ST_MAIL:
			if (code != 250)
				return false;
			c->st = ST_RCPT;
			return conn_sendf(c, "RCPT TO:<%s>\r\n", g.to);
		case ST_RCPT:
			if (code != 250)
				return false;
			c->st = ST_DATA;
			return conn_sendf(c, "%s", "DATA\r\n");
		case ST_DATA:
			if (g.pipelining && c->pipelined > 1)
			{
				/* replies to MAIL and RCPT */
				c->pipelined--;
				if (code != 250)
					c->pipe_bad = true;
				return true;
			}
			c->pipelined = 0;
			if (code != 354 || c->pipe_bad)
				return false;
			c->st = ST_BODY;
			return conn_send(c, g.body, g.body_len);
		case ST_BODY:
			c->in_msg = false;
			if (code / 100 != 2)
			{
				g.failed++;
				return false;
			}
			g.accepted++;
			return conn_next_message(c);
		case ST_QUIT:
			return false; /* 221: done */
	}
	return false;
}

/* Parse complete reply lines; false to close. */
static bool
conn_read(struct conn *c)
{
	for (;;)
	{
		ssize_t r =
		    recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		size_t start = 0;

		if (r < 0)
			return errno == EAGAIN || errno == EINTR;
		if (r == 0)
			return false;
		c->rlen += (size_t)r;
		for (;;)
		{
			char *nl = memchr(c->rbuf + start, '\n', c->rlen - start);
			size_t len;

			if (!nl)
				break;
			len = (size_t)(nl - (c->rbuf + start));
			/* "250-..." continues; "250 ..." or "250" ends a reply */
			if (len >= 3 && (len < 4 || c->rbuf[start + 3] != '-'))
			{
				int code = atoi(c->rbuf + start);

				start += len + 1;
				if (!conn_reply(c, code))
					return false;
			}
			else
				start += len + 1;
		}
		memmove(c->rbuf, c->rbuf + start, c->rlen - start);
		c->rlen -= start;
		if (c->rlen == sizeof(c->rbuf))
			return false; /* a line longer than any reply */
	}
}

static void
conn_open(void)
{
	struct conn *c;
	struct epoll_event ev;
	int one = 1;

	c = calloc(1, sizeof(*c));
	if (!c)
	{
		perror("smtpload: calloc");
		exit(2);
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
	{
		perror("smtpload: socket");
		exit(2);
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	g.open++;
	g.connections++;
	g.assigned++; /* its first message */
	c->in_msg = true;
	c->st = ST_CONNECTING;
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
	{
		perror("smtpload: epoll_ctl");
		exit(2);
	}
	if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) != 0 &&
	    errno != EINPROGRESS)
	{
		g.connect_errors++;
		conn_close(c);
	}
}

static void
conn_event(struct conn *c, uint32_t events)
{
	if (c->st == ST_CONNECTING)
	{
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err)
		{
			g.connect_errors++;
			conn_close(c);
			return;
		}
		c->st = ST_GREETING;
		conn_want(c, false);
	}
	if ((events & EPOLLOUT) && c->wlen)
	{
		if (!conn_flush(c))
		{
			conn_close(c);
			return;
		}
		if (!c->wlen)
			conn_want(c, false);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
	{
		if (!conn_read(c))
			conn_close(c);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtpload [-s SESSIONS] [-m MESSAGES] [-l SIZE] "
	                "[-d] [-P] [-f FROM] [-t TO] [-T IDLE_S] HOST:PORT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct rusage ru;
	double t0, last_progress, el;
	long last_done = -1;
	char host[64];
	const char *colon;
	int opt;

	g.sessions = 20;
	g.messages = 1000;
	g.size = 4096;
	g.from = "src@spam.example";
	g.to = "dst@victim.example";
	g.idle_timeout_s = 60;
	while ((opt = getopt(argc, argv, "s:m:l:dPf:t:T:")) != -1)
	{
		switch (opt)
		{
			case 's':
				g.sessions = atoi(optarg);
				break;
			case 'm':
				g.messages = atol(optarg);
				break;
			case 'l':
				g.size = (size_t)atol(optarg);
				break;
			case 'd':
				g.many = true;
				break;
			case 'P':
				g.pipelining = true;
				break;
			case 'f':
				g.from = optarg;
				break;
			case 't':
				g.to = optarg;
				break;
			case 'T':
				g.idle_timeout_s = atoi(optarg);
				break;
			default:
				usage();
		}
	}
	if (optind != argc - 1 || g.sessions < 1 || g.messages < 1 || g.size < 64 ||
	    g.size > (64u << 20) || g.idle_timeout_s < 1 || strlen(g.from) > 200 ||
	    strlen(g.to) > 200)
		usage();
	colon = strrchr(argv[optind], ':');
	if (!colon || (size_t)(colon - argv[optind]) >= sizeof(host))
		usage();
	memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
	host[colon - argv[optind]] = '\0';
	g.addr.sin_family = AF_INET;
	g.addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &g.addr.sin_addr) != 1)
		usage();
	if (!build_body())
		return 2;
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0)
	{
		perror("smtpload: epoll_create1");
		return 2;
	}

	t0 = last_progress = now_s();
	for (;;)
	{
		int n;

		/* keep SESSIONS connections busy while messages are left */
		while (g.open < g.sessions && g.assigned < g.messages)
			conn_open();
		if (g.open == 0)
			break;
		n = epoll_wait(g.ep, evs, 256, 1000);

		for (int i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
		if (g.accepted + g.failed != last_done)
		{
			last_done = g.accepted + g.failed;
			last_progress = now_s();
		}
		else if (now_s() - last_progress > g.idle_timeout_s)
		{
			fprintf(stderr, "smtpload: no progress for %d s, giving up\n",
			        g.idle_timeout_s);
			break;
		}
	}
	el = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru);
	printf("smtpload: messages=%ld accepted=%ld failed=%ld connections=%ld "
	       "connect_errors=%ld elapsed=%.3f rate=%.0f cpu=%.3f\n",
	       g.messages, g.accepted, g.failed, g.connections, g.connect_errors,
	       el, (double)g.accepted / el,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	return g.accepted == g.messages ? 0 : 1;
}
