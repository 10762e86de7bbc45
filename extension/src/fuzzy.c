/*
 * fuzzy.c: context-triggered piecewise hashes (ssdeep, via libfuzzy), to
 * group spam campaigns whose bodies differ in a few bytes.
 */
#include "postgres.h"

#include <fuzzy.h>

#include "fmgr.h"
#include "utils/builtins.h"

/* libfuzzy takes a 32-bit length */
#define FUZZY_INPUT_MAX ((Size)PG_INT32_MAX)

static text *
fuzzy_hash_bytes(const char *data, Size len)
{
	char result[FUZZY_MAX_RESULT];

	if (len > FUZZY_INPUT_MAX)
		ereport(ERROR,
		        (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
		         errmsg("input too large for fuzzy_hash: %zu bytes", len)));
	if (fuzzy_hash_buf((const unsigned char *)data, (uint32)len, result) != 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
		                errmsg("libfuzzy could not hash the input")));
	return cstring_to_text(result);
}

/* spamlab.fuzzy_hash(text): the ssdeep signature of a text. */
PG_FUNCTION_INFO_V1(fuzzy_hash);
Datum
fuzzy_hash(PG_FUNCTION_ARGS)
{
	text *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(fuzzy_hash_bytes(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* spamlab.fuzzy_hash(bytea): the ssdeep signature of raw bytes. */
PG_FUNCTION_INFO_V1(fuzzy_hash_bytea);
Datum
fuzzy_hash_bytea(PG_FUNCTION_ARGS)
{
	bytea *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_TEXT_P(fuzzy_hash_bytes(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

/*
 * A signature from fuzzy_hash(): "blocksize:hash1:hash2" with a decimal
 * block size and base64 hashes.  Checked here because libfuzzy's parser
 * trusts its input.
 */
static bool
fuzzy_signature_ok(const char *s, Size len)
{
	Size i = 0;
	int colons = 0;

	if (len == 0 || len >= FUZZY_MAX_RESULT)
		return false;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i > 10 || i >= len || s[i] != ':')
		return false;
	for (; i < len; i++)
	{
		char c = s[i];

		if (c == ':')
			colons++;
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		           (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return colons == 2;
}

static char *
fuzzy_signature_arg(text *t, const char *which)
{
	char *s = text_to_cstring(t);

	if (!fuzzy_signature_ok(s, strlen(s)))
		ereport(ERROR,
		        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		         errmsg("invalid fuzzy hash signature in %s: \"%s\"", which, s),
		         errhint("Pass signatures made by spamlab.fuzzy_hash().")));
	return s;
}

/*
 * spamlab.fuzzy_compare(a, b): similarity of two signatures, 0 (nothing in
 * common) to 100 (identical or nearly so).
 */
PG_FUNCTION_INFO_V1(spamlab_fuzzy_compare);
Datum
spamlab_fuzzy_compare(PG_FUNCTION_ARGS)
{
	char *a = fuzzy_signature_arg(PG_GETARG_TEXT_PP(0), "first argument");
	char *b = fuzzy_signature_arg(PG_GETARG_TEXT_PP(1), "second argument");
	int score = fuzzy_compare(a, b);

	if (score < 0)
		ereport(ERROR,
		        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		         errmsg("libfuzzy could not compare \"%s\" and \"%s\"", a, b)));
	PG_RETURN_INT32(score);
}
