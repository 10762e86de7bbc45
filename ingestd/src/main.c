/*
 * main.c: ingestd entry point and command-line dispatch.
 */
#include <stdio.h>
#include <string.h>

#define INGESTD_VERSION "0.1.0"

static void
usage(FILE *out)
{
	fputs("usage: ingestd [--config FILE] [--check-config]\n"
	      "       ingestd import [--label spam|ham|sent] PATH...\n"
	      "       ingestd --version\n",
	      out);
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
	{
		printf("ingestd %s\n", INGESTD_VERSION);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--help") == 0)
	{
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
