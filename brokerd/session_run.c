/* session_run.c - RUN and CRED_TEST: the request becomes a resolved
 * target; the policy decides and the audit records it before the
 * credential is unsealed; the engine runs, and stdin, signals and output
 * are relayed between the client socket and the engine; the outcome is
 * audited. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "session_int.h"
#include "target.h"
#include "winrm/shell.h"

#define ARGS_MAX 1000
#define COMMAND_MAX 32768

void wb_session_req_free(struct wb_run_req *r)
{
	size_t i;

	free(r->command);
	for (i = 0; i < r->n_args; i++)
		free(r->args[i]);
	free(r->args);
	free(r->command_line);
	memset(r, 0, sizeof(*r));
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
int wb_session_parse_req(struct wb_session *s, const struct wb_frame *f, bool with_command,
			 struct wb_run_req *r, struct wb_error *err)
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
		r->command_line = wb_policy_command_join(r->command, (const char *const *)r->args,
							 r->n_args);
		if (!r->command_line)
			return wb_error_set(err, WB_E_INTERNAL, "out of memory");
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
	int timer_fd;			/* max_runtime_sec, or -1 */
	bool timed_out;
	uint64_t bytes[3];		/* stdin, stdout, stderr */
	struct wb_audit_transcript *transcript;
	bool transcript_failed;
	uint8_t stdin_buf[WB_STDIN_CHUNK];
};

/* The bytes of one stream, to the transcript when the rule asks for one;
 * a transcript that cannot be written stops the operation. */
static int record(struct relay *r, enum wb_audit_stream stream, const uint8_t *p, size_t n)
{
	struct wb_error err;

	r->bytes[stream] += n;
	if (!r->transcript || !n)
		return 0;
	if (wb_audit_transcript_write(r->transcript, stream, p, n, &err) < 0) {
		wb_log(LOG_ERR, "transcript: %s; cancelling the operation", err.msg);
		r->transcript_failed = true;
		return -1;
	}
	return 0;
}

static int on_output(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct relay *r = ctx;
	struct wb_session *s = r->s;

	if (record(r, stream == 2 ? WB_AUDIT_STDERR : WB_AUDIT_STDOUT, p, n) < 0)
		return -1;
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
	if (r->timer_fd >= 0 && !r->timed_out && read(r->timer_fd, &(uint64_t){ 0 }, 8) == 8) {
		r->timed_out = true;	/* max_runtime_sec: terminate the command */
		ev->type = WB_INPUT_TERMINATE;
		return 0;
	}
	if (r->transcript_failed) {
		ev->type = WB_INPUT_CANCEL;
		return 0;
	}
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
			if (record(r, WB_AUDIT_STDIN, v, len) < 0) {
				ev->type = WB_INPUT_CANCEL;
				return 0;
			}
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

/* What protects the messages: TLS, the mechanism's sealing, both or none. */
static const char *encryption_of(const struct wb_target *t, enum wb_transport tr)
{
	bool gss = tr == WB_TRANSPORT_NTLM || tr == WB_TRANSPORT_KERBEROS ||
		   tr == WB_TRANSPORT_NEGOTIATE || tr == WB_TRANSPORT_CREDSSP;
	bool sealed = gss && (t->message_encryption == WB_MSGENC_ALWAYS ||
			      (!t->https && t->message_encryption == WB_MSGENC_AUTO));

	if (t->https)
		return sealed ? "tls+message" : "tls";
	return sealed ? "message" : "none";
}

/* One operation from decision to outcome. */
struct op {
	struct wb_session *s;
	const struct wb_frame *f;
	bool run;
	struct wb_run_req r;
	struct wb_cred_meta meta;
	struct wb_policy_decision d;
	struct wb_audit_login login;
	char op_id[WB_AUDIT_OP_ID_LEN + 1];
	struct relay relay;
	struct wb_winrm_result res;
	struct timespec t0;
};

static void audit_event(const struct op *o, struct wb_audit_event *ev)
{
	const struct wb_peer *p = &o->s->peer;
	const struct wb_target *t = &o->r.target;

	memset(ev, 0, sizeof(*ev));
	ev->op_id = o->op_id;
	ev->operation = o->run ? "run" : "cred-test";
	ev->uid = p->uid;
	ev->user = p->user;
	ev->pid = p->pid;
	ev->exe = p->exe;
	ev->login = &o->login;
	ev->cred = o->r.cred;
	ev->host = t->host[0] ? t->host : o->r.host;
	ev->port = t->port;
	ev->command = o->r.command_line;
	ev->allowed = o->d.allow;
	ev->rule = o->d.rule;
	ev->reason = o->d.reason;
	ev->delegation = t->kerberos_delegation;
	if (t->n_transports)
		ev->transport = wb_transport_name(o->res.transport ? o->res.transport :
						  t->transports[0]);
}

/* Decides, and records the decision; < 0 with err set means refuse. A
 * decision that cannot be recorded is a refusal too (fail closed). */
static int decide(struct op *o, struct wb_error *err)
{
	struct wb_session *s = o->s;
	struct wb_audit_event ev;
	int rc;

	rc = wb_session_parse_req(s, o->f, o->run, &o->r, err);
	if (rc == 0)
		rc = wb_session_find_cred(s, &s->peer, o->r.cred, o->r.scope, &o->meta, NULL, err);
	if (rc == 0 && wb_session_decide(s, &s->peer, &o->meta, &o->r.target, o->r.command_line,
					 &o->d) < 0)
		rc = wb_error_set(err, WB_E_INVALID, "%s", o->d.reason);
	if (rc == 0 && !o->d.allow)
		rc = wb_error_set(err, WB_E_DENIED, "denied by %s: %s", o->d.rule, o->d.reason);
	if (rc < 0 && o->d.rule[0] == '\0') {
		/* Refused before the policy could look (no such credential, bad
		 * options): recorded as a denial all the same. */
		o->d.allow = false;
		snprintf(o->d.rule, sizeof(o->d.rule), "request");
		snprintf(o->d.reason, sizeof(o->d.reason), "%s", err->msg);
	}
	audit_event(o, &ev);
	if (wb_audit_decision(s->b->audit, &ev, rc < 0 ? NULL : err) < 0 && rc == 0)
		rc = wb_error_prefix(err, "operation refused: the audit record cannot be written");
	return rc;
}

/* The policy's own concurrency limit, on top of the broker's per-uid one. */
static int enter_limits(struct op *o, struct wb_error *err)
{
	struct wb_session *s = o->s;
	int rc = wb_broker_op_enter(s->b, s->peer.uid, err);

	if (rc == 0 && o->d.max_concurrent &&
	    wb_broker_uid_operations(s->b, s->peer.uid) > o->d.max_concurrent) {
		wb_broker_op_leave(s->b, s->peer.uid);
		rc = wb_error_set(err, WB_E_LIMIT, "uid %u already runs %u operation(s): "
				  "max_concurrent=%u of %s", (unsigned)s->peer.uid,
				  o->d.max_concurrent, o->d.max_concurrent, o->d.rule);
	}
	return rc;
}

/* The fd the engine watches for cancellation: the broker's shutdown
 * eventfd, or, under max_runtime_sec, an epoll set of it and a timer. */
static int cancel_watch(struct op *o, int *ep)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct itimerspec its = { .it_value = { .tv_sec = o->d.max_runtime_sec } };
	int cancel = o->s->b->cancel_fd;

	*ep = -1;
	o->relay.timer_fd = -1;
	if (!o->d.max_runtime_sec)
		return cancel;
	o->relay.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	*ep = epoll_create1(EPOLL_CLOEXEC);
	if (o->relay.timer_fd < 0 || *ep < 0 ||
	    timerfd_settime(o->relay.timer_fd, 0, &its, NULL) < 0 ||
	    epoll_ctl(*ep, EPOLL_CTL_ADD, o->relay.timer_fd, &e) < 0 ||
	    epoll_ctl(*ep, EPOLL_CTL_ADD, cancel, &e) < 0)
		return -1;
	return *ep;
}

/* Unseal, run (or test), relay. */
static int execute(struct op *o, struct wb_error *err)
{
	struct wb_session *s = o->s;
	struct wb_secret *sec = NULL;
	int ep, cancel, rc;

	rc = wb_session_find_cred(s, &s->peer, o->r.cred, o->r.scope, &o->meta, &sec, err);
	if (rc < 0)
		return rc;
	o->relay.s = s;
	cancel = cancel_watch(o, &ep);
	if (cancel < 0)
		rc = wb_error_set(err, WB_E_INTERNAL, "cannot set up max_runtime_sec");
	if (rc == 0 && o->d.transcript)
		rc = wb_audit_transcript_open(s->b->audit, o->op_id, &o->relay.transcript, err);
	if (rc == 0) {
		struct wb_io io = {
			.ctx = &o->relay,
			.on_output = on_output,
			.next_input = next_input,
			.wait_fds = { s->fd, cancel },
			.stdin_open = o->r.stdin_open,
			.tickets = s->b->tickets,
		};

		if (o->run)
			rc = wb_winrm_run(&o->r.target, &o->meta, sec, o->r.command,
					  (const char *const *)o->r.args, o->r.n_args, &io, &o->res,
					  err);
		else
			rc = wb_winrm_test(&o->r.target, &o->meta, sec, &io, &o->res, err);
	}
	wb_secret_free(sec);
	if (o->relay.timed_out)
		rc = wb_error_set(err, WB_E_TIMEOUT, "the command ran longer than max_runtime_sec=%u "
				  "of %s and was terminated", o->d.max_runtime_sec, o->d.rule);
	else if (o->relay.transcript_failed)
		rc = wb_error_set(err, WB_E_IO, "the transcript the policy asks for cannot be "
				  "written; operation cancelled");
	if (ep >= 0)
		close(ep);
	if (o->relay.timer_fd >= 0)
		close(o->relay.timer_fd);
	return rc;
}

static int record_outcome(struct op *o, int rc, const struct wb_error *err, struct wb_error *aerr)
{
	struct wb_audit_event ev;
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	audit_event(o, &ev);
	ev.encryption = encryption_of(&o->r.target, o->res.transport ? o->res.transport :
				      o->r.target.transports[0]);
	/* CredSSP always hands the host the password; Kerberos only when asked. */
	ev.delegation = o->res.transport == WB_TRANSPORT_CREDSSP ||
			(o->r.target.kerberos_delegation &&
			 (o->res.transport == WB_TRANSPORT_KERBEROS ||
			  o->res.transport == WB_TRANSPORT_NEGOTIATE));
	ev.error_code = rc < 0 ? err->code : 0;
	ev.error = rc < 0 ? err->msg : NULL;
	ev.has_exit_code = rc == 0 && o->run;
	ev.exit_code = o->res.exit_code;
	ev.stdin_bytes = o->relay.bytes[WB_AUDIT_STDIN];
	ev.stdout_bytes = o->relay.bytes[WB_AUDIT_STDOUT];
	ev.stderr_bytes = o->relay.bytes[WB_AUDIT_STDERR];
	ev.duration_ms = (uint64_t)(since(&o->t0) * 1000);
	ev.transcript = o->relay.transcript;
	return wb_audit_outcome(o->s->b->audit, &ev, aerr);
}

static void log_result(const struct op *o, int rc, const struct wb_error *err)
{
	const struct wb_peer *p = &o->s->peer;

	if (rc == 0)
		wb_log(LOG_INFO, "uid=%u pid=%d op=%s: %s cred=%s host=%s rule=\"%s\": exit %d in "
		       "%.1f s", (unsigned)p->uid, (int)p->pid, o->op_id, o->run ? "run" : "test",
		       o->r.cred, o->r.target.host, o->d.rule, o->res.exit_code, since(&o->t0));
	else
		wb_log(LOG_NOTICE, "uid=%u pid=%d op=%s: %s cred=%s host=%s: %s error: %s",
		       (unsigned)p->uid, (int)p->pid, o->op_id, o->run ? "run" : "test", o->r.cred,
		       o->r.host, wb_errcode_name(err->code), err->msg);
}

/* RUN and CRED_TEST share everything but the engine call. */
static int operate(struct wb_session *s, const struct wb_frame *f, bool run)
{
	struct op *o = calloc(1, sizeof(*o));
	struct wb_error err = { 0 }, aerr = { 0 };
	int rc, reply;

	if (!o)
		return -ENOMEM;
	o->s = s;
	o->f = f;
	o->run = run;
	clock_gettime(CLOCK_MONOTONIC, &o->t0);
	wb_audit_op_id(o->op_id);
	wb_audit_login_lookup(s->peer.pid, &o->login);
	rc = decide(o, &err);
	if (rc == 0 && o->d.allow) {
		wb_session_apply_transports(&o->r.target, &o->d);
		rc = enter_limits(o, &err);
		if (rc == 0) {
			rc = execute(o, &err);
			wb_broker_op_leave(s->b, s->peer.uid);
		}
		if (record_outcome(o, rc, &err, &aerr) < 0) {
			/* Ran, but unrecorded: the client hears of it, not of success. */
			err = aerr;
			wb_error_prefix(&err, "the %s ran, but its outcome could not be recorded in "
					"the audit", run ? "command" : "credential test");
			rc = -WB_E_IO;
		}
	}
	log_result(o, rc, &err);
	if (o->relay.client_gone)
		reply = -EPIPE;
	else if (rc < 0)
		reply = wb_session_send_error(s, &err);
	else
		reply = run ? send_exit(s, o->res.exit_code, wb_transport_name(o->res.transport))
			    : wb_session_send_ok(s);
	wb_audit_transcript_free(o->relay.transcript);
	wb_session_req_free(&o->r);
	free(o);
	return reply;
}

int wb_session_run(struct wb_session *s, const struct wb_frame *f)
{
	return operate(s, f, true);
}

int wb_session_cred_test(struct wb_session *s, const struct wb_frame *f)
{
	return operate(s, f, false);
}
