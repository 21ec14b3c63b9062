/*
 * auth_kerberos.c - the "Kerberos" HTTP scheme: a raw Kerberos AP-REQ (no
 * SPNEGO), mutual authentication, and message encryption as
 * application/HTTP-Kerberos-session-encrypted. The TGT comes from the
 * broker's ticket cache (krb5_tickets.h); everything else is auth_gss.c.
 */
#include <string.h>

#include "auth_gss.h"
#include "msgenc.h"

static int krb_applies(const struct wb_target *t, const struct wb_cred_meta *meta,
		       const struct wb_secret *sec, struct wb_error *err)
{
	bool have = sec && ((meta->kind == WB_CRED_PASSWORD && sec->password) ||
			    (meta->kind == WB_CRED_KEYTAB && sec->keytab));

	if (!have)
		return wb_error_set(err, WB_E_UNSUPPORTED, "kerberos needs a password or keytab "
				    "credential; '%s' is not one", meta->name);
	if (strchr(meta->user, '\\'))
		return wb_error_set(err, WB_E_UNSUPPORTED, "kerberos needs user@REALM (or a user "
				    "and a realm); '%s' names DOMAIN\\user, NTLM's form", meta->name);
	return wb_gss_check_delegation(t, meta, err);
}

static int krb_begin(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out,
		     struct wb_error *err)
{
	int rc = wb_gss_use_kerberos(a, g, false, err);

	return rc < 0 ? rc : wb_gss_first_step(a, g, out, err);
}

static const struct wb_gss_mech krb_mech = {
	.scheme = "Kerberos",
	.protocol = WB_MSGENC_KERBEROS,
	.binds_first_token = true,
	.begin = krb_begin,
};

static int krb_start(struct wb_auth *a, struct wb_error *err)
{
	return wb_gss_start(a, &krb_mech, err);
}

const struct wb_auth_ops wb_auth_kerberos = {
	.name = "kerberos",
	.transport = WB_TRANSPORT_KERBEROS,
	.applies = krb_applies,
	.start = krb_start,
	.next_token = wb_gss_next_token,
	.wrap = wb_gss_wrap,
	.unwrap = wb_gss_unwrap,
	.free = wb_gss_free,
};
