/*
 * client.h - libwinrm-broker internals shared by its files (not installed).
 *
 * client.c owns the connection: the socket, HELLO, reading exactly one
 * frame at a time, sending a whole request and waiting for its reply, and
 * turning ERROR frames and broken connections into struct wbc_error.
 * run.c owns RUN streaming, cred.c the credential requests, target.c the
 * target options. Nothing here is exported (see libwinrm-broker.sym).
 */
#ifndef WBC_CLIENT_H
#define WBC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"
#include "winrm-broker.h"

enum wbci_state {
	WBCI_IDLE,	/* ready for a request */
	WBCI_RUN,	/* a RUN streams; only the run may use the connection */
	WBCI_LIST,	/* CRED_INFO frames follow until OK */
	WBCI_DEAD,	/* socket closed after a failure; reconnect */
};

struct wbc_conn {
	int fd;
	enum wbci_state state;
	int timeout_ms;			/* request/reply; -1 none */
	char server[128];		/* from the broker's HELLO */
	uint8_t *in;			/* one frame: WB_FRAME_HDR + WB_FRAME_MAX bytes */
	size_t in_len;
	size_t in_peak;			/* the most of in ever filled: what a wipe covers */
	bool in_done;			/* in holds a frame already handed out */
};

/* The request frame limit, as a wb_writer max. */
#define WBCI_FRAME_CAP (WB_FRAME_HDR + WB_FRAME_MAX)

int wbci_seterr(struct wbc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replaces control characters so a message is safe to print on a terminal. */
void wbci_clean(char *s);

/* Closes the socket; every later call on the connection fails. */
void wbci_kill(struct wbc_conn *c);
/* Zeroes the input buffer once the frame handed out is no longer needed
 * (it held a token) or the connection ends. */
void wbci_wipe_in(struct wbc_conn *c);
/* 0 when the connection can take a request, else the reason. */
int wbci_idle(struct wbc_conn *c, struct wbc_error *err);

/* One step of reading, without blocking: 1 and *f when a whole frame has
 * arrived (valid until the next call), 0 when more is needed, < 0 when the
 * connection failed (it is then dead). */
int wbci_recv(struct wbc_conn *c, struct wb_frame *f, struct wbc_error *err);
/* Waits up to timeout_ms (-1: forever) for a whole frame. */
int wbci_wait_frame(struct wbc_conn *c, struct wb_frame *f, int timeout_ms,
		    struct wbc_error *err);
/* Sends a whole frame, waiting for the socket as needed. */
int wbci_send(struct wbc_conn *c, const struct wb_writer *w, struct wbc_error *err);
/* Sends a request and waits for the first reply frame (c->timeout_ms). */
int wbci_request(struct wbc_conn *c, const struct wb_writer *w, struct wb_frame *f,
		 struct wbc_error *err);

/* The broker's ERROR frame as an error: returns its negative code. */
int wbci_error_reply(struct wbc_conn *c, const struct wb_frame *f, struct wbc_error *err);
/* A frame the state does not allow: kills the connection, WBC_E_PROTO. */
int wbci_unexpected(struct wbc_conn *c, const struct wb_frame *f, const char *during,
		    struct wbc_error *err);
/* The common reply of CRED_ADD/CRED_RM/CRED_TEST: OK, or ERROR. */
int wbci_expect_ok(struct wbc_conn *c, const struct wb_frame *f, const char *during,
		   struct wbc_error *err);
/* A string attribute, truncated to fit and cleaned; "" when absent. */
void wbci_attr_text(const struct wb_frame *f, uint16_t tag, char *buf, size_t size);
void wbci_attr_text_nth(const struct wb_frame *f, uint16_t tag, size_t nth, char *buf,
			size_t size);

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms); -1 stays -1. */
int64_t wbci_now_ms(void);
int wbci_left_ms(int64_t deadline);

/* --- target.c --- */
bool wbci_cred_name_ok(const char *name);
/* HOST and the options set, as attributes of the frame being built. */
int wbci_target_put(const struct wbc_target *t, struct wb_writer *w, struct wbc_error *err);

#endif
