/*
 * audit.h - the broker's audit: every decision (allow, deny) and every
 * operation's outcome, written to two sinks.
 *
 * - The audit file (authoritative): one hash-chained JSON line per record
 *   (common/auditchain.h), appended with one write() and fdatasync()'d
 *   before a call returns success. Beside it, FILE.head holds the chain's
 *   last seq and hash, so a cut tail shows. An existing file is verified
 *   at open; a broken one is refused, never appended to.
 * - The journal: the same fields as WINRM_BROKER_* through sd_journal_sendv,
 *   one MESSAGE_ID per event type, plus the line's seq and hash (an anchor
 *   outside the file). journald being unreachable is logged, not fatal.
 *
 * Fail closed: when the file record cannot be written the call returns
 * -WB_E_IO and the caller must refuse the operation and tell the client.
 * Command lines, reasons and error texts pass through the redaction
 * patterns (built-in ones unless disabled, plus the configured ones)
 * before either sink sees them. Transcripts (stdin/stdout/stderr) are
 * streamed to DIR/<op_id>.transcript (0600) and are not redacted.
 *
 * Thread-safe: sessions share one struct wb_audit; a mutex orders the
 * file writes and the chain head. docs/audit.md has the format, fields,
 * MESSAGE_IDs, guarantees and rotation.
 */
#ifndef WB_AUDIT_H
#define WB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* MESSAGE_IDs, one per event type (docs/audit.md). */
#define WB_AUDIT_MSGID_ALLOW "6ed470163042422e9d2a1f412777292a"
#define WB_AUDIT_MSGID_DENY "b0541c43050549d8bc14a92cb7349176"
#define WB_AUDIT_MSGID_OUTCOME "83a62a4b6b3445afbffb268c73014bbc"
#define WB_AUDIT_MSGID_FAILURE "24b2061c879544f58a89f954f160e063"
#define WB_AUDIT_MSGID_FILE_START "13b4f2b1ee5244368c376a86e90c6b4e"

#define WB_AUDIT_OP_ID_LEN 32		/* hex digits */
#define WB_AUDIT_REDACTED "[REDACTED]"

struct wb_audit;
struct wb_audit_transcript;

/* Where the client's process runs, looked up when it connects. */
struct wb_audit_login {
	char session[64];	/* logind session id (sd_pid_get_session), "" when none */
	char unit[256];		/* systemd unit, system or user (sd_pid_get_*unit), "" when none */
	char cgroup[512];	/* cgroup path from /proc/PID/cgroup, "" when unknown */
};

/* One record. Strings may be NULL (left out); numbers 0 unless said. */
struct wb_audit_event {
	const char *op_id;	/* ties decision, outcome and transcript: wb_audit_op_id() */
	const char *operation;	/* "run", "cred-test", "cred-add", "session-open", ... */

	/* Who: from struct wb_peer. */
	uid_t uid;
	const char *user;
	pid_t pid;
	const char *exe;
	const struct wb_audit_login *login;	/* may be NULL */

	/* What and where. */
	const char *cred;
	bool has_cred_owner;	/* credential changes: whose credential */
	uid_t cred_owner;
	const char *host;
	unsigned port;		/* 0: left out */
	const char *transport;	/* "basic", "certificate", ... */
	const char *encryption;	/* "tls", "message", "tls+message", "none"; NULL: not known */
	bool delegation;	/* decision: permitted; outcome: used */
	const char *command;	/* redacted before it is written */

	/* The decision (wb_audit_decision). */
	bool allowed;
	const char *rule;	/* "policy.d/10-ops.conf:12", or "default-deny" */
	const char *reason;	/* why, in words; redacted */

	/* The outcome (wb_audit_outcome). */
	int error_code;		/* WB_E_*, 0 when the operation ran to its end */
	const char *error;	/* its message; redacted */
	bool has_exit_code;
	int64_t exit_code;
	uint64_t stdin_bytes, stdout_bytes, stderr_bytes;
	uint64_t duration_ms;
	struct wb_audit_transcript *transcript;	/* optional; finished by wb_audit_outcome */
};

/*
 * Opens (creating, 0600) the audit file and FILE.head and verifies what is
 * there; a broken file, or a head that says the file was cut, makes this
 * fail with -WB_E_IO and a message saying what and how to rotate.
 * transcript_dir may be NULL (no transcripts); it is created 0700 when
 * missing. patterns: POSIX extended regular expressions, case-insensitive,
 * applied after the built-in ones (unless builtin_redactions is false);
 * the last parenthesized subexpression that matched is replaced by
 * [REDACTED], or the whole match when there is none. A bad pattern:
 * -WB_E_CONFIG.
 */
int wb_audit_open(const char *file, const char *transcript_dir,
		  const char *const *patterns, size_t n_patterns, bool builtin_redactions,
		  struct wb_audit **out, struct wb_error *err);
void wb_audit_close(struct wb_audit *a);

/* After rotation (SIGHUP): reopens the path and verifies it as at open; a
 * new empty file continues the chain. On failure the audit refuses every
 * record until a reopen succeeds. */
int wb_audit_reopen(struct wb_audit *a, struct wb_error *err);

/* Records a decision; 0, or -WB_E_IO: refuse the operation. */
int wb_audit_decision(struct wb_audit *a, const struct wb_audit_event *ev, struct wb_error *err);
/* Records an outcome (finishing ev->transcript first); 0 or -WB_E_IO. */
int wb_audit_outcome(struct wb_audit *a, const struct wb_audit_event *ev, struct wb_error *err);

/* 32 random hex digits and a NUL. */
void wb_audit_op_id(char out[WB_AUDIT_OP_ID_LEN + 1]);
/* The peer's logind session, unit and cgroup; empty strings when unknown. */
void wb_audit_login_lookup(pid_t pid, struct wb_audit_login *out);
/* The cgroup path in /proc/PID/cgroup content (the unified "0::" line,
 * else systemd's); 0 or -EBADMSG. */
int wb_audit_cgroup_parse(const uint8_t *p, size_t n, char *out, size_t size);

/* s with every redaction applied; malloc'd, NULL when out of memory. */
char *wb_audit_redact(const struct wb_audit *a, const char *s);

/* --- Transcripts ---------------------------------------------------------- */

enum wb_audit_stream { WB_AUDIT_STDIN = 0, WB_AUDIT_STDOUT = 1, WB_AUDIT_STDERR = 2 };

/* Creates DIR/<op_id>.transcript, 0600, exclusively. -WB_E_CONFIG when no
 * directory is configured, -WB_E_IO when it cannot be created. */
int wb_audit_transcript_open(struct wb_audit *a, const char *op_id,
			     struct wb_audit_transcript **out, struct wb_error *err);
/* Appends one chunk as it flows (one writev, no buffering); -WB_E_IO: the
 * caller must stop the operation, its transcript cannot be kept. */
int wb_audit_transcript_write(struct wb_audit_transcript *t, enum wb_audit_stream s,
			      const void *p, size_t n, struct wb_error *err);
/* Closes (if wb_audit_outcome did not) and frees; NULL is fine. */
void wb_audit_transcript_free(struct wb_audit_transcript *t);

#endif
