/* Unit tests for policy/: loading a directory (order, ignored names,
 * permissions, every broken file reported), the shipped examples and their
 * documented decisions (docs/policy.md), and hostile input. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_policy.h"

/* ---- a scratch directory ---- */

static char dir[64];

static void dir_make(void)
{
	strcpy(dir, "/tmp/wb-policy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void dir_remove(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_n(const char *name, const char *text, size_t len, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void put(const char *name, const char *text)
{
	put_n(name, text, strlen(text), 0644);
}

struct reports {
	int n;
	char msgs[4][512];
};

static void on_report(void *ctx, const struct wb_error *e)
{
	struct reports *r = ctx;

	if (r->n < 4)
		snprintf(r->msgs[r->n], sizeof(r->msgs[0]), "%s", e->msg);
	r->n++;
}

/* Loading dir fails; the first error starts with dir/file:line. */
static void load_fails(const char *file_line, const char *needle)
{
	struct wb_policy *p = (struct wb_policy *)1;
	struct wb_error e = { 0 };
	char prefix[256];
	int rc = wb_policy_load_dir(dir, &p, &e, NULL, NULL);

	ck_assert_msg(rc == -WB_E_CONFIG, "expected an error, got %d: %s", rc, e.msg);
	ck_assert_ptr_null(p);
	if (*file_line)
		snprintf(prefix, sizeof(prefix), "%s/%s", dir, file_line);
	else	/* about the directory itself */
		snprintf(prefix, sizeof(prefix), "%s: ", dir);
	ck_assert_msg(!strncmp(e.msg, prefix, strlen(prefix)), "'%s' does not start with '%s'",
		      e.msg, prefix);
	ck_assert_msg(strstr(e.msg, needle), "'%s' lacks '%s'", e.msg, needle);
}

static struct wb_policy *load_ok(void)
{
	struct wb_policy *p = NULL;
	struct wb_error e = { 0 };

	ck_assert_msg(wb_policy_load_dir(dir, &p, &e, NULL, NULL) == 0, "load: %s", e.msg);
	ck_assert_ptr_nonnull(p);
	return p;
}

#define GRANT(name) "[rule " name "]\nusers = alice\ncredentials = *\nhosts = *\n"
#define BLOCK(name) "[rule " name "]\naction = deny\nusers = alice\ncredentials = *\nhosts = *\n"

/* ---- directories ---- */

START_TEST(test_load_lexical_order)
{
	struct wb_policy *p;
	struct wb_policy_decision d;
	char want[256];
	struct req r;

	dir_make();
	/* strcmp order: "10-a" < "20-b" < "B" < "a", whatever the locale says. */
	put("a.conf", GRANT("in-a"));
	put("B.conf", BLOCK("in-B"));
	put("20-b.conf", GRANT("in-20"));
	put("10-a.conf", "# first file\n" BLOCK("in-10"));
	p = load_ok();
	ck_assert_uint_eq(wb_policy_rule_count(p), 4);
	req_default(&r);
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_DENY_RULE);
	snprintf(want, sizeof(want), "%s/10-a.conf:2 [rule in-10]", dir);
	ck_assert_str_eq(d.rule, want);
	wb_policy_free(p);
	remove(strcat(strcpy(want, dir), "/10-a.conf"));
	p = load_ok();
	decide(p, &r, &d);
	ck_assert_str_eq(d.rule_name, "in-20");
	wb_policy_free(p);
	remove(strcat(strcpy(want, dir), "/20-b.conf"));
	p = load_ok();
	decide(p, &r, &d);
	ck_assert_str_eq(d.rule_name, "in-B");
	wb_policy_free(p);
	dir_remove();
}
END_TEST

START_TEST(test_load_ignores_other_names)
{
	struct wb_policy *p;
	char path[256];

	dir_make();
	put("ok.conf", GRANT("ok"));
	put("ok.conf.bak", "broken");
	put("ok.conf~", "broken");
	put("README", "broken");
	put(".hidden.conf", "broken");
	put(".conf", "broken");
	put("conf", "broken");
	snprintf(path, sizeof(path), "%s/sub", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	p = load_ok();
	ck_assert_uint_eq(wb_policy_rule_count(p), 1);
	wb_policy_free(p);
	dir_remove();
}
END_TEST

START_TEST(test_load_reports_every_broken_file)
{
	struct wb_policy *p = (struct wb_policy *)1;
	struct wb_error e = { 0 };
	struct reports rep = { 0 };
	char want[256];

	dir_make();
	put("10-good.conf", GRANT("good"));
	put("20-bad.conf", "\n\n[rule x]\nusers = alice\nhosts = 10.0.0.1/8\n");
	put("30-good.conf", GRANT("good2"));
	put("40-bad.conf", "[rule y]\nfoo = bar\n");
	ck_assert_int_eq(wb_policy_load_dir(dir, &p, &e, on_report, &rep), -WB_E_CONFIG);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(rep.n, 2);
	snprintf(want, sizeof(want), "%s/20-bad.conf:5: hosts: bad CIDR '10.0.0.1/8'", dir);
	ck_assert_msg(!strncmp(rep.msgs[0], want, strlen(want)), "%s", rep.msgs[0]);
	snprintf(want, sizeof(want), "%s/40-bad.conf:2: unknown key 'foo'", dir);
	ck_assert_str_eq(rep.msgs[1], want);
	/* err is the first one. */
	ck_assert_str_eq(e.msg, rep.msgs[0]);
	ck_assert_int_eq(e.code, WB_E_CONFIG);
	/* err may be NULL. */
	ck_assert_int_eq(wb_policy_load_dir(dir, &p, NULL, NULL, NULL), -WB_E_CONFIG);
	dir_remove();
}
END_TEST

START_TEST(test_load_cross_file_duplicate_name)
{
	dir_make();
	put("a.conf", GRANT("same"));
	put("b.conf", "\n" GRANT("same"));
	{
		char needle[256];

		snprintf(needle, sizeof(needle), "rule name 'same' is already used at %s/a.conf:1",
			 dir);
		load_fails("b.conf:2: ", needle);
	}
	dir_remove();
}
END_TEST

START_TEST(test_load_missing_and_empty_dir)
{
	struct wb_policy *p = (struct wb_policy *)1;
	struct wb_error e = { 0 };
	struct reports rep = { 0 };
	struct wb_policy_decision d;
	struct req r;

	ck_assert_int_eq(wb_policy_load_dir("/nonexistent/policy.d", &p, &e, on_report, &rep),
			 -WB_E_CONFIG);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(e.msg, "/nonexistent/policy.d: cannot open the policy directory: "
			 "No such file or directory");
	ck_assert_int_eq(rep.n, 1);
	/* An empty directory is a policy that denies everything. */
	dir_make();
	p = load_ok();
	ck_assert_uint_eq(wb_policy_rule_count(p), 0);
	req_default(&r);
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_NO_RULE);
	wb_policy_free(p);
	dir_remove();
}
END_TEST

START_TEST(test_load_permissions)
{
	char path[256];

	dir_make();
	put_n("a.conf", GRANT("a"), strlen(GRANT("a")), 0664);
	load_fails("a.conf: ", "writable by group or others; chmod go-w");
	put_n("a.conf", GRANT("a"), strlen(GRANT("a")), 0646);
	load_fails("a.conf: ", "writable by group or others");
	put_n("a.conf", GRANT("a"), strlen(GRANT("a")), 0600);
	wb_policy_free(load_ok());
	ck_assert_int_eq(chmod(dir, 0775), 0);
	load_fails("", "writable by group or others");
	ck_assert_int_eq(chmod(dir, 0755), 0);
	if (geteuid() == 0) {	/* only root can give a file away */
		snprintf(path, sizeof(path), "%s/a.conf", dir);
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		load_fails("a.conf: ", "owned by uid 65534, not by root");
	}
	dir_remove();
}
END_TEST

START_TEST(test_load_not_regular_files)
{
	char path[256], target[256];
	struct wb_policy *p;

	dir_make();
	snprintf(path, sizeof(path), "%s/d.conf", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	load_fails("d.conf: ", "not a regular file");
	rmdir(path);
	/* A FIFO must not hang the loader. */
	snprintf(path, sizeof(path), "%s/f.conf", dir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	load_fails("f.conf: ", "not a regular file");
	unlink(path);
	/* A symlink to a regular file is followed. */
	put("real.txt", GRANT("linked"));
	snprintf(path, sizeof(path), "%s/l.conf", dir);
	snprintf(target, sizeof(target), "%s/real.txt", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	p = load_ok();
	ck_assert_uint_eq(wb_policy_rule_count(p), 1);
	wb_policy_free(p);
	/* A dangling one is an error. */
	unlink(target);
	load_fails("l.conf: ", "cannot open");
	dir_remove();
}
END_TEST

START_TEST(test_load_file_too_large)
{
	size_t len = WB_POLICY_MAX_FILE + 1;
	char *big = malloc(len);

	dir_make();
	memset(big, '#', len);
	big[len - 1] = '\n';
	put_n("big.conf", big, len, 0644);
	load_fails("big.conf: ", "larger than 1048576 bytes");
	free(big);
	dir_remove();
}
END_TEST

START_TEST(test_load_too_many_files)
{
	char name[32];
	int i;

	dir_make();
	for (i = 0; i < WB_POLICY_MAX_FILES + 1; i++) {
		snprintf(name, sizeof(name), "%04d.conf", i);
		put(name, "# empty\n");
	}
	load_fails("", "more than 1024 *.conf files");
	dir_remove();
}
END_TEST

/* ---- the examples ---- */

static struct wb_policy *load_examples(void)
{
	static const char *const names[] = {
		"10-deny-list.conf", "20-jump-host.conf", "30-automation.conf",
	};
	const char *src = getenv("WB_POLICY_EXAMPLES");
	struct wb_policy *p;
	size_t i;

	ck_assert_msg(src != NULL, "WB_POLICY_EXAMPLES is not set (run through meson test)");
	dir_make();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512], buf[8192];
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "%s/%s", src, names[i]);
		f = fopen(path, "r");
		ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		ck_assert_uint_lt(n, sizeof(buf));
		put_n(names[i], buf, n, 0644);
	}
	p = load_ok();
	dir_remove();
	return p;
}

START_TEST(test_examples_parse)
{
	struct wb_policy *p = load_examples();

	ck_assert_uint_eq(wb_policy_rule_count(p), 7);
	wb_policy_free(p);
}
END_TEST

/* One row of the table in docs/policy.md. */
static void example(const struct wb_policy *p, const struct req *r, bool allow,
		    enum wb_policy_why why, const char *rule)
{
	struct wb_policy_decision d;

	decide(p, r, &d);
	ck_assert_msg(d.allow == allow && d.why == why,
		      "%s %s %s '%s': expected %s, got %s: %s (%s)", r->q.user, r->q.cred,
		      r->q.host, r->q.command_line, wb_policy_why_name(why),
		      wb_policy_why_name(d.why), d.reason, d.rule);
	if (rule && d.rule_name[0])
		ck_assert_str_eq(d.rule_name, rule);
	else if (rule)
		ck_assert_msg(strstr(d.reason, rule), "'%s' lacks '%s'", d.reason, rule);
}

static void as(struct req *r, const char *user, uid_t uid)
{
	req_default(r);
	r->q.user = user;
	r->q.uid = uid;
	req_groups(r, 0);
}

START_TEST(test_examples_jump_host)
{
	struct wb_policy *p = load_examples();
	struct wb_policy_decision d;
	struct req r;

	as(&r, "alice", 1000);
	req_groups(&r, 2, 1000, "alice", 2000, "ops");
	req_transports(&r, 4, "basic", "ntlm", "kerberos", "negotiate");
	r.q.command_line = "Get-Service";
	decide(p, &r, &d);
	ck_assert_msg(d.allow, "%s", d.reason);
	ck_assert_str_eq(d.rule_name, "ops-servers");
	ck_assert_uint_eq(d.n_transports, 2);
	ck_assert_str_eq(d.transports[0], "kerberos");
	ck_assert_str_eq(d.transports[1], "negotiate");
	ck_assert_uint_eq(d.max_concurrent, 4);
	ck_assert_uint_eq(d.max_runtime_sec, 3600);
	ck_assert(d.transcript);

	r.q.command_line = "FORMAT c:";
	example(p, &r, false, WB_POLICY_COMMAND_DENIED, "ops-servers");
	r.q.command_line = "Get-Service";
	r.q.now = at(2029, 3, 10, 10, 0, 0);	/* Saturday */
	example(p, &r, false, WB_POLICY_OUTSIDE_TIME, "ops-servers");
	r.q.now = at(2029, 3, 5, 10, 0, 0);
	req_transports(&r, 2, "basic", "ntlm");
	example(p, &r, false, WB_POLICY_TRANSPORT, "ops-servers");
	/* Her personal credential, on an address in 10.0.0.0/8. */
	req_transports(&r, 1, "kerberos");
	r.q.cred = "login";
	r.q.cred_personal = true;
	r.q.cred_owner = 1000;
	r.q.host = "10.1.2.3";
	r.q.command_line = "hostname";
	example(p, &r, true, WB_POLICY_ALLOWED, "ops-servers");
	/* ... by gid 2001 alone as well. */
	req_groups(&r, 1, 2001, NULL);
	example(p, &r, true, WB_POLICY_ALLOWED, "ops-servers");
	wb_policy_free(p);
}
END_TEST

START_TEST(test_examples_oncall_and_deny_list)
{
	struct wb_policy *p = load_examples();
	struct wb_policy_decision d;
	struct req r;

	as(&r, "bob", 1001);
	req_groups(&r, 2, 2000, "ops", 2500, "oncall");
	r.q.now = at(2029, 3, 10, 3, 0, 0);	/* Saturday night */
	r.q.command_line = "Get-Service";
	decide(p, &r, &d);
	ck_assert_msg(d.allow, "%s", d.reason);
	ck_assert_str_eq(d.rule_name, "ops-oncall-nights");
	ck_assert_uint_eq(d.max_concurrent, 2);
	r.q.command_line = "shutdown /r";
	example(p, &r, false, WB_POLICY_COMMAND_DENIED, "ops-oncall-nights");
	/* Monday 06:59 is still night; at 07:00 the day rule takes over. */
	r.q.command_line = "Get-Service";
	r.q.now = at(2029, 3, 5, 6, 59, 0);
	example(p, &r, true, WB_POLICY_ALLOWED, "ops-oncall-nights");
	r.q.now = at(2029, 3, 5, 7, 0, 0);
	example(p, &r, true, WB_POLICY_ALLOWED, "ops-servers");

	as(&r, "carol", 1002);
	req_groups(&r, 2, 2000, "ops", 3000, "contractors");
	r.q.host = "dc1.corp.example";
	r.q.command_line = "hostname";
	example(p, &r, false, WB_POLICY_DENY_RULE, "no-contractors-on-dcs");
	r.q.host = "10.0.0.15";
	example(p, &r, false, WB_POLICY_DENY_RULE, "no-contractors-on-dcs");
	r.q.host = "10.0.0.20";
	example(p, &r, true, WB_POLICY_ALLOWED, "ops-servers");

	as(&r, "alice", 1000);
	req_groups(&r, 1, 2000, "ops");
	r.q.cred = "domain-admin";
	example(p, &r, false, WB_POLICY_DENY_RULE, "domain-admin-nobody-else");

	as(&r, "breakglass", 999);
	r.q.cred = "domain-admin";
	r.q.host = "dc1.corp.example";
	r.q.command_line = "hostname";
	r.q.want_delegation = true;
	r.q.now = at(2029, 3, 11, 2, 0, 0);	/* Sunday night */
	decide(p, &r, &d);
	ck_assert_msg(d.allow, "%s", d.reason);
	ck_assert_str_eq(d.rule_name, "domain-admin-break-glass");
	ck_assert_uint_eq(d.n_transports, 1);
	ck_assert_str_eq(d.transports[0], "kerberos");
	ck_assert_uint_eq(d.max_runtime_sec, 1800);
	wb_policy_free(p);
}
END_TEST

START_TEST(test_examples_helpdesk_and_automation)
{
	struct wb_policy *p = load_examples();
	struct wb_policy_decision d;
	struct req r;

	as(&r, "dave", 1003);
	req_groups(&r, 1, 4000, "helpdesk");
	r.q.cred = "helpdesk-ro";
	r.q.host = "ws-042.corp.example";
	r.q.command_line = "Get-Service -Name w32time";
	example(p, &r, true, WB_POLICY_ALLOWED, "helpdesk-read-only");
	r.q.command_line = "Stop-Service w32time";
	example(p, &r, false, WB_POLICY_COMMAND_NOT_ALLOWED, "helpdesk-read-only");
	r.q.command_line = "ipconfig /all";
	r.q.now = at(2030, 6, 30, 23, 59, 59);
	example(p, &r, true, WB_POLICY_ALLOWED, "helpdesk-read-only");
	r.q.now = at(2030, 7, 1, 0, 0, 0);
	example(p, &r, false, WB_POLICY_EXPIRED, "helpdesk-read-only");

	as(&r, "svc-backup", 900);
	r.q.cred = "backup-cert";
	r.q.host = "fs01.corp.example";
	req_transports(&r, 2, "certificate", "basic");
	r.q.command_line = "wbadmin get versions";
	decide(p, &r, &d);
	ck_assert_msg(d.allow, "%s", d.reason);
	ck_assert_str_eq(d.rule_name, "backup-automation");
	ck_assert_uint_eq(d.n_transports, 1);
	ck_assert_str_eq(d.transports[0], "certificate");
	ck_assert_uint_eq(d.max_concurrent, 1);
	ck_assert_uint_eq(d.max_runtime_sec, 7200);
	r.q.command_line = "wbadmin start backup -backupTarget:e: -include:c: -quiet";
	example(p, &r, true, WB_POLICY_ALLOWED, "backup-automation");
	r.q.command_line = "wbadmin start backup -backupTarget:e: -include:c: -quiet & whoami";
	example(p, &r, false, WB_POLICY_COMMAND_NOT_ALLOWED, "backup-automation");
	r.q.command_line = "wbadmin delete catalog";
	example(p, &r, false, WB_POLICY_COMMAND_NOT_ALLOWED, "backup-automation");
	r.q.command_line = "wbadmin get versions";
	r.q.host = "192.0.2.10";
	example(p, &r, true, WB_POLICY_ALLOWED, "backup-automation");
	r.q.host = "fs03.corp.example";
	example(p, &r, false, WB_POLICY_NO_RULE, NULL);

	as(&r, "eve", 1004);
	r.q.command_line = "hostname";
	example(p, &r, false, WB_POLICY_NO_RULE, NULL);
	wb_policy_free(p);
}
END_TEST

/* ---- hostile input ---- */

/* Parses buf; whatever happens, the result is a policy or a named error,
 * and a policy can decide. */
static void parse_anything(const uint8_t *buf, size_t len)
{
	struct wb_policy *p = wb_policy_new();
	struct wb_policy_decision d;
	struct wb_error e = { 0 };
	struct req r;
	int rc = wb_policy_parse(buf, len, "h.conf", p, &e);

	if (rc < 0) {
		ck_assert_int_eq(rc, -WB_E_CONFIG);
		ck_assert_msg(!strncmp(e.msg, "h.conf:", 7), "%s", e.msg);
	}
	req_default(&r);
	r.q.command_line = "Get-Service\nformat c:";
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), 0);
	wb_policy_free(p);
}

START_TEST(test_hostile_random_bytes)
{
	static const char *const words[] = {
		"[rule ", "]", "\n", " = ", "users", "groups", "credentials", "hosts", "*",
		"personal:", "10.0.0.0/8", "::/0", "regex:", "prefix:", "exact:", "(", "{9}",
		"time", "Mon-Fri 22:00-06:00", "expires", "2030-01-01", "command_deny",
		"command_allow", "transports", "kerberos", "[", "\0", "\xff", ",", "#",
	};
	uint8_t buf[2048];
	unsigned seed = 12345;
	int i;

	for (i = 0; i < 3000; i++) {
		size_t len = 0;

		while (len < sizeof(buf) - 64 && rand_r(&seed) % 40) {
			if (rand_r(&seed) % 3) {
				const char *w = words[(size_t)rand_r(&seed) %
						      (sizeof(words) / sizeof(words[0]))];
				size_t n = *w ? strlen(w) : 1;

				memcpy(buf + len, w, n);
				len += n;
			} else {
				buf[len++] = (uint8_t)rand_r(&seed);
			}
		}
		parse_anything(buf, len);
	}
}
END_TEST

START_TEST(test_hostile_mutated_examples)
{
	static const uint8_t values[] = { 0, '\n', '[', ']', '=', '*', '/', ':', '-', 0xff };
	const char *src = getenv("WB_POLICY_EXAMPLES");
	char path[512];
	uint8_t buf[8192];
	size_t n, i, v;
	FILE *f;

	ck_assert_ptr_nonnull(src);
	snprintf(path, sizeof(path), "%s/20-jump-host.conf", src);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (i = 0; i < n; i++) {
		uint8_t keep = buf[i];

		for (v = 0; v < sizeof(values); v++) {
			buf[i] = values[v];
			parse_anything(buf, n);
		}
		buf[i] = keep;
		parse_anything(buf, i);	/* every truncation too */
	}
}
END_TEST

START_TEST(test_hostile_thousands_of_rules)
{
	size_t cap = (WB_POLICY_MAX_RULES + 1) * 80, len = 0, i;
	char *buf = malloc(cap);
	struct wb_policy *p = wb_policy_new();
	struct wb_policy_decision d;
	struct wb_error e = { 0 };
	struct req r;

	for (i = 0; i < WB_POLICY_MAX_RULES; i++)
		len += (size_t)snprintf(buf + len, cap - len, "[rule r%zu]\nusers = u%zu\n"
					"credentials = c\nhosts = *\n", i, i);
	ck_assert_int_eq(wb_policy_parse((uint8_t *)buf, len, "many.conf", p, &e), 0);
	ck_assert_uint_eq(wb_policy_rule_count(p), WB_POLICY_MAX_RULES);
	req_default(&r);
	r.q.user = "u4095";
	r.q.cred = "c";
	decide(p, &r, &d);
	ck_assert(d.allow);
	ck_assert_str_eq(d.rule_name, "r4095");
	/* One more, in the same file or in another, is refused. */
	ck_assert_int_eq(wb_policy_parse((const uint8_t *)"[rule x]\n", 9, "more.conf", p, &e),
			 -WB_E_CONFIG);
	ck_assert_str_eq(e.msg, "more.conf:1: more than 4096 rules in the policy");
	wb_policy_free(p);
	p = wb_policy_new();
	len += (size_t)snprintf(buf + len, cap - len, "[rule last]\n");
	ck_assert_int_eq(wb_policy_parse((uint8_t *)buf, len, "many.conf", p, &e), -WB_E_CONFIG);
	ck_assert(strstr(e.msg, "many.conf:16385: more than 4096 rules"));
	wb_policy_free(p);
	free(buf);
}
END_TEST

START_TEST(test_hostile_long_lists_and_lines)
{
	char *buf = malloc(8192), *line;
	struct wb_policy *p;
	struct wb_policy_decision d;
	struct req r;
	size_t n, i;

	/* A hosts line of 4096 bytes, 2044 items, the last one matching. */
	n = (size_t)sprintf(buf, "[rule r]\nusers = alice\ncredentials = *\nhosts = ");
	for (i = 0; i < 2043; i++)
		n += (size_t)sprintf(buf + n, "a,");
	n += (size_t)sprintf(buf + n, "zz\n");
	ck_assert_uint_eq(n - strlen("[rule r]\nusers = alice\ncredentials = *\n"), 4096 + 1);
	p = pol(buf);
	req_default(&r);
	r.q.host = "zz";
	decide(p, &r, &d);
	ck_assert(d.allow);
	wb_policy_free(p);
	/* The longest command line Windows runs, against deny and allow entries;
	 * one byte more is a malformed request. */
	p = pol("[rule r]\nusers = alice\ncredentials = *\nhosts = *\n"
		"command_deny = regex:a.*a.*b\ncommand_allow = prefix:aaa\n");
	line = malloc(WB_POLICY_MAX_COMMAND_LINE + 2);
	memset(line, 'a', WB_POLICY_MAX_COMMAND_LINE + 1);
	line[WB_POLICY_MAX_COMMAND_LINE] = '\0';
	r.q.command_line = line;
	r.q.host = "h";
	decide(p, &r, &d);
	ck_assert_int_eq(d.why, WB_POLICY_COMMAND_NOT_ALLOWED);	/* "aaa" then no blank */
	line[3] = ' ';
	decide(p, &r, &d);
	ck_assert(d.allow);
	line[WB_POLICY_MAX_COMMAND_LINE] = 'a';
	line[WB_POLICY_MAX_COMMAND_LINE + 1] = '\0';
	ck_assert_int_eq(wb_policy_decide(p, &r.q, &d), -WB_E_INVALID);
	ck_assert_int_eq(d.why, WB_POLICY_BAD_REQUEST);
	ck_assert(!d.allow);
	free(line);
	wb_policy_free(p);
	free(buf);
}
END_TEST

TCase *policy_load_tcase(void)
{
	TCase *tc = tcase_create("load");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_load_lexical_order);
	tcase_add_test(tc, test_load_ignores_other_names);
	tcase_add_test(tc, test_load_reports_every_broken_file);
	tcase_add_test(tc, test_load_cross_file_duplicate_name);
	tcase_add_test(tc, test_load_missing_and_empty_dir);
	tcase_add_test(tc, test_load_permissions);
	tcase_add_test(tc, test_load_not_regular_files);
	tcase_add_test(tc, test_load_file_too_large);
	tcase_add_test(tc, test_load_too_many_files);
	tcase_add_test(tc, test_examples_parse);
	tcase_add_test(tc, test_examples_jump_host);
	tcase_add_test(tc, test_examples_oncall_and_deny_list);
	tcase_add_test(tc, test_examples_helpdesk_and_automation);
	tcase_add_test(tc, test_hostile_random_bytes);
	tcase_add_test(tc, test_hostile_mutated_examples);
	tcase_add_test(tc, test_hostile_thousands_of_rules);
	tcase_add_test(tc, test_hostile_long_lists_and_lines);
	return tc;
}
