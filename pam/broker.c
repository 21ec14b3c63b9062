/* broker.c - the trusted connection to winrm-brokerd (see broker.h). */
#include "broker.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int seterr(struct wbc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int seterr(struct wbc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -code;
}

int pwb_lookup_uid(const char *name, uid_t *uid)
{
	struct passwd pw, *res = NULL;
	size_t size = 4096;
	char *buf = NULL;
	int rc;

	/* NSS entries (LDAP, SSSD) can be large: grow on ERANGE, up to 1 MiB. */
	for (;;) {
		char *nbuf = realloc(buf, size);

		if (!nbuf) {
			free(buf);
			return -ENOMEM;
		}
		buf = nbuf;
		rc = getpwnam_r(name, &pw, buf, size, &res);
		if (rc != ERANGE || size >= (1u << 20))
			break;
		size *= 2;
	}
	if (rc == 0 && res)
		*uid = pw.pw_uid;
	free(buf);
	if (rc != 0)
		return -rc;
	return res ? 0 : -ENOENT;
}

/* The socket file: a socket, owned by root or the broker's user. */
static int check_socket_file(const struct pwb_options *o, uid_t broker_uid,
			     struct wbc_error *err)
{
	struct stat st;

	if (lstat(o->socket, &st) < 0)
		return seterr(err, WBC_E_IO, "broker not reachable at %s (%s)", o->socket,
			      strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return seterr(err, WBC_E_DENIED, "untrusted broker socket %s: not a socket",
			      o->socket);
	if (st.st_uid != 0 && st.st_uid != broker_uid)
		return seterr(err, WBC_E_DENIED,
			      "untrusted broker socket %s: owned by uid %u, not by root or "
			      "broker_user %s (uid %u)", o->socket, (unsigned)st.st_uid,
			      o->broker_user, (unsigned)broker_uid);
	return 0;
}

static int open_socket(const struct pwb_options *o, int *out, struct wbc_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = o->timeout_sec };
	int fd, e;

	memcpy(sa.sun_path, o->socket, strlen(o->socket) + 1);	/* options.c checked the size */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return seterr(err, WBC_E_IO, "cannot create a socket: %s", strerror(errno));
	/* SO_SNDTIMEO also bounds connect() when the listen backlog is full. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		e = errno;
		close(fd);
		return seterr(err, WBC_E_IO, "cannot set the socket timeout: %s", strerror(e));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		if (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS)
			return seterr(err, WBC_E_IO, "broker not reachable at %s (no answer within "
				      "%d s)", o->socket, o->timeout_sec);
		return seterr(err, WBC_E_IO, "broker not reachable at %s (%s)", o->socket,
			      strerror(e));
	}
	*out = fd;
	return 0;
}

/*
 * The listening end belongs to the broker's user, or to root: with socket
 * activation the listener is systemd itself, and root could stand in for
 * any broker anyway. Anyone else is an impostor.
 */
static int check_peer(const struct pwb_options *o, int fd, uid_t broker_uid,
		      struct wbc_error *err)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return seterr(err, WBC_E_DENIED, "untrusted broker at %s: cannot tell who it is (%s)",
			      o->socket, strerror(errno));
	if (cred.uid != broker_uid && cred.uid != 0)
		return seterr(err, WBC_E_DENIED,
			      "untrusted broker at %s: the process behind it runs as uid %u, not "
			      "as root or broker_user %s (uid %u)", o->socket, (unsigned)cred.uid,
			      o->broker_user, (unsigned)broker_uid);
	return 0;
}

int pwb_broker_connect(const struct pwb_options *o, struct wbc_conn **out,
		       struct wbc_error *err)
{
	char client[64];
	uid_t broker_uid;
	int fd = -1, rc;

	*out = NULL;
	rc = pwb_lookup_uid(o->broker_user, &broker_uid);
	if (rc < 0)
		return seterr(err, WBC_E_CONFIG, "broker_user %s: %s", o->broker_user,
			      rc == -ENOENT ? "no such user" : strerror(-rc));
	rc = check_socket_file(o, broker_uid, err);
	if (rc == 0)
		rc = open_socket(o, &fd, err);
	if (rc == 0)
		rc = check_peer(o, fd, broker_uid, err);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	snprintf(client, sizeof(client), "pam_winrm_broker/%s", wbc_version());
	rc = wbc_connect_fd(fd, client, out, err);	/* owns fd from here */
	if (rc < 0) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		return seterr(err, err->code, "broker at %s: %s", o->socket, why);
	}
	wbc_set_timeout(*out, o->timeout_sec * 1000);
	return 0;
}
