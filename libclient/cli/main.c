/* main.c - winrm-broker: global options, dispatch, shared helpers (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: winrm-broker [--socket PATH] COMMAND [ARGS]\n"
	"\n"
	"Runs commands on Windows hosts through winrm-brokerd, which holds the credentials.\n"
	"\n"
	"commands:\n"
	"  run         run a command on a host\n"
	"  cred add    add a credential (cred rm, cred ls, cred test)\n"
	"  status      show the broker's status\n"
	"  audit       verify or show the broker's audit file (audit verify, audit show)\n"
	"  policy      what the broker's policy decides for a run (policy check)\n"
	"\n"
	"options:\n"
	"  --socket PATH   the broker's socket (default $WINRM_BROKER_SOCKET, else\n"
	"                  " WBC_DEFAULT_SOCKET ")\n"
	"  --version       print the version\n"
	"  -h, --help      this help; COMMAND --help for a command's\n";

void cli_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const struct cli *cli, const char *use, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", use);
	return EXIT_USAGE;
}

int cli_connect(const struct cli *cli, struct wbc_conn **c, struct wbc_error *err)
{
	int rc = wbc_connect(cli->socket, "winrm-broker/" WBC_VERSION_STRING, c, err);

	if (rc < 0)
		cli_error(cli, "%s", err->message);
	return rc;
}

int cli_opt_add(struct cli_opts *o, const char *name, const char *value)
{
	if (o->n >= sizeof(o->name) / sizeof(o->name[0]))
		return -1;
	o->name[o->n] = name;
	o->value[o->n] = value;
	o->owned[o->n] = NULL;
	o->n++;
	return 0;
}

int cli_opt_parse(struct cli_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *name;

	if (!eq || eq == arg)
		return -1;
	name = strndup(arg, (size_t)(eq - arg));
	if (!name || cli_opt_add(o, name, eq + 1) < 0) {
		free(name);
		return -1;
	}
	o->owned[o->n - 1] = name;
	return 0;
}

void cli_opts_free(struct cli_opts *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->owned[i]);
	o->n = 0;
}

int cli_target(const struct cli *cli, const char *host, const struct cli_opts *o,
	       struct wbc_target **t)
{
	struct wbc_error err = { 0 };
	size_t i;

	if (wbc_target_new(host, t, &err) < 0) {
		cli_error(cli, "%s", err.message);
		return EXIT_USAGE;
	}
	for (i = 0; i < o->n; i++) {
		if (wbc_target_set(*t, o->name[i], o->value[i], &err) < 0) {
			cli_error(cli, "%s", err.message);
			wbc_target_free(*t);
			*t = NULL;
			return EXIT_USAGE;
		}
	}
	return 0;
}

static bool number(const char *s, uint32_t *v)
{
	char *end;
	unsigned long n;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*end || errno || n >= 0xFFFFFFFFul)
		return false;
	*v = (uint32_t)n;
	return true;
}

bool cli_uid(const char *s, uint32_t *uid)
{
	struct passwd *pw = getpwnam(s);

	if (pw) {
		*uid = pw->pw_uid;
		return true;
	}
	return number(s, uid);
}

bool cli_gid(const char *s, uint32_t *gid)
{
	struct group *gr = getgrnam(s);

	if (gr) {
		*gid = gr->gr_gid;
		return true;
	}
	return number(s, gid);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .prog = "winrm-broker" };
	const char *cmd;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			cli.socket = optarg;
			break;
		case 'V':
			printf("winrm-broker %s (libwinrm-broker %s)\n", WBC_VERSION_STRING,
			       wbc_version());
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_usage_error(&cli, usage, "unknown or incomplete option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(&cli, usage, "no command given");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;	/* GNU getopt: start afresh on the subcommand's arguments */
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&cli, argc, argv);
	if (strcmp(cmd, "cred") == 0)
		return cmd_cred(&cli, argc, argv);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&cli, argc, argv);
	if (strcmp(cmd, "audit") == 0)
		return cmd_audit(&cli, argc, argv);
	if (strcmp(cmd, "policy") == 0)
		return cmd_policy(&cli, argc, argv);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	return cli_usage_error(&cli, usage, "unknown command '%s'", cmd);
}
