/*
 * geoip.c: IP address geolocation and network owner from MaxMind DB files.
 *
 * spamlab.geoip(inet), spamlab.geoip_country(inet), spamlab.geoip_asn(inet)
 * and spamlab.geoip_databases() read .mmdb files through libmaxminddb.
 *
 * Two settings name the files: spamlab.geoip_city_db (a City or Country
 * database) and spamlab.geoip_asn_db (an ASN database).  Each is a comma
 * separated list of paths, searched in order, so that the separate IPv4 and
 * IPv6 files some distributions ship can be used together.  Both record
 * layouts in circulation are read: the nested GeoIP2 / GeoLite2 / DB-IP one
 * (country.iso_code, location.latitude, ...) and the flat one of the
 * ip-location-db project (country_code, state1, latitude, ...).
 *
 * Each file is mapped once per backend (MMDB_MODE_MMAP), on first use, and
 * kept open.  It is reopened when its setting changes, or when the file
 * itself changes (device, inode, size or mtime), which is checked at most
 * once per statement; replace files by rename so that a running query keeps
 * its mapping.  The files are closed at backend exit.
 *
 * Reading the fields out of a record is mmdbread.c (pure C, fuzzed by
 * fuzz/fuzz_mmdb.c); this file adds settings, caching, datums and errors.
 * libmaxminddb never calls back into PostgreSQL and a lookup allocates
 * nothing, so no PG_TRY is needed: every status is checked, results are
 * copied into palloc memory, and errors are raised only when no foreign
 * object is half built (a failed open is closed before ereport).
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <maxminddb.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "common/shortest_dec.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "storage/ipc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "country.h"
#include "mmdbread.h"
#include "spamlab.h"

/* at most this many files per setting */
#define GEOIP_MAX_FILES 8

typedef struct GeoipFile
{
	char *path; /* malloc'd */
	MMDB_s mmdb;
	MmdbLayout layout;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} GeoipFile;

/* One setting and the files it names, as opened in this backend. */
typedef struct GeoipDb
{
	const char *guc;     /* the setting's name */
	char **value;        /* the setting's variable */
	char *opened;        /* value the files were opened for (malloc) */
	TimestampTz checked; /* statement that last stat()ed the files */
	int nfiles;
	GeoipFile files[GEOIP_MAX_FILES];
} GeoipDb;

static char *geoip_city_db_setting = NULL;
static char *geoip_asn_db_setting = NULL;

static GeoipDb geoip_city_files = {"spamlab.geoip_city_db",
                                   &geoip_city_db_setting};
static GeoipDb geoip_asn_files = {"spamlab.geoip_asn_db",
                                  &geoip_asn_db_setting};

static bool geoip_exit_registered = false;

/* columns of spamlab.geoip_result: mmdbread's fields, then the network */
#define GEOIP_NETWORK  MMDBREAD_NFIELDS
#define GEOIP_NCOLUMNS (MMDBREAD_NFIELDS + 1)

/* An address ready for libmaxminddb, and what to report as its network. */
typedef struct GeoipAddr
{
	int family; /* PGSQL_AF_INET or PGSQL_AF_INET6 */
	unsigned char bytes[16];
	union
	{
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} sock;
} GeoipAddr;

/* A database match: the record and the matched prefix. */
typedef struct GeoipMatch
{
	GeoipFile *file;
	MMDB_entry_s entry;
	int netmask;
} GeoipMatch;

/*
 * Register the settings.  Superuser-only: they make the server map files.
 * No hook opens anything; files are opened at the first lookup.
 */
void
geoip_define_settings(void)
{
	DefineCustomStringVariable(
	    "spamlab.geoip_city_db", "MaxMind DB file(s) with countries or cities.",
	    "A comma-separated list of .mmdb paths, searched "
	    "in order.",
	    &geoip_city_db_setting, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable(
	    "spamlab.geoip_asn_db", "MaxMind DB file(s) with autonomous systems.",
	    "A comma-separated list of .mmdb paths, searched "
	    "in order.",
	    &geoip_asn_db_setting, "", PGC_SUSET, 0, NULL, NULL, NULL);
}

static bool
geoip_setting_empty(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != ',')
			return false;
	return true;
}

static void
geoip_close(GeoipDb *db)
{
	for (int i = 0; i < db->nfiles; i++)
	{
		MMDB_close(&db->files[i].mmdb);
		free(db->files[i].path);
	}
	db->nfiles = 0;
	free(db->opened);
	db->opened = NULL;
}

static void
geoip_exit(int code, Datum arg)
{
	geoip_close(&geoip_city_files);
	geoip_close(&geoip_asn_files);
}

/* Report a libmaxminddb failure on a file as corruption (or what it is). */
static void geoip_report(const GeoipDb *db, const char *path, int status,
                         int saved_errno) pg_attribute_noreturn();
static void geoip_corrupt(const GeoipMatch *m, const char *detail)
    pg_attribute_noreturn();

static void
geoip_report(const GeoipDb *db, const char *path, int status, int saved_errno)
{
	if (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR)
	{
		errno = saved_errno;
		ereport(ERROR,
		        (errcode_for_file_access(),
		         errmsg("could not open geoip database \"%s\": %m", path),
		         errhint("Check the path in %s; the file must be readable by "
		                 "the server's operating system user.",
		                 db->guc)));
	}
	if (status == MMDB_OUT_OF_MEMORY_ERROR)
		ereport(ERROR,
		        (errcode(ERRCODE_OUT_OF_MEMORY),
		         errmsg("out of memory reading geoip database \"%s\"", path)));
	ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
	                errmsg("geoip database \"%s\" is corrupt", path),
	                errdetail("libmaxminddb: %s.", MMDB_strerror(status)),
	                errhint("Replace the file named in %s.", db->guc)));
}

/* Split a setting into trimmed, non-empty paths (palloc'd). */
static int
geoip_split(const char *value, char **paths, const GeoipDb *db)
{
	int n = 0;
	const char *p = value;

	while (*p)
	{
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (n == GEOIP_MAX_FILES)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			                errmsg("%s names more than %d files", db->guc,
			                       GEOIP_MAX_FILES)));
		paths[n++] = pnstrdup(start, end - start);
	}
	return n;
}

/*
 * Open every file the setting names, or raise an ERROR leaving db closed.
 */
static void
geoip_open(GeoipDb *db)
{
	char *paths[GEOIP_MAX_FILES];
	int n = geoip_split(*db->value, paths, db);

	for (int i = 0; i < n; i++)
	{
		GeoipFile *f = &db->files[i];
		struct stat st;
		int status;
		int saved_errno;
		const char *problem;

		if (stat(paths[i], &st) != 0)
		{
			saved_errno = errno;
			geoip_close(db);
			geoip_report(db, paths[i], MMDB_FILE_OPEN_ERROR, saved_errno);
		}
		errno = 0;
		status = MMDB_open(paths[i], MMDB_MODE_MMAP, &f->mmdb);
		saved_errno = errno;
		if (status != MMDB_SUCCESS)
		{
			geoip_close(db);
			geoip_report(db, paths[i], status, saved_errno);
		}
		if ((problem = mmdbread_bad_metadata(&f->mmdb)) != NULL)
		{
			MMDB_close(&f->mmdb);
			geoip_close(db);
			ereport(ERROR,
			        (errcode(ERRCODE_DATA_CORRUPTED),
			         errmsg("geoip database \"%s\" is corrupt", paths[i]),
			         errdetail("Its metadata is invalid: %s.", problem),
			         errhint("Replace the file named in %s.", db->guc)));
		}
		f->path = strdup(paths[i]);
		if (f->path == NULL)
		{
			MMDB_close(&f->mmdb);
			geoip_close(db);
			ereport(ERROR,
			        (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		f->layout = MMDB_LAYOUT_UNKNOWN;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->size = st.st_size;
		f->mtime = st.st_mtim;
		db->nfiles = i + 1;
	}
	db->opened = strdup(*db->value);
	if (db->opened == NULL)
	{
		geoip_close(db);
		ereport(ERROR,
		        (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	db->checked = GetCurrentStatementStartTimestamp();
	if (!geoip_exit_registered)
	{
		on_proc_exit(geoip_exit, 0);
		geoip_exit_registered = true;
	}
}

/* Has any open file been replaced or changed since it was opened? */
static bool
geoip_files_changed(const GeoipDb *db)
{
	for (int i = 0; i < db->nfiles; i++)
	{
		const GeoipFile *f = &db->files[i];
		struct stat st;

		if (stat(f->path, &st) != 0 || st.st_dev != f->dev ||
		    st.st_ino != f->ino || st.st_size != f->size ||
		    st.st_mtim.tv_sec != f->mtime.tv_sec ||
		    st.st_mtim.tv_nsec != f->mtime.tv_nsec)
			return true;
	}
	return false;
}

/*
 * Make db's files usable for a lookup.  Returns false when the setting is
 * empty; with required, that is an ERROR naming the setting.
 */
static bool
geoip_ready(GeoipDb *db, bool required)
{
	const char *value = *db->value;

	if (geoip_setting_empty(value))
	{
		if (db->opened)
			geoip_close(db);
		if (required)
			ereport(ERROR,
			        (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			         errmsg("%s is not set", db->guc),
			         errhint("Set %s to the path of a MaxMind DB (.mmdb) file; "
			                 "\"make geoip-db\" installs free ones.",
			                 db->guc)));
		return false;
	}
	if (db->opened && strcmp(db->opened, value) == 0)
	{
		TimestampTz stmt = GetCurrentStatementStartTimestamp();

		if (db->checked == stmt)
			return true;
		db->checked = stmt;
		if (!geoip_files_changed(db))
			return true;
	}
	if (db->opened)
		geoip_close(db);
	geoip_open(db);
	return true;
}

/*
 * Read an inet into a GeoipAddr.  Returns false for special-purpose
 * addresses (private, loopback, documentation, multicast, ...: see
 * mmdbread_special), which no database should answer for; some real ones
 * do, with whois noise.  IPv4-mapped and NAT64 IPv6 addresses are looked
 * up as the IPv4 address they carry.
 */
static bool
geoip_addr(inet *ip, GeoipAddr *a)
{
	const unsigned char *b = ip_addr(ip);
	const unsigned char *v4;

	memset(a, 0, sizeof(*a));
	if (mmdbread_special(b, ip_family(ip) == PGSQL_AF_INET6, &v4))
		return false;
	if (ip_family(ip) == PGSQL_AF_INET6 && v4 == NULL)
	{
		a->family = PGSQL_AF_INET6;
		memcpy(a->bytes, b, 16);
		a->sock.sin6.sin6_family = AF_INET6;
		memcpy(&a->sock.sin6.sin6_addr, b, 16);
		return true;
	}
	if (v4)
		b = v4;
	a->family = PGSQL_AF_INET;
	memcpy(a->bytes, b, 4);
	a->sock.sin.sin_family = AF_INET;
	memcpy(&a->sock.sin.sin_addr, b, 4);
	return true;
}

/*
 * Find addr in db's files, first match wins.  A file of the wrong address
 * family (an IPv6 address in an IPv4-only file) is skipped.
 */
static bool
geoip_find(const GeoipDb *db, const GeoipAddr *a, GeoipMatch *m)
{
	for (int i = 0; i < db->nfiles; i++)
	{
		GeoipFile *f = (GeoipFile *)&db->files[i];
		MMDB_lookup_result_s r;
		int status = MMDB_SUCCESS;

		r = MMDB_lookup_sockaddr(&f->mmdb, &a->sock.sa, &status);
		if (status == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
			continue;
		if (status != MMDB_SUCCESS)
			geoip_report(db, f->path, status, 0);
		if (!r.found_entry)
			continue;
		m->file = f;
		m->entry = r.entry;
		m->netmask = r.netmask;
		/* an IPv4 address in an IPv6 tree matches below ::/96 */
		if (a->family == PGSQL_AF_INET && f->mmdb.metadata.ip_version == 6)
			m->netmask = m->netmask >= 96 ? m->netmask - 96 : 0;
		return true;
	}
	return false;
}

/* The matched network as a cidr datum. */
static Datum
geoip_network(const GeoipAddr *a, int netmask)
{
	inet *res = (inet *)palloc0(sizeof(inet));
	int maxbits = a->family == PGSQL_AF_INET ? 32 : 128;
	int bits = Min(Max(netmask, 0), maxbits);
	unsigned char *dst = ip_addr(res);

	ip_family(res) = a->family;
	ip_bits(res) = bits;
	memcpy(dst, a->bytes, maxbits / 8);
	for (int i = 0; i < maxbits / 8; i++)
	{
		int keep = bits - i * 8;

		if (keep <= 0)
			dst[i] = 0;
		else if (keep < 8)
			dst[i] &= (unsigned char)(0xff << (8 - keep));
	}
	SET_INET_VARSIZE(res);
	return InetPGetDatum(res);
}

static void
geoip_corrupt(const GeoipMatch *m, const char *detail)
{
	ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
	                errmsg("geoip database \"%s\" is corrupt", m->file->path),
	                errdetail("%s", detail)));
}

/* Raise the error for a libmaxminddb status from reading a record. */
static void
geoip_check(const GeoipMatch *m, int status)
{
	if (status != MMDB_SUCCESS)
		geoip_corrupt(m, psprintf("libmaxminddb: %s.", MMDB_strerror(status)));
}

/*
 * Fields read by mmdbread as datums.  Strings must be valid UTF-8 (and are
 * converted to the database encoding); single-precision coordinates (the
 * flat layout) are widened through their shortest decimal form, so
 * 37.422001f reads 37.422.
 */
static void
geoip_datums(const GeoipMatch *m, const MmdbField *f, int first, int last,
             Datum *v, bool *n)
{
	for (int i = first; i <= last; i++)
	{
		char buf[FLOAT_SHORTEST_DECIMAL_LEN];
		char *s;

		n[i] = false;
		switch (f[i].kind)
		{
			case MMDB_KIND_NONE:
				n[i] = true;
				break;
			case MMDB_KIND_STRING:
				if (pg_encoding_verifymbstr(PG_UTF8, f[i].str, f[i].len) !=
				    (int)f[i].len)
					geoip_corrupt(m, "A record holds a string that is not "
					                 "valid UTF-8.");
				/* converts and NUL-terminates, or returns the input */
				s = pg_any_to_server(f[i].str, f[i].len, PG_UTF8);
				v[i] = PointerGetDatum(cstring_to_text_with_len(
				    s, s == f[i].str ? (int)f[i].len : (int)strlen(s)));
				break;
			case MMDB_KIND_DOUBLE:
				v[i] = Float8GetDatum(f[i].dbl);
				break;
			case MMDB_KIND_FLOAT:
				float_to_shortest_decimal_buf(f[i].flt, buf);
				v[i] = Float8GetDatum(strtod(buf, NULL));
				break;
			case MMDB_KIND_INT:
				v[i] = Int64GetDatum(f[i].i64);
				break;
		}
	}
}

/*
 * The flat layout stores only the country code: add the country's name and
 * continent from the built-in table (country.c).
 */
static void
geoip_country_names(const MmdbField *f, Datum *v, bool *n)
{
	const MmdbField *code = &f[MMDBREAD_COUNTRY_CODE];
	const char *name, *continent;

	if (code->kind != MMDB_KIND_STRING ||
	    !country_lookup(code->str, code->len, &name, &continent))
		return;
	if (n[MMDBREAD_COUNTRY_NAME])
	{
		v[MMDBREAD_COUNTRY_NAME] =
		    CStringGetTextDatum(pg_any_to_server(name, strlen(name), PG_UTF8));
		n[MMDBREAD_COUNTRY_NAME] = false;
	}
	if (n[MMDBREAD_CONTINENT])
	{
		v[MMDBREAD_CONTINENT] = CStringGetTextDatum(continent);
		n[MMDBREAD_CONTINENT] = false;
	}
}

/*
 * spamlab.geoip(ip inet) -> spamlab.geoip_result: location from the city
 * database, network owner from the ASN database.  Either setting may be
 * empty (its columns are then NULL), not both.  NULL when nothing matched.
 */
PG_FUNCTION_INFO_V1(geoip);
Datum
geoip(PG_FUNCTION_ARGS)
{
	inet *ip = PG_GETARG_INET_PP(0);
	TupleDesc tupdesc = (TupleDesc)fcinfo->flinfo->fn_extra;
	GeoipAddr a;
	GeoipMatch city, asn;
	bool have_city, have_asn;
	bool found_city = false, found_asn = false;
	MmdbField f[MMDBREAD_NFIELDS];
	Datum v[GEOIP_NCOLUMNS];
	bool n[GEOIP_NCOLUMNS];

	have_city = geoip_ready(&geoip_city_files, false);
	have_asn = geoip_ready(&geoip_asn_files, false);
	if (!have_city && !have_asn)
		ereport(
		    ERROR,
		    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		     errmsg("neither spamlab.geoip_city_db nor spamlab.geoip_asn_db "
		            "is set"),
		     errhint("Set spamlab.geoip_city_db, spamlab.geoip_asn_db or "
		             "both to the path of a MaxMind DB (.mmdb) file; "
		             "\"make geoip-db\" installs free ones.")));

	if (!geoip_addr(ip, &a))
		PG_RETURN_NULL();
	if (have_city)
		found_city = geoip_find(&geoip_city_files, &a, &city);
	if (have_asn)
		found_asn = geoip_find(&geoip_asn_files, &a, &asn);
	if (!found_city && !found_asn)
		PG_RETURN_NULL();

	/* a record without any field we report counts as no match */
	memset(f, 0, sizeof(f));
	if (found_city)
	{
		geoip_check(&city,
		            mmdbread_location(&city.entry, &city.file->layout, f));
		found_city = mmdbread_any(f, MMDBREAD_COUNTRY_CODE, MMDBREAD_TIME_ZONE);
	}
	if (found_asn)
	{
		geoip_check(&asn, mmdbread_asn(&asn.entry, f));
		found_asn = mmdbread_any(f, MMDBREAD_ASN, MMDBREAD_AS_ORG);
	}
	if (!found_city && !found_asn)
		PG_RETURN_NULL();
	if (found_city)
	{
		geoip_datums(&city, f, MMDBREAD_COUNTRY_CODE, MMDBREAD_TIME_ZONE, v, n);
		if (city.file->layout == MMDB_LAYOUT_FLAT)
			geoip_country_names(f, v, n);
	}
	else
		memset(n, true, sizeof(bool) * (MMDBREAD_TIME_ZONE + 1));
	if (found_asn)
		geoip_datums(&asn, f, MMDBREAD_ASN, MMDBREAD_AS_ORG, v, n);
	else
		n[MMDBREAD_ASN] = n[MMDBREAD_AS_ORG] = true;
	v[GEOIP_NETWORK] =
	    geoip_network(&a, found_city ? city.netmask : asn.netmask);
	n[GEOIP_NETWORK] = false;

	if (tupdesc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "geoip() must return a composite type");
		if (tupdesc->natts != GEOIP_NCOLUMNS)
			elog(ERROR, "geoip() result type has %d columns, expected %d",
			     tupdesc->natts, GEOIP_NCOLUMNS);
		tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		fcinfo->flinfo->fn_extra = tupdesc;
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

/* spamlab.geoip_country(ip inet) -> text: the ISO 3166 country code only. */
PG_FUNCTION_INFO_V1(geoip_country);
Datum
geoip_country(PG_FUNCTION_ARGS)
{
	inet *ip = PG_GETARG_INET_PP(0);
	GeoipAddr a;
	GeoipMatch m;
	MmdbField f[MMDBREAD_NFIELDS];
	Datum v[MMDBREAD_NFIELDS];
	bool n[MMDBREAD_NFIELDS];

	geoip_ready(&geoip_city_files, true);
	if (!geoip_addr(ip, &a) || !geoip_find(&geoip_city_files, &a, &m))
		PG_RETURN_NULL();
	memset(f, 0, sizeof(f));
	geoip_check(&m, mmdbread_country(&m.entry, m.file->layout, f));
	geoip_datums(&m, f, MMDBREAD_COUNTRY_CODE, MMDBREAD_COUNTRY_CODE, v, n);
	if (n[MMDBREAD_COUNTRY_CODE])
		PG_RETURN_NULL();
	PG_RETURN_DATUM(v[MMDBREAD_COUNTRY_CODE]);
}

/* spamlab.geoip_asn(ip inet) -> bigint: the autonomous system number. */
PG_FUNCTION_INFO_V1(geoip_asn);
Datum
geoip_asn(PG_FUNCTION_ARGS)
{
	inet *ip = PG_GETARG_INET_PP(0);
	GeoipAddr a;
	GeoipMatch m;
	MmdbField f[MMDBREAD_NFIELDS];

	geoip_ready(&geoip_asn_files, true);
	if (!geoip_addr(ip, &a) || !geoip_find(&geoip_asn_files, &a, &m))
		PG_RETURN_NULL();
	memset(f, 0, sizeof(f));
	geoip_check(&m, mmdbread_asn(&m.entry, f));
	if (f[MMDBREAD_ASN].kind != MMDB_KIND_INT)
		PG_RETURN_NULL();
	PG_RETURN_INT64(f[MMDBREAD_ASN].i64);
}

/* seconds since 1970 as timestamptz, NULL when out of range */
static bool
geoip_epoch(uint64 epoch, Datum *value)
{
	/* the range of timestamptz, in seconds since 1970, roughly */
	if (epoch > (uint64)9000000000000ULL)
		return false;
	*value = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t)epoch));
	return true;
}

/* a NUL-terminated UTF-8 string from metadata as text, if valid */
static bool
geoip_cstring(const char *s, Datum *value)
{
	int len;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (pg_encoding_verifymbstr(PG_UTF8, s, len) != len)
		return false;
	*value = CStringGetTextDatum(pg_any_to_server(s, len, PG_UTF8));
	return true;
}

static void
geoip_databases_add(ReturnSetInfo *rsinfo, const GeoipDb *db)
{
	for (int i = 0; i < db->nfiles; i++)
	{
		const MMDB_metadata_s *md = &db->files[i].mmdb.metadata;
		Datum v[8];
		bool n[8] = {0};
		const char *desc = NULL;

		v[0] = CStringGetTextDatum(db->guc);
		v[1] = CStringGetTextDatum(db->files[i].path);
		n[2] = !geoip_cstring(md->database_type, &v[2]);
		v[3] = Int32GetDatum(md->ip_version);
		v[4] = Int32GetDatum(md->record_size);
		v[5] = Int64GetDatum(md->node_count);
		n[6] = !geoip_epoch(md->build_epoch, &v[6]);
		for (size_t j = 0; j < md->description.count; j++)
		{
			const MMDB_description_s *d = md->description.descriptions[j];

			if (d && d->language && d->description &&
			    strcmp(d->language, "en") == 0)
				desc = d->description;
		}
		n[7] = !geoip_cstring(desc, &v[7]);
		tuplestore_putvalues(rsinfo->setResult, spamlab_srf_desc(rsinfo), v, n);
	}
}

static void
geoip_tick(void *arg)
{
	CHECK_FOR_INTERRUPTS();
}

/* Check a whole file (mmdbread_verify); only on request: it reads it all. */
static void
geoip_verify_file(const GeoipDb *db, const GeoipFile *f)
{
	uint8 *referenced, *decoded;
	uint32 node = 0;
	const char *problem;

	referenced = palloc_extended(mmdbread_verify_node_bytes(&f->mmdb),
	                             MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	decoded = palloc_extended(mmdbread_verify_data_bytes(&f->mmdb),
	                          MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	problem =
	    mmdbread_verify(&f->mmdb, referenced, decoded, geoip_tick, NULL, &node);
	if (problem)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
		                errmsg("geoip database \"%s\" is corrupt", f->path),
		                errdetail("Search tree node %u: %s.", node, problem),
		                errhint("Replace the file named in %s.", db->guc)));
	pfree(referenced);
	pfree(decoded);
}

/*
 * spamlab.geoip_databases(verify bool): the files each setting names,
 * opened (so that a bad path or a corrupt file is reported), with their
 * metadata; with verify, every file is checked completely first.
 */
PG_FUNCTION_INFO_V1(geoip_databases);
Datum
geoip_databases(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	bool verify = PG_GETARG_BOOL(0);
	GeoipDb *dbs[] = {&geoip_city_files, &geoip_asn_files};

	spamlab_srf_begin(fcinfo);
	for (int i = 0; i < lengthof(dbs); i++)
	{
		if (!geoip_ready(dbs[i], false))
			continue;
		for (int j = 0; verify && j < dbs[i]->nfiles; j++)
			geoip_verify_file(dbs[i], &dbs[i]->files[j]);
		geoip_databases_add(rsinfo, dbs[i]);
	}
	return (Datum)0;
}
