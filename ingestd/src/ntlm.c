/*
 * ntlm.c: NTLM NEGOTIATE/CHALLENGE/AUTHENTICATE for AUTH NTLM (ntlm.h).
 *
 * Layouts from [MS-NLMP] 2.2.1: every message starts "NTLMSSP\0" and a
 * 32-bit type; variable fields are "security buffers" (16-bit length,
 * 16-bit maximum length, 32-bit offset from the message start) pointing
 * into a payload after the fixed header.  All integers little-endian.
 */
#include "ntlm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t signature[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static bool
is_type(const uint8_t *m, size_t n, size_t header, uint32_t type)
{
	return n >= header && memcmp(m, signature, 8) == 0 && get32(m + 8) == type;
}

/* The bytes a security buffer at m + at points to, if inside the message. */
static bool
secbuf(const uint8_t *m, size_t n, size_t at, const uint8_t **p, size_t *len)
{
	size_t l = get16(m + at), off = get32(m + at + 4);

	if (l == 0)
	{
		*p = NULL;
		*len = 0;
		return true;
	}
	if (off > n || l > n - off)
		return false;
	*p = m + off;
	*len = l;
	return true;
}

bool
ntlm_parse_negotiate(const uint8_t *m, size_t n, uint32_t *flags)
{
	/* old clients stop after the flags; the domain and workstation
	 * buffers that may follow are not needed */
	if (!is_type(m, n, 16, 1))
		return false;
	*flags = get32(m + 12);
	return true;
}

/* ---- CHALLENGE ---- */

struct writer
{
	uint8_t *out;
	size_t cap, len;
	bool full;
};

/* Append slen bytes of s (ASCII, upper-cased if asked) as UTF-16LE or as
 * they are; the bytes written, 0 (and full set) when they do not fit. */
static size_t
put_name(struct writer *w, const char *s, size_t slen, bool unicode, bool upper)
{
	size_t unit = unicode ? 2 : 1, start = w->len;

	if (w->len + slen * unit > w->cap)
	{
		w->full = true;
		return 0;
	}
	for (size_t i = 0; i < slen; i++)
	{
		uint8_t c = (uint8_t)s[i];

		if (upper && c >= 'a' && c <= 'z')
			c = (uint8_t)(c - 'a' + 'A');
		w->out[w->len++] = c;
		if (unicode)
			w->out[w->len++] = 0;
	}
	return w->len - start;
}

/* One AV_PAIR of the target information: id, length, value. */
static void
put_av(struct writer *w, uint16_t id, const char *s, size_t slen, bool upper)
{
	size_t at = w->len, n;

	if (w->full || w->len + 4 > w->cap)
	{
		w->full = true;
		return;
	}
	w->len += 4;
	n = put_name(w, s, slen, true, upper);
	put16(w->out + at, id);
	put16(w->out + at + 2, (uint32_t)n);
}

/* A NetBIOS name: the first label, at most 15 characters. */
static size_t
netbios_len(const char *s, size_t n)
{
	const char *dot = memchr(s, '.', n);
	size_t l = dot ? (size_t)(dot - s) : n;

	return l > 15 ? 15 : l;
}

size_t
ntlm_build_challenge(uint8_t *out, size_t cap, uint32_t client_flags,
                     const uint8_t challenge[8], const char *host,
                     uint64_t filetime)
{
	struct writer w = {.out = out, .cap = cap, .len = 56};
	size_t hlen = strnlen(host, 255), dlen, nb_dom, nb_host, tn, ti_at;
	const char *dot = memchr(host, '.', hlen), *dom;
	bool unicode = (client_flags & NTLM_NEGOTIATE_UNICODE) ||
	               !(client_flags & NTLM_NEGOTIATE_OEM);
	uint32_t flags = NTLM_REQUEST_TARGET | NTLM_NEGOTIATE_NTLM |
	                 NTLM_NEGOTIATE_ALWAYS_SIGN | NTLM_TARGET_TYPE_DOMAIN |
	                 NTLM_NEGOTIATE_TARGET_INFO | NTLM_NEGOTIATE_VERSION;

	if (cap < 56)
		return 0;
	/* a host without a domain names its own workgroup */
	dom = dot && dot + 1 < host + hlen ? dot + 1 : host;
	dlen = (size_t)(host + hlen - dom);
	nb_dom = netbios_len(dom, dlen);
	nb_host = netbios_len(host, hlen);
	flags |= unicode ? NTLM_NEGOTIATE_UNICODE : NTLM_NEGOTIATE_OEM;
	/* the optional capabilities a Windows server grants when asked */
	flags |= client_flags &
	         (NTLM_NEGOTIATE_SIGN | NTLM_NEGOTIATE_SEAL | NTLM_NEGOTIATE_ESS |
	          NTLM_NEGOTIATE_128 | NTLM_NEGOTIATE_KEY_EXCH | NTLM_NEGOTIATE_56);

	memset(out, 0, 56);
	memcpy(out, signature, 8);
	put32(out + 8, 2);
	/* TargetName: the NetBIOS domain */
	tn = put_name(&w, dom, nb_dom, unicode, true);
	put16(out + 12, (uint32_t)tn);
	put16(out + 14, (uint32_t)tn);
	put32(out + 16, 56);
	put32(out + 20, flags);
	memcpy(out + 24, challenge, 8);
	/* TargetInfo, always UTF-16 */
	ti_at = w.len;
	put_av(&w, 2, dom, nb_dom, true);   /* MsvAvNbDomainName */
	put_av(&w, 1, host, nb_host, true); /* MsvAvNbComputerName */
	put_av(&w, 4, dom, dlen, false);    /* MsvAvDnsDomainName */
	put_av(&w, 3, host, hlen, false);   /* MsvAvDnsComputerName */
	put_av(&w, 5, dom, dlen, false);    /* MsvAvDnsTreeName */
	if (w.len + 16 > w.cap)
		return 0;
	put16(out + w.len, 7); /* MsvAvTimestamp */
	put16(out + w.len + 2, 8);
	put32(out + w.len + 4, (uint32_t)filetime);
	put32(out + w.len + 8, (uint32_t)(filetime >> 32));
	w.len += 12;
	put32(out + w.len, 0); /* MsvAvEOL */
	w.len += 4;
	if (w.full)
		return 0;
	put16(out + 40, (uint32_t)(w.len - ti_at));
	put16(out + 42, (uint32_t)(w.len - ti_at));
	put32(out + 44, (uint32_t)ti_at);
	/* Version: Windows Server 2019 (10.0.17763), NTLM revision 15 */
	out[48] = 10;
	out[49] = 0;
	put16(out + 50, 17763);
	out[55] = 15;
	return w.len;
}

/* ---- AUTHENTICATE ---- */

/* UTF-8 for one code point into o (room for 4). */
static size_t
put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80)
	{
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800)
	{
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000)
	{
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A name as UTF-8: UTF-16LE when unicode, else OEM bytes read as Latin-1.
 * NUL, an unpaired surrogate or an odd last byte become U+FFFD; at most
 * NTLM_NAME_MAX code units are kept.
 */
static char *
name_utf8(const uint8_t *p, size_t n, bool unicode)
{
	size_t units = unicode ? n / 2 : n, i = 0, o = 0;
	bool odd = unicode && (n & 1);
	char *s;

	if (units > NTLM_NAME_MAX)
	{
		units = NTLM_NAME_MAX;
		odd = false;
	}
	s = malloc(units * 3 + 4);
	if (!s)
		return NULL;
	while (i < units)
	{
		uint32_t cp;

		if (!unicode)
			cp = p[i++];
		else
		{
			cp = get16(p + 2 * i++);
			if (cp >= 0xd800 && cp <= 0xdbff && i < units)
			{
				uint32_t lo = get16(p + 2 * i);

				if (lo >= 0xdc00 && lo <= 0xdfff)
				{
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					i++;
				}
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
		}
		if (cp == 0)
			cp = 0xfffd;
		o += put_utf8(s + o, cp);
	}
	if (odd)
		o += put_utf8(s + o, 0xfffd);
	s[o] = '\0';
	return s;
}

/* Where an AUTHENTICATE's payload begins: the lowest offset of its five
 * non-empty buffers (old clients end the header after the fifth). */
static size_t
payload_start(const uint8_t *m, size_t n)
{
	size_t start = n;

	for (size_t at = 12; at <= 44; at += 8)
		if (get16(m + at) && get32(m + at + 4) < start)
			start = get32(m + at + 4);
	return start;
}

bool
ntlm_parse_authenticate(const uint8_t *m, size_t n, uint32_t negotiated,
                        struct ntlm_auth *a)
{
	const uint8_t *d, *u, *w;
	size_t dl, ul, wl;
	bool unicode;

	memset(a, 0, sizeof(*a));
	/* the fixed part up to the workstation buffer; the session key,
	 * flags, version and MIC that follow are optional in old clients */
	if (!is_type(m, n, 52, 3))
		return false;
	if (!secbuf(m, n, 12, &a->lm, &a->lm_len) ||
	    !secbuf(m, n, 20, &a->nt, &a->nt_len) || !secbuf(m, n, 28, &d, &dl) ||
	    !secbuf(m, n, 36, &u, &ul) || !secbuf(m, n, 44, &w, &wl))
		return false;
	/* the flags field exists when no payload starts before its end */
	a->flags =
	    n >= 64 && payload_start(m, n) >= 64 ? get32(m + 60) : negotiated;
	unicode = (a->flags & NTLM_NEGOTIATE_UNICODE) != 0;
	a->domain = name_utf8(d, dl, unicode);
	a->user = name_utf8(u, ul, unicode);
	a->workstation = name_utf8(w, wl, unicode);
	if (!a->domain || !a->user || !a->workstation)
	{
		ntlm_auth_free(a);
		return false;
	}
	return true;
}

void
ntlm_auth_free(struct ntlm_auth *a)
{
	free(a->domain);
	free(a->user);
	free(a->workstation);
	a->domain = a->user = a->workstation = NULL;
}

static char *
put_hex(char *o, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		*o++ = hex[p[i] >> 4];
		*o++ = hex[p[i] & 15];
	}
	return o;
}

/* The user and domain with ':' (hashcat's separator) made '_'. */
static char *
put_field(char *o, const char *s)
{
	for (; *s; s++)
		*o++ = *s == ':' ? '_' : *s;
	return o;
}

char *
ntlm_hashcat(const struct ntlm_auth *a, const uint8_t challenge[8])
{
	size_t cap;
	char *s, *o;

	if (a->nt_len < 24 || (a->nt_len == 24 && a->lm_len != 24))
		return NULL;
	cap = strlen(a->user) + strlen(a->domain) + 2 * (a->lm_len + a->nt_len) +
	      16 + 8;
	if (!(s = malloc(cap)))
		return NULL;
	o = put_field(s, a->user);
	*o++ = ':';
	*o++ = ':';
	o = put_field(o, a->domain);
	*o++ = ':';
	if (a->nt_len == 24)
	{
		o = put_hex(o, a->lm, 24);
		*o++ = ':';
		o = put_hex(o, a->nt, 24);
		*o++ = ':';
		o = put_hex(o, challenge, 8);
	}
	else
	{
		o = put_hex(o, challenge, 8);
		*o++ = ':';
		o = put_hex(o, a->nt, 16);
		*o++ = ':';
		o = put_hex(o, a->nt + 16, a->nt_len - 16);
	}
	*o = '\0';
	return s;
}

char *
ntlm_account(const struct ntlm_auth *a)
{
	size_t dl = strlen(a->domain), ul = strlen(a->user);
	char *s = malloc(dl + ul + 2);

	if (!s)
		return NULL;
	if (dl)
		snprintf(s, dl + ul + 2, "%s\\%s", a->domain, a->user);
	else
		memcpy(s, a->user, ul + 1);
	return s;
}
