/* ntowf.c - MD4 and the NT hash (see ntowf.h).
 *
 * MD4 comes from OpenSSL's legacy provider, loaded into a library context
 * of our own per call and freed with it, so nothing is left behind (the
 * leak this module exists to avoid) and the process-wide default context
 * never gets a legacy algorithm. UTF-8 to UTF-16LE is glibc's iconv, which
 * refuses invalid UTF-8. */
#include "ntowf.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <sodium.h>

int wb_md4(const uint8_t *p, size_t n, uint8_t out[16])
{
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *legacy = ctx ? OSSL_PROVIDER_load(ctx, "legacy") : NULL;
	EVP_MD *md = legacy ? EVP_MD_fetch(ctx, "MD4", NULL) : NULL;
	unsigned int len = 0;
	int ok = md && EVP_Digest(p, n, out, &len, md, NULL) == 1 && len == 16;

	EVP_MD_free(md);
	OSSL_PROVIDER_unload(legacy);
	OSSL_LIB_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* UTF-8 to UTF-16LE into out (capacity cap); the length, or -1. */
static ssize_t to_utf16le(const char *s, uint8_t *out, size_t cap)
{
	iconv_t cd = iconv_open("UTF-16LE", "UTF-8");
	char *in = (char *)s, *o = (char *)out;
	size_t inleft = strlen(s), outleft = cap;
	size_t rc;

	if (cd == (iconv_t)-1)
		return -1;
	rc = iconv(cd, &in, &inleft, &o, &outleft);
	iconv_close(cd);
	if (rc == (size_t)-1 || inleft != 0)
		return -1;	/* EILSEQ / EINVAL: not valid UTF-8 */
	return (ssize_t)(cap - outleft);
}

int wb_ntowf(const char *password, uint8_t out[WB_NT_HASH_LEN])
{
	size_t cap = 4 * strlen(password) + 4;	/* each byte: at most 2 units */
	uint8_t *u16 = sodium_malloc(cap);
	ssize_t n;
	int rc = -1;

	if (!u16)
		return -1;
	n = to_utf16le(password, u16, cap);
	if (n >= 0)
		rc = wb_md4(u16, (size_t)n, out);
	sodium_free(u16);	/* wipes */
	return rc;
}
