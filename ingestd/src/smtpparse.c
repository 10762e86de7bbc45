/*
 * smtpparse.c: the SMTP command line parsers (smtpparse.h).  Pure C over
 * the bytes a client sent: no session, no I/O, fuzzed by
 * fuzz/fuzz_smtpcmd.c.
 */
#include "smtpparse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digits.h"

static const char *const verb_names[] = {
    [SMTP_HELO] = "HELO",         [SMTP_EHLO] = "EHLO", [SMTP_MAIL] = "MAIL",
    [SMTP_RCPT] = "RCPT",         [SMTP_DATA] = "DATA", [SMTP_BDAT] = "BDAT",
    [SMTP_RSET] = "RSET",         [SMTP_NOOP] = "NOOP", [SMTP_QUIT] = "QUIT",
    [SMTP_VRFY] = "VRFY",         [SMTP_EXPN] = "EXPN", [SMTP_HELP] = "HELP",
    [SMTP_STARTTLS] = "STARTTLS", [SMTP_AUTH] = "AUTH",
};

const char *
smtp_verb_name(enum smtp_verb v)
{
	return v < SMTP_UNKNOWN ? verb_names[v] : "";
}

void
smtp_parse_command(const char *line, size_t len, struct smtp_command *out)
{
	size_t vlen = 0, i;

	while (vlen < len && line[vlen] != ' ' && line[vlen] != '\t')
		vlen++;
	out->verb = SMTP_UNKNOWN;
	for (i = 0; i < SMTP_UNKNOWN; i++)
	{
		if (strlen(verb_names[i]) == vlen &&
		    strncasecmp(line, verb_names[i], vlen) == 0)
		{
			out->verb = (enum smtp_verb)i;
			break;
		}
	}
	i = vlen;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	/* trailing blanks are not part of the argument */
	while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	out->arg = line + i;
	out->arg_len = len - i;
}

bool
smtp_parse_path(const char *arg, size_t len, const char *prefix, char *addr,
                size_t addrsz, size_t *params_off)
{
	size_t plen = strlen(prefix), i, start, end;

	if (len < plen || strncasecmp(arg, prefix, plen) != 0)
		return false;
	i = plen;
	while (i < len && arg[i] == ' ') /* tolerated, like Postfix */
		i++;
	if (i < len && arg[i] == '<')
	{
		start = ++i;
		while (i < len && arg[i] != '>')
			i++;
		if (i == len)
			return false;
		end = i++;
		/* a source route "<@a,@b:user@c>" keeps only the mailbox */
		if (end > start && arg[start] == '@')
		{
			const char *colon = memchr(arg + start, ':', end - start);

			if (colon)
				start = (size_t)(colon - arg) + 1;
		}
	}
	else
	{
		/* bare address, as sloppy clients send */
		start = i;
		while (i < len && arg[i] != ' ')
			i++;
		end = i;
		if (end == start)
			return false;
	}
	if (end - start >= addrsz)
		return false;
	for (size_t k = start; k < end; k++)
		if ((unsigned char)arg[k] < 0x20 || arg[k] == 0x7f)
			return false;
	memcpy(addr, arg + start, end - start);
	addr[end - start] = '\0';
	if (i < len && arg[i] != ' ')
		return false;
	while (i < len && arg[i] == ' ')
		i++;
	*params_off = i;
	return true;
}

int
smtp_parse_mail_params(const char *p, size_t len, struct smtp_params *out,
                       char *err, size_t errsz)
{
	size_t i = 0;

	out->size = -1;
	out->body_8bit = false;
	out->smtputf8 = false;
	while (i < len)
	{
		size_t start = i, klen;
		const char *eq;
		char val[64];
		size_t vlen;

		while (i < len && p[i] != ' ')
			i++;
		eq = memchr(p + start, '=', i - start);
		klen = eq ? (size_t)(eq - (p + start)) : i - start;
		vlen = eq ? (size_t)(p + i - eq - 1) : 0;
		if (vlen >= sizeof(val))
			vlen = sizeof(val) - 1;
		if (eq)
			memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';

		if (klen == 4 && strncasecmp(p + start, "SIZE", 4) == 0 && eq)
		{
			char *end;
			long long v = strtoll(val, &end, 10);

			if (!*val || *end || v < 0 || !isdigit((unsigned char)val[0]))
			{
				snprintf(err, errsz, "SIZE");
				return 501;
			}
			out->size = v;
		}
		else if (klen == 4 && strncasecmp(p + start, "BODY", 4) == 0 && eq)
		{
			if (strcasecmp(val, "8BITMIME") == 0 ||
			    strcasecmp(val, "BINARYMIME") == 0)
				out->body_8bit = true;
			else if (strcasecmp(val, "7BIT") != 0)
			{
				snprintf(err, errsz, "BODY");
				return 501;
			}
		}
		else if (klen == 8 && strncasecmp(p + start, "SMTPUTF8", 8) == 0 && !eq)
			out->smtputf8 = true;
		else if (klen == 4 && strncasecmp(p + start, "AUTH", 4) == 0 && eq)
			; /* RFC 4954 AUTH=<>: accepted and ignored */
		else if (eq && ((klen == 3 && strncasecmp(p + start, "RET", 3) == 0) ||
		                (klen == 5 && strncasecmp(p + start, "ENVID", 5) == 0)))
			; /* RFC 3461 DSN, which personas advertise: ignored */
		else
		{
			snprintf(err, errsz, "%.*s", (int)(klen > 40 ? 40 : klen),
			         p + start);
			return 555;
		}
		while (i < len && p[i] == ' ')
			i++;
	}
	return 0;
}

long
smtp_base64_decode(const char *in, size_t len, uint8_t *out, size_t outsz)
{
	size_t o = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		int v;

		if (in[i] == '=')
		{
			/* padding only at the end, at most two */
			if (i < len - 2 || ++pad > 2)
				return -1;
			continue;
		}
		if (pad)
			return -1;
		v = digit_b64((unsigned char)in[i], '/');
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (long)o;
}

bool
smtp_parse_reply_line(const char *line, size_t len, int *code, bool *last)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-'))
		return false;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*last = len == 3 || line[3] == ' ';
	return true;
}

bool
smtp_reply_has_keyword(const char *line, size_t len, const char *keyword)
{
	size_t k = strlen(keyword);

	return len >= 4 + k && strncasecmp(line + 4, keyword, k) == 0 &&
	       (len == 4 + k || line[4 + k] == ' ');
}
