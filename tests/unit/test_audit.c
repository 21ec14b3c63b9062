/*
 * Unit tests for brokerd/audit.c: records in the chained file, the anchor,
 * redaction, failing closed on a full disk or a file size limit, many
 * writers at once, transcripts, and the journal (against a journald this
 * test starts, when the machine has one).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "auditchain.h"
#include "error.h"

static char dir[64];
static char logpath[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/wb-audit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(logpath, sizeof(logpath), "%s/audit.log", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A whole file, also from /proc (whose size says 0). */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

static void spit(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Verifies path against its .head file, as the CLI does. */
static enum wb_auditfault verify_file(const char *path, struct wb_auditverify *v)
{
	char head_path[256], chain[WB_AUDIT_CHAIN_HEX + 1];
	struct wb_audit_head h;
	size_t n, hn;
	char *data = slurp(path, &n), *head;

	ck_assert_ptr_nonnull(data);
	snprintf(head_path, sizeof(head_path), "%s.head", path);
	wb_auditverify_init(v);
	head = slurp(head_path, &hn);
	if (head && wb_audithead_parse((const uint8_t *)head, hn, chain, &h) == 0)
		ck_assert_int_eq(wb_auditverify_anchor(v, &h, "head"), 0);
	wb_auditverify_feed(v, (const uint8_t *)data, n);
	free(data);
	free(head);
	return wb_auditverify_end(v);
}

static uint64_t lines_of(const char *path)
{
	struct wb_auditverify v;
	uint64_t n;

	ck_assert_int_eq(verify_file(path, &v), WB_AF_NONE);
	n = v.lines;
	wb_auditverify_free(&v);
	return n;
}

/* Line k (1-based) of path, parsed. */
static void get_line(const char *path, int k, struct wb_auditrec *r)
{
	size_t n;
	char *data = slurp(path, &n), *p = data, *nl;

	while (--k > 0) {
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	nl = strchr(p, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(wb_auditrec_parse((const uint8_t *)p, (size_t)(nl - p), r, NULL, 0), 0);
	free(data);
}

static const struct wb_audit_login login = {
	.session = "3", .unit = "session-3.scope", .cgroup = "/user.slice/user-1000.slice/session-3.scope",
};

static struct wb_audit_event event(const char *op_id, const char *command)
{
	return (struct wb_audit_event){
		.op_id = op_id, .operation = "run", .uid = 1000, .user = "alice", .pid = 4242,
		.exe = "/usr/bin/winrm-broker", .login = &login, .cred = "web", .host = "win1",
		.port = 5986, .transport = "basic", .encryption = "tls", .delegation = false,
		.command = command, .allowed = true, .rule = "/etc/winrm-broker/policy.d/10-ops.conf:3",
		.reason = "ops may run on win*",
	};
}

static struct wb_audit *open_audit(const char *path)
{
	struct wb_audit *a = NULL;
	struct wb_error err = { 0 };

	ck_assert_msg(wb_audit_open(path, NULL, NULL, 0, true, &a, &err) == 0, "%s", err.msg);
	return a;
}

START_TEST(test_decision_and_outcome)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_error err = { 0 };
	struct wb_audit_event ev = event("0123456789abcdef0123456789abcdef", "ipconfig /all");
	struct wb_auditrec r;
	char head_path[160];
	struct stat st;

	ck_assert_uint_eq(lines_of(logpath), 1);	/* the file-start line */
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ev.allowed = false;
	ev.rule = "default-deny";
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ev.allowed = true;
	ev.rule = "/etc/winrm-broker/policy.d/10-ops.conf:3";
	ev.encryption = "tls";
	ev.has_exit_code = true;
	ev.exit_code = 0x80070005;
	ev.stdin_bytes = 1;
	ev.stdout_bytes = 22;
	ev.stderr_bytes = 333;
	ev.duration_ms = 4444;
	ck_assert_int_eq(wb_audit_outcome(a, &ev, &err), 0);
	ev.error_code = WB_E_AUTH;
	ev.error = "the host refused the credential";
	ev.has_exit_code = false;
	ck_assert_int_eq(wb_audit_outcome(a, &ev, &err), 0);
	wb_audit_close(a);
	ck_assert_uint_eq(lines_of(logpath), 5);

	ck_assert_int_eq(stat(logpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	snprintf(head_path, sizeof(head_path), "%s.head", logpath);
	ck_assert_int_eq(stat(head_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	get_line(logpath, 1, &r);
	ck_assert_str_eq(r.event, "file-start");
	ck_assert_uint_eq(strlen(wb_auditrec_get(&r, "chain")), 32);
	ck_assert_str_eq(wb_auditrec_get(&r, "file"), logpath);
	wb_auditrec_free(&r);

	get_line(logpath, 2, &r);
	ck_assert_str_eq(r.event, "decision");
	ck_assert_str_eq(wb_auditrec_get(&r, "decision"), "allow");
	ck_assert_str_eq(wb_auditrec_get(&r, "op_id"), "0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(wb_auditrec_get(&r, "operation"), "run");
	ck_assert_str_eq(wb_auditrec_get(&r, "uid"), "1000");
	ck_assert_str_eq(wb_auditrec_get(&r, "user"), "alice");
	ck_assert_str_eq(wb_auditrec_get(&r, "pid"), "4242");
	ck_assert_str_eq(wb_auditrec_get(&r, "exe"), "/usr/bin/winrm-broker");
	ck_assert_str_eq(wb_auditrec_get(&r, "login_session"), "3");
	ck_assert_str_eq(wb_auditrec_get(&r, "login_unit"), "session-3.scope");
	ck_assert_str_eq(wb_auditrec_get(&r, "cgroup"), login.cgroup);
	ck_assert_str_eq(wb_auditrec_get(&r, "cred"), "web");
	ck_assert_str_eq(wb_auditrec_get(&r, "host"), "win1");
	ck_assert_str_eq(wb_auditrec_get(&r, "port"), "5986");
	ck_assert_str_eq(wb_auditrec_get(&r, "transport"), "basic");
	ck_assert_str_eq(wb_auditrec_get(&r, "encryption"), "tls");
	ck_assert_str_eq(wb_auditrec_get(&r, "delegation"), "false");
	ck_assert_str_eq(wb_auditrec_get(&r, "command"), "ipconfig /all");
	ck_assert_str_eq(wb_auditrec_get(&r, "rule"), "/etc/winrm-broker/policy.d/10-ops.conf:3");
	ck_assert_str_eq(wb_auditrec_get(&r, "reason"), "ops may run on win*");
	ck_assert_uint_eq(strlen(wb_auditrec_get(&r, "time")), strlen("2024-05-01T12:00:00.000000Z"));
	wb_auditrec_free(&r);

	get_line(logpath, 3, &r);
	ck_assert_str_eq(wb_auditrec_get(&r, "decision"), "deny");
	ck_assert_str_eq(wb_auditrec_get(&r, "rule"), "default-deny");
	wb_auditrec_free(&r);

	get_line(logpath, 4, &r);
	ck_assert_str_eq(r.event, "outcome");
	ck_assert_str_eq(wb_auditrec_get(&r, "exit_code"), "2147942405");
	ck_assert_str_eq(wb_auditrec_get(&r, "stdin_bytes"), "1");
	ck_assert_str_eq(wb_auditrec_get(&r, "stdout_bytes"), "22");
	ck_assert_str_eq(wb_auditrec_get(&r, "stderr_bytes"), "333");
	ck_assert_str_eq(wb_auditrec_get(&r, "duration_ms"), "4444");
	ck_assert_str_eq(wb_auditrec_get(&r, "rule"), "/etc/winrm-broker/policy.d/10-ops.conf:3");
	ck_assert_ptr_null(wb_auditrec_get(&r, "error_code"));
	wb_auditrec_free(&r);

	get_line(logpath, 5, &r);
	ck_assert_str_eq(wb_auditrec_get(&r, "error_code"), "12");
	ck_assert_str_eq(wb_auditrec_get(&r, "error_name"), "auth");
	ck_assert_str_eq(wb_auditrec_get(&r, "error"), "the host refused the credential");
	ck_assert_ptr_null(wb_auditrec_get(&r, "exit_code"));
	wb_auditrec_free(&r);
}
END_TEST

/* Reopening finds the chain's head in the file; the chain goes on. */
START_TEST(test_reopen_continues)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };
	struct wb_auditrec r;

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
	a = open_audit(logpath);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
	ck_assert_uint_eq(lines_of(logpath), 3);
	get_line(logpath, 3, &r);
	ck_assert_uint_eq(r.seq, 3);
	wb_auditrec_free(&r);
}
END_TEST

START_TEST(test_broken_file_refused)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };
	size_t n;
	char *data;
	off_t before;

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
	data = slurp(logpath, &n);
	*strstr(data, "whoami") = 'W';		/* line 2 edited */
	spit(logpath, data, n);
	free(data);
	before = file_size(logpath);
	ck_assert_int_eq(wb_audit_open(logpath, NULL, NULL, 0, true, &a, &err), -WB_E_IO);
	ck_assert_ptr_null(a);
	ck_assert_msg(strstr(err.msg, "broken at line 2 (edited"), "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "move it aside"), "%s", err.msg);
	ck_assert_int_eq(file_size(logpath), before);	/* nothing appended */
}
END_TEST

/* Whole lines cut from the end: the .head file shows it. */
START_TEST(test_truncated_file_refused)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };
	size_t n;
	char *data;

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
	data = slurp(logpath, &n);
	n = (size_t)(strchr(strchr(data, '\n') + 1, '\n') + 1 - data);	/* keep 2 lines of 3 */
	spit(logpath, data, n);
	free(data);
	ck_assert_int_eq(wb_audit_open(logpath, NULL, NULL, 0, true, &a, &err), -WB_E_IO);
	ck_assert_msg(strstr(err.msg, "truncated") && strstr(err.msg, "ends at seq 2"), "%s",
		      err.msg);
}
END_TEST

START_TEST(test_missing_head_recreated)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };
	char head_path[160];

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
	snprintf(head_path, sizeof(head_path), "%s.head", logpath);
	ck_assert_int_eq(unlink(head_path), 0);
	a = open_audit(logpath);
	wb_audit_close(a);
	ck_assert_int_eq(file_size(head_path), WB_AUDIT_HEAD_FILE_LEN);
	ck_assert_uint_eq(lines_of(logpath), 2);
}
END_TEST

/* mv audit.log audit.log.1; reload: the new file continues the chain. */
START_TEST(test_rotation)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };
	struct wb_auditverify v;
	struct wb_auditrec r;
	char old[160], *one, *two;
	size_t n1, n2;

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	snprintf(old, sizeof(old), "%s.1", logpath);
	ck_assert_int_eq(rename(logpath, old), 0);
	/* Before the reload, records still go to the moved file. */
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ck_assert_msg(wb_audit_reopen(a, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);

	get_line(logpath, 1, &r);
	ck_assert_str_eq(r.event, "file-start");
	ck_assert_uint_eq(r.seq, 4);
	wb_auditrec_free(&r);
	ck_assert_uint_eq(lines_of(logpath), 2);	/* alone, with its anchor */
	one = slurp(old, &n1);
	two = slurp(logpath, &n2);
	wb_auditverify_init(&v);
	wb_auditverify_feed(&v, (const uint8_t *)one, n1);
	wb_auditverify_next_file(&v);
	wb_auditverify_feed(&v, (const uint8_t *)two, n2);
	ck_assert_int_eq(wb_auditverify_end(&v), WB_AF_NONE);
	ck_assert_uint_eq(v.lines, 5);
	wb_auditverify_free(&v);
	free(one);
	free(two);
}
END_TEST

/* copytruncate or a shell redirection behind the broker: refused, then a
 * reload starts a new file that continues the chain. */
START_TEST(test_truncated_behind_back)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ck_assert_int_eq(truncate(logpath, 0), 0);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), -WB_E_IO);
	ck_assert_msg(strstr(err.msg, "size changed behind the broker"), "%s", err.msg);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), -WB_E_IO);	/* stays refused */
	ck_assert_int_eq(file_size(logpath), 0);
	ck_assert_msg(wb_audit_reopen(a, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
	ck_assert_uint_eq(lines_of(logpath), 2);
}
END_TEST

START_TEST(test_deleted_behind_back)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };

	ck_assert_int_eq(unlink(logpath), 0);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), -WB_E_IO);
	ck_assert_msg(strstr(err.msg, "deleted"), "%s", err.msg);
	wb_audit_close(a);
}
END_TEST

/* --- Redaction ------------------------------------------------------------ */

static const struct {
	const char *in, *out;
} redactions[] = {
	{ "Invoke-Thing -Password hunter2 -Force", "Invoke-Thing -Password [REDACTED] -Force" },
	{ "New-ADUser bob -AccountPassword:s3cr3t", "New-ADUser bob -AccountPassword:[REDACTED]" },
	{ "Install-ADDSForest -SafeModeAdministratorPassword 'a b c'",
	  "Install-ADDSForest -SafeModeAdministratorPassword [REDACTED]" },
	{ "tool --password=abc --user bob", "tool --password=[REDACTED] --user bob" },
	{ "tool --api-key K123 -v", "tool --api-key [REDACTED] -v" },
	{ "a -PASSWORD x -Token y", "a -PASSWORD [REDACTED] -Token [REDACTED]" },
	{ "cmdkey /add:srv /user:bob /pass:P@ss", "cmdkey /add:srv /user:bob /pass:[REDACTED]" },
	{ "mstsc /v:h /p:secret", "mstsc /v:h /p:[REDACTED]" },
	{ "wmic /node:h /user:bob /password:pw os get",
	  "wmic /node:h /user:bob /password:[REDACTED] os get" },
	{ "schtasks /create /tn t /ru bob /rp Pa55 /tr x",
	  "schtasks /create /tn t /ru bob /rp [REDACTED] /tr x" },
	{ "sc.exe config svc obj= .\\bob password= Pa55",
	  "sc.exe config svc obj= .\\bob password= [REDACTED]" },
	{ "Server=db;Password=abc;Database=x", "Server=db;Password=[REDACTED];Database=x" },
	{ "Driver={x};Pwd={a;b};Uid=u", "Driver={x};Pwd=[REDACTED];Uid=u" },
	{ "set DB_PASSWORD=abc&& run", "set DB_PASSWORD=[REDACTED]&& run" },
	{ "$pwd = 'x y'; go", "$pwd = [REDACTED]; go" },
	{ "{\"user\":\"bob\",\"password\":\"abc\"}", "{\"user\":\"bob\",\"password\":[REDACTED]}" },
	{ "$s = ConvertTo-SecureString 'P@ss' -AsPlainText -Force",
	  "$s = ConvertTo-SecureString [REDACTED] -AsPlainText -Force" },
	{ "ConvertTo-SecureString -String \"P@ss w\" -AsPlainText -Force",
	  "ConvertTo-SecureString -String [REDACTED] -AsPlainText -Force" },
	{ "ConvertTo-SecureString -AsPlainText -Force -String x",
	  "ConvertTo-SecureString -AsPlainText -Force -String [REDACTED]" },
	{ "'P@ss' | ConvertTo-SecureString -AsPlainText -Force",
	  "[REDACTED] | ConvertTo-SecureString -AsPlainText -Force" },
	{ "net use \\\\srv\\share Pa55 /user:corp\\bob",
	  "net use \\\\srv\\share [REDACTED] /user:corp\\bob" },
	{ "net use Z: \\\\srv\\share Pa55 /persistent:no",
	  "net use Z: \\\\srv\\share [REDACTED] /persistent:no" },
	{ "net use \\\\srv\\share /user:corp\\bob Pa55",
	  "net use \\\\srv\\share /user:corp\\bob [REDACTED]" },
	{ "NET.EXE USE \\\\srv\\share \"p w\"", "NET.EXE USE \\\\srv\\share [REDACTED]" },
	{ "net user bob Pa55 /add", "net user bob [REDACTED] /add" },
	{ "curl https://bob:Pa55@host/x", "curl https://bob:[REDACTED]@host/x" },
	{ "curl -H \"Authorization: Bearer abc.def\" u",
	  "curl -H \"Authorization: Bearer [REDACTED]\" u" },
	{ "iwr u -Headers @{Authorization = \"Basic Ym9iOnB3\"}",
	  "iwr u -Headers @{Authorization = \"Basic [REDACTED]\"}" },
	{ "New-Object System.Net.NetworkCredential('bob', 'Pa55')",
	  "New-Object System.Net.NetworkCredential('bob', [REDACTED])" },
	{ "[pscredential]::new(\"bob\", \"x\")", "[pscredential]::new(\"bob\", [REDACTED])" },
	{ "psexec \\\\h -u bob -p Pa55 cmd", "psexec \\\\h -u bob -p [REDACTED] cmd" },
	{ "sshpass -p Pa55 ssh h", "sshpass -p [REDACTED] ssh h" },
	{ "mysql -u root -pPa55 db", "mysql -u root -p[REDACTED] db" },
	/* Left alone. */
	{ "Get-ChildItem -Path C:\\ -Recurse", "Get-ChildItem -Path C:\\ -Recurse" },
	{ "mkdir -p /tmp/x", "mkdir -p /tmp/x" },
	{ "Set-ADUser bob -PasswordNeverExpires $true", "Set-ADUser bob -PasswordNeverExpires $true" },
	{ "net use Z: \\\\srv\\share", "net use Z: \\\\srv\\share" },
	{ "net use \\\\srv\\share * /user:bob", "net use \\\\srv\\share * /user:bob" },
	{ "echo password token secret", "echo password token secret" },
	{ "", "" },
};

START_TEST(test_redact_builtin)
{
	struct wb_audit *a = open_audit(logpath);
	size_t i;

	for (i = 0; i < sizeof(redactions) / sizeof(redactions[0]); i++) {
		char *out = wb_audit_redact(a, redactions[i].in);

		ck_assert_ptr_nonnull(out);
		ck_assert_msg(strcmp(out, redactions[i].out) == 0, "redact(%s)\n  got  %s\n  want %s",
			      redactions[i].in, out, redactions[i].out);
		free(out);
	}
	wb_audit_close(a);
}
END_TEST

START_TEST(test_redact_custom)
{
	static const char *const patterns[] = { "pin[[:space:]]+([0-9]+)", "corp-key-[a-z0-9]+" };
	static const char *const bad[] = { "(unclosed" };
	struct wb_audit *a = NULL;
	struct wb_error err = { 0 };
	char *out;

	ck_assert_int_eq(wb_audit_open(logpath, NULL, patterns, 2, true, &a, &err), 0);
	out = wb_audit_redact(a, "unlock PIN 1234 with corp-key-abc9 -Password x");
	ck_assert_str_eq(out, "unlock PIN [REDACTED] with [REDACTED] -Password [REDACTED]");
	free(out);
	wb_audit_close(a);
	/* Built-ins off: only the custom ones apply. */
	ck_assert_int_eq(wb_audit_open(logpath, NULL, patterns, 2, false, &a, &err), 0);
	out = wb_audit_redact(a, "pin 1 -Password x");
	ck_assert_str_eq(out, "pin [REDACTED] -Password x");
	free(out);
	wb_audit_close(a);
	ck_assert_int_eq(wb_audit_open(logpath, NULL, bad, 1, true, &a, &err), -WB_E_CONFIG);
	ck_assert_ptr_null(a);
	ck_assert_msg(strstr(err.msg, "(unclosed"), "%s", err.msg);
}
END_TEST

/* The file never holds the secret, in the command, the reason or the error. */
START_TEST(test_redacted_in_file)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_audit_event ev = event(NULL, "net use \\\\fs\\data Sup3rS3cret /user:corp\\bob");
	struct wb_error err = { 0 };
	struct wb_auditrec r;
	char *data;

	ev.reason = "denied: -Password Sup3rS3cret is not allowed";
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ev.error_code = WB_E_REMOTE;
	ev.error = "fault: password=Sup3rS3cret rejected";
	ck_assert_int_eq(wb_audit_outcome(a, &ev, &err), 0);
	wb_audit_close(a);
	data = slurp(logpath, NULL);
	ck_assert_ptr_null(strstr(data, "Sup3rS3cret"));
	free(data);
	get_line(logpath, 2, &r);
	ck_assert_str_eq(wb_auditrec_get(&r, "command"),
			 "net use \\\\fs\\data [REDACTED] /user:corp\\bob");
	wb_auditrec_free(&r);
}
END_TEST

/* --- Failing closed ------------------------------------------------------- */

/* In a child: writes until the limit bites; exit 0 when every failure was a
 * clean -WB_E_IO that left no partial line. */
static int fill_until_refused(const char *path, const char *expect)
{
	struct wb_audit *a = NULL;
	struct wb_error err = { 0 };
	char cmd[3000];
	struct wb_audit_event ev;
	struct wb_auditverify v;
	int i, refused = 0;
	off_t before;

	memset(cmd, 'x', sizeof(cmd) - 1);
	cmd[sizeof(cmd) - 1] = '\0';
	ev = event(NULL, cmd);
	if (wb_audit_open(path, NULL, NULL, 0, true, &a, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 10;
	}
	for (i = 0; i < 10000 && refused < 3; i++) {
		before = file_size(path);
		if (wb_audit_decision(a, &ev, &err) == 0)
			continue;
		refused++;
		if (err.code != WB_E_IO || !strstr(err.msg, expect) || !strstr(err.msg, "refused")) {
			fprintf(stderr, "unexpected error: %d %s\n", err.code, err.msg);
			return 11;
		}
		if (file_size(path) != before) {
			fprintf(stderr, "a partial record was left\n");
			return 12;
		}
	}
	wb_audit_close(a);
	if (refused < 3 || i < 3)
		return 13;
	if (verify_file(path, &v) != WB_AF_NONE) {
		fprintf(stderr, "verify: %s\n", v.why);
		return 14;
	}
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died: status %d", status);
	return WEXITSTATUS(status);
}

static int fill_under_fsize_limit(void)
{
	struct rlimit rl = { .rlim_cur = 20000, .rlim_max = RLIM_INFINITY };

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 20;
	return fill_until_refused(logpath, "File too large");
}

START_TEST(test_fail_closed_fsize)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fill_under_fsize_limit());
	ck_assert_int_eq(wait_child(pid), 0);
	ck_assert_uint_gt(lines_of(logpath), 3);
	ck_assert_int_le(file_size(logpath), 20000);
}
END_TEST

/* A tiny tmpfs in a private mount namespace; without the privilege for it,
 * the same check under a file size limit. */
static int fill_tiny_tmpfs(void)
{
	char mnt[80];

	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	if (mkdir(mnt, 0700) < 0)
		return 30;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700") < 0) {
		fprintf(stderr, "test_audit: cannot mount a tmpfs (%s); checking under "
			"RLIMIT_FSIZE instead\n", strerror(errno));
		return 40 + fill_under_fsize_limit();
	}
	snprintf(logpath, sizeof(logpath), "%s/audit.log", mnt);
	return fill_until_refused(logpath, "No space left on device");
}

START_TEST(test_fail_closed_full_disk)
{
	pid_t pid = fork();
	int rc;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fill_tiny_tmpfs());
	rc = wait_child(pid);
	ck_assert_msg(rc == 0 || rc == 40, "child exit %d", rc);
}
END_TEST

/* --- Many writers --------------------------------------------------------- */

struct writer_arg {
	struct wb_audit *a;
	int id;
	int failures;
};

static void *writer(void *p)
{
	struct writer_arg *w = p;
	struct wb_error err = { 0 };
	char cmd[64];
	struct wb_audit_event ev;
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(cmd, sizeof(cmd), "thread %d record %d", w->id, i);
		ev = event(NULL, cmd);
		if ((i % 2 ? wb_audit_outcome(w->a, &ev, &err) : wb_audit_decision(w->a, &ev, &err)) < 0)
			w->failures++;
	}
	return NULL;
}

START_TEST(test_concurrent_writers)
{
	struct wb_audit *a = open_audit(logpath);
	struct writer_arg args[8];
	pthread_t th[8];
	int i;

	for (i = 0; i < 8; i++) {
		args[i] = (struct writer_arg){ .a = a, .id = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &args[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(args[i].failures, 0);
	}
	wb_audit_close(a);
	ck_assert_uint_eq(lines_of(logpath), 1 + 8 * 50);
}
END_TEST

/* --- Transcripts ---------------------------------------------------------- */

START_TEST(test_transcript)
{
	struct wb_audit *a = NULL;
	struct wb_audit_transcript *t = NULL;
	struct wb_error err = { 0 };
	char tdir[160], id[WB_AUDIT_OP_ID_LEN + 1], path[300], hex[WB_AUDIT_HEX_LEN + 1];
	uint8_t h[WB_AUDIT_HASH_LEN];
	struct wb_audit_event ev;
	struct wb_auditrec r;
	struct stat st;
	size_t n;
	char *data;
	uint8_t big[100000];

	snprintf(tdir, sizeof(tdir), "%s/transcripts", dir);
	ck_assert_int_eq(wb_audit_open(logpath, tdir, NULL, 0, true, &a, &err), 0);
	ck_assert_int_eq(stat(tdir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	wb_audit_op_id(id);
	ck_assert_uint_eq(strlen(id), WB_AUDIT_OP_ID_LEN);
	ck_assert_int_eq(wb_audit_transcript_open(a, id, &t, &err), 0);
	ck_assert_int_eq(wb_audit_transcript_write(t, WB_AUDIT_STDIN, "y\n", 2, &err), 0);
	ck_assert_int_eq(wb_audit_transcript_write(t, WB_AUDIT_STDOUT, "hello\n", 6, &err), 0);
	randombytes_buf(big, sizeof(big));
	ck_assert_int_eq(wb_audit_transcript_write(t, WB_AUDIT_STDERR, big, sizeof(big), &err), 0);
	ck_assert_int_eq(wb_audit_transcript_write(t, 7, "x", 1, &err), -WB_E_INVALID);
	ev = event(id, "cmd");
	ev.transcript = t;
	ev.has_exit_code = true;
	ck_assert_int_eq(wb_audit_outcome(a, &ev, &err), 0);
	ck_assert_int_eq(wb_audit_transcript_write(t, WB_AUDIT_STDOUT, "late", 4, &err), -WB_E_IO);
	wb_audit_transcript_free(t);
	/* The same id twice is refused: a transcript is never overwritten. */
	ck_assert_int_eq(wb_audit_transcript_open(a, id, &t, &err), -WB_E_IO);
	ck_assert_int_eq(wb_audit_transcript_open(a, "../x", &t, &err), -WB_E_INVALID);
	wb_audit_close(a);

	snprintf(path, sizeof(path), "%s/%s.transcript", tdir, id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	data = slurp(path, &n);
	ck_assert_ptr_nonnull(strstr(data, "stdin "));
	ck_assert_ptr_nonnull(strstr(data, " 2\ny\n\nstdout "));
	ck_assert_ptr_nonnull(strstr(data, " 6\nhello\n\nstderr "));
	ck_assert_mem_eq(data + n - sizeof(big) - 1, big, sizeof(big));
	crypto_generichash(h, sizeof(h), (const uint8_t *)data, n, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	get_line(logpath, 2, &r);
	ck_assert_str_eq(wb_auditrec_get(&r, "transcript"), path);
	ck_assert_str_eq(wb_auditrec_get(&r, "transcript_blake2b"), hex);
	ck_assert_uint_eq(strtoull(wb_auditrec_get(&r, "transcript_bytes"), NULL, 10), n);
	ck_assert_ptr_null(wb_auditrec_get(&r, "transcript_complete"));
	wb_auditrec_free(&r);
	free(data);

	/* Without a directory, a transcript cannot be had. */
	a = open_audit(logpath);
	ck_assert_int_eq(wb_audit_transcript_open(a, id, &t, &err), -WB_E_CONFIG);
	wb_audit_close(a);
}
END_TEST

/* --- The login session ---------------------------------------------------- */

START_TEST(test_cgroup_parse)
{
	static const char v2[] = "0::/user.slice/user-1000.slice/session-4.scope\n";
	static const char v1[] = "12:cpu,cpuacct:/x\n1:name=systemd:/user.slice/session-2.scope\n"
				 "0::/\n";
	static const char legacy[] = "4:memory:/a\n1:name=systemd:/system.slice/cron.service\n";
	char out[512];

	ck_assert_int_eq(wb_audit_cgroup_parse((const uint8_t *)v2, strlen(v2), out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/user.slice/user-1000.slice/session-4.scope");
	ck_assert_int_eq(wb_audit_cgroup_parse((const uint8_t *)v1, strlen(v1), out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/");
	ck_assert_int_eq(wb_audit_cgroup_parse((const uint8_t *)legacy, strlen(legacy), out,
					       sizeof(out)), 0);
	ck_assert_str_eq(out, "/system.slice/cron.service");
	ck_assert_int_eq(wb_audit_cgroup_parse((const uint8_t *)"junk", 4, out, sizeof(out)),
			 -EBADMSG);
	ck_assert_int_eq(wb_audit_cgroup_parse((const uint8_t *)v2, strlen(v2), out, 8), 0);
	ck_assert_str_eq(out, "/user.s");
}
END_TEST

START_TEST(test_login_lookup_self)
{
	struct wb_audit_login l;
	char *data = slurp("/proc/self/cgroup", NULL);

	wb_audit_login_lookup(getpid(), &l);
	ck_assert_ptr_nonnull(data);
	ck_assert_msg(l.cgroup[0] == '/', "cgroup '%s'", l.cgroup);
	ck_assert_ptr_nonnull(strstr(data, l.cgroup));
	free(data);
}
END_TEST

/* --- The CLI: winrm-broker audit verify|show ------------------------------- */

/* Runs `$WB_CLI args` (a shell word list); its stdout and stderr into *out. */
static int run_cli(const char *args, char **out)
{
	const char *cli = getenv("WB_CLI");
	char cmd[1024];
	size_t cap = 0;
	FILE *p;
	int status;

	ck_assert_msg(cli != NULL, "WB_CLI is not set (tests/unit/meson.build sets it)");
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", cli, args);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	*out = NULL;
	if (getdelim(out, &cap, '\0', p) < 0) {
		free(*out);
		*out = strdup("");
	}
	status = pclose(p);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* A log for the CLI: file-start, then alice on win1, bob on win2. */
static void cli_log(void)
{
	struct wb_audit *a = open_audit(logpath);
	struct wb_error err = { 0 };
	struct wb_audit_event ev = event(NULL, "whoami");

	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ev.has_exit_code = true;
	ck_assert_int_eq(wb_audit_outcome(a, &ev, &err), 0);
	ev = event(NULL, "hostname");
	ev.user = "bob";
	ev.uid = 1001;
	ev.host = "WIN2";
	ev.allowed = false;
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ev.allowed = true;
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	wb_audit_close(a);
}

/* Lines a and b (1-based) of the log swapped, or only lines 1..keep kept. */
static void rewrite_log(const char *orig, size_t n, int a, int b, int keep)
{
	const char *line[16];
	size_t len[16], i, k = 0;
	const char *p = orig;
	FILE *f = fopen(logpath, "wb");

	while (p < orig + n && k < 16) {
		const char *nl = memchr(p, '\n', (size_t)(orig + n - p));

		line[k] = p;
		len[k++] = (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < k && (!keep || i < (size_t)keep); i++) {
		size_t j = i + 1 == (size_t)a ? (size_t)b - 1 : i + 1 == (size_t)b ? (size_t)a - 1 : i;

		ck_assert_uint_eq(fwrite(line[j], 1, len[j], f), len[j]);
	}
	fclose(f);
}

START_TEST(test_cli_verify)
{
	char args[256], want[256], *out, *orig, *edited;
	size_t n;

	cli_log();
	snprintf(args, sizeof(args), "audit verify '%s'", logpath);
	ck_assert_int_eq(run_cli(args, &out), 0);
	ck_assert_msg(strstr(out, "intact: 5 record(s), seq 1-5") &&
		      strstr(out, "1 anchor(s) matched"), "%s", out);
	free(out);
	orig = slurp(logpath, &n);

	/* Edited: line 3 (alice's outcome). */
	edited = strdup(orig);
	*strstr(strstr(edited, "\"outcome\""), "whoami") = 'W';
	spit(logpath, edited, n);
	free(edited);
	ck_assert_int_eq(run_cli(args, &out), 1);
	snprintf(want, sizeof(want), "%s:3: edited:", logpath);
	ck_assert_msg(strstr(out, want), "%s", out);
	free(out);

	/* Reordered: lines 3 and 4 swapped. */
	rewrite_log(orig, n, 3, 4, 0);
	ck_assert_int_eq(run_cli(args, &out), 1);
	snprintf(want, sizeof(want), "%s:3: reordered:", logpath);
	ck_assert_msg(strstr(out, want), "%s", out);
	free(out);

	/* Deleted: line 3 gone. */
	{
		FILE *f = fopen(logpath, "wb");
		const char *l3 = strchr(strchr(orig, '\n') + 1, '\n') + 1, *l4 = strchr(l3, '\n') + 1;

		fwrite(orig, 1, (size_t)(l3 - orig), f);
		fwrite(l4, 1, (size_t)(orig + n - l4), f);
		fclose(f);
	}
	ck_assert_int_eq(run_cli(args, &out), 1);
	snprintf(want, sizeof(want), "%s:3: deleted:", logpath);
	ck_assert_msg(strstr(out, want), "%s", out);
	free(out);

	/* Truncated: whole lines (the .head anchor shows it), then mid-line. */
	rewrite_log(orig, n, 0, 0, 3);
	ck_assert_int_eq(run_cli(args, &out), 1);
	ck_assert_msg(strstr(out, "truncated") && strstr(out, "ends at seq 3"), "%s", out);
	free(out);
	spit(logpath, orig, n - 7);
	ck_assert_int_eq(run_cli(args, &out), 1);
	snprintf(want, sizeof(want), "%s:5: truncated:", logpath);
	ck_assert_msg(strstr(out, want), "%s", out);
	free(out);
	/* Without the anchor, a clean cut of whole lines is not visible: said so. */
	rewrite_log(orig, n, 0, 0, 3);
	snprintf(args, sizeof(args), "audit verify --no-head '%s'", logpath);
	ck_assert_int_eq(run_cli(args, &out), 0);
	free(out);
	snprintf(args, sizeof(args), "audit verify --head /nonexistent '%s'", logpath);
	ck_assert_int_eq(run_cli(args, &out), 1);
	free(out);
	free(orig);
}
END_TEST

START_TEST(test_cli_show)
{
	char args[256], *out, *line, *save = NULL;
	struct wb_auditrec r;
	int n = 0;

	cli_log();
	snprintf(args, sizeof(args), "audit show --file '%s'", logpath);
	ck_assert_int_eq(run_cli(args, &out), 0);
	ck_assert_msg(strstr(out, " #2 decision decision=allow ") && strstr(out, "user=alice") &&
		      strstr(out, "command=whoami") && strstr(out, " #5 decision "), "%s", out);
	free(out);
	snprintf(args, sizeof(args), "audit show --file '%s' --user bob --json", logpath);
	ck_assert_int_eq(run_cli(args, &out), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		ck_assert_int_eq(wb_auditrec_parse((uint8_t *)line, strlen(line), &r, NULL, 0), 0);
		ck_assert_str_eq(wb_auditrec_get(&r, "user"), "bob");
		wb_auditrec_free(&r);
	}
	ck_assert_int_eq(n, 2);
	free(out);
	snprintf(args, sizeof(args), "audit show --file '%s' --user 1000 --host win1 --since 1h",
		 logpath);
	ck_assert_int_eq(run_cli(args, &out), 0);
	ck_assert_msg(strstr(out, " #2 ") && strstr(out, " #3 ") && !strstr(out, " #4 "), "%s", out);
	free(out);
	snprintf(args, sizeof(args), "audit show --file '%s' --since 2999-01-01T00:00:00Z", logpath);
	ck_assert_int_eq(run_cli(args, &out), 0);
	ck_assert_str_eq(out, "");
	free(out);
	snprintf(args, sizeof(args), "audit show --file '%s' --since yesterday", logpath);
	ck_assert_int_eq(run_cli(args, &out), 2);
	free(out);
	/* A broken chain still shows, with a warning and exit 1. */
	ck_assert_int_eq(truncate(logpath, file_size(logpath) - 3), 0);
	snprintf(args, sizeof(args), "audit show --file '%s'", logpath);
	ck_assert_int_eq(run_cli(args, &out), 1);
	ck_assert_msg(strstr(out, " #4 ") && strstr(out, "warning:") && strstr(out, "truncated"),
		      "%s", out);
	free(out);
}
END_TEST

/* --- The journal ---------------------------------------------------------- */

#define JOURNALD "/lib/systemd/systemd-journald"
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static bool journal_alive(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* A journald of our own, unless one runs; 0 when none could be had. */
static pid_t start_journald(const char **why)
{
	pid_t pid;
	int i;

	if (journal_alive())
		return -1;	/* someone else's: use it, do not stop it */
	if (geteuid() != 0 || access(JOURNALD, X_OK) != 0) {
		*why = geteuid() != 0 ? "not root" : JOURNALD " not installed";
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* Gone with this test, even when it dies. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 1);
		dup2(null, 2);
		execl(JOURNALD, JOURNALD, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && !journal_alive(); i++)
		usleep(50000);
	if (!journal_alive()) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		*why = "systemd-journald did not start";
		return 0;
	}
	return pid;
}

static void stop_journald(pid_t pid)
{
	if (pid > 0) {
		ck_assert_int_eq(kill(pid, SIGTERM), 0);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	}
}

/* journalctl -o json for one op_id; polls until n entries show. */
static char *journal_entries(const char *op_id, int n)
{
	char cmd[256], *out = NULL;
	int i, k;

	snprintf(cmd, sizeof(cmd), "journalctl -q -o json --no-pager WINRM_BROKER_OP_ID=%s 2>/dev/null",
		 op_id);
	for (i = 0; i < 50; i++) {
		FILE *p = popen(cmd, "r");
		size_t len = 0;
		char *s;

		free(out);
		out = NULL;
		ck_assert_ptr_nonnull(p);
		ck_assert_int_ge(getdelim(&out, &len, '\0', p), -1);
		pclose(p);
		for (k = 0, s = out; s && (s = strchr(s, '\n')); s++)
			k++;
		if (out && k >= n)
			return out;
		usleep(100000);
	}
	return out;
}

START_TEST(test_journal)
{
	const char *why = NULL;
	pid_t jd = start_journald(&why);
	struct wb_audit *a;
	struct wb_error err = { 0 };
	struct wb_audit_event ev;
	char id[WB_AUDIT_OP_ID_LEN + 1], *out, want[128], head_path[160];
	char hex[WB_AUDIT_HEX_LEN + 1], chain[WB_AUDIT_CHAIN_HEX + 1];
	struct wb_audit_head h;
	int rc[5];
	size_t hn, n;
	char *head, *data, full[160], cut[160], args[400], *cli, *fail;

	if (jd == 0) {
		fprintf(stderr, "test_audit: SKIP journal check: %s\n", why);
		return;
	}
	/* Nothing may fail before journald is stopped: results are checked after. */
	rc[0] = wb_audit_open(logpath, NULL, NULL, 0, true, &a, &err);
	wb_audit_op_id(id);
	ev = event(id, "Set-Secret -Password Jou4nalS3cret; "
		   "ConvertTo-SecureString 'Jou4nalS3cret2' -AsPlainText");
	rc[1] = rc[0] ? 0 : wb_audit_decision(a, &ev, &err);
	ev.allowed = false;
	rc[2] = rc[0] ? 0 : wb_audit_decision(a, &ev, &err);
	ev.has_exit_code = true;
	ev.exit_code = 3;
	ev.stdout_bytes = 77;
	rc[3] = rc[0] ? 0 : wb_audit_outcome(a, &ev, &err);
	/* Copies for `audit verify --journal`: whole, and cut after line 3. */
	snprintf(full, sizeof(full), "%s/full.log", dir);
	snprintf(cut, sizeof(cut), "%s/cut.log", dir);
	data = slurp(logpath, &n);
	if (data) {
		spit(full, data, n);
		spit(cut, data, (size_t)(strchr(strchr(strchr(data, '\n') + 1, '\n') + 1, '\n') + 1 - data));
	}
	/* A refused record reaches the journal as an audit failure. */
	rc[4] = rc[0] || truncate(logpath, 0) < 0 ? 0 : wb_audit_decision(a, &ev, &err);
	if (rc[0] == 0)
		wb_audit_close(a);
	out = journal_entries(id, 4);
	stop_journald(jd);

	ck_assert_int_eq(rc[0], 0);
	ck_assert_int_eq(rc[1], 0);
	ck_assert_int_eq(rc[2], 0);
	ck_assert_int_eq(rc[3], 0);
	ck_assert_int_eq(rc[4], -WB_E_IO);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_null(strstr(out, "Jou4nalS3cret"));
	ck_assert_ptr_nonnull(strstr(out, "\"MESSAGE_ID\":\"" WB_AUDIT_MSGID_ALLOW "\""));
	ck_assert_ptr_nonnull(strstr(out, "\"MESSAGE_ID\":\"" WB_AUDIT_MSGID_DENY "\""));
	ck_assert_ptr_nonnull(strstr(out, "\"MESSAGE_ID\":\"" WB_AUDIT_MSGID_OUTCOME "\""));
	ck_assert_ptr_nonnull(strstr(out, "\"MESSAGE_ID\":\"" WB_AUDIT_MSGID_FAILURE "\""));
	ck_assert_ptr_nonnull(strstr(out, "\"PRIORITY\":\"2\""));	/* the failure: crit */
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_USER\":\"alice\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_UID\":\"1000\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_PID\":\"4242\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_HOST\":\"win1\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_CRED\":\"web\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_TRANSPORT\":\"basic\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_LOGIN_UNIT\":\"session-3.scope\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_DECISION\":\"deny\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_EXIT_CODE\":\"3\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_STDOUT_BYTES\":\"77\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_RULE\":"
				     "\"/etc/winrm-broker/policy.d/10-ops.conf:3\""));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_COMMAND\":\"Set-Secret -Password "
				     "[REDACTED] ConvertTo-SecureString [REDACTED] -AsPlainText\""));
	ck_assert_ptr_nonnull(strstr(out, "\"SYSLOG_IDENTIFIER\":\"winrm-brokerd\""));
	ck_assert_ptr_nonnull(strstr(out, "size changed behind the broker"));
	/* The anchor: the outcome's entry names seq 4 and its hash, as the
	 * .head file does. */
	snprintf(head_path, sizeof(head_path), "%s.head", logpath);
	head = slurp(head_path, &hn);
	ck_assert_int_eq(wb_audithead_parse((const uint8_t *)head, hn, chain, &h), 0);
	ck_assert_uint_eq(h.seq, 4);
	sodium_bin2hex(hex, sizeof(hex), h.hash, sizeof(h.hash));
	snprintf(want, sizeof(want), "\"WINRM_BROKER_AUDIT_HASH\":\"%s\"", hex);
	ck_assert_ptr_nonnull(strstr(out, want));
	ck_assert_ptr_nonnull(strstr(out, "\"WINRM_BROKER_AUDIT_SEQ\":\"4\""));
	snprintf(want, sizeof(want), "\"WINRM_BROKER_AUDIT_CHAIN\":\"%s\"", chain);
	ck_assert_ptr_nonnull(strstr(out, want));
	/* The failure names no seq or hash: its line is not in the file. */
	fail = strstr(out, WB_AUDIT_MSGID_FAILURE);
	while (fail && fail > out && fail[-1] != '\n')
		fail--;
	ck_assert_ptr_nonnull(fail);
	*strchrnul(fail, '\n') = '\0';
	ck_assert_ptr_null(strstr(fail, "WINRM_BROKER_AUDIT_SEQ"));
	free(head);
	free(out);
	free(data);

	/* The journal as the anchor: a clean cut of whole lines shows. */
	snprintf(args, sizeof(args), "audit verify --journal '%s'", full);
	ck_assert_int_eq(run_cli(args, &cli), 0);
	ck_assert_msg(strstr(cli, "intact: 4 record(s)") && strstr(cli, "4 anchor(s) matched"), "%s",
		      cli);
	free(cli);
	snprintf(args, sizeof(args), "audit verify --journal '%s'", cut);
	ck_assert_int_eq(run_cli(args, &cli), 1);
	ck_assert_msg(strstr(cli, "the journal records seq 4 but the log ends at seq 3"), "%s", cli);
	free(cli);
}
END_TEST

/* Without a journal, the file still gets every record. */
START_TEST(test_journal_absent_is_not_fatal)
{
	struct wb_audit *a;
	struct wb_audit_event ev = event(NULL, "whoami");
	struct wb_error err = { 0 };

	if (journal_alive()) {
		fprintf(stderr, "test_audit: SKIP journal-absent check: a journald is running\n");
		return;
	}
	a = open_audit(logpath);
	ck_assert_int_eq(wb_audit_decision(a, &ev, &err), 0);
	ck_assert_int_eq(wb_audit_outcome(a, &ev, &err), 0);
	wb_audit_close(a);
	ck_assert_uint_eq(lines_of(logpath), 3);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_decision_and_outcome);
	tcase_add_test(tc, test_reopen_continues);
	tcase_add_test(tc, test_broken_file_refused);
	tcase_add_test(tc, test_truncated_file_refused);
	tcase_add_test(tc, test_missing_head_recreated);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_truncated_behind_back);
	tcase_add_test(tc, test_deleted_behind_back);
	tcase_add_test(tc, test_redact_builtin);
	tcase_add_test(tc, test_redact_custom);
	tcase_add_test(tc, test_redacted_in_file);
	tcase_add_test(tc, test_fail_closed_fsize);
	tcase_add_test(tc, test_fail_closed_full_disk);
	tcase_add_test(tc, test_concurrent_writers);
	tcase_add_test(tc, test_transcript);
	tcase_add_test(tc, test_cgroup_parse);
	tcase_add_test(tc, test_login_lookup_self);
	tcase_add_test(tc, test_cli_verify);
	tcase_add_test(tc, test_cli_show);
	tcase_add_test(tc, test_journal);
	tcase_add_test(tc, test_journal_absent_is_not_fatal);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(audit_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
