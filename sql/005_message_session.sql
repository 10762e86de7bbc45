-- Link messages to the SMTP session that delivered them, and keep the AUTH
-- password of a message in a table of its own.
--
-- session_id is a plain nullable column added at the end: the partitioned
-- primary key (received_at, id) is unchanged, and new monthly partitions
-- (created LIKE spamlab.message) get the column too.  No foreign key: a
-- message may be loaded before its session row (sessions are written when
-- they end), and imported messages have no session.
ALTER TABLE spamlab.message ADD COLUMN session_id uuid;

COMMENT ON COLUMN spamlab.message.session_id IS
	'the spamlab.smtp_session that delivered it; NULL for imports';

-- The credentials a message was sent with (SMTP AUTH), keyed like the
-- message.  Readers who may see traffic need not see passwords: revoke
-- SELECT on this table and on spamlab.smtp_auth to hide them.
CREATE TABLE spamlab.message_auth (
	received_at timestamptz NOT NULL,
	message_id uuid NOT NULL,
	username text,
	password text,
	PRIMARY KEY (received_at, message_id)
);

COMMENT ON TABLE spamlab.message_auth IS
	'AUTH user and password a message was submitted with';

GRANT INSERT ON spamlab.message_auth TO spamlab_ingest;
GRANT SELECT ON spamlab.message_auth TO spamlab_reader;
