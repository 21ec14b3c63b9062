/*
 * Unit tests for pam/broker.c: the trust checks pam_winrm_broker makes
 * before it sends a byte (docs/pam.md, SECURITY), against sockets made
 * here. The impostor cases that need another uid (a socket file owned by
 * a user, a listener running as one) run when the test runs as root (CI).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "proto.h"

#define NOBODY 65534

struct fake {
	char dir[64];
	struct pwb_options o;
	pid_t pid;
	int report[2];	/* the child writes how many bytes it received */
};

static void fake_dir(struct fake *f)
{
	struct pwb_options o;
	char msg[PWB_MSG_MAX];

	ck_assert_int_eq(pwb_options_parse(0, NULL, &o, msg, sizeof(msg)), 0);
	f->o = o;
	f->o.timeout_sec = 2;
	f->pid = -1;
	strcpy(f->dir, "/tmp/pwb-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	ck_assert_int_eq(chmod(f->dir, 0777), 0);
	snprintf(f->o.socket, sizeof(f->o.socket), "%s/broker.sock", f->dir);
}

static int bind_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		_exit(3);
	return fd;
}

/* Answers HELLO (when hello) on one connection; reports the bytes it got. */
static void serve_one(int lfd, bool hello, int report)
{
	uint8_t *buf = malloc(WB_FRAME_HDR + WB_FRAME_MAX);
	size_t got = 0;
	int c = accept(lfd, NULL, NULL);
	ssize_t n;

	if (c < 0 || !buf)
		_exit(4);
	if (hello) {
		struct wb_writer w;
		struct wb_frame f;

		if (wb_frame_read(c, buf, WB_FRAME_HDR + WB_FRAME_MAX, &f) < 0 || f.type != WB_MSG_HELLO)
			_exit(5);
		got = WB_FRAME_HDR + f.len;
		wb_writer_init(&w, 4096, WB_PLAIN);
		if (wb_msg_begin(&w, WB_MSG_HELLO) < 0 || wb_msg_put_u32(&w, WB_A_VERSION, 1) < 0 ||
		    wb_msg_put_str(&w, WB_A_SERVER, "fake") < 0 || wb_msg_finish(&w) < 0 ||
		    wb_frame_write(c, &w) < 0)
			_exit(6);
		wb_writer_free(&w);
	}
	while ((n = read(c, buf, WB_FRAME_HDR + WB_FRAME_MAX)) > 0)
		got += (size_t)n;
	if (write(report, &got, sizeof(got)) != (ssize_t)sizeof(got))
		_exit(7);
	_exit(0);
}

/* A listener at f->o.socket, running as uid (-1: as we are). */
static void fake_start(struct fake *f, uid_t uid, bool hello)
{
	int ready[2];
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(f->report), 0);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0) {
		int lfd;

		if (uid != (uid_t)-1 && (setgid(NOBODY) < 0 || setuid(uid) < 0))
			_exit(2);
		lfd = bind_listen(f->o.socket);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		serve_one(lfd, hello, f->report[1]);
	}
	close(ready[1]);
	close(f->report[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
}

/* Stops the listener; returns the bytes it received (-1: no connection).
 * A listener still in accept() after a second was never connected to. */
static long fake_stop(struct fake *f)
{
	struct pollfd p = { .fd = f->report[0], .events = POLLIN };
	size_t got = 0;
	long res = -1;
	int st;

	if (f->pid > 0) {
		if (poll(&p, 1, 1000) == 1 && read(f->report[0], &got, sizeof(got)) == sizeof(got))
			res = (long)got;
		else
			kill(f->pid, SIGKILL);
		ck_assert_int_eq(waitpid(f->pid, &st, 0), f->pid);
		ck_assert_msg(res < 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
			      "fake listener failed: %d", st);
		close(f->report[0]);
	}
	unlink(f->o.socket);
	rmdir(f->dir);
	return res;
}

static void refused(struct fake *f, int code, const char *want)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c = (struct wbc_conn *)&err;

	ck_assert_int_eq(pwb_broker_connect(&f->o, &c, &err), -code);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.message, want) != NULL, "'%s' lacks '%s'", err.message, want);
}

START_TEST(test_not_reachable)
{
	struct fake f;
	int fd;

	fake_dir(&f);
	refused(&f, WBC_E_IO, "broker not reachable at /tmp/pwb-test-");
	refused(&f, WBC_E_IO, "(No such file or directory)");
	/* A socket nobody listens on any more. */
	fd = bind_listen(f.o.socket);
	close(fd);
	refused(&f, WBC_E_IO, "(Connection refused)");
	unlink(f.o.socket);
	/* A regular file: never trusted. */
	fd = open(f.o.socket, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	refused(&f, WBC_E_DENIED, "not a socket");
	snprintf(f.o.broker_user, sizeof(f.o.broker_user), "no-such-user-pwb");
	refused(&f, WBC_E_CONFIG, "broker_user no-such-user-pwb: no such user");
	fake_stop(&f);
}
END_TEST

static const char *my_name(void)
{
	struct passwd *pw = getpwuid(getuid());

	ck_assert_ptr_nonnull(pw);
	return pw->pw_name;
}

START_TEST(test_trusted)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c = NULL;
	struct fake f;
	uint32_t uid = 12345;

	fake_dir(&f);
	snprintf(f.o.broker_user, sizeof(f.o.broker_user), "%s", my_name());
	fake_start(&f, (uid_t)-1, true);
	ck_assert_msg(pwb_broker_connect(&f.o, &c, &err) == 0, "%s", err.message);
	ck_assert_str_eq(wbc_server_version(c), "fake");
	ck_assert_int_eq(wbc_conn_peer_uid(c, &uid, &err), 0);
	ck_assert_uint_eq(uid, getuid());
	/* The socket is close-on-exec: an exec'd child of sshd never holds it. */
	ck_assert_int_eq(fcntl(wbc_conn_fd(c), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	wbc_close(c);
	ck_assert_int_gt(fake_stop(&f), WB_FRAME_HDR);	/* it got HELLO */
}
END_TEST

/* A user's socket (broker_user root): refused before connecting. */
START_TEST(test_untrusted_owner)
{
	struct fake f;

	if (getuid() != 0) {
		/* Our own socket is a user's socket, unless we are root. */
		fake_dir(&f);
		fake_start(&f, (uid_t)-1, false);
		refused(&f, WBC_E_DENIED, "not by root or broker_user root (uid 0)");
		ck_assert_int_eq(fake_stop(&f), -1);	/* never connected */
		return;
	}
	fake_dir(&f);
	fake_start(&f, (uid_t)-1, false);
	ck_assert_int_eq(chown(f.o.socket, NOBODY, (gid_t)-1), 0);
	refused(&f, WBC_E_DENIED, "owned by uid 65534, not by root or broker_user root (uid 0)");
	ck_assert_int_eq(fake_stop(&f), -1);
}
END_TEST

/* Root's socket file, but a user listens: connected, nothing sent. */
START_TEST(test_untrusted_peer)
{
	struct fake f;

	if (getuid() != 0)
		return;	/* needs a second uid */
	fake_dir(&f);
	fake_start(&f, NOBODY, false);
	ck_assert_int_eq(chown(f.o.socket, 0, (gid_t)-1), 0);
	refused(&f, WBC_E_DENIED, "the process behind it runs as uid 65534, not as root or "
		"broker_user root (uid 0)");
	ck_assert_int_eq(fake_stop(&f), 0);	/* connected, not a byte */
}
END_TEST

static Suite *pam_broker_suite(void)
{
	Suite *s = suite_create("pam_broker");
	TCase *tc = tcase_create("trust");

	tcase_add_test(tc, test_not_reachable);
	tcase_add_test(tc, test_trusted);
	tcase_add_test(tc, test_untrusted_owner);
	tcase_add_test(tc, test_untrusted_peer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pam_broker_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
