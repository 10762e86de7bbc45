-- spamlab.search(q): everything about an IP address, a network, a domain or
-- a URL, as one list of messages with their key facts and what matched.

CREATE INDEX message_peer_ip ON spamlab.message USING gist (peer_ip inet_ops);
CREATE INDEX message_fact_mail_from_domain ON spamlab.message_fact
	(mail_from_domain);
CREATE INDEX message_url_url ON spamlab.message_url (url text_pattern_ops);

CREATE FUNCTION spamlab.search(q text, max_rows int DEFAULT 1000)
RETURNS TABLE (received_at timestamptz, id uuid, matched_on text[],
	subject text, from_address text, origin_ip inet, origin_country text,
	label text)
LANGUAGE plpgsql STABLE
SET search_path = spamlab, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	term text := btrim(q);
	want_net cidr;
	want_url text;
	want_dom text;
BEGIN
	IF term = '' THEN
		RAISE EXCEPTION 'empty search term'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Search for an IP address, a CIDR network, a domain or a URL.';
	END IF;
	IF max_rows < 1 THEN
		RAISE EXCEPTION 'max_rows must be positive, not %', max_rows
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- an address or a network?
	BEGIN
		want_net := term::cidr;
	EXCEPTION WHEN invalid_text_representation OR invalid_binary_representation
		THEN want_net := NULL;
	END;
	IF want_net IS NULL AND term ~ '^[0-9a-fA-F.:]+/[0-9]+$' THEN
		-- a network written with host bits set, like 10.1.2.3/8
		BEGIN
			want_net := network(term::inet);
		EXCEPTION WHEN invalid_text_representation THEN want_net := NULL;
		END;
	END IF;

	IF want_net IS NOT NULL THEN
		RETURN QUERY
		WITH hits AS (
			SELECT f.received_at, f.id, 'origin_ip'::text AS why
			FROM message_fact f WHERE f.origin_ip <<= want_net
			UNION ALL
			SELECT m.received_at, m.id, 'peer_ip' FROM message m
			WHERE m.peer_ip <<= want_net
			UNION ALL
			SELECT h.received_at, h.id, 'hop' FROM message_hop h
			WHERE h.from_ip <<= want_net)
		SELECT h.received_at, h.id, array_agg(DISTINCT h.why ORDER BY h.why),
			f.subject, f.from_address, f.origin_ip, f.origin_country, f.label
		FROM hits h
		LEFT JOIN message_fact f USING (received_at, id)
		GROUP BY h.received_at, h.id, f.subject, f.from_address, f.origin_ip,
			f.origin_country, f.label
		ORDER BY h.received_at DESC
		LIMIT max_rows;
		RETURN;
	END IF;

	IF term ~* '^[a-z][a-z0-9+.-]*://' THEN
		-- a URL: compare canonical forms, and match everything under it
		SELECT u.url INTO want_url FROM extract_urls(term) u LIMIT 1;
		want_url := coalesce(want_url, term);
		RETURN QUERY
		SELECT u.received_at, u.id, ARRAY['url'],
			f.subject, f.from_address, f.origin_ip, f.origin_country, f.label
		FROM (SELECT DISTINCT mu.received_at, mu.id FROM message_url mu
			WHERE mu.url LIKE replace(replace(replace(want_url, '\', '\\'),
				'%', '\%'), '_', '\_') || '%') u
		LEFT JOIN message_fact f USING (received_at, id)
		ORDER BY u.received_at DESC
		LIMIT max_rows;
		RETURN;
	END IF;

	-- a domain or host name
	want_dom := lower(rtrim(term, '.'));
	RETURN QUERY
	WITH hits AS (
		SELECT mu.received_at, mu.id, 'url_domain'::text AS why
		FROM message_url mu
		WHERE mu.registrable_domain = want_dom OR mu.host = want_dom
		UNION ALL
		SELECT f.received_at, f.id, 'from_domain' FROM message_fact f
		WHERE f.from_domain = want_dom
		UNION ALL
		SELECT f.received_at, f.id, 'envelope_domain' FROM message_fact f
		WHERE f.mail_from_domain = want_dom
		UNION ALL
		SELECT f.received_at, f.id, 'reply_to_domain' FROM message_fact f
		WHERE f.reply_to_domain = want_dom)
	SELECT h.received_at, h.id, array_agg(DISTINCT h.why ORDER BY h.why),
		f.subject, f.from_address, f.origin_ip, f.origin_country, f.label
	FROM hits h
	LEFT JOIN message_fact f USING (received_at, id)
	GROUP BY h.received_at, h.id, f.subject, f.from_address, f.origin_ip,
		f.origin_country, f.label
	ORDER BY h.received_at DESC
	LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION spamlab.search(text, int) IS
	'messages matching an IP, CIDR, domain or URL, with what matched';
