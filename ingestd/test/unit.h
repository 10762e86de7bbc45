/*
 * unit.h: a minimal table-driven unit test harness.  Each test file defines
 * test functions and lists them in unittest.c; CHECK records a failure with
 * its location and goes on.
 */
#ifndef SPAMLAB_UNIT_H
#define SPAMLAB_UNIT_H

#include <stdio.h>

extern int unit_failures;

#define CHECK(cond)                                                            \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
			        #cond);                                                    \
			unit_failures++;                                                   \
		}                                                                      \
	} while (0)

#define CHECK_MSG(cond, ...)                                                   \
	do                                                                         \
	{                                                                          \
		if (!(cond))                                                           \
		{                                                                      \
			fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                  \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			unit_failures++;                                                   \
		}                                                                      \
	} while (0)

/* test functions, one line per test file */
void test_uuid7(void);
void test_smtp_parse(void);
void test_smtp_path(void);
void test_smtp_params(void);
void test_smtp_base64(void);
void test_smtp_reply_line(void);
void test_dotstuff(void);
void test_spool(void);
void test_spool_crc32(void);
void test_spool_readahead(void);
void test_spoolrec(void);
void test_mbox(void);
void test_record(void);
void test_probe(void);
void test_relaycap(void);
void test_dnsmx(void);
void test_relayctl(void);
void test_persona(void);
void test_imapurl(void);
void test_ntlm(void);
void test_rdns(void);

#endif /* SPAMLAB_UNIT_H */
