/* main.c - winrm-brokerd: start-up, the accept loop, signals.
 *
 * Start-up order matters: the process is made non-dumpable before any
 * secret exists, signals are blocked before the first thread starts (only
 * the main loop takes them, through a signalfd), and READY is reported only
 * once the socket listens and the store is open.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "audit.h"
#include "broker.h"
#include "config.h"
#include "krb5_tickets.h"
#include "listen.h"
#include "log.h"
#include "masterkey.h"
#include "policy.h"
#include "session.h"
#include "store.h"
#include "winrm/shell.h"

#define DEFAULT_CONFIG "/etc/winrm-broker/brokerd.conf"
#define SHUTDOWN_GRACE_MS 9000	/* sessions get this long; the unit allows 10 s */

struct args {
	const char *config;
	bool config_given;
	const char *overrides[3][2];	/* [broker] key, value from the command line */
	size_t n_overrides;
	bool check_config;
	const char *generate_key;
};

struct daemon {
	struct args args;
	struct wb_broker broker;
	struct wb_masterkey *key;
	int listen_fd;
	int sig_fd;
	atomic_uint threads;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: winrm-brokerd [options]\n"
		"  -c, --config FILE       configuration (default " DEFAULT_CONFIG ")\n"
		"      --socket PATH       override [broker] socket\n"
		"      --state-dir DIR     override [broker] state_dir\n"
		"      --master-key FILE   override [broker] master_key\n"
		"      --check-config      validate the configuration and exit\n"
		"      --generate-master-key FILE\n"
		"                          write a new random master key (mode 0600) and exit\n"
		"  -V, --version           print the version\n"
		"  -h, --help              this help\n"
		"See docs/config.md.\n");
}

static int parse_args(int argc, char **argv, struct args *a)
{
	enum { O_SOCKET = 256, O_STATE, O_KEY, O_CHECK, O_GENKEY };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "master-key", required_argument, NULL, O_KEY },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "generate-master-key", required_argument, NULL, O_GENKEY },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	a->config = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		const char *key = NULL;

		switch (c) {
		case 'c':
			a->config = optarg;
			a->config_given = true;
			break;
		case O_SOCKET:
			key = "socket";
			break;
		case O_STATE:
			key = "state_dir";
			break;
		case O_KEY:
			key = "master_key";
			break;
		case O_CHECK:
			a->check_config = true;
			break;
		case O_GENKEY:
			a->generate_key = optarg;
			break;
		case 'V':
			printf("winrm-brokerd %s\n", WB_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		if (key && a->n_overrides < 3) {
			a->overrides[a->n_overrides][0] = key;
			a->overrides[a->n_overrides++][1] = optarg;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "winrm-brokerd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

/* No core dumps, no ptrace by other users, no secrets in swap-backed dumps. */
static void harden(void)
{
	struct rlimit none = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &none);
	umask(0077);
}

static int load_config(const struct args *a, struct wb_config **out, struct wb_error *err)
{
	size_t i;
	int rc = wb_config_load(a->config_given ? a->config : NULL,
				a->config_given ? NULL : a->config, out, err);

	for (i = 0; rc == 0 && i < a->n_overrides; i++)
		rc = wb_config_override(*out, a->overrides[i][0], a->overrides[i][1], err);
	if (rc < 0 && *out) {
		wb_config_free(*out);
		*out = NULL;
	}
	return rc;
}

static void print_policy_error(void *ctx, const struct wb_error *e)
{
	unsigned *printed = ctx;

	fprintf(stderr, "%s\n", e->msg);
	(*printed)++;
}

static void log_policy_error(void *ctx, const struct wb_error *e)
{
	(void)ctx;
	wb_log(LOG_ERR, "%s", e->msg);
}

/* The config and the policy it names, both or neither. */
static int load_all(const struct args *a, wb_policy_report_fn *report, void *ctx,
		    struct wb_config **config, struct wb_policy **policy, struct wb_error *err)
{
	int rc = load_config(a, config, err);

	if (rc < 0)
		return rc;
	rc = wb_policy_load_dir(wb_config_broker(*config)->policy_dir, policy, err, report, ctx);
	if (rc < 0) {
		wb_config_free(*config);
		*config = NULL;
		*policy = NULL;
	}
	return rc;
}

/* Extra redaction patterns: one POSIX ERE a line; blank lines and '#'
 * comments skipped. */
static int read_patterns(const char *path, char ***out, size_t *n, struct wb_error *err)
{
	char line[4096];
	FILE *f;

	*out = NULL;
	*n = 0;
	if (!path[0])
		return 0;
	f = fopen(path, "re");
	if (!f)
		return wb_error_set(err, WB_E_CONFIG, "audit_redact_file %s: %s", path,
				    strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char **p;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		p = reallocarray(*out, *n + 1, sizeof(char *));
		if (!p || !(p[*n] = strdup(line))) {
			free(p ? p : *out);
			fclose(f);
			return wb_error_set(err, WB_E_INTERNAL, "out of memory");
		}
		*out = p;
		(*n)++;
	}
	fclose(f);
	return 0;
}

static int open_audit(const struct wb_broker_settings *bs, struct wb_audit **audit,
		      struct wb_error *err)
{
	char **patterns;
	size_t i, n;
	int rc = read_patterns(bs->audit_redact_file, &patterns, &n, err);

	if (rc == 0)
		rc = wb_audit_open(bs->audit_file, bs->transcript_dir, (const char *const *)patterns,
				   n, bs->audit_builtin_redactions, audit, err);
	for (i = 0; i < n; i++)
		free(patterns[i]);
	free(patterns);
	return rc;
}

static int log_problem(const char *msg, void *ctx)
{
	(void)ctx;
	wb_log(LOG_WARNING, "%s", msg);
	return 0;
}

static int open_store(struct daemon *d, const struct wb_broker_settings *bs,
		      struct wb_store **store, struct wb_error *err)
{
	char path[4096];
	int rc;

	if (snprintf(path, sizeof(path), "%s/store", bs->state_dir) >= (int)sizeof(path))
		return wb_error_set(err, WB_E_CONFIG, "state_dir too long");
	rc = wb_masterkey_load(bs->master_key[0] ? bs->master_key : NULL, path, &d->key, err);
	if (rc == 0)
		rc = wb_store_open(path, d->key, store, err);
	if (rc < 0)
		return rc;
	if (wb_store_bad_count(*store)) {
		wb_log(LOG_WARNING, "credential store %s: %zu record(s) failed to load and are kept "
		       "aside; the others are usable", path, wb_store_bad_count(*store));
		wb_store_problems(*store, log_problem, NULL);
	}
	return 0;
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit on the audit file must refuse operations, not kill us. */
	signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked here, before any thread exists, so every thread inherits it. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	return d->sig_fd < 0 ? -1 : 0;
}

struct conn_arg {
	struct daemon *d;
	int fd;
};

static void *conn_thread(void *p)
{
	struct conn_arg *a = p;
	struct daemon *d = a->d;

	wb_session_serve(&d->broker, a->fd);
	free(a);
	atomic_fetch_sub(&d->threads, 1);
	return NULL;
}

static void accept_one(struct daemon *d)
{
	struct conn_arg *a;
	pthread_attr_t attr;
	pthread_t t;
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			wb_log(LOG_WARNING, "accept: %s", strerror(errno));
		return;
	}
	a = malloc(sizeof(*a));
	if (!a) {
		close(fd);
		return;
	}
	a->d = d;
	a->fd = fd;
	atomic_fetch_add(&d->threads, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_thread, a) != 0) {
		wb_log(LOG_ERR, "cannot start a session thread; dropping the connection");
		atomic_fetch_sub(&d->threads, 1);
		close(fd);
		free(a);
	}
	pthread_attr_destroy(&attr);
}

static void reload(struct daemon *d)
{
	struct wb_error err = { 0 };
	struct wb_config *c = NULL;
	struct wb_policy *p = NULL;

	sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
	if (load_all(&d->args, log_policy_error, NULL, &c, &p, &err) < 0) {
		wb_log(LOG_ERR, "reload failed, keeping the running configuration and policy: %s",
		       err.msg);
	} else {
		wb_log_set_level(wb_config_broker(c)->log_level);
		wb_broker_config_swap(&d->broker, c, p);
		wb_log(LOG_NOTICE, "configuration reloaded from %s, policy from %s (%zu rules)",
		       d->args.config, wb_config_broker(c)->policy_dir, wb_policy_rule_count(p));
	}
	/* Rotation: a moved audit file is reopened (and its chain continued). */
	if (wb_audit_reopen(d->broker.audit, &err) < 0)
		wb_log(LOG_ERR, "audit: %s", err.msg);
	sd_notify(0, "READY=1\nSTATUS=serving");
}

/* Returns when a SIGTERM or SIGINT arrives. */
static void serve(struct daemon *d)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = d->listen_fd, .events = POLLIN },
				       { .fd = d->sig_fd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			wb_log(LOG_ERR, "poll: %s", strerror(errno));
			return;
		}
		if (p[1].revents & POLLIN) {
			if (read(d->sig_fd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				reload(d);
				continue;
			}
			wb_log(LOG_NOTICE, "signal %u: shutting down", si.ssi_signo);
			return;
		}
		if (p[0].revents & POLLIN)
			accept_one(d);
	}
}

static void shutdown_sessions(struct daemon *d)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	int waited = 0;

	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	close(d->listen_fd);
	wb_broker_stop(&d->broker);
	while (atomic_load(&d->threads) > 0 && waited < SHUTDOWN_GRACE_MS) {
		nanosleep(&tick, NULL);
		waited += 20;
	}
	if (atomic_load(&d->threads) > 0)
		wb_log(LOG_WARNING, "%u session(s) still running after %d ms; exiting anyway",
		       atomic_load(&d->threads), SHUTDOWN_GRACE_MS);
}

/* The sweeper ends with the shutdown; a sweep stuck behind a slow KDC is
 * left to the process exit rather than holding the exit up. */
static bool sweeper_join(pthread_t t)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SHUTDOWN_GRACE_MS / 1000;
	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		return true;
	wb_log(LOG_WARNING, "the sweeper did not stop in time; exiting without it");
	return false;
}

static int start(struct daemon *d, struct wb_error *err)
{
	struct wb_config *config = NULL;
	struct wb_policy *policy = NULL;
	struct wb_store *store = NULL;
	struct wb_audit *audit = NULL;
	const struct wb_broker_settings *bs;
	bool activated;
	int rc;

	rc = load_all(&d->args, log_policy_error, NULL, &config, &policy, err);
	if (rc < 0)
		return rc;
	bs = wb_config_broker(config);
	wb_log_set_level(bs->log_level);
	rc = open_audit(bs, &audit, err);
	if (rc == 0)
		rc = open_store(d, bs, &store, err);
	if (rc == 0)
		rc = wb_broker_init(&d->broker, config, policy, store, err);
	if (rc == 0)
		rc = wb_listen(bs->socket, &d->listen_fd, &activated, err);
	if (rc < 0) {
		wb_config_free(config);
		wb_policy_free(policy);
		wb_store_close(store);
		wb_audit_close(audit);
		return rc;
	}
	d->broker.audit = audit;
	wb_log(LOG_NOTICE, "winrm-brokerd %s listening on %s%s", WB_VERSION,
	       activated ? "the socket from systemd" : bs->socket, "");
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon d = { .listen_fd = -1, .sig_fd = -1 };
	struct wb_error err = { 0 };
	struct wb_config *c = NULL;
	struct wb_policy *p = NULL;
	struct wb_tickets *tickets = NULL;
	pthread_t sweeper;
	bool swept;

	harden();
	if (parse_args(argc, argv, &d.args) < 0)
		return 2;
	if (sodium_init() < 0) {
		fprintf(stderr, "winrm-brokerd: libsodium failed to initialize\n");
		return 1;
	}
	if (d.args.generate_key) {
		if (wb_masterkey_generate(d.args.generate_key, &err) < 0) {
			fprintf(stderr, "winrm-brokerd: %s\n", err.msg);
			return 1;
		}
		printf("wrote a new master key to %s\n", d.args.generate_key);
		return 0;
	}
	if (d.args.check_config) {
		unsigned printed = 0;

		if (load_all(&d.args, print_policy_error, &printed, &c, &p, &err) < 0) {
			/* Policy file errors were printed one by one as they came. */
			if (printed == 0)
				fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		printf("%s: ok\n%s: ok (%zu rules)\n", d.args.config,
		       wb_config_broker(c)->policy_dir, wb_policy_rule_count(p));
		wb_config_free(c);
		wb_policy_free(p);
		return 0;
	}
	/* Global library state (curl, libxml2), once, before any thread. */
	if (wb_winrm_init() < 0) {
		fprintf(stderr, "winrm-brokerd: cannot initialize libcurl/libxml2\n");
		return 1;
	}
	if (wb_tickets_new(&tickets, &err) < 0) {
		fprintf(stderr, "winrm-brokerd: %s\n", err.msg);
		return 1;
	}
	if (setup_signals(&d) < 0 || start(&d, &err) < 0) {
		wb_log(LOG_ERR, "cannot start: %s", err.msg[0] ? err.msg : strerror(errno));
		sd_notifyf(0, "STATUS=failed: %s", err.msg);
		return 1;
	}
	d.broker.tickets = tickets;
	if (wb_broker_sweeper_start(&d.broker, &sweeper, &err) < 0) {
		wb_log(LOG_ERR, "cannot start: %s", err.msg);
		return 1;
	}
	sd_notify(0, "READY=1\nSTATUS=serving");
	serve(&d);
	shutdown_sessions(&d);
	swept = sweeper_join(sweeper);
	/* With a session or the sweeper still running, the memory stays until exit. */
	if (atomic_load(&d.threads) == 0 && swept) {
		wb_store_close(d.broker.store);
		wb_broker_destroy(&d.broker);
		wb_masterkey_free(d.key);
		wb_tickets_free(tickets);
		wb_audit_close(d.broker.audit);
	}
	wb_log(LOG_NOTICE, "stopped");
	return 0;
}
