/*
 * policy_int.h - the policy's in-memory form, shared by the .c files of policy/ only.
 *
 * parse.c and parse_value.c build it, timewin.c owns time windows and
 * dates, match.c answers "does this item match", decide.c walks the rules,
 * load.c reads the directory (the only I/O).
 */
#ifndef WB_POLICY_INT_H
#define WB_POLICY_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum wb_pt {	/* transports, in the order of docs/policy.md */
	PT_BASIC = 0,
	PT_CERTIFICATE,
	PT_NTLM,
	PT_KERBEROS,
	PT_NEGOTIATE,
	PT_CREDSSP,
	PT_COUNT
};

/* A user or group in users/groups: a name, or a numeric uid/gid. */
struct subject {
	char *name;		/* NULL for a number */
	uint32_t id;
};

/* An item of credentials: a glob over shared credential names, or one of
 * the caller's own personal credentials ("personal", "personal:GLOB"). */
struct cred_item {
	char *glob;		/* NULL: "personal", any of the caller's own */
	bool personal;
};

/* An item of hosts: a glob over host names, or an address block. */
struct host_item {
	char *glob;		/* NULL for an address block */
	int af;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;	/* bits; 32/128 for a single address */
};

enum cmd_kind { CMD_EXACT, CMD_PREFIX, CMD_REGEX };

struct cmd_entry {
	enum cmd_kind kind;
	char *text;		/* the text after "exact:", "prefix:" or "regex:" */
	regex_t re;		/* CMD_REGEX only */
	unsigned line;
};

/* Mon-Fri 08:00-18:00: seconds of the local day, end exclusive; an end
 * before the start runs past midnight into the next day. */
struct time_window {
	uint8_t days;		/* bit 0 = Monday .. bit 6 = Sunday */
	uint32_t start, end;
};

/* Index into struct rule's key_line; the table lives in parse.c. */
enum rule_key {
	K_ACTION, K_USERS, K_GROUPS, K_CREDENTIALS, K_HOSTS, K_TRANSPORTS,
	K_COMMAND_ALLOW, K_COMMAND_DENY, K_ALLOW_DELEGATION, K_ALLOW_CERT_IGNORE,
	K_MAX_CONCURRENT, K_MAX_RUNTIME, K_TIME, K_EXPIRES, K_TRANSCRIPT,
	K_COUNT
};

struct rule {
	char name[64];
	const char *file;	/* owned by the policy */
	unsigned line;		/* of the [rule NAME] header */
	unsigned key_line[K_COUNT];	/* where each key was (first) set; 0 = not set */
	bool deny;		/* action = deny */

	bool any_user;		/* users = * */
	struct subject *users, *groups;
	size_t n_users, n_groups;
	struct cred_item *creds;
	size_t n_creds;
	struct host_item *hosts;
	size_t n_hosts;

	unsigned transports;	/* bit per enum wb_pt */
	struct cmd_entry *allow, *deny_cmds;
	size_t n_allow, n_deny;
	bool allow_delegation;
	bool allow_cert_ignore;
	unsigned max_concurrent;
	unsigned max_runtime_sec;
	bool transcript;

	struct time_window *windows;
	size_t n_windows;
	char *time_text;	/* as written, for messages */
	bool has_expiry;
	int64_t expires;	/* local seconds since 1970 (as if UTC) when it stops */
	char expires_text[20];	/* "2025-12-31" or "2025-12-31 18:00" */
};

struct wb_policy {
	struct rule **rules;
	size_t n_rules;
	char **files;
	size_t n_files;
	size_t n_commands;	/* in all rules, to bound the regexes compiled */
};

#define WB_POLICY_MAX_ALL_COMMANDS 16384

/* ---- parse_value.c: one value each; 0, or -1 with a message in why ---- */
struct why { char msg[400]; };
int pv_subjects(char *v, bool users, struct rule *r, struct why *w);
int pv_creds(char *v, struct rule *r, struct why *w);
int pv_hosts(char *v, struct rule *r, struct why *w);
int pv_transports(char *v, struct rule *r, struct why *w);
int pv_command(const char *v, unsigned line, bool deny, struct rule *r, struct why *w);
int pv_uint(const char *v, unsigned min, unsigned max, unsigned *out);
int pv_bool(const char *v, bool *out);
char *pv_next_item(char **cursor);
void pv_rule_free(struct rule *r);

/* ---- timewin.c ---- */
int tw_parse_windows(char *v, struct rule *r, struct why *w);
int tw_parse_expiry(const char *v, struct rule *r, struct why *w);
bool tw_in_windows(const struct rule *r, int64_t local);
bool tw_expired(const struct rule *r, int64_t local);
/* "Sat 10:12" and "2025-12-31 18:00" of local seconds. */
void tw_format_weekday_time(int64_t local, char *buf, size_t size);
void tw_format_datetime(int64_t local, char *buf, size_t size);

/* ---- match.c ---- */
bool m_subject(const struct rule *r, const struct wb_policy_request *q);
bool m_cred(const struct rule *r, const struct wb_policy_request *q);
/* af 0: host is a name, not an address. */
bool m_host(const struct rule *r, const char *host, int af, const uint8_t *addr);
/* The first entry matching line, or NULL. */
const struct cmd_entry *m_command_deny(const struct rule *r, const char *line);
const struct cmd_entry *m_command_allow(const struct rule *r, const char *line);
int m_transport_index(const char *name);
const char *m_transport_name(int i);
const char *m_cmd_kind_name(enum cmd_kind k);

#endif
