/*
 * import.c: `ingestd import`: mbox files, Maildir folders and .eml files
 * into spamlab.message through the same sink as the daemon.
 *
 * Rules (docs/ingestd-sink.md):
 * - A directory with cur/ and new/ is a Maildir: its messages get source
 *   'maildir' and folder = the directory's name; Maildir++ subfolders
 *   (".Sent") are walked too, folder "Sent".  Other directories are walked
 *   recursively in name order.
 * - A file starting with "From " is an mbox (source 'mbox', folder = file
 *   name); any other file is one message (source 'eml').
 * - Something that does not look like mail is reported and skipped.
 * - received_at: the mbox From_ line date, else the newest Received date,
 *   else Date:, else the file's mtime.  id: uuid7 of that time and the
 *   SHA-256 of the raw bytes.  Both depend only on the message, so
 *   importing the same mail again inserts nothing.
 * - imap:// and imaps:// arguments are IMAP mailboxes (imap.c, docs/imap.md):
 *   source 'imap', folder = the mailbox name, received_at = INTERNALDATE,
 *   id from user, folder, UIDVALIDITY, UID and the bytes, so a re-import of
 *   the same mailbox inserts nothing either.
 */
#include "import.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imap.h"
#include "imapfeed.h"
#include "mbox.h"
#include "pgsink.h"

#define IMPORT_MAX_DEPTH  32
#define IMPORT_HIGH_WATER (64 * 1024 * 1024)

enum entry_kind
{
	ENTRY_AUTO,    /* mbox or one message, decided by content */
	ENTRY_MAILDIR, /* one message in a Maildir */
};

struct entry
{
	char *path;
	char *folder;
	off_t size;
	enum entry_kind kind;
};

struct import
{
	const char *label;
	const char *sensor;
	enum mbox_variant variant;
	struct pgsink *sink;

	struct entry *entries;
	size_t n_entries, cap_entries;
	uint64_t total_bytes;

	/* counters */
	uint64_t files, folders, messages, bytes, not_mail, read_errors, add_errors;
	uint64_t done_bytes;    /* files finished */
	uint64_t cur_file_done; /* bytes into the current mbox */
	uint64_t committed, rejected;

	bool progress;
	int64_t started_us, drawn_us;
	bool failed;
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
usage(FILE *f)
{
	fputs("usage: ingestd import [--label spam|ham|sent] [--source-name NAME]\n"
	      "                      [--db CONNINFO] [--mbox-variant rd|o|raw]\n"
	      "                      [--batch-rows N] [--no-progress] PATH|URL...\n"
	      "IMAP (URL = imap[s]://USER@HOST[:PORT][/FOLDER]):\n"
	      "  [--folder NAME]... [--skip-folder NAME]...\n"
	      "  [--folder-label FOLDER=spam|ham|sent]...\n"
	      "  [--password-file FILE | env INGESTD_IMAP_PASSWORD]\n"
	      "  [--password-env VAR] [--require-tls] [--tls-ca FILE]\n"
	      "  [--no-tls-verify] [--imap-timeout SECONDS]\n"
	      "Loads mbox files, Maildir folders, .eml files (directories are\n"
	      "walked) and IMAP mailboxes (read-only) into spamlab.message.\n"
	      "Re-importing is a no-op.\n",
	      f);
}

/* --- collecting files ----------------------------------------------------- */

static bool
add_entry(struct import *im, const char *path, const char *folder, off_t size,
          enum entry_kind kind)
{
	struct entry *e;

	if (im->n_entries == im->cap_entries)
	{
		size_t cap = im->cap_entries ? im->cap_entries * 2 : 64;
		struct entry *p = realloc(im->entries, cap * sizeof(*p));

		if (!p)
			return false;
		im->entries = p;
		im->cap_entries = cap;
	}
	e = &im->entries[im->n_entries];
	e->path = strdup(path);
	e->folder = folder ? strdup(folder) : NULL;
	if (!e->path || (folder && !e->folder))
	{
		free(e->path);
		free(e->folder);
		return false;
	}
	e->size = size;
	e->kind = kind;
	im->n_entries++;
	im->total_bytes += (uint64_t)size;
	return true;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted (so imports are in a stable order). */
static char **
list_dir(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d)))
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap)
		{
			char **p;

			cap = cap ? cap * 2 : 64;
			p = realloc(names, cap * sizeof(*p));
			if (!p)
				break;
			names = p;
		}
		if (!(names[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir/name, malloc'd; NULL when out of memory. */
static char *
path_join(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static bool
is_maildir(const char *path)
{
	char *cur = path_join(path, "cur"), *new = path_join(path, "new");
	bool yes = cur && new &&is_dir(cur) && is_dir(new);

	free(cur);
	free(new);
	return yes;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The last component of a directory path, trailing slashes ignored. */
static void
dir_name(const char *path, char *out, size_t size)
{
	size_t n = strlen(path), start;

	while (n > 1 && path[n - 1] == '/')
		n--;
	start = n;
	while (start > 0 && path[start - 1] != '/')
		start--;
	snprintf(out, size, "%.*s", (int)(n - start), path + start);
}

static void walk(struct import *im, const char *path, const char *folder,
                 enum entry_kind kind, int depth);

/* A Maildir: cur/ and new/ messages, then Maildir++ subfolders. */
static void
walk_maildir(struct import *im, const char *path, const char *folder, int depth)
{
	static const char *const subs[] = {"cur", "new"};

	for (int i = 0; i < 2; i++)
	{
		size_t n;
		char *sub = path_join(path, subs[i]);
		char **names = sub ? list_dir(sub, &n) : NULL;

		for (size_t j = 0; names && j < n; j++)
		{
			char *file;

			if (names[j][0] == '.')
				continue;
			if ((file = path_join(sub, names[j])))
				walk(im, file, folder, ENTRY_MAILDIR, depth + 1);
			free(file);
		}
		if (names)
			free_names(names, n);
		free(sub);
	}
	{
		size_t n;
		char **names = list_dir(path, &n);

		for (size_t j = 0; names && j < n; j++)
		{
			char *sub;

			if (names[j][0] != '.' || names[j][1] == '\0' ||
			    strcmp(names[j], "..") == 0)
				continue;
			sub = path_join(path, names[j]);
			if (sub && is_maildir(sub))
				walk_maildir(im, sub, names[j] + 1, depth + 1);
			free(sub);
		}
		if (names)
			free_names(names, n);
	}
}

static void
walk(struct import *im, const char *path, const char *folder,
     enum entry_kind kind, int depth)
{
	struct stat st;

	if (depth > IMPORT_MAX_DEPTH)
	{
		fprintf(
		    stderr,
		    "ingestd: level=warn component=import event=too_deep path=\"%s\"\n",
		    path);
		return;
	}
	if (stat(path, &st) != 0)
	{
		fprintf(stderr,
		        "ingestd: level=error component=import event=unreadable "
		        "path=\"%s\" error=\"%s\"\n",
		        path, strerror(errno));
		im->read_errors++;
		return;
	}
	if (S_ISDIR(st.st_mode))
	{
		size_t n;
		char **names;

		if (is_maildir(path))
		{
			char name[256];

			dir_name(path, name, sizeof(name));
			walk_maildir(im, path, name, depth);
			return;
		}
		names = list_dir(path, &n);
		for (size_t i = 0; names && i < n; i++)
		{
			char *sub = path_join(path, names[i]);

			if (sub)
				walk(im, sub, NULL, ENTRY_AUTO, depth + 1);
			free(sub);
		}
		if (names)
			free_names(names, n);
		return;
	}
	if (!S_ISREG(st.st_mode))
		return;
	if (!add_entry(im, path, folder, st.st_size, kind))
		im->read_errors++;
}

/* --- loading -------------------------------------------------------------- */

static void
done_cb(void *arg, enum pgsink_status status)
{
	struct import *im = arg;

	if (status == PGSINK_COMMITTED)
		im->committed++;
	else if (status == PGSINK_REJECTED)
		im->rejected++;
}

static void
draw_progress(struct import *im, bool final)
{
	int64_t now = now_us();
	double frac, el, rate;
	int width = 30, fill;
	char bar[64];

	if (!im->progress || (!final && now - im->drawn_us < 100000))
		return;
	im->drawn_us = now;
	frac = im->total_bytes ? (double)(im->done_bytes + im->cur_file_done) /
	                             (double)im->total_bytes
	                       : 1.0;
	if (frac > 1.0)
		frac = 1.0;
	fill = (int)(frac * width);
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[width] = '\0';
	el = (double)(now - im->started_us) / 1e6;
	rate = el > 0 ? (double)im->messages / el : 0;
	fprintf(stderr, "\r[%s] %3.0f%% %llu msgs %.1f MB %.0f msg/s%s", bar,
	        frac * 100, (unsigned long long)im->messages,
	        (double)im->bytes / 1e6, rate, final ? "\n" : "");
}

/* One message: checks, key, into the sink.  False when the sink failed. */
static bool
load_message(struct import *im, const struct entry *e, const char *source,
             const char *folder, const char *raw, size_t len, int64_t from_us,
             int64_t mtime_us, size_t offset)
{
	struct msg_record m;
	int64_t t;

	if (!mail_looks_like(raw, len))
	{
		im->not_mail++;
		fprintf(stderr,
		        "%singestd: level=warn component=import event=not_mail "
		        "path=\"%s\" offset=%zu bytes=%zu\n",
		        im->progress ? "\r\033[K" : "", e->path, offset, len);
		return true;
	}
	if (from_us != INT64_MIN)
		t = from_us;
	else if (!mail_received_at(raw, len, &t))
		t = mtime_us;
	memset(&m, 0, sizeof(m));
	m.received_at = t;
	record_content_id(&m.id, t, (const uint8_t *)raw, len);
	m.sensor = im->sensor;
	m.source = source;
	m.label = im->label;
	m.folder = folder;
	m.peer_port = -1;
	m.raw = (const uint8_t *)raw;
	m.raw_len = len;
	if (!pgsink_add_message(im->sink, &m, done_cb, im))
	{
		if (pgsink_failed(im->sink))
			return false;
		im->add_errors++;
		fprintf(stderr,
		        "ingestd: level=error component=import event=add_failed "
		        "path=\"%s\" offset=%zu bytes=%zu\n",
		        e->path, offset, len);
		return true;
	}
	im->messages++;
	im->bytes += len;
	draw_progress(im, false);
	return pgsink_wait_below(im->sink, IMPORT_HIGH_WATER);
}

/* Split an mbox and load each message. */
static bool
load_mbox(struct import *im, const struct entry *e, const char *buf, size_t len,
          int64_t mtime_us)
{
	struct mbox_iter it;
	struct mbox_msg m;
	char *scratch = NULL;
	size_t scratch_cap = 0;
	bool ok = true;

	mbox_iter_init(&it, buf, len);
	while (ok && mbox_next(&it, &m))
	{
		const char *raw = buf + m.off;
		size_t n = m.len;
		int64_t from_us;

		if (!mbox_from_date(buf + m.from_off, m.from_len, &from_us))
			from_us = INT64_MIN;
		if (mbox_needs_unquote(raw, n, im->variant))
		{
			if (n > scratch_cap)
			{
				char *p = realloc(scratch, n);

				if (!p)
				{
					im->read_errors++;
					continue;
				}
				scratch = p;
				scratch_cap = n;
			}
			n = mbox_unquote(raw, n, im->variant, scratch);
			raw = scratch;
		}
		ok = load_message(im, e, "mbox", base_name(e->path), raw, n, from_us,
		                  mtime_us, m.from_off);
		im->cur_file_done = it.pos;
	}
	free(scratch);
	return ok;
}

static bool
load_file(struct import *im, const struct entry *e)
{
	struct stat st;
	int fd = open(e->path, O_RDONLY | O_CLOEXEC);
	void *map;
	int64_t mtime_us;
	bool ok;

	if (fd < 0 || fstat(fd, &st) != 0)
	{
		fprintf(stderr,
		        "ingestd: level=error component=import event=unreadable "
		        "path=\"%s\" error=\"%s\"\n",
		        e->path, strerror(errno));
		im->read_errors++;
		if (fd >= 0)
			close(fd);
		return true;
	}
	im->files++;
	if (st.st_size == 0)
	{
		close(fd);
		return load_message(im, e, "eml", NULL, "", 0, INT64_MIN, 0, 0);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
	{
		fprintf(stderr,
		        "ingestd: level=error component=import event=unreadable "
		        "path=\"%s\" error=\"%s\"\n",
		        e->path, strerror(errno));
		im->read_errors++;
		return true;
	}
	mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	if (e->kind == ENTRY_MAILDIR)
		ok = load_message(im, e, "maildir", e->folder, map, (size_t)st.st_size,
		                  INT64_MIN, mtime_us, 0);
	else if (st.st_size >= 5 && memcmp(map, "From ", 5) == 0)
		ok = load_mbox(im, e, map, (size_t)st.st_size, mtime_us);
	else
		ok = load_message(im, e, "eml", NULL, map, (size_t)st.st_size,
		                  INT64_MIN, mtime_us, 0);
	munmap(map, (size_t)st.st_size);
	return ok;
}

/* --- IMAP ----------------------------------------------------------------- */

static void
imap_folder_begin(void *arg, const char *folder, uint32_t n, uint64_t bytes)
{
	struct import *im = arg;

	im->folders++;
	im->total_bytes += bytes;
	draw_progress(im, false);
}

static void
imap_message_failed(void *arg, uint64_t bytes)
{
	struct import *im = arg;

	im->read_errors++;
	im->done_bytes += bytes;
}

/*
 * One IMAP message.  received_at is INTERNALDATE (the Received header, then
 * now, when the server gave none).  The id hashes user, folder, UIDVALIDITY
 * and UID, which name a message for good (RFC 3501 2.3.1.1), and the bytes.
 * The host is left out so that two names of one server (localhost and
 * 127.0.0.1, imap:// and imaps://) give the same rows; two servers collide
 * only on the same user, folder, UIDVALIDITY, UID and bytes: the same mail.
 */
static bool
imap_message(void *arg, const struct imap_message *mm)
{
	struct import *im = arg;
	struct msg_record m;
	char key[IMAPURL_USER_MAX + IMAPURL_PATH_MAX * 2 + 128];
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int klen;
	int64_t t = mm->internaldate_us;

	if (t == INT64_MIN && !mail_received_at((const char *)mm->raw, mm->len, &t))
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		t = (int64_t)ts.tv_sec * 1000000;
	}
	if (!EVP_Digest(mm->raw, mm->len, h, &hlen, EVP_sha256(), NULL))
		hlen = 0;
	for (unsigned int i = 0; i < hlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	hex[2 * hlen] = '\0';
	klen = snprintf(key, sizeof(key), "imap%c%s%c%s%c%u%c%u%c%s", 0, mm->user,
	                0, mm->folder, 0, mm->uidvalidity, 0, mm->uid, 0, hex);
	if (klen < 0 || (size_t)klen >= sizeof(key))
		klen = (int)sizeof(key) - 1;
	memset(&m, 0, sizeof(m));
	m.received_at = t;
	record_content_id(&m.id, t, (const uint8_t *)key, (size_t)klen);
	m.sensor = im->sensor;
	m.source = "imap";
	m.label = mm->label;
	m.folder = mm->folder;
	m.peer_port = -1;
	m.raw = mm->raw;
	m.raw_len = mm->len;
	im->done_bytes += mm->len;
	if (!pgsink_add_message(im->sink, &m, done_cb, im))
	{
		if (pgsink_failed(im->sink))
			return false;
		im->add_errors++;
		fprintf(stderr,
		        "ingestd: level=error component=import event=add_failed "
		        "folder=\"%s\" uid=%u bytes=%zu\n",
		        mm->folder, mm->uid, mm->len);
		return true;
	}
	im->messages++;
	im->bytes += mm->len;
	draw_progress(im, false);
	return pgsink_wait_below(im->sink, IMPORT_HIGH_WATER);
}

/* "FOLDER=LABEL" (split at the last '=') onto the map; false if bad. */
/* Append name to a growing array of option values (--folder, --skip-folder). */
static bool
push_name(char ***names, size_t *n, char *name)
{
	char **p = realloc(*names, (*n + 1) * sizeof(*p));

	if (!p)
		return false;
	*names = p;
	p[(*n)++] = name;
	return true;
}

static bool
add_folder_label(struct imap_folder_label **map, size_t *n, const char *arg)
{
	const char *eq = strrchr(arg, '=');
	struct imap_folder_label *p;
	const char *label;

	if (!eq || eq == arg)
		return false;
	label = eq + 1;
	if (strcmp(label, "spam") && strcmp(label, "ham") && strcmp(label, "sent"))
		return false;
	p = realloc(*map, (*n + 1) * sizeof(*p));
	if (!p)
		return false;
	*map = p;
	p[*n].folder = strndup(arg, (size_t)(eq - arg));
	p[*n].label = label;
	if (!p[*n].folder)
		return false;
	(*n)++;
	return true;
}

int
import_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"label", required_argument, NULL, 'l'},
	    {"source-name", required_argument, NULL, 's'},
	    {"db", required_argument, NULL, 'd'},
	    {"mbox-variant", required_argument, NULL, 'v'},
	    {"batch-rows", required_argument, NULL, 'b'},
	    {"no-progress", no_argument, NULL, 'P'},
	    {"folder", required_argument, NULL, 'f'},
	    {"skip-folder", required_argument, NULL, 'S'},
	    {"folder-label", required_argument, NULL, 'F'},
	    {"password-file", required_argument, NULL, 'p'},
	    {"password-env", required_argument, NULL, 'e'},
	    {"require-tls", no_argument, NULL, 'R'},
	    {"tls-ca", required_argument, NULL, 'c'},
	    {"tls-verify", no_argument, NULL, 'V'},
	    {"no-tls-verify", no_argument, NULL, 'N'},
	    {"imap-timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct import im;
	struct pgsink_config cfg;
	struct pgsink_stats st;
	struct event_base *base = NULL;
	const char *db = "";
	struct imap_options io;
	struct imap_callbacks icb = {NULL, imap_folder_begin, imap_message,
	                             imap_message_failed};
	struct imap_folder_label *labels = NULL;
	size_t n_labels = 0, n_folders = 0, n_skip = 0;
	char **folders = NULL, **skip = NULL;
	bool no_progress = false, ok = true, imap_failed = false;
	double el;
	int c, rc = 0;

	memset(&im, 0, sizeof(im));
	imap_options_default(&io);
	icb.arg = &im;
	im.sensor = "import";
	im.variant = MBOX_RD;
	pgsink_config_default(&cfg);
	cfg.max_attempts = 6; /* about 6 s of retries, then fail clearly */
	cfg.backoff_min_ms = 200;
	cfg.backoff_max_ms = 3000;
	cfg.application_name = "ingestd import";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'l':
				if (strcmp(optarg, "spam") && strcmp(optarg, "ham") &&
				    strcmp(optarg, "sent"))
				{
					fprintf(stderr,
					        "ingestd import: --label must be spam, ham or "
					        "sent\n");
					return 2;
				}
				im.label = optarg;
				break;
			case 's':
				im.sensor = optarg;
				break;
			case 'd':
				db = optarg;
				break;
			case 'v':
				if (strcmp(optarg, "rd") == 0)
					im.variant = MBOX_RD;
				else if (strcmp(optarg, "o") == 0)
					im.variant = MBOX_O;
				else if (strcmp(optarg, "raw") == 0)
					im.variant = MBOX_RAW;
				else
				{
					fprintf(stderr,
					        "ingestd import: --mbox-variant must be rd, o "
					        "or raw\n");
					return 2;
				}
				break;
			case 'b':
				cfg.batch_rows = (size_t)strtoul(optarg, NULL, 10);
				if (cfg.batch_rows == 0)
				{
					fprintf(stderr,
					        "ingestd import: --batch-rows must be > 0\n");
					return 2;
				}
				break;
			case 'P':
				no_progress = true;
				break;
			case 'f':
				if (!push_name(&folders, &n_folders, optarg))
				{
					rc = 1;
					goto out;
				}
				break;
			case 'S':
				if (!push_name(&skip, &n_skip, optarg))
				{
					rc = 1;
					goto out;
				}
				break;
			case 'F':
				if (!add_folder_label(&labels, &n_labels, optarg))
				{
					fprintf(stderr, "ingestd import: --folder-label wants "
					                "FOLDER=spam, FOLDER=ham or FOLDER=sent\n");
					rc = 2;
					goto out;
				}
				break;
			case 'p':
				io.password_file = optarg;
				break;
			case 'e':
				io.password_env = optarg;
				break;
			case 'R':
				io.tls_mode = IMAP_TLS_REQUIRE;
				break;
			case 'c':
				io.tls_ca = optarg;
				break;
			case 'V':
				io.tls_verify = true;
				break;
			case 'N':
				io.tls_verify = false;
				break;
			case 't':
				io.timeout_s = atoi(optarg);
				if (io.timeout_s <= 0)
				{
					fprintf(stderr,
					        "ingestd import: --imap-timeout must be > 0\n");
					rc = 2;
					goto out;
				}
				break;
			case 'h':
				usage(stdout);
				goto out;
			default:
				usage(stderr);
				rc = 2;
				goto out;
		}
	}
	if (optind >= argc)
	{
		usage(stderr);
		rc = 2;
		goto out;
	}
	io.folders = folders;
	io.n_folders = n_folders;
	io.skip = skip;
	io.n_skip = n_skip;
	io.labels = labels;
	io.n_labels = n_labels;
	io.default_label = im.label;
	im.progress = !no_progress && isatty(STDERR_FILENO);
	for (int i = optind; i < argc; i++)
		if (!imapurl_is_url(argv[i]))
			walk(&im, argv[i], NULL, ENTRY_AUTO, 0);

	base = event_base_new();
	im.sink = base ? pgsink_new(base, db, &cfg) : NULL;
	if (!im.sink)
	{
		fprintf(stderr, "ingestd import: out of memory\n");
		rc = 1;
		goto out;
	}
	im.started_us = now_us();
	for (size_t i = 0; ok && i < im.n_entries; i++)
	{
		ok = load_file(&im, &im.entries[i]);
		im.done_bytes += (uint64_t)im.entries[i].size;
		im.cur_file_done = 0;
		draw_progress(&im, false);
	}
	for (int i = optind; ok && i < argc; i++)
	{
		enum imap_result r;

		if (!imapurl_is_url(argv[i]))
			continue;
		r = imapfeed_import_url(argv[i], &io, &icb, base);
		if (r == IMAP_RESULT_CALLBACK)
			ok = false;
		else if (r == IMAP_RESULT_FAILED)
			imap_failed = true;
	}
	if (ok)
		ok = pgsink_wait_idle(im.sink);
	draw_progress(&im, true);
	pgsink_get_stats(im.sink, &st);
	el = (double)(now_us() - im.started_us) / 1e6;
	fprintf(stderr,
	        "import: files=%llu messages=%llu bytes=%llu imported=%llu "
	        "duplicates=%llu not_mail=%llu rejected=%llu errors=%llu "
	        "folders=%llu elapsed=%.2fs rate=%.0f msg/s\n",
	        (unsigned long long)im.files, (unsigned long long)im.messages,
	        (unsigned long long)im.bytes,
	        (unsigned long long)st.messages_inserted,
	        (unsigned long long)(im.committed - st.messages_inserted),
	        (unsigned long long)im.not_mail, (unsigned long long)im.rejected,
	        (unsigned long long)(im.read_errors + im.add_errors),
	        (unsigned long long)im.folders, el,
	        el > 0 ? (double)im.messages / el : 0.0);
	if (!ok)
	{
		fprintf(stderr,
		        "ingestd import: cannot store messages: %s\n"
		        "ingestd import: %llu of %llu messages committed; run the same "
		        "import again to finish (what is stored is skipped)\n",
		        pgsink_last_error(im.sink), (unsigned long long)im.committed,
		        (unsigned long long)im.messages);
		rc = 1;
	}
	else if (im.rejected || im.read_errors || im.add_errors || imap_failed)
		rc = 1;
out:
	pgsink_free(im.sink);
	if (base)
		event_base_free(base);
	for (size_t i = 0; i < im.n_entries; i++)
	{
		free(im.entries[i].path);
		free(im.entries[i].folder);
	}
	free(im.entries);
	free(folders);
	free(skip);
	for (size_t i = 0; i < n_labels; i++)
		free(labels[i].folder);
	free(labels);
	return rc;
}
