/*
 * session_int.h - what the session's files share (session.c: the
 * connection loop and replies; session_run.c: RUN and CRED_TEST;
 * session_cred.c: credential management). Not for other modules.
 */
#ifndef WB_SESSION_INT_H
#define WB_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"
#include "buf.h"
#include "cred.h"
#include "error.h"
#include "peer.h"
#include "proto.h"
#include "target.h"

struct wb_policy_decision;

struct wb_session {
	struct wb_broker *b;
	int fd;
	struct wb_peer peer;
	uint8_t *rbuf;			/* one frame; wiped after a frame that held a secret */
	struct wb_writer w;		/* replies */
	unsigned idle_timeout_sec;
};

/* Waits for and reads the next frame; 0, -ECONNRESET on a clean close,
 * -ECANCELED on shutdown, -ETIMEDOUT when idle too long, other < 0 on a bad
 * frame (an ERROR has then been sent). idle_ms < 0: no idle limit. */
int wb_session_read(struct wb_session *s, int idle_ms, struct wb_frame *f);
/* Sends the frame in s->w (already finished); gives up on shutdown or a
 * client that reads nothing for a long time. */
int wb_session_send(struct wb_session *s);
int wb_session_send_ok(struct wb_session *s);
int wb_session_send_error(struct wb_session *s, const struct wb_error *err);

bool wb_session_is_admin(struct wb_session *s);
/* Whether who is admitted by a shared credential's allow list (an empty
 * list admits everyone: the policy decides). */
bool wb_session_may_use_shared(const struct wb_peer *who, const struct wb_cred_meta *m);

/* Finds the credential a request names for `who`: its personal one first,
 * then a shared one (scope 0 = either). A shared credential with a
 * non-empty allow list must list who; the policy decides the rest.
 * secret NULL: metadata only, nothing is unsealed. */
int wb_session_find_cred(struct wb_session *s, const struct wb_peer *who, const char *name,
			 uint8_t scope, struct wb_cred_meta *meta, struct wb_secret **secret,
			 struct wb_error *err);

/* A RUN, CRED_TEST or POLICY_CHECK request, parsed and its target resolved. */
struct wb_run_req {
	char cred[WB_CRED_NAME_MAX + 1];
	uint8_t scope;
	char host[WB_HOST_MAX + 3];	/* as sent; room for [brackets] */
	char *command;
	char **args;
	size_t n_args;
	char *command_line;		/* command and args joined for the policy and audit */
	bool stdin_open;
	struct wb_target target;
};

int wb_session_parse_req(struct wb_session *s, const struct wb_frame *f, bool with_command,
			 struct wb_run_req *r, struct wb_error *err);
void wb_session_req_free(struct wb_run_req *r);

/* The policy's decision on `who` using meta on t for command_line (NULL:
 * a credential test); < 0 only for a malformed request (d says why). */
int wb_session_decide(struct wb_session *s, const struct wb_peer *who,
		      const struct wb_cred_meta *meta, const struct wb_target *t,
		      const char *command_line, struct wb_policy_decision *d);
void wb_session_apply_transports(struct wb_target *t, const struct wb_policy_decision *d);

int wb_session_run(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_test(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_add(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_rm(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_list(struct wb_session *s, const struct wb_frame *f);
int wb_session_policy_check(struct wb_session *s, const struct wb_frame *f);

/* Drops the Kerberos tickets cached for a credential: every version, or
 * (version != 0) only the one of that `updated` time. */
void wb_session_forget_tickets(struct wb_broker *b, uint8_t scope, uid_t owner,
			       const char *name, int64_t version);

/* Login-session credentials (session_login.c): a CRED_ADD with SESSION
 * (takes m and sec; sec is freed), and CRED_SESSION. */
int wb_session_login_add(struct wb_session *s, const struct wb_frame *f,
			 const struct wb_cred_meta *m, struct wb_secret *sec, uint8_t mode);
int wb_session_cred_session(struct wb_session *s, const struct wb_frame *f);

/*
 * The audit of a credential change (session_change.c): a decision record
 * before it, and for an allowed one an outcome record after it. p NULL:
 * the broker itself (expiry).
 */
struct wb_audit;
struct wb_change {
	char op_id[33];
	const char *operation;		/* "cred-add", "session-open", ... */
	char cred[WB_CRED_NAME_MAX + 1];
	uid_t owner;
};
void wb_change_init(struct wb_change *c, const char *operation, const char *cred, uid_t owner);
int wb_change_decision(struct wb_audit *a, const struct wb_change *c, const struct wb_peer *p,
		       bool allowed, const char *reason, struct wb_error *err);
void wb_change_outcome(struct wb_audit *a, const struct wb_change *c, const struct wb_peer *p,
		       int rc, const struct wb_error *result);

#endif
