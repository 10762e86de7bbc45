-- Fuzzy hashes (ssdeep) for grouping near-identical spam into campaigns.

CREATE FUNCTION fuzzy_hash(content text) RETURNS text
	AS 'MODULE_PATHNAME', 'fuzzy_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION fuzzy_hash(text) IS
	'ssdeep signature of a text (compare with fuzzy_compare)';

CREATE FUNCTION fuzzy_hash(content bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'fuzzy_hash_bytea'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION fuzzy_hash(bytea) IS
	'ssdeep signature of raw bytes (compare with fuzzy_compare)';

CREATE FUNCTION fuzzy_compare(a text, b text) RETURNS int
	AS 'MODULE_PATHNAME', 'spamlab_fuzzy_compare'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION fuzzy_compare(text, text) IS
	'similarity of two ssdeep signatures, 0 to 100';
