/*
 * test_imapurl.c: IMAP URL parsing, modified UTF-7 mailbox names,
 * INTERNALDATE arithmetic and folder labels, table-driven.
 */
#include <stdint.h>
#include <string.h>

#include "imapurl.h"
#include "unit.h"

static void
test_parse(void)
{
	static const struct
	{
		const char *url;
		bool ok;
		bool tls;
		const char *user, *host;
		unsigned port;
		const char *folder;
	} cases[] = {
	    {"imap://alice@mail.example.org/", true, false, "alice",
	     "mail.example.org", 143, ""},
	    {"imap://alice@Mail.Example.ORG", true, false, "alice",
	     "mail.example.org", 143, ""},
	    {"IMAPS://bob@127.0.0.1:1993/INBOX", true, true, "bob", "127.0.0.1",
	     1993, "INBOX"},
	    {"imaps://carol%40example.org@[::1]:993/Junk%20E-mail/", true, true,
	     "carol@example.org", "::1", 993, "Junk E-mail"},
	    {"imaps://u@h/Archive/2019", true, true, "u", "h", 993, "Archive/2019"},
	    {"imap://a@b@h/x", true, false, "a@b", "h", 143, "x"},
	    /* refused */
	    {"imap://h/INBOX", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice:secret@h/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice;AUTH=*@h/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h:0/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h:65536/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h:/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h:99x/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@[::1/", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h/INBOX;UID=3", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h/a%2", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h/a%00b", false, false, NULL, NULL, 0, NULL},
	    {"imap://alice@h%20x/", false, false, NULL, NULL, 0, NULL},
	    {"http://alice@h/", false, false, NULL, NULL, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct imap_url u;
		char err[256] = "";
		bool ok = imapurl_parse(cases[i].url, &u, err, sizeof(err));

		CHECK_MSG(ok == cases[i].ok, "%s: ok=%d err=%s", cases[i].url, ok, err);
		if (!ok || !cases[i].ok)
		{
			CHECK_MSG(ok || err[0], "%s: no reason given", cases[i].url);
			continue;
		}
		CHECK_MSG(u.tls == cases[i].tls, "%s: tls", cases[i].url);
		CHECK_MSG(strcmp(u.user, cases[i].user) == 0, "%s: user %s",
		          cases[i].url, u.user);
		CHECK_MSG(strcmp(u.host, cases[i].host) == 0, "%s: host %s",
		          cases[i].url, u.host);
		CHECK_MSG(u.port == cases[i].port, "%s: port %u", cases[i].url, u.port);
		CHECK_MSG(strcmp(u.folder, cases[i].folder) == 0, "%s: folder %s",
		          cases[i].url, u.folder);
	}
	CHECK(imapurl_is_url("imap://x@y/"));
	CHECK(imapurl_is_url("IMAPS://x@y/"));
	CHECK(!imapurl_is_url("/var/mail/imap://"));
	CHECK(!imapurl_is_url("imap:/x"));
}

static void
test_mutf7(void)
{
	static const struct
	{
		const char *in;
		bool ok;
		const char *out;
	} cases[] = {
	    {"INBOX", true, "INBOX"},
	    {"Entw&APw-rfe", true, "Entw\xc3\xbcrfe"},
	    {"&-", true, "&"},
	    {"Tom &- Jerry", true, "Tom & Jerry"},
	    {"&ZeVnLIqe-", true, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
	    {"~peter/mail/&U,BTFw-/&ZeVnLIqe-", true,
	     "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
	    {"&2D3eAA-", true, "\xf0\x9f\x98\x80"}, /* U+1F600, a surrogate pair */
	    /* malformed: returned unchanged */
	    {"&APw", false, "&APw"},
	    {"&-&", false, "&-&"},
	    {"&AP!-", false, "&AP!-"},
	    {"&2D0-", false, "&2D0-"},             /* lone high surrogate */
	    {"&3gA-", false, "&3gA-"},             /* lone low surrogate */
	    {"&APx-", false, "&APx-"},             /* leftover non-zero bits */
	    {"caf\xc3\xa9", false, "caf\xc3\xa9"}, /* 8-bit is not mUTF-7 */
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		bool ok = imapurl_mutf7_decode(cases[i].in, out, sizeof(out));

		CHECK_MSG(ok == cases[i].ok, "%s: ok=%d", cases[i].in, ok);
		CHECK_MSG(strcmp(out, cases[i].out) == 0, "%s: got %s", cases[i].in,
		          out);
	}
	/* too small a buffer: false, cut, terminated */
	CHECK(!imapurl_mutf7_decode("Entw&APw-rfe", out, 6));
	CHECK(strlen(out) == 5);
}

static void
test_date(void)
{
	int64_t t = 0;

	/* 17-Jul-1996 02:44:25 -0700 (RFC 3501's example) */
	CHECK(imapurl_date_us(1996, 7, 17, 2, 44, 25, -700, &t));
	CHECK(t == INT64_C(837596665) * 1000000);
	CHECK(imapurl_date_us(2019, 3, 2, 9, 1, 1, 230, &t));
	CHECK(t == INT64_C(1551517261) * 1000000 - INT64_C(9000) * 1000000);
	CHECK(imapurl_date_us(1970, 1, 1, 0, 0, 0, 0, &t) && t == 0);
	CHECK(!imapurl_date_us(2019, 13, 1, 0, 0, 0, 0, &t));
	CHECK(!imapurl_date_us(2019, 2, 30, 0, 0, 0, 0, &t));
	CHECK(!imapurl_date_us(2019, 1, 1, 24, 0, 0, 0, &t));
	CHECK(!imapurl_date_us(2019, 1, 1, 0, 0, 0, 2400, &t));
	CHECK(!imapurl_date_us(2019, 1, 1, 0, 0, 0, 160, &t));
}

static void
test_labels(void)
{
	struct imap_folder_label map[] = {{"Junk", "ham"}, {"inbox", "spam"}};

	CHECK(imapurl_special_flag("\\Junk") == IMAP_SPECIAL_JUNK);
	CHECK(imapurl_special_flag("Sent") == IMAP_SPECIAL_SENT);
	CHECK(imapurl_special_flag("\\NoSelect") == IMAP_SPECIAL_NOSELECT);
	CHECK(imapurl_special_flag("\\All") == IMAP_SPECIAL_ALL);
	CHECK(imapurl_special_flag("\\HasNoChildren") == 0);
	static const struct
	{
		const char *folder;
		int special;
		bool by_name;
		const char *fallback;
		const char *want;
		enum imap_label_rule rule;
	} cases[] = {
	    /* explicit map first, INBOX case-insensitively */
	    {"Junk", IMAP_SPECIAL_JUNK, false, NULL, "ham", IMAP_LABEL_MAP},
	    {"INBOX", 0, false, "ham", "spam", IMAP_LABEL_MAP},
	    /* special use next */
	    {"Spam", IMAP_SPECIAL_JUNK, false, "ham", "spam",
	     IMAP_LABEL_SPECIAL_USE},
	    {"Gesendet", IMAP_SPECIAL_SENT, false, "ham", "sent",
	     IMAP_LABEL_SPECIAL_USE},
	    /* names only when the server marks no folder */
	    {"junk", 0, false, "ham", "ham", IMAP_LABEL_FALLBACK},
	    {"junk", 0, true, "ham", "spam", IMAP_LABEL_NAME},
	    {"Sent Items", 0, true, "ham", "sent", IMAP_LABEL_NAME},
	    {"INBOX.Sent", 0, true, "ham", "sent", IMAP_LABEL_NAME},
	    {"Archive/Junk E-mail", 0, true, NULL, "spam", IMAP_LABEL_NAME},
	    {"[Gmail]/Spam", 0, true, NULL, "spam", IMAP_LABEL_NAME},
	    {"Sentinel", 0, true, "ham", "ham", IMAP_LABEL_FALLBACK},
	    {"Other", 0, true, NULL, NULL, IMAP_LABEL_FALLBACK},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		enum imap_label_rule rule;
		const char *got =
		    imapurl_folder_label(cases[i].folder, cases[i].special, map, 2,
		                         cases[i].by_name, cases[i].fallback, &rule);

		CHECK_MSG((got == NULL && cases[i].want == NULL) ||
		              (got && cases[i].want && strcmp(got, cases[i].want) == 0),
		          "%s: got %s", cases[i].folder, got ? got : "NULL");
		CHECK_MSG(rule == cases[i].rule, "%s: rule %d", cases[i].folder,
		          (int)rule);
	}
	CHECK(imapurl_folder_label("Other", 0, NULL, 0, false, NULL, NULL) == NULL);
	CHECK(imapurl_folder_eq("INBOX", "Inbox"));
	CHECK(!imapurl_folder_eq("Junk", "junk"));
}

void
test_imapurl(void)
{
	test_parse();
	test_mutf7();
	test_date();
	test_labels();
}
