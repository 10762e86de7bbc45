/*
 * test_uuid7.c: message ids are valid version-7 UUIDs, strictly increasing,
 * and survive a round trip through their text form.
 */
#include <string.h>

#include "unit.h"
#include "uuid7.h"

void
test_uuid7(void)
{
	struct timespec t = {.tv_sec = 1700000000, .tv_nsec = 123456789};
	struct uuid7 a, b, c;
	char s[UUID7_STRLEN + 1];

	CHECK(uuid7_generate(&a, &t));
	CHECK((a.b[6] >> 4) == 7);      /* version */
	CHECK((a.b[8] & 0xc0) == 0x80); /* variant */
	CHECK(uuid7_millis(&a) == 1700000000123ULL);

	/* same millisecond, and a clock that steps back: still increasing */
	CHECK(uuid7_generate(&b, &t));
	CHECK(memcmp(&a, &b, 16) < 0);
	t.tv_sec -= 10;
	CHECK(uuid7_generate(&c, &t));
	CHECK(memcmp(&b, &c, 16) < 0);

	for (int i = 0; i < 10000; i++)
	{
		a = c;
		CHECK(uuid7_generate(&c, &t));
		if (memcmp(&a, &c, 16) >= 0)
		{
			CHECK_MSG(0, "id %d not increasing", i);
			break;
		}
	}

	uuid7_format(&c, s);
	CHECK(strlen(s) == 36 && s[8] == '-' && s[14] == '7');
	CHECK(uuid7_parse(s, &a) && memcmp(&a, &c, 16) == 0);
	CHECK(!uuid7_parse("not-a-uuid", &a));
	CHECK(!uuid7_parse("0189c7a2-7c3b-7d6e-8f00-00000000000g", &a));
	CHECK(!uuid7_parse("0189c7a2-7c3b-7d6e-8f00-0000000000000", &a));
}
