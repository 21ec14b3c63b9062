/*
 * options.h - a client's target options, as a RUN or CRED_TEST frame
 * carries them (docs/protocol.md), and their resolution against the config
 * into the struct wb_target the engine uses.
 *
 * The rule (docs/config.md): the [host] section that governs the host gives
 * the defaults and the limits; a request may only narrow what it allows.
 * Every refusal names the option, what was asked, what is allowed and the
 * section (file:line) that decided.
 */
#ifndef WB_OPTIONS_H
#define WB_OPTIONS_H

#include <stdbool.h>

#include "config.h"
#include "error.h"
#include "proto.h"
#include "target.h"

/* Which options the client gave. */
enum {
	WB_OPT_PORT = 1u << 0,
	WB_OPT_SCHEME = 1u << 1,
	WB_OPT_PATH = 1u << 2,
	WB_OPT_TRANSPORT = 1u << 3,
	WB_OPT_CERT_VALIDATION = 1u << 4,
	WB_OPT_CA_TRUST_PATH = 1u << 5,
	WB_OPT_OPERATION_TIMEOUT = 1u << 6,
	WB_OPT_READ_TIMEOUT = 1u << 7,
	WB_OPT_MESSAGE_ENCRYPTION = 1u << 8,
	WB_OPT_KERBEROS_DELEGATION = 1u << 9,
	WB_OPT_KRB_HOSTNAME_OVERRIDE = 1u << 10,
	WB_OPT_SERVICE = 1u << 11,
	WB_OPT_SEND_CBT = 1u << 12,
	WB_OPT_CREDSSP_DISABLE_TLSV1_2 = 1u << 13,
};

/* What the client asked; a field counts only when its WB_OPT_* bit is set. */
struct wb_request_options {
	unsigned set;			/* WB_OPT_* */
	unsigned port;
	bool https;
	char path[WB_PATH_MAX_LEN + 1];
	enum wb_transport transports[WB_TARGET_MAX_TRANSPORTS];
	size_t n_transports;
	bool validate_cert;
	char ca_trust_path[WB_PATH_MAX_LEN + 1];
	unsigned operation_timeout_sec;
	unsigned read_timeout_sec;
	enum wb_msg_encryption message_encryption;
	bool kerberos_delegation;
	char kerberos_hostname_override[WB_HOST_MAX + 1];	/* normalized; "" = none */
	char service[WB_SERVICE_MAX + 1];
	bool send_cbt;
	bool credssp_disable_tlsv1_2;
};

/*
 * Reads the target options (not HOST) from a RUN or CRED_TEST frame and
 * checks each value on its own (names, ranges, formats). Errors:
 * WB_E_PROTO when an attribute breaks its wire type (integer size, NUL in a
 * string), WB_E_INVALID for a repeated attribute or a bad value.
 */
int wb_options_from_frame(const struct wb_frame *f, struct wb_request_options *o,
			  struct wb_error *err);

/*
 * Normalizes host (the HOST attribute as sent, brackets allowed) into
 * out->host and resolves o against the section of c that governs it. out
 * is complete only on success. Errors: WB_E_INVALID (bad host, inconsistent
 * timeouts), WB_E_DENIED (the config does not allow what was asked; the
 * message says why and where).
 */
int wb_options_resolve(const struct wb_config *c, const char *host,
		       const struct wb_request_options *o, struct wb_target *out,
		       struct wb_error *err);

#endif
