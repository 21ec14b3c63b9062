/* client.c - the connection to the broker: socket, HELLO, frames, errors (see client.h). */
#include "client.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "error.h"

/* The public codes are the wire codes of common/error.h. */
#define SAME(x) ((int)WBC_E_##x == (int)WB_E_##x)
static_assert(SAME(INTERNAL) && SAME(PROTO) && SAME(VERSION) && SAME(INVALID) &&
	      SAME(DENIED) && SAME(NOCRED) && SAME(EXISTS) && SAME(LIMIT) && SAME(STORE) &&
	      SAME(CONNECT) && SAME(TLS) && SAME(AUTH) && SAME(TIMEOUT) && SAME(REMOTE) &&
	      SAME(CANCELLED) && SAME(UNSUPPORTED) && SAME(CONFIG) && SAME(IO) &&
	      WB_E_MAX == WBC_E_IO + 1,
	      "winrm-broker.h error codes must match common/error.h");
#undef SAME
static_assert(sizeof(((struct wbc_error *)0)->message) == sizeof(((struct wb_error *)0)->msg),
	      "message sizes match");
static_assert(WBC_STDIN_CHUNK == WB_STDIN_CHUNK, "stdin chunk matches the protocol");

#define HELLO_TIMEOUT_MS 10000

const char *wbc_version(void)
{
	return WBC_VERSION_STRING;
}

const char *wbc_errcode_name(int code)
{
	return wb_errcode_name(code);
}

int wbci_seterr(struct wbc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code <= 0 || code >= WB_E_MAX)
		code = WBC_E_INTERNAL;
	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -code;
}

void wbci_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int64_t wbci_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wbci_left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - wbci_now_ms();
	return left < 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : wbci_now_ms() + timeout_ms;
}

void wbci_kill(struct wbc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = WBCI_DEAD;
}

void wbci_wipe_in(struct wbc_conn *c)
{
	/* A frame in the middle of arriving stays: wiping it would lose sync. */
	if (c->in_len && !c->in_done)
		return;
	sodium_memzero(c->in, c->in_peak);
	c->in_peak = c->in_len = 0;
	c->in_done = false;
}

int wbci_idle(struct wbc_conn *c, struct wbc_error *err)
{
	switch (c->state) {
	case WBCI_IDLE:
		return 0;
	case WBCI_RUN:
		return wbci_seterr(err, WBC_E_INVALID,
				   "the connection is busy with a run; finish or free it first");
	case WBCI_LIST:
		return wbci_seterr(err, WBC_E_INVALID,
				   "the connection is busy listing credentials; read the list to its end");
	default:
		return wbci_seterr(err, WBC_E_IO,
				   "the connection to the broker was lost earlier; connect again");
	}
}

static int lost(struct wbc_conn *c, struct wbc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The connection is unusable: close it and say why (code WBC_E_IO). */
static int lost(struct wbc_conn *c, struct wbc_error *err, const char *fmt, ...)
{
	va_list ap;

	wbci_kill(c);
	if (err) {
		err->code = WBC_E_IO;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -WBC_E_IO;
}

/* Bytes still missing from the frame being read; < 0 for a bad header. */
static long frame_missing(struct wbc_conn *c, struct wbc_error *err)
{
	uint32_t len;
	uint16_t type;
	int rc;

	if (c->in_len < WB_FRAME_HDR)
		return (long)(WB_FRAME_HDR - c->in_len);
	rc = wb_frame_header(c->in, &len, &type);
	if (rc == -EMSGSIZE) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO,
				   "the broker sent a frame over the %d-byte limit; "
				   "is this socket really winrm-brokerd?", WB_FRAME_MAX);
	}
	if (rc < 0) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO, "the broker sent a frame with a bad header; "
				   "is this socket really winrm-brokerd?");
	}
	return (long)(WB_FRAME_HDR + len - c->in_len);
}

int wbci_recv(struct wbc_conn *c, struct wb_frame *f, struct wbc_error *err)
{
	if (c->state == WBCI_DEAD)
		return wbci_idle(c, err);
	if (c->in_done) {
		c->in_len = 0;
		c->in_done = false;
	}
	for (;;) {
		long want = frame_missing(c, err);
		ssize_t n;

		if (want < 0)
			return (int)want;
		if (want == 0)
			break;
		/* Exactly what this frame lacks: the buffer never holds two. */
		n = recv(c->fd, c->in + c->in_len, (size_t)want, MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			if (c->in_len > c->in_peak)
				c->in_peak = c->in_len;
		} else if (n == 0) {
			return lost(c, err, "the broker closed the connection%s; "
				    "was winrm-brokerd stopped or restarted?",
				    c->in_len ? " in the middle of a frame" : "");
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 0;
		} else if (errno != EINTR) {
			return lost(c, err, "reading from the broker: %s", strerror(errno));
		}
	}
	if (wb_frame_parse(c->in, c->in_len, f) < 0) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO,
				   "the broker sent a malformed frame (bad attribute list)");
	}
	c->in_done = true;
	return 1;
}

/* poll() on the socket; 0 on timeout, 1 when ready, < 0 on failure. */
static int wait_fd(struct wbc_conn *c, short events, int64_t deadline, struct wbc_error *err)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int n;

	do
		n = poll(&p, 1, wbci_left_ms(deadline));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return lost(c, err, "waiting for the broker: %s", strerror(errno));
	return n;
}

static int timed_out(struct wbc_conn *c, struct wbc_error *err)
{
	/* A late reply would desynchronize the connection: drop it. */
	wbci_kill(c);
	return wbci_seterr(err, WBC_E_TIMEOUT, "the broker did not answer in time");
}

int wbci_wait_frame(struct wbc_conn *c, struct wb_frame *f, int timeout_ms,
		    struct wbc_error *err)
{
	int64_t deadline = deadline_after(timeout_ms);

	for (;;) {
		int rc = wbci_recv(c, f, err);

		if (rc != 0)
			return rc < 0 ? rc : 0;
		rc = wait_fd(c, POLLIN, deadline, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return timed_out(c, err);
	}
}

int wbci_send(struct wbc_conn *c, const struct wb_writer *w, struct wbc_error *err)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	size_t off = 0;

	if (c->state == WBCI_DEAD)
		return wbci_idle(c, err);
	while (off < w->len) {
		ssize_t n = send(c->fd, w->data + off, w->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return lost(c, err, "sending to the broker: %s; "
				    "was winrm-brokerd stopped or restarted?", strerror(errno));
		rc = wait_fd(c, POLLOUT, deadline, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return timed_out(c, err);
	}
	return 0;
}

int wbci_request(struct wbc_conn *c, const struct wb_writer *w, struct wb_frame *f,
		 struct wbc_error *err)
{
	int rc = wbci_idle(c, err);

	if (rc == 0)
		rc = wbci_send(c, w, err);
	if (rc == 0)
		rc = wbci_wait_frame(c, f, c->timeout_ms, err);
	return rc;
}

void wbci_attr_text(const struct wb_frame *f, uint16_t tag, char *buf, size_t size)
{
	wbci_attr_text_nth(f, tag, 0, buf, size);
}

void wbci_attr_text_nth(const struct wb_frame *f, uint16_t tag, size_t nth, char *buf,
			size_t size)
{
	const uint8_t *val;
	uint32_t vlen;
	size_t i, n = 0;

	if (size == 0)
		return;
	if (wb_attr_find(f, tag, nth, &val, &vlen) == 0)
		for (i = 0; i < vlen && n + 1 < size; i++)
			buf[n++] = val[i] ? (char)val[i] : '?';
	buf[n] = '\0';
	wbci_clean(buf);
}

int wbci_error_reply(struct wbc_conn *c, const struct wb_frame *f, struct wbc_error *err)
{
	char msg[sizeof(err->message)];
	uint32_t code;

	if (wb_attr_u32(f, WB_A_ERROR_CODE, &code) < 0) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO, "the broker sent an ERROR frame without a code");
	}
	wbci_attr_text(f, WB_A_MESSAGE, msg, sizeof(msg));
	if (!msg[0])
		snprintf(msg, sizeof(msg), "the broker reported error %u (%s)", code,
			 wb_errcode_name((int)code));
	/* After these the broker closes the connection (docs/protocol.md). */
	if (code == WB_E_PROTO || code == WB_E_VERSION)
		wbci_kill(c);
	if (code == 0 || code >= WB_E_MAX)
		return wbci_seterr(err, WBC_E_INTERNAL, "broker error %u: %s", code, msg);
	return wbci_seterr(err, (int)code, "%s", msg);
}

int wbci_unexpected(struct wbc_conn *c, const struct wb_frame *f, const char *during,
		    struct wbc_error *err)
{
	wbci_kill(c);
	return wbci_seterr(err, WBC_E_PROTO, "the broker sent an unexpected frame (type 0x%04x) %s",
			   f->type, during);
}

int wbci_expect_ok(struct wbc_conn *c, const struct wb_frame *f, const char *during,
		   struct wbc_error *err)
{
	if (f->type == WB_MSG_OK)
		return 0;
	if (f->type == WB_MSG_ERROR)
		return wbci_error_reply(c, f, err);
	return wbci_unexpected(c, f, during, err);
}

/* A caller that set SO_RCVTIMEO on its socket (pam_winrm_broker's
 * timeout=) waits no longer than that for the greeting either. */
static int hello_timeout_ms(int fd)
{
	struct timeval tv = { 0 };
	socklen_t len = sizeof(tv);
	long long ms;

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0 || (!tv.tv_sec && !tv.tv_usec))
		return HELLO_TIMEOUT_MS;
	ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	return ms < HELLO_TIMEOUT_MS ? (int)(ms > 0 ? ms : 1) : HELLO_TIMEOUT_MS;
}

static int hello(struct wbc_conn *c, const char *client_name, struct wbc_error *err)
{
	char name[128];
	struct wb_writer w;
	struct wb_frame f;
	uint32_t version;
	int rc;

	snprintf(name, sizeof(name), "%s",
		 client_name ? client_name : "libwinrm-broker/" WBC_VERSION_STRING);
	wb_writer_init(&w, 1024, WB_PLAIN);
	rc = wb_msg_begin(&w, WB_MSG_HELLO);
	if (rc == 0)
		rc = wb_msg_put_u32(&w, WB_A_VERSION, WB_PROTO_VERSION);
	if (rc == 0)
		rc = wb_msg_put_str(&w, WB_A_CLIENT, name);
	if (rc == 0)
		rc = wb_msg_finish(&w);
	if (rc < 0) {
		wb_writer_free(&w);
		return wbci_seterr(err, WBC_E_INTERNAL, "building HELLO: %s", strerror(-rc));
	}
	rc = wbci_send(c, &w, err);
	wb_writer_free(&w);
	if (rc == 0)
		rc = wbci_wait_frame(c, &f, hello_timeout_ms(c->fd), err);
	if (rc < 0)
		return rc;
	if (f.type == WB_MSG_ERROR)
		return wbci_error_reply(c, &f, err);
	if (f.type != WB_MSG_HELLO)
		return wbci_unexpected(c, &f, "instead of HELLO; is this socket really winrm-brokerd?", err);
	if (wb_attr_u32(&f, WB_A_VERSION, &version) < 0) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_PROTO, "the broker's HELLO has no protocol version");
	}
	if (version != WB_PROTO_VERSION) {
		wbci_kill(c);
		return wbci_seterr(err, WBC_E_VERSION,
				   "the broker speaks protocol version %u, this library version %d; "
				   "install matching versions of winrm-brokerd and libwinrm-broker",
				   version, WB_PROTO_VERSION);
	}
	wbci_attr_text(&f, WB_A_SERVER, c->server, sizeof(c->server));
	return 0;
}

int wbc_connect_fd(int fd, const char *client_name, struct wbc_conn **out, struct wbc_error *err)
{
	struct wbc_conn *c;
	int flags, rc;

	*out = NULL;
	if (fd < 0)
		return wbci_seterr(err, WBC_E_INVALID, "no socket given");
	c = calloc(1, sizeof(*c));
	if (c)
		c->in = malloc(WB_FRAME_HDR + WB_FRAME_MAX);
	if (!c || !c->in) {
		if (c)
			free(c);
		close(fd);
		return wbci_seterr(err, WBC_E_INTERNAL, "out of memory");
	}
	c->fd = fd;
	c->timeout_ms = -1;
	c->state = WBCI_IDLE;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = wbci_seterr(err, WBC_E_IO, "cannot use the broker socket: %s", strerror(errno));
		wbc_close(c);
		return rc;
	}
	rc = hello(c, client_name, err);
	if (rc < 0) {
		wbc_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int wbc_connect(const char *socket_path, const char *client_name, struct wbc_conn **out,
		struct wbc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	*out = NULL;
	/* secure_getenv: a set-id caller must not be pointed at another socket. */
	if (!socket_path || !*socket_path)
		socket_path = secure_getenv(WBC_SOCKET_ENV);
	if (!socket_path || !*socket_path)
		socket_path = WBC_DEFAULT_SOCKET;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return wbci_seterr(err, WBC_E_INVALID, "the socket path is too long (%zu bytes): %s",
				   strlen(socket_path), socket_path);
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wbci_seterr(err, WBC_E_IO, "cannot create a socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return wbci_seterr(err, WBC_E_IO,
				   "cannot connect to the broker at %s: %s; is winrm-brokerd running?",
				   socket_path, strerror(e));
	}
	return wbc_connect_fd(fd, client_name, out, err);
}

void wbc_close(struct wbc_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	/* Replies carried deposit tokens and whatever else the broker sent. */
	sodium_memzero(c->in, c->in_peak);
	free(c->in);
	free(c);
}

const char *wbc_server_version(const struct wbc_conn *c)
{
	return c->server;
}

int wbc_conn_fd(const struct wbc_conn *c)
{
	return c->fd;
}

int wbc_conn_peer_uid(const struct wbc_conn *c, uint32_t *uid, struct wbc_error *err)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (c->fd < 0)
		return wbci_seterr(err, WBC_E_IO,
				   "the connection to the broker was lost earlier; connect again");
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return wbci_seterr(err, WBC_E_IO, "cannot tell who holds the broker socket: %s",
				   strerror(errno));
	*uid = (uint32_t)cred.uid;
	return 0;
}

void wbc_set_timeout(struct wbc_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

static int status_reply(struct wbc_conn *c, const struct wb_frame *f, struct wbc_status *st,
			struct wbc_error *err)
{
	uint32_t bad;
	int rc;

	if (f->type == WB_MSG_ERROR)
		return wbci_error_reply(c, f, err);
	if (f->type != WB_MSG_STATUS_INFO)
		return wbci_unexpected(c, f, "in reply to STATUS", err);
	memset(st, 0, sizeof(*st));
	wbci_attr_text(f, WB_A_SERVER, st->server, sizeof(st->server));
	/* Absent counters read as 0; a wrong-sized one is a protocol error. */
	rc = wb_attr_u32(f, WB_A_BAD_RECORDS, &bad);
	if (rc == -EBADMSG || wb_attr_u64(f, WB_A_UPTIME, &st->uptime_sec) == -EBADMSG ||
	    wb_attr_u32(f, WB_A_CONNECTIONS, &st->connections) == -EBADMSG ||
	    wb_attr_u32(f, WB_A_OPERATIONS, &st->operations) == -EBADMSG ||
	    wb_attr_u32(f, WB_A_CREDENTIALS, &st->credentials) == -EBADMSG)
		return wbci_unexpected(c, f, "(STATUS_INFO with a malformed counter)", err);
	st->bad_records = rc == 0 ? (int64_t)bad : -1;	/* shown to admins only */
	return 0;
}

int wbc_status(struct wbc_conn *c, struct wbc_status *st, struct wbc_error *err)
{
	struct wb_writer w;
	struct wb_frame f;
	int rc;

	wb_writer_init(&w, 64, WB_PLAIN);
	rc = wb_msg_begin(&w, WB_MSG_STATUS);
	if (rc == 0)
		rc = wb_msg_finish(&w);
	if (rc < 0) {
		wb_writer_free(&w);
		return wbci_seterr(err, WBC_E_INTERNAL, "building STATUS: %s", strerror(-rc));
	}
	rc = wbci_request(c, &w, &f, err);
	wb_writer_free(&w);
	if (rc < 0)
		return rc;
	return status_reply(c, &f, st, err);
}
