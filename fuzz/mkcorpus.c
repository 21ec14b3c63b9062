/*
 * mkcorpus.c - writes the binary seeds of fuzz/corpus/ (run by
 * fuzz/mkcorpus, which adds the text seeds): frames as libwinrm-broker
 * really sends them (captured from the library through a socketpair) and
 * as the broker answers them (session*.c's attributes), the broker's
 * replies for fuzz_libclient, a store written by the store API, TSRequest
 * and TSCredentials DER from credssp_asn1.c, encrypted bodies from
 * msgenc.c, audit lines and a head file from brokerd/audit.c, and pam
 * option strings from docs/pam.md.
 *
 * Usage: fuzz_mkcorpus DIR (DIR/<harness>/ must exist). Not a harness:
 * never run by scripts/fuzz or the tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "credssp_asn1.h"
#include "fuzz.h"
#include "masterkey.h"
#include "msgenc.h"
#include "proto.h"
#include "store.h"
#include "storeimg.h"
#include "winrm-broker.h"

static const char *out_dir;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_mkcorpus: %s\n", what);
	exit(1);
}

static void save(const char *harness, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, harness, name);
	f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		die(path);
}

static void save_prefixed(const char *harness, const char *name, uint8_t first,
			  const void *p, size_t n)
{
	uint8_t *b = malloc(n + 1);

	if (!b)
		die("out of memory");
	b[0] = first;
	memcpy(b + 1, p, n);
	save(harness, name, b, n + 1);
	free(b);
}

static uint8_t *slurp(const char *path, size_t *n)
{
	uint8_t *b = NULL;
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0 || !(b = malloc((size_t)st.st_size + 1)) ||
	    read(fd, b, (size_t)st.st_size) != st.st_size)
		die(path);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

/* ---- frames the broker sends (brokerd/session*.c) ---- */

static void begin(struct wb_writer *w, uint16_t type)
{
	if (wb_msg_begin(w, type) < 0)
		die("frame");
}

static void str(struct wb_writer *w, uint16_t tag, const char *s)
{
	if (wb_msg_put_str(w, tag, s) < 0)
		die("frame");
}

static void u8(struct wb_writer *w, uint16_t tag, uint8_t v)
{
	if (wb_msg_put_u8(w, tag, v) < 0)
		die("frame");
}

static void u32(struct wb_writer *w, uint16_t tag, uint32_t v)
{
	if (wb_msg_put_u32(w, tag, v) < 0)
		die("frame");
}

static void u64(struct wb_writer *w, uint16_t tag, uint64_t v)
{
	if (wb_msg_put_u64(w, tag, v) < 0)
		die("frame");
}

/* Appends one finished frame to a stream and, when name is set, saves it alone. */
static void emit(struct wb_writer *frame, struct wb_writer *stream, const char *name)
{
	if (wb_msg_finish(frame) < 0 || (stream && wb_put(stream, frame->data, frame->len) < 0))
		die("frame");
	if (name)
		save("fuzz_proto", name, frame->data, frame->len);
	frame->len = 0;
}

static void broker_hello(struct wb_writer *f, struct wb_writer *s)
{
	begin(f, WB_MSG_HELLO);
	u32(f, WB_A_VERSION, WB_PROTO_VERSION);
	str(f, WB_A_SERVER, "winrm-brokerd 0.1.0");
	emit(f, s, "b-hello");
}

static void broker_error(struct wb_writer *f, struct wb_writer *s)
{
	begin(f, WB_MSG_ERROR);
	u32(f, WB_A_ERROR_CODE, 6);
	str(f, WB_A_MESSAGE, "no credential \"old\" for uid 1000; `winrm-broker cred ls` lists yours");
	emit(f, s, "b-error");
}

static void broker_ok(struct wb_writer *f, struct wb_writer *s)
{
	begin(f, WB_MSG_OK);
	emit(f, s, "b-ok");
}

static void cred_info(struct wb_writer *f, struct wb_writer *s, bool session)
{
	begin(f, WB_MSG_CRED_INFO);
	str(f, WB_A_CRED, session ? "login" : "ops-admin");
	u8(f, WB_A_SCOPE, session ? 1 : 2);
	u32(f, WB_A_OWNER, session ? 1000 : 0);
	u8(f, WB_A_KIND, 1);
	str(f, WB_A_USER, session ? "alice" : "Administrator");
	str(f, WB_A_DOMAIN, "CORP");
	u32(f, WB_A_FLAGS, session ? 0 : 1);
	u64(f, WB_A_CREATED, 1767225600);
	u64(f, WB_A_UPDATED, 1767229200);
	if (!session) {
		u32(f, WB_A_ALLOW_UID, 1000);
		u32(f, WB_A_ALLOW_UID, 1001);
		u32(f, WB_A_ALLOW_GID, 2001);
	} else {
		u8(f, WB_A_SESSION, 1);
		u32(f, WB_A_SESSIONS, 2);
		u64(f, WB_A_EXPIRES, 1767232800);
	}
	emit(f, s, session ? "b-cred-info-session" : "b-cred-info");
}

/* The broker's side of one request, after its HELLO. */
static void replies(enum fuzz_client_op op, struct wb_writer *s)
{
	struct wb_writer f;

	wb_writer_init(&f, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	broker_hello(&f, s);
	switch (op) {
	case FUZZ_CLIENT_STATUS:
		begin(&f, WB_MSG_STATUS_INFO);
		str(&f, WB_A_SERVER, "winrm-brokerd 0.1.0");
		u64(&f, WB_A_UPTIME, 86400);
		u32(&f, WB_A_CONNECTIONS, 3);
		u32(&f, WB_A_OPERATIONS, 1);
		u32(&f, WB_A_CREDENTIALS, 4);
		u32(&f, WB_A_BAD_RECORDS, 0);
		emit(&f, s, "b-status-info");
		break;
	case FUZZ_CLIENT_LIST:
		cred_info(&f, s, false);
		cred_info(&f, s, true);
		broker_ok(&f, s);
		break;
	case FUZZ_CLIENT_POLICY:
		begin(&f, WB_MSG_POLICY_DECISION);
		u8(&f, WB_A_ALLOW, 1);
		str(&f, WB_A_RULE, "20-jump-host.conf:6 [rule ops-servers]");
		str(&f, WB_A_MESSAGE, "allowed by rule ops-servers");
		str(&f, WB_A_TRANSPORT, "kerberos");
		str(&f, WB_A_TRANSPORT, "negotiate");
		emit(&f, s, "b-policy-decision");
		break;
	case FUZZ_CLIENT_SESSION:
		begin(&f, WB_MSG_OK);
		u32(&f, WB_A_SESSIONS, 1);
		u64(&f, WB_A_SESSION_ID, 0x1234567890abcdefull);
		emit(&f, s, "b-ok-session");
		break;
	case FUZZ_CLIENT_DEPOSIT:
		begin(&f, WB_MSG_OK);
		str(&f, WB_A_DEPOSIT, "0123456789abcdef0123456789abcdef");
		emit(&f, s, "b-ok-deposit");
		break;
	case FUZZ_CLIENT_RUN:
		begin(&f, WB_MSG_STDOUT);
		wb_msg_put(&f, WB_A_DATA, "Windows IP Configuration\r\n", 26);
		emit(&f, s, "b-stdout");
		begin(&f, WB_MSG_STDERR);
		wb_msg_put(&f, WB_A_DATA, "warning\r\n", 9);
		emit(&f, s, "b-stderr");
		begin(&f, WB_MSG_EXIT);
		u32(&f, WB_A_EXIT_CODE, 3);
		str(&f, WB_A_TRANSPORT, "kerberos");
		emit(&f, s, "b-exit");
		break;
	default:
		broker_error(&f, s);
		break;
	}
	wb_writer_free(&f);
}

/* ---- frames libwinrm-broker sends, captured ---- */

static struct wbc_target *target(const char *host, bool options)
{
	struct wbc_target *t = NULL;

	if (wbc_target_new(host, &t, NULL) < 0)
		die("target");
	if (options &&
	    (wbc_target_set(t, "port", "5986", NULL) < 0 ||
	     wbc_target_set(t, "scheme", "https", NULL) < 0 ||
	     wbc_target_set(t, "path", "/wsman", NULL) < 0 ||
	     wbc_target_set(t, "transport", "kerberos,negotiate", NULL) < 0 ||
	     wbc_target_set(t, "server_cert_validation", "validate", NULL) < 0 ||
	     wbc_target_set(t, "ca_trust_path", "/etc/winrm-broker/corp-ca.pem", NULL) < 0 ||
	     wbc_target_set(t, "operation_timeout_sec", "20", NULL) < 0 ||
	     wbc_target_set(t, "read_timeout_sec", "30", NULL) < 0 ||
	     wbc_target_set(t, "message_encryption", "auto", NULL) < 0 ||
	     wbc_target_set(t, "kerberos_delegation", "yes", NULL) < 0 ||
	     wbc_target_set(t, "kerberos_hostname_override", "win1.corp.example", NULL) < 0 ||
	     wbc_target_set(t, "service", "HTTP", NULL) < 0 ||
	     wbc_target_set(t, "send_cbt", "true", NULL) < 0))
		die("target options");
	return t;
}

static struct wbc_target *lab_target(void)
{
	struct wbc_target *t = target("192.0.2.7", false);

	if (wbc_target_set(t, "transport", "credssp,ntlm", NULL) < 0 ||
	    wbc_target_set(t, "server_cert_validation", "ignore", NULL) < 0 ||
	    wbc_target_set(t, "send_cbt", "no", NULL) < 0 ||
	    wbc_target_set(t, "credssp_disable_tlsv1_2", "1", NULL) < 0 ||
	    wbc_target_set(t, "ca_trust_path", "/etc/winrm-broker/lab-ca.pem", NULL) < 0)
		die("lab target");
	return t;
}

static void client_run(struct wbc_conn *c, struct wbc_target *t, bool with_stdin)
{
	struct wbc_run *r = NULL;
	struct wbc_event ev;

	if (wbc_run_new("ops-admin", t, "ipconfig", &r, NULL) < 0 ||
	    wbc_run_add_arg(r, "/all", NULL) < 0 || wbc_run_set_scope(r, WBC_SCOPE_SHARED, NULL) < 0 ||
	    (with_stdin && wbc_run_set_stdin(r, 1, NULL) < 0) || wbc_run_start(r, c, NULL) < 0)
		die("run");
	if (with_stdin && (wbc_run_write_stdin(r, "data\n", 5, NULL) != 5 ||
			   wbc_run_signal(r, WBC_SIGNAL_CTRL_C, NULL) < 0 ||
			   wbc_run_close_stdin(r, NULL) < 0))
		die("stdin");
	while (wbc_run_read(r, &ev, 1000, NULL) >= 0 && ev.type != WBC_EV_EXIT)
		;
	wbc_run_free(r);
}

static void client_op(struct wbc_conn *c, enum fuzz_client_op op, int variant)
{
	static const char *const args[] = { "/all" };
	char token[WBC_DEPOSIT_LEN + 1];
	struct wbc_policy_decision d;
	struct wbc_cred_info info;
	struct wbc_cred_add *a = NULL;
	struct wbc_status st;
	struct wbc_target *t;
	uint64_t id;
	uint32_t n;

	switch (op) {
	case FUZZ_CLIENT_STATUS:
		wbc_status(c, &st, NULL);
		break;
	case FUZZ_CLIENT_LIST:
		if (wbc_cred_list_begin(c, NULL) == 0)
			while (wbc_cred_list_next(c, &info, NULL) == 1)
				;
		break;
	case FUZZ_CLIENT_POLICY:
		t = target("win1.corp.example", false);
		wbc_policy_check(c, "bob", "ops-admin", WBC_SCOPE_SHARED, t, "ipconfig", args, 1, &d,
				 NULL);
		wbc_target_free(t);
		break;
	case FUZZ_CLIENT_SESSION:
		wbc_cred_session(c, "login", WBC_SESSION_OPEN, 1000,
				 "0123456789abcdef0123456789abcdef", &id, &n, NULL);
		break;
	case FUZZ_CLIENT_DEPOSIT:
		if (wbc_cred_add_new("login", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "alice", "CORP",
				     &a, NULL) < 0 ||
		    wbc_cred_add_secret(a, "fuzz-password", 13, NULL) < 0 ||
		    wbc_cred_add_owner(a, 1000, NULL) < 0 ||
		    wbc_cred_add_session(a, WBC_SESSION_DEPOSIT, 3600, NULL) < 0 ||
		    wbc_cred_add_validate(a, NULL) < 0)
			die("deposit");
		wbc_cred_add_send_deposit(c, a, token, NULL);
		wbc_cred_add_free(a);
		break;
	case FUZZ_CLIENT_RUN:
		t = variant ? lab_target() : target("win1.corp.example", true);
		client_run(c, t, variant);
		wbc_target_free(t);
		break;
	default:
		if (variant) {
			if (wbc_cred_add_new("ops-admin", WBC_SCOPE_SHARED, WBC_KIND_PASSWORD,
					     "Administrator", "CORP", &a, NULL) < 0 ||
			    wbc_cred_add_secret(a, "fuzz-password", 13, NULL) < 0 ||
			    wbc_cred_add_flags(a, WBC_CRED_DELEGATE, NULL) < 0 ||
			    wbc_cred_add_allow_uid(a, 1000, NULL) < 0 ||
			    wbc_cred_add_allow_gid(a, 2001, NULL) < 0)
				die("cred add");
			wbc_cred_add_send(c, a, 1, NULL);
			wbc_cred_add_free(a);
			t = lab_target();
			wbc_cred_test(c, "ops-admin", WBC_SCOPE_SHARED, t, NULL);
			wbc_target_free(t);
		} else {
			wbc_cred_remove(c, "old", WBC_SCOPE_SHARED, WBC_NO_OWNER, NULL);
		}
		break;
	}
}

static const char *const type_names[] = {
	[WB_MSG_HELLO] = "hello", [WB_MSG_RUN] = "run", [WB_MSG_STDIN] = "stdin",
	[WB_MSG_SIGNAL] = "signal", [WB_MSG_CRED_ADD] = "cred-add", [WB_MSG_CRED_RM] = "cred-rm",
	[WB_MSG_CRED_LIST] = "cred-list", [WB_MSG_CRED_TEST] = "cred-test",
	[WB_MSG_CRED_SESSION] = "cred-session", [WB_MSG_STATUS] = "status",
	[WB_MSG_POLICY_CHECK] = "policy-check",
};

/* Saves each frame the client wrote as c-<type>[-variant]; RUN and CRED_TEST also for fuzz_options. */
static void save_client_frames(const uint8_t *p, size_t n, int variant)
{
	char name[64];
	size_t at = 0;

	while (n - at >= WB_FRAME_HDR) {
		uint32_t len;
		uint16_t type;

		if (wb_frame_header(p + at, &len, &type) < 0 || len > n - at - WB_FRAME_HDR)
			die("client frame");
		snprintf(name, sizeof(name), "c-%s%s", type < sizeof(type_names) / sizeof(type_names[0]) &&
			 type_names[type] ? type_names[type] : "other", variant ? "-2" : "");
		save("fuzz_proto", name, p + at, WB_FRAME_HDR + len);
		if (type == WB_MSG_RUN || type == WB_MSG_CRED_TEST)
			save("fuzz_options", name, p + at, WB_FRAME_HDR + len);
		at += WB_FRAME_HDR + len;
	}
}

static void conversation(enum fuzz_client_op op, int variant)
{
	static const char *const op_names[] = { "status", "list", "policy", "session",
						"deposit", "run", "remove" };
	struct wb_writer s;
	struct wbc_conn *c = NULL;
	uint8_t sent[65536];
	char name[64];
	ssize_t got;
	int sv[2];

	wb_writer_init(&s, 1024 * 1024, WB_PLAIN);
	replies(op, &s);
	snprintf(name, sizeof(name), "%s%s", op_names[op], variant ? "-2" : "");
	save_prefixed("fuzz_libclient", name, (uint8_t)op, s.data, s.len);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[1], s.data, s.len) != (ssize_t)s.len)
		die("socketpair");
	shutdown(sv[1], SHUT_WR);
	if (wbc_connect_fd(sv[0], NULL, &c, NULL) < 0)
		die("connect");
	client_op(c, op, variant);
	wbc_close(c);
	got = read(sv[1], sent, sizeof(sent));
	if (got <= 0)
		die("nothing captured");
	save_client_frames(sent, (size_t)got, variant);
	close(sv[1]);
	wb_writer_free(&s);
}

/* Inputs that once crashed a harness (docs/fuzzing.md), kept as seeds. */
static void regressions(void)
{
	struct wb_writer f, s;

	wb_writer_init(&f, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	wb_writer_init(&s, 1024 * 1024, WB_PLAIN);
	broker_hello(&f, &s);
	begin(&f, WB_MSG_ERROR);	/* wb_errcode_name(INT_MIN) read out of bounds */
	u32(&f, WB_A_ERROR_CODE, 0x80000000u);
	emit(&f, &s, NULL);
	save_prefixed("fuzz_libclient", "regress-error-code-int-min", FUZZ_CLIENT_REMOVE, s.data,
		      s.len);
	wb_writer_free(&f);
	wb_writer_free(&s);
}

static void frames(void)
{
	int op;

	for (op = 0; op < FUZZ_CLIENT_OPS; op++)
		conversation((enum fuzz_client_op)op, 0);
	conversation(FUZZ_CLIENT_RUN, 1);
	conversation(FUZZ_CLIENT_REMOVE, 1);
	regressions();
}

/* ---- a store written by the store API ---- */

static void put(struct wb_store *s, const char *name, enum wb_cred_scope scope, uid_t owner,
		enum wb_cred_kind kind, const void *secret, size_t n)
{
	struct wb_cred_meta m = { .scope = scope, .owner = owner, .kind = kind };
	struct wb_secret *sec = wb_secret_new(kind);
	struct wb_error err;
	int rc = -1;

	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.user, sizeof(m.user), "%s", kind == WB_CRED_KEYTAB ? "svc@CORP.EXAMPLE" : "alice");
	snprintf(m.domain, sizeof(m.domain), "%s", kind == WB_CRED_KEYTAB ? "" : "CORP");
	if (scope == WB_SCOPE_SHARED) {
		m.n_allow_uids = 2;
		m.allow_uids[0] = 1000;
		m.allow_uids[1] = 1001;
		m.n_allow_gids = 1;
		m.allow_gids[0] = 2001;
		m.flags = WB_CRED_F_DELEGATE;
	}
	if (sec && kind == WB_CRED_PASSWORD)
		rc = wb_secret_set((uint8_t **)&sec->password, NULL, secret, n);
	else if (sec && kind == WB_CRED_CERTIFICATE)
		rc = wb_secret_set(&sec->cert_pem, &sec->cert_len, secret, n) ?:
		     wb_secret_set(&sec->key_pem, &sec->key_len, "-----BEGIN PRIVATE KEY-----\n", 28);
	else if (sec)
		rc = wb_secret_set(&sec->keytab, &sec->keytab_len, secret, n);
	if (rc < 0 || wb_store_put(s, &m, sec, false, &err) < 0)
		die("store put");
	wb_secret_free(sec);
}

static void store(const char *keytab_path)
{
	static const uint8_t key_bytes[32] = FUZZ_STORE_KEY_INIT;
	char dir[] = "/tmp/wb-mkcorpus-XXXXXX", path[64];
	struct wb_masterkey *key = NULL;
	struct wb_store *s = NULL;
	struct wb_error err;
	uint8_t *img, *kt;
	size_t n, ktn;

	if (!mkdtemp(dir) || wb_masterkey_from_bytes(key_bytes, 32, &key, &err) < 0)
		die("store setup");
	snprintf(path, sizeof(path), "%s/store", dir);
	if (wb_store_open(path, key, &s, &err) < 0)
		die("store open");
	put(s, "gone", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD, "x", 1);
	if (wb_store_remove(s, WB_SCOPE_SHARED, 0, "gone", &err) < 0)
		die("store remove");
	img = slurp(path, &n);
	save_prefixed("fuzz_store", "empty", 0, img, n);
	free(img);

	kt = slurp(keytab_path, &ktn);
	put(s, "login", WB_SCOPE_PERSONAL, 1000, WB_CRED_PASSWORD, "Secret1!", 8);
	put(s, "ops-admin", WB_SCOPE_SHARED, 0, WB_CRED_PASSWORD, "Adm1n-Passw0rd", 14);
	put(s, "web-cert", WB_SCOPE_PERSONAL, 1001, WB_CRED_CERTIFICATE,
	    "-----BEGIN CERTIFICATE-----\n", 28);
	put(s, "svc-keytab", WB_SCOPE_SHARED, 0, WB_CRED_KEYTAB, kt, ktn);
	free(kt);
	wb_store_close(s);

	img = slurp(path, &n);
	save_prefixed("fuzz_store", "four-records", 0, img, n);
	img[n - 3] ^= 0x40;	/* a damaged record: reported, kept */
	save_prefixed("fuzz_store", "damaged-record", 0, img, n);
	img[n - 3] ^= 0x40;
	fuzz_store_reseal(img, n, key_bytes, false);
	save_prefixed("fuzz_store", "four-records-plain", FUZZ_STORE_FIXUP, img, n);
	free(img);

	unlink(path);
	rmdir(dir);
	wb_masterkey_free(key);
}

/* ---- CredSSP DER (brokerd/credssp_asn1.c) ---- */

static void der(const char *name, const struct wb_tsreq *r)
{
	struct wb_writer w;
	struct wb_error err;

	wb_writer_init(&w, WB_CREDSSP_MSG_MAX, WB_PLAIN);
	if (wb_tsreq_encode(r, &w, &err) < 0)
		die("tsreq");
	save("fuzz_credssp", name, w.data, w.len);
	wb_writer_free(&w);
}

static void credssp(void)
{
	/* An NTLM NEGOTIATE and a SPNEGO-looking token; a 32-byte nonce; a sealed blob. */
	static uint8_t ntlm[40] = "NTLMSSP\0\1\0\0\0\x97\x82\x08\xe2";
	static uint8_t spnego[24] = "\x60\x16\x06\x06\x2b\x06\x01\x05\x05\x02\xa0\x0c";
	static uint8_t nonce[32], sealed[64];
	struct wb_tsreq r;
	struct wb_writer w;
	struct wb_error err;

	memset(nonce, 0x4e, sizeof(nonce));
	memset(sealed, 0x5a, sizeof(sealed));
	r = (struct wb_tsreq){ .version = 6, .nego = { true, ntlm, sizeof(ntlm) }, .nonce = { true, nonce, 32 } };
	der("tsreq-nego", &r);
	r = (struct wb_tsreq){ .version = 2, .nego = { true, spnego, sizeof(spnego) } };
	der("tsreq-v2", &r);
	r = (struct wb_tsreq){ .version = 6, .pub_key_auth = { true, sealed, sizeof(sealed) },
			       .nonce = { true, nonce, 32 } };
	der("tsreq-pubkey", &r);
	r = (struct wb_tsreq){ .version = 5, .auth_info = { true, sealed, sizeof(sealed) } };
	der("tsreq-authinfo", &r);
	r = (struct wb_tsreq){ .version = 6, .has_error = true, .error_code = 0xc000006du };
	der("tsreq-error", &r);

	wb_writer_init(&w, WB_CREDSSP_MSG_MAX, WB_PLAIN);
	if (wb_tscreds_encode_password("CORP", "alice", "Secret1!", &w, &err) < 0)
		die("tscreds");
	save("fuzz_credssp", "tscreds", w.data, w.len);
	wb_writer_free(&w);
}

/* ---- multipart/encrypted bodies (brokerd/msgenc.c) ---- */

static int seal(void *ctx, const uint8_t *plain, size_t n, struct wb_writer *out,
		uint32_t *length_field, struct wb_error *err)
{
	(void)ctx;
	(void)err;
	*length_field = 16;
	return wb_put(out, "fuzz-signature!", 16) ?: wb_put(out, plain, n);
}

/* Some servers write "-- Encrypted Boundary" (docs/transports.md). */
static void spaced(struct wb_writer *w)
{
	static const char marker[] = "--Encrypted Boundary";
	struct wb_writer out;
	size_t i;

	wb_writer_init(&out, 2 * w->len, WB_PLAIN);
	for (i = 0; i < w->len; i++) {
		if (w->len - i >= sizeof(marker) - 1 &&
		    memcmp(w->data + i, marker, sizeof(marker) - 1) == 0) {
			wb_put(&out, "-- ", 3);
			i++;	/* past "--"; the loop steps over the second '-' */
		} else {
			wb_put_u8(&out, w->data[i]);
		}
	}
	wb_writer_free(w);
	*w = out;
}

static void msgenc(const char *name, const char *protocol, size_t chunk, bool space)
{
	static const char soap[] =
		"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header/>"
		"<s:Body><rsp:ReceiveResponse xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"/>"
		"</s:Body></s:Envelope>";
	char ct[256];
	struct wb_writer body, seed;
	struct wb_error err;

	wb_writer_init(&body, 1024 * 1024, WB_PLAIN);
	wb_writer_init(&seed, 1024 * 1024, WB_PLAIN);
	if (wb_msgenc_build(protocol, (const uint8_t *)soap, sizeof(soap) - 1, chunk, seal, NULL,
			    &body, ct, sizeof(ct), &err) < 0 ||
	    wb_put(&seed, ct, strlen(ct)) < 0 || wb_put(&seed, "\n", 1) < 0 ||
	    wb_put(&seed, body.data, body.len) < 0)
		die("msgenc");
	if (space)
		spaced(&seed);
	save("fuzz_msgenc", name, seed.data, seed.len);
	wb_writer_free(&body);
	wb_writer_free(&seed);
}

/* ---- audit lines (brokerd/audit.c) ---- */

static void audit(void)
{
	char dir[] = "/tmp/wb-mkcorpus-XXXXXX", path[64], head[80];
	struct wb_audit_event ev = {
		.op_id = "0123456789abcdef0123456789abcdef", .operation = "run", .uid = 1000,
		.user = "alice", .pid = 4242, .exe = "/usr/bin/winrm-broker", .cred = "ops-admin",
		.host = "win1.corp.example", .port = 5986, .transport = "kerberos",
		.encryption = "tls", .command = "net user bob /add Passw0rd!", .allowed = true,
		.rule = "20-jump-host.conf:6 [rule ops-servers]", .reason = "allowed by rule ops-servers",
	};
	struct wb_audit *a = NULL;
	struct wb_error err;
	uint8_t *b;
	size_t n;

	if (!mkdtemp(dir))
		die("audit dir");
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(head, sizeof(head), "%s.head", path);
	if (wb_audit_open(path, NULL, NULL, 0, true, &a, &err) < 0 ||
	    wb_audit_decision(a, &ev, &err) < 0)
		die("audit");
	ev.has_exit_code = true;
	ev.exit_code = 0;
	ev.stdout_bytes = 1234;
	ev.duration_ms = 845;
	if (wb_audit_outcome(a, &ev, &err) < 0)
		die("audit outcome");
	ev.allowed = false;
	ev.operation = "cred-test";
	ev.command = NULL;
	ev.rule = "default deny";
	ev.reason = "no rule allows alice to use \"ops-admin\" on win1.corp.example";
	if (wb_audit_decision(a, &ev, &err) < 0)
		die("audit deny");
	wb_audit_close(a);
	b = slurp(path, &n);
	save("fuzz_audit", "audit-log", b, n);
	free(b);
	b = slurp(head, &n);
	save("fuzz_audit", "audit-head", b, n);
	free(b);
	unlink(path);
	unlink(head);
	rmdir(dir);
}

/* ---- pam_winrm_broker arguments (docs/pam.md), NUL-separated after the PAM user ---- */

static void pam(void)
{
	static const char a[] = "alice\0use_first_pass\0domain=CORP";
	static const char b[] = "CORP\\bob\0try_first_pass\0validate\0ttl=28800\0delegate";
	static const char c[] = "carol\0format=%u@corp.example\0socket=/run/winrm-broker/broker.sock\0"
				"broker_user=winrm\0timeout=10\0broker_down=fail\0minimum_uid=1000\0"
				"debug\0name=corp-login";
	static const char d[] = "dave\0realm=CORP.EXAMPLE\0domain=CORP";

	save("fuzz_pam_options", "use-first-pass", a, sizeof(a) - 1);
	save("fuzz_pam_options", "qualified-user", b, sizeof(b) - 1);
	save("fuzz_pam_options", "every-option", c, sizeof(c) - 1);
	save("fuzz_pam_options", "realm-domain", d, sizeof(d) - 1);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: fuzz_mkcorpus CORPUS-DIR KEYTAB");
	out_dir = argv[1];
	if (sodium_init() < 0)
		die("sodium_init");
	frames();
	store(argv[2]);
	credssp();
	msgenc("spnego", WB_MSGENC_SPNEGO, 0, false);
	msgenc("kerberos-space", WB_MSGENC_KERBEROS, 0, true);
	msgenc("credssp-multi", WB_MSGENC_CREDSSP, 64, false);
	audit();
	pam();
	return 0;
}
