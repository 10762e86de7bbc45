/*
 * urlscan.c: find URLs in plain text and HTML, and put them in canonical form.
 */
#include "urlscan.h"

#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"

/* Longest candidate looked at; longer runs are cut (still reported). */
#define URL_MAX 8192
/* Longest anchor text kept. */
#define ANCHOR_MAX 1000

/* A growable byte buffer; allocation failure aborts like GLib does. */
struct sbuf
{
	char *d;
	size_t len;
	size_t cap;
};

static void
sbuf_reserve(struct sbuf *b, size_t more)
{
	size_t need = b->len + more + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 64;
	while (b->cap < need)
		b->cap *= 2;
	b->d = realloc(b->d, b->cap);
	if (b->d == NULL)
		abort();
}

static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	sbuf_reserve(b, n);
	if (n > 0)
		memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static void
sbuf_addc(struct sbuf *b, char c)
{
	sbuf_add(b, &c, 1);
}

static void
sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static inline char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static inline bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static inline int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool
prefix_ci(const char *s, size_t n, const char *p)
{
	size_t m = strlen(p);

	if (n < m)
		return false;
	for (size_t i = 0; i < m; i++)
		if (lower(s[i]) != p[i])
			return false;
	return true;
}

const char *
url_source_name(enum url_source src)
{
	switch (src)
	{
		case URL_SRC_TEXT:
			return "text";
		case URL_SRC_HTML_HREF:
			return "html_href";
		case URL_SRC_HTML_SRC:
			return "html_src";
		case URL_SRC_HTML_FORM:
			return "html_form";
		case URL_SRC_HTML_OTHER:
			return "html_other";
		case URL_SRC_HEADER:
			return "header";
	}
	return "text";
}

/*
 * One part of a numeric host: decimal, 0x hex or 0-prefixed octal.  False
 * when it is not a number or does not fit 32 bits.
 */
static bool
ipv4_part(const char *s, size_t n, uint64_t *v)
{
	int base = 10;
	uint64_t x = 0;

	if (n == 0)
		return false;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
	{
		base = 16;
		s += 2;
		n -= 2;
		if (n == 0)
		{
			*v = 0; /* "0x" alone is zero, as browsers read it */
			return true;
		}
	}
	else if (n >= 2 && s[0] == '0')
	{
		base = 8;
		s++;
		n--;
	}
	for (size_t i = 0; i < n; i++)
	{
		int d = base == 16 ? hexval(s[i]) : (is_digit(s[i]) ? s[i] - '0' : -1);

		if (d < 0 || d >= base)
			return false;
		x = x * base + d;
		if (x > 0xffffffffULL)
			return false;
	}
	*v = x;
	return true;
}

bool
url_parse_ipv4(const char *host, size_t len, char *out)
{
	uint64_t parts[4], addr;
	int np = 0;
	size_t start = 0;

	if (len > 0 && host[len - 1] == '.')
		len--; /* one trailing dot is allowed */
	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++)
	{
		if (i == len || host[i] == '.')
		{
			if (np == 4 || !ipv4_part(host + start, i - start, &parts[np]))
				return false;
			np++;
			start = i + 1;
		}
	}
	/* all but the last part are single bytes; the last fills the rest */
	addr = 0;
	for (int i = 0; i < np - 1; i++)
	{
		if (parts[i] > 255)
			return false;
		addr |= parts[i] << (8 * (3 - i));
	}
	if (parts[np - 1] >= (1ULL << (8 * (5 - np))))
		return false;
	addr |= parts[np - 1];
	snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(addr >> 24) & 255,
	         (unsigned)(addr >> 16) & 255, (unsigned)(addr >> 8) & 255,
	         (unsigned)addr & 255);
	return true;
}

/*
 * Undo the usual defanging in place: "[.]", "(.)", "{.}", "[dot]", "(dot)"
 * become ".", "[:]" becomes ":".  Returns the new length.
 */
static size_t
defang(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n;)
	{
		char c = s[i];

		if ((c == '[' || c == '(' || c == '{') && i + 2 < n &&
		    (s[i + 1] == '.' || s[i + 1] == ':') &&
		    (s[i + 2] == ']' || s[i + 2] == ')' || s[i + 2] == '}'))
		{
			s[o++] = s[i + 1];
			i += 3;
		}
		else if ((c == '[' || c == '(') && i + 4 < n &&
		         prefix_ci(s + i + 1, n - i - 1, "dot") &&
		         (s[i + 4] == ']' || s[i + 4] == ')'))
		{
			s[o++] = '.';
			i += 5;
		}
		else
			s[o++] = s[i++];
	}
	return o;
}

/* Map a written scheme to its real one: hxxp, hXXps, h**p, fxp. */
static void
scheme_normalize(const char *s, size_t n, struct sbuf *out)
{
	char buf[40];

	for (size_t i = 0; i < n && i < sizeof(buf) - 1; i++)
		buf[i] = lower(s[i]);
	buf[n < sizeof(buf) - 1 ? n : sizeof(buf) - 1] = '\0';
	if ((n == 4 || (n == 5 && buf[4] == 's')) && buf[0] == 'h' &&
	    buf[3] == 'p' && buf[1] != '\0' && buf[2] != '\0' &&
	    strchr("xt*", buf[1]) && strchr("xt*", buf[2]))
	{
		sbuf_adds(out, n == 5 ? "https" : "http");
		return;
	}
	if (strcmp(buf, "fxp") == 0)
	{
		sbuf_adds(out, "ftp");
		return;
	}
	sbuf_adds(out, buf);
}

static int
default_port(const char *scheme)
{
	if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
		return 80;
	if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
		return 443;
	if (strcmp(scheme, "ftp") == 0)
		return 21;
	return -1;
}

static bool
is_unreserved(char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Append a path/query/fragment in canonical form: %XX of unreserved
 * characters decoded, other escapes upper-cased, blanks, controls and
 * non-ASCII bytes escaped.
 */
static void
add_path(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char)s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0)
		{
			char d = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));

			if (is_unreserved(d))
				sbuf_addc(b, d);
			else
			{
				sbuf_addc(b, '%');
				sbuf_addc(b, hex[hexval(s[i + 1])]);
				sbuf_addc(b, hex[hexval(s[i + 2])]);
			}
			i += 2;
		}
		else if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' ||
		         c == '`')
		{
			sbuf_addc(b, '%');
			sbuf_addc(b, hex[c >> 4]);
			sbuf_addc(b, hex[c & 15]);
		}
		else
			sbuf_addc(b, (char)c);
	}
}

/*
 * Host bytes to canonical ASCII form in out (DOMAIN_MAX+1 bytes): percent
 * escapes decoded, lower case, trailing dots dropped, IDN to punycode,
 * numeric IPv4 forms to a dotted quad, IPv6 literals kept in brackets.
 * False when it is no valid host.
 */
static bool
host_canonical(const char *s, size_t n, char *out)
{
	char buf[DOMAIN_MAX + 1];
	size_t o = 0;
	bool ascii = true, numeric = true;
	const char *last;

	if (n == 0 || n > DOMAIN_MAX)
		return false;
	if (s[0] == '[')
	{
		if (s[n - 1] != ']' || !domain_is_ip_literal(s, n))
			return false;
		for (size_t i = 0; i < n; i++)
			out[i] = lower(s[i]);
		out[n] = '\0';
		return true;
	}
	for (size_t i = 0; i < n; i++)
	{
		char c = s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0)
		{
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if ((unsigned char)c >= 0x80)
			ascii = false;
		else if (!(is_alnum(c) || c == '-' || c == '.' || c == '_'))
			return false;
		buf[o++] = lower(c);
	}
	while (o > 0 && buf[o - 1] == '.')
		o--;
	if (o == 0)
		return false;
	buf[o] = '\0';
	if (!ascii)
	{
		char *a = NULL;

		if (idn2_to_ascii_8z(buf, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) !=
		        IDN2_OK &&
		    idn2_to_ascii_8z(buf, &a, IDN2_NFC_INPUT | IDN2_TRANSITIONAL) !=
		        IDN2_OK)
			return false;
		if (strlen(a) > DOMAIN_MAX)
		{
			idn2_free(a);
			return false;
		}
		strcpy(out, a);
		idn2_free(a);
		for (char *p = out; *p; p++)
			*p = lower(*p);
		return true;
	}
	/* a host whose last label is numeric is an IPv4 address (WHATWG) */
	last = strrchr(buf, '.');
	last = last ? last + 1 : buf;
	for (const char *p = last; *p; p++)
		if (!is_digit(*p) &&
		    !(p == last + 1 && lower(*p) == 'x' && last[0] == '0') &&
		    !(hexval(*p) >= 0 && last[0] == '0' && lower(last[1]) == 'x'))
			numeric = false;
	if (numeric)
		return url_parse_ipv4(buf, o, out);
	memcpy(out, buf, o + 1);
	return true;
}

/*
 * Parse and report one candidate.  assume_host: a value without a scheme
 * starts with a host name (text runs, "www." attributes); otherwise it is a
 * relative reference.
 */
static void
emit_candidate(const char *raw, size_t rawlen, enum url_source src,
               const char *anchor, bool assume_host, url_emit_fn emit,
               void *arg)
{
	struct sbuf w = {0}, url = {0}, scheme = {0};
	char host[DOMAIN_MAX + 1], regdom[DOMAIN_MAX + 1];
	const char *s, *e, *auth, *auth_end, *hs, *he, *port = NULL, *ae;
	size_t n, sl = 0;
	bool have_host = false, have_regdom = false;
	struct url_hit hit;

	if (rawlen > URL_MAX)
		rawlen = URL_MAX;
	sbuf_add(&w, raw, rawlen);
	n = defang(w.d, w.len);
	s = w.d;
	e = w.d + n;
	while (s < e && (unsigned char)*s <= ' ')
		s++;
	while (e > s && (unsigned char)e[-1] <= ' ')
		e--;

	/* scheme: letter, then letters, digits, + - . or the * of h**p */
	if (s < e && is_alpha(*s))
	{
		const char *p = s + 1;

		while (p < e && p - s < 32 &&
		       (is_alnum(*p) || *p == '+' || *p == '-' || *p == '*'))
			p++;
		if (p < e && *p == ':')
			sl = p - s;
	}
	if (sl > 0)
	{
		scheme_normalize(s, sl, &scheme);
		s += sl + 1;
		if (s + 1 < e && (s[0] == '/' || s[0] == '\\') &&
		    (s[1] == '/' || s[1] == '\\'))
			s += 2;
		else if (strcmp(scheme.d, "http") == 0 ||
		         strcmp(scheme.d, "https") == 0)
		{
			/* "http:/host", "http:host": browsers still go there */
			while (s < e && (*s == '/' || *s == '\\'))
				s++;
		}
		else if (strcmp(scheme.d, "mailto") == 0)
		{
			const char *at = memchr(s, '@', e - s), *q;

			sbuf_adds(&url, "mailto:");
			add_path(&url, s, e - s);
			if (at != NULL)
			{
				size_t off = strlen("mailto:") + (at - s) + 1;

				q = at + 1;
				while (q < e && *q != '?' && *q != '>' && *q != ',')
					q++;
				have_host = host_canonical(at + 1, q - at - 1, host);
				/* the domain is case-insensitive: lower it in the URL too */
				for (size_t i = off; i < url.len && url.d[i] != '?'; i++)
					url.d[i] = lower(url.d[i]);
			}
			goto report;
		}
		else
		{
			/* javascript:, data:, tel:, ...: no authority */
			sbuf_add(&url, scheme.d, scheme.len);
			sbuf_addc(&url, ':');
			add_path(&url, s, e - s);
			goto report;
		}
	}
	else if (e - s >= 2 && s[0] == '/' && s[1] == '/')
	{
		sbuf_adds(&scheme, "http"); /* scheme-relative */
		s += 2;
	}
	else if (assume_host)
		sbuf_adds(&scheme, "http");
	else
	{
		/* a relative reference: kept as written */
		add_path(&url, s, e - s);
		goto report;
	}

	/* authority up to the first / ? # or backslash */
	auth = s;
	auth_end = s;
	while (auth_end < e && *auth_end != '/' && *auth_end != '?' &&
	       *auth_end != '#' && *auth_end != '\\')
		auth_end++;
	hs = auth;
	for (const char *p = auth_end; p > auth; p--)
		if (p[-1] == '@')
		{
			hs = p;
			break;
		}
	he = auth_end;
	if (hs < he && *hs == '[')
	{
		const char *rb = memchr(hs, ']', he - hs);

		if (rb != NULL)
		{
			if (rb + 1 < he && rb[1] == ':')
				port = rb + 2;
			he = rb + 1;
		}
	}
	else
	{
		for (const char *p = he; p > hs; p--)
			if (p[-1] == ':')
			{
				port = p;
				he = p - 1;
				break;
			}
	}
	have_host = host_canonical(hs, he - hs, host);

	sbuf_add(&url, scheme.d, scheme.len);
	sbuf_adds(&url, "://");
	if (hs > auth)
		add_path(&url, auth, hs - auth); /* user info, as written */
	if (have_host)
		sbuf_adds(&url, host);
	else
		add_path(&url, hs, he - hs);
	if (port != NULL)
	{
		bool digits = port < auth_end;
		long pv = 0;

		for (const char *p = port; p < auth_end; p++)
		{
			if (!is_digit(*p) || pv > 100000)
				digits = false;
			else
				pv = pv * 10 + (*p - '0');
		}
		if (!(digits && pv == default_port(scheme.d)) && port < auth_end)
		{
			sbuf_addc(&url, ':');
			add_path(&url, port, auth_end - port);
		}
	}
	ae = auth_end;
	if (ae == e && (default_port(scheme.d) > 0))
		sbuf_addc(&url, '/');
	else if (ae < e && *ae == '\\')
	{
		sbuf_addc(&url, '/');
		ae++;
	}
	add_path(&url, ae, e - ae);

report:
	if (url.d == NULL)
		sbuf_adds(&url, "");
	if (have_host)
		have_regdom = domain_registrable(host, strlen(host), false, regdom,
		                                 sizeof(regdom));
	hit.raw = raw;
	hit.raw_len = rawlen;
	hit.url = url.d;
	hit.scheme = scheme.d;
	hit.host = have_host ? host : NULL;
	hit.regdom = have_regdom ? regdom : NULL;
	hit.anchor = anchor;
	hit.source = src;
	emit(arg, &hit);
	free(w.d);
	free(url.d);
	free(scheme.d);
}

void
url_emit_one(const char *raw, size_t len, enum url_source src,
             const char *anchor, url_emit_fn emit, void *arg)
{
	emit_candidate(raw, len, src, anchor, true, emit, arg);
}

/* Byte classes for the run scanner: one table lookup per byte. */
#define CLS_DELIM   1 /* ends a run of URL-ish text */
#define CLS_SPECIAL 2 /* : ] . [ ( make a run worth a closer look */

static unsigned char byte_class[256];

static void
init_byte_class(void)
{
	static bool done = false;

	if (done)
		return;
	for (int c = 0; c < 256; c++)
		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' ||
		    c == '`' || c == '|' || c == '^')
			byte_class[c] = CLS_DELIM;
	byte_class[':'] = byte_class[']'] = byte_class['.'] = CLS_SPECIAL;
	byte_class['['] = byte_class['('] = CLS_SPECIAL;
	done = true;
}

/* Trim trailing punctuation; keep balanced closing brackets. */
static const char *
trim_end(const char *s, const char *e)
{
	for (;;)
	{
		char c;

		if (e <= s)
			return e;
		c = e[-1];
		if (strchr(".,;:!?'*", c) != NULL)
			e--;
		else if (c == ')' || c == ']')
		{
			char open = c == ')' ? '(' : '[';
			long bal = 0;

			for (const char *p = s; p < e; p++)
				bal += (*p == open) - (*p == c);
			if (bal >= 0)
				return e;
			e--;
		}
		else
			return e;
	}
}

/*
 * Does [s, e) start with a host name under a real public suffix, not part
 * of a mail address?  Used for schemeless text like "example.com/path".
 */
static bool
looks_like_domain(const char *s, const char *e)
{
	char buf[DOMAIN_MAX + 1], out[DOMAIN_MAX + 1];
	const char *he = s, *dot = NULL;
	size_t n;

	while (he < e && *he != '/' && *he != '?' && *he != '#' && *he != ':')
		he++;
	if (he - s > DOMAIN_MAX || he == s)
		return false;
	memcpy(buf, s, he - s);
	n = defang(buf, he - s);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
	{
		char c = buf[i];

		if (c == '.')
			dot = buf + i;
		else if (!(is_alnum(c) || c == '-' || c == '_' ||
		           (unsigned char)c >= 0x80))
			return false;
	}
	/* the last label must be letters (or an IDN label) */
	if (dot == NULL || dot == buf || dot[1] == '\0' || !is_alpha(dot[1]))
		return false;
	for (const char *p = dot + 1; *p; p++)
		if (!is_alnum(*p) && *p != '-')
			return false;
	return domain_registrable(buf, n, false, out, sizeof(out));
}

/* Look at one run [s, e) of non-delimiter text; report what it holds. */
static void
scan_run(const char *s, const char *e, const char *css, enum url_source src,
         url_emit_fn emit, void *arg)
{
	const char *start = NULL, *end;

	if (css != NULL)
	{
		/* "://": walk back over the scheme (letters, h**p, [:] defang) */
		const char *p = css;

		while (p > s && (is_alnum(p[-1]) || p[-1] == '*' || p[-1] == '+' ||
		                 p[-1] == '-'))
			p--;
		while (p < css && !is_alpha(*p))
			p++;
		if (p < css &&
		    !(css[0] == ':' && css + 2 < e && css[1] == '/' && css[2] == '/') &&
		    css[0] == ':')
		{
			/* "http:/x", "http:\\x": only for the web schemes */
			struct sbuf sch = {0};

			scheme_normalize(p, css - p, &sch);
			if (strcmp(sch.d, "http") != 0 && strcmp(sch.d, "https") != 0)
				p = css;
			free(sch.d);
		}
		if (p < css)
			start = p;
	}
	if (start == NULL)
	{
		/* mailto: anywhere, else www. or a bare domain at the start */
		for (const char *p = s; p + 7 <= e; p++)
			if ((*p == 'm' || *p == 'M') && prefix_ci(p, e - p, "mailto:"))
			{
				start = p;
				break;
			}
	}
	if (start == NULL)
	{
		const char *p = s;

		while (p < e && strchr("([{'*,;:.!?", *p) != NULL)
			p++;
		if (memchr(p, '@', e - p) != NULL)
			return; /* a mail address, not a URL */
		if (prefix_ci(p, e - p, "www.") ||
		    (e - p > 3 && looks_like_domain(p, trim_end(p, e))))
			start = p;
	}
	if (start == NULL)
		return;
	end = trim_end(start, e);
	if (end <= start)
		return;
	emit_candidate(start, end - start, src, NULL, true, emit, arg);
}

void
url_scan_text(const char *buf, size_t len, enum url_source src,
              url_emit_fn emit, void *arg)
{
	const char *p = buf, *end = buf + len;

	init_byte_class();
	while (p < end)
	{
		const char *s, *css = NULL;
		bool dot = false;

		while (p < end && (byte_class[(unsigned char)*p] & CLS_DELIM))
			p++;
		s = p;
		for (; p < end; p++)
		{
			unsigned char k = byte_class[(unsigned char)*p];

			if (k == 0)
				continue;
			if (k & CLS_DELIM)
				break;
			if (*p == ':' && css == NULL && p + 1 < end &&
			    (p[1] == '/' || p[1] == '\\'))
				css = p;
			else if (*p == ']' && css == NULL && p + 2 < end && p[1] == '/' &&
			         p[2] == '/' && p - s >= 2 && p[-1] == ':' && p[-2] == '[')
				css = p - 2; /* defanged "[:]//" */
			else
				dot = true;
		}
		if (p > s && (css != NULL || dot))
		{
			/* very long runs: look at a bounded window (still linear) */
			const char *e = p - s > URL_MAX ? s + URL_MAX : p;

			if (css != NULL && css >= e)
				css = NULL;
			scan_run(s, e, css, src, emit, arg);
		}
	}
}

/* ---- HTML ---- */

struct entity
{
	const char *name;
	unsigned cp;
};

static const struct entity entities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},        {"quot", '"'},
    {"apos", '\''},    {"nbsp", ' '},     {"shy", 0xad},      {"copy", 0xa9},
    {"reg", 0xae},     {"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"laquo", 0xab},   {"raquo", 0xbb},    {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201c}, {"rdquo", 0x201d},  {"bull", 0x2022},
    {"middot", 0xb7},  {"euro", 0x20ac},  {"pound", 0xa3},    {"yen", 0xa5},
    {"cent", 0xa2},    {"sect", 0xa7},    {"deg", 0xb0},      {"times", 0xd7},
    {"eacute", 0xe9},  {"egrave", 0xe8},  {"agrave", 0xe0},   {"auml", 0xe4},
    {"ouml", 0xf6},    {"uuml", 0xfc},    {"szlig", 0xdf},    {"ccedil", 0xe7},
    {"zwnj", 0x200c},  {"zwj", 0x200d},   {"period", '.'},    {"colon", ':'},
    {"sol", '/'},      {"dot", '.'},      {NULL, 0}};

static void
add_utf8(struct sbuf *b, unsigned cp)
{
	char u[4];

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80)
		sbuf_addc(b, (char)cp);
	else if (cp < 0x800)
	{
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 63));
		sbuf_add(b, u, 2);
	}
	else if (cp < 0x10000)
	{
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 63));
		u[2] = (char)(0x80 | (cp & 63));
		sbuf_add(b, u, 3);
	}
	else
	{
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 63));
		u[2] = (char)(0x80 | ((cp >> 6) & 63));
		u[3] = (char)(0x80 | (cp & 63));
		sbuf_add(b, u, 4);
	}
}

/*
 * Decode one entity at s (which starts with '&'); append its text to b and
 * return the bytes consumed, or 0 when it is no entity.
 */
static size_t
entity_decode(const char *s, const char *e, struct sbuf *b)
{
	const char *p = s + 1;

	if (p < e && *p == '#')
	{
		unsigned long cp = 0;
		bool hex = false, any = false;

		p++;
		if (p < e && (*p == 'x' || *p == 'X'))
		{
			hex = true;
			p++;
		}
		while (p < e && (hex ? hexval(*p) >= 0 : is_digit(*p)))
		{
			if (cp < 0x110000)
				cp = cp * (hex ? 16 : 10) + hexval(*p);
			any = true;
			p++;
		}
		if (!any)
			return 0;
		if (p < e && *p == ';')
			p++;
		add_utf8(b, cp > 0x10ffff ? 0xfffd : (unsigned)cp);
		return p - s;
	}
	for (const struct entity *en = entities; en->name; en++)
	{
		size_t n = strlen(en->name);

		if ((size_t)(e - p) >= n && memcmp(p, en->name, n) == 0)
		{
			if (p + n < e && p[n] == ';')
				n++;
			else if (en->cp > 0x7f || is_alnum(p[n < (size_t)(e - p) ? n : 0]))
				continue; /* only the ASCII ones without ';' */
			add_utf8(b, en->cp);
			return 1 + n;
		}
	}
	return 0;
}

/* Append [s, e) to b with entities decoded. */
static void
add_decoded(struct sbuf *b, const char *s, const char *e)
{
	while (s < e)
	{
		const char *amp = memchr(s, '&', e - s);
		size_t used;

		if (amp == NULL)
		{
			sbuf_add(b, s, e - s);
			return;
		}
		sbuf_add(b, s, amp - s);
		used = entity_decode(amp, e, b);
		if (used == 0)
		{
			sbuf_addc(b, '&');
			used = 1;
		}
		s = amp + used;
	}
}

struct html_walk
{
	url_emit_fn emit; /* NULL: text only */
	void *arg;
	struct sbuf text; /* visible text so far */
	size_t scanned;   /* text before this has been scanned for URLs */
	bool space;       /* text ends in (collapsed) white space */
	char *href;       /* pending <a href>, until its </a> */
	size_t href_len;
	size_t anchor_start;
};

static void
walk_flush(struct html_walk *w)
{
	if (w->emit != NULL && w->text.len > w->scanned)
		url_scan_text(w->text.d + w->scanned, w->text.len - w->scanned,
		              URL_SRC_TEXT, w->emit, w->arg);
	w->scanned = w->text.len;
}

static void
walk_break(struct html_walk *w)
{
	while (w->text.len > 0 && w->text.d[w->text.len - 1] == ' ')
		w->text.len--;
	if (w->text.len >= 2 && w->text.d[w->text.len - 1] == '\n' &&
	    w->text.d[w->text.len - 2] == '\n')
		return;
	if (w->text.len > 0)
		sbuf_addc(&w->text, '\n');
	w->space = true;
	if (w->scanned > w->text.len)
		w->scanned = w->text.len;
}

/* Add visible text [s, e): entities decoded, blanks collapsed. */
static void
walk_text(struct html_walk *w, const char *s, const char *e)
{
	struct sbuf tmp = {0};
	const char *t;
	char *o;

	if (memchr(s, '&', e - s) != NULL)
	{
		add_decoded(&tmp, s, e);
		s = tmp.d;
		e = tmp.d + tmp.len;
	}
	sbuf_reserve(&w->text, e - s);
	o = w->text.d + w->text.len;
	for (t = s; t < e; t++)
	{
		unsigned char c = (unsigned char)*t;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
		    c == '\0')
		{
			if (!w->space)
				*o++ = ' ';
			w->space = true;
		}
		else
		{
			*o++ = (char)c;
			w->space = false;
		}
	}
	w->text.len = o - w->text.d;
	w->text.d[w->text.len] = '\0';
	free(tmp.d);
}

static void
walk_end_anchor(struct html_walk *w)
{
	char anchor[ANCHOR_MAX + 8];
	size_t n = 0, i;

	if (w->href == NULL)
		return;
	walk_flush(w);
	for (i = w->anchor_start; i < w->text.len && n < ANCHOR_MAX; i++)
	{
		char c = w->text.d[i];

		if (c == '\n' || c == ' ')
		{
			if (n > 0 && anchor[n - 1] != ' ')
				anchor[n++] = ' ';
		}
		else
			anchor[n++] = c;
	}
	while (n > 0 && anchor[n - 1] == ' ')
		n--;
	/* do not cut a UTF-8 sequence */
	while (n > 0 && i < w->text.len &&
	       ((unsigned char)w->text.d[i] & 0xc0) == 0x80 &&
	       ((unsigned char)anchor[n - 1] & 0x80))
	{
		n--;
		if (((unsigned char)anchor[n] & 0xc0) == 0xc0)
			break;
	}
	anchor[n] = '\0';
	emit_candidate(w->href, w->href_len, URL_SRC_HTML_HREF, anchor,
	               prefix_ci(w->href, w->href_len, "www."), w->emit, w->arg);
	free(w->href);
	w->href = NULL;
}

/* Which source does attribute attr of tag carry, or -1 for none. */
static int
attr_source(const char *tag, const char *attr)
{
	switch (attr[0])
	{
		case 'h':
			if (strcmp(attr, "href") == 0)
				return URL_SRC_HTML_HREF;
			break;
		case 's':
			if (strcmp(attr, "src") == 0 || strcmp(attr, "srcset") == 0)
				return URL_SRC_HTML_SRC;
			break;
		case 'b':
			if (strcmp(attr, "background") == 0)
				return URL_SRC_HTML_SRC;
			break;
		case 'l':
			if (strcmp(attr, "lowsrc") == 0)
				return URL_SRC_HTML_SRC;
			if (strcmp(attr, "longdesc") == 0)
				return URL_SRC_HTML_OTHER;
			break;
		case 'p':
			if (strcmp(attr, "poster") == 0)
				return URL_SRC_HTML_SRC;
			if (strcmp(attr, "ping") == 0)
				return URL_SRC_HTML_OTHER;
			break;
		case 'd':
			if (strcmp(attr, "dynsrc") == 0)
				return URL_SRC_HTML_SRC;
			if (strcmp(attr, "data") == 0 && strcmp(tag, "object") == 0)
				return URL_SRC_HTML_OTHER;
			break;
		case 'a':
			if (strcmp(attr, "action") == 0)
				return URL_SRC_HTML_FORM;
			break;
		case 'f':
			if (strcmp(attr, "formaction") == 0)
				return URL_SRC_HTML_FORM;
			break;
		case 'c':
			if (strcmp(attr, "cite") == 0 || strcmp(attr, "codebase") == 0)
				return URL_SRC_HTML_OTHER;
			break;
		case 'm':
			if (strcmp(attr, "manifest") == 0)
				return URL_SRC_HTML_OTHER;
			break;
	}
	return -1;
}

/* Does a value look worth reporting as a URL (not empty, not "#top")? */
static bool
worth_reporting(const char *v, size_t n)
{
	while (n > 0 && (unsigned char)*v <= ' ')
	{
		v++;
		n--;
	}
	return n > 0 && v[0] != '#';
}

/* url(...) references inside a style value, and meta refresh targets. */
static void
scan_embedded(struct html_walk *w, const char *v, size_t n, bool refresh)
{
	const char *e = v + n;

	if (refresh)
	{
		for (const char *p = v; p + 4 <= e; p++)
			if (prefix_ci(p, e - p, "url="))
			{
				const char *s = p + 4, *t;

				while (s < e && (*s == ' ' || *s == '\'' || *s == '"'))
					s++;
				t = e;
				while (t > s && (t[-1] == ' ' || t[-1] == '\'' || t[-1] == '"'))
					t--;
				if (t > s)
					emit_candidate(s, t - s, URL_SRC_HTML_OTHER, NULL,
					               prefix_ci(s, t - s, "www."), w->emit,
					               w->arg);
				return;
			}
		return;
	}
	for (const char *p = v; p + 4 <= e; p++)
		if (prefix_ci(p, e - p, "url("))
		{
			const char *s = p + 4, *t;

			while (s < e && (*s == ' ' || *s == '\'' || *s == '"'))
				s++;
			t = s;
			while (t < e && *t != ')' && *t != '\'' && *t != '"')
				t++;
			if (t > s)
				emit_candidate(s, t - s, URL_SRC_HTML_OTHER, NULL,
				               prefix_ci(s, t - s, "www."), w->emit, w->arg);
			p = t - 1 > p ? t - 1 : p;
		}
}

static bool
is_block_tag(const char *t)
{
	static const char *const blocks[] = {
	    "br", "p",      "div",        "tr",   "li",    "h1",  "h2",
	    "h3", "h4",     "h5",         "h6",   "td",    "th",  "table",
	    "ul", "ol",     "blockquote", "hr",   "title", "pre", "dd",
	    "dt", "center", "form",       "body", NULL};

	/* every block tag starts with one of these: span, a, img, ... do not */
	if (t[0] == '\0' || strchr("bpdtlhuocf", t[0]) == NULL)
		return false;
	for (int i = 0; blocks[i]; i++)
		if (strcmp(t, blocks[i]) == 0)
			return true;
	return false;
}

/* Find the end of a raw-text element (script, style): "</name". */
static const char *
skip_raw(const char *p, const char *e, const char *name)
{
	size_t n = strlen(name);

	for (; p + 2 + n <= e; p++)
		if (p[0] == '<' && p[1] == '/' && prefix_ci(p + 2, e - p - 2, name))
			return p;
	return e;
}

/*
 * Parse one tag at p ('<' followed by a letter or '/'); handle its URL
 * attributes.  Returns the position after the tag.
 */
static const char *
walk_tag(struct html_walk *w, const char *p, const char *e)
{
	char tag[16], attr[24];
	size_t tl = 0;
	bool closing = false, meta_refresh = false, is_a, is_meta;
	char *meta_content = NULL;
	size_t meta_len = 0;

	p++;
	if (p < e && *p == '/')
	{
		closing = true;
		p++;
	}
	while (p < e && (is_alnum(*p) || *p == '-' || *p == ':'))
	{
		if (tl < sizeof(tag) - 1)
			tag[tl++] = lower(*p);
		p++;
	}
	tag[tl] = '\0';
	is_a = strcmp(tag, "a") == 0;
	is_meta = strcmp(tag, "meta") == 0;
	if (is_a)
	{
		walk_end_anchor(w);
		walk_flush(w);
	}
	else if (is_block_tag(tag))
	{
		walk_break(w);
		walk_flush(w);
	}
	/* attributes */
	while (p < e && *p != '>')
	{
		const char *an, *vs = NULL, *ve = NULL;
		size_t al = 0;

		if ((unsigned char)*p <= ' ' || *p == '/')
		{
			p++;
			continue;
		}
		an = p;
		while (p < e && (unsigned char)*p > ' ' && *p != '=' && *p != '>' &&
		       *p != '/')
			p++;
		for (const char *q = an; q < p && al < sizeof(attr) - 1; q++)
			attr[al++] = lower(*q);
		attr[al] = '\0';
		if (p == an)
		{
			p++; /* a stray '=' */
			continue;
		}
		while (p < e && (unsigned char)*p <= ' ')
			p++;
		if (p < e && *p == '=')
		{
			p++;
			while (p < e && (unsigned char)*p <= ' ')
				p++;
			if (p < e && (*p == '"' || *p == '\''))
			{
				const char *q = memchr(p + 1, *p, e - p - 1);

				vs = p + 1;
				ve = q ? q : e;
				p = q ? q + 1 : e;
			}
			else
			{
				vs = p;
				while (p < e && (unsigned char)*p > ' ' && *p != '>')
					p++;
				ve = p;
			}
		}
		if (closing || vs == NULL || w->emit == NULL)
			continue;
		{
			int src = attr_source(tag, attr);
			struct sbuf v = {0};

			/* most attributes (class, width, ...) carry nothing */
			if (src < 0 && !is_meta && strcmp(attr, "style") != 0)
				continue;
			add_decoded(&v, vs, ve);
			if (v.d == NULL)
				sbuf_adds(&v, "");
			if (src == URL_SRC_HTML_HREF && is_a)
			{
				if (worth_reporting(v.d, v.len))
				{
					walk_end_anchor(w);
					w->href = v.d;
					w->href_len = v.len;
					w->anchor_start = w->text.len;
					v.d = NULL;
				}
			}
			else if (src >= 0 && strcmp(attr, "srcset") == 0)
			{
				/* "a.jpg 1x, b.jpg 2x": the first word of each item */
				const char *q = v.d, *ve2 = v.d + v.len;

				while (q < ve2)
				{
					const char *t;

					while (q < ve2 && (*q == ' ' || *q == ','))
						q++;
					t = q;
					while (t < ve2 && *t != ' ' && *t != ',')
						t++;
					if (t > q)
						emit_candidate(q, t - q, URL_SRC_HTML_SRC, NULL,
						               prefix_ci(q, t - q, "www."), w->emit,
						               w->arg);
					while (t < ve2 && *t != ',')
						t++;
					q = t;
				}
			}
			else if (src >= 0)
			{
				if (worth_reporting(v.d, v.len))
					emit_candidate(v.d, v.len, (enum url_source)src, NULL,
					               prefix_ci(v.d, v.len, "www."), w->emit,
					               w->arg);
			}
			else if (strcmp(attr, "style") == 0)
				scan_embedded(w, v.d, v.len, false);
			else if (is_meta && strcmp(attr, "http-equiv") == 0 &&
			         prefix_ci(v.d, v.len, "refresh"))
				meta_refresh = true;
			else if (is_meta && strcmp(attr, "content") == 0 &&
			         meta_content == NULL)
			{
				meta_content = v.d;
				meta_len = v.len;
				v.d = NULL;
			}
			free(v.d);
		}
	}
	if (meta_refresh && meta_content != NULL)
		scan_embedded(w, meta_content, meta_len, true);
	free(meta_content);
	if (closing && is_a)
		walk_end_anchor(w);
	if (p < e)
		p++; /* the '>' */
	if (!closing && (strcmp(tag, "script") == 0 || strcmp(tag, "style") == 0))
	{
		const char *q = skip_raw(p, e, tag);

		if (strcmp(tag, "style") == 0 && w->emit != NULL)
			scan_embedded(w, p, q - p, false);
		p = q;
	}
	return p;
}

static void
html_walk(struct html_walk *w, const char *buf, size_t len)
{
	const char *p = buf, *e = buf + len;

	w->space = true;
	while (p < e)
	{
		const char *lt = memchr(p, '<', e - p);

		if (lt == NULL)
		{
			walk_text(w, p, e);
			break;
		}
		walk_text(w, p, lt);
		p = lt;
		if (e - p >= 4 && memcmp(p, "<!--", 4) == 0)
		{
			const char *q = p + 4;

			while (q + 3 <= e && memcmp(q, "-->", 3) != 0)
				q++;
			p = q + 3 <= e ? q + 3 : e;
		}
		else if (e - p >= 2 && (p[1] == '!' || p[1] == '?'))
		{
			const char *q = memchr(p, '>', e - p);

			p = q ? q + 1 : e;
		}
		else if (e - p >= 2 && (is_alpha(p[1]) || p[1] == '/'))
			p = walk_tag(w, p, e);
		else
		{
			walk_text(w, p, p + 1);
			p++;
		}
	}
	walk_end_anchor(w);
	walk_flush(w);
}

void
url_scan_html(const char *buf, size_t len, url_emit_fn emit, void *arg)
{
	struct html_walk w = {0};

	w.emit = emit;
	w.arg = arg;
	html_walk(&w, buf, len);
	free(w.text.d);
	free(w.href);
}

char *
html_to_text(const char *buf, size_t len, size_t *outlen)
{
	struct html_walk w = {0};
	size_t s = 0, n;

	html_walk(&w, buf, len);
	free(w.href);
	if (w.text.d == NULL)
		sbuf_adds(&w.text, "");
	n = w.text.len;
	while (s < n && (w.text.d[s] == ' ' || w.text.d[s] == '\n'))
		s++;
	while (n > s && (w.text.d[n - 1] == ' ' || w.text.d[n - 1] == '\n'))
		n--;
	memmove(w.text.d, w.text.d + s, n - s);
	w.text.d[n - s] = '\0';
	*outlen = n - s;
	return w.text.d;
}
