/*
 * run.c - `winrm-broker run`: one remote command, its output streamed to
 * the local stdout and stderr, local stdin forwarded, Ctrl-C forwarded.
 *
 * One poll loop over the broker socket, local stdin and a signalfd for
 * SIGINT; the library never blocks on a write, so a command that writes
 * before it reads cannot deadlock against us forwarding stdin.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* The CLI links only the public library, so it has its own write loop. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char run_usage[] =
	"usage: winrm-broker run [OPTIONS] HOST [--] COMMAND [ARG...]\n"
	"\n"
	"Runs COMMAND with ARGs on HOST through the broker, with a credential the\n"
	"broker holds. Options go before HOST.\n"
	"\n"
	"  -c, --cred NAME        the credential (default $WINRM_BROKER_CRED, else \"default\")\n"
	"      --personal         only your personal credential NAME\n"
	"      --shared           only the shared credential NAME\n"
	"                         (default: personal first, then shared)\n"
	"  -o NAME=VALUE          a target option by its Ansible name, repeatable:\n"
	"                         port, scheme, path, transport, server_cert_validation,\n"
	"                         ca_trust_path, operation_timeout_sec, read_timeout_sec,\n"
	"                         message_encryption, kerberos_delegation,\n"
	"                         kerberos_hostname_override, service, send_cbt,\n"
	"                         credssp_disable_tlsv1_2\n"
	"  -p, --port N           -o port=N\n"
	"      --scheme S         -o scheme=S (http or https)\n"
	"      --path P           -o path=P\n"
	"  -t, --transport LIST   -o transport=LIST (e.g. certificate or basic,ntlm)\n"
	"      --ca-trust-path F  -o ca_trust_path=F (a file on the broker's machine)\n"
	"  -k, --insecure         -o server_cert_validation=ignore\n"
	"  -n                     do not forward stdin; the command reads an empty stdin\n"
	"      --json             print one JSON object at the end instead of streaming\n"
	"  -h, --help             this help\n"
	"\n"
	"Exit status: the remote exit code (0-254; others become 254), 255 when the\n"
	"broker or the connection failed, 130 after a third Ctrl-C, 2 for a bad command line.\n";

#define CAPTURE_MAX (64u << 20)	/* --json keeps at most this much of each stream */

struct capture {
	uint8_t *p;
	size_t len, cap;
	bool truncated;
};

struct runloop {
	const struct cli *cli;
	struct wbc_conn *c;
	struct wbc_run *r;
	bool json;
	bool reading_stdin;
	int sigfd;
	int interrupts;
	uint8_t *inbuf;		/* WBC_STDIN_CHUNK bytes */
	struct capture out, errout;
	/* outcome */
	bool exited;
	int exit_code;
	char transport[32];
	struct wbc_error err;
};

struct run_args {
	const char *cred;
	int scope;
	bool no_stdin;
	bool json;
	const char *host;
	const char *command;
	int n_args;
	char **args;
	struct cli_opts opts;
};

static void capture(struct capture *c, const uint8_t *p, size_t n)
{
	size_t want;

	if (c->len + n > CAPTURE_MAX) {
		c->truncated = true;
		n = CAPTURE_MAX - c->len;
	}
	want = c->len + n;
	if (want > c->cap) {
		size_t cap = c->cap ? c->cap : 65536;
		uint8_t *q;

		while (cap < want)
			cap *= 2;
		q = realloc(c->p, cap);
		if (!q) {
			c->truncated = true;
			return;
		}
		c->p = q;
		c->cap = cap;
	}
	memcpy(c->p + c->len, p, n);
	c->len += n;
}


static int output(struct runloop *l, const struct wbc_event *ev)
{
	int fd = ev->type == WBC_EV_STDOUT ? STDOUT_FILENO : STDERR_FILENO;
	int rc;

	if (l->json) {
		capture(ev->type == WBC_EV_STDOUT ? &l->out : &l->errout, ev->data, ev->len);
		return 0;
	}
	rc = write_all(fd, ev->data, ev->len);
	if (rc < 0) {
		l->err.code = WBC_E_IO;
		snprintf(l->err.message, sizeof(l->err.message), "writing the remote %s locally: %s",
			 fd == STDOUT_FILENO ? "stdout" : "stderr", strerror(-rc));
	}
	return rc;
}

/* Takes every event that has arrived; 1 when the run is over. */
static int drain(struct runloop *l)
{
	for (;;) {
		struct wbc_event ev;
		int rc = wbc_run_read(l->r, &ev, 0, &l->err);

		if (rc < 0)
			return 1;
		switch (ev.type) {
		case WBC_EV_NONE:
			return 0;
		case WBC_EV_EXIT:
			l->exited = true;
			l->exit_code = ev.exit_code;
			memcpy(l->transport, ev.transport, sizeof(l->transport));
			return 1;
		default:
			if (output(l, &ev) < 0)
				return 1;
		}
	}
}

static int stop_stdin(struct runloop *l)
{
	l->reading_stdin = false;
	return wbc_run_close_stdin(l->r, &l->err) < 0 ? 1 : 0;
}

static int forward_stdin(struct runloop *l)
{
	size_t room = wbc_run_stdin_room(l->r);
	ssize_t n;

	if (room == 0)
		return 0;
	n = read(STDIN_FILENO, l->inbuf, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	/* No stdin at all (fd 0 closed) reads as an empty one. */
	if (n < 0 && errno != EBADF)
		cli_error(l->cli, "reading stdin: %s; closing the remote stdin", strerror(errno));
	if (n <= 0)
		return stop_stdin(l);
	/* n <= room, so all of it is taken. */
	return wbc_run_write_stdin(l->r, l->inbuf, (size_t)n, &l->err) == n ? 0 : 1;
}

/* First Ctrl-C interrupts the remote command, the second terminates it,
 * the third gives up (closing the connection cancels the run). */
static int on_sigint(struct runloop *l)
{
	struct signalfd_siginfo si;
	bool tty = isatty(STDERR_FILENO);

	while (read(l->sigfd, &si, sizeof(si)) == sizeof(si)) {
		int sig = ++l->interrupts == 1 ? WBC_SIGNAL_CTRL_C : WBC_SIGNAL_TERMINATE;

		if (l->interrupts >= 3) {
			l->err.code = WBC_E_CANCELLED;
			snprintf(l->err.message, sizeof(l->err.message), "interrupted");
			return 1;
		}
		if (tty)
			cli_error(l->cli, l->interrupts == 1 ?
				  "sending Ctrl-C to the remote command (again: terminate it)" :
				  "terminating the remote command (again: give up)");
		if (wbc_run_signal(l->r, sig, &l->err) < 0)
			return 1;
	}
	return 0;
}

static void loop(struct runloop *l)
{
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = wbc_conn_fd(l->c), .events = (short)wbc_run_poll_events(l->r) },
			{ .fd = -1, .events = POLLIN },
			{ .fd = l->sigfd, .events = POLLIN },
		};

		if (l->reading_stdin && wbc_run_stdin_room(l->r) > 0)
			p[1].fd = STDIN_FILENO;
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			l->err.code = WBC_E_IO;
			snprintf(l->err.message, sizeof(l->err.message), "poll: %s", strerror(errno));
			return;
		}
		if (p[2].revents && on_sigint(l))
			return;
		if (p[1].revents && forward_stdin(l))
			return;
		if (p[0].revents && drain(l))
			return;
	}
}

static void print_json(const struct runloop *l)
{
	if (l->exited) {
		printf("{\"exit_code\":%d,\"transport\":", l->exit_code);
		json_string(stdout, l->transport);
	} else {
		printf("{\"exit_code\":null,\"error\":{\"code\":%d,\"name\":", l->err.code);
		json_string(stdout, wbc_errcode_name(l->err.code));
		fputs(",\"message\":", stdout);
		json_string(stdout, l->err.message);
		fputc('}', stdout);
	}
	fputs(",\"stdout_base64\":", stdout);
	json_base64(stdout, l->out.p, l->out.len);
	fputs(",\"stderr_base64\":", stdout);
	json_base64(stdout, l->errout.p, l->errout.len);
	printf(",\"stdout_truncated\":%s,\"stderr_truncated\":%s}\n",
	       l->out.truncated ? "true" : "false", l->errout.truncated ? "true" : "false");
	fflush(stdout);
}

static int outcome(const struct runloop *l)
{
	if (l->json)
		print_json(l);
	if (!l->exited) {
		if (!l->json)
			cli_error(l->cli, "%s", l->err.message);
		return l->interrupts >= 3 ? EXIT_INTERRUPTED : EXIT_BROKER;
	}
	if (l->exit_code >= 0 && l->exit_code <= EXIT_REMOTE_MAX)
		return l->exit_code;
	if (!l->json)
		cli_error(l->cli, "the remote exit code was %d; exiting with %d", l->exit_code,
			  EXIT_REMOTE_MAX);
	return EXIT_REMOTE_MAX;
}

/* SIGINT comes through a signalfd, so the poll loop handles it in order. */
static int block_sigint(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int start(struct runloop *l, const struct run_args *a, const struct wbc_target *t)
{
	int i;

	if (wbc_run_new(a->cred, t, a->command, &l->r, &l->err) < 0)
		return EXIT_USAGE;
	for (i = 0; i < a->n_args; i++)
		if (wbc_run_add_arg(l->r, a->args[i], &l->err) < 0)
			return EXIT_USAGE;
	if (wbc_run_set_scope(l->r, a->scope, &l->err) < 0 ||
	    wbc_run_set_stdin(l->r, !a->no_stdin, &l->err) < 0)
		return EXIT_USAGE;
	l->sigfd = block_sigint();
	if (l->sigfd < 0) {
		snprintf(l->err.message, sizeof(l->err.message), "signalfd: %s", strerror(errno));
		return EXIT_BROKER;
	}
	if (wbc_connect(l->cli->socket, "winrm-broker/" WBC_VERSION_STRING, &l->c, &l->err) < 0 ||
	    wbc_run_start(l->r, l->c, &l->err) < 0)
		return EXIT_BROKER;
	return 0;
}

static int parse_args(const struct cli *cli, int argc, char **argv, struct run_args *a)
{
	enum { O_SHARED = 1000, O_PERSONAL, O_JSON, O_SCHEME, O_PATH, O_CA };
	static const struct option longopts[] = {
		{ "cred", required_argument, NULL, 'c' },
		{ "shared", no_argument, NULL, O_SHARED },
		{ "personal", no_argument, NULL, O_PERSONAL },
		{ "port", required_argument, NULL, 'p' },
		{ "scheme", required_argument, NULL, O_SCHEME },
		{ "path", required_argument, NULL, O_PATH },
		{ "transport", required_argument, NULL, 't' },
		{ "ca-trust-path", required_argument, NULL, O_CA },
		{ "insecure", no_argument, NULL, 'k' },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rc = 0;

	a->cred = getenv("WINRM_BROKER_CRED");
	if (!a->cred || !*a->cred)
		a->cred = "default";
	opterr = 0;
	while (rc == 0 && (ch = getopt_long(argc, argv, "+c:o:p:t:knh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': a->cred = optarg; break;
		case O_SHARED: a->scope = WBC_SCOPE_SHARED; break;
		case O_PERSONAL: a->scope = WBC_SCOPE_PERSONAL; break;
		case 'o':
			if (cli_opt_parse(&a->opts, optarg) < 0)
				return cli_usage_error(cli, run_usage, "-o wants NAME=VALUE, not '%s'",
						       optarg);
			break;
		case 'p': rc = cli_opt_add(&a->opts, "port", optarg); break;
		case O_SCHEME: rc = cli_opt_add(&a->opts, "scheme", optarg); break;
		case O_PATH: rc = cli_opt_add(&a->opts, "path", optarg); break;
		case 't': rc = cli_opt_add(&a->opts, "transport", optarg); break;
		case O_CA: rc = cli_opt_add(&a->opts, "ca_trust_path", optarg); break;
		case 'k': rc = cli_opt_add(&a->opts, "server_cert_validation", "ignore"); break;
		case 'n': a->no_stdin = true; break;
		case O_JSON: a->json = true; break;
		case 'h': fputs(run_usage, stdout); return -1;
		default:
			return cli_usage_error(cli, run_usage, "run: unknown or incomplete option '%s'",
					       argv[optind - 1]);
		}
	}
	if (rc < 0)
		return cli_usage_error(cli, run_usage, "run: too many options");
	if (optind >= argc)
		return cli_usage_error(cli, run_usage, "run: no host given");
	a->host = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return cli_usage_error(cli, run_usage, "run: no command given");
	a->command = argv[optind++];
	a->n_args = argc - optind;
	a->args = argv + optind;
	return 0;
}

static void runloop_free(struct runloop *l)
{
	wbc_run_free(l->r);
	wbc_close(l->c);
	free(l->inbuf);
	free(l->out.p);
	free(l->errout.p);
	if (l->sigfd >= 0)
		close(l->sigfd);
}

int cmd_run(const struct cli *cli, int argc, char **argv)
{
	struct run_args a = { 0 };
	struct runloop l = { .cli = cli, .sigfd = -1 };
	struct wbc_target *t = NULL;
	int rc = parse_args(cli, argc, argv, &a);

	if (rc != 0) {
		cli_opts_free(&a.opts);
		return rc < 0 ? 0 : rc;
	}
	rc = cli_target(cli, a.host, &a.opts, &t);
	cli_opts_free(&a.opts);
	if (rc != 0)
		return rc;
	l.json = a.json;
	l.reading_stdin = !a.no_stdin;
	l.inbuf = malloc(WBC_STDIN_CHUNK);
	rc = l.inbuf ? start(&l, &a, t) : EXIT_BROKER;
	wbc_target_free(t);
	if (rc == EXIT_USAGE) {
		cli_error(cli, "%s", l.err.message);
	} else if (rc == 0) {
		loop(&l);
		rc = outcome(&l);
	} else {
		rc = outcome(&l);
	}
	runloop_free(&l);
	return rc;
}
