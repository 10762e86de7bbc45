/*
 * urls.c: extract_urls() and registrable_domain(), the SQL face of
 * urlscan.c and domain.c.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "domain.h"
#include "hdrscan.h"
#include "mimefast.h"
#include "spamlab.h"
#include "urlscan.h"

/* Header fields whose values are URLs (RFC 2369 list headers). */
static const char *const url_headers[] = {
    "list-unsubscribe", "list-subscribe", "list-help", "list-post",
    "list-archive",     "list-owner",     NULL};

struct url_sink
{
	ReturnSetInfo *rsinfo;
	MemoryContext scratch;
	int part; /* 0 for headers, -1 for none (text overload) */
};

/* A text datum of UTF-8 bytes: copied as they are when valid (the rule). */
static Datum
utf8_datum(const char *s, size_t len)
{
	if (pg_verify_mbstr(PG_UTF8, s, len, true))
		return PointerGetDatum(cstring_to_text_with_len(s, len));
	return CStringGetTextDatum(mime_valid_utf8(s, len));
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? utf8_datum(s, strlen(s)) : (Datum)0;
}

/* One hit becomes one row; its scratch memory is freed right after. */
static void
put_url(void *arg, const struct url_hit *h)
{
	struct url_sink *sink = arg;
	MemoryContext old = MemoryContextSwitchTo(sink->scratch);
	Datum values[8];
	bool nulls[8];

	values[0] = text_or_null(h->url, &nulls[0]);
	values[1] = utf8_datum(h->raw, h->raw_len);
	nulls[1] = false;
	values[2] = text_or_null(h->scheme, &nulls[2]);
	values[3] = text_or_null(h->host, &nulls[3]);
	values[4] = text_or_null(h->regdom, &nulls[4]);
	values[5] = CStringGetTextDatum(url_source_name(h->source));
	nulls[5] = false;
	values[6] = Int32GetDatum(sink->part);
	nulls[6] = sink->part < 0;
	values[7] = text_or_null(h->anchor, &nulls[7]);
	MemoryContextSwitchTo(old);
	tuplestore_putvalues(sink->rsinfo->setResult,
	                     spamlab_srf_desc(sink->rsinfo), values, nulls);
	MemoryContextReset(sink->scratch);
}

/*
 * extract_urls(raw bytea): URLs in the list headers, then in every text
 * part of the message (decoded to UTF-8), in part order.
 */
PG_FUNCTION_INFO_V1(extract_urls);
Datum
extract_urls(PG_FUNCTION_ARGS)
{
	struct varlena *raw = PG_GETARG_VARLENA_PP(0);
	const char *buf = VARDATA_ANY(raw);
	size_t len = VARSIZE_ANY_EXHDR(raw);
	struct url_sink sink;
	const struct mw_message *m;
	struct hdr_iter it;
	struct hdr_field f;
	bool owned;

	spamlab_srf_begin(fcinfo);
	sink.rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	sink.scratch = AllocSetContextCreate(
	    CurrentMemoryContext, "spamlab extract_urls", ALLOCSET_DEFAULT_SIZES);
	sink.part = 0;
	hdr_iter_init(&it, buf, len);
	while (hdr_iter_next(&it, &f))
		for (int i = 0; url_headers[i]; i++)
			if (hdr_name_is(&f, url_headers[i]))
			{
				char *u = palloc(f.value_len + 1);
				size_t n = hdr_unfold(f.value, f.value_len, u);

				url_scan_text(u, n, URL_SRC_HEADER, put_url, &sink);
				pfree(u);
			}

	/*
	 * A walk another function made of this message (attachments(raw),
	 * extract_urls(raw) in one query parse once); else the text parts the
	 * fast reader is sure of, read without gmime to the same parts and
	 * bytes; else the gmime walk, cached.
	 */
	owned = false;
	m = mime_cached_walk(buf, len);
	if (m == NULL && mime_fast_path_enabled &&
	    (m = mw_fast_parse(buf, len)) != NULL)
		owned = true;
	if (m == NULL)
		m = mime_parse_cached(buf, len, 0, &owned);
	PG_TRY();
	{
		for (int i = 0; i < m->nparts; i++)
		{
			const struct mw_part *p = &m->parts[i];

			if (p->text == NULL)
				continue;
			sink.part = p->n;
			if (p->is_html)
				url_scan_html(p->text, p->text_len, put_url, &sink);
			else
				url_scan_text(p->text, p->text_len, URL_SRC_TEXT, put_url,
				              &sink);
		}
	}
	PG_CATCH();
	{
		if (owned)
			mw_free((struct mw_message *)m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (owned)
		mw_free((struct mw_message *)m);
	MemoryContextDelete(sink.scratch);
	return (Datum)0;
}

/*
 * extract_urls(content text, content_type text): URLs in one piece of
 * text; HTML when content_type is text/html (parameters ignored).
 */
PG_FUNCTION_INFO_V1(extract_urls_text);
Datum
extract_urls_text(PG_FUNCTION_ARGS)
{
	text *content = PG_GETARG_TEXT_PP(0);
	char *ct = text_to_cstring(PG_GETARG_TEXT_PP(1));
	struct url_sink sink;

	spamlab_srf_begin(fcinfo);
	sink.rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	sink.scratch = AllocSetContextCreate(
	    CurrentMemoryContext, "spamlab extract_urls", ALLOCSET_DEFAULT_SIZES);
	sink.part = -1;
	if (pg_strncasecmp(ct, "text/html", 9) == 0)
		url_scan_html(VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content), put_url,
		              &sink);
	else
		url_scan_text(VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content),
		              URL_SRC_TEXT, put_url, &sink);
	MemoryContextDelete(sink.scratch);
	return (Datum)0;
}

/*
 * registrable_domain(host): eTLD+1 under the Public Suffix List (private
 * section included); NULL for IP literals, suffixes, unknown TLDs.
 */
PG_FUNCTION_INFO_V1(registrable_domain);
Datum
registrable_domain(PG_FUNCTION_ARGS)
{
	text *host = PG_GETARG_TEXT_PP(0);
	char out[DOMAIN_MAX + 1];

	if (!domain_registrable(VARDATA_ANY(host), VARSIZE_ANY_EXHDR(host), false,
	                        out, sizeof(out)))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
