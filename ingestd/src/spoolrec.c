/*
 * spoolrec.c: encode and decode spool payloads (see spoolrec.h).
 */
#include "spoolrec.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

enum
{
	T_ID = 1,
	T_RECEIVED_AT,
	T_SESSION_ID,
	T_SENSOR,
	T_SOURCE,
	T_LABEL,
	T_FOLDER,
	T_PEER_IP,
	T_PEER_PORT,
	T_HELO,
	T_MAIL_FROM,
	T_RCPT,
	T_TLS,
	T_AUTH_USER,
	T_AUTH_PASSWORD,
	T_RAW,
	T_STARTED_AT,
	T_ENDED_AT,
	T_REASON,
	T_COMMAND, /* i64 at, i32 code, text */
	T_AUTH,    /* i64 at, i32 code, u8 flags, mech\0 [user\0] [pass\0] */
	/* relay decisions (T_ID is the message id; T_RECEIVED_AT, T_SENSOR,
	 * T_PEER_IP, T_RCPT and T_TLS as for messages) */
	T_DECIDED_AT,
	T_RULE,
	T_DECISION,
	T_CAP,
	T_TARGET,
	T_ATTEMPTS,   /* i32 */
	T_FINAL_CODE, /* i32 */
	T_FINAL_REPLY,
	T_DELIVERED_AT,
	T_STATUS, /* u8 enum relay_status */
	T_RUN,    /* u64 */
	/* sessions, since sql/025: absent in older spools (NULL) */
	T_RDNS,
	T_RDNS_STATUS,
	T_LAST = T_RDNS_STATUS,
};

static bool
put_field(struct evbuffer *out, uint8_t tag, const void *p, size_t len)
{
	uint8_t h[5];

	if (len > UINT32_MAX)
		return false;
	h[0] = tag;
	for (int i = 0; i < 4; i++)
		h[1 + i] = (uint8_t)(len >> (8 * i));
	return evbuffer_add(out, h, 5) == 0 &&
	       (!len || evbuffer_add(out, p, len) == 0);
}

static bool
put_str(struct evbuffer *out, uint8_t tag, const char *s)
{
	return !s || put_field(out, tag, s, strlen(s) + 1);
}

static bool
put_i64(struct evbuffer *out, uint8_t tag, int64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)v >> (8 * i));
	return put_field(out, tag, b, 8);
}

static int64_t
get_i64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static int32_t
get_i32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 |
	                 (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

bool
spoolrec_encode_msg_head(struct evbuffer *out, const struct msg_record *m,
                         size_t raw_len)
{
	uint8_t h[5];
	int32_t port = m->peer_port;

	if (!put_field(out, T_ID, m->id.b, 16) ||
	    !put_i64(out, T_RECEIVED_AT, m->received_at) ||
	    (m->has_session &&
	     !put_field(out, T_SESSION_ID, m->session_id.b, 16)) ||
	    !put_str(out, T_SENSOR, m->sensor) ||
	    !put_str(out, T_SOURCE, m->source) ||
	    !put_str(out, T_LABEL, m->label) ||
	    !put_str(out, T_FOLDER, m->folder) ||
	    !put_str(out, T_PEER_IP, m->peer_ip) ||
	    !put_field(out, T_PEER_PORT, &port, 4) ||
	    !put_str(out, T_HELO, m->helo) ||
	    !put_str(out, T_MAIL_FROM, m->mail_from) ||
	    !put_str(out, T_TLS, m->tls) ||
	    !put_str(out, T_AUTH_USER, m->auth_user) ||
	    !put_str(out, T_AUTH_PASSWORD, m->auth_password))
		return false;
	for (size_t i = 0; i < m->n_rcpt; i++)
		if (!put_str(out, T_RCPT, m->rcpt_to[i]))
			return false;
	if (raw_len > UINT32_MAX)
		return false;
	h[0] = T_RAW;
	for (int i = 0; i < 4; i++)
		h[1 + i] = (uint8_t)(raw_len >> (8 * i));
	return evbuffer_add(out, h, 5) == 0;
}

bool
spoolrec_encode_session(struct evbuffer *out, const struct session_record *s)
{
	int32_t port = s->peer_port;

	if (!put_field(out, T_ID, s->id.b, 16) ||
	    !put_i64(out, T_STARTED_AT, s->started_at) ||
	    !put_i64(out, T_ENDED_AT, s->ended_at) ||
	    !put_str(out, T_SENSOR, s->sensor) ||
	    !put_str(out, T_PEER_IP, s->peer_ip) ||
	    !put_field(out, T_PEER_PORT, &port, 4) ||
	    !put_str(out, T_HELO, s->helo) || !put_str(out, T_TLS, s->tls) ||
	    !put_str(out, T_REASON, s->disconnect_reason) ||
	    !put_str(out, T_RDNS, s->rdns) ||
	    !put_str(out, T_RDNS_STATUS, s->rdns_status))
		return false;
	for (size_t i = 0; i < s->n_commands; i++)
	{
		const struct session_command *c = &s->commands[i];
		uint8_t h[5 + 12];
		size_t len = 12 + c->text_len;

		if (len > UINT32_MAX)
			return false;
		h[0] = T_COMMAND;
		for (int k = 0; k < 4; k++)
			h[1 + k] = (uint8_t)(len >> (8 * k));
		for (int k = 0; k < 8; k++)
			h[5 + k] = (uint8_t)((uint64_t)c->at >> (8 * k));
		for (int k = 0; k < 4; k++)
			h[13 + k] = (uint8_t)((uint32_t)c->reply_code >> (8 * k));
		if (evbuffer_add(out, h, sizeof(h)) != 0 ||
		    (c->text_len && evbuffer_add(out, c->text, c->text_len) != 0))
			return false;
	}
	for (size_t i = 0; i < s->n_auths; i++)
	{
		const struct session_auth *a = &s->auths[i];
		const char *mech = a->mechanism ? a->mechanism : "";
		size_t ml = strlen(mech) + 1;
		size_t ul = a->username ? strlen(a->username) + 1 : 0;
		size_t pl = a->password ? strlen(a->password) + 1 : 0;
		size_t wl = a->workstation ? strlen(a->workstation) + 1 : 0;
		size_t len = 13 + ml + ul + pl + wl;
		uint8_t h[5 + 13];

		h[0] = T_AUTH;
		for (int k = 0; k < 4; k++)
			h[1 + k] = (uint8_t)(len >> (8 * k));
		for (int k = 0; k < 8; k++)
			h[5 + k] = (uint8_t)((uint64_t)a->at >> (8 * k));
		for (int k = 0; k < 4; k++)
			h[13 + k] = (uint8_t)((uint32_t)a->reply_code >> (8 * k));
		/* flag 4 (the workstation) is newer: older records lack it */
		h[17] = (uint8_t)((a->username ? 1 : 0) | (a->password ? 2 : 0) |
		                  (a->workstation ? 4 : 0));
		if (evbuffer_add(out, h, sizeof(h)) != 0 ||
		    evbuffer_add(out, mech, ml) != 0 ||
		    (ul && evbuffer_add(out, a->username, ul) != 0) ||
		    (pl && evbuffer_add(out, a->password, pl) != 0) ||
		    (wl && evbuffer_add(out, a->workstation, wl) != 0))
			return false;
	}
	return true;
}

bool
spoolrec_encode_relay(struct evbuffer *out,
                      const struct relay_decision_record *d, uint64_t run)
{
	int32_t attempts = (int32_t)d->attempts, code = d->final_code;
	uint8_t st = (uint8_t)d->status;

	if (!put_field(out, T_ID, d->message_id.b, 16) ||
	    !put_i64(out, T_RECEIVED_AT, d->received_at) ||
	    !put_i64(out, T_DECIDED_AT, d->decided_at) ||
	    !put_i64(out, T_RUN, (int64_t)run) ||
	    !put_str(out, T_SENSOR, d->sensor) ||
	    !put_str(out, T_PEER_IP, d->peer_ip) ||
	    !put_str(out, T_RULE, d->rule) ||
	    !put_str(out, T_DECISION, d->decision) ||
	    !put_str(out, T_CAP, d->cap) || !put_str(out, T_TARGET, d->target) ||
	    !put_field(out, T_ATTEMPTS, &attempts, 4) ||
	    !put_field(out, T_FINAL_CODE, &code, 4) ||
	    !put_str(out, T_FINAL_REPLY, d->final_reply) ||
	    !put_str(out, T_TLS, d->tls) ||
	    (d->delivered_at && !put_i64(out, T_DELIVERED_AT, d->delivered_at)))
		return false;
	if (d->rcpt)
		for (size_t i = 0; i < d->n_rcpt; i++)
			if (!put_str(out, T_RCPT, d->rcpt[i] ? d->rcpt[i] : ""))
				return false;
	/* last, and required: a cut record is refused */
	return put_field(out, T_STATUS, &st, 1);
}

/* A NUL-terminated text field: the view, or NULL if malformed. */
static const char *
field_str(const uint8_t *p, uint32_t len)
{
	if (len == 0 || p[len - 1] != '\0')
		return NULL;
	return (const char *)p;
}

bool
spoolrec_decode(const uint8_t *data, size_t len, uint32_t type,
                struct spoolrec *out)
{
	size_t pos = 0, nr = 0, nc = 0, na = 0;
	struct msg_record *m = &out->msg;
	struct session_record *s = &out->ses;
	struct relay_decision_record *r = &out->relay;
	bool has_status = false;

	memset(out, 0, sizeof(*out));
	out->type = type;
	m->peer_port = s->peer_port = -1;
	if (type != SPOOL_REC_MESSAGE && type != SPOOL_REC_SESSION &&
	    type != SPOOL_REC_RELAY)
		return false;

	/* first pass: count repeated fields */
	while (pos < len)
	{
		uint32_t flen;

		if (len - pos < 5)
			return false;
		flen = (uint32_t)get_i32(data + pos + 1);
		if (flen > len - pos - 5)
			return false;
		if (data[pos] == T_RCPT)
			nr++;
		else if (data[pos] == T_COMMAND)
			nc++;
		else if (data[pos] == T_AUTH)
			na++;
		pos += 5 + flen;
	}
	out->rcpt = nr ? calloc(nr, sizeof(*out->rcpt)) : NULL;
	out->cmds = nc ? calloc(nc, sizeof(*out->cmds)) : NULL;
	out->auths = na ? calloc(na, sizeof(*out->auths)) : NULL;
	if ((nr && !out->rcpt) || (nc && !out->cmds) || (na && !out->auths))
		goto fail;

	pos = 0;
	while (pos < len)
	{
		uint8_t tag = data[pos];
		uint32_t flen = (uint32_t)get_i32(data + pos + 1);
		const uint8_t *p = data + pos + 5;
		const char *str = field_str(p, flen);

		pos += 5 + flen;
		switch (tag)
		{
			case T_ID:
				if (flen != 16)
					goto fail;
				memcpy(m->id.b, p, 16);
				memcpy(s->id.b, p, 16);
				memcpy(r->message_id.b, p, 16);
				break;
			case T_RECEIVED_AT:
				if (flen != 8)
					goto fail;
				m->received_at = r->received_at = get_i64(p);
				break;
			case T_DECIDED_AT:
			case T_DELIVERED_AT:
			case T_RUN:
				if (flen != 8)
					goto fail;
				if (tag == T_DECIDED_AT)
					r->decided_at = get_i64(p);
				else if (tag == T_DELIVERED_AT)
					r->delivered_at = get_i64(p);
				else
					out->run = (uint64_t)get_i64(p);
				break;
			case T_ATTEMPTS:
				if (flen != 4 || get_i32(p) < 0)
					goto fail;
				r->attempts = (unsigned)get_i32(p);
				break;
			case T_FINAL_CODE:
				if (flen != 4)
					goto fail;
				r->final_code = get_i32(p);
				break;
			case T_STATUS:
				if (flen != 1 || p[0] > RELAY_STATUS_INTERRUPTED)
					goto fail;
				r->status = (enum relay_status)p[0];
				has_status = true;
				break;
			case T_STARTED_AT:
				if (flen != 8)
					goto fail;
				s->started_at = get_i64(p);
				break;
			case T_ENDED_AT:
				if (flen != 8)
					goto fail;
				s->ended_at = get_i64(p);
				break;
			case T_SESSION_ID:
				if (flen != 16)
					goto fail;
				m->has_session = true;
				memcpy(m->session_id.b, p, 16);
				break;
			case T_PEER_PORT:
				if (flen != 4)
					goto fail;
				m->peer_port = s->peer_port = get_i32(p);
				break;
			case T_RAW:
				m->raw = p;
				m->raw_len = flen;
				break;
			case T_COMMAND:
			{
				struct session_command *c = &out->cmds[s->n_commands++];

				if (flen < 12)
					goto fail;
				c->at = get_i64(p);
				c->reply_code = get_i32(p + 8);
				c->text = (const char *)p + 12;
				c->text_len = flen - 12;
				break;
			}
			case T_AUTH:
			{
				struct session_auth *a = &out->auths[s->n_auths++];
				const char *q = (const char *)p + 13;
				const char *end = (const char *)p + flen;
				uint8_t flags;

				if (flen < 14 || p[flen - 1] != '\0')
					goto fail;
				a->at = get_i64(p);
				a->reply_code = get_i32(p + 8);
				flags = p[12];
				a->mechanism = q;
				q += strlen(q) + 1;
				if (flags & 1)
				{
					if (q >= end)
						goto fail;
					a->username = q;
					q += strlen(q) + 1;
				}
				if (flags & 2)
				{
					if (q >= end)
						goto fail;
					a->password = q;
					q += strlen(q) + 1;
				}
				if (flags & 4)
				{
					if (q >= end)
						goto fail;
					a->workstation = q;
				}
				break;
			}
			default:
				if (tag > T_LAST)
					break; /* a newer field: skip */
				/* every other known tag is text */
				if (!str)
					goto fail;
				switch (tag)
				{
					case T_SENSOR:
						m->sensor = s->sensor = r->sensor = str;
						break;
					case T_RULE:
						r->rule = str;
						break;
					case T_DECISION:
						r->decision = str;
						break;
					case T_CAP:
						r->cap = str;
						break;
					case T_TARGET:
						r->target = str;
						break;
					case T_FINAL_REPLY:
						r->final_reply = str;
						break;
					case T_SOURCE:
						m->source = str;
						break;
					case T_LABEL:
						m->label = str;
						break;
					case T_FOLDER:
						m->folder = str;
						break;
					case T_PEER_IP:
						m->peer_ip = s->peer_ip = r->peer_ip = str;
						break;
					case T_HELO:
						m->helo = s->helo = str;
						break;
					case T_MAIL_FROM:
						m->mail_from = str;
						break;
					case T_RCPT:
						out->rcpt[m->n_rcpt++] = str;
						break;
					case T_TLS:
						m->tls = s->tls = r->tls = str;
						break;
					case T_AUTH_USER:
						m->auth_user = str;
						break;
					case T_AUTH_PASSWORD:
						m->auth_password = str;
						break;
					case T_REASON:
						s->disconnect_reason = str;
						break;
					case T_RDNS:
						s->rdns = str;
						break;
					case T_RDNS_STATUS:
						s->rdns_status = str;
						break;
				}
				break;
		}
	}
	m->rcpt_to = out->rcpt;
	r->rcpt = out->rcpt;
	r->n_rcpt = m->n_rcpt;
	s->commands = out->cmds;
	s->auths = out->auths;
	if (type == SPOOL_REC_MESSAGE && !m->raw)
		goto fail;
	if (type == SPOOL_REC_RELAY && (!r->rule || !r->decision || !has_status))
		goto fail;
	return true;
fail:
	spoolrec_free(out);
	return false;
}

void
spoolrec_free(struct spoolrec *rec)
{
	free(rec->rcpt);
	free(rec->cmds);
	free(rec->auths);
	rec->rcpt = NULL;
	rec->cmds = NULL;
	rec->auths = NULL;
}
