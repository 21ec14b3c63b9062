/*
 * auth_cert.c - WinRM certificate authentication: a TLS client certificate
 * (the credential's PEM certificate and key) plus the WS-Man mutual-auth
 * Authorization line on every request, over https only.
 */
#include <string.h>

#include "auth.h"

#define CERT_AUTHZ "Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

static int cert_applies(const struct wb_target *t, const struct wb_cred_meta *meta,
			const struct wb_secret *sec, struct wb_error *err)
{
	if (meta->kind != WB_CRED_CERTIFICATE || !sec || !sec->cert_pem || !sec->key_pem ||
	    !sec->cert_len || !sec->key_len)
		return wb_error_set(err, WB_E_UNSUPPORTED,
				    "certificate needs a certificate credential; '%s' is not one",
				    meta->name);
	if (!t->https)
		return wb_error_set(err, WB_E_INVALID,
				    "certificate authentication to %s needs https; it is refused "
				    "over http", t->host);
	return 0;
}

static int cert_start(struct wb_auth *a, struct wb_error *err)
{
	(void)err;
	a->client_cert_pem = a->sec->cert_pem;
	a->client_cert_len = a->sec->cert_len;
	a->client_key_pem = a->sec->key_pem;
	a->client_key_len = a->sec->key_len;
	return 0;
}

static int cert_next_token(struct wb_auth *a, long status, const char *challenge,
			   struct wb_writer *authz, struct wb_error *err)
{
	(void)challenge;
	(void)authz;
	if (status == 0)
		return WB_AUTH_DONE;	/* the TLS handshake carries the proof */
	return wb_error_set(err, WB_E_AUTH,
			    "%s refused the client certificate of credential '%s' (HTTP %ld): map it "
			    "to a local account on the host (winrm create "
			    "winrm/config/service/certmapping ...) and enable certificate auth "
			    "(winrm set winrm/config/service/auth @{Certificate=\"true\"})",
			    a->target->host, a->meta->name, status);
}

static int cert_request_header(struct wb_auth *a, struct wb_writer *authz, struct wb_error *err)
{
	(void)a;
	if (wb_put(authz, CERT_AUTHZ, sizeof(CERT_AUTHZ)) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "certificate: header too large");
	return 0;
}

const struct wb_auth_ops wb_auth_cert = {
	.name = "certificate",
	.transport = WB_TRANSPORT_CERTIFICATE,
	.applies = cert_applies,
	.start = cert_start,
	.next_token = cert_next_token,
	.request_header = cert_request_header,
};
