/*
 * Unit tests for brokerd/screds.c: deposits stay inert until a session
 * open names them, reference counts across logins, release at the last
 * close, TTLs, unbound deposits, limits, and wiping.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "screds.h"

static const struct wb_screds_limits lim = { .bind_timeout_sec = 120, .max_ttl_sec = 0,
					     .max_per_uid = 3 };

static struct wb_cred_meta meta(uid_t uid, const char *name, const char *user)
{
	struct wb_cred_meta m;

	memset(&m, 0, sizeof(m));
	m.scope = WB_SCOPE_PERSONAL;
	m.kind = WB_CRED_PASSWORD;
	m.owner = uid;
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.user, sizeof(m.user), "%s", user);
	snprintf(m.domain, sizeof(m.domain), "WINRMTEST");
	return m;
}

static struct wb_secret *pw(const char *p)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_PASSWORD);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(wb_secret_set((uint8_t **)&s->password, NULL, p, strlen(p)), 0);
	return s;
}

static void deposit(struct wb_screds *t, uid_t uid, const char *name, const char *p,
		    uint32_t ttl, time_t now, char token[WB_SCREDS_TOKEN_LEN + 1])
{
	struct wb_cred_meta m = meta(uid, name, "alice");
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_screds_deposit(t, &m, pw(p), ttl, &lim, now, token, &err), 0);
	ck_assert_uint_eq(strlen(token), WB_SCREDS_TOKEN_LEN);
	ck_assert_uint_eq(strspn(token, "0123456789abcdef"), WB_SCREDS_TOKEN_LEN);
}

/* The active password, or NULL when there is none. */
static char *active(struct wb_screds *t, uid_t uid, const char *name, time_t now)
{
	struct wb_secret *s = NULL;
	char *copy;

	if (wb_screds_get(t, uid, name, now, NULL, &s, NULL) < 0)
		return NULL;
	copy = strdup(s->password);
	wb_secret_free(s);
	return copy;
}

static void assert_active(struct wb_screds *t, uid_t uid, const char *name, time_t now,
			  const char *want)
{
	char *got = active(t, uid, name, now);

	if (!want) {
		ck_assert_ptr_null(got);
		return;
	}
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

static uint32_t open_s(struct wb_screds *t, uid_t uid, const char *name, const char *token,
		       time_t now, int want_rc)
{
	struct wb_error err = { 0 };
	uint64_t id = 0;
	uint32_t n = 0;
	bool replaced;

	ck_assert_int_eq(wb_screds_open(t, uid, name, token, &lim, now, &n, &id, &replaced, &err),
			 want_rc);
	if (want_rc == 0)
		ck_assert(id != 0);
	return n;
}

static uint32_t close_s(struct wb_screds *t, uid_t uid, const char *name, int want_rc)
{
	uint32_t n = 99;

	ck_assert_int_eq(wb_screds_close(t, uid, name, 0, &n, NULL), want_rc);
	return n;
}

/* An open that returns its session id. */
static uint64_t open_id(struct wb_screds *t, uid_t uid, const char *name, const char *token,
			time_t now)
{
	uint64_t id = 0;
	uint32_t n;
	bool replaced;

	ck_assert_int_eq(wb_screds_open(t, uid, name, token, &lim, now, &n, &id, &replaced, NULL),
			 0);
	ck_assert(id != 0);
	return id;
}

START_TEST(test_deposit_is_inert_until_bound)
{
	struct wb_screds *t = wb_screds_new();
	char tok[WB_SCREDS_TOKEN_LEN + 1];

	deposit(t, 1001, "login", "pw1", 0, 1000, tok);
	ck_assert(wb_screds_exists(t, 1001, "login"));
	assert_active(t, 1001, "login", 1000, NULL);
	ck_assert_uint_eq(open_s(t, 1001, "login", tok, 1001, 0), 1);
	assert_active(t, 1001, "login", 1001, "pw1");
	/* The token is used up. */
	open_s(t, 1001, "login", tok, 1002, -WB_E_NOCRED);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_refcount_across_logins)
{
	struct wb_screds *t = wb_screds_new();
	char a[WB_SCREDS_TOKEN_LEN + 1], b[WB_SCREDS_TOKEN_LEN + 1];

	deposit(t, 1001, "login", "pw1", 0, 1000, a);
	ck_assert_uint_eq(open_s(t, 1001, "login", a, 1000, 0), 1);
	deposit(t, 1001, "login", "pw2", 0, 1010, b);
	assert_active(t, 1001, "login", 1010, "pw1");	/* still the first until bound */
	ck_assert_uint_eq(open_s(t, 1001, "login", b, 1011, 0), 2);
	assert_active(t, 1001, "login", 1011, "pw2");
	/* A login without a deposit (SSH key) binds to what is there. */
	ck_assert_uint_eq(open_s(t, 1001, "login", NULL, 1012, 0), 3);
	ck_assert_uint_eq(close_s(t, 1001, "login", 0), 2);
	ck_assert_uint_eq(close_s(t, 1001, "login", 0), 1);
	assert_active(t, 1001, "login", 1013, "pw2");
	ck_assert_uint_eq(close_s(t, 1001, "login", 0), 0);
	assert_active(t, 1001, "login", 1014, NULL);
	ck_assert(!wb_screds_exists(t, 1001, "login"));
	close_s(t, 1001, "login", -WB_E_NOCRED);
	open_s(t, 1001, "login", NULL, 1015, -WB_E_NOCRED);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_bad_deposit_never_replaces)
{
	struct wb_screds *t = wb_screds_new();
	char good[WB_SCREDS_TOKEN_LEN + 1], bad[WB_SCREDS_TOKEN_LEN + 1];
	char forged[WB_SCREDS_TOKEN_LEN + 1];

	deposit(t, 1001, "login", "right", 0, 1000, good);
	open_s(t, 1001, "login", good, 1000, 0);
	deposit(t, 1001, "login", "wrong", 0, 1005, bad);	/* auth that failed later */
	assert_active(t, 1001, "login", 1006, "right");
	/* A made-up token does nothing, nor does another uid's. */
	memset(forged, 'a', WB_SCREDS_TOKEN_LEN);
	forged[WB_SCREDS_TOKEN_LEN] = '\0';
	open_s(t, 1001, "login", forged, 1007, -WB_E_NOCRED);
	open_s(t, 1002, "login", bad, 1007, -WB_E_NOCRED);
	open_s(t, 1001, "login", "short", 1007, -WB_E_NOCRED);
	assert_active(t, 1001, "login", 1008, "right");
	ck_assert_uint_eq(wb_screds_sweep(t, &lim, 1005 + 121, NULL, NULL, NULL), 1);
	assert_active(t, 1001, "login", 1200, "right");
	wb_screds_free(t);
}
END_TEST

START_TEST(test_bind_timeout)
{
	struct wb_screds *t = wb_screds_new();
	char tok[WB_SCREDS_TOKEN_LEN + 1];
	time_t next = 0;

	deposit(t, 1001, "login", "pw", 0, 1000, tok);
	ck_assert_uint_eq(wb_screds_sweep(t, &lim, 1120, NULL, NULL, &next), 0);
	ck_assert_int_eq(next, 1121);
	open_s(t, 1001, "login", tok, 1121, -WB_E_NOCRED);	/* too late even before a sweep */
	ck_assert_uint_eq(wb_screds_sweep(t, &lim, 1121, NULL, NULL, &next), 1);
	ck_assert_int_eq(next, 0);
	ck_assert(!wb_screds_exists(t, 1001, "login"));
	wb_screds_free(t);
}
END_TEST

static void count_gone(const struct wb_cred_meta *m, const char *why, void *ctx)
{
	int *n = ctx;

	ck_assert_str_eq(m->name, "login");
	ck_assert_str_eq(why, "ttl");
	(*n)++;
}

START_TEST(test_ttl)
{
	struct wb_screds *t = wb_screds_new();
	struct wb_screds_limits capped = lim;
	char tok[WB_SCREDS_TOKEN_LEN + 1];
	time_t next = 0;
	int gone = 0;

	deposit(t, 1001, "login", "pw", 60, 1000, tok);
	open_s(t, 1001, "login", tok, 1010, 0);	/* the TTL starts when it becomes active */
	assert_active(t, 1001, "login", 1070, "pw");	/* whole seconds: at least 60 s */
	assert_active(t, 1001, "login", 1071, NULL);	/* expired, even before the sweep */
	ck_assert_uint_eq(wb_screds_sweep(t, &lim, 1070, count_gone, &gone, &next), 0);
	ck_assert_int_eq(next, 1071);
	ck_assert_uint_eq(wb_screds_sweep(t, &lim, 1071, count_gone, &gone, &next), 1);
	ck_assert_int_eq(gone, 1);
	ck_assert(!wb_screds_exists(t, 1001, "login"));

	/* The broker's cap applies to deposits with and without a TTL. */
	capped.max_ttl_sec = 30;
	ck_assert_int_eq(wb_screds_deposit(t, &(struct wb_cred_meta){ 0 }, pw("x"), 0, &capped,
					   2000, tok, NULL), -WB_E_INVALID);
	{
		struct wb_cred_meta m = meta(1001, "login", "alice");

		ck_assert_int_eq(wb_screds_deposit(t, &m, pw("pw"), 0, &capped, 2000, tok, NULL),
				 0);
	}
	open_s(t, 1001, "login", tok, 2000, 0);
	assert_active(t, 1001, "login", 2030, "pw");
	assert_active(t, 1001, "login", 2031, NULL);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_update_and_remove)
{
	struct wb_screds *t = wb_screds_new();
	struct wb_cred_meta m = meta(1001, "login", "alice");
	char tok[WB_SCREDS_TOKEN_LEN + 1];

	ck_assert_int_eq(wb_screds_update(t, &m, NULL, pw("new"), 1000, NULL), -WB_E_NOCRED);
	deposit(t, 1001, "login", "old", 0, 1000, tok);
	ck_assert_int_eq(wb_screds_update(t, &m, NULL, pw("new"), 1000, NULL), -WB_E_NOCRED);
	open_s(t, 1001, "login", tok, 1000, 0);
	open_s(t, 1001, "login", NULL, 1000, 0);
	snprintf(m.user, sizeof(m.user), "someone-else");
	ck_assert_int_eq(wb_screds_update(t, &m, NULL, pw("new"), 1001, NULL), 0);
	assert_active(t, 1001, "login", 1002, "new");
	{
		struct wb_cred_meta got;

		ck_assert_int_eq(wb_screds_get(t, 1001, "login", 1002, &got, NULL, NULL), 0);
		ck_assert_str_eq(got.user, "alice");	/* the account stays */
	}
	ck_assert_uint_eq(close_s(t, 1001, "login", 0), 1);	/* sessions kept */
	ck_assert_int_eq(wb_screds_remove(t, 1001, "login", NULL), 0);
	ck_assert(!wb_screds_exists(t, 1001, "login"));
	ck_assert_int_eq(wb_screds_remove(t, 1001, "login", NULL), -WB_E_NOCRED);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_limits_and_identity)
{
	struct wb_screds *t = wb_screds_new();
	char tok[WB_SCREDS_TOKEN_LEN + 1], first[WB_SCREDS_TOKEN_LEN + 1];
	const char *names[] = { "a", "b", "c" };
	struct wb_cred_meta m;
	size_t i;

	for (i = 0; i < 3; i++)
		deposit(t, 1001, names[i], "pw", 0, 1000, tok);
	m = meta(1001, "d", "alice");
	ck_assert_int_eq(wb_screds_deposit(t, &m, pw("pw"), 0, &lim, 1000, tok, NULL),
			 -WB_E_LIMIT);
	/* Other uids have their own room, and their own "login". */
	deposit(t, 1002, "a", "theirs", 0, 1000, tok);
	open_s(t, 1002, "a", tok, 1000, 0);
	assert_active(t, 1002, "a", 1000, "theirs");
	assert_active(t, 1001, "a", 1000, NULL);
	/* Beyond WB_SCREDS_PENDING_MAX deposits the oldest goes. */
	deposit(t, 1003, "login", "p0", 0, 1000, first);
	for (i = 1; i <= WB_SCREDS_PENDING_MAX; i++)
		deposit(t, 1003, "login", "pn", 0, 1000, tok);
	open_s(t, 1003, "login", first, 1000, -WB_E_NOCRED);
	open_s(t, 1003, "login", tok, 1000, 0);
	/* Not a personal password: refused. */
	m = meta(1001, "a", "alice");
	m.scope = WB_SCOPE_SHARED;
	ck_assert_int_eq(wb_screds_deposit(t, &m, pw("pw"), 0, &lim, 1000, tok, NULL),
			 -WB_E_INVALID);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_delegate_flag_travels)
{
	struct wb_screds *t = wb_screds_new();
	struct wb_cred_meta m = meta(1001, "login", "alice"), got;
	char tok[WB_SCREDS_TOKEN_LEN + 1];

	m.flags = WB_CRED_F_DELEGATE | 0x80;	/* unknown bits are dropped */
	ck_assert_int_eq(wb_screds_deposit(t, &m, pw("pw"), 0, &lim, 1000, tok, NULL), 0);
	open_s(t, 1001, "login", tok, 1000, 0);
	ck_assert_int_eq(wb_screds_get(t, 1001, "login", 1000, &got, NULL, NULL), 0);
	ck_assert_uint_eq(got.flags, WB_CRED_F_DELEGATE);
	m.flags = 0;	/* a password change keeps what the login asked for */
	ck_assert_int_eq(wb_screds_update(t, &m, NULL, pw("new"), 1001, NULL), 0);
	ck_assert_int_eq(wb_screds_get(t, 1001, "login", 1001, &got, NULL, NULL), 0);
	ck_assert_uint_eq(got.flags, WB_CRED_F_DELEGATE);
	/* A later login without delegate makes it a plain one again. */
	ck_assert_int_eq(wb_screds_deposit(t, &m, pw("pw2"), 0, &lim, 1002, tok, NULL), 0);
	open_s(t, 1001, "login", tok, 1002, 0);
	ck_assert_int_eq(wb_screds_get(t, 1001, "login", 1002, &got, NULL, NULL), 0);
	ck_assert_uint_eq(got.flags, 0);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_session_ids)
{
	struct wb_screds *t = wb_screds_new();
	char tok[WB_SCREDS_TOKEN_LEN + 1];
	uint64_t a, b, stale;
	uint32_t n = 0;

	/* Login A, then its credential expires; login B binds a new one. */
	deposit(t, 1001, "login", "pw-a", 5, 1000, tok);
	stale = open_id(t, 1001, "login", tok, 1000);
	ck_assert_uint_eq(wb_screds_sweep(t, &lim, 1006, NULL, NULL, NULL), 1);
	deposit(t, 1001, "login", "pw-b", 0, 1010, tok);
	b = open_id(t, 1001, "login", tok, 1010);
	/* A's late logout names its own session: nothing changes for B. */
	ck_assert_int_eq(wb_screds_close(t, 1001, "login", stale, &n, NULL), -WB_E_NOCRED);
	assert_active(t, 1001, "login", 1011, "pw-b");
	/* Two sessions, released by id, each once. */
	a = open_id(t, 1001, "login", NULL, 1012);
	ck_assert(a != b);
	ck_assert_int_eq(wb_screds_close(t, 1001, "login", a, &n, NULL), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(wb_screds_close(t, 1001, "login", a, &n, NULL), -WB_E_NOCRED);
	assert_active(t, 1001, "login", 1013, "pw-b");
	ck_assert_int_eq(wb_screds_close(t, 1001, "login", b, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	assert_active(t, 1001, "login", 1014, NULL);
	wb_screds_free(t);
}
END_TEST

START_TEST(test_update_pending_deposit)
{
	struct wb_screds *t = wb_screds_new();
	struct wb_cred_meta m = meta(1001, "login", "alice");
	char tok[WB_SCREDS_TOKEN_LEN + 1], forged[WB_SCREDS_TOKEN_LEN + 1];

	deposit(t, 1001, "login", "expired-pw", 0, 1000, tok);
	/* An expired password changed at login, before the session opens. */
	ck_assert_int_eq(wb_screds_update(t, &m, tok, pw("new-pw"), 1001, NULL), 0);
	memset(forged, 'b', WB_SCREDS_TOKEN_LEN);
	forged[WB_SCREDS_TOKEN_LEN] = '\0';
	ck_assert_int_eq(wb_screds_update(t, &m, forged, pw("x"), 1001, NULL), -WB_E_NOCRED);
	assert_active(t, 1001, "login", 1001, NULL);	/* still pending */
	open_s(t, 1001, "login", tok, 1002, 0);
	assert_active(t, 1001, "login", 1002, "new-pw");
	wb_screds_free(t);
}
END_TEST

START_TEST(test_session_limit)
{
	struct wb_screds *t = wb_screds_new();
	char tok[WB_SCREDS_TOKEN_LEN + 1];
	uint64_t id;
	uint32_t n;
	bool replaced;
	int i;

	deposit(t, 1001, "login", "pw", 0, 1000, tok);
	open_s(t, 1001, "login", tok, 1000, 0);
	for (i = 1; i < WB_SCREDS_SESSIONS_MAX; i++)
		open_s(t, 1001, "login", NULL, 1000, 0);
	ck_assert_int_eq(wb_screds_open(t, 1001, "login", NULL, &lim, 1000, &n, &id, &replaced,
					NULL), -WB_E_LIMIT);
	ck_assert_uint_eq(close_s(t, 1001, "login", 0), WB_SCREDS_SESSIONS_MAX - 1);
	wb_screds_free(t);
}
END_TEST

static int count_visit(const struct wb_cred_meta *m, const struct wb_screds_state *st, void *ctx)
{
	int *n = ctx;

	ck_assert_str_eq(m->name, "login");
	ck_assert_uint_eq(st->sessions, 2);
	ck_assert_int_eq(st->expires, 1000 + 600);
	(*n)++;
	return 0;
}

START_TEST(test_list_shows_active_only)
{
	struct wb_screds *t = wb_screds_new();
	char tok[WB_SCREDS_TOKEN_LEN + 1];
	int n = 0;

	deposit(t, 1001, "login", "pw", 600, 1000, tok);
	deposit(t, 1002, "pending", "pw", 0, 1000, tok + 0);
	{
		char t1[WB_SCREDS_TOKEN_LEN + 1];

		deposit(t, 1001, "login", "pw", 600, 1000, t1);
		open_s(t, 1001, "login", t1, 1000, 0);
		open_s(t, 1001, "login", NULL, 1000, 0);
	}
	ck_assert_int_eq(wb_screds_list(t, count_visit, &n), 0);
	ck_assert_int_eq(n, 1);
	wb_screds_free(t);
}
END_TEST

static Suite *screds_suite(void)
{
	Suite *s = suite_create("screds");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_deposit_is_inert_until_bound);
	tcase_add_test(tc, test_refcount_across_logins);
	tcase_add_test(tc, test_bad_deposit_never_replaces);
	tcase_add_test(tc, test_bind_timeout);
	tcase_add_test(tc, test_ttl);
	tcase_add_test(tc, test_update_and_remove);
	tcase_add_test(tc, test_limits_and_identity);
	tcase_add_test(tc, test_list_shows_active_only);
	tcase_add_test(tc, test_delegate_flag_travels);
	tcase_add_test(tc, test_session_ids);
	tcase_add_test(tc, test_update_pending_deposit);
	tcase_add_test(tc, test_session_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(screds_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
