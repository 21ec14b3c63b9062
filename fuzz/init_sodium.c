/* init_sodium.c - the LLVMFuzzerInitialize of the harnesses that need
 * nothing but libsodium ready (sodium_init) before the first input. */
#include <stdlib.h>

#include <sodium.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}
