/*
 * dnsmx.c: MX query packets: build a query, parse an answer.  Pure C (no
 * libevent), so the fuzzer links it alone; mxlookup.c sends the packets.
 */
#include "dnsmx.h"

#include <stdlib.h>
#include <string.h>

#define DNS_TYPE_MX  15
#define DNS_CLASS_IN 1
#define DNS_HDR      12

const char *
dnsmx_status_name(enum dnsmx_status s)
{
	switch (s)
	{
		case DNSMX_OK:
			return "ok";
		case DNSMX_NODATA:
			return "nodata";
		case DNSMX_NXDOMAIN:
			return "nxdomain";
		case DNSMX_NULLMX:
			return "null-mx";
		case DNSMX_TEMPFAIL:
			return "tempfail";
		case DNSMX_BAD:
			return "bad-answer";
	}
	return "unknown";
}

size_t
dnsmx_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *domain)
{
	size_t n = strlen(domain), pos = DNS_HDR;
	const char *p = domain, *end;

	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || cap < DNS_HDR + n + 2 + 4)
		return 0;
	memset(buf, 0, DNS_HDR);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	end = domain + n;
	while (p < end)
	{
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t l = dot ? (size_t)(dot - p) : (size_t)(end - p);

		if (l == 0 || l > 63)
			return 0;
		for (size_t i = 0; i < l; i++)
		{
			unsigned char c = (unsigned char)p[i];

			if (c <= ' ' || c >= 0x7f)
				return 0;
		}
		buf[pos++] = (uint8_t)l;
		memcpy(buf + pos, p, l);
		pos += l;
		p += l + (dot ? 1 : 0);
		if (dot && p == end)
			return 0; /* "a..": empty label */
	}
	buf[pos++] = 0;
	buf[pos++] = 0;
	buf[pos++] = DNS_TYPE_MX;
	buf[pos++] = 0;
	buf[pos++] = DNS_CLASS_IN;
	return pos;
}

/*
 * Read the name at *off into out (presentation form, no final dot) and
 * advance *off past it in the packet.  Pointers must point strictly
 * backwards, which bounds the loop.
 */
static bool
read_name(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t p = *off, o = 0, after = 0;
	bool jumped = false;

	for (;;)
	{
		uint8_t l;

		if (p >= len)
			return false;
		l = pkt[p];
		if ((l & 0xc0) == 0xc0)
		{
			size_t target;

			if (p + 1 >= len)
				return false;
			target = ((size_t)(l & 0x3f) << 8) | pkt[p + 1];
			if (target >= p)
				return false;
			if (!jumped)
				after = p + 2;
			jumped = true;
			p = target;
			continue;
		}
		if (l & 0xc0)
			return false;
		if (l == 0)
		{
			p++;
			break;
		}
		if (p + 1 + l > len || o + l + 2 > outlen)
			return false;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, pkt + p + 1, l);
		o += l;
		p += 1 + (size_t)l;
	}
	out[o] = '\0';
	*off = jumped ? after : p;
	return true;
}

static unsigned
get16(const uint8_t *p)
{
	return ((unsigned)p[0] << 8) | p[1];
}

static int
host_cmp(const void *a, const void *b)
{
	const struct dnsmx_host *x = a, *y = b;

	return (x->pref > y->pref) - (x->pref < y->pref);
}

enum dnsmx_status
dnsmx_parse(const uint8_t *pkt, size_t len, uint16_t id, struct dnsmx_host *out,
            size_t *n_out)
{
	unsigned qd, an, rcode;
	size_t off = DNS_HDR, n = 0;
	char name[DNSMX_NAME_MAX];

	*n_out = 0;
	if (len < DNS_HDR || get16(pkt) != id || !(pkt[2] & 0x80))
		return DNSMX_BAD;
	rcode = pkt[3] & 0x0f;
	if (rcode == 3)
		return DNSMX_NXDOMAIN;
	if (rcode != 0 || (pkt[2] & 0x02)) /* error or truncated */
		return DNSMX_TEMPFAIL;
	qd = get16(pkt + 4);
	an = get16(pkt + 6);
	for (unsigned i = 0; i < qd; i++)
	{
		if (!read_name(pkt, len, &off, name, sizeof(name)) || off + 4 > len)
			return DNSMX_BAD;
		off += 4;
	}
	for (unsigned i = 0; i < an; i++)
	{
		unsigned type, rdlen;
		size_t rd;

		if (!read_name(pkt, len, &off, name, sizeof(name)) || off + 10 > len)
			return DNSMX_BAD;
		type = get16(pkt + off);
		rdlen = get16(pkt + off + 8);
		rd = off + 10;
		if (rd + rdlen > len)
			return DNSMX_BAD;
		off = rd + rdlen;
		if (type != DNS_TYPE_MX)
			continue; /* a CNAME on the way */
		if (rdlen < 3)
			return DNSMX_BAD;
		{
			size_t noff = rd + 2;
			unsigned pref = get16(pkt + rd);

			if (!read_name(pkt, len, &noff, name, sizeof(name)) ||
			    noff > rd + rdlen)
				return DNSMX_BAD;
			if (name[0] == '\0')
			{
				if (pref == 0 && an == 1)
					return DNSMX_NULLMX;
				continue;
			}
			if (n < DNSMX_HOSTS_MAX)
			{
				out[n].pref = pref;
				memcpy(out[n].name, name, strlen(name) + 1);
				n++;
			}
		}
	}
	if (n == 0)
		return DNSMX_NODATA;
	qsort(out, n, sizeof(*out), host_cmp);
	*n_out = n;
	return DNSMX_OK;
}
