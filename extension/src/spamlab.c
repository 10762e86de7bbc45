/*
 * spamlab.c: module entry point.
 *
 * Only _PG_init and the version function live here; each function family has
 * its own file (received.c, urls.c, mime.c, geoip.c, whois.c, ...).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "spamlab.h"

PG_MODULE_MAGIC;

void _PG_init(void);

/*
 * Register every module's settings once per backend, then reserve the
 * "spamlab." prefix so a typo in a setting name is reported, not ignored.
 */
void
_PG_init(void)
{
	mime_define_gucs();
	geoip_define_settings();
	whois_define_gucs();
	MarkGUCPrefixReserved("spamlab");
}

/* spamlab.version(): the version of the loaded shared library. */
PG_FUNCTION_INFO_V1(version);
Datum
version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(SPAMLAB_VERSION));
}
