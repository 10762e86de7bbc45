/*
 * seen.h: a bounded "have I seen this before?" memory (an LRU set).
 *
 * Keys are strings, folded to ASCII lower case and reduced to a 64-bit
 * keyed hash (the key is random per process, so a client cannot aim
 * collisions at the chains).  The set holds at most `capacity` keys; adding
 * one more forgets the least recently touched.  Memory is allocated once, at
 * creation: nothing a client sends makes it grow.
 */
#ifndef SPAMLAB_SEEN_H
#define SPAMLAB_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest capacity seen_new() accepts. */
#define SEEN_CAPACITY_MAX (1u << 24)

struct seen;

/* A new set for up to capacity (1..SEEN_CAPACITY_MAX) keys; NULL if out of
 * range or out of memory.  seed keys the hash (0 = take one at random). */
struct seen *seen_new(size_t capacity, uint64_t seed)
    __attribute__((warn_unused_result));
void seen_free(struct seen *s);

/* Is the key in the set?  Does not refresh it. */
bool seen_contains(const struct seen *s, const char *key, size_t len);

/* Add the key or refresh it; true when it was there already. */
bool seen_touch(struct seen *s, const char *key, size_t len);

/* Keys held now. */
size_t seen_count(const struct seen *s);

#endif /* SPAMLAB_SEEN_H */
