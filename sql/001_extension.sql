-- The spamlab extension: parsers and enrichment functions the schema and the
-- reports use.  Its objects live in schema spamlab, next to these tables.
CREATE EXTENSION IF NOT EXISTS spamlab;
