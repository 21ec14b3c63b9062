/*
 * http.h - one HTTP(S) connection to a WinRM host (libcurl), authenticated
 * by one mechanism instance (auth.h) for its whole life.
 *
 * Owns: the curl handles, TLS validation per target, keep-alive reuse, the
 * handshake loop and message encryption calls into the mechanism, the
 * response size cap, timeouts, and the mapping of failures to WB_E_CONNECT,
 * WB_E_TLS, WB_E_TIMEOUT, WB_E_AUTH and WB_E_REMOTE.
 *
 * Each connection has its own curl multi handle, hence its own connection
 * cache: a connection never serves another wb_http's requests, which
 * connection-bound mechanisms (NTLM, Kerberos, CredSSP) need. Requests run
 * without blocking: wb_http_begin() starts one, wb_http_wait() drives every
 * connection passed to it while also waiting on the caller's fds.
 *
 * The caller (winrm/shell.c) must call curl_global_init() once at start-up.
 */
#ifndef WB_HTTP_H
#define WB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "cred.h"
#include "error.h"
#include "target.h"

struct wb_http;

struct wb_http_reply {
	long status;		/* 200, or 500 carrying a SOAP body (a WS-Man fault) */
	const uint8_t *body;	/* plain SOAP; valid until the next request on h */
	size_t len;
};

/*
 * A connection to t (not yet connected) authenticated by mech with this
 * credential, taking answers up to max_body bytes. The target, the
 * credential and tickets (the broker's Kerberos TGT cache, or NULL) are
 * borrowed and must outlive the connection.
 */
int wb_http_open(const struct wb_target *t, const struct wb_auth_ops *mech,
		 const struct wb_cred_meta *meta, const struct wb_secret *sec,
		 struct wb_tickets *tickets, size_t max_body, struct wb_http **out,
		 struct wb_error *err);
void wb_http_close(struct wb_http *h);

/* Starts a POST of body (copied); timeout_ms bounds each HTTP exchange. */
int wb_http_begin(struct wb_http *h, const uint8_t *body, size_t n, long timeout_ms,
		  struct wb_error *err);

/*
 * One round of waiting: drives the requests in flight on hs[0..nh) (at
 * most 2) and returns after any progress, a readable fds[i] (bit i of
 * *ready; at most 8, -1 entries ignored), timeout_ms (-1: none) or EINTR.
 * Callers loop, checking wb_http_done() and *ready.
 */
int wb_http_wait(struct wb_http *const *hs, size_t nh, const int *fds, size_t nfds,
		 int timeout_ms, unsigned *ready, struct wb_error *err);

bool wb_http_busy(const struct wb_http *h);	/* a request is in flight */
bool wb_http_done(const struct wb_http *h);	/* finished; collect it */

/* The finished request's answer, or its error. */
int wb_http_finish(struct wb_http *h, struct wb_http_reply *reply, struct wb_error *err);

/* Drops the request in flight; curl closes its connection. */
void wb_http_abort(struct wb_http *h);

/* begin + wait + finish: blocks for the answer. */
int wb_http_post(struct wb_http *h, const uint8_t *body, size_t n, long timeout_ms,
		 struct wb_http_reply *reply, struct wb_error *err);

/* The mechanism instance of the connection (tests, diagnostics). */
const struct wb_auth *wb_http_auth(const struct wb_http *h);

/* "https://[::1]:5986/wsman" */
const char *wb_http_url(const struct wb_http *h);

#endif
