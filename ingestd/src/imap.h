/*
 * imap.h: read-only IMAP client for `ingestd import imap[s]://...`, on
 * libetpan (docs/imap.md).  It logs in, lists the folders, EXAMINEs each one
 * and hands every message (UID FETCH BODY.PEEK[], INTERNALDATE) to the
 * importer's callback.  Nothing on the server changes: no SELECT, no STORE,
 * no \Seen.
 */
#ifndef SPAMLAB_IMAP_H
#define SPAMLAB_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapurl.h"

enum imap_tls_mode
{
	IMAP_TLS_OPPORTUNISTIC, /* imap://: STARTTLS when offered */
	IMAP_TLS_REQUIRE,       /* imap://: fail unless STARTTLS works */
};

struct imap_options
{
	const char *password_file; /* first line; NULL: the environment */
	const char *password_env;  /* variable name (INGESTD_IMAP_PASSWORD) */
	char *const *folders;      /* --folder, in addition to the URL's */
	size_t n_folders;
	char *const *skip; /* --skip-folder: left out when reading all */
	size_t n_skip;
	const struct imap_folder_label *labels; /* --folder-label */
	size_t n_labels;
	const char *default_label; /* --label, or NULL */
	enum imap_tls_mode tls_mode;
	bool tls_verify;    /* check the certificate chain and host name */
	const char *tls_ca; /* CA file instead of the system store, or NULL */
	int timeout_s;      /* per network operation */
	size_t batch_bytes; /* RFC822.SIZE sum per UID FETCH of bodies */
};

/* One message as the server stores it; valid during the callback only. */
struct imap_message
{
	const char *user;   /* the login name, part of the identity */
	const char *folder; /* UTF-8 (modified UTF-7 decoded) */
	const char *label;  /* "spam", "ham", "sent" or NULL */
	uint32_t uidvalidity, uid;
	int64_t internaldate_us;
	const uint8_t *raw; /* BODY[] byte for byte */
	size_t len;
};

struct imap_callbacks
{
	void *arg;
	/* A folder is about to be read: n messages, bytes in total. */
	void (*folder_begin)(void *arg, const char *folder, uint32_t n,
	                     uint64_t bytes);
	/* One message; false stops the import (the sink failed). */
	bool (*message)(void *arg, const struct imap_message *m);
	/* A message the server did not deliver (reported already). */
	void (*message_failed)(void *arg, uint64_t bytes);
};

enum imap_result
{
	IMAP_RESULT_OK,
	IMAP_RESULT_FAILED,   /* connection, TLS, login or folder: reported */
	IMAP_RESULT_CALLBACK, /* the message callback returned false */
};

void imap_options_default(struct imap_options *o);

/* Import every selected folder of one URL. */
enum imap_result imap_import_url(const char *url, const struct imap_options *o,
                                 const struct imap_callbacks *cb);

#endif /* SPAMLAB_IMAP_H */
