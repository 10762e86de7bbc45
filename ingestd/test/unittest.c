/*
 * unittest.c: runs every unit test and prints "unit: N passed, N failed".
 * A test passes when it records no failed CHECK.
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"

int unit_failures;

static const struct
{
	const char *name;
	void (*fn)(void);
} tests[] = {
    {"uuid7", test_uuid7},
    {"smtp_parse", test_smtp_parse},
    {"smtp_path", test_smtp_path},
    {"smtp_params", test_smtp_params},
    {"smtp_base64", test_smtp_base64},
    {"smtp_reply_line", test_smtp_reply_line},
    {"dotstuff", test_dotstuff},
    {"spool", test_spool},
    {"spool_crc32", test_spool_crc32},
    {"spool_readahead", test_spool_readahead},
    {"spoolrec", test_spoolrec},
    {"mbox", test_mbox},
    {"record", test_record},
    {"probe", test_probe},
    {"relaycap", test_relaycap},
    {"dnsmx", test_dnsmx},
    {"relayctl", test_relayctl},
    {"persona", test_persona},
    {"imapurl", test_imapurl},
    {"ntlm", test_ntlm},
    {"rdns", test_rdns},
};

int
main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
	{
		int before = unit_failures;

		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
			continue;
		tests[i].fn();
		if (unit_failures == before)
		{
			printf("ok %s\n", tests[i].name);
			passed++;
		}
		else
		{
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
