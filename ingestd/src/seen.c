/*
 * seen.c: a bounded LRU set of keyed 64-bit string hashes.
 *
 * Entries live in one array allocated at creation; a doubly linked list in
 * recency order (head = newest) and hash chains index them.  Index NIL ends
 * a list.  Buckets are twice the capacity, rounded to a power of two.
 */
#include "seen.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NIL UINT32_MAX

struct seen_entry
{
	uint64_t hash;
	uint32_t prev, next; /* recency list */
	uint32_t chain;      /* next entry in the same bucket */
};

struct seen
{
	struct seen_entry *e;
	uint32_t *bucket;
	size_t capacity, count;
	uint32_t mask;
	uint32_t head, tail;
	uint64_t seed;
};

/* splitmix64's finalizer: spreads the seed and the FNV state. */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* FNV-1a over the ASCII-lowercased key, keyed by the seed. */
static uint64_t
seen_hash(const struct seen *s, const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ s->seed;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char)key[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h ^= c;
		h *= 0x100000001b3ULL;
	}
	return mix64(h ^ len);
}

struct seen *
seen_new(size_t capacity, uint64_t seed)
{
	struct seen *s;
	size_t nb = 2;

	if (capacity < 1 || capacity > SEEN_CAPACITY_MAX)
		return NULL;
	while (nb < capacity * 2)
		nb <<= 1;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->e = calloc(capacity, sizeof(*s->e));
	s->bucket = malloc(nb * sizeof(*s->bucket));
	if (s->e == NULL || s->bucket == NULL)
	{
		seen_free(s);
		return NULL;
	}
	for (size_t i = 0; i < nb; i++)
		s->bucket[i] = NIL;
	s->capacity = capacity;
	s->mask = (uint32_t)(nb - 1);
	s->head = s->tail = NIL;
	if (seed == 0)
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		             ((uint64_t)getpid() << 40) ^ (uintptr_t)s);
	}
	s->seed = seed;
	return s;
}

void
seen_free(struct seen *s)
{
	if (s == NULL)
		return;
	free(s->e);
	free(s->bucket);
	free(s);
}

static uint32_t
seen_find(const struct seen *s, uint64_t h)
{
	for (uint32_t i = s->bucket[h & s->mask]; i != NIL; i = s->e[i].chain)
		if (s->e[i].hash == h)
			return i;
	return NIL;
}

static void
list_unlink(struct seen *s, uint32_t i)
{
	struct seen_entry *x = &s->e[i];

	if (x->prev != NIL)
		s->e[x->prev].next = x->next;
	else
		s->head = x->next;
	if (x->next != NIL)
		s->e[x->next].prev = x->prev;
	else
		s->tail = x->prev;
}

static void
list_push_head(struct seen *s, uint32_t i)
{
	s->e[i].prev = NIL;
	s->e[i].next = s->head;
	if (s->head != NIL)
		s->e[s->head].prev = i;
	s->head = i;
	if (s->tail == NIL)
		s->tail = i;
}

static void
chain_unlink(struct seen *s, uint32_t i)
{
	uint32_t *p = &s->bucket[s->e[i].hash & s->mask];

	while (*p != NIL && *p != i)
		p = &s->e[*p].chain;
	if (*p == i)
		*p = s->e[i].chain;
}

bool
seen_contains(const struct seen *s, const char *key, size_t len)
{
	return seen_find(s, seen_hash(s, key, len)) != NIL;
}

bool
seen_touch(struct seen *s, const char *key, size_t len)
{
	uint64_t h = seen_hash(s, key, len);
	uint32_t i = seen_find(s, h);
	uint32_t b;

	if (i != NIL)
	{
		list_unlink(s, i);
		list_push_head(s, i);
		return true;
	}
	if (s->count < s->capacity)
		i = (uint32_t)s->count++;
	else
	{
		/* forget the least recently touched key */
		i = s->tail;
		list_unlink(s, i);
		chain_unlink(s, i);
	}
	b = (uint32_t)(h & s->mask);
	s->e[i].hash = h;
	s->e[i].chain = s->bucket[b];
	s->bucket[b] = i;
	list_push_head(s, i);
	return false;
}

size_t
seen_count(const struct seen *s)
{
	return s->count;
}
