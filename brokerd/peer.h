/*
 * peer.h - who is on the other end of a client connection.
 *
 * Identity comes from the kernel only: SO_PEERCRED (uid, gid, pid) and the
 * uid's supplementary groups from NSS. Nothing the client claims is
 * trusted. The executable is looked up for the log and the audit; it can
 * be gone or unreadable, which is not an error.
 */
#ifndef WB_PEER_H
#define WB_PEER_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define WB_PEER_GROUPS_MAX 256

struct wb_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];		/* "" when the uid has no passwd entry */
	size_t n_groups;	/* primary gid included */
	gid_t groups[WB_PEER_GROUPS_MAX];
	char exe[256];		/* "" when unknown */
};

int wb_peer_identify(int fd, struct wb_peer *p, struct wb_error *err);
/* The identity of a local user by name or numeric uid, as if it had
 * connected (no pid, no exe): for `policy check --user`. */
int wb_peer_from_user(const char *name, struct wb_peer *p, struct wb_error *err);
bool wb_peer_in_group(const struct wb_peer *p, gid_t gid);

#endif
