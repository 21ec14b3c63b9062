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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "bedfix.h"
#include "krb5_tickets.h"
#include "winrm/shell.h"

/* ---- the bed ---------------------------------------------------------------------- */

static struct wb_tickets *tickets;

static struct {
	char host[64], user[64], password[128], ca[512], log[512], kdc_log[512];
	char realm[64], domain[64], krb5_config[512], client_cert[512];
	unsigned https_port, http_port;
} bed;

static int bed_up(void)
{
	char port[16] = "", hport[16] = "";

	if (bedfix_up("credssp") < 0)
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
	bedfix_env("WINRM_CLIENT_CERT", bed.client_cert, sizeof(bed.client_cert));
	bedfix_env("WINRM_HTTPS_PORT", port, sizeof(port));
	bedfix_env("WINRM_HTTP_PORT", hport, sizeof(hport));
	bed.https_port = (unsigned)atoi(port);
	bed.http_port = (unsigned)atoi(hport);
	return bed.https_port && bed.http_port && bed.password[0] && bed.kdc_log[0] &&
	       bed.krb5_config[0] ? 0 : -1;
}

/* ---- logs ------------------------------------------------------------------------------ */

/* Lines of the test host's log since off whose event is `event` and, when
 * key is set, whose key has value want; the last one's field `field` into val. */
static int events(long off, const char *event, const char *key, const char *want,
		  const char *field, char *val, size_t size)
{
	char *buf = bedfix_file_since(bed.log, off), *line, *next, v[512];
	int n = 0;

	for (line = buf; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] ? 1 : 0);
		if (!bedfix_jget(line, len, "event", v, sizeof(v)) || strcmp(v, event) != 0)
			continue;
		if (key && (!bedfix_jget(line, len, key, v, sizeof(v)) || strcmp(v, want) != 0))
			continue;
		/* The handshake's empty POSTs are not messages. */
		if (strcmp(event, "message") == 0 &&
		    (!bedfix_jget(line, len, "action", v, sizeof(v)) || strcmp(v, "null") == 0))
			continue;
		n++;
		if (field && val)
			bedfix_jget(line, len, field, val, size);
	}
	free(buf);
	return n;
}

/* The largest "bytes" of the messages since off. */
static long max_message(long off)
{
	char *buf = bedfix_file_since(bed.log, off), *line, *next, v[64];
	long max = 0;

	for (line = buf; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] ? 1 : 0);
		if (bedfix_jget(line, len, "event", v, sizeof(v)) && strcmp(v, "message") == 0 &&
		    bedfix_jget(line, len, "bytes", v, sizeof(v)) && atol(v) > max)
			max = atol(v);
	}
	free(buf);
	return max;
}

static void show_log(long off)
{
	char *log = bedfix_file_since(bed.log, off);

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

static int run(const struct wb_secret *s, const char *cmd, struct bedfix_out *o,
	       struct wb_error *err)
{
	return bedfix_run(&target, &meta, s, tickets, cmd, o, err);
}

/* ---- the matrix ------------------------------------------------------------------------ */

/* _i: bit 0 Kerberos inside, bit 1 TLS 1.3, bit 2 https. */
START_TEST(test_matrix)
{
	bool krb = _i & 1, tls13 = _i & 2, https = _i & 4;
	struct wb_secret *s = cred(krb ? 'k' : 'b', "matrix", bed.password);
	char v[256], json[64];
	struct wb_error err;
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	int rc, n;

	snprintf(json, sizeof(json), "{\"credssp_tls_max\": \"%s\"}", tls13 ? "1.3" : "1.2");
	bedfix_set(json);
	set_target(https);
	rc = run(s, "echo hello from $(id -un); exit 4", &o, &err);
	bedfix_set("{\"credssp_tls_max\": \"1.3\"}");
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
	struct wb_io io = { .ctx = &f, .on_output = bedfix_on_output, .next_input = feed_input,
			    .wait_fds = { f.fd, -1 }, .stdin_open = true, .tickets = tickets };
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	long off = bedfix_file_size(bed.log);

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

START_TEST(test_5mb_stdout)
{
	static const char *const args[] = { "|", "head", "-c", "5242880" };
	struct wb_secret *s = cred('k', "stdout", bed.password);
	struct counter c = { .total = 0 };
	struct wb_io io = { .ctx = &c, .on_output = count_output, .next_input = bedfix_no_input,
			    .wait_fds = { -1, -1 }, .tickets = tickets };
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	long off = bedfix_file_size(bed.log);

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
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	char v[32] = "";
	int rc;

	set_target(true);
	bedfix_set("{\"credssp_break_pubkey\": true}");
	rc = run(s, "echo x", &o, &err);
	bedfix_set("{\"credssp_break_pubkey\": false}");
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
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	char v[32] = "";
	int rc;

	set_target(false);
	bedfix_set("{\"credssp_max_version\": 4}");
	rc = run(s, "echo old", &o, &err);
	printf("credssp, host at version 4, default minimum: %s\n", err.msg);
	ck_assert_int_eq(rc, -WB_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "minimum 5"));
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);
	ck_assert_int_eq(events(off, "credssp_pubkey_ok", NULL, NULL, NULL, NULL, 0), 0);

	/* Lowered: accepted, with the old pubKeyAuth scheme. */
	off = bedfix_file_size(bed.log);
	target.credssp_min_version = 4;
	rc = run(s, "echo old", &o, &err);
	bedfix_set("{\"credssp_max_version\": 6}");
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
	struct bedfix_out o;
	long off;

	meta.flags = 0;
	set_target(true);
	off = bedfix_file_size(bed.log);
	ck_assert_int_eq(run(s, "echo x", &o, &err), -WB_E_DENIED);
	printf("credssp, credential without delegation: %s\n", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "delegat"));
	ck_assert_int_eq(bedfix_file_size(bed.log), off);	/* not even a connection */
	wb_secret_free(s);
}
END_TEST

/* The CredSSP tunnel's certificate is validated even over http. */
START_TEST(test_untrusted_certificate)
{
	struct wb_secret *s = cred('b', "untrusted", bed.password);
	struct wb_error err;
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);

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
	struct bedfix_out o;
	size_t i;
	long off;
	int rc;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		off = bedfix_file_size(bed.log);
		snprintf(json, sizeof(json), "{\"credssp_tls_max\": \"1.2\", \"credssp_ciphers\": "
			 "\"%s\"}", suites[i]);
		bedfix_set(json);
		set_target(false);
		rc = run(s, "echo cbc; echo 12345678901 >&2", &o, &err);
		bedfix_set("{\"credssp_tls_max\": \"1.3\", \"credssp_ciphers\": null}");
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
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	char v[64];
	int rc;

	bedfix_set("{\"credssp_tls_min\": \"1.0\", \"credssp_tls_max\": \"1.0\", "
		"\"credssp_ciphers\": \"ECDHE-RSA-AES128-SHA\"}");
	set_target(false);
	rc = run(s, "echo old tls", &o, &err);
	printf("credssp, TLS 1.0 host: %s\n", err.msg);
	if (rc != -WB_E_TLS)
		bedfix_set("{\"credssp_tls_min\": \"1.2\", \"credssp_tls_max\": \"1.3\", "
			"\"credssp_ciphers\": null}");
	ck_assert_int_eq(rc, -WB_E_TLS);
	ck_assert_ptr_nonnull(strstr(err.msg, "credssp_disable_tlsv1_2"));
	ck_assert_int_eq(events(off, "credssp_delegated", NULL, NULL, NULL, NULL, 0), 0);

	off = bedfix_file_size(bed.log);
	target.credssp_disable_tlsv1_2 = true;
	rc = run(s, "echo old tls", &o, &err);
	bedfix_set("{\"credssp_tls_min\": \"1.2\", \"credssp_tls_max\": \"1.3\", "
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
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);

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
	struct bedfix_out o;
	long off = bedfix_file_size(bed.log);
	int rc, auths, switches;

	set_target(false);
	target.operation_timeout_sec = 1;	/* several Receives on the connection */
	bedfix_set("{\"fail_401_after\": 3}");
	rc = run(s, "sleep 3; echo survived", &o, &err);
	bedfix_set("{\"fail_401_after\": 0}");
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
	if (bed_up() < 0) {
		fprintf(stderr, "tests/bed/up failed\n");
		bedfix_down();
		return 1;
	}
	setenv("KRB5_CONFIG", bed.krb5_config, 1);
	if (wb_tickets_new(&tickets, &err) < 0) {
		fprintf(stderr, "wb_tickets_new: %s\n", err.msg);
		bedfix_down();
		return 1;
	}
	sr = srunner_create(credssp_suite());
	srunner_set_fork_status(sr, CK_NOFORK);	/* one ticket cache across tests */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	wb_tickets_free(tickets);
	bedfix_down();
	wb_winrm_cleanup();
	return failed ? 1 : 0;
}
