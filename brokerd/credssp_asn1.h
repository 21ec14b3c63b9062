/*
 * credssp_asn1.h - the MS-CSSP 2.2.1 structures CredSSP sends inside its
 * TLS tunnel (TSRequest with NegoData, TSCredentials with TSPasswordCreds),
 * encoded and decoded with OpenSSL's ASN.1 templates; plain C structs
 * outside, so callers never touch OpenSSL's ASN.1 types.
 *
 * Decoding is for untrusted bytes: the whole input must be exactly one
 * DER structure, sizes are bounded by the input, and anything else is
 * -WB_E_PROTO.
 */
#ifndef WB_CREDSSP_ASN1_H
#define WB_CREDSSP_ASN1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define WB_CREDSSP_MSG_MAX (64 * 1024)	/* one TSRequest or TSCredentials */

struct wb_blob {
	bool present;
	uint8_t *p;		/* decode: malloc'd (wiped on clear); encode: borrowed */
	size_t n;
};

struct wb_tsreq {
	long version;
	struct wb_blob nego;		/* negoTokens: the first (and only) negoToken */
	struct wb_blob auth_info;
	struct wb_blob pub_key_auth;
	struct wb_blob nonce;		/* clientNonce */
	bool has_error;
	uint32_t error_code;		/* an NTSTATUS / HRESULT */
};

/* TSRequest DER appended to out. */
int wb_tsreq_encode(const struct wb_tsreq *r, struct wb_writer *out, struct wb_error *err);
/* One TSRequest from p[0..n); fills r (wb_tsreq_clear frees). */
int wb_tsreq_decode(const uint8_t *p, size_t n, struct wb_tsreq *r, struct wb_error *err);
void wb_tsreq_clear(struct wb_tsreq *r);

/*
 * TSCredentials { credType 1, TSPasswordCreds { domain, user, password as
 * UTF-16LE } } from UTF-8 strings, appended to out (use a WB_SECRET
 * writer). Every intermediate copy of the password is wiped.
 */
int wb_tscreds_encode_password(const char *domain, const char *user, const char *password,
			       struct wb_writer *out, struct wb_error *err);
/* The reverse, for tests: the three fields as UTF-16LE, appended to the
 * writers (which should be WB_SECRET). */
int wb_tscreds_decode_password(const uint8_t *p, size_t n, struct wb_writer *domain,
			       struct wb_writer *user, struct wb_writer *password,
			       struct wb_error *err);

/* UTF-8 -> UTF-16LE appended to out; -1 for invalid UTF-8. */
int wb_utf8_to_utf16le(const char *s, struct wb_writer *out);

#endif
