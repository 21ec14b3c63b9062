/*
 * config.h - the broker's configuration file (docs/config.md): the
 * [broker] settings and the admin's inventory of [host PATTERN] sections.
 *
 * A struct wb_config is immutable once loaded; the broker builds a new one
 * on SIGHUP and swaps it in whole, keeping the old one if the new file is
 * broken. Host names are normalized here too, because which section governs
 * a host depends on exactly how its name is spelled.
 */
#ifndef WB_CONFIG_H
#define WB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "target.h"

#define WB_CONFIG_DEFAULT_PATH "/etc/winrm-broker/brokerd.conf"
#define WB_CONFIG_MAX_SIZE (1024 * 1024)	/* bytes in the file */
#define WB_CONFIG_MAX_LINE 4096		/* bytes in a line, without the newline */
#define WB_CONFIG_MAX_HOSTS 1024	/* [host] sections */
#define WB_CA_ALLOWED_MAX 16		/* entries in ca_trust_paths_allowed */
#define WB_SERVICE_MAX 63		/* Kerberos service class, e.g. HTTP */

struct wb_broker_settings {
	char socket[108];		/* fits sockaddr_un.sun_path */
	char state_dir[WB_PATH_MAX_LEN + 1];
	char master_key[WB_PATH_MAX_LEN + 1];	/* "" = $CREDENTIALS_DIRECTORY/master-key */
	char admin_group[33];		/* a group name; "" = root only */
	unsigned max_connections;
	unsigned max_connections_per_uid;
	unsigned max_operations_per_uid;
	unsigned idle_timeout_sec;
	int log_level;			/* syslog priority, LOG_ERR .. LOG_DEBUG */
	char policy_dir[WB_PATH_MAX_LEN + 1];	/* policy.d: *.conf rules (docs/policy.md) */
	char audit_file[WB_PATH_MAX_LEN + 1];	/* the hash-chained audit log (docs/audit.md) */
	char transcript_dir[WB_PATH_MAX_LEN + 1];	/* full transcripts, for rules that ask */
	char audit_redact_file[WB_PATH_MAX_LEN + 1];	/* extra redaction EREs; "" = none */
	bool audit_builtin_redactions;	/* the built-in password patterns */
	/* Login-session credentials (pam_winrm_broker; brokerd/screds.h): */
	unsigned session_bind_timeout_sec;	/* a deposit waits this long for its session */
	unsigned session_max_ttl_sec;		/* caps every TTL; 0: no cap */
	unsigned max_session_credentials_per_user;
};

/* What `pin` can name: a request may not change a pinned value. */
enum {
	WB_PIN_PORT = 1u << 0,
	WB_PIN_SCHEME = 1u << 1,
	WB_PIN_PATH = 1u << 2,
	WB_PIN_SERVICE = 1u << 3,
	WB_PIN_KRB_HOSTNAME = 1u << 4,
};

/*
 * One [host PATTERN] section: defaults for the hosts it governs, and the
 * limits of what a request may change (see brokerd/options.c). The built-in
 * defaults are a section too, with line 0.
 */
struct wb_host_section {
	char pattern[WB_HOST_MAX + 1];	/* lower-cased glob, or an IP literal */
	bool is_addr;			/* pattern is an IP literal: compare addresses */
	int af;				/* AF_INET or AF_INET6 when is_addr */
	uint8_t addr[16];
	unsigned line;			/* of the [host ...] header; 0 = built-in */

	unsigned pins;			/* WB_PIN_* */
	unsigned port;			/* 0 = not set */
	bool has_scheme;
	bool https;
	char path[WB_PATH_MAX_LEN + 1];
	enum wb_transport transports[WB_TARGET_MAX_TRANSPORTS];
	size_t n_transports;
	bool validate_cert;
	bool allow_cert_validation_ignore;
	char ca_trust_path[WB_PATH_MAX_LEN + 1];	/* "" = system store */
	char *ca_allowed[WB_CA_ALLOWED_MAX];	/* ca_trust_paths_allowed */
	size_t n_ca_allowed;
	enum wb_msg_encryption message_encryption;
	unsigned operation_timeout_sec;
	unsigned read_timeout_sec;
	unsigned max_operation_timeout_sec;
	bool kerberos_delegation;
	bool allow_kerberos_delegation;
	char kerberos_hostname_override[WB_HOST_MAX + 1];
	char service[WB_SERVICE_MAX + 1];
	bool send_cbt;
	bool allow_disable_cbt;
	bool credssp_disable_tlsv1_2;
	bool allow_credssp_disable_tlsv1_2;
	unsigned credssp_min_version;	/* config only: a request cannot lower it */
};

struct wb_config;

/*
 * Reads and parses a config file. path is a file named explicitly (on the
 * command line) and must exist; when it is NULL, default_path (NULL:
 * WB_CONFIG_DEFAULT_PATH) is read, and if that file does not exist the
 * built-in defaults apply. The file must be a regular file of at most
 * WB_CONFIG_MAX_SIZE bytes, owned by root or the broker's euid and not
 * writable by group or others. Errors: WB_E_CONFIG, "file:line: why".
 */
int wb_config_load(const char *path, const char *default_path, struct wb_config **out,
		   struct wb_error *err);

/* Parses a whole file already in memory; name is used in messages. */
int wb_config_parse(const uint8_t *data, size_t len, const char *name,
		    struct wb_config **out, struct wb_error *err);

/*
 * Sets one [broker] key as if the file had said it (for command-line
 * options such as --socket). Only before the config is shared: a loaded
 * config is otherwise immutable. Errors: WB_E_CONFIG, "command line: why".
 */
int wb_config_override(struct wb_config *c, const char *key, const char *value,
		       struct wb_error *err);

void wb_config_free(struct wb_config *c);

const struct wb_broker_settings *wb_config_broker(const struct wb_config *c);
/* The file the config came from (or would have: a missing default file). */
const char *wb_config_name(const struct wb_config *c);

/*
 * The section that governs host (normalized by wb_host_normalize): the
 * first one in file order whose pattern matches, else the built-in
 * defaults. Never NULL.
 */
const struct wb_host_section *wb_config_match(const struct wb_config *c, const char *host);

/* "brokerd.conf:12 [host *.corp.example]" or "the built-in defaults (no
 * [host] section matched)", for messages and audit records. */
void wb_config_describe(const struct wb_config *c, const struct wb_host_section *s,
			char *buf, size_t size);

/*
 * Validates a host as a client or the config gives it and writes its one
 * canonical spelling into out: a lower-cased DNS name without a trailing
 * dot, a dotted-quad IPv4 address, or an IPv6 address in inet_ntop form
 * without brackets (an IPv4-mapped IPv6 address becomes its IPv4 form).
 * Refuses everything else, including numeric spellings that inet_aton
 * would accept ("10.1", "0x0a000001"), so one address has one name.
 * Returns 0 or -WB_E_INVALID.
 */
int wb_host_normalize(const char *in, char *out, size_t size, struct wb_error *err);

/* Value checks shared with brokerd/options.c. */
bool wb_url_path_valid(const char *path);	/* "/wsman": '/' then URL path characters */
bool wb_service_valid(const char *service);	/* "HTTP": [A-Za-z0-9._-], 1..63 */

/* Copies untrusted text into buf for a message: bytes that are not
 * printable ASCII become '?', and text that does not fit ends in "...". */
const char *wb_quote(const char *s, char *buf, size_t size);

#endif
