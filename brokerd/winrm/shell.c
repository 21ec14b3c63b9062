/* shell.c - the remote shell lifecycle with streaming I/O (see shell.h). */
#include "shell.h"

#include <stdbool.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "auth.h"
#include "http.h"
#include "soap.h"

#define CLEANUP_TIMEOUT_MS 3000		/* terminate and Delete after a cancellation */
#define STDIN_PENDING_MAX (16u << 20)	/* one oversized input event at most */
#define ENVELOPE_MAX (1u << 20)

enum tx_what { TX_IDLE, TX_SEND, TX_SIGNAL };

struct run {
	const struct wb_io *io;
	struct wb_http *rx;		/* Create, Command, Receive, Delete */
	struct wb_http *tx;		/* Send, Signal */
	struct wb_soap_req req;
	char shell_id[WB_SOAP_ID_MAX];
	char command_id[WB_SOAP_ID_MAX];
	char rx_id[WB_SOAP_ID_MAX];	/* MessageID in flight on rx */
	char tx_id[WB_SOAP_ID_MAX];
	long timeout_ms;
	struct wb_writer env;		/* envelope scratch */

	struct wb_writer pending;	/* stdin not yet sent */
	size_t pending_off;
	struct wb_writer inflight;	/* stdin of the Send in flight, for a retry */
	bool inflight_end;
	enum tx_what tx_what;
	bool eof_seen, eof_sent, stdin_failed, ctrl_c;
	bool running;			/* the command started and is not Done */
};

int wb_winrm_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -WB_E_INTERNAL;
	xmlInitParser();
	return 0;
}

void wb_winrm_cleanup(void)
{
	xmlCleanupParser();
	curl_global_cleanup();
}

/* The HTTP timeout: a Receive may rightly take OperationTimeout to answer. */
static long read_timeout_ms(const struct wb_target *t, unsigned op)
{
	unsigned rd = t->read_timeout_sec;

	if (rd <= op)
		rd = op + 10;
	return (long)rd * 1000;
}

static int open_run(struct run *r, const struct wb_target *t, const struct wb_cred_meta *meta,
		    const struct wb_secret *sec, const struct wb_io *io, bool two,
		    struct wb_winrm_result *res, struct wb_error *err)
{
	struct wb_tickets *tickets = io ? io->tickets : NULL;
	const struct wb_auth_ops *mech;
	int rc;

	memset(r, 0, sizeof(*r));
	r->io = io;
	wb_writer_init(&r->env, ENVELOPE_MAX, WB_PLAIN);
	wb_writer_init(&r->pending, STDIN_PENDING_MAX, WB_PLAIN);
	wb_writer_init(&r->inflight, WB_SOAP_SEND_MAX, WB_PLAIN);
	r->req.operation_timeout_sec = t->operation_timeout_sec ? t->operation_timeout_sec : 20;
	r->timeout_ms = read_timeout_ms(t, r->req.operation_timeout_sec);
	rc = wb_auth_select(t, meta, sec, &mech, err);
	if (rc == 0) {
		res->transport = mech->transport;
		/* No stdin: the command reads end-of-file, not a pipe left open. */
		r->eof_seen = !io || !io->stdin_open;
	}
	if (rc == 0)
		rc = wb_http_open(t, mech, meta, sec, tickets, WB_SOAP_MAX_ANSWER, &r->rx, err);
	if (rc == 0 && two)
		rc = wb_http_open(t, mech, meta, sec, tickets, WB_SOAP_MAX_ANSWER, &r->tx, err);
	if (rc == 0)
		r->req.to = wb_http_url(r->rx);
	return rc;
}

static void close_run(struct run *r)
{
	wb_http_close(r->rx);
	wb_http_close(r->tx);
	wb_writer_free(&r->env);
	wb_writer_free(&r->pending);
	wb_writer_free(&r->inflight);
}

/* ---- caller input ----------------------------------------------------------- */

/* One input event; negative (WB_E_CANCELLED) ends the operation. */
static int absorb(struct run *r, const struct wb_input *ev, struct wb_error *err)
{
	switch (ev->type) {
	case WB_INPUT_STDIN:
		if (r->eof_seen)
			return 0;
		r->eof_seen = ev->eof;
		if (r->stdin_failed || !ev->len)
			return 0;
		if (r->pending_off == r->pending.len)
			r->pending.len = r->pending_off = 0;
		if (wb_put(&r->pending, ev->data, ev->len) < 0)
			return wb_error_set(err, WB_E_LIMIT, "stdin: more than %u bytes queued",
					    STDIN_PENDING_MAX);
		return 0;
	case WB_INPUT_CTRL_C:
		r->ctrl_c = true;
		return 0;
	case WB_INPUT_TERMINATE:
		return wb_error_set(err, WB_E_CANCELLED, "the command was terminated at the "
				    "client's request");
	case WB_INPUT_CANCEL:
		return wb_error_set(err, WB_E_CANCELLED, "the operation was cancelled (client "
				    "gone or broker stopping)");
	default:
		return 0;
	}
}

static int read_input(struct run *r, struct wb_error *err)
{
	struct wb_input ev = { 0 };

	if (!r->io || !r->io->next_input)
		return 0;
	if (r->io->next_input(r->io->ctx, &ev) < 0)
		return wb_error_set(err, WB_E_CANCELLED, "the client's input failed; cancelled");
	return absorb(r, &ev, err);
}

static int cancel_fd(const struct run *r)
{
	return r->io ? r->io->wait_fds[1] : -1;
}

/* ---- one blocking request (Create, Command, Delete) ------------------------ */

static int call(struct run *r, struct wb_http *h, long timeout_ms, bool watch_cancel,
		struct wb_http_reply *reply, struct wb_error *err)
{
	int fd = watch_cancel ? cancel_fd(r) : -1;
	unsigned ready;
	int rc;

	rc = wb_http_begin(h, r->env.data, r->env.len, timeout_ms, err);
	while (rc == 0 && !wb_http_done(h)) {
		rc = wb_http_wait(&h, 1, &fd, 1, -1, &ready, err);
		if (rc == 0 && ready)
			rc = read_input(r, err);
	}
	if (rc < 0) {
		wb_http_abort(h);
		return rc;
	}
	return wb_http_finish(h, reply, err);	/* 200, or 500 with a SOAP body */
}

/* A 500 must carry a fault: a parser that accepted it saw none. */
static int check_500(const struct wb_http_reply *reply, int rc, struct wb_error *err)
{
	if (rc == 0 && reply->status == 500)
		return wb_error_set(err, WB_E_REMOTE, "HTTP 500 with an answer that is no fault");
	return rc;
}

static int create_shell(struct run *r, struct wb_error *err)
{
	struct wb_http_reply reply;
	struct wb_soap_fault fault;
	int rc;

	rc = wb_soap_create(&r->req, &r->env, err);
	if (rc == 0)
		rc = call(r, r->rx, r->timeout_ms, true, &reply, err);
	if (rc == 0) {
		rc = wb_soap_parse_create(reply.body, reply.len, r->req.message_id, r->shell_id,
					  &fault, err);
		rc = check_500(&reply, rc, err);
		if (rc < 0)
			wb_error_prefix(err, "creating a shell on %s", wb_http_url(r->rx));
	}
	if (rc == 0)
		r->req.shell_id = r->shell_id;
	return rc;
}

static int start_command(struct run *r, const char *command, const char *const *args,
			 size_t n_args, struct wb_error *err)
{
	struct wb_http_reply reply;
	struct wb_soap_fault fault;
	int rc;

	rc = wb_soap_command(&r->req, command, args, n_args, &r->env, err);
	if (rc == 0)
		rc = call(r, r->rx, r->timeout_ms, true, &reply, err);
	if (rc == 0) {
		rc = wb_soap_parse_command(reply.body, reply.len, r->req.message_id, r->command_id,
					   &fault, err);
		rc = check_500(&reply, rc, err);
		if (rc < 0)
			wb_error_prefix(err, "starting the command on %s", wb_http_url(r->rx));
	}
	r->running = rc == 0;
	return rc;
}

/*
 * Best effort, never changing the operation's result. After a failure or a
 * cancellation: terminate the command and Delete, each within a short
 * timeout, on tx (rx's connection may have been dropped mid-Receive).
 */
static void delete_shell(struct run *r, bool failed)
{
	struct wb_http_reply reply;
	struct wb_soap_fault fault;
	struct wb_error ignored;
	struct wb_http *h = r->rx;
	long tmo = failed ? CLEANUP_TIMEOUT_MS : r->timeout_ms;
	int rc;

	wb_http_abort(r->rx);
	if (r->tx)
		wb_http_abort(r->tx);
	if (!r->shell_id[0])
		return;
	if (failed && r->running && r->tx) {
		if (wb_soap_signal(&r->req, r->command_id, WB_SOAP_TERMINATE, &r->env,
				   &ignored) == 0 &&
		    call(r, r->tx, CLEANUP_TIMEOUT_MS, false, &reply, &ignored) == 0)
			wb_soap_parse_ack(reply.body, reply.len, r->req.message_id, &fault,
					  &ignored);
		h = r->tx;
	}
	rc = wb_soap_delete(&r->req, &r->env, &ignored);
	if (rc == 0)
		rc = call(r, h, tmo, !failed, &reply, &ignored);
	if (rc < 0 && !failed && wb_soap_delete(&r->req, &r->env, &ignored) == 0)
		rc = call(r, h, CLEANUP_TIMEOUT_MS, false, &reply, &ignored);	/* cancelled meanwhile */
	if (rc == 0)
		wb_soap_parse_ack(reply.body, reply.len, r->req.message_id, &fault, &ignored);
	r->shell_id[0] = '\0';
}

/* ---- streaming ------------------------------------------------------------- */

static int begin_receive(struct run *r, struct wb_error *err)
{
	int rc = wb_soap_receive(&r->req, r->command_id, &r->env, err);

	if (rc == 0) {
		memcpy(r->rx_id, r->req.message_id, sizeof(r->rx_id));
		rc = wb_http_begin(r->rx, r->env.data, r->env.len, r->timeout_ms, err);
	}
	return rc;
}

/* 1 when the command is Done, 0 to receive again, negative on failure. */
static int on_receive(struct run *r, int *exit_code, struct wb_error *err)
{
	struct wb_soap_received got;
	struct wb_http_reply reply;
	struct wb_soap_fault fault;
	size_t i;
	int rc;

	rc = wb_http_finish(r->rx, &reply, err);
	if (rc < 0)
		return rc;
	rc = wb_soap_parse_receive(reply.body, reply.len, r->rx_id, r->command_id, &got,
				   &fault, err);
	if (rc < 0 && fault.present && fault.wsman_code == WB_WSMAN_TIMED_OUT)
		return 0;	/* no output within OperationTimeout: ask again */
	rc = check_500(&reply, rc, err);
	if (rc < 0)
		wb_error_prefix(err, "receiving output from %s", wb_http_url(r->rx));
	for (i = 0; i < got.n_chunks && rc == 0; i++) {
		const struct wb_soap_chunk *c = &got.chunks[i];

		if (c->len && r->io && r->io->on_output &&
		    r->io->on_output(r->io->ctx, c->stream, c->data, c->len) != 0)
			rc = wb_error_set(err, WB_E_CANCELLED, "the client went away; cancelled");
	}
	if (rc == 0 && got.done) {
		*exit_code = got.exit_code;
		r->running = false;
		rc = 1;
	}
	wb_soap_received_free(&got);
	return rc;
}

static int begin_tx(struct run *r, enum tx_what what, struct wb_error *err)
{
	memcpy(r->tx_id, r->req.message_id, sizeof(r->tx_id));
	r->tx_what = what;
	return wb_http_begin(r->tx, r->env.data, r->env.len, r->timeout_ms, err);
}

static int send_inflight(struct run *r, struct wb_error *err)
{
	int rc = wb_soap_send(&r->req, r->command_id, r->inflight.data, r->inflight.len,
			      r->inflight_end, &r->env, err);

	return rc < 0 ? rc : begin_tx(r, TX_SEND, err);
}

/* Starts the next Signal or Send on tx, if there is one. */
static int next_tx(struct run *r, struct wb_error *err)
{
	size_t left = r->pending.len - r->pending_off, n;
	int rc;

	if (r->ctrl_c) {
		r->ctrl_c = false;
		rc = wb_soap_signal(&r->req, r->command_id, WB_SOAP_CTRL_C, &r->env, err);
		return rc < 0 ? rc : begin_tx(r, TX_SIGNAL, err);
	}
	if (r->stdin_failed || r->eof_sent || (!left && !r->eof_seen))
		return 0;
	n = left < WB_SOAP_SEND_MAX ? left : WB_SOAP_SEND_MAX;
	r->inflight.len = 0;
	if (n && wb_put(&r->inflight, r->pending.data + r->pending_off, n) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "stdin: out of memory");
	r->pending_off += n;
	r->inflight_end = r->eof_seen && r->pending_off == r->pending.len;
	return send_inflight(r, err);
}

static int on_tx(struct run *r, struct wb_error *err)
{
	struct wb_http_reply reply;
	struct wb_soap_fault fault;
	struct wb_error e;
	enum tx_what what = r->tx_what;
	int rc;

	r->tx_what = TX_IDLE;
	rc = wb_http_finish(r->tx, &reply, err);
	if (rc < 0)
		return rc;
	rc = wb_soap_parse_ack(reply.body, reply.len, r->tx_id, &fault, &e);
	rc = check_500(&reply, rc, &e);
	if (rc == 0) {
		if (what == TX_SEND && r->inflight_end)
			r->eof_sent = true;
		return 0;
	}
	if (!fault.present) {	/* not a fault: a broken or foreign answer */
		*err = e;
		return wb_error_prefix(err, "%s on %s", what == TX_SEND ? "Send" : "Signal",
				       wb_http_url(r->tx));
	}
	if (what == TX_SEND && fault.wsman_code == WB_WSMAN_TIMED_OUT)
		return send_inflight(r, err);	/* the host's stdin queue was full */
	if (what == TX_SEND) {
		/* The command no longer reads stdin (it exited, say): stop
		 * forwarding it and keep its output coming. */
		r->stdin_failed = true;
		r->pending.len = r->pending_off = 0;
	}
	return 0;	/* a failed ctrl_c: the command may be finishing anyway */
}

/* The client stays watched after stdin's end: Ctrl-C, or its going away. */
static bool want_input(const struct run *r)
{
	return r->io && r->io->wait_fds[0] >= 0 && r->pending_off == r->pending.len;
}

static int stream(struct run *r, int *exit_code, struct wb_error *err)
{
	struct wb_http *hs[2] = { r->rx, r->tx };
	unsigned ready;
	int fds[2], rc;

	for (;;) {
		if (!wb_http_busy(r->rx) && !wb_http_done(r->rx)) {
			rc = begin_receive(r, err);
			if (rc < 0)
				return rc;
		}
		if (!wb_http_busy(r->tx) && !wb_http_done(r->tx)) {
			rc = next_tx(r, err);
			if (rc < 0)
				return rc;
		}
		fds[0] = want_input(r) ? r->io->wait_fds[0] : -1;
		fds[1] = cancel_fd(r);
		rc = wb_http_wait(hs, 2, fds, 2, -1, &ready, err);
		if (rc == 0 && wb_http_done(r->rx)) {
			rc = on_receive(r, exit_code, err);
			if (rc == 1)
				return 0;
		}
		if (rc == 0 && wb_http_done(r->tx))
			rc = on_tx(r, err);
		if (rc == 0 && ready)
			rc = read_input(r, err);
		if (rc < 0)
			return rc;
	}
}

/* ---- public ---------------------------------------------------------------- */

int wb_winrm_run(const struct wb_target *t, const struct wb_cred_meta *meta,
		 const struct wb_secret *sec, const char *command, const char *const *args,
		 size_t n_args, const struct wb_io *io, struct wb_winrm_result *res,
		 struct wb_error *err)
{
	struct run r;
	int rc;

	res->exit_code = -1;
	res->transport = 0;
	rc = open_run(&r, t, meta, sec, io, true, res, err);
	if (rc == 0)
		rc = create_shell(&r, err);
	if (rc == 0)
		rc = start_command(&r, command, args, n_args, err);
	if (rc == 0)
		rc = stream(&r, &res->exit_code, err);
	if (r.rx)
		delete_shell(&r, rc < 0);
	close_run(&r);
	return rc;
}

int wb_winrm_test(const struct wb_target *t, const struct wb_cred_meta *meta,
		  const struct wb_secret *sec, const struct wb_io *io,
		  struct wb_winrm_result *res, struct wb_error *err)
{
	struct run r;
	int rc;

	res->exit_code = 0;
	res->transport = 0;
	rc = open_run(&r, t, meta, sec, io, false, res, err);
	if (rc == 0)
		rc = create_shell(&r, err);
	if (r.rx)
		delete_shell(&r, rc < 0);
	close_run(&r);
	return rc;
}
