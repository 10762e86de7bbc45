-- Domain age (SARP's hypothesis: spam domains are young): the age of each
-- sender and advertised domain when spamlab first saw it, from the whois
-- cache.  Fill the cache with spamlab.whois_refresh() (whois_mode = live);
-- this report itself never queries a whois server.  The cache is keyed by
-- the ICANN registrable domain, so domains under a private suffix
-- (x.blogspot.com) find no age here.
CREATE MATERIALIZED VIEW spamlab.report_domain_age AS
WITH seen AS (
	SELECT 'sender'::text AS kind, coalesce(label, 'spam') AS label,
		from_domain AS domain, min(received_at) AS first_seen,
		count(*) AS messages
	FROM spamlab.message_fact
	WHERE from_domain IS NOT NULL
	GROUP BY 2, 3
	UNION ALL
	SELECT 'url', coalesce(f.label, 'spam'), u.registrable_domain,
		min(u.received_at), count(DISTINCT (u.received_at, u.id))
	FROM spamlab.message_url u
	JOIN spamlab.message_fact f USING (received_at, id)
	WHERE u.registrable_domain IS NOT NULL
	GROUP BY 2, 3)
SELECT s.kind, s.label, s.domain, w.created,
	greatest(0, s.first_seen::date - w.created::date) AS age_days,
	s.messages
FROM seen s
JOIN spamlab.whois_cache w ON w.domain = s.domain
WHERE w.created IS NOT NULL;
CREATE UNIQUE INDEX ON spamlab.report_domain_age (kind, label, domain);
