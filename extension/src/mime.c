/*
 * mime.c: the MIME structure of a raw message: attachments(), body_text(),
 * and the per-backend cache of the last message's MIME walk that
 * extract_urls() shares.
 *
 * A query that applies several functions to one message (SELECT
 * attachments(raw), body_text(raw), extract_urls(raw) ...) pays for one
 * gmime parse: the walk of the last message is kept with a copy of its
 * bytes, and a call with the same bytes (length, then memcmp: exact, no
 * hash collisions) reuses it.  spamlab.mime_cache = off parses every call.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "spamlab.h"
#include "urlscan.h"

static bool mime_cache_enabled = true;
bool mime_fast_path_enabled = true;

static struct
{
	char *raw; /* malloc'ed copy of the message bytes */
	size_t len;
	struct mw_message *walk;
} cache;

void
mime_define_gucs(void)
{
	DefineCustomBoolVariable(
	    "spamlab.mime_cache",
	    "Reuse the MIME parse of the last message a function was given.",
	    "When on, functions applied to the same message in a row parse it "
	    "once per backend.",
	    &mime_cache_enabled, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(
	    "spamlab.mime_fast_path",
	    "Read the text parts of plain MIME messages without gmime in "
	    "extract_urls.",
	    "When off, every message is parsed with gmime; the rows are the "
	    "same either way.",
	    &mime_fast_path_enabled, true, PGC_USERSET, 0, NULL, NULL, NULL);
}

static void
cache_clear(void)
{
	mw_free(cache.walk);
	free(cache.raw);
	cache.walk = NULL;
	cache.raw = NULL;
	cache.len = 0;
}

/*
 * gmime neither throws nor calls back into PostgreSQL; the PG_TRY frees the
 * walk should an interrupt ever be serviced inside (contrib/xml2's shape).
 */
static struct mw_message *
parse_guarded(const char *buf, size_t len, int flags)
{
	struct mw_message *volatile m = NULL;

	PG_TRY();
	{
		m = mw_parse(buf, len, flags);
	}
	PG_CATCH();
	{
		mw_free(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return m;
}

const struct mw_message *
mime_cached_walk(const char *buf, size_t len)
{
	if (mime_cache_enabled && cache.walk != NULL && cache.len == len &&
	    memcmp(cache.raw, buf, len) == 0)
		return cache.walk;
	return NULL;
}

const struct mw_message *
mime_parse_cached(const char *buf, size_t len, int flags, bool *owned)
{
	struct mw_message *m;
	bool same;
	char *copy;

	*owned = false;
	same = mime_cache_enabled && cache.walk != NULL && cache.len == len &&
	       memcmp(cache.raw, buf, len) == 0;
	if (same && (cache.walk->flags & flags) == flags)
		return cache.walk;
	m = parse_guarded(buf, len, same ? flags | cache.walk->flags : flags);

	if (!mime_cache_enabled)
	{
		*owned = true;
		return m;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
	{
		/* no room for the cache: the caller owns this one */
		*owned = true;
		return m;
	}
	cache_clear();
	if (len > 0)
		memcpy(copy, buf, len);
	cache.raw = copy;
	cache.len = len;
	cache.walk = m;
	return m;
}

/* attachments(raw): every part that is a file rather than body text. */
PG_FUNCTION_INFO_V1(attachments);
Datum
attachments(PG_FUNCTION_ARGS)
{
	struct varlena *raw = PG_GETARG_VARLENA_PP(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	const struct mw_message *m;
	bool owned;

	spamlab_srf_begin(fcinfo);
	m = mime_parse_cached(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), MW_HASH,
	                      &owned);
	PG_TRY();
	{
		for (int i = 0; i < m->nparts; i++)
		{
			const struct mw_part *p = &m->parts[i];
			Datum values[6];
			bool nulls[6] = {false, true, false, true, false, false};

			if (!p->attachment)
				continue;
			values[0] = Int32GetDatum(p->n);
			if (p->filename != NULL)
			{
				values[1] = CStringGetTextDatum(p->filename);
				nulls[1] = false;
			}
			values[2] = CStringGetTextDatum(
			    mime_valid_utf8(p->content_type, strlen(p->content_type)));
			if (p->disposition != NULL)
			{
				values[3] = CStringGetTextDatum(
				    mime_valid_utf8(p->disposition, strlen(p->disposition)));
				nulls[3] = false;
			}
			values[4] = Int64GetDatum(p->size);
			values[5] = CStringGetTextDatum(p->sha256);
			tuplestore_putvalues(rsinfo->setResult, spamlab_srf_desc(rsinfo),
			                     values, nulls);
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
	return (Datum)0;
}

/*
 * The body as text: the first inline text/plain part, else the first
 * inline text/html part reduced to text, else NULL.
 */
static text *
body_of(const struct mw_message *m)
{
	const struct mw_part *html = NULL;

	for (int i = 0; i < m->nparts; i++)
	{
		const struct mw_part *p = &m->parts[i];

		if (p->text == NULL || p->filename != NULL ||
		    (p->disposition && strcmp(p->disposition, "attachment") == 0))
			continue;
		if (strcmp(p->content_type, "text/plain") == 0)
			return cstring_to_text_with_len(p->text, p->text_len);
		if (p->is_html && html == NULL)
			html = p;
	}
	if (html != NULL)
	{
		size_t n;
		char *t = html_to_text(html->text, html->text_len, &n);
		text *r = NULL;

		PG_TRY();
		{
			r = cstring_to_text(mime_valid_utf8(t, n));
		}
		PG_CATCH();
		{
			free(t);
			PG_RE_THROW();
		}
		PG_END_TRY();
		free(t);
		return r;
	}
	return NULL;
}

/* body_text(raw): text/plain, else HTML reduced to text, else NULL. */
PG_FUNCTION_INFO_V1(body_text);
Datum
body_text(PG_FUNCTION_ARGS)
{
	struct varlena *raw = PG_GETARG_VARLENA_PP(0);
	const struct mw_message *m;
	bool owned;
	text *volatile t = NULL;

	m = mime_parse_cached(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), 0, &owned);
	PG_TRY();
	{
		t = body_of(m);
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
	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(t);
}
