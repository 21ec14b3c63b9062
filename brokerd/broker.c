/* broker.c - see broker.h. */
#include "broker.h"
#include "screds.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "policy.h"

int wb_broker_init(struct wb_broker *b, struct wb_config *config, struct wb_policy *policy,
		   struct wb_store *store, struct wb_error *err)
{
	memset(b, 0, sizeof(*b));
	b->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->cfg = calloc(1, sizeof(*b->cfg));
	b->screds = wb_screds_new();
	if (b->cancel_fd < 0 || b->wake_fd < 0 || !b->cfg || !b->screds) {
		int e = errno;

		if (b->cancel_fd >= 0)
			close(b->cancel_fd);
		if (b->wake_fd >= 0)
			close(b->wake_fd);
		free(b->cfg);
		wb_screds_free(b->screds);
		return wb_error_set(err, WB_E_INTERNAL, "cannot set up the broker: %s", strerror(e));
	}
	b->cfg->config = config;
	b->cfg->policy = policy;
	b->cfg->refs = 1;	/* the broker's own reference */
	b->store = store;
	b->started = time(NULL);
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->store_lock, NULL);
	return 0;
}

void wb_broker_destroy(struct wb_broker *b)
{
	if (b->cfg)
		wb_broker_config_put(b, b->cfg);
	b->cfg = NULL;
	wb_screds_free(b->screds);
	b->screds = NULL;
	if (b->cancel_fd >= 0)
		close(b->cancel_fd);
	if (b->wake_fd >= 0)
		close(b->wake_fd);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->store_lock);
}

struct wb_config_ref *wb_broker_config_get(struct wb_broker *b)
{
	struct wb_config_ref *ref;

	pthread_mutex_lock(&b->lock);
	ref = b->cfg;
	ref->refs++;
	pthread_mutex_unlock(&b->lock);
	return ref;
}

void wb_broker_config_put(struct wb_broker *b, struct wb_config_ref *ref)
{
	bool last;

	pthread_mutex_lock(&b->lock);
	last = --ref->refs == 0;
	pthread_mutex_unlock(&b->lock);
	if (last) {
		wb_config_free(ref->config);
		wb_policy_free(ref->policy);
		free(ref);
	}
}

int wb_broker_config_swap(struct wb_broker *b, struct wb_config *config, struct wb_policy *policy)
{
	struct wb_config_ref *ref = calloc(1, sizeof(*ref)), *old;

	if (!ref)
		return -WB_E_INTERNAL;
	ref->config = config;
	ref->policy = policy;
	ref->refs = 1;
	pthread_mutex_lock(&b->lock);
	old = b->cfg;
	b->cfg = ref;
	pthread_mutex_unlock(&b->lock);
	wb_broker_config_put(b, old);
	return 0;
}

/* The counter slot of uid, created on first use; NULL when the table is
 * full (then only the global limits apply). Called with b->lock held. */
static struct wb_uid_count *uid_slot(struct wb_broker *b, uid_t uid)
{
	size_t i;

	for (i = 0; i < b->n_uids; i++)
		if (b->uids[i].uid == uid)
			return &b->uids[i];
	for (i = 0; i < b->n_uids; i++) {
		if (b->uids[i].connections == 0 && b->uids[i].operations == 0) {
			b->uids[i].uid = uid;
			return &b->uids[i];
		}
	}
	if (b->n_uids == WB_UIDS_TRACKED)
		return NULL;
	b->uids[b->n_uids].uid = uid;
	return &b->uids[b->n_uids++];
}

int wb_broker_conn_enter(struct wb_broker *b, const struct wb_peer *p, struct wb_error *err)
{
	const struct wb_broker_settings *s;
	struct wb_uid_count *u;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	s = wb_config_broker(b->cfg->config);
	u = uid_slot(b, p->uid);
	if (b->stopping)
		rc = wb_error_set(err, WB_E_CANCELLED, "the broker is shutting down");
	else if (b->connections >= s->max_connections)
		rc = wb_error_set(err, WB_E_LIMIT, "too many client connections (max_connections=%u)",
				  s->max_connections);
	/* Root is the PAM stacks: a logout must never wait for root's other
	 * clients, and root could take the whole broker down anyway. */
	else if (!u || (p->uid != 0 && u->connections >= s->max_connections_per_uid))
		rc = wb_error_set(err, WB_E_LIMIT,
				  "uid %u has too many connections (max_connections_per_uid=%u)",
				  (unsigned)p->uid, s->max_connections_per_uid);
	if (rc == 0) {
		b->connections++;
		u->connections++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void wb_broker_conn_leave(struct wb_broker *b, uid_t uid)
{
	struct wb_uid_count *u;

	pthread_mutex_lock(&b->lock);
	u = uid_slot(b, uid);
	if (u && u->connections)
		u->connections--;
	if (b->connections)
		b->connections--;
	pthread_mutex_unlock(&b->lock);
}

int wb_broker_op_enter(struct wb_broker *b, uid_t uid, struct wb_error *err)
{
	const struct wb_broker_settings *s;
	struct wb_uid_count *u;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	s = wb_config_broker(b->cfg->config);
	u = uid_slot(b, uid);
	if (b->stopping)
		rc = wb_error_set(err, WB_E_CANCELLED, "the broker is shutting down");
	else if (!u || u->operations >= s->max_operations_per_uid)
		rc = wb_error_set(err, WB_E_LIMIT,
				  "uid %u has too many running operations (max_operations_per_uid=%u)",
				  (unsigned)uid, s->max_operations_per_uid);
	if (rc == 0) {
		b->operations++;
		u->operations++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

unsigned wb_broker_uid_operations(struct wb_broker *b, uid_t uid)
{
	struct wb_uid_count *u;
	unsigned n;

	pthread_mutex_lock(&b->lock);
	u = uid_slot(b, uid);
	n = u ? u->operations : 0;
	pthread_mutex_unlock(&b->lock);
	return n;
}

void wb_broker_op_leave(struct wb_broker *b, uid_t uid)
{
	struct wb_uid_count *u;

	pthread_mutex_lock(&b->lock);
	u = uid_slot(b, uid);
	if (u && u->operations)
		u->operations--;
	if (b->operations)
		b->operations--;
	pthread_mutex_unlock(&b->lock);
}

void wb_broker_stop(struct wb_broker *b)
{
	uint64_t one = 1;

	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_mutex_unlock(&b->lock);
	if (write(b->cancel_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, which is all we need. */
	}
}

bool wb_broker_stopping(struct wb_broker *b)
{
	bool s;

	pthread_mutex_lock(&b->lock);
	s = b->stopping;
	pthread_mutex_unlock(&b->lock);
	return s;
}

void wb_broker_counts(struct wb_broker *b, unsigned *connections, unsigned *operations)
{
	pthread_mutex_lock(&b->lock);
	*connections = b->connections;
	*operations = b->operations;
	pthread_mutex_unlock(&b->lock);
}

void wb_broker_wake(struct wb_broker *b)
{
	uint64_t one = 1;

	/* A full counter already means "wake up": nothing to report. */
	if (write(b->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		wb_log(LOG_WARNING, "cannot wake the sweeper: %s", strerror(errno));
}
