/*
 * country.h: English short name and continent of an ISO 3166-1 alpha-2
 * country code, for GeoIP databases that store only the code.
 */
#ifndef COUNTRY_H
#define COUNTRY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Look up a two-letter code (upper case, len 2).  Returns false for codes
 * not in the table; else *name and *continent (AF AN AS EU NA OC SA) point
 * at static UTF-8 strings.
 */
bool country_lookup(const char *code, size_t len, const char **name,
                    const char **continent);

#endif /* COUNTRY_H */
