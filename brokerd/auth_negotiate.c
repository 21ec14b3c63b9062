/*
 * auth_negotiate.c - the "Negotiate" scheme with SPNEGO: Kerberos when it
 * can be had (a TGT from the ticket cache, and a service ticket for the
 * SPN), NTLM otherwise. The choice is made before the first token, one
 * mechanism offered at a time (gss_set_neg_mechs), so the log and any
 * error say which one ran and why the other did not.
 */
#include <string.h>

#include "auth_gss.h"
#include "log.h"
#include "msgenc.h"

static bool kerberos_possible(const struct wb_cred_meta *meta, const struct wb_secret *sec)
{
	if (meta->kind == WB_CRED_KEYTAB)
		return sec && sec->keytab;
	return meta->kind == WB_CRED_PASSWORD && sec && sec->password &&
	       !strchr(meta->user, '\\');
}

static int nego_applies(const struct wb_target *t, const struct wb_cred_meta *meta,
			const struct wb_secret *sec, struct wb_error *err)
{
	if (!kerberos_possible(meta, sec) && !wb_gss_ntlm_possible(meta, sec))
		return wb_error_set(err, WB_E_UNSUPPORTED, "negotiate needs a password or keytab "
				    "credential; '%s' is not one", meta->name);
	return wb_gss_check_delegation(t, meta, err);
}

static int nego_begin(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out,
		      struct wb_error *err)
{
	struct wb_error kerr = { 0 };
	int rc;

	if (kerberos_possible(a->meta, a->sec)) {
		rc = wb_gss_use_kerberos(a, g, true, &kerr);
		if (rc == 0)
			rc = wb_gss_first_step(a, g, out, &kerr);
		if (rc == 0)
			return 0;
		wb_gss_reset(g);
		if (!wb_gss_ntlm_possible(a->meta, a->sec)) {
			if (err)
				*err = kerr;
			return rc;
		}
		wb_log(LOG_INFO, "negotiate to %s with credential '%s': Kerberos not usable (%s); "
		       "using NTLM", a->target->host, a->meta->name, kerr.msg);
		wb_gss_note(g, "Kerberos was not used: %s", kerr.msg);
	}
	rc = wb_gss_use_ntlm(a, g, true, err);
	return rc < 0 ? rc : wb_gss_first_step(a, g, out, err);
}

static const struct wb_gss_mech nego_mech = {
	.scheme = "Negotiate",
	.protocol = WB_MSGENC_SPNEGO,
	.binds_first_token = true,	/* when it is Kerberos */
	.begin = nego_begin,
};

static int nego_start(struct wb_auth *a, struct wb_error *err)
{
	return wb_gss_start(a, &nego_mech, err);
}

const struct wb_auth_ops wb_auth_negotiate = {
	.name = "negotiate",
	.transport = WB_TRANSPORT_NEGOTIATE,
	.applies = nego_applies,
	.start = nego_start,
	.next_token = wb_gss_next_token,
	.wrap = wb_gss_wrap,
	.unwrap = wb_gss_unwrap,
	.free = wb_gss_free,
};
