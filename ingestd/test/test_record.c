/*
 * test_record.c: binary COPY encoding of records, and the UTF-8 repair
 * that keeps wire text from ever failing a COPY.
 */
#include <string.h>

#include "copybin.h"
#include "record.h"
#include "unit.h"

struct field
{
	const uint8_t *p;
	int32_t len; /* -1: NULL */
};

static int32_t
be32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	                 (uint32_t)p[2] << 8 | p[3]);
}

/* Split one tuple into fields; the number of fields, -1 if malformed. */
static int
parse_tuple(const struct copybuf *b, struct field *f, int max)
{
	size_t pos = 2;
	int n;

	if (b->len < 2)
		return -1;
	n = (int)(int16_t)(b->data[0] << 8 | b->data[1]);
	if (n > max)
		return -1;
	for (int i = 0; i < n; i++)
	{
		if (pos + 4 > b->len)
			return -1;
		f[i].len = be32(b->data + pos);
		pos += 4;
		f[i].p = b->data + pos;
		if (f[i].len > 0)
			pos += (size_t)f[i].len;
		if (pos > b->len)
			return -1;
	}
	return pos == b->len ? n : -1;
}

static void
test_utf8(void)
{
	static const struct
	{
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
	    {"plain", 5, "plain"},
	    {"caf\xc3\xa9", 5, "caf\xc3\xa9"},
	    {"a\0b", 3,
	     "a\xef\xbf\xbd"
	     "b"},
	    {"\xff", 1, "\xef\xbf\xbd"},
	    {"\xc3", 1, "\xef\xbf\xbd"},                 /* truncated */
	    {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
	    {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},
	    {"\xf4\x90\x80\x80", 4,
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct copybuf b;

		copybuf_init(&b);
		copybuf_put_utf8(&b, cases[i].in, cases[i].len);
		CHECK_MSG(b.len == strlen(cases[i].want) &&
		              memcmp(b.data, cases[i].want, b.len) == 0,
		          "utf8 case %zu", i);
		CHECK_MSG(utf8_valid((const char *)b.data, b.len), "utf8 valid %zu", i);
		CHECK_MSG(utf8_valid(cases[i].in, cases[i].len) ==
		              (strlen(cases[i].want) == cases[i].len &&
		               memcmp(cases[i].in, cases[i].want, cases[i].len) == 0),
		          "utf8_valid %zu", i);
		copybuf_free(&b);
	}
}

static void
test_message(void)
{
	static const uint8_t raw[] = "Subject: x\r\n\r\n\0body";
	const char *rcpt[] = {"a@b", NULL};
	struct msg_record m = {0};
	struct field f[RECORD_MESSAGE_FIELDS];
	struct copybuf b;
	int n;

	m.received_at = INT64_C(946684800000000) + 5; /* 2000-01-01 + 5 us */
	record_content_id(&m.id, m.received_at, raw, sizeof(raw));
	m.source = "smtp";
	m.helo = "bad\xff";
	m.peer_ip = "2001:db8::1";
	m.peer_port = 70000; /* out of range: NULL */
	m.rcpt_to = rcpt;
	m.n_rcpt = 2;
	m.raw = raw;
	m.raw_len = sizeof(raw);
	m.auth_password = "pw";
	copybuf_init(&b);
	CHECK(record_encode_message(&b, &m));
	n = parse_tuple(&b, f, RECORD_MESSAGE_FIELDS);
	CHECK(n == RECORD_MESSAGE_FIELDS);
	if (n == RECORD_MESSAGE_FIELDS)
	{
		CHECK(f[0].len == 16 && memcmp(f[0].p, m.id.b, 16) == 0);
		CHECK(f[1].len == 8 && f[1].p[7] == 5 && f[1].p[0] == 0);
		CHECK(f[2].len == -1); /* sensor */
		CHECK(f[3].len == 4 && memcmp(f[3].p, "smtp", 4) == 0);
		CHECK(f[6].len == 20 && f[6].p[0] == 3 && f[6].p[1] == 128);
		CHECK(f[7].len == -1); /* port */
		CHECK(f[8].len == 6 && memcmp(f[8].p, "bad\xef\xbf\xbd", 6) == 0);
		/* rcpt_to: ndim 1, hasnull 1, oid 25, 2 elements, second NULL */
		CHECK(f[10].len > 20 && be32(f[10].p) == 1 && be32(f[10].p + 4) == 1 &&
		      be32(f[10].p + 8) == 25 && be32(f[10].p + 12) == 2);
		CHECK(f[13].len == 4 && be32(f[13].p) == (int32_t)sizeof(raw));
		CHECK(f[14].len == (int32_t)sizeof(raw) &&
		      memcmp(f[14].p, raw, sizeof(raw)) == 0); /* bytes untouched */
		CHECK(f[15].len == -1);                        /* session_id */
		CHECK(f[16].len == 2 && memcmp(f[16].p, "pw", 2) == 0); /* last */
	}
	copybuf_free(&b);

	/* no source, or raw missing: refused */
	m.source = NULL;
	copybuf_init(&b);
	CHECK(!record_encode_message(&b, &m));
	copybuf_free(&b);
	m.source = "mbox";
	m.raw = NULL;
	copybuf_init(&b);
	CHECK(!record_encode_message(&b, &m));
	copybuf_free(&b);
}

static void
test_session(void)
{
	char longcmd[RECORD_COMMAND_MAX + 100];
	struct session_command cmd[2] = {{0, "EHLO x", 6, 250},
	                                 {10, longcmd, sizeof(longcmd), 999}};
	struct session_auth au = {5, "NTLM", NULL, "pw", 535, "KALI"};
	struct session_record s = {0};
	struct field f[RECORD_SESSION_FIELDS];
	struct copybuf b;
	int n;

	memset(longcmd, 'A', sizeof(longcmd));
	s.started_at = 1;
	s.ended_at = 2;
	s.peer_ip = "not an ip";
	s.peer_port = 25;
	s.commands = cmd;
	s.n_commands = 2;
	s.auths = &au;
	s.n_auths = 1;
	copybuf_init(&b);
	CHECK(record_encode_session(&b, &s));
	n = parse_tuple(&b, f, RECORD_SESSION_FIELDS);
	CHECK(n == RECORD_SESSION_FIELDS);
	if (n == RECORD_SESSION_FIELDS)
	{
		const uint8_t *p;

		CHECK(f[4].len == -1);                      /* bad ip: NULL */
		CHECK(f[5].len == 4 && be32(f[5].p) == 25); /* port */
		CHECK(be32(f[10].p + 12) == 2);             /* 2 commands */
		p = f[10].p + 20;                           /* first element */
		CHECK(be32(p) == 6 && memcmp(p + 4, "EHLO x", 6) == 0);
		p += 4 + 6;
		CHECK(be32(p) == RECORD_COMMAND_MAX);   /* cut */
		CHECK(be32(f[11].p + 20 + 8 + 4) == 0); /* reply 999 -> 0 */
		CHECK(be32(f[14].p + 4) == 1);          /* user has a NULL */
		/* the workstations array, last: one element, "KALI" */
		p = f[RECORD_SESSION_FIELDS - 1].p;
		CHECK(be32(p + 12) == 1 && be32(p + 20) == 4 &&
		      memcmp(p + 24, "KALI", 4) == 0);
	}
	copybuf_free(&b);

	/* an empty session: zero-dimension arrays */
	s.n_commands = 0;
	s.n_auths = 0;
	copybuf_init(&b);
	CHECK(record_encode_session(&b, &s));
	n = parse_tuple(&b, f, RECORD_SESSION_FIELDS);
	CHECK(n == RECORD_SESSION_FIELDS && f[9].len == 12 && be32(f[9].p) == 0);
	copybuf_free(&b);
}

static void
test_content_id(void)
{
	struct uuid7 a, b, c;

	record_content_id(&a, INT64_C(1700000000123456), (const uint8_t *)"x", 1);
	record_content_id(&b, INT64_C(1700000000123456), (const uint8_t *)"x", 1);
	record_content_id(&c, INT64_C(1700000000123456), (const uint8_t *)"y", 1);
	CHECK(memcmp(&a, &b, 16) == 0);
	CHECK(memcmp(&a, &c, 16) != 0);
	CHECK(uuid7_millis(&a) == UINT64_C(1700000000123));
	CHECK((a.b[6] >> 4) == 7 && (a.b[8] & 0xc0) == 0x80);
}

void
test_record(void)
{
	test_utf8();
	test_message();
	test_session();
	test_content_id();
}
