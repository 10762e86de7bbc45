-- Headers, addresses and MIME structure of a raw message (headers.c, mime.c).
--
-- Every function takes the message as bytea (what spamlab.message.raw
-- holds) or as text (for messages pasted into psql); both share the C code.
-- Malformed mail gives NULLs or fewer rows, never an ERROR.

CREATE FUNCTION header(raw bytea, name text) RETURNS text
	AS 'MODULE_PATHNAME', 'header'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION header(raw text, name text) RETURNS text
	AS 'MODULE_PATHNAME', 'header'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION header(bytea, text) IS
	'first header field called name: unfolded, RFC 2047-decoded to UTF-8';
COMMENT ON FUNCTION header(text, text) IS
	'first header field called name: unfolded, RFC 2047-decoded to UTF-8';

CREATE FUNCTION headers(raw bytea,
		OUT n int, OUT name text, OUT value text, OUT raw_value text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'headers'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;
CREATE FUNCTION headers(raw text,
		OUT n int, OUT name text, OUT value text, OUT raw_value text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'headers'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION headers(bytea) IS
	'every header field in order: decoded value and raw value';
COMMENT ON FUNCTION headers(text) IS
	'every header field in order: decoded value and raw value';

CREATE FUNCTION subject(raw bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'subject'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subject(raw text) RETURNS text
	AS 'MODULE_PATHNAME', 'subject'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION subject(bytea) IS 'the decoded Subject';
COMMENT ON FUNCTION subject(text) IS 'the decoded Subject';

CREATE FUNCTION message_id(raw bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'message_id'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION message_id(raw text) RETURNS text
	AS 'MODULE_PATHNAME', 'message_id'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION message_id(bytea) IS 'the Message-ID without brackets';
COMMENT ON FUNCTION message_id(text) IS 'the Message-ID without brackets';

CREATE FUNCTION in_reply_to(raw bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'in_reply_to'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION in_reply_to(raw text) RETURNS text
	AS 'MODULE_PATHNAME', 'in_reply_to'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION in_reply_to(bytea) IS
	'the first message id of In-Reply-To, without brackets';
COMMENT ON FUNCTION in_reply_to(text) IS
	'the first message id of In-Reply-To, without brackets';

CREATE FUNCTION reference_ids(raw bytea) RETURNS text[]
	AS 'MODULE_PATHNAME', 'reference_ids'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION reference_ids(raw text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'reference_ids'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reference_ids(bytea) IS
	'the message ids of References, oldest first';
COMMENT ON FUNCTION reference_ids(text) IS
	'the message ids of References, oldest first';

CREATE FUNCTION addresses(raw bytea, field text DEFAULT 'from',
		OUT display_name text, OUT address text,
		OUT local_part text, OUT domain text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'addresses'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;
CREATE FUNCTION addresses(raw text, field text DEFAULT 'from',
		OUT display_name text, OUT address text,
		OUT local_part text, OUT domain text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'addresses'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;
COMMENT ON FUNCTION addresses(bytea, text) IS
	'mailboxes of From, Sender, Reply-To, To, Cc, Bcc or Return-Path';
COMMENT ON FUNCTION addresses(text, text) IS
	'mailboxes of From, Sender, Reply-To, To, Cc, Bcc or Return-Path';

CREATE FUNCTION attachments(raw bytea,
		OUT part int, OUT filename text, OUT content_type text,
		OUT disposition text, OUT size bigint, OUT sha256 text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'attachments'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;
COMMENT ON FUNCTION attachments(bytea) IS
	'file parts of a message: name, type, decoded size and SHA-256';

CREATE FUNCTION body_text(raw bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'body_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION body_text(raw text) RETURNS text
	AS 'MODULE_PATHNAME', 'body_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION body_text(bytea) IS
	'the body as UTF-8 text: text/plain, else HTML reduced to text';
COMMENT ON FUNCTION body_text(text) IS
	'the body as UTF-8 text: text/plain, else HTML reduced to text';
