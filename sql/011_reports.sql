-- Reports: materialized views over the enriched facts, each answering one
-- question a spam researcher asks (docs/reports.md lists them with example
-- queries).  spamlab.refresh_reports() refreshes them all, concurrently
-- (readers are never blocked), which needs a unique index on each.
-- Grouping keys are never NULL ('??' or '' stands for unknown), because
-- a concurrent refresh matches rows by them.

-- Volume over time (the thesis's Figure 1).
CREATE MATERIALIZED VIEW spamlab.report_daily AS
SELECT date_trunc('day', received_at AT TIME ZONE 'UTC')::date AS day,
	count(*) AS messages,
	count(*) FILTER (WHERE label IS NULL OR label = 'spam') AS spam,
	count(*) FILTER (WHERE label = 'ham') AS ham,
	sum(size) AS bytes,
	count(DISTINCT origin_ip) AS origin_ips
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_daily (day);

CREATE MATERIALIZED VIEW spamlab.report_hourly AS
SELECT date_trunc('hour', received_at) AS hour,
	count(*) AS messages
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_hourly (hour);

-- Where spam comes from: origin country and network owner.
CREATE MATERIALIZED VIEW spamlab.report_country AS
SELECT coalesce(origin_country, '??') AS country_code,
	count(*) AS messages,
	round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS percent,
	count(DISTINCT origin_ip) AS origin_ips
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_country (country_code);

CREATE MATERIALIZED VIEW spamlab.report_asn AS
SELECT coalesce(origin_asn, 0) AS asn,
	coalesce(max(origin_as_org), '') AS as_org,
	count(*) AS messages,
	count(DISTINCT origin_ip) AS origin_ips
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_asn (asn);

CREATE MATERIALIZED VIEW spamlab.report_origin_ip AS
SELECT origin_ip AS ip,
	coalesce(max(origin_country), '??') AS country_code,
	max(origin_asn) AS asn,
	count(*) AS messages,
	min(received_at) AS first_seen,
	max(received_at) AS last_seen
FROM spamlab.message_fact
WHERE origin_ip IS NOT NULL
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_origin_ip (ip);

CREATE MATERIALIZED VIEW spamlab.report_origin_net AS
SELECT origin_net AS network,
	count(*) AS messages,
	count(DISTINCT origin_ip) AS origin_ips,
	coalesce(max(origin_country), '??') AS country_code,
	max(origin_asn) AS asn
FROM spamlab.message_fact
WHERE origin_net IS NOT NULL
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_origin_net (network);

-- What the sending software calls itself: the HELO of the SMTP session, or
-- of the first hop outside the trap for imported mail.
CREATE MATERIALIZED VIEW spamlab.report_helo AS
SELECT coalesce(lower(m.helo), '') AS helo,
	count(*) AS messages,
	count(DISTINCT m.peer_ip) AS peers
FROM spamlab.message m
JOIN spamlab.message_fact f USING (received_at, id)
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_helo (helo);

-- Sender domains (header From and envelope) and recipient domains.
CREATE MATERIALIZED VIEW spamlab.report_sender_domain AS
SELECT coalesce(from_domain, '') AS domain,
	count(*) AS messages,
	count(*) FILTER (WHERE mail_from_domain IS DISTINCT FROM from_domain)
		AS envelope_differs,
	min(received_at) AS first_seen,
	max(received_at) AS last_seen
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_sender_domain (domain);

CREATE MATERIALIZED VIEW spamlab.report_recipient_domain AS
SELECT coalesce(lower(split_part(r, '@', 2)), '') AS domain,
	count(DISTINCT (m.received_at, m.id)) AS messages,
	count(*) AS recipients
FROM spamlab.message m
JOIN spamlab.message_fact f USING (received_at, id)
CROSS JOIN LATERAL unnest(m.rcpt_to) AS r
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_recipient_domain (domain);

-- Advertised domains.
CREATE MATERIALIZED VIEW spamlab.report_url_domain AS
SELECT coalesce(registrable_domain, host, '') AS domain,
	count(DISTINCT (received_at, id)) AS messages,
	count(*) AS urls,
	count(DISTINCT host) AS hosts,
	min(received_at) AS first_seen,
	max(received_at) AS last_seen
FROM spamlab.message_url
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_url_domain (domain);

-- Message sizes, in power-of-two buckets.
CREATE MATERIALIZED VIEW spamlab.report_size AS
SELECT CASE WHEN size < 1024 THEN 0
	ELSE (1024 * 2 ^ floor(log(2, size / 1024.0)))::bigint END AS bucket_from,
	count(*) AS messages
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_size (bucket_from);

-- Attachment types: declared type and file-name extension.
CREATE MATERIALIZED VIEW spamlab.report_attachment_type AS
SELECT coalesce(lower(content_type), '') AS content_type,
	coalesce(lower(substring(filename FROM '\.([A-Za-z0-9]{1,8})$')), '')
		AS extension,
	count(*) AS attachments,
	count(DISTINCT (received_at, id)) AS messages,
	count(DISTINCT sha256) AS distinct_files
FROM spamlab.message_attachment
GROUP BY 1, 2;
CREATE UNIQUE INDEX ON spamlab.report_attachment_type (content_type, extension);

-- Campaigns, four ways: the same body byte for byte; the same advertised
-- domain; the same origin network; and nearly the same body (ssdeep).
CREATE MATERIALIZED VIEW spamlab.report_campaign_body AS
SELECT body_sha256,
	count(*) AS messages,
	count(DISTINCT origin_ip) AS origin_ips,
	min(subject) AS sample_subject,
	min(received_at) AS first_seen,
	max(received_at) AS last_seen
FROM spamlab.message_fact
WHERE body_sha256 IS NOT NULL
GROUP BY 1
HAVING count(*) > 1;
CREATE UNIQUE INDEX ON spamlab.report_campaign_body (body_sha256);

CREATE MATERIALIZED VIEW spamlab.report_campaign_url_domain AS
SELECT u.domain,
	count(*) AS messages,
	count(DISTINCT f.origin_net) AS origin_networks,
	count(DISTINCT f.origin_country) AS countries,
	count(DISTINCT f.from_domain) AS sender_domains,
	min(f.subject) AS sample_subject,
	min(f.received_at) AS first_seen,
	max(f.received_at) AS last_seen
FROM (SELECT DISTINCT received_at, id, registrable_domain AS domain
	FROM spamlab.message_url WHERE registrable_domain IS NOT NULL) u
JOIN spamlab.message_fact f USING (received_at, id)
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_campaign_url_domain (domain);

CREATE MATERIALIZED VIEW spamlab.report_campaign_network AS
SELECT origin_net AS network,
	coalesce(max(origin_country), '??') AS country_code,
	max(origin_asn) AS asn,
	count(*) AS messages,
	count(DISTINCT body_fuzzy) AS bodies,
	count(DISTINCT from_domain) AS sender_domains,
	min(received_at) AS first_seen,
	max(received_at) AS last_seen
FROM spamlab.message_fact
WHERE origin_net IS NOT NULL
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_campaign_network (network);

-- Fuzzy campaigns: each distinct body signature, most frequent first, joins
-- the first cluster whose representative it matches at >= threshold, or
-- starts a new one.  Greedy, O(signatures x clusters); ssdeep only compares
-- signatures whose block sizes are equal or double.
CREATE FUNCTION spamlab.fuzzy_clusters(threshold int DEFAULT 80)
RETURNS TABLE (signature text, cluster int, representative text)
LANGUAGE plpgsql STABLE
SET search_path = spamlab, pg_catalog, pg_temp
AS $$
DECLARE
	sig record;
	reps text[] := '{}';
	best int;
	i int;
BEGIN
	FOR sig IN
		SELECT body_fuzzy AS s, count(*) AS n FROM message_fact
		WHERE body_fuzzy IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1
	LOOP
		best := NULL;
		FOR i IN 1 .. coalesce(array_length(reps, 1), 0) LOOP
			IF fuzzy_compare(sig.s, reps[i]) >= threshold THEN
				best := i;
				EXIT;
			END IF;
		END LOOP;
		IF best IS NULL THEN
			reps := reps || sig.s;
			best := array_length(reps, 1);
		END IF;
		signature := sig.s;
		cluster := best;
		representative := reps[best];
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE MATERIALIZED VIEW spamlab.report_campaign_fuzzy AS
SELECT c.cluster,
	count(*) AS messages,
	count(DISTINCT f.body_sha256) AS variants,
	count(DISTINCT f.origin_net) AS origin_networks,
	min(f.subject) AS sample_subject,
	min(f.received_at) AS first_seen,
	max(f.received_at) AS last_seen
FROM spamlab.fuzzy_clusters() c
JOIN spamlab.message_fact f ON f.body_fuzzy = c.signature
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_campaign_fuzzy (cluster);

-- SARP's hypotheses, spam against ham: how many are replies.
CREATE MATERIALIZED VIEW spamlab.report_replies AS
SELECT coalesce(label, 'spam') AS label,
	count(*) AS messages,
	count(*) FILTER (WHERE is_reply) AS replies,
	round(100.0 * count(*) FILTER (WHERE is_reply) / count(*), 2)
		AS reply_percent,
	count(*) FILTER (WHERE subject ~* '^\s*(re|aw|sv|antw)\s*:')
		AS re_subjects
FROM spamlab.message_fact
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_replies (label);

-- Refresh every report; CONCURRENTLY once a view has been populated.
CREATE FUNCTION spamlab.refresh_reports() RETURNS int
LANGUAGE plpgsql
SET search_path = spamlab, pg_catalog, pg_temp
AS $$
DECLARE
	v regclass;
	n int := 0;
BEGIN
	FOR v IN
		SELECT c.oid::regclass FROM pg_class c
		JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = 'spamlab' AND c.relkind = 'm'
		  AND c.relname LIKE 'report\_%'
		ORDER BY c.relname
	LOOP
		IF (SELECT relispopulated FROM pg_class WHERE oid = v) THEN
			EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', v);
		ELSE
			EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
		END IF;
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

GRANT SELECT ON ALL TABLES IN SCHEMA spamlab TO spamlab_reader;
