/*
 * fuzz_maildate.c: the lenient date parser on arbitrary bytes.  A parsed
 * date must lie in the years the parser accepts (1000-9999, give or take
 * a zone offset), parsing must be deterministic, and whatever the
 * RFC 5322 fast path accepts the lenient parser must read the same.
 */
#include <stdint.h>
#include <stdlib.h>

#include "maildate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t a = 0, b = 0;
	bool ok = maildate_parse((const char *)data, size, &a);

	if (ok != maildate_parse((const char *)data, size, &b) || (ok && a != b))
		abort();
	if (maildate_parse_strict((const char *)data, size, &a) &&
	    (!maildate_parse_lenient((const char *)data, size, &b) || a != b))
		abort();
	/* 1000-01-01 minus a day .. 9999-12-31 plus a day */
	if (ok && (a < -30610310400LL || a > 253402387200LL))
		abort();
	return 0;
}
