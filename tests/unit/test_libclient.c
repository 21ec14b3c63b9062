/*
 * Unit tests for libwinrm-broker and the winrm-broker CLI, against a
 * scripted fake broker that speaks docs/protocol.md: a forked child on a
 * socketpair (or on a listening socket, for wbc_connect and the CLI) that
 * checks every frame the client sends and answers as the script says. A
 * failed check in the fake broker makes it exit non-zero, which the test
 * asserts. The CLI is $WB_CLI (set by meson).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"	/* struct wbc_conn: the reply buffer must not keep a token */
#include "proto.h"
#include "winrm-broker.h"

/* ---- the fake broker ---------------------------------------------------- */

struct peer {
	int fd;
	uint8_t *buf;
	int arg;	/* the loop index of a loop test */
};

typedef void (*script_fn)(struct peer *p);

#define P_CHECK(c)                                                                      \
	do {                                                                            \
		if (!(c)) {                                                             \
			fprintf(stderr, "fake broker, line %d: check failed: %s\n",      \
				__LINE__, #c);                                          \
			_exit(1);                                                       \
		}                                                                       \
	} while (0)

static struct wb_frame p_read(struct peer *p)
{
	struct wb_frame f;
	int rc = wb_frame_read(p->fd, p->buf, WB_FRAME_HDR + WB_FRAME_MAX, &f);

	if (rc < 0) {
		fprintf(stderr, "fake broker: reading a frame: %s\n", strerror(-rc));
		_exit(1);
	}
	return f;
}

static struct wb_frame p_expect(struct peer *p, uint16_t type)
{
	struct wb_frame f = p_read(p);

	if (f.type != type) {
		fprintf(stderr, "fake broker: expected frame 0x%04x, got 0x%04x\n", type, f.type);
		_exit(1);
	}
	return f;
}

/* The client closed the connection (and sent nothing more). */
static void p_expect_close(struct peer *p)
{
	struct wb_frame f;

	P_CHECK(wb_frame_read(p->fd, p->buf, WB_FRAME_HDR + WB_FRAME_MAX, &f) == -ECONNRESET);
}

static void p_begin(struct wb_writer *w, uint16_t type)
{
	wb_writer_init(w, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	P_CHECK(wb_msg_begin(w, type) == 0);
}

static void p_send(struct peer *p, struct wb_writer *w)
{
	P_CHECK(wb_msg_finish(w) == 0);
	P_CHECK(wb_frame_write(p->fd, w) == 0);
	wb_writer_free(w);
}

static void p_send_raw(struct peer *p, const void *data, size_t n)
{
	P_CHECK(wb_write_all(p->fd, data, n) == 0);
}

static bool p_str_is(const struct wb_frame *f, uint16_t tag, size_t nth, const char *want)
{
	const uint8_t *v;
	uint32_t n;

	return wb_attr_find(f, tag, nth, &v, &n) == 0 && n == strlen(want) &&
	       memcmp(v, want, n) == 0;
}

static uint32_t p_u32(const struct wb_frame *f, uint16_t tag)
{
	uint32_t v = 0;

	P_CHECK(wb_attr_u32(f, tag, &v) == 0);
	return v;
}

static uint8_t p_u8(const struct wb_frame *f, uint16_t tag)
{
	uint8_t v = 0;

	P_CHECK(wb_attr_u8(f, tag, &v) == 0);
	return v;
}

static void p_hello(struct peer *p)
{
	struct wb_frame f = p_expect(p, WB_MSG_HELLO);
	struct wb_writer w;

	P_CHECK(p_u32(&f, WB_A_VERSION) == 1);
	P_CHECK(wb_attr_count(&f, WB_A_CLIENT) == 1);
	p_begin(&w, WB_MSG_HELLO);
	wb_msg_put_u32(&w, WB_A_VERSION, 1);
	wb_msg_put_str(&w, WB_A_SERVER, "fake-brokerd 1.0");
	p_send(p, &w);
}

static void p_ok(struct peer *p)
{
	struct wb_writer w;

	p_begin(&w, WB_MSG_OK);
	p_send(p, &w);
}

static void p_error(struct peer *p, uint32_t code, const char *msg)
{
	struct wb_writer w;

	p_begin(&w, WB_MSG_ERROR);
	wb_msg_put_u32(&w, WB_A_ERROR_CODE, code);
	wb_msg_put_str(&w, WB_A_MESSAGE, msg);
	p_send(p, &w);
}

static void p_data(struct peer *p, uint16_t type, const void *data, size_t n)
{
	struct wb_writer w;

	p_begin(&w, type);
	wb_msg_put(&w, WB_A_DATA, data, n);
	p_send(p, &w);
}

static void p_exit(struct peer *p, uint32_t code, const char *transport)
{
	struct wb_writer w;

	p_begin(&w, WB_MSG_EXIT);
	wb_msg_put_u32(&w, WB_A_EXIT_CODE, code);
	wb_msg_put_str(&w, WB_A_TRANSPORT, transport);
	p_send(p, &w);
}

/* STATUS -> STATUS_INFO: proves the connection still works. */
static void p_status(struct peer *p)
{
	struct wb_writer w;

	p_expect(p, WB_MSG_STATUS);
	p_begin(&w, WB_MSG_STATUS_INFO);
	wb_msg_put_str(&w, WB_A_SERVER, "fake-brokerd 1.0");
	wb_msg_put_u64(&w, WB_A_UPTIME, 90061);
	wb_msg_put_u32(&w, WB_A_CONNECTIONS, 3);
	wb_msg_put_u32(&w, WB_A_OPERATIONS, 1);
	wb_msg_put_u32(&w, WB_A_CREDENTIALS, 2);
	p_send(p, &w);
}

static void run_script(int fd, script_fn fn, int arg)
{
	struct peer p = { .fd = fd, .buf = malloc(WB_FRAME_HDR + WB_FRAME_MAX), .arg = arg };

	signal(SIGPIPE, SIG_IGN);
	P_CHECK(p.buf != NULL);
	fn(&p);
	_exit(0);
}

static void peer_wait(pid_t pid)
{
	int st = 0;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the fake broker's script failed (its message is on stderr)");
}

/* A fake broker on a socketpair; the client's end is returned. */
static int peer_pair(script_fn fn, int arg, pid_t *pid)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		close(sv[0]);
		run_script(sv[1], fn, arg);
	}
	close(sv[1]);
	return sv[0];
}

static struct wbc_conn *connect_peer(script_fn fn, int arg, pid_t *pid)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c = NULL;
	int rc = wbc_connect_fd(peer_pair(fn, arg, pid), "test/1", &c, &err);

	ck_assert_msg(rc == 0, "connect: %s", err.message);
	return c;
}

/* A fake broker listening at a fresh path; accepts one connection. */
struct listener {
	char dir[64];
	char path[96];
	pid_t pid;
};

static void peer_listen(struct listener *l, script_fn fn, int arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	strcpy(l->dir, "/tmp/wbc-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/broker.sock", l->dir);
	strcpy(sa.sun_path, l->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	l->pid = fork();
	ck_assert_int_ge(l->pid, 0);
	if (l->pid == 0) {
		int c = accept(fd, NULL, NULL);

		close(fd);
		P_CHECK(c >= 0);
		run_script(c, fn, arg);
	}
	close(fd);
}

static void listener_done(struct listener *l)
{
	peer_wait(l->pid);
	unlink(l->path);
	rmdir(l->dir);
}

/* ---- connection and HELLO ------------------------------------------------ */

static void script_status(struct peer *p)
{
	p_hello(p);
	p_status(p);
}

START_TEST(test_hello_and_status)
{
	struct wbc_error err = { 0 };
	struct wbc_status st;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_status, 0, &pid);

	ck_assert_str_eq(wbc_server_version(c), "fake-brokerd 1.0");
	ck_assert_int_ge(wbc_conn_fd(c), 0);
	ck_assert_int_eq(wbc_status(c, &st, &err), 0);
	ck_assert_str_eq(st.server, "fake-brokerd 1.0");
	ck_assert_uint_eq(st.uptime_sec, 90061);
	ck_assert_uint_eq(st.connections, 3);
	ck_assert_uint_eq(st.operations, 1);
	ck_assert_uint_eq(st.credentials, 2);
	ck_assert_int_eq(st.bad_records, -1);	/* not sent: not an admin */
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

/* arg 0: HELLO with version 2; 1: ERROR {version}; 2: an HTTP answer. */
static void script_bad_hello(struct peer *p)
{
	struct wb_writer w;

	p_expect(p, WB_MSG_HELLO);
	if (p->arg == 0) {
		p_begin(&w, WB_MSG_HELLO);
		wb_msg_put_u32(&w, WB_A_VERSION, 2);
		p_send(p, &w);
	} else if (p->arg == 1) {
		p_error(p, 3, "protocol version 1 is not supported");
	} else {
		p_send_raw(p, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
	}
}

START_TEST(test_hello_refused)
{
	static const int want[] = { -WBC_E_VERSION, -WBC_E_VERSION, -WBC_E_PROTO };
	struct wbc_error err = { 0 };
	struct wbc_conn *c = (struct wbc_conn *)&err;	/* must be reset */
	pid_t pid;
	int fd = peer_pair(script_bad_hello, _i, &pid);

	ck_assert_int_eq(wbc_connect_fd(fd, NULL, &c, &err), want[_i]);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.code, -want[_i]);
	if (_i == 0)
		ck_assert_ptr_nonnull(strstr(err.message, "protocol version 2"));
	if (_i == 1)
		ck_assert_str_eq(err.message, "protocol version 1 is not supported");
	if (_i == 2)
		ck_assert_ptr_nonnull(strstr(err.message, "is this socket really winrm-brokerd?"));
	peer_wait(pid);
}
END_TEST

START_TEST(test_connect_paths)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c = NULL;
	struct listener l;

	ck_assert_int_eq(wbc_connect("/nonexistent/winrm-broker/broker.sock", NULL, &c, &err),
			 -WBC_E_IO);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.code, WBC_E_IO);
	ck_assert_ptr_nonnull(strstr(err.message, "cannot connect to the broker at "
				     "/nonexistent/winrm-broker/broker.sock"));
	ck_assert_ptr_nonnull(strstr(err.message, "is winrm-brokerd running?"));

	/* NULL path: $WINRM_BROKER_SOCKET. */
	peer_listen(&l, script_status, 0);
	setenv("WINRM_BROKER_SOCKET", l.path, 1);
	ck_assert_int_eq(wbc_connect(NULL, NULL, &c, &err), 0);
	ck_assert_str_eq(wbc_server_version(c), "fake-brokerd 1.0");
	ck_assert_int_eq(wbc_status(c, &(struct wbc_status){ 0 }, &err), 0);
	wbc_close(c);
	listener_done(&l);
	unsetenv("WINRM_BROKER_SOCKET");
}
END_TEST

static void script_silent(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_STATUS);
	p_expect_close(p);	/* no answer; the client gives up and closes */
}

START_TEST(test_request_timeout)
{
	struct wbc_error err = { 0 };
	struct wbc_status st;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_silent, 0, &pid);

	wbc_set_timeout(c, 200);
	ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(err.message, "did not answer"));
	/* A late answer would be taken for the next one's: the connection is gone. */
	ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_IO);
	peer_wait(pid);
	wbc_close(c);
}
END_TEST

/* ---- RUN ------------------------------------------------------------------ */

static struct wbc_target *target(const char *host)
{
	struct wbc_error err = { 0 };
	struct wbc_target *t = NULL;

	ck_assert_msg(wbc_target_new(host, &t, &err) == 0, "%s", err.message);
	return t;
}

static struct wbc_run *new_run(const char *cred, const char *host, const char *command)
{
	struct wbc_error err = { 0 };
	struct wbc_target *t = target(host);
	struct wbc_run *r = NULL;

	ck_assert_msg(wbc_run_new(cred, t, command, &r, &err) == 0, "%s", err.message);
	wbc_target_free(t);
	return r;
}

static void script_run_stream(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	f = p_expect(p, WB_MSG_RUN);
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "alice-cred"));
	P_CHECK(p_str_is(&f, WB_A_HOST, 0, "win1.example.com"));
	P_CHECK(p_str_is(&f, WB_A_COMMAND, 0, "cmd.exe"));
	P_CHECK(wb_attr_count(&f, WB_A_ARG) == 3);
	P_CHECK(p_str_is(&f, WB_A_ARG, 0, "/c"));
	P_CHECK(p_str_is(&f, WB_A_ARG, 1, "echo hi"));
	P_CHECK(p_str_is(&f, WB_A_ARG, 2, ""));
	P_CHECK(p_u32(&f, WB_A_PORT) == 5985);
	P_CHECK(p_str_is(&f, WB_A_SCHEME, 0, "http"));
	P_CHECK(wb_attr_count(&f, WB_A_TRANSPORT) == 2);
	P_CHECK(p_str_is(&f, WB_A_TRANSPORT, 0, "ntlm"));
	P_CHECK(p_str_is(&f, WB_A_TRANSPORT, 1, "basic"));
	P_CHECK(p_str_is(&f, WB_A_CERT_VALIDATION, 0, "ignore"));
	P_CHECK(p_u8(&f, WB_A_SEND_CBT) == 0);
	P_CHECK(p_u32(&f, WB_A_OPERATION_TIMEOUT) == 20);
	P_CHECK(p_u32(&f, WB_A_READ_TIMEOUT) == 45);
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 2);
	P_CHECK(wb_attr_count(&f, WB_A_STDIN_OPEN) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_PATH) == 0);	/* not set, not sent */
	p_data(p, WB_MSG_STDOUT, "hello ", 6);
	p_data(p, WB_MSG_STDERR, "oops", 4);
	p_data(p, WB_MSG_STDOUT, "world", 5);
	p_exit(p, 3, "basic");
	p_status(p);
}

START_TEST(test_run_stream)
{
	struct wbc_error err = { 0 };
	struct wbc_target *t = target("win1.example.com");
	struct wbc_status st;
	struct wbc_event ev;
	struct wbc_run *r = NULL;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_run_stream, 0, &pid);

	ck_assert_int_eq(wbc_target_set(t, "port", "5985", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "scheme", "HTTP", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "transport", "ntlm, Basic", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "server_cert_validation", "ignore", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "ansible_winrm_send_cbt", "no", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "operation_timeout_sec", "20", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "read_timeout_sec", "45", &err), 0);
	ck_assert_int_eq(wbc_run_new("alice-cred", t, "cmd.exe", &r, &err), 0);
	wbc_target_free(t);	/* the run took a copy */
	ck_assert_int_eq(wbc_run_add_arg(r, "/c", &err), 0);
	ck_assert_int_eq(wbc_run_add_arg(r, "echo hi", &err), 0);
	ck_assert_int_eq(wbc_run_add_arg(r, "", &err), 0);
	ck_assert_int_eq(wbc_run_set_scope(r, WBC_SCOPE_SHARED, &err), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, 0, &err), -WBC_E_INVALID);	/* not started */
	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_add_arg(r, "late", &err), -WBC_E_INVALID);
	/* One request at a time. */
	ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "busy"));

	ck_assert_int_eq(wbc_run_read(r, &ev, -1, &err), 0);
	ck_assert_int_eq(ev.type, WBC_EV_STDOUT);
	ck_assert_mem_eq(ev.data, "hello ", 6);
	ck_assert_uint_eq(ev.len, 6);
	ck_assert_int_eq(wbc_run_read(r, &ev, -1, &err), 0);
	ck_assert_int_eq(ev.type, WBC_EV_STDERR);
	ck_assert_uint_eq(ev.len, 4);
	ck_assert_mem_eq(ev.data, "oops", 4);
	ck_assert_int_eq(wbc_run_read(r, &ev, -1, &err), 0);
	ck_assert_int_eq(ev.type, WBC_EV_STDOUT);
	ck_assert_mem_eq(ev.data, "world", 5);
	ck_assert_int_eq(wbc_run_read(r, &ev, -1, &err), 0);
	ck_assert_int_eq(ev.type, WBC_EV_EXIT);
	ck_assert_int_eq(ev.exit_code, 3);
	ck_assert_str_eq(ev.transport, "basic");
	ck_assert_int_eq(wbc_run_read(r, &ev, -1, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "finished"));
	/* The connection is free again. */
	ck_assert_int_eq(wbc_status(c, &st, &err), 0);
	wbc_run_free(r);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

static void script_negative_exit(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	p_data(p, WB_MSG_STDOUT, "a", 1);
	p_data(p, WB_MSG_STDERR, "bc", 2);
	p_data(p, WB_MSG_STDOUT, "", 0);
	p_exit(p, 0xFFFFFFFEu, "certificate");	/* -2 */
}

struct collected {
	char out[16], err[16];
	size_t n_out, n_err;
};

static int collect(void *ud, int stream, const uint8_t *data, size_t len)
{
	struct collected *c = ud;
	char *dst = stream == WBC_EV_STDOUT ? c->out : c->err;
	size_t *n = stream == WBC_EV_STDOUT ? &c->n_out : &c->n_err;

	ck_assert_uint_lt(*n + len, sizeof(c->out));
	memcpy(dst + *n, data, len);
	*n += len;
	return 0;
}

START_TEST(test_run_pump_negative_exit)
{
	struct wbc_error err = { 0 };
	struct collected got = { 0 };
	int code = 0;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_negative_exit, 0, &pid);
	struct wbc_run *r = new_run("c", "h", "exit -2");

	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_pump(r, collect, &got, &code, &err), 0);
	ck_assert_int_eq(code, -2);
	ck_assert_uint_eq(got.n_out, 1);
	ck_assert_uint_eq(got.n_err, 2);
	ck_assert_mem_eq(got.err, "bc", 2);
	wbc_run_free(r);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

/* arg 0: a known error; 1: control characters; 2: an unknown code. */
static void script_run_error(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	if (p->arg == 0)
		p_error(p, 6, "no credential \"x\" for uid 1000");
	else if (p->arg == 1)
		p_error(p, 12, "auth failed\x1b[31m\r\nfake prompt$ ");
	else
		p_error(p, 99, "from the future");
	p_status(p);
}

START_TEST(test_run_error_mapping)
{
	static const int want[] = { -WBC_E_NOCRED, -WBC_E_AUTH, -WBC_E_INTERNAL };
	static const char *const msg[] = {
		"no credential \"x\" for uid 1000",
		"auth failed?[31m??fake prompt$ ",
		"broker error 99: from the future",
	};
	struct wbc_error err = { 0 };
	struct wbc_status st;
	struct wbc_event ev;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_run_error, _i, &pid);
	struct wbc_run *r = new_run("x", "h", "dir");

	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, -1, &err), want[_i]);
	ck_assert_int_eq(err.code, -want[_i]);
	ck_assert_str_eq(err.message, msg[_i]);
	ck_assert_str_eq(wbc_errcode_name(err.code), _i == 0 ? "no-credential" :
			 _i == 1 ? "auth" : "internal");
	/* An ERROR ends the request, not the connection. */
	wbc_run_free(r);
	ck_assert_int_eq(wbc_status(c, &st, &err), 0);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

#define STDIN_TOTAL 200000

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 65536);
}

static void script_stdin_chunks(struct peer *p)
{
	static const uint32_t sizes[] = { 65536, 65536, 65536, STDIN_TOTAL - 3 * 65536 };
	struct wb_frame f;
	size_t i, j, off = 0;

	p_hello(p);
	f = p_expect(p, WB_MSG_RUN);
	P_CHECK(p_u8(&f, WB_A_STDIN_OPEN) == 1);
	for (i = 0; i < 4; i++) {
		const uint8_t *v;
		uint32_t n;

		f = p_expect(p, WB_MSG_STDIN);
		P_CHECK(wb_attr_find(&f, WB_A_DATA, 0, &v, &n) == 0);
		P_CHECK(n == sizes[i]);
		P_CHECK(wb_attr_count(&f, WB_A_EOF) == 0);
		for (j = 0; j < n; j++)
			P_CHECK(v[j] == pattern(off + j));
		off += n;
	}
	f = p_expect(p, WB_MSG_STDIN);
	P_CHECK(p_u8(&f, WB_A_EOF) == 1);
	P_CHECK(p_str_is(&f, WB_A_DATA, 0, ""));
	p_exit(p, 0, "basic");
}

START_TEST(test_run_stdin_chunks)
{
	struct wbc_error err = { 0 };
	struct wbc_event ev;
	uint8_t *data = malloc(STDIN_TOTAL);
	size_t i, off = 0;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_stdin_chunks, 0, &pid);
	struct wbc_run *r = new_run("c", "h", "findstr x");

	for (i = 0; i < STDIN_TOTAL; i++)
		data[i] = pattern(i);
	ck_assert_int_eq(wbc_run_write_stdin(r, "x", 1, &err), -WBC_E_INVALID);	/* not started */
	ck_assert_int_eq(wbc_run_set_stdin(r, 1, &err), 0);
	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	while (off < STDIN_TOTAL) {
		int n = wbc_run_write_stdin(r, data + off, STDIN_TOTAL - off, &err);

		ck_assert_int_ge(n, 0);
		ck_assert_int_le(n, WBC_STDIN_CHUNK);
		if (n == 0)
			ck_assert_int_ge(wbc_run_wait(r, -1, 0, NULL, 5000, &err), 0);
		off += (size_t)n;
	}
	ck_assert_int_eq(wbc_run_close_stdin(r, &err), 0);
	ck_assert_int_eq(wbc_run_close_stdin(r, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_run_write_stdin(r, "x", 1, &err), -WBC_E_INVALID);
	ck_assert_uint_eq(wbc_run_stdin_room(r), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), 0);
	ck_assert_int_eq(ev.type, WBC_EV_EXIT);
	wbc_run_free(r);
	wbc_close(c);
	free(data);
	peer_wait(pid);
}
END_TEST

/*
 * A command that writes 4 MiB before it reads its 4 MiB of stdin: the
 * fake broker blocks writing until the client reads, while the client has
 * more stdin to write. A client that blocked in a write would hang here.
 */
#define BIG (4u << 20)

static void script_write_before_read(struct peer *p)
{
	static uint8_t chunk[65536];
	size_t sent = 0, got = 0;
	struct wb_frame f;

	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	memset(chunk, 'o', sizeof(chunk));
	for (sent = 0; sent < BIG; sent += sizeof(chunk))
		p_data(p, WB_MSG_STDOUT, chunk, sizeof(chunk));
	for (;;) {
		const uint8_t *v;
		uint32_t n;
		uint8_t eof = 0;

		f = p_expect(p, WB_MSG_STDIN);
		P_CHECK(wb_attr_find(&f, WB_A_DATA, 0, &v, &n) == 0);
		got += n;
		if (wb_attr_u8(&f, WB_A_EOF, &eof) == 0 && eof)
			break;
	}
	P_CHECK(got == BIG);
	p_exit(p, 0, "basic");
}

START_TEST(test_run_no_deadlock)
{
	struct wbc_error err = { 0 };
	uint8_t *in = calloc(1, 65536);
	size_t written = 0, out = 0;
	bool closed = false;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_write_before_read, 0, &pid);
	struct wbc_run *r = new_run("c", "h", "sort");

	ck_assert_int_eq(wbc_run_set_stdin(r, 1, &err), 0);
	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	for (;;) {
		struct wbc_event ev;
		int mask = wbc_run_wait(r, -1, 0, NULL, 10000, &err);

		ck_assert_int_gt(mask, 0);	/* 0: timed out, i.e. stuck */
		if (mask & WBC_WAIT_STDIN && written < BIG) {
			int n = wbc_run_write_stdin(r, in, BIG - written < 65536 ? BIG - written : 65536,
						    &err);
			ck_assert_int_ge(n, 0);
			written += (size_t)n;
		}
		if (written == BIG && !closed) {
			ck_assert_int_eq(wbc_run_close_stdin(r, &err), 0);
			closed = true;
		}
		if (!(mask & WBC_WAIT_EVENT))
			continue;
		ck_assert_int_eq(wbc_run_read(r, &ev, 0, &err), 0);
		if (ev.type == WBC_EV_STDOUT)
			out += ev.len;
		if (ev.type == WBC_EV_EXIT)
			break;
	}
	ck_assert_uint_eq(out, BIG);
	ck_assert_uint_eq(written, BIG);
	wbc_run_free(r);
	wbc_close(c);
	free(in);
	peer_wait(pid);
}
END_TEST

static void script_signals(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	f = p_expect(p, WB_MSG_SIGNAL);
	P_CHECK(p_u8(&f, WB_A_SIGNAL) == 1);
	f = p_expect(p, WB_MSG_SIGNAL);
	P_CHECK(p_u8(&f, WB_A_SIGNAL) == 2);
	p_error(p, 15, "cancelled");
}

START_TEST(test_run_signals)
{
	struct wbc_error err = { 0 };
	struct wbc_event ev;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_signals, 0, &pid);
	struct wbc_run *r = new_run("c", "h", "ping -t localhost");

	ck_assert_int_eq(wbc_run_signal(r, WBC_SIGNAL_CTRL_C, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_signal(r, 3, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_run_signal(r, WBC_SIGNAL_CTRL_C, &err), 0);
	ck_assert_int_eq(wbc_run_signal(r, WBC_SIGNAL_TERMINATE, &err), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), -WBC_E_CANCELLED);
	wbc_run_free(r);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

/* Broken frames from the broker; arg picks one. */
static void script_garbage(struct peer *p)
{
	static const uint8_t oversized[] = { 0x7f, 0xff, 0xff, 0xff, 0x00, 0x20, 0, 0 };
	static const uint8_t reserved[] = { 0, 0, 0, 0, 0x00, 0x20, 0x00, 0x01 };
	/* STDOUT whose one attribute claims 100 bytes of a 7-byte payload. */
	static const uint8_t bad_attr[] = { 0, 0, 0, 7, 0x00, 0x20, 0, 0,
					    0x00, 0x40, 0, 0, 0, 100, 'x' };
	struct wb_writer w;

	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	switch (p->arg) {
	case 0: p_send_raw(p, oversized, sizeof(oversized)); break;
	case 1: p_send_raw(p, reserved, sizeof(reserved)); break;
	case 2: p_send_raw(p, bad_attr, sizeof(bad_attr)); break;
	case 3:	/* a frame that has no place in a run */
		p_begin(&w, WB_MSG_CRED_INFO);
		wb_msg_put_str(&w, WB_A_CRED, "x");
		p_send(p, &w);
		break;
	case 4:	/* STDOUT without DATA */
		p_begin(&w, WB_MSG_STDOUT);
		p_send(p, &w);
		break;
	case 5:	/* EXIT with a 2-byte code */
		p_begin(&w, WB_MSG_EXIT);
		wb_msg_put(&w, WB_A_EXIT_CODE, "\0\0", 2);
		p_send(p, &w);
		break;
	}
	p_expect_close(p);
}

START_TEST(test_run_garbage)
{
	struct wbc_error err = { 0 };
	struct wbc_status st;
	struct wbc_event ev;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_garbage, _i, &pid);
	struct wbc_run *r = new_run("c", "h", "dir");

	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), -WBC_E_PROTO);
	ck_assert_int_eq(err.code, WBC_E_PROTO);
	ck_assert_ptr_nonnull(strstr(err.message, "the broker sent"));
	/* The connection is dead, and says so. */
	ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_IO);
	ck_assert_ptr_nonnull(strstr(err.message, "connect again"));
	wbc_run_free(r);
	peer_wait(pid);	/* it saw the client close */
	wbc_close(c);
}
END_TEST

/* The broker goes away: after a frame (0) or inside one (1). */
static void script_close_mid_run(struct peer *p)
{
	static const uint8_t half[] = { 0, 0, 0, 20, 0x00, 0x20, 0, 0, 0x00, 0x40 };

	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	p_data(p, WB_MSG_STDOUT, "partial", 7);
	if (p->arg == 1)
		p_send_raw(p, half, sizeof(half));
}

START_TEST(test_run_broker_closes)
{
	struct wbc_error err = { 0 };
	struct wbc_event ev;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_close_mid_run, _i, &pid);
	struct wbc_run *r = new_run("c", "h", "dir");

	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), 0);
	ck_assert_int_eq(ev.type, WBC_EV_STDOUT);
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), -WBC_E_IO);
	ck_assert_ptr_nonnull(strstr(err.message, "the broker closed the connection"));
	if (_i == 1)
		ck_assert_ptr_nonnull(strstr(err.message, "in the middle of a frame"));
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), -WBC_E_INVALID);
	wbc_run_free(r);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

static void script_free_cancels(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	p_data(p, WB_MSG_STDOUT, "x", 1);
	p_expect_close(p);	/* freeing a running run closes the connection */
}

START_TEST(test_run_free_cancels)
{
	struct wbc_error err = { 0 };
	struct wbc_event ev;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_free_cancels, 0, &pid);
	struct wbc_run *r = new_run("c", "h", "dir");

	ck_assert_int_eq(wbc_run_start(r, c, &err), 0);
	ck_assert_int_eq(wbc_run_read(r, &ev, 5000, &err), 0);
	wbc_run_free(r);
	peer_wait(pid);
	ck_assert_int_eq(wbc_status(c, &(struct wbc_status){ 0 }, &err), -WBC_E_IO);
	wbc_close(c);
}
END_TEST

/* ---- target options --------------------------------------------------------- */

START_TEST(test_target_options)
{
	static const struct {
		const char *name, *value;
		bool ok;
	} cases[] = {
		{ "port", "5986", true }, { "port", "1", true }, { "port", "65535", true },
		{ "port", "0", false }, { "port", "65536", false }, { "port", "59x", false },
		{ "port", "-1", false }, { "port", "", false }, { "port", " 5986", false },
		{ "scheme", "https", true }, { "scheme", "HTTP", true }, { "scheme", "ftp", false },
		{ "path", "/wsman", true }, { "path", "wsman", false }, { "path", "/ws man", false },
		{ "transport", "basic", true }, { "transport", "kerberos,ntlm", true },
		{ "transport", " certificate , basic ", true }, { "transport", "basic,basic", false },
		{ "transport", "plaintext", false }, { "transport", "basic,", false },
		{ "transport", "", false }, { "transport", "ntl", false },
		{ "transport", "basic,certificate,ntlm,kerberos,negotiate,credssp", true },
		{ "server_cert_validation", "validate", true },
		{ "server_cert_validation", "Ignore", true },
		{ "server_cert_validation", "no", false },
		{ "ca_trust_path", "/etc/ssl/win-ca.pem", true },
		{ "ca_trust_path", "ca.pem", false },
		{ "operation_timeout_sec", "20", true }, { "operation_timeout_sec", "0", false },
		{ "read_timeout_sec", "86400", true }, { "read_timeout_sec", "86401", false },
		{ "read_timeout_sec", "1e3", false },
		{ "message_encryption", "auto", true }, { "message_encryption", "always", true },
		{ "message_encryption", "never", true }, { "message_encryption", "sometimes", false },
		{ "kerberos_delegation", "yes", true }, { "kerberos_delegation", "True", true },
		{ "kerberos_delegation", "0", true }, { "kerberos_delegation", "maybe", false },
		{ "kerberos_hostname_override", "dc1.corp.example", true },
		{ "kerberos_hostname_override", "dc1 corp", false },
		{ "service", "HTTP", true }, { "service", "WSMAN", true }, { "service", "HT/TP", false },
		{ "service", "", false },
		{ "send_cbt", "off", true }, { "send_cbt", "2", false },
		{ "credssp_disable_tlsv1_2", "false", true },
		{ "ansible_winrm_port", "5985", true }, { "ansible_winrm_nonsense", "1", false },
		{ "realm", "CORP", false }, { "", "x", false },
	};
	struct wbc_error err = { 0 };
	struct wbc_target *t = target("host");
	struct wbc_run *r = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = wbc_target_set(t, cases[i].name, cases[i].value, &err);

		ck_assert_msg((rc == 0) == cases[i].ok, "%s=%s: got %d (%s)", cases[i].name,
			      cases[i].value, rc, err.message);
		if (!cases[i].ok) {
			ck_assert_int_eq(rc, -WBC_E_INVALID);
			ck_assert_msg(strstr(err.message, cases[i].name) || !*cases[i].name,
				      "the message names the option: %s", err.message);
		}
	}
	ck_assert_int_eq(wbc_target_set(t, "port", NULL, &err), -WBC_E_INVALID);

	/* read_timeout_sec must exceed operation_timeout_sec; checked when used. */
	ck_assert_int_eq(wbc_target_set(t, "operation_timeout_sec", "60", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "read_timeout_sec", "60", &err), 0);
	ck_assert_int_eq(wbc_run_new("c", t, "dir", &r, &err), -WBC_E_INVALID);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(err.message, "must be greater than"));
	ck_assert_int_eq(wbc_target_set(t, "read_timeout_sec", "70", &err), 0);
	ck_assert_int_eq(wbc_run_new("c", t, "dir", &r, &err), 0);
	wbc_run_free(r);
	wbc_target_free(t);
}
END_TEST

START_TEST(test_hosts_and_names)
{
	static const char *const good_hosts[] = {
		"win1", "win1.corp.example.com", "10.0.0.1", "::1", "[::1]", "fe80::1%eth0",
		"[2001:db8::5]", "host_with-underscore",
	};
	static const char *const bad_hosts[] = {
		"", "-win1", ".win1", "win 1", "w$n", "[::1", "::zz", "a..b", "[win1]", "win1/x",
		"http://win1",
	};
	static const char *const good_names[] = { "a", "alice@corp.example-1", "A.b_c", "0" };
	static const char *const bad_names[] = { "", ".x", "a b", "a/b", "-a", "a\n", "x:y" };
	struct wbc_error err = { 0 };
	struct wbc_target *t = NULL;
	char long_name[300];
	size_t i;

	for (i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++) {
		ck_assert_msg(wbc_target_new(good_hosts[i], &t, &err) == 0, "%s: %s",
			      good_hosts[i], err.message);
		wbc_target_free(t);
	}
	for (i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
		ck_assert_msg(wbc_target_new(bad_hosts[i], &t, &err) == -WBC_E_INVALID, "%s",
			      bad_hosts[i]);
		ck_assert_ptr_null(t);
	}
	memset(long_name, 'h', 254);
	long_name[254] = '\0';
	ck_assert_int_eq(wbc_target_new(long_name, &t, &err), -WBC_E_INVALID);

	for (i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++)
		ck_assert_msg(wbc_cred_name_check(good_names[i], &err) == 0, "%s", good_names[i]);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		ck_assert_msg(wbc_cred_name_check(bad_names[i], &err) == -WBC_E_INVALID, "%s",
			      bad_names[i]);
	memset(long_name, 'n', 64);
	long_name[64] = '\0';
	ck_assert_int_eq(wbc_cred_name_check(long_name, &err), 0);
	long_name[64] = 'n';
	long_name[65] = '\0';
	ck_assert_int_eq(wbc_cred_name_check(long_name, &err), -WBC_E_INVALID);
}
END_TEST

/* ---- credentials ------------------------------------------------------------- */

static const char secret[] = "S3cr3t-p@ss\xc3\xa9!";

static void script_cred_add(struct peer *p)
{
	const uint8_t *v;
	uint32_t n;
	struct wb_frame f;
	size_t off, count = 0;

	p_hello(p);
	f = p_expect(p, WB_MSG_CRED_ADD);
	/* The secret is in the frame exactly once. */
	for (off = 0; off + strlen(secret) <= f.len; off++)
		count += memcmp(f.payload + off, secret, strlen(secret)) == 0;
	P_CHECK(count == 1);
	P_CHECK(wb_attr_count(&f, WB_A_SECRET) == 1);
	P_CHECK(p_str_is(&f, WB_A_SECRET, 0, secret));
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "ops-admin"));
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 2);
	P_CHECK(p_u8(&f, WB_A_KIND) == 1);
	P_CHECK(p_str_is(&f, WB_A_USER, 0, "Administrator"));
	P_CHECK(p_str_is(&f, WB_A_DOMAIN, 0, "CORP"));
	P_CHECK(p_u32(&f, WB_A_FLAGS) == 1);
	P_CHECK(p_u8(&f, WB_A_REPLACE) == 1);
	P_CHECK(wb_attr_count(&f, WB_A_ALLOW_UID) == 2);
	P_CHECK(wb_attr_find(&f, WB_A_ALLOW_UID, 1, &v, &n) == 0 && n == 4 && v[2] == 0x03 &&
		v[3] == 0xe9);	/* 1001 */
	P_CHECK(wb_attr_count(&f, WB_A_ALLOW_GID) == 1);
	P_CHECK(wb_attr_count(&f, WB_A_OWNER) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_CERT) == 0);
	p_ok(p);
	/* A personal one for uid 1234, which exists already. */
	f = p_expect(p, WB_MSG_CRED_ADD);
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 1);
	P_CHECK(p_u32(&f, WB_A_OWNER) == 1234);
	P_CHECK(wb_attr_count(&f, WB_A_REPLACE) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_FLAGS) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_DOMAIN) == 0);
	p_error(p, 7, "credential \"mine\" exists; use replace");
}

START_TEST(test_cred_add)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_add *a = NULL;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_cred_add, 0, &pid);

	ck_assert_int_eq(wbc_cred_add_new("ops-admin", WBC_SCOPE_SHARED, WBC_KIND_PASSWORD,
					  "Administrator", "CORP", &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_send(c, a, 1, &err), -WBC_E_INVALID);	/* no secret */
	ck_assert_ptr_nonnull(strstr(err.message, "no password"));
	ck_assert_int_eq(wbc_cred_add_secret(a, secret, strlen(secret), &err), 0);
	ck_assert_int_eq(wbc_cred_add_secret(a, secret, strlen(secret), &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_cert(a, "x", 1, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_owner(a, 1234, &err), -WBC_E_INVALID);	/* shared */
	ck_assert_int_eq(wbc_cred_add_flags(a, 0x80, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_flags(a, WBC_CRED_DELEGATE, &err), 0);
	ck_assert_int_eq(wbc_cred_add_allow_uid(a, 1000, &err), 0);
	ck_assert_int_eq(wbc_cred_add_allow_uid(a, 1001, &err), 0);
	ck_assert_int_eq(wbc_cred_add_allow_gid(a, 50, &err), 0);
	ck_assert_int_eq(wbc_cred_add_send(c, a, 1, &err), 0);
	/* Sent once; its memory is wiped and it cannot go again. */
	ck_assert_int_eq(wbc_cred_add_send(c, a, 1, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "already sent"));
	wbc_cred_add_free(a);

	ck_assert_int_eq(wbc_cred_add_new("mine", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "bob",
					  NULL, &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_allow_uid(a, 1000, &err), -WBC_E_INVALID);	/* personal */
	ck_assert_int_eq(wbc_cred_add_secret(a, "pw", 2, &err), 0);
	ck_assert_int_eq(wbc_cred_add_owner(a, 1234, &err), 0);
	ck_assert_int_eq(wbc_cred_add_send(c, a, 0, &err), -WBC_E_EXISTS);
	ck_assert_str_eq(err.message, "credential \"mine\" exists; use replace");
	wbc_cred_add_free(a);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

static void script_hello_only(struct peer *p)
{
	p_hello(p);
	p_expect_close(p);
}

START_TEST(test_cred_add_checks)
{
	static const char key[] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
	static const char cert[] = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
	struct wbc_error err = { 0 };
	struct wbc_cred_add *a = NULL;
	uint8_t *big = calloc(1, WBC_CRED_SECRET_MAX + 1);
	struct wbc_conn *c;
	pid_t pid;

	ck_assert_int_eq(wbc_cred_add_new("bad name", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "u",
					  NULL, &a, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_new("n", WBC_SCOPE_ANY, WBC_KIND_PASSWORD, "u", NULL, &a,
					  &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_new("n", WBC_SCOPE_PERSONAL, 9, "u", NULL, &a, &err),
			 -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_new("n", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "", NULL,
					  &a, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_new("n", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "u\nx",
					  NULL, &a, &err), -WBC_E_INVALID);
	ck_assert_ptr_null(a);

	ck_assert_int_eq(wbc_cred_add_new("n", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "u", NULL,
					  &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_secret(a, "", 0, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_secret(a, "a\0b", 3, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_secret(a, big, WBC_CRED_SECRET_MAX + 1, &err),
			 -WBC_E_INVALID);
	wbc_cred_add_free(a);

	/* Certificate: a user is optional, the key and the certificate must be PEM. */
	ck_assert_int_eq(wbc_cred_add_new("c", WBC_SCOPE_SHARED, WBC_KIND_CERTIFICATE, "", NULL,
					  &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_secret(a, "not a key", 9, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_secret(a, key, strlen(key), &err), 0);
	ck_assert_int_eq(wbc_cred_add_cert(a, key, strlen(key), &err), -WBC_E_INVALID);
	c = connect_peer(script_hello_only, 0, &pid);
	ck_assert_int_eq(wbc_cred_add_send(c, a, 0, &err), -WBC_E_INVALID);	/* not sent */
	ck_assert_str_eq(err.message, "no certificate given");
	wbc_close(c);
	peer_wait(pid);
	ck_assert_int_eq(wbc_cred_add_cert(a, cert, strlen(cert), &err), 0);
	wbc_cred_add_free(a);

	ck_assert_int_eq(wbc_cred_add_new("k", WBC_SCOPE_PERSONAL, WBC_KIND_KEYTAB, "u@R", NULL,
					  &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_secret(a, "text", 4, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_secret(a, "\x05\x02\x00\x00", 4, &err), 0);
	wbc_cred_add_free(a);
	free(big);
}
END_TEST

static void put_info(struct peer *p, const char *name, int scope, int kind, int acl, bool extra)
{
	struct wb_writer w;
	int i;

	p_begin(&w, WB_MSG_CRED_INFO);
	wb_msg_put_str(&w, WB_A_CRED, name);
	wb_msg_put_u8(&w, WB_A_SCOPE, (uint8_t)scope);
	wb_msg_put_u32(&w, WB_A_OWNER, scope == 1 ? 1000 : 0);
	wb_msg_put_u8(&w, WB_A_KIND, (uint8_t)kind);
	wb_msg_put_str(&w, WB_A_USER, "alice");
	wb_msg_put_str(&w, WB_A_DOMAIN, "CORP");
	wb_msg_put_u32(&w, WB_A_FLAGS, scope == 2 ? 1 : 0);
	wb_msg_put_u64(&w, WB_A_CREATED, 1700000000);
	wb_msg_put_u64(&w, WB_A_UPDATED, 1700000100);
	for (i = 0; i < acl; i++)
		wb_msg_put_u32(&w, WB_A_ALLOW_UID, 1000 + (uint32_t)i);
	if (acl)
		wb_msg_put_u32(&w, WB_A_ALLOW_GID, 50);
	if (extra)	/* an attribute from a later protocol: ignored */
		wb_msg_put_str(&w, 0x7777, "future");
	p_send(p, &w);
}

/* arg 0: three entries; 1: an ERROR; 2: a malformed entry; 3: too many uids. */
static void script_cred_list(struct peer *p)
{
	struct wb_writer w;

	p_hello(p);
	p_expect(p, WB_MSG_CRED_LIST);
	if (p->arg == 1) {
		p_error(p, 9, "the store is unreadable");
		p_status(p);
		return;
	}
	if (p->arg == 2) {
		p_begin(&w, WB_MSG_CRED_INFO);
		wb_msg_put_str(&w, WB_A_CRED, "x");	/* no SCOPE, no KIND */
		p_send(p, &w);
		p_expect_close(p);
		return;
	}
	if (p->arg == 3) {
		put_info(p, "wide", 2, 1, WBC_CRED_ACL_MAX + 1, false);
		p_expect_close(p);
		return;
	}
	put_info(p, "mine", 1, 1, 0, false);
	put_info(p, "shared-cert", 2, 2, 2, false);
	put_info(p, "kt", 2, 3, 0, true);
	p_ok(p);
	p_status(p);
}

START_TEST(test_cred_list)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_info in;
	struct wbc_status st;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_cred_list, 0, &pid);

	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), -WBC_E_INVALID);	/* not begun */
	ck_assert_int_eq(wbc_cred_list_begin(c, &err), 0);
	ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_INVALID);	/* busy */
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 1);
	ck_assert_str_eq(in.name, "mine");
	ck_assert_int_eq(in.scope, WBC_SCOPE_PERSONAL);
	ck_assert_uint_eq(in.owner, 1000);
	ck_assert_int_eq(in.kind, WBC_KIND_PASSWORD);
	ck_assert_str_eq(in.user, "alice");
	ck_assert_str_eq(in.domain, "CORP");
	ck_assert_uint_eq(in.flags, 0);
	ck_assert_int_eq(in.created, 1700000000);
	ck_assert_int_eq(in.updated, 1700000100);
	ck_assert_uint_eq(in.n_allow_uids, 0);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 1);
	ck_assert_str_eq(in.name, "shared-cert");
	ck_assert_int_eq(in.scope, WBC_SCOPE_SHARED);
	ck_assert_int_eq(in.kind, WBC_KIND_CERTIFICATE);
	ck_assert_uint_eq(in.flags, WBC_CRED_DELEGATE);
	ck_assert_uint_eq(in.n_allow_uids, 2);
	ck_assert_uint_eq(in.allow_uids[0], 1000);
	ck_assert_uint_eq(in.allow_uids[1], 1001);
	ck_assert_uint_eq(in.n_allow_gids, 1);
	ck_assert_uint_eq(in.allow_gids[0], 50);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 1);
	ck_assert_str_eq(in.name, "kt");
	ck_assert_int_eq(in.kind, WBC_KIND_KEYTAB);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 0);
	ck_assert_int_eq(wbc_status(c, &st, &err), 0);	/* free again */
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

START_TEST(test_cred_list_failures)
{
	static const int want[] = { 0, -WBC_E_STORE, -WBC_E_PROTO, -WBC_E_PROTO };
	struct wbc_error err = { 0 };
	struct wbc_cred_info in;
	struct wbc_status st;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_cred_list, _i, &pid);

	ck_assert_int_eq(wbc_cred_list_begin(c, &err), 0);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), want[_i]);
	if (_i == 1) {
		ck_assert_str_eq(err.message, "the store is unreadable");
		ck_assert_int_eq(wbc_status(c, &st, &err), 0);
	} else {
		ck_assert_ptr_nonnull(strstr(err.message, "malformed CRED_INFO"));
		ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_IO);
	}
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

static void script_cred_rm_test(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	f = p_expect(p, WB_MSG_CRED_RM);
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "old"));
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 1);
	P_CHECK(p_u32(&f, WB_A_OWNER) == 1234);
	p_ok(p);
	f = p_expect(p, WB_MSG_CRED_RM);
	P_CHECK(wb_attr_count(&f, WB_A_OWNER) == 0);
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 2);
	p_error(p, 5, "only root or the admin group may remove shared credentials");
	f = p_expect(p, WB_MSG_CRED_TEST);
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "alice"));
	P_CHECK(wb_attr_count(&f, WB_A_SCOPE) == 0);
	P_CHECK(p_str_is(&f, WB_A_HOST, 0, "2001:db8::5"));	/* brackets removed */
	P_CHECK(p_u32(&f, WB_A_PORT) == 5986);
	P_CHECK(p_str_is(&f, WB_A_TRANSPORT, 0, "certificate"));
	P_CHECK(p_u8(&f, WB_A_KERBEROS_DELEGATION) == 1);
	p_error(p, 12, "the host refused the credential (HTTP 401)");
	f = p_expect(p, WB_MSG_CRED_TEST);
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 2);
	p_ok(p);
}

START_TEST(test_cred_rm_and_test)
{
	struct wbc_error err = { 0 };
	struct wbc_target *t = target("[2001:db8::5]");
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_cred_rm_test, 0, &pid);

	ck_assert_int_eq(wbc_cred_remove(c, "old", WBC_SCOPE_SHARED, 1234, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_remove(c, "old", WBC_SCOPE_ANY, WBC_NO_OWNER, &err),
			 -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_remove(c, "old", WBC_SCOPE_PERSONAL, 1234, &err), 0);
	ck_assert_int_eq(wbc_cred_remove(c, "old", WBC_SCOPE_SHARED, WBC_NO_OWNER, &err),
			 -WBC_E_DENIED);
	ck_assert_str_eq(err.message, "only root or the admin group may remove shared credentials");
	ck_assert_int_eq(wbc_target_set(t, "port", "5986", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "transport", "certificate", &err), 0);
	ck_assert_int_eq(wbc_target_set(t, "kerberos_delegation", "on", &err), 0);
	ck_assert_int_eq(wbc_cred_test(c, "alice", WBC_SCOPE_ANY, t, &err), -WBC_E_AUTH);
	ck_assert_ptr_nonnull(strstr(err.message, "HTTP 401"));
	ck_assert_int_eq(wbc_cred_test(c, "alice", WBC_SCOPE_SHARED, t, &err), 0);
	wbc_target_free(t);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

/* ---- login-session credentials ------------------------------------------------ */

static const char token_hex[] = "0123456789abcdef0123456789ABCDEF";

static void p_ok_deposit(struct peer *p, const char *token)
{
	struct wb_writer w;

	p_begin(&w, WB_MSG_OK);
	if (token)
		wb_msg_put_str(&w, WB_A_DEPOSIT, token);
	p_send(p, &w);
}

#define SESSION_ID 0x8877665544332211ull

/* id 0: no SESSION_ID (a broker before it). */
static void p_ok_sessions(struct peer *p, uint32_t n, uint64_t id)
{
	struct wb_writer w;

	p_begin(&w, WB_MSG_OK);
	wb_msg_put_u32(&w, WB_A_SESSIONS, n);
	if (id)
		wb_msg_put_u64(&w, WB_A_SESSION_ID, id);
	p_send(p, &w);
}

static uint64_t p_u64(const struct wb_frame *f, uint16_t tag)
{
	uint64_t v = 0;

	P_CHECK(wb_attr_u64(f, tag, &v) == 0);
	return v;
}

static void script_session(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	/* The deposit: a personal password with SESSION=1, TTL, VALIDATE, OWNER. */
	f = p_expect(p, WB_MSG_CRED_ADD);
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "login"));
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 1);
	P_CHECK(p_u8(&f, WB_A_KIND) == 1);
	P_CHECK(p_str_is(&f, WB_A_USER, 0, "alice"));
	P_CHECK(p_str_is(&f, WB_A_DOMAIN, 0, "CORP"));
	P_CHECK(wb_attr_count(&f, WB_A_SECRET) == 1);
	P_CHECK(p_str_is(&f, WB_A_SECRET, 0, secret));
	P_CHECK(p_u8(&f, WB_A_SESSION) == 1);
	P_CHECK(p_u32(&f, WB_A_TTL) == 3600);
	P_CHECK(p_u8(&f, WB_A_VALIDATE) == 1);
	P_CHECK(p_u32(&f, WB_A_OWNER) == 1001);
	P_CHECK(wb_attr_count(&f, WB_A_REPLACE) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_FLAGS) == 0);
	p_ok_deposit(p, token_hex);
	/* Bind with the token: the broker names the session. */
	f = p_expect(p, WB_MSG_CRED_SESSION);
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "login"));
	P_CHECK(p_u8(&f, WB_A_SESSION_OP) == 1);
	P_CHECK(p_u32(&f, WB_A_OWNER) == 1001);
	P_CHECK(p_str_is(&f, WB_A_DEPOSIT, 0, token_hex));
	P_CHECK(wb_attr_count(&f, WB_A_SESSION_ID) == 0);
	p_ok_sessions(p, 2, SESSION_ID);
	/* Release that session: its id, no token, no owner. */
	f = p_expect(p, WB_MSG_CRED_SESSION);
	P_CHECK(p_u8(&f, WB_A_SESSION_OP) == 2);
	P_CHECK(wb_attr_count(&f, WB_A_OWNER) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_DEPOSIT) == 0);
	P_CHECK(p_u64(&f, WB_A_SESSION_ID) == SESSION_ID);
	p_ok_sessions(p, 1, 0);
	/* An open answered by a broker without ids; a release without one. */
	f = p_expect(p, WB_MSG_CRED_SESSION);
	P_CHECK(p_u8(&f, WB_A_SESSION_OP) == 1);
	P_CHECK(wb_attr_count(&f, WB_A_DEPOSIT) == 0);
	p_ok_sessions(p, 2, 0);
	f = p_expect(p, WB_MSG_CRED_SESSION);
	P_CHECK(p_u8(&f, WB_A_SESSION_OP) == 2);
	P_CHECK(wb_attr_count(&f, WB_A_SESSION_ID) == 0);
	p_ok_sessions(p, 1, 0);
	f = p_expect(p, WB_MSG_CRED_SESSION);
	P_CHECK(wb_attr_count(&f, WB_A_SESSION_ID) == 0);	/* id 0: none */
	p_ok_sessions(p, 0, 0);
	/* A password change: SESSION=2, no TTL, no VALIDATE, no REPLACE. */
	f = p_expect(p, WB_MSG_CRED_ADD);
	P_CHECK(p_u8(&f, WB_A_SESSION) == 2);
	P_CHECK(p_str_is(&f, WB_A_SECRET, 0, "new-pw"));
	P_CHECK(wb_attr_count(&f, WB_A_TTL) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_VALIDATE) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_REPLACE) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_DOMAIN) == 0);
	P_CHECK(wb_attr_count(&f, WB_A_DEPOSIT) == 0);
	p_ok(p);
	/* The same for a pending deposit: its token goes along. */
	f = p_expect(p, WB_MSG_CRED_ADD);
	P_CHECK(p_u8(&f, WB_A_SESSION) == 2);
	P_CHECK(p_str_is(&f, WB_A_SECRET, 0, "newer-pw"));
	P_CHECK(wb_attr_count(&f, WB_A_DEPOSIT) == 1);
	P_CHECK(p_str_is(&f, WB_A_DEPOSIT, 0, token_hex));
	P_CHECK(p_u32(&f, WB_A_OWNER) == 1001);
	p_ok(p);
	/* The broker's refusals come back as their codes. */
	f = p_expect(p, WB_MSG_CRED_ADD);
	P_CHECK(wb_attr_count(&f, WB_A_TTL) == 0);	/* ttl 0: none sent */
	p_error(p, 12, "the KDC refused the password of alice@CORP.EXAMPLE");
	p_expect(p, WB_MSG_CRED_SESSION);
	p_error(p, 6, "no session credential \"login\"");
	p_expect(p, WB_MSG_CRED_SESSION);
	p_error(p, 5, "only root may bind a session of another user");
	p_status(p);
}

static struct wbc_cred_add *session_add(const char *user, const char *domain, int mode,
					uint32_t ttl, const char *pw)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_add *a = NULL;

	ck_assert_int_eq(wbc_cred_add_new("login", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, user,
					  domain, &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_secret(a, pw, strlen(pw), &err), 0);
	ck_assert_int_eq(wbc_cred_add_session(a, mode, ttl, &err), 0);
	return a;
}

START_TEST(test_cred_session)
{
	struct wbc_error err = { 0 };
	struct wbc_status st;
	char token[WBC_DEPOSIT_LEN + 1] = "x", again[WBC_DEPOSIT_LEN + 1] = "x";
	uint64_t id;
	uint32_t n = 99;
	struct wbc_cred_add *a;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_session, 0, &pid);

	a = session_add("alice", "CORP", WBC_SESSION_DEPOSIT, 3600, secret);
	ck_assert_int_eq(wbc_cred_add_validate(a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_owner(a, 1001, &err), 0);
	ck_assert_int_eq(wbc_cred_add_send_deposit(c, a, token, &err), 0);
	ck_assert_str_eq(token, token_hex);
	ck_assert_int_eq(wbc_cred_add_send_deposit(c, a, again, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "already sent"));
	ck_assert_str_eq(again, "");	/* empty whenever it fails */
	wbc_cred_add_free(a);

	/* The reply that carried the token is wiped once it is copied out. */
	ck_assert_ptr_null(memmem(c->in, WB_FRAME_HDR + 256, token_hex, WBC_DEPOSIT_LEN));

	id = 42;
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_OPEN, 1001, token, &id, &n,
					  &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(id == SESSION_ID);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_CLOSE, WBC_NO_OWNER, NULL, &id,
					  &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(id == SESSION_ID);	/* a close leaves it as it was */

	id = 42;
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_OPEN, 1001, NULL, &id, &n, &err),
			 0);
	ck_assert(id == 0);	/* no SESSION_ID: none */
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_CLOSE, 1001, NULL, NULL, &n,
					  &err), 0);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_CLOSE, 1001, NULL, &id, &n,
					  &err), 0);
	ck_assert_uint_eq(n, 0);

	a = session_add("alice", NULL, WBC_SESSION_UPDATE, 77, "new-pw");
	ck_assert_int_eq(wbc_cred_add_send(c, a, 0, &err), 0);
	wbc_cred_add_free(a);
	a = session_add("alice", NULL, WBC_SESSION_UPDATE, 0, "newer-pw");
	ck_assert_int_eq(wbc_cred_add_owner(a, 1001, &err), 0);
	ck_assert_int_eq(wbc_cred_add_deposit_token(a, token_hex, &err), 0);
	ck_assert_int_eq(wbc_cred_add_deposit_token(a, token_hex, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_send(c, a, 0, &err), 0);
	wbc_cred_add_free(a);

	a = session_add("alice", NULL, WBC_SESSION_DEPOSIT, 0, "wrong");
	ck_assert_int_eq(wbc_cred_add_send_deposit(c, a, token, &err), -WBC_E_AUTH);
	ck_assert_str_eq(err.message, "the KDC refused the password of alice@CORP.EXAMPLE");
	ck_assert_str_eq(token, "");
	wbc_cred_add_free(a);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_OPEN, 1001, NULL, NULL, NULL,
					  &err), -WBC_E_NOCRED);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_CLOSE, 1002, NULL, NULL, &n,
					  &err), -WBC_E_DENIED);
	ck_assert_str_eq(err.message, "only root may bind a session of another user");
	ck_assert_int_eq(wbc_status(c, &st, &err), 0);	/* errors leave it usable */
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

/* Broken replies: arg 0 OK without DEPOSIT, 1 31 hex digits, 2 a non-hex
 * digit, 3 33 digits, 4 a NUL inside; 5 CRED_SESSION's OK without
 * SESSIONS, 6 with a 2-byte SESSIONS, 7 with a 4-byte SESSION_ID. */
static void script_session_bad_reply(struct peer *p)
{
	static const char *const tokens[] = {
		NULL, "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdeg",
		"0123456789abcdef0123456789abcdef0",
	};
	struct wb_writer w;

	p_hello(p);
	if (p->arg < 4) {
		p_expect(p, WB_MSG_CRED_ADD);
		p_ok_deposit(p, tokens[p->arg]);
	} else if (p->arg == 4) {
		p_expect(p, WB_MSG_CRED_ADD);
		p_begin(&w, WB_MSG_OK);
		wb_msg_put(&w, WB_A_DEPOSIT, "0123456789abcdef\0" "123456789abcde", 32);
		p_send(p, &w);
	} else {
		p_expect(p, WB_MSG_CRED_SESSION);
		p_begin(&w, WB_MSG_OK);
		if (p->arg == 6)
			wb_msg_put(&w, WB_A_SESSIONS, "\0\1", 2);
		if (p->arg == 7) {
			wb_msg_put_u32(&w, WB_A_SESSIONS, 1);
			wb_msg_put_u32(&w, WB_A_SESSION_ID, 7);
		}
		p_send(p, &w);
	}
	p_expect_close(p);
}

START_TEST(test_cred_session_bad_reply)
{
	struct wbc_error err = { 0 };
	struct wbc_status st;
	char token[WBC_DEPOSIT_LEN + 1];
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_session_bad_reply, _i, &pid);

	if (_i < 5) {
		struct wbc_cred_add *a = session_add("alice", NULL, WBC_SESSION_DEPOSIT, 0, "pw");

		ck_assert_int_eq(wbc_cred_add_send_deposit(c, a, token, &err), -WBC_E_PROTO);
		ck_assert_ptr_nonnull(strstr(err.message, "DEPOSIT"));
		ck_assert_str_eq(token, "");
		wbc_cred_add_free(a);
	} else {
		uint64_t id = 5;

		ck_assert_int_eq(wbc_cred_session(c, "login", _i == 7 ? WBC_SESSION_OPEN :
						  WBC_SESSION_CLOSE, 1001, NULL, &id, NULL, &err),
				 -WBC_E_PROTO);
		ck_assert_ptr_nonnull(strstr(err.message, _i == 7 ? "SESSION_ID" : "SESSIONS"));
		ck_assert(id == 5);	/* untouched on failure */
	}
	/* A broker that breaks the protocol is not talked to again. */
	ck_assert_int_eq(wbc_status(c, &st, &err), -WBC_E_IO);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

START_TEST(test_cred_session_checks)
{
	struct wbc_error err = { 0 };
	char token[WBC_DEPOSIT_LEN + 1];
	struct wbc_cred_add *a = NULL;
	uint32_t uid = 12345;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_hello_only, 0, &pid);

	/* Personal password credentials only. */
	ck_assert_int_eq(wbc_cred_add_new("s", WBC_SCOPE_SHARED, WBC_KIND_PASSWORD, "u", NULL, &a,
					  &err), 0);
	ck_assert_int_eq(wbc_cred_add_session(a, WBC_SESSION_DEPOSIT, 0, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "personal password"));
	wbc_cred_add_free(a);
	ck_assert_int_eq(wbc_cred_add_new("k", WBC_SCOPE_PERSONAL, WBC_KIND_KEYTAB, "u@R", NULL,
					  &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_session(a, WBC_SESSION_UPDATE, 0, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_validate(a, &err), -WBC_E_INVALID);
	wbc_cred_add_free(a);

	ck_assert_int_eq(wbc_cred_add_new("login", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "u",
					  NULL, &a, &err), 0);
	ck_assert_int_eq(wbc_cred_add_secret(a, "pw", 2, &err), 0);
	ck_assert_int_eq(wbc_cred_add_session(a, 0, 0, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_session(a, 3, 0, &err), -WBC_E_INVALID);
	/* Not a deposit yet: send_deposit refuses, nothing is sent. */
	ck_assert_int_eq(wbc_cred_add_send_deposit(c, a, token, &err), -WBC_E_INVALID);
	ck_assert_str_eq(token, "");
	ck_assert_int_eq(wbc_cred_add_session(a, WBC_SESSION_DEPOSIT, 60, &err), 0);
	ck_assert_int_eq(wbc_cred_add_session(a, WBC_SESSION_UPDATE, 0, &err), -WBC_E_INVALID);
	/* A deposit through the plain send would lose its token: refused. */
	ck_assert_int_eq(wbc_cred_add_send(c, a, 0, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "wbc_cred_add_send_deposit"));
	wbc_cred_add_free(a);
	a = session_add("u", NULL, WBC_SESSION_UPDATE, 0, "pw");
	ck_assert_int_eq(wbc_cred_add_send(c, a, 1, &err), -WBC_E_INVALID);	/* replace */
	wbc_cred_add_free(a);

	/* A deposit token only on an update, once, well formed. */
	a = session_add("u", NULL, WBC_SESSION_DEPOSIT, 0, "pw");
	ck_assert_int_eq(wbc_cred_add_deposit_token(a, token_hex, &err), -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "WBC_SESSION_UPDATE"));
	wbc_cred_add_free(a);
	a = session_add("u", NULL, WBC_SESSION_UPDATE, 0, "pw");
	ck_assert_int_eq(wbc_cred_add_deposit_token(a, NULL, &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_deposit_token(a, "abc", &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_add_deposit_token(a, "0123456789abcdef0123456789abcdeZ", &err),
			 -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "32 hex digits"));
	wbc_cred_add_free(a);

	ck_assert_int_eq(wbc_cred_session(c, "bad name", WBC_SESSION_OPEN, 1, NULL, NULL, NULL,
					  &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_session(c, "login", 0, 1, NULL, NULL, NULL, &err),
			 -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_session(c, "login", 3, 1, NULL, NULL, NULL, &err),
			 -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_CLOSE, 1, token_hex, NULL, NULL,
					  &err), -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_OPEN, 1, "abc", NULL, NULL, &err),
			 -WBC_E_INVALID);
	ck_assert_int_eq(wbc_cred_session(c, "login", WBC_SESSION_OPEN, 1,
					  "0123456789abcdef0123456789abcdeZ", NULL, NULL, &err),
			 -WBC_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.message, "32 hex digits"));

	/* The peer of a socketpair is this very process's uid. */
	ck_assert_int_eq(wbc_conn_peer_uid(c, &uid, &err), 0);
	ck_assert_uint_eq(uid, (uint32_t)getuid());
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

static void put_session_info(struct peer *p, const char *name, uint32_t sessions,
			     uint64_t expires, bool bad_expires)
{
	struct wb_writer w;

	p_begin(&w, WB_MSG_CRED_INFO);
	wb_msg_put_str(&w, WB_A_CRED, name);
	wb_msg_put_u8(&w, WB_A_SCOPE, 1);
	wb_msg_put_u32(&w, WB_A_OWNER, 1001);
	wb_msg_put_u8(&w, WB_A_KIND, 1);
	wb_msg_put_str(&w, WB_A_USER, "alice");
	wb_msg_put_str(&w, WB_A_DOMAIN, "CORP");
	wb_msg_put_u32(&w, WB_A_FLAGS, 0);
	wb_msg_put_u64(&w, WB_A_CREATED, 1700000000);
	wb_msg_put_u64(&w, WB_A_UPDATED, 1700000000);
	wb_msg_put_u8(&w, WB_A_SESSION, 1);
	wb_msg_put_u32(&w, WB_A_SESSIONS, sessions);
	if (bad_expires)
		wb_msg_put_u32(&w, WB_A_EXPIRES, 5);
	else if (expires)
		wb_msg_put_u64(&w, WB_A_EXPIRES, expires);
	p_send(p, &w);
}

/* arg 0: a stored and two session credentials; 1: a malformed EXPIRES. */
static void script_session_list(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_CRED_LIST);
	if (p->arg == 1) {
		put_session_info(p, "login", 1, 0, true);
		p_expect_close(p);
		return;
	}
	put_info(p, "mine", 1, 1, 0, false);
	put_session_info(p, "login", 2, 1780000000, false);
	put_session_info(p, "jump", 1, 0, false);
	p_ok(p);
}

START_TEST(test_cred_list_sessions)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_info in;
	pid_t pid;
	struct wbc_conn *c = connect_peer(script_session_list, 0, &pid);

	ck_assert_int_eq(wbc_cred_list_begin(c, &err), 0);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 1);
	ck_assert_int_eq(in.session, 0);
	ck_assert_uint_eq(in.sessions, 0);
	ck_assert_int_eq(in.expires, 0);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 1);
	ck_assert_str_eq(in.name, "login");
	ck_assert_int_eq(in.session, 1);
	ck_assert_uint_eq(in.sessions, 2);
	ck_assert_int_eq(in.expires, 1780000000);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 1);
	ck_assert_int_eq(in.session, 1);
	ck_assert_uint_eq(in.sessions, 1);
	ck_assert_int_eq(in.expires, 0);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), 0);
	wbc_close(c);
	peer_wait(pid);

	c = connect_peer(script_session_list, 1, &pid);
	ck_assert_int_eq(wbc_cred_list_begin(c, &err), 0);
	ck_assert_int_eq(wbc_cred_list_next(c, &in, &err), -WBC_E_PROTO);
	wbc_close(c);
	peer_wait(pid);
}
END_TEST

/* ---- the CLI --------------------------------------------------------------- */

struct cli_result {
	int status;
	char out[65536];
	size_t out_len;
	char err[16384];
	size_t err_len;
};

static pid_t cli_spawn(const char *const *args, int in_fd, int out_fd, int err_fd)
{
	const char *exe = getenv("WB_CLI");
	const char *argv[32];
	pid_t pid;
	size_t n = 0;

	ck_assert_msg(exe != NULL, "WB_CLI is not set (meson sets it)");
	argv[n++] = exe;
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* No controlling terminal: a password prompt fails instead of waiting. */
		setsid();
		dup2(in_fd, 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int exit_status(pid_t pid)
{
	int st = 0;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs the CLI with input on stdin (NULL: /dev/null); collects its output. */
static void cli(struct cli_result *res, const char *input, const char *const *args)
{
	int in[2], out[2], err[2];
	struct pollfd p[2];
	pid_t pid;

	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = cli_spawn(args, in[0], out[1], err[1]);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (input)
		ck_assert_int_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in[1]);
	p[0] = (struct pollfd){ .fd = out[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = err[0], .events = POLLIN };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int i;

		ck_assert_int_ge(poll(p, 2, 20000), 1);
		for (i = 0; i < 2; i++) {
			char *dst = i == 0 ? res->out : res->err;
			size_t *len = i == 0 ? &res->out_len : &res->err_len;
			size_t cap = (i == 0 ? sizeof(res->out) : sizeof(res->err)) - 1;
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, dst + *len, cap - *len);
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
			} else {
				*len += (size_t)n;
			}
		}
	}
	res->status = exit_status(pid);
}

#define CLI(res, input, ...) cli(res, input, (const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_cli_usage)
{
	struct cli_result *r = malloc(sizeof(*r));

	CLI(r, NULL, "run");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "no host given"));
	ck_assert_ptr_nonnull(strstr(r->err, "usage: winrm-broker run"));
	CLI(r, NULL, "run", "win1");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "no command given"));
	CLI(r, NULL, "run", "win1", "--");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "run", "-o", "bogus=1", "win1", "--", "dir");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "unknown option 'bogus'"));
	CLI(r, NULL, "run", "-o", "port", "win1", "dir");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "run", "--port", "99999", "win1", "dir");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "port"));
	CLI(r, NULL, "run", "--cred", "bad name", "win1", "dir");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "bad credential name"));
	CLI(r, NULL, "run", "--frobnicate", "win1", "dir");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "run", "win 1", "dir");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "run", "--help");
	ck_assert_int_eq(r->status, 0);
	ck_assert_ptr_nonnull(strstr(r->out, "usage: winrm-broker run"));
	CLI(r, NULL, "frobnicate");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "--socket");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "--version");
	ck_assert_int_eq(r->status, 0);
	ck_assert_ptr_nonnull(strstr(r->out, "winrm-broker "));
	CLI(r, NULL, "cred");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "add", "x");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "--user is required"));
	CLI(r, NULL, "cred", "add", "x", "--user", "u", "--allow-user", "root");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "add", "x", "--user", "u", "--shared", "--allow-user",
	    "no-such-user-here");
	ck_assert_int_eq(r->status, 2);
	ck_assert_ptr_nonnull(strstr(r->err, "unknown user"));
	CLI(r, NULL, "cred", "add", "x", "--cert", "/dev/null");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "add", "x", "--keytab", "k", "--cert", "c", "--key", "k");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "add", "x", "--keytab", "k", "--password-stdin", "--user", "u");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "add", "bad/name", "--user", "u");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "rm");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "rm", "x", "-o", "port=1");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "test", "x");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "test", "x", "win1", "-o", "transport=nope");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "ls", "extra");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "frob");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "status", "extra");
	ck_assert_int_eq(r->status, 2);
	CLI(r, NULL, "cred", "add", "--help");
	ck_assert_int_eq(r->status, 0);
	free(r);
}
END_TEST

START_TEST(test_cli_no_broker)
{
	struct cli_result *r = malloc(sizeof(*r));

	CLI(r, NULL, "--socket", "/nonexistent/broker.sock", "status");
	ck_assert_int_eq(r->status, 1);
	ck_assert_ptr_nonnull(strstr(r->err, "is winrm-brokerd running?"));
	CLI(r, NULL, "--socket", "/nonexistent/broker.sock", "run", "-n", "win1", "dir");
	ck_assert_int_eq(r->status, 255);
	ck_assert_ptr_nonnull(strstr(r->err, "cannot connect to the broker"));
	CLI(r, NULL, "--socket", "/nonexistent/broker.sock", "run", "--json", "-n", "win1", "dir");
	ck_assert_int_eq(r->status, 255);
	ck_assert_ptr_nonnull(strstr(r->out, "\"exit_code\":null,\"error\":{\"code\":18,"
				     "\"name\":\"io\""));
	free(r);
}
END_TEST

static void script_cli_run(struct peer *p)
{
	char in[256];
	size_t n = 0;
	struct wb_frame f;
	char out[300];

	p_hello(p);
	f = p_expect(p, WB_MSG_RUN);
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "default"));
	P_CHECK(p_str_is(&f, WB_A_COMMAND, 0, "findstr"));
	P_CHECK(p_str_is(&f, WB_A_ARG, 0, "/v"));
	P_CHECK(p_str_is(&f, WB_A_ARG, 1, "x y"));
	P_CHECK(p_str_is(&f, WB_A_CERT_VALIDATION, 0, "ignore"));
	P_CHECK(p_u32(&f, WB_A_PORT) == 15986);
	P_CHECK(p_u8(&f, WB_A_STDIN_OPEN) == 1);
	for (;;) {
		const uint8_t *v;
		uint32_t len;
		uint8_t eof = 0;

		f = p_expect(p, WB_MSG_STDIN);
		P_CHECK(wb_attr_find(&f, WB_A_DATA, 0, &v, &len) == 0);
		P_CHECK(n + len < sizeof(in));
		memcpy(in + n, v, len);
		n += len;
		if (wb_attr_u8(&f, WB_A_EOF, &eof) == 0 && eof)
			break;
	}
	P_CHECK(n == 11 && memcmp(in, "input data\n", 11) == 0);
	snprintf(out, sizeof(out), "out:%.*s", (int)n, in);
	p_data(p, WB_MSG_STDOUT, out, strlen(out));
	p_data(p, WB_MSG_STDERR, "warn\n", 5);
	p_exit(p, 7, "basic");
}

START_TEST(test_cli_run_stdin_and_exit_code)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct listener l;

	peer_listen(&l, script_cli_run, 0);
	CLI(r, "input data\n", "--socket", l.path, "run", "-k", "-p", "15986", "win1", "--",
	    "findstr", "/v", "x y");
	listener_done(&l);
	ck_assert_int_eq(r->status, 7);
	ck_assert_str_eq(r->out, "out:input data\n");
	ck_assert_str_eq(r->err, "warn\n");
	free(r);
}
END_TEST

/* arg 0: output and a large exit code; 1: an ERROR. */
static void script_cli_json(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	f = p_expect(p, WB_MSG_RUN);
	P_CHECK(wb_attr_count(&f, WB_A_STDIN_OPEN) == 0);	/* -n */
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "ops"));
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 2);
	p_data(p, WB_MSG_STDOUT, "hi\n", 3);
	if (p->arg == 0)
		p_exit(p, 300, "basic");
	else
		p_error(p, 6, "no credential \"ops\"");
}

START_TEST(test_cli_run_json)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct listener l;

	peer_listen(&l, script_cli_json, _i);
	setenv("WINRM_BROKER_SOCKET", l.path, 1);
	CLI(r, NULL, "run", "--json", "-n", "--shared", "-c", "ops", "win1", "dir");
	listener_done(&l);
	if (_i == 0) {
		ck_assert_int_eq(r->status, 254);
		ck_assert_str_eq(r->out, "{\"exit_code\":300,\"transport\":\"basic\","
				 "\"stdout_base64\":\"aGkK\",\"stderr_base64\":\"\","
				 "\"stdout_truncated\":false,\"stderr_truncated\":false}\n");
	} else {
		ck_assert_int_eq(r->status, 255);
		ck_assert_str_eq(r->out, "{\"exit_code\":null,\"error\":{\"code\":6,"
				 "\"name\":\"no-credential\",\"message\":\"no credential \\\"ops\\\"\"},"
				 "\"stdout_base64\":\"aGkK\",\"stderr_base64\":\"\","
				 "\"stdout_truncated\":false,\"stderr_truncated\":false}\n");
	}
	ck_assert_uint_eq(r->err_len, 0);
	free(r);
}
END_TEST

static void script_cli_run_error(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	p_error(p, 11, "TLS: the certificate of win1 is not trusted; set ca_trust_path");
}

START_TEST(test_cli_run_broker_error)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct listener l;

	peer_listen(&l, script_cli_run_error, 0);
	CLI(r, NULL, "--socket", l.path, "run", "-n", "win1", "dir");
	listener_done(&l);
	ck_assert_int_eq(r->status, 255);
	ck_assert_str_eq(r->err, "winrm-broker: TLS: the certificate of win1 is not trusted; "
			 "set ca_trust_path\n");
	free(r);
}
END_TEST

/* Ctrl-C: arg 0 gets ctrl_c, terminate and then the exit; 1 never exits. */
static void script_cli_sigint(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	p_expect(p, WB_MSG_RUN);
	p_data(p, WB_MSG_STDOUT, "ready\n", 6);
	f = p_expect(p, WB_MSG_SIGNAL);
	P_CHECK(p_u8(&f, WB_A_SIGNAL) == 1);
	p_data(p, WB_MSG_STDOUT, "got1\n", 5);
	f = p_expect(p, WB_MSG_SIGNAL);
	P_CHECK(p_u8(&f, WB_A_SIGNAL) == 2);
	if (p->arg == 0) {
		p_exit(p, 9, "basic");
		return;
	}
	p_data(p, WB_MSG_STDOUT, "got2\n", 5);
	p_expect_close(p);	/* the third Ctrl-C closes the connection */
}

/* Reads the CLI's stdout until it has printed want. */
static void await_output(int fd, const char *want, char *buf, size_t *len)
{
	while (!strstr(buf, want)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		n = read(fd, buf + *len, 255 - *len);
		ck_assert_int_gt(n, 0);
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

START_TEST(test_cli_ctrl_c)
{
	static const char *const want[] = { "got1\n", "got2\n" };
	char buf[256] = "";
	size_t len = 0;
	struct listener l;
	int out[2], null = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid;

	peer_listen(&l, script_cli_sigint, _i);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	pid = cli_spawn((const char *const[]){ "--socket", l.path, "run", "-n", "win1", "ping",
					      NULL }, null, out[1], null);
	close(out[1]);
	await_output(out[0], "ready\n", buf, &len);
	kill(pid, SIGINT);
	await_output(out[0], "got1\n", buf, &len);
	kill(pid, SIGINT);
	if (_i == 1) {
		await_output(out[0], want[1], buf, &len);
		kill(pid, SIGINT);
	}
	ck_assert_int_eq(exit_status(pid), _i == 0 ? 9 : 130);
	listener_done(&l);
	close(out[0]);
	close(null);
}
END_TEST

static void script_cli_cred_add(struct peer *p)
{
	struct wb_frame f;

	p_hello(p);
	f = p_expect(p, WB_MSG_CRED_ADD);
	P_CHECK(wb_attr_count(&f, WB_A_SECRET) == 1);
	P_CHECK(p_str_is(&f, WB_A_SECRET, 0, "pw-123 with space"));	/* newline dropped */
	P_CHECK(p_str_is(&f, WB_A_CRED, 0, "corp-admin"));
	P_CHECK(p_str_is(&f, WB_A_USER, 0, "alice"));
	P_CHECK(p_str_is(&f, WB_A_DOMAIN, 0, "CORP"));
	P_CHECK(p_u8(&f, WB_A_SCOPE) == 2);
	P_CHECK(p_u8(&f, WB_A_KIND) == 1);
	P_CHECK(p_u32(&f, WB_A_ALLOW_UID) == 0);	/* root, by name */
	P_CHECK(p_u32(&f, WB_A_ALLOW_GID) == 4242);	/* by number */
	P_CHECK(p_u8(&f, WB_A_REPLACE) == 1);
	P_CHECK(p_u32(&f, WB_A_FLAGS) == 1);
	p_ok(p);
}

static void script_cli_cred_exists(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_CRED_ADD);
	p_error(p, 7, "credential \"corp-admin\" exists; add --replace");
}

START_TEST(test_cli_cred_add)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct listener l;

	peer_listen(&l, script_cli_cred_add, 0);
	CLI(r, "pw-123 with space\r\n", "--socket", l.path, "cred", "add", "corp-admin",
	    "--user", "alice", "--domain", "CORP", "--password-stdin", "--shared",
	    "--allow-user", "root", "--allow-group", "4242", "--replace", "--delegate");
	listener_done(&l);
	ck_assert_msg(r->status == 0, "exit %d: %s", r->status, r->err);
	ck_assert_ptr_null(strstr(r->out, "pw-123"));
	ck_assert_ptr_null(strstr(r->err, "pw-123"));

	peer_listen(&l, script_cli_cred_exists, 0);
	CLI(r, "pw\n", "--socket", l.path, "cred", "add", "corp-admin", "-u", "alice",
	    "--password-stdin");
	listener_done(&l);
	ck_assert_int_eq(r->status, 1);
	ck_assert_ptr_nonnull(strstr(r->err, "exists; add --replace"));

	/* No terminal and no --password-stdin: a clear refusal, nothing sent. */
	CLI(r, NULL, "--socket", "/nonexistent", "cred", "add", "c", "-u", "alice");
	ck_assert_int_eq(r->status, 1);
	ck_assert_ptr_nonnull(strstr(r->err, "password"));
	CLI(r, "\n", "--socket", "/nonexistent", "cred", "add", "c", "-u", "alice",
	    "--password-stdin");
	ck_assert_int_eq(r->status, 1);
	ck_assert_ptr_nonnull(strstr(r->err, "empty"));
	free(r);
}
END_TEST

static void script_cli_ls(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_CRED_LIST);
	put_info(p, "c1", 2, 2, 2, false);
	p_ok(p);
}

START_TEST(test_cli_cred_ls_json)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct listener l;

	peer_listen(&l, script_cli_ls, 0);
	CLI(r, NULL, "--socket", l.path, "cred", "ls", "--json");
	listener_done(&l);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->out, "[{\"name\":\"c1\",\"scope\":\"shared\",\"owner\":0,"
			 "\"kind\":\"certificate\",\"user\":\"alice\",\"domain\":\"CORP\","
			 "\"delegate\":true,\"created\":1700000000,\"updated\":1700000100,"
			 "\"allow_uids\":[1000,1001],\"allow_gids\":[50]}]\n");
	free(r);
}
END_TEST

static void script_cli_ls_sessions(struct peer *p)
{
	p_hello(p);
	p_expect(p, WB_MSG_CRED_LIST);
	put_info(p, "mine", 1, 1, 0, false);
	put_session_info(p, "login", 2, 1780000000, false);
	put_session_info(p, "jump", 1, 0, false);
	p_ok(p);
}

START_TEST(test_cli_cred_ls_sessions)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct listener l;
	char *line;

	peer_listen(&l, script_cli_ls_sessions, 0);
	CLI(r, NULL, "--socket", l.path, "cred", "ls");
	listener_done(&l);
	ck_assert_int_eq(r->status, 0);
	/* A stored credential's line is as before; session ones say so. */
	line = strstr(r->out, "\nmine ");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "CORP\\alice\n"));
	line = strstr(r->out, "\nlogin ");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "CORP\\alice  (session, 2 logins, expires "
				     "2026-05-28T20:26:40Z)\n"));
	line = strstr(r->out, "\njump ");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "CORP\\alice  (session, 1 login)\n"));

	peer_listen(&l, script_cli_ls_sessions, 0);
	CLI(r, NULL, "--socket", l.path, "cred", "ls", "--json");
	listener_done(&l);
	ck_assert_int_eq(r->status, 0);
	ck_assert_str_eq(r->out,
			 "[{\"name\":\"mine\",\"scope\":\"personal\",\"owner\":1000,"
			 "\"kind\":\"password\",\"user\":\"alice\",\"domain\":\"CORP\","
			 "\"delegate\":false,\"created\":1700000000,\"updated\":1700000100,"
			 "\"allow_uids\":[],\"allow_gids\":[]},"
			 "{\"name\":\"login\",\"scope\":\"personal\",\"owner\":1001,"
			 "\"kind\":\"password\",\"user\":\"alice\",\"domain\":\"CORP\","
			 "\"delegate\":false,\"created\":1700000000,\"updated\":1700000000,"
			 "\"allow_uids\":[],\"allow_gids\":[],"
			 "\"session\":true,\"sessions\":2,\"expires\":1780000000},"
			 "{\"name\":\"jump\",\"scope\":\"personal\",\"owner\":1001,"
			 "\"kind\":\"password\",\"user\":\"alice\",\"domain\":\"CORP\","
			 "\"delegate\":false,\"created\":1700000000,\"updated\":1700000000,"
			 "\"allow_uids\":[],\"allow_gids\":[],"
			 "\"session\":true,\"sessions\":1,\"expires\":null}]\n");
	free(r);
}
END_TEST

static Suite *libclient_suite(void)
{
	Suite *s = suite_create("libclient");
	TCase *tc = tcase_create("library");
	TCase *tcli = tcase_create("cli");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hello_and_status);
	tcase_add_loop_test(tc, test_hello_refused, 0, 3);
	tcase_add_test(tc, test_connect_paths);
	tcase_add_test(tc, test_request_timeout);
	tcase_add_test(tc, test_run_stream);
	tcase_add_test(tc, test_run_pump_negative_exit);
	tcase_add_loop_test(tc, test_run_error_mapping, 0, 3);
	tcase_add_test(tc, test_run_stdin_chunks);
	tcase_add_test(tc, test_run_no_deadlock);
	tcase_add_test(tc, test_run_signals);
	tcase_add_loop_test(tc, test_run_garbage, 0, 6);
	tcase_add_loop_test(tc, test_run_broker_closes, 0, 2);
	tcase_add_test(tc, test_run_free_cancels);
	tcase_add_test(tc, test_target_options);
	tcase_add_test(tc, test_hosts_and_names);
	tcase_add_test(tc, test_cred_add);
	tcase_add_test(tc, test_cred_add_checks);
	tcase_add_test(tc, test_cred_list);
	tcase_add_loop_test(tc, test_cred_list_failures, 1, 4);
	tcase_add_test(tc, test_cred_rm_and_test);
	tcase_add_test(tc, test_cred_session);
	tcase_add_loop_test(tc, test_cred_session_bad_reply, 0, 8);
	tcase_add_test(tc, test_cred_session_checks);
	tcase_add_test(tc, test_cred_list_sessions);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tcli, 60);
	tcase_add_test(tcli, test_cli_usage);
	tcase_add_test(tcli, test_cli_no_broker);
	tcase_add_test(tcli, test_cli_run_stdin_and_exit_code);
	tcase_add_loop_test(tcli, test_cli_run_json, 0, 2);
	tcase_add_test(tcli, test_cli_run_broker_error);
	tcase_add_loop_test(tcli, test_cli_ctrl_c, 0, 2);
	tcase_add_test(tcli, test_cli_cred_add);
	tcase_add_test(tcli, test_cli_cred_ls_json);
	tcase_add_test(tcli, test_cli_cred_ls_sessions);
	suite_add_tcase(s, tcli);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(libclient_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
