/*
 * auth_ntlm.c - NTLM through gss-ntlmssp (mech 1.3.6.1.4.1.311.2.2.10),
 * from the stored password as "DOMAIN\user": raw NTLMSSP messages under
 * the "Negotiate" scheme, as Windows accepts them (and pywinrm sends them).
 * SPNEGO-wrapped NTLM is what auth_negotiate.c falls back to.
 *
 * NTLM cannot prove the server (no mutual authentication): over http the
 * messages are sealed, over https the TLS channel is bound (MsvAvChannel-
 * Bindings in the AUTHENTICATE message) unless send_cbt is off.
 */
#include "auth_gss.h"
#include "msgenc.h"

static int ntlm_applies(const struct wb_target *t, const struct wb_cred_meta *meta,
			const struct wb_secret *sec, struct wb_error *err)
{
	(void)t;
	if (!wb_gss_ntlm_possible(meta, sec))
		return wb_error_set(err, WB_E_UNSUPPORTED, "ntlm needs a password credential; "
				    "'%s' is not one", meta->name);
	return 0;
}

static int ntlm_begin(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out,
		      struct wb_error *err)
{
	int rc = wb_gss_use_ntlm(a, g, false, err);

	return rc < 0 ? rc : wb_gss_first_step(a, g, out, err);
}

static const struct wb_gss_mech ntlm_mech = {
	.scheme = "Negotiate",
	.protocol = WB_MSGENC_SPNEGO,
	.binds_first_token = false,	/* the binding goes in the third message */
	.begin = ntlm_begin,
};

static int ntlm_start(struct wb_auth *a, struct wb_error *err)
{
	return wb_gss_start(a, &ntlm_mech, err);
}

const struct wb_auth_ops wb_auth_ntlm = {
	.name = "ntlm",
	.transport = WB_TRANSPORT_NTLM,
	.applies = ntlm_applies,
	.start = ntlm_start,
	.next_token = wb_gss_next_token,
	.wrap = wb_gss_wrap,
	.unwrap = wb_gss_unwrap,
	.free = wb_gss_free,
};
