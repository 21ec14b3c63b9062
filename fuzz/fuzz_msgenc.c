/*
 * fuzz_msgenc.c - brokerd/msgenc.c: an encrypted WinRM answer
 * (multipart/encrypted or multipart/x-multi-encrypted) as http.c hands it
 * over. Input: the Content-Type value up to the first newline (cut to
 * http.c's buffer), then the body. The unseal callback stands in for the
 * mechanism: the length field counts a signature, the rest passes as is.
 *
 * Then the round trip: the body's bytes as plaintext, built into a body in
 * pieces of an input-chosen size and parsed back, must come out the same.
 * Skipped when the plaintext holds the boundary text: the format finds a
 * part's end by the next boundary, which real sealed bytes (ciphertext)
 * contain only by a 2^-144 chance, but this stand-in seals in the clear.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "fuzz.h"
#include "msgenc.h"

#define SIG_LEN 16
#define BOUNDARY_TEXT "Encrypted Boundary"

static int unseal(void *ctx, uint32_t length_field, const uint8_t *payload, size_t n,
		  struct wb_writer *plain, struct wb_error *err)
{
	(void)ctx;
	if (length_field > n)
		abort();	/* msgenc.h: checked to fit before the callback */
	if (wb_put(plain, payload + length_field, n - length_field) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "fuzz: too large");
	return 0;
}

static int seal(void *ctx, const uint8_t *plain, size_t n, struct wb_writer *out,
		uint32_t *length_field, struct wb_error *err)
{
	static const uint8_t sig[SIG_LEN] = "fuzz-signature!";

	(void)ctx;
	if (wb_put(out, sig, sizeof(sig)) < 0 || wb_put(out, plain, n) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "fuzz: too large");
	*length_field = SIG_LEN;
	return 0;
}

static const char *protocol_of(const char *ct)
{
	if (strstr(ct, "Kerberos"))
		return WB_MSGENC_KERBEROS;
	if (strstr(ct, "CredSSP"))
		return WB_MSGENC_CREDSSP;
	return WB_MSGENC_SPNEGO;
}

static void round_trip(const char *protocol, const uint8_t *plain, size_t n, size_t chunk)
{
	char ct[WB_AUTH_CT_MAX];
	struct wb_writer body, back;
	struct wb_error err;

	wb_writer_init(&body, 4 * n + 4096 * (n / (chunk ? chunk : n) + 1), WB_PLAIN);
	wb_writer_init(&back, n, WB_PLAIN);
	if (wb_msgenc_build(protocol, plain, n, chunk, seal, NULL, &body, ct, sizeof(ct), &err) < 0 ||
	    !wb_msgenc_is_encrypted(ct) ||
	    wb_msgenc_parse(ct, protocol, body.data, body.len, unseal, NULL, &back, &err) < 0 ||
	    back.len != n || memcmp(back.data, plain, n) != 0)
		abort();
	wb_writer_free(&body);
	wb_writer_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char ct[WB_AUTH_CT_MAX];
	struct wb_writer plain;
	struct wb_error err;
	const uint8_t *body;
	size_t ct_len, n;

	if (!nl)
		return 0;
	ct_len = (size_t)(nl - data);
	if (memchr(data, '\0', ct_len))
		return 0;	/* a header value has no NUL */
	memcpy(ct, data, ct_len < sizeof(ct) ? ct_len : sizeof(ct) - 1);
	ct[ct_len < sizeof(ct) ? ct_len : sizeof(ct) - 1] = '\0';
	body = nl + 1;
	n = size - ct_len - 1;

	(void)wb_msgenc_is_encrypted(ct);
	wb_writer_init(&plain, 1024 * 1024, WB_PLAIN);
	(void)wb_msgenc_parse(ct, protocol_of(ct), body, n, unseal, NULL, &plain, &err);
	wb_writer_free(&plain);

	if (n > 0 && !memmem(body, n, BOUNDARY_TEXT, strlen(BOUNDARY_TEXT))) {
		size_t chunk = ct_len % 3 == 0 ? 0 : 1 + ct_len * 37 % n;
		size_t least = (n + WB_MSGENC_MAX_PARTS - 1) / WB_MSGENC_MAX_PARTS;

		round_trip(protocol_of(ct), body, n, chunk && chunk < least ? least : chunk);
	}
	return 0;
}
