/*
 * listen.h - the listening Unix socket: taken from systemd (socket
 * activation, sd_listen_fds) when there is one, else bound at the
 * configured path with mode 0666 (access is decided per request).
 */
#ifndef WB_LISTEN_H
#define WB_LISTEN_H

#include <stdbool.h>

#include "error.h"

int wb_listen(const char *path, int *fd, bool *activated, struct wb_error *err);

#endif
