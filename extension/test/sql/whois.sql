-- whois() without the network: input reduction, modes, settings.
SET TimeZone = 'UTC';

-- the default mode answers from the cache only (settings exist once the
-- library is loaded, i.e. after the first call)
SELECT domain, registrable_domain, status FROM spamlab.whois('mail.spam-example.com');
SHOW spamlab.whois_mode;
-- what cannot be a registrable domain is "invalid", never an error
SELECT domain, registrable_domain, status FROM spamlab.whois('192.0.2.1');
SELECT domain, registrable_domain, status FROM spamlab.whois('co.uk');
SELECT domain, registrable_domain, status FROM spamlab.whois('');
-- ICANN section only: a blogspot host is reduced to blogspot.com
SELECT registrable_domain FROM spamlab.whois('someone.blogspot.com');
-- mail addresses, case, IDNs (to A-labels), and what must not reach a query
SELECT d, (spamlab.whois(d)).registrable_domain, (spamlab.whois(d)).status
  FROM (VALUES ('Spammer@Mail.Example.COM'), ('bücher.de'),
    ('www.xn--bcher-kva.de'), ('[192.0.2.1]'), ('example.com:25'),
    ('a..b.com'), (E'x.com\r\nother.com'), ('x_y.com'), ('a/b.com')) t(d);

-- a cached answer is served in cache_only mode, stale or not
INSERT INTO spamlab.whois_cache (domain, status, server, created, registrar, queried_at)
VALUES ('spam-example.com', 'ok', 'whois.example', '2001-02-03', 'Example', now() - interval '1 year');
SELECT domain, registrable_domain, created, registrar, server, status FROM spamlab.whois('www.SPAM-example.com.');
SELECT spamlab.whois_created('spam-example.com');
SELECT spamlab.whois_age('x.spam-example.com', '2002-02-03');
SELECT spamlab.whois_age('unknown-example.com') IS NULL AS unknown_age_null;

-- off: not even the cache
SET spamlab.whois_mode = off;
SELECT registrable_domain, created, status FROM spamlab.whois('spam-example.com');
SELECT spamlab.whois_refresh(ARRAY['spam-example.com']);
RESET spamlab.whois_mode;
DELETE FROM spamlab.whois_cache;

-- settings
SET spamlab.whois_mode = sometimes;
SET spamlab.whois_servers = 'com=whois.example:43,iana=127.0.0.1:4343';
SET spamlab.whois_servers = 'com';
SET spamlab.whois_servers = 'com=http://whois.example/';
SET spamlab.whois_servers = 'com=whois.example:99999999';
RESET spamlab.whois_servers;
SET spamlab.whois_timeout = 10;
SET spamlab.whois_concurrency = 0;

-- non-superusers cannot point lookups elsewhere or enable them
CREATE ROLE whois_tester;
SET ROLE whois_tester;
SET spamlab.whois_servers = 'com=127.0.0.1:4343';
SET spamlab.whois_allow_private = on;
SET spamlab.whois_mode = live;
RESET ROLE;
DROP ROLE whois_tester;

-- the cache tables are dumped with the extension's data
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid)
  JOIN pg_class c ON c.oid = t.oid WHERE e.extname = 'spamlab' ORDER BY 1;
-- volatility and parallel safety as documented
SELECT proname, provolatile, proparallel, proisstrict FROM pg_proc
  WHERE pronamespace = 'spamlab'::regnamespace AND proname LIKE 'whois%' ORDER BY 1;
