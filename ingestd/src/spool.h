/*
 * spool.h: the durable spool, an append-only log of segment files with
 * group commit.
 *
 * A record is appended with write() from the event loop; a worker thread
 * fdatasync()s every segment with unsynced data (and the directory when a
 * segment was created) in one pass, then the loop runs each waiting
 * record's callback: ok means the record is on disk and will be replayed
 * after any crash.  Records that arrive while a pass runs wait for the next
 * one, so one fsync covers everything completed in the meantime.
 *
 * The consumer (the PostgreSQL sink) reads durable records in order with
 * spool_read() and spool_release()s each once it is committed; a segment
 * file is deleted when it is full (or idle), read to the end, and every
 * record read from it was released.  On start every segment left on disk is
 * read again from the beginning: consumers must be idempotent.
 */
#ifndef SPAMLAB_SPOOL_H
#define SPAMLAB_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct event_base;
struct spool;

/* Record types. */
#define SPOOL_REC_MESSAGE 1
#define SPOOL_REC_SESSION 2
#define SPOOL_REC_RELAY   3 /* a relay decision version (spoolrec.h) */

/* Where a record lives: its segment and offset. */
struct spool_ref
{
	uint64_t seg;
	uint64_t off;
};

/* A record handed to the consumer; data is malloc'ed, free with free(). */
struct spool_rec
{
	struct spool_ref ref;
	uint32_t type;
	uint8_t *data;
	size_t len;
};

/* A record is durable (ok) or its write/fsync failed (not ok: reply 451). */
typedef void (*spool_durable_fn)(void *arg, bool ok);

/* New records became readable. */
typedef void (*spool_readable_fn)(void *arg);

struct spool_stats
{
	uint64_t records_appended;
	uint64_t bytes_appended;
	uint64_t fsync_passes;
	uint64_t errors;
	uint64_t records_pending; /* appended or replayed, not yet released */
	uint64_t segments;        /* segment files on disk */
	uint64_t bytes_on_disk;
};

/*
 * Open (create) the spool in dir; segments left by an earlier run are
 * queued for reading first.  If base is NULL, the spool runs without a
 * worker thread and spool_append() syncs before returning (tests, import).
 */
struct spool *spool_open(struct event_base *base, const char *dir,
                         uint64_t segment_size, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Wait for the worker's last pass and close everything. */
void spool_close(struct spool *sp);

/*
 * Append one record (the concatenation of iov).  False: nothing was
 * appended, cb will not be called (reply 451).  True: cb(arg, ok) is
 * called later from the loop (or before returning when base is NULL).
 */
bool spool_append(struct spool *sp, uint32_t type, const struct iovec *iov,
                  int iovcnt, spool_durable_fn cb, void *arg)
    __attribute__((warn_unused_result));

/* Tell the consumer when records become readable. */
void spool_set_reader(struct spool *sp, spool_readable_fn fn, void *arg);

/*
 * The next durable record not yet read, in append order.  False when there
 * is none now.  Damaged records (a torn write at a crash) end their segment
 * and are logged.
 */
bool spool_read(struct spool *sp, struct spool_rec *rec)
    __attribute__((warn_unused_result));

/* The record at ref is committed downstream; its space may be reclaimed. */
void spool_release(struct spool *sp, struct spool_ref ref);

/* Housekeeping: close an idle, fully consumed segment, delete done ones. */
void spool_janitor(struct spool *sp);

void spool_get_stats(const struct spool *sp, struct spool_stats *out);

/* CRC-32 (IEEE) of a buffer, continuing from crc (start with 0). */
uint32_t spool_crc32(uint32_t crc, const void *buf, size_t len);

#endif /* SPAMLAB_SPOOL_H */
