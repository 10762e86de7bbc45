/*
 * relayrec.c: relay decisions as binary COPY tuples.
 */
#include "relayrec.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copybin.h"

bool
relayrec_encode(struct copybuf *b, const struct relay_decision_record *d)
{
	size_t mark, n = d->rcpt ? d->n_rcpt : 0;

	copybin_tuple(b, RELAYREC_FIELDS);
	copybin_uuid(b, &d->message_id);
	copybin_timestamptz(b, d->received_at);
	copybin_timestamptz(b, d->decided_at);
	copybin_cstr(b, d->sensor);
	copybin_inet(b, d->peer_ip);
	copybin_cstr(b, d->rule ? d->rule : "");
	copybin_cstr(b, d->decision);
	copybin_cstr(b, d->cap);
	copybin_cstr(b, d->target);
	if (d->rcpt == NULL)
		copybin_null(b);
	else
	{
		mark = copybin_field_begin(b);
		copybin_array_header(b, n, COPYBIN_OID_TEXT, false);
		for (size_t i = 0; i < n; i++)
			copybin_cstr(b, d->rcpt[i] ? d->rcpt[i] : "");
		copybin_field_end(b, mark);
	}
	copybin_int4(b, (int32_t)d->attempts);
	if (d->final_code >= 100 && d->final_code <= 599)
		copybin_int4(b, d->final_code);
	else
		copybin_null(b);
	copybin_cstr(b,
	             d->final_reply && d->final_reply[0] ? d->final_reply : NULL);
	copybin_cstr(b, d->tls);
	if (d->delivered_at != 0)
		copybin_timestamptz(b, d->delivered_at);
	else
		copybin_null(b);
	copybin_cstr(b, relay_status_name(d->status));
	return !b->oom;
}

/* write(2) all of it, retrying short writes and EINTR. */
static bool
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0)
	{
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

bool
relayrec_file_append(const char *path, const struct relay_decision_record *d,
                     bool durable)
{
	struct copybuf b;
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	bool ok = false;

	copybuf_init(&b);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) < 0)
		goto out;
	if (st.st_size == 0)
		copybuf_put(&b, copybin_header, COPYBIN_HEADER_LEN);
	if (!relayrec_encode(&b, d))
	{
		errno = ENOMEM;
		goto out;
	}
	if (!write_all(fd, b.data, b.len))
		goto out;
	if (durable && fsync(fd) < 0)
		goto out;
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	copybuf_free(&b);
	return ok;
}
