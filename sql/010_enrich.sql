-- Enrichment: what the extension's parsers find in each message, computed
-- once and kept in tables the reports join.
--
-- spamlab.enrich() processes only messages it has not seen: it follows
-- loaded_at (when a row reached the table, not when the message was
-- accepted: a spool replayed after a long PostgreSQL outage carries old
-- received_at values) with a watermark that trails each run's start by a
-- grace period, and skips what already has a fact row.  When the parser
-- version changes, the next run recomputes everything.

ALTER TABLE spamlab.message
	ADD COLUMN loaded_at timestamptz NOT NULL DEFAULT now();
COMMENT ON COLUMN spamlab.message.loaded_at IS
	'when the row was inserted (drives incremental enrichment)';
CREATE INDEX message_loaded_at_brin ON spamlab.message USING brin (loaded_at);

CREATE TABLE spamlab.enrich_state (
	singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
	parser_version text,
	watermark timestamptz NOT NULL DEFAULT '-infinity',
	last_run_at timestamptz,
	last_run_messages bigint
);
INSERT INTO spamlab.enrich_state DEFAULT VALUES;

-- One row per enriched message.
CREATE TABLE spamlab.message_fact (
	id uuid NOT NULL,
	received_at timestamptz NOT NULL,
	label text,
	source text,
	size int,
	subject text,
	mail_date timestamptz,
	message_id text,
	is_reply bool,				-- In-Reply-To or References present
	from_address text,
	from_domain text,			-- registrable domain of From
	reply_to_domain text,
	mail_from_domain text,		-- registrable domain of the envelope sender
	origin_ip inet,
	origin_net cidr,			-- the origin's /24 (IPv4) or /48 (IPv6)
	origin_country text,
	origin_asn bigint,
	origin_as_org text,
	hop_count int,
	url_count int,
	attachment_count int,
	body_sha256 text,
	body_fuzzy text,
	enriched_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (received_at, id)
);
CREATE INDEX message_fact_received_brin ON spamlab.message_fact
	USING brin (received_at);
CREATE INDEX message_fact_origin_ip ON spamlab.message_fact
	USING gist (origin_ip inet_ops);
CREATE INDEX message_fact_from_domain ON spamlab.message_fact (from_domain);
CREATE INDEX message_fact_body_sha256 ON spamlab.message_fact (body_sha256);

-- Every Received hop of every message (parse_received's rows).
CREATE TABLE spamlab.message_hop (
	id uuid NOT NULL,
	received_at timestamptz NOT NULL,
	hop int NOT NULL,
	status text,
	from_helo text,
	from_rdns text,
	from_ip inet,
	by_host text,
	protocol text,
	tls bool,
	auth text,
	date timestamptz,
	ip_private bool,
	PRIMARY KEY (received_at, id, hop)
);
CREATE INDEX message_hop_from_ip ON spamlab.message_hop
	USING gist (from_ip inet_ops);

-- Every URL occurrence.
CREATE TABLE spamlab.message_url (
	id uuid NOT NULL,
	received_at timestamptz NOT NULL,
	n int NOT NULL,
	url text,
	scheme text,
	host text,
	registrable_domain text,
	source text,
	PRIMARY KEY (received_at, id, n)
);
CREATE INDEX message_url_domain ON spamlab.message_url (registrable_domain);
CREATE INDEX message_url_host ON spamlab.message_url (host);

-- Every attachment.
CREATE TABLE spamlab.message_attachment (
	id uuid NOT NULL,
	received_at timestamptz NOT NULL,
	part int NOT NULL,
	filename text,
	content_type text,
	disposition text,
	size bigint,
	sha256 text,
	PRIMARY KEY (received_at, id, part)
);
CREATE INDEX message_attachment_sha256 ON spamlab.message_attachment (sha256);

-- Is a GeoIP database configured?  Enrichment then fills the origin's
-- country and network; without one those stay NULL rather than failing.
CREATE FUNCTION spamlab.geoip_available() RETURNS bool
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT coalesce(current_setting('spamlab.geoip_city_db', true), '') <> ''
		OR coalesce(current_setting('spamlab.geoip_asn_db', true), '') <> ''
$$;

-- The network an address belongs to for campaign grouping.
CREATE FUNCTION spamlab.origin_network(ip inet) RETURNS cidr
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT set_masklen(ip::cidr, CASE family(ip) WHEN 4 THEN 24 ELSE 48 END)
$$;

-- Enrich the messages in spamlab._enrich_batch (a temp table of keys).
CREATE FUNCTION spamlab.enrich_batch(geo bool) RETURNS bigint
LANGUAGE plpgsql
SET search_path = spamlab, pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	INSERT INTO message_hop
	SELECT m.id, m.received_at, h.hop, h.status, h.from_helo, h.from_rdns,
		h.from_ip, h.by_host, h.protocol, h.tls, h.auth, h.date, h.ip_private
	FROM _enrich_batch b
	JOIN message m USING (received_at, id)
	CROSS JOIN LATERAL parse_received(m.raw) h
	ON CONFLICT DO NOTHING;

	INSERT INTO message_url
	SELECT m.id, m.received_at, u.n, u.url, u.scheme, u.host,
		u.registrable_domain, u.source
	FROM _enrich_batch b
	JOIN message m USING (received_at, id)
	CROSS JOIN LATERAL extract_urls(m.raw) WITH ORDINALITY AS u(url, raw,
		scheme, host, registrable_domain, source, part, anchor_text, n)
	ON CONFLICT DO NOTHING;

	INSERT INTO message_attachment
	SELECT m.id, m.received_at, a.part, a.filename, a.content_type,
		a.disposition, a.size, a.sha256
	FROM _enrich_batch b
	JOIN message m USING (received_at, id)
	CROSS JOIN LATERAL attachments(m.raw) a
	ON CONFLICT DO NOTHING;

	INSERT INTO message_fact (id, received_at, label, source, size, subject,
		mail_date, message_id, is_reply, from_address, from_domain,
		reply_to_domain, mail_from_domain, origin_ip, origin_net,
		origin_country, origin_asn, origin_as_org, hop_count, url_count,
		attachment_count, body_sha256, body_fuzzy)
	SELECT m.id, m.received_at, m.label, m.source, m.size,
		subject(m.raw), mail_date(m.raw), message_id(m.raw),
		in_reply_to(m.raw) IS NOT NULL
			OR cardinality(reference_ids(m.raw)) > 0,
		fa.address, registrable_domain(fa.domain),
		(SELECT registrable_domain(r.domain)
		   FROM addresses(m.raw, 'reply-to') r LIMIT 1),
		registrable_domain(split_part(m.mail_from, '@', 2)),
		o.ip, origin_network(o.ip),
		g.country_code, g.asn, g.as_org,
		(SELECT count(*) FROM message_hop h
		  WHERE h.received_at = m.received_at AND h.id = m.id),
		(SELECT count(*) FROM message_url u
		  WHERE u.received_at = m.received_at AND u.id = m.id),
		(SELECT count(*) FROM message_attachment a
		  WHERE a.received_at = m.received_at AND a.id = m.id),
		encode(sha256(convert_to(coalesce(bt.body, ''), 'UTF8')), 'hex'),
		fuzzy_hash(coalesce(bt.body, ''))
	FROM _enrich_batch b
	JOIN message m USING (received_at, id)
	CROSS JOIN LATERAL (SELECT origin_ip(m.raw) AS ip) o
	CROSS JOIN LATERAL (SELECT body_text(m.raw) AS body) bt
	LEFT JOIN LATERAL (SELECT address, domain FROM addresses(m.raw, 'from')
		LIMIT 1) fa ON true
	LEFT JOIN LATERAL (SELECT x.country_code, x.asn, x.as_org
		FROM geoip(o.ip) x WHERE geo AND o.ip IS NOT NULL) g ON true
	ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- CALL spamlab.enrich(): enrich every message not enriched yet, in batches
-- committed one by one (safe to run while ingestd inserts; a second
-- concurrent enrich waits for each batch).  rebuild => true, or a new
-- parser version, recomputes everything.
CREATE PROCEDURE spamlab.enrich(batch_size int DEFAULT 2000,
	rebuild bool DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
	started timestamptz := clock_timestamp();
	wm timestamptz;
	ver text := spamlab.version();
	geo bool := spamlab.geoip_available();
	got bigint;
	total bigint := 0;
BEGIN
	-- (no SET clause: a procedure with one cannot COMMIT; names are qualified)
	IF batch_size < 1 THEN
		RAISE EXCEPTION 'batch_size must be positive, not %', batch_size
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('spamlab.enrich'));
	IF rebuild OR (SELECT parser_version IS DISTINCT FROM ver
			FROM spamlab.enrich_state) THEN
		TRUNCATE spamlab.message_fact, spamlab.message_hop,
			spamlab.message_url, spamlab.message_attachment;
		UPDATE spamlab.enrich_state
		SET parser_version = ver, watermark = '-infinity';
	END IF;
	SELECT watermark INTO wm FROM spamlab.enrich_state;
	COMMIT;
	CREATE TEMP TABLE IF NOT EXISTS _enrich_batch (
		received_at timestamptz, id uuid) ON COMMIT DELETE ROWS;
	LOOP
		PERFORM pg_advisory_xact_lock(hashtext('spamlab.enrich'));
		INSERT INTO pg_temp._enrich_batch
		SELECT m.received_at, m.id FROM spamlab.message m
		WHERE m.loaded_at >= wm
		  AND NOT EXISTS (SELECT FROM spamlab.message_fact f
			WHERE f.received_at = m.received_at AND f.id = m.id)
		ORDER BY m.loaded_at
		LIMIT batch_size;
		GET DIAGNOSTICS got = ROW_COUNT;
		EXIT WHEN got = 0;
		PERFORM spamlab.enrich_batch(geo);
		total := total + got;
		COMMIT;
	END LOOP;
	-- Everything loaded before the run started (less a grace period for
	-- transactions still in flight then) is done.
	UPDATE spamlab.enrich_state
	SET watermark = greatest(watermark, started - interval '10 minutes'),
		last_run_at = started, last_run_messages = total;
	COMMIT;
	RAISE NOTICE 'enriched % messages', total;
END
$$;
