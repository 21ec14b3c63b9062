/* peer.c - see peer.h. */
#include "peer.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void lookup_groups(struct wb_peer *p)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = WB_PEER_GROUPS_MAX;

	p->groups[0] = p->gid;
	p->n_groups = 1;
	if (getpwuid_r(p->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return;
	snprintf(p->user, sizeof(p->user), "%s", pw.pw_name);
	/* Groups of the uid's account, with the connection's gid as primary.
	 * A user in more than WB_PEER_GROUPS_MAX groups keeps the first ones. */
	if (getgrouplist(pw.pw_name, p->gid, p->groups, &n) < 0)
		n = WB_PEER_GROUPS_MAX;
	p->n_groups = (size_t)n;
}

static void lookup_exe(struct wb_peer *p)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->pid);
	n = readlink(path, p->exe, sizeof(p->exe) - 1);
	p->exe[n > 0 ? n : 0] = '\0';
}

int wb_peer_identify(int fd, struct wb_peer *p, struct wb_error *err)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || len != sizeof(uc))
		return wb_error_set(err, WB_E_IO, "SO_PEERCRED failed: %s", strerror(errno));
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
	lookup_groups(p);
	lookup_exe(p);
	return 0;
}

int wb_peer_from_user(const char *name, struct wb_peer *p, struct wb_error *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *end;
	unsigned long uid;

	memset(p, 0, sizeof(*p));
	errno = 0;
	uid = strtoul(name, &end, 10);
	if (*name && !*end && errno == 0 && uid < UINT32_MAX)
		getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res);
	else
		getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (!res)
		return wb_error_set(err, WB_E_INVALID, "no local user '%s'", name);
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	lookup_groups(p);
	return 0;
}

bool wb_peer_in_group(const struct wb_peer *p, gid_t gid)
{
	size_t i;

	for (i = 0; i < p->n_groups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}
