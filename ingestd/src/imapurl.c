/*
 * imapurl.c: URL parsing, modified UTF-7, INTERNALDATE and folder labels for
 * the IMAP importer (see imapurl.h).
 */
#include "imapurl.h"

#include "digits.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

bool
imapurl_is_url(const char *arg)
{
	return strncasecmp(arg, "imap://", 7) == 0 ||
	       strncasecmp(arg, "imaps://", 8) == 0;
}

/* Percent-decode s[0..n) into out (size bytes); false if bad or too long. */
static bool
pct_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
	{
		int c = (unsigned char)s[i];

		if (c == '%')
		{
			int hi, lo;

			if (i + 2 >= n)
				return false;
			hi = digit_hex((unsigned char)s[i + 1]);
			lo = digit_hex((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= size)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

bool
imapurl_parse(const char *url, struct imap_url *out, char *err, size_t errsize)
{
	const char *p, *auth_end, *at, *host, *host_end, *port_s = NULL;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(url, "imaps://", 8) == 0)
	{
		out->tls = true;
		p = url + 8;
	}
	else if (strncasecmp(url, "imap://", 7) == 0)
		p = url + 7;
	else
	{
		snprintf(err, errsize, "not an imap:// or imaps:// URL");
		return false;
	}
	auth_end = p + strcspn(p, "/");
	at = NULL;
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	if (!at || at == p)
	{
		snprintf(err, errsize,
		         "the URL has no user name (imap://USER@HOST/FOLDER)");
		return false;
	}
	if (memchr(p, ':', (size_t)(at - p)) || memchr(p, ';', (size_t)(at - p)))
	{
		snprintf(err, errsize,
		         "a password or ;AUTH= in the URL is not accepted: use "
		         "--password-file or the INGESTD_IMAP_PASSWORD variable");
		return false;
	}
	if (!pct_decode(p, (size_t)(at - p), out->user, sizeof(out->user)))
	{
		snprintf(err, errsize, "bad user name in the URL");
		return false;
	}
	host = at + 1;
	if (*host == '[')
	{
		const char *close = memchr(host, ']', (size_t)(auth_end - host));

		if (!close)
		{
			snprintf(err, errsize, "unterminated [IPv6] host in the URL");
			return false;
		}
		host_end = close;
		host++;
		if (close + 1 < auth_end)
		{
			if (close[1] != ':')
			{
				snprintf(err, errsize, "bad host in the URL");
				return false;
			}
			port_s = close + 2;
		}
	}
	else
	{
		const char *colon = memchr(host, ':', (size_t)(auth_end - host));

		host_end = colon ? colon : auth_end;
		if (colon)
			port_s = colon + 1;
	}
	n = (size_t)(host_end - host);
	if (n == 0 || n >= sizeof(out->host))
	{
		snprintf(err, errsize, "bad host in the URL");
		return false;
	}
	for (size_t i = 0; i < n; i++)
	{
		int c = (unsigned char)host[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_')
		{
			snprintf(err, errsize, "bad host in the URL");
			return false;
		}
		out->host[i] = (char)tolower(c);
	}
	out->host[n] = '\0';
	out->port = out->tls ? 993 : 143;
	if (port_s)
	{
		unsigned long v = 0;

		if (port_s == auth_end)
		{
			snprintf(err, errsize, "empty port in the URL");
			return false;
		}
		for (const char *q = port_s; q < auth_end; q++)
		{
			if (!isdigit((unsigned char)*q) || v > 65535)
			{
				snprintf(err, errsize, "bad port in the URL");
				return false;
			}
			v = v * 10 + (unsigned long)(*q - '0');
		}
		if (v == 0 || v > 65535)
		{
			snprintf(err, errsize, "bad port in the URL");
			return false;
		}
		out->port = (uint16_t)v;
	}
	if (*auth_end == '/')
	{
		const char *path = auth_end + 1;

		n = strlen(path);
		while (n > 0 && path[n - 1] == '/')
			n--;
		if (memchr(path, ';', n) || memchr(path, '?', n))
		{
			snprintf(err, errsize,
			         "URL parameters (;UID=, ?search) are not supported; "
			         "name a folder, or none for all");
			return false;
		}
		if (!pct_decode(path, n, out->folder, sizeof(out->folder)))
		{
			snprintf(err, errsize, "bad folder name in the URL");
			return false;
		}
	}
	return true;
}

/* --- modified UTF-7 ------------------------------------------------------- */

/* Append code point cp as UTF-8; false when it does not fit. */
static bool
put_utf8(char *out, size_t size, size_t *o, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80)
	{
		b[0] = (unsigned char)cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	else
	{
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= size)
		return false;
	memcpy(out + *o, b, n);
	*o += n;
	return true;
}

static bool
mutf7_decode(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = in; *p; p++)
	{
		uint32_t bits = 0, hi = 0;
		int nbits = 0;
		bool any = false;

		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return false;
		if (*p != '&')
		{
			if (o + 1 >= size)
				return false;
			out[o++] = *p;
			continue;
		}
		if (p[1] == '-')
		{
			if (o + 1 >= size)
				return false;
			out[o++] = '&';
			p++;
			continue;
		}
		for (p++; *p && *p != '-'; p++)
		{
			int v = digit_b64((unsigned char)*p, ',');

			if (v < 0)
				return false;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16)
			{
				uint32_t u = (bits >> (nbits - 16)) & 0xffff;

				nbits -= 16;
				bits &= (1u << nbits) - 1;
				any = true;
				if (hi)
				{
					if (u < 0xdc00 || u > 0xdfff)
						return false;
					if (!put_utf8(out, size, &o,
					              0x10000 + ((hi - 0xd800) << 10) +
					                  (u - 0xdc00)))
						return false;
					hi = 0;
				}
				else if (u >= 0xd800 && u <= 0xdbff)
					hi = u;
				else if (u >= 0xdc00 && u <= 0xdfff)
					return false;
				else if (!put_utf8(out, size, &o, u))
					return false;
			}
		}
		/* unterminated, empty, leftover bits or a lone surrogate */
		if (*p != '-' || !any || nbits >= 6 || bits != 0 || hi)
			return false;
	}
	out[o] = '\0';
	return true;
}

bool
imapurl_mutf7_decode(const char *in, char *out, size_t size)
{
	if (size == 0)
		return false;
	if (mutf7_decode(in, out, size))
		return true;
	snprintf(out, size, "%s", in);
	return false;
}

/* --- dates ---------------------------------------------------------------- */

bool
imapurl_date_us(int year, int month, int day, int hour, int min, int sec,
                int zone, int64_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	int zh, zm, az;
	time_t t;

	if (year < 1900 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > mdays[month - 1] || hour < 0 || hour > 23 || min < 0 ||
	    min > 59 || sec < 0 || sec > 60)
		return false;
	az = zone < 0 ? -zone : zone;
	zh = az / 100;
	zm = az % 100;
	if (zh > 23 || zm > 59)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	t -= (time_t)(zone < 0 ? -1 : 1) * (zh * 3600 + zm * 60);
	*out = (int64_t)t * 1000000;
	return true;
}

/* --- folders and labels --------------------------------------------------- */

int
imapurl_special_flag(const char *attr)
{
	static const struct
	{
		const char *name;
		int flag;
	} table[] = {
	    {"Junk", IMAP_SPECIAL_JUNK},
	    {"Spam", IMAP_SPECIAL_JUNK}, /* Gmail XLIST, before RFC 6154 */
	    {"Sent", IMAP_SPECIAL_SENT},
	    {"All", IMAP_SPECIAL_ALL},
	    {"AllMail", IMAP_SPECIAL_ALL},
	    {"Flagged", IMAP_SPECIAL_FLAGGED},
	    {"Starred", IMAP_SPECIAL_FLAGGED},
	    {"Noselect", IMAP_SPECIAL_NOSELECT},
	    {"NonExistent", IMAP_SPECIAL_NOSELECT},
	};

	if (*attr == '\\')
		attr++;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(attr, table[i].name) == 0)
			return table[i].flag;
	return 0;
}

bool
imapurl_folder_eq(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0)
		return strcasecmp(b, "INBOX") == 0;
	return strcmp(a, b) == 0;
}

/* Names mail programs give these folders when the server marks none. */
static const struct
{
	const char *name;
	const char *label;
} well_known[] = {
    {"Junk", "spam"},
    {"Spam", "spam"},
    {"Junk E-mail", "spam"},
    {"Junk Mail", "spam"},
    {"Bulk Mail", "spam"},
    {"Sent", "sent"},
    {"Sent Items", "sent"},
    {"Sent Messages", "sent"},
    {"Sent Mail", "sent"},
    {"[Gmail]/Spam", "spam"},
    {"[Gmail]/Sent Mail", "sent"},
};

const char *
imapurl_folder_label(const char *folder, int special,
                     const struct imap_folder_label *map, size_t n,
                     bool by_name, const char *fallback,
                     enum imap_label_rule *rule)
{
	enum imap_label_rule dummy;

	if (!rule)
		rule = &dummy;
	*rule = IMAP_LABEL_MAP;
	for (size_t i = 0; i < n; i++)
		if (imapurl_folder_eq(map[i].folder, folder))
			return map[i].label;
	*rule = IMAP_LABEL_SPECIAL_USE;
	if (special & IMAP_SPECIAL_JUNK)
		return "spam";
	if (special & IMAP_SPECIAL_SENT)
		return "sent";
	if (by_name)
	{
		const char *last = strrchr(folder, '/'), *dot = strrchr(folder, '.');

		/* the last level under '/' or '.' separators (INBOX.Sent) */
		if (!last || (dot && dot > last))
			last = dot;
		*rule = IMAP_LABEL_NAME;
		for (size_t i = 0; i < sizeof(well_known) / sizeof(well_known[0]); i++)
			if (strcasecmp(folder, well_known[i].name) == 0 ||
			    (last && strcasecmp(last + 1, well_known[i].name) == 0))
				return well_known[i].label;
	}
	*rule = IMAP_LABEL_FALLBACK;
	return fallback;
}
