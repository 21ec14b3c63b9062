/* Unit tests for policy/: how a request is decided: first applying rule
 * wins, no fall-through, deny rules, options, limits, time windows and
 * expiry at their boundaries, default deny and malformed requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_policy.h"

#define ALICE "users = alice\ncredentials = ops-admin\nhosts = *\n"

static void decide_text(const char *text, const struct req *r, struct wb_policy_decision *d)
{
	struct wb_policy *p = pol(text);

	decide(p, r, d);
	wb_policy_free(p);
}

/* ---- ordering ---- */

START_TEST(test_first_match_in_file_order)
{
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide_text("[rule first]\n" ALICE "max_concurrent = 1\n"
		    "[rule second]\n" ALICE "max_concurrent = 2\n", &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule_name, "first");
	ck_assert_uint_eq(d.max_concurrent, 1);
	/* A rule that does not match is skipped. */
	decide_text("[rule other]\nusers = bob\ncredentials = ops-admin\nhosts = *\n"
		    "[rule second]\n" ALICE "max_concurrent = 2\n", &r, &d);
	ck_assert_str_eq(d.rule, "t.conf:5 [rule second]");
	ck_assert_uint_eq(d.max_concurrent, 2);
}
END_TEST

START_TEST(test_no_fall_through_on_command)
{
	struct wb_policy_decision d;
	struct req r;

	/* Rule 1 matches and denies the command; rule 2 would allow it: rule 1 decides. */
	req_default(&r);
	r.q.command_line = "format c:";
	decide_text("[rule narrow]\n" ALICE "command_deny = prefix:format\n"
		    "[rule broad]\nusers = *\ncredentials = *\nhosts = *\n", &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_COMMAND_DENIED);
	ck_assert_str_eq(d.rule_name, "narrow");
	/* Same for an allow list, a transport and an option. */
	decide_text("[rule narrow]\n" ALICE "command_allow = exact:hostname\n"
		    "[rule broad]\nusers = *\ncredentials = *\nhosts = *\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_COMMAND_NOT_ALLOWED);
	ck_assert_str_eq(d.rule_name, "narrow");
	r.q.command_line = "hostname";
	r.q.want_delegation = true;
	decide_text("[rule narrow]\n" ALICE "[rule broad]\nusers = *\ncredentials = *\n"
		    "hosts = *\nallow_kerberos_delegation = yes\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_DELEGATION);
	ck_assert_str_eq(d.rule_name, "narrow");
}
END_TEST

START_TEST(test_deny_rule_first_wins)
{
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide_text("[rule block]\naction = deny\ngroups = ops\ncredentials = *\nhosts = *\n"
		    "[rule grant]\n" ALICE, &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_DENY_RULE);
	ck_assert_str_eq(d.rule, "t.conf:1 [rule block]");
	ck_assert_str_eq(d.reason, "the rule denies (action = deny at line 2)");
	/* After the grant it never applies to alice. */
	decide_text("[rule grant]\n" ALICE "[rule block]\naction = deny\ngroups = ops\n"
		    "credentials = *\nhosts = *\n", &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule_name, "grant");
	/* An explicit allow is the default. */
	decide_text("[rule grant]\naction = allow\n" ALICE, &r, &d);
	ck_assert(d.allow);
}
END_TEST

START_TEST(test_default_deny)
{
	struct wb_policy *p = wb_policy_new();
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide(p, &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_NO_RULE);
	ck_assert_str_eq(d.rule, "default deny");
	ck_assert_str_eq(d.rule_name, "");
	ck_assert_str_eq(d.reason, "no rule matches user 'alice' (uid 1000), credential "
			 "'ops-admin' (shared), host 'srv1.corp.example'");
	ck_assert_uint_eq(d.n_transports, 0);
	wb_policy_free(p);
	/* Untrusted text in the reason is made printable. */
	r.q.cred = "x\x1b[31m";
	r.q.user = NULL;
	decide_text("[rule other]\nusers = bob\ncredentials = *\nhosts = *\n", &r, &d);
	ck_assert(strstr(d.reason, "user '(none)'"));
	ck_assert(strstr(d.reason, "credential 'x?[31m'"));
}
END_TEST

START_TEST(test_deny_leaves_no_grants)
{
	struct wb_policy_decision d;
	struct req r;

	/* A denied decision carries no transports, limits or transcript. */
	req_default(&r);
	r.q.command_line = "shutdown";
	decide_text("[rule r]\n" ALICE "command_deny = prefix:shutdown\nmax_concurrent = 3\n"
		    "max_runtime_sec = 9\ntranscript = yes\n", &r, &d);
	ck_assert(!d.allow);
	ck_assert_uint_eq(d.n_transports, 0);
	ck_assert_uint_eq(d.max_concurrent, 0);
	ck_assert_uint_eq(d.max_runtime_sec, 0);
	ck_assert(!d.transcript);
}
END_TEST

/* ---- options and limits ---- */

START_TEST(test_option_delegation)
{
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	r.q.want_delegation = true;
	decide_text("[rule r]\n" ALICE, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_DELEGATION);
	ck_assert_str_eq(d.reason, "kerberos delegation was asked; the rule does not allow it "
			 "(allow_kerberos_delegation = no)");
	decide_text("[rule r]\n" ALICE "allow_kerberos_delegation = no\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_DELEGATION);
	decide_text("[rule r]\n" ALICE "allow_kerberos_delegation = yes\n", &r, &d);
	ck_assert(d.allow);
	r.q.want_delegation = false;
	decide_text("[rule r]\n" ALICE, &r, &d);
	ck_assert(d.allow);
}
END_TEST

START_TEST(test_option_cert_ignore)
{
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	r.q.want_cert_ignore = true;
	decide_text("[rule r]\n" ALICE, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_CERT_IGNORE);
	ck_assert(strstr(d.reason, "allow_cert_validation_ignore = no"));
	decide_text("[rule r]\n" ALICE "allow_cert_validation_ignore = yes\n", &r, &d);
	ck_assert(d.allow);
	/* Delegation allowed does not allow ignoring certificates. */
	r.q.want_delegation = true;
	decide_text("[rule r]\n" ALICE "allow_kerberos_delegation = yes\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_CERT_IGNORE);
}
END_TEST

START_TEST(test_check_order)
{
	struct wb_policy_decision d;
	struct req r;
	const char *text = "[rule r]\n" ALICE "transports = kerberos\ncommand_deny = regex:x\n";

	/* Transports first, then delegation, cert ignore, then the command. */
	req_default(&r);
	req_transports(&r, 1, "ntlm");
	r.q.want_delegation = r.q.want_cert_ignore = true;
	r.q.command_line = "x";
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_TRANSPORT);
	req_transports(&r, 1, "kerberos");
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_DELEGATION);
	r.q.want_delegation = false;
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_CERT_IGNORE);
	r.q.want_cert_ignore = false;
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_COMMAND_DENIED);
}
END_TEST

START_TEST(test_limits_and_transcript)
{
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide_text("[rule r]\n" ALICE "max_concurrent = 4096\nmax_runtime_sec = 2592000\n"
		    "transcript = yes\n", &r, &d);
	ck_assert(d.allow);
	ck_assert_uint_eq(d.max_concurrent, 4096);
	ck_assert_uint_eq(d.max_runtime_sec, 2592000);
	ck_assert(d.transcript);
	decide_text("[rule r]\n" ALICE "max_concurrent = 1\nmax_runtime_sec = 1\ntranscript = no\n",
		    &r, &d);
	ck_assert_uint_eq(d.max_concurrent, 1);
	ck_assert_uint_eq(d.max_runtime_sec, 1);
	ck_assert(!d.transcript);
}
END_TEST

/* ---- time windows ---- */

/* Whether the rule with this time value applies at local time t (UTC, offset 0). */
static bool applies_at(const char *time_value, int64_t t)
{
	char text[512];
	struct wb_policy_decision d;
	struct req r;

	snprintf(text, sizeof(text), "[rule r]\n" ALICE "time = %s\n", time_value);
	req_default(&r);
	r.q.now = t;
	decide_text(text, &r, &d);
	ck_assert(d.allow || d.why == WB_POLICY_OUTSIDE_TIME);
	return d.allow;
}

START_TEST(test_time_window_boundaries)
{
	const char *w = "Mon-Fri 08:00-18:00";

	ck_assert(!applies_at(w, at(2029, 3, 5, 7, 59, 59)));	/* Mon */
	ck_assert(applies_at(w, at(2029, 3, 5, 8, 0, 0)));	/* start included */
	ck_assert(applies_at(w, at(2029, 3, 5, 17, 59, 59)));
	ck_assert(!applies_at(w, at(2029, 3, 5, 18, 0, 0)));	/* end excluded */
	ck_assert(applies_at(w, at(2029, 3, 9, 12, 0, 0)));	/* Fri */
	ck_assert(!applies_at(w, at(2029, 3, 10, 12, 0, 0)));	/* Sat */
	ck_assert(!applies_at(w, at(2029, 3, 11, 12, 0, 0)));	/* Sun */
}
END_TEST

START_TEST(test_time_day_ranges)
{
	ck_assert(applies_at("Sat 00:00-24:00", at(2029, 3, 10, 0, 0, 0)));
	ck_assert(applies_at("Sat 00:00-24:00", at(2029, 3, 10, 23, 59, 59)));
	ck_assert(!applies_at("Sat 00:00-24:00", at(2029, 3, 11, 0, 0, 0)));
	/* A range that wraps past Sunday. */
	ck_assert(applies_at("Fri-Mon 10:00-11:00", at(2029, 3, 11, 10, 30, 0)));	/* Sun */
	ck_assert(applies_at("fri-mon 10:00-11:00", at(2029, 3, 12, 10, 30, 0)));	/* Mon */
	ck_assert(!applies_at("Fri-Mon 10:00-11:00", at(2029, 3, 13, 10, 30, 0)));	/* Tue */
	ck_assert(applies_at("Mon-Sun 10:00-11:00", at(2029, 3, 14, 10, 30, 0)));	/* Wed */
	/* Several windows: any one. */
	ck_assert(applies_at("Mon 08:00-09:00, Sat 09:00-12:00", at(2029, 3, 10, 11, 0, 0)));
	ck_assert(!applies_at("Mon 08:00-09:00, Sat 09:00-12:00", at(2029, 3, 10, 12, 0, 0)));
}
END_TEST

START_TEST(test_time_overnight)
{
	const char *w = "Mon-Fri 22:00-06:00";

	ck_assert(applies_at(w, at(2029, 3, 5, 22, 0, 0)));	/* Mon evening */
	ck_assert(applies_at(w, at(2029, 3, 6, 5, 59, 59)));	/* Tue morning */
	ck_assert(!applies_at(w, at(2029, 3, 6, 6, 0, 0)));
	ck_assert(!applies_at(w, at(2029, 3, 5, 5, 0, 0)));	/* Mon morning: Sunday's night */
	ck_assert(applies_at(w, at(2029, 3, 10, 5, 0, 0)));	/* Sat morning: Friday's night */
	ck_assert(!applies_at(w, at(2029, 3, 10, 22, 0, 0)));	/* Sat evening */
	ck_assert(!applies_at(w, at(2029, 3, 5, 21, 59, 59)));
}
END_TEST

START_TEST(test_time_utc_offset)
{
	char text[256];
	struct wb_policy_decision d;
	struct req r;

	snprintf(text, sizeof(text), "[rule r]\n" ALICE "time = Mon-Fri 08:00-18:00\n");
	req_default(&r);
	/* 07:30 UTC is 09:30 at +02:00: inside. */
	r.q.now = at(2029, 3, 5, 7, 30, 0);
	r.q.utc_offset_sec = 2 * 3600;
	decide_text(text, &r, &d);
	ck_assert(d.allow);
	r.q.utc_offset_sec = 0;
	decide_text(text, &r, &d);
	ck_assert(!d.allow);
	/* Monday 01:00 UTC at -05:00 is Sunday 20:00 local. */
	r.q.now = at(2029, 3, 5, 1, 0, 0);
	r.q.utc_offset_sec = -5 * 3600;
	decide_text("[rule r]\n" ALICE "time = Sun 20:00-21:00\n", &r, &d);
	ck_assert(d.allow);
	decide_text("[rule r]\n" ALICE "time = Mon 00:00-24:00\n", &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_OUTSIDE_TIME);
	ck_assert_str_eq(d.reason, "no rule applies: rule 'r' (t.conf:1) matches but now (Sun "
			 "20:00 local time) is outside its time windows: Mon 00:00-24:00");
	ck_assert_str_eq(d.rule, "default deny");
	/* Before 1970 works too (negative times). */
	r.q.now = -3600;	/* Wed 1969-12-31 23:00 UTC */
	r.q.utc_offset_sec = 0;
	decide_text("[rule r]\n" ALICE "time = Wed 23:00-24:00\n", &r, &d);
	ck_assert(d.allow);
}
END_TEST

START_TEST(test_time_window_steps_aside)
{
	const char *text = "[rule day]\n" ALICE "time = Mon-Fri 08:00-18:00\nmax_concurrent = 4\n"
			   "[rule night]\n" ALICE "max_concurrent = 1\n";
	struct wb_policy_decision d;
	struct req r;

	/* Outside its window a rule does not apply; the next one decides. */
	req_default(&r);
	decide_text(text, &r, &d);
	ck_assert_str_eq(d.rule_name, "day");
	r.q.now = at(2029, 3, 10, 12, 0, 0);
	decide_text(text, &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule_name, "night");
	ck_assert_uint_eq(d.max_concurrent, 1);
}
END_TEST

/* ---- expiry ---- */

START_TEST(test_expiry_date_boundary)
{
	const char *text = "[rule temp]\n" ALICE "expires = 2029-03-05\n";
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	r.q.now = at(2029, 3, 5, 23, 59, 59);	/* the whole day is granted */
	decide_text(text, &r, &d);
	ck_assert(d.allow);
	r.q.now = at(2029, 3, 6, 0, 0, 0);
	decide_text(text, &r, &d);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_EXPIRED);
	ck_assert_str_eq(d.rule, "default deny");
	ck_assert_str_eq(d.reason, "no rule applies: rule 'temp' (t.conf:1) matches but expired "
			 "at 2029-03-06 00:00 local time (expires = 2029-03-05)");
	/* Local time: at +01:00, 23:30 UTC is already the next day. */
	r.q.now = at(2029, 3, 5, 23, 30, 0);
	r.q.utc_offset_sec = 3600;
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_EXPIRED);
}
END_TEST

START_TEST(test_expiry_datetime_boundary)
{
	const char *text = "[rule temp]\n" ALICE "expires = 2029-03-05 18:30\n";
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	r.q.now = at(2029, 3, 5, 18, 29, 59);
	decide_text(text, &r, &d);
	ck_assert(d.allow);
	r.q.now = at(2029, 3, 5, 18, 30, 0);
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_EXPIRED);
	ck_assert(strstr(d.reason, "expired at 2029-03-05 18:30 local time (expires = "
			 "2029-03-05 18:30)"));
	/* The ISO 'T' spelling is the same moment. */
	decide_text("[rule temp]\n" ALICE "expires = 2029-03-05T18:30\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_EXPIRED);
}
END_TEST

START_TEST(test_expired_rule_steps_aside)
{
	const char *text = "[rule temp]\n" ALICE "expires = 2029-01-01\ntranscript = no\n"
			   "[rule general]\n" ALICE "transcript = yes\n";
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide_text(text, &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule_name, "general");
	/* The first near miss is named when nothing applies. */
	decide_text("[rule a]\n" ALICE "expires = 2029-01-01\n[rule b]\n" ALICE
		    "time = Sat 00:00-01:00\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_EXPIRED);
	ck_assert(strstr(d.reason, "rule 'a'"));
	decide_text("[rule b]\n" ALICE "time = Sat 00:00-01:00\n[rule a]\n" ALICE
		    "expires = 2029-01-01\n", &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_OUTSIDE_TIME);
	ck_assert(strstr(d.reason, "rule 'b'"));
}
END_TEST

START_TEST(test_deny_rule_with_time_window)
{
	const char *text = "[rule freeze]\naction = deny\nusers = *\ncredentials = *\nhosts = *\n"
			   "time = Fri 16:00-24:00\n[rule r]\n" ALICE;
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	decide_text(text, &r, &d);
	ck_assert(d.allow);
	r.q.now = at(2029, 3, 9, 17, 0, 0);	/* Friday afternoon: change freeze */
	decide_text(text, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_DENY_RULE);
	ck_assert_str_eq(d.rule_name, "freeze");
}
END_TEST

/* ---- malformed requests ---- */

START_TEST(test_bad_requests)
{
	struct wb_policy *p = pol("[rule r]\n" ALICE);
	struct wb_policy_decision d;
	struct req r;

	req_default(&r);
	r.q.host = NULL;
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), -WB_E_INVALID);
	ck_assert(!d.allow);
	ck_assert_int_eq(d.why, WB_POLICY_BAD_REQUEST);
	req_default(&r);
	r.q.cred = NULL;
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), -WB_E_INVALID);
	req_default(&r);
	r.q.utc_offset_sec = 27 * 3600;
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), -WB_E_INVALID);
	ck_assert(!d.allow);
	req_default(&r);
	r.q.now = INT64_MAX;
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), -WB_E_INVALID);
	req_default(&r);
	r.q.gids = NULL;
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), -WB_E_INVALID);
	ck_assert_int_eq(wb_policy_decide(NULL, &r.q, &d), -WB_E_INVALID);
	ck_assert_str_eq(d.rule, "default deny");
	/* A host that is neither name nor address is only matched by globs. */
	req_default(&r);
	r.q.host = "";
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), 0);
	wb_policy_free(p);
}
END_TEST

START_TEST(test_why_names)
{
	ck_assert_str_eq(wb_policy_why_name(WB_POLICY_ALLOWED), "allowed");
	ck_assert_str_eq(wb_policy_why_name(WB_POLICY_NO_RULE), "no-rule");
	ck_assert_str_eq(wb_policy_why_name(WB_POLICY_EXPIRED), "expired");
	ck_assert_str_eq(wb_policy_why_name(WB_POLICY_COMMAND_NOT_ALLOWED), "command-not-allowed");
	ck_assert_str_eq(wb_policy_why_name(WB_POLICY_BAD_REQUEST), "bad-request");
	ck_assert_str_eq(wb_policy_why_name((enum wb_policy_why)99), "unknown");
}
END_TEST

TCase *policy_decide_tcase(void)
{
	TCase *tc = tcase_create("decide");

	tcase_add_test(tc, test_first_match_in_file_order);
	tcase_add_test(tc, test_no_fall_through_on_command);
	tcase_add_test(tc, test_deny_rule_first_wins);
	tcase_add_test(tc, test_default_deny);
	tcase_add_test(tc, test_deny_leaves_no_grants);
	tcase_add_test(tc, test_option_delegation);
	tcase_add_test(tc, test_option_cert_ignore);
	tcase_add_test(tc, test_check_order);
	tcase_add_test(tc, test_limits_and_transcript);
	tcase_add_test(tc, test_time_window_boundaries);
	tcase_add_test(tc, test_time_day_ranges);
	tcase_add_test(tc, test_time_overnight);
	tcase_add_test(tc, test_time_utc_offset);
	tcase_add_test(tc, test_time_window_steps_aside);
	tcase_add_test(tc, test_expiry_date_boundary);
	tcase_add_test(tc, test_expiry_datetime_boundary);
	tcase_add_test(tc, test_expired_rule_steps_aside);
	tcase_add_test(tc, test_deny_rule_with_time_window);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_why_names);
	return tc;
}
