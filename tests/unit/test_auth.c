/*
 * Unit tests for brokerd/auth*.c: transport selection by credential kind and
 * scheme, and the Authorization lines of Basic and Certificate.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"

static struct wb_cred_meta meta;
static struct wb_target target;

static struct wb_secret *password_secret(const char *user, const char *domain, const char *pw)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_PASSWORD);
	uint8_t *p = NULL;

	memset(&meta, 0, sizeof(meta));
	strcpy(meta.name, "pw");
	meta.kind = WB_CRED_PASSWORD;
	strcpy(meta.user, user);
	strcpy(meta.domain, domain);
	ck_assert_int_eq(wb_secret_set(&p, NULL, pw, strlen(pw)), 0);
	s->password = (char *)p;
	return s;
}

static struct wb_secret *cert_secret(void)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_CERTIFICATE);

	memset(&meta, 0, sizeof(meta));
	strcpy(meta.name, "crt");
	meta.kind = WB_CRED_CERTIFICATE;
	ck_assert_int_eq(wb_secret_set(&s->cert_pem, &s->cert_len, "CERT", 4), 0);
	ck_assert_int_eq(wb_secret_set(&s->key_pem, &s->key_len, "KEY", 3), 0);
	return s;
}

static void transports(bool https, int n, ...)
{
	va_list ap;
	int i;

	wb_target_defaults(&target);
	strcpy(target.host, "win.example");
	target.https = https;
	target.port = https ? 5986 : 5985;
	va_start(ap, n);
	for (i = 0; i < n; i++)
		target.transports[i] = va_arg(ap, enum wb_transport);
	va_end(ap);
	target.n_transports = (size_t)n;
}

START_TEST(test_select_by_kind)
{
	struct wb_secret *pw = password_secret("alice", "", "pw"), *crt;
	const struct wb_auth_ops *ops = NULL;
	struct wb_error err = { 0 };

	/* Certificate does not fit a password: skipped for basic. */
	transports(true, 2, WB_TRANSPORT_CERTIFICATE, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_select(&target, &meta, pw, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_basic);
	wb_secret_free(pw);

	crt = cert_secret();
	ck_assert_int_eq(wb_auth_select(&target, &meta, crt, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_cert);
	transports(true, 1, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_select(&target, &meta, crt, &ops, &err), -WB_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "kind certificate"));
	wb_secret_free(crt);
}
END_TEST

START_TEST(test_select_refuses_http_and_undelegated)
{
	struct wb_secret *pw = password_secret("alice", "", "pw"), *crt;
	const struct wb_auth_ops *ops = NULL;
	struct wb_error err = { 0 };

	transports(false, 1, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_select(&target, &meta, pw, &ops, &err), -WB_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "clear text"));

	/* CredSSP hands the password over: refused for a credential without
	 * delegation, and that refusal is what is reported. */
	transports(false, 2, WB_TRANSPORT_CREDSSP, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_select(&target, &meta, pw, &ops, &err), -WB_E_DENIED);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not allow delegation"));

	/* A transport later in the list that fits wins over a refused first. */
	transports(true, 2, WB_TRANSPORT_CREDSSP, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_select(&target, &meta, pw, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_basic);

	/* With delegation allowed, CredSSP over http too (it seals). */
	meta.flags = WB_CRED_F_DELEGATE;
	transports(false, 1, WB_TRANSPORT_CREDSSP);
	ck_assert_int_eq(wb_auth_select(&target, &meta, pw, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_credssp);
	meta.flags = 0;

	/* NTLM seals its messages: http is fine for it, and it goes first. */
	transports(false, 2, WB_TRANSPORT_NTLM, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_select(&target, &meta, pw, &ops, &err), 0);
	ck_assert_ptr_eq(ops, &wb_auth_ntlm);
	wb_secret_free(pw);

	crt = cert_secret();
	transports(false, 1, WB_TRANSPORT_CERTIFICATE);
	ck_assert_int_eq(wb_auth_select(&target, &meta, crt, &ops, &err), -WB_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "https"));
	wb_secret_free(crt);
}
END_TEST

static void expect_basic_line(const char *user, const char *domain, const char *pw,
			      const char *plain)
{
	struct wb_secret *s = password_secret(user, domain, pw);
	struct wb_writer line;
	struct wb_auth *a = NULL;
	struct wb_error err = { 0 };
	char want[512], b64[256];

	transports(true, 1, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_new(&wb_auth_basic, &target, &meta, s, NULL, &a, &err), 0);
	ck_assert_int_eq(a->ops->next_token(a, 0, NULL, NULL, &err), WB_AUTH_DONE);
	wb_writer_init(&line, WB_AUTH_HEADER_MAX, WB_SECRET);
	ck_assert_int_eq(a->ops->request_header(a, &line, &err), 0);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)plain, strlen(plain),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(want, sizeof(want), "Authorization: Basic %s", b64);
	ck_assert_str_eq((const char *)line.data, want);
	/* A 401 is final for Basic, and the message names the fix. */
	ck_assert_int_eq(a->ops->next_token(a, 401, "Basic realm=\"WSMAN\"\n", &line, &err),
			 -WB_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "win.example"));
	ck_assert_ptr_null(strstr(err.msg, pw));
	wb_writer_free(&line);
	wb_auth_free(a);
	wb_secret_free(s);
}

START_TEST(test_basic_header)
{
	expect_basic_line("alice", "", "s3cr:et", "alice:s3cr:et");
	expect_basic_line("alice", "WINRMTEST", "pw", "WINRMTEST\\alice:pw");
	expect_basic_line(".\\alice", "WINRMTEST", "pw", ".\\alice:pw");
	expect_basic_line("alice@corp.example", "CORP", "pw", "alice@corp.example:pw");
}
END_TEST

START_TEST(test_basic_refuses_colon_user)
{
	struct wb_secret *s = password_secret("al:ice", "", "pw");
	struct wb_auth *a = NULL;
	struct wb_error err = { 0 };

	transports(true, 1, WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_auth_new(&wb_auth_basic, &target, &meta, s, NULL, &a, &err), -WB_E_INVALID);
	ck_assert_ptr_null(a);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_cert_header_and_blobs)
{
	struct wb_secret *s = cert_secret();
	struct wb_writer line;
	struct wb_auth *a = NULL;
	struct wb_error err = { 0 };

	transports(true, 1, WB_TRANSPORT_CERTIFICATE);
	ck_assert_int_eq(wb_auth_new(&wb_auth_cert, &target, &meta, s, NULL, &a, &err), 0);
	/* Borrowed, not copied: the TLS library reads the sodium memory. */
	ck_assert_ptr_eq(a->client_cert_pem, s->cert_pem);
	ck_assert_ptr_eq(a->client_key_pem, s->key_pem);
	ck_assert_uint_eq(a->client_key_len, 3);
	ck_assert(!a->encrypt);
	wb_writer_init(&line, WB_AUTH_HEADER_MAX, WB_SECRET);
	ck_assert_int_eq(a->ops->request_header(a, &line, &err), 0);
	ck_assert_str_eq((const char *)line.data, "Authorization: http://schemas.dmtf.org/wbem/"
			 "wsman/1/wsman/secprofile/https/mutual");
	ck_assert_int_eq(a->ops->next_token(a, 401, "", &line, &err), -WB_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "certmapping"));
	wb_writer_free(&line);
	wb_auth_free(a);
	wb_secret_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, test_select_by_kind);
	tcase_add_test(tc, test_select_refuses_http_and_undelegated);
	tcase_add_test(tc, test_basic_header);
	tcase_add_test(tc, test_basic_refuses_colon_user);
	tcase_add_test(tc, test_cert_header_and_blobs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
