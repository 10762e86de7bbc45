-- geoip: the error paths that need no database file.  Lookups against real
-- and generated databases are in tests/test_geoip.py.

SELECT proname, provolatile, proisstrict, proparallel, prorettype::regtype
  FROM pg_proc
 WHERE pronamespace = 'spamlab'::regnamespace AND proname LIKE 'geoip%'
 ORDER BY proname;

-- NULL in, NULL out (STRICT), before any setting is looked at
SELECT spamlab.geoip(NULL) IS NULL AS geoip_null,
       spamlab.geoip_country(NULL) IS NULL AS country_null,
       spamlab.geoip_asn(NULL) IS NULL AS asn_null;

-- the settings exist once the library is loaded, empty by default
SELECT spamlab.version() IS NOT NULL AS loaded;
SHOW spamlab.geoip_city_db;
SHOW spamlab.geoip_asn_db;

-- unset settings: an error naming the setting
\set VERBOSITY default
SELECT spamlab.geoip('8.8.8.8');
SELECT spamlab.geoip_country('8.8.8.8');
SELECT spamlab.geoip_asn('8.8.8.8');
SELECT * FROM spamlab.geoip_databases();
-- blanks and commas only count as unset
SET spamlab.geoip_city_db = ' , ';
SELECT spamlab.geoip_country('10.0.0.1');

-- a missing file, in either setting
SET spamlab.geoip_city_db = '/nonexistent/spamlab/city.mmdb';
SELECT spamlab.geoip_country('8.8.8.8');
SELECT spamlab.geoip('8.8.8.8');
SELECT * FROM spamlab.geoip_databases();
RESET spamlab.geoip_city_db;
SET spamlab.geoip_asn_db = '/nonexistent/spamlab/asn.mmdb';
SELECT spamlab.geoip_asn('8.8.8.8');
SELECT spamlab.geoip('8.8.8.8');
-- the country fast path needs only the city setting
SELECT spamlab.geoip_country('8.8.8.8');
RESET spamlab.geoip_asn_db;

-- too many files in one setting
SET spamlab.geoip_city_db = 'a,b,c,d,e,f,g,h,i';
SELECT spamlab.geoip_country('8.8.8.8');
RESET spamlab.geoip_city_db;

-- only superusers choose the files the server reads
CREATE ROLE geoip_regress_user;
SET ROLE geoip_regress_user;
SET spamlab.geoip_city_db = '/etc/passwd';
RESET ROLE;
DROP ROLE geoip_regress_user;
