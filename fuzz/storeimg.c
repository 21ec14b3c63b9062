/* storeimg.c - see storeimg.h. */
#include "storeimg.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define HEADER_LEN 64
#define FRAME_HDR_LEN 20
#define CHECK_LEN 8
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define META_MAX 2048
#define AD_LABEL_LEN 16		/* "wb-store-header" / "wb-store-record" and a NUL */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void checksum(const uint8_t *p, size_t n, uint8_t *out)
{
	uint8_t h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), p, n, NULL, 0);
	memcpy(out, h, CHECK_LEN);
}

static void fix_header(uint8_t *img, const uint8_t *key)
{
	uint8_t ad[AD_LABEL_LEN + 16], tag[TAG_LEN], dummy = 0;
	unsigned long long tag_len;

	memcpy(ad, "wb-store-header", AD_LABEL_LEN);
	memcpy(ad + AD_LABEL_LEN, img, 16);
	crypto_aead_xchacha20poly1305_ietf_encrypt(tag, &tag_len, &dummy, 0, ad, sizeof(ad), NULL,
						   img + 16, key);
	memcpy(img + 40, tag, TAG_LEN);
	checksum(img, HEADER_LEN - CHECK_LEN, img + HEADER_LEN - CHECK_LEN);
}

/* One record body: u32 M, M bytes of metadata, nonce, u32 C, C bytes. */
static void fix_record(uint8_t *body, size_t len, const uint8_t *key, bool seal)
{
	uint8_t ad[AD_LABEL_LEN + META_MAX], *out;
	unsigned long long out_len;
	size_t m, c, at;

	if (len < 4 || (m = le32(body)) > META_MAX || len < 4 + m + NONCE_LEN + 4)
		return;
	at = 4 + m + NONCE_LEN;
	c = le32(body + at);
	if (c < TAG_LEN || c != len - at - 4 || !(out = malloc(c)))
		return;
	memcpy(ad, "wb-store-record", AD_LABEL_LEN);
	memcpy(ad + AD_LABEL_LEN, body + 4, m);
	if (seal) {
		crypto_aead_xchacha20poly1305_ietf_encrypt(out, &out_len, body + at + 4, c - TAG_LEN,
							   ad, AD_LABEL_LEN + m, NULL,
							   body + 4 + m, key);
		memcpy(body + at + 4, out, c);
	} else if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &out_len, NULL, body + at + 4, c,
							      ad, AD_LABEL_LEN + m,
							      body + 4 + m, key) == 0) {
		memcpy(body + at + 4, out, c - TAG_LEN);
	}
	free(out);
}

void fuzz_store_reseal(uint8_t *img, size_t n, const uint8_t key[32], bool seal)
{
	size_t off = HEADER_LEN, body_len;

	if (n < HEADER_LEN)
		return;
	if (seal)
		fix_header(img, key);
	while (n - off >= FRAME_HDR_LEN && memcmp(img + off, "WBRF", 4) == 0) {
		body_len = le32(img + off + 8);
		if (body_len > n - off - FRAME_HDR_LEN)
			break;
		if (le32(img + off + 4) == 1)
			fix_record(img + off + FRAME_HDR_LEN, body_len, key, seal);
		if (seal)
			checksum(img + off, 12, img + off + 12);
		off += FRAME_HDR_LEN + body_len;
	}
}
