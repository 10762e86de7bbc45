/*
 * test_spool.c: records survive a close and reopen (replay), damaged tails
 * are cut off, released segments are deleted, and the record encoding
 * round-trips.
 */
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "spoolrec.h"
#include "unit.h"

static int durable_ok, durable_fail;

static void
on_durable(void *arg, bool ok)
{
	if (ok)
		durable_ok++;
	else
		durable_fail++;
}

static int
count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".seg"))
			n++;
	closedir(d);
	return n;
}

static void
rm_spool(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  cannot remove %s\n", dir);
}

void
test_spool(void)
{
	char top[] = "/tmp/spamlab-spool-test.XXXXXX";
	char dir[128], err[256], path[600];
	struct spool *sp;
	struct spool_rec rec;
	struct spool_ref refs[3];
	const char *payloads[] = {"first", "", "third record"};
	int n;

	CHECK(mkdtemp(top) != NULL);
	snprintf(dir, sizeof(dir), "%s/spool", top);

	/* write three records in synchronous mode */
	sp = spool_open(NULL, dir, 1 << 20, err, sizeof(err));
	CHECK(sp != NULL);
	if (!sp)
		return;
	for (int i = 0; i < 3; i++)
	{
		struct iovec iov = {(void *)payloads[i], strlen(payloads[i])};

		CHECK(spool_append(sp, SPOOL_REC_MESSAGE, &iov, 1, on_durable, NULL));
	}
	CHECK(durable_ok == 3 && durable_fail == 0);
	/* read two, release one, then "crash" (close without releasing) */
	CHECK(spool_read(sp, &rec));
	CHECK(rec.len == 5 && memcmp(rec.data, "first", 5) == 0);
	refs[0] = rec.ref;
	free(rec.data);
	spool_release(sp, refs[0]);
	spool_close(sp);

	/* replay: every record still there, in order (idempotent consumer) */
	sp = spool_open(NULL, dir, 1 << 20, err, sizeof(err));
	CHECK(sp != NULL);
	if (!sp)
		return;
	for (n = 0; n < 3 && spool_read(sp, &rec); n++)
	{
		CHECK(rec.type == SPOOL_REC_MESSAGE);
		CHECK_MSG(rec.len == strlen(payloads[n]) &&
		              memcmp(rec.data, payloads[n], rec.len) == 0,
		          "replayed record %d", n);
		refs[n] = rec.ref;
		free(rec.data);
	}
	CHECK(n == 3);
	CHECK(!spool_read(sp, &rec));
	CHECK(count_segments(dir) == 1);
	for (int i = 0; i < 3; i++)
		spool_release(sp, refs[i]);
	/* fully released and read: the old segment is deleted */
	CHECK(count_segments(dir) == 0);

	/* a torn record at the end of a segment is cut off */
	{
		struct iovec iov = {"good", 4};
		int fd;

		CHECK(spool_append(sp, SPOOL_REC_SESSION, &iov, 1, on_durable, NULL));
		spool_close(sp);
		snprintf(path, sizeof(path), "%s/%016llx.seg", dir, 2ULL);
		fd = open(path, O_WRONLY | O_APPEND);
		CHECK(fd >= 0);
		CHECK(write(fd, "SLR1garbage-that-is-not-a-record", 32) == 32);
		close(fd);
		sp = spool_open(NULL, dir, 1 << 20, err, sizeof(err));
		CHECK(sp != NULL);
		if (!sp)
			return;
		CHECK(spool_read(sp, &rec));
		CHECK(rec.type == SPOOL_REC_SESSION && rec.len == 4);
		spool_release(sp, rec.ref);
		free(rec.data);
		CHECK(!spool_read(sp, &rec));
		CHECK(count_segments(dir) == 0);
	}

	/* segments rotate at the size limit */
	{
		char big[3000];
		struct iovec iov = {big, sizeof(big)};

		memset(big, 'b', sizeof(big));
		for (int i = 0; i < 5; i++)
			CHECK(
			    spool_append(sp, SPOOL_REC_MESSAGE, &iov, 1, on_durable, NULL));
		spool_close(sp);
		sp = spool_open(NULL, dir, 4096, err, sizeof(err));
		CHECK(sp != NULL);
		if (!sp)
			return;
		for (int i = 0; i < 5; i++)
			CHECK(
			    spool_append(sp, SPOOL_REC_MESSAGE, &iov, 1, on_durable, NULL));
		CHECK(count_segments(dir) ==
		      4); /* the old one + 2 records per new one */
		for (n = 0; spool_read(sp, &rec); n++)
		{
			spool_release(sp, rec.ref);
			free(rec.data);
		}
		CHECK(n == 10);
	}
	spool_close(sp);
	rm_spool(top);
}

void
test_spoolrec(void)
{
	const char *rcpts[] = {"a@example.com", "b@example.org"};
	struct session_command cmds[] = {
	    {10, "EHLO x", 6, 250},
	    {20, "MAIL FROM:<>", 12, 250},
	};
	struct session_auth auths[] = {{30, "PLAIN", "user", "pw", 235, NULL},
	                               {40, "NTLM", NULL, NULL, 501, "WIN-7"}};
	struct msg_record m = {0};
	struct session_record s = {0};
	struct evbuffer *b = evbuffer_new();
	struct spoolrec d;
	uint8_t *flat;
	size_t len;

	memset(m.id.b, 7, 16);
	m.received_at = 1700000000123456;
	m.has_session = true;
	memset(m.session_id.b, 9, 16);
	m.sensor = "trap1";
	m.source = "smtp";
	m.peer_ip = "192.0.2.1";
	m.peer_port = 4242;
	m.helo = "spammer";
	m.mail_from = "";
	m.rcpt_to = rcpts;
	m.n_rcpt = 2;
	m.auth_user = "user";
	m.auth_password = "pw";
	CHECK(spoolrec_encode_msg_head(b, &m, 5));
	evbuffer_add(b, "hello", 5);
	len = evbuffer_get_length(b);
	flat = malloc(len);
	evbuffer_remove(b, flat, len);
	CHECK(spoolrec_decode(flat, len, SPOOL_REC_MESSAGE, &d));
	CHECK(memcmp(d.msg.id.b, m.id.b, 16) == 0);
	CHECK(d.msg.received_at == m.received_at);
	CHECK(d.msg.has_session && d.msg.session_id.b[0] == 9);
	CHECK(strcmp(d.msg.sensor, "trap1") == 0);
	CHECK(strcmp(d.msg.mail_from, "") == 0);
	CHECK(d.msg.peer_port == 4242);
	CHECK(d.msg.n_rcpt == 2 && strcmp(d.msg.rcpt_to[1], "b@example.org") == 0);
	CHECK(d.msg.tls == NULL && d.msg.label == NULL);
	CHECK(strcmp(d.msg.auth_password, "pw") == 0);
	CHECK(d.msg.raw_len == 5 && memcmp(d.msg.raw, "hello", 5) == 0);
	spoolrec_free(&d);
	/* truncated payloads are refused, never read past the end */
	for (size_t cut = 0; cut < len; cut += 3)
		if (spoolrec_decode(flat, cut, SPOOL_REC_MESSAGE, &d))
		{
			CHECK_MSG(0, "decoded a payload cut at %zu", cut);
			spoolrec_free(&d);
		}
	free(flat);

	memset(s.id.b, 3, 16);
	s.started_at = 1;
	s.ended_at = 2;
	s.peer_ip = "2001:db8::1";
	s.peer_port = 25;
	s.disconnect_reason = "quit";
	s.commands = cmds;
	s.n_commands = 2;
	s.auths = auths;
	s.n_auths = 2;
	CHECK(spoolrec_encode_session(b, &s));
	len = evbuffer_get_length(b);
	flat = malloc(len);
	evbuffer_remove(b, flat, len);
	CHECK(spoolrec_decode(flat, len, SPOOL_REC_SESSION, &d));
	CHECK(d.ses.ended_at == 2 && strcmp(d.ses.disconnect_reason, "quit") == 0);
	CHECK(d.ses.n_commands == 2 && d.ses.commands[1].reply_code == 250 &&
	      d.ses.commands[1].text_len == 12 &&
	      memcmp(d.ses.commands[1].text, "MAIL FROM:<>", 12) == 0);
	CHECK(d.ses.n_auths == 2 && strcmp(d.ses.auths[0].password, "pw") == 0 &&
	      d.ses.auths[1].username == NULL && d.ses.auths[1].reply_code == 501);
	CHECK(d.ses.auths[0].workstation == NULL &&
	      strcmp(d.ses.auths[1].workstation, "WIN-7") == 0);
	CHECK(d.ses.helo == NULL && d.ses.peer_port == 25);
	spoolrec_free(&d);
	free(flat);

	/* a relay decision version, with the run that wrote it */
	{
		struct relay_decision_record r = {0};

		memset(r.message_id.b, 5, 16);
		r.received_at = 11;
		r.decided_at = 12;
		r.sensor = "trap1";
		r.rule = "self";
		r.decision = "relay";
		r.target = "smarthost:25";
		r.rcpt = rcpts;
		r.n_rcpt = 2;
		r.attempts = 3;
		r.final_code = 250;
		r.final_reply = "250 ok";
		r.delivered_at = 13;
		r.status = RELAY_STATUS_INTERRUPTED;
		CHECK(spoolrec_encode_relay(b, &r, 0x1122334455667788ull));
		len = evbuffer_get_length(b);
		flat = malloc(len);
		evbuffer_remove(b, flat, len);
		CHECK(spoolrec_decode(flat, len, SPOOL_REC_RELAY, &d));
		CHECK(d.run == 0x1122334455667788ull);
		CHECK(d.relay.message_id.b[15] == 5 && d.relay.received_at == 11 &&
		      d.relay.decided_at == 12 && d.relay.delivered_at == 13);
		CHECK(strcmp(d.relay.rule, "self") == 0 &&
		      strcmp(d.relay.decision, "relay") == 0 && d.relay.cap == NULL &&
		      strcmp(d.relay.target, "smarthost:25") == 0);
		CHECK(d.relay.n_rcpt == 2 &&
		      strcmp(d.relay.rcpt[1], "b@example.org") == 0);
		CHECK(d.relay.attempts == 3 && d.relay.final_code == 250 &&
		      strcmp(d.relay.final_reply, "250 ok") == 0 &&
		      d.relay.peer_ip == NULL && d.relay.tls == NULL);
		CHECK(d.relay.status == RELAY_STATUS_INTERRUPTED);
		spoolrec_free(&d);
		for (size_t cut = 0; cut < len; cut += 3)
			if (spoolrec_decode(flat, cut, SPOOL_REC_RELAY, &d))
			{
				CHECK_MSG(0, "decoded a relay payload cut at %zu", cut);
				spoolrec_free(&d);
			}
		free(flat);
	}
	evbuffer_free(b);
}

/* The bytewise reference the slicing-by-8 CRC must agree with. */
static uint32_t
crc32_ref(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	while (len--)
	{
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
	}
	return ~crc;
}

void
test_spool_crc32(void)
{
	uint8_t buf[300];

	CHECK(spool_crc32(0, "123456789", 9) == 0xcbf43926u);
	CHECK(spool_crc32(0, "", 0) == 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	/* every length and alignment; and in two pieces (chaining) */
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; off + len <= sizeof(buf); len += 1 + len / 8)
		{
			uint32_t want = crc32_ref(buf + off, len);

			CHECK(spool_crc32(0, buf + off, len) == want);
			CHECK(spool_crc32(spool_crc32(0, buf + off, len / 3),
			                  buf + off + len / 3, len - len / 3) == want);
		}
}

/* Records of every size around the reader's 256 KiB window, and one far
 * bigger, read back in order and intact, in the run that wrote them and
 * after a reopen (replay). */
void
test_spool_readahead(void)
{
	char top[] = "/tmp/spamlab-spool-ra.XXXXXX";
	char dir[128], err[256];
	static const size_t sizes[] = {
	    0,           1,           4096,   100000, 262144 - 24 - 1,
	    262144 - 24, 262144 - 23, 262144, 4096,   600000,
	    3,           200000,      200000, 200000, 5};
	size_t nrec = sizeof(sizes) / sizeof(sizes[0]);
	struct event_base *base;

	CHECK(mkdtemp(top) != NULL);
	snprintf(dir, sizeof(dir), "%s/spool", top);
	for (int pass = 0; pass < 2; pass++)
	{
		struct spool *sp;
		struct spool_rec rec;
		size_t n = 0;

		base = event_base_new();
		CHECK(base != NULL);
		sp = spool_open(base, dir, 64u << 20, err, sizeof(err));
		CHECK(sp != NULL);
		if (!sp)
			break;
		durable_ok = durable_fail = 0;
		for (size_t i = 0; pass == 0 && i < nrec; i++)
		{
			uint8_t *b = malloc(sizes[i] + 1);
			struct iovec iov = {b, sizes[i]};

			for (size_t k = 0; k < sizes[i]; k++)
				b[k] = (uint8_t)(k * 7 + i);
			CHECK(
			    spool_append(sp, SPOOL_REC_MESSAGE, &iov, 1, on_durable, NULL));
			free(b);
		}
		/* let the group commit run */
		for (int t = 0; t < 500 && durable_ok < (pass ? 0 : (int)nrec); t++)
		{
			event_base_loop(base, EVLOOP_NONBLOCK);
			usleep(2000);
		}
		CHECK(durable_ok == (pass ? 0 : (int)nrec) && durable_fail == 0);
		while (spool_read(sp, &rec))
		{
			bool same = n < nrec && rec.len == sizes[n];

			for (size_t k = 0; same && k < rec.len; k++)
				same = ((uint8_t *)rec.data)[k] == (uint8_t)(k * 7 + n);
			CHECK(same);
			free(rec.data);
			/* the first run keeps everything for the replay */
			if (pass == 1)
				spool_release(sp, rec.ref);
			n++;
		}
		CHECK(n == nrec);
		spool_close(sp);
		event_base_free(base);
	}
	rm_spool(top);
}
