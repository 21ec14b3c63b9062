/* session.c - the connection loop, HELLO, STATUS and the reply helpers
 * (see session.h). */
#include "session.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "log.h"
#include "screds.h"
#include "session_int.h"
#include "store.h"

#ifndef WB_VERSION
#define WB_VERSION "0"
#endif

#define FRAME_READ_TIMEOUT_SEC 10	/* a started frame must arrive within this */
#define SEND_STALL_MS 300000		/* a client that reads nothing for 5 min is dropped */

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = FRAME_READ_TIMEOUT_SEC };

	/* Bounds the wait for the rest of a frame once its first byte came. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int wb_session_read(struct wb_session *s, int idle_ms, struct wb_frame *f)
{
	struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN },
			       { .fd = s->b->cancel_fd, .events = POLLIN } };
	struct wb_error err = { 0 };
	int rc;

	for (;;) {
		rc = poll(p, 2, idle_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		if (p[1].revents)
			return -ECANCELED;
		break;
	}
	rc = wb_frame_read(s->fd, s->rbuf, WB_FRAME_HDR + WB_FRAME_MAX, f);
	if (rc == 0 || rc == -ECONNRESET)
		return rc;
	if (rc == -EAGAIN || rc == -EWOULDBLOCK)
		wb_error_set(&err, WB_E_PROTO, "incomplete frame: nothing more for %d s",
			     FRAME_READ_TIMEOUT_SEC);
	else if (rc == -EMSGSIZE)
		wb_error_set(&err, WB_E_PROTO, "frame too large (max %d bytes) or too many attributes",
			     WB_FRAME_MAX);
	else if (rc == -EBADMSG)
		wb_error_set(&err, WB_E_PROTO, "malformed frame");
	else
		return rc;	/* the connection itself failed: nobody to tell */
	wb_log(LOG_NOTICE, "uid=%u pid=%d: %s; closing", (unsigned)s->peer.uid, (int)s->peer.pid,
	       err.msg);
	wb_session_send_error(s, &err);
	return -EBADMSG;
}

int wb_session_send(struct wb_session *s)
{
	const uint8_t *p = s->w.data;
	size_t n = s->w.len;

	while (n > 0) {
		struct pollfd pf[2] = { { .fd = s->fd, .events = POLLOUT },
					{ .fd = s->b->cancel_fd, .events = POLLIN } };
		ssize_t w;
		int rc = poll(pf, 2, SEND_STALL_MS);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return rc < 0 ? -errno : -ETIMEDOUT;
		if (pf[1].revents && !(pf[0].revents & POLLOUT))
			return -ECANCELED;
		w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int wb_session_send_ok(struct wb_session *s)
{
	if (wb_msg_begin(&s->w, WB_MSG_OK) < 0 || wb_msg_finish(&s->w) < 0)
		return -ENOMEM;
	return wb_session_send(s);
}

int wb_session_send_error(struct wb_session *s, const struct wb_error *err)
{
	int code = err->code ? err->code : WB_E_INTERNAL;

	if (wb_msg_begin(&s->w, WB_MSG_ERROR) < 0 ||
	    wb_msg_put_u32(&s->w, WB_A_ERROR_CODE, (uint32_t)code) < 0 ||
	    wb_msg_put_str(&s->w, WB_A_MESSAGE, err->msg) < 0 || wb_msg_finish(&s->w) < 0)
		return -ENOMEM;
	return wb_session_send(s);
}

bool wb_session_is_admin(struct wb_session *s)
{
	struct wb_config_ref *ref;
	const char *group;
	bool admin = s->peer.uid == 0;

	if (admin)
		return true;
	ref = wb_broker_config_get(s->b);
	group = wb_config_broker(ref->config)->admin_group;
	if (group && group[0]) {
		struct group gr, *res = NULL;
		char buf[4096];

		if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) == 0 && res)
			admin = wb_peer_in_group(&s->peer, gr.gr_gid);
	}
	wb_broker_config_put(s->b, ref);
	return admin;
}

static int hello(struct wb_session *s, const struct wb_frame *f)
{
	struct wb_error err = { 0 };
	char client[128] = "";
	uint32_t version = 0;

	if (f->type != WB_MSG_HELLO) {
		wb_error_set(&err, WB_E_PROTO, "the first frame must be HELLO");
		wb_session_send_error(s, &err);
		return -EPROTO;
	}
	wb_attr_str(f, WB_A_CLIENT, 0, client, sizeof(client));
	if (wb_attr_u32(f, WB_A_VERSION, &version) < 0 || version != WB_PROTO_VERSION) {
		wb_error_set(&err, WB_E_VERSION, "protocol version %u not supported (this broker: %d)",
			     version, WB_PROTO_VERSION);
		wb_session_send_error(s, &err);
		return -EPROTO;
	}
	wb_log(LOG_DEBUG, "uid=%u pid=%d exe=%s: hello from %s", (unsigned)s->peer.uid,
	       (int)s->peer.pid, s->peer.exe, client);
	if (wb_msg_begin(&s->w, WB_MSG_HELLO) < 0 ||
	    wb_msg_put_u32(&s->w, WB_A_VERSION, WB_PROTO_VERSION) < 0 ||
	    wb_msg_put_str(&s->w, WB_A_SERVER, "winrm-brokerd " WB_VERSION) < 0 ||
	    wb_msg_finish(&s->w) < 0)
		return -ENOMEM;
	return wb_session_send(s);
}

struct visible_count {
	struct wb_session *s;
	unsigned n;
	bool admin;
};

static int count_visible(const struct wb_cred_meta *m, void *ctx)
{
	struct visible_count *c = ctx;

	/* What CRED_LIST shows: the admin group sees every shared credential,
	 * but other users' personal ones (and logins) only root does. */
	if (c->s->peer.uid == 0 ||
	    (m->scope == WB_SCOPE_PERSONAL && m->owner == c->s->peer.uid) ||
	    (m->scope == WB_SCOPE_SHARED && (c->admin || wb_session_may_use_shared(&c->s->peer, m))))
		c->n++;
	return 0;
}

static int count_visible_session(const struct wb_cred_meta *m, const struct wb_screds_state *st,
				 void *ctx)
{
	(void)st;
	return count_visible(m, ctx);
}

static int status(struct wb_session *s)
{
	struct visible_count c = { s, 0, false };
	unsigned conns, ops;
	size_t bad;

	c.admin = wb_session_is_admin(s);
	wb_broker_counts(s->b, &conns, &ops);
	pthread_mutex_lock(&s->b->store_lock);
	wb_store_list(s->b->store, count_visible, &c);
	wb_screds_list(s->b->screds, count_visible_session, &c);
	bad = wb_store_bad_count(s->b->store);
	pthread_mutex_unlock(&s->b->store_lock);
	if (wb_msg_begin(&s->w, WB_MSG_STATUS_INFO) < 0 ||
	    wb_msg_put_str(&s->w, WB_A_SERVER, "winrm-brokerd " WB_VERSION) < 0 ||
	    wb_msg_put_u64(&s->w, WB_A_UPTIME, (uint64_t)(time(NULL) - s->b->started)) < 0 ||
	    wb_msg_put_u32(&s->w, WB_A_CONNECTIONS, conns) < 0 ||
	    wb_msg_put_u32(&s->w, WB_A_OPERATIONS, ops) < 0 ||
	    wb_msg_put_u32(&s->w, WB_A_CREDENTIALS, c.n) < 0 ||
	    (c.admin && wb_msg_put_u32(&s->w, WB_A_BAD_RECORDS, (uint32_t)bad) < 0) ||
	    wb_msg_finish(&s->w) < 0)
		return -ENOMEM;
	return wb_session_send(s);
}

/* One request; < 0 ends the session. */
static int dispatch(struct wb_session *s, const struct wb_frame *f)
{
	struct wb_error err = { 0 };

	switch (f->type) {
	case WB_MSG_RUN:
		return wb_session_run(s, f);
	case WB_MSG_CRED_TEST:
		return wb_session_cred_test(s, f);
	case WB_MSG_CRED_ADD:
		return wb_session_cred_add(s, f);
	case WB_MSG_CRED_RM:
		return wb_session_cred_rm(s, f);
	case WB_MSG_CRED_LIST:
		return wb_session_cred_list(s, f);
	case WB_MSG_CRED_SESSION:
		return wb_session_cred_session(s, f);
	case WB_MSG_STATUS:
		return status(s);
	case WB_MSG_POLICY_CHECK:
		return wb_session_policy_check(s, f);
	case WB_MSG_STDIN:
	case WB_MSG_SIGNAL:
		/* Sent while the run ended: they crossed the EXIT on the wire. */
		return 0;
	default:
		wb_error_set(&err, WB_E_PROTO, "unexpected frame type 0x%04x here", f->type);
		wb_log(LOG_NOTICE, "uid=%u pid=%d: %s; closing", (unsigned)s->peer.uid,
		       (int)s->peer.pid, err.msg);
		wb_session_send_error(s, &err);
		return -EPROTO;
	}
}

static void serve(struct wb_session *s)
{
	struct wb_frame f;
	int idle_ms = (int)s->idle_timeout_sec * 1000;
	bool greeted = false;

	for (;;) {
		int rc = wb_session_read(s, idle_ms, &f);

		if (rc == -ETIMEDOUT)
			wb_log(LOG_INFO, "uid=%u pid=%d: idle for %u s; closing",
			       (unsigned)s->peer.uid, (int)s->peer.pid, s->idle_timeout_sec);
		if (rc < 0)
			return;
		rc = greeted ? dispatch(s, &f) : hello(s, &f);
		/* Frames may carry a secret (CRED_ADD): nothing stays in the buffer. */
		sodium_memzero(s->rbuf, WB_FRAME_HDR + f.len);
		if (rc < 0)
			return;
		greeted = true;
	}
}

/*
 * Closing a socket with unread input makes the kernel send a reset, which
 * can destroy the ERROR frame we just sent before the client reads it. So:
 * end our side, then discard what the client still sends, briefly.
 */
static void linger_close(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char junk[4096];
	size_t total = 0;

	shutdown(fd, SHUT_WR);
	while (total < 1024 * 1024 && poll(&p, 1, 200) > 0) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	close(fd);
}

void wb_session_serve(struct wb_broker *b, int fd)
{
	struct wb_session s = { .b = b, .fd = fd };
	struct wb_config_ref *ref;
	struct wb_error err = { 0 };

	if (wb_peer_identify(fd, &s.peer, &err) < 0) {
		wb_log(LOG_WARNING, "rejecting a connection: %s", err.msg);
		close(fd);
		return;
	}
	wb_writer_init(&s.w, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	s.rbuf = malloc(WB_FRAME_HDR + WB_FRAME_MAX);
	ref = wb_broker_config_get(b);
	s.idle_timeout_sec = wb_config_broker(ref->config)->idle_timeout_sec;
	wb_broker_config_put(b, ref);
	set_timeouts(fd);

	if (!s.rbuf) {
		wb_error_set(&err, WB_E_INTERNAL, "out of memory");
		wb_session_send_error(&s, &err);
	} else if (wb_broker_conn_enter(b, &s.peer, &err) < 0) {
		wb_log(LOG_NOTICE, "uid=%u pid=%d: %s", (unsigned)s.peer.uid, (int)s.peer.pid,
		       err.msg);
		wb_session_send_error(&s, &err);
	} else {
		serve(&s);
		wb_broker_conn_leave(b, s.peer.uid);
	}
	if (s.rbuf) {
		sodium_memzero(s.rbuf, WB_FRAME_HDR + WB_FRAME_MAX);
		free(s.rbuf);
	}
	wb_writer_free(&s.w);
	linger_close(fd);
}
