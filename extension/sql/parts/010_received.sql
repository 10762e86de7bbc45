-- Received trace, origin address and dates (src/received.c, rcvd.c,
-- maildate.c; docs/received.md).

CREATE TYPE received_hop AS (
	hop int,
	raw text,
	status text,
	from_helo text,
	from_rdns text,
	from_ip inet,
	from_ident text,
	by_host text,
	protocol text,
	tls bool,
	auth text,
	queue_id text,
	envelope_from text,
	envelope_for text,
	date timestamptz,
	ip_private bool
);
COMMENT ON TYPE received_hop IS 'one parsed Received header (hop 1 = topmost, newest)';

CREATE FUNCTION parse_received(raw bytea) RETURNS SETOF received_hop
	AS 'MODULE_PATHNAME', 'parse_received'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 6;
COMMENT ON FUNCTION parse_received(bytea) IS
	'every Received header of a message, parsed; unparsable ones kept with status unparsed';

CREATE FUNCTION parse_received_header(value text) RETURNS received_hop
	AS 'MODULE_PATHNAME', 'parse_received_header'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION parse_received_header(text) IS
	'one Received header value, parsed (hop is NULL)';

CREATE FUNCTION origin_ip(raw bytea, trusted cidr[] DEFAULT '{}') RETURNS inet
	AS 'MODULE_PATHNAME', 'origin_ip'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION origin_ip(bytea, cidr[]) IS
	'the first Received client address outside private and trusted networks, else X-Originating-IP';

CREATE FUNCTION mail_date(raw bytea) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'mail_date'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mail_date(bytea) IS 'the Date header, leniently parsed; NULL when hopeless';

CREATE FUNCTION parse_mail_date(value text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'parse_mail_date'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION parse_mail_date(text) IS 'a mail date string, leniently parsed; NULL when hopeless';
