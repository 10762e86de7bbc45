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

#include "spamlab.h"

/* at most this many files per setting */
#define GEOIP_MAX_FILES 8

/* How a database's records are laid out; learnt from its first record. */
typedef enum GeoipLayout
{
	GEOIP_LAYOUT_UNKNOWN,
	GEOIP_LAYOUT_NESTED, /* GeoIP2, GeoLite2, DB-IP */
	GEOIP_LAYOUT_FLAT    /* ip-location-db */
} GeoipLayout;

typedef struct GeoipFile
{
	char *path; /* malloc'd */
	MMDB_s mmdb;
	GeoipLayout layout;
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

/* columns of spamlab.geoip_result */
enum
{
	GEOIP_COUNTRY_CODE,
	GEOIP_COUNTRY_NAME,
	GEOIP_CONTINENT,
	GEOIP_SUBDIVISION,
	GEOIP_CITY,
	GEOIP_POSTAL_CODE,
	GEOIP_LATITUDE,
	GEOIP_LONGITUDE,
	GEOIP_TIME_ZONE,
	GEOIP_ASN,
	GEOIP_AS_ORG,
	GEOIP_NETWORK,
	GEOIP_NCOLUMNS
};

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
static void geoip_bad_value(const GeoipMatch *m, const char *what)
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

/* latest build_epoch accepted: the end of the year 9999 */
#define GEOIP_MAX_EPOCH UINT64CONST(253402300799)

/*
 * Check what libmaxminddb takes on trust in the metadata; true (with the
 * problem) when the file cannot be a valid MaxMind DB.
 */
static bool
geoip_bad_metadata(const MMDB_s *mmdb, const char **problem)
{
	const MMDB_metadata_s *md = &mmdb->metadata;

	if (md->binary_format_major_version != 2)
		*problem = "the binary format's major version is not 2";
	else if (md->ip_version != 4 && md->ip_version != 6)
		*problem = "ip_version is neither 4 nor 6";
	else if (md->record_size != 24 && md->record_size != 28 &&
	         md->record_size != 32)
		*problem = "record_size is not 24, 28 or 32";
	else if (md->node_count == 0)
		*problem = "node_count is zero";
	else if (md->build_epoch > GEOIP_MAX_EPOCH)
		*problem = "build_epoch is after the year 9999";
	else
		return false;
	return true;
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
		if (geoip_bad_metadata(&f->mmdb, &problem))
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
		f->layout = GEOIP_LAYOUT_UNKNOWN;
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
 * Read an inet into a GeoipAddr.  Returns false for addresses no database
 * should answer for: private, loopback, link-local, documentation,
 * multicast and other special-purpose ranges (RFC 6890 and successors).
 * IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) IPv6 addresses are
 * looked up as the IPv4 address they carry.
 */
static bool
geoip_addr(inet *ip, GeoipAddr *a)
{
	const unsigned char *b = ip_addr(ip);

	memset(a, 0, sizeof(*a));
	if (ip_family(ip) == PGSQL_AF_INET6)
	{
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
		                                         0, 0, 0, 0, 0xff, 0xff};
		static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

		if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
			b += 12; /* fall through to IPv4 */
		else
		{
			/* ::/8 (unspecified, loopback, IPv4-compatible) */
			if (b[0] == 0)
				return false;
			/* 100::/64 discard-only */
			if (b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 &&
			    b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0)
				return false;
			/* 2001:2::/48 benchmarking, 2001:10::/28 and 2001:20::/28 ORCHID */
			if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 &&
			    ((b[3] == 0x02 && b[4] == 0 && b[5] == 0) ||
			     (b[3] & 0xf0) == 0x10 || (b[3] & 0xf0) == 0x20))
				return false;
			/* 2001:db8::/32 and 3fff::/20 documentation */
			if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
				return false;
			if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0)
				return false;
			/* fc00::/7 unique local, fe80::/10 link-local, fec0::/10, ff00::/8 */
			if ((b[0] & 0xfe) == 0xfc || b[0] == 0xfe || b[0] == 0xff)
				return false;
			a->family = PGSQL_AF_INET6;
			memcpy(a->bytes, b, 16);
			a->sock.sin6.sin6_family = AF_INET6;
			memcpy(&a->sock.sin6.sin6_addr, b, 16);
			return true;
		}
	}
	/* IPv4 */
	switch (b[0])
	{
		case 0:   /* "this network" */
		case 10:  /* private */
		case 127: /* loopback */
			return false;
		case 100: /* 100.64.0.0/10 shared address space */
			if ((b[1] & 0xc0) == 64)
				return false;
			break;
		case 169: /* 169.254.0.0/16 link-local */
			if (b[1] == 254)
				return false;
			break;
		case 172: /* 172.16.0.0/12 private */
			if ((b[1] & 0xf0) == 16)
				return false;
			break;
		case 192:
			/* 192.0.0.0/24 IETF, 192.0.2.0/24 documentation, 192.168/16 */
			if ((b[1] == 0 && (b[2] == 0 || b[2] == 2)) || b[1] == 168)
				return false;
			break;
		case 198:
			/* 198.18.0.0/15 benchmarking, 198.51.100.0/24 documentation */
			if ((b[1] & 0xfe) == 18 || (b[1] == 51 && b[2] == 100))
				return false;
			break;
		case 203: /* 203.0.113.0/24 documentation */
			if (b[1] == 0 && b[2] == 113)
				return false;
			break;
		default:
			if (b[0] >= 224) /* multicast, reserved, broadcast */
				return false;
			break;
	}
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

/*
 * Look up path below entry.  Returns true with data filled when the value
 * exists; a path that does not fit the record (a string where a map was
 * expected) counts as absent, anything else is a corrupt database.
 */
static bool
geoip_get(const GeoipMatch *m, MMDB_entry_s *entry, const char *const *path,
          MMDB_entry_data_s *data)
{
	int status = MMDB_aget_value(entry, data, path);

	if (status == MMDB_SUCCESS)
		return data->has_data;
	if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
	    status == MMDB_INVALID_LOOKUP_PATH_ERROR)
		return false;
	ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
	                errmsg("geoip database \"%s\" is corrupt", m->file->path),
	                errdetail("libmaxminddb: %s.", MMDB_strerror(status))));
}

static void
geoip_bad_value(const GeoipMatch *m, const char *what)
{
	ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
	                errmsg("geoip database \"%s\" is corrupt", m->file->path),
	                errdetail("A record holds %s.", what)));
}

/* A text value; empty strings (the flat layout's "no data") are absent. */
static bool
geoip_text(const GeoipMatch *m, MMDB_entry_s *entry, const char *const *path,
           Datum *value)
{
	MMDB_entry_data_s d;
	char *s;

	if (!geoip_get(m, entry, path, &d) ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size == 0)
		return false;
	if (pg_encoding_verifymbstr(PG_UTF8, d.utf8_string, d.data_size) !=
	    (int)d.data_size)
		geoip_bad_value(m, "a string that is not valid UTF-8");
	/* converts and NUL-terminates, or returns the input as it is */
	s = pg_any_to_server(d.utf8_string, d.data_size, PG_UTF8);
	*value = PointerGetDatum(cstring_to_text_with_len(
	    s, s == d.utf8_string ? (int)d.data_size : (int)strlen(s)));
	return true;
}

/*
 * A coordinate.  Single-precision values (the flat layout) are widened
 * through their shortest decimal form, so 37.422001f reads 37.422001.
 */
static bool
geoip_float8(const GeoipMatch *m, MMDB_entry_s *entry, const char *const *path,
             Datum *value)
{
	MMDB_entry_data_s d;

	if (!geoip_get(m, entry, path, &d))
		return false;
	if (d.type == MMDB_DATA_TYPE_DOUBLE)
		*value = Float8GetDatum(d.double_value);
	else if (d.type == MMDB_DATA_TYPE_FLOAT)
	{
		char buf[FLOAT_SHORTEST_DECIMAL_LEN];

		float_to_shortest_decimal_buf(d.float_value, buf);
		*value = Float8GetDatum(strtod(buf, NULL));
	}
	else
		return false;
	return true;
}

static bool
geoip_int8(const GeoipMatch *m, MMDB_entry_s *entry, const char *const *path,
           Datum *value)
{
	MMDB_entry_data_s d;

	if (!geoip_get(m, entry, path, &d))
		return false;
	switch (d.type)
	{
		case MMDB_DATA_TYPE_UINT16:
			*value = Int64GetDatum(d.uint16);
			return true;
		case MMDB_DATA_TYPE_UINT32:
			*value = Int64GetDatum(d.uint32);
			return true;
		case MMDB_DATA_TYPE_INT32:
			*value = Int64GetDatum(d.int32);
			return true;
		case MMDB_DATA_TYPE_UINT64:
			if (d.uint64 > (uint64)PG_INT64_MAX)
				return false;
			*value = Int64GetDatum((int64)d.uint64);
			return true;
		default:
			return false;
	}
}

/* The map at path below entry, as an entry to look up further in. */
static bool
geoip_map(const GeoipMatch *m, MMDB_entry_s *entry, const char *const *path,
          MMDB_entry_s *sub)
{
	MMDB_entry_data_s d;

	if (!geoip_get(m, entry, path, &d) || d.type != MMDB_DATA_TYPE_MAP)
		return false;
	sub->mmdb = entry->mmdb;
	sub->offset = d.offset;
	return true;
}

#define PATH(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Fill the location columns from a GeoIP2-style record; true if any. */
static bool
geoip_read_nested(const GeoipMatch *m, Datum *v, bool *n)
{
	MMDB_entry_s e = m->entry;
	MMDB_entry_s sub;
	bool any = false;

	if (geoip_map(m, &e, PATH("country"), &sub))
	{
		any = true;
		n[GEOIP_COUNTRY_CODE] =
		    !geoip_text(m, &sub, PATH("iso_code"), &v[GEOIP_COUNTRY_CODE]);
		n[GEOIP_COUNTRY_NAME] =
		    !geoip_text(m, &sub, PATH("names", "en"), &v[GEOIP_COUNTRY_NAME]);
	}
	if (geoip_map(m, &e, PATH("continent"), &sub))
	{
		any = true;
		n[GEOIP_CONTINENT] =
		    !geoip_text(m, &sub, PATH("code"), &v[GEOIP_CONTINENT]);
	}
	if (geoip_text(m, &e, PATH("subdivisions", "0", "names", "en"),
	               &v[GEOIP_SUBDIVISION]))
		any = true, n[GEOIP_SUBDIVISION] = false;
	if (geoip_text(m, &e, PATH("city", "names", "en"), &v[GEOIP_CITY]))
		any = true, n[GEOIP_CITY] = false;
	if (geoip_text(m, &e, PATH("postal", "code"), &v[GEOIP_POSTAL_CODE]))
		any = true, n[GEOIP_POSTAL_CODE] = false;
	if (geoip_map(m, &e, PATH("location"), &sub))
	{
		any = true;
		n[GEOIP_LATITUDE] =
		    !geoip_float8(m, &sub, PATH("latitude"), &v[GEOIP_LATITUDE]);
		n[GEOIP_LONGITUDE] =
		    !geoip_float8(m, &sub, PATH("longitude"), &v[GEOIP_LONGITUDE]);
		n[GEOIP_TIME_ZONE] =
		    !geoip_text(m, &sub, PATH("time_zone"), &v[GEOIP_TIME_ZONE]);
	}
	return any;
}

/* Fill the location columns from an ip-location-db record; true if any. */
static bool
geoip_read_flat(const GeoipMatch *m, Datum *v, bool *n)
{
	MMDB_entry_s e = m->entry;
	static const struct
	{
		int col;
		const char *key;
	} keys[] = {
	    {GEOIP_COUNTRY_CODE, "country_code"},
	    {GEOIP_SUBDIVISION, "state1"},
	    {GEOIP_CITY, "city"},
	    {GEOIP_POSTAL_CODE, "postcode"},
	    {GEOIP_LATITUDE, "latitude"},
	    {GEOIP_LONGITUDE, "longitude"},
	    {GEOIP_TIME_ZONE, "timezone"},
	};
	bool any = false;

	for (int i = 0; i < lengthof(keys); i++)
	{
		const char *const path[] = {keys[i].key, NULL};
		int col = keys[i].col;
		bool found;

		if (col == GEOIP_LATITUDE || col == GEOIP_LONGITUDE)
			found = geoip_float8(m, &e, path, &v[col]);
		else
			found = geoip_text(m, &e, path, &v[col]);
		if (found)
			any = true, n[col] = false;
	}
	return any;
}

/* Read a city/country record in whichever layout its database uses. */
static void
geoip_read_location(GeoipMatch *m, Datum *v, bool *n)
{
	GeoipFile *f = m->file;

	switch (f->layout)
	{
		case GEOIP_LAYOUT_NESTED:
			geoip_read_nested(m, v, n);
			break;
		case GEOIP_LAYOUT_FLAT:
			geoip_read_flat(m, v, n);
			break;
		case GEOIP_LAYOUT_UNKNOWN:
			if (geoip_read_nested(m, v, n))
				f->layout = GEOIP_LAYOUT_NESTED;
			else if (geoip_read_flat(m, v, n))
				f->layout = GEOIP_LAYOUT_FLAT;
			break;
	}
}

static void
geoip_read_asn(const GeoipMatch *m, Datum *v, bool *n)
{
	MMDB_entry_s e = m->entry;

	n[GEOIP_ASN] =
	    !geoip_int8(m, &e, PATH("autonomous_system_number"), &v[GEOIP_ASN]);
	n[GEOIP_AS_ORG] = !geoip_text(m, &e, PATH("autonomous_system_organization"),
	                              &v[GEOIP_AS_ORG]);
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
	memset(v, 0, sizeof(v));
	memset(n, true, sizeof(n));
	if (found_city)
	{
		geoip_read_location(&city, v, n);
		found_city = false;
		for (int i = GEOIP_COUNTRY_CODE; i <= GEOIP_TIME_ZONE; i++)
			found_city |= !n[i];
	}
	if (found_asn)
	{
		geoip_read_asn(&asn, v, n);
		found_asn = !n[GEOIP_ASN] || !n[GEOIP_AS_ORG];
	}
	if (!found_city && !found_asn)
		PG_RETURN_NULL();
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
	MMDB_entry_s e;
	Datum code;

	geoip_ready(&geoip_city_files, true);
	if (!geoip_addr(ip, &a) || !geoip_find(&geoip_city_files, &a, &m))
		PG_RETURN_NULL();
	e = m.entry;
	if (m.file->layout != GEOIP_LAYOUT_FLAT &&
	    geoip_text(&m, &e, PATH("country", "iso_code"), &code))
		PG_RETURN_DATUM(code);
	if (m.file->layout != GEOIP_LAYOUT_NESTED &&
	    geoip_text(&m, &e, PATH("country_code"), &code))
		PG_RETURN_DATUM(code);
	PG_RETURN_NULL();
}

/* spamlab.geoip_asn(ip inet) -> bigint: the autonomous system number. */
PG_FUNCTION_INFO_V1(geoip_asn);
Datum
geoip_asn(PG_FUNCTION_ARGS)
{
	inet *ip = PG_GETARG_INET_PP(0);
	GeoipAddr a;
	GeoipMatch m;
	MMDB_entry_s e;
	Datum asnum;

	geoip_ready(&geoip_asn_files, true);
	if (!geoip_addr(ip, &a) || !geoip_find(&geoip_asn_files, &a, &m))
		PG_RETURN_NULL();
	e = m.entry;
	if (geoip_int8(&m, &e, PATH("autonomous_system_number"), &asnum))
		PG_RETURN_DATUM(asnum);
	PG_RETURN_NULL();
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
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
}

static void geoip_verify_fail(const GeoipDb *db, const GeoipFile *f,
                              const char *detail, uint32 node)
    pg_attribute_noreturn();

static void
geoip_verify_fail(const GeoipDb *db, const GeoipFile *f, const char *detail,
                  uint32 node)
{
	ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
	                errmsg("geoip database \"%s\" is corrupt", f->path),
	                errdetail("Search tree node %u: %s.", node, detail),
	                errhint("Replace the file named in %s.", db->guc)));
}

/*
 * Check a whole file: every search tree node is valid and reached from a
 * parent, and every data record decodes completely (each once).  Linear in
 * the file's size, so only on request; lookups check what they read.
 */
static void
geoip_verify_file(const GeoipDb *db, const GeoipFile *f)
{
	const MMDB_s *mmdb = &f->mmdb;
	uint32 n = mmdb->metadata.node_count;
	bits8 *referenced;
	bits8 *decoded;

	referenced = palloc_extended(n / 8 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	decoded = palloc_extended(mmdb->data_section_size / 8 + 1,
	                          MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (uint32 i = 0; i < n; i++)
	{
		MMDB_search_node_s node;
		int status = MMDB_read_node(mmdb, i, &node);

		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (status != MMDB_SUCCESS)
			geoip_verify_fail(db, f, MMDB_strerror(status), i);
		for (int side = 0; side < 2; side++)
		{
			uint8 type = side ? node.right_record_type : node.left_record_type;
			uint64 rec = side ? node.right_record : node.left_record;
			MMDB_entry_s entry =
			    side ? node.right_record_entry : node.left_record_entry;
			MMDB_entry_data_list_s *list = NULL;

			switch (type)
			{
				case MMDB_RECORD_TYPE_SEARCH_NODE:
					if (rec == i || rec == 0)
						geoip_verify_fail(db, f,
						                  "a record points back to "
						                  "the node or the root",
						                  i);
					referenced[rec / 8] |= 1 << (rec % 8);
					break;
				case MMDB_RECORD_TYPE_EMPTY:
					break;
				case MMDB_RECORD_TYPE_DATA:
					if (entry.offset >= mmdb->data_section_size)
						geoip_verify_fail(db, f,
						                  "a record points past the "
						                  "data section",
						                  i);
					if (decoded[entry.offset / 8] & (1 << (entry.offset % 8)))
						break;
					decoded[entry.offset / 8] |= 1 << (entry.offset % 8);
					status = MMDB_get_entry_data_list(&entry, &list);
					MMDB_free_entry_data_list(list);
					if (status != MMDB_SUCCESS)
						geoip_verify_fail(db, f, MMDB_strerror(status), i);
					break;
				default:
					geoip_verify_fail(db, f, "a record is out of range", i);
			}
		}
	}
	for (uint32 i = 1; i < n; i++)
		if (!(referenced[i / 8] & (1 << (i % 8))))
			geoip_verify_fail(db, f, "no record points to this node", i);
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

	InitMaterializedSRF(fcinfo, 0);
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
