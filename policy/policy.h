/*
 * policy.h - the policy engine: who may use which credential on which host
 * to run what (docs/policy.md).
 *
 * Owns the policy files' format and every allow/deny decision. It does no
 * I/O beyond reading its own files and no NSS or DNS lookups: the broker
 * resolves the caller and the host and passes the facts in; the engine
 * returns a decision and the rule that made it. A loaded struct wb_policy is
 * immutable, so any number of threads may call wb_policy_decide on it; the
 * broker builds a new one on SIGHUP and keeps the old one if loading fails.
 */
#ifndef WB_POLICY_H
#define WB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define WB_POLICY_DEFAULT_DIR "/etc/winrm-broker/policy.d"
#define WB_POLICY_MAX_FILE (1024 * 1024)	/* bytes in one file */
#define WB_POLICY_MAX_LINE 4096		/* bytes in a line, without the newline */
#define WB_POLICY_MAX_FILES 1024	/* *.conf files in the directory */
#define WB_POLICY_MAX_RULES 4096	/* rules in the whole policy */
#define WB_POLICY_MAX_COMMANDS 1024	/* command_allow + command_deny entries in one rule */
#define WB_POLICY_MAX_WINDOWS 32	/* time windows in one rule */
#define WB_POLICY_MAX_TRANSPORTS 6	/* basic certificate ntlm kerberos negotiate credssp */
#define WB_POLICY_MAX_COMMAND_LINE 32767	/* bytes; Windows runs no longer command line */

struct wb_policy;

/* An empty policy (it denies everything); NULL when out of memory. */
struct wb_policy *wb_policy_new(void);

/*
 * Parses one policy file already in memory and appends its rules to into.
 * name is the file's name in messages and decisions ("ops.conf"). The
 * file's rules are added only if the whole file parses: on error, into is
 * unchanged. Errors: -WB_E_CONFIG with "name:line: why", -WB_E_INTERNAL
 * when out of memory. Takes any bytes (a fuzzer drives it).
 */
int wb_policy_parse(const uint8_t *buf, size_t len, const char *name, struct wb_policy *into,
		    struct wb_error *err);

/* Hears each failure: every broken file's first error, or the directory's. */
typedef void wb_policy_report_fn(void *ctx, const struct wb_error *e);

/*
 * Loads every "*.conf" file of dir (names starting with '.' and other names
 * are ignored) in strcmp order of their names. dir must be a directory and
 * each file a regular file (symlinks are followed), owned by root or the
 * caller's euid and not writable by group or others; a file is at most
 * WB_POLICY_MAX_FILE bytes. Every file is read even after one fails, and
 * report (may be NULL) hears each failure, so `--check-config` can print
 * them all. Returns 0 and *out, or the first error in err and *out = NULL.
 */
int wb_policy_load_dir(const char *dir, struct wb_policy **out, struct wb_error *err,
		       wb_policy_report_fn *report, void *ctx);

void wb_policy_free(struct wb_policy *p);

/* Rules in the policy, for "loaded N rules" log lines. */
size_t wb_policy_rule_count(const struct wb_policy *p);

/*
 * The command line the policy matches: command, then each argument after
 * exactly one space, all verbatim (no quoting), which is the line Windows
 * builds from a WS-Man Command and its Arguments. malloc'd; NULL when out
 * of memory.
 */
char *wb_policy_command_join(const char *command, const char *const *args, size_t n_args);

/* The facts of one request. Strings are NUL-terminated; the broker has
 * checked them (no NUL can hide inside). */
struct wb_policy_request {
	uid_t uid;			/* the caller, from SO_PEERCRED */
	const char *user;		/* its user name; NULL if the uid has none */
	const gid_t *gids;		/* primary and supplementary groups */
	const char *const *groups;	/* their names, parallel to gids; NULL: no names, or an entry NULL */
	size_t n_groups;
	const char *cred;		/* credential name */
	bool cred_personal;		/* a personal credential (else shared) */
	uid_t cred_owner;		/* a personal credential's owner */
	const char *host;		/* normalized (wb_host_normalize): lower case, IPs in one spelling */
	const char *const *transports;	/* names, in the order the broker would try them */
	size_t n_transports;
	const char *command_line;	/* wb_policy_command_join; NULL: no command (credential test);
					 * at most WB_POLICY_MAX_COMMAND_LINE bytes */
	bool want_delegation;		/* kerberos_delegation = yes */
	bool want_cert_ignore;		/* server_cert_validation = ignore */
	int64_t now;			/* unix time of the request */
	int32_t utc_offset_sec;		/* local time = now + this (struct tm's tm_gmtoff) */
};

/* Why a decision came out as it did; stable, for tests and the audit. */
enum wb_policy_why {
	WB_POLICY_ALLOWED = 0,
	WB_POLICY_NO_RULE,		/* default deny: no rule matches */
	WB_POLICY_EXPIRED,		/* default deny: the first matching rule has expired */
	WB_POLICY_OUTSIDE_TIME,		/* default deny: ... is outside its time windows */
	WB_POLICY_NOT_OWNER,		/* another user's personal credential */
	WB_POLICY_DENY_RULE,		/* the rule says action = deny */
	WB_POLICY_TRANSPORT,		/* no transport the broker would try is allowed */
	WB_POLICY_DELEGATION,		/* Kerberos delegation asked, not allowed */
	WB_POLICY_CERT_IGNORE,		/* server_cert_validation=ignore asked, not allowed */
	WB_POLICY_COMMAND_DENIED,	/* the command matches a command_deny entry */
	WB_POLICY_COMMAND_NOT_ALLOWED,	/* the rule has command_allow entries; none matches */
	WB_POLICY_BAD_REQUEST,		/* the request itself is malformed */
};

struct wb_policy_decision {
	bool allow;
	enum wb_policy_why why;
	char rule[256];			/* "ops.conf:14 [rule jump-ops]", or "default deny" */
	char rule_name[64];		/* "jump-ops"; "" for default deny */
	char reason[512];		/* one human sentence */
	/* Set when allowed: */
	unsigned max_concurrent;	/* operations of this uid at once; 0 = no policy limit */
	unsigned max_runtime_sec;	/* 0 = no policy limit */
	bool transcript;
	const char *transports[WB_POLICY_MAX_TRANSPORTS];	/* static names, in request order */
	size_t n_transports;
};

/*
 * Decides a request. Always fills d, and fills it as a denial unless the
 * request is allowed. Returns 0 when it decided (look at d->allow), or
 * -WB_E_INVALID for a malformed request (no cred or host, a count without
 * its array, an impossible time, an over-long command line) with d a
 * denial saying why (WB_POLICY_BAD_REQUEST).
 */
int wb_policy_decide(const struct wb_policy *p, const struct wb_policy_request *r,
		     struct wb_policy_decision *d);

/* "allowed", "no-rule", "expired", ... for logs and the audit. */
const char *wb_policy_why_name(enum wb_policy_why why);

#endif
