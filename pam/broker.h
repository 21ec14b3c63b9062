/*
 * broker.h - pam_winrm_broker's connection to winrm-brokerd, made only
 * after the trust checks of docs/pam.md (SECURITY): the socket file is a
 * socket owned by root or broker_user, and the process holding the other
 * end (SO_PEERCRED) runs as broker_user (or root: systemd, when the socket
 * is activated). Not a byte, not even HELLO, is
 * sent before both checks have passed. No PAM calls here: the caller logs.
 */
#ifndef PWB_BROKER_H
#define PWB_BROKER_H

#include <sys/types.h>

#include "options.h"
#include "winrm-broker.h"

/*
 * A connection with o->timeout_sec as its reply timeout. Errors: WBC_E_IO
 * (not reachable: no socket, refused, no answer), WBC_E_DENIED (untrusted
 * socket or peer), WBC_E_CONFIG (broker_user unknown), or what HELLO gave
 * (WBC_E_PROTO, WBC_E_VERSION, WBC_E_TIMEOUT). err->message is one line
 * naming the socket.
 */
int pwb_broker_connect(const struct pwb_options *o, struct wbc_conn **out,
		       struct wbc_error *err);

/* getpwnam_r: 0 and *uid, -ENOENT for an unknown user, else -errno. */
int pwb_lookup_uid(const char *name, uid_t *uid);

#endif
