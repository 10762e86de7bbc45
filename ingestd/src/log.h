/*
 * log.h: one key=value line per event on stderr.
 */
#ifndef SPAMLAB_LOG_H
#define SPAMLAB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level
{
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Lines below this level are dropped. */
void log_set_level(enum log_level level);
bool log_parse_level(const char *s, enum log_level *out)
    __attribute__((warn_unused_result));

/*
 * Log one event: "ts=... level=... sid=SID event=EVENT " then the caller's
 * key=value text.  sid may be NULL (daemon-wide events).
 */
void log_event(enum log_level level, const char *sid, const char *event,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Write s (n bytes) into out (size outsz) safe for a log value: printable
 * ASCII kept, everything else and '"' '\\' escaped as \xNN, truncated to
 * fit.  Returns out.
 */
char *log_quote(char *out, size_t outsz, const char *s, size_t n);

/* Startup failure or broken invariant: log and exit(1). */
_Noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* SPAMLAB_LOG_H */
