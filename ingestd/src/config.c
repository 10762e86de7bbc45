/*
 * config.c: table-driven settings.  One row per key: name, type, where it
 * lives in struct config, its default and a one-line description; the
 * file parser, the flag parser, --help and the docs all read the table.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "persona.h"
#include "rdns.h"

enum config_type
{
	CT_STRING,
	CT_BOOL,
	CT_INT,     /* plain integer */
	CT_BYTES,   /* integer with optional k/M/G suffix */
	CT_SECONDS, /* integer with optional s/m/h suffix */
};

struct config_key
{
	const char *name;
	enum config_type type;
	size_t offset;
	size_t size; /* CT_STRING: buffer size */
	const char *def;
	int64_t min, max;
	const char *help;
};

#define STR(f)                                                                 \
	CT_STRING, offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define NUM(t, f) t, offsetof(struct config, f), 0

static const struct config_key keys[] = {
    {"listen", STR(listen), "127.0.0.1:2525", 0, 0,
     "SMTP listeners, comma-separated host:port (production: 0.0.0.0:25,"
     "0.0.0.0:587)"},
    {"tls_listen", STR(tls_listen), "", 0, 0,
     "implicit-TLS listeners (port 465 style), comma-separated host:port"},
    {"metrics_listen", STR(metrics_listen), "127.0.0.1:9125", 0, 0,
     "host:port of the HTTP /metrics endpoint; empty disables it"},
    {"hostname", STR(hostname), "", 0, 0,
     "name in the greeting and EHLO reply; empty means the system hostname"},
    {"banner", STR(banner), "ESMTP Postfix (Debian/GNU)", 0, 0,
     "text after the hostname in the 220 greeting"},
    {"persona", STR(persona), "postfix", 0, 0,
     "MTA the replies imitate: postfix, exim, sendmail or exchange "
     "(persona.c)"},
    {"persona_delay", STR(persona_delay), "on", 0, 0,
     "the persona's banner, reply and queue-write delays: on, off, or a "
     "scale factor from 0 to 10"},
    {"queue_id", STR(queue_id), "persona", 0, 0,
     "the queue id in the 250 after DATA (and a relayed copy's Received "
     "header): persona (the MTA's own format; the log maps it to the message "
     "id) or message (the message id itself)"},
    {"sensor", STR(sensor), "", 0, 0,
     "sensor name stored with every message; empty means the hostname"},
    {"spool_dir", STR(spool_dir), "/var/spool/ingestd", 0, 0,
     "directory of the durable spool (created if missing)"},
    {"user", STR(user), "", 0, 0,
     "drop privileges to this user after binding; empty keeps the user"},
    {"pg_dsn", STR(pg_dsn), "dbname=spamlab user=spamlab_ingest", 0, 0,
     "libpq connection string (PG* environment variables apply)"},
    {"tls_cert", STR(tls_cert), "", 0, 0,
     "PEM certificate; empty: a self-signed one is made in spool_dir/tls"},
    {"tls_key", STR(tls_key), "", 0, 0, "PEM private key for tls_cert"},
    {"log_level", STR(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"starttls", NUM(CT_BOOL, starttls), "on", 0, 1,
     "advertise and accept STARTTLS"},
    {"auth", NUM(CT_BOOL, auth), "on", 0, 1,
     "advertise AUTH (the persona's mechanism list; PLAIN and LOGIN work, "
     "any credentials accepted and recorded)"},
    {"chunking", NUM(CT_BOOL, chunking), "on", 0, 1,
     "advertise and accept CHUNKING (BDAT)"},
    {"rdns", NUM(CT_BOOL, rdns), "on", 0, 1,
     "look up the client's reverse DNS (PTR, then A/AAAA to confirm it) "
     "before the banner, as a real MTA does; stored in smtp_session.rdns"},
    {"rdns_timeout", NUM(CT_SECONDS, rdns_timeout), "5", 1, 60,
     "seconds the banner waits for the reverse DNS lookup at most"},
    {"rdns_nameservers", STR(rdns_nameservers), "", 0, 0,
     "DNS servers for the lookup, comma-separated ip[:port]; empty means "
     "/etc/resolv.conf"},
    {"max_message_size", NUM(CT_BYTES, max_message_size), "25M", 1024,
     (int64_t)1 << 31, "largest message accepted (552 beyond it)"},
    {"max_recipients", NUM(CT_INT, max_recipients), "100", 1, 100000,
     "recipients per message (452 beyond it)"},
    {"max_line_length", NUM(CT_BYTES, max_line_length), "4096", 512, 1 << 20,
     "longest command line (500 5.5.2 beyond it)"},
    {"max_errors", NUM(CT_INT, max_errors), "20", 1, 1000000,
     "bad commands before the session is closed with 421"},
    {"max_sessions", NUM(CT_INT, max_sessions), "4096", 1, 1000000,
     "open sessions in total (421 on connect beyond it)"},
    {"max_sessions_per_ip", NUM(CT_INT, max_sessions_per_ip), "64", 1, 1000000,
     "open sessions per peer address (421 on connect beyond it)"},
    {"commands_per_wakeup", NUM(CT_INT, commands_per_wakeup), "32", 1, 100000,
     "pipelined commands handled per read event before yielding"},
    {"command_timeout", NUM(CT_SECONDS, command_timeout), "300", 1, 86400,
     "seconds to wait for a command (421 after)"},
    {"data_timeout", NUM(CT_SECONDS, data_timeout), "180", 1, 86400,
     "seconds to wait for more message data (421 after)"},
    {"tls_handshake_timeout", NUM(CT_SECONDS, tls_handshake_timeout), "30", 1,
     3600, "seconds for a TLS handshake"},
    {"drain_timeout", NUM(CT_SECONDS, drain_timeout), "30", 0, 86400,
     "on SIGTERM, seconds sessions get to finish before they are closed"},
    {"inflight_max_bytes", NUM(CT_BYTES, inflight_max_bytes), "64M", 65536,
     (int64_t)1 << 40,
     "message bytes held in memory before clients are no longer read"},
    {"session_buffer_max", NUM(CT_BYTES, session_buffer_max), "64k", 4096,
     1 << 24, "input bytes buffered per session before reading pauses"},
    {"spool_segment_size", NUM(CT_BYTES, spool_segment_size), "64M", 65536,
     (int64_t)1 << 34, "spool segment file size before a new one is started"},
    {"janitor_interval_ms", NUM(CT_INT, janitor_interval_ms), "1000", 10, 60000,
     "milliseconds between housekeeping passes"},
    {"sink_batch_rows", NUM(CT_INT, sink_batch_rows), "1000", 1, 1000000,
     "rows per COPY batch into PostgreSQL"},
    {"sink_batch_bytes", NUM(CT_BYTES, sink_batch_bytes), "16M", 4096,
     (int64_t)1 << 32, "bytes per COPY batch into PostgreSQL"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct config_key *
config_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Parse an integer with an optional unit suffix for the key's type. */
static bool
config_parse_number(const struct config_key *k, const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mult = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return false;
	if (k->type == CT_BYTES && *end)
	{
		switch (tolower((unsigned char)*end))
		{
			case 'k':
				mult = 1024;
				break;
			case 'm':
				mult = 1024 * 1024;
				break;
			case 'g':
				mult = 1024 * 1024 * 1024;
				break;
			default:
				return false;
		}
		end++;
		if (*end == 'b' || *end == 'B')
			end++;
	}
	else if (k->type == CT_SECONDS && *end)
	{
		switch (*end)
		{
			case 's':
				break;
			case 'm':
				mult = 60;
				break;
			case 'h':
				mult = 3600;
				break;
			default:
				return false;
		}
		end++;
	}
	if (*end)
		return false;
	if (v > INT64_MAX / mult)
		return false;
	*out = (int64_t)v * mult;
	return true;
}

bool
config_set(struct config *c, const char *key, const char *value, char *err,
           size_t errsz)
{
	const struct config_key *k = config_find(key);
	char *field;

	if (strncmp(key, "relay.", 6) == 0) /* probe relaying: relayctl.c */
		return relayctl_settings_set(&c->relay, key, value, err, errsz);
	if (!k)
	{
		snprintf(err, errsz, "unknown setting \"%s\"", key);
		return false;
	}
	field = (char *)c + k->offset;
	switch (k->type)
	{
		case CT_STRING:
			if (strlen(value) >= k->size)
			{
				snprintf(err, errsz, "%s: value longer than %zu bytes", key,
				         k->size - 1);
				return false;
			}
			strcpy(field, value);
			break;
		case CT_BOOL:
			if (!strcasecmp(value, "on") || !strcasecmp(value, "yes") ||
			    !strcasecmp(value, "true") || !strcmp(value, "1"))
				*(bool *)field = true;
			else if (!strcasecmp(value, "off") || !strcasecmp(value, "no") ||
			         !strcasecmp(value, "false") || !strcmp(value, "0"))
				*(bool *)field = false;
			else
			{
				snprintf(err, errsz, "%s: \"%s\" is not on or off", key, value);
				return false;
			}
			break;
		case CT_INT:
		case CT_BYTES:
		case CT_SECONDS:
		{
			int64_t v;

			if (!config_parse_number(k, value, &v))
			{
				snprintf(err, errsz, "%s: \"%s\" is not a valid number", key,
				         value);
				return false;
			}
			if (v < k->min || v > k->max)
			{
				snprintf(err, errsz, "%s: %lld is outside %lld..%lld", key,
				         (long long)v, (long long)k->min, (long long)k->max);
				return false;
			}
			*(int64_t *)field = v;
			break;
		}
	}
	return true;
}

void
config_defaults(struct config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	relayctl_settings_default(&c->relay);
	for (size_t i = 0; i < NKEYS; i++)
		if (!config_set(c, keys[i].name, keys[i].def, err, sizeof(err)))
			fatal("bad built-in default: %s", err);
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

bool
config_load_file(struct config *c, const char *path, char *err, size_t errsz)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int lineno = 0;

	if (!f)
	{
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f))
	{
		char *eq, *key, *value, *hash;
		char kerr[512];

		lineno++;
		if (!strchr(line, '\n') && !feof(f))
		{
			snprintf(err, errsz, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq)
		{
			snprintf(err, errsz, "%s:%d: expected key = value", path, lineno);
			goto fail;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (strlen(value) >= 2 && value[0] == '"' &&
		    value[strlen(value) - 1] == '"')
		{
			value[strlen(value) - 1] = '\0';
			value++;
		}
		if (!config_set(c, key, value, kerr, sizeof(kerr)))
		{
			snprintf(err, errsz, "%s:%d: %s", path, lineno, kerr);
			goto fail;
		}
	}
	fclose(f);
	return true;
fail:
	fclose(f);
	return false;
}

bool
config_validate(const struct config *c, char *err, size_t errsz)
{
	enum log_level lvl;

	if (!log_parse_level(c->log_level, &lvl))
	{
		snprintf(err, errsz,
		         "log_level: \"%s\" is not debug, info, warn or "
		         "error",
		         c->log_level);
		return false;
	}
	if (!persona_find(c->persona))
	{
		snprintf(err, errsz,
		         "persona: \"%s\" is not postfix, exim, sendmail or "
		         "exchange",
		         c->persona);
		return false;
	}
	{
		double scale;

		if (!persona_delay_parse(c->persona_delay, &scale))
		{
			snprintf(err, errsz,
			         "persona_delay: \"%s\" is not on, off or a number "
			         "from 0 to 10",
			         c->persona_delay);
			return false;
		}
	}
	if (strcmp(c->queue_id, "persona") != 0 &&
	    strcmp(c->queue_id, "message") != 0)
	{
		snprintf(err, errsz, "queue_id: \"%s\" is not persona or message",
		         c->queue_id);
		return false;
	}
	if (!rdns_nameservers_valid(c->rdns_nameservers, err, errsz))
		return false;
	if (!*c->listen && !*c->tls_listen)
	{
		snprintf(err, errsz, "listen and tls_listen are both empty");
		return false;
	}
	if (!*c->spool_dir)
	{
		snprintf(err, errsz, "spool_dir is empty");
		return false;
	}
	if (!*c->tls_cert != !*c->tls_key)
	{
		snprintf(err, errsz, "tls_cert and tls_key must be set together");
		return false;
	}
	if (c->max_sessions_per_ip > c->max_sessions)
	{
		snprintf(err, errsz, "max_sessions_per_ip exceeds max_sessions");
		return false;
	}
	if (*c->tls_cert && access(c->tls_cert, R_OK) != 0)
	{
		snprintf(err, errsz, "tls_cert: cannot read %s", c->tls_cert);
		return false;
	}
	if (*c->tls_key && access(c->tls_key, R_OK) != 0)
	{
		snprintf(err, errsz, "tls_key: cannot read %s", c->tls_key);
		return false;
	}
	return true;
}

void
config_dump(const struct config *c, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++)
	{
		const struct config_key *k = &keys[i];
		const char *field = (const char *)c + k->offset;

		switch (k->type)
		{
			case CT_STRING:
				fprintf(out, "%s = %s\n", k->name, field);
				break;
			case CT_BOOL:
				fprintf(out, "%s = %s\n", k->name,
				        *(const bool *)field ? "on" : "off");
				break;
			default:
				fprintf(out, "%s = %lld\n", k->name,
				        (long long)*(const int64_t *)field);
				break;
		}
	}
}

void
config_usage(FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++)
		fprintf(out, "  --%s=VALUE  (default \"%s\")\n      %s\n", keys[i].name,
		        keys[i].def, keys[i].help);
}
