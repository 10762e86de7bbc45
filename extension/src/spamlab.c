/*
 * spamlab.c: module entry point.
 *
 * _PG_init, the version function and what every family shares (the backend's
 * heap setting, the start of a set result) live here; each function family
 * has its own file (received.c, urls.c, mime.c, geoip.c, whois.c, ...).
 */
#include "postgres.h"

#include <malloc.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

#include "spamlab.h"

PG_MODULE_MAGIC;

void _PG_init(void);

/*
 * spamlab.heap_keep: freed heap memory a backend keeps for reuse.
 *
 * extract_urls(), attachments() and body_text() detoast whole messages,
 * often several MB each.  glibc serves such blocks with mmap or from the
 * top of the heap and gives them back on free (munmap, or trimming the
 * heap once more than twice the last big block is free), so the next
 * message faults every page in again: a fresh backend ran extract_urls at
 * a third of the speed of one whose heap had grown for other reasons.
 * Keeping up to heap_keep free and serving blocks up to half of it from
 * the heap removes that (docs/sql.md has the numbers).  0 sets glibc's
 * fixed 128 kB thresholds; its adaptive ones cannot be restored once set.
 */
static int heap_keep_kb;

static void
heap_keep_assign(int newval, void *extra)
{
	if (newval > 0)
	{
		/* glibc caps the mmap threshold at 32 MB on 64-bit systems */
		mallopt(M_MMAP_THRESHOLD, Min(newval / 2, 32 * 1024) * 1024);
		mallopt(M_TRIM_THRESHOLD, newval * 1024);
	}
	else
	{
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
		mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	}
}

/*
 * Register every module's settings once per backend, then reserve the
 * "spamlab." prefix so a typo in a setting name is reported, not ignored.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable(
	    "spamlab.heap_keep",
	    "Freed heap memory a backend keeps for the next large message.",
	    "Avoids returning and re-faulting the memory of every detoasted "
	    "message; 0 sets glibc's fixed 128 kB thresholds.",
	    &heap_keep_kb, 64 * 1024, 0, 1024 * 1024, PGC_USERSET, GUC_UNIT_KB,
	    NULL, heap_keep_assign, NULL);
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

/*
 * Start a materialized set result: like InitMaterializedSRF(fcinfo, 0),
 * which looks the row type up in the catalogs and copies it on every call
 * (then the executor checks and frees the copy), but forming rows with the
 * descriptor the executor already holds for this call site.  setDesc stays
 * NULL, which tells the executor there is no descriptor to check or free;
 * spamlab_srf_desc() gives the descriptor to form rows with.
 */
void
spamlab_srf_begin(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	MemoryContext old;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
	    !(rsinfo->allowedModes & SFRM_Materialize) ||
	    rsinfo->expectedDesc == NULL)
	{
		/* an unusual caller: the general path, with its checks */
		InitMaterializedSRF(fcinfo, 0);
		return;
	}
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	store = tuplestore_begin_heap(
	    (rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false, work_mem);
	MemoryContextSwitchTo(old);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = NULL;
}
