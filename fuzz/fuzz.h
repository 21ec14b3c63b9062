/*
 * fuzz.h - what the libFuzzer harnesses (fuzz/fuzz_*.c) and the seed
 * generator (fuzz/mkcorpus.c) must agree on: the store's test key, the
 * MessageID and CommandId the SOAP seeds answer, and the libclient
 * conversation selector. docs/fuzzing.md says what each harness covers.
 */
#ifndef WB_FUZZ_H
#define WB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (no header of its own for C). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The master key every store seed is sealed with: bytes 1..32. */
#define FUZZ_STORE_KEY_INIT                                                     \
	{ 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,       \
	  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 }

/* fuzz_store: a first byte with this bit set asks the harness to repair
 * checksums and seals (docs/fuzzing.md); without it the image is as is. */
#define FUZZ_STORE_FIXUP 0x01

/* The request the SOAP seeds answer (tests/unit/test_soap.c's MessageID). */
#define FUZZ_SOAP_MSG_ID "uuid:11111111-2222-4333-8444-555555555555"
#define FUZZ_SOAP_CMD_ID "22222222-3333-4444-8555-666666666666"

/* fuzz_libclient: the first byte picks the request whose replies follow. */
enum fuzz_client_op {
	FUZZ_CLIENT_STATUS,
	FUZZ_CLIENT_LIST,
	FUZZ_CLIENT_POLICY,
	FUZZ_CLIENT_SESSION,
	FUZZ_CLIENT_DEPOSIT,
	FUZZ_CLIENT_RUN,
	FUZZ_CLIENT_REMOVE,
	FUZZ_CLIENT_OPS
};

#endif
