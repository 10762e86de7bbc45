-- Roles.  spamlab_ingest is what ingestd logs in as: it may add messages and
-- nothing else (no SELECT, UPDATE or DELETE), so a compromised collector
-- cannot read or rewrite the catch.  spamlab_reader is for analysts,
-- notebooks and reports.  Roles are cluster-wide, so create them only once.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spamlab_ingest') THEN
		CREATE ROLE spamlab_ingest LOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spamlab_reader') THEN
		CREATE ROLE spamlab_reader NOLOGIN;
	END IF;
END
$$;

GRANT USAGE ON SCHEMA spamlab TO spamlab_ingest, spamlab_reader;
GRANT INSERT ON spamlab.message TO spamlab_ingest;
GRANT EXECUTE ON FUNCTION
	spamlab.ensure_message_partitions(timestamptz, timestamptz)
	TO spamlab_ingest;

GRANT SELECT ON ALL TABLES IN SCHEMA spamlab TO spamlab_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA spamlab
	GRANT SELECT ON TABLES TO spamlab_reader;
