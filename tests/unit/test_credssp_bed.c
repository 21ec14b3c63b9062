/*
 * CredSSP (brokerd/auth_credssp.c over credssp_asn1.c, auth_gss.c and
 * msgenc.c) against the embedded bed: the test host's CredSSP acceptor
 * (tests/testhost/credssp.py) with its real gss-ntlmssp and krb5 acceptors.
 *
 * NTLM and Kerberos inside, TLS 1.2 and 1.3 (the host's credssp_tls_max),
 * over http (sealed messages) and https; the host's log shows the exact
 * domain, user and password delegated. Then 5 MB both ways (16 KiB pieces),
 * and the refusals: a wrong pubKeyAuth answer (credssp_break_pubkey) and an
 * old version (credssp_max_version=4) before anything is delegated, a
 * credential without delegation before any I/O, an untrusted certificate.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "auth.h"
#include "krb5_tickets.h"
#include "winrm/shell.h"

extern char **environ;

/* ---- the bed ---------------------------------------------------------------------- */

static char bed_dir[256], up_path[512], down_path[512];
static pid_t parent_pid;
static struct wb_tickets *tickets;

static struct {
	char host[64], user[64], password[128], ca[512], log[512], kdc_log[512];
	char control[256], realm[64], domain[64], krb5_config[512], client_cert[512];
	unsigned https_port, http_port;
} bed;

static int run_script(const char *path, const char *arg)
{
	char *argv[] = { (char *)path, (char *)arg, NULL };
	pid_t pid;
	int status;

	if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void spawn_wait(const char *path, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		execve(path, argv, environ);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void bed_down(void)
{
	char *rm[] = { "/bin/rm", "-rf", bed_dir, NULL };

	if (!bed_dir[0])
		return;
	run_script(down_path, bed_dir);
	spawn_wait("/bin/rm", rm);
	bed_dir[0] = '\0';
}

/* meson's timeout sends SIGTERM: the bed holds passwords and keys. */
static void on_signal(int sig)
{
	char *down[] = { down_path, bed_dir, NULL };
	char *rm[] = { "/bin/rm", "-rf", bed_dir, NULL };

	if (getpid() == parent_pid && bed_dir[0]) {
		spawn_wait(down_path, down);
		spawn_wait("/bin/rm", rm);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void env_value(const char *line, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key), n;
	const char *v;

	if (strncmp(line, "export ", 7) != 0 || strncmp(line + 7, key, kl) != 0 ||
	    line[7 + kl] != '=')
		return;
	v = line + 8 + kl;
	n = strcspn(v, "\n");
	if (n && v[0] == '\'' && v[n - 1] == '\'') {
		v++;
		n -= 2;
	}
	if (n < size) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
}

static int bed_up(void)
{
	const char *root = getenv("WB_SOURCE_ROOT");
	char path[600], line[1024], port[16] = "", hport[16] = "";
	FILE *f;

	if (!root)
		root = "../..";
	snprintf(up_path, sizeof(up_path), "%s/tests/bed/up", root);
	snprintf(down_path, sizeof(down_path), "%s/tests/bed/down", root);
	snprintf(bed_dir, sizeof(bed_dir), "/tmp/wb-credssp-bed-XXXXXX");
	if (!mkdtemp(bed_dir)) {
		bed_dir[0] = '\0';
		return -1;
	}
	chmod(bed_dir, 0755);
	if (run_script(up_path, bed_dir) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/env", bed_dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		env_value(line, "WINRM_HOST", bed.host, sizeof(bed.host));
		env_value(line, "WINRM_USER", bed.user, sizeof(bed.user));
		env_value(line, "WINRM_PASSWORD", bed.password, sizeof(bed.password));
		env_value(line, "WINRM_CA_CERT", bed.ca, sizeof(bed.ca));
		env_value(line, "WINRM_TESTHOST_LOG", bed.log, sizeof(bed.log));
		env_value(line, "WINRM_TESTHOST_CONTROL", bed.control, sizeof(bed.control));
		env_value(line, "WINRM_KDC_LOG", bed.kdc_log, sizeof(bed.kdc_log));
		env_value(line, "WINRM_REALM", bed.realm, sizeof(bed.realm));
		env_value(line, "WINRM_DOMAIN", bed.domain, sizeof(bed.domain));
		env_value(line, "KRB5_CONFIG", bed.krb5_config, sizeof(bed.krb5_config));
		env_value(line, "WINRM_CLIENT_CERT", bed.client_cert, sizeof(bed.client_cert));
		env_value(line, "WINRM_HTTPS_PORT", port, sizeof(port));
		env_value(line, "WINRM_HTTP_PORT", hport, sizeof(hport));
	}
	fclose(f);
	bed.https_port = (unsigned)atoi(port);
	bed.http_port = (unsigned)atoi(hport);
	return bed.https_port && bed.http_port && bed.password[0] && bed.kdc_log[0] &&
	       bed.krb5_config[0] ? 0 : -1;
}

static void bed_set(const char *json)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	FILE *null = fopen("/dev/null", "w");

	curl_easy_setopt(c, CURLOPT_URL, bed.control);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	fclose(null);
}

/* ---- logs ------------------------------------------------------------------------------ */

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static char *file_since(const char *path, long offset)
{
	FILE *f = fopen(path, "r");
	long end;
	char *buf;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	buf = calloc(1, (size_t)(end - offset) + 2);
	fseek(f, offset, SEEK_SET);
	ck_assert_uint_eq(fread(buf, 1, (size_t)(end - offset), f), (size_t)(end - offset));
	fclose(f);
	return buf;
}

/* "key": value of a json.dumps line, as text (strings unquoted). */
static bool jget(const char *line, size_t len, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p, *e, *stop = line + len;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = memmem(line, len, pat, strlen(pat));
	if (!p)
		return false;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		e = memchr(p, '"', (size_t)(stop - p));
	} else {
		e = p + strcspn(p, ",}\n");
	}
	if (!e || e > stop || (n = (size_t)(e - p)) >= size)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Lines of the test host's log since off whose event is `event` and, when
 * key is set, whose key has value want; the last one's field `field` into val. */
static int events(long off, const char *event, const char *key, const char *want,
		  const char *field, char *val, size_t size)
{
	char *buf = file_since(bed.log, off), *line, *next, v[512];
	int n = 0;

	for (line = buf; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] ? 1 : 0);
		if (!jget(line, len, "event", v, sizeof(v)) || strcmp(v, event) != 0)
			continue;
		if (key && (!jget(line, len, key, v, sizeof(v)) || strcmp(v, want) != 0))
			continue;
		/* The handshake's empty POSTs are not messages. */
		if (strcmp(event, "message") == 0 &&
		    (!jget(line, len, "action", v, sizeof(v)) || strcmp(v, "null") == 0))
			continue;
		n++;
		if (field && val)
			jget(line, len, field, val, size);
	}
	free(buf);
	return n;
}

/* The largest "bytes" of the messages since off. */
static long max_message(long off)
{
	char *buf = file_since(bed.log, off), *line, *next, v[64];
	long max = 0;

	for (line = buf; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] ? 1 : 0);
		if (jget(line, len, "event", v, sizeof(v)) && strcmp(v, "message") == 0 &&
		    jget(line, len, "bytes", v, sizeof(v)) && atol(v) > max)
			max = atol(v);
	}
	free(buf);
	return max;
}

static void show_log(long off)
{
	char *log = file_since(bed.log, off);

	printf("what the test host saw:\n%s", log);
	free(log);
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
	meta.flags = WB_CRED_F_DELEGATE;
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

static void set_target(bool https)
{
	wb_target_defaults(&target);
	snprintf(target.host, sizeof(target.host), "%s", bed.host);
	target.https = https;
	target.port = https ? bed.https_port : bed.http_port;
	target.transports[0] = WB_TRANSPORT_CREDSSP;
	target.n_transports = 1;
	snprintf(target.ca_trust_path, sizeof(target.ca_trust_path), "%s", bed.ca);
}

struct out {
	char text[4096];
	size_t len;
};

static int on_output(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct out *o = ctx;

	(void)stream;
	if (o->len + n < sizeof(o->text)) {
		memcpy(o->text + o->len, p, n);
		o->len += n;
		o->text[o->len] = '\0';
	}
	return 0;
}

static int next_input(void *ctx, struct wb_input *ev)
{
	(void)ctx;
	memset(ev, 0, sizeof(*ev));
	return 0;
}

static int run(const struct wb_secret *s, const char *cmd, struct out *o, struct wb_error *err)
{
	struct wb_io io = { .ctx = o, .on_output = on_output, .next_input = next_input,
			    .wait_fds = { -1, -1 }, .tickets = tickets };
	struct wb_winrm_result res;
	int rc;

	memset(o, 0, sizeof(*o));
	memset(err, 0, sizeof(*err));
	rc = wb_winrm_run(&target, &meta, s, cmd, NULL, 0, &io, &res, err);
	return rc < 0 ? rc : res.exit_code;
}


/* ---- the matrix ------------------------------------------------------------------------ */

/* _i: bit 0 Kerberos inside, bit 1 TLS 1.3, bit 2 https. */
START_TEST(test_matrix)
{
	bool krb = _i & 1, tls13 = _i & 2, https = _i & 4;
	struct wb_secret *s = cred(krb ? 'k' : 'b', "matrix", bed.password);
	char v[256], json[64];
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);
	int rc, n;

	snprintf(json, sizeof(json), "{\"credssp_tls_max\": \"%s\"}", tls13 ? "1.3" : "1.2");
	bed_set(json);
	set_target(https);
	rc = run(s, "echo hello from $(id -un); exit 4", &o, &err);
	bed_set("{\"credssp_tls_max\": \"1.3\"}");
	if (rc != 4)
		show_log(off);
	ck_assert_msg(rc == 4, "credssp (%s, TLS %s, %s): rc %d: %s", krb ? "kerberos" : "ntlm",
		      tls13 ? "1.3" : "1.2", https ? "https" : "http", rc, err.msg);
	ck_assert_str_eq(o.text, "hello from nobody\n");
	/* What the host authenticated, and over what. */
	n = events(off, "auth", "scheme", "CredSSP", "mechanism", v, sizeof(v));
	ck_assert_int_ge(n, 1);
	ck_assert_str_eq(v, krb ? "credssp-kerberos" : "credssp-ntlm");
	events(off, "auth", "scheme", "CredSSP", "tls_version", v, sizeof(v));
	ck_assert_str_eq(v, tls13 ? "TLSv1.3" : "TLSv1.2");
	events(off, "auth", "scheme", "CredSSP", "credssp_version", v, sizeof(v));
	ck_assert_str_eq(v, "6");
	/* Exactly the stored domain, user and password were delegated. */
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, "domain", v, sizeof(v)), n);
	/* WINRMTEST\\alice goes as domain WINRMTEST, user alice. */
	ck_assert_str_eq(v, krb ? bed.realm : bed.domain);
	events(off, "credssp_delegated", NULL, NULL, "user", v, sizeof(v));
	ck_assert_str_eq(v, bed.user);
	events(off, "credssp_delegated", NULL, NULL, "password", v, sizeof(v));
	ck_assert_str_eq(v, bed.password);
	/* Over http every message sealed with CredSSP; over https, TLS alone. */
	ck_assert_int_ge(events(off, "message", NULL, NULL, NULL, NULL, 0), 4);
	ck_assert_int_eq(events(off, "message", "encrypted", "false", NULL, NULL, 0),
			 https ? events(off, "message", NULL, NULL, NULL, NULL, 0) : 0);
	if (!https) {
		ck_assert_int_eq(events(off, "message", "protocol",
					"application/HTTP-CredSSP-session-encrypted", NULL, NULL, 0),
				 events(off, "message", NULL, NULL, NULL, NULL, 0));
	}
	printf("credssp, %-8s inside, TLS %s, %-5s: %d auths, delegated %s, %d messages\n",
	       krb ? "kerberos" : "ntlm", tls13 ? "1.3" : "1.2", https ? "https" : "http", n,
	       meta.user, events(off, "message", NULL, NULL, NULL, NULL, 0));
	wb_secret_free(s);
}
END_TEST

/* ---- 5 MB each way: 16 KiB pieces ---------------------------------------------------------- */

struct feed {
	struct out o;		/* first: on_output takes it */
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
	if (k > 60000)
		k = 60000;
	ev->type = WB_INPUT_STDIN;
	ev->data = f->p + f->off;
	ev->len = k;
	f->off += k;
	ev->eof = f->off == f->n;
	if (ev->eof)	/* nothing more to read: the fd goes quiet */
		ck_assert_int_eq(read(f->fd, &v, sizeof(v)), sizeof(v));
	return 0;
}

START_TEST(test_5mb_stdin)
{
	struct wb_secret *s = cred('b', "stdin", bed.password);
	size_t n = 5 * 1024 * 1024, i;
	uint8_t *in = malloc(n);
	struct feed f = { .p = in, .n = n, .fd = eventfd(1, 0) };
	struct wb_io io = { .ctx = &f, .on_output = on_output, .next_input = feed_input,
			    .wait_fds = { f.fd, -1 }, .stdin_open = true, .tickets = tickets };
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	long off = file_size(bed.log);

	for (i = 0; i < n; i++)
		in[i] = (uint8_t)('a' + i % 26);
	set_target(false);
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "wc", (const char *const[]){ "-c" }, 1, &io,
				   &res, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_str_eq(f.o.text, "5242880\n");
	ck_assert_int_eq(events(off, "message", "encrypted", "false", NULL, NULL, 0), 0);
	/* Sends far above 16 KiB: they went as multipart/x-multi-encrypted. */
	ck_assert_int_gt(max_message(off), 4 * 16384);
	printf("5 MB stdin over http with CredSSP sealing: %d messages, the largest %ld bytes\n",
	       events(off, "message", NULL, NULL, NULL, NULL, 0), max_message(off));
	close(f.fd);
	free(in);
	wb_secret_free(s);
}
END_TEST

struct counter {
	struct out o;		/* first: unused text */
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

START_TEST(test_5mb_stdout)
{
	static const char *const args[] = { "|", "head", "-c", "5242880" };
	struct wb_secret *s = cred('k', "stdout", bed.password);
	struct counter c = { .total = 0 };
	struct wb_io io = { .ctx = &c, .on_output = count_output, .next_input = next_input,
			    .wait_fds = { -1, -1 }, .tickets = tickets };
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	long off = file_size(bed.log);

	set_target(false);
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "yes", args, 4, &io, &res, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(c.total, 5242880);
	ck_assert_uint_eq(c.bad, 0);
	ck_assert_int_eq(events(off, "message", "encrypted", "false", NULL, NULL, 0), 0);
	printf("5 MB stdout over http with CredSSP sealing: %d messages\n",
	       events(off, "message", NULL, NULL, NULL, NULL, 0));
	wb_secret_free(s);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------------ */

START_TEST(test_broken_pubkey_refused)
{
	struct wb_secret *s = cred('b', "breakpk", bed.password);
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);
	char v[32] = "";
	int rc;

	set_target(true);
	bed_set("{\"credssp_break_pubkey\": true}");
	rc = run(s, "echo x", &o, &err);
	bed_set("{\"credssp_break_pubkey\": false}");
	printf("credssp, broken pubKeyAuth answer: %s\n", err.msg);
	ck_assert_int_eq(rc, -WB_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "pubKeyAuth"));
	ck_assert_ptr_nonnull(strstr(err.msg, "not sent"));
	/* The host sent its broken answer, and got nothing after it. */
	ck_assert_int_ge(events(off, "credssp_pubkey_sent", NULL, NULL, "broken", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "true");
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_version_4)
{
	struct wb_secret *s = cred('b', "v4", bed.password);
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);
	char v[32] = "";
	int rc;

	set_target(false);
	bed_set("{\"credssp_max_version\": 4}");
	rc = run(s, "echo old", &o, &err);
	printf("credssp, host at version 4, default minimum: %s\n", err.msg);
	ck_assert_int_eq(rc, -WB_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "minimum 5"));
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);
	ck_assert_int_eq(events(off, "credssp_pubkey_ok", NULL, NULL, NULL, NULL, 0), 0);

	/* Lowered: accepted, with the old pubKeyAuth scheme. */
	off = file_size(bed.log);
	target.credssp_min_version = 4;
	rc = run(s, "echo old", &o, &err);
	bed_set("{\"credssp_max_version\": 6}");
	ck_assert_msg(rc == 0, "%d: %s", rc, err.msg);
	ck_assert_str_eq(o.text, "old\n");
	events(off, "auth", "scheme", "CredSSP", "credssp_version", v, sizeof(v));
	ck_assert_str_eq(v, "4");
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 1);
	printf("credssp, host at version 4, credssp_min_version=4: accepted\n");
	wb_secret_free(s);
}
END_TEST

START_TEST(test_no_delegation_no_io)
{
	struct wb_secret *s = cred('b', "nodeleg", bed.password);
	struct wb_error err;
	struct out o;
	long off;

	meta.flags = 0;
	set_target(true);
	off = file_size(bed.log);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_DENIED);
	printf("credssp, credential without delegation: %s\n", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "delegat"));
	ck_assert_int_eq(file_size(bed.log), off);	/* not even a connection */
	wb_secret_free(s);
}
END_TEST

/* The CredSSP tunnel's certificate is validated even over http. */
START_TEST(test_untrusted_certificate)
{
	struct wb_secret *s = cred('b', "untrusted", bed.password);
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);

	set_target(false);
	snprintf(target.ca_trust_path, sizeof(target.ca_trust_path), "%s", bed.client_cert);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_TLS);
	printf("credssp, untrusted certificate: %s\n", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "certificate"));
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);
	/* server_cert_validation=ignore: accepted. */
	target.validate_cert = false;
	ck_assert_int_eq(run(s, "echo x", &o, &err), 0);
	wb_secret_free(s);
}
END_TEST

/* CBC + HMAC suites: the length field is MAC + padding, checked both ways
 * (the host logs credssp_bad_trailer and refuses a wrong one). */
START_TEST(test_cbc_suites)
{
	static const char *const suites[] = { "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA",
					      "AES128-SHA256" };
	struct wb_secret *s = cred('b', "cbc", bed.password);
	char json[160], v[64];
	struct wb_error err;
	struct out o;
	size_t i;
	long off;
	int rc;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		off = file_size(bed.log);
		snprintf(json, sizeof(json), "{\"credssp_tls_max\": \"1.2\", \"credssp_ciphers\": "
			 "\"%s\"}", suites[i]);
		bed_set(json);
		set_target(false);
		rc = run(s, "echo cbc; echo 12345678901 >&2", &o, &err);
		bed_set("{\"credssp_tls_max\": \"1.3\", \"credssp_ciphers\": null}");
		if (rc != 0)
			show_log(off);
		ck_assert_msg(rc == 0, "%s: %d: %s", suites[i], rc, err.msg);
		ck_assert_str_eq(o.text, "cbc\n12345678901\n");
		events(off, "auth", "scheme", "CredSSP", "cipher", v, sizeof(v));
		ck_assert_str_eq(v, suites[i]);
		ck_assert_int_eq(events(off, "credssp_bad_trailer", NULL, NULL, NULL, NULL, 0), 0);
		printf("credssp over TLS 1.2 with %s: sealed messages accepted both ways\n", v);
	}
	wb_secret_free(s);
}
END_TEST

/* A TLS 1.0 host: refused unless credssp_disable_tlsv1_2. */
START_TEST(test_tls10_only_when_allowed)
{
	struct wb_secret *s = cred('b', "tls10", bed.password);
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);
	char v[64];
	int rc;

	bed_set("{\"credssp_tls_min\": \"1.0\", \"credssp_tls_max\": \"1.0\", "
		"\"credssp_ciphers\": \"ECDHE-RSA-AES128-SHA\"}");
	set_target(false);
	rc = run(s, "echo old tls", &o, &err);
	printf("credssp, TLS 1.0 host: %s\n", err.msg);
	if (rc != -WB_E_TLS)
		bed_set("{\"credssp_tls_min\": \"1.2\", \"credssp_tls_max\": \"1.3\", "
			"\"credssp_ciphers\": null}");
	ck_assert_int_eq(rc, -WB_E_TLS);
	ck_assert_ptr_nonnull(strstr(err.msg, "credssp_disable_tlsv1_2"));
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);

	off = file_size(bed.log);
	target.credssp_disable_tlsv1_2 = true;
	rc = run(s, "echo old tls", &o, &err);
	bed_set("{\"credssp_tls_min\": \"1.2\", \"credssp_tls_max\": \"1.3\", "
		"\"credssp_ciphers\": null}");
	ck_assert_msg(rc == 0, "%d: %s", rc, err.msg);
	ck_assert_str_eq(o.text, "old tls\n");
	events(off, "auth", "scheme", "CredSSP", "tls_version", v, sizeof(v));
	ck_assert_str_eq(v, "TLSv1");
	wb_secret_free(s);
}
END_TEST

/* The host's errorCode is reported, by name. */
START_TEST(test_wrong_password)
{
	struct wb_secret *s = cred('b', "wrongpw", "not-the-password");
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);

	set_target(true);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_AUTH);
	printf("credssp, wrong password: %s\n", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "0xC000006D"));
	ck_assert_ptr_nonnull(strstr(err.msg, "wrong user, domain or password"));
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);
	wb_secret_free(s);
}
END_TEST

/* A 401 in mid-session (fail_401_after): a new CredSSP exchange, the
 * command not lost. */
START_TEST(test_reauth_after_401)
{
	struct wb_secret *s = cred('b', "reauth", bed.password);
	struct wb_error err;
	struct out o;
	long off = file_size(bed.log);
	int rc, auths, switches;

	set_target(false);
	target.operation_timeout_sec = 1;	/* several Receives on the connection */
	bed_set("{\"fail_401_after\": 3}");
	rc = run(s, "sleep 3; echo survived", &o, &err);
	bed_set("{\"fail_401_after\": 0}");
	ck_assert_msg(rc == 0, "%d: %s", rc, err.msg);
	ck_assert_str_eq(o.text, "survived\n");
	switches = events(off, "fault_switch", NULL, NULL, NULL, NULL, 0);
	auths = events(off, "auth", "scheme", "CredSSP", NULL, NULL, 0);
	ck_assert_int_ge(switches, 1);
	ck_assert_int_gt(auths, switches);
	ck_assert_int_eq(events(off, "command", NULL, NULL, NULL, NULL, 0), 1);
	printf("credssp with fail_401_after=3: %d 401s, %d CredSSP exchanges\n", switches, auths);
	wb_secret_free(s);
}
END_TEST

static Suite *credssp_suite(void)
{
	Suite *s = suite_create("credssp-bed");
	TCase *runs = tcase_create("runs"), *bad = tcase_create("refusals");

	tcase_add_loop_test(runs, test_matrix, 0, 8);
	tcase_add_test(runs, test_5mb_stdin);
	tcase_add_test(runs, test_5mb_stdout);
	tcase_add_test(runs, test_cbc_suites);
	tcase_add_test(runs, test_tls10_only_when_allowed);
	tcase_add_test(runs, test_reauth_after_401);
	tcase_add_test(bad, test_wrong_password);
	tcase_add_test(bad, test_broken_pubkey_refused);
	tcase_add_test(bad, test_version_4);
	tcase_add_test(bad, test_no_delegation_no_io);
	tcase_add_test(bad, test_untrusted_certificate);
	tcase_set_timeout(runs, 240);
	tcase_set_timeout(bad, 60);
	suite_add_tcase(s, runs);
	suite_add_tcase(s, bad);
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
	parent_pid = getpid();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (bed_up() < 0) {
		fprintf(stderr, "tests/bed/up failed\n");
		bed_down();
		return 1;
	}
	setenv("KRB5_CONFIG", bed.krb5_config, 1);
	if (wb_tickets_new(&tickets, &err) < 0) {
		fprintf(stderr, "wb_tickets_new: %s\n", err.msg);
		bed_down();
		return 1;
	}
	sr = srunner_create(credssp_suite());
	srunner_set_fork_status(sr, CK_NOFORK);	/* one ticket cache across tests */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	wb_tickets_free(tickets);
	bed_down();
	wb_winrm_cleanup();
	return failed ? 1 : 0;
}
