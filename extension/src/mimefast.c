/*
 * mimefast.c: the text parts of a message, read without gmime; declines
 * whatever it is not sure gmime reads the same way.
 *
 * The multipart walk follows gmime 3.2's parser (gmime-parser.c): a line is
 * a boundary when it starts with "--" and a boundary of any enclosing
 * multipart, innermost first (the final "--b--" form checked before the
 * plain one at each level), followed by nothing but blanks; the line end
 * before a boundary belongs to the boundary (two bytes when the boundary
 * line ends in CR, one otherwise, whatever the content's own line end); an
 * outer boundary ends every inner multipart; after the closing boundary the
 * epilogue runs to the next enclosing boundary.  gmime reads its input in
 * 4 KB blocks and checks a long line's pieces for boundaries separately, so
 * a long line that contains "--b" is declined, as is any part header line
 * that does (gmime splits header lines at block ends too).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memrchr */
#endif

#include "mimefast.h"

#include <stdlib.h>
#include <string.h>

/* Longest Content-Type or Content-Transfer-Encoding value read here. */
#define MF_VALUE_MAX 512
/* Content lines longer than this may be split by gmime's block reads. */
#define MF_LINE_SAFE 120
/* Longest subtype kept for the content type string. */
#define MF_SUBTYPE_MAX 64

struct mf_field
{
	const char *v; /* raw value after the colon, folding kept */
	size_t n;
	int count;
};

struct mf_headers
{
	struct mf_field ct, cte;
};

enum mf_kind
{
	MF_TEXT,
	MF_MULTIPART,
	MF_MESSAGE, /* message/rfc822 and kin: a message inside */
	MF_OTHER
};

/* A Content-Type value as far as this reader needs it. */
struct mf_type
{
	enum mf_kind kind;
	bool is_html;
	char subtype[MF_SUBTYPE_MAX]; /* lower-case, text parts only */
	bool has_charset;
	char charset[MF_VALUE_MAX];
	size_t boundary_len; /* 0: none */
	char boundary[MF_VALUE_MAX];
};

/* How a content scan ended: at end of input or at a boundary line. */
struct mf_end
{
	int level;        /* index into the boundary stack; -1: end of input */
	bool final;       /* "--b--" */
	const char *line; /* the boundary line */
	const char *next; /* the line after it; NULL when it is the last */
};

struct mf_ctx
{
	const char *end;
	struct mw_message *m;
	int depth;  /* boundaries on the stack */
	int nparts; /* parts numbered so far, text or not */
	/* "--" + boundary of each enclosing multipart, outermost first */
	char bnd[MF_MAX_DEPTH][MF_VALUE_MAX + 2];
	size_t bnd_len[MF_MAX_DEPTH];
};

static bool
mf_is_token(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static int
mf_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool
mf_eq(const char *a, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i]; i++)
		if (mf_lower((unsigned char)a[i]) != lit[i])
			return false;
	return i == n && lit[i] == '\0';
}

static bool
mf_is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Does [p, e) hold a boundary of the stack anywhere? */
static bool
mf_has_boundary(const struct mf_ctx *c, const char *p, const char *e)
{
	for (int i = 0; i < c->depth; i++)
		if (memmem(p, (size_t)(e - p), c->bnd[i], c->bnd_len[i]) != NULL)
			return true;
	return false;
}

/* No NUL and no CR but before LF in the header block [p, e)? */
static bool
mf_plain_block(const char *p, const char *e)
{
	const char *r = p;

	if (memchr(p, '\0', (size_t)(e - p)) != NULL)
		return false;
	while ((r = memchr(r, '\r', (size_t)(e - r))) != NULL)
	{
		if (r + 1 >= e || r[1] != '\n')
			return false;
		r += 2;
	}
	return true;
}

/*
 * Read a header block at p: note Content-Type and Content-Transfer-Encoding
 * in h and return where the body starts, or NULL to decline.  in_part: the
 * block follows a boundary, so it must not hold anything like one.
 */
static const char *
mf_read_headers(const struct mf_ctx *c, const char *p, struct mf_headers *h,
                bool in_part)
{
	struct mf_field *cur = NULL;
	const char *start = p;

	memset(h, 0, sizeof(*h));
	while (p < c->end)
	{
		const char *nl = memchr(p, '\n', (size_t)(c->end - p));
		const char *le, *q, *name_end;

		if (nl == NULL)
			return NULL; /* no body: leave it to gmime */
		le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		if (le == p)
			return mf_plain_block(start, nl + 1) ? nl + 1 : NULL;
		if (in_part && ((p[0] == '-' && le - p >= 2 && p[1] == '-') ||
		                mf_has_boundary(c, p, nl)))
			return NULL;
		if (*p == ' ' || *p == '\t')
		{
			if (p == start)
				return NULL;
			if (cur != NULL)
				cur->n = (size_t)(le - cur->v);
			p = nl + 1;
			continue;
		}
		for (q = p; q < le && *q != ':' && *q != ' ' && *q != '\t'; q++)
			if ((unsigned char)*q <= 32 || (unsigned char)*q >= 127)
				return NULL;
		name_end = q;
		while (q < le && (*q == ' ' || *q == '\t'))
			q++;
		if (q == le || *q != ':' || name_end == p)
			return NULL;
		cur = NULL;
		if (mf_eq(p, (size_t)(name_end - p), "content-type"))
			cur = &h->ct;
		else if (mf_eq(p, (size_t)(name_end - p), "content-transfer-encoding"))
			cur = &h->cte;
		if (cur != NULL)
		{
			if (++cur->count > 1)
				return NULL;
			cur->v = q + 1;
			cur->n = (size_t)(le - cur->v);
		}
		p = nl + 1;
	}
	return NULL;
}

/*
 * Unfold (drop CR and LF, as gmime does) and trim a field value into out
 * (MF_VALUE_MAX bytes); false when it is too long or holds control bytes
 * other than tabs, or 8-bit bytes unless allow_8bit.
 */
static bool
mf_unfold(const struct mf_field *f, char *out, size_t *outlen, bool allow_8bit)
{
	size_t o = 0, s = 0;

	for (size_t i = 0; i < f->n; i++)
	{
		unsigned char c = (unsigned char)f->v[i];

		if (c == '\r' || c == '\n')
			continue;
		if ((c < 32 && c != '\t') || c == 127 || (c > 127 && !allow_8bit) ||
		    o + 1 >= MF_VALUE_MAX)
			return false;
		out[o++] = (char)c;
	}
	while (s < o && (out[s] == ' ' || out[s] == '\t'))
		s++;
	while (o > s && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	memmove(out, out + s, o - s);
	out[o - s] = '\0';
	*outlen = o - s;
	return true;
}

static size_t
mf_skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/*
 * Does the type token that ends at s[i] make gmime's
 * g_mime_parse_content_type() fail for sure: after blanks, the end of the
 * value or anything but '/' or a comment?
 */
static bool
mf_type_ends(const char *s, size_t i, size_t n)
{
	size_t k = mf_skip_ws(s, i, n);
	unsigned char c;

	if (k >= n)
		return true;
	c = (unsigned char)s[k];
	if (c == '/' || c == '(')
		return false;
	/* right after the token: an 8-bit byte might extend it in gmime */
	return k > i || (c > 32 && c < 127);
}

/*
 * Parse "type/sub; attr=value; ..." the way gmime's loose parameter parser
 * reads it, for the shapes where that is unambiguous: no comments, no RFC
 * 2231 "attr*", no backslashes or tabs inside quotes, no RFC 2047 words,
 * no duplicate charset or boundary.  An unquoted value runs to the next
 * ';' (gmime's loose mode) and must hold no blank, quote or parenthesis.
 */
static bool
mf_content_type(const char *s, size_t n, struct mf_type *t)
{
	size_t i = 0, t0, t1, sub0, sub1;

	t->has_charset = false;
	t->boundary_len = 0;
	t0 = i;
	while (i < n && mf_is_token((unsigned char)s[i]))
		i++;
	t1 = i;
	if (mf_type_ends(s, i, n))
		goto invalid;
	if (t1 == t0 || s[i] != '/')
		return false;
	sub0 = ++i;
	while (i < n && mf_is_token((unsigned char)s[i]))
		i++;
	sub1 = i;
	if (sub1 == sub0)
	{
		/* gmime skips blanks before the subtype, then needs a token */
		size_t k = mf_skip_ws(s, i, n);

		if (k >= n || ((unsigned char)s[k] < 127 && s[k] != '(' &&
		               !mf_is_token((unsigned char)s[k])))
			goto invalid;
		return false;
	}
	/* gmime's tokens take 8-bit bytes: "rfc822\xfb..." is no rfc822 */
	if (sub1 < n && (unsigned char)s[sub1] > 127)
		return false;
	if (mf_eq(s + t0, t1 - t0, "text"))
	{
		if (sub1 - sub0 >= MF_SUBTYPE_MAX)
			return false;
		t->kind = MF_TEXT;
		for (size_t k = sub0; k < sub1; k++)
			t->subtype[k - sub0] = (char)mf_lower((unsigned char)s[k]);
		t->subtype[sub1 - sub0] = '\0';
		t->is_html = strcmp(t->subtype, "html") == 0;
	}
	else if (mf_eq(s + t0, t1 - t0, "multipart"))
	{
		/* a digest's parts default to message/rfc822 */
		if (mf_eq(s + sub0, sub1 - sub0, "digest"))
			return false;
		t->kind = MF_MULTIPART;
	}
	else if (mf_eq(s + t0, t1 - t0, "message"))
	{
		/* gmime parses these four as a message; others are leaves */
		if (mf_eq(s + sub0, sub1 - sub0, "rfc822") ||
		    mf_eq(s + sub0, sub1 - sub0, "rfc2822") ||
		    mf_eq(s + sub0, sub1 - sub0, "global") ||
		    mf_eq(s + sub0, sub1 - sub0, "news"))
			t->kind = MF_MESSAGE;
		else
			t->kind = MF_OTHER;
		return true;
	}
	else
	{
		/* gmime's type needs no more; the parameters are not read */
		t->kind = MF_OTHER;
		return true;
	}
	for (size_t k = i; k < n; k++)
		if ((unsigned char)s[k] > 126)
			return false;
	i = mf_skip_ws(s, i, n);
	while (i < n)
	{
		size_t a0, a1, v0, v1;

		if (s[i] != ';')
			return false;
		i = mf_skip_ws(s, i + 1, n);
		if (i == n)
			break; /* a trailing ';' */
		a0 = i;
		while (i < n && mf_is_token((unsigned char)s[i]) && s[i] != '*')
			i++;
		a1 = i;
		if (a1 == a0)
			return false;
		i = mf_skip_ws(s, i, n);
		if (i >= n || s[i] != '=')
			return false;
		i = mf_skip_ws(s, i + 1, n);
		if (i < n && s[i] == '"')
		{
			v0 = ++i;
			while (i < n && s[i] != '"' && s[i] != '\\' && s[i] != '\t')
				i++;
			if (i >= n || s[i] != '"')
				return false;
			v1 = i++;
		}
		else
		{
			v0 = i;
			while (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t' &&
			       s[i] != '"' && s[i] != '(' && s[i] != ')' && s[i] != '\\')
				i++;
			v1 = i;
			if (v1 == v0)
				return false;
		}
		if (v1 == v0 || memmem(s + v0, v1 - v0, "=?", 2) != NULL)
			return false;
		i = mf_skip_ws(s, i, n);
		if (mf_eq(s + a0, a1 - a0, "charset"))
		{
			if (t->has_charset)
				return false;
			memcpy(t->charset, s + v0, v1 - v0);
			t->charset[v1 - v0] = '\0';
			t->has_charset = true;
		}
		else if (mf_eq(s + a0, a1 - a0, "boundary"))
		{
			if (t->boundary_len > 0)
				return false;
			memcpy(t->boundary, s + v0, v1 - v0);
			t->boundary[v1 - v0] = '\0';
			t->boundary_len = v1 - v0;
		}
	}
	return t->kind != MF_MULTIPART || t->boundary_len > 0;

invalid:
	/*
	 * gmime cannot parse the type: its parser makes a text/plain leaf but
	 * the part reports application/octet-stream, so the walk reads no text
	 */
	t->kind = MF_OTHER;
	return true;
}

/* base64 alphabet values, -1 elsewhere (filled on first use) */
static signed char mf_b64[256];

static void
mf_b64_init(void)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	static bool done = false;

	if (!done)
	{
		memset(mf_b64, -1, sizeof(mf_b64));
		for (int i = 0; i < 64; i++)
			mf_b64[(unsigned char)abc[i]] = (signed char)i;
		done = true;
	}
}

/* Regular base64 only: alphabet and line ends, quads, padding at the end. */
static bool
mf_base64(const char *s, size_t n, char *out, size_t *outlen)
{
	unsigned int acc = 0;
	int q = 0, pad = 0;
	size_t o = 0;

	mf_b64_init();
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char)s[i];
		int v;

		/* a whole quad of alphabet characters: the usual case */
		while (q == 0 && pad == 0 && i + 4 <= n)
		{
			int a = mf_b64[c], b = mf_b64[(unsigned char)s[i + 1]],
			    d = mf_b64[(unsigned char)s[i + 2]],
			    e = mf_b64[(unsigned char)s[i + 3]];

			if ((a | b | d | e) < 0)
				break;
			acc = (unsigned int)(a << 18 | b << 12 | d << 6 | e);
			out[o++] = (char)(acc >> 16);
			out[o++] = (char)(acc >> 8);
			out[o++] = (char)acc;
			i += 4;
			if (i == n)
			{
				*outlen = o;
				return true;
			}
			c = (unsigned char)s[i];
		}
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=')
		{
			if (q < 2)
				return false;
			pad++;
			acc <<= 6;
			if (++q == 4)
			{
				out[o++] = (char)(acc >> 16);
				if (pad == 1)
					out[o++] = (char)(acc >> 8);
				q = 0;
			}
			continue;
		}
		if (pad > 0 || (v = mf_b64[c]) < 0)
			return false;
		acc = acc << 6 | (unsigned int)v;
		if (++q == 4)
		{
			out[o++] = (char)(acc >> 16);
			out[o++] = (char)(acc >> 8);
			out[o++] = (char)acc;
			q = 0;
		}
	}
	if (q != 0)
		return false;
	*outlen = o;
	return true;
}

static int
mf_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Regular quoted-printable: "=XX" and soft line breaks, nothing else. */
static bool
mf_qp(const char *s, size_t n, char *out, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
	{
		const char *eq = memchr(s + i, '=', n - i);
		size_t run = eq != NULL ? (size_t)(eq - (s + i)) : n - i;
		int h, l;

		memcpy(out + o, s + i, run);
		o += run;
		i += run;
		if (i == n)
			break;
		if (i + 1 < n && s[i + 1] == '\n')
		{
			i++;
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n')
		{
			i += 2;
			continue;
		}
		if (i + 2 >= n || (h = mf_hex((unsigned char)s[i + 1])) < 0 ||
		    (l = mf_hex((unsigned char)s[i + 2])) < 0)
			return false;
		out[o++] = (char)(h << 4 | l);
		i += 2;
	}
	*outlen = o;
	return true;
}

/*
 * Decode a text part's content [src, src + len) by its transfer encoding
 * and convert it to UTF-8 as the gmime walk does; false to decline.
 */
static bool
mf_decode_text(const struct mf_headers *h, const struct mf_type *t,
               const char *src, size_t len, struct mw_part *p)
{
	char val[MF_VALUE_MAX];
	size_t vn;
	char *dec = NULL;

	if (h->cte.count == 1)
	{
		if (!mf_unfold(&h->cte, val, &vn, false))
			return false;
		if (mf_eq(val, vn, "base64") || mf_eq(val, vn, "quoted-printable"))
		{
			bool ok;

			dec = malloc(len + 1);
			if (dec == NULL)
				abort();
			ok = val[0] == 'b' || val[0] == 'B' ? mf_base64(src, len, dec, &len)
			                                    : mf_qp(src, len, dec, &len);
			if (!ok)
			{
				free(dec);
				return false;
			}
			src = dec;
		}
		else if (!mf_eq(val, vn, "7bit") && !mf_eq(val, vn, "8bit") &&
		         !mf_eq(val, vn, "binary"))
			return false;
	}
	p->text =
	    mw_to_utf8(src, len, t->has_charset ? t->charset : NULL, &p->text_len);
	free(dec);
	return true;
}

/*
 * Is the line [p, e) (no line end) a boundary of the stack?  Sets *level
 * and *final as gmime's check_boundary would.
 */
static bool
mf_is_boundary(const struct mf_ctx *c, const char *p, const char *e, int *level,
               bool *final)
{
	if (e > p && e[-1] == '\r')
		e--;
	if (e - p < 2 || p[0] != '-' || p[1] != '-')
		return false;
	for (int i = c->depth - 1; i >= 0; i--)
	{
		size_t bl = c->bnd_len[i];
		const char *r = p + bl, *k;

		if ((size_t)(e - p) < bl || memcmp(p, c->bnd[i], bl) != 0)
			continue;
		if (e - r >= 2 && r[0] == '-' && r[1] == '-')
		{
			for (k = r + 2; k < e && mf_is_lwsp(*k); k++)
				;
			if (k == e)
			{
				*level = i;
				*final = true;
				return true;
			}
		}
		for (k = r; k < e && mf_is_lwsp(*k); k++)
			;
		if (k == e)
		{
			*level = i;
			*final = false;
			return true;
		}
	}
	return false;
}

/* Does a boundary of the stack start at q? */
static bool
mf_boundary_at(const struct mf_ctx *c, const char *q)
{
	for (int i = c->depth - 1; i >= 0; i--)
		if ((size_t)(c->end - q) >= c->bnd_len[i] &&
		    memcmp(q, c->bnd[i], c->bnd_len[i]) == 0)
			return true;
	return false;
}

/*
 * Scan content from p (a line start) to the next boundary line of the
 * stack, or the end of input.  *cend (if not NULL) gets the end of the
 * content: the line end before a boundary belongs to the boundary.  Every
 * boundary begins with "--", and a boundary's text elsewhere matters only
 * in a long line, so only the dashes are visited: base64 has none.  False
 * to decline.
 */
static bool
mf_scan(const struct mf_ctx *c, const char *p, const char **cend,
        struct mf_end *r)
{
	const char *q = p;

	r->level = -1;
	r->final = false;
	r->line = r->next = NULL;
	if (cend != NULL)
		*cend = c->end;
	if (c->depth == 0)
		return true;
	while ((q = memchr(q, '-', (size_t)(c->end - q))) != NULL)
	{
		const char *nl, *le, *ls;

		if (q + 1 >= c->end)
			break;
		if (q[1] != '-')
		{
			q += 2; /* no "--" starts at q or q + 1 */
			continue;
		}
		if (!mf_boundary_at(c, q))
		{
			q++;
			continue;
		}
		nl = memchr(q, '\n', (size_t)(c->end - q));
		le = nl != NULL ? nl : c->end;
		if ((q == p || q[-1] == '\n') &&
		    mf_is_boundary(c, q, le, &r->level, &r->final))
		{
			/* gmime drops two bytes when the boundary line ends in CR */
			size_t strip = le > q && le[-1] == '\r' ? 2 : 1;

			r->line = q;
			r->next = nl != NULL ? nl + 1 : NULL;
			if (q > p && (size_t)(q - p) < strip)
				return false;
			if (cend != NULL)
				*cend = q > p ? q - strip : q;
			return true;
		}
		/* gmime may read a piece of a long line as a boundary line */
		ls = memrchr(p, '\n', (size_t)(q - p));
		ls = ls != NULL ? ls + 1 : p;
		if (le - ls > MF_LINE_SAFE)
			return false;
		q += 2;
	}
	return true;
}

static bool mf_entity(struct mf_ctx *c, const char *p, int depth,
                      struct mf_end *r);

/*
 * The parts of a multipart whose body starts at p; *r says where the
 * multipart ended: end of input or an enclosing multipart's boundary.
 */
static bool
mf_multipart(struct mf_ctx *c, const char *p, const struct mf_type *t,
             int depth, struct mf_end *r)
{
	int level = c->depth;
	struct mf_end e;

	if (c->depth >= MF_MAX_DEPTH)
		return false;
	memcpy(c->bnd[level], "--", 2);
	memcpy(c->bnd[level] + 2, t->boundary, t->boundary_len);
	c->bnd_len[level] = t->boundary_len + 2;
	c->depth++;
	/* the prologue; without a first boundary there are no parts */
	if (!mf_scan(c, p, NULL, &e))
		return false;
	while (e.level == level && !e.final)
	{
		/* nothing after the boundary: gmime ends the whole walk */
		if (e.next == NULL || e.next == c->end)
		{
			e.level = -1;
			break;
		}
		if (!mf_entity(c, e.next, depth + 1, &e))
			return false;
	}
	c->depth--;
	if (e.level == level)
	{
		/* the closing boundary; the epilogue runs to an outer one */
		if (e.next == NULL || c->depth == 0)
		{
			r->level = -1;
			r->line = r->next = NULL;
			r->final = false;
			return true;
		}
		return mf_scan(c, e.next, NULL, r);
	}
	*r = e; /* end of input, or an outer boundary ends this one too */
	return true;
}

/* Add a text part to the result. */
static struct mw_part *
mf_add_text(struct mf_ctx *c, int n, int depth, const struct mf_type *t)
{
	struct mw_message *m = c->m;
	struct mw_part *p;
	size_t tl = strlen(t->subtype);

	if (m->nparts == m->cap)
	{
		m->cap = m->cap ? m->cap * 2 : 4;
		m->parts = realloc(m->parts, sizeof(struct mw_part) * m->cap);
		if (m->parts == NULL)
			abort();
	}
	p = &m->parts[m->nparts++];
	memset(p, 0, sizeof(*p));
	p->n = n;
	p->depth = depth;
	p->size = -1;
	p->is_text = true;
	p->is_html = t->is_html;
	p->content_type = malloc(tl + 6);
	if (p->content_type == NULL)
		abort();
	memcpy(p->content_type, "text/", 5);
	memcpy(p->content_type + 5, t->subtype, tl + 1);
	return p;
}

/* One entity at p, headers first, and whatever it contains. */
static bool
mf_entity(struct mf_ctx *c, const char *p, int depth, struct mf_end *r)
{
	struct mf_headers h;
	struct mf_type t;
	const char *body, *cend;
	char val[MF_VALUE_MAX];
	size_t vn;
	int n;

	body = mf_read_headers(c, p, &h, depth > 0);
	if (body == NULL)
		return false;
	if (h.ct.count == 1)
	{
		if (!mf_unfold(&h.ct, val, &vn, true) || !mf_content_type(val, vn, &t))
			return false;
	}
	else
	{
		t.kind = MF_TEXT;
		t.is_html = false;
		strcpy(t.subtype, "plain");
		t.has_charset = false;
		t.boundary_len = 0;
	}
	if (t.kind == MF_MESSAGE && h.cte.count == 1)
	{
		/* gmime reads an encoded message part as an opaque leaf */
		if (!mf_unfold(&h.cte, val, &vn, false))
			return false;
		if (mf_eq(val, vn, "base64") || mf_eq(val, vn, "quoted-printable"))
			t.kind = MF_OTHER;
		else if (!mf_eq(val, vn, "7bit") && !mf_eq(val, vn, "8bit") &&
		         !mf_eq(val, vn, "binary"))
			return false;
	}
	if (++c->nparts > MF_MAX_PARTS)
		return false;
	n = c->nparts;
	if (t.kind == MF_MULTIPART)
		return mf_multipart(c, body, &t, depth, r);
	if (t.kind == MF_MESSAGE)
	{
		/*
		 * The message's own header block and entity follow; its first line
		 * cannot be a boundary (part headers decline lines starting with
		 * "--"), which is when gmime would leave the message empty.
		 */
		if (depth + 1 >= MF_MAX_DEPTH || body == c->end)
			return false;
		return mf_entity(c, body, depth + 1, r);
	}
	if (!mf_scan(c, body, &cend, r))
		return false;
	if (t.kind == MF_TEXT)
	{
		struct mw_part *tp = mf_add_text(c, n, depth, &t);

		if (!mf_decode_text(&h, &t, body, (size_t)(cend - body), tp))
			return false;
		c->m->size += sizeof(*tp) + 64 + tp->text_len;
	}
	return true;
}

struct mw_message *
mw_fast_parse(const char *buf, size_t len)
{
	struct mf_ctx *c;
	struct mf_end r;
	struct mw_message *m;
	bool ok;

	/* as mw_parse: an mbox "From " line is no header */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0)
	{
		const char *nl = memchr(buf, '\n', len);

		if (nl == NULL)
			return NULL;
		len -= (size_t)(nl + 1 - buf);
		buf = nl + 1;
	}
	c = malloc(sizeof(*c));
	m = calloc(1, sizeof(*m));
	if (c == NULL || m == NULL)
		abort();
	c->end = buf + len;
	c->m = m;
	c->depth = 0;
	c->nparts = 0;
	ok = mf_entity(c, buf, 0, &r);
	free(c);
	if (!ok)
	{
		mw_free(m);
		return NULL;
	}
	return m;
}
