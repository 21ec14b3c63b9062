/*
 * error.h - an error code plus a human message, returned by value.
 *
 * Every fallible function in brokerd and libclient takes a struct wb_error *
 * (which may be NULL) and returns a negative WB_E_* code on failure, 0 or
 * more on success. The message says what failed and, where there is one,
 * the likely fix. It never contains a secret.
 */
#ifndef WB_ERROR_H
#define WB_ERROR_H

#include <stddef.h>

/* Error codes; the same numbers travel in ERROR frames (docs/protocol.md). */
enum wb_errcode {
	WB_OK = 0,
	WB_E_INTERNAL = 1,	/* a bug or an allocation failure */
	WB_E_PROTO = 2,		/* malformed or oversized frame */
	WB_E_VERSION = 3,	/* protocol version not supported */
	WB_E_INVALID = 4,	/* a bad argument or option */
	WB_E_DENIED = 5,	/* the caller may not do this */
	WB_E_NOCRED = 6,	/* no such credential (for this caller) */
	WB_E_EXISTS = 7,	/* credential exists and replace was not asked */
	WB_E_LIMIT = 8,		/* a per-user or global limit was hit */
	WB_E_STORE = 9,		/* credential store unreadable, corrupt or not writable */
	WB_E_CONNECT = 10,	/* cannot reach the host */
	WB_E_TLS = 11,		/* TLS failure, e.g. certificate validation */
	WB_E_AUTH = 12,		/* the host refused the credential */
	WB_E_TIMEOUT = 13,	/* the host did not answer in time */
	WB_E_REMOTE = 14,	/* a WS-Man fault or unexpected HTTP status */
	WB_E_CANCELLED = 15,	/* cancelled by the client or a shutdown */
	WB_E_UNSUPPORTED = 16,	/* a transport or feature not available */
	WB_E_CONFIG = 17,	/* configuration error */
	WB_E_IO = 18,		/* local I/O failure (socket, file) */
	WB_E_MAX
};

struct wb_error {
	int code;		/* enum wb_errcode, 0 when no error */
	char msg[512];
};

/* Sets err (if not NULL) and returns -code, so callers can write
 * `return wb_error_set(err, WB_E_INVALID, "bad port %d", p);`. */
int wb_error_set(struct wb_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with context: "store: <old message>". */
int wb_error_prefix(struct wb_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void wb_error_clear(struct wb_error *err);

/* A short stable name for a code ("auth", "tls", ...). */
const char *wb_errcode_name(int code);

#endif
