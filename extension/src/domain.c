/*
 * domain.c: host names to registrable domains (eTLD+1) with libpsl.
 */
#include "domain.h"

#include <arpa/inet.h>
#include <libpsl.h>
#include <string.h>

bool
domain_is_ip_literal(const char *host, size_t len)
{
	char buf[64];
	unsigned char addr[16];

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1 ||
	       inet_pton(AF_INET6, buf, addr) == 1;
}

/*
 * The answers for recent short names, direct-mapped: a message names the
 * same few hosts again and again, and each answer costs one libpsl lookup
 * per label.  An entry keeps the lower-case name and where its registrable
 * domain starts in it (-1: none).  One process, one thread (a backend, a
 * fuzzer), so a static table needs no lock.
 */
#define DOMAIN_CACHE_SLOTS 64
#define DOMAIN_CACHE_NAME  128

static struct
{
	char name[DOMAIN_CACHE_NAME];
	unsigned char len; /* 0: empty slot */
	bool icann_only;
	short start;
} domain_cache[DOMAIN_CACHE_SLOTS];

static unsigned int
domain_cache_slot(const char *name, size_t len, bool icann_only)
{
	unsigned int h = icann_only ? 2166136261u ^ 1u : 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h % DOMAIN_CACHE_SLOTS;
}

/* Copy the answer for buf[0, len) starting at start (-1: none) to out. */
static bool
domain_answer(const char *buf, size_t len, int start, char *out, size_t outlen)
{
	size_t n;

	if (start < 0)
		return false;
	n = len - (size_t)start;
	if (n + 1 > outlen)
		return false;
	memcpy(out, buf + start, n);
	out[n] = '\0';
	return true;
}

bool
domain_registrable(const char *host, size_t len, bool icann_only, char *out,
                   size_t outlen)
{
	const psl_ctx_t *psl = psl_builtin();
	int type =
	    (icann_only ? PSL_TYPE_ICANN : PSL_TYPE_ANY) | PSL_TYPE_NO_STAR_RULE;
	char buf[DOMAIN_MAX + 1];
	const char *prev = NULL;
	bool cacheable;
	unsigned int slot = 0;
	int start;

	if (outlen > 0)
		out[0] = '\0';
	while (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX || psl == NULL)
		return false;
	if (domain_is_ip_literal(host, len))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char)host[i];

		/* a NUL, a blank or an empty label cannot be part of a host name */
		if (c == '\0' || c == ' ' || c == '\t' ||
		    (c == '.' && (i == 0 || host[i - 1] == '.')))
			return false;
		buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	buf[len] = '\0';
	cacheable = len < DOMAIN_CACHE_NAME;
	if (cacheable)
	{
		slot = domain_cache_slot(buf, len, icann_only);
		if (domain_cache[slot].len == len &&
		    domain_cache[slot].icann_only == icann_only &&
		    memcmp(domain_cache[slot].name, buf, len) == 0)
			return domain_answer(buf, len, domain_cache[slot].start, out,
			                     outlen);
	}
	start = -1;

	/*
	 * The leftmost label boundary whose remainder is a public suffix gives
	 * the longest suffix; the registrable domain is one label more.  Names
	 * whose last label is no known suffix have none.
	 */
	for (const char *p = buf; p != NULL;)
	{
		if (psl_is_public_suffix2(psl, p, type))
		{
			/* else the name is a public suffix itself */
			if (prev != NULL)
				start = (int)(prev - buf);
			break;
		}
		prev = p;
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	if (cacheable)
	{
		memcpy(domain_cache[slot].name, buf, len);
		domain_cache[slot].len = (unsigned char)len;
		domain_cache[slot].icann_only = icann_only;
		domain_cache[slot].start = (short)start;
	}
	return domain_answer(buf, len, start, out, outlen);
}
