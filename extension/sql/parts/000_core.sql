-- Core: version and shared types.

CREATE FUNCTION version() RETURNS text
	AS 'MODULE_PATHNAME', 'version'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION version() IS 'version of the loaded spamlab library';
