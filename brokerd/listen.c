/* listen.c - the broker's listening socket: the one systemd passed
 * (socket activation), or one we bind ourselves. */
#include "listen.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static int from_systemd(int *fd, struct wb_error *err)
{
	int n = sd_listen_fds(1);

	if (n < 0)
		return wb_error_set(err, WB_E_CONFIG, "sd_listen_fds: %s", strerror(-n));
	if (n == 0)
		return 0;
	if (n > 1)
		return wb_error_set(err, WB_E_CONFIG,
				    "systemd passed %d sockets; the unit must have exactly one", n);
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
		return wb_error_set(err, WB_E_CONFIG,
				    "the socket systemd passed is not a listening Unix stream socket");
	*fd = SD_LISTEN_FDS_START;
	return 1;
}

/* A socket file left by an earlier run is replaced; any other file is not. */
static int remove_stale(const char *path, struct wb_error *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 :
		       wb_error_set(err, WB_E_IO, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return wb_error_set(err, WB_E_CONFIG, "%s exists and is not a socket; not touching it",
				    path);
	if (unlink(path) < 0)
		return wb_error_set(err, WB_E_IO, "cannot remove stale socket %s: %s", path,
				    strerror(errno));
	return 0;
}

static int bind_path(const char *path, int *out, struct wb_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return wb_error_set(err, WB_E_CONFIG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	rc = remove_stale(path, err);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wb_error_set(err, WB_E_IO, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    /* Anyone may connect: every request is checked against SO_PEERCRED. */
	    chmod(path, 0666) < 0 || listen(fd, 128) < 0) {
		rc = wb_error_set(err, WB_E_IO, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

int wb_listen(const char *path, int *fd, bool *activated, struct wb_error *err)
{
	int rc = from_systemd(fd, err);

	if (rc < 0)
		return rc;
	*activated = rc == 1;
	if (*activated)
		return 0;
	return bind_path(path, fd, err);
}
