/*
 * daemon.h: the SMTP collector (ingestd without a subcommand) and the
 * state its modules share.
 */
#ifndef SPAMLAB_DAEMON_H
#define SPAMLAB_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct spool;
struct pgsink;
struct session;
struct rdns_resolver;
typedef struct ssl_ctx_st SSL_CTX;

struct daemon
{
	struct config cfg;
	struct event_base *base;
	struct spool *spool;
	struct pgsink *sink;
	SSL_CTX *ssl_ctx;
	struct rdns_resolver *rdns; /* NULL: rdns = off */
	char hostname[256];
	char sensor[256];
	bool draining;
	int64_t inflight_bytes; /* message bytes held by sessions */
	int pause_level;        /* 0 read all, 1 no new commands, 2 nothing */
	struct session *sessions;
	int64_t n_sessions;
};

extern struct daemon g_daemon;

int daemon_main(int argc, char **argv);

/* Recompute whether clients may be read, after in-flight bytes changed. */
void daemon_check_backpressure(void);

#endif /* SPAMLAB_DAEMON_H */
