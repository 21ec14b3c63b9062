/* Unit tests for policy/: each match dimension on its own, allow and deny:
 * subjects, credentials (personal ones too), hosts (globs, CIDR v4/v6
 * edges), transports, commands (exact, prefix, regex, deny wins). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_policy.h"

/* A rule for alice's ops-admin on any host, plus the lines in extra. */
static char *rule_with(const char *extra)
{
	char *s = NULL;

	ck_assert_int_ge(asprintf(&s, "[rule r]\nusers = alice\ncredentials = ops-admin\n"
				  "hosts = *\n%s", extra), 0);
	return s;
}

static void expect_extra(const char *extra, const struct req *r, bool allow,
			 enum wb_policy_why why)
{
	char *text = rule_with(extra);

	expect(text, r, allow, why);
	free(text);
}

/* ---- subjects ---- */

START_TEST(test_subject_user_name_uid_star)
{
	const char *by_name = "[rule r]\nusers = bob, alice\ncredentials = *\nhosts = *\n";
	const char *by_uid = "[rule r]\nusers = 1000\ncredentials = *\nhosts = *\n";
	const char *anyone = "[rule r]\nusers = *\ncredentials = *\nhosts = *\n";
	struct req r;

	req_default(&r);
	expect(by_name, &r, true, WB_POLICY_ALLOWED);
	expect(by_uid, &r, true, WB_POLICY_ALLOWED);
	expect(anyone, &r, true, WB_POLICY_ALLOWED);
	/* A uid without a name still matches by number and by *. */
	r.q.user = NULL;
	expect(by_uid, &r, true, WB_POLICY_ALLOWED);
	expect(anyone, &r, true, WB_POLICY_ALLOWED);
	expect(by_name, &r, false, WB_POLICY_NO_RULE);
	/* Names are exact and case-sensitive; uid 1001 is not 1000. */
	r.q.user = "Alice";
	expect(by_name, &r, false, WB_POLICY_NO_RULE);
	r.q.user = "carol";
	r.q.uid = 1001;
	expect(by_name, &r, false, WB_POLICY_NO_RULE);
	expect(by_uid, &r, false, WB_POLICY_NO_RULE);
}
END_TEST

START_TEST(test_subject_groups)
{
	const char *by_name = "[rule r]\ngroups = wheel ops\ncredentials = *\nhosts = *\n";
	const char *by_gid = "[rule r]\ngroups = 2000\ncredentials = *\nhosts = *\n";
	struct req r;

	req_default(&r);
	r.q.user = "carol";
	r.q.uid = 1005;
	expect(by_name, &r, true, WB_POLICY_ALLOWED);
	expect(by_gid, &r, true, WB_POLICY_ALLOWED);
	/* A gid without a name (NULL entry, or no names at all) matches by number only. */
	req_groups(&r, 2, 1005, "carol", 2000, NULL);
	expect(by_name, &r, false, WB_POLICY_NO_RULE);
	expect(by_gid, &r, true, WB_POLICY_ALLOWED);
	r.q.groups = NULL;
	expect(by_gid, &r, true, WB_POLICY_ALLOWED);
	/* Not a member. */
	req_groups(&r, 1, 1005, "carol");
	expect(by_name, &r, false, WB_POLICY_NO_RULE);
	expect(by_gid, &r, false, WB_POLICY_NO_RULE);
	r.q.n_groups = 0;
	expect(by_gid, &r, false, WB_POLICY_NO_RULE);
}
END_TEST

START_TEST(test_subject_users_or_groups)
{
	const char *both = "[rule r]\nusers = bob\ngroups = wheel\ncredentials = *\nhosts = *\n";
	struct req r;

	req_default(&r);
	expect(both, &r, false, WB_POLICY_NO_RULE);
	r.q.user = "bob";
	expect(both, &r, true, WB_POLICY_ALLOWED);
	r.q.user = "alice";
	req_groups(&r, 1, 10, "wheel");
	expect(both, &r, true, WB_POLICY_ALLOWED);
}
END_TEST

/* ---- credentials ---- */

START_TEST(test_cred_names_and_globs)
{
	const char *text = "[rule r]\nusers = alice\ncredentials = db-admin, svc-*, app?-[0-9], "
			   "[!x]y\nhosts = *\n";
	static const struct { const char *cred; bool allow; } cases[] = {
		{ "db-admin", true }, { "db-admin2", false }, { "DB-ADMIN", false },
		{ "svc-", true }, { "svc-backup", true }, { "svcx", false },
		{ "app1-7", true }, { "app1-x", false }, { "app-7", false },
		{ "ay", true }, { "xy", false },
	};
	struct req r;
	size_t i;

	req_default(&r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r.q.cred = cases[i].cred;
		expect(text, &r, cases[i].allow,
		       cases[i].allow ? WB_POLICY_ALLOWED : WB_POLICY_NO_RULE);
	}
}
END_TEST

START_TEST(test_cred_plain_items_never_match_personal)
{
	const char *text = "[rule r]\nusers = alice\ncredentials = *, login\nhosts = *\n";
	struct req r;

	req_default(&r);
	r.q.cred = "login";
	r.q.cred_personal = true;
	r.q.cred_owner = 1000;
	expect(text, &r, false, WB_POLICY_NO_RULE);
	r.q.cred_personal = false;
	expect(text, &r, true, WB_POLICY_ALLOWED);
}
END_TEST

START_TEST(test_cred_personal_owner_only)
{
	const char *text = "[rule r]\nusers = *\ncredentials = personal\nhosts = *\n";
	struct wb_policy *p = pol(text);
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	r.q.cred = "login";
	r.q.cred_personal = true;
	r.q.cred_owner = 1000;
	decide(p, &r, &d);
	ck_assert(d.allow);
	/* Another user's personal credential: denied before any rule, and the
	 * broad rule above cannot grant it. */
	r.q.cred_owner = 1001;
	decide(p, &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_NOT_OWNER);
	ck_assert_str_eq(d.rule, "personal credential");
	ck_assert_str_eq(d.reason, "credential 'login' is a personal credential of uid 1001; "
			 "only its owner may use it");
	/* Not even root. */
	r.q.uid = 0;
	r.q.user = "root";
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_NOT_OWNER);
	/* And "personal" does not match shared credentials. */
	req_default(&r);
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_NO_RULE);
	wb_policy_free(p);
}
END_TEST

START_TEST(test_cred_personal_glob)
{
	const char *text = "[rule r]\nusers = alice\ncredentials = personal:adm-*\nhosts = *\n";
	struct req r;

	req_default(&r);
	r.q.cred_personal = true;
	r.q.cred_owner = 1000;
	r.q.cred = "adm-1";
	expect(text, &r, true, WB_POLICY_ALLOWED);
	r.q.cred = "login";
	expect(text, &r, false, WB_POLICY_NO_RULE);
	/* A shared adm-1 is not the caller's personal adm-1. */
	r.q.cred = "adm-1";
	r.q.cred_personal = false;
	expect(text, &r, false, WB_POLICY_NO_RULE);
}
END_TEST

/* ---- hosts ---- */

static void host_case(const char *hosts, const char *host, bool allow)
{
	char text[512];
	struct req r;

	snprintf(text, sizeof(text), "[rule r]\nusers = alice\ncredentials = ops-admin\n"
		 "hosts = %s\n", hosts);
	req_default(&r);
	r.q.host = host;
	expect(text, &r, allow, allow ? WB_POLICY_ALLOWED : WB_POLICY_NO_RULE);
}

START_TEST(test_host_names_and_globs)
{
	host_case("srv1.corp.example", "srv1.corp.example", true);
	host_case("srv1.corp.example", "srv2.corp.example", false);
	host_case("SRV1.Corp.Example", "srv1.corp.example", true);	/* case-insensitive */
	host_case("*.corp.example", "a.b.corp.example", true);		/* * matches dots */
	host_case("*.corp.example", "corp.example", false);
	host_case("*.corp.example", "evilcorp.example", false);
	host_case("web[0-9][0-9]", "web07", true);
	host_case("web[0-9][0-9]", "web7", false);
	host_case("web[!0]?", "web12", true);
	host_case("web[!0]?", "web02", false);
	host_case("*", "10.1.2.3", true);				/* globs see the string */
	host_case("*", "2001:db8::1", true);
	host_case("10.0.0.*", "10.0.0.99", true);	/* a glob over the string, even an IP */
	host_case("10.0.0.*", "10.0.1.99", false);
}
END_TEST

START_TEST(test_host_cidr_v4_edges)
{
	host_case("10.0.0.0/28", "10.0.0.0", true);
	host_case("10.0.0.0/28", "10.0.0.15", true);
	host_case("10.0.0.0/28", "10.0.0.16", false);
	host_case("10.0.0.0/28", "9.255.255.255", false);
	host_case("172.16.0.0/12", "172.31.255.255", true);
	host_case("172.16.0.0/12", "172.32.0.0", false);
	host_case("192.0.2.7/32", "192.0.2.7", true);
	host_case("192.0.2.7/32", "192.0.2.6", false);
	host_case("0.0.0.0/0", "203.0.113.9", true);
	host_case("0.0.0.0/0", "2001:db8::1", false);		/* v4 blocks: v4 hosts only */
	host_case("0.0.0.0/0", "host.example", false);		/* a name is no address */
	host_case("10.0.0.0/8", "10.0.0.5.example", false);
	host_case("192.0.2.7", "192.0.2.7", true);		/* a single address */
	host_case("192.0.2.7", "192.0.2.70", false);
	/* An IPv4-mapped IPv6 host is its IPv4 address. */
	host_case("10.0.0.0/8", "::ffff:10.1.2.3", true);
	host_case("::ffff:10.0.0.0/104", "10.9.9.9", true);
}
END_TEST

START_TEST(test_host_cidr_v6_edges)
{
	host_case("2001:db8::/32", "2001:db8::1", true);
	host_case("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true);
	host_case("2001:db8::/32", "2001:db9::", false);
	host_case("2001:db8::/32", "2001:db7:ffff::1", false);
	host_case("2001:db8::80/121", "2001:db8::ff", true);	/* not byte-aligned */
	host_case("2001:db8::80/121", "2001:db8::7f", false);
	host_case("2001:db8::1/128", "2001:db8::1", true);
	host_case("2001:db8::1/128", "2001:db8::2", false);
	host_case("::/0", "::1", true);
	host_case("::/0", "10.0.0.1", false);			/* v6 blocks: v6 hosts only */
	host_case("2001:DB8:0::1", "2001:db8::1", true);	/* one address, any spelling */
	host_case("[2001:db8::1]", "2001:db8::1", true);
	host_case("[2001:db8::1]", "2001:db8::2", false);
}
END_TEST

/* ---- transports ---- */

START_TEST(test_transports_subset_in_request_order)
{
	struct wb_policy *p = pol("[rule r]\nusers = alice\ncredentials = *\nhosts = *\n"
				  "transports = negotiate, certificate, kerberos\n");
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	/* The request's order, not the rule's; duplicates and unknown names dropped. */
	req_transports(&r, 7, "basic", "kerberos", "smtp", "certificate", "ntlm", "kerberos",
		       "negotiate");
	decide(p, &r, &d);
	ck_assert(d.allow);
	ck_assert_uint_eq(d.n_transports, 3);
	ck_assert_str_eq(d.transports[0], "kerberos");
	ck_assert_str_eq(d.transports[1], "certificate");
	ck_assert_str_eq(d.transports[2], "negotiate");
	wb_policy_free(p);
}
END_TEST

START_TEST(test_transports_none_left_denies)
{
	struct wb_policy *p = pol("[rule r]\nusers = alice\ncredentials = *\nhosts = *\n"
				  "transports = kerberos negotiate\n");
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	req_transports(&r, 2, "basic", "ntlm");
	decide(p, &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_TRANSPORT);
	ck_assert_str_eq(d.rule, "t.conf:1 [rule r]");
	ck_assert_str_eq(d.reason, "transports: the broker would try basic, ntlm; the rule "
			 "allows only kerberos, negotiate");
	ck_assert_uint_eq(d.n_transports, 0);
	req_transports(&r, 0);
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_TRANSPORT);
	ck_assert(strstr(d.reason, "would try no known transport"));
	wb_policy_free(p);
}
END_TEST

START_TEST(test_transports_credssp_only_when_named)
{
	struct req r;
	struct wb_policy *p = pol("[rule r]\nusers = alice\ncredentials = *\nhosts = *\n");
	struct wb_policy_decision d;

	req_default(&r);
	req_transports(&r, 1, "credssp");
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_TRANSPORT);
	ck_assert(strstr(d.reason, "(credssp only when its transports names it)"));
	wb_policy_free(p);
	expect_extra("transports = credssp\n", &r, true, WB_POLICY_ALLOWED);
}
END_TEST

/* ---- commands ---- */

static void cmd_case(const char *extra, const char *line, bool allow, enum wb_policy_why why)
{
	struct req r;

	req_default(&r);
	r.q.command_line = line;
	expect_extra(extra, &r, allow, why);
}

START_TEST(test_command_exact)
{
	const char *e = "command_allow = exact:ipconfig /all\n";

	cmd_case(e, "ipconfig /all", true, WB_POLICY_ALLOWED);
	cmd_case(e, "IPCONFIG /ALL", true, WB_POLICY_ALLOWED);	/* case-insensitive */
	cmd_case(e, "ipconfig /all ", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case(e, "ipconfig", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case(e, "ipconfig  /all", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case("command_deny = exact:hostname\n", "HostName", false, WB_POLICY_COMMAND_DENIED);
	cmd_case("command_deny = exact:hostname\n", "hostname x", true, WB_POLICY_ALLOWED);
}
END_TEST

START_TEST(test_command_prefix_whole_words)
{
	const char *e = "command_allow = prefix:Get-Service\n";

	cmd_case(e, "Get-Service", true, WB_POLICY_ALLOWED);
	cmd_case(e, "get-service -Name w32time", true, WB_POLICY_ALLOWED);
	cmd_case(e, "Get-ServiceX", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case(e, "Get-Servic", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case(e, " Get-Service", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case("command_allow = prefix:net user\n", "net user bob", true, WB_POLICY_ALLOWED);
	cmd_case("command_allow = prefix:net user\n", "net users", false,
		 WB_POLICY_COMMAND_NOT_ALLOWED);
	/* A deny prefix also stops at a tab. */
	cmd_case("command_deny = prefix:format\n", "format\tc:", false, WB_POLICY_COMMAND_DENIED);
	cmd_case("command_deny = prefix:format\n", "formatter c:", true, WB_POLICY_ALLOWED);
}
END_TEST

START_TEST(test_command_regex)
{
	const char *e = "command_allow = regex:^Get-Process( -Name [A-Za-z0-9_.-]+)?$\n";

	cmd_case(e, "Get-Process", true, WB_POLICY_ALLOWED);
	cmd_case(e, "get-process -name svchost", true, WB_POLICY_ALLOWED);
	cmd_case(e, "Get-Process -Name a;b", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case(e, "x Get-Process", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	/* Unanchored: anywhere in the line. */
	cmd_case("command_deny = regex:rm[[:space:]]+-rf\n", "echo; RM  -rf /", false,
		 WB_POLICY_COMMAND_DENIED);
	cmd_case("command_deny = regex:rm[[:space:]]+-rf\n", "rm -r", true, WB_POLICY_ALLOWED);
}
END_TEST

START_TEST(test_command_deny_wins)
{
	const char *e = "command_allow = prefix:Remove-Item\ncommand_allow = regex:.*\n"
			"command_deny = regex:-Recurse\n";
	struct wb_policy_decision d;
	struct wb_policy *p;
	char *text;
	struct req r;

	cmd_case(e, "Remove-Item C:\\tmp\\x", true, WB_POLICY_ALLOWED);
	cmd_case(e, "Remove-Item C:\\ -Recurse", false, WB_POLICY_COMMAND_DENIED);
	/* The reason names the entry and its place, never the command line. */
	text = rule_with(e);
	p = pol(text);
	req_default(&r);
	r.q.command_line = "Remove-Item -Recurse -Credential hunter2";
	decide(p, &r, &d);
	ck_assert_str_eq(d.reason, "command matches deny regex '-Recurse' at t.conf:7");
	ck_assert(!strstr(d.reason, "hunter2") && !strstr(d.rule, "hunter2"));
	wb_policy_free(p);
	free(text);
}
END_TEST

START_TEST(test_command_no_allow_list_means_any)
{
	cmd_case("", "anything at all", true, WB_POLICY_ALLOWED);
	cmd_case("", "", true, WB_POLICY_ALLOWED);
	cmd_case("command_deny = prefix:shutdown\n", "Get-Date", true, WB_POLICY_ALLOWED);
	cmd_case("command_deny = prefix:shutdown\n", "shutdown /s", false, WB_POLICY_COMMAND_DENIED);
}
END_TEST

START_TEST(test_command_deny_each_line_trimmed)
{
	const char *e = "command_deny = prefix:shutdown\n";

	cmd_case(e, "dir\nshutdown /r", false, WB_POLICY_COMMAND_DENIED);
	cmd_case(e, "dir\r\n  shutdown /r", false, WB_POLICY_COMMAND_DENIED);
	cmd_case(e, "   shutdown", false, WB_POLICY_COMMAND_DENIED);
	cmd_case(e, "\tshutdown\t", false, WB_POLICY_COMMAND_DENIED);
	cmd_case("command_deny = exact:shutdown\n", "shutdown  ", false, WB_POLICY_COMMAND_DENIED);
	cmd_case("command_deny = regex:^format\n", "dir\nformat c:", false,
		 WB_POLICY_COMMAND_DENIED);
	cmd_case(e, "echo shutdown", true, WB_POLICY_ALLOWED);
}
END_TEST

START_TEST(test_command_allow_refuses_control_chars)
{
	const char *e = "command_allow = regex:^Get-Date\n";
	struct wb_policy_decision d;
	struct wb_policy *p;
	char *text;
	struct req r;

	cmd_case(e, "Get-Date -Format o", true, WB_POLICY_ALLOWED);
	cmd_case(e, "Get-Date\nformat c:", false, WB_POLICY_COMMAND_NOT_ALLOWED);
	cmd_case("command_allow = prefix:Get-Date\n", "Get-Date\tx", false,
		 WB_POLICY_COMMAND_NOT_ALLOWED);
	text = rule_with(e);
	p = pol(text);
	req_default(&r);
	r.q.command_line = "Get-Date\rx";
	decide(p, &r, &d);
	ck_assert_str_eq(d.reason, "command contains control character 0x0d, which no "
			 "command_allow entry ever matches");
	r.q.command_line = "hostname";
	decide(p, &r, &d);
	ck_assert_str_eq(d.reason, "command matches none of the rule's 1 command_allow entries");
	wb_policy_free(p);
	free(text);
}
END_TEST

START_TEST(test_command_none_skips_lists)
{
	/* A credential test has no command: the lists do not apply. */
	cmd_case("command_allow = exact:hostname\ncommand_deny = regex:.*\n", NULL, true,
		 WB_POLICY_ALLOWED);
}
END_TEST

START_TEST(test_command_join)
{
	const char *args[] = { "/all", "", "a b" };
	char *s = wb_policy_command_join("ipconfig", args, 1);

	ck_assert_str_eq(s, "ipconfig /all");
	free(s);
	s = wb_policy_command_join("ipconfig", args, 3);
	ck_assert_str_eq(s, "ipconfig /all  a b");
	free(s);
	s = wb_policy_command_join("hostname", NULL, 0);
	ck_assert_str_eq(s, "hostname");
	free(s);
}
END_TEST

TCase *policy_match_tcase(void)
{
	TCase *tc = tcase_create("match");

	tcase_add_test(tc, test_subject_user_name_uid_star);
	tcase_add_test(tc, test_subject_groups);
	tcase_add_test(tc, test_subject_users_or_groups);
	tcase_add_test(tc, test_cred_names_and_globs);
	tcase_add_test(tc, test_cred_plain_items_never_match_personal);
	tcase_add_test(tc, test_cred_personal_owner_only);
	tcase_add_test(tc, test_cred_personal_glob);
	tcase_add_test(tc, test_host_names_and_globs);
	tcase_add_test(tc, test_host_cidr_v4_edges);
	tcase_add_test(tc, test_host_cidr_v6_edges);
	tcase_add_test(tc, test_transports_subset_in_request_order);
	tcase_add_test(tc, test_transports_none_left_denies);
	tcase_add_test(tc, test_transports_credssp_only_when_named);
	tcase_add_test(tc, test_command_exact);
	tcase_add_test(tc, test_command_prefix_whole_words);
	tcase_add_test(tc, test_command_regex);
	tcase_add_test(tc, test_command_deny_wins);
	tcase_add_test(tc, test_command_no_allow_list_means_any);
	tcase_add_test(tc, test_command_deny_each_line_trimmed);
	tcase_add_test(tc, test_command_allow_refuses_control_chars);
	tcase_add_test(tc, test_command_none_skips_lists);
	tcase_add_test(tc, test_command_join);
	return tc;
}
