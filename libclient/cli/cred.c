/*
 * cred.c - `winrm-broker cred add|rm|ls|test`.
 *
 * Secrets come from the terminal (no echo), stdin (--password-stdin) or
 * files, into locked memory, and go to the library once; never from argv or
 * the environment. User and group names become ids here: the broker trusts
 * only ids in its ACLs, and checks who may do what itself.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char cred_usage[] =
	"usage: winrm-broker cred add NAME --user USER [--domain DOMAIN] [--password-stdin]\n"
	"                             [--shared [--allow-user U]... [--allow-group G]...]\n"
	"                             [--delegate] [--replace] [--owner USER]\n"
	"       winrm-broker cred add NAME --cert FILE --key FILE [--user USER] [OPTIONS]\n"
	"       winrm-broker cred add NAME --keytab FILE --user PRINCIPAL [OPTIONS]\n"
	"       winrm-broker cred rm NAME [--shared] [--owner USER]\n"
	"       winrm-broker cred ls [--json]\n"
	"       winrm-broker cred test NAME HOST [--shared|--personal] [-o NAME=VALUE]...\n"
	"\n"
	"  -u, --user USER        the Windows account (or Kerberos principal for --keytab)\n"
	"  -d, --domain DOMAIN    its NetBIOS domain or Kerberos realm\n"
	"      --password-stdin   read the password from stdin (one trailing newline is\n"
	"                         dropped); otherwise it is asked for on the terminal\n"
	"      --cert FILE        PEM client certificate (certificate credential)\n"
	"      --key FILE         PEM private key of the certificate\n"
	"      --keytab FILE      keytab (keytab credential)\n"
	"      --shared           a shared credential (root or the broker's admin group);\n"
	"                         default: a personal one, usable only by you\n"
	"      --allow-user U     a user (name or uid) who may use the shared credential\n"
	"      --allow-group G    a group (name or gid) whose members may use it\n"
	"      --delegate         the credential may be delegated (Kerberos, CredSSP)\n"
	"      --replace          replace an existing credential of that name\n"
	"      --owner USER       root only: add or remove USER's personal credential\n"
	"      --json             (ls) print a JSON array\n"
	"  test: the target options of `winrm-broker run` (-o, --port, --transport, ...)\n"
	"\n"
	"Exit status: 0 done, 1 the broker refused or failed (message on stderr),\n"
	"2 bad command line.\n";

enum {
	O_DOMAIN = 'd', O_USER = 'u', O_HELP = 'h', O_OPT = 'o', O_PORT = 'p', O_TRANSPORT = 't',
	O_INSECURE = 'k',
	O_PWSTDIN = 1000, O_CERT, O_KEY, O_KEYTAB, O_SHARED, O_PERSONAL, O_ALLOW_USER,
	O_ALLOW_GROUP, O_DELEGATE, O_REPLACE, O_OWNER, O_JSON, O_SCHEME, O_PATH, O_CA,
};

static const struct option cred_longopts[] = {
	{ "user", required_argument, NULL, O_USER },
	{ "domain", required_argument, NULL, O_DOMAIN },
	{ "password-stdin", no_argument, NULL, O_PWSTDIN },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "keytab", required_argument, NULL, O_KEYTAB },
	{ "shared", no_argument, NULL, O_SHARED },
	{ "personal", no_argument, NULL, O_PERSONAL },
	{ "allow-user", required_argument, NULL, O_ALLOW_USER },
	{ "allow-group", required_argument, NULL, O_ALLOW_GROUP },
	{ "delegate", no_argument, NULL, O_DELEGATE },
	{ "replace", no_argument, NULL, O_REPLACE },
	{ "owner", required_argument, NULL, O_OWNER },
	{ "json", no_argument, NULL, O_JSON },
	{ "port", required_argument, NULL, O_PORT },
	{ "scheme", required_argument, NULL, O_SCHEME },
	{ "path", required_argument, NULL, O_PATH },
	{ "transport", required_argument, NULL, O_TRANSPORT },
	{ "ca-trust-path", required_argument, NULL, O_CA },
	{ "insecure", no_argument, NULL, O_INSECURE },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

#define IDS_MAX WBC_CRED_ACL_MAX
#define USAGE_ERROR(...) cli_usage_error(cli, cred_usage, __VA_ARGS__)

struct cred_args {
	const char *name, *host;
	const char *user, *domain, *cert, *key, *keytab;
	bool pw_stdin, delegate, replace, json;
	int scope;		/* WBC_SCOPE_ANY unless --shared/--personal */
	bool has_owner;
	uint32_t owner;
	size_t n_uids, n_gids;
	uint32_t uids[IDS_MAX + 1], gids[IDS_MAX + 1];
	struct cli_opts opts;
	bool any_target_opt;	/* only `test` takes them */
};

static int parse_one(const struct cli *cli, int ch, struct cred_args *a)
{
	switch (ch) {
	case O_USER: a->user = optarg; return 0;
	case O_DOMAIN: a->domain = optarg; return 0;
	case O_PWSTDIN: a->pw_stdin = true; return 0;
	case O_CERT: a->cert = optarg; return 0;
	case O_KEY: a->key = optarg; return 0;
	case O_KEYTAB: a->keytab = optarg; return 0;
	case O_SHARED: a->scope = WBC_SCOPE_SHARED; return 0;
	case O_PERSONAL: a->scope = WBC_SCOPE_PERSONAL; return 0;
	case O_DELEGATE: a->delegate = true; return 0;
	case O_REPLACE: a->replace = true; return 0;
	case O_JSON: a->json = true; return 0;
	case O_ALLOW_USER:
		if (a->n_uids >= IDS_MAX || !cli_uid(optarg, &a->uids[a->n_uids]))
			return USAGE_ERROR("cred: unknown user '%s' (or too many)", optarg);
		a->n_uids++;
		return 0;
	case O_ALLOW_GROUP:
		if (a->n_gids >= IDS_MAX || !cli_gid(optarg, &a->gids[a->n_gids]))
			return USAGE_ERROR("cred: unknown group '%s' (or too many)", optarg);
		a->n_gids++;
		return 0;
	case O_OWNER:
		if (!cli_uid(optarg, &a->owner))
			return USAGE_ERROR("cred: unknown user '%s'", optarg);
		a->has_owner = true;
		return 0;
	}
	a->any_target_opt = true;
	switch (ch) {
	case O_OPT:
		return cli_opt_parse(&a->opts, optarg) < 0 ?
		       USAGE_ERROR("cred: -o wants NAME=VALUE, not '%s'", optarg) : 0;
	case O_PORT: return cli_opt_add(&a->opts, "port", optarg) < 0 ? EXIT_USAGE : 0;
	case O_SCHEME: return cli_opt_add(&a->opts, "scheme", optarg) < 0 ? EXIT_USAGE : 0;
	case O_PATH: return cli_opt_add(&a->opts, "path", optarg) < 0 ? EXIT_USAGE : 0;
	case O_TRANSPORT: return cli_opt_add(&a->opts, "transport", optarg) < 0 ? EXIT_USAGE : 0;
	case O_CA: return cli_opt_add(&a->opts, "ca_trust_path", optarg) < 0 ? EXIT_USAGE : 0;
	case O_INSECURE:
		return cli_opt_add(&a->opts, "server_cert_validation", "ignore") < 0 ? EXIT_USAGE : 0;
	}
	return USAGE_ERROR("cred: unknown option");
}

/* Options, then `positional` operands; -1 after --help. */
static int parse_args(const struct cli *cli, const char *sub, int argc, char **argv,
		      int positional, struct cred_args *a)
{
	struct wbc_error err;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "u:d:o:p:t:kh", cred_longopts, NULL)) != -1) {
		if (ch == O_HELP) {
			fputs(cred_usage, stdout);
			return -1;
		}
		if (ch == '?' || ch == ':')
			return USAGE_ERROR("cred: unknown or incomplete option '%s'",
					   argv[optind - 1]);
		rc = parse_one(cli, ch, a);
		if (rc)
			return rc;
	}
	if (argc - optind != positional)
		return USAGE_ERROR("cred %s: expected %d argument%s", sub,
				       positional, positional == 1 ? "" : "s");
	if (positional >= 1)
		a->name = argv[optind];
	if (positional >= 2)
		a->host = argv[optind + 1];
	if (a->any_target_opt && strcmp(sub, "test") != 0)
		return USAGE_ERROR("cred %s: target options belong to cred test",
				       sub);
	if (a->name && wbc_cred_name_check(a->name, &err) < 0)
		return USAGE_ERROR("%s", err.message);
	return 0;
}

/* A library error: the message, and exit 1. */
static int failed(const struct cli *cli, const struct wbc_error *err)
{
	cli_error(cli, "%s", err->message);
	return EXIT_FAIL;
}

static const char *secret_problem(int rc)
{
	switch (rc) {
	case -ENXIO: return "no terminal to ask for the password on; use --password-stdin";
	case -ECANCELED: return "cancelled";
	case -EINVAL: return "the passwords did not match";
	case -ENODATA: return "the password is empty";
	case -EFBIG: return "longer than 65536 bytes";
	default: return strerror(-rc);
	}
}

static int read_password(const struct cli *cli, const struct cred_args *a, uint8_t **pw,
			 size_t *len)
{
	char prompt[160];
	int rc;

	if (a->pw_stdin) {
		rc = secret_from_stdin(pw, len);
		if (rc < 0)
			cli_error(cli, "reading the password from stdin: %s", secret_problem(rc));
		return rc;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s%s%s: ", a->domain ? a->domain : "",
		 a->domain ? "\\" : "", a->user);
	rc = secret_from_tty(prompt, true, pw, len);
	if (rc < 0)
		cli_error(cli, "reading the password: %s", secret_problem(rc));
	return rc;
}

/* The secret of the chosen kind, and the certificate for that kind. */
static int read_secrets(const struct cli *cli, const struct cred_args *a, int kind,
			uint8_t **secret, size_t *len, uint8_t **cert, size_t *cert_len)
{
	const char *file = kind == WBC_KIND_KEYTAB ? a->keytab : a->key;
	int rc;

	if (kind == WBC_KIND_PASSWORD)
		return read_password(cli, a, secret, len);
	rc = secret_from_file(file, secret, len);
	if (rc == 0 && kind == WBC_KIND_CERTIFICATE) {
		file = a->cert;
		rc = secret_from_file(file, cert, cert_len);
	}
	if (rc < 0)
		cli_error(cli, "reading %s: %s", file,
			  rc == -ENODATA ? "the file is empty" : secret_problem(rc));
	return rc;
}

static int check_add_args(const struct cli *cli, const struct cred_args *a, int *kind)
{
	if ((a->cert || a->key) && a->keytab)
		return USAGE_ERROR("cred add: --cert/--key and --keytab exclude each other");
	if ((a->cert || a->key) && !(a->cert && a->key))
		return USAGE_ERROR("cred add: a certificate credential needs --cert and --key");
	*kind = a->keytab ? WBC_KIND_KEYTAB : a->cert ? WBC_KIND_CERTIFICATE : WBC_KIND_PASSWORD;
	if (a->pw_stdin && *kind != WBC_KIND_PASSWORD)
		return USAGE_ERROR("cred add: --password-stdin is for password credentials");
	if (!a->user && *kind != WBC_KIND_CERTIFICATE)
		return USAGE_ERROR("cred add: --user is required");
	if ((a->n_uids || a->n_gids) && a->scope != WBC_SCOPE_SHARED)
		return USAGE_ERROR("cred add: --allow-user/--allow-group need --shared");
	if (a->has_owner && a->scope == WBC_SCOPE_SHARED)
		return USAGE_ERROR("cred add: --owner is for personal credentials");
	return 0;
}

/* Builds the request; the secret goes in once and is wiped by the caller. */
static int build_add(const struct cred_args *a, int kind, const uint8_t *secret, size_t len,
		     const uint8_t *cert, size_t cert_len, struct wbc_cred_add **req,
		     struct wbc_error *err)
{
	int scope = a->scope == WBC_SCOPE_SHARED ? WBC_SCOPE_SHARED : WBC_SCOPE_PERSONAL;
	size_t i;
	int rc = wbc_cred_add_new(a->name, scope, kind, a->user ? a->user : "", a->domain, req, err);

	if (rc == 0)
		rc = wbc_cred_add_secret(*req, secret, len, err);
	if (rc == 0 && cert)
		rc = wbc_cred_add_cert(*req, cert, cert_len, err);
	if (rc == 0 && a->delegate)
		rc = wbc_cred_add_flags(*req, WBC_CRED_DELEGATE, err);
	for (i = 0; rc == 0 && i < a->n_uids; i++)
		rc = wbc_cred_add_allow_uid(*req, a->uids[i], err);
	for (i = 0; rc == 0 && i < a->n_gids; i++)
		rc = wbc_cred_add_allow_gid(*req, a->gids[i], err);
	if (rc == 0 && a->has_owner)
		rc = wbc_cred_add_owner(*req, a->owner, err);
	return rc;
}

static int cred_add(const struct cli *cli, struct cred_args *a)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_add *req = NULL;
	struct wbc_conn *c = NULL;
	uint8_t *secret = NULL, *cert = NULL;
	size_t len = 0, cert_len = 0;
	int kind = WBC_KIND_PASSWORD, rc = check_add_args(cli, a, &kind);

	if (rc)
		return rc;
	/* Check the names before asking for a password that would be wasted. */
	rc = wbc_cred_add_new(a->name, a->scope == WBC_SCOPE_SHARED ? WBC_SCOPE_SHARED :
			      WBC_SCOPE_PERSONAL, kind, a->user ? a->user : "", a->domain, &req, &err);
	wbc_cred_add_free(req);
	req = NULL;
	if (rc < 0) {
		cli_error(cli, "%s", err.message);
		return EXIT_USAGE;
	}
	if (read_secrets(cli, a, kind, &secret, &len, &cert, &cert_len) < 0)
		return EXIT_FAIL;
	rc = build_add(a, kind, secret, len, cert, cert_len, &req, &err);
	secret_free(secret);
	secret_free(cert);
	if (rc == 0)
		rc = cli_connect(cli, &c, &err) < 0 ? -1 : 0;
	else
		cli_error(cli, "%s", err.message);
	if (rc == 0 && wbc_cred_add_send(c, req, a->replace, &err) < 0)
		rc = failed(cli, &err);
	wbc_cred_add_free(req);
	wbc_close(c);
	return rc == 0 ? 0 : EXIT_FAIL;
}

static int cred_rm(const struct cli *cli, struct cred_args *a)
{
	struct wbc_error err = { 0 };
	struct wbc_conn *c;
	int scope = a->scope == WBC_SCOPE_SHARED ? WBC_SCOPE_SHARED : WBC_SCOPE_PERSONAL;
	int rc;

	if (cli_connect(cli, &c, &err) < 0)
		return EXIT_FAIL;
	rc = wbc_cred_remove(c, a->name, scope, a->has_owner ? a->owner : WBC_NO_OWNER, &err);
	wbc_close(c);
	return rc < 0 ? failed(cli, &err) : 0;
}

static const char *kind_name(int kind)
{
	return kind == WBC_KIND_PASSWORD ? "password" : kind == WBC_KIND_CERTIFICATE ?
	       "certificate" : kind == WBC_KIND_KEYTAB ? "keytab" : "unknown";
}

static const char *scope_name(int scope)
{
	return scope == WBC_SCOPE_SHARED ? "shared" : "personal";
}

static void print_ids(const uint32_t *ids, size_t n)
{
	size_t i;

	putchar('[');
	for (i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", ids[i]);
	putchar(']');
}

static void print_json_info(const struct wbc_cred_info *in, bool first)
{
	printf("%s{\"name\":", first ? "" : ",");
	json_string(stdout, in->name);
	printf(",\"scope\":\"%s\",\"owner\":%u,\"kind\":\"%s\",\"user\":", scope_name(in->scope),
	       in->owner, kind_name(in->kind));
	json_string(stdout, in->user);
	fputs(",\"domain\":", stdout);
	json_string(stdout, in->domain);
	printf(",\"delegate\":%s,\"created\":%lld,\"updated\":%lld,\"allow_uids\":",
	       in->flags & WBC_CRED_DELEGATE ? "true" : "false", (long long)in->created,
	       (long long)in->updated);
	print_ids(in->allow_uids, in->n_allow_uids);
	fputs(",\"allow_gids\":", stdout);
	print_ids(in->allow_gids, in->n_allow_gids);
	/* Only session credentials carry these, so other entries read as before. */
	if (in->session) {
		printf(",\"session\":true,\"sessions\":%u,\"expires\":", in->sessions);
		if (in->expires > 0)
			printf("%lld", (long long)in->expires);
		else
			fputs("null", stdout);
	}
	putchar('}');
}

static void utc_time(int64_t when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	snprintf(buf, size, "-");
	if (t > 0 && gmtime_r(&t, &tm))
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "  (session, 2 logins, expires 2026-...Z)" after the account. */
static void print_session_note(const struct wbc_cred_info *in)
{
	char when[32];

	if (!in->session)
		return;
	printf("  (session, %u login%s", in->sessions, in->sessions == 1 ? "" : "s");
	if (in->expires > 0) {
		utc_time(in->expires, when, sizeof(when));
		printf(", expires %s", when);
	}
	putchar(')');
}

static void print_text_info(const struct wbc_cred_info *in)
{
	char account[2 * WBC_CRED_TEXT_MAX + 2], when[32];

	snprintf(account, sizeof(account), "%s%s%s", in->domain, in->domain[0] ? "\\" : "", in->user);
	utc_time(in->updated, when, sizeof(when));
	printf("%-24s %-8s %-11s %-6u %-20s %-4s %s", in->name, scope_name(in->scope),
	       kind_name(in->kind), in->owner, when, in->flags & WBC_CRED_DELEGATE ? "yes" : "no",
	       account);
	print_session_note(in);
	putchar('\n');
}

static int cred_ls(const struct cli *cli, struct cred_args *a)
{
	struct wbc_error err = { 0 };
	struct wbc_cred_info info;
	struct wbc_conn *c;
	int rc, n = 0;

	if (cli_connect(cli, &c, &err) < 0)
		return EXIT_FAIL;
	rc = wbc_cred_list_begin(c, &err);
	if (rc == 0 && a->json)
		putchar('[');
	else if (rc == 0)
		printf("%-24s %-8s %-11s %-6s %-20s %-4s %s\n", "NAME", "SCOPE", "KIND", "OWNER",
		       "UPDATED", "DELEG", "ACCOUNT");
	while (rc == 0 && (rc = wbc_cred_list_next(c, &info, &err)) == 1) {
		if (a->json)
			print_json_info(&info, n == 0);
		else
			print_text_info(&info);
		n++;
		rc = 0;
	}
	if (rc == 0 && a->json)
		puts("]");
	wbc_close(c);
	return rc < 0 ? failed(cli, &err) : 0;
}

static int cred_test(const struct cli *cli, struct cred_args *a)
{
	struct wbc_error err = { 0 };
	struct wbc_target *t;
	struct wbc_conn *c;
	int rc = cli_target(cli, a->host, &a->opts, &t);

	if (rc)
		return rc;
	if (cli_connect(cli, &c, &err) < 0) {
		wbc_target_free(t);
		return EXIT_FAIL;
	}
	rc = wbc_cred_test(c, a->name, a->scope, t, &err);
	wbc_close(c);
	wbc_target_free(t);
	if (rc < 0)
		return failed(cli, &err);
	printf("ok: %s authenticated to %s\n", a->name, a->host);
	return 0;
}

int cmd_cred(const struct cli *cli, int argc, char **argv)
{
	struct cred_args a = { 0 };
	const char *sub = argc > 1 ? argv[1] : "";
	int rc, positional;

	if (argc < 2)
		return USAGE_ERROR("cred: no subcommand given");
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		fputs(cred_usage, stdout);
		return 0;
	}
	positional = strcmp(sub, "ls") == 0 ? 0 : strcmp(sub, "test") == 0 ? 2 : 1;
	if (strcmp(sub, "add") && strcmp(sub, "rm") && strcmp(sub, "ls") && strcmp(sub, "test"))
		return USAGE_ERROR("cred: unknown subcommand '%s'", sub);
	rc = parse_args(cli, sub, argc - 1, argv + 1, positional, &a);
	if (rc == 0) {
		if (strcmp(sub, "add") == 0)
			rc = cred_add(cli, &a);
		else if (strcmp(sub, "rm") == 0)
			rc = cred_rm(cli, &a);
		else if (strcmp(sub, "ls") == 0)
			rc = cred_ls(cli, &a);
		else
			rc = cred_test(cli, &a);
	}
	cli_opts_free(&a.opts);
	return rc < 0 ? 0 : rc;
}
