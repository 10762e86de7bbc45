/*
 * mimefast.c: the decoded text of a single-part text message, read without
 * gmime; declines whatever it is not sure gmime reads the same way.
 */
#include "mimefast.h"

#include <stdlib.h>
#include <string.h>

#include "mimewalk.h"

/* Longest Content-Type or Content-Transfer-Encoding value read here. */
#define MF_VALUE_MAX 512

struct mf_field
{
	const char *v; /* raw value after the colon, folding kept */
	size_t n;
	int count;
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

/*
 * Unfold and trim a field value into out (MF_VALUE_MAX bytes); false when it
 * is too long or holds bytes a plain ASCII value never does.
 */
static bool
mf_unfold(const struct mf_field *f, char *out, size_t *outlen)
{
	size_t o = 0, s = 0;

	for (size_t i = 0; i < f->n; i++)
	{
		unsigned char c = (unsigned char)f->v[i];

		if (c == '\r' || c == '\n')
			continue;
		if (c == '\t')
			c = ' ';
		if (c < 32 || c > 126 || o + 1 >= MF_VALUE_MAX)
			return false;
		out[o++] = (char)c;
	}
	while (s < o && out[s] == ' ')
		s++;
	while (o > s && out[o - 1] == ' ')
		o--;
	memmove(out, out + s, o - s);
	out[o - s] = '\0';
	*outlen = o - s;
	return true;
}

static size_t
mf_skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

/*
 * Parse "text/sub; charset=x" strictly: tokens, plain quoted strings, no
 * comments, no RFC 2231.  charset (MF_VALUE_MAX bytes) gets the charset
 * parameter or "" when absent.
 */
static bool
mf_content_type(const char *s, size_t n, bool *is_html, char *charset,
                bool *has_charset)
{
	size_t i = 0, t0, sub0, sub1;

	*has_charset = false;
	t0 = i;
	while (i < n && mf_is_token((unsigned char)s[i]))
		i++;
	if (!mf_eq(s + t0, i - t0, "text") || i >= n || s[i] != '/')
		return false;
	sub0 = ++i;
	while (i < n && mf_is_token((unsigned char)s[i]))
		i++;
	sub1 = i;
	if (sub1 == sub0)
		return false;
	*is_html = mf_eq(s + sub0, sub1 - sub0, "html");
	i = mf_skip_ws(s, i, n);
	while (i < n)
	{
		size_t a0, a1, v0, v1;

		if (s[i] != ';')
			return false;
		i = mf_skip_ws(s, i + 1, n);
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
			while (i < n && s[i] != '"' && s[i] != '\\')
				i++;
			if (i >= n || s[i] != '"')
				return false;
			v1 = i++;
		}
		else
		{
			v0 = i;
			while (i < n && mf_is_token((unsigned char)s[i]))
				i++;
			v1 = i;
			if (v1 == v0)
				return false;
		}
		i = mf_skip_ws(s, i, n);
		if (mf_eq(s + a0, a1 - a0, "charset"))
		{
			if (*has_charset || v1 == v0)
				return false;
			memcpy(charset, s + v0, v1 - v0);
			charset[v1 - v0] = '\0';
			*has_charset = true;
		}
	}
	return true;
}

static int
mf_b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Regular base64 only: alphabet and line ends, quads, padding at the end. */
static bool
mf_base64(const char *s, size_t n, char *out, size_t *outlen)
{
	unsigned int acc = 0;
	int q = 0, pad = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char)s[i];
		int v;

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
		if (pad > 0 || (v = mf_b64(c)) < 0)
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
		int h, l;

		if (s[i] != '=')
		{
			out[o++] = s[i];
			continue;
		}
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

bool
mw_fast_text(const char *buf, size_t len, char **text, size_t *text_len,
             bool *is_html)
{
	struct mf_field ct = {NULL, 0, 0}, cte = {NULL, 0, 0};
	struct mf_field *cur = NULL;
	const char *p, *end, *body = NULL;
	char val[MF_VALUE_MAX], charset[MF_VALUE_MAX];
	size_t vn;
	bool has_charset = false;
	char *dec = NULL;
	const char *src;
	size_t srclen;

	*is_html = false;
	/* as mw_parse: an mbox "From " line is no header */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0)
	{
		const char *nl = memchr(buf, '\n', len);

		if (nl == NULL)
			return false;
		len -= (size_t)(nl + 1 - buf);
		buf = nl + 1;
	}
	p = buf;
	end = buf + len;
	while (p < end)
	{
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le, *q;

		if (nl == NULL)
			return false; /* no body: leave it to gmime */
		le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		if (le == p)
		{
			body = nl + 1;
			break;
		}
		if (memchr(p, '\r', (size_t)(le - p)) != NULL ||
		    memchr(p, '\0', (size_t)(le - p)) != NULL)
			return false;
		if (*p == ' ' || *p == '\t')
		{
			if (cur == NULL && p == buf)
				return false;
			if (cur != NULL)
				cur->n = (size_t)(le - cur->v);
			p = nl + 1;
			continue;
		}
		for (q = p; q < le && *q != ':'; q++)
			if ((unsigned char)*q <= 32 || (unsigned char)*q >= 127)
				return false;
		if (q == le || q == p)
			return false;
		cur = NULL;
		if (mf_eq(p, (size_t)(q - p), "content-type"))
			cur = &ct;
		else if (mf_eq(p, (size_t)(q - p), "content-transfer-encoding"))
			cur = &cte;
		if (cur != NULL)
		{
			if (++cur->count > 1)
				return false;
			cur->v = q + 1;
			cur->n = (size_t)(le - cur->v);
		}
		p = nl + 1;
	}
	if (body == NULL)
		return false;

	if (ct.count == 1)
	{
		if (!mf_unfold(&ct, val, &vn) ||
		    !mf_content_type(val, vn, is_html, charset, &has_charset))
			return false;
	}
	src = body;
	srclen = (size_t)(end - body);
	if (cte.count == 1)
	{
		if (!mf_unfold(&cte, val, &vn))
			return false;
		if (mf_eq(val, vn, "base64") || mf_eq(val, vn, "quoted-printable"))
		{
			bool ok;

			dec = malloc(srclen + 1);
			if (dec == NULL)
				abort();
			ok = val[0] == 'b' || val[0] == 'B'
			         ? mf_base64(src, srclen, dec, &srclen)
			         : mf_qp(src, srclen, dec, &srclen);
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
	*text = mw_to_utf8(src, srclen, has_charset ? charset : NULL, text_len);
	free(dec);
	return true;
}
