-- core: the extension loads, lives in schema spamlab and reports its version.
SELECT spamlab.version() ~ '^\d+\.\d+\.\d+$' AS version_ok;
SELECT spamlab.version() = extversion AS library_matches_catalog
  FROM pg_extension WHERE extname = 'spamlab';
SELECT nspname, extrelocatable FROM pg_extension e
  JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'spamlab';
-- the prefix is reserved: a misspelt setting is refused
SET spamlab.no_such_setting = 'x';
-- freed heap a backend keeps for the next large message (glibc mallopt)
SHOW spamlab.heap_keep;
SET spamlab.heap_keep = '16MB';
SET spamlab.heap_keep = 0;
SET spamlab.heap_keep = -1;
RESET spamlab.heap_keep;
SHOW spamlab.heap_keep;
