/*
 * test_smtp.c: the command parser, path and parameter parsing, base64.
 */
#include <string.h>
#include <strings.h>

#include "smtp.h"
#include "unit.h"

void
test_smtp_parse(void)
{
	static const struct
	{
		const char *line;
		enum smtp_verb verb;
		const char *arg;
	} cases[] = {
	    {"EHLO example.com", SMTP_EHLO, "example.com"},
	    {"ehlo   spaced.example  ", SMTP_EHLO, "spaced.example"},
	    {"HELO", SMTP_HELO, ""},
	    {"MAIL FROM:<a@b>", SMTP_MAIL, "FROM:<a@b>"},
	    {"rcpt to:<x@y> NOTIFY=NEVER", SMTP_RCPT, "to:<x@y> NOTIFY=NEVER"},
	    {"DATA", SMTP_DATA, ""},
	    {"BDAT 100 LAST", SMTP_BDAT, "100 LAST"},
	    {"StartTLS", SMTP_STARTTLS, ""},
	    {"AUTH PLAIN AGEAYg==", SMTP_AUTH, "PLAIN AGEAYg=="},
	    {"QUIT", SMTP_QUIT, ""},
	    {"NOOP whatever", SMTP_NOOP, "whatever"},
	    {"VRFY root", SMTP_VRFY, "root"},
	    {"EXPN list", SMTP_EXPN, "list"},
	    {"HELP", SMTP_HELP, ""},
	    {"RSET", SMTP_RSET, ""},
	    {"MAILFROM:<a@b>", SMTP_UNKNOWN, ""},
	    {"GET / HTTP/1.0", SMTP_UNKNOWN, "/ HTTP/1.0"},
	    {"", SMTP_UNKNOWN, ""},
	    {"\x01\xff\xfe", SMTP_UNKNOWN, ""},
	    {"DATAX", SMTP_UNKNOWN, ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct smtp_command c;

		smtp_parse_command(cases[i].line, strlen(cases[i].line), &c);
		CHECK_MSG(c.verb == cases[i].verb, "case %zu (%s): verb %d", i,
		          cases[i].line, (int)c.verb);
		CHECK_MSG(c.verb == SMTP_UNKNOWN ||
		              (c.arg_len == strlen(cases[i].arg) &&
		               memcmp(c.arg, cases[i].arg, c.arg_len) == 0),
		          "case %zu (%s): arg %.*s", i, cases[i].line, (int)c.arg_len,
		          c.arg);
	}
	/* a NUL inside the line does not end it */
	{
		struct smtp_command c;

		smtp_parse_command("HELO a\0b", 8, &c);
		CHECK(c.verb == SMTP_HELO && c.arg_len == 3);
	}
}

void
test_smtp_path(void)
{
	static const struct
	{
		const char *arg;
		const char *prefix;
		bool ok;
		const char *addr;
		const char *params;
	} cases[] = {
	    {"FROM:<a@b.example>", "FROM:", true, "a@b.example", ""},
	    {"from:<a@b> SIZE=100 BODY=8BITMIME", "FROM:", true, "a@b",
	     "SIZE=100 BODY=8BITMIME"},
	    {"FROM: <spaced@x>", "FROM:", true, "spaced@x", ""},
	    {"FROM:<>", "FROM:", true, "", ""},
	    {"FROM:bare@x", "FROM:", true, "bare@x", ""},
	    {"TO:<@relay.a,@relay.b:user@c>", "TO:", true, "user@c", ""},
	    {"TO:<user@c", "TO:", false, NULL, NULL},
	    {"TO:<a@b>junk", "TO:", false, NULL, NULL},
	    {"TO:", "TO:", false, NULL, NULL},
	    {"FROM<a@b>", "FROM:", false, NULL, NULL},
	    {"TO:<a\x01@b>", "TO:", false, NULL, NULL},
	    {"TO:<ünï@exämple>", "TO:", true, "ünï@exämple", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char addr[256];
		size_t off = 0;
		bool ok = smtp_parse_path(cases[i].arg, strlen(cases[i].arg),
		                          cases[i].prefix, addr, sizeof(addr), &off);

		CHECK_MSG(ok == cases[i].ok, "case %zu (%s)", i, cases[i].arg);
		if (ok && cases[i].ok)
		{
			CHECK_MSG(strcmp(addr, cases[i].addr) == 0, "case %zu: %s", i,
			          addr);
			CHECK_MSG(strcmp(cases[i].arg + off, cases[i].params) == 0,
			          "case %zu: params %s", i, cases[i].arg + off);
		}
	}
	/* an address longer than the buffer is refused, not truncated */
	{
		char big[600], addr[64];
		size_t off;

		memset(big, 'a', sizeof(big));
		memcpy(big, "TO:<", 4);
		big[sizeof(big) - 2] = '>';
		big[sizeof(big) - 1] = '\0';
		CHECK(!smtp_parse_path(big, strlen(big), "TO:", addr, sizeof(addr),
		                       &off));
	}
}

void
test_smtp_params(void)
{
	static const struct
	{
		const char *params;
		int code;
		int64_t size;
		bool eight, utf8;
	} cases[] = {
	    {"", 0, -1, false, false},
	    {"SIZE=1000", 0, 1000, false, false},
	    {"size=0 body=8bitmime smtputf8", 0, 0, true, true},
	    {"BODY=7BIT", 0, -1, false, false},
	    {"AUTH=<>", 0, -1, false, false},
	    {"SIZE=abc", 501, -1, false, false},
	    {"SIZE=", 501, -1, false, false},
	    {"SIZE=-5", 501, -1, false, false},
	    {"BODY=BINARYMIME", 0, -1, true, false},
	    {"RET=HDRS ENVID=QQ314159", 0, -1, false, false},
	    {"BODY=QUUX", 501, -1, false, false},
	    {"FOO=bar", 555, -1, false, false},
	    {"SMTPUTF8=yes", 555, -1, false, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		struct smtp_params p;
		char err[128];
		int code = smtp_parse_mail_params(
		    cases[i].params, strlen(cases[i].params), &p, err, sizeof(err));

		CHECK_MSG(code == cases[i].code, "case %zu (%s): %d", i,
		          cases[i].params, code);
		/* the parameter's name, for the persona's reply */
		if (code == 555)
			CHECK_MSG(strncasecmp(err, cases[i].params, strlen(err)) == 0 &&
			              strchr(err, '=') == NULL,
			          "case %zu: err %s", i, err);
		if (code == 0)
		{
			CHECK_MSG(p.size == cases[i].size, "case %zu: size", i);
			CHECK_MSG(p.body_8bit == cases[i].eight, "case %zu: body", i);
			CHECK_MSG(p.smtputf8 == cases[i].utf8, "case %zu: utf8", i);
		}
	}
}

void
test_smtp_base64(void)
{
	static const struct
	{
		const char *in;
		long len;
		const char *out;
	} cases[] = {
	    {"", 0, ""},
	    {"dQ==", 1, "u"},
	    {"cGFzcw==", 4, "pass"},
	    {"AHVzZXIAcGFzcw==", 10, "\0user\0pass"},
	    {"YWJj", 3, "abc"},
	    {"YWJ", -1, NULL},
	    {"Y=Jj", -1, NULL},
	    {"YW!j", -1, NULL},
	    {"YQ===", -1, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		uint8_t buf[64];
		long n = smtp_base64_decode(cases[i].in, strlen(cases[i].in), buf,
		                            sizeof(buf));

		CHECK_MSG(n == cases[i].len, "case %zu (%s): %ld", i, cases[i].in, n);
		if (n > 0 && cases[i].out)
			CHECK_MSG(memcmp(buf, cases[i].out, (size_t)n) == 0, "case %zu", i);
	}
	{
		uint8_t small[2];

		CHECK(smtp_base64_decode("YWJj", 4, small, sizeof(small)) == -1);
	}
}

/* Reply lines as the probe relay reads a server's answers. */
void
test_smtp_reply_line(void)
{
	static const struct
	{
		const char *line;
		bool ok;
		int code;
		bool last;
	} cases[] = {
	    {"250 2.0.0 Ok", true, 250, true},
	    {"250-PIPELINING", true, 250, false},
	    {"354", true, 354, true},
	    {"599 x", true, 599, true},
	    {"199 too low", false, 0, false},
	    {"600 too high", false, 0, false},
	    {"25", false, 0, false},
	    {"2500 ok", false, 0, false},
	    {"25a ok", false, 0, false},
	    {" 250 ok", false, 0, false},
	    {"", false, 0, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int code = 0;
		bool last = false;
		bool ok = smtp_parse_reply_line(cases[i].line, strlen(cases[i].line),
		                                &code, &last);

		CHECK_MSG(ok == cases[i].ok, "%s", cases[i].line);
		if (ok && cases[i].ok)
			CHECK_MSG(code == cases[i].code && last == cases[i].last, "%s",
			          cases[i].line);
	}
	CHECK(smtp_reply_has_keyword("250-STARTTLS", 12, "STARTTLS"));
	CHECK(smtp_reply_has_keyword("250 starttls", 12, "STARTTLS"));
	CHECK(smtp_reply_has_keyword("250-STARTTLS x", 14, "STARTTLS"));
	CHECK(!smtp_reply_has_keyword("250-STARTTLSX", 13, "STARTTLS"));
	CHECK(!smtp_reply_has_keyword("250-STARTTL", 11, "STARTTLS"));
	CHECK(!smtp_reply_has_keyword("250", 3, "STARTTLS"));
}
