/*
 * cred.c - credential requests: add, remove, list, test, and the
 * login-session requests of pam_winrm_broker (deposit, bind, release).
 *
 * CRED_ADD is the one frame that carries a secret. It is built in a
 * WB_SECRET writer (sodium_malloc'd, wiped on growth and on free) and the
 * secret is copied into it once, straight from the caller's buffer. A
 * deposit token (it makes a pending password active) is wiped wherever
 * it passed: the request writers on free, the reply buffer once the
 * token is copied out (wbci_wipe_in).
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct wbc_cred_add {
	struct wb_writer w;	/* the CRED_ADD frame, WB_SECRET */
	int scope, kind;
	bool have_secret, have_cert, spent, validate;
	uint32_t flags, owner;
	size_t n_uids, n_gids;
	int session;		/* 0, or enum wbc_session_mode */
	uint32_t ttl_sec;	/* WBC_SESSION_DEPOSIT only */
	bool have_deposit;	/* WBC_SESSION_UPDATE of a pending deposit */
};

static int add_failed(int rc, struct wbc_error *err)
{
	if (rc == -EMSGSIZE)
		return wbci_seterr(err, WBC_E_INVALID, "the credential exceeds the %d-byte request limit",
				   WB_FRAME_MAX);
	return wbci_seterr(err, WBC_E_INTERNAL, "building CRED_ADD: %s", strerror(-rc));
}

/* User and domain: plain text the broker will show in listings. */
static int check_text(const char *what, const char *s, bool empty_ok, struct wbc_error *err)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n == 0 && !empty_ok)
		return wbci_seterr(err, WBC_E_INVALID, "no %s given", what);
	if (n > WBC_CRED_TEXT_MAX)
		return wbci_seterr(err, WBC_E_INVALID, "the %s is longer than %d bytes", what,
				   WBC_CRED_TEXT_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return wbci_seterr(err, WBC_E_INVALID, "the %s contains a control character",
					   what);
	return 0;
}

static int check_scope(int scope, struct wbc_error *err)
{
	if (scope != WBC_SCOPE_PERSONAL && scope != WBC_SCOPE_SHARED)
		return wbci_seterr(err, WBC_E_INVALID, "the scope must be personal or shared");
	return 0;
}

static bool is_token(const char *s, size_t n)
{
	size_t i;

	if (n != WBC_DEPOSIT_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

int wbc_cred_add_new(const char *name, int scope, int kind, const char *user, const char *domain,
		     struct wbc_cred_add **out, struct wbc_error *err)
{
	struct wbc_cred_add *a;
	int rc;

	*out = NULL;
	rc = wbc_cred_name_check(name, err);
	if (rc == 0)
		rc = check_scope(scope, err);
	if (rc == 0 && kind != WBC_KIND_PASSWORD && kind != WBC_KIND_CERTIFICATE &&
	    kind != WBC_KIND_KEYTAB)
		rc = wbci_seterr(err, WBC_E_INVALID, "bad credential kind %d", kind);
	/* A certificate names its account itself; the user is then a label. */
	if (rc == 0)
		rc = check_text("user", user, kind == WBC_KIND_CERTIFICATE, err);
	if (rc == 0)
		rc = check_text("domain", domain, true, err);
	if (rc < 0)
		return rc;
	if (sodium_init() < 0)
		return wbci_seterr(err, WBC_E_INTERNAL, "libsodium failed to initialize");
	a = calloc(1, sizeof(*a));
	if (!a)
		return wbci_seterr(err, WBC_E_INTERNAL, "out of memory");
	a->scope = scope;
	a->kind = kind;
	a->owner = WBC_NO_OWNER;
	wb_writer_init(&a->w, WBCI_FRAME_CAP, WB_SECRET);
	rc = wb_msg_begin(&a->w, WB_MSG_CRED_ADD);
	if (rc == 0)
		rc = wb_msg_put_str(&a->w, WB_A_CRED, name);
	if (rc == 0)
		rc = wb_msg_put_u8(&a->w, WB_A_SCOPE, (uint8_t)scope);
	if (rc == 0)
		rc = wb_msg_put_u8(&a->w, WB_A_KIND, (uint8_t)kind);
	if (rc == 0)
		rc = wb_msg_put_str(&a->w, WB_A_USER, user ? user : "");
	if (rc == 0 && domain && *domain)
		rc = wb_msg_put_str(&a->w, WB_A_DOMAIN, domain);
	if (rc < 0) {
		wbc_cred_add_free(a);
		return add_failed(rc, err);
	}
	*out = a;
	return 0;
}

static int usable(const struct wbc_cred_add *a, struct wbc_error *err)
{
	if (a->spent)
		return wbci_seterr(err, WBC_E_INVALID,
				   "this credential request was already sent; make a new one");
	return 0;
}

static bool contains(const void *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static int check_secret(const struct wbc_cred_add *a, const void *secret, size_t len,
			struct wbc_error *err)
{
	if (a->have_secret)
		return wbci_seterr(err, WBC_E_INVALID, "the secret was already given");
	if (!secret || len == 0)
		return wbci_seterr(err, WBC_E_INVALID, "the secret is empty");
	if (len > WBC_CRED_SECRET_MAX)
		return wbci_seterr(err, WBC_E_INVALID, "the secret is longer than %d bytes",
				   WBC_CRED_SECRET_MAX);
	if (a->kind == WBC_KIND_PASSWORD && memchr(secret, '\0', len))
		return wbci_seterr(err, WBC_E_INVALID, "the password contains a NUL byte");
	if (a->kind == WBC_KIND_CERTIFICATE &&
	    (!contains(secret, len, "-----BEGIN ") || !contains(secret, len, "PRIVATE KEY-----")))
		return wbci_seterr(err, WBC_E_INVALID, "the key is not a PEM private key");
	/* MIT keytab files start with 0x05 and format version 1 or 2. */
	if (a->kind == WBC_KIND_KEYTAB &&
	    (len < 2 || ((const uint8_t *)secret)[0] != 5 || ((const uint8_t *)secret)[1] > 2))
		return wbci_seterr(err, WBC_E_INVALID, "the keytab is not a keytab file");
	return 0;
}

int wbc_cred_add_secret(struct wbc_cred_add *a, const void *secret, size_t len,
			struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc == 0)
		rc = check_secret(a, secret, len, err);
	if (rc < 0)
		return rc;
	rc = wb_msg_put(&a->w, WB_A_SECRET, secret, len);
	if (rc < 0)
		return add_failed(rc, err);
	a->have_secret = true;
	return 0;
}

int wbc_cred_add_cert(struct wbc_cred_add *a, const void *pem, size_t len, struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (a->kind != WBC_KIND_CERTIFICATE)
		return wbci_seterr(err, WBC_E_INVALID, "only a certificate credential has a certificate");
	if (a->have_cert)
		return wbci_seterr(err, WBC_E_INVALID, "the certificate was already given");
	if (!pem || len == 0 || len > WBC_CRED_SECRET_MAX ||
	    !contains(pem, len, "-----BEGIN CERTIFICATE-----"))
		return wbci_seterr(err, WBC_E_INVALID,
				   "the certificate is not a PEM certificate of at most %d bytes",
				   WBC_CRED_SECRET_MAX);
	rc = wb_msg_put(&a->w, WB_A_CERT, pem, len);
	if (rc < 0)
		return add_failed(rc, err);
	a->have_cert = true;
	return 0;
}

int wbc_cred_add_flags(struct wbc_cred_add *a, uint32_t flags, struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (flags & ~WBC_CRED_DELEGATE)
		return wbci_seterr(err, WBC_E_INVALID, "unknown credential flags 0x%x",
				   flags & ~WBC_CRED_DELEGATE);
	a->flags = flags;
	return 0;
}

static int allow(struct wbc_cred_add *a, uint16_t tag, uint32_t id, size_t *count,
		 struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (a->scope != WBC_SCOPE_SHARED)
		return wbci_seterr(err, WBC_E_INVALID,
				   "allowed users and groups apply to shared credentials only");
	if (*count >= WBC_CRED_ACL_MAX)
		return wbci_seterr(err, WBC_E_INVALID, "at most %d allowed %s", WBC_CRED_ACL_MAX,
				   tag == WB_A_ALLOW_UID ? "users" : "groups");
	rc = wb_msg_put_u32(&a->w, tag, id);
	if (rc < 0)
		return add_failed(rc, err);
	(*count)++;
	return 0;
}

int wbc_cred_add_allow_uid(struct wbc_cred_add *a, uint32_t uid, struct wbc_error *err)
{
	return allow(a, WB_A_ALLOW_UID, uid, &a->n_uids, err);
}

int wbc_cred_add_allow_gid(struct wbc_cred_add *a, uint32_t gid, struct wbc_error *err)
{
	return allow(a, WB_A_ALLOW_GID, gid, &a->n_gids, err);
}

int wbc_cred_add_owner(struct wbc_cred_add *a, uint32_t uid, struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (a->scope != WBC_SCOPE_PERSONAL)
		return wbci_seterr(err, WBC_E_INVALID, "only a personal credential has an owner");
	if (uid == WBC_NO_OWNER)
		return wbci_seterr(err, WBC_E_INVALID, "bad owner uid");
	a->owner = uid;
	return 0;
}

int wbc_cred_add_session(struct wbc_cred_add *a, int mode, uint32_t ttl_sec,
			 struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (mode != WBC_SESSION_DEPOSIT && mode != WBC_SESSION_UPDATE)
		return wbci_seterr(err, WBC_E_INVALID, "bad session mode %d", mode);
	if (a->session)
		return wbci_seterr(err, WBC_E_INVALID, "the session mode was already given");
	if (a->scope != WBC_SCOPE_PERSONAL || a->kind != WBC_KIND_PASSWORD)
		return wbci_seterr(err, WBC_E_INVALID,
				   "a session credential is a personal password credential");
	a->session = mode;
	a->ttl_sec = mode == WBC_SESSION_DEPOSIT ? ttl_sec : 0;
	return 0;
}

int wbc_cred_add_deposit_token(struct wbc_cred_add *a, const char *token,
			       struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (a->session != WBC_SESSION_UPDATE)
		return wbci_seterr(err, WBC_E_INVALID, "a deposit token goes with a session update; "
				   "call wbc_cred_add_session(WBC_SESSION_UPDATE) first");
	if (a->have_deposit)
		return wbci_seterr(err, WBC_E_INVALID, "the deposit token was already given");
	if (!token || !is_token(token, strlen(token)))
		return wbci_seterr(err, WBC_E_INVALID, "the deposit token is not %d hex digits",
				   WBC_DEPOSIT_LEN);
	/* Into the WB_SECRET frame: wiped with it. */
	rc = wb_msg_put_str(&a->w, WB_A_DEPOSIT, token);
	if (rc < 0)
		return add_failed(rc, err);
	a->have_deposit = true;
	return 0;
}

int wbc_cred_add_validate(struct wbc_cred_add *a, struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc < 0)
		return rc;
	if (a->kind != WBC_KIND_PASSWORD)
		return wbci_seterr(err, WBC_E_INVALID, "only a password can be checked with the KDC");
	a->validate = true;
	return 0;
}

static int check_complete(const struct wbc_cred_add *a, struct wbc_error *err)
{
	if (!a->have_secret)
		return wbci_seterr(err, WBC_E_INVALID, "no %s given",
				   a->kind == WBC_KIND_PASSWORD ? "password" :
				   a->kind == WBC_KIND_KEYTAB ? "keytab" : "private key");
	if (a->kind == WBC_KIND_CERTIFICATE && !a->have_cert)
		return wbci_seterr(err, WBC_E_INVALID, "no certificate given");
	return 0;
}

/* The attributes known only at the end; then the frame is complete. */
static int finish_add(struct wbc_cred_add *a, int replace, struct wbc_error *err)
{
	int rc = 0;

	if (a->flags)
		rc = wb_msg_put_u32(&a->w, WB_A_FLAGS, a->flags);
	if (rc == 0 && replace)
		rc = wb_msg_put_u8(&a->w, WB_A_REPLACE, 1);
	if (rc == 0 && a->owner != WBC_NO_OWNER)
		rc = wb_msg_put_u32(&a->w, WB_A_OWNER, a->owner);
	if (rc == 0 && a->session)
		rc = wb_msg_put_u8(&a->w, WB_A_SESSION, (uint8_t)a->session);
	if (rc == 0 && a->ttl_sec)
		rc = wb_msg_put_u32(&a->w, WB_A_TTL, a->ttl_sec);
	if (rc == 0 && a->validate)
		rc = wb_msg_put_u8(&a->w, WB_A_VALIDATE, 1);
	if (rc == 0)
		rc = wb_msg_finish(&a->w);
	return rc < 0 ? add_failed(rc, err) : 0;
}

/* Sends the request and waits for the reply; the request is spent
 * (and its secret wiped) from the moment it is complete. */
static int send_add(struct wbc_conn *c, struct wbc_cred_add *a, int replace, struct wb_frame *f,
		    struct wbc_error *err)
{
	int rc = usable(a, err);

	if (rc == 0)
		rc = check_complete(a, err);
	if (rc == 0)
		rc = wbci_idle(c, err);
	if (rc < 0)
		return rc;
	rc = finish_add(a, replace, err);
	if (rc == 0)
		rc = wbci_request(c, &a->w, f, err);
	a->spent = true;
	wb_writer_free(&a->w);	/* wipes the secret */
	return rc;
}

int wbc_cred_add_send(struct wbc_conn *c, struct wbc_cred_add *a, int replace,
		      struct wbc_error *err)
{
	struct wb_frame f;
	int rc;

	/* A deposit's only use is its token; without it the broker would
	 * keep a password nobody can bind. */
	if (a->session == WBC_SESSION_DEPOSIT)
		return wbci_seterr(err, WBC_E_INVALID,
				   "a session deposit is sent with wbc_cred_add_send_deposit");
	if (a->session && replace)
		return wbci_seterr(err, WBC_E_INVALID,
				   "a session credential update replaces in place; do not ask replace");
	rc = send_add(c, a, replace, &f, err);
	if (rc < 0)
		return rc;
	return wbci_expect_ok(c, &f, "in reply to CRED_ADD", err);
}

int wbc_cred_add_send_deposit(struct wbc_conn *c, struct wbc_cred_add *a,
			      char token[WBC_DEPOSIT_LEN + 1], struct wbc_error *err)
{
	const uint8_t *v;
	uint32_t vlen;
	struct wb_frame f;
	int rc;

	token[0] = '\0';
	if (a->session != WBC_SESSION_DEPOSIT)
		return wbci_seterr(err, WBC_E_INVALID,
				   "not a session deposit; call wbc_cred_add_session first");
	rc = send_add(c, a, 0, &f, err);
	if (rc == 0)
		rc = wbci_expect_ok(c, &f, "in reply to CRED_ADD", err);
	if (rc < 0)
		return rc;
	if (wb_attr_find(&f, WB_A_DEPOSIT, 0, &v, &vlen) < 0 || !is_token((const char *)v, vlen)) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO,
				   "the broker's reply to a session deposit has no valid DEPOSIT token");
	}
	memcpy(token, v, WBC_DEPOSIT_LEN);
	token[WBC_DEPOSIT_LEN] = '\0';
	wbci_wipe_in(c);	/* the reply held the token */
	return 0;
}

void wbc_cred_add_free(struct wbc_cred_add *a)
{
	if (!a)
		return;
	wb_writer_free(&a->w);
	sodium_memzero(a, sizeof(*a));
	free(a);
}

static int simple_request(struct wbc_conn *c, struct wb_writer *w, const char *during,
			  struct wbc_error *err)
{
	struct wb_frame f;
	int rc = wb_msg_finish(w);

	if (rc < 0) {
		wb_writer_free(w);
		return wbci_seterr(err, WBC_E_INVALID, "the request exceeds the %d-byte limit",
				   WB_FRAME_MAX);
	}
	rc = wbci_request(c, w, &f, err);
	wb_writer_free(w);
	if (rc < 0)
		return rc;
	return wbci_expect_ok(c, &f, during, err);
}

int wbc_cred_remove(struct wbc_conn *c, const char *name, int scope, uint32_t owner,
		    struct wbc_error *err)
{
	struct wb_writer w;
	int rc = wbc_cred_name_check(name, err);

	if (rc == 0)
		rc = check_scope(scope, err);
	if (rc == 0 && owner != WBC_NO_OWNER && scope != WBC_SCOPE_PERSONAL)
		rc = wbci_seterr(err, WBC_E_INVALID, "only a personal credential has an owner");
	if (rc < 0)
		return rc;
	wb_writer_init(&w, 1024, WB_PLAIN);
	rc = wb_msg_begin(&w, WB_MSG_CRED_RM);
	if (rc == 0)
		rc = wb_msg_put_str(&w, WB_A_CRED, name);
	if (rc == 0)
		rc = wb_msg_put_u8(&w, WB_A_SCOPE, (uint8_t)scope);
	if (rc == 0 && owner != WBC_NO_OWNER)
		rc = wb_msg_put_u32(&w, WB_A_OWNER, owner);
	if (rc < 0) {
		wb_writer_free(&w);
		return wbci_seterr(err, WBC_E_INTERNAL, "building CRED_RM: %s", strerror(-rc));
	}
	return simple_request(c, &w, "in reply to CRED_RM", err);
}

/* OK {SESSIONS, SESSION_ID?}: the count after the change, and an open's
 * id (0 from a broker that predates SESSION_ID: it releases by count). */
static int session_reply(struct wbc_conn *c, const struct wb_frame *f, uint64_t *session_id,
			 uint32_t *sessions, struct wbc_error *err)
{
	uint64_t id = 0;
	uint32_t n;
	int rc = wbci_expect_ok(c, f, "in reply to CRED_SESSION", err);

	if (rc < 0)
		return rc;
	if (wb_attr_u32(f, WB_A_SESSIONS, &n) < 0) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO,
				   "the broker's reply to CRED_SESSION has no valid SESSIONS count");
	}
	if (wb_attr_u64(f, WB_A_SESSION_ID, &id) == -EBADMSG) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO,
				   "the broker's reply to CRED_SESSION has a malformed SESSION_ID");
	}
	if (sessions)
		*sessions = n;
	if (session_id)
		*session_id = id;
	return 0;
}

static int check_session_args(const char *name, int op, const char *token, struct wbc_error *err)
{
	int rc = wbc_cred_name_check(name, err);

	if (rc < 0)
		return rc;
	if (op != WBC_SESSION_OPEN && op != WBC_SESSION_CLOSE)
		return wbci_seterr(err, WBC_E_INVALID, "bad session operation %d", op);
	if (token && op != WBC_SESSION_OPEN)
		return wbci_seterr(err, WBC_E_INVALID, "a deposit token is bound by an open only");
	if (token && !is_token(token, strlen(token)))
		return wbci_seterr(err, WBC_E_INVALID, "the deposit token is not %d hex digits",
				   WBC_DEPOSIT_LEN);
	return 0;
}

int wbc_cred_session(struct wbc_conn *c, const char *name, int op, uint32_t owner,
		     const char *token, uint64_t *session_id, uint32_t *sessions,
		     struct wbc_error *err)
{
	struct wb_writer w;
	struct wb_frame f;
	int rc = check_session_args(name, op, token, err);

	if (rc < 0)
		return rc;
	wb_writer_init(&w, 1024, WB_PLAIN);
	rc = wb_msg_begin(&w, WB_MSG_CRED_SESSION);
	if (rc == 0)
		rc = wb_msg_put_str(&w, WB_A_CRED, name);
	if (rc == 0)
		rc = wb_msg_put_u8(&w, WB_A_SESSION_OP, (uint8_t)op);
	if (rc == 0 && owner != WBC_NO_OWNER)
		rc = wb_msg_put_u32(&w, WB_A_OWNER, owner);
	if (rc == 0 && token)
		rc = wb_msg_put_str(&w, WB_A_DEPOSIT, token);
	/* 0: no id (the open ran elsewhere, or an older broker): any one. */
	if (rc == 0 && op == WBC_SESSION_CLOSE && session_id && *session_id)
		rc = wb_msg_put_u64(&w, WB_A_SESSION_ID, *session_id);
	if (rc == 0)
		rc = wb_msg_finish(&w);
	if (rc < 0) {
		wb_writer_free(&w);
		return wbci_seterr(err, WBC_E_INTERNAL, "building CRED_SESSION: %s", strerror(-rc));
	}
	rc = wbci_request(c, &w, &f, err);
	wb_writer_free(&w);	/* wipes the token (wb_writer_free zeroes plain buffers too) */
	if (rc < 0)
		return rc;
	return session_reply(c, &f, op == WBC_SESSION_OPEN ? session_id : NULL, sessions, err);
}

int wbc_cred_test(struct wbc_conn *c, const char *name, int scope, const struct wbc_target *t,
		  struct wbc_error *err)
{
	struct wb_writer w;
	int rc = wbc_cred_name_check(name, err);

	if (rc == 0 && scope != WBC_SCOPE_ANY)
		rc = check_scope(scope, err);
	if (rc == 0 && !t)
		rc = wbci_seterr(err, WBC_E_INVALID, "no target given");
	if (rc < 0)
		return rc;
	wb_writer_init(&w, WBCI_FRAME_CAP, WB_PLAIN);
	rc = wb_msg_begin(&w, WB_MSG_CRED_TEST);
	if (rc == 0)
		rc = wb_msg_put_str(&w, WB_A_CRED, name);
	if (rc == 0 && scope != WBC_SCOPE_ANY)
		rc = wb_msg_put_u8(&w, WB_A_SCOPE, (uint8_t)scope);
	if (rc < 0) {
		wb_writer_free(&w);
		return wbci_seterr(err, WBC_E_INTERNAL, "building CRED_TEST: %s", strerror(-rc));
	}
	rc = wbci_target_put(t, &w, err);
	if (rc < 0) {
		wb_writer_free(&w);
		return rc;
	}
	return simple_request(c, &w, "in reply to CRED_TEST", err);
}

int wbc_cred_list_begin(struct wbc_conn *c, struct wbc_error *err)
{
	struct wb_writer w;
	int rc = wbci_idle(c, err);

	if (rc < 0)
		return rc;
	wb_writer_init(&w, 64, WB_PLAIN);
	rc = wb_msg_begin(&w, WB_MSG_CRED_LIST);
	if (rc == 0)
		rc = wb_msg_finish(&w);
	if (rc == 0)
		rc = wbci_send(c, &w, err);
	else
		rc = wbci_seterr(err, WBC_E_INTERNAL, "building CRED_LIST: %s", strerror(-rc));
	wb_writer_free(&w);
	if (rc == 0)
		c->state = WBCI_LIST;
	return rc;
}

/* The repeatable ALLOW_* attributes into ids. */
static int parse_ids(const struct wb_frame *f, uint16_t tag, uint32_t *ids, size_t *n)
{
	const uint8_t *v;
	uint32_t vlen;
	size_t i;

	for (i = 0; wb_attr_find(f, tag, i, &v, &vlen) == 0; i++) {
		if (i >= WBC_CRED_ACL_MAX || vlen != 4)
			return -EBADMSG;
		ids[i] = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
	}
	*n = i;
	return 0;
}

static int parse_info(const struct wb_frame *f, struct wbc_cred_info *info)
{
	uint8_t scope, kind, session = 0;
	uint64_t created = 0, updated = 0, expires = 0;
	const uint8_t *v;
	uint32_t vlen;

	memset(info, 0, sizeof(*info));
	if (wb_attr_find(f, WB_A_CRED, 0, &v, &vlen) < 0 || vlen > WBC_CRED_NAME_MAX ||
	    wb_attr_u8(f, WB_A_SCOPE, &scope) < 0 || wb_attr_u8(f, WB_A_KIND, &kind) < 0)
		return -EBADMSG;
	wbci_attr_text(f, WB_A_CRED, info->name, sizeof(info->name));
	wbci_attr_text(f, WB_A_USER, info->user, sizeof(info->user));
	wbci_attr_text(f, WB_A_DOMAIN, info->domain, sizeof(info->domain));
	info->scope = scope;
	info->kind = kind;
	/* Optional fields: absent reads as 0, a wrong size is malformed. */
	if (wb_attr_u32(f, WB_A_OWNER, &info->owner) == -EBADMSG ||
	    wb_attr_u32(f, WB_A_FLAGS, &info->flags) == -EBADMSG ||
	    wb_attr_u64(f, WB_A_CREATED, &created) == -EBADMSG ||
	    wb_attr_u64(f, WB_A_UPDATED, &updated) == -EBADMSG ||
	    wb_attr_u8(f, WB_A_SESSION, &session) == -EBADMSG ||
	    wb_attr_u32(f, WB_A_SESSIONS, &info->sessions) == -EBADMSG ||
	    wb_attr_u64(f, WB_A_EXPIRES, &expires) == -EBADMSG)
		return -EBADMSG;
	if (expires > INT64_MAX)
		return -EBADMSG;
	info->created = (int64_t)created;
	info->updated = (int64_t)updated;
	info->session = session != 0;
	info->expires = (int64_t)expires;
	if (parse_ids(f, WB_A_ALLOW_UID, info->allow_uids, &info->n_allow_uids) < 0 ||
	    parse_ids(f, WB_A_ALLOW_GID, info->allow_gids, &info->n_allow_gids) < 0)
		return -EBADMSG;
	return 0;
}

int wbc_cred_list_next(struct wbc_conn *c, struct wbc_cred_info *info, struct wbc_error *err)
{
	struct wb_frame f;
	int rc;

	if (c->state != WBCI_LIST)
		return c->state == WBCI_IDLE ?
		       wbci_seterr(err, WBC_E_INVALID, "no listing in progress; call wbc_cred_list_begin") :
		       wbci_idle(c, err);
	rc = wbci_wait_frame(c, &f, c->timeout_ms, err);
	if (rc < 0)
		return rc;
	switch (f.type) {
	case WB_MSG_CRED_INFO:
		if (parse_info(&f, info) < 0) {
			wbci_kill(c);
			return wbci_seterr(err, WBC_E_PROTO, "the broker sent a malformed CRED_INFO frame");
		}
		return 1;
	case WB_MSG_OK:
		c->state = WBCI_IDLE;
		return 0;
	case WB_MSG_ERROR:
		c->state = WBCI_IDLE;
		return wbci_error_reply(c, &f, err);
	default:
		return wbci_unexpected(c, &f, "while listing credentials", err);
	}
}
