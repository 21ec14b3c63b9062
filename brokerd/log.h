/*
 * log.h - the broker's log: one line per event on stderr, with sd-daemon
 * priority prefixes ("<6>...") so journald files each line at its level
 * when the broker runs under systemd.
 *
 * Never log a secret: callers pass names, ids and error messages only.
 * The level is the one piece of process-wide state outside main: main sets
 * it at start and on reload.
 */
#ifndef WB_LOG_H
#define WB_LOG_H

#include <syslog.h>

void wb_log_set_level(int level);	/* LOG_ERR .. LOG_DEBUG */
int wb_log_level_parse(const char *name);	/* "info" -> LOG_INFO, -1 if unknown */
void wb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
