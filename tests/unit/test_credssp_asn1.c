/*
 * brokerd/credssp_asn1.c: TSRequest and TSCredentials round trips, the DER
 * bytes of a known TSRequest, and hostile input (truncations, trailing
 * bytes, flipped bytes, out-of-range fields) refused without a crash.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "credssp_asn1.h"

static struct wb_blob blob(const void *p, size_t n)
{
	return (struct wb_blob){ true, (uint8_t *)p, n };
}

static void encode(const struct wb_tsreq *r, struct wb_writer *w)
{
	wb_writer_init(w, 1 << 20, WB_PLAIN);
	ck_assert_int_eq(wb_tsreq_encode(r, w, NULL), 0);
}

START_TEST(test_tsreq_round_trip)
{
	uint8_t nonce[32];
	struct wb_tsreq r = { .version = 6 }, d;
	struct wb_writer w;

	memset(nonce, 0x5a, sizeof(nonce));
	r.nego = blob("\x60\x01\x02", 3);
	r.pub_key_auth = blob("sealed", 6);
	r.nonce = blob(nonce, sizeof(nonce));
	r.has_error = true;
	r.error_code = 0xC000006D;
	encode(&r, &w);
	ck_assert_int_eq(wb_tsreq_decode(w.data, w.len, &d, NULL), 0);
	ck_assert_int_eq(d.version, 6);
	ck_assert(d.nego.present && d.nego.n == 3 && memcmp(d.nego.p, "\x60\x01\x02", 3) == 0);
	ck_assert(!d.auth_info.present);
	ck_assert(d.pub_key_auth.present && d.pub_key_auth.n == 6);
	ck_assert(d.nonce.present && memcmp(d.nonce.p, nonce, 32) == 0);
	ck_assert(d.has_error);
	ck_assert_uint_eq(d.error_code, 0xC000006D);
	wb_tsreq_clear(&d);
	wb_writer_free(&w);
}
END_TEST

/* MS-CSSP's EXPLICIT tags, byte for byte: { [0] INTEGER 2, [1] { { [0] OCTET "ab" } } }. */
START_TEST(test_tsreq_der_bytes)
{
	static const uint8_t want[] = { 0x30, 0x11, 0xa0, 0x03, 0x02, 0x01, 0x02,
					0xa1, 0x0a, 0x30, 0x08, 0x30, 0x06,
					0xa0, 0x04, 0x04, 0x02, 'a', 'b' };
	struct wb_tsreq r = { .version = 2 }, d;
	struct wb_writer w;

	r.nego = blob("ab", 2);
	encode(&r, &w);
	ck_assert_uint_eq(w.len, sizeof(want));
	ck_assert_int_eq(memcmp(w.data, want, sizeof(want)), 0);
	ck_assert_int_eq(wb_tsreq_decode(w.data, w.len, &d, NULL), 0);
	ck_assert_int_eq(d.version, 2);
	wb_tsreq_clear(&d);
	wb_writer_free(&w);
}
END_TEST

/* A Windows server writes an NTSTATUS as a negative INTEGER. */
START_TEST(test_tsreq_negative_error_code)
{
	static const uint8_t der[] = { 0x30, 0x0d, 0xa0, 0x03, 0x02, 0x01, 0x06,
				       0xa4, 0x06, 0x02, 0x04, 0xc0, 0x00, 0x00, 0x6d };
	struct wb_tsreq d;

	ck_assert_int_eq(wb_tsreq_decode(der, sizeof(der), &d, NULL), 0);
	ck_assert(d.has_error);
	ck_assert_uint_eq(d.error_code, 0xC000006D);
	wb_tsreq_clear(&d);
}
END_TEST

START_TEST(test_tsreq_hostile)
{
	/* version 2^40; two negoTokens; trailing byte; wrong outer tag; empty. */
	static const uint8_t big_version[] = { 0x30, 0x09, 0xa0, 0x07, 0x02, 0x05, 0x01, 0, 0, 0, 0 };
	static const uint8_t neg_version[] = { 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0xff };
	static const uint8_t two_tokens[] = { 0x30, 0x17, 0xa0, 0x03, 0x02, 0x01, 0x06, 0xa1, 0x10,
					      0x30, 0x0e, 0x30, 0x05, 0xa0, 0x03, 0x04, 0x01, 'a',
					      0x30, 0x05, 0xa0, 0x03, 0x04, 0x01, 'b' };
	static const uint8_t wrong_tag[] = { 0x31, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x06 };
	struct wb_tsreq r = { .version = 6 }, d;
	struct wb_error err = { 0 };
	struct wb_writer w;
	size_t i;
	int ok = 0;

	ck_assert_int_eq(wb_tsreq_decode(big_version, sizeof(big_version), &d, &err), -WB_E_PROTO);
	ck_assert_int_eq(wb_tsreq_decode(neg_version, sizeof(neg_version), &d, NULL), -WB_E_PROTO);
	ck_assert_int_eq(wb_tsreq_decode(two_tokens, sizeof(two_tokens), &d, NULL), -WB_E_PROTO);
	ck_assert_int_eq(wb_tsreq_decode(wrong_tag, sizeof(wrong_tag), &d, NULL), -WB_E_PROTO);
	ck_assert_int_eq(wb_tsreq_decode(wrong_tag, 0, &d, NULL), -WB_E_PROTO);

	r.nego = blob("token", 5);
	r.pub_key_auth = blob("pubkeyauth", 10);
	encode(&r, &w);
	/* Every truncation, and a trailing byte, refused. */
	for (i = 0; i < w.len; i++)
		ck_assert_int_eq(wb_tsreq_decode(w.data, i, &d, NULL), -WB_E_PROTO);
	ck_assert_int_eq(wb_put_u8(&w, 0), 0);
	ck_assert_int_eq(wb_tsreq_decode(w.data, w.len, &d, NULL), -WB_E_PROTO);
	w.len--;
	/* Every single-byte flip: refused or decoded, never a crash (ASan). */
	for (i = 0; i < w.len; i++) {
		uint8_t save = w.data[i];
		int b;

		for (b = 0; b < 8; b++) {
			w.data[i] = save ^ (uint8_t)(1 << b);
			if (wb_tsreq_decode(w.data, w.len, &d, NULL) == 0) {
				ok++;
				wb_tsreq_clear(&d);
			}
		}
		w.data[i] = save;
	}
	ck_assert_int_lt(ok, (int)w.len * 8);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_tscreds_round_trip)
{
	/* "pässwörd€𝄞": 2-, 3- and 4-byte UTF-8 (a surrogate pair). */
	const char *pw = "p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac\xf0\x9d\x84\x9e";
	static const uint8_t pw16[] = { 'p', 0, 0xe4, 0, 's', 0, 's', 0, 'w', 0, 0xf6, 0, 'r', 0,
					'd', 0, 0xac, 0x20, 0x34, 0xd8, 0x1e, 0xdd };
	struct wb_writer w, dom, user, pass;

	wb_writer_init(&w, 1 << 16, WB_SECRET);
	wb_writer_init(&dom, 1 << 16, WB_SECRET);
	wb_writer_init(&user, 1 << 16, WB_SECRET);
	wb_writer_init(&pass, 1 << 16, WB_SECRET);
	ck_assert_int_eq(wb_tscreds_encode_password("WINRMTEST", "alice", pw, &w, NULL), 0);
	ck_assert_int_eq(wb_tscreds_decode_password(w.data, w.len, &dom, &user, &pass, NULL), 0);
	ck_assert_uint_eq(dom.len, 18);
	ck_assert_int_eq(memcmp(dom.data, "W\0I\0N\0R\0M\0T\0E\0S\0T\0", 18), 0);
	ck_assert_uint_eq(user.len, 10);
	ck_assert_int_eq(memcmp(user.data, "a\0l\0i\0c\0e\0", 10), 0);
	ck_assert_uint_eq(pass.len, sizeof(pw16));
	ck_assert_int_eq(memcmp(pass.data, pw16, sizeof(pw16)), 0);
	/* Empty domain: an empty OCTET STRING, still there. */
	w.len = dom.len = user.len = pass.len = 0;
	ck_assert_int_eq(wb_tscreds_encode_password("", "bob", "x", &w, NULL), 0);
	ck_assert_int_eq(wb_tscreds_decode_password(w.data, w.len, &dom, &user, &pass, NULL), 0);
	ck_assert_uint_eq(dom.len, 0);
	ck_assert_uint_eq(pass.len, 2);
	/* Truncated, and a TSRequest instead: refused. */
	ck_assert_int_eq(wb_tscreds_decode_password(w.data, w.len - 1, &dom, &user, &pass, NULL),
			 -WB_E_PROTO);
	wb_writer_free(&w);
	wb_writer_free(&dom);
	wb_writer_free(&user);
	wb_writer_free(&pass);
}
END_TEST

START_TEST(test_invalid_utf8_refused)
{
	static const char *const bad[] = { "\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80",
					   "\xf4\x90\x80\x80", "a\x80" };
	struct wb_writer w;
	size_t i;

	wb_writer_init(&w, 1 << 16, WB_SECRET);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w.len = 0;
		ck_assert_int_eq(wb_utf8_to_utf16le(bad[i], &w), -1);
		ck_assert_int_eq(wb_tscreds_encode_password("D", "u", bad[i], &w, NULL),
				 -WB_E_INVALID);
	}
	wb_writer_free(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("credssp_asn1");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, test_tsreq_round_trip);
	tcase_add_test(tc, test_tsreq_der_bytes);
	tcase_add_test(tc, test_tsreq_negative_error_code);
	tcase_add_test(tc, test_tsreq_hostile);
	tcase_add_test(tc, test_tscreds_round_trip);
	tcase_add_test(tc, test_invalid_utf8_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
