/* session_change.c - the audit records of credential changes: adding,
 * replacing and removing credentials, and the life of login-session
 * credentials. The rules behind them are the broker's own (who may act on
 * whose credential), so the rule is "built-in: ownership", not a policy
 * file line (docs/audit.md, "Credential changes"). */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "session_int.h"

#define OWNERSHIP_RULE "built-in: ownership"

void wb_change_init(struct wb_change *c, const char *operation, const char *cred, uid_t owner)
{
	memset(c, 0, sizeof(*c));
	wb_audit_op_id(c->op_id);
	c->operation = operation;
	snprintf(c->cred, sizeof(c->cred), "%s", cred ? cred : "");
	c->owner = owner;
}

static void fill(const struct wb_change *c, const struct wb_peer *p,
		 const struct wb_audit_login *login, struct wb_audit_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->op_id = c->op_id;
	ev->operation = c->operation;
	ev->uid = p ? p->uid : 0;
	ev->user = p ? p->user : "winrm-brokerd";
	ev->pid = p ? p->pid : 0;
	ev->exe = p ? p->exe : NULL;
	ev->login = login;
	ev->cred = c->cred[0] ? c->cred : NULL;
	ev->has_cred_owner = true;
	ev->cred_owner = c->owner;
	ev->rule = OWNERSHIP_RULE;
}

int wb_change_decision(struct wb_audit *a, const struct wb_change *c, const struct wb_peer *p,
		       bool allowed, const char *reason, struct wb_error *err)
{
	struct wb_audit_login login;
	struct wb_audit_event ev;

	if (p)
		wb_audit_login_lookup(p->pid, &login);
	fill(c, p, p ? &login : NULL, &ev);
	ev.allowed = allowed;
	ev.reason = reason;
	return wb_audit_decision(a, &ev, err);
}

void wb_change_outcome(struct wb_audit *a, const struct wb_change *c, const struct wb_peer *p,
		       int rc, const struct wb_error *result)
{
	struct wb_audit_event ev;
	struct wb_error aerr = { 0 };

	fill(c, p, NULL, &ev);
	ev.allowed = true;
	ev.error_code = rc < 0 && result ? result->code : 0;
	ev.error = rc < 0 && result ? result->msg : NULL;
	if (wb_audit_outcome(a, &ev, &aerr) < 0)
		wb_log(LOG_ERR, "%s of '%s' (uid %u): %s", c->operation, c->cred,
		       (unsigned)c->owner, aerr.msg);
}
