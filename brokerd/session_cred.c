/* session_cred.c - CRED_ADD, CRED_RM, CRED_LIST and who may use what.
 *
 * The rules (docs/protocol.md, "Who may do what"): a personal credential
 * belongs to one uid; only root acts on another uid's. Shared credentials
 * are managed by root or the admin group and used by their allow lists.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "krb5_tickets.h"
#include "log.h"
#include "screds.h"
#include "session_int.h"
#include "store.h"

bool wb_session_may_use_shared(const struct wb_peer *who, const struct wb_cred_meta *m)
{
	size_t i;

	if (who->uid == 0 || (m->n_allow_uids == 0 && m->n_allow_gids == 0))
		return true;
	for (i = 0; i < m->n_allow_uids; i++)
		if (m->allow_uids[i] == who->uid)
			return true;
	for (i = 0; i < m->n_allow_gids; i++)
		if (wb_peer_in_group(who, m->allow_gids[i]))
			return true;
	return false;
}

int wb_session_find_cred(struct wb_session *s, const struct wb_peer *who, const char *name,
			 uint8_t scope, struct wb_cred_meta *meta, struct wb_secret **secret,
			 struct wb_error *err)
{
	int rc = -WB_E_NOCRED;

	pthread_mutex_lock(&s->b->store_lock);
	if (scope != WB_SCOPE_SHARED && wb_screds_exists(s->b->screds, who->uid, name))
		rc = wb_screds_get(s->b->screds, who->uid, name, time(NULL), meta, secret, err);
	else if (scope != WB_SCOPE_SHARED)
		rc = wb_store_get(s->b->store, WB_SCOPE_PERSONAL, who->uid, name, meta, secret,
				  err);
	if (rc == -WB_E_NOCRED && scope != WB_SCOPE_PERSONAL) {
		rc = wb_store_get(s->b->store, WB_SCOPE_SHARED, 0, name, meta, secret, err);
		if (rc == 0 && !wb_session_may_use_shared(who, meta)) {
			if (secret) {
				wb_secret_free(*secret);
				*secret = NULL;
			}
			rc = wb_error_set(err, WB_E_DENIED,
					  "shared credential '%s' is not available to uid %u "
					  "(not in its allowed users or groups)",
					  name, (unsigned)who->uid);
		}
	}
	pthread_mutex_unlock(&s->b->store_lock);
	if (rc == -WB_E_NOCRED)
		wb_error_set(err, WB_E_NOCRED,
			     "no credential '%s' for uid %u (personal%s)", name,
			     (unsigned)who->uid, scope == WB_SCOPE_PERSONAL ? "" : " or shared");
	return rc;
}

/* The scope and owner a CRED_ADD / CRED_RM acts on, if the caller may. */
static int target_owner(struct wb_session *s, const struct wb_frame *f, uint8_t *scope,
			uid_t *owner, struct wb_error *err)
{
	uint32_t o;

	if (wb_attr_u8(f, WB_A_SCOPE, scope) < 0 ||
	    (*scope != WB_SCOPE_PERSONAL && *scope != WB_SCOPE_SHARED))
		return wb_error_set(err, WB_E_INVALID, "SCOPE must be 1 (personal) or 2 (shared)");
	if (*scope == WB_SCOPE_SHARED) {
		if (!wb_session_is_admin(s))
			return wb_error_set(err, WB_E_DENIED,
					    "only root or the admin group manage shared credentials");
		*owner = 0;
		return 0;
	}
	*owner = s->peer.uid;
	if (wb_attr_u32(f, WB_A_OWNER, &o) == 0 && o != s->peer.uid) {
		if (s->peer.uid != 0)
			return wb_error_set(err, WB_E_DENIED,
					    "uid %u may not manage credentials of uid %u",
					    (unsigned)s->peer.uid, o);
		*owner = o;
	}
	return 0;
}

static int copy_text(const struct wb_frame *f, uint16_t tag, char *buf, size_t size,
		     bool required, const char *what, struct wb_error *err)
{
	int rc = wb_attr_str(f, tag, 0, buf, size);

	if (rc == -ENOENT && !required)
		return 0;
	if (rc == -ENOENT)
		return wb_error_set(err, WB_E_INVALID, "%s is required", what);
	if (rc < 0)
		return wb_error_set(err, WB_E_INVALID, "%s is too long or not text", what);
	return 0;
}

static int read_acl(const struct wb_frame *f, struct wb_cred_meta *m, struct wb_error *err)
{
	size_t i, nu = wb_attr_count(f, WB_A_ALLOW_UID), ng = wb_attr_count(f, WB_A_ALLOW_GID);
	const uint8_t *v;
	uint32_t len;

	if (nu > WB_CRED_ACL_MAX || ng > WB_CRED_ACL_MAX)
		return wb_error_set(err, WB_E_INVALID, "at most %d allowed users and %d groups",
				    WB_CRED_ACL_MAX, WB_CRED_ACL_MAX);
	for (i = 0; i < nu + ng; i++) {
		bool is_uid = i < nu;

		wb_attr_find(f, is_uid ? WB_A_ALLOW_UID : WB_A_ALLOW_GID, is_uid ? i : i - nu, &v,
			     &len);
		if (len != 4)
			return wb_error_set(err, WB_E_INVALID, "ALLOW_UID/ALLOW_GID must be u32");
		if (is_uid)
			m->allow_uids[m->n_allow_uids++] = (uid_t)(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
		else
			m->allow_gids[m->n_allow_gids++] = (gid_t)(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
	}
	return 0;
}

/* The secret part of a CRED_ADD, copied straight into sodium memory. */
static int read_secret(const struct wb_frame *f, const struct wb_cred_meta *m,
		       struct wb_secret **out, struct wb_error *err)
{
	struct wb_secret *sec = wb_secret_new(m->kind);
	const uint8_t *v;
	uint32_t len;
	int rc = 0;

	if (!sec)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	if (wb_attr_find(f, WB_A_SECRET, 0, &v, &len) < 0 || len == 0)
		rc = wb_error_set(err, WB_E_INVALID, "SECRET (password, key or keytab) is required");
	else if (m->kind == WB_CRED_PASSWORD && memchr(v, '\0', len))
		rc = wb_error_set(err, WB_E_INVALID, "a password cannot contain a NUL byte");
	else if (m->kind == WB_CRED_PASSWORD)
		rc = wb_secret_set((uint8_t **)&sec->password, NULL, v, len);
	else if (m->kind == WB_CRED_CERTIFICATE)
		rc = wb_secret_set(&sec->key_pem, &sec->key_len, v, len);
	else
		rc = wb_secret_set(&sec->keytab, &sec->keytab_len, v, len);
	if (rc == 0 && m->kind == WB_CRED_CERTIFICATE) {
		if (wb_attr_find(f, WB_A_CERT, 0, &v, &len) < 0 || len == 0)
			rc = wb_error_set(err, WB_E_INVALID, "CERT is required for a certificate");
		else
			rc = wb_secret_set(&sec->cert_pem, &sec->cert_len, v, len);
	}
	if (rc < 0 && err && !err->code)
		wb_error_set(err, WB_E_INVALID, "secret too large (max %d bytes)",
			     WB_CRED_SECRET_MAX);
	if (rc == 0)
		rc = wb_cred_check(m, sec, err);
	if (rc < 0) {
		wb_secret_free(sec);
		return rc < 0 && err && err->code ? -err->code : rc;
	}
	*out = sec;
	return 0;
}

static int parse_add(struct wb_session *s, const struct wb_frame *f, struct wb_cred_meta *m,
		     bool *replace, struct wb_error *err)
{
	uint8_t scope = 0, kind = 0, rep = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = target_owner(s, f, &scope, &m->owner, err);
	if (rc < 0)
		return rc;
	m->scope = scope;
	if (copy_text(f, WB_A_CRED, m->name, sizeof(m->name), true, "CRED (name)", err) < 0 ||
	    copy_text(f, WB_A_USER, m->user, sizeof(m->user), true, "USER", err) < 0 ||
	    copy_text(f, WB_A_DOMAIN, m->domain, sizeof(m->domain), false, "DOMAIN", err) < 0)
		return -err->code;
	if (!wb_cred_name_valid(m->name))
		return wb_error_set(err, WB_E_INVALID,
				    "bad credential name '%s': use letters, digits and ._@- "
				    "(64 at most, starting with a letter or digit)", m->name);
	if (wb_attr_u8(f, WB_A_KIND, &kind) < 0 || kind < WB_CRED_PASSWORD || kind > WB_CRED_KEYTAB)
		return wb_error_set(err, WB_E_INVALID, "KIND must be 1 (password), 2 (certificate) "
				    "or 3 (keytab)");
	m->kind = kind;
	wb_attr_u32(f, WB_A_FLAGS, &m->flags);
	m->flags &= WB_CRED_F_DELEGATE;
	wb_attr_u8(f, WB_A_REPLACE, &rep);
	*replace = rep == 1;
	if (scope == WB_SCOPE_SHARED)
		return read_acl(f, m, err);
	if (wb_attr_count(f, WB_A_ALLOW_UID) || wb_attr_count(f, WB_A_ALLOW_GID))
		return wb_error_set(err, WB_E_INVALID,
				    "allowed users and groups apply to shared credentials only");
	return 0;
}

/* The change's audit name, and the uid it would act on (for a refusal). */
static void change_of(struct wb_session *s, const struct wb_frame *f, const char *operation,
		      struct wb_change *c)
{
	char name[WB_CRED_NAME_MAX + 1] = "";
	uint32_t owner = s->peer.uid;
	uint8_t scope = 0;

	wb_attr_str(f, WB_A_CRED, 0, name, sizeof(name));
	wb_attr_u32(f, WB_A_OWNER, &owner);
	if (wb_attr_u8(f, WB_A_SCOPE, &scope) == 0 && scope == WB_SCOPE_SHARED)
		owner = 0;
	wb_change_init(c, operation, name, owner);
}

/* A refusal of who may act is audited; other bad requests are not changes. */
static int refuse(struct wb_session *s, const struct wb_frame *f, const char *operation,
		  const struct wb_error *err)
{
	struct wb_change c;

	if (err->code == WB_E_DENIED) {
		change_of(s, f, operation, &c);
		wb_change_decision(s->b->audit, &c, &s->peer, false, err->msg, NULL);
		wb_log(LOG_WARNING, "uid=%u pid=%d: %s refused: %s", (unsigned)s->peer.uid,
		       (int)s->peer.pid, operation, err->msg);
	}
	return wb_session_send_error(s, err);
}

static int store_add(struct wb_session *s, const struct wb_cred_meta *m,
		     const struct wb_secret *sec, bool replace, struct wb_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&s->b->store_lock);
	if (m->scope == WB_SCOPE_PERSONAL && wb_screds_exists(s->b->screds, m->owner, m->name))
		rc = wb_error_set(err, WB_E_EXISTS, "'%s' is a login-session credential of uid %u "
				  "(from pam_winrm_broker); choose another name", m->name,
				  (unsigned)m->owner);
	if (rc == 0)
		rc = wb_store_put(s->b->store, m, sec, replace, err);
	pthread_mutex_unlock(&s->b->store_lock);
	if (rc == 0 && s->b->tickets)	/* a replaced password: its TGT goes */
		wb_tickets_forget(s->b->tickets, m);
	return rc;
}

int wb_session_cred_add(struct wb_session *s, const struct wb_frame *f)
{
	struct wb_error err = { 0 };
	struct wb_secret *sec = NULL;
	struct wb_cred_meta m;
	struct wb_change c;
	bool replace = false;
	uint8_t mode = 0;
	int rc;

	wb_attr_u8(f, WB_A_SESSION, &mode);
	rc = parse_add(s, f, &m, &replace, &err);
	if (rc < 0)
		return refuse(s, f, mode == 2 ? "session-update" : mode ? "session-deposit" :
			      "cred-add", &err);
	rc = read_secret(f, &m, &sec, &err);
	if (rc == 0 && mode)
		return wb_session_login_add(s, f, &m, sec, mode);
	if (rc == 0) {
		wb_change_init(&c, "cred-add", m.name, m.owner);
		m.created = m.updated = time(NULL);
		if (wb_change_decision(s->b->audit, &c, &s->peer, true, "own credential, root, or "
				       "admin (shared)", &err) < 0)
			rc = wb_error_prefix(&err, "refused: the audit record cannot be written");
		else {
			rc = store_add(s, &m, sec, replace, &err);
			wb_change_outcome(s->b->audit, &c, &s->peer, rc, &err);
		}
		wb_secret_free(sec);
	}
	wb_log(rc == 0 ? LOG_INFO : LOG_NOTICE, "uid=%u pid=%d: add %s credential '%s' owner=%u: %s",
	       (unsigned)s->peer.uid, (int)s->peer.pid,
	       m.scope == WB_SCOPE_SHARED ? "shared" : "personal", m.name, (unsigned)m.owner,
	       rc == 0 ? "ok" : err.msg);
	return rc == 0 ? wb_session_send_ok(s) : wb_session_send_error(s, &err);
}

void wb_session_forget_tickets(struct wb_broker *b, uint8_t scope, uid_t owner,
			       const char *name, int64_t version)
{
	struct wb_cred_meta m;

	if (!b->tickets)
		return;
	memset(&m, 0, sizeof(m));
	m.scope = scope;
	m.owner = owner;
	memcpy(m.name, name, strnlen(name, WB_CRED_NAME_MAX));
	m.updated = version;
	if (version)
		wb_tickets_forget_version(b->tickets, &m);
	else
		wb_tickets_forget(b->tickets, &m);
}

static int remove_one(struct wb_session *s, uint8_t scope, uid_t owner, const char *name,
		      struct wb_error *err)
{
	int rc;

	pthread_mutex_lock(&s->b->store_lock);
	if (scope == WB_SCOPE_PERSONAL && wb_screds_exists(s->b->screds, owner, name))
		rc = wb_screds_remove(s->b->screds, owner, name, err);
	else
		rc = wb_store_remove(s->b->store, scope, owner, name, err);
	pthread_mutex_unlock(&s->b->store_lock);
	if (rc == 0)
		wb_session_forget_tickets(s->b, scope, owner, name, 0);
	return rc;
}

int wb_session_cred_rm(struct wb_session *s, const struct wb_frame *f)
{
	struct wb_error err = { 0 };
	char name[WB_CRED_NAME_MAX + 1] = "";
	struct wb_change c;
	uint8_t scope = 0;
	uid_t owner = 0;
	int rc;

	rc = target_owner(s, f, &scope, &owner, &err);
	if (rc < 0)
		return refuse(s, f, "cred-remove", &err);
	rc = copy_text(f, WB_A_CRED, name, sizeof(name), true, "CRED (name)", &err);
	if (rc == 0) {
		/* Removing goes ahead even when its record cannot be written. */
		wb_change_init(&c, "cred-remove", name, owner);
		wb_change_decision(s->b->audit, &c, &s->peer, true, "own credential, root, or "
				   "admin (shared)", NULL);
		rc = remove_one(s, scope, owner, name, &err);
		wb_change_outcome(s->b->audit, &c, &s->peer, rc, &err);
	}
	wb_log(rc == 0 ? LOG_INFO : LOG_NOTICE, "uid=%u pid=%d: remove credential '%s': %s",
	       (unsigned)s->peer.uid, (int)s->peer.pid, name, rc == 0 ? "ok" : err.msg);
	return rc == 0 ? wb_session_send_ok(s) : wb_session_send_error(s, &err);
}

static int put_info(struct wb_writer *w, const struct wb_cred_meta *m,
		    const struct wb_screds_state *st)
{
	size_t i;
	int rc = wb_msg_begin(w, WB_MSG_CRED_INFO);

	rc = rc ?: wb_msg_put_str(w, WB_A_CRED, m->name);
	rc = rc ?: wb_msg_put_u8(w, WB_A_SCOPE, (uint8_t)m->scope);
	rc = rc ?: wb_msg_put_u32(w, WB_A_OWNER, (uint32_t)m->owner);
	rc = rc ?: wb_msg_put_u8(w, WB_A_KIND, (uint8_t)m->kind);
	rc = rc ?: wb_msg_put_str(w, WB_A_USER, m->user);
	rc = rc ?: wb_msg_put_str(w, WB_A_DOMAIN, m->domain);
	rc = rc ?: wb_msg_put_u32(w, WB_A_FLAGS, m->flags);
	rc = rc ?: wb_msg_put_u64(w, WB_A_CREATED, (uint64_t)m->created);
	rc = rc ?: wb_msg_put_u64(w, WB_A_UPDATED, (uint64_t)m->updated);
	for (i = 0; rc == 0 && i < m->n_allow_uids; i++)
		rc = wb_msg_put_u32(w, WB_A_ALLOW_UID, (uint32_t)m->allow_uids[i]);
	for (i = 0; rc == 0 && i < m->n_allow_gids; i++)
		rc = wb_msg_put_u32(w, WB_A_ALLOW_GID, (uint32_t)m->allow_gids[i]);
	if (st) {
		rc = rc ?: wb_msg_put_u8(w, WB_A_SESSION, 1);
		rc = rc ?: wb_msg_put_u32(w, WB_A_SESSIONS, st->sessions);
		if (st->expires)
			rc = rc ?: wb_msg_put_u64(w, WB_A_EXPIRES, (uint64_t)st->expires);
	}
	return rc ?: wb_msg_finish(w);
}

/* The list is collected under the store lock and sent after it, so a slow
 * client never holds the store. */
struct list_item {
	struct wb_cred_meta m;
	bool session;
	struct wb_screds_state st;
};

struct list_ctx {
	struct wb_session *s;
	bool admin;
	size_t n, cap;
	struct list_item *items;
};

static int collect_session(const struct wb_cred_meta *m, const struct wb_screds_state *st,
			   void *ctx);

static int collect(const struct wb_cred_meta *m, void *ctx)
{
	return collect_session(m, NULL, ctx);
}

static int collect_session(const struct wb_cred_meta *m, const struct wb_screds_state *st,
			   void *ctx)
{
	struct list_ctx *c = ctx;
	bool visible = c->s->peer.uid == 0 ||
		       (m->scope == WB_SCOPE_PERSONAL && m->owner == c->s->peer.uid) ||
		       (m->scope == WB_SCOPE_SHARED &&
			(c->admin || wb_session_may_use_shared(&c->s->peer, m)));

	if (!visible)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct list_item *p = reallocarray(c->items, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->items = p;
		c->cap = cap;
	}
	c->items[c->n].m = *m;
	c->items[c->n].session = st != NULL;
	if (st)
		c->items[c->n].st = *st;
	c->n++;
	return 0;
}

int wb_session_cred_list(struct wb_session *s, const struct wb_frame *f)
{
	struct list_ctx c = { .s = s };
	struct wb_error err = { 0 };
	size_t i;
	int rc;

	(void)f;
	c.admin = wb_session_is_admin(s);
	pthread_mutex_lock(&s->b->store_lock);
	rc = wb_store_list(s->b->store, collect, &c);
	if (rc == 0)
		rc = wb_screds_list(s->b->screds, collect_session, &c);
	pthread_mutex_unlock(&s->b->store_lock);
	for (i = 0; rc == 0 && i < c.n; i++) {
		rc = put_info(&s->w, &c.items[i].m, c.items[i].session ? &c.items[i].st : NULL);
		if (rc == 0)
			rc = wb_session_send(s);
	}
	free(c.items);
	if (rc == -ENOMEM) {
		wb_error_set(&err, WB_E_INTERNAL, "out of memory");
		return wb_session_send_error(s, &err);
	}
	return rc < 0 ? rc : wb_session_send_ok(s);
}
