/*
 * test_dnsmx.c: MX query building and answer parsing, including hostile
 * answers (pointer loops, truncation, lengths past the end, wrong ids).
 */
#include <string.h>

#include "dnsmx.h"
#include "unit.h"

/* header: id 0x1234, response, rcode, qd=1, an */
#define HDR(rc, an) 0x12, 0x34, 0x81, 0x80 | (rc), 0, 1, 0, (an), 0, 0, 0, 0
/* question: example.org MX IN, at offset 12 */
#define QUESTION                                                               \
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 15, 0, 1
/* an MX answer for the question name (pointer 0xc00c) */
#define MX_RR(pref, ...)                                                       \
	0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 0, 60, 0,                                   \
	    (uint8_t)(2 + sizeof((uint8_t[]){__VA_ARGS__})), 0, (pref),            \
	    __VA_ARGS__

static const uint8_t two_mx[] = {
    HDR(0, 2),
    QUESTION,
    MX_RR(20, 3, 'm', 'x', '2', 0xc0, 0x0c),
    MX_RR(10, 3, 'm', 'x', '1', 0xc0, 0x0c),
};
static const uint8_t null_mx[] = {HDR(0, 1), QUESTION, MX_RR(0, 0)};
static const uint8_t nodata[] = {HDR(0, 0), QUESTION};
static const uint8_t nxdomain[] = {HDR(3, 0), QUESTION};
static const uint8_t servfail[] = {HDR(2, 0), QUESTION};
/* a name pointing at itself */
static const uint8_t loop[] = {HDR(0, 1), QUESTION,
                               MX_RR(10, 3, 'm', 'x', '1', 0xc0, 47)};
/* rdlength past the end */
static const uint8_t overrun[] = {
    HDR(0, 1), QUESTION, 0xc0, 0x0c, 0, 15, 0, 1, 0, 0, 0, 60, 0, 200, 0, 10,
};
static const uint8_t truncated_q[] = {HDR(0, 0), 7, 'e', 'x'};

static void
test_parse(void)
{
	static const struct
	{
		const uint8_t *pkt;
		size_t len;
		enum dnsmx_status st;
		size_t n;
		const char *first;
	} cases[] = {
	    {two_mx, sizeof(two_mx), DNSMX_OK, 2, "mx1.example.org"},
	    {null_mx, sizeof(null_mx), DNSMX_NULLMX, 0, NULL},
	    {nodata, sizeof(nodata), DNSMX_NODATA, 0, NULL},
	    {nxdomain, sizeof(nxdomain), DNSMX_NXDOMAIN, 0, NULL},
	    {servfail, sizeof(servfail), DNSMX_TEMPFAIL, 0, NULL},
	    {loop, sizeof(loop), DNSMX_BAD, 0, NULL},
	    {overrun, sizeof(overrun), DNSMX_BAD, 0, NULL},
	    {truncated_q, sizeof(truncated_q), DNSMX_BAD, 0, NULL},
	    {two_mx, 11, DNSMX_BAD, 0, NULL},
	};
	struct dnsmx_host h[DNSMX_HOSTS_MAX];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		enum dnsmx_status st =
		    dnsmx_parse(cases[i].pkt, cases[i].len, 0x1234, h, &n);

		CHECK_MSG(st == cases[i].st && n == cases[i].n,
		          "case %zu: status %s n %zu", i, dnsmx_status_name(st), n);
		if (cases[i].first && n > 0)
			CHECK_MSG(strcmp(h[0].name, cases[i].first) == 0 &&
			              h[0].pref == 10 && h[1].pref == 20,
			          "case %zu: first %s", i, h[0].name);
	}
	/* a wrong id is not our answer */
	CHECK(dnsmx_parse(two_mx, sizeof(two_mx), 0x4321, h, &n) == DNSMX_BAD);
	/* every prefix of a good answer parses without reading past it */
	for (size_t len = 0; len < sizeof(two_mx); len++)
		(void)dnsmx_parse(two_mx, len, 0x1234, h, &n);
}

static void
test_build(void)
{
	uint8_t buf[512];
	size_t n = dnsmx_build_query(buf, sizeof(buf), 0x1234, "example.org.");

	CHECK(n == 12 + 17);
	CHECK(n == 12 + 17 && memcmp(buf + 12, (uint8_t[]){QUESTION}, 17) == 0);
	CHECK(buf[0] == 0x12 && buf[1] == 0x34 && buf[5] == 1);
	CHECK(dnsmx_build_query(buf, sizeof(buf), 1, "") == 0);
	CHECK(dnsmx_build_query(buf, sizeof(buf), 1, "a..b") == 0);
	CHECK(dnsmx_build_query(buf, sizeof(buf), 1, ".a") == 0);
	CHECK(dnsmx_build_query(buf, sizeof(buf), 1, "a b.org") == 0);
	CHECK(dnsmx_build_query(buf, 20, 1, "example.org") == 0);
	memset(buf, 'a', 70);
	buf[70] = '\0';
	CHECK(dnsmx_build_query(buf + 100, 300, 1, (char *)buf) == 0);
}

void
test_dnsmx(void)
{
	test_parse();
	test_build();
}
