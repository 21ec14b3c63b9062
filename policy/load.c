/* load.c - reads the policy directory: the engine's only I/O. */
#include "policy_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void freep(void *p)
{
	free(*(void **)p);
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* The policy decides who may use which secret, so only root (or the
 * broker's own user, for tests) may be able to change it (OpenSSH's
 * StrictModes). */
static int check_owner(const char *path, const struct stat *st, struct wb_error *err)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return wb_error_set(err, WB_E_CONFIG, "%s: owned by uid %u, not by root; chown "
				    "root %s", path, (unsigned)st->st_uid, path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return wb_error_set(err, WB_E_CONFIG, "%s: writable by group or others; chmod "
				    "go-w %s", path, path);
	return 0;
}

static bool is_conf_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".conf");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The *.conf names of the directory, in strcmp order (not the locale's). */
static int list_names(int dfd, const char *dir, char ***out, size_t *n_out,
		      struct wb_error *err)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(dfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return wb_error_set(err, WB_E_CONFIG, "%s: cannot list: %s", dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		char **nn;

		if (!is_conf_name(de->d_name))
			continue;
		if (n == WB_POLICY_MAX_FILES) {
			closedir(d);
			free_names(names, n);
			return wb_error_set(err, WB_E_CONFIG, "%s: more than %d *.conf files", dir,
					    WB_POLICY_MAX_FILES);
		}
		nn = reallocarray(names, n + 1, sizeof(*nn));
		if (!nn || !(nn[n] = strdup(de->d_name))) {
			closedir(d);
			free_names(nn ? nn : names, n);
			return wb_error_set(err, WB_E_INTERNAL, "policy: out of memory");
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	*out = names;
	*n_out = n;
	return 0;
}

static int read_file(int dfd, const char *name, const char *path, uint8_t **out, size_t *len,
		     struct wb_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	int rc;

	/* O_NONBLOCK: a FIFO named x.conf must not hang the broker. */
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return wb_error_set(err, WB_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return wb_error_set(err, WB_E_CONFIG, "%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return wb_error_set(err, WB_E_CONFIG, "%s: not a regular file", path);
	rc = check_owner(path, &st, err);
	if (rc < 0)
		return rc;
	if (st.st_size > WB_POLICY_MAX_FILE)
		return wb_error_set(err, WB_E_CONFIG, "%s: larger than %d bytes", path,
				    WB_POLICY_MAX_FILE);
	/* One byte more than allowed, to see a file that grew since fstat. */
	buf = malloc(WB_POLICY_MAX_FILE + 1);
	if (!buf)
		return wb_error_set(err, WB_E_INTERNAL, "policy: out of memory");
	*len = 0;
	while (*len < WB_POLICY_MAX_FILE + 1) {
		ssize_t r = read(fd, buf + *len, WB_POLICY_MAX_FILE + 1 - *len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wb_error_set(err, WB_E_CONFIG, "%s: cannot read: %s", path,
					    strerror(errno));
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	*out = buf;
	buf = NULL;
	return 0;
}

static int load_file(int dfd, const char *dir, const char *name, struct wb_policy *p,
		     struct wb_error *err)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *path = NULL;
	size_t len = 0, dn = strlen(dir);
	int rc;

	if (asprintf(&path, "%s%s%s", dir, dn && dir[dn - 1] == '/' ? "" : "/", name) < 0) {
		path = NULL;
		return wb_error_set(err, WB_E_INTERNAL, "policy: out of memory");
	}
	rc = read_file(dfd, name, path, &buf, &len, err);
	if (rc < 0)
		return rc;
	return wb_policy_parse(buf, len, path, p, err);
}

static int open_dir(const char *dir, struct wb_error *err)
{
	struct stat st;
	int rc, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return wb_error_set(err, WB_E_CONFIG, "%s: cannot open the policy directory: %s",
				    dir, strerror(errno));
	if (fstat(fd, &st) < 0)
		rc = wb_error_set(err, WB_E_CONFIG, "%s: cannot stat: %s", dir, strerror(errno));
	else
		rc = check_owner(dir, &st, err);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Parses every file into p; returns the first error (in err), after
 * reporting each file's. */
static int load_files(int dfd, const char *dir, char **names, size_t n, struct wb_policy *p,
		      struct wb_error *err, wb_policy_report_fn *report, void *ctx)
{
	int first = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		struct wb_error e = { 0 };
		int rc = load_file(dfd, dir, names[i], p, &e);

		if (rc >= 0)
			continue;
		if (report)
			report(ctx, &e);
		if (!first) {
			first = rc;
			*err = e;
		}
	}
	return first;
}

int wb_policy_load_dir(const char *dir, struct wb_policy **out, struct wb_error *err,
		       wb_policy_report_fn *report, void *ctx)
{
	_cleanup_close_ int dfd = -1;
	struct wb_error local = { 0 };
	struct wb_policy *p = NULL;
	char **names = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (!err)
		err = &local;
	wb_error_clear(err);
	rc = dfd = open_dir(dir, err);
	if (rc >= 0)
		rc = list_names(dfd, dir, &names, &n, err);
	if (rc >= 0 && !(p = wb_policy_new()))
		rc = wb_error_set(err, WB_E_INTERNAL, "policy: out of memory");
	if (rc < 0) {
		if (report)
			report(ctx, err);
		free_names(names, n);
		return rc;
	}
	rc = load_files(dfd, dir, names, n, p, err, report, ctx);
	free_names(names, n);
	if (rc < 0) {
		wb_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}
