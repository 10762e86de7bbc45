/*
 * addrparse.c: a lenient parser for address header values.
 */
#include "addrparse.h"

#include <stdlib.h>
#include <string.h>

struct seg
{
	size_t s, e;
	bool has_at, has_lt;
};

/*
 * Once a quote or comment is found unterminated up to a bound, later ones
 * up to the same bound are too: remembering that keeps every loop linear.
 */
struct skip_state
{
	bool quote_open;
	bool comment_open;
};

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/*
 * Skip a quoted string or comment starting at i (v[i] is '"' or '(').
 * Returns the index after it; an unterminated one is an ordinary character.
 */
static size_t
skip_special(const char *v, size_t n, size_t start, struct skip_state *st)
{
	size_t i = start;

	if (v[i] == '"' ? st->quote_open : st->comment_open)
		return start + 1;
	if (v[i] == '"')
	{
		for (i++; i < n; i++)
		{
			if (v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '"')
				return i + 1;
		}
		st->quote_open = true;
		return start + 1;
	}
	else
	{
		int depth = 0;

		for (i = start; i < n; i++)
		{
			if (v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '(')
				depth++;
			else if (v[i] == ')' && --depth == 0)
				return i + 1;
		}
		st->comment_open = true;
		return start + 1;
	}
}

/* Append [s, e) to out at *o: quotes and escapes removed, blanks collapsed. */
static void
add_phrase(const char *v, size_t s, size_t e, char *out, size_t *o)
{
	for (size_t i = s; i < e; i++)
	{
		char c = v[i];

		if (c == '"')
			continue;
		if (c == '\\' && i + 1 < e)
			c = v[++i];
		if (is_blank(c))
		{
			if (*o > 0 && out[*o - 1] != ' ')
				out[(*o)++] = ' ';
			continue;
		}
		out[(*o)++] = c;
	}
}

static void
trim(char *out, size_t *o)
{
	size_t s = 0;

	while (*o > 0 && out[*o - 1] == ' ')
		(*o)--;
	while (s < *o && out[s] == ' ')
		s++;
	memmove(out, out + s, *o - s);
	*o -= s;
	out[*o] = '\0';
}

/*
 * Clean an address in [s, e): comments, blanks and quotes around the whole
 * address dropped, a source route and "mailto:" stripped.
 */
static void
clean_address(const char *v, size_t s, size_t e, char *out, size_t *o)
{
	size_t start;
	struct skip_state st = {0};

	*o = 0;
	for (size_t i = s; i < e;)
	{
		if (v[i] == '(')
			i = skip_special(v, e, i, &st);
		else if (v[i] == '"')
		{
			size_t j = skip_special(v, e, i, &st);

			memcpy(out + *o, v + i, j - i);
			*o += j - i;
			i = j;
		}
		else if (is_blank(v[i]) || v[i] == '<' || v[i] == '>')
			i++;
		else
			out[(*o)++] = v[i++];
	}
	out[*o] = '\0';
	start = 0;
	/* source route "@a,@b:user@host" */
	if (*o > 0 && out[0] == '@')
	{
		char *colon = memchr(out, ':', *o);

		if (colon != NULL)
			start = colon - out + 1;
	}
	if (*o - start >= 7 && strncasecmp(out + start, "mailto:", 7) == 0)
		start += 7;
	/* 'user@host' or "user@host" quoted whole */
	if (*o - start >= 2 && (out[start] == '\'' || out[start] == '"') &&
	    out[*o - 1] == out[start] && memchr(out + start, '@', *o - start))
	{
		start++;
		(*o)--;
	}
	memmove(out, out + start, *o - start);
	*o -= start;
	out[*o] = '\0';
}

/* Parse one mailbox in [s, e) and report it. */
static void
parse_mailbox(const char *v, size_t s, size_t e, char *dbuf, char *abuf,
              addr_emit_fn emit, void *arg)
{
	size_t lt = (size_t)-1, gt = e, dl = 0, al = 0, cs = 0, ce = 0;
	bool have_addr = false;
	struct skip_state st = {0}, st_d = {0}, st_w = {0}, st_n = {0};

	for (size_t i = s; i < e;)
	{
		if (v[i] == '"' || v[i] == '(')
		{
			if (v[i] == '(' && ce == 0)
			{
				cs = i + 1;
				ce = skip_special(v, e, i, &st);
				if (ce > cs && v[ce - 1] == ')')
					ce--;
				i = skip_special(v, e, i, &st);
				if (ce < cs)
					ce = cs;
				continue;
			}
			i = skip_special(v, e, i, &st);
		}
		else if (v[i] == '<')
		{
			const char *g = memchr(v + i, '>', e - i);

			lt = i;
			gt = g ? (size_t)(g - v) : e;
			i = gt < e ? gt + 1 : e;
		}
		else
			i++;
	}
	if (lt != (size_t)-1)
	{
		/* name <address> */
		clean_address(v, lt + 1, gt, abuf, &al);
		have_addr = true;
		for (size_t i = s; i < lt;)
		{
			if (v[i] == '(')
				i = skip_special(v, lt, i, &st_d);
			else if (v[i] == '"')
			{
				size_t j = skip_special(v, lt, i, &st_d);

				add_phrase(v, i, j, dbuf, &dl);
				i = j;
			}
			else
			{
				add_phrase(v, i, i + 1, dbuf, &dl);
				i++;
			}
		}
	}
	else
	{
		/*
		 * No brackets: the last blank-separated word with an '@' is the
		 * address, the words before it the name ("John j@x.com").
		 */
		size_t as = (size_t)-1, ae = e;

		for (size_t i = s; i < e;)
		{
			size_t ws, we;
			bool at = false;

			while (i < e && is_blank(v[i]))
				i++;
			ws = i;
			while (i < e && !is_blank(v[i]))
			{
				if (v[i] == '"' || v[i] == '(')
				{
					i = skip_special(v, e, i, &st_w);
					continue;
				}
				if (v[i] == '@')
					at = true;
				i++;
			}
			we = i;
			if (we > ws && v[ws] == '(')
				continue;
			if (at)
			{
				as = ws;
				ae = we;
			}
		}
		if (as == (size_t)-1)
		{
			/* no '@' at all: the whole (comment-free) text is the address */
			as = s;
			ae = e;
		}
		else
			for (size_t i = s; i < as;)
			{
				if (v[i] == '(')
					i = skip_special(v, as, i, &st_n);
				else
				{
					add_phrase(v, i, i + 1, dbuf, &dl);
					i++;
				}
			}
		clean_address(v, as, ae, abuf, &al);
		have_addr = al > 0;
	}
	dbuf[dl] = '\0';
	trim(dbuf, &dl);
	if (dl == 0 && ce > cs)
	{
		add_phrase(v, cs, ce, dbuf, &dl);
		dbuf[dl] = '\0';
		trim(dbuf, &dl);
	}
	if (dl == 0 && !have_addr)
		return;
	emit(arg, dl > 0 ? dbuf : NULL, have_addr ? abuf : NULL);
}

void
addr_parse(const char *v, size_t n, addr_emit_fn emit, void *arg)
{
	struct seg *segs;
	size_t nseg = 0, start = 0;
	bool at = false, lt = false, in_angle = false;
	char *dbuf, *abuf;
	struct skip_state st = {0};

	/* at most one segment per separator, plus one */
	segs = malloc(sizeof(struct seg) * (n / 2 + 2));
	dbuf = malloc(n + 1);
	abuf = malloc(n + 1);
	if (segs == NULL || dbuf == NULL || abuf == NULL)
		abort();
	for (size_t i = 0; i <= n;)
	{
		char c = i < n ? v[i] : ',';

		if (i < n && (c == '"' || c == '('))
		{
			i = skip_special(v, n, i, &st);
			continue;
		}
		if (c == '<')
			in_angle = lt = true;
		else if (c == '>')
			in_angle = false;
		else if (c == '@')
			at = true;
		if (i == n || (!in_angle && (c == ',' || c == ';')) ||
		    (!in_angle && c == ':' && !at && !lt))
		{
			/* a group name ("Friends:") is dropped, not a mailbox */
			if (c != ':' && i > start)
			{
				segs[nseg].s = start;
				segs[nseg].e = i;
				segs[nseg].has_at = at;
				segs[nseg].has_lt = lt;
				nseg++;
			}
			start = i + 1;
			at = lt = in_angle = false;
		}
		i++;
	}
	for (size_t k = 0; k < nseg; k++)
	{
		size_t s = segs[k].s, e = segs[k].e;

		/* "Doe, John <j@x>": a bare name before a bracketed mailbox */
		while (!segs[k].has_at && !segs[k].has_lt && k + 1 < nseg &&
		       segs[k + 1].has_lt && v[segs[k].e] == ',')
		{
			bool blank = true;

			for (size_t i = s; i < e; i++)
				if (!is_blank(v[i]))
					blank = false;
			if (blank)
				break;
			k++;
			e = segs[k].e;
		}
		parse_mailbox(v, s, e, dbuf, abuf, emit, arg);
	}
	free(segs);
	free(dbuf);
	free(abuf);
}
