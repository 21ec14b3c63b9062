/* credssp_asn1.c - MS-CSSP 2.2.1 structures with OpenSSL ASN.1 templates
 * (see credssp_asn1.h). Every tag is EXPLICIT, as MS-CSSP's module says. */
#include "credssp_asn1.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/safestack.h>

#define CRED_TYPE_PASSWORD 1

/* ---- the templates ---------------------------------------------------------------- */

typedef struct {
	ASN1_OCTET_STRING *token;
} WB_NEGO_TOKEN;

DEFINE_STACK_OF(WB_NEGO_TOKEN)

typedef struct {
	ASN1_INTEGER *version;
	STACK_OF(WB_NEGO_TOKEN) *nego;
	ASN1_OCTET_STRING *auth_info;
	ASN1_OCTET_STRING *pub_key_auth;
	ASN1_INTEGER *error_code;
	ASN1_OCTET_STRING *nonce;
} WB_TS_REQUEST;

typedef struct {
	ASN1_INTEGER *cred_type;
	ASN1_OCTET_STRING *credentials;
} WB_TS_CREDENTIALS;

typedef struct {
	ASN1_OCTET_STRING *domain;
	ASN1_OCTET_STRING *user;
	ASN1_OCTET_STRING *password;
} WB_TS_PASSWORD_CREDS;

/* Prototypes for the functions the IMPLEMENT macros define (only this file uses them). */
DECLARE_ASN1_FUNCTIONS(WB_NEGO_TOKEN)
DECLARE_ASN1_FUNCTIONS(WB_TS_REQUEST)
DECLARE_ASN1_FUNCTIONS(WB_TS_CREDENTIALS)
DECLARE_ASN1_FUNCTIONS(WB_TS_PASSWORD_CREDS)

ASN1_SEQUENCE(WB_NEGO_TOKEN) = {
	ASN1_EXP(WB_NEGO_TOKEN, token, ASN1_OCTET_STRING, 0),
} ASN1_SEQUENCE_END(WB_NEGO_TOKEN)

ASN1_SEQUENCE(WB_TS_REQUEST) = {
	ASN1_EXP(WB_TS_REQUEST, version, ASN1_INTEGER, 0),
	ASN1_EXP_SEQUENCE_OF_OPT(WB_TS_REQUEST, nego, WB_NEGO_TOKEN, 1),
	ASN1_EXP_OPT(WB_TS_REQUEST, auth_info, ASN1_OCTET_STRING, 2),
	ASN1_EXP_OPT(WB_TS_REQUEST, pub_key_auth, ASN1_OCTET_STRING, 3),
	ASN1_EXP_OPT(WB_TS_REQUEST, error_code, ASN1_INTEGER, 4),
	ASN1_EXP_OPT(WB_TS_REQUEST, nonce, ASN1_OCTET_STRING, 5),
} ASN1_SEQUENCE_END(WB_TS_REQUEST)

ASN1_SEQUENCE(WB_TS_CREDENTIALS) = {
	ASN1_EXP(WB_TS_CREDENTIALS, cred_type, ASN1_INTEGER, 0),
	ASN1_EXP(WB_TS_CREDENTIALS, credentials, ASN1_OCTET_STRING, 1),
} ASN1_SEQUENCE_END(WB_TS_CREDENTIALS)

ASN1_SEQUENCE(WB_TS_PASSWORD_CREDS) = {
	ASN1_EXP(WB_TS_PASSWORD_CREDS, domain, ASN1_OCTET_STRING, 0),
	ASN1_EXP(WB_TS_PASSWORD_CREDS, user, ASN1_OCTET_STRING, 1),
	ASN1_EXP(WB_TS_PASSWORD_CREDS, password, ASN1_OCTET_STRING, 2),
} ASN1_SEQUENCE_END(WB_TS_PASSWORD_CREDS)

IMPLEMENT_ASN1_FUNCTIONS(WB_NEGO_TOKEN)
IMPLEMENT_ASN1_FUNCTIONS(WB_TS_REQUEST)
IMPLEMENT_ASN1_FUNCTIONS(WB_TS_CREDENTIALS)
IMPLEMENT_ASN1_FUNCTIONS(WB_TS_PASSWORD_CREDS)

/* ---- helpers ------------------------------------------------------------------------ */

static ASN1_OCTET_STRING *octets(const void *p, size_t n)
{
	ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();

	if (o && (n > INT32_MAX || !ASN1_OCTET_STRING_set(o, p, (int)n))) {
		ASN1_OCTET_STRING_free(o);
		return NULL;
	}
	return o;
}

/* Frees an octet string whose content may be a secret. */
static void wipe_octets(ASN1_OCTET_STRING *o)
{
	if (o && o->data)
		OPENSSL_cleanse(o->data, (size_t)o->length);
}

static int set_opt(ASN1_OCTET_STRING **dst, const struct wb_blob *b)
{
	if (!b->present)
		return 0;
	*dst = octets(b->p, b->n);
	return *dst ? 0 : -1;
}

static int take(struct wb_blob *b, const ASN1_OCTET_STRING *o)
{
	if (!o)
		return 0;
	b->present = true;
	b->n = (size_t)ASN1_STRING_length(o);
	b->p = malloc(b->n ? b->n : 1);
	if (!b->p)
		return -1;
	memcpy(b->p, ASN1_STRING_get0_data(o), b->n);
	return 0;
}

static void blob_clear(struct wb_blob *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->n);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

/* n zero bytes appended to out, where i2d then writes: the DER (with the
 * password, for TSCredentials) never lands in memory OpenSSL owns. */
static unsigned char *grow(struct wb_writer *out, int n)
{
	static const uint8_t zeros[256];
	size_t at = out->len, left = n > 0 ? (size_t)n : 0;

	if (n <= 0)
		return NULL;
	while (left) {
		size_t k = left < sizeof(zeros) ? left : sizeof(zeros);

		if (wb_put(out, zeros, k) < 0) {
			out->len = at;
			return NULL;
		}
		left -= k;
	}
	return out->data + at;
}

static int get_long(const ASN1_INTEGER *i, int64_t *v)
{
	return i && ASN1_INTEGER_get_int64(v, i) == 1 ? 0 : -1;
}

/* ---- TSRequest ----------------------------------------------------------------------- */

static int tsreq_fill(WB_TS_REQUEST *t, const struct wb_tsreq *r)
{
	if (!ASN1_INTEGER_set_int64(t->version, r->version))
		return -1;
	if (r->nego.present) {
		WB_NEGO_TOKEN *nt = WB_NEGO_TOKEN_new();

		t->nego = sk_WB_NEGO_TOKEN_new_null();
		if (!nt || !t->nego || !sk_WB_NEGO_TOKEN_push(t->nego, nt)) {
			WB_NEGO_TOKEN_free(nt);
			return -1;
		}
		if (!ASN1_OCTET_STRING_set(nt->token, r->nego.p, (int)r->nego.n))
			return -1;
	}
	if (r->has_error) {
		t->error_code = ASN1_INTEGER_new();
		if (!t->error_code || !ASN1_INTEGER_set_int64(t->error_code, r->error_code))
			return -1;
	}
	if (r->nego.n > INT32_MAX)
		return -1;
	return set_opt(&t->auth_info, &r->auth_info) || set_opt(&t->pub_key_auth, &r->pub_key_auth) ||
	       set_opt(&t->nonce, &r->nonce) ? -1 : 0;
}

int wb_tsreq_encode(const struct wb_tsreq *r, struct wb_writer *out, struct wb_error *err)
{
	WB_TS_REQUEST *t = WB_TS_REQUEST_new();
	unsigned char *q;
	int rc = -1, len;

	if (t && tsreq_fill(t, r) == 0) {
		len = i2d_WB_TS_REQUEST(t, NULL);
		q = grow(out, len);
		rc = q && i2d_WB_TS_REQUEST(t, &q) == len ? 0 : -1;
	}
	if (t)
		wipe_octets(t->auth_info);
	WB_TS_REQUEST_free(t);
	return rc < 0 ? wb_error_set(err, WB_E_INTERNAL, "CredSSP: cannot encode a TSRequest") : 0;
}

/* The whole input, and nothing but one structure. */
#define D2I_EXACT(type, p, n, obj) do {							\
	const unsigned char *q_ = (p);							\
	(obj) = (n) && (n) <= WB_CREDSSP_MSG_MAX ? d2i_##type(NULL, &q_, (long)(n)) : NULL;	\
	if ((obj) && q_ != (p) + (n)) {							\
		type##_free(obj);							\
		(obj) = NULL;								\
	}										\
} while (0)

static int tsreq_take(const WB_TS_REQUEST *t, struct wb_tsreq *r)
{
	int64_t v;

	if (get_long(t->version, &v) < 0 || v < 0 || v > INT32_MAX)
		return -1;
	r->version = (long)v;
	/* MS-CSSP: one negoToken; more is not a TSRequest we understand. */
	if (t->nego && sk_WB_NEGO_TOKEN_num(t->nego) != 1)
		return -1;
	if (t->nego && take(&r->nego, sk_WB_NEGO_TOKEN_value(t->nego, 0)->token) < 0)
		return -1;
	if (t->error_code) {
		/* An NTSTATUS, written signed (Windows) or unsigned. */
		if (get_long(t->error_code, &v) < 0 || v < INT32_MIN || v > UINT32_MAX)
			return -1;
		r->has_error = true;
		r->error_code = (uint32_t)v;
	}
	return take(&r->auth_info, t->auth_info) < 0 || take(&r->pub_key_auth, t->pub_key_auth) < 0 ||
	       take(&r->nonce, t->nonce) < 0 ? -1 : 0;
}

int wb_tsreq_decode(const uint8_t *p, size_t n, struct wb_tsreq *r, struct wb_error *err)
{
	WB_TS_REQUEST *t;
	int rc;

	memset(r, 0, sizeof(*r));
	D2I_EXACT(WB_TS_REQUEST, p, n, t);
	if (!t)
		return wb_error_set(err, WB_E_PROTO, "CredSSP: the server's TSRequest (%zu bytes) is "
				    "not valid DER", n);
	rc = tsreq_take(t, r);
	WB_TS_REQUEST_free(t);
	if (rc < 0) {
		wb_tsreq_clear(r);
		return wb_error_set(err, WB_E_PROTO, "CredSSP: the server's TSRequest has a field "
				    "out of range (version, negoTokens or errorCode)");
	}
	return 0;
}

void wb_tsreq_clear(struct wb_tsreq *r)
{
	blob_clear(&r->nego);
	blob_clear(&r->auth_info);
	blob_clear(&r->pub_key_auth);
	blob_clear(&r->nonce);
	memset(r, 0, sizeof(*r));
}

/* ---- TSCredentials ------------------------------------------------------------------- */

int wb_utf8_to_utf16le(const char *s, struct wb_writer *out)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t c;
		int extra, i;

		if (p[0] < 0x80) {
			c = p[0];
			extra = 0;
		} else if ((p[0] & 0xe0) == 0xc0) {
			c = p[0] & 0x1f;
			extra = 1;
		} else if ((p[0] & 0xf0) == 0xe0) {
			c = p[0] & 0x0f;
			extra = 2;
		} else if ((p[0] & 0xf8) == 0xf0) {
			c = p[0] & 0x07;
			extra = 3;
		} else {
			return -1;
		}
		for (i = 1; i <= extra; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			c = c << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
		if ((extra == 1 && c < 0x80) || (extra == 2 && c < 0x800) ||
		    (extra == 3 && c < 0x10000) || (c >= 0xd800 && c < 0xe000) || c > 0x10ffff)
			return -1;
		if (c >= 0x10000) {
			c -= 0x10000;
			if (wb_put_u8(out, (uint8_t)(0xd800 + (c >> 10))) < 0 ||
			    wb_put_u8(out, (uint8_t)((0xd800 + (c >> 10)) >> 8)) < 0)
				return -1;
			c = 0xdc00 + (c & 0x3ff);
		}
		if (wb_put_u8(out, (uint8_t)c) < 0 || wb_put_u8(out, (uint8_t)(c >> 8)) < 0)
			return -1;
		p += extra + 1;
	}
	return 0;
}

static int utf16_octets(ASN1_OCTET_STRING *o, const char *s)
{
	struct wb_writer w;
	int rc;

	wb_writer_init(&w, WB_CREDSSP_MSG_MAX, WB_SECRET);
	rc = wb_utf8_to_utf16le(s, &w);
	if (rc == 0 && !ASN1_OCTET_STRING_set(o, w.len ? w.data : (const uint8_t *)"", (int)w.len))
		rc = -1;
	wb_writer_free(&w);
	return rc;
}

static void wipe_pw(WB_TS_PASSWORD_CREDS *pw)
{
	if (pw) {
		wipe_octets(pw->password);
		WB_TS_PASSWORD_CREDS_free(pw);
	}
}

int wb_tscreds_encode_password(const char *domain, const char *user, const char *password,
			       struct wb_writer *out, struct wb_error *err)
{
	WB_TS_PASSWORD_CREDS *pw = WB_TS_PASSWORD_CREDS_new();
	WB_TS_CREDENTIALS *tc = WB_TS_CREDENTIALS_new();
	struct wb_writer inner;
	unsigned char *q;
	int rc = -1, len;

	wb_writer_init(&inner, WB_CREDSSP_MSG_MAX, WB_SECRET);
	if (pw && tc && utf16_octets(pw->domain, domain) == 0 && utf16_octets(pw->user, user) == 0 &&
	    utf16_octets(pw->password, password) == 0) {
		len = i2d_WB_TS_PASSWORD_CREDS(pw, NULL);
		q = grow(&inner, len);
		rc = q && i2d_WB_TS_PASSWORD_CREDS(pw, &q) == len ? 0 : -1;
	}
	if (rc == 0 && (!ASN1_INTEGER_set(tc->cred_type, CRED_TYPE_PASSWORD) ||
			!ASN1_OCTET_STRING_set(tc->credentials, inner.data, (int)inner.len)))
		rc = -1;
	if (rc == 0) {
		len = i2d_WB_TS_CREDENTIALS(tc, NULL);
		q = grow(out, len);
		rc = q && i2d_WB_TS_CREDENTIALS(tc, &q) == len ? 0 : -1;
	}
	wb_writer_free(&inner);
	wipe_pw(pw);
	if (tc)
		wipe_octets(tc->credentials);
	WB_TS_CREDENTIALS_free(tc);
	return rc < 0 ? wb_error_set(err, WB_E_INVALID, "CredSSP: cannot encode the credentials "
				     "(user, domain or password not valid UTF-8, or too long)") : 0;
}

static int put_octets(struct wb_writer *w, const ASN1_OCTET_STRING *o)
{
	return wb_put(w, ASN1_STRING_get0_data(o), (size_t)ASN1_STRING_length(o));
}

int wb_tscreds_decode_password(const uint8_t *p, size_t n, struct wb_writer *domain,
			       struct wb_writer *user, struct wb_writer *password,
			       struct wb_error *err)
{
	WB_TS_CREDENTIALS *tc;
	WB_TS_PASSWORD_CREDS *pw = NULL;
	int64_t type;
	int rc = -1;

	D2I_EXACT(WB_TS_CREDENTIALS, p, n, tc);
	if (tc && get_long(tc->cred_type, &type) == 0 && type == CRED_TYPE_PASSWORD) {
		const unsigned char *ip = ASN1_STRING_get0_data(tc->credentials);
		size_t in = (size_t)ASN1_STRING_length(tc->credentials);

		D2I_EXACT(WB_TS_PASSWORD_CREDS, ip, in, pw);
		if (pw && put_octets(domain, pw->domain) == 0 && put_octets(user, pw->user) == 0 &&
		    put_octets(password, pw->password) == 0)
			rc = 0;
	}
	wipe_pw(pw);
	if (tc)
		wipe_octets(tc->credentials);
	WB_TS_CREDENTIALS_free(tc);
	return rc < 0 ? wb_error_set(err, WB_E_PROTO, "CredSSP: not a TSCredentials with "
				     "TSPasswordCreds") : 0;
}
