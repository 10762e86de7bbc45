-- spamlab.message: every message spamlab ever received or imported, byte for
-- byte, with its envelope.
--
-- (received_at, id) is fixed when the message is accepted (id is a UUIDv7
-- made by the ingester), so a replay of the same message carries the same
-- key and INSERT ... ON CONFLICT DO NOTHING keeps loads idempotent.  The
-- table is range-partitioned by month on received_at; the default partition
-- takes anything no monthly partition covers yet, so no insert ever fails,
-- and spamlab.ensure_message_partitions() moves such rows into new monthly
-- partitions.
CREATE TABLE spamlab.message (
	id uuid NOT NULL,
	received_at timestamptz NOT NULL,
	sensor text,
	source text NOT NULL
		CHECK (source IN ('smtp', 'mbox', 'maildir', 'eml', 'imap')),
	label text CHECK (label IN ('spam', 'ham', 'sent')),
	folder text,
	peer_ip inet,
	peer_port int CHECK (peer_port BETWEEN 0 AND 65535),
	helo text,
	mail_from text,
	rcpt_to text[],
	tls text,
	auth_user text,
	size int CHECK (size >= 0),
	raw bytea COMPRESSION lz4 NOT NULL,
	PRIMARY KEY (received_at, id)
) PARTITION BY RANGE (received_at);

COMMENT ON TABLE spamlab.message IS
	'every collected or imported message, raw, with its envelope';
COMMENT ON COLUMN spamlab.message.id IS
	'UUIDv7 assigned at accept; with received_at the idempotency key';
COMMENT ON COLUMN spamlab.message.source IS
	'smtp, mbox, maildir, eml or imap';
COMMENT ON COLUMN spamlab.message.label IS
	'spam, ham, sent, or NULL when unknown (the trap''s own catch is NULL)';
COMMENT ON COLUMN spamlab.message.raw IS 'the message as received (lz4)';

CREATE TABLE spamlab.message_default PARTITION OF spamlab.message DEFAULT;

CREATE INDEX message_received_at_brin ON spamlab.message
	USING brin (received_at);

-- The monthly partition holding ts (UTC months, named message_YYYY_MM),
-- created if missing.  Rows already sitting in the default partition for
-- that month are moved into it first, which ATTACH requires.
CREATE FUNCTION spamlab.create_message_partition(ts timestamptz)
RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	lo timestamptz := date_trunc('month', ts AT TIME ZONE 'UTC')
		AT TIME ZONE 'UTC';
	hi timestamptz := lo + interval '1 month';
	relname text := 'message_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM');
	part regclass;
BEGIN
	part := to_regclass(format('spamlab.%I', relname));
	IF part IS NOT NULL THEN
		RETURN part;
	END IF;
	-- one creator at a time; the loser of a race finds the table made
	PERFORM pg_advisory_xact_lock(hashtext('spamlab.message partitions'));
	part := to_regclass(format('spamlab.%I', relname));
	IF part IS NOT NULL THEN
		RETURN part;
	END IF;
	EXECUTE format('CREATE TABLE spamlab.%I (LIKE spamlab.message'
		' INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE'
		' INCLUDING COMPRESSION)', relname);
	EXECUTE format('WITH moved AS (DELETE FROM spamlab.message_default'
		' WHERE received_at >= $1 AND received_at < $2 RETURNING *)'
		' INSERT INTO spamlab.%I SELECT * FROM moved', relname)
		USING lo, hi;
	EXECUTE format('ALTER TABLE spamlab.message ATTACH PARTITION spamlab.%I'
		' FOR VALUES FROM (%L) TO (%L)', relname, lo, hi);
	RETURN format('spamlab.%I', relname)::regclass;
END
$$;

-- Make sure monthly partitions cover [lo, hi]; returns how many months were
-- checked.  Ingesters call it for each batch's time range.
CREATE FUNCTION spamlab.ensure_message_partitions(lo timestamptz,
	hi timestamptz)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m timestamptz := date_trunc('month', lo AT TIME ZONE 'UTC')
		AT TIME ZONE 'UTC';
	n int := 0;
BEGIN
	IF lo IS NULL OR hi IS NULL OR hi < lo THEN
		RETURN 0;
	END IF;
	IF hi - lo > interval '100 years' THEN
		RAISE EXCEPTION 'partition range too wide: % to %', lo, hi
			USING ERRCODE = 'program_limit_exceeded',
			HINT = 'Messages dated that far apart belong in the default partition.';
	END IF;
	WHILE m <= hi LOOP
		PERFORM spamlab.create_message_partition(m);
		m := m + interval '1 month';
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

-- Maintenance (cron-able): give every month found in the default partition,
-- and this month and the next, a partition of its own.
CREATE FUNCTION spamlab.ensure_message_partitions()
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m timestamptz;
	n int := 0;
BEGIN
	FOR m IN
		SELECT DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC')
			AT TIME ZONE 'UTC'
		FROM spamlab.message_default
		UNION
		SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
			+ k * interval '1 month'
		FROM generate_series(0, 1) AS k
	LOOP
		PERFORM spamlab.create_message_partition(m);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

REVOKE ALL ON FUNCTION spamlab.create_message_partition(timestamptz),
	spamlab.ensure_message_partitions(timestamptz, timestamptz),
	spamlab.ensure_message_partitions() FROM PUBLIC;
