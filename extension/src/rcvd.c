/*
 * rcvd.c: parse one Received header value into its parts.
 *
 * A Received value is a list of clauses, "from X (comments) by Y (comments)
 * via V with W id Q for R ; date", in which every MTA writes its own
 * comments.  The parser works in three steps, each linear in the input:
 *
 *   1. cut the value into tokens: words, balanced (comments), and ';',
 *      remembering the last ';' outside comments (the date follows it);
 *   2. split the tokens into clauses at the keywords from/by/via/with/id/for
 *      (first occurrence of each; later ones are plain words);
 *   3. read the words inside the from-clause comments for the address,
 *      reverse DNS name, HELO and ident, and every comment for markers
 *      (TLS, authentication, envelope sender, local hand-over, Exim).
 *
 * Which of "from NAME (...)" is the HELO and which the reverse DNS name
 * depends on the MTA; the rules (see docs/received.md) follow what each MTA
 * writes, and agree with SpamAssassin's Received parser where it has one.
 * Token and word windows are bounded, so a 1 MB value costs one scan.
 */
#include "rcvd.h"

#include <arpa/inet.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "maildate.h"

#define MAXTOK   128 /* tokens read for clauses */
#define MAXWORDS 48  /* words read in one comment */

enum tok_kind
{
	TK_WORD,
	TK_COMMENT, /* p/n: inside the parentheses */
	TK_SEMI
};

struct tok
{
	enum tok_kind kind;
	const char *p;
	size_t n;
};

enum clause
{
	CL_FROM,
	CL_BY,
	CL_VIA,
	CL_WITH,
	CL_ID,
	CL_FOR,
	CL_COUNT
};

static const char *const clause_names[CL_COUNT] = {"from", "by", "via",
                                                   "with", "id", "for"};

/* What the comment and word scans learn before fields are assigned. */
struct scan
{
	struct rcvd_hop *h;
	struct rcvd_span helo_x; /* explicit helo=X / HELO X */
	bool helo_x_set;         /* ... even when empty: "(HELO )" */
	struct rcvd_span single; /* a one-word from-clause comment */
	struct rcvd_span pre_w0; /* "(from NAME [ip]) by ..." */
	bool verified;           /* CommuniGate: "([ip] verified)" */
	struct rcvd_span rdns_c; /* NAME in "(NAME [ip])" */
	bool rdns_c_set;
	bool ip_bracketed;
	bool exim;
	bool local;
	bool tls;
};

static char
lc(char c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Does [p, p+n) equal the lower-case word w, ignoring case? */
static bool
eq(const char *p, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] == '\0' || lc(p[i]) != w[i])
			return false;
	return w[i] == '\0';
}

/* Does [p, p+n) start with the lower-case prefix w, ignoring case? */
static bool
starts(const char *p, size_t n, const char *w)
{
	size_t i;

	for (i = 0; w[i]; i++)
		if (i >= n || lc(p[i]) != w[i])
			return false;
	return true;
}

/* Does [p, p+n) contain the lower-case word w, ignoring case? */
static bool
contains(const char *p, size_t n, const char *w)
{
	size_t wn = strlen(w);

	for (size_t i = 0; i + wn <= n; i++)
		if (lc(p[i]) == w[0] && starts(p + i, n - i, w))
			return true;
	return false;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

static struct rcvd_span
span(const char *p, size_t n)
{
	struct rcvd_span s;

	s.p = n ? p : NULL;
	s.n = n;
	return s;
}

/* Drop trailing characters in chars from a span. */
static struct rcvd_span
rtrim(struct rcvd_span s, const char *chars)
{
	while (s.n > 0 && strchr(chars, s.p[s.n - 1]) != NULL)
		s.n--;
	if (s.n == 0)
		s.p = NULL;
	return s;
}

/* An address in <...> or bare: drop the brackets and trailing punctuation. */
static struct rcvd_span
addr_span(const char *p, size_t n, bool *bracketed)
{
	struct rcvd_span s = span(p, n);

	*bracketed = false;
	s = rtrim(s, ";,.");
	if (s.n > 0 && s.p[0] == '<')
	{
		const char *gt = memchr(s.p, '>', s.n);

		*bracketed = true;
		s.p++;
		s.n = gt ? (size_t)(gt - s.p) : s.n - 1;
	}
	return span(s.p, s.n);
}

/* ---------------------------------------------------------------- IPs */

static bool
parse_v4(const char *s, size_t n, uint8_t *out)
{
	int part = 0;
	size_t i = 0;

	while (part < 4)
	{
		int v = 0, d = 0;

		while (i < n && s[i] >= '0' && s[i] <= '9' && d < 4)
		{
			v = v * 10 + (s[i] - '0');
			d++;
			i++;
		}
		if (d == 0 || d > 3 || v > 255)
			return false;
		out[part++] = (uint8_t)v;
		if (part < 4)
		{
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

bool
rcvd_ip_parse(const char *s, size_t n, struct rcvd_ip *ip)
{
	char buf[64];
	const char *pct, *colon;

	ip->family = 0;
	/* an absent or empty span (s may be NULL): nothing to parse */
	if (s == NULL || n == 0)
		return false;
	/* "[addr]" or "[addr]:port": take the inside */
	if (s[0] == '[')
	{
		const char *rb = memchr(s, ']', n);

		s++;
		n = rb ? (size_t)(rb - s) : n - 1;
	}
	if (n >= 5 && starts(s, n, "ipv6:"))
	{
		s += 5;
		n -= 5;
	}
	pct = memchr(s, '%', n);
	if (pct)
		n = pct - s;
	if (n == 0 || n >= sizeof(buf))
		return false;
	colon = memchr(s, ':', n);
	if (!colon)
	{
		size_t dot = n;

		if (parse_v4(s, n, ip->addr))
		{
			ip->family = 4;
			return true;
		}
		/* Exim 3 and others: "1.2.3.4.port" */
		while (dot > 0 && s[dot - 1] >= '0' && s[dot - 1] <= '9')
			dot--;
		if (dot > 1 && dot < n && s[dot - 1] == '.' &&
		    parse_v4(s, dot - 1, ip->addr))
		{
			ip->family = 4;
			return true;
		}
		return false;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, ip->addr) == 1)
	{
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
		                                   0, 0, 0, 0, 0xff, 0xff};

		ip->family = 6;
		if (memcmp(ip->addr, mapped, 12) == 0)
		{
			memmove(ip->addr, ip->addr + 12, 4);
			ip->family = 4;
		}
		return true;
	}
	/* "1.2.3.4:port" */
	if (colon > s && memchr(colon + 1, ':', n - (colon + 1 - s)) == NULL &&
	    parse_v4(s, colon - s, ip->addr))
	{
		ip->family = 4;
		return true;
	}
	return false;
}

static bool
v4_in(const uint8_t *a, uint32_t net, int bits)
{
	uint32_t v = ((uint32_t)a[0] << 24) | ((uint32_t)a[1] << 16) |
	             ((uint32_t)a[2] << 8) | a[3];
	uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);

	return (v & mask) == (net & mask);
}

bool
rcvd_ip_is_private(const struct rcvd_ip *ip)
{
	if (ip->family == 4)
	{
		static const struct
		{
			uint32_t net;
			int bits;
		} nets[] = {
		    {0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10},
		    {0x7f000000, 8},  {0xa9fe0000, 16}, {0xac100000, 12},
		    {0xc0000000, 24}, {0xc0000200, 24}, {0xc0a80000, 16},
		    {0xc6120000, 15}, {0xc6336400, 24}, {0xcb007100, 24},
		    {0xe0000000, 4},  {0xf0000000, 4},
		};

		for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
			if (v4_in(ip->addr, nets[i].net, nets[i].bits))
				return true;
		return false;
	}
	if (ip->family == 6)
	{
		static const uint8_t zero[16] = {0};
		const uint8_t *a = ip->addr;

		if (memcmp(a, zero, 15) == 0) /* :: and ::1 */
			return true;
		if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
			return true;
		if (a[0] == 0xfe && (a[1] & 0xc0) >= 0x80) /* fe80::/10, fec0::/10 */
			return true;
		if (a[0] == 0xff) /* multicast */
			return true;
		if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
			return true; /* 2001:db8::/32 documentation */
		if (a[0] == 0x01 && a[1] == 0x00 && memcmp(a + 2, zero, 6) == 0)
			return true; /* 100::/64 discard */
		return false;
	}
	return false;
}

bool
rcvd_ip_find(const char *s, size_t n, struct rcvd_ip *ip)
{
	size_t i = 0;

	while (i < n)
	{
		size_t st;

		while (i < n && (is_space(s[i]) || strchr(",;()<>\"'=", s[i])))
			i++;
		st = i;
		while (i < n && !is_space(s[i]) && !strchr(",;()<>\"'=", s[i]))
			i++;
		if (i > st && rcvd_ip_parse(s + st, i - st, ip))
			return true;
	}
	ip->family = 0;
	return false;
}

static bool
is_loopback(const struct rcvd_ip *ip)
{
	static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0,
	                                0, 0, 0, 0, 0, 0, 0, 1};

	return (ip->family == 4 && ip->addr[0] == 127) ||
	       (ip->family == 6 && memcmp(ip->addr, one, 16) == 0);
}

/* ----------------------------------------------------------- tokens */

/*
 * Where an unclosed comment starting at st should end: before " by ",
 * " with ", " id ", " for " or ';', else at n.
 */
static size_t
unclosed_end(const char *s, size_t st, size_t n)
{
	static const char *const kw[] = {"by ", "with ", "id ", "for "};

	for (size_t i = st; i < n; i++)
	{
		if (s[i] == ';')
			return i;
		if (is_space(s[i]) && i + 1 < n)
			for (int j = 0; j < 4; j++)
				if (starts(s + i + 1, n - i - 1, kw[j]))
					return i;
	}
	return n;
}

#ifdef __SSE2__
/* Bit k set where byte k of x is a delimiter (see delim_next). */
static inline unsigned
delim_mask(__m128i x, bool words, bool semi)
{
	__m128i m = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('(')),
	                         _mm_cmpeq_epi8(x, _mm_set1_epi8(')')));

	if (words)
		m = _mm_or_si128(
		    m, _mm_or_si128(
		           _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')),
		                        _mm_cmpeq_epi8(x, _mm_set1_epi8('\t'))),
		           _mm_or_si128(
		               _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\r')),
		                            _mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))),
		               _mm_cmpeq_epi8(x, _mm_setzero_si128()))));
	if (semi)
		m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8(';')));
	return (unsigned)_mm_movemask_epi8(m);
}
#endif

/*
 * The first i' >= i where s[i'] is a delimiter (or n): a parenthesis;
 * with words also a blank or NUL; with semi also ';'.  Sixteen bytes at a
 * time where SSE2 is there, so a word costs one predictable loop exit
 * rather than a branch per byte.
 */
static inline size_t
delim_next(const char *s, size_t i, size_t n, bool words, bool semi)
{
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16)
	{
		unsigned bits =
		    delim_mask(_mm_loadu_si128((const __m128i *)(s + i)), words, semi);

		if (bits)
			return i + __builtin_ctz(bits);
	}
#endif
	for (; i < n; i++)
	{
		char c = s[i];

		if (c == '(' || c == ')' || (words && is_space(c)) ||
		    (semi && c == ';'))
			break;
	}
	return i;
}

/*
 * Cut s into at most MAXTOK tokens.  *date_at is set past the last ';'
 * outside comments (or n when there is none) and *ntok_before to the
 * number of stored tokens before that ';'.
 */
static int
tokenize(const char *s, size_t n, struct tok *t, size_t *date_at,
         int *ntok_before)
{
	size_t i = 0;
	int k = 0;
	bool recovered;

	*date_at = n;
	*ntok_before = -1;
	recovered = false;
	while (i < n)
	{
		char c = s[i];

		if (is_space(c) || c == ')')
		{
			i++;
			continue;
		}
		if (c == '(')
		{
			size_t st = ++i;
			int depth = 1;

			while ((i = delim_next(s, i, n, false, false)) < n)
			{
				if (s[i] == '(')
					depth++;
				else if (--depth == 0)
					break;
				i++;
			}
			if (i >= n && !recovered)
			{
				/*
				 * Unclosed: end the comment before the first clause
				 * keyword or ';' instead of swallowing the rest.  Done once
				 * per value, so many unclosed comments stay linear.
				 */
				recovered = true;
				i = unclosed_end(s, st, n);
			}
			if (k < MAXTOK)
			{
				t[k].kind = TK_COMMENT;
				t[k].p = s + st;
				t[k].n = i - st;
				k++;
			}
			if (i < n && s[i] == ')')
				i++;
			continue;
		}
		if (c == ';')
		{
			*date_at = i + 1;
			*ntok_before = k;
			if (k < MAXTOK)
			{
				t[k].kind = TK_SEMI;
				t[k].p = s + i;
				t[k].n = 1;
				k++;
			}
			i++;
			continue;
		}
		{
			size_t st = i;

			i = delim_next(s, i, n, true, true);
			if (k < MAXTOK)
			{
				t[k].kind = TK_WORD;
				t[k].p = s + st;
				t[k].n = i - st;
				k++;
			}
		}
	}
	if (*ntok_before < 0)
		*ntok_before = k;
	return k;
}

static int
clause_of(const struct tok *t)
{
	if (t->kind != TK_WORD || t->n > 4)
		return -1;
	for (int c = 0; c < CL_COUNT; c++)
		if (eq(t->p, t->n, clause_names[c]))
			return c;
	return -1;
}

static bool
is_weekday_word(const struct tok *t)
{
	static const char *const days[] = {"mon", "tue", "wed", "thu",
	                                   "fri", "sat", "sun"};

	if (t->kind != TK_WORD || t->n < 3 || t->n > 4)
		return false;
	for (int i = 0; i < 7; i++)
		if (starts(t->p, t->n, days[i]) && (t->n == 3 || t->p[3] == ','))
			return true;
	return false;
}

/* ------------------------------------------------------- word scans */

/* Is a name the MTA's way of saying it has no reverse DNS name? */
static bool
no_name(struct rcvd_span s)
{
	return s.p == NULL || eq(s.p, s.n, "unknown") ||
	       eq(s.p, s.n, "softdnserr") || eq(s.p, s.n, "unverified") ||
	       s.p[0] == '[' || s.p[0] == '<';
}

/* Set the client address if none yet; true if w is an address. */
static bool
take_ip(struct scan *sc, const char *p, size_t n, bool bracketed)
{
	struct rcvd_ip ip;

	if (!rcvd_ip_parse(p, n, &ip))
		return false;
	if (sc->h->ip.family == 0)
	{
		sc->h->ip = ip;
		sc->ip_bracketed = bracketed;
	}
	return true;
}

/* Split "IDENT:user@host" / "user@host" into ident and host. */
static struct rcvd_span
split_ident(struct scan *sc, struct rcvd_span w)
{
	const char *at = memchr(w.p, '@', w.n);

	if (!at)
		return w;
	{
		struct rcvd_span id = span(w.p, at - w.p);

		if (starts(id.p, id.n, "ident:"))
			id = span(id.p + 6, id.n - 6);
		if (id.p && !sc->h->from_ident.p)
			sc->h->from_ident = id;
	}
	return span(at + 1, w.n - (at + 1 - w.p));
}

/*
 * "TLS", "TLSv1.3", "TLS1.2:ECDHE-...", "TLS-1.0:...", "TLS_AES_...", but
 * not a host name that happens to start with "tls" ("tls.example.com").
 */
static bool
tls_word(const char *p, size_t n)
{
	char c;

	if (!starts(p, n, "tls"))
		return false;
	if (n == 3)
		return true;
	c = p[3];
	if (c == 'v' || c == 'V' || (c >= '0' && c <= '9') || c == '_' ||
	    c == ':' || c == ',' || c == ';' || c == '/')
		return true;
	return c == '-' && n > 4 && p[4] >= '0' && p[4] <= '9';
}

/* Markers valid in any comment: TLS, authentication, envelope, MTA. */
static void
scan_markers(struct scan *sc, struct rcvd_span *w, int nw, const char *cend)
{
	struct rcvd_hop *h = sc->h;

	for (int i = 0; i < nw; i++)
	{
		const char *p = w[i].p;
		size_t n = w[i].n;

		if (tls_word(p, n) || starts(p, n, "sslv") || starts(p, n, "ssl:") ||
		    eq(p, n, "encrypted") || starts(p, n, "version=tls") ||
		    starts(p, n, "version=ssl") || starts(p, n, "cipher=") ||
		    (eq(p, n, "transport") && i > 0 &&
		     eq(w[i - 1].p, w[i - 1].n, "google")))
			sc->tls = true;
		else if (eq(p, n, "exim"))
			sc->exim = true;
		else if (eq(p, n, "userid") || (eq(p, n, "invoked") && i + 1 < nw &&
		                                eq(w[i + 1].p, w[i + 1].n, "by")))
			sc->local = true;
		else if ((eq(p, n, "authenticated") || eq(p, n, "auth:")) && !h->auth.p)
		{
			/* the marker and up to two words after it */
			int last = i + 2 < nw ? i + 2 : nw - 1;
			const char *e = w[last].p + w[last].n;

			if (e > cend)
				e = cend;
			h->auth = rtrim(span(p, e - p), ",;");
		}
		else if ((starts(p, n, "envelope-from") ||
		          starts(p, n, "envelope-sender")) &&
		         !h->envelope_from.p)
		{
			const char *eqs = memchr(p, '=', n);
			bool br;

			if (eqs && eqs + 1 < p + n)
				h->envelope_from = addr_span(eqs + 1, p + n - eqs - 1, &br);
			else if (i + 1 < nw)
				h->envelope_from = addr_span(w[i + 1].p, w[i + 1].n, &br);
		}
		else if (eq(p, n, "from") && i + 1 < nw && i == 0 &&
		         memchr(w[1].p, '@', w[1].n) && !h->envelope_from.p)
		{
			/* Sendmail local submission: "(from user@localhost)" */
			bool br;

			h->envelope_from = addr_span(w[1].p, w[1].n, &br);
			if (contains(w[1].p, w[1].n, "@localhost"))
				sc->local = true;
		}
	}
}

/* The client's address, names and ident in a from-clause comment. */
static void
scan_from_words(struct scan *sc, struct rcvd_span *w, int nw, bool in_comment)
{
	struct rcvd_hop *h = sc->h;

	for (int i = 0; i < nw; i++)
	{
		const char *p = w[i].p;
		size_t n = w[i].n;
		const char *lb;

		if (starts(p, n, "helo=") && n > 5)
		{
			if (!sc->helo_x_set)
				sc->helo_x = rtrim(span(p + 5, n - 5), ",;)");
			sc->helo_x_set = true;
			continue;
		}
		if (eq(p, n, "helo") || eq(p, n, "ehlo") || eq(p, n, "lhlo"))
		{
			/* "(HELO name)", or "(HELO )" when the client gave none */
			if (!sc->helo_x_set && i + 1 < nw)
				sc->helo_x = rtrim(w[i + 1], ",;)");
			sc->helo_x_set = true;
			i++;
			continue;
		}
		if (eq(p, n, "verified"))
		{
			sc->verified = true;
			continue;
		}
		if (starts(p, n, "ident=") && n > 6)
		{
			if (!h->from_ident.p)
				h->from_ident = rtrim(span(p + 6, n - 6), ",;)");
			continue;
		}
		lb = memchr(p, '[', n);
		if (lb)
		{
			/* "[ip]", "[ip]:port", "name[ip]", "<unknown>[ip]" */
			if (take_ip(sc, lb, n - (lb - p), true) && in_comment)
			{
				struct rcvd_span name = {NULL, 0};

				if (lb > p)
					name = span(p, lb - p);
				else if (i == 1)
					name = w[0];
				if (name.p && !sc->rdns_c_set)
				{
					sc->rdns_c = rtrim(split_ident(sc, name), ",");
					sc->rdns_c_set = true;
				}
			}
			continue;
		}
		if (!in_comment)
			continue;
		/* bare address, qmail's "user@ip", "ip:port" */
		{
			const char *at = NULL;
			struct rcvd_span a = rtrim(span(p, n), ",;");

			for (size_t j = n; j > 0; j--)
				if (p[j - 1] == '@')
				{
					at = p + j - 1; /* the last '@': "user@domain@ip" */
					break;
				}

			if (a.p && at && at + 1 < a.p + a.n)
			{
				if (take_ip(sc, at + 1, a.p + a.n - at - 1, false) &&
				    !h->from_ident.p && at > p)
					h->from_ident = span(p, at - p);
			}
			else if (a.p)
				take_ip(sc, a.p, a.n, false);
		}
	}
}

/* Cut a comment (or a run of words) into words at blanks and parens. */
static int
comment_words(const char *p, size_t n, struct rcvd_span *w)
{
	size_t i = 0;
	int k = 0;

	while (i < n && k < MAXWORDS)
	{
		size_t st;

		while (i < n && (is_space(p[i]) || p[i] == '(' || p[i] == ')'))
			i++;
		st = i;
		i = delim_next(p, i, n, true, false);
		if (i > st)
			w[k++] = span(p + st, i - st);
	}
	return k;
}

/* --------------------------------------------------------- protocol */

/* Read TLS and authentication from a "with" protocol name. */
static void
classify_protocol(struct scan *sc, struct rcvd_span proto)
{
	const char *p = proto.p;
	size_t n = proto.n, w = 0;

	if (contains(p, n, "tls"))
		sc->tls = true; /* "ESMTP/TLS/ECDHE-RSA-AES128-GCM-SHA256" */
	while (w < n && !is_space(p[w]))
		w++;
	n = w; /* first word only */
	if (starts(p, n, "utf8"))
	{
		p += 4;
		n -= 4;
	}
	if (starts(p, n, "esmtp") || starts(p, n, "lmtp") || starts(p, n, "smtp"))
	{
		size_t base = lc(p[0]) == 'e' ? 5 : 4;
		const char *suf = p + base;
		size_t sn = n - base;

		if (sn > 2)
			return; /* e.g. "SMTPSVC": not a suffix */
		if (sn >= 1 && lc(suf[0]) == 's')
			sc->tls = true;
		if (sn >= 1 && lc(suf[sn - 1]) == 'a')
			sc->h->auth = span(proto.p, w);
		if (lc(p[0]) == 'l')
			sc->local = true;
		return;
	}
	if (eq(p, n, "asmtp"))
		sc->h->auth = span(proto.p, w);
	else if (eq(p, n, "http") || eq(p, n, "https") || eq(p, n, "httpu"))
	{
		/* webmail: the user logged in (SpamAssassin counts it as auth) */
		sc->h->auth = span(proto.p, w);
		if (eq(p, n, "https"))
			sc->tls = true;
	}
	else if (starts(p, n, "local") || starts(p, n, "qmail-scanner") ||
	         starts(p, n, "pop") || starts(p, n, "imap"))
		sc->local = true; /* in-host hand-overs, mail fetchers */
}

/* --------------------------------------------------------- the parse */

void
rcvd_parse(const char *s, size_t n, struct rcvd_hop *h)
{
	struct tok t[MAXTOK];
	struct rcvd_span w[MAXWORDS];
	struct scan sc;
	int start[CL_COUNT], end[CL_COUNT];
	int k, nclause, cur = -1, nw;
	size_t date_at;
	struct rcvd_span w0 = {NULL, 0};
	struct rcvd_ip w0ip = {0};
	bool w0_is_ip = false, mapi = false;

	memset(h, 0, sizeof(*h));
	h->tls = -1;
	memset(&sc, 0, sizeof(sc));
	sc.h = h;
	for (int c = 0; c < CL_COUNT; c++)
		start[c] = end[c] = -1;

	k = tokenize(s, n, t, &date_at, &nclause);
	if (date_at == n)
	{
		/* no ';': a date may still follow the clauses, from a weekday */
		for (int i = 1; i < nclause; i++)
			if (is_weekday_word(&t[i]))
			{
				date_at = t[i].p - s;
				nclause = i;
				break;
			}
	}
	if (nclause > k)
		nclause = k;

	/* clauses; tokens before the first keyword are a preface */
	for (int i = 0; i < nclause; i++)
	{
		int c = clause_of(&t[i]);

		if (c >= 0 && start[c] < 0)
		{
			if (cur >= 0)
				end[cur] = i;
			cur = c;
			start[c] = i + 1;
			continue;
		}
		if (c == CL_BY && i + 1 < nclause && t[i + 1].kind == TK_WORD &&
		    eq(t[i + 1].p, t[i + 1].n, "uid"))
			sc.local = true; /* qmail-scanner: "by host by uid 89" */
		if (c == CL_FROM && i + 1 < nclause && t[i + 1].kind == TK_WORD &&
		    t[i + 1].n > 0 && t[i + 1].p[0] == '<' && !h->envelope_from.p)
		{
			bool br; /* "... for <rcpt> from <sender>" */

			h->envelope_from = addr_span(t[i + 1].p, t[i + 1].n, &br);
			i++;
			continue;
		}
		if (t[i].kind == TK_COMMENT)
		{
			nw = comment_words(t[i].p, t[i].n, w);
			scan_markers(&sc, w, nw, t[i].p + t[i].n);
			if (cur < 0 && nw >= 2 && eq(w[0].p, w[0].n, "from") &&
			    !memchr(w[1].p, '@', w[1].n))
			{
				/* NAVGW: "(from NAME [ip]) by ..." */
				sc.pre_w0 = w[1];
				scan_from_words(&sc, w + 2, nw - 2, false);
			}
			else if (cur == CL_FROM || cur < 0)
			{
				scan_from_words(&sc, w, nw, true);
				if (cur == CL_FROM && nw == 1 && !sc.single.p &&
				    !memchr(w[0].p, '[', w[0].n))
					sc.single = w[0];
			}
		}
		else if (t[i].kind == TK_WORD && cur == CL_WITH &&
		         eq(t[i].p, t[i].n, "tls"))
			sc.tls = true;
	}
	if (cur >= 0)
		end[cur] = nclause;
	/* comments after the date: Sendmail's "(envelope-from x)" */
	for (int i = nclause; i < k; i++)
		if (t[i].kind == TK_COMMENT)
		{
			nw = comment_words(t[i].p, t[i].n, w);
			scan_markers(&sc, w, nw, t[i].p + t[i].n);
		}

	/* from: the first word, then the comments and words after it */
	if (start[CL_FROM] >= 0 && start[CL_FROM] < end[CL_FROM])
	{
		int i = start[CL_FROM];

		if (t[i].kind == TK_WORD)
		{
			w0 = span(t[i].p, t[i].n);
			w0 = rtrim(w0, ",");
			w0_is_ip = rcvd_ip_parse(w0.p, w0.n, &w0ip);
			if (eq(w0.p, w0.n, "userid"))
				sc.local = true;
			i++;
		}
		for (; i < end[CL_FROM]; i++)
			if (t[i].kind == TK_WORD)
			{
				struct rcvd_span one = span(t[i].p, t[i].n);

				if ((eq(one.p, one.n, "helo") || eq(one.p, one.n, "ehlo")) &&
				    i + 1 < end[CL_FROM] && t[i + 1].kind == TK_WORD)
				{
					struct rcvd_span two[2] = {one,
					                           span(t[i + 1].p, t[i + 1].n)};

					scan_from_words(&sc, two, 2, true);
					i++;
				}
				else if (eq(one.p, one.n, "claiming") && i + 3 < end[CL_FROM] &&
				         eq(t[i + 1].p, t[i + 1].n, "to") &&
				         eq(t[i + 2].p, t[i + 2].n, "be") && !sc.helo_x_set)
				{
					/* TIS smap: 'NAME(ip), claiming to be "HELO"' */
					struct rcvd_span q =
					    rtrim(span(t[i + 3].p, t[i + 3].n), "\",");

					if (q.p && q.p[0] == '"')
						q = span(q.p + 1, q.n - 1);
					sc.helo_x = q;
					sc.helo_x_set = true;
					i += 3;
				}
				else
					scan_from_words(&sc, &one, 1, false);
			}
	}
	else if (sc.pre_w0.p)
	{
		w0 = sc.pre_w0;
		w0_is_ip = rcvd_ip_parse(w0.p, w0.n, &w0ip);
	}
	/* Exim 3: "from RDNS (HELO) [ip]" */
	if (sc.exim && !sc.helo_x_set && sc.single.p && !sc.rdns_c_set)
	{
		sc.helo_x = sc.single;
		sc.helo_x_set = true;
	}

	/* by: the first word */
	if (start[CL_BY] >= 0 && start[CL_BY] < end[CL_BY] &&
	    t[start[CL_BY]].kind == TK_WORD)
		h->by_host = rtrim(span(t[start[CL_BY]].p, t[start[CL_BY]].n), ";,");

	/* with: up to three words before the first comment */
	if (start[CL_WITH] >= 0)
	{
		int i = start[CL_WITH], last = -1, first;

		while (i < end[CL_WITH] && t[i].kind == TK_COMMENT)
			i++; /* "with (DHE-RSA-AES256-SHA encrypted) SMTP" */
		first = i;

		while (i < end[CL_WITH] && i < first + 3 && t[i].kind == TK_WORD)
			last = i++;
		if (last >= 0)
		{
			const char *b = t[first].p;

			if (*b == '[' && t[last].p + t[last].n - b > 1)
				b++; /* XMail: "with [XMail 1.20 ESMTP Server]" */

			h->protocol = rtrim(span(b, t[last].p + t[last].n - b), ";,");
			if (h->protocol.p)
			{
				classify_protocol(&sc, h->protocol);
				mapi = starts(h->protocol.p, h->protocol.n, "mapi");
			}
		}
	}

	/* "by host via HTTP" (Yahoo), "via ESMTP" (Scalix), "via SMTP" (smap) */
	if (!h->protocol.p && start[CL_VIA] >= 0 && start[CL_VIA] < end[CL_VIA] &&
	    t[start[CL_VIA]].kind == TK_WORD &&
	    (starts(t[start[CL_VIA]].p, t[start[CL_VIA]].n, "http") ||
	     contains(t[start[CL_VIA]].p, t[start[CL_VIA]].n, "smtp")))
	{
		h->protocol = span(t[start[CL_VIA]].p, t[start[CL_VIA]].n);
		classify_protocol(&sc, h->protocol);
	}

	/* id: the first word */
	if (start[CL_ID] >= 0 && start[CL_ID] < end[CL_ID] &&
	    t[start[CL_ID]].kind == TK_WORD)
	{
		bool br;
		struct rcvd_span q =
		    addr_span(t[start[CL_ID]].p, t[start[CL_ID]].n, &br);

		/* Exchange writes its version after "id", not a queue id */
		if (!(h->protocol.p && (mapi || starts(h->protocol.p, h->protocol.n,
		                                       "microsoft smtp server"))))
			h->queue_id = q;
	}

	/* for: the first recipient, if it looks like an address */
	if (start[CL_FOR] >= 0 && start[CL_FOR] < end[CL_FOR] &&
	    t[start[CL_FOR]].kind == TK_WORD)
	{
		bool br;
		struct rcvd_span a =
		    addr_span(t[start[CL_FOR]].p, t[start[CL_FOR]].n, &br);

		if (a.p && (br || memchr(a.p, '@', a.n)))
			h->envelope_for = a;
	}

	/* who is who in "from NAME (...)"; see docs/received.md */
	if (w0.p)
	{
		if (sc.helo_x_set)
		{
			h->from_helo = sc.helo_x;
			if (!w0_is_ip && !no_name(w0))
				h->from_rdns = w0;
		}
		else if (sc.rdns_c_set)
		{
			h->from_helo = w0;
			if (!no_name(sc.rdns_c))
				h->from_rdns = sc.rdns_c;
		}
		else if (h->ip.family)
		{
			h->from_helo = w0;
			if ((sc.exim || sc.verified || (!sc.ip_bracketed && !mapi)) &&
			    !w0_is_ip && !no_name(w0))
				h->from_rdns = w0;
		}
		else if (memchr(w0.p, '@', w0.n) && !h->envelope_from.p)
		{
			/* "from user@example.com by host": the sender, not a HELO */
			bool br;

			h->envelope_from = addr_span(w0.p, w0.n, &br);
		}
		else if (!w0_is_ip)
		{
			/* old Sendmail without an address: "from HELO (RDNS)" */
			h->from_helo = w0;
			if (sc.single.p && memchr(sc.single.p, '.', sc.single.n) &&
			    !no_name(sc.single))
				h->from_rdns = sc.single;
		}
		if (h->ip.family == 0 && w0_is_ip)
			h->ip = w0ip;
	}
	else if (sc.helo_x.p)
		h->from_helo = sc.helo_x;
	else if (sc.rdns_c_set && !no_name(sc.rdns_c))
		h->from_helo = sc.rdns_c; /* "(name [ip]) by ...": as SpamAssassin */
	h->from_rdns = rtrim(h->from_rdns, ".");

	/* Exim's local submissions: "from user by host with local" */
	if (h->protocol.p && starts(h->protocol.p, h->protocol.n, "local") &&
	    h->ip.family == 0 && h->from_helo.p && !sc.helo_x_set &&
	    !h->from_ident.p && !eq(w0.p, w0.n, "localhost") && w0.p)
	{
		h->from_ident = h->from_helo;
		h->from_helo.p = NULL;
		h->from_helo.n = 0;
	}
	if (eq(w0.p, w0.n, "userid") && start[CL_FROM] + 1 < end[CL_FROM] &&
	    t[start[CL_FROM] + 1].kind == TK_WORD)
	{
		h->from_ident = span(t[start[CL_FROM] + 1].p, t[start[CL_FROM] + 1].n);
		h->from_helo.p = NULL;
		h->from_helo.n = 0;
	}

	if (date_at < n)
		h->date_valid = maildate_parse(s + date_at, n - date_at, &h->date);

	h->tls = sc.tls ? 1 : h->protocol.p ? 0 : -1;

	if (w0.p &&
	    (eq(w0.p, w0.n, "localhost") ||
	     eq(w0.p, w0.n, "localhost.localdomain")) &&
	    (h->ip.family == 0 || is_loopback(&h->ip)))
		sc.local = true;
	if (is_loopback(&h->ip))
		sc.local = true;

	if (sc.local)
		h->status = RCVD_LOCAL;
	else if (h->ip.family && h->by_host.p)
		h->status = RCVD_OK;
	else if (h->from_helo.p || h->from_rdns.p || h->ip.family || h->by_host.p ||
	         h->protocol.p || h->queue_id.p || h->envelope_for.p ||
	         h->envelope_from.p || h->date_valid || h->from_ident.p)
		h->status = RCVD_PARTIAL;
	else
		h->status = RCVD_UNPARSED;
}
