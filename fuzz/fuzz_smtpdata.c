/*
 * fuzz_smtpdata.c: ingestd's DATA decoder and spool record decoder on
 * arbitrary bytes.  The decoder must give the same result fed whole or in
 * two pieces and never write more than it may; the spool decoder must
 * refuse or accept without reading outside its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotstuff.h"
#include "spool.h"
#include "spoolrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dotstuff a, b;
	char *out1 = malloc(size + 2), *out2 = malloc(size + 4);
	size_t n1, n2a, n2b, used1, used2;
	size_t cut = size ? data[0] % (size + 1) : 0;
	struct spoolrec rec;

	dotstuff_init(&a);
	used1 = dotstuff_feed(&a, (const char *)data, size, out1, &n1);
	if (used1 > size || n1 > used1)
		abort();

	dotstuff_init(&b);
	used2 = dotstuff_feed(&b, (const char *)data, cut, out2, &n2a);
	if (!b.done)
		used2 += dotstuff_feed(&b, (const char *)data + cut, size - cut,
		                       out2 + n2a, &n2b);
	else
		n2b = 0;
	if (used1 != used2 || a.done != b.done || n1 != n2a + n2b ||
	    memcmp(out1, out2, n1) != 0)
		abort();
	free(out1);
	free(out2);

	for (uint32_t type = SPOOL_REC_MESSAGE; type <= SPOOL_REC_RELAY; type++)
	{
		if (!spoolrec_decode(data, size, type, &rec))
			continue;
		for (size_t i = 0; i < rec.msg.n_rcpt; i++)
			if (strlen(rec.msg.rcpt_to[i]) >= size)
				abort();
		for (size_t i = 0; i < rec.ses.n_commands; i++)
			if (rec.ses.commands[i].text_len > size)
				abort();
		if (type == SPOOL_REC_RELAY &&
		    (strlen(rec.relay.rule) >= size ||
		     strlen(rec.relay.decision) >= size ||
		     rec.relay.status > RELAY_STATUS_INTERRUPTED))
			abort();
		spoolrec_free(&rec);
	}
	return 0;
}
