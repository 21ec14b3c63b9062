/*
 * winrm-broker.h - libwinrm-broker, the client library of winrm-brokerd.
 *
 * Runs commands on Windows hosts through the broker, which holds the
 * credentials: the caller names a credential and never sees its secret.
 * The library speaks the broker's wire protocol (docs/protocol.md) over the
 * broker's Unix socket.
 *
 * Conventions:
 *  - Every fallible call returns 0 (or a count, where said) on success and a
 *    negative WBC_E_* code on failure, and fills *err (which may be NULL) with
 *    the code and a message: the broker's, or a local one.
 *  - Handles are opaque. There is no global state: different handles may be
 *    used from different threads; one handle from one thread at a time.
 *  - A connection carries one request at a time. A run occupies it until
 *    the run has finished (EXIT or an error); then it can be used again.
 *  - Strings are NUL-terminated UTF-8; pointers returned by the library stay
 *    valid as documented, never longer than the handle they came from.
 *
 * Link with `pkg-config --cflags --libs winrm-broker`.
 */
#ifndef WINRM_BROKER_H
#define WINRM_BROKER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(WBC_BUILDING_LIBRARY)
#define WBC_EXPORT __attribute__((visibility("default")))
#else
#define WBC_EXPORT
#endif

/* ---- errors ------------------------------------------------------------ */

/* The broker's error codes (docs/protocol.md, "Error codes"); functions
 * return them negated. */
enum wbc_errcode {
	WBC_OK = 0,
	WBC_E_INTERNAL = 1,	/* a bug or an allocation failure */
	WBC_E_PROTO = 2,	/* malformed, oversized or unexpected frame */
	WBC_E_VERSION = 3,	/* protocol version not supported */
	WBC_E_INVALID = 4,	/* a bad argument or option */
	WBC_E_DENIED = 5,	/* the caller may not do this */
	WBC_E_NOCRED = 6,	/* no such credential (for this caller) */
	WBC_E_EXISTS = 7,	/* credential exists and replace was not asked */
	WBC_E_LIMIT = 8,	/* a per-user or global limit was hit */
	WBC_E_STORE = 9,	/* the broker's credential store failed */
	WBC_E_CONNECT = 10,	/* the broker cannot reach the host */
	WBC_E_TLS = 11,		/* TLS failure, e.g. certificate validation */
	WBC_E_AUTH = 12,	/* the host refused the credential */
	WBC_E_TIMEOUT = 13,	/* the host (or the broker) did not answer in time */
	WBC_E_REMOTE = 14,	/* a WS-Man fault or unexpected HTTP status */
	WBC_E_CANCELLED = 15,	/* cancelled by the client or a shutdown */
	WBC_E_UNSUPPORTED = 16,	/* a transport or feature not available */
	WBC_E_CONFIG = 17,	/* the broker's configuration forbids it */
	WBC_E_IO = 18,		/* local I/O: cannot reach the broker, connection lost */
};

struct wbc_error {
	int code;		/* enum wbc_errcode; 0 when no error */
	char message[512];	/* what failed and, where known, the fix */
};

/* "auth", "no-credential", ...: a short stable name for a code (either sign). */
WBC_EXPORT const char *wbc_errcode_name(int code);

/* The library version, e.g. "0.1.0". */
WBC_EXPORT const char *wbc_version(void);

/* ---- connection -------------------------------------------------------- */

struct wbc_conn;

#define WBC_DEFAULT_SOCKET "/run/winrm-broker/broker.sock"
#define WBC_SOCKET_ENV "WINRM_BROKER_SOCKET"

/*
 * Connects to the broker and exchanges HELLO. socket_path NULL means
 * $WINRM_BROKER_SOCKET, else WBC_DEFAULT_SOCKET. client_name (NULL: the
 * library's own) goes to the broker's log, e.g. "myapp/1.2".
 */
WBC_EXPORT int wbc_connect(const char *socket_path, const char *client_name,
			   struct wbc_conn **out, struct wbc_error *err);
/* The same over an already connected stream socket, which the connection
 * then owns (closed by wbc_close, also on failure). */
WBC_EXPORT int wbc_connect_fd(int fd, const char *client_name, struct wbc_conn **out,
			      struct wbc_error *err);
/* Closes the socket and frees the connection; a run still going on it is
 * cancelled by the broker. Runs made on it must be freed first. NULL is fine. */
WBC_EXPORT void wbc_close(struct wbc_conn *c);
/* The broker's version string from its HELLO. */
WBC_EXPORT const char *wbc_server_version(const struct wbc_conn *c);
/* The socket, for poll(): see wbc_run_poll_events. Do not read or write it. */
WBC_EXPORT int wbc_conn_fd(const struct wbc_conn *c);
/* Limit for waiting on a reply to a request other than RUN; -1 (the
 * default) waits as long as the broker takes. */
WBC_EXPORT void wbc_set_timeout(struct wbc_conn *c, int timeout_ms);

/* ---- target: a host and its options ------------------------------------ */

struct wbc_target;

/* host: a DNS name, IPv4 address, or IPv6 literal (brackets optional). */
WBC_EXPORT int wbc_target_new(const char *host, struct wbc_target **out, struct wbc_error *err);
/*
 * Sets an option by its Ansible name (ansible_winrm_<name>), value as text;
 * setting it again replaces it. Checked here with a clear message (the broker
 * checks again, and its configuration may narrow what is allowed):
 *   port                        1..65535
 *   scheme                      http | https
 *   path                        "/..." (default /wsman)
 *   transport                   comma list of basic, certificate, ntlm,
 *                               kerberos, negotiate, credssp (tried in order)
 *   server_cert_validation      validate | ignore
 *   ca_trust_path               an absolute path on the broker's machine
 *   operation_timeout_sec       1..86400
 *   read_timeout_sec            1..86400, more than operation_timeout_sec
 *   message_encryption          auto | always | never
 *   kerberos_delegation, send_cbt, credssp_disable_tlsv1_2
 *                               true/false, yes/no, on/off, 1/0
 *   kerberos_hostname_override  a host name
 *   service                     an SPN service class, e.g. HTTP
 */
WBC_EXPORT int wbc_target_set(struct wbc_target *t, const char *name, const char *value,
			      struct wbc_error *err);
WBC_EXPORT void wbc_target_free(struct wbc_target *t);

/* ---- running a command ------------------------------------------------- */

enum wbc_scope {
	WBC_SCOPE_ANY = 0,	/* run/test: personal first, then shared */
	WBC_SCOPE_PERSONAL = 1,
	WBC_SCOPE_SHARED = 2,
};

enum wbc_signal { WBC_SIGNAL_CTRL_C = 1, WBC_SIGNAL_TERMINATE = 2 };

enum wbc_event_type {
	WBC_EV_NONE = 0,	/* nothing yet (only with a timeout) */
	WBC_EV_STDOUT = 1,
	WBC_EV_STDERR = 2,
	WBC_EV_EXIT = 3,	/* the run has finished */
};

struct wbc_event {
	int type;		/* enum wbc_event_type */
	const uint8_t *data;	/* STDOUT/STDERR: valid until the next call on the run */
	size_t len;
	int exit_code;		/* EXIT: the remote exit code (may be negative) */
	char transport[32];	/* EXIT: the transport that authenticated, e.g. "basic" */
};

struct wbc_run;

#define WBC_STDIN_CHUNK 65536	/* most stdin bytes one wbc_run_write_stdin takes */

/*
 * A run request: credential name, target (copied), command; checked here,
 * before any connection. wbc_run_start sends it on a connection, which the
 * run then occupies until it is freed; the connection must outlive it.
 */
WBC_EXPORT int wbc_run_new(const char *cred, const struct wbc_target *t, const char *command,
			   struct wbc_run **out, struct wbc_error *err);
/* Appends one argument (in order). */
WBC_EXPORT int wbc_run_add_arg(struct wbc_run *r, const char *arg, struct wbc_error *err);
/* Which credential scope to look in; default WBC_SCOPE_ANY. */
WBC_EXPORT int wbc_run_set_scope(struct wbc_run *r, int scope, struct wbc_error *err);
/* open != 0: the caller will write stdin and close it. Default: the remote
 * command gets an empty stdin. */
WBC_EXPORT int wbc_run_set_stdin(struct wbc_run *r, int open, struct wbc_error *err);
/* Sends the request on c. Output follows through wbc_run_read. */
WBC_EXPORT int wbc_run_start(struct wbc_run *r, struct wbc_conn *c, struct wbc_error *err);

/*
 * The next event. timeout_ms: -1 blocks, 0 only takes what has arrived,
 * otherwise waits at most that long; WBC_EV_NONE when nothing came in time
 * or a signal interrupted the wait (so a caller can act on it). Queued
 * stdin is sent while waiting. A broker ERROR ends the run and is returned
 * as its negative code with the broker's message; so is a lost connection
 * (WBC_E_IO) or a malformed frame (WBC_E_PROTO, the connection is then dead).
 */
WBC_EXPORT int wbc_run_read(struct wbc_run *r, struct wbc_event *ev, int timeout_ms,
			    struct wbc_error *err);

/*
 * Stdin never blocks: wbc_run_write_stdin queues at most
 * wbc_run_stdin_room() bytes (at most WBC_STDIN_CHUNK) as one frame and
 * returns how many it took, 0 when the queue is full. The queue drains
 * during wbc_run_read and wbc_run_wait, so a caller interleaving writes and
 * reads cannot deadlock with a command that writes before it reads.
 */
WBC_EXPORT int wbc_run_write_stdin(struct wbc_run *r, const void *data, size_t len,
				   struct wbc_error *err);
WBC_EXPORT size_t wbc_run_stdin_room(const struct wbc_run *r);
/* End of stdin (always queued, whatever the room). */
WBC_EXPORT int wbc_run_close_stdin(struct wbc_run *r, struct wbc_error *err);
/* Sends WBC_SIGNAL_*; it overtakes queued stdin. */
WBC_EXPORT int wbc_run_signal(struct wbc_run *r, int signal, struct wbc_error *err);

/* poll() events to wait for on wbc_conn_fd(): POLLIN, plus POLLOUT while
 * queued frames wait to be sent. After poll, call wbc_run_read(..., 0, ...)
 * until it returns WBC_EV_NONE; it also sends what is queued. */
WBC_EXPORT int wbc_run_poll_events(const struct wbc_run *r);

#define WBC_WAIT_EVENT 0x1	/* wbc_run_read may have an event */
#define WBC_WAIT_STDIN 0x2	/* wbc_run_stdin_room() > 0 */
#define WBC_WAIT_FD 0x4		/* the caller's fd is ready (revents in *revents) */
/*
 * Waits until the broker sent something, stdin can be queued (when stdin is
 * open and not closed), or fd (if >= 0) has one of `events`; sends queued
 * frames meanwhile. Returns a mask of WBC_WAIT_*, 0 on timeout.
 */
WBC_EXPORT int wbc_run_wait(struct wbc_run *r, int fd, int events, short *revents,
			    int timeout_ms, struct wbc_error *err);

/*
 * Callback style: reads until the run ends, passing output to fn (stream
 * WBC_EV_STDOUT or WBC_EV_STDERR); fn returns 0 to go on, anything else
 * cancels (the connection is closed; WBC_E_CANCELLED). Sets *exit_code.
 */
typedef int (*wbc_output_fn)(void *ud, int stream, const uint8_t *data, size_t len);
WBC_EXPORT int wbc_run_pump(struct wbc_run *r, wbc_output_fn fn, void *ud, int *exit_code,
			    struct wbc_error *err);

/* Frees the run. One that has not finished is cancelled by closing the
 * connection, which then cannot be used any more. NULL is fine. */
WBC_EXPORT void wbc_run_free(struct wbc_run *r);

/* ---- credentials ------------------------------------------------------- */

enum wbc_cred_kind {
	WBC_KIND_PASSWORD = 1,	  /* user, domain, password */
	WBC_KIND_CERTIFICATE = 2, /* PEM certificate + PEM private key */
	WBC_KIND_KEYTAB = 3,	  /* principal + keytab file bytes */
};

#define WBC_CRED_DELEGATE 0x1u	/* flag: may be delegated (Kerberos, CredSSP) */
#define WBC_NO_OWNER 0xFFFFFFFFu	/* no owner uid given */
#define WBC_CRED_NAME_MAX 64	/* [A-Za-z0-9][A-Za-z0-9._@-]* */
#define WBC_CRED_TEXT_MAX 256	/* user, domain */
#define WBC_CRED_ACL_MAX 64	/* allowed uids, gids */
#define WBC_CRED_SECRET_MAX 65536	/* password, key, keytab; also the certificate */

/*
 * A credential to add. The secret given to wbc_cred_add_secret is copied
 * once, straight into locked memory (sodium_malloc) that holds the request
 * frame, and wiped when the request is sent or freed. Wipe your own copy
 * (e.g. sodium_memzero / explicit_bzero) as soon as the call returns.
 */
struct wbc_cred_add;

/* scope: PERSONAL or SHARED. domain may be NULL. */
WBC_EXPORT int wbc_cred_add_new(const char *name, int scope, int kind, const char *user,
				const char *domain, struct wbc_cred_add **out,
				struct wbc_error *err);
/* The password, PEM private key, or keytab; exactly once. */
WBC_EXPORT int wbc_cred_add_secret(struct wbc_cred_add *a, const void *secret, size_t len,
				   struct wbc_error *err);
/* The PEM certificate (certificate kind only). */
WBC_EXPORT int wbc_cred_add_cert(struct wbc_cred_add *a, const void *pem, size_t len,
				 struct wbc_error *err);
WBC_EXPORT int wbc_cred_add_flags(struct wbc_cred_add *a, uint32_t flags, struct wbc_error *err);
/* Who may use a shared credential (repeatable, up to WBC_CRED_ACL_MAX each). */
WBC_EXPORT int wbc_cred_add_allow_uid(struct wbc_cred_add *a, uint32_t uid, struct wbc_error *err);
WBC_EXPORT int wbc_cred_add_allow_gid(struct wbc_cred_add *a, uint32_t gid, struct wbc_error *err);
/* Root only: a personal credential for another uid. */
WBC_EXPORT int wbc_cred_add_owner(struct wbc_cred_add *a, uint32_t uid, struct wbc_error *err);
/*
 * A login-session credential (docs/protocol.md, "Login-session
 * credentials"): kept in the broker's memory only. mode
 * WBC_SESSION_DEPOSIT: a pending deposit that wbc_cred_session(OPEN) with
 * the token from wbc_cred_add_send_deposit makes active; it lives until
 * its last session closes or ttl_sec seconds (0: no TTL of its own).
 * WBC_SESSION_UPDATE: replaces the active password of an existing one
 * (password change; ttl_sec ignored), or with wbc_cred_add_deposit_token
 * the password of that pending deposit (a password changed during the
 * login, before the session opens). Personal scope, password kind only.
 */
enum wbc_session_mode { WBC_SESSION_DEPOSIT = 1, WBC_SESSION_UPDATE = 2 };
WBC_EXPORT int wbc_cred_add_session(struct wbc_cred_add *a, int mode, uint32_t ttl_sec,
				    struct wbc_error *err);
/* WBC_SESSION_UPDATE of a pending deposit: token from
 * wbc_cred_add_send_deposit. */
WBC_EXPORT int wbc_cred_add_deposit_token(struct wbc_cred_add *a, const char *token,
					  struct wbc_error *err);
/* The broker checks the password with the KDC (gets a TGT) before keeping
 * it; WBC_E_AUTH when the KDC refuses it. Password kind only. */
WBC_EXPORT int wbc_cred_add_validate(struct wbc_cred_add *a, struct wbc_error *err);
/* Sends it; replace != 0 replaces an existing credential of that name. The
 * request's memory is wiped afterwards, whatever the outcome: free it.
 * A WBC_SESSION_UPDATE goes here (replace 0); a WBC_SESSION_DEPOSIT goes
 * through wbc_cred_add_send_deposit (WBC_E_INVALID here). */
WBC_EXPORT int wbc_cred_add_send(struct wbc_conn *c, struct wbc_cred_add *a, int replace,
				 struct wbc_error *err);
WBC_EXPORT void wbc_cred_add_free(struct wbc_cred_add *a);
/* Sends a WBC_SESSION_DEPOSIT request; token (WBC_DEPOSIT_LEN + 1 bytes)
 * receives the deposit's name for wbc_cred_session (32 hex digits; a reply
 * without one is WBC_E_PROTO; "" whenever the call fails). Wipes as _send
 * does. */
#define WBC_DEPOSIT_LEN 32
WBC_EXPORT int wbc_cred_add_send_deposit(struct wbc_conn *c, struct wbc_cred_add *a,
					 char token[WBC_DEPOSIT_LEN + 1], struct wbc_error *err);

/* 0 when name is a valid credential name, else WBC_E_INVALID with the rule. */
WBC_EXPORT int wbc_cred_name_check(const char *name, struct wbc_error *err);

/* Removes a credential; owner WBC_NO_OWNER, or a uid (root only). */
WBC_EXPORT int wbc_cred_remove(struct wbc_conn *c, const char *name, int scope, uint32_t owner,
			       struct wbc_error *err);

enum wbc_session_op { WBC_SESSION_OPEN = 1, WBC_SESSION_CLOSE = 2 };
/*
 * Binds one more login session to a session credential (WBC_SESSION_OPEN),
 * first making the pending deposit `token` its active password when token
 * is not NULL; *session_id (may be NULL) receives the session's id. Or
 * releases one (WBC_SESSION_CLOSE, token NULL): the session *session_id
 * names when session_id is not NULL and *session_id != 0, else any one.
 * owner: WBC_NO_OWNER or a uid (root only). *sessions (may be NULL) gets
 * the count after the change; 0 after a close means the credential is
 * gone. WBC_E_NOCRED when there is none, the deposit expired, or the
 * credential holds no session of that id (nothing changed).
 */
WBC_EXPORT int wbc_cred_session(struct wbc_conn *c, const char *name, int op, uint32_t owner,
				const char *token, uint64_t *session_id, uint32_t *sessions,
				struct wbc_error *err);

/*
 * The broker's identity as the socket shows it: the uid of the process
 * that holds the other end (SO_PEERCRED). A PAM module checks it before it
 * sends a password (docs/pam.md).
 */
WBC_EXPORT int wbc_conn_peer_uid(const struct wbc_conn *c, uint32_t *uid, struct wbc_error *err);

/* Authenticates with the credential against the target, running nothing. */
WBC_EXPORT int wbc_cred_test(struct wbc_conn *c, const char *name, int scope,
			     const struct wbc_target *t, struct wbc_error *err);

/* What CRED_LIST shows of a credential; never a secret. */
struct wbc_cred_info {
	char name[WBC_CRED_NAME_MAX + 1];
	int scope;		/* WBC_SCOPE_PERSONAL or WBC_SCOPE_SHARED */
	uint32_t owner;		/* personal: its uid */
	int kind;		/* enum wbc_cred_kind */
	char user[WBC_CRED_TEXT_MAX + 1];
	char domain[WBC_CRED_TEXT_MAX + 1];
	uint32_t flags;		/* WBC_CRED_* */
	int64_t created;	/* unix time */
	int64_t updated;
	size_t n_allow_uids;
	uint32_t allow_uids[WBC_CRED_ACL_MAX];
	size_t n_allow_gids;
	uint32_t allow_gids[WBC_CRED_ACL_MAX];
	int session;		/* 1: a login-session credential (memory only) */
	uint32_t sessions;	/* session credential: login sessions bound to it */
	int64_t expires;	/* session credential: unix time of its TTL; 0: none */
};

/*
 * Lists the credentials the caller may see: wbc_cred_list_begin, then
 * wbc_cred_list_next until it returns 0 (1: *info filled). The connection is
 * busy until the end (or an error).
 */
WBC_EXPORT int wbc_cred_list_begin(struct wbc_conn *c, struct wbc_error *err);
WBC_EXPORT int wbc_cred_list_next(struct wbc_conn *c, struct wbc_cred_info *info,
				  struct wbc_error *err);

/* ---- status ------------------------------------------------------------ */

struct wbc_status {
	char server[128];	/* broker version */
	uint64_t uptime_sec;
	uint32_t connections;	/* open client connections */
	uint32_t operations;	/* running operations */
	uint32_t credentials;	/* credentials visible to the caller */
	int64_t bad_records;	/* store records that failed to load; -1: not shown */
};

WBC_EXPORT int wbc_status(struct wbc_conn *c, struct wbc_status *st, struct wbc_error *err);

/* --- policy ---------------------------------------------------------------------- */

#define WBC_TRANSPORTS_MAX 6

struct wbc_policy_decision {
	int allow;		/* 1 allowed, 0 denied */
	char rule[256];		/* "policy.d/20-ops.conf:14 [rule ops]", or "default deny" */
	char reason[512];	/* one sentence */
	char transports[WBC_TRANSPORTS_MAX][16];	/* allowed, in the order they would be tried */
	size_t n_transports;
};

/*
 * What the broker's policy decides for running command (with args) on t
 * with credential cred, as user (NULL: the caller; another user needs root
 * or the broker's admin group). The broker builds the same request a run
 * builds, so the answer is the one a run would meet. Returns 0 whether the
 * decision is allow or deny; < 0 when no decision could be made (e.g. no
 * such credential).
 */
WBC_EXPORT int wbc_policy_check(struct wbc_conn *c, const char *user, const char *cred, int scope,
				const struct wbc_target *t, const char *command,
				const char *const *args, size_t n_args,
				struct wbc_policy_decision *d, struct wbc_error *err);

#ifdef __cplusplus
}
#endif

#endif
