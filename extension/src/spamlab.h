/*
 * spamlab.h: declarations shared by the spamlab extension's modules.
 */
#ifndef SPAMLAB_H
#define SPAMLAB_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"

#include "mimewalk.h"

/* mime.c: settings, registered from _PG_init */
void mime_define_gucs(void);
/* mime.c: spamlab.mime_fast_path (extract_urls reads plain MIME itself) */
extern bool mime_fast_path_enabled;

/*
 * mime.c: the MIME walk of a raw message, from the per-backend cache of the
 * last message when it has the same bytes.  *owned says the caller must
 * mw_free() the result (the cache is off); otherwise it stays valid until
 * the next call.  flags: MW_HASH when the caller needs attachment sizes
 * and hashes (a cached walk without them is redone).
 */
const struct mw_message *mime_parse_cached(const char *buf, size_t len,
                                           int flags, bool *owned);

/*
 * mime.c: the cached walk of the last message if it has these bytes, else
 * NULL (nothing is parsed).  Valid until the next mime_parse_cached().
 */
const struct mw_message *mime_cached_walk(const char *buf, size_t len);

/*
 * headers.c: unfold a raw header value and decode its RFC 2047 encoded
 * words; valid UTF-8 in palloc'ed memory.  phrase: decode as a display
 * name (quoted strings), else as unstructured text.
 */
char *mime_decode_header(const char *value, size_t len, bool phrase);

/* headers.c: a palloc'ed copy of bytes made valid UTF-8 (NUL to space). */
char *mime_valid_utf8(const char *buf, size_t len);
/*
 * spamlab.c: start a materialized set result cheaply (see there), and the
 * descriptor to form its rows with.
 */
void spamlab_srf_begin(FunctionCallInfo fcinfo);
#define spamlab_srf_desc(rsinfo)                                               \
	((rsinfo)->setDesc ? (rsinfo)->setDesc : (rsinfo)->expectedDesc)

/*
 * msgarg.c: the header block of message argument argno (a bytea), fetched
 * without detoasting the body; the bytes after the header block may be
 * missing.
 */
struct varlena *msg_header_arg(FunctionCallInfo fcinfo, int argno);
/* geoip.c */
extern void geoip_define_settings(void);
/* whois.c */
void whois_define_gucs(void);

#endif /* SPAMLAB_H */
