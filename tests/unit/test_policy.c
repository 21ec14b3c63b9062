/* Unit tests for policy/: the file format (every key, every error with
 * file:line), and the helpers the other test_policy_*.c files share.
 * test_policy_match.c: each match dimension; test_policy_decide.c: ordering,
 * time, options, limits; test_policy_load.c: directories, the examples,
 * hostile input. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_policy.h"

/* ---- helpers ---- */

int64_t at(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm);
}

void req_groups(struct req *r, size_t n, ...)
{
	va_list ap;
	size_t i;

	ck_assert_uint_le(n, 8);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		r->gids[i] = (gid_t)va_arg(ap, int);
		r->groups[i] = va_arg(ap, const char *);
	}
	va_end(ap);
	r->q.gids = r->gids;
	r->q.groups = r->groups;
	r->q.n_groups = n;
}

void req_transports(struct req *r, size_t n, ...)
{
	va_list ap;
	size_t i;

	ck_assert_uint_le(n, 8);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		r->transports[i] = va_arg(ap, const char *);
	va_end(ap);
	r->q.transports = r->transports;
	r->q.n_transports = n;
}

void req_default(struct req *r)
{
	memset(r, 0, sizeof(*r));
	r->q.uid = 1000;
	r->q.user = "alice";
	req_groups(r, 2, 1000, "alice", 2000, "ops");
	r->q.cred = "ops-admin";
	r->q.host = "srv1.corp.example";
	req_transports(r, 2, "kerberos", "negotiate");
	r->q.command_line = "Get-Date";
	r->q.now = at(2029, 3, 5, 10, 0, 0);
}

struct wb_policy *pol(const char *text)
{
	struct wb_policy *p = wb_policy_new();
	struct wb_error e = { 0 };
	int rc;

	ck_assert_ptr_nonnull(p);
	rc = wb_policy_parse((const uint8_t *)text, strlen(text), "t.conf", p, &e);
	ck_assert_msg(rc == 0, "parse failed: %s", e.msg);
	return p;
}

void pol_fails_n(const char *text, size_t len, unsigned line, const char *needle)
{
	struct wb_policy *p = wb_policy_new();
	struct wb_error e = { 0 };
	char prefix[64];
	int rc = wb_policy_parse((const uint8_t *)text, len, "t.conf", p, &e);

	ck_assert_msg(rc == -WB_E_CONFIG, "expected a config error for <<%s>>, got %d (%s)",
		      text, rc, e.msg);
	ck_assert_int_eq(e.code, WB_E_CONFIG);
	ck_assert_uint_eq(wb_policy_rule_count(p), 0);
	snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0, "expected prefix '%s' in '%s'",
		      prefix, e.msg);
	ck_assert_msg(strstr(e.msg, needle), "expected '%s' in '%s'", needle, e.msg);
	wb_policy_free(p);
}

void pol_fails(const char *text, unsigned line, const char *needle)
{
	pol_fails_n(text, strlen(text), line, needle);
}

void decide(const struct wb_policy *p, const struct req *r, struct wb_policy_decision *d)
{
	int rc = wb_policy_decide(p, &r->q, d);

	ck_assert_msg(rc == 0, "decide returned %d: %s", rc, d->reason);
	ck_assert(d->allow == (d->why == WB_POLICY_ALLOWED));
	ck_assert(d->rule[0] != '\0');
	ck_assert(d->reason[0] != '\0');
}

void expect(const char *text, const struct req *r, bool allow, enum wb_policy_why why)
{
	struct wb_policy *p = pol(text);
	struct wb_policy_decision d;

	decide(p, r, &d);
	ck_assert_msg(d.allow == allow && d.why == why,
		      "expected %s/%s, got %s/%s: %s (%s)", allow ? "allow" : "deny",
		      wb_policy_why_name(why), d.allow ? "allow" : "deny",
		      wb_policy_why_name(d.why), d.reason, d.rule);
	wb_policy_free(p);
}

#define BASE "[rule r]\nusers = alice\ncredentials = ops-admin\nhosts = *\n"

/* ---- the format ---- */

START_TEST(test_minimal_rule_defaults)
{
	struct wb_policy *p = pol(BASE);
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	req_transports(&r, 6, "basic", "certificate", "ntlm", "kerberos", "negotiate", "credssp");
	decide(p, &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule, "t.conf:1 [rule r]");
	ck_assert_str_eq(d.rule_name, "r");
	ck_assert_str_eq(d.reason, "allowed by rule 'r'");
	ck_assert_uint_eq(d.max_concurrent, 0);
	ck_assert_uint_eq(d.max_runtime_sec, 0);
	ck_assert(!d.transcript);
	/* The default transports: all but credssp. */
	ck_assert_uint_eq(d.n_transports, 5);
	ck_assert_str_eq(d.transports[0], "basic");
	ck_assert_str_eq(d.transports[4], "negotiate");
	ck_assert_uint_eq(wb_policy_rule_count(p), 1);
	wb_policy_free(p);
}
END_TEST

START_TEST(test_every_key)
{
	struct wb_policy *p = pol(
		"# all keys\n"
		"[rule all-keys]\n"
		"action = allow\n"
		"users = alice, 1001\n"
		"groups = ops 3000\n"
		"credentials = ops-admin, personal\n"
		"hosts = srv1.corp.example, 10.0.0.0/8, 2001:db8::/32\n"
		"transports = credssp, kerberos\n"
		"command_allow = exact:Get-Date\n"
		"command_allow = prefix:Get-Service\n"
		"command_deny = regex:format\n"
		"allow_kerberos_delegation = yes\n"
		"allow_cert_validation_ignore = true\n"
		"max_concurrent = 3\n"
		"max_runtime_sec = 600\n"
		"time = Mon-Fri 08:00-18:00, Sat 09:00-12:00\n"
		"expires = 2030-01-01 12:30\n"
		"transcript = 1\n");
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	req_transports(&r, 3, "credssp", "negotiate", "kerberos");
	r.q.want_delegation = true;
	r.q.want_cert_ignore = true;
	decide(p, &r, &d);
	ck_assert_msg(d.allow, "%s", d.reason);
	ck_assert_str_eq(d.rule, "t.conf:2 [rule all-keys]");
	ck_assert_uint_eq(d.max_concurrent, 3);
	ck_assert_uint_eq(d.max_runtime_sec, 600);
	ck_assert(d.transcript);
	ck_assert_uint_eq(d.n_transports, 2);
	ck_assert_str_eq(d.transports[0], "credssp");
	ck_assert_str_eq(d.transports[1], "kerberos");
	ck_assert(strstr(d.reason, "allow exact 'Get-Date' at t.conf:9"));
	wb_policy_free(p);
}
END_TEST

START_TEST(test_comments_blanks_crlf)
{
	struct wb_policy *p = pol("\r\n  # comment\r\n\t\r\n[ rule  crlf ]\r\nusers=alice\r\n"
				  "  credentials\t=\tops-admin  \r\nhosts = *\r\n");
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide(p, &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule, "t.conf:4 [rule crlf]");
	wb_policy_free(p);
	p = pol("");
	ck_assert_uint_eq(wb_policy_rule_count(p), 0);
	wb_policy_free(p);
}
END_TEST

START_TEST(test_err_unknown_key)
{
	pol_fails(BASE "color = blue\n", 5, "unknown key 'color'");
	pol_fails(BASE "Hosts = *\n", 5, "unknown key 'Hosts'");
}
END_TEST

START_TEST(test_err_duplicate_key)
{
	pol_fails(BASE "users = bob\n", 5, "'users' set twice in [rule r] (first at line 2)");
	pol_fails(BASE "transcript = no\n\ntranscript = yes\n", 7, "set twice");
}
END_TEST

START_TEST(test_err_structure)
{
	pol_fails("users = alice\n", 1, "outside any rule");
	pol_fails("[host x]\n", 1, "unknown section [host x]");
	pol_fails("[rule r\n", 1, "unterminated section header");
	pol_fails("[rule]\n", 1, "needs a name");
	pol_fails("[rule -bad]\n", 1, "rule name '-bad'");
	pol_fails("[rule a b]\n", 1, "rule name 'a b'");
	pol_fails(BASE "just text\n", 5, "expected 'key = value'");
	pol_fails(BASE " = x\n", 5, "missing key");
	pol_fails(BASE "users =\n", 5, "'users' set twice");
	pol_fails("[rule r]\nusers = alice\ncredentials = x\nhosts =  \n", 4, "hosts: empty value");
}
END_TEST

START_TEST(test_err_missing_required)
{
	pol_fails("[rule r]\ncredentials = x\nhosts = *\n", 1, "names no users or groups");
	pol_fails("\n[rule r]\nusers = a\nhosts = *\n", 2, "has no credentials");
	pol_fails("[rule r]\nusers = a\ncredentials = x\n[rule s]\n", 1, "has no hosts");
	/* The second rule's header line, when the second rule is the broken one. */
	pol_fails(BASE "[rule s]\ngroups = g\nhosts = *\n", 5, "[rule s] has no credentials");
}
END_TEST

START_TEST(test_err_duplicate_rule_name)
{
	struct wb_policy *p = pol(BASE);
	struct wb_error e = { 0 };
	const char *two = "\n" BASE;

	pol_fails(BASE "[rule r]\n", 5, "rule name 'r' is already used at t.conf:1");
	/* Across files: the second file names the first's place. */
	ck_assert_int_eq(wb_policy_parse((const uint8_t *)two, strlen(two), "u.conf", p, &e),
			 -WB_E_CONFIG);
	ck_assert_str_eq(e.msg, "u.conf:2: rule name 'r' is already used at t.conf:1");
	wb_policy_free(p);
}
END_TEST

START_TEST(test_err_values)
{
	pol_fails(BASE "action = permit\n", 5, "action: 'permit': expected allow or deny");
	pol_fails(BASE "transcript = maybe\n", 5, "transcript: 'maybe': expected yes or no");
	pol_fails(BASE "allow_kerberos_delegation = Yes\n", 5, "expected yes or no");
	pol_fails(BASE "allow_cert_validation_ignore = 2\n", 5, "expected yes or no");
	pol_fails(BASE "max_concurrent = 0\n", 5, "max_concurrent: '0': expected 1..4096");
	pol_fails(BASE "max_concurrent = 4097\n", 5, "expected 1..4096");
	pol_fails(BASE "max_concurrent = -1\n", 5, "expected 1..4096");
	pol_fails(BASE "max_runtime_sec = 2592001\n", 5, "expected 1..2592000");
	pol_fails(BASE "max_runtime_sec = 1h\n", 5, "expected 1..2592000");
}
END_TEST

START_TEST(test_err_subjects)
{
	pol_fails("[rule r]\nusers = alice bo b;x\n", 2, "users: 'b;x' is not a user name");
	pol_fails("[rule r]\nusers = 4294967295\n", 2, "users: '4294967295' is not a uid");
	pol_fails("[rule r]\ngroups = *\n", 2, "for everyone write users = *");
	pol_fails("[rule r]\ngroups = -x\n", 2, "groups: '-x' is not a group name");
	pol_fails("[rule r]\nusers = , ,\n", 2, "users: empty list");
}
END_TEST

START_TEST(test_err_bad_globs)
{
	pol_fails("[rule r]\nusers = a\ncredentials = svc-[ab\n", 3, "an unclosed or empty [ ] class");
	pol_fails("[rule r]\nusers = a\ncredentials = svc-[]\n", 3, "not a credential name or glob");
	pol_fails("[rule r]\nusers = a\ncredentials = a/b\n", 3, "a character that cannot occur");
	pol_fails("[rule r]\nusers = a\ncredentials = personal:\n", 3, "'personal:'");
	pol_fails("[rule r]\nusers = a\ncredentials = x\nhosts = web]\n", 4, "a ']' without '['");
	pol_fails("[rule r]\nusers = a\ncredentials = x\nhosts = web[0-9\n", 4, "unclosed");
	pol_fails("[rule r]\nusers = a\ncredentials = x\nhosts = we$b\n", 4,
		  "hosts: 'we$b' is not a host name glob, an IP address or a CIDR block");
}
END_TEST

START_TEST(test_err_bad_cidr)
{
	const char *h = "[rule r]\nusers = a\ncredentials = x\nhosts = ";
	char buf[256];

	snprintf(buf, sizeof(buf), "%s10.0.0.5/8\n", h);
	pol_fails(buf, 4, "bad CIDR '10.0.0.5/8': bits are set after the first 8");
	snprintf(buf, sizeof(buf), "%s10.0.0.0/33\n", h);
	pol_fails(buf, 4, "the prefix length must be 0..32");
	snprintf(buf, sizeof(buf), "%s2001:db8::/129\n", h);
	pol_fails(buf, 4, "the prefix length must be 0..128");
	snprintf(buf, sizeof(buf), "%s10.0.0/8\n", h);
	pol_fails(buf, 4, "'10.0.0' is not an IPv4 or IPv6 address");
	snprintf(buf, sizeof(buf), "%s10.0.0.0/\n", h);
	pol_fails(buf, 4, "bad CIDR");
	snprintf(buf, sizeof(buf), "%s2001:db8::1/64\n", h);
	pol_fails(buf, 4, "bits are set after the first 64");
	snprintf(buf, sizeof(buf), "%sweb/24\n", h);
	pol_fails(buf, 4, "bad CIDR");
}
END_TEST

START_TEST(test_err_transports)
{
	pol_fails(BASE "transports = kerberos, smtp\n", 5, "unknown transport 'smtp'");
	pol_fails(BASE "transports = ntlm ntlm\n", 5, "'ntlm' is named twice");
	pol_fails(BASE "transports = Kerberos\n", 5, "unknown transport 'Kerberos'");
}
END_TEST

START_TEST(test_err_commands)
{
	pol_fails(BASE "command_allow = Get-Date\n", 5, "expected exact:TEXT, prefix:TEXT or regex:ERE");
	pol_fails(BASE "command_deny = prefix:   \n", 5, "command_deny: empty prefix:");
	pol_fails(BASE "command_allow = exact:a\ncommand_deny = regex:a(b\n", 6, "bad regex 'a(b'");
	pol_fails(BASE "command_deny = regex:(?i)format\n", 5, "(?i) and other Perl syntax");
	pol_fails(BASE "command_deny = regex:((a{255}){255}){255}\n", 5, "too large once compiled");
	pol_fails(BASE "command_deny = regex:(a{100}){101}\n", 5, "too large once compiled");
	/* Stacked repetitions: undefined in POSIX, exponential in glibc (found
	 * by fuzz/fuzz_policy); a doubled group still counts. */
	pol_fails(BASE "command_deny = regex:a++++++++++++++++++++++++++++++\n", 5,
		  "two repetitions in a row");
	pol_fails(BASE "command_deny = regex:a?+?+?+?+?+?+?+?+?+\n", 5, "two repetitions in a row");
	pol_fails(BASE "command_deny = regex:x{2}*\n", 5, "two repetitions in a row");
	pol_fails(BASE "command_deny = regex:(((((((((((((ab{50})+)+)+)+)+)+)+)+)+)+)+)+)\n", 5,
		  "too large once compiled");
	wb_policy_free(pol(BASE "command_deny = regex:^[+*?]+ a\\+\\?x*\n"));
}
END_TEST

START_TEST(test_err_time_windows)
{
	pol_fails(BASE "time = Mon-Fri\n", 5, "time: bad window 'Mon-Fri'");
	pol_fails(BASE "time = Mon-Fry 08:00-18:00\n", 5, "days Mon Tue Wed Thu Fri Sat Sun");
	pol_fails(BASE "time = Mon 8:00-18:00\n", 5, "expected HH:MM-HH:MM");
	pol_fails(BASE "time = Mon 08:00-24:30\n", 5, "expected HH:MM-HH:MM");
	pol_fails(BASE "time = Mon 24:00-08:00\n", 5, "expected HH:MM-HH:MM");
	pol_fails(BASE "time = Mon 08:60-09:00\n", 5, "expected HH:MM-HH:MM");
	pol_fails(BASE "time = Mon 08:00-08:00\n", 5, "starts where it ends");
	pol_fails(BASE "time = Mon 08:00-09:00 x\n", 5, "bad window");
	pol_fails(BASE "time = , ,\n", 5, "time: no window");
}
END_TEST

START_TEST(test_err_too_many_windows)
{
	char buf[2048] = BASE "time = ";
	int i;

	for (i = 0; i < 33; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%sMon %02d:00-%02d:30",
			 i ? ", " : "", i % 24, i % 24);
	strcat(buf, "\n");
	pol_fails(buf, 5, "more than 32 windows");
}
END_TEST

START_TEST(test_err_dates)
{
	pol_fails(BASE "expires = 2029-02-29\n", 5, "no such day");
	pol_fails(BASE "expires = 2029-04-31\n", 5, "no such day");
	pol_fails(BASE "expires = 2029-13-01\n", 5, "no such day");
	pol_fails(BASE "expires = 1969-12-31\n", 5, "no such day");
	pol_fails(BASE "expires = 2029-1-01\n", 5, "expected YYYY-MM-DD or YYYY-MM-DD HH:MM");
	pol_fails(BASE "expires = 2029-01-01 25:00\n", 5, "bad date");
	pol_fails(BASE "expires = 2029-01-01 24:00\n", 5, "bad date");
	pol_fails(BASE "expires = 2029-01-01X10:00\n", 5, "bad date");
	pol_fails(BASE "expires = tomorrow\n", 5, "bad date");
	/* 2028 is a leap year; 2100 is not, 2000 was. */
	wb_policy_free(pol(BASE "expires = 2028-02-29\n"));
	pol_fails(BASE "expires = 2100-02-29\n", 5, "no such day");
}
END_TEST

START_TEST(test_err_deny_rule_keys)
{
	pol_fails("[rule d]\naction = deny\nusers = *\ncredentials = *\nhosts = *\n"
		  "transcript = yes\n", 6, "'transcript' has no effect in [rule d], which has "
		  "action = deny (line 2)");
	/* The key's own line, even when action comes later. */
	pol_fails("[rule d]\ncommand_deny = prefix:x\nusers = *\ncredentials = *\nhosts = *\n"
		  "action = deny\n", 2, "'command_deny' has no effect");
	pol_fails("[rule d]\naction = deny\nusers = *\ncredentials = *\nhosts = *\n"
		  "max_concurrent = 1\n", 6, "has no effect");
}
END_TEST

START_TEST(test_err_control_and_nul)
{
	pol_fails(BASE "users\x01 = x\n", 5, "control character 0x01 at column 6");
	pol_fails(BASE "x = \x7f\n", 5, "control character 0x7f");
	pol_fails_n(BASE "hosts = a\0b\n", sizeof(BASE "hosts = a\0b\n") - 1, 5, "NUL byte in line");
}
END_TEST

START_TEST(test_err_line_too_long)
{
	size_t n = strlen(BASE);
	char *buf = malloc(n + 4200);
	struct wb_policy *p;

	/* 4096 bytes is the limit: a comment of exactly 4096 parses. */
	memcpy(buf, BASE, n);
	buf[n] = '#';
	memset(buf + n + 1, 'x', 4095);
	buf[n + 4096] = '\n';
	buf[n + 4097] = '\0';
	p = pol(buf);
	wb_policy_free(p);
	buf[n + 4096] = 'x';
	buf[n + 4097] = '\n';
	buf[n + 4098] = '\0';
	pol_fails(buf, 5, "line longer than 4096 bytes");
	free(buf);
}
END_TEST

START_TEST(test_err_file_too_large)
{
	size_t len = WB_POLICY_MAX_FILE + 1;
	char *buf = malloc(len);
	struct wb_policy *p = wb_policy_new();
	struct wb_error e = { 0 };

	memset(buf, '\n', len);
	ck_assert_int_eq(wb_policy_parse((uint8_t *)buf, len, "big.conf", p, &e), -WB_E_CONFIG);
	ck_assert_str_eq(e.msg, "big.conf: larger than 1048576 bytes");
	/* Exactly the limit is fine. */
	ck_assert_int_eq(wb_policy_parse((uint8_t *)buf, len - 1, "big.conf", p, &e), 0);
	wb_policy_free(p);
	free(buf);
}
END_TEST

START_TEST(test_err_too_many_commands)
{
	size_t cap = 1100 * 40, i;
	char *buf = malloc(cap);
	struct wb_policy *p;

	strcpy(buf, BASE);
	for (i = 0; i < 1024; i++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "command_%s = exact:c%zu\n",
			 i % 2 ? "deny" : "allow", i);
	p = pol(buf);
	wb_policy_free(p);
	strcat(buf, "command_deny = regex:x\n");
	pol_fails(buf, 5 + 1024, "more than 1024 command entries in one rule");
	free(buf);
}
END_TEST

START_TEST(test_failed_parse_leaves_policy_unchanged)
{
#define GOOD_S "[rule s]\nusers = bob\ncredentials = x\nhosts = *\n"
	struct wb_policy *p = pol(BASE);
	const char *bad = GOOD_S "[rule t]\nusers = ?\n";
	struct wb_error e = { 0 };
	struct wb_policy_decision d;
	struct req r;

	ck_assert_int_eq(wb_policy_parse((const uint8_t *)bad, strlen(bad), "b.conf", p, &e),
			 -WB_E_CONFIG);
	ck_assert_uint_eq(wb_policy_rule_count(p), 1);
	/* Rule s parsed before the error, but the file counts as a whole. */
	req_default(&r);
	r.q.user = "bob";
	r.q.uid = 1001;
	r.q.cred = "x";
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_NO_RULE);
	/* And the name s is still free. */
	ck_assert_int_eq(wb_policy_parse((const uint8_t *)bad, strlen(GOOD_S), "c.conf", p, &e), 0);
	ck_assert_uint_eq(wb_policy_rule_count(p), 2);
	wb_policy_free(p);
}
END_TEST

TCase *policy_parse_tcase(void)
{
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_minimal_rule_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_comments_blanks_crlf);
	tcase_add_test(tc, test_err_unknown_key);
	tcase_add_test(tc, test_err_duplicate_key);
	tcase_add_test(tc, test_err_structure);
	tcase_add_test(tc, test_err_missing_required);
	tcase_add_test(tc, test_err_duplicate_rule_name);
	tcase_add_test(tc, test_err_values);
	tcase_add_test(tc, test_err_subjects);
	tcase_add_test(tc, test_err_bad_globs);
	tcase_add_test(tc, test_err_bad_cidr);
	tcase_add_test(tc, test_err_transports);
	tcase_add_test(tc, test_err_commands);
	tcase_add_test(tc, test_err_time_windows);
	tcase_add_test(tc, test_err_too_many_windows);
	tcase_add_test(tc, test_err_dates);
	tcase_add_test(tc, test_err_deny_rule_keys);
	tcase_add_test(tc, test_err_control_and_nul);
	tcase_add_test(tc, test_err_line_too_long);
	tcase_add_test(tc, test_err_file_too_large);
	tcase_add_test(tc, test_err_too_many_commands);
	tcase_add_test(tc, test_failed_parse_leaves_policy_unchanged);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("policy");
	SRunner *sr;
	int failed;

	suite_add_tcase(s, policy_parse_tcase());
	suite_add_tcase(s, policy_match_tcase());
	suite_add_tcase(s, policy_decide_tcase());
	suite_add_tcase(s, policy_load_tcase());
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
