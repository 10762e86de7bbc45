/*
 * fuzz_mmdb.c: spamlab's GeoIP reading (mmdbread) over an arbitrary file.
 * When libmaxminddb accepts the bytes as a database, the metadata check,
 * the whole-file verification and the field readers run on a few
 * addresses: none may crash, and every string read lies inside the file.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mmdbread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libmaxminddb 1.7.1's MMDB_get_entry_data_list() loses its memory pool
 * when decoding fails (a few KB per corrupt record; fixed upstream later).
 * That is its leak, not ours: tell LeakSanitizer.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libmaxminddb.so\n";
}

static void
check_strings(const MMDB_s *mmdb, const MmdbField *f)
{
	const char *lo = (const char *)mmdb->file_content;
	const char *hi = lo + mmdb->file_size;

	for (int i = 0; i < MMDBREAD_NFIELDS; i++)
		if (f[i].kind == MMDB_KIND_STRING &&
		    (f[i].str < lo || f[i].len > (size_t)(hi - f[i].str)))
			abort();
}

static void
read_all(const MMDB_s *mmdb)
{
	static const char *const addrs[] = {
	    "1.1.1.1",     "81.2.69.160", "128.0.0.1", "255.255.255.254",
	    "2001:218::1", "abcd::1",     "::",        "ffff::1"};

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
	{
		union
		{
			struct sockaddr sa;
			struct sockaddr_in sin;
			struct sockaddr_in6 sin6;
		} a;
		MMDB_lookup_result_s r;
		int err = MMDB_SUCCESS;

		memset(&a, 0, sizeof(a));
		if (inet_pton(AF_INET, addrs[i], &a.sin.sin_addr) == 1)
			a.sin.sin_family = AF_INET;
		else if (inet_pton(AF_INET6, addrs[i], &a.sin6.sin6_addr) == 1)
			a.sin6.sin6_family = AF_INET6;
		r = MMDB_lookup_sockaddr(mmdb, &a.sa, &err);
		if (err != MMDB_SUCCESS || !r.found_entry)
			continue;
		for (int layout = MMDB_LAYOUT_UNKNOWN; layout <= MMDB_LAYOUT_FLAT;
		     layout++)
		{
			MmdbField f[MMDBREAD_NFIELDS];
			MmdbLayout l = (MmdbLayout)layout;

			memset(f, 0, sizeof(f));
			if (mmdbread_location(&r.entry, &l, f) == MMDB_SUCCESS)
				check_strings(mmdb, f);
			memset(f, 0, sizeof(f));
			if (mmdbread_country(&r.entry, l, f) == MMDB_SUCCESS)
				check_strings(mmdb, f);
			memset(f, 0, sizeof(f));
			if (mmdbread_asn(&r.entry, f) == MMDB_SUCCESS)
				check_strings(mmdb, f);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = memfd_create("fuzz.mmdb", 0);
	MMDB_s mmdb;

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&mmdb, 0, sizeof(mmdb));
	if (MMDB_open(path, MMDB_MODE_MMAP, &mmdb) == MMDB_SUCCESS)
	{
		if (mmdbread_bad_metadata(&mmdb) == NULL)
		{
			uint8_t *nodes = calloc(1, mmdbread_verify_node_bytes(&mmdb));
			uint8_t *recs = calloc(1, mmdbread_verify_data_bytes(&mmdb));
			uint32_t node;

			if (!nodes || !recs)
				abort();
			(void)mmdbread_verify(&mmdb, nodes, recs, NULL, NULL, &node);
			free(nodes);
			free(recs);
			read_all(&mmdb);
		}
		MMDB_close(&mmdb);
	}
	close(fd);
	return 0;
}
