/*
 * main.c: ingestd entry point: dispatch to the daemon or a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "import.h"
#include "relaysend.h"

#define INGESTD_VERSION "0.1.0"

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
	{
		printf("ingestd %s\n", INGESTD_VERSION);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "import") == 0)
		return import_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "relay-send") == 0)
		return relaysend_main(argc - 1, argv + 1);
	return daemon_main(argc, argv);
}
