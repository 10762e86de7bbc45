/*
 * daemon.c: the SMTP collector (ingestd without a subcommand).
 */
#include <stdio.h>

#include "daemon.h"

int
daemon_main(int argc, char **argv)
{
	fputs("ingestd: the SMTP daemon is not built yet\n", stderr);
	return 2;
}
