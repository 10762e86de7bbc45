/*
 * maildate.c: a lenient parser for the dates found in mail headers.
 *
 * The input is cut into at most MAXTOK tokens (numbers, words, single
 * punctuation characters), then read by a small set of local patterns:
 * "H:M[:S]", "YYYY-MM-DD", "D-Mon-Y", "D.M.Y", "+HHMM", month and zone
 * names; any other token is skipped.  Dates are short, so a bounded token
 * window keeps the work linear and small whatever the input.
 */
#include "maildate.h"

#include <string.h>

#define MAXTOK 64

enum tok_kind
{
	TOK_NUM,
	TOK_WORD,
	TOK_CH
};

struct tok
{
	enum tok_kind kind;
	const char *p; /* start of a word */
	int len;       /* length of a word, digits of a number */
	long val;      /* value of a number (capped) */
	char ch;       /* punctuation character */
};

struct zone
{
	const char *name;
	int minutes;
};

static const struct zone zones[] = {
    {"UT", 0},     {"UTC", 0},    {"GMT", 0},     {"Z", 0},       {"EST", -300},
    {"EDT", -240}, {"CST", -360}, {"CDT", -300},  {"MST", -420},  {"MDT", -360},
    {"PST", -480}, {"PDT", -420}, {"AKST", -540}, {"AKDT", -480}, {"HST", -600},
    {"AST", -240}, {"ADT", -180}, {"NST", -210},  {"NDT", -150},  {"CET", 60},
    {"CEST", 120}, {"MET", 60},   {"MEST", 120},  {"MEZ", 60},    {"MESZ", 120},
    {"EET", 120},  {"EEST", 180}, {"WET", 0},     {"WEST", 60},   {"BST", 60},
    {"IST", 330},  {"MSK", 180},  {"JST", 540},   {"KST", 540},   {"HKT", 480},
    {"SGT", 480},  {"AEST", 600}, {"AEDT", 660},  {"ACST", 570},  {"ACDT", 630},
    {"AWST", 480}, {"NZST", 720}, {"NZDT", 780},  {"PHT", 480},   {"WIB", 420},
    {"SAST", 120}, {"BRT", -180}, {"ART", -180},  {"CAT", 120},   {"EAT", 180},
    {"WAT", 60},   {NULL, 0},
};

static const char *const months[] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december",
};

static const char *const weekdays[] = {
    "monday", "tuesday",  "wednesday", "thursday",
    "friday", "saturday", "sunday",
};

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Is the word (len >= 3) a prefix of name, ignoring case? */
static bool
word_abbrev(const struct tok *t, const char *name)
{
	size_t n = strlen(name);

	if (t->len < 3 || (size_t)t->len > n)
		return false;
	for (int i = 0; i < t->len; i++)
		if (lower(t->p[i]) != name[i])
			return false;
	return true;
}

/* Month number 1-12 of a word, or 0: a cheap 3-letter check first. */
static int
month_of(const struct tok *t)
{
	char c0;

	if (t->kind != TOK_WORD || t->len < 3 || t->len > 9)
		return 0;
	c0 = lower(t->p[0]);
	for (int i = 0; i < 12; i++)
		if (c0 == months[i][0] && word_abbrev(t, months[i]))
			return i + 1;
	return 0;
}

static bool
is_weekday(const struct tok *t)
{
	char c0;

	if (t->len < 3 || t->len > 9)
		return false;
	c0 = lower(t->p[0]);
	for (int i = 0; i < 7; i++)
		if (c0 == weekdays[i][0] && word_abbrev(t, weekdays[i]))
			return true;
	return false;
}

static bool
word_eq(const struct tok *t, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)t->len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(t->p[i]) != lower(w[i]))
			return false;
	return true;
}

/* Zone offset in minutes of a named zone (1-4 letters); false if unknown. */
static bool
zone_of(const struct tok *t, int *minutes)
{
	char c0;

	if (t->len < 1 || t->len > 4)
		return false;
	c0 = lower(t->p[0]);
	for (const struct zone *z = zones; z->name; z++)
		if (c0 == lower(z->name[0]) && word_eq(t, z->name))
		{
			*minutes = z->minutes;
			return true;
		}
	return false;
}

/* Cut s into tokens; returns how many (at most MAXTOK). */
static int
tokenize(const char *s, size_t n, struct tok *t)
{
	size_t i = 0;
	int k = 0;

	while (i < n && k < MAXTOK)
	{
		unsigned char c = (unsigned char)s[i];

		if (c >= '0' && c <= '9')
		{
			long v = 0;
			int d = 0;

			while (i < n && s[i] >= '0' && s[i] <= '9')
			{
				if (v < 100000000L)
					v = v * 10 + (s[i] - '0');
				d++;
				i++;
			}
			t[k].kind = TOK_NUM;
			t[k].val = v;
			t[k].len = d;
			k++;
		}
		else if ((c | 32) >= 'a' && (c | 32) <= 'z')
		{
			size_t st = i;

			while (i < n && (((unsigned char)s[i] | 32) >= 'a' &&
			                 ((unsigned char)s[i] | 32) <= 'z'))
				i++;
			t[k].kind = TOK_WORD;
			t[k].p = s + st;
			t[k].len = (int)(i - st > 32 ? 32 : i - st);
			k++;
		}
		else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' ||
		         c == ')' || c == '"' || c == '\0')
			i++;
		else
		{
			t[k].kind = TOK_CH;
			t[k].ch = (char)c;
			k++;
			i++;
		}
	}
	return k;
}

static bool
is_ch(const struct tok *t, int k, int i, char c)
{
	return i < k && t[i].kind == TOK_CH && t[i].ch == c;
}

static bool
is_num(const struct tok *t, int k, int i)
{
	return i < k && t[i].kind == TOK_NUM;
}

static bool
leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
maildate_days_in_month(long y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : d[m - 1];
}

int64_t
maildate_days_from_civil(long y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
maildate_parse_lenient(const char *s, size_t n, int64_t *out)
{
	struct tok t[MAXTOK];
	int k = tokenize(s, n, t);
	long year = -1, day = -1, hour = 0, min = 0, sec = 0;
	int mon = 0, off = 0, ampm = 0, yeardigits = 0;
	bool have_time = false, have_off = false, named = false;

	for (int i = 0; i < k; i++)
	{
		struct tok *c = &t[i];
		int m;

		if (c->kind == TOK_NUM)
		{
			/* H:M[:S[.frac]] */
			if (!have_time && is_ch(t, k, i + 1, ':') && is_num(t, k, i + 2) &&
			    c->len <= 2)
			{
				hour = c->val;
				min = t[i + 2].val;
				i += 2;
				if (is_ch(t, k, i + 1, ':') && is_num(t, k, i + 2))
				{
					sec = t[i + 2].val;
					i += 2;
					if ((is_ch(t, k, i + 1, '.') || is_ch(t, k, i + 1, ',')) &&
					    is_num(t, k, i + 2))
						i += 2;
				}
				have_time = true;
				continue;
			}
			/* YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD */
			if (year < 0 && c->len == 4 && i + 4 < k &&
			    t[i + 1].kind == TOK_CH &&
			    (t[i + 1].ch == '-' || t[i + 1].ch == '/' ||
			     t[i + 1].ch == '.') &&
			    is_num(t, k, i + 2) && is_ch(t, k, i + 3, t[i + 1].ch) &&
			    is_num(t, k, i + 4))
			{
				year = c->val;
				yeardigits = 4;
				mon = (int)(t[i + 2].val > 12 ? 13 : t[i + 2].val);
				day = t[i + 4].val;
				i += 4;
				continue;
			}
			/* D-Mon-Y */
			if (day < 0 && is_ch(t, k, i + 1, '-') && i + 3 < k &&
			    month_of(&t[i + 2]) && is_ch(t, k, i + 3, '-') &&
			    is_num(t, k, i + 4))
			{
				day = c->val;
				mon = month_of(&t[i + 2]);
				year = t[i + 4].val;
				yeardigits = t[i + 4].len;
				i += 4;
				continue;
			}
			/* D.M.Y (and M/D/Y when the first part cannot be a day) */
			if (mon == 0 && day < 0 && i + 4 < k && t[i + 1].kind == TOK_CH &&
			    (t[i + 1].ch == '.' || t[i + 1].ch == '/') &&
			    is_num(t, k, i + 2) && is_ch(t, k, i + 3, t[i + 1].ch) &&
			    is_num(t, k, i + 4) && c->len <= 2 && t[i + 2].len <= 2)
			{
				long a = c->val, b = t[i + 2].val;

				if (t[i + 1].ch == '/' && b > 12)
				{
					day = b;
					mon = (int)(a > 12 ? 13 : a);
				}
				else
				{
					day = a;
					mon = (int)(b > 12 ? 13 : b);
				}
				year = t[i + 4].val;
				yeardigits = t[i + 4].len;
				i += 4;
				continue;
			}
			/* H.M.S once the date is known */
			if (!have_time && mon && day >= 0 && c->len <= 2 &&
			    is_ch(t, k, i + 1, '.') && is_num(t, k, i + 2) &&
			    is_ch(t, k, i + 3, '.') && is_num(t, k, i + 4))
			{
				hour = c->val;
				min = t[i + 2].val;
				sec = t[i + 4].val;
				have_time = true;
				i += 4;
				continue;
			}
			if (year < 0 && (c->len >= 3 || c->val > 31))
			{
				year = c->val;
				yeardigits = c->len;
			}
			else if (day < 0 && c->val >= 1 && c->val <= 31)
				day = c->val;
			else if (year < 0)
			{
				year = c->val;
				yeardigits = c->len;
			}
			continue;
		}
		if (c->kind == TOK_CH)
		{
			/* numeric zone: +HHMM, -HH, +HH:MM */
			if ((c->ch == '+' || c->ch == '-') && have_time && !have_off &&
			    is_num(t, k, i + 1))
			{
				struct tok *z = &t[i + 1];
				long hh, mm = 0;

				if (z->len == 4 || z->len == 3)
				{
					hh = z->val / 100;
					mm = z->val % 100;
					i++;
				}
				else if (z->len <= 2)
				{
					hh = z->val;
					i++;
					if (is_ch(t, k, i + 1, ':') && is_num(t, k, i + 2))
					{
						mm = t[i + 2].val;
						i += 2;
					}
				}
				else
					continue;
				if (hh > 23 || mm > 59)
					return false;
				off = (int)(hh * 60 + mm) * (c->ch == '-' ? -1 : 1);
				have_off = true;
			}
			continue;
		}
		/* words */
		if (mon == 0 && (m = month_of(c)) != 0)
		{
			mon = m;
			continue;
		}
		if (is_weekday(c))
			continue;
		if (word_eq(c, "am"))
			ampm = 1;
		else if (word_eq(c, "pm"))
			ampm = 2;
		else if (!have_off && !named)
		{
			int z;

			if (zone_of(c, &z))
			{
				off = z;
				named = true;
			}
		}
	}

	if (year < 0 || mon < 1 || mon > 12 || day < 1)
		return false;
	if (yeardigits <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (yeardigits == 3)
		year += 1900;
	if (year < 1000 || year > 9999 || day > maildate_days_in_month(year, mon))
		return false;
	if (ampm)
	{
		if (hour < 1 || hour > 12)
			return false;
		if (ampm == 2 && hour < 12)
			hour += 12;
		else if (ampm == 1 && hour == 12)
			hour = 0;
	}
	if (hour > 23 || min > 59 || sec > 60)
		return false;
	*out = maildate_days_from_civil(year, mon, (int)day) * 86400 + hour * 3600 +
	       min * 60 + sec - (int64_t)off * 60;
	return true;
}

/* ------------------------------------------------ the RFC 5322 fast path */

/* Blanks, line breaks (a folded Date header) and NUL separate parts. */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/* n decimal digits at s[*i] (exactly n), their value in *v. */
static bool
digits(const char *s, size_t len, size_t *i, int n, long *v)
{
	*v = 0;
	for (int d = 0; d < n; d++, (*i)++)
	{
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return false;
		*v = *v * 10 + (s[*i] - '0');
	}
	return *i >= len || s[*i] < '0' || s[*i] > '9';
}

/* One or two digits at s[*i], not followed by a third. */
static bool
digits12(const char *s, size_t len, size_t *i, long *v)
{
	size_t st = *i;

	if (digits(s, len, i, 2, v))
		return true;
	*i = st;
	return digits(s, len, i, 1, v);
}

/* Index 0-based of a 3-letter name in names (first three letters), or -1. */
static int
abbrev3(const char *p, const char *const *names, int count)
{
	for (int k = 0; k < count; k++)
		if (lower(p[0]) == names[k][0] && lower(p[1]) == names[k][1] &&
		    lower(p[2]) == names[k][2])
			return k;
	return -1;
}

static const char *const zero_zones[] = {"gmt", "utc"};

/* Skip one or more blanks; false if there is none. */
static bool
blanks(const char *s, size_t n, size_t *i)
{
	size_t st = *i;

	while (*i < n && is_blank(s[*i]))
		(*i)++;
	return *i > st;
}

/* Is c an ASCII letter, as the lenient tokenizer counts them? */
static bool
is_letter(char c)
{
	return ((unsigned char)c | 32) >= 'a' && ((unsigned char)c | 32) <= 'z';
}

bool
maildate_parse_strict(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	long day, year, hour, min, sec = 0, zone;
	int mon;
	bool neg;

	while (i < n && is_blank(s[i]))
		i++;
	/* "Tue, " or "Tue " */
	if (i + 3 <= n && is_letter(s[i]))
	{
		if (i + 3 < n && is_letter(s[i + 3]))
			return false;
		if (abbrev3(s + i, weekdays, 7) < 0)
			return false;
		i += 3;
		if (i < n && s[i] == ',')
			i++;
		if (!blanks(s, n, &i))
			return false;
	}
	/* "3 Nov 2009 " */
	if (!digits12(s, n, &i, &day))
		return false;
	if (day < 1 || day > 31 || !blanks(s, n, &i) || i + 3 > n ||
	    (i + 3 < n && is_letter(s[i + 3])))
		return false;
	if ((mon = abbrev3(s + i, months, 12) + 1) == 0)
		return false;
	i += 3;
	if (!blanks(s, n, &i) || !digits(s, n, &i, 4, &year) || year < 1000 ||
	    day > maildate_days_in_month(year, mon) || !blanks(s, n, &i))
		return false;
	/* "10:00[:00] " */
	if (!digits12(s, n, &i, &hour))
		return false;
	if (i >= n || s[i++] != ':' || !digits(s, n, &i, 2, &min))
		return false;
	if (i < n && s[i] == ':')
	{
		i++;
		if (!digits(s, n, &i, 2, &sec))
			return false;
	}
	if (hour > 23 || min > 59 || sec > 60 || !blanks(s, n, &i))
		return false;
	/* "+0000", or "GMT"/"UT"/"UTC" and nothing after */
	if (i + 2 <= n && is_letter(s[i]))
	{
		size_t st = i;

		while (i < n && is_letter(s[i]))
			i++;
		if (!((i - st == 3 && abbrev3(s + st, zero_zones, 2) >= 0) ||
		      (i - st == 2 && lower(s[st]) == 'u' && lower(s[st + 1]) == 't')))
			return false;
		while (i < n && is_blank(s[i]))
			i++;
		if (i < n)
			return false;
		zone = 0;
		neg = false;
	}
	else
	{
		if (i >= n || (s[i] != '+' && s[i] != '-'))
			return false;
		neg = s[i++] == '-';
		if (!digits(s, n, &i, 4, &zone) || zone / 100 > 23 || zone % 100 > 59)
			return false;
	}
	/* after it only blanks and comments without an "am" or "pm" word */
	if (i < n && !is_blank(s[i]) && s[i] != '(')
		return false;
	while (i < n)
	{
		size_t st = i;

		while (i < n && is_letter(s[i]))
			i++;
		if (i - st == 2 && lower(s[st + 1]) == 'm' &&
		    (lower(s[st]) == 'a' || lower(s[st]) == 'p'))
			return false;
		if (i == st)
			i++;
	}
	zone = (zone / 100 * 60 + zone % 100) * (neg ? -1 : 1);
	*out = maildate_days_from_civil(year, mon, (int)day) * 86400 + hour * 3600 +
	       min * 60 + sec - zone * 60;
	return true;
}

bool
maildate_parse(const char *s, size_t n, int64_t *out)
{
	return maildate_parse_strict(s, n, out) ||
	       maildate_parse_lenient(s, n, out);
}
