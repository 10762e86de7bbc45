-- whois: domain registration data over port 43 (RFC 3912), cached.
-- See docs/whois.md for the lookup chain, the settings and the statuses.

-- Every lookup's outcome, one row per registrable domain.  Reused for
-- spamlab.whois_cache_ttl (status ok or truncated) or
-- spamlab.whois_negative_ttl (any other status).
CREATE TABLE whois_cache (
	domain text PRIMARY KEY,
	status text NOT NULL,
	server text,                -- the last server asked
	created timestamptz,
	updated timestamptz,
	expires timestamptz,
	registrar text,
	raw text,                   -- the last server's answer
	registry_raw text,          -- the registry's answer, when it referred on
	queried_at timestamptz NOT NULL
);
COMMENT ON TABLE whois_cache IS 'whois answers by registrable domain';
SELECT pg_catalog.pg_extension_config_dump('whois_cache', '');

-- Whois servers of TLDs outside the built-in map, as IANA named them
-- (server NULL: IANA knows none).
CREATE TABLE whois_tld (
	tld text PRIMARY KEY,
	server text,
	queried_at timestamptz NOT NULL
);
COMMENT ON TABLE whois_tld IS 'whois servers of TLDs, from whois.iana.org';
SELECT pg_catalog.pg_extension_config_dump('whois_tld', '');

CREATE TYPE whois_result AS (
	domain text,
	registrable_domain text,
	created timestamptz,
	updated timestamptz,
	expires timestamptz,
	registrar text,
	server text,
	status text,
	queried_at timestamptz
);

CREATE FUNCTION whois_parse(response text,
	OUT created timestamptz, OUT updated timestamptz,
	OUT expires timestamptz, OUT registrar text, OUT referral_server text)
	RETURNS record
	AS 'MODULE_PATHNAME', 'whois_parse'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION whois_parse(text) IS
	'dates, registrar and referral server from a whois answer';

-- whois() and whois_refresh() run as the extension's owner so that any role
-- can use and fill the cache without rights on its tables; what they do is
-- bounded by the superuser-only settings (whois_mode, whois_servers, ...).
CREATE FUNCTION whois(domain text) RETURNS whois_result
	AS 'MODULE_PATHNAME', 'whois'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION whois(text) IS
	'whois data of the registrable domain of a host name (cached)';

CREATE FUNCTION whois_created(domain text) RETURNS timestamptz
	LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
	AS $$ SELECT (spamlab.whois(domain)).created $$;
COMMENT ON FUNCTION whois_created(text) IS
	'creation date of the registrable domain of a host name';

CREATE FUNCTION whois_age(domain text, at timestamptz DEFAULT now())
	RETURNS interval
	LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
	AS $$ SELECT at - spamlab.whois_created(domain) $$;
COMMENT ON FUNCTION whois_age(text, timestamptz) IS
	'age of the registrable domain of a host name at a time';

CREATE FUNCTION whois_refresh(domains text[]) RETURNS int
	AS 'MODULE_PATHNAME', 'whois_refresh'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION whois_refresh(text[]) IS
	'look up many domains concurrently into the whois cache';
