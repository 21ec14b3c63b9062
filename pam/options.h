/*
 * options.h - pam_winrm_broker's module arguments and its user-name
 * mapping (docs/pam.md, OPTIONS).
 *
 * Pure functions: no PAM, no I/O, no environment, so the unit tests
 * (tests/unit/test_pam_options.c) drive them directly. Errors are -EINVAL
 * with a one-line message for the log; an argument's value is quoted
 * (shortened) in it, never anything else.
 */
#ifndef PWB_OPTIONS_H
#define PWB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "winrm-broker.h"

#define PWB_DEFAULT_NAME "login"
#define PWB_DEFAULT_BROKER_USER "root"
#define PWB_DEFAULT_TIMEOUT_SEC 5
#define PWB_TIMEOUT_MAX_SEC 300	/* a login never waits longer for the broker */
#define PWB_USER_MAX 256	/* broker_user= */
#define PWB_MSG_MAX 256		/* the size an error message needs */

enum pwb_pass {
	PWB_PASS_DEFAULT,	/* PAM_AUTHTOK if there is one; never prompt */
	PWB_PASS_USE_FIRST,	/* use_first_pass: PAM_AUTHTOK or fail */
	PWB_PASS_TRY_FIRST,	/* try_first_pass: PAM_AUTHTOK, else prompt once */
};

struct pwb_options {
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[WBC_CRED_NAME_MAX + 1];	/* the credential */
	char domain[WBC_CRED_TEXT_MAX + 1];	/* "" unless domain= */
	char realm[WBC_CRED_TEXT_MAX + 1];	/* "" unless realm= */
	char format[WBC_CRED_TEXT_MAX + 1];	/* "" unless format= */
	char broker_user[PWB_USER_MAX + 1];
	uint32_t ttl_sec;			/* 0: none */
	uint32_t minimum_uid;
	int timeout_sec;
	enum pwb_pass pass;
	bool validate, delegate, broker_down_fail, debug;
};

/*
 * Fills *o with the defaults, then the arguments. Every argument is
 * looked at even after a bad one, so broker_down= still takes effect for
 * the caller's return code; the first problem is returned (-EINVAL, msg).
 */
int pwb_options_parse(int argc, const char **argv, struct pwb_options *o, char *msg,
		      size_t msg_size);

/*
 * The Windows account for a PAM user: user and domain (each
 * WBC_CRED_TEXT_MAX + 1 bytes; domain "" when there is none).
 *   default      user = PAM user (a "DOMAIN\user" PAM user is split)
 *   domain=D     user = PAM user, domain = D
 *   realm=R      user = PAM user@R (with domain=D too: domain = D)
 *   format=F     %u is the PAM user, %% a %; a "DOMAIN\user" result is split
 * A PAM user that is already qualified (contains \ or @) is refused when the
 * options qualify it again, and so is a result Windows would not take as
 * an account name. -EINVAL with msg.
 */
int pwb_map_user(const struct pwb_options *o, const char *pam_user, char *user, char *domain,
		 char *msg, size_t msg_size);

#endif
