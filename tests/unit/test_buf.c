/* Unit tests for common/buf.c: every getter stops at the end of its input. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"

START_TEST(test_reader_integers)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				      0x08, 0x09, 0x0a, 0x0b };
	struct wb_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;

	wb_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(wb_get_u8(&r, &u8), 0);
	ck_assert_uint_eq(u8, 0x01);
	ck_assert_int_eq(wb_get_u16le(&r, &u16), 0);
	ck_assert_uint_eq(u16, 0x0302);
	ck_assert_int_eq(wb_get_u32le(&r, &u32), 0);
	ck_assert_uint_eq(u32, 0x07060504);
	ck_assert_int_eq(wb_get_u32be(&r, &u32), 0);
	ck_assert_uint_eq(u32, 0x08090a0b);
	ck_assert_uint_eq(wb_reader_left(&r), 0);
	ck_assert_int_eq(wb_get_u8(&r, &u8), -EBADMSG);
}
END_TEST

START_TEST(test_reader_short_input_leaves_cursor)
{
	static const uint8_t in[] = { 0xaa, 0xbb, 0xcc };
	struct wb_reader r;
	uint32_t u32 = 0x12345678;
	const uint8_t *p = NULL;

	wb_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(wb_get_u32le(&r, &u32), -EBADMSG);
	ck_assert_uint_eq(u32, 0x12345678);	/* untouched on failure */
	ck_assert_uint_eq(wb_reader_left(&r), 3);
	ck_assert_int_eq(wb_get_bytes(&r, 4, &p), -EBADMSG);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(wb_get_bytes(&r, SIZE_MAX, &p), -EBADMSG);
	ck_assert_int_eq(wb_skip(&r, 2), 0);
	ck_assert_int_eq(wb_get_bytes(&r, 1, &p), 0);
	ck_assert_uint_eq(p[0], 0xcc);
}
END_TEST

START_TEST(test_reader_null_input)
{
	struct wb_reader r;
	uint8_t u8;

	wb_reader_init(&r, NULL, 100);
	ck_assert_uint_eq(wb_reader_left(&r), 0);
	ck_assert_int_eq(wb_get_u8(&r, &u8), -EBADMSG);
}
END_TEST

START_TEST(test_find)
{
	static const char in[] = "xx--Encrypted Boundary\r\n";
	struct wb_reader r;

	wb_reader_init(&r, in, strlen(in));
	ck_assert_int_eq(wb_find(&r, "--Encrypted Boundary", 20), 2);
	ck_assert_int_eq(wb_skip(&r, 3), 0);
	ck_assert_int_eq(wb_find(&r, "--Encrypted Boundary", 20), -ENOENT);
	ck_assert_int_eq(wb_find(&r, "", 0), -ENOENT);
	ck_assert_int_eq(wb_find(&r, "a much longer needle than what is left", 38), -ENOENT);
}
END_TEST

static void writer_roundtrip(int flags)
{
	struct wb_writer w;
	struct wb_reader r;
	uint32_t le, be;
	size_t i;

	wb_writer_init(&w, 1000, flags);
	ck_assert_int_eq(wb_put_u32le(&w, 0xdeadbeef), 0);
	ck_assert_int_eq(wb_put_u32be(&w, 0xcafef00d), 0);
	for (i = 0; i < 200; i++)	/* forces several reallocations */
		ck_assert_int_eq(wb_put_u8(&w, (uint8_t)i), 0);
	ck_assert_uint_eq(w.len, 208);

	wb_reader_init(&r, w.data, w.len);
	ck_assert_int_eq(wb_get_u32le(&r, &le), 0);
	ck_assert_int_eq(wb_get_u32be(&r, &be), 0);
	ck_assert_uint_eq(le, 0xdeadbeef);
	ck_assert_uint_eq(be, 0xcafef00d);
	for (i = 0; i < 200; i++) {
		uint8_t b;

		ck_assert_int_eq(wb_get_u8(&r, &b), 0);
		ck_assert_uint_eq(b, (uint8_t)i);
	}
	wb_writer_free(&w);
	ck_assert_ptr_null(w.data);
	ck_assert_uint_eq(w.len, 0);
}

START_TEST(test_writer_plain)
{
	writer_roundtrip(WB_PLAIN);
}
END_TEST

START_TEST(test_writer_secret)
{
	writer_roundtrip(WB_SECRET);
}
END_TEST

START_TEST(test_writer_cap)
{
	struct wb_writer w;
	uint8_t block[600];

	memset(block, 'a', sizeof(block));
	wb_writer_init(&w, 1000, WB_PLAIN);
	ck_assert_int_eq(wb_put(&w, block, sizeof(block)), 0);
	ck_assert_int_eq(wb_put(&w, block, sizeof(block)), -EMSGSIZE);
	ck_assert_uint_eq(w.len, 600);	/* a refused put changes nothing */
	ck_assert_int_eq(wb_put(&w, block, 400), 0);
	ck_assert_uint_eq(w.len, 1000);
	ck_assert_uint_le(w.cap, 1000);
	ck_assert_int_eq(wb_put_u8(&w, 1), -EMSGSIZE);
	ck_assert_int_eq(wb_put(&w, block, SIZE_MAX), -EMSGSIZE);
	wb_writer_free(&w);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_reader_integers);
	tcase_add_test(tc, test_reader_short_input_leaves_cursor);
	tcase_add_test(tc, test_reader_null_input);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_writer_plain);
	tcase_add_test(tc, test_writer_secret);
	tcase_add_test(tc, test_writer_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(buf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
