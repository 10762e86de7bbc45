/*
 * msgarg.c: the header block of a message argument, without its body.
 *
 * Functions that read only headers (parse_received, header, addresses...)
 * should not pay for detoasting a 10 MB message.  PostgreSQL's own slice
 * fetch stops early for uncompressed and pglz values, but for an
 * out-of-line lz4 value it reads every chunk of the compressed datum
 * before decompressing the slice, because lz4 has no bound on how much
 * input a prefix needs.  It nearly has one: an lz4 block spends at most
 * LZ4_COMPRESSBOUND(n) input bytes on its first n output bytes (literals
 * cost a byte each plus a length byte per 255; a match costs three bytes
 * and yields at least four), except that a literal run starting inside
 * the prefix puts all its length bytes first, up to one per 255 bytes of
 * the whole value.  So for those values we fetch that many stored bytes
 * ourselves and decode them with LZ4_decompress_safe_partial, which stops
 * at the target and, on input cut mid-sequence, yields a correct shorter
 * prefix or fails (fuzz/fuzz_lz4prefix.c checks both claims against the
 * lz4 we link).  Any shortfall or decode error falls back to PostgreSQL's
 * slice fetch, which also reports genuinely corrupt data.
 */
#include "postgres.h"

#include <lz4.h>

#include "access/detoast.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/toast_compression.h"
#include "fmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hdrscan.h"
#include "spamlab.h"

/* Decode the first outn bytes from the first fetch stored bytes. */
static struct varlena *
lz4_try_prefix(Relation toastrel, const struct varatt_external *tp, int32 fetch,
               int32 outn)
{
	struct varlena *c = (struct varlena *)palloc(fetch + VARHDRSZ);
	struct varlena *out = (struct varlena *)palloc(outn + VARHDRSZ);
	int got;

	SET_VARSIZE(c, fetch + VARHDRSZ);
	table_relation_fetch_toast_slice(toastrel, tp->va_valueid,
	                                 VARATT_EXTERNAL_GET_EXTSIZE(*tp), 0, fetch,
	                                 c);
	/* the stored bytes start with the 4-byte size/method word */
	got = LZ4_decompress_safe_partial(VARDATA(c) + 4, VARDATA(out), fetch - 4,
	                                  outn, outn);
	pfree(c);
	if (got != outn)
	{
		pfree(out);
		return NULL;
	}
	SET_VARSIZE(out, outn + VARHDRSZ);
	return out;
}

/*
 * The first want bytes of an out-of-line lz4 value, or NULL.  First try
 * LZ4_COMPRESSBOUND(want) stored bytes, enough unless a long literal run
 * begins inside the prefix: its length bytes (one per 255 literals) all
 * come before its first literal.  Then try with room for the longest run
 * the value can hold.
 */
static struct varlena *
lz4_external_prefix(const struct varatt_external *tp, int32 want)
{
	int32 extsize = VARATT_EXTERNAL_GET_EXTSIZE(*tp);
	int32 rawsize = tp->va_rawsize - VARHDRSZ;
	int32 outn = Min(want, rawsize);
	int32 fetch[2], prev = 0;
	struct varlena *res = NULL;
	Relation toastrel;

	if (outn <= 0)
		return NULL;
	fetch[0] = LZ4_COMPRESSBOUND(outn) + 4;
	fetch[1] = fetch[0] + rawsize / 255 + 16;
	toastrel = table_open(tp->va_toastrelid, AccessShareLock);
	for (int i = 0; i < 2 && res == NULL && prev < extsize; i++)
	{
		prev = Min(fetch[i], extsize);
		res = lz4_try_prefix(toastrel, tp, prev, outn);
	}
	table_close(toastrel, AccessShareLock);
	return res;
}

/* The first want bytes of a (possibly toasted) value, uncompressed. */
static struct varlena *
value_prefix(struct varlena *v, int32 want)
{
	if (VARATT_IS_EXTERNAL_ONDISK(v))
	{
		struct varatt_external tp;

		VARATT_EXTERNAL_GET_POINTER(tp, v);
		if (VARATT_EXTERNAL_IS_COMPRESSED(tp) &&
		    VARATT_EXTERNAL_GET_COMPRESS_METHOD(tp) == TOAST_LZ4_COMPRESSION_ID)
		{
			struct varlena *p = lz4_external_prefix(&tp, want);

			if (p != NULL)
				return p;
			/* never seen on sound data; tests/test_header_prefix.py
			 * asserts that */
			elog(DEBUG1,
			     "spamlab: lz4 prefix of toast value %u fell back "
			     "to a full fetch",
			     tp.va_valueid);
		}
	}
	return detoast_attr_slice(v, 0, want);
}

/* Does [p, p+n) hold an empty line?  One ends any header block. */
static bool
has_empty_line(const char *p, size_t n)
{
	const char *e = p + n, *q = p;

	if (n > 0 && (p[0] == '\n' || (n > 1 && p[0] == '\r' && p[1] == '\n')))
		return true;
	while ((q = memchr(q, '\n', e - q)) != NULL)
	{
		if (++q < e &&
		    (*q == '\n' || (*q == '\r' && q + 1 < e && q[1] == '\n')))
			return true;
	}
	return false;
}

/*
 * The header block of message argument argno: the value itself when it is
 * stored plainly, else growing prefixes (4 kB, 16 kB, ...) until one holds
 * the whole header block (its last line is complete) or the whole value.
 * Only the bytes up to the header block's end may be relied on.
 */
struct varlena *
msg_header_arg(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *v = (struct varlena *)PG_GETARG_POINTER(argno);
	int32 want = 4 * 1024;

	if (!VARATT_IS_EXTENDED(v))
		return v;
	if (!VARATT_IS_EXTERNAL(v) && !VARATT_IS_COMPRESSED(v))
		return PG_GETARG_VARLENA_PP(argno); /* short header: as is */
	for (;;)
	{
		struct varlena *b = value_prefix(v, want);
		const char *p = VARDATA_ANY(b);
		size_t n = VARSIZE_ANY_EXHDR(b), off;

		if (n < (size_t)want || want >= MaxAllocSize / 4)
			return b; /* the whole value */
		if (has_empty_line(p, n))
			return b;
		/* the block may end at a line that is not a field */
		off = hdr_body_offset(p, n);
		if (off < n && memchr(p + off, '\n', n - off) != NULL)
			return b;
		pfree(b);
		want *= 4;
	}
}
