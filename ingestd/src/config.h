/*
 * config.h: ingestd settings from a `key = value` file and --key=value
 * flags, table-driven; every key has a default.
 */
#ifndef SPAMLAB_CONFIG_H
#define SPAMLAB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "relayctl.h"

#define CONFIG_STR_MAX 512

struct config
{
	char listen[CONFIG_STR_MAX];
	char tls_listen[CONFIG_STR_MAX];
	char metrics_listen[CONFIG_STR_MAX];
	char hostname[256];
	char banner[256];
	char persona[32];
	char persona_delay[16]; /* on, off or a scale factor */
	char queue_id[16];      /* persona or message */
	char sensor[256];
	char spool_dir[CONFIG_STR_MAX];
	char user[64];
	char pg_dsn[CONFIG_STR_MAX];
	char tls_cert[CONFIG_STR_MAX];
	char tls_key[CONFIG_STR_MAX];
	char log_level[16];
	char rdns_nameservers[CONFIG_STR_MAX]; /* "" = /etc/resolv.conf */
	bool starttls;
	bool auth;
	bool chunking;
	bool rdns; /* look the client up in the DNS before the banner */
	int64_t max_message_size;
	int64_t max_recipients;
	int64_t max_line_length;
	int64_t max_errors;
	int64_t max_sessions;
	int64_t max_sessions_per_ip;
	int64_t commands_per_wakeup;
	int64_t command_timeout;
	int64_t data_timeout;
	int64_t tls_handshake_timeout;
	int64_t rdns_timeout;
	int64_t drain_timeout;
	int64_t inflight_max_bytes;
	int64_t session_buffer_max;
	int64_t spool_segment_size;
	int64_t janitor_interval_ms;
	int64_t sink_batch_rows;
	int64_t sink_batch_bytes;
	struct relayctl_settings relay; /* relay.* keys: relayctl.c (issue 6) */
};

/* Every key at its default. */
void config_defaults(struct config *c);

/*
 * Apply one `key = value` setting; on failure write a message naming the
 * key into err and return false.
 */
bool config_set(struct config *c, const char *key, const char *value, char *err,
                size_t errsz) __attribute__((warn_unused_result));

/* Read a config file (defaults are not reset first). */
bool config_load_file(struct config *c, const char *path, char *err,
                      size_t errsz) __attribute__((warn_unused_result));

/* Cross-key checks after loading; false with a message if inconsistent. */
bool config_validate(const struct config *c, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Print every key with its current value as a config file. */
void config_dump(const struct config *c, FILE *out);

/* Print every key, its default and its description (for --help, docs). */
void config_usage(FILE *out);

#endif /* SPAMLAB_CONFIG_H */
