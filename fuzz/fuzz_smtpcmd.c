/*
 * fuzz_smtpcmd.c: ingestd's parsers of SMTP command lines on arbitrary
 * bytes, the first thing a bot's input meets: the verb/argument split,
 * MAIL FROM / RCPT TO paths, MAIL parameters and AUTH's base64, and the
 * reply lines the probe relay reads from a server.  Every
 * output stays inside its input or buffer; a path parsed into a small
 * buffer parses the same into a large one; base64 decodes to exactly
 * 3 bytes per 4 characters less the padding, or fails for a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_command(const char *line, size_t len)
{
	struct smtp_command c;
	const char *name;

	smtp_parse_command(line, len, &c);
	if (c.verb > SMTP_UNKNOWN || c.arg < line || c.arg + c.arg_len > line + len)
		abort();
	if (c.arg_len &&
	    (c.arg[0] == ' ' || c.arg[0] == '\t' || c.arg[c.arg_len - 1] == ' ' ||
	     c.arg[c.arg_len - 1] == '\t'))
		abort();
	name = smtp_verb_name(c.verb);
	if (c.verb != SMTP_UNKNOWN &&
	    (len < strlen(name) || strncasecmp(line, name, strlen(name)) != 0))
		abort();
}

static void
check_path(const char *arg, size_t len, const char *prefix)
{
	char small[16], big[1024];
	size_t off_s = 0, off_b = 0;
	bool ok_s = smtp_parse_path(arg, len, prefix, small, sizeof(small), &off_s);
	bool ok_b = smtp_parse_path(arg, len, prefix, big, sizeof(big), &off_b);

	if (ok_s && (!ok_b || strcmp(small, big) != 0 || off_s != off_b))
		abort();
	if (ok_b)
	{
		if (off_b > len || strlen(big) >= sizeof(big))
			abort();
		for (const char *p = big; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
}

static void
check_params(const char *p, size_t len)
{
	struct smtp_params par;
	char err[16];
	int r;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	r = smtp_parse_mail_params(p, len, &par, err, sizeof(err));
	if (r != 0 && r != 501 && r != 555)
		abort();
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (r == 0 && par.size < -1)
		abort();
}

static int
b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static void
check_base64(const char *in, size_t len)
{
	uint8_t out[512];
	size_t pad = 0;
	long n = smtp_base64_decode(in, len, out, sizeof(out));

	while (pad < len && pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	if (n < 0)
	{
		/* a reason: length, a character, padding, or no room */
		bool valid = len % 4 == 0 && (len == 0 || in[len - 1 - pad] != '=');

		for (size_t i = 0; valid && i < len - pad; i++)
			valid = b64_char(in[i]);
		if (valid && len / 4 * 3 - pad <= sizeof(out))
			abort();
		return;
	}
	if (len % 4 || (size_t)n != len / 4 * 3 - pad || (size_t)n > sizeof(out))
		abort();
	for (size_t i = 0; i < len - pad; i++)
		if (!b64_char(in[i]))
			abort();
	/* one byte less room must fail, not write past it */
	if (n > 0 && smtp_base64_decode(in, len, out, (size_t)n - 1) >= 0)
		abort();
}

static void
check_reply(const char *line, size_t len)
{
	int code = 0;
	bool last = false;

	if (smtp_parse_reply_line(line, len, &code, &last) &&
	    (code < 200 || code > 599 || last != (len == 3 || line[3] == ' ')))
		abort();
	(void)smtp_reply_has_keyword(line, len, "STARTTLS");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	check_command(s, size);
	check_path(s, size, "FROM:");
	check_path(s, size, "TO:");
	check_params(s, size);
	check_base64(s, size);
	check_reply(s, size);
	return 0;
}
