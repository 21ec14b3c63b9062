/*
 * session.h - one client connection, from HELLO to close: reads request
 * frames, decides with the caller's kernel identity what it may do, and
 * answers (docs/protocol.md). A RUN is bridged to the WinRM engine with
 * stdin, signals and output streamed both ways.
 *
 * One thread per session; a session touches shared state only through
 * struct wb_broker.
 */
#ifndef WB_SESSION_H
#define WB_SESSION_H

#include "broker.h"

/* Serves the connection until it closes, then closes fd. Takes ownership
 * of fd whatever happens. */
void wb_session_serve(struct wb_broker *b, int fd);

#endif
