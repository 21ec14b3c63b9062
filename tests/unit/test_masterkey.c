/* Unit tests for brokerd/masterkey.c: key formats, unsafe key files, key placement, generation. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "masterkey.h"

static char tmpdir[64];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/wb-masterkey-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	umask(022);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *path_in(const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static const uint8_t key_bytes[32] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};
static const char key_hex[] = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210";

/* Loads path and expects failure with code, with want in the message. */
static void expect_refused(const char *path, const char *store, int code, const char *want)
{
	struct wb_masterkey *k = (void *)1;
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_masterkey_load(path, store, &k, &err), -code);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, want), "message \"%s\" lacks \"%s\"", err.msg, want);
}

static void expect_key(const char *path, const char *store)
{
	struct wb_masterkey *k = NULL;
	struct wb_error err = { 0 };

	ck_assert_msg(wb_masterkey_load(path, store, &k, &err) == 0, "%s", err.msg);
	ck_assert_mem_eq(wb_masterkey_bytes(k), key_bytes, 32);
	wb_masterkey_free(k);
}

START_TEST(test_raw_and_hex)
{
	char hexnl[70];

	write_file(path_in("raw"), key_bytes, 32, 0600);
	expect_key(path_in("raw"), NULL);
	write_file(path_in("hex"), key_hex, 64, 0400);
	expect_key(path_in("hex"), NULL);
	snprintf(hexnl, sizeof(hexnl), "%s\n", key_hex);
	write_file(path_in("hexnl"), hexnl, 65, 0600);
	expect_key(path_in("hexnl"), NULL);
	/* Upper-case hex is hex too. */
	for (size_t i = 0; i < 64; i++)
		hexnl[i] = (char)(hexnl[i] >= 'a' ? hexnl[i] - 32 : hexnl[i]);
	write_file(path_in("HEX"), hexnl, 65, 0600);
	expect_key(path_in("HEX"), NULL);
}
END_TEST

START_TEST(test_bad_contents)
{
	static const size_t sizes[] = { 0, 1, 31, 33, 63, 66, 100 };
	char buf[128], bad_hex[66];
	uint8_t zero[32] = { 0 };

	memset(buf, 'a', sizeof(buf));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		write_file(path_in("k"), buf, sizes[i], 0600);
		expect_refused(path_in("k"), NULL, WB_E_CONFIG, "32 raw bytes or 64 hex digits");
	}
	memcpy(bad_hex, key_hex, 64);
	bad_hex[17] = 'g';
	write_file(path_in("k"), bad_hex, 64, 0600);
	expect_refused(path_in("k"), NULL, WB_E_CONFIG, "not 64 hex digits");
	memcpy(bad_hex, key_hex, 64);
	memcpy(bad_hex + 64, "\r\n", 2);	/* only one "\n" may follow */
	write_file(path_in("k"), bad_hex, 66, 0600);
	expect_refused(path_in("k"), NULL, WB_E_CONFIG, "wrong size");
	write_file(path_in("k"), zero, 32, 0600);
	expect_refused(path_in("k"), NULL, WB_E_CONFIG, "all zero");
	expect_refused(path_in("missing"), NULL, WB_E_CONFIG, "No such file");
}
END_TEST

START_TEST(test_unsafe_modes)
{
	static const mode_t bad[] = { 0640, 0604, 0660, 0644, 0606, 0610, 0601 };
	char want[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path_in("k"), key_bytes, 32, bad[i]);
		snprintf(want, sizeof(want), "chmod 600 %s", path_in("k"));
		expect_refused(path_in("k"), NULL, WB_E_CONFIG, want);
	}
	write_file(path_in("k"), key_bytes, 32, 0400);
	expect_key(path_in("k"), NULL);
}
END_TEST

START_TEST(test_not_regular)
{
	ck_assert_int_eq(mkdir(path_in("dir"), 0700), 0);
	expect_refused(path_in("dir"), NULL, WB_E_CONFIG, "not a regular file");
	/* A FIFO must be refused, not block the loader. */
	ck_assert_int_eq(mkfifo(path_in("fifo"), 0600), 0);
	expect_refused(path_in("fifo"), NULL, WB_E_CONFIG, "not a regular file");
	expect_refused("/dev/null", NULL, WB_E_CONFIG, "not a regular file");
}
END_TEST

START_TEST(test_owner)
{
	if (geteuid() != 0)
		return;	/* only root can give a file away; CI runs as root */
	write_file(path_in("k"), key_bytes, 32, 0600);
	ck_assert_int_eq(chown(path_in("k"), 4242, 4242), 0);
	expect_refused(path_in("k"), NULL, WB_E_CONFIG, "owned by uid 4242");
}
END_TEST

START_TEST(test_beside_store)
{
	char link_target[256];

	ck_assert_int_eq(mkdir(path_in("state"), 0700), 0);
	ck_assert_int_eq(mkdir(path_in("state/keys"), 0700), 0);
	ck_assert_int_eq(mkdir(path_in("etc"), 0700), 0);
	write_file(path_in("state/master-key"), key_bytes, 32, 0600);
	write_file(path_in("state/keys/master-key"), key_bytes, 32, 0600);
	write_file(path_in("etc/master-key"), key_bytes, 32, 0600);

	expect_refused(path_in("state/master-key"), path_in("state/store"), WB_E_CONFIG,
		       "inside the store's directory");
	expect_refused(path_in("state/keys/master-key"), path_in("state/store"), WB_E_CONFIG,
		       "inside the store's directory");
	/* Through a path with "..", and through a symlink from elsewhere. */
	expect_refused(path_in("etc/../state/master-key"), path_in("state/store"), WB_E_CONFIG,
		       "inside the store's directory");
	snprintf(link_target, sizeof(link_target), "%s", path_in("state/master-key"));
	ck_assert_int_eq(symlink(link_target, path_in("etc/link")), 0);
	expect_refused(path_in("etc/link"), path_in("state/store"), WB_E_CONFIG,
		       "inside the store's directory");
	/* The state directory itself may be named instead of the store file. */
	expect_refused(path_in("state/master-key"), path_in("state"), WB_E_CONFIG,
		       "inside the store's directory");
	expect_key(path_in("etc/master-key"), path_in("state"));
	/* The same key file elsewhere is fine, and so is a key for no store. */
	expect_key(path_in("etc/master-key"), path_in("state/store"));
	expect_key(path_in("state/master-key"), NULL);
	/* A store directory that does not exist cannot be checked. */
	expect_refused(path_in("etc/master-key"), path_in("nodir/store"), WB_E_CONFIG,
		       "store directory");
}
END_TEST

START_TEST(test_credentials_directory)
{
	ck_assert_int_eq(mkdir(path_in("creds"), 0700), 0);
	write_file(path_in("creds/" WB_MASTERKEY_CREDENTIAL), key_hex, 64, 0400);

	unsetenv("CREDENTIALS_DIRECTORY");
	expect_refused(NULL, NULL, WB_E_CONFIG, "$CREDENTIALS_DIRECTORY is not set");
	setenv("CREDENTIALS_DIRECTORY", path_in("creds"), 1);
	ck_assert_int_eq(mkdir(path_in("state"), 0700), 0);
	expect_key(NULL, path_in("state/store"));
	/* The credentials directory is checked like any key path. */
	expect_refused(NULL, path_in("creds/store"), WB_E_CONFIG, "inside the store's directory");
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);	/* no master-key there */
	expect_refused(NULL, NULL, WB_E_CONFIG, "No such file");
	/* An explicit path wins over the environment. */
	write_file(path_in("explicit"), key_bytes, 32, 0600);
	expect_key(path_in("explicit"), NULL);
	unsetenv("CREDENTIALS_DIRECTORY");
}
END_TEST

START_TEST(test_generate)
{
	struct wb_masterkey *a = NULL, *b = NULL;
	struct wb_error err = { 0 };
	uint8_t before[32], after[32];
	struct stat st;
	FILE *f;

	ck_assert_msg(wb_masterkey_generate(path_in("a"), &err) == 0, "%s", err.msg);
	ck_assert_int_eq(wb_masterkey_generate(path_in("b"), &err), 0);
	ck_assert_int_eq(stat(path_in("a"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, 32);
	ck_assert_int_eq(wb_masterkey_load(path_in("a"), NULL, &a, &err), 0);
	ck_assert_int_eq(wb_masterkey_load(path_in("b"), NULL, &b, &err), 0);
	ck_assert_mem_ne(wb_masterkey_bytes(a), wb_masterkey_bytes(b), 32);

	/* Never replaces a key: every credential is sealed under it. */
	f = fopen(path_in("a"), "rb");
	ck_assert_uint_eq(fread(before, 1, 32, f), 32);
	fclose(f);
	ck_assert_int_eq(wb_masterkey_generate(path_in("a"), &err), -WB_E_EXISTS);
	ck_assert_ptr_nonnull(strstr(err.msg, "refusing to replace"));
	f = fopen(path_in("a"), "rb");
	ck_assert_uint_eq(fread(after, 1, 32, f), 32);
	fclose(f);
	ck_assert_mem_eq(before, after, 32);
	ck_assert_mem_eq(before, wb_masterkey_bytes(a), 32);
	/* Nor follows a symlink planted at the path. */
	ck_assert_int_eq(symlink(path_in("target"), path_in("link")), 0);
	ck_assert_int_lt(wb_masterkey_generate(path_in("link"), &err), 0);
	ck_assert_int_eq(access(path_in("target"), F_OK), -1);
	wb_masterkey_free(a);
	wb_masterkey_free(b);
	wb_masterkey_free(NULL);
}
END_TEST

START_TEST(test_from_bytes)
{
	struct wb_masterkey *k = NULL;
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_masterkey_from_bytes(key_bytes, 31, &k, &err), -WB_E_CONFIG);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(wb_masterkey_from_bytes(key_bytes, 32, &k, &err), 0);
	ck_assert_mem_eq(wb_masterkey_bytes(k), key_bytes, 32);
	wb_masterkey_free(k);
}
END_TEST

/* The loaded key is read-only: a stray write faults instead of corrupting it. */
START_TEST(test_key_read_only)
{
	struct wb_masterkey *k = NULL;
	int status;
	pid_t pid;

	ck_assert_int_eq(wb_masterkey_from_bytes(key_bytes, 32, &k, NULL), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		((volatile uint8_t *)wb_masterkey_bytes(k))[0] = 0x42;
		_exit(0);	/* reached only if the write went through */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* Killed by SIGSEGV, or (under ASan, which catches the fault) exit non-zero. */
	ck_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
	ck_assert_mem_eq(wb_masterkey_bytes(k), key_bytes, 32);
	wb_masterkey_free(k);
}
END_TEST

static Suite *masterkey_suite(void)
{
	Suite *s = suite_create("masterkey");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_raw_and_hex);
	tcase_add_test(tc, test_bad_contents);
	tcase_add_test(tc, test_unsafe_modes);
	tcase_add_test(tc, test_not_regular);
	tcase_add_test(tc, test_owner);
	tcase_add_test(tc, test_beside_store);
	tcase_add_test(tc, test_credentials_directory);
	tcase_add_test(tc, test_generate);
	tcase_add_test(tc, test_from_bytes);
	tcase_add_test(tc, test_key_read_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(masterkey_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
