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

bool
domain_registrable(const char *host, size_t len, bool icann_only, char *out,
                   size_t outlen)
{
	const psl_ctx_t *psl = psl_builtin();
	int type =
	    (icann_only ? PSL_TYPE_ICANN : PSL_TYPE_ANY) | PSL_TYPE_NO_STAR_RULE;
	char buf[DOMAIN_MAX + 1];
	const char *prev = NULL;
	size_t n;

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

	/*
	 * The leftmost label boundary whose remainder is a public suffix gives
	 * the longest suffix; the registrable domain is one label more.  Names
	 * whose last label is no known suffix have none.
	 */
	for (const char *p = buf; p != NULL;)
	{
		if (psl_is_public_suffix2(psl, p, type))
		{
			if (prev == NULL)
				return false; /* the name is a public suffix itself */
			n = strlen(prev);
			if (n + 1 > outlen)
				return false;
			memcpy(out, prev, n + 1);
			return true;
		}
		prev = p;
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	return false;
}
