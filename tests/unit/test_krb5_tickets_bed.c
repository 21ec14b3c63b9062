/*
 * brokerd/krb5_tickets.c against the bed's real MIT KDC: TGTs from a
 * password and from keytab bytes, reuse (counted in the KDC's log),
 * replacement, forget, re-acquisition and renewal before expiry, the named
 * errors, and eight threads sharing one AS exchange. The bed is brought up
 * once (tests/bed/up in a fresh directory) and taken down on every exit
 * path; the test that stops the KDC runs last.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <krb5/krb5.h>
#include <sodium.h>

#include "bedfix.h"
#include "krb5_tickets.h"

extern char **environ;

#define REALM "WINRM.TEST"

/* ---- the bed ------------------------------------------------------------------ */

static struct {
	char user[64], password[128], user2[64], password2[128], domain[64];
	char krb5_conf[512], kdc_log[512], keytab[600], renew_conf[600];
	unsigned kdc_port;
} bed;

static const char *short_pw = "Pw-short-8c1e", *renew_pw = "Pw-renew-4a7d";
static const char *expired_pw = "Pw-expired-77b2";

static int wait_pid(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int read_env(void)
{
	char port[16] = "";

	bedfix_env("WINRM_USER", bed.user, sizeof(bed.user));
	bedfix_env("WINRM_PASSWORD", bed.password, sizeof(bed.password));
	bedfix_env("WINRM_USER2", bed.user2, sizeof(bed.user2));
	bedfix_env("WINRM_PASSWORD2", bed.password2, sizeof(bed.password2));
	bedfix_env("WINRM_DOMAIN", bed.domain, sizeof(bed.domain));
	bedfix_env("KRB5_CONFIG", bed.krb5_conf, sizeof(bed.krb5_conf));
	bedfix_env("WINRM_KDC_LOG", bed.kdc_log, sizeof(bed.kdc_log));
	bedfix_env("WINRM_KDC_PORT", port, sizeof(port));
	bed.kdc_port = (unsigned)atoi(port);
	return bed.password[0] && bed.krb5_conf[0] && bed.kdc_log[0] && bed.kdc_port ? 0 : -1;
}

/* kadmin.local on the bed's database, queries on stdin (no password in argv). */
static int kadmin(const char *queries)
{
	char *argv[] = { "kadmin.local", "-r", REALM, NULL };
	posix_spawn_file_actions_t fa;
	int fds[2], devnull = open("/dev/null", O_WRONLY), rc;
	pid_t pid;

	if (devnull < 0 || pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, devnull, 2);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	rc = posix_spawnp(&pid, "kadmin.local", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	close(devnull);
	if (rc != 0) {
		close(fds[1]);
		return -1;
	}
	rc = write(fds[1], queries, strlen(queries)) == (ssize_t)strlen(queries) ? 0 : -1;
	close(fds[1]);
	return wait_pid(pid) < 0 ? -1 : rc;
}

/* The bed's krb5.conf plus renew_lifetime: the client then asks for renewable TGTs. */
static int write_renew_conf(void)
{
	char text[8192];
	const char *tag = "[libdefaults]\n";
	FILE *f = fopen(bed.krb5_conf, "r");
	size_t n;
	char *p;

	if (!f)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (!(p = strstr(text, tag)))
		return -1;
	p += strlen(tag);
	snprintf(bed.renew_conf, sizeof(bed.renew_conf), "%s/krb5-renew.conf", bedfix_dir());
	if (!(f = fopen(bed.renew_conf, "w")))
		return -1;
	fprintf(f, "%.*s    renew_lifetime = 1d\n%s", (int)(p - text), text, p);
	return fclose(f);
}

/* The principals the tests need besides alice and bob. */
static int make_principals(void)
{
	char q[2048];

	snprintf(bed.keytab, sizeof(bed.keytab), "%s/ktuser.keytab", bedfix_dir());
	snprintf(q, sizeof(q),
		 "addprinc -pw %s -maxlife \"30 seconds\" -maxrenewlife 0 shortlife\n"
		 "addprinc -pw %s -maxlife \"30 seconds\" -maxrenewlife \"1 day\" shortrenew\n"
		 "addprinc -pw %s expuser\n"
		 "modprinc -pwexpire yesterday expuser\n"
		 "addprinc -randkey ktuser\n"
		 "ktadd -k %s ktuser\n",
		 short_pw, renew_pw, expired_pw, bed.keytab);
	return kadmin(q);
}

static int bed_up(void)
{
	char path[600];

	if (bedfix_up("tickets") < 0 || read_env() < 0)
		return -1;
	/* Before any krb5 context exists: every one reads this realm. */
	snprintf(path, sizeof(path), "%s/kdc.conf", bedfix_dir());
	setenv("KRB5_CONFIG", bed.krb5_conf, 1);
	setenv("KRB5_KDC_PROFILE", path, 1);
	unsetenv("KRB5CCNAME");
	return make_principals() == 0 && write_renew_conf() == 0 ? 0 : -1;
}

/* ---- the KDC's log ---------------------------------------------------------------- */

/* Lines of kdc.log with `kind` ("AS_REQ", "TGS_REQ") about `who` asking for
 * a TGT ("alice@WINRM.TEST for krbtgt/"); ISSUE only when issued is set.
 * The KDC writes the line before it answers. */
static int kdc_count(const char *kind, const char *who, bool issued)
{
	char line[2048], pat[256];
	FILE *f = fopen(bed.kdc_log, "r");
	int n = 0;

	ck_assert_ptr_nonnull(f);
	snprintf(pat, sizeof(pat), " %s@%s for krbtgt/", who, REALM);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, kind) && strstr(line, pat) && (!issued || strstr(line, ": ISSUE:"));
	fclose(f);
	return n;
}

static int as_issued(const char *who)
{
	return kdc_count("AS_REQ", who, true);
}

static int as_any(const char *who)
{
	return kdc_count("AS_REQ", who, false);
}

/* ---- credentials ------------------------------------------------------------------ */

static struct wb_cred_meta password_meta(const char *name, const char *user, const char *domain)
{
	struct wb_cred_meta m;

	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s", name);
	m.scope = WB_SCOPE_PERSONAL;
	m.owner = 1000;
	m.kind = WB_CRED_PASSWORD;
	snprintf(m.user, sizeof(m.user), "%s", user);
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	m.created = m.updated = 1700000000;
	return m;
}

static struct wb_secret *password_secret(const char *password)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_PASSWORD);
	uint8_t *p = NULL;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(wb_secret_set(&p, NULL, password, strlen(password)), 0);
	s->password = (char *)p;
	return s;
}

static size_t load_file(const char *path, uint8_t *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, size, f);
	fclose(f);
	return n;
}

static struct wb_secret *keytab_secret(const uint8_t *bytes, size_t n)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_KEYTAB);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(wb_secret_set(&s->keytab, &s->keytab_len, bytes, n), 0);
	return s;
}

static struct wb_secret *bed_keytab_secret(void)
{
	uint8_t buf[4096];
	size_t n = load_file(bed.keytab, buf, sizeof(buf));
	struct wb_secret *s;

	ck_assert_uint_gt(n, 2);
	s = keytab_secret(buf, n);
	sodium_memzero(buf, sizeof(buf));
	return s;
}

static struct wb_tickets *tickets(void)
{
	struct wb_tickets *t = NULL;
	struct wb_error err;

	ck_assert_int_eq(wb_tickets_new(&t, &err), 0);
	return t;
}

static void get_ok(struct wb_tickets *t, const struct wb_cred_meta *m,
		   const struct wb_secret *s, bool fwd, char ccname[WB_CCNAME_MAX])
{
	struct wb_error err = { 0 };
	int rc = wb_tickets_ccache(t, m, s, fwd, ccname, WB_CCNAME_MAX, &err);

	ck_assert_msg(rc == 0, "wb_tickets_ccache: %d %s", rc, err.msg);
}

/* ---- what a ccache holds ------------------------------------------------------------ */

struct tgt_info {
	bool has_principal, has_tgt;
	char principal[256];
	krb5_flags flags;
	int64_t endtime, renew_till;
};

/* Reads the ccache by name, as GSSAPI will; never creates one that is missing
 * (resolving a MEMORY name creates it, so an empty one is destroyed again). */
static struct tgt_info inspect(const char *ccname)
{
	struct tgt_info info;
	krb5_context ctx;
	krb5_ccache cc;
	krb5_principal p = NULL;
	krb5_cc_cursor cur;
	krb5_creds c;
	char *name = NULL;

	memset(&info, 0, sizeof(info));
	ck_assert_int_eq(krb5_init_context(&ctx), 0);
	ck_assert_int_eq(krb5_cc_resolve(ctx, ccname, &cc), 0);
	if (krb5_cc_get_principal(ctx, cc, &p) == 0) {
		info.has_principal = true;
		ck_assert_int_eq(krb5_unparse_name(ctx, p, &name), 0);
		snprintf(info.principal, sizeof(info.principal), "%s", name);
		krb5_free_unparsed_name(ctx, name);
		krb5_free_principal(ctx, p);
	}
	if (krb5_cc_start_seq_get(ctx, cc, &cur) == 0) {
		while (krb5_cc_next_cred(ctx, cc, &cur, &c) == 0) {
			if (krb5_is_config_principal(ctx, c.server) == 0 &&
			    c.server->length == 2 &&
			    c.server->data[0].length == 6 &&
			    memcmp(c.server->data[0].data, "krbtgt", 6) == 0) {
				info.has_tgt = true;
				info.flags = c.ticket_flags;
				info.endtime = (uint32_t)c.times.endtime;
				info.renew_till = (uint32_t)c.times.renew_till;
			}
			krb5_free_cred_contents(ctx, &c);
		}
		krb5_cc_end_seq_get(ctx, cc, &cur);
	}
	if (info.has_principal)
		krb5_cc_close(ctx, cc);
	else
		krb5_cc_destroy(ctx, cc);
	krb5_free_context(ctx);
	return info;
}

/* ---- tests ----------------------------------------------------------------------- */

START_TEST(test_password_tgt)
{
	struct wb_cred_meta m = password_meta("alice-pw", bed.user, bed.domain);
	struct wb_secret *s = password_secret(bed.password);
	struct wb_tickets *t = tickets();
	char cc[WB_CCNAME_MAX], path[600], want[128];
	int before = as_issued(bed.user);
	struct tgt_info info;
	int64_t now = (int64_t)time(NULL);

	get_ok(t, &m, s, false, cc);
	ck_assert_int_eq(as_issued(bed.user), before + 1);
	ck_assert_msg(strncmp(cc, "MEMORY:wb-", 10) == 0 && strlen(cc) == 42, "name %s", cc);
	info = inspect(cc);
	snprintf(want, sizeof(want), "%s@%s", bed.user, REALM);
	ck_assert(info.has_principal);
	ck_assert_str_eq(info.principal, want);
	ck_assert(info.has_tgt);
	/* The bed's realm gives 10 hours. */
	ck_assert_int_gt(info.endtime, now + 9 * 3600);
	/* Not forwardable unless asked, although the bed's krb5.conf says forwardable. */
	ck_assert(!(info.flags & TKT_FLG_FORWARDABLE));
	/* Nothing in the environment, nothing in the default (FILE) ccache. */
	ck_assert_ptr_null(getenv("KRB5CCNAME"));
	snprintf(path, sizeof(path), "%s/krb5cc_default", bedfix_dir());
	ck_assert_int_ne(access(path, F_OK), 0);
	wb_tickets_free(t);
	/* Freed: the ccache is gone. */
	ck_assert(!inspect(cc).has_principal);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_reused_without_as_req)
{
	struct wb_cred_meta m = password_meta("alice-reuse", bed.user, "");
	struct wb_secret *s = password_secret(bed.password);
	struct wb_tickets *t = tickets();
	char first[WB_CCNAME_MAX], cc[WB_CCNAME_MAX];
	int before = as_any(bed.user), after_first, i;

	get_ok(t, &m, s, false, first);
	after_first = as_any(bed.user);
	ck_assert_int_eq(after_first, before + 1);
	for (i = 2; i <= 10; i++) {
		get_ok(t, &m, s, false, cc);
		ck_assert_str_eq(cc, first);
		/* the second and the tenth call, and every one between */
		ck_assert_int_eq(as_any(bed.user), after_first);
	}
	ck_assert(inspect(first).has_tgt);
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_forwardable_is_its_own_ticket)
{
	struct wb_cred_meta m = password_meta("alice-fwd", bed.user, "");
	struct wb_secret *s = password_secret(bed.password);
	struct wb_tickets *t = tickets();
	char plain[WB_CCNAME_MAX], fwd[WB_CCNAME_MAX], again[WB_CCNAME_MAX];
	int before = as_issued(bed.user);

	get_ok(t, &m, s, false, plain);
	get_ok(t, &m, s, true, fwd);
	ck_assert_str_ne(plain, fwd);
	ck_assert_int_eq(as_issued(bed.user), before + 2);
	ck_assert(inspect(fwd).flags & TKT_FLG_FORWARDABLE);
	ck_assert(!(inspect(plain).flags & TKT_FLG_FORWARDABLE));
	get_ok(t, &m, s, true, again);
	ck_assert_str_eq(again, fwd);
	ck_assert_int_eq(as_issued(bed.user), before + 2);
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_replaced_credential_gets_a_new_ticket)
{
	struct wb_cred_meta m = password_meta("alice-repl", bed.user, "");
	struct wb_secret *s = password_secret(bed.password);
	struct wb_tickets *t = tickets();
	char old[WB_CCNAME_MAX], cc[WB_CCNAME_MAX];
	int before = as_issued(bed.user);

	get_ok(t, &m, s, false, old);
	m.updated++;
	get_ok(t, &m, s, false, cc);
	ck_assert_str_ne(cc, old);
	ck_assert_int_eq(as_issued(bed.user), before + 2);
	ck_assert(inspect(cc).has_tgt);
	/* The old version's ticket was destroyed, not left behind. */
	ck_assert(!inspect(old).has_principal);
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_forget_destroys)
{
	struct wb_cred_meta m = password_meta("alice-forget", bed.user, "");
	struct wb_cred_meta other = password_meta("bob-kept", bed.user2, "");
	struct wb_secret *s = password_secret(bed.password), *s2 = password_secret(bed.password2);
	struct wb_tickets *t = tickets();
	char a[WB_CCNAME_MAX], b[WB_CCNAME_MAX], kept[WB_CCNAME_MAX], cc[WB_CCNAME_MAX];
	int before;

	get_ok(t, &m, s, false, a);
	get_ok(t, &m, s, true, b);
	get_ok(t, &other, s2, false, kept);
	wb_tickets_forget(t, &m);
	ck_assert(!inspect(a).has_principal);
	ck_assert(!inspect(b).has_principal);
	ck_assert(inspect(kept).has_tgt);
	before = as_issued(bed.user);
	get_ok(t, &m, s, false, cc);
	ck_assert_str_ne(cc, a);
	ck_assert_int_eq(as_issued(bed.user), before + 1);
	wb_tickets_forget(t, &m);
	wb_tickets_forget(t, &m);	/* nothing left: a no-op */
	wb_tickets_free(t);
	wb_secret_free(s);
	wb_secret_free(s2);
}
END_TEST

START_TEST(test_short_life_reacquired_long_life_not)
{
	struct wb_cred_meta m = password_meta("short", "shortlife", "");
	struct wb_cred_meta lm = password_meta("long", bed.user, "");
	struct wb_secret *s = password_secret(short_pw), *ls = password_secret(bed.password);
	struct wb_tickets *t = tickets();
	char first[WB_CCNAME_MAX], cc[WB_CCNAME_MAX];
	int before = as_issued("shortlife"), lbefore = as_issued(bed.user), i;
	struct tgt_info info;
	int64_t now = (int64_t)time(NULL);

	get_ok(t, &m, s, false, first);
	info = inspect(first);
	ck_assert(info.has_tgt);
	ck_assert_int_le(info.endtime, now + 31);
	ck_assert(!(info.flags & TKT_FLG_RENEWABLE));
	/* 30 s of life is inside the 5-minute margin: every call gets a new one,
	 * in the same ccache. */
	for (i = 2; i <= 4; i++) {
		get_ok(t, &m, s, false, cc);
		ck_assert_str_eq(cc, first);
		ck_assert_int_eq(as_issued("shortlife"), before + i);
		ck_assert(inspect(cc).has_tgt);
	}
	for (i = 1; i <= 4; i++)
		get_ok(t, &lm, ls, false, cc);
	ck_assert_int_eq(as_issued(bed.user), lbefore + 1);
	wb_tickets_free(t);
	wb_secret_free(s);
	wb_secret_free(ls);
}
END_TEST

START_TEST(test_renewable_is_renewed)
{
	struct wb_cred_meta m = password_meta("renew", "shortrenew", "");
	struct wb_secret *s = password_secret(renew_pw);
	struct wb_tickets *t;
	char first[WB_CCNAME_MAX], cc[WB_CCNAME_MAX];
	int as0, tgs0, i;
	struct tgt_info info;
	int64_t now = (int64_t)time(NULL);

	/* This process only (each test runs in its own child). */
	setenv("KRB5_CONFIG", bed.renew_conf, 1);
	t = tickets();
	as0 = as_issued("shortrenew");
	tgs0 = kdc_count("TGS_REQ", "shortrenew", true);
	get_ok(t, &m, s, false, first);
	info = inspect(first);
	ck_assert(info.flags & TKT_FLG_RENEWABLE);
	ck_assert_int_gt(info.renew_till, now + 3600);
	ck_assert_int_eq(as_issued("shortrenew"), as0 + 1);
	for (i = 1; i <= 3; i++) {
		get_ok(t, &m, s, false, cc);
		ck_assert_str_eq(cc, first);
		/* Renewed with a TGS exchange; no new AS exchange. */
		ck_assert_int_eq(kdc_count("TGS_REQ", "shortrenew", true), tgs0 + i);
		ck_assert_int_eq(as_issued("shortrenew"), as0 + 1);
		ck_assert(inspect(cc).has_tgt);
	}
	wb_tickets_free(t);
	wb_secret_free(s);
	setenv("KRB5_CONFIG", bed.krb5_conf, 1);
}
END_TEST

START_TEST(test_keytab_credential)
{
	struct wb_cred_meta m = password_meta("kt", "ktuser", "");
	struct wb_secret *s = bed_keytab_secret();
	struct wb_tickets *t = tickets();
	char cc[WB_CCNAME_MAX], cc2[WB_CCNAME_MAX];
	int before = as_issued("ktuser");
	struct tgt_info info;

	m.kind = WB_CRED_KEYTAB;
	get_ok(t, &m, s, false, cc);
	info = inspect(cc);
	ck_assert(info.has_tgt);
	ck_assert_str_eq(info.principal, "ktuser@" REALM);
	ck_assert_int_eq(as_issued("ktuser"), before + 1);
	get_ok(t, &m, s, false, cc2);
	ck_assert_str_eq(cc2, cc);
	ck_assert_int_eq(as_issued("ktuser"), before + 1);
	/* No user: the keytab's own principal. */
	m.user[0] = '\0';
	snprintf(m.name, sizeof(m.name), "kt-nouser");
	get_ok(t, &m, s, false, cc);
	ck_assert_str_eq(inspect(cc).principal, "ktuser@" REALM);
	ck_assert_int_eq(as_issued("ktuser"), before + 2);
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

struct kt_seen {
	int n;
	char last[128];
	uint32_t vno;
};

static int on_kt_entry(void *arg, const struct wb_keytab_entry *e)
{
	struct kt_seen *k = arg;

	k->n++;
	snprintf(k->last, sizeof(k->last), "%.*s@%.*s", (int)e->components[0].len,
		 (const char *)e->components[0].p, (int)e->realm.len, (const char *)e->realm.p);
	k->vno = e->vno;
	return 0;
}

START_TEST(test_keytab_parser)
{
	uint8_t buf[4096], holed[4200];
	size_t n = load_file(bed.keytab, buf, sizeof(buf));
	struct kt_seen k = { 0 };
	struct wb_error err = { 0 };
	static const uint8_t huge_hole[] = { 0x05, 0x02, 0x80, 0x00, 0x00, 0x00 };

	/* ktadd wrote one entry per enctype of the realm (AES256, AES128). */
	ck_assert_int_eq(wb_keytab_parse(buf, n, on_kt_entry, &k, &err), 2);
	ck_assert_str_eq(k.last, "ktuser@" REALM);
	ck_assert_uint_ge(k.vno, 2);
	/* A hole left by a deleted entry is skipped. */
	memcpy(holed, buf, 2);
	memcpy(holed + 2, "\xff\xff\xff\xf6", 4);	/* -10 */
	memset(holed + 6, 0, 10);
	memcpy(holed + 16, buf + 2, n - 2);
	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(wb_keytab_parse(holed, n + 14, on_kt_entry, &k, &err), 2);
	/* Every cut of it is malformed or shorter, never read past the end. */
	for (size_t cut = 0; cut < n; cut++) {
		int rc = wb_keytab_parse(buf, cut, NULL, NULL, &err);

		ck_assert_msg(rc == -WB_E_INVALID || (rc >= 0 && rc < 2), "cut %zu: %d", cut, rc);
	}
	ck_assert_int_eq(wb_keytab_parse(huge_hole, sizeof(huge_hole), NULL, NULL, &err),
			 -WB_E_INVALID);
	ck_assert_int_eq(wb_keytab_parse((const uint8_t *)"\x05\x01", 2, NULL, NULL, &err),
			 -WB_E_INVALID);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(holed, sizeof(holed));
}
END_TEST

static void expect_error(struct wb_tickets *t, const struct wb_cred_meta *m,
			 const struct wb_secret *s, int code, const char *words)
{
	struct wb_error err = { 0 };
	char cc[WB_CCNAME_MAX] = "";
	int rc = wb_tickets_ccache(t, m, s, false, cc, sizeof(cc), &err);

	ck_assert_msg(rc == -code && err.code == code, "want %d, got %d: %s", code, rc, err.msg);
	printf("  %s: %s\n", wb_errcode_name(code), err.msg);	/* shows in the test log */
	ck_assert_msg(strstr(err.msg, words), "'%s' not in: %s", words, err.msg);
	if (s && s->password)
		ck_assert_msg(!strstr(err.msg, s->password), "password in: %s", err.msg);
	ck_assert_str_eq(cc, "");
}

START_TEST(test_keytab_errors)
{
	struct wb_cred_meta m = password_meta("kt-bad", "bob", "");
	struct wb_secret *s = bed_keytab_secret(), *cut, *junk;
	struct wb_tickets *t = tickets();

	m.kind = WB_CRED_KEYTAB;
	expect_error(t, &m, s, WB_E_AUTH, "no key for this principal in the keytab");
	cut = keytab_secret(s->keytab, s->keytab_len / 2);
	snprintf(m.user, sizeof(m.user), "ktuser");
	expect_error(t, &m, cut, WB_E_INVALID, "keytab: entry");
	junk = keytab_secret((const uint8_t *)"not a keytab", 12);
	expect_error(t, &m, junk, WB_E_INVALID, "not a keytab");
	wb_tickets_free(t);
	wb_secret_free(s);
	wb_secret_free(cut);
	wb_secret_free(junk);
}
END_TEST

START_TEST(test_principal_forms)
{
	struct wb_secret *s = password_secret(bed.password);
	struct wb_tickets *t = tickets();
	char cc[WB_CCNAME_MAX], user[128];
	struct wb_cred_meta m;

	/* user@realm in lower case, and a DNS domain: the realm in capitals. */
	snprintf(user, sizeof(user), "%s@winrm.test", bed.user);
	m = password_meta("f1", user, "");
	get_ok(t, &m, s, false, cc);
	ck_assert_str_eq(inspect(cc).principal, "alice@" REALM);
	m = password_meta("f2", bed.user, "winrm.test");
	get_ok(t, &m, s, false, cc);
	ck_assert_str_eq(inspect(cc).principal, "alice@" REALM);
	/* A NetBIOS domain is not a realm: the default realm. */
	m = password_meta("f3", bed.user, "WINRMTEST");
	get_ok(t, &m, s, false, cc);
	ck_assert_str_eq(inspect(cc).principal, "alice@" REALM);
	/* DOMAIN\user is no principal. */
	snprintf(user, sizeof(user), "WINRMTEST\\%s", bed.user);
	m = password_meta("f4", user, "");
	expect_error(t, &m, s, WB_E_INVALID, "NetBIOS logon name");
	m = password_meta("f5", "@" REALM, "");
	expect_error(t, &m, s, WB_E_INVALID, "not a principal");
	/* A realm krb5.conf does not know. */
	m = password_meta("f6", "alice@NOWHERE.EXAMPLE", "");
	expect_error(t, &m, s, WB_E_CONFIG, "realm not found in krb5.conf");
	/* A certificate cannot get a ticket. */
	m = password_meta("f7", bed.user, "");
	m.kind = WB_CRED_CERTIFICATE;
	expect_error(t, &m, s, WB_E_UNSUPPORTED, "PKINIT");
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_wrong_password)
{
	struct wb_cred_meta m = password_meta("alice-wrong", bed.user, "");
	struct wb_secret *s = password_secret("Wrong-Pw-5f3c9e");
	struct wb_tickets *t = tickets();

	expect_error(t, &m, s, WB_E_AUTH, "wrong password");
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_unknown_principal)
{
	struct wb_cred_meta m = password_meta("nobody", "nosuchuser", "");
	struct wb_secret *s = password_secret("whatever-9");
	struct wb_tickets *t = tickets();

	expect_error(t, &m, s, WB_E_AUTH, "unknown client principal");
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_expired_password)
{
	struct wb_cred_meta m = password_meta("expired", "expuser", "");
	struct wb_secret *s = password_secret(expired_pw);
	struct wb_tickets *t = tickets();

	expect_error(t, &m, s, WB_E_AUTH, "expired password");
	wb_tickets_free(t);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_named_hints)
{
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5KRB_AP_ERR_SKEW),
				     "clocks differ by more than 5 minutes; sync time (chrony/ntp)"));
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN),
				     "SPN not found: register HTTP/<host> or set "
				     "kerberos_hostname_override"));
	/* A GSSAPI minor status carries the same 32 bits as an OM_uint32. */
	ck_assert_str_eq(wb_krb5_hint((long)(uint32_t)KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN),
			 wb_krb5_hint(KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN));
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5KDC_ERR_PREAUTH_FAILED), "wrong password"));
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5KRB_AP_ERR_BAD_INTEGRITY), "wrong password"));
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5KDC_ERR_KEY_EXP), "expired password"));
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5_KDC_UNREACH), "KDC unreachable"));
	ck_assert_ptr_nonnull(strstr(wb_krb5_hint(KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN),
				     "unknown client principal"));
	ck_assert_ptr_null(wb_krb5_hint(0));
	ck_assert_ptr_null(wb_krb5_hint(KRB5_CC_NOMEM));
	ck_assert_int_eq(wb_krb5_errcode(KRB5KRB_AP_ERR_SKEW), WB_E_AUTH);
	ck_assert_int_eq(wb_krb5_errcode(KRB5_KDC_UNREACH), WB_E_CONNECT);
	ck_assert_int_eq(wb_krb5_errcode(KRB5_REALM_CANT_RESOLVE), WB_E_CONFIG);
	ck_assert_int_eq(wb_krb5_errcode(ETIMEDOUT), WB_E_TIMEOUT);
	ck_assert_int_eq(wb_krb5_errcode(KRB5KDC_ERR_NONE + 60), WB_E_AUTH);
	ck_assert_int_eq(wb_krb5_errcode(KRB5_CC_NOMEM), WB_E_INTERNAL);
}
END_TEST

/* ---- eight threads, one credential ------------------------------------------------- */

#define N_THREADS 8

static struct {
	pthread_barrier_t go;
	struct wb_tickets *t;
	struct wb_cred_meta meta;
	struct wb_secret *sec;
	char cc[N_THREADS][WB_CCNAME_MAX];
	int rc[N_THREADS];
} conc;

static void *conc_thread(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct wb_error err;

	pthread_barrier_wait(&conc.go);
	conc.rc[i] = wb_tickets_ccache(conc.t, &conc.meta, conc.sec, false, conc.cc[i],
				       WB_CCNAME_MAX, &err);
	return NULL;
}

START_TEST(test_eight_threads_one_as_req)
{
	pthread_t th[N_THREADS];
	int before, i;

	conc.t = tickets();
	conc.meta = password_meta("bob-conc", bed.user2, "");
	conc.sec = password_secret(bed.password2);
	ck_assert_int_eq(pthread_barrier_init(&conc.go, NULL, N_THREADS), 0);
	before = as_any(bed.user2);
	for (i = 0; i < N_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_thread, (void *)(intptr_t)i), 0);
	for (i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < N_THREADS; i++) {
		ck_assert_int_eq(conc.rc[i], 0);
		ck_assert_str_eq(conc.cc[i], conc.cc[0]);
	}
	ck_assert_int_eq(as_any(bed.user2), before + 1);
	ck_assert(inspect(conc.cc[0]).has_tgt);
	pthread_barrier_destroy(&conc.go);
	wb_tickets_free(conc.t);
	wb_secret_free(conc.sec);
}
END_TEST

/* ---- the KDC stopped (last: the bed's KDC does not come back) ---------------------- */

/* The bed's krb5kdc, only if the recorded start time still matches (bedlib's rule). */
static pid_t bed_kdc_pid(void)
{
	char path[600], text[1024], stat[1024], *p;
	long pid;
	unsigned long long start, now_start;
	FILE *f;
	size_t n;
	int i;

	snprintf(path, sizeof(path), "%s/pids", bedfix_dir());
	n = load_file(path, (uint8_t *)text, sizeof(text) - 1);
	text[n] = '\0';
	p = strstr(text, "\"name\": \"krb5kdc\"");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "\"name\": \"krb5kdc\", \"pid\": %ld, \"start\": %llu", &pid,
				&start), 2);
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	p = strrchr(stat, ')');
	ck_assert_ptr_nonnull(p);
	for (i = 0, p += 2; i < 19 && p; i++)	/* to field 22, starttime */
		if ((p = strchr(p, ' ')))
			p++;
	ck_assert_ptr_nonnull(p);
	now_start = strtoull(p, NULL, 10);
	ck_assert_msg(now_start == start, "pid %ld is no longer the bed's KDC", pid);
	return (pid_t)pid;
}

static bool kdc_answers(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)bed.kdc_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	close(fd);
	return ok;
}

START_TEST(test_kdc_stopped)
{
	struct wb_cred_meta held = password_meta("alice-held", bed.user, "");
	struct wb_cred_meta fresh = password_meta("bob-fresh", bed.user2, "");
	struct wb_secret *s = password_secret(bed.password), *s2 = password_secret(bed.password2);
	struct wb_tickets *t = tickets();
	char cc[WB_CCNAME_MAX], again[WB_CCNAME_MAX];
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	pid_t kdc = bed_kdc_pid();
	int i;

	get_ok(t, &held, s, false, cc);
	ck_assert_int_eq(kill(kdc, SIGTERM), 0);
	for (i = 0; i < 250 && kdc_answers(); i++)
		nanosleep(&nap, NULL);
	ck_assert(!kdc_answers());
	/* A ticket already held needs no KDC. */
	get_ok(t, &held, s, false, again);
	ck_assert_str_eq(again, cc);
	expect_error(t, &fresh, s2, WB_E_CONNECT, "KDC unreachable");
	wb_tickets_free(t);
	wb_secret_free(s);
	wb_secret_free(s2);
}
END_TEST

static Suite *tickets_suite(void)
{
	Suite *s = suite_create("krb5-tickets-bed");
	TCase *ok = tcase_create("tickets"), *bad = tcase_create("errors");
	TCase *last = tcase_create("kdc-stopped");

	tcase_add_test(ok, test_password_tgt);
	tcase_add_test(ok, test_reused_without_as_req);
	tcase_add_test(ok, test_forwardable_is_its_own_ticket);
	tcase_add_test(ok, test_replaced_credential_gets_a_new_ticket);
	tcase_add_test(ok, test_forget_destroys);
	tcase_add_test(ok, test_short_life_reacquired_long_life_not);
	tcase_add_test(ok, test_renewable_is_renewed);
	tcase_add_test(ok, test_keytab_credential);
	tcase_add_test(ok, test_keytab_parser);
	tcase_add_test(ok, test_eight_threads_one_as_req);
	tcase_add_test(bad, test_keytab_errors);
	tcase_add_test(bad, test_principal_forms);
	tcase_add_test(bad, test_wrong_password);
	tcase_add_test(bad, test_unknown_principal);
	tcase_add_test(bad, test_expired_password);
	tcase_add_test(bad, test_named_hints);
	tcase_add_test(last, test_kdc_stopped);
	tcase_set_timeout(ok, 30);
	tcase_set_timeout(bad, 30);
	tcase_set_timeout(last, 60);
	suite_add_tcase(s, ok);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, last);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0)
		return 1;
	if (bed_up() < 0) {
		fprintf(stderr, "tests/bed/up or the test principals failed\n");
		bedfix_down();
		return 1;
	}
	sr = srunner_create(tickets_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	bedfix_down();
	return failed ? 1 : 0;
}
