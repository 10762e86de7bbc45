/*
 * mmdbread.c: reading spamlab's GeoIP fields out of MaxMind DB records.
 *
 * Pure C over libmaxminddb, so that fuzz/fuzz_mmdb.c can run it on
 * arbitrary files; geoip.c adds PostgreSQL (datums, errors, caching).
 * Every libmaxminddb status is checked: a lookup path that does not fit
 * the record is an absent field, anything else is returned to the caller
 * as corruption.  Nothing here allocates.
 */
#include "mmdbread.h"

#include <string.h>

#define PATH(...) ((const char *const[]){__VA_ARGS__, NULL})

/* look up path below entry; 1 found, 0 absent, -status corrupt */
static int
get(const MMDB_entry_s *entry, const char *const *path, MMDB_entry_data_s *d)
{
	MMDB_entry_s e = *entry;
	int status = MMDB_aget_value(&e, d, path);

	if (status == MMDB_SUCCESS)
		return d->has_data ? 1 : 0;
	if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
	    status == MMDB_INVALID_LOOKUP_PATH_ERROR)
		return 0;
	return -status;
}

/* Read one field of the kind its column wants; MMDB_SUCCESS or an error. */
static int
field(const MMDB_entry_s *entry, const char *const *path, int col,
      MmdbField *out)
{
	MMDB_entry_data_s d;
	int r = get(entry, path, &d);
	MmdbField *f = &out[col];

	if (r < 0)
		return -r;
	if (r == 0)
		return MMDB_SUCCESS;
	if (col == MMDBREAD_LATITUDE || col == MMDBREAD_LONGITUDE)
	{
		if (d.type == MMDB_DATA_TYPE_DOUBLE)
		{
			f->kind = MMDB_KIND_DOUBLE;
			f->dbl = d.double_value;
		}
		else if (d.type == MMDB_DATA_TYPE_FLOAT)
		{
			f->kind = MMDB_KIND_FLOAT;
			f->flt = d.float_value;
		}
	}
	else if (col == MMDBREAD_ASN)
	{
		switch (d.type)
		{
			case MMDB_DATA_TYPE_UINT16:
				f->i64 = d.uint16;
				break;
			case MMDB_DATA_TYPE_UINT32:
				f->i64 = d.uint32;
				break;
			case MMDB_DATA_TYPE_INT32:
				f->i64 = d.int32;
				break;
			case MMDB_DATA_TYPE_UINT64:
				if (d.uint64 > (uint64_t)INT64_MAX)
					return MMDB_SUCCESS;
				f->i64 = (int64_t)d.uint64;
				break;
			default:
				return MMDB_SUCCESS;
		}
		f->kind = MMDB_KIND_INT;
	}
	else if (d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size > 0)
	{
		f->kind = MMDB_KIND_STRING;
		f->str = d.utf8_string;
		f->len = d.data_size;
	}
	return MMDB_SUCCESS;
}

/* the map at path below entry as an entry; 1 found, 0 absent, -status */
static int
map(const MMDB_entry_s *entry, const char *const *path, MMDB_entry_s *sub)
{
	MMDB_entry_data_s d;
	int r = get(entry, path, &d);

	if (r <= 0)
		return r;
	if (d.type != MMDB_DATA_TYPE_MAP)
		return 0;
	sub->mmdb = entry->mmdb;
	sub->offset = d.offset;
	return 1;
}

#define TRY(expr)                                                              \
	do                                                                         \
	{                                                                          \
		int status_ = (expr);                                                  \
		if (status_ != MMDB_SUCCESS)                                           \
			return status_;                                                    \
	} while (0)

/* a GeoIP2-style record: one scan of the top-level map per sub-map */
static int
read_nested(const MMDB_entry_s *e, MmdbField *out)
{
	MMDB_entry_s sub;
	int r;

	if ((r = map(e, PATH("country"), &sub)) < 0)
		return -r;
	if (r)
	{
		TRY(field(&sub, PATH("iso_code"), MMDBREAD_COUNTRY_CODE, out));
		TRY(field(&sub, PATH("names", "en"), MMDBREAD_COUNTRY_NAME, out));
	}
	if ((r = map(e, PATH("continent"), &sub)) < 0)
		return -r;
	if (r)
		TRY(field(&sub, PATH("code"), MMDBREAD_CONTINENT, out));
	TRY(field(e, PATH("subdivisions", "0", "names", "en"), MMDBREAD_SUBDIVISION,
	          out));
	TRY(field(e, PATH("city", "names", "en"), MMDBREAD_CITY, out));
	TRY(field(e, PATH("postal", "code"), MMDBREAD_POSTAL_CODE, out));
	if ((r = map(e, PATH("location"), &sub)) < 0)
		return -r;
	if (r)
	{
		TRY(field(&sub, PATH("latitude"), MMDBREAD_LATITUDE, out));
		TRY(field(&sub, PATH("longitude"), MMDBREAD_LONGITUDE, out));
		TRY(field(&sub, PATH("time_zone"), MMDBREAD_TIME_ZONE, out));
	}
	return MMDB_SUCCESS;
}

/* an ip-location-db record: flat keys */
static int
read_flat(const MMDB_entry_s *e, MmdbField *out)
{
	static const struct
	{
		int col;
		const char *key;
	} keys[] = {
	    {MMDBREAD_COUNTRY_CODE, "country_code"},
	    {MMDBREAD_SUBDIVISION, "state1"},
	    {MMDBREAD_CITY, "city"},
	    {MMDBREAD_POSTAL_CODE, "postcode"},
	    {MMDBREAD_LATITUDE, "latitude"},
	    {MMDBREAD_LONGITUDE, "longitude"},
	    {MMDBREAD_TIME_ZONE, "timezone"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
	{
		const char *const path[] = {keys[i].key, NULL};

		TRY(field(e, path, keys[i].col, out));
	}
	return MMDB_SUCCESS;
}

bool
mmdbread_any(const MmdbField *out, int first, int last)
{
	for (int i = first; i <= last; i++)
		if (out[i].kind != MMDB_KIND_NONE)
			return true;
	return false;
}

int
mmdbread_location(const MMDB_entry_s *entry, MmdbLayout *layout, MmdbField *out)
{
	switch (*layout)
	{
		case MMDB_LAYOUT_NESTED:
			return read_nested(entry, out);
		case MMDB_LAYOUT_FLAT:
			return read_flat(entry, out);
		case MMDB_LAYOUT_UNKNOWN:
			break;
	}
	TRY(read_nested(entry, out));
	if (mmdbread_any(out, MMDBREAD_COUNTRY_CODE, MMDBREAD_TIME_ZONE))
	{
		*layout = MMDB_LAYOUT_NESTED;
		return MMDB_SUCCESS;
	}
	TRY(read_flat(entry, out));
	if (mmdbread_any(out, MMDBREAD_COUNTRY_CODE, MMDBREAD_TIME_ZONE))
		*layout = MMDB_LAYOUT_FLAT;
	return MMDB_SUCCESS;
}

int
mmdbread_country(const MMDB_entry_s *entry, MmdbLayout layout, MmdbField *out)
{
	if (layout != MMDB_LAYOUT_FLAT)
	{
		TRY(field(entry, PATH("country", "iso_code"), MMDBREAD_COUNTRY_CODE,
		          out));
		if (out[MMDBREAD_COUNTRY_CODE].kind != MMDB_KIND_NONE)
			return MMDB_SUCCESS;
	}
	if (layout != MMDB_LAYOUT_NESTED)
		TRY(field(entry, PATH("country_code"), MMDBREAD_COUNTRY_CODE, out));
	return MMDB_SUCCESS;
}

int
mmdbread_asn(const MMDB_entry_s *entry, MmdbField *out)
{
	TRY(field(entry, PATH("autonomous_system_number"), MMDBREAD_ASN, out));
	TRY(field(entry, PATH("autonomous_system_organization"), MMDBREAD_AS_ORG,
	          out));
	return MMDB_SUCCESS;
}

/* latest build_epoch accepted: the end of the year 9999 */
#define MAX_EPOCH UINT64_C(253402300799)

const char *
mmdbread_bad_metadata(const MMDB_s *mmdb)
{
	const MMDB_metadata_s *md = &mmdb->metadata;

	if (md->binary_format_major_version != 2)
		return "the binary format's major version is not 2";
	if (md->ip_version != 4 && md->ip_version != 6)
		return "ip_version is neither 4 nor 6";
	if (md->record_size != 24 && md->record_size != 28 && md->record_size != 32)
		return "record_size is not 24, 28 or 32";
	if (md->node_count == 0)
		return "node_count is zero";
	if (md->build_epoch > MAX_EPOCH)
		return "build_epoch is after the year 9999";
	return NULL;
}

size_t
mmdbread_verify_node_bytes(const MMDB_s *mmdb)
{
	return mmdb->metadata.node_count / 8 + 1;
}

size_t
mmdbread_verify_data_bytes(const MMDB_s *mmdb)
{
	return mmdb->data_section_size / 8 + 1;
}

const char *
mmdbread_verify(const MMDB_s *mmdb, uint8_t *referenced, uint8_t *decoded,
                void (*tick)(void *), void *arg, uint32_t *node)
{
	uint32_t n = mmdb->metadata.node_count;

	for (uint32_t i = 0; i < n; i++)
	{
		MMDB_search_node_s sn;
		int status = MMDB_read_node(mmdb, i, &sn);

		*node = i;
		if ((i & 0xffff) == 0 && tick)
			tick(arg);
		if (status != MMDB_SUCCESS)
			return MMDB_strerror(status);
		for (int side = 0; side < 2; side++)
		{
			uint8_t type = side ? sn.right_record_type : sn.left_record_type;
			uint64_t rec = side ? sn.right_record : sn.left_record;
			MMDB_entry_s entry =
			    side ? sn.right_record_entry : sn.left_record_entry;
			MMDB_entry_data_list_s *list = NULL;
			uint32_t off = entry.offset;

			switch (type)
			{
				case MMDB_RECORD_TYPE_SEARCH_NODE:
					if (rec == i || rec == 0 || rec >= n)
						return "a record points back to the node or the root";
					referenced[rec / 8] |= (uint8_t)(1 << (rec % 8));
					break;
				case MMDB_RECORD_TYPE_EMPTY:
					break;
				case MMDB_RECORD_TYPE_DATA:
					if (off >= mmdb->data_section_size)
						return "a record points past the data section";
					if (decoded[off / 8] & (1 << (off % 8)))
						break;
					decoded[off / 8] |= (uint8_t)(1 << (off % 8));
					status = MMDB_get_entry_data_list(&entry, &list);
					MMDB_free_entry_data_list(list);
					if (status != MMDB_SUCCESS)
						return MMDB_strerror(status);
					break;
				default:
					return "a record is out of range";
			}
		}
	}
	for (uint32_t i = 1; i < n; i++)
	{
		*node = i;
		if (!(referenced[i / 8] & (1 << (i % 8))))
			return "no record points to this node";
	}
	return NULL;
}

bool
mmdbread_special(const unsigned char *b, bool v6, const unsigned char **v4)
{
	*v4 = NULL;
	if (v6)
	{
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
		                                         0, 0, 0, 0, 0xff, 0xff};
		static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

		if (memcmp(b, mapped, 12) != 0 && memcmp(b, nat64, 12) != 0)
		{
			/* ::/8 (unspecified, loopback, IPv4-compatible) */
			if (b[0] == 0)
				return true;
			/* 100::/64 discard-only */
			if (b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 &&
			    b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0)
				return true;
			/* 2001:2::/48 benchmarking, 2001:10::/28, 2001:20::/28 ORCHID */
			if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 &&
			    ((b[3] == 0x02 && b[4] == 0 && b[5] == 0) ||
			     (b[3] & 0xf0) == 0x10 || (b[3] & 0xf0) == 0x20))
				return true;
			/* 2001:db8::/32 and 3fff::/20 documentation */
			if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
				return true;
			if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0)
				return true;
			/* fc00::/7 unique local, fe80::/10 link-local, fec0::/10,
			 * ff00::/8 multicast */
			if ((b[0] & 0xfe) == 0xfc || b[0] == 0xfe || b[0] == 0xff)
				return true;
			return false;
		}
		b += 12;
		*v4 = b;
	}
	switch (b[0])
	{
		case 0:   /* "this network" */
		case 10:  /* private */
		case 127: /* loopback */
			return true;
		case 100: /* 100.64.0.0/10 shared address space */
			return (b[1] & 0xc0) == 64;
		case 169: /* 169.254.0.0/16 link-local */
			return b[1] == 254;
		case 172: /* 172.16.0.0/12 private */
			return (b[1] & 0xf0) == 16;
		case 192:
			/* 192.0.0.0/24 IETF, 192.0.2.0/24 documentation, 192.168/16 */
			return (b[1] == 0 && (b[2] == 0 || b[2] == 2)) || b[1] == 168;
		case 198:
			/* 198.18.0.0/15 benchmarking, 198.51.100.0/24 documentation */
			return (b[1] & 0xfe) == 18 || (b[1] == 51 && b[2] == 100);
		case 203: /* 203.0.113.0/24 documentation */
			return b[1] == 0 && b[2] == 113;
		default:
			return b[0] >= 224; /* multicast, reserved, broadcast */
	}
}
