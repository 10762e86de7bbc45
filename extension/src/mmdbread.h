/*
 * mmdbread.h: reading spamlab's GeoIP fields out of MaxMind DB records,
 * without PostgreSQL (geoip.c turns the results into datums and errors;
 * fuzz/fuzz_mmdb.c runs it on arbitrary files).
 */
#ifndef MMDBREAD_H
#define MMDBREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <maxminddb.h>

/* the fields, in the order of spamlab.geoip_result */
enum
{
	MMDBREAD_COUNTRY_CODE,
	MMDBREAD_COUNTRY_NAME,
	MMDBREAD_CONTINENT,
	MMDBREAD_SUBDIVISION,
	MMDBREAD_CITY,
	MMDBREAD_POSTAL_CODE,
	MMDBREAD_LATITUDE,
	MMDBREAD_LONGITUDE,
	MMDBREAD_TIME_ZONE,
	MMDBREAD_ASN,
	MMDBREAD_AS_ORG,
	MMDBREAD_NFIELDS
};

typedef enum MmdbKind
{
	MMDB_KIND_NONE = 0, /* absent, or of an unusable type */
	MMDB_KIND_STRING, /* str, len: inside the mapped file, not UTF-8 checked */
	MMDB_KIND_DOUBLE, /* dbl */
	MMDB_KIND_FLOAT,  /* flt: single precision, as stored */
	MMDB_KIND_INT     /* i64 */
} MmdbKind;

typedef struct MmdbField
{
	MmdbKind kind;
	const char *str;
	uint32_t len;
	double dbl;
	float flt;
	int64_t i64;
} MmdbField;

/* How a database's records are laid out; learnt from its records. */
typedef enum MmdbLayout
{
	MMDB_LAYOUT_UNKNOWN,
	MMDB_LAYOUT_NESTED, /* GeoIP2, GeoLite2, DB-IP */
	MMDB_LAYOUT_FLAT    /* ip-location-db */
} MmdbLayout;

/*
 * Read the location fields (country .. time zone) of a City or Country
 * record into out[], in the layout *layout says (updated when it was
 * unknown and the record tells).  The ASN fields are left alone.  Returns
 * MMDB_SUCCESS, or the libmaxminddb status of a corrupt record.  Empty
 * strings count as absent.
 */
int mmdbread_location(const MMDB_entry_s *entry, MmdbLayout *layout,
                      MmdbField *out);

/* The country code only (the fast path). */
int mmdbread_country(const MMDB_entry_s *entry, MmdbLayout layout,
                     MmdbField *out);

/* The autonomous system fields (asn, as_org) into out[]. */
int mmdbread_asn(const MMDB_entry_s *entry, MmdbField *out);

/* True if any of out[first..last] is present. */
bool mmdbread_any(const MmdbField *out, int first, int last);

/*
 * Metadata that libmaxminddb takes on trust: NULL if sane, else what is
 * wrong.
 */
const char *mmdbread_bad_metadata(const MMDB_s *mmdb);

/* bytes needed for each verify bitmap */
size_t mmdbread_verify_node_bytes(const MMDB_s *mmdb);
size_t mmdbread_verify_data_bytes(const MMDB_s *mmdb);

/*
 * Check a whole file: every search tree node is valid and reached from a
 * parent, and every data record decodes completely (each once).  The
 * caller passes two zeroed bitmaps of the sizes above, and a tick called
 * every 65536 nodes (may be NULL).  Returns NULL, or what is wrong and at
 * which node (*node).
 */
const char *mmdbread_verify(const MMDB_s *mmdb, uint8_t *referenced,
                            uint8_t *decoded, void (*tick)(void *), void *arg,
                            uint32_t *node);

/*
 * Special-purpose addresses no database should answer for: private,
 * loopback, link-local, shared, documentation, benchmarking, multicast,
 * reserved (RFC 6890 and successors).  addr holds 4 or 16 bytes.  For an
 * IPv6 address carrying an IPv4 one (::ffff:0:0/96, 64:ff9b::/96),
 * *v4 points at those 4 bytes, else it is NULL.
 */
bool mmdbread_special(const unsigned char *addr, bool v6,
                      const unsigned char **v4);

#endif /* MMDBREAD_H */
