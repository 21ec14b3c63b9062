/* policy.c - `winrm-broker policy check`: asks the broker what its policy
 * decides for a run, without running anything. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char policy_usage[] =
	"usage: winrm-broker policy check [--user USER] --cred NAME [--shared|--personal]\n"
	"                                 [-t TRANSPORTS] [-o NAME=VALUE]... [--json]\n"
	"                                 {--host HOST | HOST} [--] COMMAND [ARG...]\n"
	"\n"
	"Prints the decision the broker's policy makes for that run (allow or deny),\n"
	"the rule behind it (file:line [rule NAME]) and why. The broker builds the\n"
	"same request a run would, so this is what `winrm-broker run` would meet.\n"
	"\n"
	"  -u, --user USER        decide for USER (root or the admin group); default: you\n"
	"  -c, --cred NAME        the credential\n"
	"      --shared/--personal  which scope to look in (default: personal, then shared)\n"
	"  -t, --transport LIST, -p, --port, -o NAME=VALUE   target options, as for run\n"
	"      --json             one JSON object: allow, rule, reason, transports\n"
	"\n"
	"Exit status: 0 allowed, 1 denied, 2 bad command line, 255 no decision (e.g. no\n"
	"such credential, the broker unreachable).\n";

#define USAGE_ERROR(...) cli_usage_error(cli, policy_usage, __VA_ARGS__)

struct check_args {
	const char *user, *cred, *host;
	int scope;
	bool json;
	struct cli_opts opts;
	char **command;
	int n_command;
};

static int parse(const struct cli *cli, int argc, char **argv, struct check_args *a)
{
	enum { O_SHARED = 1000, O_PERSONAL, O_JSON };
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "cred", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'H' },
		{ "shared", no_argument, NULL, O_SHARED },
		{ "personal", no_argument, NULL, O_PERSONAL },
		{ "transport", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	optind = 0;	/* GNU getopt: start afresh */
	while ((c = getopt_long(argc, argv, "+u:c:H:t:p:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': a->user = optarg; break;
		case 'c': a->cred = optarg; break;
		case 'H': a->host = optarg; break;
		case O_SHARED: a->scope = WBC_SCOPE_SHARED; break;
		case O_PERSONAL: a->scope = WBC_SCOPE_PERSONAL; break;
		case O_JSON: a->json = true; break;
		case 't': rc = cli_opt_add(&a->opts, "transport", optarg); break;
		case 'p': rc = cli_opt_add(&a->opts, "port", optarg); break;
		case 'o': rc = cli_opt_parse(&a->opts, optarg); break;
		case 'h': fputs(policy_usage, stdout); return -1;
		default: return USAGE_ERROR("policy check: bad option");
		}
		if (rc < 0)
			return USAGE_ERROR("policy check: bad target option");
	}
	if (!a->cred)
		return USAGE_ERROR("policy check: --cred is required");
	if (!a->host && optind < argc && strcmp(argv[optind], "--") != 0)
		a->host = argv[optind++];
	if (!a->host)
		return USAGE_ERROR("policy check: HOST is required");
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return USAGE_ERROR("policy check: COMMAND is required");
	a->command = argv + optind;
	a->n_command = argc - optind;
	return 0;
}

static void print(const struct check_args *a, const struct wbc_policy_decision *d)
{
	size_t i;

	if (a->json) {
		printf("{\"allow\":%s,\"rule\":", d->allow ? "true" : "false");
		json_string(stdout, d->rule);
		fputs(",\"reason\":", stdout);
		json_string(stdout, d->reason);
		fputs(",\"transports\":[", stdout);
		for (i = 0; i < d->n_transports; i++) {
			if (i)
				putchar(',');
			json_string(stdout, d->transports[i]);
		}
		puts("]}");
		return;
	}
	printf("%s\nrule: %s\nreason: %s\n", d->allow ? "allow" : "deny", d->rule, d->reason);
	if (d->allow && d->n_transports) {
		fputs("transports:", stdout);
		for (i = 0; i < d->n_transports; i++)
			printf(" %s", d->transports[i]);
		putchar('\n');
	}
}

static int check(const struct cli *cli, int argc, char **argv)
{
	struct check_args a = { .scope = WBC_SCOPE_ANY };
	struct wbc_policy_decision d;
	struct wbc_target *t = NULL;
	struct wbc_conn *c = NULL;
	struct wbc_error err;
	int rc = parse(cli, argc, argv, &a);

	if (rc != 0) {
		cli_opts_free(&a.opts);
		return rc < 0 ? 0 : rc;
	}
	rc = cli_target(cli, a.host, &a.opts, &t);
	if (rc == 0 && cli_connect(cli, &c, &err) < 0)
		rc = EXIT_BROKER;
	if (rc == 0) {
		if (wbc_policy_check(c, a.user, a.cred, a.scope, t, a.command[0],
				     (const char *const *)a.command + 1, (size_t)a.n_command - 1,
				     &d, &err) < 0) {
			cli_error(cli, "%s", err.message);
			rc = EXIT_BROKER;
		} else {
			print(&a, &d);
			rc = d.allow ? 0 : EXIT_FAIL;
		}
	}
	wbc_close(c);
	wbc_target_free(t);
	cli_opts_free(&a.opts);
	return rc;
}

int cmd_policy(const struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(policy_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "check") != 0)
		return USAGE_ERROR("policy: unknown subcommand '%s'", argv[1]);
	return check(cli, argc - 1, argv + 1);
}
