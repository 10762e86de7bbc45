-- Reports on SMTP AUTH: the trap accepts any credentials, so what bots
-- offer is what they hold or guess (docs/reports.md).  Keys are never NULL
-- ('' for no user name), as for the other reports: a concurrent refresh
-- matches rows by them.

-- Attempts per UTC day and mechanism.
CREATE MATERIALIZED VIEW spamlab.report_auth_daily AS
SELECT (a.at AT TIME ZONE 'UTC')::date AS day,
	a.mechanism,
	count(*) AS attempts,
	count(*) FILTER (WHERE a.reply_code = 235) AS accepted,
	count(DISTINCT s.peer_ip) AS peers,
	count(DISTINCT a.username) AS accounts,
	count(DISTINCT a.session_id) AS sessions
FROM spamlab.smtp_auth a
JOIN spamlab.smtp_session s ON s.id = a.session_id
GROUP BY 1, 2;
CREATE UNIQUE INDEX ON spamlab.report_auth_daily (day, mechanism);

-- The accounts tried: how often, from how many peers, with how many
-- passwords (PLAIN and LOGIN: an NTLM response differs on every attempt)
-- and from how many machines (NTLM workstation names, migration 024), and
-- how many messages were sent after logging in with them.
CREATE MATERIALIZED VIEW spamlab.report_auth_account AS
WITH tried AS (
	SELECT coalesce(a.username, '') AS username,
		count(*) AS attempts,
		count(*) FILTER (WHERE a.reply_code = 235) AS accepted,
		count(DISTINCT s.peer_ip) AS peers,
		count(DISTINCT a.password)
			FILTER (WHERE a.mechanism IN ('PLAIN', 'LOGIN')) AS passwords,
		count(DISTINCT a.workstation) AS workstations,
		array_agg(DISTINCT a.mechanism ORDER BY a.mechanism) AS mechanisms,
		min(a.at) AS first_seen,
		max(a.at) AS last_seen
	FROM spamlab.smtp_auth a
	JOIN spamlab.smtp_session s ON s.id = a.session_id
	GROUP BY 1
), sent AS (
	SELECT coalesce(username, '') AS username, count(*) AS messages
	FROM spamlab.message_auth
	GROUP BY 1
)
SELECT t.username, t.attempts, t.accepted, t.peers, t.passwords,
	t.workstations, t.mechanisms, coalesce(s.messages, 0) AS messages,
	t.first_seen, t.last_seen
FROM tried t
LEFT JOIN sent s USING (username);
CREATE UNIQUE INDEX ON spamlab.report_auth_account (username);

-- The passwords offered in clear (PLAIN, LOGIN), most tried first.
CREATE MATERIALIZED VIEW spamlab.report_auth_password AS
SELECT a.password,
	count(*) AS attempts,
	count(DISTINCT a.username) AS accounts,
	count(DISTINCT s.peer_ip) AS peers
FROM spamlab.smtp_auth a
JOIN spamlab.smtp_session s ON s.id = a.session_id
WHERE a.mechanism IN ('PLAIN', 'LOGIN') AND a.password IS NOT NULL
GROUP BY 1;
CREATE UNIQUE INDEX ON spamlab.report_auth_password (password);

GRANT SELECT ON spamlab.report_auth_daily, spamlab.report_auth_account,
	spamlab.report_auth_password TO spamlab_reader;
