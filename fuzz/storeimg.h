/*
 * storeimg.h - store images for fuzz_store: the harness's fixup mode and
 * the seed generator agree here on how a "plain" image (each record's
 * ciphertext field holding its plaintext) maps to a sealed one.
 *
 * Without this the fuzzer could not get past the header's BLAKE2b checksum
 * and key-check tag, nor past any record's Poly1305 tag; with it, the
 * metadata, padding and secret parsers in brokerd/store.c see bytes the
 * fuzzer chose. The format is brokerd/store.c's (docs/store.md).
 */
#ifndef WB_FUZZ_STOREIMG_H
#define WB_FUZZ_STOREIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Walks the image in place, header first, then frames back to back for as
 * long as they look like frames. seal: recompute the header's key-check tag
 * and checksum, seal each record's ciphertext field as if it were the
 * plaintext, and recompute each frame's checksum. !seal: the inverse for
 * the records (unseal each into its ciphertext field; the 16 tag bytes are
 * left as they are), for seeds.
 */
void fuzz_store_reseal(uint8_t *img, size_t n, const uint8_t key[32], bool seal);

#endif
