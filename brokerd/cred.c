/* cred.c - see cred.h. */
#include "cred.h"

#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "error.h"

struct wb_secret *wb_secret_new(enum wb_cred_kind kind)
{
	struct wb_secret *s = sodium_malloc(sizeof(*s));

	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	return s;
}

int wb_secret_set(uint8_t **dst, size_t *dst_len, const void *src, size_t n)
{
	uint8_t *p;

	if (n > WB_CRED_SECRET_MAX)
		return -EMSGSIZE;
	p = sodium_malloc(n + 1);
	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p, src, n);
	p[n] = '\0';
	if (*dst)
		sodium_free(*dst);
	*dst = p;
	if (dst_len)
		*dst_len = n;
	return 0;
}

void wb_secret_free(struct wb_secret *s)
{
	if (!s)
		return;
	/* sodium_free wipes before it unmaps; NULL is a no-op. */
	sodium_free(s->password);
	sodium_free(s->cert_pem);
	sodium_free(s->key_pem);
	sodium_free(s->keytab);
	sodium_free(s);
}

bool wb_cred_name_valid(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > WB_CRED_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || !strchr("._@-", c)))
			return false;
	}
	return true;
}

static int check_certificate(const struct wb_secret *s, struct wb_error *err)
{
	BIO *cb = BIO_new_mem_buf(s->cert_pem, (int)s->cert_len);
	BIO *kb = BIO_new_mem_buf(s->key_pem, (int)s->key_len);
	X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int rc = 0;

	if (!cb || !kb)
		rc = wb_error_set(err, WB_E_INTERNAL, "out of memory");
	else if (!cert)
		rc = wb_error_set(err, WB_E_INVALID, "the certificate is not a PEM X.509 certificate");
	else if (!key)
		rc = wb_error_set(err, WB_E_INVALID,
				  "the key is not an unencrypted PEM private key");
	else if (X509_check_private_key(cert, key) != 1)
		rc = wb_error_set(err, WB_E_INVALID, "the private key does not match the certificate");
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);	/* OpenSSL clears private key material on free */
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

int wb_cred_check(const struct wb_cred_meta *m, const struct wb_secret *s, struct wb_error *err)
{
	switch (m->kind) {
	case WB_CRED_PASSWORD:
		if (!s->password || !s->password[0])
			return wb_error_set(err, WB_E_INVALID, "the password is empty");
		return 0;
	case WB_CRED_CERTIFICATE:
		if (!s->cert_pem || !s->key_pem)
			return wb_error_set(err, WB_E_INVALID,
					    "a certificate credential needs a certificate and a key");
		return check_certificate(s, err);
	case WB_CRED_KEYTAB:
		/* A keytab starts with version 0x0502 (MIT's format, all we accept). */
		if (s->keytab_len < 2 || s->keytab[0] != 0x05 || s->keytab[1] != 0x02)
			return wb_error_set(err, WB_E_INVALID, "the keytab is not an MIT keytab file");
		return 0;
	}
	return wb_error_set(err, WB_E_INVALID, "unknown credential kind %d", (int)m->kind);
}
