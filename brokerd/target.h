/*
 * target.h - where a WinRM operation goes and how: the per-request target
 * options, named as Ansible's inventory options (ansible_winrm_*).
 *
 * target.c resolves a client's request against the broker config's
 * per-host-pattern defaults (a request may only narrow what the config
 * allows); the engine receives the resolved, validated result.
 */
#ifndef WB_TARGET_H
#define WB_TARGET_H

#include <stdbool.h>
#include <stddef.h>

enum wb_transport {
	WB_TRANSPORT_BASIC = 1,
	WB_TRANSPORT_CERTIFICATE,
	WB_TRANSPORT_NTLM,
	WB_TRANSPORT_KERBEROS,
	WB_TRANSPORT_NEGOTIATE,
	WB_TRANSPORT_CREDSSP,
};

enum wb_msg_encryption {
	WB_MSGENC_AUTO = 0,	/* encrypt over HTTP, not over HTTPS */
	WB_MSGENC_ALWAYS,	/* encrypt over HTTP and HTTPS */
	WB_MSGENC_NEVER,	/* never; refused over HTTP by a default Windows listener */
};

#define WB_TARGET_MAX_TRANSPORTS 6
#define WB_HOST_MAX 253
#define WB_PATH_MAX_LEN 1024

struct wb_target {
	char host[WB_HOST_MAX + 1];	/* DNS name, IPv4, or IPv6 literal without brackets */
	unsigned port;			/* default 5986; 5985 implies http */
	bool https;			/* scheme */
	char path[WB_PATH_MAX_LEN + 1];	/* default "/wsman" */
	enum wb_transport transports[WB_TARGET_MAX_TRANSPORTS];	/* tried in order */
	size_t n_transports;
	bool validate_cert;		/* server_cert_validation: validate (default) | ignore */
	char ca_trust_path[WB_PATH_MAX_LEN + 1];	/* file or directory; "" = system store */
	unsigned operation_timeout_sec;	/* default 20 */
	unsigned read_timeout_sec;	/* default 30; always > operation_timeout_sec */
	enum wb_msg_encryption message_encryption;
	bool kerberos_delegation;
	char kerberos_hostname_override[WB_HOST_MAX + 1];
	char service[64];		/* default "HTTP" */
	bool send_cbt;			/* default true */
	bool credssp_disable_tlsv1_2;
	unsigned credssp_min_version;	/* 0: the default, 5 (CVE-2018-0886); 2..6 */
};

/* Defaults as in the seed: https/5986, unless the port is 5985. */
void wb_target_defaults(struct wb_target *t);

/* "https://[::1]:5986/wsman" into buf; returns a negative WB_E_* on overflow. */
int wb_target_url(const struct wb_target *t, char *buf, size_t size);

const char *wb_transport_name(enum wb_transport t);
/* Returns 0 and sets *out, or -WB_E_INVALID for an unknown name. */
int wb_transport_parse(const char *name, enum wb_transport *out);

#endif
