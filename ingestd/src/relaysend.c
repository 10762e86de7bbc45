/*
 * relaysend.c: `ingestd relay-send [options] --from A --to B... FILE`.
 *
 * Delivers FILE ("-": standard input) with relay.c exactly as the daemon
 * would deliver a probe, prints one key=value result line, and exits 0 when
 * delivered, 1 when not, 2 on a usage error.  It applies no caps: it is an
 * operator's tool for checking the smarthost or MX settings.  --record FILE
 * appends the outcome as a spamlab.relay_decision row in binary COPY form
 * (relayrec.h; rule "relay-send").
 */
#include "relaysend.h"

#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay.h"
#include "relaycap.h"
#include "relayrec.h"

#define SEND_MAX_BYTES (64u * 1024 * 1024)

static void
usage(void)
{
	fprintf(stderr, "usage: ingestd relay-send [--smarthost HOST[:PORT]]"
	                " [--resolver IP[:PORT]]\n"
	                "         [--mx-port N] [--helo NAME] [--no-starttls]"
	                " [--attempts N]\n"
	                "         [--backoff-ms N] [--timeout-ms N] --from ADDR"
	                " --to ADDR... FILE\n");
}

static void
print_quoted(const char *key, const char *v)
{
	printf(" %s=\"", key);
	for (const char *p = v; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < ' ')
			putchar('?');
		else
			putchar(*p);
	putchar('"');
}

struct send_state
{
	struct event_base *base;
	int rc;
	const char *record_path; /* --record FILE, or NULL */
	struct msg_record msg;   /* what the record describes */
	const char *const *rcpt;
	size_t n_rcpt;
};

/* Append the delivery's spamlab.relay_decision row to --record FILE. */
static bool
write_record(const struct send_state *st, const struct relay_result *r)
{
	struct relay_decision_record d = {
	    .message_id = st->msg.id,
	    .received_at = st->msg.received_at,
	    .decided_at = st->msg.received_at,
	    .rule = "relay-send",
	    .decision = "relay",
	    .target = r->target[0] ? r->target : NULL,
	    .rcpt = st->rcpt,
	    .n_rcpt = st->n_rcpt,
	    .attempts = r->attempts,
	    .final_code = r->code,
	    .final_reply = r->reply,
	    .tls = r->tls[0] ? r->tls : NULL,
	    .delivered_at = r->delivered ? r->finished_at : 0,
	};

	return relayrec_file_append(st->record_path, &d, true);
}

static void
done(void *arg, const struct relay_result *r)
{
	struct send_state *st = arg;

	printf("relay delivered=%s permanent=%s attempts=%u code=%d",
	       r->delivered ? "yes" : "no", r->permanent ? "yes" : "no",
	       r->attempts, r->code);
	print_quoted("target", r->target);
	print_quoted("tls", r->tls);
	print_quoted("reply", r->reply);
	putchar('\n');
	fflush(stdout);
	st->rc = r->delivered ? 0 : 1;
	if (st->record_path && !write_record(st, r))
	{
		perror("relay-send: --record");
		st->rc = 2;
	}
	/* the resolver's socket would keep the loop alive */
	event_base_loopbreak(st->base);
}

static uint8_t *
read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t got;

		if (n == cap)
		{
			uint8_t *nb;

			if (cap >= SEND_MAX_BYTES)
				goto fail;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL)
				goto fail;
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

int
relaysend_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"smarthost", required_argument, NULL, 's'},
	    {"resolver", required_argument, NULL, 'r'},
	    {"mx-port", required_argument, NULL, 'p'},
	    {"helo", required_argument, NULL, 'H'},
	    {"no-starttls", no_argument, NULL, 'T'},
	    {"attempts", required_argument, NULL, 'a'},
	    {"backoff-ms", required_argument, NULL, 'b'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 'o'},
	    {"record", required_argument, NULL, 'R'},
	    {"message-id", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	struct relay_config cfg;
	const char *from = NULL, *to[RELAYCAP_HARD_RCPT];
	size_t n_to = 0, len = 0;
	struct event_base *base = NULL;
	struct relay *relay = NULL;
	uint8_t *raw = NULL;
	char err[256];
	struct send_state st;
	int c;

	memset(&st, 0, sizeof(st));
	st.rc = 2;
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		st.msg.received_at = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
		if (!uuid7_generate(&st.msg.id, &now))
			return 2;
	}
	relay_config_default(&cfg);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 's':
				cfg.smarthost = optarg;
				break;
			case 'r':
				cfg.resolver = optarg;
				break;
			case 'p':
				cfg.mx_port = (unsigned)atoi(optarg);
				break;
			case 'H':
				cfg.helo_name = optarg;
				break;
			case 'T':
				cfg.starttls = false;
				break;
			case 'a':
				cfg.max_attempts = (unsigned)atoi(optarg);
				break;
			case 'b':
				cfg.backoff_ms = (unsigned)atoi(optarg);
				break;
			case 't':
				cfg.command_timeout_ms = (unsigned)atoi(optarg);
				cfg.connect_timeout_ms = cfg.command_timeout_ms;
				cfg.dns_timeout_ms = cfg.command_timeout_ms;
				break;
			case 'f':
				from = optarg;
				break;
			case 'o':
				if (n_to == RELAYCAP_HARD_RCPT)
				{
					fprintf(stderr, "relay-send: at most %d --to\n",
					        RELAYCAP_HARD_RCPT);
					return 2;
				}
				to[n_to++] = optarg;
				break;
			case 'R':
				st.record_path = optarg;
				break;
			case 'm':
				if (!uuid7_parse(optarg, &st.msg.id))
				{
					fprintf(stderr, "relay-send: bad --message-id\n");
					return 2;
				}
				break;
			default:
				usage();
				return 2;
		}
	}
	st.rcpt = to;
	st.n_rcpt = n_to;
	if (from == NULL || n_to == 0 || optind != argc - 1)
	{
		usage();
		return 2;
	}
	raw = read_all(argv[optind], &len);
	if (raw == NULL)
	{
		fprintf(stderr, "relay-send: cannot read %s\n", argv[optind]);
		return 2;
	}
	base = event_base_new();
	if (base == NULL)
		goto out;
	st.base = base;
	relay = relay_new(base, &cfg, err, sizeof(err));
	if (relay == NULL)
	{
		fprintf(stderr, "relay-send: %s\n", err);
		goto out;
	}
	if (!relay_submit(relay, from, to, n_to, raw, len, done, &st))
	{
		fprintf(stderr, "relay-send: message or addresses refused"
		                " (MX mode needs one recipient domain)\n");
		goto out;
	}
	event_base_dispatch(base);
out:
	relay_free(relay);
	if (base)
		event_base_free(base);
	free(raw);
	return st.rc;
}
