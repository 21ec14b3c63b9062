/*
 * The WinRM engine (brokerd/winrm/shell.c, http.c, auth_*.c) against the
 * embedded test bed: tests/bed/up in a fresh directory, wb_winrm_run over
 * HTTPS with Basic and with Certificate, streaming both ways, Ctrl-C,
 * cancellation, and the failure classes; the test host's log shows what
 * went over the wire. The bed is taken down on every exit path.
 */
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "auth.h"
#include "bedfix.h"
#include "http.h"
#include "winrm/shell.h"
#include "winrm/soap.h"

/* ---- the bed ------------------------------------------------------------------ */


static struct {
	char host[64], user[64], password[128], ca[512], cert[512], key[512], log[512];
	unsigned https_port, http_port;
} bed;

static int bed_up(void)
{
	char port[16] = "", hport[16] = "";

	if (bedfix_up("engine") < 0)
		return -1;
	bedfix_env("WINRM_HOST", bed.host, sizeof(bed.host));
	bedfix_env("WINRM_USER", bed.user, sizeof(bed.user));
	bedfix_env("WINRM_PASSWORD", bed.password, sizeof(bed.password));
	bedfix_env("WINRM_CA_CERT", bed.ca, sizeof(bed.ca));
	bedfix_env("WINRM_CLIENT_CERT", bed.cert, sizeof(bed.cert));
	bedfix_env("WINRM_CLIENT_KEY", bed.key, sizeof(bed.key));
	bedfix_env("WINRM_TESTHOST_LOG", bed.log, sizeof(bed.log));
	bedfix_env("WINRM_HTTPS_PORT", port, sizeof(port));
	bedfix_env("WINRM_HTTP_PORT", hport, sizeof(hport));
	bed.https_port = (unsigned)atoi(port);
	bed.http_port = (unsigned)atoi(hport);
	return bed.https_port && bed.password[0] && bed.log[0] ? 0 : -1;
}

/* ---- the test host's log --------------------------------------------------------- */

struct wire {
	int n_receive, n_send, n_signal, n_create, n_command, n_delete;
	int rx_conn_mixed;		/* Receive/Create/Command/Delete on >1 conns */
	char rx_conn[16], tx_conn[16], schemes[128];
	int shell_deletes, signals_terminate, signals_ctrl_c;
};

static void read_wire(long offset, struct wire *w)
{
	char *buf = bedfix_file_since(bed.log, offset), *line, *next, v[256], conn[16];

	memset(w, 0, sizeof(*w));
	for (line = buf; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] ? 1 : 0);
		if (!bedfix_jget(line, len, "event", v, sizeof(v)))
			continue;
		if (strcmp(v, "shell_delete") == 0)
			w->shell_deletes++;
		if (strcmp(v, "signal") == 0 && bedfix_jget(line, len, "code", v, sizeof(v))) {
			w->signals_terminate += strcmp(v, "terminate") == 0;
			w->signals_ctrl_c += strcmp(v, "ctrl_c") == 0;
			continue;
		}
		if (strcmp(v, "auth") == 0 && bedfix_jget(line, len, "scheme", v, sizeof(v)) &&
		    !strstr(w->schemes, v) && strlen(w->schemes) + strlen(v) + 2 < sizeof(w->schemes)) {
			strcat(w->schemes, v);
			strcat(w->schemes, " ");
			continue;
		}
		if (strcmp(v, "message") != 0 || !bedfix_jget(line, len, "action", v, sizeof(v)) ||
		    !bedfix_jget(line, len, "conn", conn, sizeof(conn)))
			continue;
		if (strstr(v, "/Send") || strstr(v, "/Signal")) {
			w->n_send += strstr(v, "/Send") != NULL;
			w->n_signal += strstr(v, "/Signal") != NULL;
			snprintf(w->tx_conn, sizeof(w->tx_conn), "%s", conn);
			continue;
		}
		w->n_receive += strstr(v, "/Receive") != NULL;
		w->n_create += strstr(v, "/Create") != NULL;
		w->n_command += strstr(v, "/Command") != NULL;
		w->n_delete += strstr(v, "/Delete") != NULL;
		if (!w->rx_conn[0])
			snprintf(w->rx_conn, sizeof(w->rx_conn), "%s", conn);
		else if (strcmp(w->rx_conn, conn) != 0)
			w->rx_conn_mixed++;
	}
	free(buf);
}

/* ---- credentials and targets --------------------------------------------------- */

static struct wb_cred_meta meta;
static struct wb_target target;

static struct wb_secret *password_cred(const char *password)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_PASSWORD);
	uint8_t *p = NULL;

	memset(&meta, 0, sizeof(meta));
	strcpy(meta.name, "bed-alice");
	meta.kind = WB_CRED_PASSWORD;
	snprintf(meta.user, sizeof(meta.user), "%s", bed.user);
	ck_assert_int_eq(wb_secret_set(&p, NULL, password, strlen(password)), 0);
	s->password = (char *)p;
	return s;
}

static void load_file(const char *path, uint8_t **dst, size_t *len)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ck_assert_int_eq(wb_secret_set(dst, len, buf, n), 0);
	sodium_memzero(buf, sizeof(buf));
}

static struct wb_secret *cert_cred(void)
{
	struct wb_secret *s = wb_secret_new(WB_CRED_CERTIFICATE);

	memset(&meta, 0, sizeof(meta));
	strcpy(meta.name, "bed-alice-cert");
	meta.kind = WB_CRED_CERTIFICATE;
	load_file(bed.cert, &s->cert_pem, &s->cert_len);
	load_file(bed.key, &s->key_pem, &s->key_len);
	return s;
}

static void https_target(enum wb_transport tr)
{
	wb_target_defaults(&target);
	snprintf(target.host, sizeof(target.host), "%s", bed.host);
	target.port = bed.https_port;
	target.https = true;
	target.transports[0] = tr;
	target.n_transports = 1;
	snprintf(target.ca_trust_path, sizeof(target.ca_trust_path), "%s", bed.ca);
}

/* ---- io ------------------------------------------------------------------------- */

struct io_ctx {
	struct wb_writer out, err;	/* captured (capped) */
	size_t out_total, err_total, max_chunk, calls;
	bool pattern;			/* check stdout against PATTERN */
	size_t pattern_bad;
	int stop_after;			/* on_output returns 1 after this many calls */
	const uint8_t *in;		/* stdin to feed */
	size_t in_len, in_off, in_chunk;
	int timer_fd, cancel_fd, event_fd;
	enum wb_input_type timer_event;	/* what the timer fd means */
	double t_event;			/* when the timer event was handed over */
};

#define PATTERN "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
#define PATTERN_LEN 63

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_output(void *vctx, int stream, const uint8_t *p, size_t n)
{
	struct io_ctx *c = vctx;
	size_t i;

	c->calls++;
	if (n > c->max_chunk)
		c->max_chunk = n;
	if (stream == 1) {
		if (c->pattern)
			for (i = 0; i < n; i++)
				c->pattern_bad += p[i] != PATTERN[(c->out_total + i) % PATTERN_LEN];
		c->out_total += n;
		wb_put(&c->out, p, c->out.len + n <= c->out.max ? n : 0);
	} else {
		c->err_total += n;
		wb_put(&c->err, p, c->err.len + n <= c->err.max ? n : 0);
	}
	return c->stop_after && (int)c->calls >= c->stop_after;
}

static int next_input(void *vctx, struct wb_input *ev)
{
	struct io_ctx *c = vctx;
	uint64_t v;
	size_t n;

	memset(ev, 0, sizeof(*ev));
	if (c->cancel_fd >= 0 && read(c->cancel_fd, &v, sizeof(v)) == sizeof(v)) {
		ev->type = WB_INPUT_CANCEL;
		c->t_event = now();
		return 0;
	}
	if (c->timer_fd >= 0 && read(c->timer_fd, &v, sizeof(v)) == sizeof(v)) {
		ev->type = c->timer_event;
		c->t_event = now();
		return 0;
	}
	if (c->in) {
		n = c->in_len - c->in_off;
		if (n > c->in_chunk)
			n = c->in_chunk;
		ev->type = WB_INPUT_STDIN;
		ev->data = c->in + c->in_off;
		ev->len = n;
		c->in_off += n;
		ev->eof = c->in_off == c->in_len;	/* the last chunk carries the end */
	}
	return 0;
}

static void io_init(struct io_ctx *c, struct wb_io *io)
{
	memset(c, 0, sizeof(*c));
	wb_writer_init(&c->out, 1 << 20, WB_PLAIN);
	wb_writer_init(&c->err, 1 << 20, WB_PLAIN);
	c->timer_fd = c->cancel_fd = c->event_fd = -1;
	io->ctx = c;
	io->on_output = on_output;
	io->next_input = next_input;
	io->wait_fds[0] = io->wait_fds[1] = -1;
	io->stdin_open = false;
}

static void io_free(struct io_ctx *c)
{
	wb_writer_free(&c->out);
	wb_writer_free(&c->err);
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	if (c->cancel_fd >= 0)
		close(c->cancel_fd);
	if (c->event_fd >= 0)
		close(c->event_fd);
}

static int timer_after(double sec)
{
	struct itimerspec its = { 0 };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	its.it_value.tv_sec = (time_t)sec;
	its.it_value.tv_nsec = (long)((sec - (double)(time_t)sec) * 1e9);
	ck_assert_int_eq(timerfd_settime(fd, 0, &its, NULL), 0);
	return fd;
}

static void ck_out(const struct io_ctx *c, const char *out, const char *err)
{
	ck_assert_uint_eq(c->out.len, strlen(out));
	if (c->out.len)
		ck_assert_mem_eq(c->out.data, out, strlen(out));
	ck_assert_uint_eq(c->err.len, strlen(err));
	if (c->err.len)
		ck_assert_mem_eq(c->err.data, err, strlen(err));
}

/* ---- tests ------------------------------------------------------------------------ */

static void run_out_err_exit(struct wb_secret *s, const char *scheme, enum wb_transport tr)
{
	static const char *const args[] = { "out;", "echo", "err", ">&2;", "exit", "3" };
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);
	struct wb_winrm_result res;
	int rc;

	io_init(&c, &io);
	rc = wb_winrm_run(&target, &meta, s, "echo", args, 6, &io, &res, &err);
	ck_assert_msg(rc == 0, "run: %s", err.msg);
	ck_assert_int_eq(res.exit_code, 3);
	ck_assert_int_eq(res.transport, tr);
	ck_out(&c, "out\n", "err\n");
	read_wire(off, &w);
	ck_assert_msg(strstr(w.schemes, scheme), "schemes seen: %s", w.schemes);
	ck_assert_int_eq(w.n_create, 1);
	ck_assert_int_eq(w.n_command, 1);
	ck_assert_int_ge(w.n_receive, 1);
	ck_assert_int_eq(w.n_delete, 1);
	ck_assert_int_eq(w.shell_deletes, 1);
	ck_assert_int_eq(w.rx_conn_mixed, 0);	/* one connection, kept alive */
	io_free(&c);
}

START_TEST(test_basic_stdout_stderr_exit)
{
	struct wb_secret *s = password_cred(bed.password);

	https_target(WB_TRANSPORT_BASIC);
	run_out_err_exit(s, "Basic", WB_TRANSPORT_BASIC);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_certificate_stdout_stderr_exit)
{
	struct wb_secret *s = cert_cred();

	/* Basic listed first does not fit a certificate: skipped. */
	https_target(WB_TRANSPORT_BASIC);
	target.transports[1] = WB_TRANSPORT_CERTIFICATE;
	target.n_transports = 2;
	run_out_err_exit(s, "Certificate", WB_TRANSPORT_CERTIFICATE);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_stdin_to_cat)
{
	size_t n = 200000, i;	/* several 64 KiB Sends */
	uint8_t *in = malloc(n);
	struct wb_secret *s = password_cred(bed.password);
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);
	struct wb_winrm_result res;

	for (i = 0; i < n; i++)
		in[i] = (uint8_t)PATTERN[i % PATTERN_LEN];
	https_target(WB_TRANSPORT_BASIC);
	io_init(&c, &io);
	c.in = in;
	c.in_len = n;
	c.in_chunk = 30000;
	c.pattern = true;
	/* Always readable: the engine asks for input whenever it can take it. */
	c.event_fd = eventfd(1, EFD_CLOEXEC);
	io.wait_fds[0] = c.event_fd;
	io.stdin_open = true;
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "cat", NULL, 0, &io, &res, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(c.out_total, n);
	ck_assert_uint_eq(c.pattern_bad, 0);
	read_wire(off, &w);
	ck_assert_int_ge(w.n_send, 4);	/* 200000 bytes in Sends of 64 KiB at most */
	ck_assert_str_ne(w.tx_conn, w.rx_conn);	/* stdin on its own connection */
	ck_assert_int_eq(w.rx_conn_mixed, 0);
	io_free(&c);
	wb_secret_free(s);
	free(in);
}
END_TEST

START_TEST(test_no_stdin_means_eof)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_winrm_result res;
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };

	https_target(WB_TRANSPORT_BASIC);
	io_init(&c, &io);	/* stdin_open false: cat must see end-of-file */
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "cat", NULL, 0, &io, &res, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(res.exit_code, 0);
	ck_out(&c, "", "");
	io_free(&c);
	wb_secret_free(s);
}
END_TEST

static long vm_hwm_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

START_TEST(test_5mb_stdout_streams)
{
	static const char *const args[] = { PATTERN_LEN == 63 ? "0123456789abcdefghijklmnopqrs"
					    "tuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" : "", "|", "head",
					    "-c", "5242880" };
	struct wb_secret *s = password_cred(bed.password);
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log), hwm0, hwm1;
	double t0;
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	io_init(&c, &io);
	/* Warm up first (TLS, CA store, libxml2), so the peak shows buffering. */
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, &io, &res, &err), 0);
	io_free(&c);
	io_init(&c, &io);
	c.pattern = true;
	c.out.max = 0;	/* count, keep nothing */
	off = bedfix_file_size(bed.log);
	hwm0 = vm_hwm_kb();
	t0 = now();
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "yes", args, 5, &io, &res, &err) == 0,
		      "%s", err.msg);
	hwm1 = vm_hwm_kb();
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_uint_eq(c.out_total, 5242880);
	ck_assert_uint_eq(c.pattern_bad, 0);
	/* One Receive answer at a time: a chunk never exceeds MaxEnvelopeSize. */
	ck_assert_uint_le(c.max_chunk, WB_SOAP_MAX_ENVELOPE);
	read_wire(off, &w);
	ck_assert_int_ge(w.n_receive, 5242880 / WB_SOAP_MAX_ENVELOPE);
	ck_assert_int_eq(w.rx_conn_mixed, 0);
	printf("5 MB stdout: %.2f s, %d Receives on one connection, largest chunk %zu bytes, "
	       "%zu callbacks, peak RSS grew %ld kB\n", now() - t0, w.n_receive, c.max_chunk,
	       c.calls, hwm1 - hwm0);
#ifndef __SANITIZE_ADDRESS__	/* ASan's quarantine holds freed memory */
	ck_assert_int_lt(hwm1 - hwm0, 2048);	/* 5 MB went through, < 2 MB stayed */
#endif
	io_free(&c);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_receive_retried_on_timeout)
{
	static const char *const args[] = { "2;", "echo", "late" };
	struct wb_secret *s = password_cred(bed.password);
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	target.operation_timeout_sec = 1;	/* the host answers TimedOut after 1 s */
	io_init(&c, &io);
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "sleep", args, 3, &io, &res, &err) == 0,
		      "%s", err.msg);
	ck_assert_int_eq(res.exit_code, 0);
	ck_out(&c, "late\n", "");
	read_wire(off, &w);
	ck_assert_int_ge(w.n_receive, 2);	/* at least one TimedOut, then the output */
	ck_assert_int_eq(w.rx_conn_mixed, 0);	/* all Receives on one connection */
	io_free(&c);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_ctrl_c_stops_sleep)
{
	static const char *const args[] = { "60" };
	struct wb_secret *s = password_cred(bed.password);
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);
	double t_end;
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	io_init(&c, &io);
	c.timer_fd = timer_after(1.0);
	c.timer_event = WB_INPUT_CTRL_C;
	io.wait_fds[0] = c.timer_fd;
	ck_assert_msg(wb_winrm_run(&target, &meta, s, "sleep", args, 1, &io, &res, &err) == 0,
		      "%s", err.msg);
	t_end = now();
	ck_assert(c.t_event > 0);
	ck_assert_msg(t_end - c.t_event < 3.0, "ctrl_c took %.2f s", t_end - c.t_event);
	ck_assert_int_ne(res.exit_code, 0);
	read_wire(off, &w);
	ck_assert_int_eq(w.signals_ctrl_c, 1);
	ck_assert_int_eq(w.n_signal, 1);
	ck_assert_str_ne(w.tx_conn, w.rx_conn);	/* not stuck behind the pending Receive */
	ck_assert_int_eq(w.shell_deletes, 1);
	printf("ctrl_c: sleep 60 ended %.3f s after the event, exit code %d\n",
	       t_end - c.t_event, res.exit_code);
	io_free(&c);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_cancel_terminates_and_deletes)
{
	static const char *const args[] = { "60" };
	struct wb_secret *s = password_cred(bed.password);
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);
	double t_end;
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	io_init(&c, &io);
	c.cancel_fd = timer_after(1.0);
	io.wait_fds[1] = c.cancel_fd;
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "sleep", args, 1, &io, &res, &err),
			 -WB_E_CANCELLED);
	t_end = now();
	ck_assert_int_eq(err.code, WB_E_CANCELLED);
	ck_assert_msg(t_end - c.t_event < 3.0, "cancel took %.2f s", t_end - c.t_event);
	read_wire(off, &w);
	ck_assert_int_eq(w.signals_terminate, 1);
	ck_assert_int_eq(w.shell_deletes, 1);
	io_free(&c);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_client_gone_cancels)
{
	static const char *const args[] = { "|", "head", "-c", "3000000" };
	struct wb_secret *s = password_cred(bed.password);
	struct io_ctx c;
	struct wb_io io;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	io_init(&c, &io);
	c.stop_after = 1;
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "yes", args, 4, &io, &res, &err),
			 -WB_E_CANCELLED);
	ck_assert_uint_lt(c.out_total, 3000000);
	read_wire(off, &w);
	ck_assert_int_eq(w.shell_deletes, 1);
	io_free(&c);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_test_credential)
{
	struct wb_secret *s = password_cred(bed.password), *bad = NULL;
	struct wb_winrm_result res;
	struct wb_error err = { 0 };
	struct wire w;
	long off = bedfix_file_size(bed.log);

	https_target(WB_TRANSPORT_BASIC);
	ck_assert_msg(wb_winrm_test(&target, &meta, s, NULL, &res, &err) == 0, "%s", err.msg);
	read_wire(off, &w);
	ck_assert_int_eq(w.n_create, 1);
	ck_assert_int_eq(w.n_delete, 1);
	ck_assert_int_eq(w.n_command, 0);
	wb_secret_free(s);

	bad = password_cred("not-the-password");
	ck_assert_int_eq(wb_winrm_test(&target, &meta, bad, NULL, &res, &err), -WB_E_AUTH);
	wb_secret_free(bad);

	/* server_cert_validation=ignore: no CA needed. */
	s = cert_cred();
	https_target(WB_TRANSPORT_CERTIFICATE);
	target.validate_cert = false;
	target.ca_trust_path[0] = '\0';
	ck_assert_msg(wb_winrm_test(&target, &meta, s, NULL, &res, &err) == 0, "%s", err.msg);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_wrong_password_is_auth)
{
	struct wb_secret *s = password_cred("wrong-password-123");
	struct wb_error err = { 0 };
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_AUTH);
	ck_assert_int_eq(err.code, WB_E_AUTH);
	ck_assert_ptr_null(strstr(err.msg, "wrong-password-123"));
	ck_assert_ptr_nonnull(strstr(err.msg, "alice"));
	printf("wrong password: %s\n", err.msg);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_wrong_ca_is_tls)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_error err = { 0 };
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	target.ca_trust_path[0] = '\0';	/* the system store does not know the bed's CA */
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_TLS);
	ck_assert_ptr_nonnull(strstr(err.msg, "ca_trust_path"));
	printf("wrong CA: %s\n", err.msg);
	/* A file that is no CA of the server. */
	https_target(WB_TRANSPORT_BASIC);
	snprintf(target.ca_trust_path, sizeof(target.ca_trust_path), "%s", bed.cert);
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_TLS);
	wb_secret_free(s);
}
END_TEST

static unsigned closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);	/* nothing listens there now */
	return ntohs(a.sin_port);
}

START_TEST(test_nothing_listening_is_connect)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_error err = { 0 };
	char port[16];
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	target.port = closed_port();
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_CONNECT);
	snprintf(port, sizeof(port), ":%u/", target.port);
	ck_assert_ptr_nonnull(strstr(err.msg, port));
	printf("nothing listening: %s\n", err.msg);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_ipv6_literal_is_bracketed)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_error err = { 0 };
	char want[64];
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	strcpy(target.host, "::1");	/* the bed listens on 127.0.0.1 only */
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_CONNECT);
	snprintf(want, sizeof(want), "https://[::1]:%u/wsman", bed.https_port);
	ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
	printf("IPv6: %s\n", err.msg);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_http_500_is_remote)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_error err = { 0 };
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	bedfix_set("{\"http_500\": 1}");
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "HTTP 500"));
	printf("http_500: %s\n", err.msg);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_basic_over_http_refused)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_error err = { 0 };
	long off = bedfix_file_size(bed.log);
	struct wire w;
	struct wb_winrm_result res;

	https_target(WB_TRANSPORT_BASIC);
	target.https = false;
	target.port = bed.http_port;
	ck_assert_int_eq(wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err),
			 -WB_E_INVALID);
	read_wire(off, &w);
	ck_assert_int_eq(w.n_create, 0);	/* nothing was sent */
	wb_secret_free(s);
}
END_TEST

/* A two-leg mechanism over Basic: an anonymous probe first, as connection-
 * bound mechanisms do, to drive http.c's handshake loop. */
static int probe_legs;
static char probe_challenge[256];

static int probe_next_token(struct wb_auth *a, long status, const char *challenge,
			    struct wb_writer *authz, struct wb_error *err)
{
	(void)a;
	(void)authz;
	probe_legs++;
	if (status == 0)
		return WB_AUTH_CONTINUE;	/* empty Authorization: an anonymous POST */
	if (status == 401 && challenge && strstr(challenge, "Basic realm=\"WSMAN\"")) {
		snprintf(probe_challenge, sizeof(probe_challenge), "%s", challenge);
		return WB_AUTH_DONE;
	}
	return wb_error_set(err, WB_E_AUTH, "probe: status %ld", status);
}

START_TEST(test_http_handshake_and_server_cert)
{
	struct wb_auth_ops probe = wb_auth_basic;
	struct wb_secret *s = password_cred(bed.password);
	struct wb_soap_req req = { 0 };
	struct wb_soap_fault f;
	struct wb_http_reply reply;
	struct wb_writer env;
	struct wb_error err = { 0 };
	struct wb_http *h = NULL;
	const struct wb_auth *a;
	char shell_id[WB_SOAP_ID_MAX];
	unsigned char *der = NULL;
	X509 *x;
	FILE *fp;
	int n;

	probe.next_token = probe_next_token;
	https_target(WB_TRANSPORT_BASIC);
	ck_assert_int_eq(wb_http_open(&target, &probe, &meta, s, NULL, WB_SOAP_MAX_ANSWER, &h,
				      &err), 0);
	wb_writer_init(&env, 1 << 20, WB_PLAIN);
	req.to = wb_http_url(h);
	req.operation_timeout_sec = 5;
	ck_assert_int_eq(wb_soap_create(&req, &env, NULL), 0);
	ck_assert_msg(wb_http_post(h, env.data, env.len, 10000, &reply, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(reply.status, 200);
	ck_assert_int_eq(probe_legs, 2);
	ck_assert_ptr_nonnull(strstr(probe_challenge, "Negotiate\n"));
	ck_assert_int_eq(wb_soap_parse_create(reply.body, reply.len, req.message_id, shell_id, &f,
					      &err), 0);

	/* The server certificate as the TLS layer saw it, for channel binding. */
	a = wb_http_auth(h);
	ck_assert_ptr_nonnull(a->server_cert_der);
	{
		char server_pem[600];

		snprintf(server_pem, sizeof(server_pem), "%s/certs/server.pem", bedfix_dir());
		fp = fopen(server_pem, "r");
		ck_assert_ptr_nonnull(fp);
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
		ck_assert_ptr_nonnull(x);
		n = i2d_X509(x, &der);
		ck_assert_int_gt(n, 0);
		ck_assert_uint_eq(a->server_cert_len, (size_t)n);
		ck_assert_mem_eq(a->server_cert_der, der, (size_t)n);
		OPENSSL_free(der);
		X509_free(x);
	}

	req.shell_id = shell_id;
	ck_assert_int_eq(wb_soap_delete(&req, &env, NULL), 0);
	ck_assert_int_eq(wb_http_post(h, env.data, env.len, 10000, &reply, &err), 0);
	ck_assert_int_eq(wb_soap_parse_ack(reply.body, reply.len, req.message_id, &f, &err), 0);
	ck_assert_int_eq(probe_legs, 2);	/* the connection stayed authenticated */
	wb_writer_free(&env);
	wb_http_close(h);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_answer_size_cap)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_soap_req req = { 0 };
	struct wb_http_reply reply;
	struct wb_writer env;
	struct wb_error err = { 0 };
	struct wb_http *h = NULL;

	https_target(WB_TRANSPORT_BASIC);
	/* A CreateResponse is over 1 KB: a 200-byte cap refuses it. */
	ck_assert_int_eq(wb_http_open(&target, &wb_auth_basic, &meta, s, NULL, 200, &h, &err), 0);
	wb_writer_init(&env, 1 << 20, WB_PLAIN);
	req.to = wb_http_url(h);
	req.operation_timeout_sec = 5;
	ck_assert_int_eq(wb_soap_create(&req, &env, NULL), 0);
	ck_assert_int_eq(wb_http_post(h, env.data, env.len, 10000, &reply, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "larger than 200 bytes"));
	wb_writer_free(&env);
	wb_http_close(h);
	wb_secret_free(s);
}
END_TEST

START_TEST(test_slow_host_is_timeout)
{
	struct wb_secret *s = password_cred(bed.password);
	struct wb_error err = { 0 };
	double t0;
	struct wb_winrm_result res;
	int rc;

	https_target(WB_TRANSPORT_BASIC);
	target.operation_timeout_sec = 1;
	target.read_timeout_sec = 2;
	bedfix_set("{\"latency_ms\": 3500}");
	t0 = now();
	rc = wb_winrm_run(&target, &meta, s, "echo", NULL, 0, NULL, &res, &err);
	bedfix_set("{\"latency_ms\": 0}");
	ck_assert_int_eq(rc, -WB_E_TIMEOUT);
	ck_assert_double_lt(now() - t0, 3.0);
	ck_assert_ptr_nonnull(strstr(err.msg, "read_timeout_sec"));
	printf("slow host: %s\n", err.msg);
	wb_secret_free(s);
}
END_TEST

static Suite *bed_suite(void)
{
	Suite *s = suite_create("engine-bed");
	TCase *ok = tcase_create("runs"), *bad = tcase_create("failures");

	tcase_add_test(ok, test_basic_stdout_stderr_exit);
	tcase_add_test(ok, test_certificate_stdout_stderr_exit);
	tcase_add_test(ok, test_stdin_to_cat);
	tcase_add_test(ok, test_no_stdin_means_eof);
	tcase_add_test(ok, test_5mb_stdout_streams);
	tcase_add_test(ok, test_receive_retried_on_timeout);
	tcase_add_test(ok, test_ctrl_c_stops_sleep);
	tcase_add_test(ok, test_cancel_terminates_and_deletes);
	tcase_add_test(ok, test_client_gone_cancels);
	tcase_add_test(ok, test_test_credential);
	tcase_add_test(ok, test_http_handshake_and_server_cert);
	tcase_add_test(bad, test_wrong_password_is_auth);
	tcase_add_test(bad, test_wrong_ca_is_tls);
	tcase_add_test(bad, test_nothing_listening_is_connect);
	tcase_add_test(bad, test_ipv6_literal_is_bracketed);
	tcase_add_test(bad, test_http_500_is_remote);
	tcase_add_test(bad, test_basic_over_http_refused);
	tcase_add_test(bad, test_answer_size_cap);
	tcase_add_test(bad, test_slow_host_is_timeout);
	tcase_set_timeout(ok, 60);
	tcase_set_timeout(bad, 30);
	suite_add_tcase(s, ok);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0 || wb_winrm_init() < 0)
		return 1;
	if (bed_up() < 0) {
		fprintf(stderr, "tests/bed/up failed\n");
		bedfix_down();
		return 1;
	}
	sr = srunner_create(bed_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	bedfix_down();
	wb_winrm_cleanup();
	return failed ? 1 : 0;
}
