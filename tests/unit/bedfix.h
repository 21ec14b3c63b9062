/*
 * The embedded test bed as a Check test's fixture: brings tests/bed/up up in
 * a fresh /tmp directory, reads its DIR/env, sets the test host's switches
 * (WINRM_TESTHOST_CONTROL), reads its logs, and takes it down again — also
 * on SIGTERM/SIGINT (meson's timeout), since the bed holds passwords and keys.
 * Also the plainest command run against it, collecting the output as text.
 * One bed per process; the state lives in bedfix.c.
 */
#ifndef WB_TESTS_BEDFIX_H
#define WB_TESTS_BEDFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "winrm/shell.h"

/* Brings a bed up in /tmp/wb-NAME-bed-XXXXXX; 0 or -1 (then call bedfix_down). */
int bedfix_up(const char *name);
/* Stops the bed and removes its directory; safe to call twice. */
void bedfix_down(void);
/* The bed's directory ("" when none). */
const char *bedfix_dir(void);
/* KEY's value from DIR/env (shell quoting removed) into out; 0, or -1 when absent. */
int bedfix_env(const char *key, char *out, size_t size);
/* POSTs JSON switches to the test host's control URL; asserts it answered. */
void bedfix_set(const char *json);

/* A file's size (0 when it does not exist). */
long bedfix_file_size(const char *path);
/* What was written to path since offset, NUL-terminated; free() it. */
char *bedfix_file_since(const char *path, long offset);
/* "key": value in a json.dumps line: a plain string or a number, as text. */
bool bedfix_jget(const char *line, size_t len, const char *key, char *out, size_t size);

/* A command's output, both streams, as text (what fits in 4 KiB). */
struct bedfix_out {
	char text[4096];
	size_t len;
};

/* wb_io callbacks: append to a struct bedfix_out (ctx); send no input. */
int bedfix_on_output(void *ctx, int stream, const uint8_t *p, size_t n);
int bedfix_no_input(void *ctx, struct wb_input *ev);
/* Runs cmd with wb_winrm_run into o; the command's exit code or a WB_E_* code. */
int bedfix_run(const struct wb_target *t, const struct wb_cred_meta *meta,
	       const struct wb_secret *s, struct wb_tickets *tickets, const char *cmd,
	       struct bedfix_out *o, struct wb_error *err);

#endif
