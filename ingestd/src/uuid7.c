/*
 * uuid7.c: time-ordered message ids (RFC 9562 UUID version 7).
 */
#include "uuid7.h"

#include "digits.h"

#include <string.h>
#include <sys/random.h>

static uint64_t last_ms;
static uint16_t last_seq;

/* Random bytes fetched 512 at a time: one getrandom() per 64 ids instead
 * of one per id (a system call per message and per session). */
static uint8_t pool[512];
static size_t pool_left;

static bool
uuid7_random(uint8_t out[8])
{
	if (pool_left < 8)
	{
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
			return false;
		pool_left = sizeof(pool);
	}
	pool_left -= 8;
	memcpy(out, pool + pool_left, 8);
	/* used bytes are not kept around */
	memset(pool + pool_left, 0, 8);
	return true;
}

bool
uuid7_generate(struct uuid7 *out, const struct timespec *now)
{
	uint64_t ms = (uint64_t)now->tv_sec * 1000 + now->tv_nsec / 1000000;
	uint8_t rnd[8];

	if (!uuid7_random(rnd))
		return false;

	/* Keep ids strictly increasing: same or earlier ms bumps the counter. */
	if (ms <= last_ms)
	{
		ms = last_ms;
		if (++last_seq > 0x0fff)
		{
			ms++;
			last_seq = 0;
		}
	}
	else
		last_seq = 0;
	last_ms = ms;

	for (int i = 0; i < 6; i++)
		out->b[i] = (uint8_t)(ms >> (40 - 8 * i));
	out->b[6] = (uint8_t)(0x70 | (last_seq >> 8));
	out->b[7] = (uint8_t)(last_seq & 0xff);
	out->b[8] = (uint8_t)(0x80 | (rnd[0] & 0x3f));
	memcpy(&out->b[9], &rnd[1], 7);
	return true;
}

void
uuid7_format(const struct uuid7 *id, char out[UUID7_STRLEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[id->b[i] >> 4];
		*p++ = hex[id->b[i] & 15];
	}
	*p = '\0';
}

bool
uuid7_parse(const char *s, struct uuid7 *out)
{
	int n = 0;

	for (int i = 0; i < UUID7_STRLEN; i++)
	{
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		hi = digit_hex((unsigned char)s[i]);
		lo = hi < 0 ? -1 : digit_hex((unsigned char)s[i + 1]);
		if (lo < 0)
			return false;
		out->b[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return s[UUID7_STRLEN] == '\0';
}

uint64_t
uuid7_millis(const struct uuid7 *id)
{
	uint64_t ms = 0;

	for (int i = 0; i < 6; i++)
		ms = ms << 8 | id->b[i];
	return ms;
}
