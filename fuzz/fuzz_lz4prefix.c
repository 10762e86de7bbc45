/*
 * fuzz_lz4prefix.c: what extension/src/msgarg.c assumes of the lz4 library
 * it links, when it decodes the header prefix of a toasted message from a
 * cut copy of the compressed bytes:
 *
 *   - LZ4_decompress_safe_partial on input cut anywhere yields a correct
 *     prefix of the data (possibly shorter than asked) or fails; never
 *     wrong bytes;
 *   - LZ4_COMPRESSBOUND(n) + size/255 + 16 compressed bytes always decode
 *     to the first n bytes (a literal run's length bytes come before it).
 *
 * The input's first four bytes seed the choice of 16 (prefix length, cut)
 * pairs; the rest is compressed as PostgreSQL compresses a value
 * (LZ4_compress_default).
 */
#include <lz4.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data + 4;
	int n, cap, cn, want, cut, got, bound;
	uint32_t seed;
	char *c, *out;

	if (size < 5 || size > (1 << 20))
		return 0;
	n = (int)size - 4;
	cap = LZ4_compressBound(n);
	c = malloc(cap);
	out = malloc(n);
	cn = LZ4_compress_default(src, c, n, cap);
	if (cn <= 0)
		abort();
	seed = data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24;
	for (int k = 0; k < 16; k++)
	{
		seed = seed * 1103515245u + 12345u;
		want = 1 + (int)(seed % (uint32_t)n);
		seed = seed * 1103515245u + 12345u;
		cut = 1 + (int)(seed % (uint32_t)cn);

		got = LZ4_decompress_safe_partial(c, out, cut, want, want);
		if (got > want || (got > 0 && memcmp(out, src, got) != 0))
			abort();

		bound = LZ4_COMPRESSBOUND(want) + n / 255 + 16;
		got = LZ4_decompress_safe_partial(c, out, bound < cn ? bound : cn, want,
		                                  want);
		if (got != want || memcmp(out, src, want) != 0)
			abort();
	}
	free(c);
	free(out);
	return 0;
}
