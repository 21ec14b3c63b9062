/* screds.c - login-session credentials in memory (see screds.h).
 *
 * Why deposits are pending: PAM's auth phase may reach the module with a
 * password that another module is about to reject. Such a password must
 * never replace a working one, so it waits, inert, until the session open
 * of the same PAM transaction names it by its token; that open only
 * happens after authentication and account checks succeeded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "screds.h"

struct pending {
	char token[WB_SCREDS_TOKEN_LEN + 1];
	struct wb_secret *sec;
	char user[WB_CRED_TEXT_MAX + 1];
	char domain[WB_CRED_TEXT_MAX + 1];
	uint32_t flags;			/* WB_CRED_F_DELEGATE */
	uint32_t ttl_sec;
	time_t at;
};

struct entry {
	struct wb_cred_meta meta;	/* personal, password; owner, name, user, domain, times */
	struct wb_secret *active;	/* NULL while only deposits exist */
	uint32_t sessions;		/* ids in use: the first `sessions` of ids */
	uint32_t cap_ids;
	uint64_t *ids;			/* random, non-zero: one per bound login session */
	time_t expires;			/* 0: no TTL */
	size_t n_pending;
	struct pending pending[WB_SCREDS_PENDING_MAX];
};

struct wb_screds {
	size_t n, cap;
	struct entry **items;
};

struct wb_screds *wb_screds_new(void)
{
	return calloc(1, sizeof(struct wb_screds));
}

static void drop_pending(struct entry *e, size_t i)
{
	wb_secret_free(e->pending[i].sec);
	memmove(&e->pending[i], &e->pending[i + 1], (e->n_pending - i - 1) * sizeof(e->pending[0]));
	e->n_pending--;
	sodium_memzero(&e->pending[e->n_pending], sizeof(e->pending[0]));
}

static void drop_active(struct entry *e)
{
	wb_secret_free(e->active);
	e->active = NULL;
	e->sessions = 0;
	e->expires = 0;
	free(e->ids);
	e->ids = NULL;
	e->cap_ids = 0;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	drop_active(e);
	while (e->n_pending)
		drop_pending(e, e->n_pending - 1);
	sodium_memzero(e, sizeof(*e));
	free(e);
}

void wb_screds_free(struct wb_screds *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		entry_free(t->items[i]);
	free(t->items);
	free(t);
}

static size_t find(const struct wb_screds *t, uid_t uid, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->items[i]->meta.owner == uid && strcmp(t->items[i]->meta.name, name) == 0)
			return i;
	return SIZE_MAX;
}

static void remove_at(struct wb_screds *t, size_t i)
{
	entry_free(t->items[i]);
	t->items[i] = t->items[--t->n];
}

/* An entry with neither an active password nor deposits is gone. */
static void maybe_remove(struct wb_screds *t, size_t i)
{
	if (!t->items[i]->active && t->items[i]->n_pending == 0)
		remove_at(t, i);
}

bool wb_screds_exists(const struct wb_screds *t, uid_t uid, const char *name)
{
	return find(t, uid, name) != SIZE_MAX;
}

static size_t count_uid(const struct wb_screds *t, uid_t uid)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		n += t->items[i]->meta.owner == uid;
	return n;
}

static int new_entry(struct wb_screds *t, const struct wb_cred_meta *m,
		     const struct wb_screds_limits *lim, struct entry **out, struct wb_error *err)
{
	struct entry *e;

	if (t->n >= WB_SCREDS_MAX)
		return wb_error_set(err, WB_E_LIMIT, "the broker holds %d session credentials, "
				    "its limit", WB_SCREDS_MAX);
	if (count_uid(t, m->owner) >= lim->max_per_uid)
		return wb_error_set(err, WB_E_LIMIT, "uid %u has %u session credentials, the limit "
				    "(max_session_credentials_per_user)", (unsigned)m->owner,
				    lim->max_per_uid);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct entry **p = reallocarray(t->items, cap, sizeof(*p));

		if (!p)
			return wb_error_set(err, WB_E_INTERNAL, "out of memory");
		t->items = p;
		t->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	memcpy(e->meta.name, m->name, sizeof(e->meta.name));
	e->meta.owner = m->owner;
	e->meta.scope = WB_SCOPE_PERSONAL;
	e->meta.kind = WB_CRED_PASSWORD;
	t->items[t->n++] = e;
	*out = e;
	return 0;
}

static int check_meta(const struct wb_cred_meta *m, const struct wb_secret *sec,
		      struct wb_error *err)
{
	if (m->scope != WB_SCOPE_PERSONAL || m->kind != WB_CRED_PASSWORD || !sec ||
	    sec->kind != WB_CRED_PASSWORD || !sec->password)
		return wb_error_set(err, WB_E_INVALID, "a session credential is a personal password");
	if (!wb_cred_name_valid(m->name))
		return wb_error_set(err, WB_E_INVALID, "bad credential name");
	return 0;
}

static uint32_t capped_ttl(uint32_t ttl, const struct wb_screds_limits *lim)
{
	if (lim->max_ttl_sec && (ttl == 0 || ttl > lim->max_ttl_sec))
		return lim->max_ttl_sec;
	return ttl;
}

int wb_screds_deposit(struct wb_screds *t, const struct wb_cred_meta *m, struct wb_secret *sec,
		      uint32_t ttl_sec, const struct wb_screds_limits *lim, time_t now,
		      char token[WB_SCREDS_TOKEN_LEN + 1], struct wb_error *err)
{
	size_t i = find(t, m->owner, m->name);
	uint8_t raw[WB_SCREDS_TOKEN_LEN / 2];
	struct entry *e = NULL;
	struct pending *p;
	int rc = check_meta(m, sec, err);

	if (rc == 0 && i == SIZE_MAX)
		rc = new_entry(t, m, lim, &e, err);
	else if (rc == 0)
		e = t->items[i];
	if (rc < 0) {
		wb_secret_free(sec);
		return rc;
	}
	if (e->n_pending == WB_SCREDS_PENDING_MAX)
		drop_pending(e, 0);
	p = &e->pending[e->n_pending++];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(p->token, sizeof(p->token), raw, sizeof(raw));
	p->sec = sec;
	memcpy(p->user, m->user, sizeof(p->user));
	memcpy(p->domain, m->domain, sizeof(p->domain));
	p->flags = m->flags & WB_CRED_F_DELEGATE;
	p->ttl_sec = capped_ttl(ttl_sec, lim);
	p->at = now;
	memcpy(token, p->token, sizeof(p->token));
	return 0;
}

static void set_active(struct entry *e, struct wb_secret *sec, const char *user,
		       const char *domain, time_t now)
{
	wb_secret_free(e->active);
	e->active = sec;
	if (user != e->meta.user)
		memcpy(e->meta.user, user, sizeof(e->meta.user));
	if (domain != e->meta.domain)
		memcpy(e->meta.domain, domain, sizeof(e->meta.domain));
	if (!e->meta.created)
		e->meta.created = now;
	e->meta.updated = now;
}

static size_t find_token(const struct entry *e, const char *token);

int wb_screds_update(struct wb_screds *t, const struct wb_cred_meta *m, const char *token,
		     struct wb_secret *sec, time_t now, struct wb_error *err)
{
	size_t i = find(t, m->owner, m->name), k = SIZE_MAX;
	struct entry *e = i == SIZE_MAX ? NULL : t->items[i];
	int rc = check_meta(m, sec, err);

	if (rc == 0 && e && token)
		k = find_token(e, token);
	if (rc == 0 && token && k == SIZE_MAX)
		rc = wb_error_set(err, WB_E_NOCRED, "no pending deposit of '%s' for uid %u with "
				  "that token to update", m->name, (unsigned)m->owner);
	else if (rc == 0 && !token && (!e || !e->active))
		rc = wb_error_set(err, WB_E_NOCRED, "no session credential '%s' of uid %u to "
				  "update", m->name, (unsigned)m->owner);
	if (rc < 0) {
		wb_secret_free(sec);
		return rc;
	}
	if (token) {
		wb_secret_free(e->pending[k].sec);
		e->pending[k].sec = sec;
		return 0;
	}
	/* Only the password: a password change does not change the account. */
	set_active(e, sec, e->meta.user, e->meta.domain, now);
	return 0;
}

static size_t find_token(const struct entry *e, const char *token)
{
	size_t i;

	if (strlen(token) != WB_SCREDS_TOKEN_LEN)
		return SIZE_MAX;
	for (i = 0; i < e->n_pending; i++)
		if (sodium_memcmp(e->pending[i].token, token, WB_SCREDS_TOKEN_LEN) == 0)
			return i;
	return SIZE_MAX;
}

/* A fresh non-zero id, distinct from the entry's others. */
static int add_session(struct entry *e, uint64_t *id, struct wb_error *err)
{
	uint32_t i;

	if (e->sessions == WB_SCREDS_SESSIONS_MAX)
		return wb_error_set(err, WB_E_LIMIT, "credential '%s' of uid %u has %d login "
				    "sessions, the limit", e->meta.name, (unsigned)e->meta.owner,
				    WB_SCREDS_SESSIONS_MAX);
	if (e->sessions == e->cap_ids) {
		uint32_t cap = e->cap_ids ? e->cap_ids * 2 : 4;
		uint64_t *p = reallocarray(e->ids, cap, sizeof(*p));

		if (!p)
			return wb_error_set(err, WB_E_INTERNAL, "out of memory");
		e->ids = p;
		e->cap_ids = cap;
	}
	do {
		randombytes_buf(id, sizeof(*id));
		for (i = 0; *id && i < e->sessions && e->ids[i] != *id; i++)
			;
	} while (*id == 0 || i < e->sessions);
	e->ids[e->sessions++] = *id;
	return 0;
}

/* Releases session id (0: any one); false when the entry holds no such id. */
static bool remove_session(struct entry *e, uint64_t id)
{
	uint32_t i;

	if (e->sessions == 0)
		return false;
	for (i = 0; id && i < e->sessions && e->ids[i] != id; i++)
		;
	if (!id)
		i = e->sessions - 1;
	if (i == e->sessions)
		return false;
	e->ids[i] = e->ids[--e->sessions];
	return true;
}

int wb_screds_open(struct wb_screds *t, uid_t uid, const char *name, const char *token,
		   const struct wb_screds_limits *lim, time_t now, uint32_t *sessions,
		   uint64_t *session_id, bool *replaced, struct wb_error *err)
{
	size_t i = find(t, uid, name), k = SIZE_MAX;
	struct entry *e = i == SIZE_MAX ? NULL : t->items[i];
	int rc;

	*replaced = false;
	if (e && token)
		k = find_token(e, token);
	if (e && token && (k == SIZE_MAX || now - e->pending[k].at > (time_t)lim->bind_timeout_sec))
		return wb_error_set(err, WB_E_NOCRED, "no pending deposit of '%s' for uid %u with "
				    "that token (expired after %u s, or replaced by newer ones)",
				    name, (unsigned)uid, lim->bind_timeout_sec);
	if (e && k != SIZE_MAX) {
		struct pending *p = &e->pending[k];

		*replaced = e->active != NULL;
		set_active(e, p->sec, p->user, p->domain, p->at);
		e->meta.flags = p->flags;
		e->expires = p->ttl_sec ? now + p->ttl_sec : 0;
		p->sec = NULL;
		drop_pending(e, k);
	}
	if (!e || !e->active || (e->expires && now > e->expires))
		return wb_error_set(err, WB_E_NOCRED, "no session credential '%s' for uid %u",
				    name, (unsigned)uid);
	rc = add_session(e, session_id, err);
	if (rc < 0)
		return rc;
	*sessions = e->sessions;
	return 0;
}

int wb_screds_close(struct wb_screds *t, uid_t uid, const char *name, uint64_t session_id,
		    uint32_t *sessions, struct wb_error *err)
{
	size_t i = find(t, uid, name);
	struct entry *e = i == SIZE_MAX ? NULL : t->items[i];

	if (!e || !e->active)
		return wb_error_set(err, WB_E_NOCRED, "no session credential '%s' for uid %u",
				    name, (unsigned)uid);
	if (!remove_session(e, session_id))
		return wb_error_set(err, WB_E_NOCRED, "session credential '%s' of uid %u holds no "
				    "such login session (one of an earlier credential, or released "
				    "already); nothing changed", name, (unsigned)uid);
	*sessions = e->sessions;
	if (e->sessions == 0) {
		drop_active(e);
		maybe_remove(t, i);
	}
	return 0;
}

int wb_screds_remove(struct wb_screds *t, uid_t uid, const char *name, struct wb_error *err)
{
	size_t i = find(t, uid, name);

	if (i == SIZE_MAX)
		return wb_error_set(err, WB_E_NOCRED, "no session credential '%s' for uid %u",
				    name, (unsigned)uid);
	remove_at(t, i);
	return 0;
}

int wb_screds_get(const struct wb_screds *t, uid_t uid, const char *name, time_t now,
		  struct wb_cred_meta *meta, struct wb_secret **secret, struct wb_error *err)
{
	size_t i = find(t, uid, name);
	const struct entry *e = i == SIZE_MAX ? NULL : t->items[i];
	struct wb_secret *copy;

	if (!e || !e->active || (e->expires && now > e->expires))
		return wb_error_set(err, WB_E_NOCRED, "no session credential '%s' for uid %u",
				    name, (unsigned)uid);
	if (meta)
		*meta = e->meta;
	if (!secret)
		return 0;
	copy = wb_secret_new(WB_CRED_PASSWORD);
	if (!copy || wb_secret_set((uint8_t **)&copy->password, NULL, e->active->password,
				   strlen(e->active->password)) < 0) {
		wb_secret_free(copy);
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	}
	*secret = copy;
	return 0;
}

int wb_screds_list(const struct wb_screds *t,
		   int (*visit)(const struct wb_cred_meta *m, const struct wb_screds_state *st,
				void *ctx),
		   void *ctx)
{
	size_t i;
	int rc;

	for (i = 0; i < t->n; i++) {
		const struct entry *e = t->items[i];
		struct wb_screds_state st = { e->sessions, e->expires };

		if (e->active && (rc = visit(&e->meta, &st, ctx)) != 0)
			return rc;
	}
	return 0;
}

static void earliest(time_t *next, time_t when)
{
	if (next && (*next == 0 || when < *next))
		*next = when;
}

size_t wb_screds_sweep(struct wb_screds *t, const struct wb_screds_limits *lim, time_t now,
		       void (*gone)(const struct wb_cred_meta *m, const char *why, void *ctx),
		       void *ctx, time_t *next)
{
	size_t i = 0, k, n = 0;

	if (next)
		*next = 0;
	while (i < t->n) {
		struct entry *e = t->items[i];

		if (e->active && e->expires && now > e->expires) {
			if (gone)
				gone(&e->meta, "ttl", ctx);
			drop_active(e);
			n++;
		} else if (e->active && e->expires) {
			earliest(next, e->expires + 1);
		}
		for (k = 0; k < e->n_pending;) {
			time_t end = e->pending[k].at + (time_t)lim->bind_timeout_sec;

			if (now <= end) {
				earliest(next, end + 1);
				k++;
				continue;
			}
			if (gone) {
				struct wb_cred_meta dm = e->meta;

				dm.updated = e->pending[k].at;	/* the deposit's own version */
				gone(&dm, "unbound deposit", ctx);
			}
			drop_pending(e, k);
			n++;
		}
		if (!e->active && e->n_pending == 0)
			remove_at(t, i);
		else
			i++;
	}
	return n;
}
