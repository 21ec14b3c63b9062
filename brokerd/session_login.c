/* session_login.c - login-session credentials over the wire: the deposit
 * and update of a CRED_ADD with SESSION, CRED_SESSION (bind, release),
 * and the sweep that wipes what expired (docs/protocol.md, "Login-session
 * credentials"). The table itself is screds.c; here are who may, the
 * optional KDC check, the audit, and the Kerberos tickets that must go
 * with a password. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "krb5_tickets.h"
#include "log.h"
#include "screds.h"
#include "session_int.h"
#include "store.h"

static struct wb_screds_limits limits(struct wb_broker *b)
{
	struct wb_config_ref *ref = wb_broker_config_get(b);
	const struct wb_broker_settings *bs = wb_config_broker(ref->config);
	struct wb_screds_limits lim = {
		.bind_timeout_sec = bs->session_bind_timeout_sec,
		.max_ttl_sec = bs->session_max_ttl_sec,
		.max_per_uid = bs->max_session_credentials_per_user,
	};

	wb_broker_config_put(b, ref);
	return lim;
}

/* The KDC's word on the password, outside every lock (network I/O). The
 * TGT stays cached under the deposit's time, which activation keeps. */
static int validate(struct wb_session *s, const struct wb_cred_meta *m,
		    const struct wb_secret *sec, time_t now, struct wb_error *err)
{
	struct wb_cred_meta vm = *m;
	char ccname[WB_CCNAME_MAX];

	if (!s->b->tickets)
		return wb_error_set(err, WB_E_UNSUPPORTED, "validate: no Kerberos in this broker");
	vm.updated = now;
	if (wb_tickets_ccache(s->b->tickets, &vm, sec, false, ccname, sizeof(ccname), err) < 0)
		return wb_error_prefix(err, "validate: the KDC did not accept the password");
	return 0;
}

/* A session credential and a stored personal one never share a name. */
static int check_no_stored(struct wb_session *s, const struct wb_cred_meta *m,
			   struct wb_error *err)
{
	if (wb_store_get(s->b->store, WB_SCOPE_PERSONAL, m->owner, m->name, NULL, NULL, NULL) < 0)
		return 0;
	return wb_error_set(err, WB_E_EXISTS, "uid %u has a stored personal credential '%s'; a "
			    "login-session credential cannot take its name (remove it, or give "
			    "pam_winrm_broker another name=)", (unsigned)m->owner, m->name);
}

static int put_deposit_ok(struct wb_session *s, const char *token)
{
	int rc = wb_msg_begin(&s->w, WB_MSG_OK);

	rc = rc ?: wb_msg_put_str(&s->w, WB_A_DEPOSIT, token);
	rc = rc ?: wb_msg_finish(&s->w);
	return rc < 0 ? rc : wb_session_send(s);
}

/* An update keeps the account, so the KDC is asked about that one. */
static const struct wb_cred_meta *active_account(struct wb_session *s,
						 const struct wb_cred_meta *m,
						 struct wb_cred_meta *acct)
{
	int rc;

	pthread_mutex_lock(&s->b->store_lock);
	rc = wb_screds_get(s->b->screds, m->owner, m->name, time(NULL), acct, NULL, NULL);
	pthread_mutex_unlock(&s->b->store_lock);
	return rc == 0 ? acct : m;
}

static int deposit_or_update(struct wb_session *s, const struct wb_frame *f,
			     const struct wb_cred_meta *m, struct wb_secret *sec, uint8_t mode,
			     char token[WB_SCREDS_TOKEN_LEN + 1], struct wb_error *err)
{
	struct wb_screds_limits lim = limits(s->b);
	char utok[WB_SCREDS_TOKEN_LEN + 1] = "";
	struct wb_cred_meta acct;
	uint8_t want_validate = 0;
	uint32_t ttl = 0;
	time_t now = time(NULL);
	int rc = 0;

	wb_attr_u32(f, WB_A_TTL, &ttl);
	wb_attr_u8(f, WB_A_VALIDATE, &want_validate);
	/* An update may name a pending deposit: a password changed at login. */
	rc = mode == 2 ? wb_attr_str(f, WB_A_DEPOSIT, 0, utok, sizeof(utok)) : -ENOENT;
	if (rc == -ENOENT) {
		utok[0] = '\0';
		rc = 0;
	} else if (rc < 0 || strlen(utok) != WB_SCREDS_TOKEN_LEN) {
		rc = wb_error_set(err, WB_E_INVALID, "DEPOSIT must be %d hex digits",
				  WB_SCREDS_TOKEN_LEN);
	}
	if (rc == 0 && want_validate == 1)
		rc = validate(s, mode == 1 || utok[0] ? m : active_account(s, m, &acct), sec, now,
			      err);
	if (rc < 0) {
		wb_secret_free(sec);
		return rc;
	}
	pthread_mutex_lock(&s->b->store_lock);
	rc = check_no_stored(s, m, err);
	if (rc < 0)
		wb_secret_free(sec);
	else if (mode == 1)
		rc = wb_screds_deposit(s->b->screds, m, sec, ttl, &lim, now, token, err);
	else
		rc = wb_screds_update(s->b->screds, m, utok[0] ? utok : NULL, sec, now, err);
	pthread_mutex_unlock(&s->b->store_lock);
	if (rc == 0 && mode == 2 && !utok[0])
		wb_session_forget_tickets(s->b, WB_SCOPE_PERSONAL, m->owner, m->name, 0);
	if (rc == 0 && mode == 1)
		wb_broker_wake(s->b);	/* a new deadline for the sweeper */
	return rc;
}

int wb_session_login_add(struct wb_session *s, const struct wb_frame *f,
			 const struct wb_cred_meta *m, struct wb_secret *sec, uint8_t mode)
{
	char token[WB_SCREDS_TOKEN_LEN + 1] = "", reason[2 * WB_CRED_TEXT_MAX + 64];
	struct wb_error err = { 0 };
	struct wb_change c;
	int rc = 0;

	wb_change_init(&c, mode == 1 ? "session-deposit" : "session-update", m->name, m->owner);
	if (mode != 1 && mode != 2)
		rc = wb_error_set(&err, WB_E_INVALID, "SESSION must be 1 (deposit) or 2 (update)");
	else if (m->scope != WB_SCOPE_PERSONAL || m->kind != WB_CRED_PASSWORD)
		rc = wb_error_set(&err, WB_E_INVALID,
				  "a login-session credential is a personal password");
	if (rc < 0) {
		wb_secret_free(sec);
		return wb_session_send_error(s, &err);
	}
	/* The Windows account is named: a validate is a password check. */
	snprintf(reason, sizeof(reason), "own credential, or root; account %s%s%s",
		 m->domain, m->domain[0] ? "\\" : "", m->user);
	if (wb_change_decision(s->b->audit, &c, &s->peer, true, reason, &err) < 0) {
		wb_secret_free(sec);
		wb_error_prefix(&err, "refused: the audit record cannot be written");
		return wb_session_send_error(s, &err);
	}
	rc = deposit_or_update(s, f, m, sec, mode, token, &err);
	wb_change_outcome(s->b->audit, &c, &s->peer, rc, &err);
	wb_log(rc == 0 ? LOG_INFO : LOG_NOTICE, "uid=%u pid=%d: %s of '%s' for uid %u: %s",
	       (unsigned)s->peer.uid, (int)s->peer.pid, c.operation, m->name, (unsigned)m->owner,
	       rc == 0 ? "ok" : err.msg);
	if (rc < 0)
		return wb_session_send_error(s, &err);
	return mode == 1 ? put_deposit_ok(s, token) : wb_session_send_ok(s);
}

/* ---- CRED_SESSION ------------------------------------------------------------ */

struct session_req {
	char name[WB_CRED_NAME_MAX + 1];
	uint8_t op;
	uid_t owner;
	bool has_token;
	char token[WB_SCREDS_TOKEN_LEN + 1];
	uint64_t session_id;		/* close: 0 = any one */
};

static int parse_session(struct wb_session *s, const struct wb_frame *f, struct session_req *r,
			 struct wb_error *err)
{
	uint32_t o;
	int rc;

	memset(r, 0, sizeof(*r));
	r->owner = s->peer.uid;
	if (wb_attr_u32(f, WB_A_OWNER, &o) == 0)
		r->owner = o;
	if (wb_attr_str(f, WB_A_CRED, 0, r->name, sizeof(r->name)) < 0 ||
	    !wb_cred_name_valid(r->name))
		return wb_error_set(err, WB_E_INVALID, "CRED must be a valid credential name");
	if (wb_attr_u8(f, WB_A_SESSION_OP, &r->op) < 0 || (r->op != 1 && r->op != 2))
		return wb_error_set(err, WB_E_INVALID, "SESSION_OP must be 1 (open) or 2 (close)");
	if (wb_attr_u64(f, WB_A_SESSION_ID, &r->session_id) == -EBADMSG || (r->session_id &&
											r->op != 2))
		return wb_error_set(err, WB_E_INVALID, "SESSION_ID must be a u64, on a close");
	rc = wb_attr_str(f, WB_A_DEPOSIT, 0, r->token, sizeof(r->token));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0 || strlen(r->token) != WB_SCREDS_TOKEN_LEN || r->op != 1)
		return wb_error_set(err, WB_E_INVALID, "DEPOSIT must be %d hex digits, on an open",
				    WB_SCREDS_TOKEN_LEN);
	r->has_token = true;
	return 0;
}

static int put_sessions_ok(struct wb_session *s, uint32_t sessions, uint64_t id)
{
	int rc = wb_msg_begin(&s->w, WB_MSG_OK);

	rc = rc ?: wb_msg_put_u32(&s->w, WB_A_SESSIONS, sessions);
	if (id)
		rc = rc ?: wb_msg_put_u64(&s->w, WB_A_SESSION_ID, id);
	rc = rc ?: wb_msg_finish(&s->w);
	return rc < 0 ? rc : wb_session_send(s);
}

static int bind_or_release(struct wb_session *s, const struct session_req *r,
			   uint32_t *sessions, uint64_t *id, struct wb_error *err)
{
	struct wb_screds_limits lim = limits(s->b);
	bool replaced = false;
	int rc;

	pthread_mutex_lock(&s->b->store_lock);
	if (r->op == 1)
		rc = wb_screds_open(s->b->screds, r->owner, r->name,
				    r->has_token ? r->token : NULL, &lim, time(NULL), sessions, id,
				    &replaced, err);
	else
		rc = wb_screds_close(s->b->screds, r->owner, r->name, r->session_id, sessions,
				     err);
	pthread_mutex_unlock(&s->b->store_lock);
	if (rc == 0 && (replaced || (r->op == 2 && *sessions == 0)))
		wb_session_forget_tickets(s->b, WB_SCOPE_PERSONAL, r->owner, r->name, 0);
	if (rc == 0 && r->op == 1)
		wb_broker_wake(s->b);	/* a TTL may have started */
	return rc;
}

int wb_session_cred_session(struct wb_session *s, const struct wb_frame *f)
{
	struct wb_error err = { 0 }, aerr = { 0 };
	struct session_req r;
	struct wb_change c;
	uint32_t sessions = 0;
	uint64_t id = 0;
	int rc = parse_session(s, f, &r, &err);

	if (rc < 0)
		return wb_session_send_error(s, &err);
	wb_change_init(&c, r.op == 1 ? "session-open" : "session-close", r.name, r.owner);
	if (r.owner != s->peer.uid && s->peer.uid != 0) {
		wb_error_set(&err, WB_E_DENIED, "uid %u may not bind or release credentials of "
			     "uid %u", (unsigned)s->peer.uid, (unsigned)r.owner);
		wb_change_decision(s->b->audit, &c, &s->peer, false, err.msg, NULL);
		wb_log(LOG_WARNING, "uid=%u pid=%d: %s", (unsigned)s->peer.uid, (int)s->peer.pid,
		       err.msg);
		return wb_session_send_error(s, &err);
	}
	/* A release goes ahead without its record: keeping a password alive
	 * because the disk is full would be the wrong way to fail. */
	if (wb_change_decision(s->b->audit, &c, &s->peer, true, "own credential, or root",
			       &aerr) < 0 && r.op == 1) {
		wb_error_set(&err, WB_E_IO, "refused: the audit record cannot be written: %s",
			     aerr.msg);
		return wb_session_send_error(s, &err);
	}
	rc = bind_or_release(s, &r, &sessions, &id, &err);
	wb_change_outcome(s->b->audit, &c, &s->peer, rc, &err);
	wb_log(rc == 0 ? LOG_INFO : LOG_NOTICE, "uid=%u pid=%d: %s of '%s' for uid %u: %s%s",
	       (unsigned)s->peer.uid, (int)s->peer.pid, c.operation, r.name, (unsigned)r.owner,
	       rc == 0 ? "ok" : err.msg, rc == 0 && r.op == 2 && sessions == 0 ?
	       " (last session: wiped)" : "");
	return rc < 0 ? wb_session_send_error(s, &err) : put_sessions_ok(s, sessions, id);
}

/* ---- expiry: the sweeper thread --------------------------------------------- */

struct gone {
	struct wb_change c;
	int64_t version;
	bool ttl;		/* else an unbound deposit */
};

struct gone_list {
	size_t n, cap;
	struct gone *items;
	size_t unrecorded;	/* out of memory for the list: still wiped */
};

static void note_gone(const struct wb_cred_meta *m, const char *why, void *ctx)
{
	struct gone_list *g = ctx;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct gone *p = reallocarray(g->items, cap, sizeof(*p));

		if (!p) {
			g->unrecorded++;
			return;
		}
		g->items = p;
		g->cap = cap;
	}
	wb_change_init(&g->items[g->n].c, "session-expire", m->name, m->owner);
	g->items[g->n].version = m->updated;
	g->items[g->n].ttl = strcmp(why, "ttl") == 0;
	g->n++;
}

/* Tickets and audit records of what a sweep wiped, outside the lock. */
static void record_gone(struct wb_broker *b, const struct gone *g)
{
	const char *reason = g->ttl ? "its TTL ran out" : "a deposit no session bound in time";

	/* An unbound deposit drops only the tickets its own validation got. */
	wb_session_forget_tickets(b, WB_SCOPE_PERSONAL, g->c.owner, g->c.cred,
				  g->ttl ? 0 : g->version);
	wb_change_decision(b->audit, &g->c, NULL, true, reason, NULL);
	wb_change_outcome(b->audit, &g->c, NULL, 0, NULL);
	wb_log(LOG_INFO, "session credential '%s' of uid %u wiped: %s", g->c.cred,
	       (unsigned)g->c.owner, reason);
}

/* One sweep; the milliseconds until the next one is due, -1 for none. */
static int sweep(struct wb_broker *b)
{
	struct wb_screds_limits lim = limits(b);
	struct gone_list g = { 0 };
	time_t now = time(NULL), next = 0;
	size_t i;

	pthread_mutex_lock(&b->store_lock);
	wb_screds_sweep(b->screds, &lim, now, note_gone, &g, &next);
	pthread_mutex_unlock(&b->store_lock);
	for (i = 0; i < g.n; i++)
		record_gone(b, &g.items[i]);
	free(g.items);
	if (g.unrecorded)
		wb_log(LOG_WARNING, "%zu session credentials or deposits wiped without an audit "
		       "record (out of memory)", g.unrecorded);
	if (next == 0)
		return -1;
	return next - now > 3600 ? 3600 * 1000 : (int)(next - now) * 1000;
}

/*
 * Its own thread, so that what a sweep waits for (a Kerberos entry busy
 * with a slow KDC, the audit's fsync) never holds up the accept loop.
 * Session threads wake it (wb_broker_wake) when a deadline appears.
 */
static void *sweeper(void *arg)
{
	struct wb_broker *b = arg;
	uint64_t v;

	for (;;) {
		struct pollfd p[2] = { { .fd = b->wake_fd, .events = POLLIN },
				       { .fd = b->cancel_fd, .events = POLLIN } };

		if (poll(p, 2, sweep(b)) < 0 && errno != EINTR) {
			wb_log(LOG_ERR, "sweeper: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[1].revents & POLLIN)
			return NULL;
		if (p[0].revents & POLLIN && read(b->wake_fd, &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			wb_log(LOG_WARNING, "sweeper: %s", strerror(errno));
	}
}

int wb_broker_sweeper_start(struct wb_broker *b, pthread_t *t, struct wb_error *err)
{
	int rc = pthread_create(t, NULL, sweeper, b);

	if (rc != 0)
		return wb_error_set(err, WB_E_INTERNAL, "cannot start the sweeper thread: %s",
				    strerror(rc));
	return 0;
}
