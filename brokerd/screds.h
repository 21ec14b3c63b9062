/*
 * screds.h - login-session credentials (docs/protocol.md, "Login-session
 * credentials"): the passwords pam_winrm_broker hands over at login, kept
 * in memory only (never in the store file) for as long as the user's
 * login sessions last.
 *
 * Owns, per (uid, name): the active password commands use, the count of
 * login sessions bound to it, its TTL, and up to WB_SCREDS_PENDING_MAX
 * pending deposits waiting for the session open that makes one active.
 * Every password lives in sodium_malloc'd memory and is wiped when it is
 * replaced, released or expires.
 *
 * Not thread-safe: the broker calls it under its store lock. Time is passed
 * in (now) so that expiry is testable without sleeping.
 */
#ifndef WB_SCREDS_H
#define WB_SCREDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cred.h"
#include "error.h"

#define WB_SCREDS_MAX 4096		/* credentials (active or pending) in all */
#define WB_SCREDS_PENDING_MAX 4		/* pending deposits per credential */
#define WB_SCREDS_TOKEN_LEN 32		/* hex digits naming a deposit */
#define WB_SCREDS_SESSIONS_MAX 1024	/* login sessions bound to one credential */

struct wb_screds_limits {
	unsigned bind_timeout_sec;	/* a deposit waits this long for its open */
	unsigned max_ttl_sec;		/* caps every TTL and gives one; 0: no cap */
	unsigned max_per_uid;		/* credentials one uid may have */
};

/* What a listing shows beyond the metadata. */
struct wb_screds_state {
	uint32_t sessions;
	int64_t expires;		/* 0: no TTL */
};

struct wb_screds;

struct wb_screds *wb_screds_new(void);
/* Wipes and frees every password; NULL is fine. */
void wb_screds_free(struct wb_screds *t);

/*
 * A pending deposit of password sec for m->owner / m->name (m: personal,
 * password kind; user, domain and the delegate flag are used, the rest is
 * set here). sec is
 * taken in every case (freed on failure). token receives the deposit's
 * name. With more than WB_SCREDS_PENDING_MAX pending, the oldest goes.
 * Errors: WB_E_LIMIT (per uid or in all), WB_E_INVALID, WB_E_INTERNAL.
 */
int wb_screds_deposit(struct wb_screds *t, const struct wb_cred_meta *m, struct wb_secret *sec,
		      uint32_t ttl_sec, const struct wb_screds_limits *lim, time_t now,
		      char token[WB_SCREDS_TOKEN_LEN + 1], struct wb_error *err);

/*
 * Replaces the active password in place, keeping the account (user,
 * domain), its flags, the sessions and the TTL; or, with token, the
 * password of that pending deposit (a password changed before the session
 * opened). sec is taken in every case. WB_E_NOCRED when there is no active
 * credential, or no such deposit.
 */
int wb_screds_update(struct wb_screds *t, const struct wb_cred_meta *m, const char *token,
		     struct wb_secret *sec, time_t now, struct wb_error *err);

/*
 * Binds one more session and gives it a random non-zero *session_id.
 * token (may be NULL): that pending deposit first becomes the active
 * password (its TTL starts now). *replaced is set when an active password
 * was replaced (its tickets must go). WB_E_NOCRED: no such deposit, or no
 * active credential to bind to; WB_E_LIMIT beyond WB_SCREDS_SESSIONS_MAX.
 */
int wb_screds_open(struct wb_screds *t, uid_t uid, const char *name, const char *token,
		   const struct wb_screds_limits *lim, time_t now, uint32_t *sessions,
		   uint64_t *session_id, bool *replaced, struct wb_error *err);

/*
 * Releases the session session_id (0: any one); at 0 sessions the active
 * password is wiped and removed (pending deposits stay). WB_E_NOCRED when
 * nothing is active or no session has that id (then nothing changes: a
 * late logout of an earlier credential never ends a newer one).
 */
int wb_screds_close(struct wb_screds *t, uid_t uid, const char *name, uint64_t session_id,
		    uint32_t *sessions, struct wb_error *err);

/* Removes the credential and its pending deposits. WB_E_NOCRED if none. */
int wb_screds_remove(struct wb_screds *t, uid_t uid, const char *name, struct wb_error *err);

/* Whether uid has a credential of that name, active or pending. */
bool wb_screds_exists(const struct wb_screds *t, uid_t uid, const char *name);

/*
 * The active credential: meta (may be NULL) and a copy of its password in
 * fresh sodium memory (secret may be NULL; free with wb_secret_free).
 * WB_E_NOCRED when there is none or it expired (now > expires: time()
 * counts whole seconds, so a TTL of n lives at least n seconds).
 */
int wb_screds_get(const struct wb_screds *t, uid_t uid, const char *name, time_t now,
		  struct wb_cred_meta *meta, struct wb_secret **secret, struct wb_error *err);

/* Visits every active credential; a non-zero return stops and is returned. */
int wb_screds_list(const struct wb_screds *t,
		   int (*visit)(const struct wb_cred_meta *m, const struct wb_screds_state *st,
				void *ctx),
		   void *ctx);

/*
 * Wipes what has expired: active credentials past their TTL, deposits
 * older than the bind timeout. gone (may be NULL) is called for each
 * active credential removed, with why ("ttl"), before it is wiped, and
 * for each discarded deposit with why "unbound deposit" (meta->updated:
 * the deposit's time, the version its validation's tickets are under). Returns how many
 * things were wiped. next (may be NULL) receives the earliest time
 * something will expire, 0 when nothing will.
 */
size_t wb_screds_sweep(struct wb_screds *t, const struct wb_screds_limits *lim, time_t now,
		       void (*gone)(const struct wb_cred_meta *m, const char *why, void *ctx),
		       void *ctx, time_t *next);

#endif
