-- Durable relay decisions (issue 6): a delivered probe's row is written
-- before the delivery starts and completed when it ends.
--
-- ingestd spools every decision with its message, so a crash never loses
-- one.  A probe allowed by the caps gets its row at once with status
-- 'sending' (no attempts, no reply yet); the outcome (attempts, last
-- reply, TLS, delivered_at) follows as a 'final' version of the same row.
-- A delivery still running when the daemon died is never tried again (a
-- probe must not be delivered twice): the next start records it as
-- 'interrupted'.  Versions are applied by rank, sending < interrupted <
-- final, so replaying them in any order, any number of times, leaves the
-- same row.  Rows written before this migration are final.
ALTER TABLE spamlab.relay_decision
	ADD COLUMN status text NOT NULL DEFAULT 'final'
		CHECK (status IN ('sending', 'interrupted', 'final'));

COMMENT ON COLUMN spamlab.relay_decision.status IS
	'sending (delivery started, outcome not known yet), interrupted (the daemon stopped during the delivery; never retried), final';

-- The rank a version of a row is applied by (higher wins).
CREATE FUNCTION spamlab.relay_status_rank(status text)
RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE status WHEN 'sending' THEN 0 WHEN 'interrupted' THEN 1
	ELSE 2 END;

-- The collector completes its own rows: it may change the outcome columns
-- only, and read only the key and those columns (ON CONFLICT DO UPDATE
-- needs SELECT on every column it reads, EXCLUDED's included).
GRANT UPDATE (attempts, final_code, final_reply, tls, delivered_at, status)
	ON spamlab.relay_decision TO spamlab_ingest;
GRANT SELECT (message_id, target, attempts, final_code, final_reply, tls,
	delivered_at, status)
	ON spamlab.relay_decision TO spamlab_ingest;
GRANT EXECUTE ON FUNCTION spamlab.relay_status_rank(text)
	TO spamlab_ingest, spamlab_reader;
