/*
 * mimewalk.c: parse a message with gmime once and flatten its MIME tree.
 */
#include "mimewalk.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void
mw_init(void)
{
	static bool done = false;

	if (!done)
	{
		g_mime_init();
		done = true;
	}
}

static char *
xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		abort();
	return d;
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 32;
	return d;
}

/* Copy of [buf, len) with NUL bytes as spaces; the bytes are valid UTF-8. */
static char *
copy_valid(const char *buf, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	char *p, *e;

	if (out == NULL)
		abort();
	if (len > 0)
		memcpy(out, buf, len);
	out[len] = '\0';
	for (p = out, e = out + len; (p = memchr(p, '\0', e - p)) != NULL; p++)
		*p = ' ';
	*outlen = len;
	return out;
}

/*
 * Is [buf, len) valid UTF-8 without NUL bytes: the answer of glib's
 * g_utf8_validate_len() (well-formed sequences of Unicode 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), eight bytes at a
 * time over ASCII runs, which are most of a mail body.  fuzz_mimefast
 * checks it against glib on every input.
 */
bool
mw_utf8_valid(const char *buf, size_t len)
{
	const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
	const unsigned char *p, *e;

	if (len == 0)
		return true; /* buf may be NULL (an empty GByteArray's data) */
	p = (const unsigned char *)buf;
	e = p + len;
	while (p < e)
	{
		unsigned char c = *p;
		unsigned char lo = 0x80, hi = 0xbf;
		int more;

		if (c >= 0x01 && c <= 0x7f)
		{
			uint64_t w;

			p++;
			while (e - p >= 8)
			{
				memcpy(&w, p, 8);
				if ((w & high) != 0 || ((w - ones) & ~w & high) != 0)
					break;
				p += 8;
			}
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
		{
			more = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		}
		else if (c >= 0xf0 && c <= 0xf4)
		{
			more = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		}
		else
			return false; /* NUL, continuation, C0, C1, F5-FF */
		if (e - p <= more || p[1] < lo || p[1] > hi)
			return false;
		for (int k = 2; k <= more; k++)
			if (p[k] < 0x80 || p[k] > 0xbf)
				return false;
		p += more + 1;
	}
	return true;
}

/* Copy of bytes known to be valid UTF-8 (so without NUL bytes). */
static char *
copy_utf8(const char *buf, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);

	if (out == NULL)
		abort();
	if (len > 0)
		memcpy(out, buf, len);
	out[len] = '\0';
	*outlen = len;
	return out;
}

char *
mw_make_valid(const char *buf, size_t len, size_t *outlen)
{
	char *v, *out;

	if (mw_utf8_valid(buf, len))
		return copy_utf8(buf, len, outlen);
	/* NUL bytes count as invalid here: make them spaces first */
	out = copy_valid(buf, len, outlen);
	v = g_utf8_make_valid(out, len);
	free(out);
	out = copy_valid(v, strlen(v), outlen);
	g_free(v);
	return out;
}

/*
 * An iconv descriptor to UTF-8 from a charset, kept open for the process:
 * opening one loads (and closing unloads) a gconv module, which cost more
 * than parsing a typical message.  NULL-equivalent (iconv_t)-1 when the
 * charset is unknown.
 */
static iconv_t
iconv_to_utf8(const char *charset)
{
	static struct
	{
		char name[48];
		iconv_t cd;
	} cds[16];
	static int ncd, next;
	const char *name;
	iconv_t cd;
	int slot;

	/* gmime's charset aliases need g_mime_init(); the fast reader may come
	 * here before any gmime parse */
	mw_init();
	name = g_mime_charset_iconv_name(charset);
	if (name == NULL || strlen(name) >= sizeof(cds[0].name))
		return (iconv_t)-1;
	for (int i = 0; i < ncd; i++)
		if (g_ascii_strcasecmp(cds[i].name, name) == 0)
			return cds[i].cd;
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return cd;
	if (ncd < (int)(sizeof(cds) / sizeof(cds[0])))
		slot = ncd++;
	else
	{
		slot = next;
		next = (next + 1) % ncd;
		iconv_close(cds[slot].cd);
	}
	strcpy(cds[slot].name, name);
	cds[slot].cd = cd;
	return cd;
}

/* Convert with cd; bytes it cannot read become U+FFFD. */
static char *
convert(iconv_t cd, const char *buf, size_t len, size_t *outlen)
{
	size_t cap = len * 2 + 16, used = 0;
	char *out = malloc(cap), *in = (char *)buf;
	size_t inleft = len;

	if (out == NULL)
		abort();
	iconv(cd, NULL, NULL, NULL, NULL);
	while (inleft > 0)
	{
		char *o = out + used;
		size_t oleft = cap - used - 4;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);

		used = o - out;
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG || cap - used < 8)
		{
			cap *= 2;
			out = realloc(out, cap);
			if (out == NULL)
				abort();
		}
		else
		{
			/* EILSEQ, EINVAL (truncated sequence): replace one byte */
			memcpy(out + used, "\xef\xbf\xbd", 3);
			used += 3;
			in++;
			inleft--;
		}
	}
	out[used] = '\0';
	*outlen = used;
	return out;
}

char *
mw_to_utf8(const char *buf, size_t len, const char *charset, size_t *outlen)
{
	iconv_t cd;
	char *conv, *out;
	size_t n;

	/*
	 * No label, a UTF-8 label, or bytes that are valid UTF-8 whatever the
	 * label says (plain ASCII, or a mislabelled UTF-8 body): take as UTF-8.
	 */
	if (charset == NULL || g_ascii_strncasecmp(charset, "utf", 3) == 0)
		return mw_make_valid(buf, len, outlen);
	if (mw_utf8_valid(buf, len))
		return copy_utf8(buf, len, outlen);
	cd = iconv_to_utf8(charset);
	if (cd == (iconv_t)-1)
		cd = iconv_to_utf8("windows-1252"); /* unknown: the usual guess */
	if (cd == (iconv_t)-1)
		return mw_make_valid(buf, len, outlen);
	conv = convert(cd, buf, len, &n);
	out = mw_make_valid(conv, n, outlen);
	free(conv);
	return out;
}

static struct mw_part *
add_part(struct mw_message *m)
{
	struct mw_part *p;

	if (m->nparts == m->cap)
	{
		m->cap = m->cap ? m->cap * 2 : 8;
		m->parts = realloc(m->parts, sizeof(struct mw_part) * m->cap);
		if (m->parts == NULL)
			abort();
	}
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->n = ++m->nparts;
	p->size = -1;
	return p;
}

/*
 * uudecode leniently: gmime's filter loses data on lines whose trailing
 * blanks were stripped in transit (common); missing characters count as
 * blanks, which is what they were.  Input without "begin" is decoded from
 * the first line.
 */
static GByteArray *
uudecode(const unsigned char *d, size_t len)
{
	GByteArray *out = g_byte_array_new();
	size_t i = 0;

	for (size_t j = 0; j + 6 <= len; j++)
		if ((j == 0 || d[j - 1] == '\n') && memcmp(d + j, "begin ", 6) == 0)
		{
			const unsigned char *nl = memchr(d + j, '\n', len - j);

			i = nl ? (size_t)(nl - d) + 1 : len;
			break;
		}
	while (i < len)
	{
		const unsigned char *nl = memchr(d + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - d) : len, ll;
		int n;

		if (e > i && d[e - 1] == '\r')
			e--;
		ll = e - i;
		if (ll >= 3 && memcmp(d + i, "end", 3) == 0)
			break;
		n = ll > 0 ? (d[i] - 32) & 63 : 0;
		for (int k = 0; k < n; k += 3)
		{
			unsigned char c[4], b[3];

			for (int q = 0; q < 4; q++)
			{
				size_t pos = i + 1 + (size_t)(k / 3) * 4 + q;

				c[q] = pos < e ? (unsigned char)((d[pos] - 32) & 63) : 0;
			}
			b[0] = (unsigned char)(c[0] << 2 | c[1] >> 4);
			b[1] = (unsigned char)(c[1] << 4 | c[2] >> 2);
			b[2] = (unsigned char)(c[2] << 6 | c[3]);
			g_byte_array_append(out, b, n - k < 3 ? n - k : 3);
		}
		i = nl ? (size_t)(nl - d) + 1 : len;
	}
	return out;
}

/* Decode a leaf part's content: size, sha256, and text for text parts. */
static void
read_leaf(struct mw_message *m, struct mw_part *p, GMimePart *part,
          GMimeContentType *ct)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *ba;
	GChecksum *ck;

	if (dw == NULL)
	{
		p->size = 0;
		return;
	}
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_get_encoding(dw) == GMIME_CONTENT_ENCODING_UUENCODE)
	{
		GByteArray *enc, *dec;
		GMimeStream *src = g_mime_data_wrapper_get_stream(dw);

		g_mime_stream_reset(src);
		g_mime_stream_write_to_stream(src, mem);
		enc = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		dec = uudecode(enc->data, enc->len);
		g_object_unref(mem);
		mem = g_mime_stream_mem_new_with_byte_array(dec);
	}
	else
		g_mime_data_wrapper_write_to_stream(dw, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	p->size = ba->len;
	/* only attachments() reads the digest, and it asks for MW_HASH */
	if (m->flags & MW_HASH)
	{
		ck = g_checksum_new(G_CHECKSUM_SHA256);
		g_checksum_update(ck, ba->data, ba->len);
		g_strlcpy(p->sha256, g_checksum_get_string(ck), sizeof(p->sha256));
		g_checksum_free(ck);
	}
	if (p->is_text)
	{
		const char *cs = g_mime_content_type_get_parameter(ct, "charset");

		p->text = mw_to_utf8((const char *)ba->data, ba->len, cs, &p->text_len);
		m->size += p->text_len;
	}
	g_object_unref(mem);
}

static void
walk(struct mw_message *m, GMimeObject *obj, int depth)
{
	struct mw_part *p;
	GMimeContentType *ct;
	GMimeContentDisposition *cd;

	if (obj == NULL || m->nparts >= MW_MAX_PARTS)
		return;
	p = add_part(m);
	p->depth = depth;
	ct = g_mime_object_get_content_type(obj);
	if (ct != NULL)
	{
		char *mt = g_mime_content_type_get_mime_type(ct);

		p->content_type = lower_dup(mt);
		g_free(mt);
	}
	else
		p->content_type = xstrdup("text/plain");
	cd = g_mime_object_get_content_disposition(obj);
	if (cd != NULL && g_mime_content_disposition_get_disposition(cd) != NULL)
		p->disposition =
		    lower_dup(g_mime_content_disposition_get_disposition(cd));
	m->size += sizeof(*p) + 64;

	if (GMIME_IS_MULTIPART(obj))
	{
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int count = g_mime_multipart_get_count(mp);

		p->container = true;
		if (depth >= MW_MAX_DEPTH)
			return;
		for (int i = 0; i < count; i++)
			walk(m, g_mime_multipart_get_part(mp, i), depth + 1);
	}
	else if (GMIME_IS_MESSAGE_PART(obj))
	{
		GMimeMessage *inner =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		p->container = true;
		if (inner != NULL && depth < MW_MAX_DEPTH)
			walk(m, g_mime_message_get_mime_part(inner), depth + 1);
	}
	else if (GMIME_IS_PART(obj))
	{
		GMimePart *part = GMIME_PART(obj);
		const char *fn = g_mime_part_get_filename(part);
		size_t n;

		if (fn != NULL)
			p->filename = mw_make_valid(fn, strlen(fn), &n);
		p->is_text = strncmp(p->content_type, "text/", 5) == 0;
		p->is_html = strcmp(p->content_type, "text/html") == 0;
		p->attachment =
		    p->filename != NULL || !p->is_text ||
		    (p->disposition && strcmp(p->disposition, "attachment") == 0);
		if (p->is_text || (m->flags & MW_HASH))
			read_leaf(m, p, part, ct);
	}
}

struct mw_message *
mw_parse(const char *buf, size_t len, int flags)
{
	struct mw_message *m = calloc(1, sizeof(*m));
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeObject *root;
	GByteArray *array;

	if (m == NULL)
		abort();
	m->flags = flags;
	mw_init();
	/* an mbox "From " line is no header; the part parser would stop there */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0)
	{
		const char *nl = memchr(buf, '\n', len);

		len -= nl ? (size_t)(nl + 1 - buf) : len;
		buf = nl ? nl + 1 : buf + 5;
	}
	/*
	 * Read the caller's bytes in place: a real GByteArray over them, not
	 * owned by the stream, freed below without its data.  The parser only
	 * reads the stream.
	 */
	array = g_byte_array_new_take((guint8 *)buf, len);
	stream = g_mime_stream_mem_new_with_byte_array(array);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);

	/*
	 * The top-level entity as a part, not a GMimeMessage: a message would
	 * also parse every address and date header, which nothing here reads
	 * (headers.c does that with hdrscan), at a third of the parse time.
	 */
	root = g_mime_parser_construct_part(parser, NULL);
	if (root != NULL)
	{
		walk(m, root, 0);
		g_object_unref(root);
	}
	g_object_unref(parser);
	g_object_unref(stream);
	g_byte_array_free(array, FALSE);
	return m;
}

void
mw_free(struct mw_message *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->nparts; i++)
	{
		free(m->parts[i].content_type);
		free(m->parts[i].filename);
		free(m->parts[i].disposition);
		free(m->parts[i].text);
	}
	free(m->parts);
	free(m);
}
