-- SMTP sessions: one row per connection to the trap, every command it sent
-- with our reply, and every AUTH attempt.  ingestd writes a session when it
-- ends.  Keys are fixed by the collector (the session id is a UUIDv7 made at
-- connect; commands and AUTH attempts are numbered from 1 in order), so the
-- sink's INSERT ... ON CONFLICT DO NOTHING makes a replay a no-op.
CREATE TABLE spamlab.smtp_session (
	id uuid PRIMARY KEY,
	sensor text,
	started_at timestamptz NOT NULL,
	ended_at timestamptz,
	peer_ip inet,
	peer_port int CHECK (peer_port BETWEEN 0 AND 65535),
	helo text,
	tls text,
	disconnect_reason text,
	n_commands int NOT NULL DEFAULT 0 CHECK (n_commands >= 0),
	n_auth int NOT NULL DEFAULT 0 CHECK (n_auth >= 0)
);

CREATE INDEX smtp_session_started_at_brin ON spamlab.smtp_session
	USING brin (started_at);
CREATE INDEX smtp_session_peer_ip ON spamlab.smtp_session (peer_ip);

COMMENT ON TABLE spamlab.smtp_session IS
	'one SMTP connection to the trap, from connect to disconnect';
COMMENT ON COLUMN spamlab.smtp_session.disconnect_reason IS
	'why the session ended: quit, eof, timeout, limit, error, shutdown';

-- Every command line in order (n from 1), truncated to 512 bytes, with the
-- reply code we sent (NULL when none) and when it arrived.
CREATE TABLE spamlab.smtp_command (
	session_id uuid NOT NULL
		REFERENCES spamlab.smtp_session (id) ON DELETE CASCADE,
	n int NOT NULL CHECK (n >= 1),
	at timestamptz NOT NULL,
	command text NOT NULL,
	reply_code int CHECK (reply_code BETWEEN 100 AND 599),
	PRIMARY KEY (session_id, n)
);

COMMENT ON TABLE spamlab.smtp_command IS
	'the commands of an SMTP session in order, with our reply codes';

-- AUTH attempts, passwords included, in a table of their own so access to
-- credentials can be granted or revoked separately from the traffic.
CREATE TABLE spamlab.smtp_auth (
	session_id uuid NOT NULL
		REFERENCES spamlab.smtp_session (id) ON DELETE CASCADE,
	n int NOT NULL CHECK (n >= 1),
	at timestamptz NOT NULL,
	mechanism text NOT NULL,
	username text,
	password text,
	reply_code int CHECK (reply_code BETWEEN 100 AND 599),
	PRIMARY KEY (session_id, n)
);

COMMENT ON TABLE spamlab.smtp_auth IS
	'SMTP AUTH attempts with the credentials offered (kept apart)';

GRANT INSERT ON spamlab.smtp_session, spamlab.smtp_command, spamlab.smtp_auth
	TO spamlab_ingest;
GRANT SELECT ON spamlab.smtp_session, spamlab.smtp_command, spamlab.smtp_auth
	TO spamlab_reader;
