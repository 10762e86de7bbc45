/*
 * test_mbox.c: the mbox splitter, From-unquoting, dates and the is-it-mail
 * test, table-driven.
 */
#include <stdlib.h>
#include <string.h>

#include "mbox.h"
#include "unit.h"

/* Split `in` and compare the messages with the expected list. */
static void
check_split(const char *name, const char *in, const char *const *want,
            int nwant)
{
	struct mbox_iter it;
	struct mbox_msg m;
	int n = 0;

	mbox_iter_init(&it, in, strlen(in));
	while (mbox_next(&it, &m))
	{
		if (n >= nwant)
		{
			CHECK_MSG(0, "%s: extra message %d: %.*s", name, n, (int)m.len,
			          in + m.off);
			return;
		}
		CHECK_MSG(m.len == strlen(want[n]) &&
		              memcmp(in + m.off, want[n], m.len) == 0,
		          "%s: message %d is [%.*s], want [%s]", name, n, (int)m.len,
		          in + m.off, want[n]);
		n++;
	}
	CHECK_MSG(n == nwant, "%s: %d messages, want %d", name, n, nwant);
}

static void
test_split(void)
{
	static const struct
	{
		const char *name;
		const char *in;
		const char *want[3];
		int n;
	} cases[] = {
	    {"two",
	     "From a@b Wed May 16 00:40:34 2001\nSubject: 1\n\nbody1\n\n"
	     "From c@d Thu May 17 00:40:34 2001\nSubject: 2\n\nbody2\n",
	     {"Subject: 1\n\nbody1\n", "Subject: 2\n\nbody2\n"},
	     2},
	    {"crlf",
	     "From a@b Wed May 16 00:40:34 2001\r\nSubject: 1\r\n\r\nx\r\n\r\n"
	     "From c@d Thu May 17 00:40:34 2001\r\nSubject: 2\r\n\r\ny\r\n",
	     {"Subject: 1\r\n\r\nx\r\n", "Subject: 2\r\n\r\ny\r\n"},
	     2},
	    /* "From " in a body not after an empty line: not a separator */
	    {"body-from",
	     "From a@b Wed May 16 00:40:34 2001\nSubject: 1\n\nhi\nFrom me\n",
	     {"Subject: 1\n\nhi\nFrom me\n"},
	     1},
	    /* after an empty line but neither a date nor a header next */
	    {"prose-from",
	     "From a@b Wed May 16 00:40:34 2001\nSubject: 1\n\nhi\n\nFrom the "
	     "start, we knew\nit.\n",
	     {"Subject: 1\n\nhi\n\nFrom the start, we knew\nit.\n"},
	     1},
	    /* no date, but a header field follows: a separator */
	    {"dateless",
	     "From a@b\nSubject: 1\n\nx\n\nFrom c@d\nSubject: 2\n\ny\n",
	     {"Subject: 1\n\nx\n", "Subject: 2\n\ny\n"},
	     2},
	    {"no-final-newline",
	     "From a@b Wed May 16 00:40:34 2001\nSubject: 1\n\nx",
	     {"Subject: 1\n\nx"},
	     1},
	    {"empty", "", {NULL}, 0},
	    {"from-only", "From a@b Wed May 16 00:40:34 2001", {""}, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_split(cases[i].name, cases[i].in, cases[i].want, cases[i].n);
}

static void
test_unquote(void)
{
	static const struct
	{
		enum mbox_variant v;
		const char *in, *want;
	} cases[] = {
	    {MBOX_RD, ">From x\n>>From y\n> From z\n>Fromage\n",
	     "From x\n>From y\n> From z\n>Fromage\n"},
	    {MBOX_O, ">From x\n>>From y\n", "From x\n>>From y\n"},
	    {MBOX_RAW, ">From x\n", ">From x\n"},
	    {MBOX_RD, "a\n>From x", "a\nFrom x"},
	    {MBOX_RD, "no quoting here\n", "no quoting here\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		size_t n = strlen(cases[i].in);
		char *out = malloc(n + 1);
		size_t k = mbox_unquote(cases[i].in, n, cases[i].v, out);
		bool changes = strcmp(cases[i].in, cases[i].want) != 0;

		CHECK_MSG(k == strlen(cases[i].want) &&
		              memcmp(out, cases[i].want, k) == 0,
		          "unquote %zu: [%.*s]", i, (int)k, out);
		CHECK_MSG(mbox_needs_unquote(cases[i].in, n, cases[i].v) == changes,
		          "needs_unquote %zu", i);
		free(out);
	}
}

static void
test_dates(void)
{
	static const struct
	{
		bool from_line;
		const char *in;
		bool ok;
		int64_t want; /* Unix seconds */
	} cases[] = {
	    {true, "From jm@dogma.slashnull.org  Wed May 16 00:40:34 2001", true,
	     989973634},
	    {true, "From MAILER-DAEMON Fri Jul  8 12:08:34 2011", true, 1310126914},
	    {true, "From x Wed May 16 00:40:34 EST 2001", true, 989991634},
	    {true, "From x", false, 0},
	    {true, "From x yesterday", false, 0},
	    {false, "Tue, 15 May 2001 23:40:33 +0000 (Eire)", true, 989970033},
	    {false, "Wed, 24 Apr 2019 10:05:02 +0200 (CEST)", true, 1556093102},
	    {false, "24 Apr 2019 10:05 -0130", true, 1556105700},
	    {false, "Wed, 24 Apr 19 10:05:02 GMT", true, 1556100302},
	    {false, "Wed, 24 Apr 2019 10:05:02 EDT", true, 1556114702},
	    {false, "Wed, 24 Apr 2019", true, 1556064000}, /* midnight */
	    {false, "Wed, 32 Apr 2019 10:05:02", false, 0},
	    {false, "Wed, 24 Apr 2019 25:05:02", false, 0},
	    {false, "", false, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int64_t t = -1;
		size_t n = strlen(cases[i].in);
		bool ok = cases[i].from_line ? mbox_from_date(cases[i].in, n, &t)
		                             : mail_parse_date(cases[i].in, n, &t);

		CHECK_MSG(ok == cases[i].ok, "date %zu [%s]: ok=%d", i, cases[i].in,
		          ok);
		if (ok && cases[i].ok)
			CHECK_MSG(t == cases[i].want * 1000000, "date %zu [%s]: %lld", i,
			          cases[i].in, (long long)(t / 1000000));
	}
}

static void
test_received_at(void)
{
	const char *m1 = "Received: from a by b; Tue, 15 May 2001 23:40:33 +0000\n"
	                 "Received: from c by d; Mon, 14 May 2001 23:40:33 +0000\n"
	                 "Date: Sun, 13 May 2001 00:00:00 +0000\n\nbody\n";
	const char *m2 = "Received: from a by b (no date)\n"
	                 "Date: Sun, 13 May 2001 00:00:00 +0000\n\nbody\n";
	const char *m3 = "Subject: x\nFrom: y\n\nbody\n";
	int64_t t;

	CHECK(mail_received_at(m1, strlen(m1), &t) &&
	      t == INT64_C(989970033000000));
	CHECK(mail_received_at(m2, strlen(m2), &t) &&
	      t == INT64_C(989712000000000));
	CHECK(!mail_received_at(m3, strlen(m3), &t));
}

static void
test_looks_like_mail(void)
{
	static const struct
	{
		const char *in;
		size_t len; /* 0: strlen */
		bool want;
	} cases[] = {
	    {"Subject: x\nFrom: y\n\nbody\n", 0, true},
	    {"From a@b Wed May 16 00:40:34 2001\nSubject: x\nTo: y\n\nb\n", 0,
	     true},
	    {"Return-Path: <a@b>\r\nReceived: x\r\n\r\n", 0, true},
	    {"Subject: only one field\n\nbody\n", 0, false},
	    {"X-One: 1\nX-Two: 2\n\nno common field\n", 0, false},
	    {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, false},
	    {"HELO example.com\nMAIL FROM:<a@b>\n", 0, false},
	    {"just some text\nwith: a colon\n", 0, false},
	    {"", 0, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].in);

		CHECK_MSG(mail_looks_like(cases[i].in, n) == cases[i].want,
		          "looks_like %zu", i);
	}
}

void
test_mbox(void)
{
	test_split();
	test_unquote();
	test_dates();
	test_received_at();
	test_looks_like_mail();
}
