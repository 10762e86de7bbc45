/*
 * spool.c: segment files, group commit on a worker thread, the reader.
 *
 * Record layout in a segment file (little-endian):
 *   u32 magic "SLR1" | u32 type | u64 payload length | u32 payload CRC-32 |
 *   u32 CRC-32 of the preceding 20 bytes | payload
 * A torn or damaged record fails a CRC and ends its segment for the reader.
 *
 * Durability: a record's callback reports ok only after a pass of the
 * worker fdatasync()ed its segment up to at least the record's end (and
 * fsync()ed the directory if the segment file is new).  The reader never
 * goes beyond the synced offset, so nothing reaches PostgreSQL that a
 * crash could still take back.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define SPOOL_MAGIC    0x31524c53u /* "SLR1" */
#define SPOOL_HDR_SIZE 24
#define SPOOL_JOB_MAX  64
#define SPOOL_IOV_MAX  512
/* The reader's window: one pread() serves the records in it. */
#define SPOOL_READAHEAD (256 * 1024)
/* A record longer than this is damage, not data. */
#define SPOOL_REC_MAX ((uint64_t)1 << 32)

struct segment
{
	uint64_t seq;
	int fd;
	uint64_t size;        /* bytes written */
	uint64_t synced;      /* bytes known durable */
	uint64_t outstanding; /* records read and not yet released */
	bool sealed;          /* no more appends */
	bool broken;          /* an fsync failed: nothing past synced counts */
	bool read_done;       /* the reader moved past it */
	bool in_job;          /* the worker is syncing it */
	bool replayed;        /* left by an earlier run */
	time_t last_append;
	struct segment *next;
};

struct waiter
{
	struct segment *seg;
	uint64_t end;
	spool_durable_fn cb;
	void *arg;
	struct waiter *next;
};

struct job_item
{
	struct segment *seg;
	int fd;
	uint64_t target;
	bool ok;
};

struct spool
{
	char dir[PATH_MAX];
	int dirfd;
	uint64_t segment_size;
	struct segment *head, *tail;
	uint64_t next_seq;
	bool dir_dirty;

	struct waiter *wq_head, *wq_tail;

	struct segment *rseg;
	uint64_t roff;
	spool_readable_fn rfn;
	void *rarg;
	/* read-ahead: bytes [ra_off, ra_off + ra_len) of segment ra_seg, all
	 * below its synced offset at the time (such bytes never change) */
	uint8_t *ra_buf;
	size_t ra_len;
	uint64_t ra_seg;
	uint64_t ra_off;

	/* group commit */
	struct event_base *base;
	struct event *flush_ev;
	struct event *notify_ev;
	int notify[2];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool job_posted; /* worker owns job until job_done */
	bool job_done;
	bool stop;
	struct job_item job[SPOOL_JOB_MAX];
	int job_n;
	bool job_dirsync;
	bool job_dirsync_ok;

	struct spool_stats st;
};

/* ---- CRC-32 ---- */

/*
 * CRC-32 (ISO-HDLC, the zlib/PNG polynomial), eight bytes per step with
 * eight tables ("slicing-by-8"): the same values as the bytewise loop at a
 * third of its cost, which matters because every message is checksummed
 * twice (append, read back).
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
spool_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++)
	{
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
			                  crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t
spool_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, spool_crc_init);
	crc = ~crc;
	while (len >= 8)
	{
		uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		                    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t b = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		             (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
		      crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^
		      crc_table[3][b & 0xff] ^ crc_table[2][(b >> 8) & 0xff] ^
		      crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- segments ---- */

static void
spool_segment_name(char *out, size_t outsz, uint64_t seq)
{
	snprintf(out, outsz, "%016llx.seg", (unsigned long long)seq);
}

static struct segment *
spool_segment_add(struct spool *sp, uint64_t seq, int fd, uint64_t size)
{
	struct segment *seg = calloc(1, sizeof(*seg));

	if (!seg)
		return NULL;
	seg->seq = seq;
	seg->fd = fd;
	seg->size = seg->synced = size;
	if (sp->tail)
		sp->tail->next = seg;
	else
		sp->head = seg;
	sp->tail = seg;
	sp->st.segments++;
	sp->st.bytes_on_disk += size;
	return seg;
}

/* A new active segment; false (errno set) if the file cannot be made. */
static bool
spool_segment_create(struct spool *sp)
{
	char name[64];
	int fd;

	spool_segment_name(name, sizeof(name), sp->next_seq);
	fd = openat(sp->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	if (!spool_segment_add(sp, sp->next_seq, fd, 0))
	{
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		errno = ENOMEM;
		return false;
	}
	sp->next_seq++;
	if (sp->base)
		sp->dir_dirty = true;
	else if (fsync(sp->dirfd) != 0)
		return false;
	return true;
}

/* Delete a sealed segment once it is read, synced and fully released. */
static void
spool_segment_try_delete(struct spool *sp, struct segment *seg)
{
	char name[64];
	struct segment **pp;

	if (!seg->sealed || !seg->read_done || seg->outstanding || seg->in_job ||
	    (seg->synced < seg->size && !seg->broken) || seg == sp->rseg)
		return;
	for (struct waiter *w = sp->wq_head; w; w = w->next)
		if (w->seg == seg)
			return;
	spool_segment_name(name, sizeof(name), seg->seq);
	if (unlinkat(sp->dirfd, name, 0) != 0)
		log_event(LOG_WARN, NULL, "spool_unlink_failed",
		          "segment=%s error=\"%s\"", name, strerror(errno));
	close(seg->fd);
	for (pp = &sp->head; *pp != seg; pp = &(*pp)->next)
		;
	*pp = seg->next;
	if (sp->tail == seg)
	{
		sp->tail = NULL;
		for (struct segment *s = sp->head; s; s = s->next)
			sp->tail = s;
	}
	sp->st.segments--;
	sp->st.bytes_on_disk -= seg->size;
	free(seg);
}

/* ---- the group-commit worker ---- */

static void *
spool_worker(void *arg)
{
	struct spool *sp = arg;

	pthread_mutex_lock(&sp->mu);
	for (;;)
	{
		while (!sp->job_posted && !sp->stop)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (!sp->job_posted)
			break;
		pthread_mutex_unlock(&sp->mu);

		/* the job arrays are the worker's until job_done */
		for (int i = 0; i < sp->job_n; i++)
			sp->job[i].ok = fdatasync(sp->job[i].fd) == 0;
		sp->job_dirsync_ok = !sp->job_dirsync || fsync(sp->dirfd) == 0;

		pthread_mutex_lock(&sp->mu);
		sp->job_done = true;
		pthread_mutex_unlock(&sp->mu);
		if (write(sp->notify[1], "x", 1) < 0 && errno != EAGAIN)
			log_event(LOG_ERROR, NULL, "spool_notify_failed", "error=\"%s\"",
			          strerror(errno));
		pthread_mutex_lock(&sp->mu);
		while (sp->job_done && !sp->stop)
			pthread_cond_wait(&sp->cv, &sp->mu);
		if (sp->job_done)
			break;
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* Complete every waiter whose record is now durable or lost. */
static void
spool_complete_waiters(struct spool *sp)
{
	while (sp->wq_head)
	{
		struct waiter *w = sp->wq_head;
		bool ok;

		if (w->seg->synced >= w->end)
			ok = true;
		else if (w->seg->broken)
			ok = false;
		else
			break;
		sp->wq_head = w->next;
		if (!sp->wq_head)
			sp->wq_tail = NULL;
		if (!ok)
			sp->st.errors++;
		w->cb(w->arg, ok);
		free(w);
	}
}

/* Hand the worker every segment with unsynced bytes (the loop's side). */
static void
spool_post_job(struct spool *sp)
{
	int n = 0;

	if (sp->job_posted)
		return;
	for (struct segment *s = sp->head; s && n < SPOOL_JOB_MAX; s = s->next)
	{
		if (s->broken || s->synced >= s->size)
			continue;
		sp->job[n].seg = s;
		sp->job[n].fd = s->fd;
		sp->job[n].target = s->size;
		s->in_job = true;
		n++;
	}
	if (n == 0 && !sp->dir_dirty)
		return;
	sp->job_n = n;
	sp->job_dirsync = sp->dir_dirty;
	sp->dir_dirty = false;
	pthread_mutex_lock(&sp->mu);
	sp->job_posted = true;
	sp->job_done = false;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

static void
spool_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	spool_post_job(arg);
}

static void
spool_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	char buf[64];
	bool done, any_new = false;

	while (read(sp->notify[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&sp->mu);
	done = sp->job_posted && sp->job_done;
	pthread_mutex_unlock(&sp->mu);
	if (!done)
		return;

	sp->st.fsync_passes++;
	for (int i = 0; i < sp->job_n; i++)
	{
		struct job_item *it = &sp->job[i];
		struct segment *s = it->seg;

		s->in_job = false;
		if (it->ok && sp->job_dirsync_ok)
		{
			if (it->target > s->synced)
			{
				s->synced = it->target;
				any_new = true;
			}
		}
		else
		{
			/* fsync failed: the page cache state is unknown; nothing after
			 * the last good sync counts, and this file takes no more */
			log_event(LOG_ERROR, NULL, "spool_fsync_failed", "segment=%016llx",
			          (unsigned long long)s->seq);
			s->broken = true;
			s->sealed = true;
		}
	}
	if (!sp->job_dirsync_ok)
		sp->dir_dirty = true;
	pthread_mutex_lock(&sp->mu);
	sp->job_posted = false;
	sp->job_done = false;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);

	spool_complete_waiters(sp);
	/* more completed while this pass ran: start the next one now */
	spool_post_job(sp);
	if (any_new && sp->rfn)
		sp->rfn(sp->rarg);
}

/* ---- open / close ---- */

static int
spool_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Queue the segments an earlier run left, oldest first. */
static bool
spool_scan(struct spool *sp, char *err, size_t errsz)
{
	DIR *d = opendir(sp->dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	bool ok = false;

	if (!d)
	{
		snprintf(err, errsz, "%s: %s", sp->dir, strerror(errno));
		return false;
	}
	while ((de = readdir(d)))
	{
		size_t len = strlen(de->d_name);

		if (len != 20 || strcmp(de->d_name + 16, ".seg") != 0 ||
		    strspn(de->d_name, "0123456789abcdef") != 16)
			continue;
		if (n == cap)
		{
			char **nn =
			    realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!nn)
				goto fail;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			goto fail;
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), spool_name_cmp);
	for (size_t i = 0; i < n; i++)
	{
		uint64_t seq = strtoull(names[i], NULL, 16);
		int fd = openat(sp->dirfd, names[i], O_RDWR | O_CLOEXEC);
		struct stat stb;
		struct segment *seg;

		if (fd < 0 || fstat(fd, &stb) != 0)
		{
			snprintf(err, errsz, "%s/%s: %s", sp->dir, names[i],
			         strerror(errno));
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		if (!(seg = spool_segment_add(sp, seq, fd, (uint64_t)stb.st_size)))
		{
			close(fd);
			goto fail;
		}
		seg->sealed = true;
		seg->replayed = true;
		if (seq >= sp->next_seq)
			sp->next_seq = seq + 1;
	}
	if (n)
		log_event(LOG_INFO, NULL, "spool_replay", "segments=%zu bytes=%llu", n,
		          (unsigned long long)sp->st.bytes_on_disk);
	ok = true;
fail:
	if (!ok && !*err)
		snprintf(err, errsz, "%s: out of memory", sp->dir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ok;
}

struct spool *
spool_open(struct event_base *base, const char *dir, uint64_t segment_size,
           char *err, size_t errsz)
{
	struct spool *sp = calloc(1, sizeof(*sp));

	*err = '\0';
	if (!sp)
	{
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	sp->dirfd = -1;
	sp->notify[0] = sp->notify[1] = -1;
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->cv, NULL);
	if (strlen(dir) >= sizeof(sp->dir))
	{
		snprintf(err, errsz, "spool_dir too long");
		goto fail;
	}
	strcpy(sp->dir, dir);
	sp->segment_size = segment_size;
	sp->base = base;
	sp->next_seq = 1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0)
	{
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (!spool_scan(sp, err, errsz))
		goto fail;
	sp->rseg = sp->head;
	if (base)
	{
		if (pipe2(sp->notify, O_NONBLOCK | O_CLOEXEC) != 0)
		{
			snprintf(err, errsz, "pipe: %s", strerror(errno));
			goto fail;
		}
		sp->notify_ev = event_new(base, sp->notify[0], EV_READ | EV_PERSIST,
		                          spool_notify_cb, sp);
		sp->flush_ev = event_new(base, -1, 0, spool_flush_cb, sp);
		if (!sp->notify_ev || !sp->flush_ev ||
		    event_add(sp->notify_ev, NULL) != 0)
		{
			snprintf(err, errsz, "out of memory");
			goto fail;
		}
		/* run the flush after everything else ready in this iteration */
		if (event_base_get_npriorities(base) > 1)
			event_priority_set(sp->flush_ev,
			                   event_base_get_npriorities(base) - 1);
		if (pthread_create(&sp->thread, NULL, spool_worker, sp) != 0)
		{
			snprintf(err, errsz, "cannot start the spool thread");
			goto fail;
		}
		sp->thread_started = true;
	}
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->thread_started)
	{
		pthread_mutex_lock(&sp->mu);
		sp->stop = true;
		pthread_cond_broadcast(&sp->cv);
		pthread_mutex_unlock(&sp->mu);
		pthread_join(sp->thread, NULL);
	}
	/* anyone still waiting: their record may or may not be durable */
	while (sp->wq_head)
	{
		struct waiter *w = sp->wq_head;

		sp->wq_head = w->next;
		w->cb(w->arg, false);
		free(w);
	}
	if (sp->notify_ev)
		event_free(sp->notify_ev);
	if (sp->flush_ev)
		event_free(sp->flush_ev);
	for (int i = 0; i < 2; i++)
		if (sp->notify[i] >= 0)
			close(sp->notify[i]);
	while (sp->head)
	{
		struct segment *s = sp->head;

		sp->head = s->next;
		/* a segment fully consumed can go: nothing in it is needed */
		if (s->sealed && s->read_done && !s->outstanding &&
		    s->synced >= s->size)
		{
			char name[64];

			spool_segment_name(name, sizeof(name), s->seq);
			unlinkat(sp->dirfd, name, 0);
		}
		close(s->fd);
		free(s);
	}
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->ra_buf);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->cv);
	free(sp);
}

/* ---- append ---- */

/* pwritev() all of iov at off (any count, partial writes resumed). */
static bool
spool_write_all(int fd, uint64_t off, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0)
	{
		int n = iovcnt > SPOOL_IOV_MAX ? SPOOL_IOV_MAX : iovcnt;
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0)
		{
			if (errno == EINTR)
				continue;
			return false;
		}
		if (w == 0)
		{
			errno = EIO;
			return false;
		}
		off += (uint64_t)w;
		while (iovcnt > 0 && (size_t)w >= iov->iov_len)
		{
			w -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0)
		{
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return true;
}

bool
spool_append(struct spool *sp, uint32_t type, const struct iovec *iov,
             int iovcnt, spool_durable_fn cb, void *arg)
{
	uint8_t hdr[SPOOL_HDR_SIZE];
	struct iovec *wiov = NULL;
	struct waiter *w = NULL;
	struct segment *seg = sp->tail;
	uint64_t len = 0;
	uint32_t crc = 0;

	for (int i = 0; i < iovcnt; i++)
	{
		len += iov[i].iov_len;
		crc = spool_crc32(crc, iov[i].iov_base, iov[i].iov_len);
	}
	if (len >= SPOOL_REC_MAX)
	{
		errno = EFBIG;
		goto fail;
	}
	if (!seg || seg->sealed || seg->size >= sp->segment_size)
	{
		if (seg && !seg->sealed)
		{
			seg->sealed = true;
			spool_segment_try_delete(sp, seg);
		}
		if (!spool_segment_create(sp))
			goto fail;
		seg = sp->tail;
	}
	put32(hdr, SPOOL_MAGIC);
	put32(hdr + 4, type);
	put64(hdr + 8, len);
	put32(hdr + 16, crc);
	put32(hdr + 20, spool_crc32(0, hdr, 20));

	w = malloc(sizeof(*w));
	wiov = malloc(((size_t)iovcnt + 1) * sizeof(*wiov));
	if (!w || !wiov)
	{
		errno = ENOMEM;
		goto fail;
	}
	wiov[0].iov_base = hdr;
	wiov[0].iov_len = sizeof(hdr);
	memcpy(wiov + 1, iov, (size_t)iovcnt * sizeof(*wiov));
	if (!spool_write_all(seg->fd, seg->size, wiov, iovcnt + 1))
	{
		int saved = errno;

		/* cut the partial record off; if that fails, retire the file */
		if (ftruncate(seg->fd, (off_t)seg->size) != 0)
			seg->sealed = true;
		errno = saved;
		goto fail;
	}
	free(wiov);
	wiov = NULL;
	seg->size += sizeof(hdr) + len;
	seg->last_append = time(NULL);
	sp->st.records_appended++;
	sp->st.records_pending++;
	sp->st.bytes_appended += sizeof(hdr) + len;
	sp->st.bytes_on_disk += sizeof(hdr) + len;

	if (!sp->base)
	{
		/* synchronous mode: one fsync per record */
		bool ok = fdatasync(seg->fd) == 0;

		free(w);
		if (ok)
			seg->synced = seg->size;
		else
		{
			seg->broken = seg->sealed = true;
			sp->st.errors++;
		}
		sp->st.fsync_passes++;
		cb(arg, ok);
		return true;
	}

	w->seg = seg;
	w->end = seg->size;
	w->cb = cb;
	w->arg = arg;
	w->next = NULL;
	if (sp->wq_tail)
		sp->wq_tail->next = w;
	else
		sp->wq_head = w;
	sp->wq_tail = w;
	event_active(sp->flush_ev, 0, 0);
	return true;
fail:
	sp->st.errors++;
	log_event(LOG_ERROR, NULL, "spool_write_failed", "error=\"%s\"",
	          strerror(errno));
	free(w);
	free(wiov);
	return false;
}

/* ---- the reader ---- */

void
spool_set_reader(struct spool *sp, spool_readable_fn fn, void *arg)
{
	sp->rfn = fn;
	sp->rarg = arg;
}

/*
 * Bytes [off, off + len) of seg (len <= SPOOL_READAHEAD, off + len <=
 * synced), from the read-ahead window, refilled with one pread() of up to
 * SPOOL_READAHEAD synced bytes when they are not in it.  Under load the
 * reader follows the writer closely, so one read serves every record of a
 * group commit instead of two reads per record.  NULL if the read fails.
 */
static const uint8_t *
spool_window(struct spool *sp, const struct segment *seg, uint64_t off,
             uint64_t len)
{
	uint64_t avail = seg->synced - off;
	size_t want = avail < SPOOL_READAHEAD ? (size_t)avail : SPOOL_READAHEAD;
	ssize_t r;

	if (sp->ra_len && sp->ra_seg == seg->seq && off >= sp->ra_off &&
	    off + len <= sp->ra_off + sp->ra_len)
		return sp->ra_buf + (off - sp->ra_off);
	if (!sp->ra_buf && !(sp->ra_buf = malloc(SPOOL_READAHEAD)))
		return NULL;
	sp->ra_len = 0;
	r = pread(seg->fd, sp->ra_buf, want, (off_t)off);
	if (r < 0 || (uint64_t)r < len)
		return NULL;
	sp->ra_seg = seg->seq;
	sp->ra_off = off;
	sp->ra_len = (size_t)r;
	return sp->ra_buf;
}

/* Move the reader to the next segment; the one left may be deletable. */
static void
spool_reader_advance(struct spool *sp)
{
	struct segment *done = sp->rseg;

	done->read_done = true;
	sp->rseg = done->next;
	sp->roff = 0;
	spool_segment_try_delete(sp, done);
}

bool
spool_read(struct spool *sp, struct spool_rec *rec)
{
	for (;;)
	{
		struct segment *seg;
		uint8_t hdr[SPOOL_HDR_SIZE];
		const uint8_t *win;
		uint64_t len;
		uint8_t *data;

		if (!sp->rseg)
		{
			/* caught up with everything; pick up a newer segment */
			for (seg = sp->head; seg && seg->read_done; seg = seg->next)
				;
			if (!seg)
				return false;
			sp->rseg = seg;
			sp->roff = 0;
		}
		seg = sp->rseg;
		if (sp->roff + SPOOL_HDR_SIZE > seg->synced)
		{
			if (seg->sealed && !seg->in_job &&
			    (seg->synced >= seg->size || seg->broken))
			{
				spool_reader_advance(sp);
				continue;
			}
			return false;
		}
		/* a copy: the window may move for the payload */
		win = spool_window(sp, seg, sp->roff, SPOOL_HDR_SIZE);
		if (!win)
			goto damaged;
		memcpy(hdr, win, SPOOL_HDR_SIZE);
		if (get32(hdr) != SPOOL_MAGIC ||
		    get32(hdr + 20) != spool_crc32(0, hdr, 20))
			goto damaged;
		len = get64(hdr + 8);
		if (len > seg->synced - sp->roff - SPOOL_HDR_SIZE)
			goto damaged;
		data = malloc(len ? len : 1);
		if (!data)
			return false;
		if (SPOOL_HDR_SIZE + len <= SPOOL_READAHEAD)
		{
			/* the header and the payload in one window */
			win = spool_window(sp, seg, sp->roff, SPOOL_HDR_SIZE + len);
			if (win)
				memcpy(data, win + SPOOL_HDR_SIZE, len);
		}
		else
			win = pread(seg->fd, data, len,
			            (off_t)(sp->roff + SPOOL_HDR_SIZE)) == (ssize_t)len
			          ? data
			          : NULL;
		if (!win || spool_crc32(0, data, len) != get32(hdr + 16))
		{
			free(data);
			goto damaged;
		}
		rec->ref.seg = seg->seq;
		rec->ref.off = sp->roff;
		rec->type = get32(hdr + 4);
		rec->data = data;
		rec->len = len;
		seg->outstanding++;
		sp->roff += SPOOL_HDR_SIZE + len;
		if (seg->replayed)
			sp->st.records_pending++; /* not counted at append */
		return true;
	damaged:
		log_event(LOG_WARN, NULL, "spool_damaged_record",
		          "segment=%016llx offset=%llu size=%llu",
		          (unsigned long long)seg->seq, (unsigned long long)sp->roff,
		          (unsigned long long)seg->size);
		/* nothing after a damaged record is trusted; stop appending */
		seg->sealed = true;
		sp->st.bytes_on_disk -= seg->size - sp->roff;
		seg->synced = seg->size = sp->roff;
		if (seg->in_job)
			return false;
		spool_reader_advance(sp);
	}
}

void
spool_release(struct spool *sp, struct spool_ref ref)
{
	for (struct segment *s = sp->head; s; s = s->next)
	{
		if (s->seq != ref.seg)
			continue;
		if (s->outstanding)
			s->outstanding--;
		if (sp->st.records_pending)
			sp->st.records_pending--;
		spool_segment_try_delete(sp, s);
		return;
	}
}

void
spool_janitor(struct spool *sp)
{
	struct segment *seg = sp->tail;

	/* an idle active segment whose records are all committed: retire it
	 * so it can be deleted and a restart does not replay it */
	if (seg && !seg->sealed && seg->size > 0 && sp->rseg == seg &&
	    sp->roff == seg->size && seg->synced == seg->size &&
	    !seg->outstanding && time(NULL) - seg->last_append >= 1)
	{
		seg->sealed = true;
		spool_reader_advance(sp);
	}
}

void
spool_get_stats(const struct spool *sp, struct spool_stats *out)
{
	*out = sp->st;
}
