/* Unit tests for common/proto.c: frames round-trip, and every malformed
 * frame is refused before any attribute is trusted. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "error.h"
#include "proto.h"

static uint8_t rbuf[WB_FRAME_HDR + WB_FRAME_MAX];

static void build_run(struct wb_writer *w)
{
	wb_writer_init(w, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	ck_assert_int_eq(wb_msg_begin(w, WB_MSG_RUN), 0);
	ck_assert_int_eq(wb_msg_put_str(w, WB_A_CRED, "svc"), 0);
	ck_assert_int_eq(wb_msg_put_str(w, WB_A_HOST, "::1"), 0);
	ck_assert_int_eq(wb_msg_put_str(w, WB_A_COMMAND, "ipconfig"), 0);
	ck_assert_int_eq(wb_msg_put_str(w, WB_A_ARG, "/all"), 0);
	ck_assert_int_eq(wb_msg_put_str(w, WB_A_ARG, ""), 0);
	ck_assert_int_eq(wb_msg_put_u32(w, WB_A_PORT, 5986), 0);
	ck_assert_int_eq(wb_msg_put_u8(w, WB_A_STDIN_OPEN, 1), 0);
	ck_assert_int_eq(wb_msg_put_u64(w, WB_A_CREATED, 0x0102030405060708ull), 0);
	ck_assert_int_eq(wb_msg_finish(w), 0);
}

START_TEST(test_roundtrip)
{
	struct wb_writer w;
	struct wb_frame f;
	char s[64];
	uint32_t u32;
	uint8_t u8;
	uint64_t u64;

	build_run(&w);
	ck_assert_int_eq(wb_frame_parse(w.data, w.len, &f), 0);
	ck_assert_uint_eq(f.type, WB_MSG_RUN);
	ck_assert_int_eq(wb_attr_str(&f, WB_A_HOST, 0, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "::1");
	ck_assert_uint_eq(wb_attr_count(&f, WB_A_ARG), 2);
	ck_assert_int_eq(wb_attr_str(&f, WB_A_ARG, 0, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "/all");
	ck_assert_int_eq(wb_attr_str(&f, WB_A_ARG, 1, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(wb_attr_str(&f, WB_A_ARG, 2, s, sizeof(s)), -ENOENT);
	ck_assert_int_eq(wb_attr_u32(&f, WB_A_PORT, &u32), 0);
	ck_assert_uint_eq(u32, 5986);
	ck_assert_int_eq(wb_attr_u8(&f, WB_A_STDIN_OPEN, &u8), 0);
	ck_assert_uint_eq(u8, 1);
	ck_assert_int_eq(wb_attr_u64(&f, WB_A_CREATED, &u64), 0);
	ck_assert_uint_eq(u64, 0x0102030405060708ull);
	/* wrong sizes and absent attributes */
	ck_assert_int_eq(wb_attr_u8(&f, WB_A_PORT, &u8), -EBADMSG);
	ck_assert_int_eq(wb_attr_u32(&f, WB_A_SCOPE, &u32), -ENOENT);
	ck_assert_int_eq(wb_attr_str(&f, WB_A_COMMAND, 0, s, 8), -EMSGSIZE);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_every_truncation_refused)
{
	struct wb_writer w;
	struct wb_frame f;
	size_t n;

	build_run(&w);
	for (n = 0; n < w.len; n++)
		ck_assert_int_lt(wb_frame_parse(w.data, n, &f), 0);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_bad_headers)
{
	uint8_t hdr[WB_FRAME_HDR] = { 0, 0, 0, 0, 0, 1, 0, 1 };	/* reserved != 0 */
	uint8_t big[WB_FRAME_HDR] = { 0, 0x04, 0, 1, 0, 1, 0, 0 };	/* 262145 */
	uint32_t len;
	uint16_t type;

	ck_assert_int_eq(wb_frame_header(hdr, &len, &type), -EBADMSG);
	ck_assert_int_eq(wb_frame_header(big, &len, &type), -EMSGSIZE);
	big[1] = 0x04;
	big[3] = 0;	/* exactly WB_FRAME_MAX */
	ck_assert_int_eq(wb_frame_header(big, &len, &type), 0);
	ck_assert_uint_eq(len, WB_FRAME_MAX);
}
END_TEST

START_TEST(test_attribute_overrun_and_nul)
{
	/* One attribute claiming 100 bytes in a 10-byte payload. */
	static const uint8_t over[] = { 0, 0, 0, 10, 0, 0x10, 0, 0,
					0, 0x10, 0, 0, 0, 100, 'a', 'b', 'c', 'd' };
	/* A string with a NUL inside. */
	static const uint8_t nul[] = { 0, 0, 0, 9, 0, 0x10, 0, 0,
				       0, 0x21, 0, 0, 0, 3, 'a', 0, 'b' };
	struct wb_frame f;
	char s[16];

	ck_assert_int_eq(wb_frame_parse(over, sizeof(over), &f), -EBADMSG);
	ck_assert_int_eq(wb_frame_parse(nul, sizeof(nul), &f), 0);
	ck_assert_int_eq(wb_attr_str(&f, WB_A_COMMAND, 0, s, sizeof(s)), -EBADMSG);
}
END_TEST

START_TEST(test_too_many_attributes)
{
	struct wb_writer w;
	struct wb_frame f;
	int i;

	wb_writer_init(&w, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	ck_assert_int_eq(wb_msg_begin(&w, WB_MSG_RUN), 0);
	for (i = 0; i <= WB_ATTRS_MAX; i++)
		ck_assert_int_eq(wb_msg_put(&w, WB_A_ARG, "", 0), 0);
	ck_assert_int_eq(wb_msg_finish(&w), 0);
	ck_assert_int_eq(wb_frame_parse(w.data, w.len, &f), -EMSGSIZE);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_oversized_message_refused)
{
	struct wb_writer w;
	static uint8_t blob[WB_FRAME_MAX];

	wb_writer_init(&w, 2 * WB_FRAME_MAX, WB_PLAIN);
	ck_assert_int_eq(wb_msg_begin(&w, WB_MSG_STDIN), 0);
	ck_assert_int_eq(wb_msg_put(&w, WB_A_DATA, blob, sizeof(blob)), 0);
	ck_assert_int_eq(wb_msg_finish(&w), -EMSGSIZE);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_socket_io)
{
	struct wb_writer w;
	struct wb_frame f;
	int sv[2];
	char s[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	build_run(&w);
	ck_assert_int_eq(wb_frame_write(sv[0], &w), 0);
	ck_assert_int_eq(wb_frame_read(sv[1], rbuf, sizeof(rbuf), &f), 0);
	ck_assert_int_eq(wb_attr_str(&f, WB_A_CRED, 0, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "svc");
	/* Half a frame, then EOF: not a clean close. */
	ck_assert_int_eq(wb_write_all(sv[0], w.data, 10), 0);
	close(sv[0]);
	ck_assert_int_eq(wb_frame_read(sv[1], rbuf, sizeof(rbuf), &f), -EPIPE);
	/* EOF before any byte: a clean close. */
	ck_assert_int_eq(wb_frame_read(sv[1], rbuf, sizeof(rbuf), &f), -ECONNRESET);
	close(sv[1]);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_secret_writer)
{
	struct wb_writer w;
	struct wb_frame f;
	const uint8_t *val;
	uint32_t vlen;

	wb_writer_init(&w, WB_FRAME_HDR + WB_FRAME_MAX, WB_SECRET);
	ck_assert_int_eq(wb_msg_begin(&w, WB_MSG_CRED_ADD), 0);
	ck_assert_int_eq(wb_msg_put_str(&w, WB_A_SECRET, "hunter2"), 0);
	ck_assert_int_eq(wb_msg_finish(&w), 0);
	ck_assert_int_eq(wb_frame_parse(w.data, w.len, &f), 0);
	ck_assert_int_eq(wb_attr_find(&f, WB_A_SECRET, 0, &val, &vlen), 0);
	ck_assert_uint_eq(vlen, 7);
	ck_assert_int_eq(memcmp(val, "hunter2", 7), 0);
	wb_writer_free(&w);
}
END_TEST

/* An ERROR_CODE is any u32 a peer sends; the name lookup must survive all
 * of them (INT_MIN has no positive int: found by fuzz/fuzz_libclient). */
START_TEST(test_errcode_names)
{
	ck_assert_str_eq(wb_errcode_name(WB_E_AUTH), "auth");
	ck_assert_str_eq(wb_errcode_name(-WB_E_AUTH), "auth");
	ck_assert_str_eq(wb_errcode_name(INT_MIN), "unknown");
	ck_assert_str_eq(wb_errcode_name(INT_MAX), "unknown");
	ck_assert_str_eq(wb_errcode_name((int)0x80000001u), "unknown");
	ck_assert_str_eq(wb_errcode_name(WB_E_MAX), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_errcode_names);
	tcase_add_test(tc, test_every_truncation_refused);
	tcase_add_test(tc, test_bad_headers);
	tcase_add_test(tc, test_attribute_overrun_and_nul);
	tcase_add_test(tc, test_too_many_attributes);
	tcase_add_test(tc, test_oversized_message_refused);
	tcase_add_test(tc, test_socket_io);
	tcase_add_test(tc, test_secret_writer);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
