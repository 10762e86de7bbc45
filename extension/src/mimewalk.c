/*
 * mimewalk.c: parse a message with gmime once and flatten its MIME tree.
 */
#include "mimewalk.h"

#include <gmime/gmime.h>
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

char *
mw_make_valid(const char *buf, size_t len, size_t *outlen)
{
	char *v, *out;
	size_t n;

	if (g_utf8_validate(buf, len, NULL))
	{
		out = malloc(len + 1);
		if (out == NULL)
			abort();
		if (len > 0)
			memcpy(out, buf, len);
		out[len] = '\0';
		n = len;
	}
	else
	{
		v = g_utf8_make_valid(buf, len);
		n = strlen(v);
		/* g_utf8_make_valid stops at NUL bytes; those are gone below */
		out = malloc(n + 1);
		if (out == NULL)
			abort();
		memcpy(out, v, n + 1);
		g_free(v);
	}
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	*outlen = n;
	return out;
}

char *
mw_to_utf8(const char *buf, size_t len, const char *charset, size_t *outlen)
{
	const char *name;
	gchar *conv;
	gsize written = 0;
	char *out;

	/*
	 * No label, a UTF-8 label, or bytes that are valid UTF-8 whatever the
	 * label says (plain ASCII, or a mislabelled UTF-8 body): take as UTF-8.
	 */
	if (charset == NULL || g_ascii_strncasecmp(charset, "utf", 3) == 0 ||
	    g_utf8_validate(buf, len, NULL))
		return mw_make_valid(buf, len, outlen);
	name = g_mime_charset_iconv_name(charset);
	conv = g_convert_with_fallback(buf, len, "UTF-8", name, "\xef\xbf\xbd",
	                               NULL, &written, NULL);
	if (conv == NULL)
		conv = g_convert_with_fallback(buf, len, "UTF-8", "WINDOWS-1252",
		                               "\xef\xbf\xbd", NULL, &written, NULL);
	if (conv == NULL)
		conv = g_convert(buf, len, "UTF-8", "ISO-8859-1", NULL, &written, NULL);
	if (conv == NULL)
		return mw_make_valid(buf, len, outlen);
	out = mw_make_valid(conv, written, outlen);
	g_free(conv);
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
	g_mime_data_wrapper_write_to_stream(dw, mem);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	p->size = ba->len;
	ck = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(ck, ba->data, ba->len);
	g_strlcpy(p->sha256, g_checksum_get_string(ck), sizeof(p->sha256));
	g_checksum_free(ck);
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
		read_leaf(m, p, part, ct);
	}
}

struct mw_message *
mw_parse(const char *buf, size_t len)
{
	struct mw_message *m = calloc(1, sizeof(*m));
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;

	if (m == NULL)
		abort();
	mw_init();
	stream = g_mime_stream_mem_new_with_buffer(buf, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg != NULL)
	{
		walk(m, g_mime_message_get_mime_part(msg), 0);
		g_object_unref(msg);
	}
	g_object_unref(parser);
	g_object_unref(stream);
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
