/*
 * pgsink_drive: feed the PostgreSQL sink synthetic records and print its
 * counters; for the pytest suite (batch boundaries, replays, poisoned
 * records) and bench/copy.
 *
 *   pgsink_drive [--db CONNINFO] [--messages N] [--sessions N] [--size B]
 *                [--poison I,J,...] [--batch-rows N] [--batch-bytes N]
 *                [--repeat K] [--seed S] [--max-attempts N]
 *                [--flush-ms N] [--trickle-ms N] [--staged] [--no-auth]
 *                [--relays N] [--poison-relay I,J,...] [--varied-sessions]
 *                [--session-commands N]
 *
 * --trickle-ms runs the loop N ms after each message, like a daemon fed
 * by clients (the flush timer, not the row bound, cuts the batches); with
 * --max-attempts 0 the sink retries for ever, as in the daemon.  --staged
 * turns the direct COPY fast path off (every batch through staging).
 * Every third message carries an AUTH password unless --no-auth.
 * Records are deterministic in (seed, index), so a second run is a replay.
 * Message I gets label 'bogus' (a CHECK violation) when listed in --poison.
 * --relays N adds a relay decision for each of the first N messages (of
 * kind relay/capped/disabled by index mod 3); relay I gets decision
 * 'bogus' when listed in --poison-relay.  --varied-sessions makes session I
 * one of many shapes (no commands, NULL and out-of-range replies and ports,
 * NULL strings, NUL bytes, invalid UTF-8, a command cut at 512 bytes inside
 * a UTF-8 sequence) instead of the same three commands and one AUTH.
 * --session-commands N gives every session N commands (MAIL, RCPT, DATA
 * in turn) and no AUTH, like a client sending many messages (bench).
 */
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgsink.h"
#include "relayctl.h"

static unsigned long n_done[3];

static void
done_cb(void *arg, enum pgsink_status status)
{
	n_done[status]++;
}

/* Session i of --varied-sessions: a shape chosen by i, stored in *sr. */
static void
varied_session(struct session_record *sr, long i)
{
	static char longcmd[600];
	static const char mfrom[] = "MAIL FROM:<a\0b\xff\xfe@example.org>";
	static struct session_command cmds[5] = {
	    {0, "EHLO varied.example", 19, 250},
	    {1500, longcmd, sizeof(longcmd), 500},
	    {2000, mfrom, sizeof(mfrom) - 1, 0},
	    {2500, "RCPT TO:<b@example.net>", 23, 99},
	    {3000, NULL, 0, 221}};
	static struct session_auth auths[3] = {
	    {100, "LOGIN", NULL, NULL, 535, NULL},
	    {200, "PLAIN", "us\xe9r", "p\xc3\xa4ss", 0, NULL},
	    {300, "NTLM", "D\\u", "u::D:00:11:22", 700, "K\xc3\xa4LI"}};
	static const char *const reasons[] = {"quit", "eof", "timeout", NULL};

	/* 510 ASCII bytes, then 3-byte sequences: the cut splits one */
	memset(longcmd, 'A', sizeof(longcmd));
	for (size_t k = 510; k + 3 <= sizeof(longcmd); k += 3)
		memcpy(longcmd + k, "\xe2\x82\xac", 3);
	sr->commands = i % 7 == 6 ? NULL : cmds + i % 2;
	sr->n_commands = (size_t)(i % 5 ? i % 5 : 0);
	if (i % 2 && sr->n_commands > 4)
		sr->n_commands = 4;
	sr->auths = i % 4 == 0 ? NULL : auths + i % 2;
	sr->n_auths = (size_t)(i % 3 ? 3 - i % 2 : 0);
	sr->peer_ip = i % 3 == 0 ? NULL : i % 3 == 1 ? "192.0.2.77" : "2001:db8::7";
	sr->peer_port = i % 4 == 0 ? -1 : i % 4 == 1 ? 70000 : 25 + (int)i;
	sr->helo = i % 5 == 0 ? NULL : "varied.example";
	sr->tls = i % 2 ? "TLSv1.3 TLS_AES_256_GCM_SHA384" : NULL;
	sr->disconnect_reason = reasons[i % 4];
	sr->sensor = i % 6 == 0 ? NULL : "drive";
	/* sql/025: a name with or without confirmation, or none at all */
	sr->rdns = i % 3 == 0 ? NULL : i % 3 == 1 ? "dsl-1.pool.example" : "h\xe9";
	sr->rdns_status = i % 5 == 0   ? NULL
	                  : i % 3 == 0 ? "none"
	                  : i % 2      ? "confirmed"
	                               : "unconfirmed";
}

static bool
in_list(const char *list, long i)
{
	const char *p = list;

	while (p && *p)
	{
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v == i)
			return true;
		p = *end == ',' ? end + 1 : end;
	}
	return false;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"messages", required_argument, NULL, 'm'},
	    {"sessions", required_argument, NULL, 's'},
	    {"size", required_argument, NULL, 'z'},
	    {"poison", required_argument, NULL, 'p'},
	    {"batch-rows", required_argument, NULL, 'r'},
	    {"batch-bytes", required_argument, NULL, 'b'},
	    {"repeat", required_argument, NULL, 'k'},
	    {"seed", required_argument, NULL, 'e'},
	    {"max-attempts", required_argument, NULL, 'a'},
	    {"flush-ms", required_argument, NULL, 'f'},
	    {"trickle-ms", required_argument, NULL, 't'},
	    {"staged", no_argument, NULL, 'S'},
	    {"no-auth", no_argument, NULL, 'N'},
	    {"relays", required_argument, NULL, 'R'},
	    {"poison-relay", required_argument, NULL, 'P'},
	    {"varied-sessions", no_argument, NULL, 'V'},
	    {"session-commands", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0}};
	const char *db = "", *poison = NULL, *poison_relay = NULL;
	long nrelay = 0, ncmd = 0;
	struct session_command *many = NULL;
	long nmsg = 10, nses = 0, size = 200, repeat = 1, seed = 1, trickle = 0;
	struct pgsink_config cfg;
	struct pgsink_stats st;
	struct event_base *base;
	struct pgsink *sink;
	struct timespec t0, t1;
	char *raw;
	int c;
	bool ok, auth = true, varied = false;

	pgsink_config_default(&cfg);
	cfg.max_attempts = 5;
	cfg.backoff_max_ms = 1000;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				db = optarg;
				break;
			case 'm':
				nmsg = atol(optarg);
				break;
			case 's':
				nses = atol(optarg);
				break;
			case 'z':
				size = atol(optarg);
				break;
			case 'p':
				poison = optarg;
				break;
			case 'r':
				cfg.batch_rows = (size_t)atol(optarg);
				break;
			case 'b':
				cfg.batch_bytes = (size_t)atol(optarg);
				break;
			case 'k':
				repeat = atol(optarg);
				break;
			case 'e':
				seed = atol(optarg);
				break;
			case 'a':
				cfg.max_attempts = (unsigned)atol(optarg);
				break;
			case 'f':
				cfg.flush_ms = (unsigned)atol(optarg);
				break;
			case 't':
				trickle = atol(optarg);
				break;
			case 'S':
				cfg.direct_copy = false;
				break;
			case 'N':
				auth = false;
				break;
			case 'R':
				nrelay = atol(optarg);
				break;
			case 'P':
				poison_relay = optarg;
				break;
			case 'V':
				varied = true;
				break;
			case 'C':
				ncmd = atol(optarg);
				break;
			default:
				return 2;
		}
	}
	if (size < 64)
		size = 64;
	if (ncmd > 0)
	{
		static const char *const texts[] = {"MAIL FROM:<a@example.org>",
		                                    "RCPT TO:<b@example.net>", "DATA"};
		static const int codes[] = {250, 250, 354};

		many = calloc((size_t)ncmd, sizeof(*many));
		if (!many)
			return 1;
		for (long k = 0; k < ncmd; k++)
		{
			many[k].at = k * 100;
			many[k].text = texts[k % 3];
			many[k].text_len = strlen(texts[k % 3]);
			many[k].reply_code = codes[k % 3];
		}
	}
	raw = malloc((size_t)size);
	base = event_base_new();
	sink = base ? pgsink_new(base, db, &cfg) : NULL;
	if (!raw || !sink)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long k = 0; k < repeat; k++)
	{
		for (long i = 0; i < nmsg; i++)
		{
			const char *rcpt[] = {"a@example.org", "b@example.net"};
			struct msg_record m = {0};
			int n = snprintf(raw, (size_t)size,
			                 "Subject: drive %ld/%ld\r\n\r\n", seed, i);

			memset(raw + n, 'x', (size_t)(size - n));
			m.received_at = INT64_C(1714521600000000) + seed * 1000000000 + i;
			record_content_id(&m.id, m.received_at, (uint8_t *)raw,
			                  (size_t)size);
			m.sensor = "drive";
			m.source = "smtp";
			m.label = in_list(poison, i) ? "bogus" : NULL;
			m.peer_ip = i % 2 ? "2001:db8::1" : "192.0.2.7";
			m.peer_port = 40000 + (int)(i % 1000);
			m.helo = "drive.example";
			m.mail_from = "";
			m.rcpt_to = rcpt;
			m.n_rcpt = 2;
			m.auth_user = i % 3 || !auth ? NULL : "user";
			m.auth_password = i % 3 || !auth ? NULL : "secret";
			m.raw = (uint8_t *)raw;
			m.raw_len = (size_t)size;
			if (!pgsink_add_message(sink, &m, done_cb, NULL))
				return 1;
			if (i < nrelay)
			{
				static const char *const kinds[] = {"relay", "capped",
				                                    "disabled"};
				struct relay_decision_record d = {0};

				d.message_id = m.id;
				d.received_at = m.received_at;
				d.decided_at = m.received_at + 1000;
				d.sensor = "drive";
				d.peer_ip = m.peer_ip;
				d.rule = "drive";
				d.decision = in_list(poison_relay, i) ? "bogus" : kinds[i % 3];
				d.cap = i % 3 == 1 ? "cap-day" : NULL;
				d.rcpt = rcpt;
				d.n_rcpt = 2;
				if (i % 3 == 0)
				{
					d.target = "mx.example.org";
					d.attempts = 1;
					d.final_code = 250;
					d.final_reply = "250 2.0.0 ok";
					d.tls = "TLSv1.3";
					d.delivered_at = d.decided_at + 500000;
				}
				if (!pgsink_add_relay(sink, &d, done_cb, NULL))
					return 1;
			}
			if (!pgsink_wait_below(sink, 64 * 1024 * 1024))
				break;
			if (trickle > 0)
			{
				struct timeval tv = {trickle / 1000, trickle % 1000 * 1000};

				event_base_loopexit(base, &tv);
				event_base_dispatch(base);
			}
		}
		for (long i = 0; i < nses; i++)
		{
			struct session_command cmd[3] = {
			    {0, "EHLO drive.example", 18, 250},
			    {1500, "AUTH PLAIN AHVzZXIAc2VjcmV0", 27, 235},
			    {3000, "QUIT", 4, 221}};
			struct session_auth au = {1500,     "PLAIN", "user",
			                          "secret", 235,     NULL};
			struct session_record sr = {0};
			char sraw[64];

			snprintf(sraw, sizeof(sraw), "session %ld/%ld", seed, i);
			sr.started_at = INT64_C(1714521600000000) + seed * 1000000000 + i;
			sr.ended_at = sr.started_at + 5000;
			record_content_id(&sr.id, sr.started_at, (uint8_t *)sraw,
			                  strlen(sraw));
			sr.sensor = "drive";
			sr.peer_ip = "192.0.2.9";
			sr.peer_port = 2525;
			sr.helo = "drive.example";
			sr.disconnect_reason = "quit";
			sr.commands = cmd;
			sr.n_commands = 3;
			sr.auths = &au;
			sr.n_auths = 1;
			if (varied)
				varied_session(&sr, i);
			if (many)
			{
				sr.commands = many;
				sr.n_commands = (size_t)ncmd;
				sr.auths = NULL;
				sr.n_auths = 0;
			}
			if (!pgsink_add_session(sink, &sr, done_cb, NULL))
				return 1;
		}
	}
	ok = pgsink_wait_idle(sink);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pgsink_get_stats(sink, &st);
	{
		double el = (double)(t1.tv_sec - t0.tv_sec) +
		            (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

		printf("ok=%d committed=%lu rejected=%lu cancelled=%lu batches=%llu "
		       "batches_direct=%llu rows_inserted=%llu messages_inserted=%llu "
		       "batch_errors=%llu "
		       "connect_errors=%llu elapsed=%.3f rows_per_s=%.0f\n",
		       ok, n_done[PGSINK_COMMITTED], n_done[PGSINK_REJECTED],
		       n_done[PGSINK_CANCELLED], (unsigned long long)st.batches,
		       (unsigned long long)st.batches_direct,
		       (unsigned long long)st.rows_inserted,
		       (unsigned long long)st.messages_inserted,
		       (unsigned long long)st.batch_errors,
		       (unsigned long long)st.connect_errors, el,
		       el > 0 ? (double)st.records_committed / el : 0.0);
	}
	if (!ok)
		fprintf(stderr, "pgsink_drive: %s\n", pgsink_last_error(sink));
	pgsink_free(sink);
	event_base_free(base);
	free(raw);
	free(many);
	return ok ? 0 : 1;
}
