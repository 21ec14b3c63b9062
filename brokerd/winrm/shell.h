/*
 * shell.h - run one command on a WinRM host through a remote shell
 * (MS-WSMV 3.1.4: Create, Command, Send, Receive, Signal, Delete), streaming
 * its output to the caller and the caller's input to it.
 *
 * Two connections per operation, each authenticated the same way: one for
 * Create, Command, Receive and Delete; one for Send and Signal, so a Receive
 * the host holds for up to OperationTimeout never delays stdin or Ctrl-C.
 * Output goes to the caller as each Receive answer arrives; a slow caller
 * (a blocking on_output) slows the Receives down, so output is never
 * buffered beyond one answer. The shell is deleted on every exit path.
 */
#ifndef WB_SHELL_H
#define WB_SHELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "error.h"
#include "target.h"

struct wb_tickets;

enum wb_input_type {
	WB_INPUT_NONE = 0,	/* nothing after all */
	WB_INPUT_STDIN,		/* data (may be empty) and/or eof */
	WB_INPUT_CTRL_C,	/* send a ctrl_c Signal */
	WB_INPUT_TERMINATE,	/* kill the command: terminate Signal, Delete */
	WB_INPUT_CANCEL,	/* client gone or broker stopping: same */
};

struct wb_input {
	enum wb_input_type type;
	const uint8_t *data;	/* STDIN: valid until the next next_input call */
	size_t len;
	bool eof;		/* STDIN: this was the last of it */
};

struct wb_io {
	void *ctx;
	/* Output as it arrives (stream 1 stdout, 2 stderr); may block. Non-zero:
	 * the client is gone, cancel. */
	int (*on_output)(void *ctx, int stream, const uint8_t *p, size_t n);
	/* Called when a wait fd is readable; fills *ev. Negative: cancel. */
	int (*next_input)(void *ctx, struct wb_input *ev);
	/*
	 * wait_fds[0]: the client (stdin, signals), polled while the engine can
	 * take input: not while earlier stdin still waits to be sent.
	 * wait_fds[1]: cancellation (an eventfd), polled always, also during
	 * Create, Command and Delete; when it is readable next_input must report
	 * WB_INPUT_CANCEL or WB_INPUT_TERMINATE. -1 = unused.
	 */
	int wait_fds[2];
	/* false: the command gets no stdin (End is sent at once). */
	bool stdin_open;
	/* The broker's Kerberos TGT cache (krb5_tickets.h), borrowed; NULL:
	 * kerberos and negotiate-with-Kerberos are unavailable. */
	struct wb_tickets *tickets;
};

struct wb_winrm_result {
	int exit_code;			/* when the command finished */
	enum wb_transport transport;	/* the transport used (0 if none fit) */
};

/* Once at start-up, before threads: curl_global_init and xmlInitParser. */
int wb_winrm_init(void);
void wb_winrm_cleanup(void);

/*
 * Runs command (+ args, each a separate rsp:Arguments) on t with the first
 * transport of t that fits the credential. 0 and res->exit_code when the
 * command finished; WB_E_CANCELLED when io cancelled or the client went
 * away; other WB_E_* for failures, with err saying what and why. Blocks the
 * calling thread for the whole operation.
 */
int wb_winrm_run(const struct wb_target *t, const struct wb_cred_meta *meta,
		 const struct wb_secret *sec, const char *command, const char *const *args,
		 size_t n_args, const struct wb_io *io, struct wb_winrm_result *res,
		 struct wb_error *err);

/*
 * Proves the credential works on t without running anything: Create and
 * Delete a shell. io may be NULL; only its cancellation fd (wait_fds[1]) and
 * next_input are used.
 */
int wb_winrm_test(const struct wb_target *t, const struct wb_cred_meta *meta,
		  const struct wb_secret *sec, const struct wb_io *io,
		  struct wb_winrm_result *res, struct wb_error *err);

#endif
