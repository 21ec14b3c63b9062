/* error.c - see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int wb_error_set(struct wb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code <= 0 || code >= WB_E_MAX)
		code = WB_E_INTERNAL;
	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

int wb_error_prefix(struct wb_error *err, const char *fmt, ...)
{
	char prefix[128], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return -WB_E_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* A long message is cut; the prefix matters more than its tail. */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) < 0)
		err->msg[0] = '\0';
	return -(err->code ? err->code : WB_E_INTERNAL);
}

void wb_error_clear(struct wb_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *wb_errcode_name(int code)
{
	static const char *const names[WB_E_MAX] = {
		[WB_OK] = "ok", [WB_E_INTERNAL] = "internal", [WB_E_PROTO] = "protocol",
		[WB_E_VERSION] = "version", [WB_E_INVALID] = "invalid", [WB_E_DENIED] = "denied",
		[WB_E_NOCRED] = "no-credential", [WB_E_EXISTS] = "exists", [WB_E_LIMIT] = "limit",
		[WB_E_STORE] = "store", [WB_E_CONNECT] = "connect", [WB_E_TLS] = "tls",
		[WB_E_AUTH] = "auth", [WB_E_TIMEOUT] = "timeout", [WB_E_REMOTE] = "remote",
		[WB_E_CANCELLED] = "cancelled", [WB_E_UNSUPPORTED] = "unsupported",
		[WB_E_CONFIG] = "config", [WB_E_IO] = "io",
	};

	/* Unsigned: -INT_MIN does not fit an int (a broker can send any u32;
	 * found by fuzz/fuzz_libclient). */
	unsigned u = code < 0 ? 0u - (unsigned)code : (unsigned)code;

	return u < WB_E_MAX && names[u] ? names[u] : "unknown";
}
