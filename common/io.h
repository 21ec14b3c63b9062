/*
 * io.h - whole-buffer writes to a socket, pipe or file: retries short
 * writes and EINTR, and never raises SIGPIPE on a socket.
 */
#ifndef WB_IO_H
#define WB_IO_H

#include <stddef.h>

/* 0, or -errno. */
int wb_write_all(int fd, const void *p, size_t n);

#endif
