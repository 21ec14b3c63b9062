/*
 * pam_winrm_broker.c - the PAM entry points (docs/pam.md).
 *
 * auth hands PAM_AUTHTOK to the broker as a pending deposit and keeps the
 * deposit's token with pam_set_data; open_session binds it (or the user's
 * active session credential) to the login session and keeps the session's
 * id; close_session releases that session; chauthtok gives the broker the
 * new password (for this login's pending deposit if there is one). The module
 * never authenticates anyone: auth returns PAM_IGNORE unless
 * broker_down=fail turns a failure into PAM_AUTHINFO_UNAVAIL, so a
 * misplaced `sufficient` cannot let a user in.
 *
 * Loaded into sshd, login, su, display managers: no global state, no
 * threads, no signal handlers, no environment, every fd CLOEXEC and closed
 * before returning. The password is never logged, never copied outside
 * PAM's items and libwinrm-broker's locked request memory.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "broker.h"
#include "options.h"
#include "winrm-broker.h"

/* pam_set_data keys: the deposit token (auth -> chauthtok, open_session),
 * and what this transaction's open_session bound (for close_session). */
#define DATA_DEPOSIT "pam_winrm_broker_deposit"
#define DATA_SESSION "pam_winrm_broker_session"

/* DATA_SESSION: none when open_session ran in another process. */
struct session {
	bool bound;	/* false: the open bound nothing, so the close releases nothing */
	uint64_t id;	/* the broker's id of the session; 0 from a broker without ids */
};

/* Not a PAM code: the phase goes on. */
#define GO (-1)

struct ctx {
	pam_handle_t *pamh;
	struct pwb_options o;
	int fail_code;		/* this phase's code under broker_down=fail */
	const char *outcome;	/* what a failure means, under broker_down=ignore */
	const char *pam_user;	/* PAM's item */
	uid_t uid;
	char user[WBC_CRED_TEXT_MAX + 1];	/* the Windows account */
	char domain[WBC_CRED_TEXT_MAX + 1];
};

#define DEBUG(x, ...)                                                  \
	do {                                                           \
		if ((x)->o.debug)                                      \
			pam_syslog((x)->pamh, LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* What the phase returns when the broker failed it. */
static int failed(const struct ctx *x)
{
	return x->o.broker_down_fail ? x->fail_code : PAM_IGNORE;
}

static const char *consequence(const struct ctx *x)
{
	return x->o.broker_down_fail ? "the module returns an error (broker_down=fail)" : x->outcome;
}

/* A user name as it may go into a log line: printable, at most 64 bytes. */
static void shown(const char *s, char *buf, size_t size)
{
	size_t i;

	snprintf(buf, size, "%.64s", s ? s : "");
	for (i = 0; buf[i]; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
}

/* Options, the user, its uid and (with map) its Windows account. */
static int setup(struct ctx *x, pam_handle_t *pamh, int argc, const char **argv, int fail_code,
		 const char *outcome, bool map)
{
	char msg[PWB_MSG_MAX], name[72];
	const void *item = NULL;
	int rc;

	memset(x, 0, sizeof(*x));
	x->pamh = pamh;
	x->fail_code = fail_code;
	x->outcome = outcome;
	if (pwb_options_parse(argc, argv, &x->o, msg, sizeof(msg)) < 0) {
		pam_syslog(pamh, LOG_ERR, "configuration error: %s; the module does nothing", msg);
		return failed(x);
	}
	/* PAM_USER, not pam_get_user: this module never prompts for a name. */
	if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || !item || !*(const char *)item) {
		pam_syslog(pamh, LOG_WARNING, "no user name in this PAM transaction; nothing to do");
		return PAM_IGNORE;
	}
	x->pam_user = item;
	rc = pwb_lookup_uid(x->pam_user, &x->uid);
	if (rc < 0) {
		shown(x->pam_user, name, sizeof(name));
		pam_syslog(pamh, LOG_WARNING, "user %s: %s; nothing to do", name,
			   rc == -ENOENT ? "not known to the system" : strerror(-rc));
		return PAM_IGNORE;
	}
	if (x->uid < x->o.minimum_uid) {
		DEBUG(x, "user %s (uid %u) is below minimum_uid %u: skipped", x->pam_user,
		      (unsigned)x->uid, x->o.minimum_uid);
		return PAM_IGNORE;
	}
	if (map && pwb_map_user(&x->o, x->pam_user, x->user, x->domain, msg, sizeof(msg)) < 0) {
		pam_syslog(pamh, LOG_ERR, "user %s: %s; %s", x->pam_user, msg, consequence(x));
		return failed(x);
	}
	return GO;
}

static int connect_broker(const struct ctx *x, struct wbc_conn **c)
{
	struct wbc_error err = { 0 };

	if (pwb_broker_connect(&x->o, c, &err) < 0) {
		pam_syslog(x->pamh, err.code == WBC_E_CONFIG ? LOG_ERR : LOG_WARNING, "%s; %s",
			   err.message, consequence(x));
		return failed(x);
	}
	return GO;
}

/* ---- the password ---- */

/* try_first_pass without PAM_AUTHTOK: ask once, hand the answer to PAM
 * (later modules see it as PAM_AUTHTOK) and wipe our copy. */
static int prompt_password(const struct ctx *x, const char **pw)
{
	const void *item = NULL;
	char *resp = NULL;
	int rc = pam_prompt(x->pamh, PAM_PROMPT_ECHO_OFF, &resp, "Password: ");

	if (rc == PAM_SUCCESS && resp && *resp)
		rc = pam_set_item(x->pamh, PAM_AUTHTOK, resp);
	else if (rc == PAM_SUCCESS)
		rc = PAM_AUTHTOK_ERR;	/* empty: nothing to deposit */
	if (resp) {
		explicit_bzero(resp, strlen(resp));
		free(resp);
	}
	if (rc == PAM_SUCCESS)
		rc = pam_get_item(x->pamh, PAM_AUTHTOK, &item);
	if (rc != PAM_SUCCESS || !item) {
		pam_syslog(x->pamh, LOG_WARNING, "try_first_pass: no password was entered (%s); "
			   "nothing deposited", pam_strerror(x->pamh, rc));
		return PAM_IGNORE;
	}
	*pw = item;
	return GO;
}

static int get_password(const struct ctx *x, const char **pw)
{
	const void *item = NULL;

	if (pam_get_item(x->pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item &&
	    *(const char *)item) {
		*pw = item;
		return GO;
	}
	switch (x->o.pass) {
	case PWB_PASS_USE_FIRST:
		pam_syslog(x->pamh, LOG_WARNING, "use_first_pass: no password from an earlier "
			   "module (PAM_AUTHTOK); nothing deposited");
		return PAM_AUTHINFO_UNAVAIL;
	case PWB_PASS_TRY_FIRST:
		return prompt_password(x, pw);
	default:
		DEBUG(x, "no password from an earlier module (PAM_AUTHTOK) for %s; nothing "
		      "deposited", x->pam_user);
		return PAM_IGNORE;
	}
}

/* A CRED_ADD for the user's session credential; pw goes straight from
 * PAM's item into the request's locked memory. */
static int build_request(const struct ctx *x, const char *pw, int mode, struct wbc_cred_add **a)
{
	struct wbc_error err = { 0 };
	int rc = wbc_cred_add_new(x->o.name, WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, x->user,
				  x->domain, a, &err);

	if (rc == 0)
		rc = wbc_cred_add_secret(*a, pw, strlen(pw), &err);
	if (rc == 0)
		rc = wbc_cred_add_session(*a, mode, x->o.ttl_sec, &err);
	if (rc == 0 && x->o.validate)
		rc = wbc_cred_add_validate(*a, &err);
	if (rc == 0 && x->o.delegate && mode == WBC_SESSION_DEPOSIT)
		rc = wbc_cred_add_flags(*a, WBC_CRED_DELEGATE, &err);
	if (rc == 0)
		rc = wbc_cred_add_owner(*a, (uint32_t)x->uid, &err);
	if (rc < 0) {
		/* libwinrm-broker's messages never quote the secret. */
		pam_syslog(x->pamh, LOG_ERR, "user %s: cannot make the request: %s; %s",
			   x->pam_user, err.message, consequence(x));
		wbc_cred_add_free(*a);
		*a = NULL;
		return failed(x);
	}
	return GO;
}

/* ---- auth: the deposit ---- */

static void token_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	if (data) {
		explicit_bzero(data, strlen(data));
		free(data);
	}
}

static int keep_token(const struct ctx *x, const char *token)
{
	char *copy = strdup(token);

	if (!copy || pam_set_data(x->pamh, DATA_DEPOSIT, copy, token_cleanup) != PAM_SUCCESS) {
		token_cleanup(x->pamh, copy, 0);
		pam_syslog(x->pamh, LOG_WARNING, "cannot keep the deposit for the session; %s",
			   consequence(x));
		return failed(x);
	}
	return GO;
}

static int deposit(const struct ctx *x, const char *pw)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_add *a = NULL;
	struct wbc_conn *c = NULL;
	char token[WBC_DEPOSIT_LEN + 1];
	int rc = build_request(x, pw, WBC_SESSION_DEPOSIT, &a);

	if (rc != GO)
		return rc;
	rc = connect_broker(x, &c);
	if (rc != GO) {
		wbc_cred_add_free(a);
		return rc;
	}
	rc = wbc_cred_add_send_deposit(c, a, token, &err);
	wbc_cred_add_free(a);
	wbc_close(c);
	if (rc < 0) {
		pam_syslog(x->pamh, LOG_WARNING, "the broker did not take the password of %s: %s; %s",
			   x->pam_user, err.message, consequence(x));
		return failed(x);
	}
	rc = keep_token(x, token);
	explicit_bzero(token, sizeof(token));
	if (rc != GO)
		return rc;
	DEBUG(x, "deposited session credential '%s' for %s (uid %u) as %s%s%s%s; it becomes "
	      "active when the session opens", x->o.name, x->pam_user, (unsigned)x->uid,
	      x->domain, x->domain[0] ? "\\" : "", x->user, x->o.validate ? ", checked by the KDC" : "");
	return PAM_IGNORE;
}

/*
 * sshd and others call pam_authenticate again on the same handle after a
 * failed attempt: a token from an earlier attempt must not outlive it, or
 * an attempt that does not get as far as its own deposit would leave the
 * session open binding a password the stack rejected.
 */
static bool forget_deposit(pam_handle_t *pamh)
{
	const void *data = NULL;
	bool had = pam_get_data(pamh, DATA_DEPOSIT, &data) == PAM_SUCCESS && data;

	if (had)
		pam_set_data(pamh, DATA_DEPOSIT, NULL, NULL);	/* token_cleanup wipes it */
	return had;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *pw = NULL;
	bool forgot = forget_deposit(pamh);
	struct ctx x;
	int rc = setup(&x, pamh, argc, argv, PAM_AUTHINFO_UNAVAIL,
		       "login continues without a WinRM credential", true);

	(void)flags;
	if (rc == GO && forgot)
		DEBUG(&x, "a new authentication attempt: the deposit of the one before is forgotten");
	if (rc == GO)
		rc = get_password(&x, &pw);
	if (rc == GO)
		rc = deposit(&x, pw);
	/* Never PAM_SUCCESS: this module does not authenticate. */
	return rc == PAM_SUCCESS ? PAM_IGNORE : rc;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh, (void)flags, (void)argc, (void)argv;
	return PAM_IGNORE;
}

/* ---- session ---- */

static void session_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

/* Static, no cleanup: "bound nothing" needs no memory that could fail. */
static const struct session unbound = { false, 0 };

static void keep_session(const struct ctx *x, bool bound, uint64_t id)
{
	struct session *s;

	if (!bound) {
		pam_set_data(x->pamh, DATA_SESSION, (void *)&unbound, NULL);
		return;
	}
	s = malloc(sizeof(*s));
	if (s) {
		s->bound = true;
		s->id = id;
	}
	/* Without memory: no mark, and the close releases one session by
	 * count, as when the open ran in another process. */
	if (!s || pam_set_data(x->pamh, DATA_SESSION, s, session_cleanup) != PAM_SUCCESS) {
		free(s);
		pam_set_data(x->pamh, DATA_SESSION, NULL, NULL);
	}
}

static const struct session *kept_session(pam_handle_t *pamh)
{
	const void *data = NULL;

	if (pam_get_data(pamh, DATA_SESSION, &data) != PAM_SUCCESS)
		return NULL;
	return data;
}

static const char *pending_token(const struct ctx *x)
{
	const void *data = NULL;

	if (pam_get_data(x->pamh, DATA_DEPOSIT, &data) != PAM_SUCCESS)
		return NULL;
	return data;
}

static int bind_session(const struct ctx *x, uint64_t *id)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c = NULL;
	const char *token = pending_token(x);
	uint32_t n = 0;
	int rc = connect_broker(x, &c);

	if (rc != GO)
		return rc;
	rc = wbc_cred_session(c, x->o.name, WBC_SESSION_OPEN, (uint32_t)x->uid, token, id, &n,
			      &err);
	wbc_close(c);
	if (rc == -WBC_E_NOCRED && !token) {
		DEBUG(x, "no session credential '%s' for %s to bind (nothing was deposited)",
		      x->o.name, x->pam_user);
		return PAM_IGNORE;
	}
	if (rc < 0) {
		pam_syslog(x->pamh, LOG_WARNING, "the broker did not bind session credential '%s' "
			   "of %s: %s; %s", x->o.name, x->pam_user, err.message, consequence(x));
		return failed(x);
	}
	/* Spent: replacing the data wipes the token (token_cleanup). */
	if (token)
		pam_set_data(x->pamh, DATA_DEPOSIT, NULL, NULL);
	DEBUG(x, "bound session credential '%s' of %s (uid %u)%s: %u login session%s%s", x->o.name,
	      x->pam_user, (unsigned)x->uid, token ? " with this login's password" : "", n,
	      n == 1 ? "" : "s", *id ? "" : " (the broker gave no session id)");
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	uint64_t id = 0;
	struct ctx x;
	int rc = setup(&x, pamh, argc, argv, PAM_SESSION_ERR,
		       "the session continues without a WinRM credential", false);

	(void)flags;
	if (rc != GO)
		return rc;
	rc = bind_session(&x, &id);
	keep_session(&x, rc == PAM_SUCCESS, rc == PAM_SUCCESS ? id : 0);
	return rc;
}

/*
 * With the id of this transaction's open, the broker releases exactly that
 * session, or nothing when its credential no longer holds it (expired,
 * removed, a broker restart): a late logout never ends a newer login's
 * credential. Without one (the open ran in another process, or the broker
 * gave none) it releases one session of the credential.
 */
PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c = NULL;
	const struct session *s = kept_session(pamh);
	uint64_t id = s ? s->id : 0;
	uint32_t n = 0;
	struct ctx x;
	int rc = setup(&x, pamh, argc, argv, PAM_SESSION_ERR,
		       "the broker keeps counting this session", false);

	(void)flags;
	if (rc != GO)
		return rc;
	/* This transaction's open bound nothing: releasing would take another
	 * login's session. */
	if (s && !s->bound) {
		DEBUG(&x, "this session bound no credential; nothing to release");
		return PAM_IGNORE;
	}
	rc = connect_broker(&x, &c);
	if (rc != GO)
		return rc;
	rc = wbc_cred_session(c, x.o.name, WBC_SESSION_CLOSE, (uint32_t)x.uid, NULL, &id, &n, &err);
	wbc_close(c);
	if (rc == -WBC_E_NOCRED) {
		keep_session(&x, false, 0);
		if (id)
			DEBUG(&x, "session credential '%s' of %s no longer holds this login's "
			      "session (it expired or was removed); nothing released", x.o.name,
			      x.pam_user);
		else
			DEBUG(&x, "no session credential '%s' of %s to release", x.o.name,
			      x.pam_user);
		return PAM_IGNORE;
	}
	if (rc < 0) {
		pam_syslog(pamh, LOG_WARNING, "the broker did not release a session of '%s' of %s: "
			   "%s; %s", x.o.name, x.pam_user, err.message, consequence(&x));
		return failed(&x);
	}
	keep_session(&x, false, 0);
	DEBUG(&x, "released %s of credential '%s' of %s (uid %u): %u left%s",
	      id ? "this login's session" : "a session", x.o.name, x.pam_user, (unsigned)x.uid, n,
	      n ? "" : ", credential removed");
	return PAM_SUCCESS;
}

/* ---- password ---- */

/* One SESSION=2 CRED_ADD: for the pending deposit `token`, or (NULL) the
 * active credential. A negative WBC code, 0, or a PAM code of failed(). */
static int send_update(const struct ctx *x, const char *pw, const char *token,
		       struct wbc_error *err)
{
	struct wbc_cred_add *a = NULL;
	struct wbc_conn *c = NULL;
	int rc = build_request(x, pw, WBC_SESSION_UPDATE, &a);

	if (rc == GO && token && wbc_cred_add_deposit_token(a, token, err) < 0) {
		pam_syslog(x->pamh, LOG_ERR, "user %s: cannot make the request: %s; %s",
			   x->pam_user, err->message, consequence(x));
		rc = failed(x);
	}
	if (rc == GO)
		rc = connect_broker(x, &c);
	if (rc != GO) {
		wbc_cred_add_free(a);
		return rc;
	}
	rc = wbc_cred_add_send(c, a, 0, err);
	wbc_cred_add_free(a);
	wbc_close(c);
	return rc;
}

/*
 * A password changed during the login (an expired one: auth, chauthtok,
 * open_session on one handle) goes to this login's pending deposit, so
 * that the session opens with the new password; otherwise to the active
 * credential of the user's other sessions.
 */
static int update_password(const struct ctx *x)
{
	struct wbc_error err = { 0 };
	const char *token = pending_token(x);
	const void *item = NULL;
	int rc;

	/* The new password, as the module before this one set it. */
	if (pam_get_item(x->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS || !item ||
	    !*(const char *)item) {
		DEBUG(x, "no new password (PAM_AUTHTOK) for %s; nothing to update", x->pam_user);
		return PAM_IGNORE;
	}
	rc = send_update(x, item, token, &err);
	if (rc == -WBC_E_NOCRED && token) {
		/* The deposit expired unbound: the session will bind the
		 * active credential, which then needs the new password. */
		DEBUG(x, "this login's deposit for %s is no longer pending; updating the active "
		      "session credential instead", x->pam_user);
		pam_set_data(x->pamh, DATA_DEPOSIT, NULL, NULL);
		token = NULL;
		rc = send_update(x, item, NULL, &err);
	}
	if (rc == -WBC_E_NOCRED) {
		DEBUG(x, "no session credential '%s' of %s to update", x->o.name, x->pam_user);
		return PAM_IGNORE;
	}
	if (rc < 0) {
		pam_syslog(x->pamh, LOG_WARNING, "the broker did not update session credential '%s' "
			   "of %s: %s; %s", x->o.name, x->pam_user, err.message, consequence(x));
		return failed(x);
	}
	if (rc != 0)
		return rc;	/* failed() already logged */
	DEBUG(x, "updated the password of %s '%s' of %s (uid %u)", token ? "this login's "
	      "pending deposit of session credential" : "session credential", x->o.name,
	      x->pam_user, (unsigned)x->uid);
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct ctx x;
	int rc;

	if (!(flags & PAM_UPDATE_AUTHTOK))
		return PAM_IGNORE;	/* PAM_PRELIM_CHECK: nothing to check */
	rc = setup(&x, pamh, argc, argv, PAM_AUTHTOK_ERR,
		   "the WinRM credential keeps the old password", true);
	if (rc == GO)
		rc = update_password(&x);
	return rc;
}
