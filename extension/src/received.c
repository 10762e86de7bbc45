/*
 * received.c: SQL functions over the Received trace and the Date header.
 *
 *   parse_received(raw bytea) -> SETOF received_hop
 *   parse_received_header(value text) -> received_hop
 *   origin_ip(raw bytea, trusted cidr[]) -> inet
 *   mail_date(raw bytea) -> timestamptz
 *   parse_mail_date(value text) -> timestamptz
 *
 * The parsing is done by the pure C cores rcvd.c and maildate.c; this file
 * finds the headers (hdrscan.c), builds rows and makes every text valid in
 * the database encoding.  Mail from the wild never raises an ERROR here.
 */
#include "postgres.h"

#include <sys/socket.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "hdrscan.h"
#include "maildate.h"
#include "rcvd.h"
#include "spamlab.h"

#define HOP_NATTS 16

/*
 * Text from bytes of unknown encoding, valid in the database encoding:
 * in a UTF-8 database each invalid byte becomes U+FFFD; in other encodings
 * a value that does not verify has its non-ASCII bytes replaced by '?'.
 * NUL bytes become spaces.
 */
static text *
safe_text(const char *p, size_t n)
{
	int enc = GetDatabaseEncoding();
	StringInfoData b;
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80 || p[i] == '\0')
			break;
	if (i == n)
		return cstring_to_text_with_len(p, n);

	initStringInfo(&b);
	appendBinaryStringInfo(&b, p, i);
	if (enc == PG_UTF8)
	{
		while (i < n)
		{
			unsigned char c = (unsigned char)p[i];

			if (c == '\0')
			{
				appendStringInfoChar(&b, ' ');
				i++;
			}
			else if (c < 0x80)
			{
				appendStringInfoChar(&b, (char)c);
				i++;
			}
			else
			{
				int len = pg_utf_mblen((const unsigned char *)p + i);

				if (i + len <= n &&
				    pg_utf8_islegal((const unsigned char *)p + i, len))
				{
					appendBinaryStringInfo(&b, p + i, len);
					i += len;
				}
				else
				{
					appendBinaryStringInfo(&b, "\xEF\xBF\xBD", 3);
					i++;
				}
			}
		}
	}
	else
	{
		bool ok = enc == PG_SQL_ASCII ||
		          pg_verify_mbstr(enc, p + i, (int)(n - i), true);

		for (; i < n; i++)
		{
			char c = p[i];

			if (c == '\0')
				c = ' ';
			else if (!ok && (unsigned char)c >= 0x80)
				c = '?';
			appendStringInfoChar(&b, c);
		}
	}
	return cstring_to_text_with_len(b.data, b.len);
}

/* Is every byte of [p, p+n) ASCII and not NUL? */
static bool
plain_ascii(const char *p, size_t n)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 high = UINT64CONST(0x8080808080808080);
	uint64 bad = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64 x;

		memcpy(&x, p + i, 8);
		bad |= (x & high) | ((x - ones) & ~x & high);
	}
	for (; i < n; i++)
		bad |= (unsigned char)p[i] >= 0x80 || p[i] == '\0';
	return bad == 0;
}

/* A text column from a span; ascii: the whole value was plain_ascii(). */
static void
span_datum(struct rcvd_span s, bool ascii, Datum *v, bool *isnull)
{
	if (s.p == NULL)
		*isnull = true;
	else if (ascii)
		*v = PointerGetDatum(cstring_to_text_with_len(s.p, s.n));
	else
		*v = PointerGetDatum(safe_text(s.p, s.n));
}

/* An inet datum (a host address, full prefix) from a parsed address. */
static Datum
ip_datum(const struct rcvd_ip *ip)
{
	inet *res = (inet *)palloc0(sizeof(inet));

	if (ip->family == 4)
	{
		ip_family(res) = PGSQL_AF_INET;
		ip_bits(res) = 32;
		memcpy(ip_addr(res), ip->addr, 4);
	}
	else
	{
		ip_family(res) = PGSQL_AF_INET6;
		ip_bits(res) = 128;
		memcpy(ip_addr(res), ip->addr, 16);
	}
	SET_INET_VARSIZE(res);
	return InetPGetDatum(res);
}

/* Unix seconds to timestamptz; false when out of PostgreSQL's range. */
static bool
unix_to_timestamptz(int64 secs, TimestampTz *out)
{
	int64 off = (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;

	*out = (secs - off) * USECS_PER_SEC;
	return IS_VALID_TIMESTAMP(*out);
}

static const char *const status_names[] = {"unparsed", "partial", "ok",
                                           "local"};

/* The columns of spamlab.received_hop for one parsed hop. */
static void
hop_values(const struct rcvd_hop *h, const char *raw, size_t rawn, int hop,
           Datum *v, bool *isnull)
{
	TimestampTz ts;
	bool ascii = plain_ascii(raw, rawn);

	memset(isnull, 0, sizeof(bool) * HOP_NATTS);
	if (hop > 0)
		v[0] = Int32GetDatum(hop);
	else
		isnull[0] = true;
	v[1] = PointerGetDatum(ascii ? cstring_to_text_with_len(raw, rawn)
	                             : safe_text(raw, rawn));
	v[2] = CStringGetTextDatum(status_names[h->status]);
	span_datum(h->from_helo, ascii, &v[3], &isnull[3]);
	span_datum(h->from_rdns, ascii, &v[4], &isnull[4]);
	if (h->ip.family)
		v[5] = ip_datum(&h->ip);
	else
		isnull[5] = true;
	span_datum(h->from_ident, ascii, &v[6], &isnull[6]);
	span_datum(h->by_host, ascii, &v[7], &isnull[7]);
	span_datum(h->protocol, ascii, &v[8], &isnull[8]);
	if (h->tls >= 0)
		v[9] = BoolGetDatum(h->tls == 1);
	else
		isnull[9] = true;
	span_datum(h->auth, ascii, &v[10], &isnull[10]);
	span_datum(h->queue_id, ascii, &v[11], &isnull[11]);
	span_datum(h->envelope_from, ascii, &v[12], &isnull[12]);
	span_datum(h->envelope_for, ascii, &v[13], &isnull[13]);
	if (h->date_valid && unix_to_timestamptz(h->date, &ts))
		v[14] = TimestampTzGetDatum(ts);
	else
		isnull[14] = true;
	if (h->ip.family)
		v[15] = BoolGetDatum(rcvd_ip_is_private(&h->ip));
	else
		isnull[15] = true;
}

/* Unfold a header value into fresh palloc'd memory; returns its length. */
static size_t
unfold(const char *v, size_t n, char **out)
{
	*out = palloc(n + 1);
	return hdr_unfold(v, n, *out);
}

/*
 * A per-hop scratch context that lives as long as the function's FmgrInfo
 * (the query), so a call on every row does not create and delete one.
 */
static MemoryContext
hop_context(FunctionCallInfo fcinfo)
{
	MemoryContext *cache = (MemoryContext *)fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
		                               sizeof(MemoryContext));
		*cache = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "spamlab hop",
		                               ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = cache;
	}
	return *cache;
}

/* spamlab.parse_received(raw bytea): one row per Received header. */
PG_FUNCTION_INFO_V1(parse_received);
Datum
parse_received(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	MemoryContext scratch, old;
	TupleDesc desc;
	struct hdr_iter it;
	struct hdr_field f;
	int hop = 0;

	spamlab_srf_begin(fcinfo);
	desc = spamlab_srf_desc(rsinfo);
	scratch = hop_context(fcinfo);
	hdr_iter_init(&it, VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw));
	while (hdr_iter_next(&it, &f))
	{
		Datum v[HOP_NATTS];
		bool isnull[HOP_NATTS];
		struct rcvd_hop h;
		char *buf;
		size_t n;

		if (!hdr_name_is(&f, "received"))
			continue;
		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(scratch);
		n = unfold(f.value, f.value_len, &buf);
		rcvd_parse(buf, n, &h);
		hop_values(&h, buf, n, ++hop, v, isnull);
		tuplestore_putvalues(rsinfo->setResult, desc, v, isnull);
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
	}
	return (Datum)0;
}

/* spamlab.parse_received_header(value text): one Received value. */
PG_FUNCTION_INFO_V1(parse_received_header);
Datum
parse_received_header(PG_FUNCTION_ARGS)
{
	text *value = PG_GETARG_TEXT_PP(0);
	TupleDesc desc;
	Datum v[HOP_NATTS];
	bool isnull[HOP_NATTS];
	struct rcvd_hop h;
	char *buf;
	size_t n;

	/* the blessed row type, looked up once per query */
	desc = (TupleDesc)fcinfo->flinfo->fn_extra;
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = desc;
	}
	n = unfold(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), &buf);
	rcvd_parse(buf, n, &h);
	hop_values(&h, buf, n, 0, v, isnull);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, v, isnull)));
}

/* Is ip inside one of the networks of a cidr[] (NULL elements skipped)? */
static bool
ip_in_nets(const struct rcvd_ip *ip, Datum *nets, bool *nulls, int nnets)
{
	int fam = ip->family == 4 ? PGSQL_AF_INET : PGSQL_AF_INET6;

	for (int i = 0; i < nnets; i++)
	{
		inet *net;
		int bits, whole;

		if (nulls[i])
			continue;
		net = DatumGetInetPP(nets[i]);
		if (ip_family(net) != fam)
			continue;
		bits = ip_bits(net);
		whole = bits / 8;
		if (memcmp(ip_addr(net), ip->addr, whole) != 0)
			continue;
		if (bits % 8)
		{
			unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));

			if ((ip_addr(net)[whole] & mask) != (ip->addr[whole] & mask))
				continue;
		}
		return true;
	}
	return false;
}

/* Headers that carry a webmail or submission client's address. */
static const char *const origin_headers[] = {
    "x-originating-ip",  "x-sender-ip", "x-senderip", "x-yahoo-post-ip",
    "x-apparently-from", "x-real-ip",   NULL,
};

/*
 * spamlab.origin_ip(raw bytea, trusted cidr[]): walking the Received trace
 * from the top, the first client address that is neither private/reserved
 * nor inside a trusted network; failing that, the first such address in an
 * X-Originating-IP-like header; NULL when there is none.
 */
PG_FUNCTION_INFO_V1(origin_ip);
Datum
origin_ip(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	ArrayType *trusted = PG_GETARG_ARRAYTYPE_P(1);
	const char *data = VARDATA_ANY(raw);
	size_t len = VARSIZE_ANY_EXHDR(raw);
	Datum *nets;
	bool *nulls;
	int nnets;
	struct hdr_iter it;
	struct hdr_field f;
	struct rcvd_ip found = {0};
	MemoryContext scratch, old;

	if (ARR_NDIM(trusted) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
		                errmsg("trusted networks must be a one-dimensional "
		                       "array"),
		                errhint("Pass the networks as a cidr[] such as "
		                        "'{10.0.0.0/8,192.0.2.0/24}'.")));
	deconstruct_array(trusted, CIDROID, -1, false, TYPALIGN_INT, &nets, &nulls,
	                  &nnets);
	scratch = hop_context(fcinfo);
	old = MemoryContextSwitchTo(scratch);
	for (int pass = 0; pass < 2 && found.family == 0; pass++)
	{
		hdr_iter_init(&it, data, len);
		while (found.family == 0 && hdr_iter_next(&it, &f))
		{
			struct rcvd_ip ip = {0};
			char *buf;
			size_t n;

			if (pass == 0)
			{
				struct rcvd_hop h;

				if (!hdr_name_is(&f, "received"))
					continue;
				n = unfold(f.value, f.value_len, &buf);
				rcvd_parse(buf, n, &h);
				if (h.status != RCVD_LOCAL)
					ip = h.ip;
			}
			else
			{
				bool want = false;

				for (int i = 0; origin_headers[i]; i++)
					want = want || hdr_name_is(&f, origin_headers[i]);
				if (!want)
					continue;
				n = unfold(f.value, f.value_len, &buf);
				rcvd_ip_find(buf, n, &ip);
			}
			if (ip.family && !rcvd_ip_is_private(&ip) &&
			    !ip_in_nets(&ip, nets, nulls, nnets))
				found = ip;
			MemoryContextReset(scratch);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(scratch);
	if (found.family == 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(ip_datum(&found));
}

/* The timestamptz of a date string, or NULL. */
static Datum
date_datum(const char *p, size_t n, bool *isnull)
{
	int64_t secs;
	TimestampTz ts;

	if (maildate_parse(p, n, &secs) && unix_to_timestamptz(secs, &ts))
	{
		*isnull = false;
		return TimestampTzGetDatum(ts);
	}
	*isnull = true;
	return (Datum)0;
}

/* spamlab.mail_date(raw bytea): the first Date header, leniently parsed. */
PG_FUNCTION_INFO_V1(mail_date);
Datum
mail_date(PG_FUNCTION_ARGS)
{
	struct varlena *raw = msg_header_arg(fcinfo, 0);
	struct hdr_iter it;
	struct hdr_field f;

	hdr_iter_init(&it, VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw));
	while (hdr_iter_next(&it, &f))
		if (hdr_name_is(&f, "date"))
		{
			bool isnull;
			Datum d = date_datum(f.value, f.value_len, &isnull);

			if (isnull)
				PG_RETURN_NULL();
			PG_RETURN_DATUM(d);
		}
	PG_RETURN_NULL();
}

/* spamlab.parse_mail_date(value text): the lenient date parser alone. */
PG_FUNCTION_INFO_V1(parse_mail_date);
Datum
parse_mail_date(PG_FUNCTION_ARGS)
{
	text *value = PG_GETARG_TEXT_PP(0);
	bool isnull;
	Datum d = date_datum(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(d);
}
