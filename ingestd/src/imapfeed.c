/*
 * imapfeed.c: the IMAP fetch in a thread, the sink in the caller's.
 *
 * libetpan blocks while it waits for the server, and the sink only sends
 * COPY data while its event loop runs, so in one thread the two take turns.
 * Here a fetch thread runs imap_import_url() with callbacks that copy each
 * event (folder, message, failure) onto a bounded queue and write a byte to
 * a pipe; the calling thread runs the sink's event loop with the pipe's read
 * end in it, and hands each queued event to the real callbacks.  A full
 * queue makes the fetch thread wait; a callback returning false (the sink
 * failed) makes every further message callback in the fetch thread return
 * false, which ends imap_import_url() there.
 */
#include "imapfeed.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum item_kind
{
	ITEM_FOLDER,
	ITEM_MESSAGE,
	ITEM_FAILED,
};

struct item
{
	struct item *next;
	enum item_kind kind;
	uint32_t n;        /* FOLDER: messages */
	uint64_t bytes;    /* FOLDER: total; FAILED: the message's size */
	char *folder;      /* FOLDER, MESSAGE */
	char *user;        /* MESSAGE */
	const char *label; /* MESSAGE: static strings ("spam", ...) or argv */
	uint32_t uidvalidity, uid;
	int64_t internaldate_us;
	uint8_t *raw;
	size_t len;
};

struct feed
{
	pthread_mutex_t mu;
	pthread_cond_t not_full;
	struct item *head, *tail;
	size_t bytes; /* raw bytes queued */
	bool done;    /* the fetch thread has finished */
	bool stop;    /* the consumer gave up: refuse further messages */
	bool oom;     /* the fetch thread could not queue an event */
	int pipe_r, pipe_w;
	enum imap_result result;

	const char *url;
	const struct imap_options *o;
};

static void
item_free(struct item *it)
{
	free(it->folder);
	free(it->user);
	free(it->raw);
	free(it);
}

/* Queue an item and wake the consumer; waits while the queue is full. */
static bool
feed_push(struct feed *f, struct item *it)
{
	bool ok;
	char b = 0;

	pthread_mutex_lock(&f->mu);
	while (!f->stop && f->head && f->bytes + it->len > IMAPFEED_MAX_BYTES)
		pthread_cond_wait(&f->not_full, &f->mu);
	ok = !f->stop;
	if (ok)
	{
		if (f->tail)
			f->tail->next = it;
		else
			f->head = it;
		f->tail = it;
		f->bytes += it->len;
	}
	pthread_mutex_unlock(&f->mu);
	if (!ok)
	{
		item_free(it);
		return false;
	}
	if (write(f->pipe_w, &b, 1) < 0)
	{
		/* EAGAIN: the full pipe already holds a wake-up */
	}
	return true;
}

static void
cb_folder(void *arg, const char *folder, uint32_t n, uint64_t bytes)
{
	struct feed *f = arg;
	struct item *it = calloc(1, sizeof(*it));

	if (!it || !(it->folder = strdup(folder)))
	{
		free(it);
		f->oom = true;
		return;
	}
	it->kind = ITEM_FOLDER;
	it->n = n;
	it->bytes = bytes;
	(void)feed_push(f, it);
}

static bool
cb_message(void *arg, const struct imap_message *m)
{
	struct feed *f = arg;
	struct item *it = calloc(1, sizeof(*it));

	if (it)
	{
		it->folder = strdup(m->folder);
		it->user = strdup(m->user);
		it->raw = malloc(m->len ? m->len : 1);
	}
	if (!it || !it->folder || !it->user || !it->raw)
	{
		if (it)
			item_free(it);
		f->oom = true;
		return false;
	}
	memcpy(it->raw, m->raw, m->len);
	it->kind = ITEM_MESSAGE;
	it->label = m->label;
	it->uidvalidity = m->uidvalidity;
	it->uid = m->uid;
	it->internaldate_us = m->internaldate_us;
	it->len = m->len;
	return feed_push(f, it);
}

static void
cb_failed(void *arg, uint64_t bytes)
{
	struct feed *f = arg;
	struct item *it = calloc(1, sizeof(*it));

	if (!it)
	{
		f->oom = true;
		return;
	}
	it->kind = ITEM_FAILED;
	it->bytes = bytes;
	(void)feed_push(f, it);
}

static void *
feed_thread(void *arg)
{
	struct feed *f = arg;
	struct imap_callbacks cb = {f, cb_folder, cb_message, cb_failed};
	enum imap_result r = imap_import_url(f->url, f->o, &cb);
	char b = 0;

	pthread_mutex_lock(&f->mu);
	f->result = r;
	f->done = true;
	pthread_mutex_unlock(&f->mu);
	if (write(f->pipe_w, &b, 1) < 0)
	{
		/* EAGAIN: the full pipe already holds a wake-up */
	}
	return NULL;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Hand one item to the caller's callbacks; false to stop. */
static bool
deliver(const struct imap_callbacks *cb, struct item *it)
{
	struct imap_message m;

	switch (it->kind)
	{
		case ITEM_FOLDER:
			cb->folder_begin(cb->arg, it->folder, it->n, it->bytes);
			return true;
		case ITEM_FAILED:
			cb->message_failed(cb->arg, it->bytes);
			return true;
		case ITEM_MESSAGE:
			m.user = it->user;
			m.folder = it->folder;
			m.label = it->label;
			m.uidvalidity = it->uidvalidity;
			m.uid = it->uid;
			m.internaldate_us = it->internaldate_us;
			m.raw = it->raw;
			m.len = it->len;
			return cb->message(cb->arg, &m);
	}
	return true;
}

enum imap_result
imapfeed_import_url(const char *url, const struct imap_options *o,
                    const struct imap_callbacks *cb, struct event_base *base)
{
	struct feed f;
	struct event *wake = NULL;
	pthread_t tid;
	int fds[2];
	bool stopped = false;
	enum imap_result res;

	memset(&f, 0, sizeof(f));
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
		return imap_import_url(url, o, cb); /* no pipe: one thread */
	f.pipe_r = fds[0];
	f.pipe_w = fds[1];
	f.url = url;
	f.o = o;
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.not_full, NULL);
	wake = event_new(base, f.pipe_r, EV_READ | EV_PERSIST, on_wake, NULL);
	if (!wake || event_add(wake, NULL) != 0 ||
	    pthread_create(&tid, NULL, feed_thread, &f) != 0)
	{
		if (wake)
			event_free(wake);
		close(fds[0]);
		close(fds[1]);
		pthread_cond_destroy(&f.not_full);
		pthread_mutex_destroy(&f.mu);
		return imap_import_url(url, o, cb);
	}
	for (;;)
	{
		struct item *batch;
		bool done;

		pthread_mutex_lock(&f.mu);
		batch = f.head;
		f.head = f.tail = NULL;
		f.bytes = 0;
		done = f.done;
		pthread_cond_signal(&f.not_full);
		pthread_mutex_unlock(&f.mu);
		while (batch)
		{
			struct item *next = batch->next;

			if (!stopped && !deliver(cb, batch))
			{
				stopped = true;
				pthread_mutex_lock(&f.mu);
				f.stop = true;
				pthread_cond_signal(&f.not_full);
				pthread_mutex_unlock(&f.mu);
			}
			item_free(batch);
			batch = next;
		}
		if (done)
			break;
		/* run the sink until the fetch thread has news */
		pthread_mutex_lock(&f.mu);
		done = f.done || f.head;
		pthread_mutex_unlock(&f.mu);
		if (!done && event_base_loop(base, EVLOOP_ONCE) < 0)
			break;
	}
	pthread_mutex_lock(&f.mu); /* after a loop error: refuse the rest */
	f.stop = true;
	pthread_cond_signal(&f.not_full);
	pthread_mutex_unlock(&f.mu);
	pthread_join(tid, NULL);
	res = f.result;
	for (struct item *it = f.head, *next; it; it = next)
	{
		next = it->next;
		item_free(it);
	}
	if (f.oom && res == IMAP_RESULT_OK)
	{
		fprintf(stderr, "ingestd import: %s: out of memory\n", url);
		res = IMAP_RESULT_FAILED;
	}
	if (stopped)
		res = IMAP_RESULT_CALLBACK;
	event_free(wake);
	close(fds[0]);
	close(fds[1]);
	pthread_cond_destroy(&f.not_full);
	pthread_mutex_destroy(&f.mu);
	return res;
}
