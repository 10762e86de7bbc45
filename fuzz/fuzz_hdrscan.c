/*
 * fuzz_hdrscan.c: the header scanner on arbitrary bytes.  Every field it
 * returns must lie inside the input, and unfolding never grows a value.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hdrscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct hdr_iter it;
	struct hdr_field f;
	size_t body;

	hdr_iter_init(&it, buf, size);
	while (hdr_iter_next(&it, &f))
	{
		char *out;
		size_t n;

		if (f.name < buf || f.name + f.name_len > buf + size || f.value < buf ||
		    f.value + f.value_len > buf + size)
			abort();
		out = malloc(f.value_len + 1);
		n = hdr_unfold(f.value, f.value_len, out);
		if (n > f.value_len)
			abort();
		free(out);
		(void)hdr_name_is(&f, "received");
	}
	body = hdr_body_offset(buf, size);
	if (body > size)
		abort();
	return 0;
}
