/*
 * imapfeed.h: run imap_import_url() in a thread of its own so that fetching
 * from the server and COPY into PostgreSQL overlap (docs/imap.md).
 */
#ifndef SPAMLAB_IMAPFEED_H
#define SPAMLAB_IMAPFEED_H

#include <event2/event.h>

#include "imap.h"

/*
 * Like imap_import_url(), but the IMAP conversation runs in a second
 * thread.  The callbacks still run in the calling thread, in order, and
 * between them the calling thread runs `base` (the sink's loop) while it
 * waits for the next message.  At most IMAPFEED_MAX_BYTES of fetched
 * messages wait in between.
 */
#define IMAPFEED_MAX_BYTES (32 * 1024 * 1024)

enum imap_result imapfeed_import_url(const char *url,
                                     const struct imap_options *o,
                                     const struct imap_callbacks *cb,
                                     struct event_base *base);

#endif /* SPAMLAB_IMAPFEED_H */
