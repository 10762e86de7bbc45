/*
 * headers.c: header fields of a raw message: header(), headers(),
 * subject(), message_id(), in_reply_to(), reference_ids(), addresses().
 *
 * These read the header block with hdrscan (no MIME parse) and decode
 * encoded words with gmime.  Every function takes the message as bytea or
 * as text (same representation); mail from the wild never raises an ERROR.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <gmime/gmime.h>

#include "addrparse.h"
#include "hdrscan.h"
#include "spamlab.h"

char *
mime_valid_utf8(const char *buf, size_t len)
{
	size_t n;
	char *m = mw_make_valid(buf, len, &n);
	char *out = palloc(n + 1);

	memcpy(out, m, n + 1);
	free(m);
	return out;
}

/*
 * gmime's decoders allocate with GLib; run them inside PG_TRY so nothing
 * foreign leaks if copying the result out fails (contrib/xml2's shape).
 */
char *
mime_decode_header(const char *value, size_t len, bool phrase)
{
	char *unfolded = palloc(len + 1);
	size_t n = hdr_unfold(value, len, unfolded);
	char *volatile dec = NULL;
	char *out = NULL;

	unfolded[n] = '\0';
	if (memchr(unfolded, '=', n) == NULL)
	{
		/* no encoded words; raw 8-bit text is most often Windows-1252 */
		size_t on;
		char *conv = mw_to_utf8(unfolded, n, "windows-1252", &on);

		out = palloc(on + 1);
		memcpy(out, conv, on + 1);
		free(conv);
		pfree(unfolded);
		return out;
	}
	mw_init();
	PG_TRY();
	{
		dec = phrase ? g_mime_utils_header_decode_phrase(NULL, unfolded)
		             : g_mime_utils_header_decode_text(NULL, unfolded);
		out = dec ? mime_valid_utf8(dec, strlen(dec))
		          : mime_valid_utf8(unfolded, n);
	}
	PG_CATCH();
	{
		g_free(dec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	g_free(dec);
	pfree(unfolded);
	return out;
}

/* The first field with this name, or false. */
static bool
find_field(const char *buf, size_t len, const char *name, struct hdr_field *f)
{
	struct hdr_iter it;

	hdr_iter_init(&it, buf, len);
	while (hdr_iter_next(&it, f))
		if (hdr_name_is(f, name))
			return true;
	return false;
}

/* The decoded value of the first field called name, or NULL. */
static text *
header_text(const struct varlena *raw, const char *name)
{
	struct hdr_field f;

	if (!find_field(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), name, &f))
		return NULL;
	return cstring_to_text(mime_decode_header(f.value, f.value_len, false));
}

/* header(raw, name): first occurrence, unfolded and decoded. */
PG_FUNCTION_INFO_V1(header);
Datum
header(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	char *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	text *t = header_text(raw, name);

	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(t);
}

/* subject(raw): the decoded Subject. */
PG_FUNCTION_INFO_V1(subject);
Datum
subject(PG_FUNCTION_ARGS)
{
	text *t = header_text(msg_header_arg(fcinfo, 0), "subject");

	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(t);
}

/* headers(raw): every field in order, with decoded and raw values. */
PG_FUNCTION_INFO_V1(headers);
Datum
headers(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	MemoryContext scratch, old;
	struct hdr_iter it;
	struct hdr_field f;
	int n = 0;

	spamlab_srf_begin(fcinfo);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "spamlab headers",
	                                ALLOCSET_DEFAULT_SIZES);
	hdr_iter_init(&it, VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw));
	while (hdr_iter_next(&it, &f))
	{
		Datum values[4];
		bool nulls[4] = {false, false, false, false};

		old = MemoryContextSwitchTo(scratch);
		values[0] = Int32GetDatum(++n);
		values[1] = CStringGetTextDatum(mime_valid_utf8(f.name, f.name_len));
		values[2] = CStringGetTextDatum(
		    mime_decode_header(f.value, f.value_len, false));
		values[3] = CStringGetTextDatum(mime_valid_utf8(f.value, f.value_len));
		MemoryContextSwitchTo(old);
		tuplestore_putvalues(rsinfo->setResult, spamlab_srf_desc(rsinfo),
		                     values, nulls);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
	return (Datum)0;
}

/*
 * Message ids in a field value, in order: the contents of <...>, or the
 * blank-separated words when there are no brackets (broken mailers).
 */
static List *
msg_ids(const char *v, size_t len)
{
	char *u = palloc(len + 1);
	size_t n = hdr_unfold(v, len, u);
	List *ids = NIL;
	bool brackets = memchr(u, '<', n) != NULL;

	for (size_t i = 0; i < n;)
	{
		size_t s, e;

		if (brackets)
		{
			const char *lt = memchr(u + i, '<', n - i), *gt;

			if (lt == NULL)
				break;
			s = lt - u + 1;
			gt = memchr(u + s, '>', n - s);
			e = gt ? (size_t)(gt - u) : n;
			i = gt ? e + 1 : n;
		}
		else
		{
			while (i < n && (u[i] == ' ' || u[i] == '\t' || u[i] == ','))
				i++;
			s = i;
			while (i < n && u[i] != ' ' && u[i] != '\t' && u[i] != ',')
				i++;
			e = i;
		}
		/* blanks inside an id are folding debris */
		{
			char *id = palloc(e - s + 1);
			size_t k = 0;

			for (size_t j = s; j < e; j++)
				if (u[j] != ' ' && u[j] != '\t')
					id[k++] = u[j];
			if (k > 0)
				ids = lappend(ids, mime_valid_utf8(id, k));
			pfree(id);
		}
	}
	pfree(u);
	return ids;
}

static Datum
first_msg_id(FunctionCallInfo fcinfo, const char *field)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	struct hdr_field f;
	List *ids;

	if (!find_field(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), field, &f))
		PG_RETURN_NULL();
	ids = msg_ids(f.value, f.value_len);
	if (ids == NIL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(linitial(ids)));
}

/* message_id(raw): the Message-ID without angle brackets. */
PG_FUNCTION_INFO_V1(message_id);
Datum
message_id(PG_FUNCTION_ARGS)
{
	return first_msg_id(fcinfo, "message-id");
}

/* in_reply_to(raw): the first id of In-Reply-To. */
PG_FUNCTION_INFO_V1(in_reply_to);
Datum
in_reply_to(PG_FUNCTION_ARGS)
{
	return first_msg_id(fcinfo, "in-reply-to");
}

/* reference_ids(raw): the ids of References, oldest first. */
PG_FUNCTION_INFO_V1(reference_ids);
Datum
reference_ids(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	struct hdr_field f;
	List *ids;
	Datum *elems;
	int i;

	if (!find_field(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), "references", &f))
		PG_RETURN_NULL();
	ids = msg_ids(f.value, f.value_len);
	elems = palloc(sizeof(Datum) * (list_length(ids) + 1));
	for (i = 0; i < list_length(ids); i++)
		elems[i] = CStringGetTextDatum(list_nth(ids, i));
	PG_RETURN_ARRAYTYPE_P(
	    construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

static const char *const address_fields[] = {
    "from", "sender", "reply-to", "to", "cc", "bcc", "return-path", NULL};

struct addr_ctx
{
	List *rows; /* of struct addr_row * */
	bool any_at;
};

struct addr_row
{
	char *display;
	char *address;
};

static void
collect_mailbox(void *arg, const char *display, const char *address)
{
	struct addr_ctx *c = arg;
	struct addr_row *r = palloc0(sizeof(*r));

	if (display != NULL)
		r->display = pstrdup(display);
	if (address != NULL)
	{
		r->address = pstrdup(address);
		if (strchr(address, '@') != NULL)
			c->any_at = true;
	}
	c->rows = lappend(c->rows, r);
}

/* Report one mailbox as a row: names decoded, domain lower-cased. */
static void
put_mailbox(ReturnSetInfo *rsinfo, struct addr_row *r)
{
	Datum values[4];
	bool nulls[4] = {true, true, true, true};

	if (r->display != NULL)
	{
		values[0] = CStringGetTextDatum(
		    mime_decode_header(r->display, strlen(r->display), true));
		nulls[0] = false;
	}
	if (r->address != NULL)
	{
		char *a = mime_valid_utf8(r->address, strlen(r->address));
		char *at = strrchr(a, '@');

		if (at != NULL)
		{
			for (char *p = at + 1; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p += 32;
			values[2] = CStringGetTextDatum(pnstrdup(a, at - a));
			values[3] = CStringGetTextDatum(at + 1);
			nulls[2] = false;
			nulls[3] = at[1] == '\0';
		}
		values[1] = CStringGetTextDatum(a);
		nulls[1] = false;
	}
	tuplestore_putvalues(rsinfo->setResult, spamlab_srf_desc(rsinfo), values,
	                     nulls);
}

/*
 * addresses(raw, field): every mailbox of every occurrence of an address
 * field.  An unknown field name is misuse and an ERROR.
 */
PG_FUNCTION_INFO_V1(addresses);
Datum
addresses(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	char *field = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	MemoryContext scratch, old;
	struct hdr_iter it;
	struct hdr_field f;
	bool known = false;

	for (int i = 0; address_fields[i]; i++)
		if (pg_strcasecmp(field, address_fields[i]) == 0)
			known = true;
	if (!known)
		ereport(ERROR,
		        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		         errmsg("unknown address field \"%s\"", field),
		         errhint("Use one of From, Sender, Reply-To, To, Cc, Bcc or "
		                 "Return-Path.")));

	spamlab_srf_begin(fcinfo);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "spamlab addresses",
	                                ALLOCSET_DEFAULT_SIZES);
	hdr_iter_init(&it, VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw));
	while (hdr_iter_next(&it, &f))
	{
		struct addr_ctx c = {NIL, false};
		char *u;
		size_t n;

		if (!hdr_name_is(&f, field))
			continue;
		old = MemoryContextSwitchTo(scratch);
		u = palloc(f.value_len + 1);
		n = hdr_unfold(f.value, f.value_len, u);
		u[n] = '\0';
		addr_parse(u, n, collect_mailbox, &c);
		if (!c.any_at && strstr(u, "=?") != NULL)
		{
			/* the whole mailbox hidden in an encoded word: decode, retry */
			struct addr_ctx d = {NIL, false};
			char *dec = mime_decode_header(u, n, false);

			addr_parse(dec, strlen(dec), collect_mailbox, &d);
			if (d.any_at)
				c = d;
		}
		for (int k = 0; k < list_length(c.rows); k++)
			put_mailbox(rsinfo, list_nth(c.rows, k));
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);
	return (Datum)0;
}
