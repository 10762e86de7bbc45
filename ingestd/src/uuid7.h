/*
 * uuid7.h: time-ordered message ids (RFC 9562 UUID version 7).
 */
#ifndef SPAMLAB_UUID7_H
#define SPAMLAB_UUID7_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define UUID7_STRLEN 36

struct uuid7
{
	uint8_t b[16];
};

/*
 * A new id for a message accepted at time `now`: 48 bits of Unix
 * milliseconds, then a 12-bit counter that keeps ids made within one
 * millisecond in order, then 62 random bits.  Ids from one process are
 * strictly increasing even if the clock steps back.
 */
bool uuid7_generate(struct uuid7 *out, const struct timespec *now)
    __attribute__((warn_unused_result));

/* Canonical text form, 36 characters plus NUL. */
void uuid7_format(const struct uuid7 *id, char out[UUID7_STRLEN + 1]);

/* Parse the canonical text form; false if malformed. */
bool uuid7_parse(const char *s, struct uuid7 *out)
    __attribute__((warn_unused_result));

/* Unix milliseconds stored in an id. */
uint64_t uuid7_millis(const struct uuid7 *id);

#endif /* SPAMLAB_UUID7_H */
