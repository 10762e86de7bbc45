/*
 * test_rdns.c: the PTR name as stored, and a session record from a spool
 * written before sql/025 (no rdns fields) replayed by this version.
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "rdns.h"
#include "record.h"
#include "spool.h"
#include "spoolrec.h"
#include "unit.h"

static void
test_rdns_names(void)
{
	static const struct
	{
		const char *in, *want;
		bool valid;
	} cases[] = {
	    {"dsl-1-2-3-4.ISP.Example.", "dsl-1-2-3-4.isp.example", true},
	    {"mail.example.com", "mail.example.com", true},
	    {"host.example..", "host.example", true}, /* every trailing dot */
	    {"_dmarc-like_.example", "_dmarc-like_.example", true},
	    {"localhost", "localhost", true},
	    {"", "", false},
	    {".", "", false},
	    {"a..b", "a..b", false}, /* empty label */
	    {".lead.example", ".lead.example", false},
	    {"bad name.example", "bad?name.example", false},
	    {"tab\there", "tab?here", false},
	    {"h\xc3\xa9.example", "h??.example", false}, /* not ASCII */
	    {"q\"uote.example", "q\"uote.example", false},
	    {"[192.0.2.1]", "[192.0.2.1]", false}, /* bracket forgery */
	    {"host.example (may be forged)", "host.example?(may?be?forged)", false},
	};
	char out[RDNS_NAME_MAX], label64[80], big[600];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		bool v = rdns_normalize_name(cases[i].in, out);

		CHECK_MSG(v == cases[i].valid && strcmp(out, cases[i].want) == 0,
		          "\"%s\": got \"%s\" valid=%d", cases[i].in, out, v);
	}
	/* a 64-byte label is too long; 63 is fine */
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".example");
	CHECK(!rdns_normalize_name(label64, out));
	CHECK(rdns_normalize_name(label64 + 1, out));
	/* longer than a DNS name: cut, never overflowing, and invalid */
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (size_t k = 60; k < sizeof(big) - 1; k += 61)
		big[k] = '.';
	CHECK(!rdns_normalize_name(big, out));
	CHECK(strlen(out) == RDNS_NAME_MAX - 1);
	/* cut right after a dot: no trailing dot either (found by fuzz_rdns) */
	big[RDNS_NAME_MAX - 2] = '.';
	CHECK(!rdns_normalize_name(big, out));
	CHECK(strlen(out) == RDNS_NAME_MAX - 2 && out[strlen(out) - 1] != '.');

	CHECK(strcmp(rdns_status_name(RDNS_CONFIRMED), "confirmed") == 0);
	CHECK(strcmp(rdns_status_name(RDNS_UNCONFIRMED), "unconfirmed") == 0);
	CHECK(strcmp(rdns_status_name(RDNS_NONE), "none") == 0);
	CHECK(strcmp(rdns_status_name(RDNS_TIMEOUT), "timeout") == 0);
	CHECK(strcmp(rdns_status_name(RDNS_ERROR), "error") == 0);
	CHECK(strcmp(rdns_status_name((enum rdns_status)99), "error") == 0);

	CHECK(rdns_nameservers_valid("", out, sizeof(out)));
	CHECK(rdns_nameservers_valid("127.0.0.1:5353, [::1]:53,192.0.2.1", out,
	                             sizeof(out)));
	CHECK(!rdns_nameservers_valid("ns.example:53", out, sizeof(out)));
	CHECK(!rdns_nameservers_valid("127.0.0.1,,", out, sizeof(out)));
}

/* A little-endian spool field: tag, u32 length, bytes. */
static size_t
put(uint8_t *p, uint8_t tag, const void *v, uint32_t len)
{
	p[0] = tag;
	for (int i = 0; i < 4; i++)
		p[1 + i] = (uint8_t)(len >> (8 * i));
	memcpy(p + 5, v, len);
	return 5 + len;
}

static int32_t
be32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	                 (uint32_t)p[2] << 8 | p[3]);
}

/* The field count and the length word of field k of a one-tuple buffer. */
static int32_t
tuple_field_len(const struct copybuf *b, int k, int *nfields)
{
	size_t pos = 2;

	*nfields = (int16_t)(b->data[0] << 8 | b->data[1]);
	for (int i = 0; i < k; i++)
	{
		int32_t l = be32(b->data + pos);

		pos += 4 + (l > 0 ? (size_t)l : 0);
	}
	return be32(b->data + pos);
}

static void
test_rdns_old_spool(void)
{
	/* a session payload exactly as the version before sql/025 wrote it:
	 * tags 1 id, 17 started_at, 18 ended_at, 8 peer_ip, 19 reason */
	uint8_t old[256], id[16];
	int64_t t1 = 1000, t2 = 2000;
	size_t n = 0;
	struct spoolrec d;
	struct copybuf b;
	struct evbuffer *e;
	struct session_record s = {0};
	int nf;

	memset(id, 7, 16);
	n += put(old + n, 1, id, 16);
	n += put(old + n, 17, &t1, 8);
	n += put(old + n, 18, &t2, 8);
	n += put(old + n, 8, "192.0.2.9", 10);
	n += put(old + n, 19, "quit", 5);
	CHECK(spoolrec_decode(old, n, SPOOL_REC_SESSION, &d));
	CHECK(d.ses.rdns == NULL && d.ses.rdns_status == NULL);
	CHECK(strcmp(d.ses.disconnect_reason, "quit") == 0);
	/* both tuples carry the new columns, NULL (length -1) */
	copybuf_init(&b);
	CHECK(record_encode_session(&b, &d.ses));
	CHECK(tuple_field_len(&b, RECORD_SESSION_RDNS + 1, &nf) == -1);
	CHECK(nf == RECORD_SESSION_FIELDS);
	CHECK(tuple_field_len(&b, RECORD_SESSION_RDNS, &nf) == -1);
	copybuf_free(&b);
	{
		size_t co, ao;

		copybuf_init(&b);
		CHECK(record_encode_session_direct(&b, &d.ses, &co, &ao));
		CHECK(tuple_field_len(&b, RECORD_SESSION_DIRECT_FIELDS - 1, &nf) == -1);
		CHECK(nf == RECORD_SESSION_DIRECT_FIELDS);
		copybuf_free(&b);
	}
	spoolrec_free(&d);

	/* this version writes and reads them back */
	memset(s.id.b, 8, 16);
	s.started_at = 1;
	s.ended_at = 2;
	s.peer_port = -1;
	s.rdns = "dsl-1-2-3-4.isp.example";
	s.rdns_status = "confirmed";
	e = evbuffer_new();
	CHECK(e && spoolrec_encode_session(e, &s));
	if (e)
	{
		size_t len = evbuffer_get_length(e);
		uint8_t *flat = malloc(len);

		evbuffer_remove(e, flat, len);
		CHECK(spoolrec_decode(flat, len, SPOOL_REC_SESSION, &d));
		CHECK(d.ses.rdns && strcmp(d.ses.rdns, s.rdns) == 0);
		CHECK(d.ses.rdns_status && strcmp(d.ses.rdns_status, "confirmed") == 0);
		copybuf_init(&b);
		CHECK(record_encode_session(&b, &d.ses));
		CHECK(tuple_field_len(&b, RECORD_SESSION_RDNS + 1, &nf) == 9);
		CHECK(tuple_field_len(&b, RECORD_SESSION_RDNS, &nf) == 23);
		copybuf_free(&b);
		spoolrec_free(&d);
		free(flat);
		evbuffer_free(e);
	}
}

void
test_rdns(void)
{
	test_rdns_names();
	test_rdns_old_spool();
}
