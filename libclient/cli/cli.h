/*
 * cli.h - the winrm-broker command line, built on libwinrm-broker only.
 *
 * main.c parses the global options and dispatches; run.c, cred.c and
 * status.c are the subcommands; password.c reads secrets from the terminal,
 * stdin or files into locked memory; json.c writes JSON. Exit codes are in
 * docs/cli.md.
 */
#ifndef WB_CLI_H
#define WB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "winrm-broker.h"

#define EXIT_FAIL 1		/* the request failed (non-run commands) */
#define EXIT_USAGE 2		/* bad command line */
#define EXIT_INTERRUPTED 130	/* Ctrl-C three times during run */
#define EXIT_REMOTE_MAX 254	/* run: larger or negative remote codes become this */
#define EXIT_BROKER 255		/* run: the broker or the connection failed */

struct cli {
	const char *prog;	/* "winrm-broker" */
	const char *socket;	/* --socket, or NULL for the library default */
};

/* "winrm-broker: <message>" on stderr. */
void cli_error(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message and the usage on stderr; returns EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Connects; on failure prints the library's message and returns < 0. */
int cli_connect(const struct cli *cli, struct wbc_conn **c, struct wbc_error *err);

/* Target options from the command line, applied once the host is known. */
struct cli_opts {
	size_t n;
	const char *name[256];
	const char *value[256];
	char *owned[256];	/* -o copies */
};

/* Records "-o name=value" or a long option's name and value; < 0 when bad. */
int cli_opt_add(struct cli_opts *o, const char *name, const char *value);
int cli_opt_parse(struct cli_opts *o, const char *name_eq_value);
void cli_opts_free(struct cli_opts *o);
/* A target for host with the options set; prints the error and returns
 * EXIT_USAGE when one is bad, 0 on success. */
int cli_target(const struct cli *cli, const char *host, const struct cli_opts *o,
	       struct wbc_target **t);

/* A user or group name, or a number, to its id; false when unknown. */
bool cli_uid(const char *s, uint32_t *uid);
bool cli_gid(const char *s, uint32_t *gid);

int cmd_run(const struct cli *cli, int argc, char **argv);
int cmd_cred(const struct cli *cli, int argc, char **argv);
int cmd_status(const struct cli *cli, int argc, char **argv);
/* audit.c: reads the broker's audit file; links common/auditchain.c, not the library. */
int cmd_audit(const struct cli *cli, int argc, char **argv);
int cmd_policy(const struct cli *cli, int argc, char **argv);

/* --- password.c: secrets in sodium_malloc'd memory; free with secret_free --- */
#define SECRET_MAX 65536
/* Reads a line from /dev/tty without echo; confirm asks twice. -ENXIO: no
 * terminal; -ECANCELED: Ctrl-C; -EINVAL: the two differ; -ENODATA: empty. */
int secret_from_tty(const char *prompt, bool confirm, uint8_t **out, size_t *len);
/* All of stdin, less one trailing newline; -ENODATA when empty. */
int secret_from_stdin(uint8_t **out, size_t *len);
/* A whole file (at most SECRET_MAX bytes). */
int secret_from_file(const char *path, uint8_t **out, size_t *len);
void secret_free(uint8_t *p);

/* --- json.c --- */
void json_string(FILE *f, const char *s);
void json_base64(FILE *f, const uint8_t *p, size_t n);

#endif
