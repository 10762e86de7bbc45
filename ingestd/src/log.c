/*
 * log.c: one key=value line per event on stderr, written with a single
 * write() so lines from a forked or threaded writer never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	min_level = level;
}

bool
log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
	{
		if (strcasecmp(s, level_names[i]) == 0)
		{
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

static void
log_vwrite(enum log_level level, const char *sid, const char *event,
           const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	             "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s sid=%s "
	             "event=%s",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level],
	             sid ? sid : "-", event);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (fmt && *fmt)
	{
		line[n++] = ' ';
		m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
		if (m < 0)
			m = 0;
		n += m;
		if ((size_t)n > sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere left to report it */
}

void
log_event(enum log_level level, const char *sid, const char *event,
          const char *fmt, ...)
{
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	log_vwrite(level, sid, event, fmt, ap);
	va_end(ap);
}

char *
log_quote(char *out, size_t outsz, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (outsz == 0)
		return out;
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
		{
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		}
		else
		{
			if (o + 4 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void
fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_event(LOG_ERROR, NULL, "fatal", "msg=\"%s\"", msg);
	exit(1);
}
