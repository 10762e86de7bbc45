-- Bot fingerprints (issue 6): the SMTP "dialect" of a client, from the
-- commands of its session (spamlab.smtp_command), reduced to a stable hash
-- so messages can be grouped by the software that sent them.
--
-- A dialect is what stays the same from one run of a spam tool to the
-- next and differs between tools: the shape of each command (verb and its
-- case, EHLO or HELO and the kind of name given, "MAIL FROM:<x>" or
-- "MAIL FROM: <x>", parameters named, AUTH mechanism), in order up to the
-- first DATA (later transactions repeat it), plus how the session ended,
-- whether it used TLS, whether it pipelined (a RCPT or DATA less than 1 ms
-- after the command before it), and the median pause between commands
-- that were not pipelined, in coarse buckets (<300ms, <3s, >=3s).  Addresses, host names and parameter values
-- are dropped: they change per message.  Repeats of one shape (RCPT x N)
-- count once.

-- The shape of one command line.
CREATE FUNCTION spamlab.command_shape(cmd text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	verb text := substring(cmd FROM '^\s*([A-Za-z]+)');
	rest text;
	uverb text;
	vcase text;
	lead text := CASE WHEN cmd ~ '^\s' THEN '_' ELSE '' END;
	arg text;
BEGIN
	IF verb IS NULL THEN
		RETURN '?';
	END IF;
	uverb := upper(left(verb, 12));
	vcase := CASE WHEN verb = upper(verb) THEN ''
		WHEN verb = lower(verb) THEN '/l' ELSE '/m' END;
	rest := substring(cmd FROM '^\s*[A-Za-z]+(.*)$');
	IF uverb IN ('HELO', 'EHLO') THEN
		arg := btrim(rest);
		RETURN lead || uverb || vcase || CASE
			WHEN arg = '' THEN ''
			WHEN arg ~ '^\[.*\]$' THEN ' [ip]'
			WHEN arg ~ '^[0-9.]+$' OR arg ~ '^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$'
				THEN ' ip'
			WHEN arg ~ '\s' THEN ' words'
			WHEN arg ~ '\.' THEN ' fqdn'
			ELSE ' word' END;
	ELSIF uverb IN ('MAIL', 'RCPT') THEN
		-- keep the keyword, its case and the spacing; drop the address and
		-- parameter values
		arg := regexp_replace(rest, '<[^>]+>', '<x>');
		arg := regexp_replace(arg, '(:\s*)[^<\s]\S*', '\1x');
		arg := regexp_replace(arg, '=\S*', '=', 'g');
		arg := regexp_replace(arg, '\s+$', '');
		RETURN lead || uverb || vcase || left(arg, 80);
	ELSIF uverb = 'AUTH' THEN
		arg := btrim(rest);
		RETURN lead || uverb || vcase || ' '
			|| upper(coalesce(substring(arg FROM '^(\S+)'), ''))
			|| CASE WHEN arg ~ '^\S+\s+\S' THEN ' +ir' ELSE '' END;
	ELSE
		RETURN lead || uverb || vcase
			|| CASE WHEN btrim(rest) <> '' THEN ' arg' ELSE '' END;
	END IF;
END
$$;

COMMENT ON FUNCTION spamlab.command_shape(text) IS
	'shape of one SMTP command: verb, case, argument form; no addresses or names';

-- The dialect of a session as readable text; NULL for a session with no
-- commands or not known.
CREATE FUNCTION spamlab.dialect(session_id uuid)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH c AS (
		SELECT n, at, spamlab.command_shape(command) AS shape,
			extract(epoch FROM at - lag(at) OVER (ORDER BY n)) * 1000
				AS gap_ms
		FROM spamlab.smtp_command
		WHERE smtp_command.session_id = dialect.session_id
	), first_data AS (
		SELECT min(n) AS n FROM c WHERE shape ~ '^_?(DATA|BDAT)'
	), seq AS (
		SELECT c.n, c.shape,
			c.shape IS DISTINCT FROM lag(c.shape) OVER (ORDER BY c.n) AS fresh
		FROM c, first_data f
		WHERE f.n IS NULL OR c.n <= f.n
	), s AS (
		SELECT ses.tls FROM spamlab.smtp_session AS ses
		WHERE ses.id = dialect.session_id
	)
	SELECT string_agg(seq.shape, ' ' ORDER BY seq.n) FILTER (WHERE seq.fresh)
		|| ' | end=' || coalesce((SELECT CASE WHEN shape ~ '^_?QUIT' THEN
			'quit' ELSE 'drop' END FROM c ORDER BY n DESC LIMIT 1), 'none')
		|| ' | tls=' || coalesce((SELECT split_part(tls, ' ', 1) FROM s),
			'none')
		|| ' | pipe=' || CASE WHEN EXISTS (
			SELECT FROM c WHERE gap_ms < 1 AND shape ~ '^_?(RCPT|DATA)')
			THEN 'yes' ELSE 'no' END
		|| ' | gap=' || coalesce((
			SELECT CASE WHEN g < 300 THEN '<300ms'
				WHEN g < 3000 THEN '<3s' ELSE '>=3s' END
			FROM (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap_ms)
				AS g FROM c WHERE gap_ms >= 1) AS m
			WHERE g IS NOT NULL), 'none')
	FROM seq
	HAVING count(*) > 0
$$;

COMMENT ON FUNCTION spamlab.dialect(uuid) IS
	'the SMTP dialect of a session: command shapes to the first DATA, end, TLS, pipelining, pause bucket';

-- A stable 16-hex-digit hash of the dialect: equal for sessions of the same
-- client software.
CREATE FUNCTION spamlab.dialect_hash(session_id uuid)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT left(md5(spamlab.dialect(session_id)), 16)
$$;

COMMENT ON FUNCTION spamlab.dialect_hash(uuid) IS
	'hash of spamlab.dialect(session_id): groups sessions by client software';

-- Dialects by sessions, with their peers, and their countries when the
-- spamlab extension's GeoIP lookups are installed and configured (else
-- countries is NULL).
CREATE FUNCTION spamlab.top_dialects(n int DEFAULT 20)
RETURNS TABLE (dialect_hash text, sessions bigint, peers bigint,
	messages bigint, top_peers inet[], countries text[], first_seen timestamptz,
	last_seen timestamptz, dialect text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	geo bool := to_regprocedure('spamlab.geoip_country(inet)') IS NOT NULL;
BEGIN
	IF n IS NULL OR n < 1 THEN
		RAISE EXCEPTION 'n must be at least 1'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass how many dialects to list, for example 20.';
	END IF;
	IF geo THEN
		BEGIN
			EXECUTE 'SELECT spamlab.geoip_country(''192.0.2.1''::inet)';
		EXCEPTION WHEN OTHERS THEN
			geo := false; -- no database configured
		END;
	END IF;
	RETURN QUERY
	WITH s AS (
		SELECT ses.id, ses.peer_ip, ses.started_at,
			spamlab.dialect_hash(ses.id) AS h
		FROM spamlab.smtp_session AS ses
	), g AS (
		SELECT h, count(*) AS sessions, count(DISTINCT peer_ip) AS peers,
			min(started_at) AS first_seen, max(started_at) AS last_seen,
			(array_agg(id ORDER BY started_at))[1] AS sample
		FROM s WHERE h IS NOT NULL GROUP BY h
		ORDER BY count(*) DESC, h LIMIT n
	)
	SELECT g.h, g.sessions, g.peers,
		(SELECT count(*) FROM spamlab.message AS m
			WHERE m.session_id IN (SELECT id FROM s WHERE s.h = g.h)),
		(SELECT array_agg(p ORDER BY cnt DESC, p) FROM (
			SELECT peer_ip AS p, count(*) AS cnt FROM s
			WHERE s.h = g.h AND peer_ip IS NOT NULL
			GROUP BY peer_ip ORDER BY cnt DESC, peer_ip LIMIT 5) AS tp),
		CASE WHEN geo THEN spamlab.dialect_countries(g.h) END,
		g.first_seen, g.last_seen, spamlab.dialect(g.sample)
	FROM g
	ORDER BY g.sessions DESC, g.h;
END
$$;

-- Countries of a dialect's peers (needs spamlab.geoip_country); called
-- only when that function works.
CREATE FUNCTION spamlab.dialect_countries(hash text)
RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r text[];
BEGIN
	EXECUTE 'SELECT array_agg(DISTINCT c ORDER BY c) FROM ('
		'SELECT spamlab.geoip_country(peer_ip) AS c'
		' FROM spamlab.smtp_session'
		' WHERE peer_ip IS NOT NULL AND spamlab.dialect_hash(id) = $1) AS x'
		' WHERE c IS NOT NULL'
		INTO r USING hash;
	RETURN r;
END
$$;

COMMENT ON FUNCTION spamlab.top_dialects(int) IS
	'the n commonest client dialects with their peers and countries';

GRANT EXECUTE ON FUNCTION spamlab.command_shape(text),
	spamlab.dialect(uuid), spamlab.dialect_hash(uuid),
	spamlab.top_dialects(int), spamlab.dialect_countries(text)
	TO spamlab_reader;
