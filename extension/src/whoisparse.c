/*
 * whoisparse.c: reading whois answers (port 43 text) into fields.
 *
 * A whois answer is free text, but every registry writes "key: value" lines
 * (or "[key] value" at JPRS, "key" alone with the value on the next line at
 * Nominet, SIDN and .it).  We normalise each key (ASCII lower case, '-', '_'
 * and runs of blanks to one space, trailing dots dropped) and look it up in
 * small tables; the first occurrence of each field wins.
 */
#include "whoisparse.h"
#include "maildate.h"

#include <string.h>

#define KEY_MAX 64

/* Normalised keys for each field. */
static const char *const created_keys[] = {
    "creation date",
    "created",
    "created on",
    "created date",
    "created at",
    "create date",
    "creation time",
    "registered on",
    "registered",
    "registered date",
    "registration time",
    "registration date",
    "domain registration date",
    "domain create date",
    "domain created",
    "domain name commencement date",
    "commencement date",
    "record created",
    "record created on",
    "domain record activated",
    "first registration date",
    "domain dateregistered", /* .nz: domain_dateregistered */
    "\xe7\x99\xbb\xe9\x8c\xb2\xe5\xb9\xb4\xe6\x9c\x88"
    "\xe6\x97\xa5", /* 登録年月日 */
    NULL};

static const char *const updated_keys[] = {
    "updated date",
    "updated",
    "updated on",
    "update date",
    "last updated",
    "last updated on",
    "last updated date",
    "last update",
    "last modified",
    "modified",
    "modified date",
    "changed",
    "last changed",
    "domain datelastmodified",
    "domain last updated date",
    "domain record last updated",
    "record last updated on",
    "\xe6\x9c\x80\xe7\xb5\x82\xe6\x9b\xb4\xe6\x96\xb0", /* 最終更新 */
    NULL};

static const char *const expires_keys[] = {
    "registry expiry date",
    "registrar registration expiration date",
    "expiry date",
    "expiry",
    "expiration date",
    "expiration time",
    "expires",
    "expires on",
    "expires date",
    "expire date",
    "expire",
    "paid till",
    "valid until",
    "renewal date",
    "domain expiration date",
    "record expires on",
    "domain datebilleduntil",
    "\xe6\x9c\x89\xe5\x8a\xb9\xe6\x9c\x9f\xe9\x99\x90", /* 有効期限 */
    NULL};

static const char *const registrar_keys[] = {
    "registrar",         "sponsoring registrar",   "registrar name",
    "authorized agency", "registrar organization", NULL};

/* Keys inside a "Registrar" block (Nominet, SIDN, .it, EURid). */
static const char *const registrar_block_keys[] = {
    "organization", "organisation", "name", "company name", NULL};

static const char *const referral_keys[] = {"registrar whois server",
                                            "whois server",
                                            "whois",
                                            "refer",
                                            "referralserver",
                                            NULL};

/* Phrases of "no such domain" answers (checked only if nothing was read). */
static const char *const not_found_phrases[] = {
    "no match",           "not found",
    "no entries found",   "no data found",
    "no object found",    "nothing found",
    "no matching record", "no information available",
    "does not exist",     NULL};

/* Phrases of rate-limit refusals (checked only if nothing was read). */
static const char *const throttle_phrases[] = {
    "limit exceeded",       "rate exceeded",
    "limit reached",        "too many queries",
    "too many requests",    "quota exceeded",
    "exceeded the maximum", "query rate",
    "rate limit",           NULL};

static const char *const month_names[] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};

static const char *const weekday_names[] = {"mon", "tue", "wed", "thu",
                                            "fri", "sat", "sun"};

/* Zone abbreviations seen in whois answers, with their offset in minutes. */
static const struct
{
	const char *name;
	int minutes;
} zone_names[] = {
    {"utc", 0},    {"gmt", 0},    {"ut", 0},     {"z", 0},      {"jst", 540},
    {"kst", 540},  {"cet", 60},   {"cest", 120}, {"msk", 180},  {"est", -300},
    {"edt", -240}, {"cst", -360}, {"cdt", -300}, {"mst", -420}, {"mdt", -360},
    {"pst", -480}, {"pdt", -420}, {"bst", 60},   {"eet", 120},  {"eest", 180},
    {"aest", 600}, {"aedt", 660}, {"hkt", 480},  {"sgt", 480},
};

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool
in_table(const char *key, const char *const *table)
{
	for (int i = 0; table[i] != NULL; i++)
		if (strcmp(key, table[i]) == 0)
			return true;
	return false;
}

/* Case-insensitive search for needle (lower case) in hay[0..len). */
static bool
contains_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0 || n > len)
		return false;
	for (size_t i = 0; i + n <= len; i++)
	{
		size_t j = 0;

		while (j < n && lower(hay[i + j]) == needle[j])
			j++;
		if (j == n)
			return true;
	}
	return false;
}

/* Read 1..maxd digits at s[*i]; false if there are none or more than maxd. */
static bool
read_num(const char *s, size_t len, size_t *i, int maxd, int *val, int *ndig)
{
	int v = 0, d = 0;

	while (*i < len && is_digit(s[*i]))
	{
		if (d == maxd)
			return false;
		v = v * 10 + (s[*i] - '0');
		d++;
		(*i)++;
	}
	*val = v;
	*ndig = d;
	return d > 0;
}

/* A month name ("Jan", "January", "sept") at s[*i]: 1..12, or 0. */
static int
read_month_name(const char *s, size_t len, size_t *i)
{
	size_t j = *i;

	while (j < len && is_alpha(s[j]))
		j++;
	if (j - *i < 3 || j - *i > 9)
		return 0;
	for (int m = 0; m < 12; m++)
		if (lower(s[*i]) == month_names[m][0] &&
		    lower(s[*i + 1]) == month_names[m][1] &&
		    lower(s[*i + 2]) == month_names[m][2])
		{
			*i = j;
			return m + 1;
		}
	return 0;
}

/* Skip a weekday name ("Fri", "Friday,") and the blanks after it. */
static void
skip_weekday(const char *s, size_t len, size_t *i)
{
	size_t j = *i;

	while (j < len && is_alpha(s[j]))
		j++;
	if (j - *i < 3)
		return;
	for (int d = 0; d < 7; d++)
		if (lower(s[*i]) == weekday_names[d][0] &&
		    lower(s[*i + 1]) == weekday_names[d][1] &&
		    lower(s[*i + 2]) == weekday_names[d][2])
		{
			if (j < len && s[j] == ',')
				j++;
			if (j < len && !is_blank(s[j]))
				return;
			while (j < len && is_blank(s[j]))
				j++;
			*i = j;
			return;
		}
}

/*
 * A time "hh:mm[:ss[.frac]]" at s[*i], after a 'T' or blanks that the
 * caller has checked for.  Leaves *i unchanged when there is none.
 */
static bool
read_time(const char *s, size_t len, size_t *i, int *hh, int *mi, int *ss,
          int *usec)
{
	size_t j = *i;
	int nd;

	*hh = *mi = *ss = *usec = 0;
	if (!read_num(s, len, &j, 2, hh, &nd) || j >= len || s[j] != ':')
		return false;
	j++;
	if (!read_num(s, len, &j, 2, mi, &nd) || nd != 2)
		return false;
	if (j + 1 < len && s[j] == ':' && is_digit(s[j + 1]))
	{
		j++;
		if (!read_num(s, len, &j, 2, ss, &nd) || nd != 2)
			return false;
		if (j + 1 < len && (s[j] == '.' || s[j] == ',') && is_digit(s[j + 1]))
		{
			int scale = 100000;

			j++;
			while (j < len && is_digit(s[j]))
			{
				*usec += (s[j] - '0') * scale;
				scale /= 10;
				j++;
			}
		}
	}
	*i = j;
	return true;
}

/*
 * A zone at s[*i], possibly after blanks: "Z", "+09:00", "+0900", "-05",
 * "UTC", "(JST)", "UTC+8".  Sets *minutes east of UTC; leaves *i
 * unchanged when there is no zone.
 */
static bool
read_zone(const char *s, size_t len, size_t *i, int *minutes)
{
	size_t j = *i;
	bool paren = false;

	*minutes = 0;
	while (j < len && is_blank(s[j]))
		j++;
	if (j < len && s[j] == '(')
	{
		paren = true;
		j++;
	}
	if (j < len && is_alpha(s[j]))
	{
		size_t k = j;
		char word[8];
		bool known = false;

		while (k < len && is_alpha(s[k]))
			k++;
		if (k - j >= sizeof(word))
			return false;
		for (size_t n = 0; n < k - j; n++)
			word[n] = lower(s[j + n]);
		word[k - j] = '\0';
		for (size_t z = 0; z < sizeof(zone_names) / sizeof(zone_names[0]); z++)
			if (strcmp(word, zone_names[z].name) == 0)
			{
				*minutes = zone_names[z].minutes;
				known = true;
				break;
			}
		if (!known)
			return false;
		j = k;
		/* "UTC+8", "GMT+09:00" */
		if (*minutes == 0 && j + 1 < len && (s[j] == '+' || s[j] == '-') &&
		    is_digit(s[j + 1]))
		{
			int off;

			if (!read_zone(s, len, &j, &off))
				return false;
			*minutes = off;
		}
	}
	else if (j + 1 < len && (s[j] == '+' || s[j] == '-') && is_digit(s[j + 1]))
	{
		int sign = s[j] == '-' ? -1 : 1;
		int h = 0, m = 0, nd;

		j++;
		if (!read_num(s, len, &j, 4, &h, &nd))
			return false;
		if (nd == 4)
		{
			m = h % 100;
			h /= 100;
		}
		else if (nd == 3)
			return false;
		else if (j + 2 < len && s[j] == ':' && is_digit(s[j + 1]))
		{
			j++;
			if (!read_num(s, len, &j, 2, &m, &nd) || nd != 2)
				return false;
		}
		if (h > 14 || m > 59)
			return false;
		*minutes = sign * (h * 60 + m);
	}
	else
		return false;
	if (paren)
	{
		if (j >= len || s[j] != ')')
			return false;
		j++;
	}
	*i = j;
	return true;
}

/* After a date: an optional time ('T' or blanks then hh:mm) and zone. */
static bool
read_time_zone(const char *s, size_t len, size_t *i, int *hh, int *mi, int *ss,
               int *usec, int *zone, bool *has_zone)
{
	size_t j = *i;

	*hh = *mi = *ss = *usec = *zone = 0;
	*has_zone = false;
	if (j < len && (s[j] == 'T' || s[j] == 't' || is_blank(s[j])))
	{
		size_t k = j + 1;

		while (s[j] != 'T' && s[j] != 't' && k < len && is_blank(s[k]))
			k++;
		if (read_time(s, len, &k, hh, mi, ss, usec))
			j = k;
	}
	if (read_zone(s, len, &j, zone))
		*has_zone = true;
	*i = j;
	return true;
}

bool
whois_parse_date(const char *s, size_t len, struct whois_time *out)
{
	size_t i = 0;
	int y = 0, mo = 0, d = 0, hh = 0, mi = 0, ss = 0, usec = 0, zone = 0;
	int n1, nd;
	bool has_zone = false;

	out->epoch = 0;
	out->usec = 0;
	out->zoned = false;
	while (i < len && is_blank(s[i]))
		i++;
	skip_weekday(s, len, &i);
	if (i >= len)
		return false;

	if (is_digit(s[i]))
	{
		if (!read_num(s, len, &i, 8, &n1, &nd))
			return false;
		if (nd == 8)
		{
			/* yyyymmdd (registro.br, nic.at) */
			y = n1 / 10000;
			mo = n1 / 100 % 100;
			d = n1 % 100;
		}
		else if (nd == 4)
		{
			/* yyyy-mm-dd, yyyy/mm/dd, yyyy.mm.dd, "yyyy. mm. dd." */
			char sep;

			y = n1;
			if (i >= len || (s[i] != '-' && s[i] != '/' && s[i] != '.'))
				return false;
			sep = s[i++];
			if (sep == '.')
				while (i < len && s[i] == ' ')
					i++;
			if (i < len && is_alpha(s[i]))
			{
				if ((mo = read_month_name(s, len, &i)) == 0)
					return false;
			}
			else if (!read_num(s, len, &i, 2, &mo, &nd))
				return false;
			if (i >= len || s[i] != sep)
				return false;
			i++;
			if (sep == '.')
				while (i < len && s[i] == ' ')
					i++;
			if (!read_num(s, len, &i, 2, &d, &nd))
				return false;
			if (sep == '.' && i < len && s[i] == '.')
				i++;
		}
		else if (nd <= 2)
		{
			/* dd-Mon-yyyy, dd.mm.yyyy, dd/mm/yyyy, dd Mon yyyy */
			char sep;

			d = n1;
			if (i >= len ||
			    (s[i] != '-' && s[i] != '/' && s[i] != '.' && s[i] != ' '))
				return false;
			sep = s[i++];
			if (i < len && is_alpha(s[i]))
			{
				if ((mo = read_month_name(s, len, &i)) == 0)
					return false;
			}
			else if (sep == ' ' || !read_num(s, len, &i, 2, &mo, &nd))
				return false;
			if (i >= len || s[i] != sep)
				return false;
			i++;
			if (!read_num(s, len, &i, 4, &y, &nd) || nd != 4)
				return false;
			/* 12/31/2020: American order when it cannot be d/m */
			if (sep == '/' && mo > 12 && d <= 12)
			{
				int t = mo;

				mo = d;
				d = t;
			}
		}
		else
			return false;
		read_time_zone(s, len, &i, &hh, &mi, &ss, &usec, &zone, &has_zone);
	}
	else if (is_alpha(s[i]))
	{
		/* "Mon dd yyyy", "Mon dd, yyyy", ctime "Mon dd hh:mm:ss [ZZZ] yyyy" */
		if ((mo = read_month_name(s, len, &i)) == 0)
			return false;
		if (i < len && (s[i] == '-' || s[i] == '.'))
			i++;
		while (i < len && is_blank(s[i]))
			i++;
		if (!read_num(s, len, &i, 2, &d, &nd))
			return false;
		if (i < len && s[i] == ',')
			i++;
		while (i < len && is_blank(s[i]))
			i++;
		if (i + 4 <= len && is_digit(s[i]) && is_digit(s[i + 1]) &&
		    is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
		    (i + 4 == len || !is_digit(s[i + 4])))
		{
			if (!read_num(s, len, &i, 4, &y, &nd))
				return false;
			read_time_zone(s, len, &i, &hh, &mi, &ss, &usec, &zone, &has_zone);
		}
		else
		{
			if (!read_time(s, len, &i, &hh, &mi, &ss, &usec))
				return false;
			if (read_zone(s, len, &i, &zone))
				has_zone = true;
			while (i < len && is_blank(s[i]))
				i++;
			if (!read_num(s, len, &i, 4, &y, &nd) || nd != 4)
				return false;
		}
	}
	else
		return false;

	/* the date must end here: "2020-01-01abc", "...+99:00" are not dates */
	if (i < len && (is_alpha(s[i]) || is_digit(s[i])))
		return false;
	if (i + 1 < len && (s[i] == '+' || s[i] == '-') && is_digit(s[i + 1]))
		return false;
	if (y < 1000 || y > 9999 || mo < 1 || mo > 12 || d < 1)
		return false;
	if (d > maildate_days_in_month(y, mo))
		return false;
	if (hh > 23 || mi > 59 || ss > 60)
		return false;
	if (ss == 60)
		ss = 59;
	out->zoned = has_zone; /* without a zone: read as UTC */
	out->epoch = maildate_days_from_civil(y, mo, d) * 86400 + hh * 3600 +
	             mi * 60 + ss - (int64_t)zone * 60;
	out->usec = usec;
	return true;
}

bool
whois_clean_server(const char *s, size_t len, char *out, size_t outlen)
{
	static const char *const schemes[] = {"whois://", "rwhois://", NULL};
	size_t n = 0;
	bool colon = false;

	if (outlen > 0)
		out[0] = '\0';
	while (len > 0 && is_blank(s[0]))
	{
		s++;
		len--;
	}
	while (len > 0 && (is_blank(s[len - 1]) || s[len - 1] == '/'))
		len--;
	for (int k = 0; schemes[k] != NULL; k++)
	{
		size_t sl = strlen(schemes[k]);

		if (len >= sl && contains_ci(s, sl, schemes[k]))
		{
			s += sl;
			len -= sl;
			break;
		}
	}
	if (len == 0 || len >= outlen || len > WHOIS_SERVER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char c = lower(s[i]);

		if (c == ':')
		{
			/* one port separator, followed by digits only */
			if (colon || i == 0 || i + 1 == len)
				goto fail;
			colon = true;
		}
		else if (colon ? !is_digit(c)
		               : !(is_alpha(c) || is_digit(c) || c == '.' || c == '-'))
			goto fail;
		out[n++] = c;
	}
	out[n] = '\0';
	if (colon)
	{
		const char *p = strchr(out, ':');

		if (strlen(p + 1) > 5)
			goto fail;
	}
	return true;

fail:
	out[0] = '\0';
	return false;
}

/* Copy s[0..len) trimmed into out (at most outmax bytes) if out is empty. */
static void
set_text(char *out, size_t outmax, const char *s, size_t len)
{
	if (out[0] != '\0' || len == 0)
		return;
	if (len > outmax)
	{
		len = outmax;
		/* do not cut a UTF-8 sequence in half */
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(out, s, len);
	out[len] = '\0';
}

/* Set a date field from a value, if it is not yet set and the value parses. */
static void
set_date(bool *has, struct whois_time *t, const char *v, size_t vlen,
         int default_zone_minutes)
{
	if (!*has && whois_parse_date(v, vlen, t))
	{
		*has = true;
		if (!t->zoned)
			t->epoch -= (int64_t)default_zone_minutes * 60;
	}
}

/*
 * Split a line into a normalised key and a value.  Returns false for
 * comments and lines without a key.  *colon says whether the key ended
 * with ':' or ']' (otherwise the whole line is the key).
 */
static bool
split_line(const char *line, size_t len, char *key, const char **val,
           size_t *vlen, bool *colon, bool *bracketed)
{
	size_t i = 0, k = 0, kend;
	bool bracket = false;

	while (i < len && is_blank(line[i]))
		i++;
	while (len > i && (is_blank(line[len - 1]) || line[len - 1] == '\r'))
		len--;
	if (i >= len || line[i] == '%' || line[i] == '#')
		return false;
	/* JPRS: "[Created on]  2001/01/01", "a. [Domain Name]  EXAMPLE.JP" */
	if (i + 3 < len && is_alpha(line[i]) && line[i + 1] == '.' &&
	    line[i + 2] == ' ' && line[i + 3] == '[')
		i += 3;
	if (line[i] == '[')
	{
		bracket = true;
		i++;
	}
	for (kend = i; kend < len; kend++)
		if (bracket ? line[kend] == ']' : line[kend] == ':')
			break;
	*colon = kend < len;
	*bracketed = bracket;
	if (bracket && !*colon)
		return false;
	if (kend - i > KEY_MAX * 2)
		return false;
	for (size_t j = i; j < kend && k < KEY_MAX; j++)
	{
		char c = lower(line[j]);

		if (c == '-' || c == '_' || is_blank(c))
			c = ' ';
		if (c == ' ' && (k == 0 || key[k - 1] == ' '))
			continue;
		key[k++] = c;
	}
	/* "Creation Date (dd/mm/yyyy)" (.pt): drop a trailing remark */
	if (k > 0 && key[k - 1] == ')')
	{
		size_t open = k;

		while (open > 0 && key[open - 1] != '(')
			open--;
		if (open > 0)
			k = open - 1;
	}
	while (k > 0 && (key[k - 1] == ' ' || key[k - 1] == '.'))
		k--;
	key[k] = '\0';
	if (k == 0)
		return false;
	if (*colon)
	{
		i = kend + 1;
		while (i < len && is_blank(line[i]))
			i++;
		*val = line + i;
		*vlen = len - i;
	}
	else
	{
		*val = line + i;
		*vlen = len - i;
	}
	return true;
}

void
whois_parse_answer(const char *text, size_t len, struct whois_fields *out)
{
	size_t pos = 0;
	bool registrar_block = false;
	bool status_free = false;

	memset(out, 0, sizeof(*out));
	while (pos < len)
	{
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;
		char key[KEY_MAX + 1];
		const char *val = NULL;
		size_t vlen = 0;
		bool colon, bracketed = false;
		int zone;

		pos += llen + (nl ? 1 : 0);
		if (!split_line(line, llen, key, &val, &vlen, &colon, &bracketed))
		{
			/* a blank line ends a "Registrar:" block */
			size_t i = 0;

			while (i < llen && (is_blank(line[i]) || line[i] == '\r'))
				i++;
			if (i == llen)
				registrar_block = false;
			continue;
		}
		if (registrar_block)
		{
			/* the line after "Registrar:": a name, or "Name: ..." */
			registrar_block = false;
			if (!colon)
			{
				set_text(out->registrar, WHOIS_REGISTRAR_MAX, val, vlen);
				continue;
			}
			if (in_table(key, registrar_block_keys))
			{
				set_text(out->registrar, WHOIS_REGISTRAR_MAX, val, vlen);
				continue;
			}
		}
		/* JPRS ("[key] value" lines) writes Japan time, mostly without zone */
		zone = bracketed ? 9 * 60 : 0;
		if (!colon || vlen == 0)
		{
			/* "Registrar:" or "Registrar" alone: the name follows */
			if (in_table(key, registrar_keys) && out->registrar[0] == '\0')
				registrar_block = true;
			continue;
		}
		if (in_table(key, created_keys))
			set_date(&out->has_created, &out->created, val, vlen, zone);
		else if (in_table(key, updated_keys))
			set_date(&out->has_updated, &out->updated, val, vlen, zone);
		else if (in_table(key, expires_keys))
			set_date(&out->has_expires, &out->expires, val, vlen, zone);
		else if (in_table(key, registrar_keys))
			set_text(out->registrar, WHOIS_REGISTRAR_MAX, val, vlen);
		else if (in_table(key, referral_keys) &&
		         out->referral_server[0] == '\0')
			whois_clean_server(val, vlen, out->referral_server,
			                   sizeof(out->referral_server));
		else if (strcmp(key, "status") == 0 &&
		         ((vlen == 4 && contains_ci(val, vlen, "free")) ||
		          (vlen == 9 && contains_ci(val, vlen, "available"))))
			status_free = true; /* DENIC, .it, DNS Belgium, ... */
	}

	/* the flags are only for answers that carry no data */
	if (!out->has_created && !out->has_updated && !out->has_expires &&
	    out->registrar[0] == '\0' && out->referral_server[0] == '\0')
	{
		for (int i = 0; throttle_phrases[i] != NULL; i++)
			if (contains_ci(text, len, throttle_phrases[i]))
			{
				out->throttled = true;
				break;
			}
		out->not_found = !out->throttled && status_free;
		for (int i = 0;
		     !out->throttled && !out->not_found && not_found_phrases[i] != NULL;
		     i++)
			if (contains_ci(text, len, not_found_phrases[i]))
			{
				out->not_found = true;
				break;
			}
	}
}

void
whois_sanitize(char *buf, size_t len, bool ascii_only)
{
	size_t i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char)buf[i];
		size_t n = 0;
		unsigned int cp;

		if (c == 0)
		{
			buf[i++] = '?';
			continue;
		}
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (!ascii_only)
		{
			if (c >= 0xC2 && c <= 0xDF)
				n = 1;
			else if (c >= 0xE0 && c <= 0xEF)
				n = 2;
			else if (c >= 0xF0 && c <= 0xF4)
				n = 3;
		}
		if (n > 0)
		{
			bool ok = true;

			cp = c & (0x3F >> n);
			for (size_t k = 1; ok && k <= n; k++)
			{
				if (i + k >= len || ((unsigned char)buf[i + k] & 0xC0) != 0x80)
					ok = false;
				else
					cp = (cp << 6) | ((unsigned char)buf[i + k] & 0x3F);
			}
			/* no overlong forms, surrogates or code points past U+10FFFF */
			if (ok && ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			           (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
				ok = false;
			if (ok)
			{
				i += n + 1;
				continue;
			}
		}
		buf[i++] = '?';
	}
}
