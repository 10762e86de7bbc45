-- fuzzy: ssdeep signatures group near-identical texts.
CREATE TEMP TABLE body AS
SELECT 'base' AS k, string_agg('Dear friend, claim your prize number ' || g ||
	' at http://win.example.com/claim?id=' || g || E' today!\n', '') AS t
  FROM generate_series(1, 200) g;
INSERT INTO body
SELECT 'variant', replace(t, 'prize number 17 ', 'prize number 9917 ') FROM body;
INSERT INTO body
SELECT 'other', string_agg(md5(g::text), E'\n') FROM generate_series(1, 300) g;

-- signatures look like blocksize:hash:hash
SELECT k, spamlab.fuzzy_hash(t) ~ '^\d+:[A-Za-z0-9+/]+:[A-Za-z0-9+/]+$' AS shape
  FROM body ORDER BY k;
-- text and bytea agree
SELECT spamlab.fuzzy_hash(t) = spamlab.fuzzy_hash(convert_to(t, 'UTF8')) AS same
  FROM body WHERE k = 'base';
-- identical 100, a small edit stays high, unrelated text scores 0
SELECT spamlab.fuzzy_compare(h.a, h.a) AS self,
       spamlab.fuzzy_compare(h.a, h.b) >= 80 AS variant_close,
       spamlab.fuzzy_compare(h.a, h.c) AS unrelated
  FROM (SELECT max(spamlab.fuzzy_hash(t)) FILTER (WHERE k = 'base') AS a,
               max(spamlab.fuzzy_hash(t)) FILTER (WHERE k = 'variant') AS b,
               max(spamlab.fuzzy_hash(t)) FILTER (WHERE k = 'other') AS c
          FROM body) h;
-- tiny and empty inputs still hash
SELECT spamlab.fuzzy_hash(''), spamlab.fuzzy_hash('x');
-- misuse: a string that is no signature
SELECT spamlab.fuzzy_compare('3:abc:def', 'not a signature');
SELECT spamlab.fuzzy_compare('3:abc', '3:abc:def');
SELECT spamlab.fuzzy_compare(NULL, '3:abc:def') IS NULL AS strict;
