/*
 * fuzz_store.c - brokerd/store.c: a store image loaded from memory
 * (wb_store_parse) under a fixed test key, then every credential listed,
 * unsealed, one removed, the bad records dropped, as the broker would.
 *
 * The first byte chooses the mode. Without FUZZ_STORE_FIXUP the rest is
 * the image as is: the header, frame and resync logic an attacker who can
 * write the file (but has no key) reaches. With it, the harness first
 * repairs the header's key check and checksum, each frame's checksum and
 * each record's seal (the ciphertext field holds the plaintext; see
 * storeimg.h), so the metadata and secret parsers see fuzzed bytes too.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "masterkey.h"
#include "store.h"
#include "storeimg.h"

#define MAX_GETS 64

static const uint8_t key_bytes[32] = FUZZ_STORE_KEY_INIT;
static struct wb_masterkey *key;

struct listed {
	struct wb_cred_meta m[MAX_GETS];
	size_t n;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0 || wb_masterkey_from_bytes(key_bytes, sizeof(key_bytes), &key, NULL) < 0)
		abort();
	return 0;
}

static int on_cred(const struct wb_cred_meta *m, void *ctx)
{
	struct listed *l = ctx;

	if (l->n < MAX_GETS)
		l->m[l->n++] = *m;
	return 0;
}

static int on_problem(const char *msg, void *ctx)
{
	(void)ctx;
	return strlen(msg) == 0;	/* a problem always says something */
}

static void use(struct wb_store *s)
{
	struct listed *l = calloc(1, sizeof(*l));
	struct wb_secret *sec;
	struct wb_error err;
	size_t i;

	if (!l)
		return;
	(void)wb_store_bad_count(s);
	if (wb_store_problems(s, on_problem, NULL) != 0)
		abort();
	wb_store_list(s, on_cred, l);
	for (i = 0; i < l->n; i++) {
		if (wb_store_get(s, l->m[i].scope, l->m[i].owner, l->m[i].name, NULL, &sec, &err) == 0)
			wb_secret_free(sec);
	}
	if (l->n && wb_store_remove(s, l->m[0].scope, l->m[0].owner, l->m[0].name, &err) < 0)
		abort();	/* it was just listed; an in-memory store cannot fail to write */
	if (wb_store_drop_bad(s, &err) < 0)
		abort();
	free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_store *s = NULL;
	struct wb_error err;
	uint8_t *img;

	if (size == 0)
		return 0;
	img = malloc(size - 1 ? size - 1 : 1);
	if (!img)
		return 0;
	memcpy(img, data + 1, size - 1);
	if (data[0] & FUZZ_STORE_FIXUP)
		fuzz_store_reseal(img, size - 1, key_bytes, true);
	if (wb_store_parse(img, size - 1, key, &s, &err) == 0) {
		use(s);
		wb_store_close(s);
	}
	free(img);
	return 0;
}
