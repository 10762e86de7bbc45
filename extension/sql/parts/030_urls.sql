-- URLs and registrable domains (urls.c over urlscan.c and domain.c).

-- One row of extract_urls (a type, so the raw message argument and the
-- raw column can share their name).
CREATE TYPE extracted_url AS (
	url text,                -- canonical: scheme and host lower case, no default port
	raw text,                -- as found (after decoding), for auditing
	scheme text,             -- defanged (hxxp -> http); NULL for relative references
	host text,               -- ASCII (punycode), IPv4 dotted; NULL when none/invalid
	registrable_domain text, -- eTLD+1 of host; NULL for IPs
	source text,             -- text, html_href, html_src, html_form, html_other, header
	part int,                -- MIME part number (0: header; NULL: text overload)
	anchor_text text         -- the link text of <a href>
);

CREATE FUNCTION extract_urls(raw bytea)
	RETURNS SETOF extracted_url
	AS 'MODULE_PATHNAME', 'extract_urls'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION extract_urls(bytea) IS
	'every URL in a message''s list headers and text parts, one row per occurrence';

CREATE FUNCTION extract_urls(content text, content_type text DEFAULT 'text/plain')
	RETURNS SETOF extracted_url
	AS 'MODULE_PATHNAME', 'extract_urls_text'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION extract_urls(text, text) IS
	'every URL in a piece of text or HTML (content_type text/html)';

CREATE FUNCTION registrable_domain(host text) RETURNS text
	AS 'MODULE_PATHNAME', 'registrable_domain'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION registrable_domain(text) IS
	'eTLD+1 of a host name (Public Suffix List); NULL for IPs and suffixes';
