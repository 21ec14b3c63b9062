/*
 * fuzz_credssp.c - brokerd/credssp_asn1.c: the DER CredSSP carries inside
 * its TLS tunnel, decoded with OpenSSL's ASN.1 templates. Each input is
 * tried as a TSRequest (the server's messages) and as TSCredentials. A
 * TSRequest that decodes must encode again and decode to the same fields.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "credssp_asn1.h"
#include "fuzz.h"

static bool same_blob(const struct wb_blob *a, const struct wb_blob *b)
{
	return a->present == b->present &&
	       (!a->present || (a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0)));
}

static void round_trip(const struct wb_tsreq *r)
{
	struct wb_writer der;
	struct wb_tsreq back;
	struct wb_error err;

	wb_writer_init(&der, 4 * WB_CREDSSP_MSG_MAX, WB_PLAIN);
	if (wb_tsreq_encode(r, &der, &err) < 0 || wb_tsreq_decode(der.data, der.len, &back, &err) < 0)
		abort();
	if (back.version != r->version || !same_blob(&back.nego, &r->nego) ||
	    !same_blob(&back.auth_info, &r->auth_info) ||
	    !same_blob(&back.pub_key_auth, &r->pub_key_auth) ||
	    !same_blob(&back.nonce, &r->nonce) || back.has_error != r->has_error ||
	    (r->has_error && back.error_code != r->error_code))
		abort();
	wb_tsreq_clear(&back);
	wb_writer_free(&der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_writer domain, user, password;
	struct wb_tsreq r;
	struct wb_error err;

	if (wb_tsreq_decode(data, size, &r, &err) == 0) {
		round_trip(&r);
		wb_tsreq_clear(&r);
	}
	wb_writer_init(&domain, WB_CREDSSP_MSG_MAX, WB_PLAIN);
	wb_writer_init(&user, WB_CREDSSP_MSG_MAX, WB_PLAIN);
	wb_writer_init(&password, WB_CREDSSP_MSG_MAX, WB_PLAIN);
	(void)wb_tscreds_decode_password(data, size, &domain, &user, &password, &err);
	wb_writer_free(&domain);
	wb_writer_free(&user);
	wb_writer_free(&password);
	return 0;
}
