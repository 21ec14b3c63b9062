/* session_run.c - RUN and CRED_TEST: the request becomes a resolved
 * target and an unsealed credential, the engine runs, and stdin, signals
 * and output are relayed between the client socket and the engine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "options.h"
#include "session_int.h"
#include "target.h"
#include "winrm/shell.h"

#define ARGS_MAX 1000
#define COMMAND_MAX 32768

struct run_req {
	char cred[WB_CRED_NAME_MAX + 1];
	uint8_t scope;
	char host[WB_HOST_MAX + 3];	/* room for [brackets] */
	char *command;
	char **args;
	size_t n_args;
	bool stdin_open;
	struct wb_target target;
};

static void run_req_free(struct run_req *r)
{
	size_t i;

	free(r->command);
	for (i = 0; i < r->n_args; i++)
		free(r->args[i]);
	free(r->args);
}

static int dup_attr(const struct wb_frame *f, uint16_t tag, size_t nth, size_t max, char **out)
{
	const uint8_t *v;
	uint32_t len;

	if (wb_attr_find(f, tag, nth, &v, &len) < 0)
		return -ENOENT;
	if (len > max || memchr(v, '\0', len))
		return -EBADMSG;
	*out = strndup((const char *)v, len);
	return *out ? 0 : -ENOMEM;
}

/* CRED, SCOPE, HOST and the target options; for RUN also the command. */
static int parse_req(struct wb_session *s, const struct wb_frame *f, bool with_command,
		     struct run_req *r, struct wb_error *err)
{
	struct wb_request_options opts;
	struct wb_config_ref *ref;
	uint8_t open = 0;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	if (wb_attr_str(f, WB_A_CRED, 0, r->cred, sizeof(r->cred)) < 0 ||
	    !wb_cred_name_valid(r->cred))
		return wb_error_set(err, WB_E_INVALID, "CRED (a credential name) is required");
	wb_attr_u8(f, WB_A_SCOPE, &r->scope);
	if (wb_attr_str(f, WB_A_HOST, 0, r->host, sizeof(r->host)) < 0)
		return wb_error_set(err, WB_E_INVALID, "HOST is required (at most %d characters)",
				    WB_HOST_MAX);
	if (with_command) {
		if (dup_attr(f, WB_A_COMMAND, 0, COMMAND_MAX, &r->command) < 0 || !r->command[0])
			return wb_error_set(err, WB_E_INVALID, "COMMAND is required (text, at most %d "
					    "bytes)", COMMAND_MAX);
		r->n_args = wb_attr_count(f, WB_A_ARG);
		if (r->n_args > ARGS_MAX)
			return wb_error_set(err, WB_E_INVALID, "at most %d arguments", ARGS_MAX);
		r->args = calloc(r->n_args + 1, sizeof(char *));
		if (!r->args)
			return wb_error_set(err, WB_E_INTERNAL, "out of memory");
		for (i = 0; i < r->n_args; i++)
			if (dup_attr(f, WB_A_ARG, i, COMMAND_MAX, &r->args[i]) < 0)
				return wb_error_set(err, WB_E_INVALID, "argument %zu is not text", i + 1);
		wb_attr_u8(f, WB_A_STDIN_OPEN, &open);
		r->stdin_open = open == 1;
	}
	rc = wb_options_from_frame(f, &opts, err);
	if (rc < 0)
		return rc;
	ref = wb_broker_config_get(s->b);
	rc = wb_options_resolve(ref->config, r->host, &opts, &r->target, err);
	wb_broker_config_put(s->b, ref);
	return rc;
}

/* --- the bridge between the client socket and the engine --- */

struct relay {
	struct wb_session *s;
	bool client_gone;
	uint8_t stdin_buf[WB_STDIN_CHUNK];
};

static int on_output(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct relay *r = ctx;
	struct wb_session *s = r->s;

	while (n > 0) {
		size_t chunk = n < WB_STDIN_CHUNK ? n : WB_STDIN_CHUNK;

		if (wb_msg_begin(&s->w, stream == 2 ? WB_MSG_STDERR : WB_MSG_STDOUT) < 0 ||
		    wb_msg_put(&s->w, WB_A_DATA, p, chunk) < 0 || wb_msg_finish(&s->w) < 0 ||
		    wb_session_send(s) < 0) {
			r->client_gone = true;
			return -1;
		}
		p += chunk;
		n -= chunk;
	}
	return 0;
}

/* A protocol error during a RUN: tell the client, cancel the run. */
static int refuse_input(struct relay *r, struct wb_input *ev, const char *why)
{
	struct wb_error err;

	wb_error_set(&err, WB_E_PROTO, "%s", why);
	wb_session_send_error(r->s, &err);
	r->client_gone = true;
	ev->type = WB_INPUT_CANCEL;
	return 0;
}

/* One client frame while the command runs: stdin, stdin EOF or a signal.
 * Anything else, or a closed connection, cancels the run. */
static int next_input(void *ctx, struct wb_input *ev)
{
	struct relay *r = ctx;
	struct wb_frame f;
	const uint8_t *v = NULL;
	uint32_t len = 0;
	uint8_t u8 = 0;
	int rc;

	memset(ev, 0, sizeof(*ev));
	rc = wb_session_read(r->s, 0, &f);
	if (rc == -ETIMEDOUT) {
		ev->type = WB_INPUT_NONE;
		return 0;
	}
	if (rc == -ECANCELED) {
		ev->type = WB_INPUT_CANCEL;
		return 0;
	}
	if (rc < 0) {
		r->client_gone = true;
		ev->type = WB_INPUT_CANCEL;
		return 0;
	}
	if (f.type == WB_MSG_STDIN) {
		if (wb_attr_find(&f, WB_A_DATA, 0, &v, &len) == 0 && len > sizeof(r->stdin_buf))
			return refuse_input(r, ev, "a STDIN frame carries at most 65536 bytes");
		if (len > 0 && v) {
			memcpy(r->stdin_buf, v, len);
			ev->type = WB_INPUT_STDIN;
			ev->data = r->stdin_buf;
			ev->len = len;
		}
		if (wb_attr_u8(&f, WB_A_EOF, &u8) == 0 && u8 == 1)
			ev->eof = true;
		if (ev->type != WB_INPUT_STDIN)
			ev->type = ev->eof ? WB_INPUT_STDIN : WB_INPUT_NONE;
		return 0;
	}
	if (f.type == WB_MSG_SIGNAL && wb_attr_u8(&f, WB_A_SIGNAL, &u8) == 0 &&
	    (u8 == WB_SIGNAL_CTRL_C || u8 == WB_SIGNAL_TERMINATE)) {
		ev->type = u8 == WB_SIGNAL_CTRL_C ? WB_INPUT_CTRL_C : WB_INPUT_TERMINATE;
		return 0;
	}
	return refuse_input(r, ev, "only STDIN and SIGNAL frames may come during a RUN");
}

static void log_result(struct wb_session *s, const char *what, const struct run_req *r,
		       const struct wb_error *err, int rc, int exit_code, double secs)
{
	if (rc == 0)
		wb_log(LOG_INFO, "uid=%u pid=%d: %s cred=%s host=%s: exit %d in %.1f s",
		       (unsigned)s->peer.uid, (int)s->peer.pid, what, r->cred, r->target.host,
		       exit_code, secs);
	else
		wb_log(LOG_NOTICE, "uid=%u pid=%d: %s cred=%s host=%s: %s error: %s",
		       (unsigned)s->peer.uid, (int)s->peer.pid, what, r->cred, r->host,
		       wb_errcode_name(err->code), err->msg);
}

static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int send_exit(struct wb_session *s, int exit_code, const char *transport)
{
	if (wb_msg_begin(&s->w, WB_MSG_EXIT) < 0 ||
	    wb_msg_put_u32(&s->w, WB_A_EXIT_CODE, (uint32_t)exit_code) < 0 ||
	    wb_msg_put_str(&s->w, WB_A_TRANSPORT, transport) < 0 || wb_msg_finish(&s->w) < 0)
		return -ENOMEM;
	return wb_session_send(s);
}

/* RUN and CRED_TEST share everything but the engine call. */
static int operate(struct wb_session *s, const struct wb_frame *f, bool run)
{
	struct relay relay = { .s = s };
	struct wb_error err = { 0 };
	struct wb_secret *sec = NULL;
	struct wb_cred_meta meta;
	struct wb_winrm_result res = { 0 };
	struct timespec t0;
	struct run_req r;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = parse_req(s, f, run, &r, &err);
	if (rc == 0)
		rc = wb_broker_op_enter(s->b, s->peer.uid, &err);
	if (rc == 0) {
		struct wb_io io = {
			.ctx = &relay,
			.on_output = on_output,
			.next_input = next_input,
			.wait_fds = { s->fd, s->b->cancel_fd },
			.stdin_open = r.stdin_open,
			.tickets = s->b->tickets,
		};

		rc = wb_session_find_cred(s, r.cred, r.scope, &meta, &sec, &err);
		if (rc == 0 && run)
			rc = wb_winrm_run(&r.target, &meta, sec, r.command,
					  (const char *const *)r.args, r.n_args, &io, &res, &err);
		else if (rc == 0)
			rc = wb_winrm_test(&r.target, &meta, sec, &io, &res, &err);
		wb_secret_free(sec);
		wb_broker_op_leave(s->b, s->peer.uid);
	}
	log_result(s, run ? "run" : "test", &r, &err, rc, res.exit_code, since(&t0));
	run_req_free(&r);
	if (relay.client_gone)
		return -EPIPE;
	if (rc < 0)
		return wb_session_send_error(s, &err);
	return run ? send_exit(s, res.exit_code, wb_transport_name(res.transport))
		   : wb_session_send_ok(s);
}

int wb_session_run(struct wb_session *s, const struct wb_frame *f)
{
	return operate(s, f, true);
}

int wb_session_cred_test(struct wb_session *s, const struct wb_frame *f)
{
	return operate(s, f, false);
}
