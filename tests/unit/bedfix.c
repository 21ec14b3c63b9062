/* The embedded test bed as a Check fixture: see bedfix.h. */
#include "bedfix.h"

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Static: the signal handler must find the bed without arguments. */
static char bed_dir[256], down_path[512], control[256];
static pid_t parent_pid;

/* fork + execve + waitpid: what a signal handler may use. */
static int spawn_wait(const char *path, char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execve(path, argv, environ);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void take_down(void)
{
	char *down[] = { down_path, bed_dir, NULL };
	char *rm[] = { "/bin/rm", "-rf", bed_dir, NULL };

	spawn_wait(down_path, down);
	spawn_wait("/bin/rm", rm);
}

/* Check's forked test processes inherit this handler: only the parent owns the bed. */
static void on_signal(int sig)
{
	if (getpid() == parent_pid && bed_dir[0])
		take_down();
	signal(sig, SIG_DFL);
	raise(sig);
}

int bedfix_up(const char *name)
{
	const char *root = getenv("WB_SOURCE_ROOT");
	char up_path[512];
	char *up[] = { up_path, bed_dir, NULL };

	if (!root)
		root = "../..";
	snprintf(up_path, sizeof(up_path), "%s/tests/bed/up", root);
	snprintf(down_path, sizeof(down_path), "%s/tests/bed/down", root);
	snprintf(bed_dir, sizeof(bed_dir), "/tmp/wb-%s-bed-XXXXXX", name);
	parent_pid = getpid();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (!mkdtemp(bed_dir)) {
		bed_dir[0] = '\0';
		return -1;
	}
	chmod(bed_dir, 0755);
	if (spawn_wait(up_path, up) < 0)
		return -1;
	control[0] = '\0';
	bedfix_env("WINRM_TESTHOST_CONTROL", control, sizeof(control));
	return 0;
}

void bedfix_down(void)
{
	if (!bed_dir[0])
		return;
	take_down();
	bed_dir[0] = '\0';
}

const char *bedfix_dir(void)
{
	return bed_dir;
}

/* KEY's value if line is "export KEY=value" (value possibly shlex-quoted). */
static int env_line(const char *line, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key), n;
	const char *v;

	if (strncmp(line, "export ", 7) != 0 || strncmp(line + 7, key, kl) != 0 ||
	    line[7 + kl] != '=')
		return -1;
	v = line + 8 + kl;
	n = strcspn(v, "\n");
	if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
		v++;
		n -= 2;
	}
	if (n >= size)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

int bedfix_env(const char *key, char *out, size_t size)
{
	char path[600], line[1024];
	int rc = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/env", bed_dir);
	if (!(f = fopen(path, "r")))
		return -1;
	while (rc < 0 && fgets(line, sizeof(line), f))
		rc = env_line(line, key, out, size);
	fclose(f);
	return rc;
}

void bedfix_set(const char *json)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	FILE *null = fopen("/dev/null", "w");

	ck_assert_msg(control[0], "the bed has no WINRM_TESTHOST_CONTROL");
	curl_easy_setopt(c, CURLOPT_URL, control);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	fclose(null);
}

long bedfix_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

char *bedfix_file_since(const char *path, long offset)
{
	FILE *f = fopen(path, "r");
	long end;
	char *buf;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	buf = calloc(1, (size_t)(end - offset) + 2);
	ck_assert_ptr_nonnull(buf);
	fseek(f, offset, SEEK_SET);
	ck_assert_uint_eq(fread(buf, 1, (size_t)(end - offset), f), (size_t)(end - offset));
	fclose(f);
	return buf;
}

bool bedfix_jget(const char *line, size_t len, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p, *e, *stop = line + len;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = memmem(line, len, pat, strlen(pat));
	if (!p)
		return false;
	p += strlen(pat);
	if (*p == '"') {
		p++;
		e = memchr(p, '"', (size_t)(stop - p));
	} else {
		e = p + strcspn(p, ",}\n");
	}
	if (!e || e > stop || (n = (size_t)(e - p)) >= size)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

int bedfix_on_output(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct bedfix_out *o = ctx;

	(void)stream;
	if (o->len + n < sizeof(o->text)) {
		memcpy(o->text + o->len, p, n);
		o->len += n;
		o->text[o->len] = '\0';
	}
	return 0;
}

int bedfix_no_input(void *ctx, struct wb_input *ev)
{
	(void)ctx;
	memset(ev, 0, sizeof(*ev));
	return 0;
}

int bedfix_run(const struct wb_target *t, const struct wb_cred_meta *meta,
	       const struct wb_secret *s, struct wb_tickets *tickets, const char *cmd,
	       struct bedfix_out *o, struct wb_error *err)
{
	struct wb_io io = { .ctx = o, .on_output = bedfix_on_output,
			    .next_input = bedfix_no_input, .wait_fds = { -1, -1 },
			    .tickets = tickets };
	struct wb_winrm_result res;
	int rc;

	memset(o, 0, sizeof(*o));
	memset(err, 0, sizeof(*err));
	rc = wb_winrm_run(t, meta, s, cmd, NULL, 0, &io, &res, err);
	return rc < 0 ? rc : res.exit_code;
}
