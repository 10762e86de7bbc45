-- mime: attachments() and body_text() over hand-written MIME messages.
\pset null '(null)'
CREATE TEMP TABLE msg (name text PRIMARY KEY, raw bytea);
INSERT INTO msg VALUES
('plain', convert_to(E'From: a@b\nSubject: plain\n\nJust text.\n', 'UTF8')),
('plain_same_length', convert_to(E'From: a@b\nSubject: plain\n\nJust text!\n', 'UTF8')),
('alternative', convert_to(E'From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="alt"\n\n--alt\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 au lait=\n, please.\n--alt\nContent-Type: text/html\n\n<p>Caf&eacute; <b>HTML</b></p>\n--alt--\n', 'UTF8')),
('html_only', convert_to(E'From: a@b\nContent-Type: text/html; charset=utf-8\n\n<html><head><style>p{}</style><title>T</title></head><body><p>Hello&nbsp;there</p><script>x()</script><div>second &amp; last</div></body></html>\n', 'UTF8')),
('attached', convert_to(E'From: a@b\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nsee attachment\n--b1\nContent-Type: application/pdf; name="invoice.pdf"\nContent-Disposition: attachment; filename="=?UTF-8?B?UmVjaG51bmcgw6QucGRm?="\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n--b1\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--b1\nContent-Type: message/rfc822\n\nFrom: inner@x\nSubject: inner\nContent-Type: multipart/mixed; boundary=b2\n\n--b2\nContent-Type: text/plain\n\ninner text\n--b2\nContent-Type: application/zip\nContent-Disposition: attachment; filename=inner.zip\n\nPK\n--b2--\n--b1--\n', 'UTF8')),
('truncated_base64', convert_to(E'From: a@b\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: application/octet-stream; name=x.bin\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29y', 'UTF8')),
('unknown_charset', convert_to(E'From: a@b\nContent-Type: text/plain; charset=x-no-such-charset\n\nplain ascii\n', 'UTF8')),
('latin1_body', convert_to(E'From: a@b\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf', 'UTF8') || '\xe90a'::bytea),
('no_end_boundary', convert_to(E'From: a@b\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n\nnever closed\n', 'UTF8')),
('empty', ''::bytea),
('garbage', '\x00ff10fe8081'::bytea);
-- attachments: file parts only, decoded size and sha256 of the decoded bytes
SELECT m.name, a.* FROM msg m, spamlab.attachments(m.raw) a ORDER BY m.name, a.part;
SELECT encode(sha256('hello world'), 'hex') = sha256 AS sha_matches
  FROM msg m, spamlab.attachments(m.raw) WHERE m.name = 'attached' AND part = 3;
-- body_text: text/plain first, else HTML reduced to text
SELECT name, spamlab.body_text(raw) FROM msg ORDER BY name;
SELECT spamlab.body_text(E'Subject: text overload\n\nbody as text') AS text_overload;
-- the cache: every pair of messages, alternating in one query, gives the
-- same answers with and without it (a stale or mis-keyed cache would not)
SET spamlab.mime_cache = off;
CREATE TEMP TABLE nocache AS
SELECT a.name AS an, b.name AS bn, spamlab.body_text(a.raw) AS abody,
       spamlab.body_text(b.raw) AS bbody,
       (SELECT array_agg(sha256 ORDER BY part) FROM spamlab.attachments(a.raw)) AS ahash
  FROM msg a, msg b;
RESET spamlab.mime_cache;
SHOW spamlab.mime_cache;
CREATE TEMP TABLE withcache AS
SELECT a.name AS an, b.name AS bn, spamlab.body_text(a.raw) AS abody,
       spamlab.body_text(b.raw) AS bbody,
       (SELECT array_agg(sha256 ORDER BY part) FROM spamlab.attachments(a.raw)) AS ahash
  FROM msg a, msg b;
SELECT (SELECT count(*) FROM withcache) AS pairs,
       (SELECT count(*) FROM (TABLE nocache EXCEPT ALL TABLE withcache) x) AS only_without,
       (SELECT count(*) FROM (TABLE withcache EXCEPT ALL TABLE nocache) x) AS only_with;
SELECT spamlab.body_text(raw) FROM msg WHERE name LIKE 'plain%' ORDER BY name;
-- labels
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE pronamespace = 'spamlab'::regnamespace
   AND proname IN ('attachments', 'body_text', 'addresses')
 GROUP BY 1, 2, 3, 4 ORDER BY 1;
