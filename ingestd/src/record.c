/*
 * record.c: helpers over message and session records.
 */
#include "record.h"

#include "copybin.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <string.h>

void
record_content_id(struct uuid7 *out, int64_t received_at, const uint8_t *raw,
                  size_t raw_len)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	uint64_t ms = (uint64_t)(received_at < 0 ? 0 : received_at / 1000);

	if (!EVP_Digest(raw, raw_len, h, &hlen, EVP_sha256(), NULL) || hlen < 10)
		memset(h, 0, sizeof(h)); /* only on OpenSSL failure */
	for (int i = 0; i < 6; i++)
		out->b[i] = (uint8_t)(ms >> (40 - 8 * i));
	out->b[6] = (uint8_t)(0x70 | (h[0] & 0x0f));
	out->b[7] = h[1];
	out->b[8] = (uint8_t)(0x80 | (h[2] & 0x3f));
	memcpy(&out->b[9], &h[3], 7);
}

/* Largest raw message PostgreSQL's bytea can hold, with headroom. */
#define RECORD_RAW_MAX ((size_t)1000 * 1000 * 1000)

/* A port, or NULL when the caller has none or it is out of range. */
static void
put_port(struct copybuf *b, int port)
{
	if (port < 0 || port > 65535)
		copybin_null(b);
	else
		copybin_int4(b, port);
}

/* An SMTP reply code, 0 (stored as NULL) when none or out of range. */
static int32_t
reply_or_zero(int code)
{
	return code >= 100 && code <= 599 ? code : 0;
}

bool
record_encode_message(struct copybuf *b, const struct msg_record *m)
{
	size_t mark;

	if (!m->source || (!m->raw && m->raw_len) || m->raw_len > RECORD_RAW_MAX)
		return false;
	copybin_tuple(b, RECORD_MESSAGE_FIELDS);
	copybin_uuid(b, &m->id);
	copybin_timestamptz(b, m->received_at);
	copybin_cstr(b, m->sensor);
	copybin_cstr(b, m->source);
	copybin_cstr(b, m->label);
	copybin_cstr(b, m->folder);
	copybin_inet(b, m->peer_ip);
	put_port(b, m->peer_port);
	copybin_cstr(b, m->helo);
	copybin_cstr(b, m->mail_from);
	if (!m->rcpt_to)
		copybin_null(b);
	else
	{
		bool hasnull = false;

		for (size_t i = 0; i < m->n_rcpt; i++)
			hasnull |= m->rcpt_to[i] == NULL;
		mark = copybin_field_begin(b);
		copybin_array_header(b, m->n_rcpt, COPYBIN_OID_TEXT, hasnull);
		for (size_t i = 0; i < m->n_rcpt; i++)
			copybin_cstr(b, m->rcpt_to[i]);
		copybin_field_end(b, mark);
	}
	copybin_cstr(b, m->tls);
	copybin_cstr(b, m->auth_user);
	copybin_int4(b, (int32_t)m->raw_len);
	copybin_bytea(b, m->raw ? (const void *)m->raw : "", m->raw_len);
	if (m->has_session)
		copybin_uuid(b, &m->session_id);
	else
		copybin_null(b);
	/* last, so the tuple minus this field is a spamlab.message row */
	copybin_cstr(b, m->auth_password);
	return !b->oom;
}

/* A text[] field of n strings taken from an array of structs. */
static void
put_text_array(struct copybuf *b, const void *base, size_t stride,
               size_t offset, size_t n)
{
	size_t mark = copybin_field_begin(b);
	bool hasnull = false;

	for (size_t i = 0; i < n; i++)
	{
		const char *s;

		memcpy(&s, (const char *)base + i * stride + offset, sizeof(s));
		hasnull |= s == NULL;
	}
	copybin_array_header(b, n, COPYBIN_OID_TEXT, hasnull);
	for (size_t i = 0; i < n; i++)
	{
		const char *s;

		memcpy(&s, (const char *)base + i * stride + offset, sizeof(s));
		copybin_cstr(b, s);
	}
	copybin_field_end(b, mark);
}

/* The fields a session's staging tuple and its table row both begin with. */
static void
put_session_head(struct copybuf *b, const struct session_record *s)
{
	copybin_uuid(b, &s->id);
	copybin_cstr(b, s->sensor);
	copybin_timestamptz(b, s->started_at);
	copybin_timestamptz(b, s->ended_at);
	copybin_inet(b, s->peer_ip);
	put_port(b, s->peer_port);
	copybin_cstr(b, s->helo);
	copybin_cstr(b, s->tls);
	copybin_cstr(b, s->disconnect_reason);
}

/* The fields both session tuples end with (sql/025_session_rdns.sql). */
static void
put_session_tail(struct copybuf *b, const struct session_record *s)
{
	copybin_cstr(b, s->rdns);
	copybin_cstr(b, s->rdns_status);
}

bool
record_encode_session(struct copybuf *b, const struct session_record *s)
{
	const struct session_command *c = s->commands;
	const struct session_auth *a = s->auths;
	size_t nc = c ? s->n_commands : 0, na = a ? s->n_auths : 0;
	size_t mark;

	copybin_tuple(b, RECORD_SESSION_FIELDS);
	put_session_head(b, s);

	mark = copybin_field_begin(b); /* cmd_at int8[] */
	copybin_array_header(b, nc, COPYBIN_OID_INT8, false);
	for (size_t i = 0; i < nc; i++)
		copybin_int8(b, c[i].at);
	copybin_field_end(b, mark);
	mark = copybin_field_begin(b); /* cmd_text text[] */
	copybin_array_header(b, nc, COPYBIN_OID_TEXT, false);
	for (size_t i = 0; i < nc; i++)
	{
		size_t n = c[i].text ? c[i].text_len : 0;

		copybin_text(b, c[i].text ? c[i].text : "",
		             n > RECORD_COMMAND_MAX ? RECORD_COMMAND_MAX : n);
	}
	copybin_field_end(b, mark);
	mark = copybin_field_begin(b); /* cmd_reply int4[] */
	copybin_array_header(b, nc, COPYBIN_OID_INT4, false);
	for (size_t i = 0; i < nc; i++)
		copybin_int4(b, reply_or_zero(c[i].reply_code));
	copybin_field_end(b, mark);

	mark = copybin_field_begin(b); /* auth_at int8[] */
	copybin_array_header(b, na, COPYBIN_OID_INT8, false);
	for (size_t i = 0; i < na; i++)
		copybin_int8(b, a[i].at);
	copybin_field_end(b, mark);
	put_text_array(b, a, sizeof(*a), offsetof(struct session_auth, mechanism),
	               na);
	put_text_array(b, a, sizeof(*a), offsetof(struct session_auth, username),
	               na);
	put_text_array(b, a, sizeof(*a), offsetof(struct session_auth, password),
	               na);
	mark = copybin_field_begin(b); /* auth_reply int4[] */
	copybin_array_header(b, na, COPYBIN_OID_INT4, false);
	for (size_t i = 0; i < na; i++)
		copybin_int4(b, reply_or_zero(a[i].reply_code));
	copybin_field_end(b, mark);
	put_session_tail(b, s);
	put_text_array(b, a, sizeof(*a), offsetof(struct session_auth, workstation),
	               na);
	return !b->oom;
}

/* An SMTP reply code as a field: NULL when none or out of range. */
static void
put_reply(struct copybuf *b, int code)
{
	int32_t r = reply_or_zero(code);

	if (r)
		copybin_int4(b, r);
	else
		copybin_null(b);
}

bool
record_encode_session_direct(struct copybuf *b, const struct session_record *s,
                             size_t *cmd_off, size_t *auth_off)
{
	const struct session_command *c = s->commands;
	const struct session_auth *a = s->auths;
	size_t nc = c ? s->n_commands : 0, na = a ? s->n_auths : 0;

	if (nc > INT32_MAX || na > INT32_MAX)
		return false;
	copybin_tuple(b, RECORD_SESSION_DIRECT_FIELDS);
	put_session_head(b, s);
	copybin_int4(b, (int32_t)nc);
	copybin_int4(b, (int32_t)na);
	put_session_tail(b, s);

	*cmd_off = b->len;
	for (size_t i = 0; i < nc; i++)
	{
		size_t n = c[i].text ? c[i].text_len : 0;

		copybin_tuple(b, RECORD_COMMAND_FIELDS);
		copybin_uuid(b, &s->id);
		copybin_int4(b, (int32_t)(i + 1));
		copybin_timestamptz(b, s->started_at + c[i].at);
		copybin_text(b, c[i].text ? c[i].text : "",
		             n > RECORD_COMMAND_MAX ? RECORD_COMMAND_MAX : n);
		put_reply(b, c[i].reply_code);
	}

	*auth_off = b->len;
	for (size_t i = 0; i < na; i++)
	{
		copybin_tuple(b, RECORD_AUTH_FIELDS);
		copybin_uuid(b, &s->id);
		copybin_int4(b, (int32_t)(i + 1));
		copybin_timestamptz(b, s->started_at + a[i].at);
		copybin_cstr(b, a[i].mechanism);
		copybin_cstr(b, a[i].username);
		copybin_cstr(b, a[i].password);
		put_reply(b, a[i].reply_code);
		copybin_cstr(b, a[i].workstation);
	}
	return !b->oom;
}
