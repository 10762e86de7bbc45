/*
 * import.c: `ingestd import`: mbox, Maildir and .eml files into PostgreSQL.
 */
#include <stdio.h>

#include "import.h"

int
import_main(int argc, char **argv)
{
	fputs("ingestd: import is not built yet\n", stderr);
	return 2;
}
