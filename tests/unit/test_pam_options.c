/*
 * Unit tests for pam/options.c: pam_winrm_broker's module arguments
 * (docs/pam.md, OPTIONS) and the mapping of a PAM user to a Windows
 * account. Pure functions, so no PAM stack is needed.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define ARGS(...) (const char *[]){ __VA_ARGS__ }
#define NARGS(...) (int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *))
#define PARSE(o, msg, ...) \
	pwb_options_parse(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), (o), (msg), sizeof(msg))

/* One bad argument list: -EINVAL and a message containing want. */
static void refused(const char *want, int argc, const char **argv)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];
	int i;

	ck_assert_int_eq(pwb_options_parse(argc, argv, &o, msg, sizeof(msg)), -EINVAL);
	for (i = 0; i < argc; i++)
		ck_assert_msg(strstr(msg, want) != NULL, "'%s': message '%s' lacks '%s'", argv[i],
			      msg, want);
}

#define REFUSED(want, ...) refused((want), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

START_TEST(test_defaults)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX] = "x";

	ck_assert_int_eq(pwb_options_parse(0, NULL, &o, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "");
	ck_assert_str_eq(o.socket, "/run/winrm-broker/broker.sock");
	ck_assert_str_eq(o.name, "login");
	ck_assert_str_eq(o.broker_user, "root");
	ck_assert_str_eq(o.domain, "");
	ck_assert_str_eq(o.realm, "");
	ck_assert_str_eq(o.format, "");
	ck_assert_uint_eq(o.ttl_sec, 0);
	ck_assert_uint_eq(o.minimum_uid, 1);	/* never root's password */
	ck_assert_int_eq(o.timeout_sec, 5);
	ck_assert_int_eq(o.pass, PWB_PASS_DEFAULT);
	ck_assert(!o.validate && !o.delegate && !o.broker_down_fail && !o.debug);
}
END_TEST

START_TEST(test_every_option)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	ck_assert_int_eq(PARSE(&o, msg, "socket=/run/wb/b.sock", "name=corp-login",
			       "domain=CORP", "realm=CORP.EXAMPLE.COM", "validate", "ttl=28800",
			       "use_first_pass", "broker_user=_winrm", "timeout=10",
			       "broker_down=fail", "minimum_uid=1000", "debug", "delegate",
			       "use_authtok"), 0);
	ck_assert_str_eq(o.socket, "/run/wb/b.sock");
	ck_assert_str_eq(o.name, "corp-login");
	ck_assert_str_eq(o.domain, "CORP");
	ck_assert_str_eq(o.realm, "CORP.EXAMPLE.COM");
	ck_assert(o.validate);
	ck_assert(o.delegate);
	ck_assert_uint_eq(o.ttl_sec, 28800);
	ck_assert_int_eq(o.pass, PWB_PASS_USE_FIRST);
	ck_assert_str_eq(o.broker_user, "_winrm");
	ck_assert_int_eq(o.timeout_sec, 10);
	ck_assert(o.broker_down_fail);
	ck_assert_uint_eq(o.minimum_uid, 1000);
	ck_assert(o.debug);

	ck_assert_int_eq(PARSE(&o, msg, "try_first_pass", "format=CORP\\%u", "broker_down=ignore",
			       "ttl=0", "minimum_uid=0"), 0);
	ck_assert_int_eq(o.pass, PWB_PASS_TRY_FIRST);
	ck_assert_str_eq(o.format, "CORP\\%u");
	ck_assert(!o.broker_down_fail);
	ck_assert_uint_eq(o.ttl_sec, 0);
	ck_assert_uint_eq(o.minimum_uid, 0);
	/* NULL entries in argv are skipped. */
	ck_assert_int_eq(PARSE(&o, msg, NULL, "debug"), 0);
	ck_assert(o.debug);
}
END_TEST

START_TEST(test_conflicts)
{
	REFUSED("exclude each other", "use_first_pass", "try_first_pass");
	REFUSED("exclude each other", "try_first_pass", "use_first_pass");
	REFUSED("'format=' excludes 'domain=' and 'realm='", "format=%u@R.COM", "domain=CORP");
	REFUSED("'format=' excludes", "realm=R.COM", "format=CORP\\%u");
	REFUSED("given twice", "ttl=1", "ttl=2");
	REFUSED("given twice", "debug", "debug");
	REFUSED("given twice", "domain=A", "domain=A");
}
END_TEST

START_TEST(test_numbers)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	REFUSED("whole number from 0 to 4294967295", "ttl=-1");
	REFUSED("not ''", "ttl=");
	REFUSED("not 'abc'", "ttl=abc");
	REFUSED("not '1x'", "ttl=1x");
	REFUSED("not '+5'", "ttl=+5");
	REFUSED("not ' 5'", "ttl= 5");
	REFUSED("not '0x10'", "ttl=0x10");
	REFUSED("ttl", "ttl=4294967296");
	REFUSED("ttl", "ttl=99999999999999999999999");
	ck_assert_int_eq(PARSE(&o, msg, "ttl=4294967295"), 0);
	ck_assert_uint_eq(o.ttl_sec, 4294967295u);

	REFUSED("at least 1 second", "timeout=0");
	REFUSED("from 0 to 300", "timeout=301");
	REFUSED("timeout", "timeout=-5");
	ck_assert_int_eq(PARSE(&o, msg, "timeout=300"), 0);
	ck_assert_int_eq(o.timeout_sec, 300);

	REFUSED("minimum_uid", "minimum_uid=4294967295");	/* (uid_t)-1 */
	REFUSED("minimum_uid", "minimum_uid=1k");
	ck_assert_int_eq(PARSE(&o, msg, "minimum_uid=4294967294"), 0);
	ck_assert_uint_eq(o.minimum_uid, 4294967294u);
}
END_TEST

START_TEST(test_unknown_and_malformed)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	REFUSED("unknown option 'frobnicate'", "frobnicate");
	REFUSED("unknown option 'Debug'", "Debug");
	REFUSED("unknown option 'sockets=/x'", "sockets=/x");
	REFUSED("unknown option '=x'", "=x");
	REFUSED("unknown option ''", "");
	REFUSED("unknown option 'use_authtoken'", "use_authtoken");
	REFUSED("takes no value", "delegate=yes");
	REFUSED("takes no value", "debug=1");
	REFUSED("takes no value", "use_first_pass=yes");
	REFUSED("needs a value (ttl=...)", "ttl");
	REFUSED("needs a value", "socket");
	REFUSED("ignore or fail, not 'maybe'", "broker_down=maybe");
	REFUSED("ignore or fail", "broker_down=");

	/* The first problem is reported, but every argument is looked at:
	 * broker_down=fail after a bad option still decides the return code. */
	ck_assert_int_eq(PARSE(&o, msg, "bogus", "ttl=x", "broker_down=fail", "debug"), -EINVAL);
	ck_assert_str_eq(msg, "unknown option 'bogus'");
	ck_assert(o.broker_down_fail);
	ck_assert(o.debug);
}
END_TEST

START_TEST(test_values)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	REFUSED("absolute path", "socket=run/broker.sock");
	REFUSED("'socket=' is empty", "socket=");
	REFUSED("control character", "socket=/run/a\nb");
	REFUSED("option 'name='", "name=bad name");
	REFUSED("option 'name='", "name=-x");
	REFUSED("option 'name='", "name=");
	REFUSED("not a valid domain name", "domain=CORP\\X");
	REFUSED("not a valid domain name", "domain=a@b");
	REFUSED("not a valid domain name", "domain=MY DOMAIN");
	REFUSED("control character", "domain=CO\tRP");
	REFUSED("'domain=' is empty", "domain=");
	REFUSED("not a valid realm", "realm=a@B.COM");
	REFUSED("not a valid realm", "realm=B:C");
	REFUSED("not a user name", "broker_user=a:b");
	REFUSED("not a user name", "broker_user=/root");
	REFUSED("'broker_user=' is empty", "broker_user=");
	ck_assert_int_eq(PARSE(&o, msg, "name=a.b_c-d@e", "domain=corp.example.com"), 0);
	ck_assert_str_eq(o.name, "a.b_c-d@e");

	REFUSED("no %u", "format=CORP\\alice");
	REFUSED("no %u", "format=%%u");
	REFUSED("'%x' is not %u or %%", "format=%x%u");
	REFUSED("lone %", "format=%u%");
	REFUSED("more than one backslash", "format=A\\B\\%u");
	REFUSED("'format=' is empty", "format=");
	ck_assert_int_eq(PARSE(&o, msg, "format=a%%b%u"), 0);
}
END_TEST

START_TEST(test_long_values)
{
	char arg[600], *big = malloc(1200);
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	/* socket: sun_path holds 107 bytes and the NUL. */
	memset(arg, 'a', sizeof(arg));
	memcpy(arg, "socket=/", 8);
	arg[7 + 107] = '\0';
	ck_assert_int_eq(PARSE(&o, msg, arg), 0);
	ck_assert_uint_eq(strlen(o.socket), 107);
	arg[7 + 107] = 'a';
	arg[7 + 108] = '\0';
	REFUSED("longer than 107 bytes", arg);

	memcpy(arg, "domain=", 7);
	memset(arg + 7, 'D', 256);
	arg[7 + 256] = '\0';
	ck_assert_int_eq(PARSE(&o, msg, arg), 0);
	arg[7 + 256] = 'D';
	arg[7 + 257] = '\0';
	REFUSED("longer than 256 bytes", arg);

	/* A value is quoted shortened, never whole. */
	memset(big, 'x', 1199);
	big[1199] = '\0';
	memcpy(big, "ttl=", 4);
	ck_assert_int_eq(PARSE(&o, msg, big), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "xxx...'"));
	ck_assert_uint_lt(strlen(msg), 160);
	memcpy(big, "zzzz", 4);
	ck_assert_int_eq(PARSE(&o, msg, big), -EINVAL);
	ck_assert_ptr_nonnull(strstr(msg, "unknown option 'zzzz"));
	ck_assert_uint_lt(strlen(msg), 100);
	free(big);
}
END_TEST

/* ---- mapping ------------------------------------------------------------- */

static struct pwb_options opts(int argc, const char **argv)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	ck_assert_msg(pwb_options_parse(argc, argv, &o, msg, sizeof(msg)) == 0, "%s", msg);
	return o;
}

#define OPTS(...) opts(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

static void mapped(const struct pwb_options *o, const char *pam_user, const char *want_user,
		   const char *want_domain)
{
	char user[WBC_CRED_TEXT_MAX + 1], domain[WBC_CRED_TEXT_MAX + 1], msg[PWB_MSG_MAX];

	ck_assert_msg(pwb_map_user(o, pam_user, user, domain, msg, sizeof(msg)) == 0,
		      "mapping '%s': %s", pam_user, msg);
	ck_assert_str_eq(user, want_user);
	ck_assert_str_eq(domain, want_domain);
}

static void unmapped(const struct pwb_options *o, const char *pam_user, const char *want)
{
	char user[WBC_CRED_TEXT_MAX + 1] = "x", domain[WBC_CRED_TEXT_MAX + 1] = "x";
	char msg[PWB_MSG_MAX];

	ck_assert_int_eq(pwb_map_user(o, pam_user, user, domain, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, want) != NULL, "mapping '%s': '%s' lacks '%s'",
		      pam_user ? pam_user : "(null)", msg, want);
	ck_assert_str_eq(user, "");
	ck_assert_str_eq(domain, "");
}

START_TEST(test_map_plain)
{
	struct pwb_options o = OPTS("debug");

	mapped(&o, "alice", "alice", "");
	mapped(&o, "CORP\\alice", "alice", "CORP");	/* winbind-style names split */
	mapped(&o, "alice@corp.example.com", "alice@corp.example.com", "");	/* a UPN */
	mapped(&o, "john smith", "john smith", "");
	mapped(&o, "a%u", "a%u", "");	/* no second expansion */
	unmapped(&o, "", "no user name");
	unmapped(&o, NULL, "no user name");
	unmapped(&o, "ali\nce", "control character");
	unmapped(&o, "\\alice", "empty domain");
	unmapped(&o, "CORP\\", "empty user name");
	unmapped(&o, "A\\B\\c", "more than one backslash");
	unmapped(&o, "al:ice", "not a valid Windows user name");
	unmapped(&o, "a*b", "not a valid Windows user name");
	unmapped(&o, "a@", "not a valid Windows user name");
	unmapped(&o, "@a", "not a valid Windows user name");
	unmapped(&o, "a@b@c", "not a valid Windows user name");
	unmapped(&o, "CO RP\\alice", "not a valid Windows domain name");
}
END_TEST

START_TEST(test_map_domain_realm)
{
	struct pwb_options d = OPTS("domain=CORP");
	struct pwb_options r = OPTS("realm=CORP.EXAMPLE.COM");
	struct pwb_options dr = OPTS("realm=CORP.EXAMPLE.COM", "domain=CORP");

	mapped(&d, "alice", "alice", "CORP");
	mapped(&r, "alice", "alice@CORP.EXAMPLE.COM", "");
	mapped(&dr, "alice", "alice@CORP.EXAMPLE.COM", "CORP");
	/* Already qualified names are not qualified twice. */
	unmapped(&d, "OTHER\\alice", "already qualified");
	unmapped(&d, "alice@other", "already qualified");
	unmapped(&r, "alice@other", "already qualified");
	unmapped(&dr, "X\\alice", "already qualified");
}
END_TEST

START_TEST(test_map_format)
{
	struct pwb_options bs = OPTS("format=CORP\\%u");
	struct pwb_options upn = OPTS("format=%u@CORP.EXAMPLE.COM");
	struct pwb_options pct = OPTS("format=%u%%x");
	struct pwb_options pre = OPTS("format=win-%u");
	struct pwb_options twice = OPTS("format=%u\\%u");

	mapped(&bs, "alice", "alice", "CORP");
	mapped(&upn, "alice", "alice@CORP.EXAMPLE.COM", "");
	mapped(&pct, "alice", "alice%x", "");
	mapped(&pre, "alice", "win-alice", "");
	mapped(&pre, "CORP\\alice", "alice", "win-CORP");	/* no qualifier of its own */
	mapped(&twice, "alice", "alice", "alice");
	unmapped(&bs, "X\\alice", "already qualified");
	unmapped(&upn, "alice@x", "already qualified");
	unmapped(&twice, "a\\b", "already qualified");
}
END_TEST

START_TEST(test_map_lengths)
{
	char name[400], want[300];
	struct pwb_options plain = OPTS("debug");
	struct pwb_options r = OPTS("realm=R.COM");
	struct pwb_options twice = OPTS("format=%u%u");
	struct pwb_options dom2 = OPTS("format=%u%u\\x");

	memset(name, 'u', sizeof(name));
	name[256] = '\0';
	mapped(&plain, name, name, "");			/* at the limit */
	unmapped(&r, name, "longer than 256 bytes");	/* with @R.COM */
	name[200] = '\0';
	unmapped(&twice, name, "longer than 256 bytes");
	name[200] = name[256] = 'u';
	name[257] = '\0';
	unmapped(&plain, name, "the user name is longer than 256 bytes");

	/* DOMAIN\user split: 250-byte domain; a 300-byte one is too long. */
	memset(name, 'd', 250);
	strcpy(name + 250, "\\u");
	memset(want, 'd', 250);
	want[250] = '\0';
	mapped(&plain, name, "u", want);
	memset(name, 'd', 150);
	name[150] = '\0';
	unmapped(&dom2, name, "longer than 256 bytes");
}
END_TEST

static Suite *pam_options_suite(void)
{
	Suite *s = suite_create("pam_options");
	TCase *tc = tcase_create("options");
	TCase *tm = tcase_create("mapping");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_option);
	tcase_add_test(tc, test_conflicts);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_unknown_and_malformed);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_long_values);
	suite_add_tcase(s, tc);
	tcase_add_test(tm, test_map_plain);
	tcase_add_test(tm, test_map_domain_realm);
	tcase_add_test(tm, test_map_format);
	tcase_add_test(tm, test_map_lengths);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pam_options_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
