-- Probe relaying (issue 6): what ingestd decided about each message a relay
-- rule picked out as a spammer's relay test, and how its delivery ended.
--
-- One row per (message, delivery target), written once, when the outcome is
-- final: at once for probes that are not delivered (relaying disabled, kill
-- switch, a cap), after the last attempt for delivered or failed ones.  A
-- message no rule picked has no row: it was only stored.  The collector
-- role may only INSERT, so rows are never updated; (message_id, target) is
-- unique (NULLs not distinct), so a replay after a crash is a no-op with ON
-- CONFLICT DO NOTHING.  The message itself is always in spamlab.message,
-- whatever happened to its delivery.
CREATE TABLE spamlab.relay_decision (
	message_id uuid NOT NULL,
	received_at timestamptz NOT NULL,
	decided_at timestamptz NOT NULL DEFAULT now(),
	sensor text,
	peer_ip inet,
	rule text NOT NULL,
	decision text NOT NULL CHECK (decision IN
		('relay', 'disabled', 'killed', 'capped')),
	cap text CHECK ((decision = 'capped') = (cap IS NOT NULL)),
	target text,
	rcpt_to text[],
	attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	final_code int CHECK (final_code BETWEEN 100 AND 599),
	final_reply text,
	tls text,
	delivered_at timestamptz,
	CHECK (delivered_at IS NULL OR decision = 'relay'),
	UNIQUE NULLS NOT DISTINCT (message_id, target)
);

CREATE INDEX relay_decision_received_at ON spamlab.relay_decision
	(received_at);

COMMENT ON TABLE spamlab.relay_decision IS
	'probe relay decisions and delivery outcomes, one row per message and target';
COMMENT ON COLUMN spamlab.relay_decision.rule IS
	'name of the relay.rule that fired';
COMMENT ON COLUMN spamlab.relay_decision.decision IS
	'relay (delivery tried), disabled (relay.enabled off), killed (kill switch), capped';
COMMENT ON COLUMN spamlab.relay_decision.cap IS
	'the cap that refused a capped probe: cap-day, cap-peer, cap-domain, cap-rcpt, no-rcpt';
COMMENT ON COLUMN spamlab.relay_decision.target IS
	'the recipient domain (MX mode) or the smarthost; NULL when not delivered';
COMMENT ON COLUMN spamlab.relay_decision.final_reply IS
	'the last SMTP reply line, or why no reply came (timeout, dns: nxdomain, ...)';
COMMENT ON COLUMN spamlab.relay_decision.delivered_at IS
	'when the receiving server accepted the message; NULL if it never did';

GRANT INSERT ON spamlab.relay_decision TO spamlab_ingest;
GRANT SELECT ON spamlab.relay_decision TO spamlab_reader;

-- The thesis's Figure 1: per UTC day, all messages received beside the
-- probes found and the probes delivered, and whether any probe had been
-- delivered before that day (volume should rise after the first one).
CREATE VIEW spamlab.relay_daily AS
WITH vol AS (
	SELECT (received_at AT TIME ZONE 'UTC')::date AS day, count(*) AS messages
	FROM spamlab.message
	WHERE source = 'smtp'
	GROUP BY 1
), pr AS (
	SELECT (received_at AT TIME ZONE 'UTC')::date AS day,
		count(DISTINCT message_id) AS probes,
		count(DISTINCT message_id) FILTER (WHERE decision = 'relay')
			AS relayed,
		count(*) FILTER (WHERE delivered_at IS NOT NULL) AS deliveries,
		count(DISTINCT message_id) FILTER (WHERE decision = 'capped')
			AS capped
	FROM spamlab.relay_decision
	GROUP BY 1
), first_delivery AS (
	SELECT min((delivered_at AT TIME ZONE 'UTC')::date) AS day
	FROM spamlab.relay_decision
)
SELECT d.day,
	coalesce(vol.messages, 0) AS messages,
	coalesce(pr.probes, 0) AS probes,
	coalesce(pr.relayed, 0) AS relayed,
	coalesce(pr.deliveries, 0) AS deliveries,
	coalesce(pr.capped, 0) AS capped,
	coalesce(d.day > f.day, false) AS after_first_delivery
FROM (SELECT day FROM vol UNION SELECT day FROM pr) AS d
LEFT JOIN vol USING (day)
LEFT JOIN pr USING (day)
CROSS JOIN first_delivery AS f;

COMMENT ON VIEW spamlab.relay_daily IS
	'per UTC day: smtp messages, probes, probes relayed, deliveries (Figure 1)';

-- Which rules find probes, and what became of them.
CREATE VIEW spamlab.relay_rules AS
SELECT rule,
	count(DISTINCT message_id) AS probes,
	count(*) FILTER (WHERE decision = 'relay') AS deliveries_tried,
	count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
	count(*) FILTER (WHERE decision = 'capped') AS capped,
	min(received_at) AS first_seen,
	max(received_at) AS last_seen
FROM spamlab.relay_decision
GROUP BY rule;

COMMENT ON VIEW spamlab.relay_rules IS
	'per relay rule: probes found, deliveries tried and accepted, capped';

GRANT SELECT ON spamlab.relay_daily, spamlab.relay_rules TO spamlab_reader;
