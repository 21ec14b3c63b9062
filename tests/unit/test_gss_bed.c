/*
 * The GSSAPI transports (brokerd/auth_kerberos.c, auth_ntlm.c,
 * auth_negotiate.c over auth_gss.c and msgenc.c) against the embedded bed:
 * a real MIT KDC and the test host's gss-ntlmssp and krb5 acceptors.
 *
 * For kerberos, ntlm and negotiate, a command runs over HTTP with message
 * encryption, HTTPS with channel binding, HTTPS without it, and HTTPS in
 * the test host's strict CBT mode; the test host's log says which
 * mechanism authenticated, whether the binding was seen and whether every
 * message was sealed. The KDC log says how many AS-REQs and TGS-REQs the
 * runs cost. Then re-authentication (fail_401_after), delegation, and the
 * failures: wrong password, unknown SPN, stopped KDC (the last test: it
 * kills the bed's KDC). The bed is taken down on every exit path.
 */
#include <check.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "bedfix.h"
#include "krb5_tickets.h"
#include "winrm/shell.h"

extern char **environ;

/* ---- the bed ---------------------------------------------------------------------- */

static struct wb_tickets *tickets;

static struct {
	char host[64], user[64], password[128], ca[512], log[512], kdc_log[512];
	char realm[64], domain[64], krb5_config[512];
	unsigned https_port, http_port;
} bed;

static int bed_up(void)
{
	char port[16] = "", hport[16] = "";

	if (bedfix_up("gss") < 0)
		return -1;
	bedfix_env("WINRM_HOST", bed.host, sizeof(bed.host));
	bedfix_env("WINRM_USER", bed.user, sizeof(bed.user));
	bedfix_env("WINRM_PASSWORD", bed.password, sizeof(bed.password));
	bedfix_env("WINRM_CA_CERT", bed.ca, sizeof(bed.ca));
	bedfix_env("WINRM_TESTHOST_LOG", bed.log, sizeof(bed.log));
	bedfix_env("WINRM_KDC_LOG", bed.kdc_log, sizeof(bed.kdc_log));
	bedfix_env("WINRM_REALM", bed.realm, sizeof(bed.realm));
	bedfix_env("WINRM_DOMAIN", bed.domain, sizeof(bed.domain));
	bedfix_env("KRB5_CONFIG", bed.krb5_config, sizeof(bed.krb5_config));
	bedfix_env("WINRM_HTTPS_PORT", port, sizeof(port));
	bedfix_env("WINRM_HTTP_PORT", hport, sizeof(hport));
	bed.https_port = (unsigned)atoi(port);
	bed.http_port = (unsigned)atoi(hport);
	return bed.https_port && bed.http_port && bed.password[0] && bed.kdc_log[0] &&
	       bed.krb5_config[0] ? 0 : -1;
}

/* The KDC's pid from DIR/pids ({"name": "krb5kdc", "pid": N, ...}). */
static pid_t kdc_pid(void)
{
	char path[600], buf[4096];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pids", bedfix_dir());
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strstr(buf, "\"krb5kdc\"");
	ck_assert_ptr_nonnull(p);
	p = strstr(p, "\"pid\": ");
	ck_assert_ptr_nonnull(p);
	return (pid_t)atoi(p + 7);
}

/* ---- logs ------------------------------------------------------------------------------ */

#define MAX_CONNS 16

/* What the test host saw since an offset of its log. */
struct seen {
	int n_auth, n_auth_fail, n_messages, n_plain, n_401_switch, n_commands;
	char mechanism[32], spnego[8], cbt_seen[8], delegation[8], protocol[80];
	bool mixed_mechanism, mixed_protocol, mixed_cbt;
	char conns[MAX_CONNS][16];	/* distinct connections of messages */
	char rx_conn[16];		/* Create, Command, Receive, Delete */
	bool rx_mixed;
	int n_conns, auths_per_conn[MAX_CONNS];
	char auth_fail[256];
};

static int conn_index(struct seen *s, const char *conn, bool add)
{
	int i;

	for (i = 0; i < s->n_conns; i++)
		if (strcmp(s->conns[i], conn) == 0)
			return i;
	if (!add || s->n_conns == MAX_CONNS)
		return -1;
	snprintf(s->conns[s->n_conns], sizeof(s->conns[0]), "%s", conn);
	return s->n_conns++;
}

static void note(char *field, size_t size, const char *v, bool *mixed)
{
	size_t n = strnlen(v, size - 1);

	if (field[0] && strcmp(field, v) != 0)
		*mixed = true;
	memcpy(field, v, n);
	field[n] = '\0';
}

/*
 * The events of this run's connections. A run that ends while its stdin
 * connection is still busy (End sent, the command already done) leaves
 * that request to finish on the host after the run, in the next run's
 * part of the log. The host numbers connections as it accepts them, so
 * this run's are the one that carried its Create and those after it.
 */
static int first_conn(const char *buf)
{
	const char *line, *next;
	char v[256], conn[16];

	for (line = buf; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] ? 1 : 0);
		if (bedfix_jget(line, len, "event", v, sizeof(v)) && strcmp(v, "message") == 0 &&
		    bedfix_jget(line, len, "action", v, sizeof(v)) &&
		    strstr(v, "/transfer/Create") &&
		    bedfix_jget(line, len, "conn", conn, sizeof(conn)))
			return atoi(conn);
	}
	return -1;
}

static void read_seen(long offset, struct seen *s)
{
	char *buf = bedfix_file_since(bed.log, offset), *line, *next, v[256], conn[16];
	int pass, i, first = first_conn(buf);

	memset(s, 0, sizeof(*s));
	for (pass = 0; pass < 2; pass++) {
		for (line = buf; *line; line = next) {
			size_t len = strcspn(line, "\n");

			next = line + len + (line[len] ? 1 : 0);
			if (!bedfix_jget(line, len, "event", v, sizeof(v)))
				continue;
			if (pass == 0) {
				if (strcmp(v, "message") == 0 &&
				    bedfix_jget(line, len, "action", v, sizeof(v)) &&
				    strcmp(v, "null") &&
				    bedfix_jget(line, len, "conn", conn, sizeof(conn)) &&
				    first >= 0 &&
				    atoi(conn) >= first)
					conn_index(s, conn, true);
				continue;
			}
			if (strcmp(v, "fault_switch") == 0 &&
			    bedfix_jget(line, len, "switch", v, sizeof(v)) &&
			    strcmp(v, "fail_401_after") == 0) {
				s->n_401_switch++;
				continue;
			}
			if (strcmp(v, "command") == 0) {
				s->n_commands++;
				continue;
			}
			if (!bedfix_jget(line, len, "conn", conn, sizeof(conn)) ||
			    (i = conn_index(s, conn, false)) < 0)
				continue;	/* another run's connection */
			if (strcmp(v, "auth") == 0) {
				s->n_auth++;
				s->auths_per_conn[i]++;
				if (bedfix_jget(line, len, "mechanism", v, sizeof(v)))
					note(s->mechanism, sizeof(s->mechanism), v,
					     &s->mixed_mechanism);
				bedfix_jget(line, len, "spnego", s->spnego, sizeof(s->spnego));
				if (bedfix_jget(line, len, "cbt_seen", v, sizeof(v)))
					note(s->cbt_seen, sizeof(s->cbt_seen), v, &s->mixed_cbt);
				bedfix_jget(line, len, "delegation", s->delegation,
					    sizeof(s->delegation));
			} else if (strcmp(v, "auth_fail") == 0) {
				s->n_auth_fail++;
				bedfix_jget(line, len, "reason", s->auth_fail,
					    sizeof(s->auth_fail));
			} else if (strcmp(v, "message") == 0 &&
				   bedfix_jget(line, len, "action", v, sizeof(v)) &&
				   strcmp(v, "null") != 0) {
				s->n_messages++;
				if (bedfix_jget(line, len, "encrypted", v, sizeof(v)) &&
				    strcmp(v, "true"))
					s->n_plain++;
				if (bedfix_jget(line, len, "protocol", v, sizeof(v)))
					note(s->protocol, sizeof(s->protocol), v, &s->mixed_protocol);
				if (!memmem(line, len, "/Send\"", 6) &&
				    !memmem(line, len, "/Signal\"", 8))
					note(s->rx_conn, sizeof(s->rx_conn), conn, &s->rx_mixed);
			}
		}
	}
	free(buf);
}

/* AS-REQ and TGS-REQ lines of the KDC log since an offset. */
static void kdc_requests(long offset, int *as_req, int *tgs_req)
{
	char *buf = bedfix_file_since(bed.kdc_log, offset), *p;

	*as_req = *tgs_req = 0;
	for (p = buf; (p = strstr(p, "AS_REQ")); p++)
		(*as_req)++;
	for (p = buf; (p = strstr(p, "TGS_REQ")); p++)
		(*tgs_req)++;
	free(buf);
}

/* ---- credentials, targets, runs ---------------------------------------------------------- */

static struct wb_cred_meta meta;
static struct wb_target target;

/* kind 'k': alice with the realm (Kerberos); 'n': alice with the NetBIOS
 * domain (NTLM); 'b': WINRMTEST\alice (only NTLM can use it). */
static struct wb_secret *cred(char kind, const char *name, const char *password)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_PASSWORD);
	uint8_t *p = NULL;

	memset(&meta, 0, sizeof(meta));
	snprintf(meta.name, sizeof(meta.name), "%s", name);
	meta.scope = WB_SCOPE_SHARED;
	meta.kind = WB_CRED_PASSWORD;
	meta.updated = 1;
	if (kind == 'b') {
		snprintf(meta.user, sizeof(meta.user), "%s\\%s", bed.domain, bed.user);
	} else {
		snprintf(meta.user, sizeof(meta.user), "%s", bed.user);
		snprintf(meta.domain, sizeof(meta.domain), "%s", kind == 'k' ? bed.realm : bed.domain);
	}
	ck_assert_int_eq(wb_secret_set(&p, NULL, password, strlen(password)), 0);
	s->password = (char *)p;
	return s;
}

enum wire { HTTP_ENC, HTTPS_CBT, HTTPS_NO_CBT, HTTPS_STRICT };

static const char *wire_name(enum wire w)
{
	static const char *const names[] = { "http+encryption", "https+cbt", "https-no-cbt",
					     "https+strict-cbt" };
	return names[w];
}

static void set_target(enum wb_transport tr, enum wire w)
{
	wb_target_defaults(&target);
	snprintf(target.host, sizeof(target.host), "%s", bed.host);
	target.https = w != HTTP_ENC;
	target.port = target.https ? bed.https_port : bed.http_port;
	target.transports[0] = tr;
	target.n_transports = 1;
	target.send_cbt = w != HTTPS_NO_CBT;
	snprintf(target.ca_trust_path, sizeof(target.ca_trust_path), "%s", bed.ca);
}

static int run(const struct wb_secret *s, const char *cmd, struct bedfix_out *o,
	       struct wb_error *err)
{
	return bedfix_run(&target, &meta, s, tickets, cmd, o, err);
}

/* ---- the matrix ---------------------------------------------------------------------------- */

struct mech_case {
	enum wb_transport tr;
	char cred_kind;
	const char *mechanism, *spnego, *protocol;
};

static const struct mech_case cases[] = {
	{ WB_TRANSPORT_KERBEROS, 'k', "kerberos", "false",
	  "application/HTTP-Kerberos-session-encrypted" },
	{ WB_TRANSPORT_NTLM, 'n', "ntlm", "false", "application/HTTP-SPNEGO-session-encrypted" },
	{ WB_TRANSPORT_NEGOTIATE, 'k', "kerberos", "true",
	  "application/HTTP-SPNEGO-session-encrypted" },
	{ WB_TRANSPORT_NEGOTIATE, 'b', "ntlm", "true",
	  "application/HTTP-SPNEGO-session-encrypted" },
};

static void check_run(const struct mech_case *c, enum wire w)
{
	struct wb_secret *s = cred(c->cred_kind, "matrix", bed.password);
	struct wb_error err;
	struct seen seen;
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	int i, rc;

	set_target(c->tr, w);
	if (w == HTTPS_STRICT)
		bedfix_set("{\"strict_cbt\": true}");
	rc = run(s, "echo hello from $(id -un); exit 4", &o, &err);
	if (w == HTTPS_STRICT)
		bedfix_set("{\"strict_cbt\": false}");
	ck_assert_msg(rc == 4, "%s over %s: rc %d: %s", wb_transport_name(c->tr), wire_name(w),
		      rc, err.msg);
	ck_assert_str_eq(o.text, "hello from nobody\n");
	read_seen(off, &seen);
	printf("%-9s (%c) over %-16s: %d auths on %d connections, mechanism %s, spnego %s, "
	       "cbt_seen %s, %d messages, %d plain, protocol %s\n", wb_transport_name(c->tr),
	       c->cred_kind, wire_name(w), seen.n_auth, seen.n_conns, seen.mechanism, seen.spnego,
	       seen.cbt_seen, seen.n_messages, seen.n_plain, seen.protocol);
	if (seen.n_auth_fail || seen.mixed_mechanism || seen.mixed_cbt) {
		char *log = bedfix_file_since(bed.log, off);

		printf("what the test host saw:\n%s", log);
		free(log);
	}
	ck_assert_int_eq(seen.n_auth_fail, 0);
	ck_assert(!seen.mixed_mechanism && !seen.mixed_cbt);
	ck_assert_str_eq(seen.mechanism, c->mechanism);
	ck_assert_str_eq(seen.spnego, c->spnego);
	ck_assert_str_eq(seen.cbt_seen, w == HTTP_ENC ? "null" : w == HTTPS_NO_CBT ? "false"
									       : "true");
	ck_assert_int_ge(seen.n_messages, 4);	/* Create, Command, Receive, Delete */
	if (w == HTTP_ENC) {
		ck_assert_int_eq(seen.n_plain, 0);	/* every message sealed */
		ck_assert(!seen.mixed_protocol);
		ck_assert_str_eq(seen.protocol, c->protocol);
	} else {
		ck_assert_int_eq(seen.n_plain, seen.n_messages);	/* auto: TLS only */
	}
	/* One connection kept alive for Create, Command, Receive and Delete;
	 * the one for Send (End may not be sent when the command is this
	 * quick): each connection authenticated once. */
	ck_assert(!seen.rx_mixed);
	ck_assert_int_le(seen.n_conns, 2);
	for (i = 0; i < seen.n_conns; i++)
		ck_assert_int_eq(seen.auths_per_conn[i], 1);
	wb_secret_free(s);
}

START_TEST(test_matrix)
{
	check_run(&cases[_i / 4], (enum wire)(_i % 4));
}
END_TEST

/* ---- tickets are reused ---------------------------------------------------------------------- */

START_TEST(test_no_new_tickets_for_later_commands)
{
	struct wb_secret *s = cred('k', "reuse", bed.password);
	struct wb_error err;
	struct bedfix_out o;
	int as, tgs, i, rc;
	long off;

	set_target(WB_TRANSPORT_KERBEROS, HTTP_ENC);
	off = bedfix_file_size(bed.kdc_log);
	ck_assert_msg((rc = run(s, "echo 1", &o, &err)) == 0, "%d: %s", rc, err.msg);
	kdc_requests(off, &as, &tgs);
	printf("first kerberos command: %d AS-REQ, %d TGS-REQ\n", as, tgs);
	ck_assert_int_ge(as, 1);
	ck_assert_int_eq(tgs, 1);	/* one service ticket serves both connections */
	off = bedfix_file_size(bed.kdc_log);
	for (i = 2; i <= 10; i++) {
		ck_assert_msg((rc = run(s, "echo more", &o, &err)) == 0, "%d: %s", rc, err.msg);
		ck_assert_str_eq(o.text, "more\n");
		kdc_requests(off, &as, &tgs);
		if (i == 2 || i == 10) {
			printf("commands 2..%d: %d AS-REQ, %d TGS-REQ\n", i, as, tgs);
			ck_assert_int_eq(as, 0);
			ck_assert_int_eq(tgs, 0);
		}
	}
	/* negotiate with the same credential: the same TGT and service ticket. */
	set_target(WB_TRANSPORT_NEGOTIATE, HTTPS_CBT);
	ck_assert_msg((rc = run(s, "echo nego", &o, &err)) == 0, "%d: %s", rc, err.msg);
	kdc_requests(off, &as, &tgs);
	ck_assert_int_eq(as + tgs, 0);
	wb_secret_free(s);
}
END_TEST

/* ---- a keytab credential ------------------------------------------------------------------- */

/* alice's keys into DIR/alice.keytab (-norandkey: her password stays valid). */
static void make_keytab(char *path, size_t size)
{
	char profile[600], query[700];
	char *argv[] = { "kadmin.local", "-q", query, NULL };
	pid_t pid;
	int status;

	snprintf(path, size, "%s/alice.keytab", bedfix_dir());
	snprintf(query, sizeof(query), "ktadd -k %s -norandkey %s", path, bed.user);
	snprintf(profile, sizeof(profile), "%s/kdc.conf", bedfix_dir());
	setenv("KRB5_KDC_PROFILE", profile, 1);
	ck_assert_int_eq(posix_spawnp(&pid, "kadmin.local", NULL, NULL, argv, environ), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(test_keytab_credential)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_KEYTAB);
	char path[600], buf[8192];
	struct wb_error err;
	struct seen seen;
	struct bedfix_out o;
	size_t n;
	long off;
	FILE *f;
	int rc, i;

	make_keytab(path, sizeof(path));
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	unlink(path);
	ck_assert_int_eq(wb_secret_set(&s->keytab, &s->keytab_len, buf, n), 0);
	sodium_memzero(buf, sizeof(buf));
	memset(&meta, 0, sizeof(meta));
	strcpy(meta.name, "alice-keytab");
	meta.scope = WB_SCOPE_SHARED;
	meta.kind = WB_CRED_KEYTAB;
	meta.updated = 1;
	snprintf(meta.user, sizeof(meta.user), "%s@%s", bed.user, bed.realm);
	for (i = 0; i < 2; i++) {
		set_target(i ? WB_TRANSPORT_NEGOTIATE : WB_TRANSPORT_KERBEROS, i ? HTTPS_CBT : HTTP_ENC);
		off = bedfix_file_size(bed.log);
		ck_assert_msg((rc = run(s, "echo keytab", &o, &err)) == 0, "%d: %s", rc, err.msg);
		ck_assert_str_eq(o.text, "keytab\n");
		read_seen(off, &seen);
		ck_assert_str_eq(seen.mechanism, "kerberos");
	}
	/* NTLM needs a password: a keytab does not fit it. */
	set_target(WB_TRANSPORT_NTLM, HTTP_ENC);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_UNSUPPORTED);
	wb_secret_free(s);
}
END_TEST

/* ---- message encryption options ----------------------------------------------------------------- */

START_TEST(test_encryption_always_over_https)
{
	struct wb_secret *s = cred('n', "enc", bed.password);
	struct wb_error err;
	struct seen seen;
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	int rc;

	set_target(WB_TRANSPORT_NTLM, HTTPS_CBT);
	target.message_encryption = WB_MSGENC_ALWAYS;
	ck_assert_msg((rc = run(s, "echo sealed", &o, &err)) == 0, "%d: %s", rc, err.msg);
	read_seen(off, &seen);
	ck_assert_int_ge(seen.n_messages, 4);
	ck_assert_int_eq(seen.n_plain, 0);
	ck_assert_str_eq(seen.cbt_seen, "true");
	wb_secret_free(s);
}
END_TEST

START_TEST(test_encryption_never_over_http_is_refused)
{
	struct wb_secret *s = cred('k', "never", bed.password);
	struct wb_error err;
	struct bedfix_out o;

	set_target(WB_TRANSPORT_KERBEROS, HTTP_ENC);
	target.message_encryption = WB_MSGENC_NEVER;
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "message_encryption"));
	printf("message_encryption=never over http: %s\n", err.msg);
	wb_secret_free(s);
}
END_TEST

/* stdin in several 64 KiB Sends, output back, all sealed. */
struct feed {
	struct bedfix_out o;		/* first: bedfix_on_output takes it */
	const uint8_t *p;
	size_t n, off;
	int fd;
};

static int feed_input(void *ctx, struct wb_input *ev)
{
	struct feed *f = ctx;
	size_t k = f->n - f->off;
	uint64_t v;

	memset(ev, 0, sizeof(*ev));
	if (k > 30000)
		k = 30000;
	ev->type = WB_INPUT_STDIN;
	ev->data = f->p + f->off;
	ev->len = k;
	f->off += k;
	ev->eof = f->off == f->n;
	if (ev->eof)	/* nothing more to read: the fd goes quiet */
		ck_assert_int_eq(read(f->fd, &v, sizeof(v)), sizeof(v));
	return 0;
}

START_TEST(test_stdin_sealed)
{
	struct wb_secret *s = cred('n', "stdin", bed.password);
	size_t n = 150000, i;
	uint8_t *in = malloc(n);
	struct feed f = { .p = in, .n = n, .fd = eventfd(1, 0) };
	struct wb_io io = { .ctx = &f, .on_output = bedfix_on_output, .next_input = feed_input,
			    .wait_fds = { f.fd, -1 }, .stdin_open = true, .tickets = tickets };
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	struct seen seen;
	long off = bedfix_file_size(bed.log);

	for (i = 0; i < n; i++)
		in[i] = (uint8_t)('a' + i % 26);
	set_target(WB_TRANSPORT_NTLM, HTTP_ENC);
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "wc", (const char *const[]){ "-c" }, 1, &io,
				   &res, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_str_eq(f.o.text, "150000\n");
	read_seen(off, &seen);
	ck_assert_int_ge(seen.n_messages, 8);	/* 3 Sends at least */
	ck_assert_int_eq(seen.n_plain, 0);
	close(f.fd);
	free(in);
	wb_secret_free(s);
}
END_TEST

/* 5 MB of output through sealed Receives: counted, timed. */
struct counter {
	struct bedfix_out o;		/* first: unused text */
	size_t total, bad;
};

static int count_output(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct counter *c = ctx;
	size_t i;

	for (i = 0; i < n; i++)
		c->bad += p[i] != "y\n"[(c->total + i) % 2];
	c->total += n;
	return stream == 1 ? 0 : 1;
}

static void stream_5mb(enum wb_transport tr, char kind)
{
	static const char *const args[] = { "|", "head", "-c", "5242880" };
	struct wb_secret *s = cred(kind, "stream", bed.password);
	struct counter c = { .total = 0 };
	struct wb_io io = { .ctx = &c, .on_output = count_output, .next_input = bedfix_no_input,
			    .wait_fds = { -1, -1 }, .tickets = tickets };
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	struct seen seen;
	long off = bedfix_file_size(bed.log);
	struct timespec t0, t1;

	set_target(tr, HTTP_ENC);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "yes", args, 4, &io, &res, &err) == 0,
		      "%s", err.msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(c.total, 5242880);
	ck_assert_uint_eq(c.bad, 0);
	read_seen(off, &seen);
	ck_assert_int_eq(seen.n_plain, 0);
	printf("5 MB stdout over http, %s, every message sealed: %.2f s, %d messages\n",
	       wb_transport_name(tr), (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, seen.n_messages);
	wb_secret_free(s);
}

START_TEST(test_5mb_sealed)
{
	stream_5mb(WB_TRANSPORT_KERBEROS, 'k');
	stream_5mb(WB_TRANSPORT_NTLM, 'n');
}
END_TEST

/* ---- re-authentication ---------------------------------------------------------------------------- */

static void reauth(enum wb_transport tr, char kind, enum wire w)
{
	struct wb_secret *s = cred(kind, "reauth", bed.password);
	struct wb_error err;
	struct seen seen;
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	int rc;

	set_target(tr, w);
	target.operation_timeout_sec = 1;	/* several Receives on the connection */
	bedfix_set("{\"fail_401_after\": 3}");
	rc = run(s, "sleep 3; echo survived", &o, &err);
	bedfix_set("{\"fail_401_after\": 0}");
	read_seen(off, &seen);
	printf("%s over %s with fail_401_after=3: rc %d, %d 401s, %d auths, %d messages\n",
	       wb_transport_name(tr), wire_name(w), rc, seen.n_401_switch, seen.n_auth,
	       seen.n_messages);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_str_eq(o.text, "survived\n");
	ck_assert_int_ge(seen.n_401_switch, 1);
	/* Each connection authenticated once, and once more after each 401. */
	ck_assert_int_eq(seen.n_auth, seen.n_conns + seen.n_401_switch);
	ck_assert_int_eq(seen.n_commands, 1);	/* the command ran once */
	ck_assert_int_eq(seen.n_plain, w == HTTP_ENC ? 0 : seen.n_messages);
	wb_secret_free(s);
}

START_TEST(test_reauth_after_401)
{
	reauth(WB_TRANSPORT_KERBEROS, 'k', HTTP_ENC);
	reauth(WB_TRANSPORT_NTLM, 'n', HTTP_ENC);
	reauth(WB_TRANSPORT_NEGOTIATE, 'k', HTTPS_CBT);
}
END_TEST

/* ---- delegation ------------------------------------------------------------------------------------ */

START_TEST(test_delegation_only_when_asked)
{
	struct wb_secret *s = cred('k', "deleg", bed.password);
	struct wb_error err;
	struct seen seen;
	struct bedfix_out o;
	long off;
	int rc;

	set_target(WB_TRANSPORT_KERBEROS, HTTPS_CBT);
	meta.flags = WB_CRED_F_DELEGATE;
	off = bedfix_file_size(bed.log);
	ck_assert_msg((rc = run(s, "echo d", &o, &err)) == 0, "%d: %s", rc, err.msg);
	read_seen(off, &seen);
	ck_assert_str_eq(seen.delegation, "false");	/* allowed, not asked */

	target.kerberos_delegation = true;
	off = bedfix_file_size(bed.log);
	ck_assert_msg((rc = run(s, "echo d", &o, &err)) == 0, "%d: %s", rc, err.msg);
	read_seen(off, &seen);
	ck_assert_str_eq(seen.delegation, "true");

	set_target(WB_TRANSPORT_NEGOTIATE, HTTP_ENC);
	target.kerberos_delegation = true;
	off = bedfix_file_size(bed.log);
	ck_assert_msg((rc = run(s, "echo d", &o, &err)) == 0, "%d: %s", rc, err.msg);
	read_seen(off, &seen);
	ck_assert_str_eq(seen.delegation, "true");

	/* Asked, but the credential does not allow it: refused before any I/O. */
	meta.flags = 0;
	off = bedfix_file_size(bed.log);
	ck_assert_int_eq(run(s, "echo d", &o, &err), -WB_E_DENIED);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not allow delegation"));
	read_seen(off, &seen);
	ck_assert_int_eq(seen.n_conns, 0);	/* not a message went out */
	wb_secret_free(s);
}
END_TEST

/* ---- failures ----------------------------------------------------------------------------------------- */

START_TEST(test_wrong_password)
{
	struct wb_secret *s = cred('k', "wrong-krb", "not-the-password-1");
	struct wb_error err;
	struct bedfix_out o;

	set_target(WB_TRANSPORT_KERBEROS, HTTP_ENC);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_AUTH);
	printf("kerberos, wrong password: %s\n", err.msg);
	ck_assert_ptr_nonnull(strcasestr(err.msg, "password"));
	ck_assert_ptr_null(strstr(err.msg, "not-the-password-1"));
	wb_secret_free(s);

	s = cred('n', "wrong-ntlm", "not-the-password-2");
	set_target(WB_TRANSPORT_NTLM, HTTP_ENC);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_AUTH);
	printf("ntlm, wrong password: %s\n", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "refused the NTLM credential"));
	ck_assert_ptr_nonnull(strstr(err.msg, "password"));
	ck_assert_ptr_null(strstr(err.msg, "not-the-password-2"));
	wb_secret_free(s);
}
END_TEST

START_TEST(test_unknown_spn)
{
	struct wb_secret *s = cred('k', "spn", bed.password);
	struct wb_error err;
	struct bedfix_out o;

	set_target(WB_TRANSPORT_KERBEROS, HTTPS_CBT);
	snprintf(target.kerberos_hostname_override, sizeof(target.kerberos_hostname_override),
		 "nosuchhost");
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_AUTH);
	printf("kerberos, unknown SPN: %s\n", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "HTTP/nosuchhost"));
	ck_assert_ptr_nonnull(strcasestr(err.msg, "SPN"));
	wb_secret_free(s);
}
END_TEST

/* Strict CBT (CbtHardeningLevel=Strict) and send_cbt off: refused, and said why. */
START_TEST(test_strict_cbt_without_binding)
{
	struct wb_secret *s = cred('k', "strict", bed.password);
	struct wb_error err;
	struct bedfix_out o;
	int rc;

	set_target(WB_TRANSPORT_KERBEROS, HTTPS_NO_CBT);
	bedfix_set("{\"strict_cbt\": true}");
	rc = run(s, "echo x", &o, &err);
	bedfix_set("{\"strict_cbt\": false}");
	printf("kerberos, strict CBT, send_cbt off: %s\n", err.msg);
	ck_assert_int_eq(rc, -WB_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "keep send_cbt on"));
	wb_secret_free(s);
}
END_TEST

START_TEST(test_stopped_kdc)
{
	struct wb_secret *s = cred('k', "kdc-down", bed.password);
	struct wb_error err;
	struct bedfix_out o;
	pid_t pid = kdc_pid();
	int rc;

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	while (kill(pid, 0) == 0)
		usleep(20000);
	set_target(WB_TRANSPORT_KERBEROS, HTTP_ENC);
	rc = run(s, "echo x", &o, &err);
	printf("kerberos, KDC stopped: %s\n", err.msg);
	ck_assert_int_eq(rc, -WB_E_CONNECT);
	ck_assert_ptr_nonnull(strstr(err.msg, "KDC"));
	wb_secret_free(s);
}
END_TEST

static Suite *gss_suite(void)
{
	Suite *s = suite_create("gss-bed");
	TCase *runs = tcase_create("runs"), *bad = tcase_create("failures");
	TCase *last = tcase_create("kdc-stopped");

	tcase_add_loop_test(runs, test_matrix, 0, 16);
	tcase_add_test(runs, test_no_new_tickets_for_later_commands);
	tcase_add_test(runs, test_encryption_always_over_https);
	tcase_add_test(runs, test_keytab_credential);
	tcase_add_test(runs, test_stdin_sealed);
	tcase_add_test(runs, test_5mb_sealed);
	tcase_add_test(runs, test_reauth_after_401);
	tcase_add_test(runs, test_delegation_only_when_asked);
	tcase_add_test(bad, test_encryption_never_over_http_is_refused);
	tcase_add_test(bad, test_wrong_password);
	tcase_add_test(bad, test_unknown_spn);
	tcase_add_test(bad, test_strict_cbt_without_binding);
	tcase_add_test(last, test_stopped_kdc);
	tcase_set_timeout(runs, 120);
	tcase_set_timeout(bad, 60);
	tcase_set_timeout(last, 60);
	suite_add_tcase(s, runs);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, last);
	return s;
}

int main(void)
{
	struct wb_error err = { 0 };
	SRunner *sr;
	int failed;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0 || wb_winrm_init() < 0)
		return 1;
	if (bed_up() < 0) {
		fprintf(stderr, "tests/bed/up failed\n");
		bedfix_down();
		return 1;
	}
	/* The bed's realm for every krb5 context this process makes. */
	setenv("KRB5_CONFIG", bed.krb5_config, 1);
	if (wb_tickets_new(&tickets, &err) < 0) {
		fprintf(stderr, "wb_tickets_new: %s\n", err.msg);
		bedfix_down();
		return 1;
	}
	sr = srunner_create(gss_suite());
	srunner_set_fork_status(sr, CK_NOFORK);	/* one ticket cache across tests */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	wb_tickets_free(tickets);
	bedfix_down();
	wb_winrm_cleanup();
	return failed ? 1 : 0;
}
