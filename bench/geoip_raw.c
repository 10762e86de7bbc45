/*
 * geoip_raw: the bench/geoip peer - a plain C loop over libmaxminddb that
 * reads the same fields spamlab.geoip() reports, the way a C program would
 * (MMDB_lookup_sockaddr, then one MMDB_aget_value per field, strings copied).
 *
 *   geoip_raw DB.mmdb ADDRESSES full|country
 *
 * ADDRESSES: one IP address a line; parsed before the clock starts.
 * Prints: lookups N found N seconds S
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef union
{
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
} addr_t;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* copy a string value out, as a caller keeping the result would */
static int
get_string(MMDB_entry_s *e, char *buf, size_t len, const char *const *path)
{
	MMDB_entry_data_s d;

	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING)
		return 0;
	if (d.data_size >= len)
		d.data_size = len - 1;
	memcpy(buf, d.utf8_string, d.data_size);
	buf[d.data_size] = '\0';
	return 1;
}

static int
get_double(MMDB_entry_s *e, double *out, const char *const *path)
{
	MMDB_entry_data_s d;

	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data)
		return 0;
	if (d.type == MMDB_DATA_TYPE_DOUBLE)
		*out = d.double_value;
	else if (d.type == MMDB_DATA_TYPE_FLOAT)
		*out = d.float_value;
	else
		return 0;
	return 1;
}

#define PATH(...) ((const char *const[]){__VA_ARGS__, NULL})

int
main(int argc, char **argv)
{
	MMDB_s mmdb;
	FILE *f;
	addr_t *addrs = NULL;
	size_t n = 0, cap = 0, found = 0;
	char line[128];
	int full;
	double t0, t1;

	if (argc != 4 || (strcmp(argv[3], "full") && strcmp(argv[3], "country")))
	{
		fprintf(stderr, "usage: geoip_raw DB.mmdb ADDRESSES full|country\n");
		return 2;
	}
	full = strcmp(argv[3], "full") == 0;
	if (MMDB_open(argv[1], MMDB_MODE_MMAP, &mmdb) != MMDB_SUCCESS)
	{
		fprintf(stderr, "geoip_raw: cannot open %s\n", argv[1]);
		return 1;
	}
	if ((f = fopen(argv[2], "r")) == NULL)
	{
		perror(argv[2]);
		return 1;
	}
	while (fgets(line, sizeof(line), f))
	{
		addr_t a;

		line[strcspn(line, "\r\n")] = '\0';
		memset(&a, 0, sizeof(a));
		if (inet_pton(AF_INET, line, &a.sin.sin_addr) == 1)
			a.sin.sin_family = AF_INET;
		else if (inet_pton(AF_INET6, line, &a.sin6.sin6_addr) == 1)
			a.sin6.sin6_family = AF_INET6;
		else
			continue;
		if (n == cap)
		{
			addr_t *grown;

			cap = cap ? cap * 2 : 1024;
			grown = realloc(addrs, cap * sizeof(*addrs));
			if (!grown)
			{
				free(addrs);
				return 1;
			}
			addrs = grown;
		}
		addrs[n++] = a;
	}
	fclose(f);

	t0 = now();
	for (size_t i = 0; i < n; i++)
	{
		int err;
		MMDB_lookup_result_s r =
		    MMDB_lookup_sockaddr(&mmdb, &addrs[i].sa, &err);
		char cc[8], cname[128], cont[8], sub[128], city[128], postal[32],
		    tz[64];
		double lat, lon;
		int any;

		if (err != MMDB_SUCCESS || !r.found_entry)
			continue;
		any = get_string(&r.entry, cc, sizeof(cc), PATH("country", "iso_code"));
		if (full)
		{
			any |= get_string(&r.entry, cname, sizeof(cname),
			                  PATH("country", "names", "en"));
			any |= get_string(&r.entry, cont, sizeof(cont),
			                  PATH("continent", "code"));
			any |= get_string(&r.entry, sub, sizeof(sub),
			                  PATH("subdivisions", "0", "names", "en"));
			any |= get_string(&r.entry, city, sizeof(city),
			                  PATH("city", "names", "en"));
			any |= get_string(&r.entry, postal, sizeof(postal),
			                  PATH("postal", "code"));
			any |= get_double(&r.entry, &lat, PATH("location", "latitude"));
			any |= get_double(&r.entry, &lon, PATH("location", "longitude"));
			any |= get_string(&r.entry, tz, sizeof(tz),
			                  PATH("location", "time_zone"));
		}
		found += any;
	}
	t1 = now();
	printf("lookups %zu found %zu seconds %.6f\n", n, found, t1 - t0);
	MMDB_close(&mmdb);
	free(addrs);
	return 0;
}
