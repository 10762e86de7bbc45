/*
 * mbox.c: mbox splitting, From-unquoting, dates, and the is-it-mail test.
 */
#include "mbox.h"

#include <stdlib.h>
#include <string.h>

#include "hdrscan.h"
#include "maildate.h"

/* End of the line at p (its LF, or end). */
static size_t
line_end(const char *buf, size_t len, size_t p)
{
	const char *nl = memchr(buf + p, '\n', len - p);

	return nl ? (size_t)(nl - buf) : len;
}

static bool
starts_from(const char *buf, size_t len, size_t p)
{
	return len - p >= 5 && memcmp(buf + p, "From ", 5) == 0;
}

/* Is the line starting at p a header field ("Name: ...")? */
static bool
is_field_line(const char *buf, size_t len, size_t p)
{
	size_t e = line_end(buf, len, p), q = p;

	while (q < e && buf[q] != ':' && (unsigned char)buf[q] > 32 &&
	       (unsigned char)buf[q] < 127)
		q++;
	return q > p && q < e && buf[q] == ':';
}

/* Is the "From " line at p (after an empty line) a real separator? */
static bool
is_separator(const char *buf, size_t len, size_t p)
{
	size_t e = line_end(buf, len, p);
	int64_t t;

	if (mbox_from_date(buf + p, e - p, &t))
		return true;
	return e < len && is_field_line(buf, len, e + 1);
}

void
mbox_iter_init(struct mbox_iter *it, const char *buf, size_t len)
{
	it->buf = buf;
	it->len = len;
	it->pos = 0;
}

bool
mbox_next(struct mbox_iter *it, struct mbox_msg *m)
{
	const char *buf = it->buf;
	size_t len = it->len, p = it->pos, e, start, end;
	bool prev_empty = false;

	if (p >= len)
		return false;
	e = line_end(buf, len, p);
	if (starts_from(buf, len, p))
	{
		m->from_off = p;
		m->from_len = e - p;
		if (m->from_len && buf[e - 1] == '\r')
			m->from_len--;
		start = e < len ? e + 1 : len;
	}
	else
	{
		/* no From_ line here (a file not starting with one) */
		m->from_off = p;
		m->from_len = 0;
		start = p;
	}
	/* find the next separator */
	end = len;
	for (size_t q = start; q < len; q = e + 1)
	{
		e = line_end(buf, len, q);
		if (prev_empty && starts_from(buf, len, q) && is_separator(buf, len, q))
		{
			end = q;
			break;
		}
		prev_empty = e == q || (e == q + 1 && buf[q] == '\r');
		if (e >= len)
			break;
	}
	it->pos = end;
	/* drop the separator: one empty line before the next From_ line */
	if (end - start >= 2 && buf[end - 1] == '\n')
	{
		if (buf[end - 2] == '\n')
			end--;
		else if (end - start >= 4 && buf[end - 2] == '\r' &&
		         buf[end - 3] == '\n')
			end -= 2;
		else if (end - start >= 4 && buf[end - 2] == '\r' &&
		         buf[end - 3] == '\r' && buf[end - 4] == '\n')
			end -= 2;
	}
	m->off = start;
	m->len = end - start;
	return true;
}

/* How many '>' to drop from the line at p (0 or 1). */
static int
quote_drop(const char *in, size_t n, size_t p, enum mbox_variant v)
{
	size_t q = p;

	if (v == MBOX_RAW || p >= n || in[p] != '>')
		return 0;
	while (q < n && in[q] == '>')
		q++;
	if (v == MBOX_O && q - p != 1)
		return 0;
	return n - q >= 5 && memcmp(in + q, "From ", 5) == 0 ? 1 : 0;
}

bool
mbox_needs_unquote(const char *in, size_t n, enum mbox_variant v)
{
	for (size_t p = 0; p < n;)
	{
		const char *nl;

		if (quote_drop(in, n, p, v))
			return true;
		nl = memchr(in + p, '\n', n - p);
		if (!nl)
			break;
		p = (size_t)(nl - in) + 1;
	}
	return false;
}

size_t
mbox_unquote(const char *in, size_t n, enum mbox_variant v, char *out)
{
	size_t o = 0;

	for (size_t p = 0; p < n;)
	{
		const char *nl;
		size_t e;

		p += (size_t)quote_drop(in, n, p, v);
		nl = memchr(in + p, '\n', n - p);
		e = nl ? (size_t)(nl - in) + 1 : n;
		memcpy(out + o, in + p, e - p);
		o += e - p;
		p = e;
	}
	return o;
}

/* --- dates: the extension's lenient parser (maildate.c) ---------------- */

bool
mail_parse_date(const char *s, size_t n, int64_t *unix_us)
{
	int64_t t;

	if (!maildate_parse(s, n, &t))
		return false;
	*unix_us = t * 1000000;
	return true;
}

bool
mbox_from_date(const char *line, size_t n, int64_t *unix_us)
{
	size_t i = 0;

	if (n < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	i = 5;
	while (i < n && line[i] == ' ')
		i++;
	while (i < n && line[i] != ' ' && line[i] != '\t')
		i++; /* the sender */
	return mail_parse_date(line + i, n - i, unix_us);
}

/* Unfold field f into a malloc'd string; NULL on allocation failure. */
static char *
unfold(const struct hdr_field *f, size_t *len)
{
	char *v = malloc(f->value_len + 1);

	if (!v)
		return NULL;
	*len = hdr_unfold(f->value, f->value_len, v);
	v[*len] = '\0';
	return v;
}

bool
mail_received_at(const char *buf, size_t n, int64_t *unix_us)
{
	struct hdr_iter it;
	struct hdr_field f;
	bool have_received = false, ok = false;

	hdr_iter_init(&it, buf, n);
	while (!ok && hdr_iter_next(&it, &f))
	{
		char *v, *semi;
		size_t len;

		if (!have_received && hdr_name_is(&f, "Received"))
		{
			have_received = true; /* only the newest one */
			if (!(v = unfold(&f, &len)))
				return false;
			semi = strrchr(v, ';');
			if (semi)
				ok = mail_parse_date(semi + 1, len - (size_t)(semi + 1 - v),
				                     unix_us);
			free(v);
		}
	}
	if (ok)
		return true;
	hdr_iter_init(&it, buf, n);
	while (hdr_iter_next(&it, &f))
	{
		if (hdr_name_is(&f, "Date"))
		{
			char *v;
			size_t len;

			if (!(v = unfold(&f, &len)))
				return false;
			ok = mail_parse_date(v, len, unix_us);
			free(v);
			return ok;
		}
	}
	return false;
}

bool
mail_looks_like(const char *buf, size_t n)
{
	static const char *const common[] = {
	    "From",       "Date",         "Subject",      "Received",
	    "Message-ID", "Return-Path",  "To",           "MIME-Version",
	    "Sender",     "Delivered-To", "Content-Type", "Reply-To"};
	struct hdr_iter it;
	struct hdr_field f;
	int fields = 0;
	bool known = false;
	size_t start = 0;

	if (n >= 5 && memcmp(buf, "From ", 5) == 0)
		start = line_end(buf, n, 0) + 1;
	if (start >= n || !is_field_line(buf, n, start))
		return false;
	hdr_iter_init(&it, buf, n);
	while (hdr_iter_next(&it, &f) && fields < 1000)
	{
		fields++;
		for (size_t i = 0; !known && i < sizeof(common) / sizeof(common[0]);
		     i++)
			known = hdr_name_is(&f, common[i]);
	}
	return fields >= 2 && known;
}
