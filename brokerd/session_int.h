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
/* Whether the caller may use a shared credential with this metadata. */
bool wb_session_may_use_shared(struct wb_session *s, const struct wb_cred_meta *m);

/* Finds the credential a RUN / CRED_TEST names: the caller's personal one
 * first, then a shared one it may use (scope 0 = either). */
int wb_session_find_cred(struct wb_session *s, const char *name, uint8_t scope,
			 struct wb_cred_meta *meta, struct wb_secret **secret,
			 struct wb_error *err);

int wb_session_run(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_test(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_add(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_rm(struct wb_session *s, const struct wb_frame *f);
int wb_session_cred_list(struct wb_session *s, const struct wb_frame *f);

#endif
