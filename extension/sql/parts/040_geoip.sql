-- GeoIP: location and network owner of an address from MaxMind DB files
-- (spamlab.geoip_city_db, spamlab.geoip_asn_db).  See docs/geoip.md.

CREATE TYPE geoip_result AS (
	country_code text,
	country_name text,
	continent text,
	subdivision text,
	city text,
	postal_code text,
	latitude float8,
	longitude float8,
	time_zone text,
	asn bigint,
	as_org text,
	network cidr
);
COMMENT ON TYPE geoip_result IS 'result of spamlab.geoip()';

CREATE FUNCTION geoip(ip inet) RETURNS geoip_result
	AS 'MODULE_PATHNAME', 'geoip'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION geoip(inet) IS
	'location (spamlab.geoip_city_db) and autonomous system (spamlab.geoip_asn_db) of an address; NULL for private, reserved or unknown addresses';

CREATE FUNCTION geoip_country(ip inet) RETURNS text
	AS 'MODULE_PATHNAME', 'geoip_country'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION geoip_country(inet) IS
	'ISO 3166 country code of an address (spamlab.geoip_city_db)';

CREATE FUNCTION geoip_asn(ip inet) RETURNS bigint
	AS 'MODULE_PATHNAME', 'geoip_asn'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION geoip_asn(inet) IS
	'autonomous system number of an address (spamlab.geoip_asn_db)';

CREATE FUNCTION geoip_databases(verify boolean DEFAULT false,
	OUT setting text, OUT path text, OUT database_type text,
	OUT ip_version int, OUT record_size int, OUT node_count bigint,
	OUT build_time timestamptz, OUT description text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'geoip_databases'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION geoip_databases(boolean) IS
	'the GeoIP database files in use, opened, with their metadata; verify => true checks every node and record first';
