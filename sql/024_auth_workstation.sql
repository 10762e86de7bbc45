-- The client's own machine name, where the AUTH mechanism sends one: an
-- NTLM AUTHENTICATE carries the workstation name of the computer that
-- logs in (the exchange persona offers NTLM, as Exchange does).  Bots and
-- their toolkits often give themselves away by it (a fixed name, a
-- generated WIN-XXXXXXX, a scanner's default), so it is kept beside the
-- account.  NULL for mechanisms without one and for attempts stored before
-- this migration.  A nullable column without a default rewrites nothing;
-- apply it before starting an ingestd that writes it.
ALTER TABLE spamlab.smtp_auth ADD COLUMN workstation text;

COMMENT ON COLUMN spamlab.smtp_auth.workstation IS
	'the client''s machine name as the mechanism sent it (NTLM workstation), '
	'NULL if none';
