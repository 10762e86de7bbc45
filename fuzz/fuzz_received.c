/*
 * fuzz_received.c: the Received parser on arbitrary bytes, both as one
 * header value and over every Received field of a message.  Every span it
 * returns must lie inside the input; the status and TLS values must be in
 * range; address parsing must agree with itself.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hdrscan.h"
#include "rcvd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_span(struct rcvd_span s, const char *buf, size_t size)
{
	if (s.p == NULL)
	{
		if (s.n != 0)
			abort();
		return;
	}
	if (s.p < buf || s.p + s.n > buf + size || s.n == 0)
		abort();
}

static void
check_hop(const char *buf, size_t size)
{
	struct rcvd_hop h;

	rcvd_parse(buf, size, &h);
	check_span(h.from_helo, buf, size);
	check_span(h.from_rdns, buf, size);
	check_span(h.from_ident, buf, size);
	check_span(h.by_host, buf, size);
	check_span(h.protocol, buf, size);
	check_span(h.auth, buf, size);
	check_span(h.queue_id, buf, size);
	check_span(h.envelope_from, buf, size);
	check_span(h.envelope_for, buf, size);
	if (h.status > RCVD_LOCAL || h.tls < -1 || h.tls > 1)
		abort();
	if (h.ip.family != 0 && h.ip.family != 4 && h.ip.family != 6)
		abort();
	if (h.status == RCVD_OK && (h.ip.family == 0 || h.by_host.p == NULL))
		abort();
	(void)rcvd_ip_is_private(&h.ip);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct hdr_iter it;
	struct hdr_field f;
	struct rcvd_ip ip;

	check_hop(buf, size);
	if (rcvd_ip_find(buf, size, &ip) && ip.family != 4 && ip.family != 6)
		abort();
	hdr_iter_init(&it, buf, size);
	while (hdr_iter_next(&it, &f))
	{
		char *out;
		size_t n;

		if (!hdr_name_is(&f, "received"))
			continue;
		out = malloc(f.value_len + 1);
		n = hdr_unfold(f.value, f.value_len, out);
		check_hop(out, n);
		free(out);
	}
	return 0;
}
