-- The client's reverse DNS, as ingestd looked it up before its banner (the
-- way a real MTA does; setting rdns, docs/ingestd.md "Reverse DNS").
-- rdns is the PTR name as returned, lower-cased, without the trailing dot;
-- rdns_status says how far the lookup got, 'abandoned' when the client
-- left before it finished (it did not wait for the banner).  Both are NULL
-- when the lookup was off (rdns = off) and for sessions stored before this
-- migration.  Adding nullable columns
-- without a default rewrites nothing, and ingestd's COPY and INSERT list
-- their columns, so the running collector is unaffected until it is
-- upgraded.
ALTER TABLE spamlab.smtp_session
	ADD COLUMN rdns text,
	ADD COLUMN rdns_status text
		CONSTRAINT smtp_session_rdns_status_check
		CHECK (rdns_status IN ('confirmed', 'unconfirmed', 'none', 'timeout',
		                       'error', 'abandoned'));

-- No index: every session is inserted once and read in bulk by reports;
-- an index would tax the ingest path for ad-hoc queries.

COMMENT ON COLUMN spamlab.smtp_session.rdns IS
	'the client''s PTR name (lower case, no trailing dot), NULL if none or '
	'not looked up; trust it only when rdns_status is confirmed';
COMMENT ON COLUMN spamlab.smtp_session.rdns_status IS
	'confirmed (the name''s A/AAAA records hold the client address), '
	'unconfirmed (they do not, the forward lookup failed, or the name is '
	'malformed), none (NXDOMAIN, no PTR), timeout (rdns_timeout expired; '
	'rdns is set if the PTR had come), error (SERVFAIL, refused), '
	'abandoned (the client left before the lookup and its banner); NULL: '
	'not looked up';
