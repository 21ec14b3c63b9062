/* auth.c - the mechanism table and per-connection instances (see auth.h). */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A transport without an entry is "not implemented yet". */
static const struct wb_auth_ops *const mechs[] = {
	[WB_TRANSPORT_BASIC] = &wb_auth_basic,
	[WB_TRANSPORT_CERTIFICATE] = &wb_auth_cert,
	[WB_TRANSPORT_NTLM] = &wb_auth_ntlm,
	[WB_TRANSPORT_KERBEROS] = &wb_auth_kerberos,
	[WB_TRANSPORT_NEGOTIATE] = &wb_auth_negotiate,
	[WB_TRANSPORT_CREDSSP] = &wb_auth_credssp,
};

const struct wb_auth_ops *wb_auth_mech(enum wb_transport transport)
{
	if ((size_t)transport < sizeof(mechs) / sizeof(mechs[0]))
		return mechs[transport];
	return NULL;
}

static const char *kind_name(enum wb_cred_kind kind)
{
	switch (kind) {
	case WB_CRED_PASSWORD: return "password";
	case WB_CRED_CERTIFICATE: return "certificate";
	case WB_CRED_KEYTAB: return "keytab";
	}
	return "unknown";
}

int wb_auth_select(const struct wb_target *t, const struct wb_cred_meta *meta,
		   const struct wb_secret *sec, const struct wb_auth_ops **out,
		   struct wb_error *err)
{
	struct wb_error refusal = { 0 };
	const char *missing = NULL;
	char tried[128] = "";
	size_t i;

	for (i = 0; i < t->n_transports && i < WB_TARGET_MAX_TRANSPORTS; i++) {
		const struct wb_auth_ops *ops = wb_auth_mech(t->transports[i]);
		struct wb_error e = { 0 };
		int rc;

		if (strlen(tried) + 16 < sizeof(tried))
			snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s",
				 i ? ", " : "", wb_transport_name(t->transports[i]));
		if (!ops) {
			if (!missing)
				missing = wb_transport_name(t->transports[i]);
			continue;
		}
		rc = ops->applies(t, meta, sec, &e);
		if (rc == 0) {
			*out = ops;
			return 0;
		}
		if (rc != -WB_E_UNSUPPORTED && !refusal.code)
			refusal = e;
	}
	if (refusal.code)
		return wb_error_set(err, refusal.code, "%s", refusal.msg);
	if (missing)
		return wb_error_set(err, WB_E_UNSUPPORTED,
				    "transport %s is not implemented yet (this broker has basic, "
				    "certificate, ntlm, kerberos, negotiate and credssp); choose one of those "
				    "for %s", missing, t->host);
	return wb_error_set(err, WB_E_UNSUPPORTED,
			    "no transport of the target (%s) can use credential '%s' of kind %s; "
			    "basic and ntlm need a password credential, kerberos and negotiate a "
			    "password or keytab credential, certificate a certificate credential "
			    "over https", tried[0] ? tried : "none",
			    meta->name, kind_name(meta->kind));
}

int wb_auth_new(const struct wb_auth_ops *ops, const struct wb_target *t,
		const struct wb_cred_meta *meta, const struct wb_secret *sec,
		struct wb_tickets *tickets, struct wb_auth **out, struct wb_error *err)
{
	struct wb_auth *a;
	int rc;

	rc = ops->applies(t, meta, sec, err);
	if (rc < 0)
		return rc;
	a = calloc(1, sizeof(*a));
	if (!a)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	a->ops = ops;
	a->target = t;
	a->meta = meta;
	a->sec = sec;
	a->tickets = tickets;
	rc = ops->start(a, err);
	if (rc < 0) {
		wb_auth_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void wb_auth_free(struct wb_auth *a)
{
	if (!a)
		return;
	if (a->ops->free)
		a->ops->free(a);
	free(a->server_cert_der);
	free(a);
}
