/*
 * imap.c: the read-only IMAP side of `ingestd import`, on libetpan.
 *
 * One connection per URL: connect (imaps: TLS at once; imap: STARTTLS when
 * offered, or required), verify the server certificate with OpenSSL before
 * the password is sent, LOGIN, LIST "" "*", then per folder EXAMINE (never
 * SELECT), UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE) for the plan and UID
 * FETCH <batch> (UID BODY.PEEK[]) for the bodies, batches bounded by the
 * sum of RFC822.SIZE.  A batch the server refuses is fetched again one
 * message at a time; a message that still fails is reported and skipped.
 *
 * Why libetpan and not libcurl: curl's IMAP fetch SELECTs the folder and
 * sends BODY[] (sets \Seen), and before curl 8.x a custom UID FETCH cannot
 * return literals (message bodies); docs/imap.md has the comparison.
 */
#include "imap.h"

#include <errno.h>
#include <fcntl.h>
#include <libetpan/libetpan.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMAP_PASSWORD_MAX 4096
/* Reconnects per URL after the server dropped the connection mid-fetch. */
#define IMAP_MAX_RECONNECTS 100

struct folder
{
	char *raw;  /* as on the wire (modified UTF-7), for EXAMINE */
	char *name; /* UTF-8 */
	int special;
};

struct meta
{
	uint32_t uid;
	uint32_t size;
	int64_t date_us;
	bool done;
};

struct conn
{
	mailimap *imap;
	const struct imap_options *o;
	const struct imap_callbacks *cb;
	struct imap_url url;
	char where[IMAPURL_USER_MAX + IMAPURL_HOST_MAX + 32]; /* for messages */
	bool tls;
	bool by_name; /* no folder has a special-use flag: labels by name */
	bool failed;  /* a folder failed; the URL's result is FAILED */
	int reconnects;
};

void
imap_options_default(struct imap_options *o)
{
	memset(o, 0, sizeof(*o));
	o->password_env = "INGESTD_IMAP_PASSWORD";
	o->tls_mode = IMAP_TLS_OPPORTUNISTIC;
	o->tls_verify = true;
	o->timeout_s = 60;
	o->batch_bytes = 8 * 1024 * 1024;
}

static bool
is_ok(int r)
{
	return r == MAILIMAP_NO_ERROR || r == MAILIMAP_NO_ERROR_AUTHENTICATED ||
	       r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED;
}

/* The connection is unusable after these. */
static bool
is_stream_error(int r)
{
	return r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE ||
	       r == MAILIMAP_ERROR_FATAL || r == MAILIMAP_ERROR_MEMORY ||
	       r == MAILIMAP_ERROR_BAD_STATE;
}

/* What the server said last (its tagged reply text), printable. */
static const char *
server_text(const struct conn *c)
{
	const char *s = c->imap ? c->imap->imap_response : NULL;

	return s && *s ? s : "no reply text";
}

static const char *
etpan_error(int r)
{
	switch (r)
	{
		case MAILIMAP_ERROR_STREAM:
			return "connection lost or timed out";
		case MAILIMAP_ERROR_PARSE:
			return "unparseable server reply";
		case MAILIMAP_ERROR_CONNECTION_REFUSED:
			return "cannot connect";
		case MAILIMAP_ERROR_SSL:
			return "TLS handshake failed";
		case MAILIMAP_ERROR_STARTTLS:
			return "STARTTLS refused";
		case MAILIMAP_ERROR_MEMORY:
			return "out of memory";
		case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
			return "server refused the connection (BYE)";
		default:
			return "IMAP error";
	}
}

static void
fail(struct conn *c, const char *fmt, const char *detail)
{
	fprintf(stderr, "ingestd import: %s: ", c->where);
	fprintf(stderr, fmt, detail);
	fputc('\n', stderr);
}

/* --- password ------------------------------------------------------------- */

/* The password from --password-file (first line) or the environment. */
static char *
read_password(struct conn *c)
{
	const struct imap_options *o = c->o;
	char *pw;

	if (o->password_file)
	{
		char buf[IMAP_PASSWORD_MAX + 1];
		struct stat st;
		ssize_t n;
		int fd = open(o->password_file, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
		{
			fail(c, "cannot read --password-file: %s", strerror(errno));
			return NULL;
		}
		if (fstat(fd, &st) == 0 && (st.st_mode & 077))
			fprintf(stderr,
			        "ingestd: level=warn component=import "
			        "event=password_file_readable path=\"%s\" "
			        "hint=\"chmod 600 it\"\n",
			        o->password_file);
		n = read(fd, buf, IMAP_PASSWORD_MAX);
		close(fd);
		if (n < 0)
		{
			fail(c, "cannot read --password-file: %s", strerror(errno));
			return NULL;
		}
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		pw = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
		return pw;
	}
	if (o->password_env && getenv(o->password_env))
		return strdup(getenv(o->password_env));
	fail(c,
	     "no password: set %s or pass --password-file FILE (passwords are "
	     "never taken from the command line)",
	     o->password_env ? o->password_env : "INGESTD_IMAP_PASSWORD");
	return NULL;
}

/* --- TLS ------------------------------------------------------------------ */

static void
tls_setup(struct mailstream_ssl_context *ctx, void *data)
{
	const char *host = data;

	/* SNI for names; never for address literals */
	if (!strchr(host, ':') && strspn(host, "0123456789.") != strlen(host))
		mailstream_ssl_set_server_name(ctx, (char *)host);
}

/*
 * Verify the chain the server sent against the system store (or --tls-ca)
 * and the URL's host.  libetpan (GnuTLS in Debian) does not verify, so this
 * runs right after the handshake, before LOGIN sends the password.
 */
static bool
tls_verify(struct conn *c)
{
	carray *chain = mailstream_get_certificate_chain(c->imap->imap_stream);
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *leaf = NULL;
	X509_VERIFY_PARAM *param;
	bool ok = false;

	if (!untrusted || !store || !ctx)
	{
		fail(c, "%s", "out of memory verifying the certificate");
		goto out;
	}
	for (unsigned i = 0; chain && i < carray_count(chain); i++)
	{
		MMAPString *der = carray_get(chain, i);
		const unsigned char *p = (const unsigned char *)der->str;
		X509 *x = d2i_X509(NULL, &p, (long)der->len);

		if (!x)
			continue;
		if (!leaf)
			leaf = x;
		else if (!sk_X509_push(untrusted, x))
			X509_free(x);
	}
	if (!leaf)
	{
		fail(c, "%s", "the server sent no certificate");
		goto out;
	}
	if (c->o->tls_ca ? !X509_STORE_load_locations(store, c->o->tls_ca, NULL)
	                 : !X509_STORE_set_default_paths(store))
	{
		fail(c, "cannot load the CA file %s", c->o->tls_ca ? c->o->tls_ca : "");
		goto out;
	}
	if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
	{
		fail(c, "%s", "cannot verify the certificate");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	/* what --tls-ca names is trusted as given, intermediates too (curl) */
	if (c->o->tls_ca)
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	if (strchr(c->url.host, ':') ||
	    strspn(c->url.host, "0123456789.") == strlen(c->url.host))
		X509_VERIFY_PARAM_set1_ip_asc(param, c->url.host);
	else
		X509_VERIFY_PARAM_set1_host(param, c->url.host, 0);
	if (X509_verify_cert(ctx) == 1)
		ok = true;
	else
	{
		fprintf(stderr,
		        "ingestd import: %s: certificate verification failed: %s\n"
		        "ingestd import: trust a private CA with --tls-ca FILE; "
		        "--no-tls-verify accepts any certificate (test servers "
		        "only)\n",
		        c->where,
		        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
	if (chain)
		mailstream_certificate_chain_free(chain);
	ERR_clear_error();
	return ok;
}

static bool
has_capability(struct conn *c, const char *name)
{
	struct mailimap_capability_data *caps = NULL;
	bool yes = false;
	clistiter *it;

	if (!is_ok(mailimap_capability(c->imap, &caps)) || !caps)
		return false;
	for (it = clist_begin(caps->cap_list); it; it = clist_next(it))
	{
		struct mailimap_capability *cap = clist_content(it);

		if (cap->cap_type == MAILIMAP_CAPABILITY_NAME &&
		    strcasecmp(cap->cap_data.cap_name, name) == 0)
			yes = true;
	}
	mailimap_capability_data_free(caps);
	return yes;
}

/* Connect, TLS, verify, LOGIN. */
static bool
conn_open(struct conn *c)
{
	char *pw;
	int r;

	if (!(pw = read_password(c)))
		return false;
	c->imap = mailimap_new(0, NULL);
	if (!c->imap)
	{
		free(pw);
		fail(c, "%s", "out of memory");
		return false;
	}
	mailimap_set_timeout(c->imap, c->o->timeout_s);
	if (c->url.tls)
		r = mailimap_ssl_connect_with_callback(
		    c->imap, c->url.host, c->url.port, tls_setup, c->url.host);
	else
		r = mailimap_socket_connect(c->imap, c->url.host, c->url.port);
	if (!is_ok(r))
	{
		fail(c, "%s (server unreachable, wrong port, or not IMAP?)",
		     etpan_error(r));
		goto fail;
	}
	c->tls = c->url.tls;
	if (!c->url.tls)
	{
		if (has_capability(c, "STARTTLS"))
		{
			r = mailimap_socket_starttls_with_callback(c->imap, tls_setup,
			                                           c->url.host);
			if (!is_ok(r))
			{
				fail(c, "STARTTLS failed: %s", etpan_error(r));
				goto fail;
			}
			c->tls = true;
		}
		else if (c->o->tls_mode == IMAP_TLS_REQUIRE)
		{
			fail(c, "%s",
			     "the server offers no STARTTLS and --require-tls is set");
			goto fail;
		}
		else
			fprintf(stderr,
			        "ingestd: level=warn component=import event=no_tls "
			        "server=\"%s\" msg=\"no STARTTLS: the password goes in "
			        "clear text\"\n",
			        c->where);
	}
	if (c->tls && c->o->tls_verify && !tls_verify(c))
		goto fail;
	r = mailimap_login(c->imap, c->url.user, pw);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	pw = NULL;
	if (!is_ok(r))
	{
		if (is_stream_error(r))
			fail(c, "login failed: %s", etpan_error(r));
		else
			fail(c, "login failed: %s", server_text(c));
		goto fail;
	}
	return true;
fail:
	if (pw)
	{
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	return false;
}

static void
conn_close(struct conn *c)
{
	if (!c->imap)
		return;
	if (c->imap->imap_stream)
		mailimap_logout(c->imap);
	mailimap_free(c->imap);
	c->imap = NULL;
}

/* --- folders -------------------------------------------------------------- */

static void
folders_free(struct folder *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		free(f[i].raw);
		free(f[i].name);
	}
	free(f);
}

static int
list_flags(const struct mailimap_mailbox_list *mb)
{
	const struct mailimap_mbx_list_flags *fl = mb->mb_flag;
	int special = 0;

	if (!fl)
		return 0;
	if (fl->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    fl->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		special |= IMAP_SPECIAL_NOSELECT;
	for (clistiter *it = clist_begin(fl->mbf_oflags); it; it = clist_next(it))
	{
		const struct mailimap_mbx_list_oflag *of = clist_content(it);

		if (of->of_type == MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT && of->of_flag_ext)
			special |= imapurl_special_flag(of->of_flag_ext);
	}
	return special;
}

/* LIST "" "*" into an array. */
static bool
list_folders(struct conn *c, struct folder **out, size_t *n_out)
{
	clist *list = NULL;
	struct folder *f;
	size_t n = 0;
	int r = mailimap_list(c->imap, "", "*", &list);

	if (!is_ok(r))
	{
		fail(c, "LIST failed: %s",
		     is_stream_error(r) ? etpan_error(r) : server_text(c));
		return false;
	}
	f = calloc((size_t)clist_count(list) + 1, sizeof(*f));
	for (clistiter *it = clist_begin(list); f && it; it = clist_next(it))
	{
		const struct mailimap_mailbox_list *mb = clist_content(it);
		size_t size = 2 * strlen(mb->mb_name) + 1;

		f[n].raw = strdup(mb->mb_name);
		f[n].name = malloc(size);
		if (!f[n].raw || !f[n].name)
		{
			free(f[n].raw);
			free(f[n].name);
			continue;
		}
		(void)imapurl_mutf7_decode(mb->mb_name, f[n].name, size);
		f[n].special = list_flags(mb);
		n++;
	}
	mailimap_list_result_free(list);
	if (!f)
	{
		fail(c, "%s", "out of memory");
		return false;
	}
	*out = f;
	*n_out = n;
	return true;
}

/* --- fetching ------------------------------------------------------------- */

static int
cmp_meta(const void *a, const void *b)
{
	uint32_t x = ((const struct meta *)a)->uid,
	         y = ((const struct meta *)b)->uid;

	return x < y ? -1 : x > y;
}

static struct meta *
find_meta(struct meta *m, size_t n, uint32_t uid)
{
	struct meta key = {.uid = uid};

	return bsearch(&key, m, n, sizeof(*m), cmp_meta);
}

/* The static items of one FETCH response that matter here. */
static void
att_items(const struct mailimap_msg_att *att, uint32_t *uid, uint32_t *size,
          const struct mailimap_date_time **date, const char **body,
          size_t *body_len)
{
	for (clistiter *it = clist_begin(att->att_list); it; it = clist_next(it))
	{
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		st = item->att_data.att_static;
		switch (st->att_type)
		{
			case MAILIMAP_MSG_ATT_UID:
				*uid = st->att_data.att_uid;
				break;
			case MAILIMAP_MSG_ATT_RFC822_SIZE:
				if (size)
					*size = st->att_data.att_rfc822_size;
				break;
			case MAILIMAP_MSG_ATT_INTERNALDATE:
				if (date)
					*date = st->att_data.att_internal_date;
				break;
			case MAILIMAP_MSG_ATT_BODY_SECTION:
				if (body && st->att_data.att_body_section)
				{
					*body = st->att_data.att_body_section->sec_body_part;
					*body_len = st->att_data.att_body_section->sec_length;
				}
				break;
			default:
				break;
		}
	}
}

/*
 * UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE), sorted by UID.  False on
 * failure, with *lost set when the connection went with it.
 */
static bool
fetch_plan(struct conn *c, const struct folder *f, struct meta **out,
           size_t *n_out, bool *lost)
{
	struct mailimap_set *set = mailimap_set_new_interval(1, 0);
	struct mailimap_fetch_type *ft =
	    mailimap_fetch_type_new_fetch_att_list_empty();
	clist *res = NULL;
	struct meta *m = NULL;
	size_t n = 0;
	int r = MAILIMAP_ERROR_MEMORY;

	if (set && ft &&
	    mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_uid()) == MAILIMAP_NO_ERROR &&
	    mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_rfc822_size()) == MAILIMAP_NO_ERROR &&
	    mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_internaldate()) == MAILIMAP_NO_ERROR)
		r = mailimap_uid_fetch(c->imap, set, ft, &res);
	if (set)
		mailimap_set_free(set);
	if (ft)
		mailimap_fetch_type_free(ft);
	if (!is_ok(r))
	{
		fprintf(stderr,
		        "ingestd import: %s: folder \"%s\": UID FETCH failed: %s\n",
		        c->where, f->name,
		        is_stream_error(r) ? etpan_error(r) : server_text(c));
		*lost = is_stream_error(r) || r == MAILIMAP_ERROR_MEMORY;
		return false;
	}
	m = calloc((size_t)clist_count(res) + 1, sizeof(*m));
	for (clistiter *it = clist_begin(res); m && it; it = clist_next(it))
	{
		const struct mailimap_date_time *d = NULL;
		uint32_t uid = 0, size = 0;

		att_items(clist_content(it), &uid, &size, &d, NULL, NULL);
		if (uid == 0)
			continue;
		m[n].uid = uid;
		m[n].size = size;
		if (!d ||
		    !imapurl_date_us(d->dt_year, d->dt_month, d->dt_day, d->dt_hour,
		                     d->dt_min, d->dt_sec, d->dt_zone, &m[n].date_us))
			m[n].date_us = INT64_MIN;
		n++;
	}
	mailimap_fetch_list_free(res);
	if (!m)
	{
		fail(c, "%s", "out of memory");
		*lost = true;
		return false;
	}
	qsort(m, n, sizeof(*m), cmp_meta);
	*out = m;
	*n_out = n;
	return true;
}

/*
 * The server closed the connection in the middle of a FETCH (Dovecot does
 * so when it cannot read a message file): log in again and EXAMINE the
 * folder, which must still have the same UIDVALIDITY.
 */
static bool
reconnect(struct conn *c, const struct folder *f, uint32_t uidvalidity)
{
	int r;

	if (++c->reconnects > IMAP_MAX_RECONNECTS)
	{
		fprintf(stderr,
		        "ingestd import: %s: giving up after %d lost connections\n",
		        c->where, IMAP_MAX_RECONNECTS);
		return false;
	}
	fprintf(stderr,
	        "ingestd: level=warn component=import event=imap_reconnect "
	        "server=\"%s\" folder=\"%s\"\n",
	        c->where, f->name);
	conn_close(c);
	if (!conn_open(c))
		return false;
	r = mailimap_examine(c->imap, f->raw);
	if (!is_ok(r))
	{
		fprintf(stderr, "ingestd import: %s: cannot open folder \"%s\": %s\n",
		        c->where, f->name,
		        is_stream_error(r) ? etpan_error(r) : server_text(c));
		return false;
	}
	if (!c->imap->imap_selection_info ||
	    c->imap->imap_selection_info->sel_uidvalidity != uidvalidity)
	{
		fprintf(stderr,
		        "ingestd import: %s: folder \"%s\" changed UIDVALIDITY "
		        "during the import; run it again\n",
		        c->where, f->name);
		return false;
	}
	return true;
}

static void
report_failed(struct conn *c, const struct folder *f, struct meta *m,
              const char *why)
{
	fprintf(stderr,
	        "ingestd: level=error component=import event=imap_fetch_failed "
	        "server=\"%s\" folder=\"%s\" uid=%u bytes=%u reason=\"%s\"\n",
	        c->where, f->name, m->uid, m->size, why);
	m->done = true;
	c->cb->message_failed(c->cb->arg, m->size);
}

/*
 * UID FETCH m[lo..hi) (UID BODY.PEEK[]) and deliver each body.  A refused
 * batch, or one that cost the connection, is retried one message at a time
 * (after logging in again); a message that fails alone is reported and
 * skipped.  False when the server cannot be reached again or the callback
 * stopped the import (*stop set).
 */
static bool
fetch_bodies(struct conn *c, const struct folder *f, uint32_t uidvalidity,
             const char *label, struct meta *m, size_t n, size_t lo, size_t hi,
             bool *stop)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	struct mailimap_fetch_type *ft =
	    mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_section *sec = NULL;
	struct mailimap_fetch_att *body_att = NULL;
	clist *res = NULL;
	int r = MAILIMAP_ERROR_MEMORY;
	bool ok = true;

	for (size_t i = lo; set && i < hi; i++)
		if (mailimap_set_add_single(set, m[i].uid) != MAILIMAP_NO_ERROR)
		{
			mailimap_set_free(set);
			set = NULL;
		}
	if (set && ft &&
	    mailimap_fetch_type_new_fetch_att_list_add(
	        ft, mailimap_fetch_att_new_uid()) == MAILIMAP_NO_ERROR &&
	    (sec = mailimap_section_new(NULL)) &&
	    (body_att = mailimap_fetch_att_new_body_peek_section(sec)))
	{
		sec = NULL; /* owned by body_att */
		if (mailimap_fetch_type_new_fetch_att_list_add(ft, body_att) ==
		    MAILIMAP_NO_ERROR)
		{
			body_att = NULL; /* owned by ft */
			r = mailimap_uid_fetch(c->imap, set, ft, &res);
		}
	}
	if (sec)
		mailimap_section_free(sec);
	if (body_att)
		mailimap_fetch_att_free(body_att);
	if (set)
		mailimap_set_free(set);
	if (ft)
		mailimap_fetch_type_free(ft);
	if (r == MAILIMAP_ERROR_MEMORY)
	{
		fail(c, "%s", "out of memory");
		return false;
	}
	if (is_stream_error(r))
	{
		if (!reconnect(c, f, uidvalidity))
			return false;
		if (hi - lo == 1)
		{
			report_failed(c, f, &m[lo],
			              "the server closed the connection fetching it");
			return true;
		}
	}
	for (clistiter *it = is_ok(r) ? clist_begin(res) : NULL; it;
	     it = clist_next(it))
	{
		const char *body = NULL;
		size_t len = 0;
		uint32_t uid = 0;
		struct meta *mm;
		struct imap_message msg;

		att_items(clist_content(it), &uid, NULL, NULL, &body, &len);
		mm = uid ? find_meta(m, n, uid) : NULL;
		if (!mm || mm->done || !body)
			continue;
		mm->done = true;
		msg.user = c->url.user;
		msg.folder = f->name;
		msg.label = label;
		msg.uidvalidity = uidvalidity;
		msg.uid = uid;
		msg.internaldate_us = mm->date_us;
		msg.raw = (const uint8_t *)body;
		msg.len = len;
		if (!c->cb->message(c->cb->arg, &msg))
		{
			*stop = true;
			ok = false;
			break;
		}
	}
	if (is_ok(r))
		mailimap_fetch_list_free(res);
	if (!ok)
		return false;
	for (size_t i = lo; i < hi; i++)
	{
		if (m[i].done)
			continue;
		if (hi - lo > 1)
		{
			if (!fetch_bodies(c, f, uidvalidity, label, m, n, i, i + 1, stop))
				return false;
		}
		else
			report_failed(c, f, &m[i],
			              is_ok(r) ? "not in the server's reply (expunged?)"
			                       : server_text(c));
		if (*stop)
			return false;
	}
	return true;
}

/* One line per folder: what it holds and which label rule applied. */
static void
log_folder(const struct conn *c, const struct folder *f, const char *label,
           enum imap_label_rule rule, size_t n, uint64_t bytes,
           uint32_t uidvalidity)
{
	static const char *const rules[] = {"folder-label", "special-use", "name",
	                                    "default"};

	fprintf(stderr,
	        "ingestd: level=info component=import event=imap_folder "
	        "server=\"%s\" folder=\"%s\" label=%s rule=%s messages=%zu "
	        "bytes=%llu uidvalidity=%u\n",
	        c->where, f->name, label ? label : "NULL", rules[rule], n,
	        (unsigned long long)bytes, uidvalidity);
}

/* One folder: EXAMINE, plan, bodies in batches. */
static bool
import_folder(struct conn *c, const struct folder *f, bool *stop)
{
	struct meta *m = NULL;
	size_t n = 0;
	uint32_t uidvalidity;
	uint64_t total = 0;
	bool lost = false;
	enum imap_label_rule rule;
	const char *label =
	    imapurl_folder_label(f->name, f->special, c->o->labels, c->o->n_labels,
	                         c->by_name, c->o->default_label, &rule);
	int r = mailimap_examine(c->imap, f->raw);

	if (!is_ok(r))
	{
		fprintf(stderr, "ingestd import: %s: cannot open folder \"%s\": %s\n",
		        c->where, f->name,
		        is_stream_error(r) ? etpan_error(r) : server_text(c));
		c->failed = true;
		return !is_stream_error(r);
	}
	uidvalidity = c->imap->imap_selection_info
	                  ? c->imap->imap_selection_info->sel_uidvalidity
	                  : 0;
	if (c->imap->imap_selection_info &&
	    c->imap->imap_selection_info->sel_has_exists &&
	    c->imap->imap_selection_info->sel_exists == 0)
	{
		log_folder(c, f, label, rule, 0, 0, uidvalidity);
		c->cb->folder_begin(c->cb->arg, f->name, 0, 0);
		return true;
	}
	if (!fetch_plan(c, f, &m, &n, &lost))
	{
		c->failed = true;
		return !lost; /* a refused folder: go on with the next one */
	}
	for (size_t i = 0; i < n; i++)
		total += m[i].size;
	log_folder(c, f, label, rule, n, total, uidvalidity);
	c->cb->folder_begin(c->cb->arg, f->name, (uint32_t)n, total);
	for (size_t lo = 0; lo < n;)
	{
		size_t hi = lo;
		uint64_t bytes = 0;

		while (hi < n &&
		       (hi == lo ||
		        (bytes + m[hi].size <= c->o->batch_bytes && hi - lo < 1000)))
			bytes += m[hi++].size;
		if (!fetch_bodies(c, f, uidvalidity, label, m, n, lo, hi, stop))
		{
			if (!*stop)
				c->failed = true;
			free(m);
			return false;
		}
		lo = hi;
	}
	free(m);
	return true;
}

enum imap_result
imap_import_url(const char *url, const struct imap_options *o,
                const struct imap_callbacks *cb)
{
	struct conn c;
	char err[256];
	struct folder *folders = NULL;
	size_t n_folders = 0;
	bool *want = NULL, stop = false;
	enum imap_result res = IMAP_RESULT_FAILED;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.cb = cb;
	if (!imapurl_parse(url, &c.url, err, sizeof(err)))
	{
		/* the URL up to its user info only: it may hold a password */
		const char *auth = strstr(url, "//");

		fprintf(stderr, "ingestd import: %.*s...: %s\n",
		        auth ? (int)(auth + 2 - url) : 0, url, err);
		return IMAP_RESULT_FAILED;
	}
	snprintf(c.where, sizeof(c.where), "%s://%s@%s%s%s:%u",
	         c.url.tls ? "imaps" : "imap", c.url.user,
	         strchr(c.url.host, ':') ? "[" : "", c.url.host,
	         strchr(c.url.host, ':') ? "]" : "", c.url.port);
	if (!conn_open(&c) || !list_folders(&c, &folders, &n_folders))
		goto out;
	want = calloc(n_folders + 1, sizeof(*want));
	if (!want)
		goto out;
	c.by_name = true;
	for (size_t i = 0; i < n_folders; i++)
		if (folders[i].special &
		    (IMAP_SPECIAL_JUNK | IMAP_SPECIAL_SENT | IMAP_SPECIAL_ALL))
			c.by_name = false;
	if (c.url.folder[0] || o->n_folders)
	{
		size_t n_named = o->n_folders + (c.url.folder[0] ? 1 : 0);

		for (size_t k = 0; k < n_named; k++)
		{
			const char *name = k < o->n_folders ? o->folders[k] : c.url.folder;
			bool found = false;

			for (size_t i = 0; i < n_folders; i++)
				if (!(folders[i].special & IMAP_SPECIAL_NOSELECT) &&
				    (imapurl_folder_eq(folders[i].name, name) ||
				     imapurl_folder_eq(folders[i].raw, name)))
					found = want[i] = true;
			if (!found)
			{
				fprintf(stderr,
				        "ingestd import: %s: no such folder \"%s\"; the "
				        "server has:",
				        c.where, name);
				for (size_t i = 0; i < n_folders; i++)
					if (!(folders[i].special & IMAP_SPECIAL_NOSELECT))
						fprintf(stderr, " \"%s\"", folders[i].name);
				fputc('\n', stderr);
				goto out;
			}
		}
	}
	else
		for (size_t i = 0; i < n_folders; i++)
		{
			want[i] = !(folders[i].special &
			            (IMAP_SPECIAL_NOSELECT | IMAP_SPECIAL_ALL |
			             IMAP_SPECIAL_FLAGGED));
			for (size_t k = 0; k < o->n_skip; k++)
				if (imapurl_folder_eq(folders[i].name, o->skip[k]) ||
				    imapurl_folder_eq(folders[i].raw, o->skip[k]))
					want[i] = false;
		}
	for (size_t i = 0; i < n_folders; i++)
		if (want[i] && !import_folder(&c, &folders[i], &stop))
			break;
	if (stop)
		res = IMAP_RESULT_CALLBACK;
	else if (!c.failed)
		res = IMAP_RESULT_OK;
out:
	conn_close(&c);
	free(want);
	folders_free(folders, n_folders);
	return res;
}
