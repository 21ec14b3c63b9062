/* session_policy.c - asking the policy engine: the facts of a request
 * (who, which credential, where, how, what) gathered from the kernel, NSS
 * and the store, and the engine's decision. RUN, CRED_TEST and
 * POLICY_CHECK all come through wb_session_decide, so `policy check` says
 * exactly what a run would meet. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "session_int.h"
#include "target.h"

/* The group names of p's gids (NULL where NSS has none); free with free_names. */
static char **group_names(const struct wb_peer *p)
{
	char **names = calloc(p->n_groups ? p->n_groups : 1, sizeof(char *));
	size_t i;

	for (i = 0; names && i < p->n_groups; i++) {
		struct group gr, *res = NULL;
		char buf[4096];

		if (getgrgid_r(p->groups[i], &gr, buf, sizeof(buf), &res) == 0 && res)
			names[i] = strdup(gr.gr_name);
	}
	return names;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int wb_session_decide(struct wb_session *s, const struct wb_peer *who,
		      const struct wb_cred_meta *meta, const struct wb_target *t,
		      const char *command_line, struct wb_policy_decision *d)
{
	const char *transports[WB_TARGET_MAX_TRANSPORTS];
	struct wb_policy_request req = { 0 };
	struct wb_config_ref *ref;
	char **names = group_names(who);
	struct tm tm;
	time_t now = time(NULL);
	size_t i;
	int rc;

	for (i = 0; i < t->n_transports; i++)
		transports[i] = wb_transport_name(t->transports[i]);
	localtime_r(&now, &tm);
	req.uid = who->uid;
	req.user = who->user[0] ? who->user : NULL;
	req.gids = who->groups;
	req.groups = (const char *const *)names;
	req.n_groups = names ? who->n_groups : 0;
	req.cred = meta->name;
	req.cred_personal = meta->scope == WB_SCOPE_PERSONAL;
	req.cred_owner = meta->owner;
	req.host = t->host;
	req.transports = transports;
	req.n_transports = t->n_transports;
	req.command_line = command_line;
	req.want_delegation = t->kerberos_delegation;
	req.want_cert_ignore = !t->validate_cert;
	req.now = now;
	req.utc_offset_sec = (int32_t)tm.tm_gmtoff;
	ref = wb_broker_config_get(s->b);
	rc = wb_policy_decide(ref->policy, &req, d);
	wb_broker_config_put(s->b, ref);
	free_names(names, who->n_groups);
	return rc;
}

/* The transports the decision allows, in the target's order. */
void wb_session_apply_transports(struct wb_target *t, const struct wb_policy_decision *d)
{
	size_t i, n = 0;

	for (i = 0; i < d->n_transports && n < WB_TARGET_MAX_TRANSPORTS; i++) {
		enum wb_transport tr;

		if (wb_transport_parse(d->transports[i], &tr) == 0)
			t->transports[n++] = tr;
	}
	t->n_transports = n;
}

static int send_decision(struct wb_session *s, const struct wb_policy_decision *d)
{
	size_t i;
	int rc = wb_msg_begin(&s->w, WB_MSG_POLICY_DECISION);

	rc = rc ?: wb_msg_put_u8(&s->w, WB_A_ALLOW, d->allow ? 1 : 0);
	rc = rc ?: wb_msg_put_str(&s->w, WB_A_RULE, d->rule);
	rc = rc ?: wb_msg_put_str(&s->w, WB_A_MESSAGE, d->reason);
	for (i = 0; rc == 0 && d->allow && i < d->n_transports; i++)
		rc = wb_msg_put_str(&s->w, WB_A_TRANSPORT, d->transports[i]);
	rc = rc ?: wb_msg_finish(&s->w);
	return rc < 0 ? -ENOMEM : wb_session_send(s);
}

/* POLICY_CHECK: the RUN attributes, plus CHECK_USER to ask for someone
 * else (root and the admin group only). */
int wb_session_policy_check(struct wb_session *s, const struct wb_frame *f)
{
	struct wb_policy_decision d;
	struct wb_error err = { 0 };
	struct wb_cred_meta meta;
	struct wb_run_req r;
	struct wb_peer who = s->peer;
	char user[64];
	int rc, urc = -ENOENT;

	rc = wb_session_parse_req(s, f, true, &r, &err);
	/* CHECK_USER absent: the caller; malformed or too long: an error, never
	 * silently the caller. */
	if (rc == 0 && (urc = wb_attr_str(f, WB_A_CHECK_USER, 0, user, sizeof(user))) != -ENOENT &&
	    urc < 0)
		rc = wb_error_set(&err, WB_E_INVALID, "CHECK_USER must be a user name or uid "
				  "of at most %zu characters", sizeof(user) - 1);
	if (rc == 0 && urc == 0 && strcmp(user, s->peer.user) != 0) {
		if (!wb_session_is_admin(s))
			rc = wb_error_set(&err, WB_E_DENIED, "only root or the admin group may "
					  "check the policy for another user");
		else
			rc = wb_peer_from_user(user, &who, &err);
	}
	if (rc == 0)
		rc = wb_session_find_cred(s, &who, r.cred, r.scope, &meta, NULL, &err);
	if (rc == 0)
		rc = wb_session_decide(s, &who, &meta, &r.target, r.command_line, &d) < 0 ?
		     wb_error_set(&err, WB_E_INVALID, "%s", d.reason) : 0;
	wb_session_req_free(&r);
	if (rc < 0)
		return wb_session_send_error(s, &err);
	return send_decision(s, &d);
}
