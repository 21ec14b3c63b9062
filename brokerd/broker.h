/*
 * broker.h - the state every client session shares: the current config,
 * the credential store, the connection and operation counts behind the
 * limits, and the shutdown signal. main() owns the one struct wb_broker;
 * sessions reach it through their connection.
 *
 * Locking: `lock` guards the config pointer and the counters; `store_lock`
 * serializes every store call (store.c is not thread-safe) and every use of
 * the login-session credentials (screds.c). Never hold both, and never
 * hold either across network I/O.
 */
#ifndef WB_BROKER_H
#define WB_BROKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "peer.h"

struct wb_audit;
struct wb_config;
struct wb_policy;
struct wb_screds;
struct wb_store;
struct wb_tickets;

/* The config and the policy, shared by sessions while main may swap in a
 * new pair (SIGHUP): both are loaded, then swapped together. */
struct wb_config_ref {
	struct wb_config *config;
	struct wb_policy *policy;
	unsigned refs;
};

struct wb_uid_count {
	uid_t uid;
	unsigned connections;
	unsigned operations;
};

#define WB_UIDS_TRACKED 4096

struct wb_broker {
	pthread_mutex_t lock;
	struct wb_config_ref *cfg;
	unsigned connections;
	unsigned operations;
	size_t n_uids;
	struct wb_uid_count uids[WB_UIDS_TRACKED];
	bool stopping;
	int cancel_fd;		/* eventfd, readable once shutdown begins */
	int wake_fd;		/* eventfd: a login-session deadline may have moved */
	time_t started;

	pthread_mutex_t store_lock;
	struct wb_store *store;
	struct wb_screds *screds;	/* login-session credentials, memory only */
	struct wb_audit *audit;		/* thread-safe itself */

	struct wb_tickets *tickets;	/* Kerberos TGTs (krb5_tickets.h), thread-safe */
};

int wb_broker_init(struct wb_broker *b, struct wb_config *config, struct wb_policy *policy,
		   struct wb_store *store, struct wb_error *err);
void wb_broker_destroy(struct wb_broker *b);

/* Takes a reference to the current config; put it back when done. */
struct wb_config_ref *wb_broker_config_get(struct wb_broker *b);
void wb_broker_config_put(struct wb_broker *b, struct wb_config_ref *ref);
/* Installs a new config and policy (SIGHUP); the old pair is freed by its
 * last user. */
int wb_broker_config_swap(struct wb_broker *b, struct wb_config *config, struct wb_policy *policy);

/* Limits: each returns -WB_E_LIMIT with a message naming the limit. */
unsigned wb_broker_uid_operations(struct wb_broker *b, uid_t uid);
int wb_broker_conn_enter(struct wb_broker *b, const struct wb_peer *p, struct wb_error *err);
void wb_broker_conn_leave(struct wb_broker *b, uid_t uid);
int wb_broker_op_enter(struct wb_broker *b, uid_t uid, struct wb_error *err);
void wb_broker_op_leave(struct wb_broker *b, uid_t uid);

/*
 * The sweeper thread (session_login.c): wipes expired login-session
 * credentials and unbound deposits when they are due, auditing each, until
 * shutdown (cancel_fd). wb_broker_wake tells it a new deadline appeared.
 * main starts it and joins it after wb_broker_stop.
 */
int wb_broker_sweeper_start(struct wb_broker *b, pthread_t *t, struct wb_error *err);
void wb_broker_wake(struct wb_broker *b);

/* Starts the shutdown: no new connections or operations, cancel_fd fires. */
void wb_broker_stop(struct wb_broker *b);
bool wb_broker_stopping(struct wb_broker *b);
void wb_broker_counts(struct wb_broker *b, unsigned *connections, unsigned *operations);

#endif
