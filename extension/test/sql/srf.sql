-- srf: the set-returning functions in every place a query can call them.
-- They start their result without a catalog lookup (spamlab_srf_begin),
-- relying on the executor's row descriptor: in FROM, in the select list,
-- from PL/pgSQL, behind a scrollable cursor, and empty.
SET timezone = 'UTC';
\pset null '(null)'

CREATE TEMP TABLE m (id int, raw bytea);
INSERT INTO m VALUES
(1, convert_to(E'Received: from a.example (a.example [93.184.216.34]) by b.example with ESMTP id Q1; Tue, 3 Nov 2009 10:00:00 +0000\nReceived: from c.example ([10.0.0.1]) by a.example; Tue, 3 Nov 2009 09:59:00 +0000\nFrom: A <a@example.org>, b@example.net\nSubject: hi\n\nsee http://example.com/x\n', 'UTF8')),
(2, convert_to(E'Subject: no trace\n\nbody\n', 'UTF8'));

-- in FROM, with LATERAL
SELECT m.id, h.hop, h.from_ip, h.by_host FROM m, spamlab.parse_received(m.raw) h ORDER BY 1, 2;
-- in the select list (ProjectSet), whole rows and one column
SELECT id, spamlab.parse_received(raw) FROM m;
SELECT id, (spamlab.parse_received(raw)).queue_id FROM m;
SELECT id, spamlab.headers(raw) FROM m;
SELECT id, spamlab.addresses(raw, 'from') FROM m;
SELECT id, (spamlab.extract_urls(raw)).url FROM m;
SELECT id, spamlab.attachments(raw) FROM m;
-- two in one select list, of different lengths
SELECT id, (spamlab.parse_received(raw)).hop, (spamlab.headers(raw)).name FROM m WHERE id = 1;

-- from PL/pgSQL
CREATE FUNCTION hops_of(r bytea) RETURNS SETOF spamlab.received_hop
LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT * FROM spamlab.parse_received(r); END $$;
SELECT hop, from_helo FROM m, hops_of(m.raw) ORDER BY id, hop;

-- behind a scrollable cursor, read backwards
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT hop, by_host FROM spamlab.parse_received((SELECT raw FROM m WHERE id = 1));
FETCH ALL FROM c;
FETCH BACKWARD ALL FROM c;
COMMIT;

-- WITH ORDINALITY and a column list
SELECT x.ord, x.n, x.name FROM m, spamlab.headers(m.raw) WITH ORDINALITY AS x(n, name, value, raw_value, ord) WHERE id = 2;
