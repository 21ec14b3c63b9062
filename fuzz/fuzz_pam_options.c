/*
 * fuzz_pam_options.c - pam/options.c: pam_winrm_broker's module arguments
 * (pwb_options_parse) and the PAM user -> Windows account mapping
 * (pwb_map_user). The input is split on NUL bytes: the first piece is the
 * PAM user (which the user typing at a login prompt chooses), the rest are
 * the arguments of the PAM line. Messages must stay within their buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "options.h"

#define MAX_ARGS 64

static void check_msg(const char *msg)
{
	if (!memchr(msg, '\0', PWB_MSG_MAX))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *pieces[MAX_ARGS + 1];
	char user[WBC_CRED_TEXT_MAX + 1], domain[WBC_CRED_TEXT_MAX + 1], msg[PWB_MSG_MAX];
	struct pwb_options o;
	size_t n = 0, at = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	while (n <= MAX_ARGS && at <= size) {
		pieces[n++] = copy + at;
		at += strlen(copy + at) + 1;
	}
	if (pwb_options_parse((int)n - 1, (const char **)pieces + 1, &o, msg, sizeof(msg)) == 0) {
		check_msg(msg);
		if (pwb_map_user(&o, pieces[0], user, domain, msg, sizeof(msg)) == 0 &&
		    (!memchr(user, '\0', sizeof(user)) || !memchr(domain, '\0', sizeof(domain))))
			abort();
	}
	check_msg(msg);
	free(copy);
	return 0;
}
