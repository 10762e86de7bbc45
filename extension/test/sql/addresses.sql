-- addresses: the lenient address-header parser and its SQL face.
\pset null '(null)'
CREATE FUNCTION pg_temp.a(hdr text, field text DEFAULT 'from')
  RETURNS TABLE (display_name text, address text, local_part text, domain text)
  LANGUAGE sql AS $$ SELECT * FROM spamlab.addresses(hdr || E'\n\nbody', field) $$;
-- RFC 5322 forms
SELECT * FROM pg_temp.a('From: John Doe <John.Doe@Example.COM>');
SELECT * FROM pg_temp.a('From: "Doe, John" <john@example.com>, jane@example.org');
SELECT * FROM pg_temp.a('From: john@example.com (John Doe)');
SELECT * FROM pg_temp.a(E'To: Friends: a@x.example, "B" <b@y.example>;, c@z.example', 'to');
SELECT * FROM pg_temp.a('To: undisclosed-recipients:;', 'to');
SELECT * FROM pg_temp.a(E'Cc: a@one.example,\n\tb@two.example', 'CC');
-- broken forms from the wild
SELECT * FROM pg_temp.a('From: Doe, John <john@example.com>');
SELECT * FROM pg_temp.a('From: "paypal@paypal.com" <phish@evil.example>');
SELECT * FROM pg_temp.a('From: John Doe john@example.com');
SELECT * FROM pg_temp.a('From: "unterminated <x@y.example>');
SELECT * FROM pg_temp.a('From: Bob <mailto:bob@example.com>');
SELECT * FROM pg_temp.a('From: <@relay.example:user@host.example>');
SELECT * FROM pg_temp.a('From: MAILER-DAEMON');
SELECT * FROM pg_temp.a('From: ,,, ;');
-- encoded words: in the name, and hiding the whole mailbox
SELECT * FROM pg_temp.a('From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@x.de>');
SELECT * FROM pg_temp.a('From: =?UTF-8?B?QW5uYSA8YW5uYUBleGFtcGxlLmNvbT4=?=');
-- Return-Path: the null path and a normal one; several To fields
SELECT * FROM pg_temp.a('Return-Path: <>', 'return-path');
SELECT * FROM pg_temp.a(E'To: a@one.example\nTo: b@two.example', 'to');
-- every supported field, names case-insensitive
SELECT f, a.address FROM unnest(ARRAY['From', 'SENDER', 'reply-to', 'To', 'cc', 'Bcc', 'Return-Path']) f,
  spamlab.addresses(E'From: f@x.example\nSender: s@x.example\nReply-To: r@x.example\nTo: t@x.example\nCc: c@x.example\nBcc: b@x.example\nReturn-Path: <p@x.example>\n\n', f) a;
-- raw 8-bit names become valid UTF-8
SELECT * FROM spamlab.addresses('\x46726f6d3a20c9766520783c65406578616d706c652e636f6d3e0a0a'::bytea);
-- the default field is From; other fields are not read
SELECT count(*) FROM spamlab.addresses(E'To: t@x.example\nFrom: f@x.example\n\n');
-- misuse: an unknown field name is an ERROR with a hint
SELECT * FROM spamlab.addresses(E'From: a@b\n\n', 'subject');
