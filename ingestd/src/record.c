/*
 * record.c: helpers over message and session records.
 */
#include "record.h"

#include <openssl/evp.h>
#include <string.h>

void
record_content_id(struct uuid7 *out, int64_t received_at, const uint8_t *raw,
                  size_t raw_len)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	uint64_t ms = (uint64_t)(received_at < 0 ? 0 : received_at / 1000);

	if (!EVP_Digest(raw, raw_len, h, &hlen, EVP_sha256(), NULL) || hlen < 10)
		memset(h, 0, sizeof(h)); /* only on OpenSSL failure */
	for (int i = 0; i < 6; i++)
		out->b[i] = (uint8_t)(ms >> (40 - 8 * i));
	out->b[6] = (uint8_t)(0x70 | (h[0] & 0x0f));
	out->b[7] = h[1];
	out->b[8] = (uint8_t)(0x80 | (h[2] & 0x3f));
	memcpy(&out->b[9], &h[3], 7);
}
