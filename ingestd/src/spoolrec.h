/*
 * spoolrec.h: the spool's payload encoding of message and session records
 * (record.h), so a record read back after a crash is exactly what the
 * daemon meant to hand PostgreSQL.
 *
 * A payload is a sequence of fields: u8 tag, u32 length (little-endian),
 * bytes.  Text fields carry their terminating NUL; unknown tags are
 * skipped.  A message's raw bytes are its last field, so the daemon can
 * write the envelope and then the body buffers without copying them.
 */
#ifndef SPAMLAB_SPOOLREC_H
#define SPAMLAB_SPOOLREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "relayctl.h"

struct evbuffer;

/*
 * Append msg's fields to out, ending with the header of the raw field
 * (raw_len bytes that the caller writes next).  msg->raw is not used.
 */
bool spoolrec_encode_msg_head(struct evbuffer *out,
                              const struct msg_record *msg, size_t raw_len)
    __attribute__((warn_unused_result));

/* Append a whole session record to out. */
bool spoolrec_encode_session(struct evbuffer *out,
                             const struct session_record *ses)
    __attribute__((warn_unused_result));

/*
 * Append a relay decision record (SPOOL_REC_RELAY) to out; run identifies
 * the daemon run that wrote it, so a restart can tell its predecessor's
 * records from its own.
 */
bool spoolrec_encode_relay(struct evbuffer *out,
                           const struct relay_decision_record *d, uint64_t run)
    __attribute__((warn_unused_result));

/* A decoded record: views into the payload plus arrays owned here. */
struct spoolrec
{
	uint32_t type; /* SPOOL_REC_MESSAGE, _SESSION or _RELAY */
	struct msg_record msg;
	struct session_record ses;
	struct relay_decision_record relay; /* rcpt: the rcpt array below */
	uint64_t run;                       /* SPOOL_REC_RELAY: the writer */
	const char **rcpt;
	struct session_command *cmds;
	struct session_auth *auths;
};

/*
 * Decode a payload of the given type; the views point into data, which
 * must outlive out.  False if it is malformed.
 */
bool spoolrec_decode(const uint8_t *data, size_t len, uint32_t type,
                     struct spoolrec *out) __attribute__((warn_unused_result));

void spoolrec_free(struct spoolrec *rec);

#endif /* SPAMLAB_SPOOLREC_H */
