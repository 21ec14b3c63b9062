/*
 * Unit tests for brokerd/store.c: round trips, identities, tampering,
 * truncation, wrong keys, preservation of bad records, and kill -9 during
 * rewrites.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store.h"

#define HEADER_LEN 64	/* docs/store.md */
#define FRAME_HDR_LEN 20

static char tmpdir[64];
static char store_path[128];
static struct wb_masterkey *key, *other_key;

static void setup(void)
{
	uint8_t k[32];

	strcpy(tmpdir, "/tmp/wb-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(store_path, sizeof(store_path), "%s/store", tmpdir);
	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(wb_masterkey_from_bytes(k, 32, &key, NULL), 0);
	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(wb_masterkey_from_bytes(k, 32, &other_key, NULL), 0);
	sodium_memzero(k, sizeof(k));
}

static void teardown(void)
{
	char cmd[128];

	wb_masterkey_free(key);
	wb_masterkey_free(other_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- helpers ---- */

static uint8_t *read_image(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

static void write_image(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static size_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static struct wb_store *open_ok(const char *path)
{
	struct wb_store *s = NULL;
	struct wb_error err = { 0 };

	ck_assert_msg(wb_store_open(path, key, &s, &err) == 0, "%s", err.msg);
	return s;
}

static void meta_init(struct wb_cred_meta *m, const char *name, enum wb_cred_scope scope,
		      uid_t owner, enum wb_cred_kind kind)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->name, name);
	m->scope = scope;
	m->owner = owner;
	m->kind = kind;
	strcpy(m->user, "alice");
}

static struct wb_secret *password_secret(const char *pw)
{
	struct wb_secret *sec = wb_secret_new(WB_CRED_PASSWORD);
	uint8_t *p = NULL;

	ck_assert_ptr_nonnull(sec);
	ck_assert_int_eq(wb_secret_set(&p, NULL, pw, strlen(pw)), 0);
	sec->password = (char *)p;
	return sec;
}

static int put_password(struct wb_store *s, const char *name, enum wb_cred_scope scope,
			uid_t owner, const char *pw, bool replace, struct wb_error *err)
{
	struct wb_cred_meta m;
	struct wb_secret *sec = password_secret(pw);
	int rc;

	meta_init(&m, name, scope, owner, WB_CRED_PASSWORD);
	rc = wb_store_put(s, &m, sec, replace, err);
	wb_secret_free(sec);
	return rc;
}

static void put_ok(struct wb_store *s, const char *name, enum wb_cred_scope scope, uid_t owner,
		   const char *pw)
{
	struct wb_error err = { 0 };

	ck_assert_msg(put_password(s, name, scope, owner, pw, true, &err) == 0, "%s", err.msg);
}

static void expect_password(struct wb_store *s, const char *name, enum wb_cred_scope scope,
			    uid_t owner, const char *pw)
{
	struct wb_secret *sec = NULL;
	struct wb_cred_meta m;
	struct wb_error err = { 0 };

	ck_assert_msg(wb_store_get(s, scope, owner, name, &m, &sec, &err) == 0,
		      "get %s: %s", name, err.msg);
	ck_assert_str_eq(m.name, name);
	ck_assert_int_eq(m.kind, WB_CRED_PASSWORD);
	ck_assert_ptr_nonnull(sec);
	ck_assert_str_eq(sec->password, pw);
	wb_secret_free(sec);
}

static void expect_nocred(struct wb_store *s, const char *name, enum wb_cred_scope scope,
			  uid_t owner)
{
	struct wb_secret *sec = (void *)1;
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_store_get(s, scope, owner, name, NULL, &sec, &err), -WB_E_NOCRED);
	ck_assert_ptr_null(sec);
}

static int count_visit(const struct wb_cred_meta *m, void *ctx)
{
	(void)m;
	++*(size_t *)ctx;
	return 0;
}

static size_t count_records(const struct wb_store *s)
{
	size_t n = 0;

	ck_assert_int_eq(wb_store_list(s, count_visit, &n), 0);
	return n;
}

/* Concatenates all problem messages, to look for words in them. */
static int gather(const char *msg, void *ctx)
{
	char *all = ctx;

	strncat(all, msg, 4095 - strlen(all));
	strncat(all, "\n", 4095 - strlen(all));
	return 0;
}

static void problems(const struct wb_store *s, char all[4096])
{
	all[0] = '\0';
	ck_assert_int_eq(wb_store_problems(s, gather, all), 0);
}

/*
 * A store with three password records A, B, C; ends[i] is where record i's
 * frame ends (rewrites keep every frame's bytes, so the offsets hold).
 */
static void make_abc(size_t ends[3])
{
	struct wb_store *s = open_ok(store_path);

	put_ok(s, "alpha", WB_SCOPE_SHARED, 0, "pw-alpha-1");
	ends[0] = file_size(store_path);
	put_ok(s, "bravo", WB_SCOPE_PERSONAL, 1001, "pw-bravo-2");
	ends[1] = file_size(store_path);
	put_ok(s, "charlie", WB_SCOPE_SHARED, 0, "pw-charlie-3");
	ends[2] = file_size(store_path);
	wb_store_close(s);
}

static void expect_ac_work(struct wb_store *s)
{
	expect_password(s, "alpha", WB_SCOPE_SHARED, 0, "pw-alpha-1");
	expect_password(s, "charlie", WB_SCOPE_SHARED, 0, "pw-charlie-3");
}

static void expect_ab_work_not_c(struct wb_store *s)
{
	expect_password(s, "alpha", WB_SCOPE_SHARED, 0, "pw-alpha-1");
	expect_password(s, "bravo", WB_SCOPE_PERSONAL, 1001, "pw-bravo-2");
	expect_nocred(s, "charlie", WB_SCOPE_SHARED, 0);
}

/* ---- round trips and identities ---- */

START_TEST(test_roundtrip_kinds)
{
	static const uint8_t keytab[] = { 0x05, 0x02, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x01, 0xff };
	const char *cert = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
	const char *pkey = "-----BEGIN PRIVATE KEY-----\nMIIEprivatekeybytes\n-----END PRIVATE KEY-----\n";
	struct wb_cred_meta m, got;
	struct wb_secret *sec, *out = NULL;
	struct wb_error err = { 0 };
	struct wb_store *s = open_ok(store_path);
	uint8_t *image;
	size_t len;
	struct stat st;
	time_t before = time(NULL);

	meta_init(&m, "pw.one", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
	strcpy(m.domain, "EXAMPLE");
	m.flags = WB_CRED_F_DELEGATE;
	m.n_allow_uids = 2;
	m.allow_uids[0] = 1001;
	m.allow_uids[1] = 4294967294u;
	m.n_allow_gids = 1;
	m.allow_gids[0] = 27;
	sec = password_secret("Secr3t-p@ss");
	ck_assert_msg(wb_store_put(s, &m, sec, false, &err) == 0, "%s", err.msg);
	wb_secret_free(sec);

	meta_init(&m, "cert-1", WB_SCOPE_PERSONAL, 1001, WB_CRED_CERTIFICATE);
	sec = wb_secret_new(WB_CRED_CERTIFICATE);
	ck_assert_int_eq(wb_secret_set(&sec->cert_pem, &sec->cert_len, cert, strlen(cert)), 0);
	ck_assert_int_eq(wb_secret_set(&sec->key_pem, &sec->key_len, pkey, strlen(pkey)), 0);
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), 0);
	wb_secret_free(sec);

	meta_init(&m, "svc@EXAMPLE.COM", WB_SCOPE_SHARED, 0, WB_CRED_KEYTAB);
	strcpy(m.user, "svc/host@EXAMPLE.COM");
	sec = wb_secret_new(WB_CRED_KEYTAB);
	ck_assert_int_eq(wb_secret_set(&sec->keytab, &sec->keytab_len, keytab, sizeof(keytab)), 0);
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), 0);
	wb_secret_free(sec);
	wb_store_close(s);

	/* The file is private and holds no secret in the clear. */
	ck_assert_int_eq(stat(store_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	image = read_image(store_path, &len);
	ck_assert_ptr_null(memmem(image, len, "Secr3t-p@ss", 11));
	ck_assert_ptr_null(memmem(image, len, "MIIBcert", 8));
	ck_assert_ptr_null(memmem(image, len, "privatekeybytes", 15));
	ck_assert_ptr_null(memmem(image, len, keytab, sizeof(keytab)));
	ck_assert_ptr_nonnull(memmem(image, len, "pw.one", 6));	/* metadata is in the clear */
	free(image);

	s = open_ok(store_path);
	ck_assert_uint_eq(wb_store_bad_count(s), 0);
	ck_assert_uint_eq(count_records(s), 3);
	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_SHARED, 0, "pw.one", &got, &out, &err), 0);
	ck_assert_str_eq(out->password, "Secr3t-p@ss");
	ck_assert_int_eq(out->kind, WB_CRED_PASSWORD);
	ck_assert_str_eq(got.user, "alice");
	ck_assert_str_eq(got.domain, "EXAMPLE");
	ck_assert_uint_eq(got.flags, WB_CRED_F_DELEGATE);
	ck_assert_uint_eq(got.n_allow_uids, 2);
	ck_assert_uint_eq(got.allow_uids[1], 4294967294u);
	ck_assert_uint_eq(got.n_allow_gids, 1);
	ck_assert_uint_eq(got.allow_gids[0], 27);
	ck_assert_int_ge(got.created, before);
	ck_assert_int_eq(got.created, got.updated);
	wb_secret_free(out);

	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_PERSONAL, 1001, "cert-1", &got, &out, &err), 0);
	ck_assert_int_eq(out->kind, WB_CRED_CERTIFICATE);
	ck_assert_uint_eq(out->cert_len, strlen(cert));
	ck_assert_mem_eq(out->cert_pem, cert, strlen(cert));
	ck_assert_uint_eq(out->key_len, strlen(pkey));
	ck_assert_mem_eq(out->key_pem, pkey, strlen(pkey));
	wb_secret_free(out);

	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_SHARED, 0, "svc@EXAMPLE.COM", &got, &out, &err), 0);
	ck_assert_int_eq(out->kind, WB_CRED_KEYTAB);
	ck_assert_str_eq(got.user, "svc/host@EXAMPLE.COM");
	ck_assert_uint_eq(out->keytab_len, sizeof(keytab));
	ck_assert_mem_eq(out->keytab, keytab, sizeof(keytab));
	wb_secret_free(out);

	/* Metadata alone, no secret. */
	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_PERSONAL, 1001, "cert-1", &got, NULL, &err), 0);
	ck_assert_int_eq(got.kind, WB_CRED_CERTIFICATE);
	wb_store_close(s);
}
END_TEST

START_TEST(test_missing_file_is_empty)
{
	struct wb_store *s = open_ok(store_path);

	ck_assert_uint_eq(count_records(s), 0);
	ck_assert_uint_eq(wb_store_bad_count(s), 0);
	expect_nocred(s, "x", WB_SCOPE_SHARED, 0);
	ck_assert_int_eq(access(store_path, F_OK), -1);	/* created by the first put only */
	put_ok(s, "x", WB_SCOPE_SHARED, 0, "p");
	ck_assert_int_eq(access(store_path, F_OK), 0);
	wb_store_close(s);
}
END_TEST

START_TEST(test_scopes)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_error err = { 0 };

	put_ok(s, "login", WB_SCOPE_PERSONAL, 1001, "pw-1001");
	put_ok(s, "login", WB_SCOPE_PERSONAL, 1002, "pw-1002");
	put_ok(s, "login", WB_SCOPE_SHARED, 0, "pw-shared");
	put_ok(s, "login", WB_SCOPE_PERSONAL, 0, "pw-root");
	wb_store_close(s);

	s = open_ok(store_path);
	ck_assert_uint_eq(count_records(s), 4);
	expect_password(s, "login", WB_SCOPE_PERSONAL, 1001, "pw-1001");
	expect_password(s, "login", WB_SCOPE_PERSONAL, 1002, "pw-1002");
	expect_password(s, "login", WB_SCOPE_SHARED, 0, "pw-shared");
	expect_password(s, "login", WB_SCOPE_PERSONAL, 0, "pw-root");
	expect_nocred(s, "login", WB_SCOPE_PERSONAL, 1003);
	expect_nocred(s, "login", WB_SCOPE_SHARED, 1001);
	expect_nocred(s, "LOGIN", WB_SCOPE_PERSONAL, 1001);

	/* A shared credential has no owner. */
	ck_assert_int_eq(put_password(s, "x", WB_SCOPE_SHARED, 1001, "p", false, &err),
			 -WB_E_INVALID);
	/* Removing one identity leaves the others. */
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_PERSONAL, 1001, "login", &err), 0);
	expect_nocred(s, "login", WB_SCOPE_PERSONAL, 1001);
	expect_password(s, "login", WB_SCOPE_PERSONAL, 1002, "pw-1002");
	expect_password(s, "login", WB_SCOPE_SHARED, 0, "pw-shared");
	wb_store_close(s);
}
END_TEST

START_TEST(test_replace_and_exists)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_error err = { 0 };
	struct wb_cred_meta m1, m2;

	put_ok(s, "login", WB_SCOPE_PERSONAL, 1001, "old");
	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_PERSONAL, 1001, "login", &m1, NULL, &err), 0);
	ck_assert_int_eq(put_password(s, "login", WB_SCOPE_PERSONAL, 1001, "new", false, &err),
			 -WB_E_EXISTS);
	ck_assert_int_eq(err.code, WB_E_EXISTS);
	ck_assert_ptr_nonnull(strstr(err.msg, "\"login\" exists"));
	expect_password(s, "login", WB_SCOPE_PERSONAL, 1001, "old");

	sleep(1);	/* so that updated moves and created must be kept on purpose */
	ck_assert_int_eq(put_password(s, "login", WB_SCOPE_PERSONAL, 1001, "new", true, &err), 0);
	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_PERSONAL, 1001, "login", &m2, NULL, &err), 0);
	ck_assert_int_eq(m2.created, m1.created);
	ck_assert_int_gt(m2.updated, m1.updated);
	ck_assert_uint_eq(count_records(s), 1);
	wb_store_close(s);

	s = open_ok(store_path);
	ck_assert_uint_eq(count_records(s), 1);
	expect_password(s, "login", WB_SCOPE_PERSONAL, 1001, "new");
	wb_store_close(s);
}
END_TEST

START_TEST(test_remove)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_error err = { 0 };

	put_ok(s, "a", WB_SCOPE_SHARED, 0, "pa");
	put_ok(s, "b", WB_SCOPE_SHARED, 0, "pb");
	put_ok(s, "c", WB_SCOPE_SHARED, 0, "pc");
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "b", &err), 0);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "b", &err), -WB_E_NOCRED);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_PERSONAL, 0, "a", &err), -WB_E_NOCRED);
	wb_store_close(s);

	s = open_ok(store_path);
	ck_assert_uint_eq(count_records(s), 2);
	expect_nocred(s, "b", WB_SCOPE_SHARED, 0);
	expect_password(s, "a", WB_SCOPE_SHARED, 0, "pa");
	expect_password(s, "c", WB_SCOPE_SHARED, 0, "pc");
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "a", &err), 0);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "c", &err), 0);
	wb_store_close(s);
	s = open_ok(store_path);
	ck_assert_uint_eq(count_records(s), 0);
	ck_assert_uint_eq(wb_store_bad_count(s), 0);
	wb_store_close(s);
}
END_TEST

struct list_ctx {
	size_t n;
	bool leaked;
	char names[8][WB_CRED_NAME_MAX + 1];
};

static int list_visit(const struct wb_cred_meta *m, void *ctx)
{
	struct list_ctx *c = ctx;

	/* The only thing a visitor gets is the metadata; no secret byte is in it. */
	if (memmem(m, sizeof(*m), "hunter2", 7) || memmem(m, sizeof(*m), "KEYDATA", 7))
		c->leaked = true;
	strcpy(c->names[c->n++], m->name);
	return c->n == 8 ? 1 : 0;
}

START_TEST(test_list)
{
	struct wb_store *s = open_ok(store_path);
	struct list_ctx c = { 0 };
	struct wb_cred_meta m;
	struct wb_secret *sec;

	put_ok(s, "one", WB_SCOPE_SHARED, 0, "hunter2");
	put_ok(s, "two", WB_SCOPE_PERSONAL, 1001, "hunter2hunter2");
	meta_init(&m, "three", WB_SCOPE_SHARED, 0, WB_CRED_CERTIFICATE);
	sec = wb_secret_new(WB_CRED_CERTIFICATE);
	wb_secret_set(&sec->cert_pem, &sec->cert_len, "CERT", 4);
	wb_secret_set(&sec->key_pem, &sec->key_len, "KEYDATA", 7);
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, NULL), 0);
	wb_secret_free(sec);
	wb_store_close(s);

	s = open_ok(store_path);
	ck_assert_int_eq(wb_store_list(s, list_visit, &c), 0);
	ck_assert_uint_eq(c.n, 3);
	ck_assert(!c.leaked);
	ck_assert_str_eq(c.names[0], "one");
	ck_assert_str_eq(c.names[1], "two");
	ck_assert_str_eq(c.names[2], "three");
	/* A visitor's non-zero return stops the walk and is returned. */
	c.n = 7;
	ck_assert_int_eq(wb_store_list(s, list_visit, &c), 1);
	ck_assert_uint_eq(c.n, 8);
	wb_store_close(s);
}
END_TEST

START_TEST(test_invalid_input)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_error err = { 0 };
	struct wb_cred_meta m;
	struct wb_secret *sec = password_secret("pw"), *empty = password_secret("");
	char *big;
	static const char *bad_names[] = { "", "-lead", ".x", "a b", "a/b", "ä",
		"x12345678901234567890123456789012345678901234567890123456789012345" };

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		meta_init(&m, "x", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
		snprintf(m.name, sizeof(m.name), "%s", bad_names[i]);
		if (strlen(bad_names[i]) > WB_CRED_NAME_MAX)	/* fill the array, no NUL */
			memset(m.name, 'x', sizeof(m.name));
		ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
		ck_assert_ptr_nonnull(strstr(err.msg, "bad name"));
	}
	meta_init(&m, "x", WB_SCOPE_SHARED, 0, WB_CRED_KEYTAB);	/* kind mismatch */
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
	meta_init(&m, "x", 3, 0, WB_CRED_PASSWORD);
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
	meta_init(&m, "x", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
	m.flags = 0x80;
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
	meta_init(&m, "x", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
	m.n_allow_uids = WB_CRED_ACL_MAX + 1;
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
	meta_init(&m, "x", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
	memset(m.domain, 'd', sizeof(m.domain));	/* unterminated */
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
	meta_init(&m, "x", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
	ck_assert_int_eq(wb_store_put(s, &m, empty, false, &err), -WB_E_INVALID);
	ck_assert_int_eq(wb_store_put(s, &m, NULL, false, &err), -WB_E_INVALID);
	ck_assert_int_eq(access(store_path, F_OK), -1);	/* nothing was written */

	/* The largest password fits; one byte more does not (built by hand: wb_secret_set refuses it). */
	big = sodium_malloc(WB_CRED_SECRET_MAX + 2);
	memset(big, 'p', WB_CRED_SECRET_MAX + 1);
	big[WB_CRED_SECRET_MAX + 1] = '\0';
	sodium_free(sec->password);
	sec->password = big;
	meta_init(&m, "big", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD);
	ck_assert_int_eq(wb_store_put(s, &m, sec, false, &err), -WB_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than 65536"));
	big[WB_CRED_SECRET_MAX] = '\0';
	ck_assert_msg(put_password(s, "big", WB_SCOPE_SHARED, 0, big, false, &err) == 0, "%s", err.msg);
	wb_store_close(s);
	s = open_ok(store_path);
	expect_password(s, "big", WB_SCOPE_SHARED, 0, big);
	wb_store_close(s);
	wb_secret_free(sec);	/* frees big */
	wb_secret_free(empty);
}
END_TEST

START_TEST(test_largest_certificate)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_secret *sec = wb_secret_new(WB_CRED_CERTIFICATE), *out = NULL;
	struct wb_error err = { 0 };
	struct wb_cred_meta m;
	uint8_t *blob = malloc(WB_CRED_CERT_MAX);

	randombytes_buf(blob, WB_CRED_CERT_MAX);
	meta_init(&m, "huge", WB_SCOPE_SHARED, 0, WB_CRED_CERTIFICATE);
	memset(m.user, 'u', WB_CRED_TEXT_MAX);
	memset(m.domain, 'd', WB_CRED_TEXT_MAX);
	m.n_allow_uids = m.n_allow_gids = WB_CRED_ACL_MAX;
	wb_secret_set(&sec->cert_pem, &sec->cert_len, blob, WB_CRED_CERT_MAX);
	wb_secret_set(&sec->key_pem, &sec->key_len, blob, WB_CRED_SECRET_MAX);
	ck_assert_msg(wb_store_put(s, &m, sec, false, &err) == 0, "%s", err.msg);
	wb_store_close(s);
	s = open_ok(store_path);
	ck_assert_int_eq(wb_store_get(s, WB_SCOPE_SHARED, 0, "huge", &m, &out, &err), 0);
	ck_assert_mem_eq(out->key_pem, blob, WB_CRED_SECRET_MAX);
	ck_assert_uint_eq(strlen(m.domain), WB_CRED_TEXT_MAX);
	wb_secret_free(out);
	wb_secret_free(sec);
	wb_store_close(s);
	free(blob);
}
END_TEST

/* ---- damage ---- */

START_TEST(test_wrong_key)
{
	struct wb_store *s = NULL;
	struct wb_error err = { 0 };
	size_t ends[3];

	make_abc(ends);
	ck_assert_int_eq(wb_store_open(store_path, other_key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err.msg, "wrong master key"), "%s", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, store_path));

	/* Also with no record to try it on. */
	s = open_ok(store_path);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "alpha", NULL), 0);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_PERSONAL, 1001, "bravo", NULL), 0);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "charlie", NULL), 0);
	wb_store_close(s);
	ck_assert_uint_eq(file_size(store_path), HEADER_LEN);
	ck_assert_int_eq(wb_store_open(store_path, other_key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "wrong master key"));
}
END_TEST

/* Every byte of the middle record, flipped in turn: only that record goes bad. */
START_TEST(test_tamper_each_byte)
{
	struct wb_error err = { 0 };
	struct wb_store *s;
	uint8_t *image, *again;
	size_t len, len2, ends[3], off;
	char all[4096];

	make_abc(ends);
	image = read_image(store_path, &len);
	ck_assert_uint_eq(ends[2], len);
	for (off = ends[0]; off < ends[1]; off++) {
		image[off] ^= 0x5a;
		/* In memory: the fuzz target's path. */
		ck_assert_msg(wb_store_parse(image, len, key, &s, &err) == 0, "offset %zu: %s", off,
			      err.msg);
		ck_assert_uint_eq(wb_store_bad_count(s), 1);
		ck_assert_uint_eq(count_records(s), 2);
		expect_ac_work(s);
		expect_nocred(s, "bravo", WB_SCOPE_PERSONAL, 1001);
		problems(s, all);
		ck_assert_msg(strstr(all, "record #1 at offset"), "offset %zu: %s", off, all);
		wb_store_close(s);

		/* Through the file, and across a rewrite: the bad bytes stay. */
		write_image(store_path, image, len);
		s = open_ok(store_path);
		put_ok(s, "delta", WB_SCOPE_SHARED, 0, "pw-delta-4");
		wb_store_close(s);
		s = open_ok(store_path);
		ck_assert_uint_eq(wb_store_bad_count(s), 1);
		expect_ac_work(s);
		expect_password(s, "delta", WB_SCOPE_SHARED, 0, "pw-delta-4");
		wb_store_close(s);
		again = read_image(store_path, &len2);
		ck_assert_msg(memmem(again, len2, image + ends[0], ends[1] - ends[0]),
			      "offset %zu: the bad record's bytes were not kept", off);
		free(again);
		image[off] ^= 0x5a;
	}
	free(image);
}
END_TEST

START_TEST(test_tamper_header)
{
	struct wb_error err = { 0 };
	struct wb_store *s = NULL;
	uint8_t *image;
	size_t len, ends[3];

	make_abc(ends);
	image = read_image(store_path, &len);
	for (size_t off = 0; off < HEADER_LEN; off++) {
		image[off] ^= 0x01;
		ck_assert_int_eq(wb_store_parse(image, len, key, &s, &err), -WB_E_STORE);
		ck_assert_ptr_null(s);
		/* Damage is never mistaken for a wrong key. */
		ck_assert_msg(!strstr(err.msg, "wrong master key") &&
			      (strstr(err.msg, "corrupt") || strstr(err.msg, "not a winrm-broker store")),
			      "offset %zu: %s", off, err.msg);
		image[off] ^= 0x01;
	}
	ck_assert_int_eq(wb_store_parse(image, len, key, &s, &err), 0);
	wb_store_close(s);
	free(image);
}
END_TEST

/* Offset of a record's metadata, per the format in docs/store.md. */
static size_t meta_off(size_t frame_start)
{
	return frame_start + FRAME_HDR_LEN + 4;
}

START_TEST(test_swap_owner_and_metadata)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_error err = { 0 };
	uint8_t *image, tmp[256];
	size_t len, a, b, mlen;
	uint32_t ml;
	char all[4096];

	put_ok(s, "login", WB_SCOPE_PERSONAL, 1001, "pw-of-1001");
	a = file_size(store_path);
	put_ok(s, "login", WB_SCOPE_PERSONAL, 1002, "pw-of-1002");
	b = file_size(store_path);
	put_ok(s, "other", WB_SCOPE_SHARED, 0, "pw-other");
	wb_store_close(s);
	image = read_image(store_path, &len);

	/* Swap the owners: uid 1001 would get 1002's password. */
	ck_assert_uint_eq(image[meta_off(HEADER_LEN) + 4], 1001 & 0xff);
	ck_assert_uint_eq(image[meta_off(a) + 4], 1002 & 0xff);
	memcpy(tmp, image + meta_off(HEADER_LEN) + 4, 4);
	memcpy(image + meta_off(HEADER_LEN) + 4, image + meta_off(a) + 4, 4);
	memcpy(image + meta_off(a) + 4, tmp, 4);
	ck_assert_int_eq(wb_store_parse(image, len, key, &s, &err), 0);
	ck_assert_uint_eq(wb_store_bad_count(s), 2);
	expect_nocred(s, "login", WB_SCOPE_PERSONAL, 1001);
	expect_nocred(s, "login", WB_SCOPE_PERSONAL, 1002);
	expect_password(s, "other", WB_SCOPE_SHARED, 0, "pw-other");
	problems(s, all);
	ck_assert_msg(strstr(all, "(\"login\", personal, uid 1002): does not authenticate"), "%s", all);
	wb_store_close(s);
	memcpy(image + meta_off(a) + 4, image + meta_off(HEADER_LEN) + 4, 4);
	memcpy(image + meta_off(HEADER_LEN) + 4, tmp, 4);

	/* Swap the whole metadata of the two records (same length). */
	ml = image[meta_off(HEADER_LEN) - 4];
	mlen = ml;
	ck_assert_uint_lt(mlen, sizeof(tmp));
	ck_assert_uint_eq(image[meta_off(a) - 4], ml);
	memcpy(tmp, image + meta_off(HEADER_LEN), mlen);
	memcpy(image + meta_off(HEADER_LEN), image + meta_off(a), mlen);
	memcpy(image + meta_off(a), tmp, mlen);
	ck_assert_int_eq(wb_store_parse(image, len, key, &s, &err), 0);
	ck_assert_uint_eq(wb_store_bad_count(s), 2);
	expect_nocred(s, "login", WB_SCOPE_PERSONAL, 1001);
	expect_nocred(s, "login", WB_SCOPE_PERSONAL, 1002);
	wb_store_close(s);
	memcpy(image + meta_off(a), image + meta_off(HEADER_LEN), mlen);
	memcpy(image + meta_off(HEADER_LEN), tmp, mlen);

	/* Swapping whole frames only reorders them: both stay intact. */
	{
		uint8_t *swapped = malloc(len);
		size_t fa = a - HEADER_LEN, fb = b - a;

		memcpy(swapped, image, HEADER_LEN);
		memcpy(swapped + HEADER_LEN, image + a, fb);
		memcpy(swapped + HEADER_LEN + fb, image + HEADER_LEN, fa);
		memcpy(swapped + b, image + b, len - b);
		ck_assert_int_eq(wb_store_parse(swapped, len, key, &s, &err), 0);
		ck_assert_uint_eq(wb_store_bad_count(s), 0);
		expect_password(s, "login", WB_SCOPE_PERSONAL, 1001, "pw-of-1001");
		expect_password(s, "login", WB_SCOPE_PERSONAL, 1002, "pw-of-1002");
		wb_store_close(s);
		free(swapped);
	}
	free(image);
}
END_TEST

/* Cut at every length: a clear error inside the header, else the store opens. */
START_TEST(test_truncation)
{
	struct wb_error err = { 0 };
	struct wb_store *s = NULL;
	uint8_t *image;
	size_t len, ends[3], cut;
	int rc;

	make_abc(ends);
	image = read_image(store_path, &len);
	for (cut = 0; cut < len; cut++) {
		write_image(store_path, image, cut);
		rc = wb_store_open(store_path, key, &s, &err);
		if (cut < HEADER_LEN) {
			ck_assert_int_eq(rc, -WB_E_STORE);
			ck_assert_msg(strstr(err.msg, cut ? "truncated inside its header" : "empty"),
				      "cut %zu: %s", cut, err.msg);
			continue;
		}
		ck_assert_msg(rc == 0, "cut %zu: %s", cut, err.msg);
		ck_assert_uint_ge(wb_store_bad_count(s), 1);
		if (cut >= ends[0])
			expect_password(s, "alpha", WB_SCOPE_SHARED, 0, "pw-alpha-1");
		else
			expect_nocred(s, "alpha", WB_SCOPE_SHARED, 0);
		if (cut >= ends[1])
			expect_password(s, "bravo", WB_SCOPE_PERSONAL, 1001, "pw-bravo-2");
		else
			expect_nocred(s, "bravo", WB_SCOPE_PERSONAL, 1001);
		expect_nocred(s, "charlie", WB_SCOPE_SHARED, 0);
		/* records cut off entirely count as missing, a cut record as bad: 3 - whole ones */
		ck_assert_uint_eq(wb_store_bad_count(s) + count_records(s), 3);
		wb_store_close(s);
	}
	free(image);
}
END_TEST

/* A record cut in half survives two rewrites, then an admin drops it. */
START_TEST(test_bad_bytes_kept_until_dropped)
{
	struct wb_store *s;
	struct wb_error err = { 0 };
	uint8_t *image, *again;
	size_t len, len2, ends[3], cut;
	char all[4096];

	make_abc(ends);
	image = read_image(store_path, &len);
	cut = ends[1] + (ends[2] - ends[1]) / 2;
	write_image(store_path, image, cut);

	s = open_ok(store_path);
	ck_assert_uint_eq(wb_store_bad_count(s), 1);
	problems(s, all);
	ck_assert_msg(strstr(all, "record #2") && strstr(all, "cut short"), "%s", all);
	put_ok(s, "delta", WB_SCOPE_SHARED, 0, "pw-delta-4");
	wb_store_close(s);
	for (int round = 0; round < 2; round++) {
		s = open_ok(store_path);
		ck_assert_uint_eq(wb_store_bad_count(s), 1);
		problems(s, all);
		ck_assert_msg(strstr(all, "kept from an earlier load"), "%s", all);
		expect_password(s, "alpha", WB_SCOPE_SHARED, 0, "pw-alpha-1");
		expect_password(s, "bravo", WB_SCOPE_PERSONAL, 1001, "pw-bravo-2");
		expect_password(s, "delta", WB_SCOPE_SHARED, 0, "pw-delta-4");
		put_ok(s, "echo", WB_SCOPE_SHARED, 0, "pw-echo-5");
		wb_store_close(s);
		again = read_image(store_path, &len2);
		ck_assert_ptr_nonnull(memmem(again, len2, image + ends[1], cut - ends[1]));
		free(again);
	}
	s = open_ok(store_path);
	ck_assert_int_eq(wb_store_drop_bad(s, &err), 1);
	ck_assert_uint_eq(wb_store_bad_count(s), 0);
	wb_store_close(s);
	s = open_ok(store_path);
	ck_assert_uint_eq(wb_store_bad_count(s), 0);
	ck_assert_uint_eq(count_records(s), 4);
	wb_store_close(s);
	again = read_image(store_path, &len2);
	ck_assert_ptr_null(memmem(again, len2, image + ends[1], cut - ends[1]));
	free(again);
	free(image);
}
END_TEST

/*
 * Damage on damage: the header of a quarantine frame that holds a cut
 * record goes bad too. The cut record's own (intact) header inside it must
 * not be taken for a frame and swallow the record written after it.
 */
START_TEST(test_damaged_quarantine_frame)
{
	struct wb_store *s;
	uint8_t *image;
	size_t len, ends[3], cut, q;

	make_abc(ends);
	image = read_image(store_path, &len);
	cut = ends[2] - 10;
	write_image(store_path, image, cut);
	free(image);
	s = open_ok(store_path);
	put_ok(s, "delta", WB_SCOPE_SHARED, 0, "pw-delta-4");
	wb_store_close(s);

	image = read_image(store_path, &len);
	q = ends[1];	/* the quarantine frame took C's place */
	ck_assert_mem_eq(image + q, "WBRF\x02\0\0\0", 8);
	ck_assert_mem_eq(image + q + FRAME_HDR_LEN, "WBRF\x01\0\0\0", 8);
	image[q + 12] ^= 0xff;	/* the quarantine frame's checksum */
	write_image(store_path, image, len);
	s = open_ok(store_path);
	expect_ab_work_not_c(s);
	expect_password(s, "delta", WB_SCOPE_SHARED, 0, "pw-delta-4");
	ck_assert_uint_eq(wb_store_bad_count(s), 1);
	wb_store_close(s);
	free(image);
}
END_TEST

START_TEST(test_record_removed_or_added_outside)
{
	struct wb_store *s;
	struct wb_error err = { 0 };
	uint8_t *image, *edited;
	size_t len, ends[3], fa;
	char all[4096];

	make_abc(ends);
	image = read_image(store_path, &len);
	edited = malloc(len * 2);

	/* B's frame cut out: the authenticated count notices. */
	memcpy(edited, image, ends[0]);
	memcpy(edited + ends[0], image + ends[1], len - ends[1]);
	ck_assert_int_eq(wb_store_parse(edited, len - (ends[1] - ends[0]), key, &s, &err), 0);
	ck_assert_uint_eq(wb_store_bad_count(s), 1);
	expect_ac_work(s);
	problems(s, all);
	ck_assert_msg(strstr(all, "1 records missing"), "%s", all);
	wb_store_close(s);

	/* A copy of A appended (a replayed old version, say): never used, never revived. */
	fa = ends[0] - HEADER_LEN;
	memcpy(edited, image, len);
	memcpy(edited + len, image + HEADER_LEN, fa);
	write_image(store_path, edited, len + fa);
	s = open_ok(store_path);
	ck_assert_uint_eq(wb_store_bad_count(s), 1);
	problems(s, all);
	ck_assert_msg(strstr(all, "duplicate of record #0") && strstr(all, "header counts 3"),
		      "%s", all);
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "alpha", &err), 0);
	wb_store_close(s);
	s = open_ok(store_path);
	expect_nocred(s, "alpha", WB_SCOPE_SHARED, 0);
	ck_assert_uint_eq(wb_store_bad_count(s), 1);
	wb_store_close(s);
	free(edited);
	free(image);
}
END_TEST

START_TEST(test_bad_files)
{
	struct wb_store *s = NULL;
	struct wb_error err = { 0 };
	uint8_t *image, h[16];
	size_t len, ends[3];
	char link[160];

	write_image(store_path, (const uint8_t *)"", 0);
	ck_assert_int_eq(wb_store_open(store_path, key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
	write_image(store_path, (const uint8_t *)"[credentials]\nlogin=alice\n", 26);
	ck_assert_int_eq(wb_store_open(store_path, key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a winrm-broker store"));

	/* A newer version with a sound header: said so, not "corrupt". */
	unlink(store_path);
	make_abc(ends);
	image = read_image(store_path, &len);
	image[8] = 2;
	crypto_generichash(h, sizeof(h), image, HEADER_LEN - 8, NULL, 0);
	memcpy(image + HEADER_LEN - 8, h, 8);
	write_image(store_path, image, len);
	ck_assert_int_eq(wb_store_open(store_path, key, &s, &err), -WB_E_STORE);
	ck_assert_msg(strstr(err.msg, "format version 2"), "%s", err.msg);
	free(image);

	/* Not a regular file; a symlink; a missing directory. */
	unlink(store_path);
	ck_assert_int_eq(mkfifo(store_path, 0600), 0);
	ck_assert_int_eq(wb_store_open(store_path, key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
	unlink(store_path);
	snprintf(link, sizeof(link), "%s/elsewhere", tmpdir);
	ck_assert_int_eq(symlink(link, store_path), 0);
	ck_assert_int_eq(wb_store_open(store_path, key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "symlink"));
	snprintf(link, sizeof(link), "%s/nodir/store", tmpdir);
	ck_assert_int_eq(wb_store_open(link, key, &s, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_one_process_at_a_time)
{
	struct wb_store *s = open_ok(store_path), *t = NULL;
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_store_open(store_path, key, &t, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "in use by another process"));
	wb_store_close(s);
	t = open_ok(store_path);
	wb_store_close(t);
}
END_TEST

/* A failed write changes nothing, in memory or on disk. */
START_TEST(test_failed_write_rolls_back)
{
	struct wb_store *s = open_ok(store_path);
	struct wb_error err = { 0 };
	char tmp[160];

	put_ok(s, "keep", WB_SCOPE_SHARED, 0, "pw-keep");
	snprintf(tmp, sizeof(tmp), "%s.tmp", store_path);
	ck_assert_int_eq(mkdir(tmp, 0700), 0);	/* the temp file cannot be created */

	ck_assert_int_eq(put_password(s, "new", WB_SCOPE_SHARED, 0, "x", false, &err), -WB_E_STORE);
	ck_assert_ptr_nonnull(strstr(err.msg, "nothing changed"));
	expect_nocred(s, "new", WB_SCOPE_SHARED, 0);
	ck_assert_int_eq(put_password(s, "keep", WB_SCOPE_SHARED, 0, "x", true, &err), -WB_E_STORE);
	expect_password(s, "keep", WB_SCOPE_SHARED, 0, "pw-keep");
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "keep", &err), -WB_E_STORE);
	expect_password(s, "keep", WB_SCOPE_SHARED, 0, "pw-keep");
	ck_assert_uint_eq(count_records(s), 1);

	ck_assert_int_eq(rmdir(tmp), 0);
	put_ok(s, "new", WB_SCOPE_SHARED, 0, "pw-new");
	wb_store_close(s);
	s = open_ok(store_path);
	ck_assert_uint_eq(count_records(s), 2);
	expect_password(s, "keep", WB_SCOPE_SHARED, 0, "pw-keep");
	wb_store_close(s);
}
END_TEST

START_TEST(test_stale_temp_file)
{
	struct wb_store *s = open_ok(store_path);
	char tmp[160];

	put_ok(s, "a", WB_SCOPE_SHARED, 0, "pa");
	wb_store_close(s);
	snprintf(tmp, sizeof(tmp), "%s.tmp", store_path);
	write_image(tmp, (const uint8_t *)"half a store", 12);
	s = open_ok(store_path);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	put_ok(s, "b", WB_SCOPE_SHARED, 0, "pb");
	expect_password(s, "a", WB_SCOPE_SHARED, 0, "pa");
	wb_store_close(s);
}
END_TEST

START_TEST(test_record_limit)
{
	struct wb_store *s = NULL;
	struct wb_error err = { 0 };
	uint8_t *image;
	size_t len;
	char name[32];
	int i;

	/* An empty store image; a memory store does not write, so this is quick. */
	s = open_ok(store_path);
	put_ok(s, "x", WB_SCOPE_SHARED, 0, "p");
	ck_assert_int_eq(wb_store_remove(s, WB_SCOPE_SHARED, 0, "x", NULL), 0);
	wb_store_close(s);
	image = read_image(store_path, &len);
	ck_assert_int_eq(wb_store_parse(image, len, key, &s, &err), 0);
	for (i = 0; i < WB_STORE_MAX_RECORDS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ck_assert_int_eq(put_password(s, name, WB_SCOPE_PERSONAL, (uid_t)i, "p", false, &err), 0);
	}
	ck_assert_int_eq(put_password(s, "one-more", WB_SCOPE_SHARED, 0, "p", false, &err),
			 -WB_E_LIMIT);
	/* Replacing still works at the limit. */
	ck_assert_int_eq(put_password(s, "c7", WB_SCOPE_PERSONAL, 7, "q", true, &err), 0);
	expect_password(s, "c7", WB_SCOPE_PERSONAL, 7, "q");
	wb_store_close(s);
	free(image);
}
END_TEST

/* Random damage to a valid image: never a crash, and what loads works. */
START_TEST(test_random_damage)
{
	struct wb_store *s;
	struct wb_error err;
	uint8_t *image, *mut;
	size_t len, ends[3], mlen;

	make_abc(ends);
	image = read_image(store_path, &len);
	mut = malloc(len + 64);
	for (int round = 0; round < 3000; round++) {
		uint32_t edits = 1 + randombytes_uniform(4);

		memcpy(mut, image, len);
		mlen = len;
		while (edits--) {
			uint32_t at = randombytes_uniform((uint32_t)mlen);

			switch (randombytes_uniform(4)) {
			case 0:
				mut[at] = (uint8_t)randombytes_uniform(256);
				break;
			case 1:	/* cut */
				mlen = at;
				break;
			case 2:	/* insert a frame magic */
				if (mlen + 4 <= len + 64) {
					memmove(mut + at + 4, mut + at, mlen - at);
					memcpy(mut + at, "WBRF", 4);
					mlen += 4;
				}
				break;
			default:	/* delete a run */
				{
					uint32_t n = randombytes_uniform((uint32_t)(mlen - at) + 1);

					memmove(mut + at, mut + at + n, mlen - at - n);
					mlen -= n;
				}
			}
			if (mlen == 0)
				break;
		}
		if (wb_store_parse(mut, mlen, key, &s, &err) < 0) {
			ck_assert_int_eq(err.code, WB_E_STORE);
			continue;
		}
		ck_assert_uint_le(count_records(s), 3);
		if (wb_store_get(s, WB_SCOPE_SHARED, 0, "alpha", NULL, NULL, NULL) == 0)
			expect_password(s, "alpha", WB_SCOPE_SHARED, 0, "pw-alpha-1");
		if (wb_store_get(s, WB_SCOPE_SHARED, 0, "charlie", NULL, NULL, NULL) == 0)
			expect_password(s, "charlie", WB_SCOPE_SHARED, 0, "pw-charlie-3");
		wb_store_close(s);
	}
	free(mut);
	free(image);
}
END_TEST

/* ---- kill -9 during rewrites ---- */

#define CRASH_RECORDS 5

/* In state k, record r<i> holds the largest j <= k with j % 5 == i. */
static unsigned expected_value(unsigned k, unsigned i)
{
	return k - ((k - i) % CRASH_RECORDS);
}

static unsigned read_state(struct wb_store *s)
{
	unsigned v[CRASH_RECORDS], k = 0, i;
	struct wb_secret *sec;
	char name[8];

	for (i = 0; i < CRASH_RECORDS; i++) {
		snprintf(name, sizeof(name), "r%u", i);
		ck_assert_int_eq(wb_store_get(s, WB_SCOPE_SHARED, 0, name, NULL, &sec, NULL), 0);
		v[i] = (unsigned)strtoul(sec->password, NULL, 10);
		wb_secret_free(sec);
		if (v[i] > k)
			k = v[i];
	}
	for (i = 0; i < CRASH_RECORDS; i++)
		ck_assert_msg(v[i] == expected_value(k, i), "r%u = %u in state %u", i, v[i], k);
	return k;
}

/* Rewrites the store forever, reporting each committed state on fd. */
static void __attribute__((noreturn)) crash_child(int fd)
{
	struct wb_store *s = NULL;
	char name[8], value[16];
	unsigned k;

	if (wb_store_open(store_path, key, &s, NULL) < 0)
		_exit(2);
	for (k = read_state(s) + 1;; k++) {
		snprintf(name, sizeof(name), "r%u", k % CRASH_RECORDS);
		snprintf(value, sizeof(value), "%u", k);
		if (put_password(s, name, WB_SCOPE_SHARED, 0, value, true, NULL) < 0)
			_exit(3);
		if (write(fd, &k, sizeof(k)) != sizeof(k))
			_exit(4);
	}
}

START_TEST(test_kill_during_rewrite)
{
	struct wb_store *s = open_ok(store_path);
	unsigned state, last, k, i, in_flight = 0;
	char name[8], value[16];
	int fds[2], status;
	pid_t pid;

	for (i = 0; i < CRASH_RECORDS; i++) {
		snprintf(name, sizeof(name), "r%u", i);
		snprintf(value, sizeof(value), "%u", i);
		put_ok(s, name, WB_SCOPE_SHARED, 0, value);
	}
	state = read_state(s);
	wb_store_close(s);

	for (int round = 0; round < 200; round++) {
		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(fds[1]);
		}
		close(fds[1]);
		usleep(randombytes_uniform(20000));
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "child exited with %d", WEXITSTATUS(status));
		last = state;
		while (read(fds[0], &k, sizeof(k)) == sizeof(k))
			last = k;
		close(fds[0]);

		/* Opens cleanly with the old or the new record set, nothing else. */
		s = open_ok(store_path);
		ck_assert_uint_eq(wb_store_bad_count(s), 0);
		ck_assert_uint_eq(count_records(s), CRASH_RECORDS);
		state = read_state(s);
		ck_assert_msg(state == last || state == last + 1, "state %u after %u", state, last);
		in_flight += state == last + 1;
		wb_store_close(s);
	}
	/* The children got to write (about 4 commits a round here), so kills hit writes. */
	ck_assert_uint_gt(state, CRASH_RECORDS + 50);
	fprintf(stderr, "kill test: final state %u, %u kills after an unreported commit\n", state,
		in_flight);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");
	TCase *slow = tcase_create("slow");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip_kinds);
	tcase_add_test(tc, test_missing_file_is_empty);
	tcase_add_test(tc, test_scopes);
	tcase_add_test(tc, test_replace_and_exists);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_invalid_input);
	tcase_add_test(tc, test_largest_certificate);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_tamper_header);
	tcase_add_test(tc, test_swap_owner_and_metadata);
	tcase_add_test(tc, test_bad_bytes_kept_until_dropped);
	tcase_add_test(tc, test_damaged_quarantine_frame);
	tcase_add_test(tc, test_record_removed_or_added_outside);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_one_process_at_a_time);
	tcase_add_test(tc, test_failed_write_rolls_back);
	tcase_add_test(tc, test_stale_temp_file);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(slow, setup, teardown);
	tcase_set_timeout(slow, 600);
	tcase_add_test(slow, test_tamper_each_byte);
	tcase_add_test(slow, test_truncation);
	tcase_add_test(slow, test_record_limit);
	tcase_add_test(slow, test_random_damage);
	tcase_add_test(slow, test_kill_during_rewrite);
	suite_add_tcase(s, slow);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
