/*
 * fuzz_addresses.c: the address-header parser on arbitrary bytes.  Every
 * reported mailbox has a name or an address, and neither is longer than
 * the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addrparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_mailbox(void *arg, const char *display, const char *address)
{
	size_t size = *(size_t *)arg;

	if (display == NULL && address == NULL)
		abort();
	if ((display && strlen(display) > size) ||
	    (address && strlen(address) > size))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	addr_parse((const char *)data, size, check_mailbox, &size);
	return 0;
}
