/* audit.c - see audit.h. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-login.h>

#include "auditchain.h"
#include "buf.h"
#include "log.h"

/*
 * Built-in redactions: POSIX EREs, matched case-insensitively; the last
 * parenthesized subexpression is the secret. Each errs towards hiding too
 * much. docs/audit.md lists them with examples.
 */
#define VALUE "('[^']*'|\"[^\"]*\"|[^[:space:]]+)"
#define VALUE_NODASH "('[^']*'|\"[^\"]*\"|[^-[:space:]][^[:space:]]*)"
#define SECRET_WORDS "(passw(or)?d|pwd|passphrase|secret|token|api-?key|access-?key)"
static const char *const builtin_patterns[] = {
	/* -Password x, -AdminPassword:x, --password=x, --api-key x */
	"(^|[[:space:]({,;])--?[[:alnum:]_]*" SECRET_WORDS
	"([[:space:]]+|[[:space:]]*[:=][[:space:]]*)" VALUE,
	/* /p:x /pass:x /password:x (cmdkey, wmic), /rp x and /p x (schtasks) */
	"(^|[[:space:]])/(p|pw|pwd|pass|passwd|password|rp)(:|=|[[:space:]]+)" VALUE,
	/* password=x, DB_PASSWORD=x, $pwd = 'x', password= x (sc.exe), Pwd={x;y} */
	"(^|[^[:alnum:]_])[[:alnum:]_]*(passw(or)?d|pwd|passphrase|secret|token|api_?key|client_?secret)"
	"[[:space:]]*=[[:space:]]*('[^']*'|\"[^\"]*\"|\\{[^}]*\\}|[^[:space:];&'\"]+)",
	/* "password": "x" */
	"\"[[:alnum:]_]*(passw(or)?d|pwd|secret|token|api_?key)\"[[:space:]]*:[[:space:]]*"
	"(\"[^\"]*\"|[^[:space:],}]+)",
	/* ConvertTo-SecureString 'x' -AsPlainText -Force, any order */
	"ConvertTo-SecureString([[:space:]]+-(AsPlainText|Force|String)(:\\$true)?)*[[:space:]]+"
	VALUE_NODASH,
	/* 'x' | ConvertTo-SecureString */
	"('[^']*'|\"[^\"]*\")[[:space:]]*\\|[[:space:]]*ConvertTo-SecureString",
	/* net use [Z:] \\h\s pass ... */
	"net(\\.exe)?[[:space:]]+use[[:space:]]+([a-z*]:?[[:space:]]+)?"
	"(\\\\\\\\[^[:space:]]+|\"\\\\\\\\[^\"]*\")[[:space:]]+(\"[^\"]*\"|[^/*[:space:]\"][^[:space:]]*)",
	/* net use \\h\s /user:u pass */
	"net(\\.exe)?[[:space:]]+use[[:space:]][^|&;]*/u(ser)?:(\"[^\"]*\"|[^[:space:]]+)[[:space:]]+"
	"(\"[^\"]*\"|[^/*[:space:]\"][^[:space:]]*)",
	/* net user bob pass /add */
	"net(\\.exe)?[[:space:]]+user[[:space:]]+(\"[^\"]*\"|[^/[:space:]\"][^[:space:]]*)[[:space:]]+"
	"(\"[^\"]*\"|[^/*[:space:]\"][^[:space:]]*)",
	/* scheme://user:pass@host */
	"[a-z][a-z0-9+.-]*://[^/:@[:space:]]*:([^/@[:space:]]+)@",
	/* Authorization: Bearer x, @{Authorization = "Basic x"} */
	"authorization['\"]?[[:space:]]*[:=][[:space:]]*['\"]?(basic|bearer|negotiate|ntlm|digest)"
	"[[:space:]]+([^[:space:]'\";]+)",
	/* New-Object System.Net.NetworkCredential('u', 'x'), PSCredential("u", "x") */
	"(NetworkCredential|PSCredential)[^'\"]*('[^']*'|\"[^\"]*\")[[:space:]]*,[[:space:]]*"
	"('[^']*'|\"[^\"]*\")",
	/* psexec \\h -u u -p x */
	"(psexec|paexec)(64)?(\\.exe)?[^|&;]*[[:space:]]-p[[:space:]]+" VALUE,
	/* sshpass -p x, mysql -px */
	"sshpass[[:space:]]+-p[[:space:]]*" VALUE,
	"mysql(dump)?[^|&;]*[[:space:]]-p([^[:space:]]+)",
};

struct wb_audit {
	pthread_mutex_t lock;
	char *path;
	char *head_path;
	int fd;				/* O_RDWR|O_APPEND */
	int head_fd;
	off_t size;			/* bytes of whole records */
	struct wb_audit_head head;
	char chain[WB_AUDIT_CHAIN_HEX + 1];
	bool broken;			/* refuse records until a reopen succeeds */
	char broken_why[384];

	regex_t *res;
	size_t n_res;

	char *transcript_dir;
	int transcript_dirfd;		/* -1: transcripts not configured */

	atomic_bool journal_down;
};

struct wb_audit_transcript {
	crypto_generichash_state hs;	/* first: aligned_alloc'd for its alignment */
	int fd;
	char path[PATH_MAX];
	uint64_t bytes;
	struct timespec t0;
	bool failed;
	bool finished;
	uint8_t hash[WB_AUDIT_HASH_LEN];
};

/* --- Redaction ----------------------------------------------------------- */

static int compile(regex_t *re, const char *pattern, struct wb_error *err)
{
	char msg[128];
	int rc = regcomp(re, pattern, REG_EXTENDED | REG_ICASE);

	if (rc != 0) {
		regerror(rc, re, msg, sizeof(msg));
		return wb_error_set(err, WB_E_CONFIG, "audit: redaction pattern '%.200s': %s", pattern,
				    msg);
	}
	return 0;
}

static int compile_all(struct wb_audit *a, const char *const *patterns, size_t n, bool builtin,
		       struct wb_error *err)
{
	size_t nb = builtin ? sizeof(builtin_patterns) / sizeof(builtin_patterns[0]) : 0, i;

	a->res = calloc(nb + n + 1, sizeof(*a->res));
	if (!a->res)
		return wb_error_set(err, WB_E_INTERNAL, "audit: out of memory");
	for (i = 0; i < nb + n; i++) {
		int rc = compile(&a->res[i], i < nb ? builtin_patterns[i] : patterns[i - nb], err);

		if (rc < 0)
			return rc;
		a->n_res++;
	}
	return 0;
}

/* One pattern over s; every match's secret part becomes [REDACTED]. */
static int redact_one(const regex_t *re, const char *s, struct wb_writer *w)
{
	regmatch_t m[16];
	size_t nsub = re->re_nsub < 15 ? re->re_nsub : 15, pos = 0, len = strlen(s);
	int rc = 0;

	while (rc == 0 && pos <= len) {
		int r = regexec(re, s + pos, nsub + 1, m, pos ? REG_NOTBOL : 0);
		regmatch_t g;

		if (r == REG_NOMATCH)
			break;
		if (r != 0)
			return -EINVAL;
		if (m[0].rm_so == m[0].rm_eo) {	/* empty match: step over one byte */
			size_t k = (size_t)m[0].rm_eo;

			if (pos + k >= len)
				break;
			rc = wb_put(w, s + pos, k + 1);
			pos += k + 1;
			continue;
		}
		g = nsub > 0 && m[nsub].rm_so >= 0 ? m[nsub] : m[0];
		rc = wb_put(w, s + pos, (size_t)g.rm_so);
		if (rc == 0)
			rc = wb_put(w, WB_AUDIT_REDACTED, strlen(WB_AUDIT_REDACTED));
		if (rc == 0)
			rc = wb_put(w, s + pos + g.rm_eo, (size_t)(m[0].rm_eo - g.rm_eo));
		pos += (size_t)m[0].rm_eo;
	}
	if (rc == 0 && pos < len)
		rc = wb_put(w, s + pos, len - pos);
	return rc ? rc : wb_put_u8(w, 0);
}

char *wb_audit_redact(const struct wb_audit *a, const char *s)
{
	char *cur = strdup(s);
	size_t i;

	for (i = 0; cur && i < a->n_res; i++) {
		struct wb_writer w;
		size_t n = strlen(cur);
		int rc;

		/* Every match eats a byte and adds at most [REDACTED]. */
		wb_writer_init(&w, (n + 1) * (strlen(WB_AUDIT_REDACTED) + 1), WB_PLAIN);
		rc = redact_one(&a->res[i], cur, &w);
		free(cur);
		if (rc == 0)
			cur = strndup((const char *)w.data, w.len);
		else if (rc == -ENOMEM)
			cur = NULL;
		else	/* the matcher failed: hide the whole text rather than guess */
			cur = strdup(WB_AUDIT_REDACTED);
		wb_writer_free(&w);
	}
	return cur;
}

/* --- Records: one list of fields for both sinks --------------------------- */

enum ftype { F_STR, F_INT, F_UINT, F_BOOL };

struct field {
	const char *key;
	enum ftype type;
	const char *s;
	int64_t i;
	uint64_t u;
};

#define FIELDS_MAX 48

struct fields {
	size_t n;
	struct field f[FIELDS_MAX];
	char *owned[8];		/* redacted copies */
	size_t n_owned;
	char time[48];
	bool oom;
};

static void add_str(struct fields *fs, const char *key, const char *s)
{
	if (s && fs->n < FIELDS_MAX)
		fs->f[fs->n++] = (struct field){ .key = key, .type = F_STR, .s = s };
}

static void add_int(struct fields *fs, const char *key, int64_t v)
{
	if (fs->n < FIELDS_MAX)
		fs->f[fs->n++] = (struct field){ .key = key, .type = F_INT, .i = v };
}

static void add_uint(struct fields *fs, const char *key, uint64_t v)
{
	if (fs->n < FIELDS_MAX)
		fs->f[fs->n++] = (struct field){ .key = key, .type = F_UINT, .u = v };
}

static void add_bool(struct fields *fs, const char *key, bool v)
{
	if (fs->n < FIELDS_MAX)
		fs->f[fs->n++] = (struct field){ .key = key, .type = F_BOOL, .u = v };
}

static const char *redacted(const struct wb_audit *a, struct fields *fs, const char *s)
{
	char *r;

	if (!s)
		return NULL;
	r = wb_audit_redact(a, s);
	if (!r || fs->n_owned == sizeof(fs->owned) / sizeof(fs->owned[0])) {
		free(r);
		fs->oom = true;
		return WB_AUDIT_REDACTED;
	}
	fs->owned[fs->n_owned++] = r;
	return r;
}

static void fields_free(struct fields *fs)
{
	size_t i;

	for (i = 0; i < fs->n_owned; i++)
		free(fs->owned[i]);
	fs->n_owned = 0;
}

/* Who and what: the part every event type shares. */
static void add_common(struct wb_audit *a, struct fields *fs, const struct wb_audit_event *ev)
{
	add_str(fs, "op_id", ev->op_id);
	add_str(fs, "operation", ev->operation);
	add_uint(fs, "uid", ev->uid);
	add_str(fs, "user", ev->user && ev->user[0] ? ev->user : NULL);
	add_int(fs, "pid", ev->pid);
	add_str(fs, "exe", ev->exe && ev->exe[0] ? ev->exe : NULL);
	if (ev->login) {
		add_str(fs, "login_session", ev->login->session[0] ? ev->login->session : NULL);
		add_str(fs, "login_unit", ev->login->unit[0] ? ev->login->unit : NULL);
		add_str(fs, "cgroup", ev->login->cgroup[0] ? ev->login->cgroup : NULL);
	}
	add_str(fs, "cred", ev->cred);
	if (ev->has_cred_owner)
		add_uint(fs, "cred_owner", ev->cred_owner);
	add_str(fs, "host", ev->host);
	if (ev->port)
		add_uint(fs, "port", ev->port);
	add_str(fs, "transport", ev->transport);
	add_str(fs, "encryption", ev->encryption);
	if (!ev->has_cred_owner)
		add_bool(fs, "delegation", ev->delegation);
	add_str(fs, "command", redacted(a, fs, ev->command));
	add_str(fs, "rule", ev->rule);
	add_str(fs, "reason", redacted(a, fs, ev->reason));
}

static void now_iso(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		base[0] = '\0';
	snprintf(out, size, "%s.%06dZ", base, (int)(ts.tv_nsec / 1000) % 1000000);
}

static int build_line(const struct fields *fs, const char *event, const struct wb_audit_head *prev,
		      struct wb_auditline *l, struct wb_audit_head *head)
{
	size_t i;
	int rc = wb_auditline_begin(l, prev);

	if (rc == 0)
		rc = wb_auditline_str(l, "time", fs->time);
	if (rc == 0)
		rc = wb_auditline_str(l, "event", event);
	for (i = 0; rc == 0 && i < fs->n; i++) {
		const struct field *f = &fs->f[i];

		if (f->type == F_STR)
			rc = wb_auditline_str(l, f->key, f->s);
		else if (f->type == F_INT)
			rc = wb_auditline_int(l, f->key, f->i);
		else if (f->type == F_UINT)
			rc = wb_auditline_uint(l, f->key, f->u);
		else
			rc = wb_auditline_bool(l, f->key, f->u != 0);
	}
	return rc ? rc : wb_auditline_finish(l, head);
}

/* --- The journal ---------------------------------------------------------- */

struct jbuf {
	struct iovec iov[FIELDS_MAX + 12];
	size_t n;
	bool oom;
};

static void jadd(struct jbuf *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jadd(struct jbuf *j, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (j->n == sizeof(j->iov) / sizeof(j->iov[0]))
		return;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		j->oom = true;
		return;
	}
	j->iov[j->n].iov_base = s;
	j->iov[j->n].iov_len = (size_t)n;
	j->n++;
}

static void jfield(struct jbuf *j, const struct field *f)
{
	char key[80];
	size_t i;

	for (i = 0; f->key[i] && i < sizeof(key) - 1; i++)
		key[i] = (char)(f->key[i] >= 'a' && f->key[i] <= 'z' ? f->key[i] - 'a' + 'A' : f->key[i]);
	key[i] = '\0';
	if (f->type == F_STR)
		jadd(j, "WINRM_BROKER_%s=%s", key, f->s);
	else if (f->type == F_INT)
		jadd(j, "WINRM_BROKER_%s=%" PRId64, key, f->i);
	else if (f->type == F_UINT)
		jadd(j, "WINRM_BROKER_%s=%" PRIu64, key, f->u);
	else
		jadd(j, "WINRM_BROKER_%s=%s", key, f->u ? "true" : "false");
}

/* The file is the record: journald being away is worth a log line, once. */
static void journal_result(struct wb_audit *a, int r)
{
	if (r < 0 && !atomic_exchange(&a->journal_down, true))
		wb_log(LOG_WARNING, "audit: cannot send records to the journal (%s); the audit file %s "
		       "remains the record", strerror(-r), a->path);
	else if (r >= 0 && atomic_exchange(&a->journal_down, false))
		wb_log(LOG_NOTICE, "audit: records reach the journal again");
}

static void journal_send(struct wb_audit *a, const struct fields *fs, const char *event,
			 const char *msgid, int prio, const char *message,
			 const struct wb_audit_head *head, const char *chain, const char *failure)
{
	struct jbuf j = { .n = 0 };
	char hex[WB_AUDIT_HEX_LEN + 1];
	size_t i;

	jadd(&j, "MESSAGE=%s", message);
	jadd(&j, "MESSAGE_ID=%s", msgid);
	jadd(&j, "PRIORITY=%d", prio);
	jadd(&j, "SYSLOG_IDENTIFIER=winrm-brokerd");
	jadd(&j, "WINRM_BROKER_EVENT=%s", event);
	for (i = 0; i < fs->n; i++)
		jfield(&j, &fs->f[i]);
	if (head) {
		sodium_bin2hex(hex, sizeof(hex), head->hash, sizeof(head->hash));
		jadd(&j, "WINRM_BROKER_AUDIT_SEQ=%" PRIu64, head->seq);
		jadd(&j, "WINRM_BROKER_AUDIT_HASH=%s", hex);
		jadd(&j, "WINRM_BROKER_AUDIT_CHAIN=%s", chain);
	}
	if (failure)
		jadd(&j, "WINRM_BROKER_AUDIT_ERROR=%s", failure);
	journal_result(a, j.oom ? -ENOMEM : sd_journal_sendv(j.iov, (int)j.n));
	for (i = 0; i < j.n; i++)
		free(j.iov[i].iov_base);
}

/* --- The file ------------------------------------------------------------- */

static int write_head(int head_fd, const char *chain, const struct wb_audit_head *h)
{
	char buf[WB_AUDIT_HEAD_FILE_LEN + 1];
	ssize_t n;

	/* Same length every time, one sector at offset 0: never half old, half new. */
	wb_audithead_format(buf, chain, h);
	n = pwrite(head_fd, buf, WB_AUDIT_HEAD_FILE_LEN, 0);
	if (n < 0)
		return -errno;
	if (n != WB_AUDIT_HEAD_FILE_LEN)
		return -EIO;
	return fdatasync(head_fd) < 0 ? -errno : 0;
}

static void set_broken(struct wb_audit *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_broken(struct wb_audit *a, const char *fmt, ...)
{
	va_list ap;

	a->broken = true;
	va_start(ap, fmt);
	vsnprintf(a->broken_why, sizeof(a->broken_why), fmt, ap);
	va_end(ap);
}

/* Someone else truncated, appended to or deleted the file: stop. */
static int check_unchanged(struct wb_audit *a, struct wb_error *err)
{
	struct stat st;

	if (fstat(a->fd, &st) < 0)
		set_broken(a, "fstat failed: %s", strerror(errno));
	else if (st.st_nlink == 0)
		set_broken(a, "the file was deleted while the broker had it open");
	else if (st.st_size != a->size)
		set_broken(a, "its size changed behind the broker (%jd bytes expected, %jd found): it "
			   "was truncated or written by another process",
			   (intmax_t)a->size, (intmax_t)st.st_size);
	if (a->broken)
		return wb_error_set(err, WB_E_IO, "audit file %s: %s; operations are refused until it "
				    "is rotated and the broker reloaded (docs/audit.md)",
				    a->path, a->broken_why);
	return 0;
}

/*
 * One write() and fdatasync(). A short write (the disk or the file size
 * limit is reached mid-line) is retried once to learn why, then the
 * partial line is cut off again: the file only ever holds whole records.
 */
static int append_line(struct wb_audit *a, const uint8_t *p, size_t n, struct wb_error *err)
{
	size_t done = 0;
	ssize_t w;
	int e = 0;

	while (done < n) {
		w = write(a->fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	if (done < n) {
		if (done > 0 && ftruncate(a->fd, a->size) < 0)
			set_broken(a, "a partial record at byte %jd could not be removed: %s",
				   (intmax_t)a->size, strerror(errno));
		return wb_error_set(err, WB_E_IO, "audit file %s: cannot write the record: %s; the "
				    "operation is refused (free space or raise the limit; "
				    "docs/audit.md)", a->path, strerror(e));
	}
	if (fdatasync(a->fd) == 0)
		return 0;
	e = errno;
	/* After a failed fdatasync the page cache can no longer be trusted. */
	if (ftruncate(a->fd, a->size) < 0)
		set_broken(a, "fdatasync failed (%s) and the record could not be removed",
			   strerror(e));
	else
		set_broken(a, "fdatasync failed (%s)", strerror(e));
	return wb_error_set(err, WB_E_IO, "audit file %s: cannot make the record durable: %s; the "
			    "operation is refused", a->path, strerror(e));
}

/* Under the lock: the next line, written and anchored. */
static int append_locked(struct wb_audit *a, struct fields *fs, const char *event,
			 struct wb_audit_head *head, char *chain, struct wb_error *err)
{
	struct wb_auditline l;
	int rc;

	if (a->broken)
		return wb_error_set(err, WB_E_IO, "audit file %s: %s; operations are refused until it "
				    "is rotated and the broker reloaded (docs/audit.md)",
				    a->path, a->broken_why);
	rc = check_unchanged(a, err);
	if (rc < 0)
		return rc;
	now_iso(fs->time, sizeof(fs->time));
	rc = build_line(fs, event, &a->head, &l, head);
	if (rc < 0) {
		wb_auditline_free(&l);
		return wb_error_set(err, WB_E_INTERNAL, "audit: cannot build the record: %s",
				    strerror(-rc));
	}
	rc = append_line(a, l.w.data, l.w.len, err);
	if (rc == 0) {
		a->size += (off_t)l.w.len;
		a->head = *head;
		memcpy(chain, a->chain, sizeof(a->chain));
		rc = write_head(a->head_fd, a->chain, head);
		if (rc < 0)
			rc = wb_error_set(err, WB_E_IO, "audit: cannot update the anchor %s: %s; the "
					  "operation is refused", a->head_path, strerror(-rc));
	}
	wb_auditline_free(&l);
	return rc;
}

static int record(struct wb_audit *a, struct fields *fs, const char *event, const char *msgid,
		  int prio, const char *message, struct wb_error *err)
{
	struct wb_audit_head head = { 0 };
	char chain[WB_AUDIT_CHAIN_HEX + 1] = "";
	struct wb_error e = { 0 };
	char failed[2048];
	int rc;

	if (fs->oom) {
		rc = wb_error_set(&e, WB_E_INTERNAL, "audit: out of memory");
	} else {
		pthread_mutex_lock(&a->lock);
		rc = append_locked(a, fs, event, &head, chain, &e);
		pthread_mutex_unlock(&a->lock);
	}
	if (rc < 0) {
		/* No seq or hash: the line they would name is not in the file. */
		snprintf(failed, sizeof(failed), "not recorded, refused: %.1000s: %s", message,
			 e.msg);
		journal_send(a, fs, event, WB_AUDIT_MSGID_FAILURE, LOG_CRIT, failed, NULL, NULL,
			     e.msg);
		wb_log(LOG_CRIT, "%s", e.msg);
		if (err)
			*err = e;
		return rc;
	}
	journal_send(a, fs, event, msgid, prio, message, &head, chain, NULL);
	return 0;
}

/* --- Events --------------------------------------------------------------- */

static const char *fstr(const struct fields *fs, const char *key)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		if (fs->f[i].type == F_STR && strcmp(fs->f[i].key, key) == 0)
			return fs->f[i].s;
	return NULL;
}

static void who(char *out, size_t size, const struct wb_audit_event *ev)
{
	snprintf(out, size, "user %s (uid %u, pid %d) %s on %s with credential %s",
		 ev->user && ev->user[0] ? ev->user : "?", (unsigned)ev->uid, (int)ev->pid,
		 ev->operation ? ev->operation : "operation", ev->host ? ev->host : "?",
		 ev->cred ? ev->cred : "?");
}

int wb_audit_decision(struct wb_audit *a, const struct wb_audit_event *ev, struct wb_error *err)
{
	struct fields fs = { .n = 0 };
	char msg[1400], w[700];
	const char *reason;
	int rc;

	add_str(&fs, "decision", ev->allowed ? "allow" : "deny");
	add_common(a, &fs, ev);
	reason = fstr(&fs, "reason");
	who(w, sizeof(w), ev);
	snprintf(msg, sizeof(msg), "%s: %s (rule %s%s%.500s)", ev->allowed ? "allow" : "deny", w,
		 ev->rule ? ev->rule : "none", reason ? ": " : "", reason ? reason : "");
	rc = record(a, &fs, "decision", ev->allowed ? WB_AUDIT_MSGID_ALLOW : WB_AUDIT_MSGID_DENY,
		    ev->allowed ? LOG_INFO : LOG_NOTICE, msg, err);
	fields_free(&fs);
	return rc;
}

static int transcript_finish(struct wb_audit_transcript *t, struct wb_error *err);

static void add_transcript(struct fields *fs, struct wb_audit_transcript *t, bool complete,
			   char hex[WB_AUDIT_HEX_LEN + 1])
{
	sodium_bin2hex(hex, WB_AUDIT_HEX_LEN + 1, t->hash, sizeof(t->hash));
	add_str(fs, "transcript", t->path);
	add_uint(fs, "transcript_bytes", t->bytes);
	add_str(fs, "transcript_blake2b", hex);
	if (!complete)
		add_bool(fs, "transcript_complete", false);
}

int wb_audit_outcome(struct wb_audit *a, const struct wb_audit_event *ev, struct wb_error *err)
{
	struct fields fs = { .n = 0 };
	struct wb_error terr = { 0 };
	char msg[1400], w[700], hex[WB_AUDIT_HEX_LEN + 1];
	int rc, trc = 0;

	if (ev->transcript)
		trc = transcript_finish(ev->transcript, &terr);
	add_common(a, &fs, ev);
	if (ev->error_code) {
		add_int(&fs, "error_code", ev->error_code);
		add_str(&fs, "error_name", wb_errcode_name(ev->error_code));
		add_str(&fs, "error", redacted(a, &fs, ev->error));
	}
	if (ev->has_exit_code)
		add_int(&fs, "exit_code", ev->exit_code);
	if (!ev->has_cred_owner) {	/* a credential change moves no data */
		add_uint(&fs, "stdin_bytes", ev->stdin_bytes);
		add_uint(&fs, "stdout_bytes", ev->stdout_bytes);
		add_uint(&fs, "stderr_bytes", ev->stderr_bytes);
		add_uint(&fs, "duration_ms", ev->duration_ms);
	}
	if (ev->transcript)
		add_transcript(&fs, ev->transcript, trc == 0 && !ev->transcript->failed, hex);
	who(w, sizeof(w), ev);
	if (ev->error_code)
		snprintf(msg, sizeof(msg), "end: %s: error %s: %.500s", w,
			 wb_errcode_name(ev->error_code), fstr(&fs, "error") ? fstr(&fs, "error") : "");
	else
		snprintf(msg, sizeof(msg), "end: %s: exit %" PRId64 " in %" PRIu64 " ms", w,
			 ev->exit_code, ev->duration_ms);
	rc = record(a, &fs, "outcome", WB_AUDIT_MSGID_OUTCOME, ev->error_code ? LOG_NOTICE : LOG_INFO,
		    msg, err);
	if (rc == 0 && trc < 0) {
		if (err)
			*err = terr;
		rc = trc;
	}
	fields_free(&fs);
	return rc;
}

/* --- Transcripts ---------------------------------------------------------- */

static bool op_id_ok(const char *id)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (i >= 64 || !((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
				 (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-' || id[i] == '_'))
			return false;
	return i > 0;
}

/* Writes all of iov (hashing it), retrying short writes. */
static int transcript_put(struct wb_audit_transcript *t, struct iovec *iov, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		crypto_generichash_update(&t->hs, iov[i].iov_base, iov[i].iov_len);
		t->bytes += iov[i].iov_len;
	}
	while (n > 0) {
		ssize_t w = writev(t->fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int wb_audit_transcript_open(struct wb_audit *a, const char *op_id,
			     struct wb_audit_transcript **out, struct wb_error *err)
{
	struct wb_audit_transcript *t;
	char name[96], header[128];
	struct iovec iov;
	int rc;

	*out = NULL;
	if (a->transcript_dirfd < 0)
		return wb_error_set(err, WB_E_CONFIG, "audit: a transcript is required but no "
				    "transcript directory is configured");
	if (!op_id || !op_id_ok(op_id))
		return wb_error_set(err, WB_E_INVALID, "audit: bad operation id for a transcript");
	t = aligned_alloc(64, (sizeof(*t) + 63) / 64 * 64);
	if (!t)
		return wb_error_set(err, WB_E_INTERNAL, "audit: out of memory");
	memset(t, 0, sizeof(*t));
	snprintf(name, sizeof(name), "%s.transcript", op_id);
	snprintf(t->path, sizeof(t->path), "%s/%s", a->transcript_dir, name);
	t->fd = openat(a->transcript_dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	if (t->fd < 0) {
		rc = wb_error_set(err, WB_E_IO, "audit: cannot create the transcript %s: %s", t->path,
				  strerror(errno));
		free(t);
		return rc;
	}
	crypto_generichash_init(&t->hs, NULL, 0, WB_AUDIT_HASH_LEN);
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	iov.iov_base = header;
	iov.iov_len = (size_t)snprintf(header, sizeof(header), "winrm-broker-transcript v1 op=%s\n",
				       op_id);
	rc = transcript_put(t, &iov, 1);
	if (rc < 0) {
		wb_audit_transcript_free(t);
		return wb_error_set(err, WB_E_IO, "audit: cannot write the transcript %s/%s: %s",
				    a->transcript_dir, name, strerror(-rc));
	}
	*out = t;
	return 0;
}

int wb_audit_transcript_write(struct wb_audit_transcript *t, enum wb_audit_stream s,
			      const void *p, size_t n, struct wb_error *err)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };
	struct timespec now;
	char header[80];
	struct iovec iov[3];
	uint64_t ms;
	int rc;

	if (t->failed || t->finished)
		return wb_error_set(err, WB_E_IO, "audit: the transcript %s is %s", t->path,
				    t->failed ? "incomplete after a write error" : "closed");
	if ((unsigned)s > WB_AUDIT_STDERR)
		return wb_error_set(err, WB_E_INVALID, "audit: bad transcript stream");
	if (n == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (uint64_t)((int64_t)(now.tv_sec - t->t0.tv_sec) * 1000 +
			(now.tv_nsec - t->t0.tv_nsec) / 1000000);
	iov[0].iov_base = header;
	iov[0].iov_len = (size_t)snprintf(header, sizeof(header), "%s %" PRIu64 " %zu\n", names[s],
					  ms, n);
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = n;
	iov[2].iov_base = (void *)"\n";
	iov[2].iov_len = 1;
	rc = transcript_put(t, iov, 3);
	if (rc < 0) {
		t->failed = true;
		return wb_error_set(err, WB_E_IO, "audit: cannot write the transcript %s: %s; the "
				    "operation is stopped", t->path, strerror(-rc));
	}
	return 0;
}

static int transcript_finish(struct wb_audit_transcript *t, struct wb_error *err)
{
	int rc = 0;

	if (t->finished)
		return 0;
	t->finished = true;
	crypto_generichash_final(&t->hs, t->hash, sizeof(t->hash));
	if (fdatasync(t->fd) < 0) {
		t->failed = true;
		rc = wb_error_set(err, WB_E_IO, "audit: cannot make the transcript %s durable: %s",
				  t->path, strerror(errno));
	}
	close(t->fd);
	t->fd = -1;
	if (rc == 0 && t->failed)
		rc = wb_error_set(err, WB_E_IO, "audit: the transcript %s is incomplete", t->path);
	return rc;
}

void wb_audit_transcript_free(struct wb_audit_transcript *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

/* --- Opening -------------------------------------------------------------- */

#ifndef WB_VERSION
#define WB_VERSION "unknown"
#endif

static int refuse(struct wb_audit *a, struct wb_error *err, const char *what)
{
	return wb_error_set(err, WB_E_IO, "audit file %s %s; nothing is appended to it: keep it for "
			    "investigation, move it aside and reload or restart the broker (a new "
			    "file continues the chain; docs/audit.md, Rotation)", a->path, what);
}

/* The chain's head from FILE.head; *have is false when the file is empty. */
static int read_head(struct wb_audit *a, struct wb_audit_head *h, char *chain, bool *have,
		     struct wb_error *err)
{
	uint8_t buf[WB_AUDIT_HEAD_FILE_LEN + 1];
	ssize_t n = pread(a->head_fd, buf, sizeof(buf), 0);

	*have = false;
	if (n < 0)
		return wb_error_set(err, WB_E_IO, "audit: cannot read %s: %s", a->head_path,
				    strerror(errno));
	if (n == 0)
		return 0;
	if (wb_audithead_parse(buf, (size_t)n, chain, h) < 0)
		return wb_error_set(err, WB_E_IO, "audit: the anchor %s is malformed; if the log is "
				    "intact (winrm-broker audit verify), remove it and restart",
				    a->head_path);
	*have = true;
	return 0;
}

/* A new file begins with a file-start line: the chain's first, or the
 * continuation of the chain the head names. */
static int start_file(struct wb_audit *a, const struct wb_audit_head *h, const char *chain,
		      struct wb_error *err)
{
	static const struct wb_audit_head empty;
	struct fields fs = { .n = 0 };
	struct wb_auditline l;
	struct wb_audit_head head;
	uint8_t id[WB_AUDIT_CHAIN_LEN];
	int rc;

	a->head = h ? *h : empty;
	if (h) {
		memcpy(a->chain, chain, sizeof(a->chain));
	} else {
		randombytes_buf(id, sizeof(id));
		sodium_bin2hex(a->chain, sizeof(a->chain), id, sizeof(id));
	}
	a->size = 0;
	add_str(&fs, "chain", a->chain);
	add_str(&fs, "file", a->path);
	add_str(&fs, "broker", "winrm-brokerd " WB_VERSION);
	now_iso(fs.time, sizeof(fs.time));
	rc = build_line(&fs, WB_AUDIT_EVENT_FILE_START, &a->head, &l, &head);
	if (rc < 0)
		rc = wb_error_set(err, WB_E_INTERNAL, "audit: cannot build the record: %s",
				  strerror(-rc));
	else
		rc = append_line(a, l.w.data, l.w.len, err);
	if (rc == 0) {
		a->size = (off_t)l.w.len;
		a->head = head;
		rc = write_head(a->head_fd, a->chain, &head);
		if (rc < 0)
			rc = wb_error_set(err, WB_E_IO, "audit: cannot write the anchor %s: %s",
					  a->head_path, strerror(-rc));
	}
	wb_auditline_free(&l);
	return rc;
}

/* Verifies what the file holds against the head; sets the chain's state. */
static int verify_existing(struct wb_audit *a, const struct wb_audit_head *h, struct wb_error *err)
{
	struct wb_auditverify v;
	uint8_t buf[65536];
	char what[600];
	off_t off = 0;
	ssize_t n;
	int rc = 0;

	wb_auditverify_init(&v);
	if (h && wb_auditverify_anchor(&v, h, a->head_path) < 0)
		rc = wb_error_set(err, WB_E_INTERNAL, "audit: out of memory");
	while (rc == 0 && (n = pread(a->fd, buf, sizeof(buf), off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = wb_error_set(err, WB_E_IO, "audit: cannot read %s: %s", a->path,
					  strerror(errno));
			break;
		}
		wb_auditverify_feed(&v, buf, (size_t)n);
		off += n;
	}
	if (rc == 0 && wb_auditverify_end(&v) != WB_AF_NONE) {
		if (v.fault_line)
			snprintf(what, sizeof(what), "is broken at line %" PRIu64 " (%s: %s)",
				 v.fault_line, wb_auditfault_name(v.fault), v.why);
		else
			snprintf(what, sizeof(what), "is %s (%s)", wb_auditfault_name(v.fault), v.why);
		rc = refuse(a, err, what);
	} else if (rc == 0 && v.anchors_before) {
		rc = refuse(a, err, "is newer than its anchor (the .head file names a line before "
			    "the file's first)");
	}
	if (rc == 0) {
		a->head = v.last;
		memcpy(a->chain, v.chain, sizeof(a->chain));
		a->size = off;
	}
	wb_auditverify_free(&v);
	return rc;
}

/* Opens the path and its head; verifies or starts the file. *started: a
 * file-start line was written (for the journal). */
static int load(struct wb_audit *a, bool *started, struct wb_error *err)
{
	struct wb_audit_head h = { 0 };
	char chain[WB_AUDIT_CHAIN_HEX + 1] = "";
	struct stat st;
	bool have;
	int rc;

	*started = false;
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd < 0)
		return wb_error_set(err, WB_E_IO, "audit: cannot open %s: %s", a->path,
				    strerror(errno));
	if (fstat(a->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return wb_error_set(err, WB_E_IO, "audit: %s is not a regular file", a->path);
	if (st.st_mode & 022)
		return wb_error_set(err, WB_E_IO, "audit: %s is writable by group or others; "
				    "chmod 600 it", a->path);
	a->head_fd = open(a->head_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->head_fd < 0)
		return wb_error_set(err, WB_E_IO, "audit: cannot open %s: %s", a->head_path,
				    strerror(errno));
	rc = read_head(a, &h, chain, &have, err);
	if (rc < 0)
		return rc;
	a->broken = false;
	if (st.st_size == 0) {
		*started = true;
		return start_file(a, have ? &h : NULL, chain, err);
	}
	rc = verify_existing(a, have ? &h : NULL, err);
	if (rc < 0)
		return rc;
	if (have && strcmp(chain, a->chain) != 0)
		return refuse(a, err, "belongs to another chain than its anchor (.head file)");
	if (!have)
		wb_log(LOG_WARNING, "audit: %s was missing and is recreated from %s; a cut of the "
		       "log's tail before now cannot be seen from the file (the journal's "
		       "WINRM_BROKER_AUDIT_SEQ/HASH still can)", a->head_path, a->path);
	if (!have || h.seq != a->head.seq) {
		rc = write_head(a->head_fd, a->chain, &a->head);
		if (rc < 0)
			return wb_error_set(err, WB_E_IO, "audit: cannot write the anchor %s: %s",
					    a->head_path, strerror(-rc));
	}
	return 0;
}

/* The file-start line, sent once the lock is released (copies of the state). */
static void journal_file_start(struct wb_audit *a, const struct wb_audit_head *head,
			       const char *chain)
{
	struct fields fs = { .n = 0 };
	char msg[PATH_MAX + 128];

	add_str(&fs, "chain", chain);
	add_str(&fs, "file", a->path);
	snprintf(msg, sizeof(msg), "audit file %s begins at seq %" PRIu64 " of chain %s", a->path,
		 head->seq, chain);
	journal_send(a, &fs, WB_AUDIT_EVENT_FILE_START, WB_AUDIT_MSGID_FILE_START, LOG_NOTICE, msg,
		     head, chain, NULL);
}

static void close_files(struct wb_audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->head_fd >= 0)
		close(a->head_fd);
	a->fd = a->head_fd = -1;
}

static int open_transcript_dir(struct wb_audit *a, const char *dir, struct wb_error *err)
{
	a->transcript_dir = strdup(dir);
	if (!a->transcript_dir)
		return wb_error_set(err, WB_E_INTERNAL, "audit: out of memory");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return wb_error_set(err, WB_E_IO, "audit: cannot create the transcript directory "
				    "%s: %s", dir, strerror(errno));
	a->transcript_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->transcript_dirfd < 0)
		return wb_error_set(err, WB_E_IO, "audit: cannot open the transcript directory %s: "
				    "%s", dir, strerror(errno));
	return 0;
}

int wb_audit_open(const char *file, const char *transcript_dir,
		  const char *const *patterns, size_t n_patterns, bool builtin_redactions,
		  struct wb_audit **out, struct wb_error *err)
{
	struct wb_audit *a = calloc(1, sizeof(*a));
	bool started = false;
	int rc;

	*out = NULL;
	if (!a)
		return wb_error_set(err, WB_E_INTERNAL, "audit: out of memory");
	a->fd = a->head_fd = a->transcript_dirfd = -1;
	pthread_mutex_init(&a->lock, NULL);
	a->path = strdup(file);
	if (!a->path || asprintf(&a->head_path, "%s.head", file) < 0) {
		a->head_path = NULL;
		rc = wb_error_set(err, WB_E_INTERNAL, "audit: out of memory");
	} else {
		rc = compile_all(a, patterns, n_patterns, builtin_redactions, err);
	}
	if (rc == 0 && transcript_dir)
		rc = open_transcript_dir(a, transcript_dir, err);
	if (rc == 0)
		rc = load(a, &started, err);
	if (rc < 0) {
		wb_audit_close(a);
		return rc;
	}
	if (started)
		journal_file_start(a, &a->head, a->chain);
	*out = a;
	return 0;
}

int wb_audit_reopen(struct wb_audit *a, struct wb_error *err)
{
	struct wb_audit_head head;
	char chain[WB_AUDIT_CHAIN_HEX + 1];
	bool started = false;
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	/* The head file must name the last line written before a new file
	 * continues from it. */
	if (!a->broken && a->head_fd >= 0) {
		rc = write_head(a->head_fd, a->chain, &a->head);
		if (rc < 0)
			rc = wb_error_set(err, WB_E_IO, "audit: cannot write the anchor %s: %s",
					  a->head_path, strerror(-rc));
	}
	if (rc == 0) {
		close_files(a);
		rc = load(a, &started, err);
	}
	if (rc < 0)
		set_broken(a, "%s", err ? err->msg : "reopen failed");
	head = a->head;
	memcpy(chain, a->chain, sizeof(chain));
	pthread_mutex_unlock(&a->lock);
	if (rc == 0 && started)
		journal_file_start(a, &head, chain);
	return rc;
}

void wb_audit_close(struct wb_audit *a)
{
	size_t i;

	if (!a)
		return;
	close_files(a);
	if (a->transcript_dirfd >= 0)
		close(a->transcript_dirfd);
	for (i = 0; i < a->n_res; i++)
		regfree(&a->res[i]);
	free(a->res);
	free(a->transcript_dir);
	free(a->path);
	free(a->head_path);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* --- Small helpers -------------------------------------------------------- */

void wb_audit_op_id(char out[WB_AUDIT_OP_ID_LEN + 1])
{
	uint8_t id[WB_AUDIT_OP_ID_LEN / 2];

	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(out, WB_AUDIT_OP_ID_LEN + 1, id, sizeof(id));
}

/* "0::/path" (cgroup v2) beats "N:name=systemd:/path" beats any other. */
static int cgroup_rank(const uint8_t *line, size_t id_len, const uint8_t *ctl, size_t ctl_len)
{
	if (id_len == 1 && line[0] == '0' && ctl_len == 0)
		return 3;
	if (ctl_len == 12 && memcmp(ctl, "name=systemd", 12) == 0)
		return 2;
	return 1;
}

int wb_audit_cgroup_parse(const uint8_t *p, size_t n, char *out, size_t size)
{
	const uint8_t *best = NULL, *line, *c1, *c2;
	size_t best_len = 0, len, i;
	struct wb_reader r;
	int best_rank = 0;

	wb_reader_init(&r, p, n);
	while (wb_reader_left(&r) > 0) {
		ssize_t nl = wb_find(&r, "\n", 1);
		int rank;

		len = nl < 0 ? wb_reader_left(&r) : (size_t)nl;
		if (wb_get_bytes(&r, len, &line) < 0 || (nl >= 0 && wb_skip(&r, 1) < 0))
			return -EBADMSG;
		c1 = memchr(line, ':', len);
		c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (!c2)
			continue;
		rank = cgroup_rank(line, (size_t)(c1 - line), c1 + 1, (size_t)(c2 - c1 - 1));
		if (rank > best_rank) {
			best_rank = rank;
			best = c2 + 1;
			best_len = len - (size_t)(c2 + 1 - line);
		}
	}
	if (!best || size == 0)
		return -EBADMSG;
	if (best_len >= size)
		best_len = size - 1;
	for (i = 0; i < best_len; i++)
		out[i] = best[i] ? (char)best[i] : '?';
	out[best_len] = '\0';
	return 0;
}

static void copy_free(char *dst, size_t size, char *s)
{
	if (s)
		snprintf(dst, size, "%s", s);
	free(s);
}

void wb_audit_login_lookup(pid_t pid, struct wb_audit_login *out)
{
	char path[64], *s = NULL;
	uint8_t buf[8192];
	ssize_t n = -1;
	int fd;

	memset(out, 0, sizeof(*out));
	if (sd_pid_get_session(pid, &s) >= 0)
		copy_free(out->session, sizeof(out->session), s);
	s = NULL;
	if (sd_pid_get_unit(pid, &s) >= 0 || (s = NULL, sd_pid_get_user_unit(pid, &s) >= 0))
		copy_free(out->unit, sizeof(out->unit), s);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (n <= 0 || wb_audit_cgroup_parse(buf, (size_t)n, out->cgroup, sizeof(out->cgroup)) < 0)
		out->cgroup[0] = '\0';
}
