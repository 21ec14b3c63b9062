/*
 * Unit tests for the GSSAPI layer without a bed: the NT hash (ntowf.c)
 * against RFC 1320 and known values; the RFC 5929 channel binding hash
 * for certificates signed with each hash; and the NTLM transport
 * (auth_ntlm.c over auth_gss.c) driven through a whole handshake and
 * message encryption against an in-process gss-ntlmssp acceptor, also
 * with a wrong password and a re-authentication after a 401.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "auth.h"
#include "auth_gss.h"
#include "msgenc.h"
#include "ntowf.h"

/* ---- the NT hash -------------------------------------------------------------- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, p, n);
}

START_TEST(test_md4_rfc1320)
{
	static const char *const in[] = {
		"", "a", "abc", "message digest", "abcdefghijklmnopqrstuvwxyz",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		("1234567890123456789012345678901234567890123456789012345678901234567890"
		 "1234567890"),
	};
	static const char *const want[] = {
		"31d6cfe0d16ae931b73c59d7e0c089c0", "bde52cb31de33e46245e05fbdbd6fb24",
		"a448017aaf21d8525fc10ae87aa6729d", "d9130a8164549fe818874806e1c7014b",
		"d79e1c308aa5bbcdeea8ed63df412da9", "043f8582f241db351ce627e153e7f0e4",
		"e33b4ddc9c38f2199c3e7b164fcc0536",
	};
	uint8_t d[16];
	char h[33];
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		ck_assert_int_eq(wb_md4((const uint8_t *)in[i], strlen(in[i]), d), 0);
		hex(d, 16, h);
		ck_assert_str_eq(h, want[i]);
	}
}
END_TEST

START_TEST(test_nt_hash)
{
	uint8_t d[16], ref[16];
	/* "€𝄞": U+20AC and U+1D11E, a surrogate pair in UTF-16LE. */
	static const uint8_t u16[] = { 0xac, 0x20, 0x34, 0xd8, 0x1e, 0xdd };
	char h[33];

	ck_assert_int_eq(wb_ntowf("password", d), 0);
	hex(d, 16, h);
	ck_assert_str_eq(h, "8846f7eaee8fb117ad06bdd830b7586c");	/* the well-known one */
	ck_assert_int_eq(wb_ntowf("\xe2\x82\xac\xf0\x9d\x84\x9e", d), 0);
	ck_assert_int_eq(wb_md4(u16, sizeof(u16), ref), 0);
	ck_assert_mem_eq(d, ref, 16);
	ck_assert_int_eq(wb_ntowf("", d), 0);
	hex(d, 16, h);
	ck_assert_str_eq(h, "31d6cfe0d16ae931b73c59d7e0c089c0");
	/* Not UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence. */
	ck_assert_int_eq(wb_ntowf("a\x80", d), -1);
	ck_assert_int_eq(wb_ntowf("\xc0\xaf", d), -1);
	ck_assert_int_eq(wb_ntowf("\xed\xa0\x80", d), -1);
	ck_assert_int_eq(wb_ntowf("\xe2\x82", d), -1);
}
END_TEST

/* ---- channel binding ---------------------------------------------------------------- */

/* A self-signed certificate with key type kt signed with md (NULL: the
 * key's own, Ed25519); pss: RSA-PSS padding. Returns its DER. */
static int make_cert(const char *kt, const EVP_MD *md, bool pss, uint8_t **der)
{
	EVP_PKEY *k = strcmp(kt, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024)
		    : strcmp(kt, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
		    : EVP_PKEY_Q_keygen(NULL, NULL, kt);
	X509 *x = X509_new();
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int n;

	ck_assert_ptr_nonnull(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	ck_assert_int_eq(EVP_DigestSignInit(mc, &pc, md, NULL, k), 1);
	if (pss)
		ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 0);
	ck_assert_int_gt(X509_sign_ctx(x, mc), 0);
	*der = NULL;
	n = i2d_X509(x, der);
	EVP_MD_CTX_free(mc);
	X509_free(x);
	EVP_PKEY_free(k);
	return n;
}

static void expect_binding(const char *kt, const EVP_MD *sign_md, bool pss,
			   const EVP_MD *want_md)
{
	uint8_t out[128], want[128], *der;
	unsigned int wl = 0;
	int n = make_cert(kt, sign_md, pss, &der), got;

	ck_assert_int_gt(n, 0);
	memcpy(want, "tls-server-end-point:", 21);
	ck_assert_int_eq(EVP_Digest(der, (size_t)n, want + 21, &wl, want_md, NULL), 1);
	got = wb_gss_end_point_binding(der, (size_t)n, out, sizeof(out));
	ck_assert_int_eq(got, 21 + (int)wl);
	ck_assert_mem_eq(out, want, (size_t)got);
	/* Too small an output buffer, and garbage, are refused. */
	ck_assert_int_eq(wb_gss_end_point_binding(der, (size_t)n, out, 21 + wl - 1), -1);
	ck_assert_int_eq(wb_gss_end_point_binding(der, (size_t)n / 2, out, sizeof(out)), -1);
	OPENSSL_free(der);
}

START_TEST(test_binding_hash_follows_signature)
{
	expect_binding("EC", EVP_sha256(), false, EVP_sha256());
	expect_binding("EC", EVP_sha384(), false, EVP_sha384());
	expect_binding("EC", EVP_sha512(), false, EVP_sha512());
	expect_binding("RSA", EVP_sha384(), false, EVP_sha384());
	expect_binding("RSA", EVP_sha512(), true, EVP_sha512());	/* RSA-PSS */
	/* MD5 and SHA-1 are upgraded to SHA-256 (RFC 5929 4.1). */
	expect_binding("EC", EVP_sha1(), false, EVP_sha256());
	expect_binding("RSA", EVP_sha1(), false, EVP_sha256());
	/* No separate hash (Ed25519): SHA-256. */
	expect_binding("ED25519", NULL, false, EVP_sha256());
}
END_TEST

/* ---- NTLM against an in-process acceptor --------------------------------------------- */

static char user_file[64];
static struct wb_cred_meta meta;
static struct wb_target target;

static struct wb_secret *password(const char *pw)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_PASSWORD);
	uint8_t *p = NULL;

	memset(&meta, 0, sizeof(meta));
	strcpy(meta.name, "ntlm-unit");
	meta.kind = WB_CRED_PASSWORD;
	strcpy(meta.user, "alice");
	strcpy(meta.domain, "WINRMTEST");
	ck_assert_int_eq(wb_secret_set(&p, NULL, pw, strlen(pw)), 0);
	s->password = (char *)p;
	wb_target_defaults(&target);
	strcpy(target.host, "localhost");
	target.https = false;
	target.port = 5985;
	target.transports[0] = WB_TRANSPORT_NTLM;
	target.n_transports = 1;
	return s;
}

/* The token of "Authorization: Negotiate <b64>". */
static void authz_token(const struct wb_writer *authz, gss_buffer_t tok)
{
	static const char prefix[] = "Authorization: Negotiate ";
	const char *line = (const char *)authz->data;
	size_t bin = 0;

	ck_assert_uint_gt(authz->len, sizeof(prefix));
	ck_assert_int_eq(strncmp(line, prefix, sizeof(prefix) - 1), 0);
	tok->value = malloc(authz->len);
	ck_assert_int_eq(sodium_base642bin(tok->value, authz->len, line + sizeof(prefix) - 1,
					   strlen(line) - (sizeof(prefix) - 1), NULL, &bin, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	tok->length = bin;
}

/* "Negotiate <b64>\nKerberos\n": the acceptor's token, joined with others. */
static char *challenge(const gss_buffer_t tok)
{
	size_t n = sodium_base64_ENCODED_LEN(tok->length, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(n), *c = malloc(n + 64);

	sodium_bin2base64(b64, n, tok->value, tok->length, sodium_base64_VARIANT_ORIGINAL);
	snprintf(c, n + 64, "Kerberos, Negotiate %s\nBasic realm=\"WSMAN\"\n", b64);
	free(b64);
	return c;
}

/* One leg: our token to the acceptor; its answer (if any) to *out. */
static OM_uint32 accept_leg(gss_ctx_id_t *actx, const struct wb_writer *authz,
			    gss_buffer_t out)
{
	gss_buffer_desc in;
	OM_uint32 maj, min;

	authz_token(authz, &in);
	maj = gss_accept_sec_context(&min, actx, GSS_C_NO_CREDENTIAL, &in,
				     GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL, out, NULL, NULL,
				     NULL);
	free(in.value);
	return maj;
}

/* Runs the handshake; returns the acceptor context when it completes. */
static int handshake(struct wb_auth *a, gss_ctx_id_t *actx, struct wb_error *err)
{
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	struct wb_writer authz;
	OM_uint32 maj, min;
	char *c;
	int rc, legs = 0;

	wb_writer_init(&authz, WB_AUTH_HEADER_MAX, WB_SECRET);
	rc = a->ops->next_token(a, 0, NULL, &authz, err);
	while (rc == WB_AUTH_CONTINUE && legs++ < 4) {
		maj = accept_leg(actx, &authz, &out);
		authz.len = 0;
		if (GSS_ERROR(maj)) {
			/* The host answers 401 with no token: refused. */
			rc = a->ops->next_token(a, 401, "Negotiate\nKerberos\n", &authz, err);
			break;
		}
		c = challenge(&out);
		rc = a->ops->next_token(a, maj == GSS_S_COMPLETE ? 200 : 401,
					out.length ? c : "", &authz, err);
		free(c);
		gss_release_buffer(&min, &out);
	}
	wb_writer_free(&authz);
	return rc;
}

static int acc_seal(void *ctx, const uint8_t *plain, size_t n, struct wb_writer *out,
		    uint32_t *length_field, struct wb_error *err)
{
	gss_buffer_desc in = { n, (void *)plain }, o;
	OM_uint32 min;
	int conf = 0;

	(void)err;
	ck_assert_int_eq(gss_wrap(&min, *(gss_ctx_id_t *)ctx, 1, 0, &in, &conf, &o), 0);
	ck_assert_int_eq(wb_put(out, o.value, o.length), 0);
	gss_release_buffer(&min, &o);
	*length_field = 16;
	return 0;
}

static int acc_unseal(void *ctx, uint32_t length_field, const uint8_t *payload, size_t n,
		      struct wb_writer *plain, struct wb_error *err)
{
	gss_buffer_desc in = { n, (void *)payload }, o;
	OM_uint32 min;
	int conf = 0;

	ck_assert_uint_eq(length_field, 16);
	if (GSS_ERROR(gss_unwrap(&min, *(gss_ctx_id_t *)ctx, &in, &o, &conf, NULL)))
		return wb_error_set(err, WB_E_REMOTE, "acceptor: unwrap failed");
	ck_assert(conf);
	ck_assert_int_eq(wb_put(plain, o.value, o.length), 0);
	gss_release_buffer(&min, &o);
	return 0;
}

static void round_trip(struct wb_auth *a, gss_ctx_id_t *actx, const char *msg)
{
	struct wb_writer body, plain, resp;
	struct wb_error err = { 0 };
	char ct[WB_AUTH_CT_MAX];

	wb_writer_init(&body, 1 << 20, WB_PLAIN);
	wb_writer_init(&plain, 1 << 20, WB_PLAIN);
	wb_writer_init(&resp, 1 << 20, WB_PLAIN);
	/* Ours sealed, the acceptor unseals. */
	ck_assert_msg(a->ops->wrap(a, (const uint8_t *)msg, strlen(msg), &body, ct, &err) == 0,
		      "%s", err.msg);
	ck_assert_str_eq(ct, "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-"
			 "encrypted\";boundary=\"Encrypted Boundary\"");
	ck_assert_ptr_null(memmem(body.data, body.len, msg, strlen(msg)));
	ck_assert_msg(wb_msgenc_parse(ct, WB_MSGENC_SPNEGO, body.data, body.len, acc_unseal, actx,
				      &plain, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(plain.len, strlen(msg));
	ck_assert_mem_eq(plain.data, msg, plain.len);
	/* The acceptor's answer, unsealed by ours. */
	body.len = plain.len = 0;
	ck_assert_int_eq(wb_msgenc_build(WB_MSGENC_SPNEGO, (const uint8_t *)"<answer/>", 9, 0,
					 acc_seal, actx, &body, ct, sizeof(ct), &err), 0);
	ck_assert_msg(a->ops->unwrap(a, ct, body.data, body.len, &resp, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(resp.len, 9);
	ck_assert_mem_eq(resp.data, "<answer/>", 9);
	/* A replayed answer fails to unseal: an error, and nothing passed on. */
	ck_assert_int_eq(a->ops->unwrap(a, ct, body.data, body.len, &resp, &err), -WB_E_REMOTE);
	ck_assert_uint_eq(resp.len, 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "failed to unseal"));
	wb_writer_free(&body);
	wb_writer_free(&plain);
	wb_writer_free(&resp);
}

START_TEST(test_ntlm_handshake_and_sealing)
{
	struct wb_secret *s = password("Secret-pw-1");
	gss_ctx_id_t actx = GSS_C_NO_CONTEXT;
	struct wb_error err = { 0 };
	struct wb_auth *a = NULL;
	OM_uint32 min;

	ck_assert_int_eq(wb_auth_new(&wb_auth_ntlm, &target, &meta, s, NULL, &a, &err), 0);
	ck_assert(a->encrypt);	/* auto over http */
	ck_assert_msg(handshake(a, &actx, &err) == WB_AUTH_DONE, "%s", err.msg);
	round_trip(a, &actx, "<s:Envelope>first</s:Envelope>");
	gss_delete_sec_context(&min, &actx, GSS_C_NO_BUFFER);

	/* The host drops the authentication (a 401 on a request): a new handshake
	 * with fresh keys, on the same instance. */
	ck_assert_msg(handshake(a, &actx, &err) == WB_AUTH_DONE, "%s", err.msg);
	round_trip(a, &actx, "<s:Envelope>after re-auth</s:Envelope>");
	gss_delete_sec_context(&min, &actx, GSS_C_NO_BUFFER);
	wb_auth_free(a);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_ntlm_wrong_password)
{
	struct wb_secret *s = password("not-the-password");
	gss_ctx_id_t actx = GSS_C_NO_CONTEXT;
	struct wb_error err = { 0 };
	struct wb_auth *a = NULL;
	OM_uint32 min;

	ck_assert_int_eq(wb_auth_new(&wb_auth_ntlm, &target, &meta, s, NULL, &a, &err), 0);
	ck_assert_int_eq(handshake(a, &actx, &err), -WB_E_AUTH);
	ck_assert_str_eq(err.msg, "localhost refused the NTLM credential 'ntlm-unit' "
			 "(WINRMTEST\\alice, HTTP 401): wrong user/domain/password?");
	gss_delete_sec_context(&min, &actx, GSS_C_NO_BUFFER);
	wb_auth_free(a);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_ntlm_odd_answers)
{
	struct wb_secret *s = password("Secret-pw-1");
	struct wb_writer authz;
	struct wb_error err = { 0 };
	struct wb_auth *a = NULL;

	ck_assert_int_eq(wb_auth_new(&wb_auth_ntlm, &target, &meta, s, NULL, &a, &err), 0);
	wb_writer_init(&authz, WB_AUTH_HEADER_MAX, WB_SECRET);
	ck_assert_int_eq(a->ops->next_token(a, 0, NULL, &authz, &err), WB_AUTH_CONTINUE);
	/* Not base64. */
	authz.len = 0;
	ck_assert_int_eq(a->ops->next_token(a, 401, "Negotiate !!!!\n", &authz, &err),
			 -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "bad base64"));
	/* A 200 without the last token on a context that is not complete. */
	ck_assert_int_eq(a->ops->next_token(a, 200, "", &authz, &err), -WB_E_AUTH);
	/* Some other status. */
	ck_assert_int_eq(a->ops->next_token(a, 503, "", &authz, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "HTTP 503"));
	/* Sealing before authentication is refused. */
	{
		struct wb_writer body;
		char ct[WB_AUTH_CT_MAX];

		wb_writer_init(&body, 1 << 16, WB_PLAIN);
		ck_assert_int_lt(a->ops->wrap(a, (const uint8_t *)"x", 1, &body, ct, &err), 0);
		ck_assert_int_lt(a->ops->unwrap(a, "multipart/encrypted", (const uint8_t *)"x", 1,
						&body, &err), 0);
		wb_writer_free(&body);
	}
	wb_writer_free(&authz);
	wb_auth_free(a);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_encryption_choice_and_delegation)
{
	struct wb_secret *s = password("pw");
	struct wb_error err = { 0 };
	struct wb_auth *a = NULL;
	const struct wb_auth_ops *ops;

	target.https = true;
	ck_assert_int_eq(wb_auth_new(&wb_auth_ntlm, &target, &meta, s, NULL, &a, &err), 0);
	ck_assert(!a->encrypt);		/* auto over https: TLS only */
	wb_auth_free(a);
	target.message_encryption = WB_MSGENC_ALWAYS;
	ck_assert_int_eq(wb_auth_new(&wb_auth_ntlm, &target, &meta, s, NULL, &a, &err), 0);
	ck_assert(a->encrypt);
	wb_auth_free(a);
	target.https = false;
	target.message_encryption = WB_MSGENC_NEVER;
	ck_assert_int_eq(wb_auth_new(&wb_auth_ntlm, &target, &meta, s, NULL, &a, &err), 0);
	ck_assert(!a->encrypt);
	wb_auth_free(a);

	/* kerberos_delegation needs a credential that allows it. */
	target.transports[0] = WB_TRANSPORT_KERBEROS;
	target.kerberos_delegation = true;
	ck_assert_int_eq(wb_auth_select(&target, &meta, s, &ops, &err), -WB_E_DENIED);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not allow delegation"));
	meta.flags = WB_CRED_F_DELEGATE;
	ck_assert_int_eq(wb_auth_select(&target, &meta, s, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_kerberos);
	/* DOMAIN\user is NTLM's: kerberos skips it, negotiate takes it (as NTLM). */
	strcpy(meta.user, "WINRMTEST\\alice");
	ck_assert_int_eq(wb_auth_select(&target, &meta, s, &ops, &err), -WB_E_UNSUPPORTED);
	target.transports[1] = WB_TRANSPORT_NEGOTIATE;
	target.n_transports = 2;
	ck_assert_int_eq(wb_auth_select(&target, &meta, s, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_negotiate);
	wb_secret_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth-gss");
	TCase *tc = tcase_create("auth-gss");
	SRunner *sr;
	FILE *f;
	int failed, fd;

	if (sodium_init() < 0)
		return 1;
	/* The acceptor's accounts (gss-ntlmssp reads NTLM_USER_FILE). */
	snprintf(user_file, sizeof(user_file), "/tmp/wb-ntlm-users-XXXXXX");
	fd = mkstemp(user_file);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return 1;
	fprintf(f, "WINRMTEST:alice:Secret-pw-1\n");
	fclose(f);
	setenv("NTLM_USER_FILE", user_file, 1);
	tcase_add_test(tc, test_md4_rfc1320);
	tcase_add_test(tc, test_nt_hash);
	tcase_add_test(tc, test_binding_hash_follows_signature);
	tcase_add_test(tc, test_ntlm_handshake_and_sealing);
	tcase_add_test(tc, test_ntlm_wrong_password);
	tcase_add_test(tc, test_ntlm_odd_answers);
	tcase_add_test(tc, test_encryption_choice_and_delegation);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unlink(user_file);
	return failed ? 1 : 0;
}
