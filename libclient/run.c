/*
 * run.c - RUN streaming: the request, output events, stdin and signals.
 *
 * Nothing here blocks on a write. Stdin and signal frames wait in two small
 * queues and go out whenever the caller reads or waits, so a remote command
 * that writes a lot before it reads its stdin cannot deadlock against a
 * caller that is writing stdin: the caller keeps reading while the queue is
 * full. Signals overtake queued stdin (after the frame being sent, which must
 * be finished to keep the stream framed).
 */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A STDIN frame: header, DATA attribute, EOF attribute. */
#define STDIN_FRAME_MAX (WB_FRAME_HDR + 6 + WB_STDIN_CHUNK + 7)

enum run_state { RUN_NEW, RUN_RUNNING, RUN_DONE };

/* Whole frames waiting to be sent; bytes before off are sent. */
struct outq {
	struct wb_writer w;
	size_t off;
};

struct wbc_run {
	struct wbc_conn *c;
	enum run_state state;
	struct wb_writer req;	/* the RUN frame, built as the caller adds to it */
	size_t n_attrs;
	int scope;
	bool stdin_open, stdin_closed;
	struct outq ctrl, data;	/* SIGNAL frames; STDIN frames */
	struct outq *cur;	/* the queue whose head frame is partly sent */
	size_t cur_end;
	bool send_failed;	/* the broker stopped reading: await its last word */
};

static int build_failed(int rc, struct wbc_error *err)
{
	if (rc == -EMSGSIZE)
		return wbci_seterr(err, WBC_E_INVALID,
				   "the command, arguments and options exceed the %d-byte request limit",
				   WB_FRAME_MAX);
	return wbci_seterr(err, WBC_E_INTERNAL, "building RUN: %s", strerror(-rc));
}

int wbc_run_new(const char *cred, const struct wbc_target *t, const char *command,
		struct wbc_run **out, struct wbc_error *err)
{
	struct wbc_run *r;
	int rc;

	*out = NULL;
	rc = wbc_cred_name_check(cred, err);
	if (rc < 0)
		return rc;
	if (!t)
		return wbci_seterr(err, WBC_E_INVALID, "no target given");
	if (!command || !*command)
		return wbci_seterr(err, WBC_E_INVALID, "no command given");
	r = calloc(1, sizeof(*r));
	if (!r)
		return wbci_seterr(err, WBC_E_INTERNAL, "out of memory");
	wb_writer_init(&r->req, WBCI_FRAME_CAP, WB_PLAIN);
	wb_writer_init(&r->ctrl.w, 4096, WB_PLAIN);
	wb_writer_init(&r->data.w, 2 * STDIN_FRAME_MAX + 64, WB_PLAIN);
	rc = wb_msg_begin(&r->req, WB_MSG_RUN);
	if (rc == 0)
		rc = wb_msg_put_str(&r->req, WB_A_CRED, cred);
	if (rc == 0)
		rc = wb_msg_put_str(&r->req, WB_A_COMMAND, command);
	if (rc < 0)
		rc = build_failed(rc, err);
	if (rc == 0)
		rc = wbci_target_put(t, &r->req, err);
	if (rc < 0) {
		wbc_run_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int not_new(struct wbc_error *err)
{
	return wbci_seterr(err, WBC_E_INVALID, "the run has already been started");
}

int wbc_run_add_arg(struct wbc_run *r, const char *arg, struct wbc_error *err)
{
	int rc;

	if (r->state != RUN_NEW)
		return not_new(err);
	if (!arg)
		return wbci_seterr(err, WBC_E_INVALID, "no argument given");
	/* The attribute count limit: leave room for SCOPE and STDIN_OPEN. */
	if (++r->n_attrs > WB_ATTRS_MAX - 40)
		return wbci_seterr(err, WBC_E_INVALID, "too many arguments (the limit is about %d)",
				   WB_ATTRS_MAX - 40);
	rc = wb_msg_put_str(&r->req, WB_A_ARG, arg);
	return rc < 0 ? build_failed(rc, err) : 0;
}

int wbc_run_set_scope(struct wbc_run *r, int scope, struct wbc_error *err)
{
	if (r->state != RUN_NEW)
		return not_new(err);
	if (scope != WBC_SCOPE_ANY && scope != WBC_SCOPE_PERSONAL && scope != WBC_SCOPE_SHARED)
		return wbci_seterr(err, WBC_E_INVALID, "bad scope %d", scope);
	r->scope = scope;
	return 0;
}

int wbc_run_set_stdin(struct wbc_run *r, int open, struct wbc_error *err)
{
	if (r->state != RUN_NEW)
		return not_new(err);
	r->stdin_open = open != 0;
	return 0;
}

int wbc_run_start(struct wbc_run *r, struct wbc_conn *c, struct wbc_error *err)
{
	int rc;

	if (r->state != RUN_NEW)
		return not_new(err);
	rc = wbci_idle(c, err);
	if (rc < 0)
		return rc;
	rc = 0;
	if (r->scope != WBC_SCOPE_ANY)
		rc = wb_msg_put_u8(&r->req, WB_A_SCOPE, (uint8_t)r->scope);
	if (rc == 0 && r->stdin_open)
		rc = wb_msg_put_u8(&r->req, WB_A_STDIN_OPEN, 1);
	if (rc == 0)
		rc = wb_msg_finish(&r->req);
	if (rc < 0)
		rc = build_failed(rc, err);
	if (rc == 0)
		rc = wbci_send(c, &r->req, err);
	wb_writer_free(&r->req);
	if (rc < 0) {
		r->state = RUN_DONE;	/* the request is gone; make a new one */
		return rc;
	}
	r->c = c;
	r->c->state = WBCI_RUN;
	r->state = RUN_RUNNING;
	return 0;
}

static size_t unsent(const struct outq *q)
{
	return q->w.len - q->off;
}

static bool pending(const struct wbc_run *r)
{
	return !r->send_failed && (unsent(&r->ctrl) > 0 || unsent(&r->data) > 0);
}

/* Appends a whole frame, first dropping what has been sent. */
static int enqueue(struct wbc_run *r, struct outq *q, const struct wb_writer *frame)
{
	if (q->off > 0) {
		memmove(q->w.data, q->w.data + q->off, unsent(q));
		q->w.len -= q->off;
		if (r->cur == q)
			r->cur_end -= q->off;
		q->off = 0;
	}
	return wb_put(&q->w, frame->data, frame->len);
}

static void drop_queues(struct wbc_run *r)
{
	r->ctrl.w.len = r->ctrl.off = 0;
	r->data.w.len = r->data.off = 0;
	r->cur = NULL;
}

/* Sends what the socket takes now. A failed send is not reported here: the
 * broker has gone or stopped reading, and reading tells why. */
static void flush(struct wbc_run *r)
{
	while (pending(r)) {
		ssize_t n;

		if (!r->cur) {
			struct outq *q = unsent(&r->ctrl) ? &r->ctrl : &r->data;
			const uint8_t *h = q->w.data + q->off;

			r->cur = q;
			r->cur_end = q->off + WB_FRAME_HDR +
				     ((size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]);
		}
		n = send(r->c->fd, r->cur->w.data + r->cur->off, r->cur_end - r->cur->off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			r->send_failed = true;
			drop_queues(r);
			return;
		}
		r->cur->off += (size_t)n;
		if (r->cur->off == r->cur_end)
			r->cur = NULL;
	}
}

/*
 * The run is over. A partly sent frame is finished so the connection stays
 * framed for the next request; frames not yet begun are dropped (the broker
 * ignores stdin and signals that cross its EXIT on the wire).
 */
static void finish(struct wbc_run *r)
{
	r->state = RUN_DONE;
	if (r->c->state != WBCI_RUN)
		return;
	r->c->state = WBCI_IDLE;
	if (r->cur && !r->send_failed) {
		struct wb_writer rest = {
			.data = r->cur->w.data + r->cur->off,
			.len = r->cur_end - r->cur->off,
		};
		struct wbc_error ignored;

		if (wbci_send(r->c, &rest, &ignored) < 0)
			wbci_kill(r->c);
	}
	if (r->send_failed)
		wbci_kill(r->c);
	drop_queues(r);
}

static int bad_frame(struct wbc_run *r, const char *what, struct wbc_error *err)
{
	wbci_kill(r->c);
	finish(r);
	return wbci_seterr(err, WBC_E_PROTO, "the broker sent a malformed %s frame", what);
}

static int on_frame(struct wbc_run *r, const struct wb_frame *f, struct wbc_event *ev,
		    struct wbc_error *err)
{
	const uint8_t *val;
	uint32_t vlen, code;
	int rc;

	switch (f->type) {
	case WB_MSG_STDOUT:
	case WB_MSG_STDERR:
		if (wb_attr_find(f, WB_A_DATA, 0, &val, &vlen) < 0)
			return bad_frame(r, f->type == WB_MSG_STDOUT ? "STDOUT" : "STDERR", err);
		ev->type = f->type == WB_MSG_STDOUT ? WBC_EV_STDOUT : WBC_EV_STDERR;
		ev->data = val;
		ev->len = vlen;
		return 0;
	case WB_MSG_EXIT:
		if (wb_attr_u32(f, WB_A_EXIT_CODE, &code) < 0)
			return bad_frame(r, "EXIT", err);
		ev->type = WBC_EV_EXIT;
		ev->exit_code = (int)(int32_t)code;	/* two's complement on the wire */
		wbci_attr_text(f, WB_A_TRANSPORT, ev->transport, sizeof(ev->transport));
		finish(r);
		return 0;
	case WB_MSG_ERROR:
		rc = wbci_error_reply(r->c, f, err);
		finish(r);
		return rc;
	default:
		rc = wbci_unexpected(r->c, f, "during a run", err);
		finish(r);
		return rc;
	}
}

static int run_usable(struct wbc_run *r, struct wbc_error *err)
{
	if (r->state == RUN_NEW)
		return wbci_seterr(err, WBC_E_INVALID, "the run has not been started");
	if (r->state == RUN_DONE)
		return wbci_seterr(err, WBC_E_INVALID, "the run has finished");
	return 0;
}

int wbc_run_poll_events(const struct wbc_run *r)
{
	return POLLIN | (pending(r) ? POLLOUT : 0);
}

int wbc_run_read(struct wbc_run *r, struct wbc_event *ev, int timeout_ms, struct wbc_error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : wbci_now_ms() + timeout_ms;
	int rc;

	memset(ev, 0, sizeof(*ev));
	rc = run_usable(r, err);
	while (rc == 0) {
		struct pollfd p = { .fd = r->c->fd };
		struct wb_frame f;

		flush(r);
		rc = wbci_recv(r->c, &f, err);
		if (rc < 0) {
			finish(r);
			return rc;
		}
		if (rc == 1)
			return on_frame(r, &f, ev, err);
		if (timeout_ms == 0)
			return 0;
		p.events = (short)wbc_run_poll_events(r);
		rc = poll(&p, 1, wbci_left_ms(deadline));
		/* A signal returns control to the caller, e.g. to forward Ctrl-C. */
		if (rc < 0 && errno == EINTR)
			return 0;
		if (rc < 0)
			return wbci_seterr(err, WBC_E_IO, "waiting for the broker: %s", strerror(errno));
		if (rc == 0)
			return 0;
		rc = 0;
	}
	return rc;
}

size_t wbc_run_stdin_room(const struct wbc_run *r)
{
	if (r->state != RUN_RUNNING || !r->stdin_open || r->stdin_closed)
		return 0;
	if (r->send_failed)
		return WB_STDIN_CHUNK;	/* swallowed: the run's end is on its way */
	return unsent(&r->data) < WB_STDIN_CHUNK ? WB_STDIN_CHUNK : 0;
}

static int queue_frame(struct wbc_run *r, struct outq *q, struct wb_writer *frame,
		       struct wbc_error *err)
{
	int rc = wb_msg_finish(frame);

	if (rc == 0 && !r->send_failed)
		rc = enqueue(r, q, frame);
	wb_writer_free(frame);
	if (rc < 0)
		return wbci_seterr(err, WBC_E_INTERNAL, "queueing a frame: %s", strerror(-rc));
	flush(r);
	return 0;
}

static int stdin_usable(struct wbc_run *r, struct wbc_error *err)
{
	int rc = run_usable(r, err);

	if (rc < 0)
		return rc;
	if (!r->stdin_open)
		return wbci_seterr(err, WBC_E_INVALID,
				   "stdin was not opened: call wbc_run_set_stdin before starting");
	if (r->stdin_closed)
		return wbci_seterr(err, WBC_E_INVALID, "stdin is already closed");
	return 0;
}

int wbc_run_write_stdin(struct wbc_run *r, const void *data, size_t len, struct wbc_error *err)
{
	struct wb_writer frame;
	size_t n;
	int rc = stdin_usable(r, err);

	if (rc < 0)
		return rc;
	flush(r);
	n = wbc_run_stdin_room(r);
	if (n > len)
		n = len;
	if (n == 0)
		return 0;
	wb_writer_init(&frame, STDIN_FRAME_MAX, WB_PLAIN);
	rc = wb_msg_begin(&frame, WB_MSG_STDIN);
	if (rc == 0)
		rc = wb_msg_put(&frame, WB_A_DATA, data, n);
	if (rc < 0) {
		wb_writer_free(&frame);
		return wbci_seterr(err, WBC_E_INTERNAL, "building STDIN: %s", strerror(-rc));
	}
	rc = queue_frame(r, &r->data, &frame, err);
	return rc < 0 ? rc : (int)n;
}

int wbc_run_close_stdin(struct wbc_run *r, struct wbc_error *err)
{
	struct wb_writer frame;
	int rc = stdin_usable(r, err);

	if (rc < 0)
		return rc;
	r->stdin_closed = true;
	wb_writer_init(&frame, 64, WB_PLAIN);
	rc = wb_msg_begin(&frame, WB_MSG_STDIN);
	if (rc == 0)
		rc = wb_msg_put(&frame, WB_A_DATA, "", 0);
	if (rc == 0)
		rc = wb_msg_put_u8(&frame, WB_A_EOF, 1);
	if (rc < 0) {
		wb_writer_free(&frame);
		return wbci_seterr(err, WBC_E_INTERNAL, "building STDIN: %s", strerror(-rc));
	}
	return queue_frame(r, &r->data, &frame, err);
}

int wbc_run_signal(struct wbc_run *r, int signal, struct wbc_error *err)
{
	struct wb_writer frame;
	int rc = run_usable(r, err);

	if (rc < 0)
		return rc;
	if (signal != WBC_SIGNAL_CTRL_C && signal != WBC_SIGNAL_TERMINATE)
		return wbci_seterr(err, WBC_E_INVALID, "bad signal %d", signal);
	wb_writer_init(&frame, 64, WB_PLAIN);
	rc = wb_msg_begin(&frame, WB_MSG_SIGNAL);
	if (rc == 0)
		rc = wb_msg_put_u8(&frame, WB_A_SIGNAL, (uint8_t)signal);
	if (rc < 0) {
		wb_writer_free(&frame);
		return wbci_seterr(err, WBC_E_INTERNAL, "building SIGNAL: %s", strerror(-rc));
	}
	return queue_frame(r, &r->ctrl, &frame, err);
}

int wbc_run_wait(struct wbc_run *r, int fd, int events, short *revents, int timeout_ms,
		 struct wbc_error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : wbci_now_ms() + timeout_ms;
	int rc = run_usable(r, err);

	if (revents)
		*revents = 0;
	while (rc == 0) {
		struct pollfd p[2] = { { .fd = r->c->fd }, { .fd = fd, .events = (short)events } };
		int mask = 0, n;

		flush(r);
		if (wbc_run_stdin_room(r) > 0)
			mask |= WBC_WAIT_STDIN;
		p[0].events = (short)wbc_run_poll_events(r);
		n = poll(p, fd >= 0 ? 2 : 1, mask ? 0 : wbci_left_ms(deadline));
		if (n < 0 && errno == EINTR)
			return mask;
		if (n < 0)
			return wbci_seterr(err, WBC_E_IO, "waiting: %s", strerror(errno));
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			mask |= WBC_WAIT_EVENT;
		if (fd >= 0 && p[1].revents) {
			mask |= WBC_WAIT_FD;
			if (revents)
				*revents = p[1].revents;
		}
		if (p[0].revents & POLLOUT) {
			flush(r);
			if (wbc_run_stdin_room(r) > 0)
				mask |= WBC_WAIT_STDIN;
		}
		if (mask || n == 0)
			return mask;
	}
	return rc;
}

int wbc_run_pump(struct wbc_run *r, wbc_output_fn fn, void *ud, int *exit_code,
		 struct wbc_error *err)
{
	for (;;) {
		struct wbc_event ev;
		int rc = wbc_run_read(r, &ev, -1, err);

		if (rc < 0)
			return rc;
		if (ev.type == WBC_EV_EXIT) {
			if (exit_code)
				*exit_code = ev.exit_code;
			return 0;
		}
		if (ev.type != WBC_EV_NONE && fn && fn(ud, ev.type, ev.data, ev.len) != 0) {
			wbci_kill(r->c);	/* closing cancels the run in the broker */
			finish(r);
			return wbci_seterr(err, WBC_E_CANCELLED, "cancelled by the output callback");
		}
	}
}

void wbc_run_free(struct wbc_run *r)
{
	if (!r)
		return;
	if (r->state == RUN_RUNNING) {
		wbci_kill(r->c);	/* closing cancels the run in the broker */
		r->state = RUN_DONE;
	}
	wb_writer_free(&r->req);
	wb_writer_free(&r->ctrl.w);
	wb_writer_free(&r->data.w);
	free(r);
}
