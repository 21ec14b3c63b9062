/* policy.c - POLICY_CHECK: what the broker's policy would decide for a run,
 * asked of the broker itself so the answer is the one a run meets. */
#include <errno.h>
#include <string.h>

#include "client.h"

static int put_request(struct wb_writer *w, const char *user, const char *cred, int scope,
		       const char *command, const char *const *args, size_t n_args)
{
	size_t i;
	int rc = wb_msg_begin(w, WB_MSG_POLICY_CHECK);

	rc = rc ?: wb_msg_put_str(w, WB_A_CRED, cred);
	rc = rc ?: wb_msg_put_str(w, WB_A_COMMAND, command);
	for (i = 0; rc == 0 && i < n_args; i++)
		rc = wb_msg_put_str(w, WB_A_ARG, args[i]);
	if (rc == 0 && user && *user)
		rc = wb_msg_put_str(w, WB_A_CHECK_USER, user);
	if (rc == 0 && scope != WBC_SCOPE_ANY)
		rc = wb_msg_put_u8(w, WB_A_SCOPE, (uint8_t)scope);
	return rc;
}

static int decision_reply(struct wbc_conn *c, const struct wb_frame *f,
			  struct wbc_policy_decision *d, struct wbc_error *err)
{
	uint8_t allow = 0;
	size_t i;

	if (f->type == WB_MSG_ERROR)
		return wbci_error_reply(c, f, err);
	if (f->type != WB_MSG_POLICY_DECISION || wb_attr_u8(f, WB_A_ALLOW, &allow) < 0)
		return wbci_unexpected(c, f, "in reply to POLICY_CHECK", err);
	memset(d, 0, sizeof(*d));
	d->allow = allow == 1;
	wbci_attr_text(f, WB_A_RULE, d->rule, sizeof(d->rule));
	wbci_attr_text(f, WB_A_MESSAGE, d->reason, sizeof(d->reason));
	for (i = 0; i < WBC_TRANSPORTS_MAX && i < wb_attr_count(f, WB_A_TRANSPORT); i++)
		wbci_attr_text_nth(f, WB_A_TRANSPORT, i, d->transports[i], sizeof(d->transports[i]));
	d->n_transports = i;
	return 0;
}

int wbc_policy_check(struct wbc_conn *c, const char *user, const char *cred, int scope,
		     const struct wbc_target *t, const char *command, const char *const *args,
		     size_t n_args, struct wbc_policy_decision *d, struct wbc_error *err)
{
	struct wb_writer w;
	struct wb_frame f;
	int rc = wbc_cred_name_check(cred, err);

	if (rc < 0)
		return rc;
	if (!t || !command || !*command)
		return wbci_seterr(err, WBC_E_INVALID, "a target and a command are required");
	wb_writer_init(&w, WBCI_FRAME_CAP, WB_PLAIN);
	rc = put_request(&w, user, cred, scope, command, args, n_args);
	if (rc < 0) {
		wb_writer_free(&w);
		return wbci_seterr(err, rc == -EMSGSIZE ? WBC_E_INVALID : WBC_E_INTERNAL,
				   "building POLICY_CHECK: %s", strerror(-rc));
	}
	rc = wbci_target_put(t, &w, err);
	if (rc == 0 && wb_msg_finish(&w) < 0)
		rc = wbci_seterr(err, WBC_E_INVALID, "the request exceeds the %d-byte limit",
				 WB_FRAME_MAX);
	if (rc == 0)
		rc = wbci_request(c, &w, &f, err);
	wb_writer_free(&w);
	return rc < 0 ? rc : decision_reply(c, &f, d, err);
}
