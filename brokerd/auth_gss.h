/*
 * auth_gss.h - what the GSSAPI mechanisms (auth_kerberos.c, auth_ntlm.c,
 * auth_negotiate.c) share: the HTTP handshake loop over
 * gss_init_sec_context, RFC 5929 channel binding, the mutual-auth and
 * delegation checks, GSS error text, and MS-WSMV message encryption
 * (NTLM: gss_wrap, 16-byte signature then sealed data; Kerberos:
 * gss_wrap_iov HEADER/DATA/PADDING, the length field being the header's).
 *
 * A mechanism module supplies a struct wb_gss_mech: its HTTP scheme, its
 * encrypted-body protocol, and begin(), which acquires a credential, picks
 * the GSS mechanism and makes the first token. Everything else is here, so
 * the three modules stay a page each.
 *
 * One struct wb_gss per connection (a->state). Each handshake, the first
 * and any later one (a 401 on an authenticated connection, a reconnect),
 * starts from a fresh credential and context: the ticket cache may have
 * renewed the TGT meanwhile, and the old sequence numbers are spent.
 */
#ifndef WB_AUTH_GSS_H
#define WB_AUTH_GSS_H

#include <stdbool.h>
#include <stddef.h>

#include <gssapi/gssapi.h>

#include "auth.h"

struct wb_gss;

struct wb_gss_mech {
	const char *scheme;	/* "Negotiate" or "Kerberos" in the HTTP headers */
	const char *protocol;	/* WB_MSGENC_SPNEGO or WB_MSGENC_KERBEROS */
	/* The first token may carry a channel binding (Kerberos AP-REQ): on
	 * https, an anonymous probe first brings up TLS, so the server
	 * certificate is known. NTLM binds in its third message only. */
	bool binds_first_token;
	/* No RFC 5929 binding at all (CredSSP: its inner context runs in its own
	 * TLS tunnel and binds to that tunnel with pubKeyAuth instead). */
	bool no_binding;
	/* Acquire a credential, choose the GSS mechanism (wb_gss_use_*) and
	 * make the first token (wb_gss_first_step). */
	int (*begin)(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out,
		     struct wb_error *err);
};

/* ---- for the mechanism modules' begin() ---- */

/* A Kerberos credential from the broker's ticket cache (a->tickets), for
 * the raw krb5 mechanism, or (spnego) for SPNEGO offering krb5 only. */
int wb_gss_use_kerberos(struct wb_auth *a, struct wb_gss *g, bool spnego, struct wb_error *err);
/* An NTLM credential for "DOMAIN\user" from the stored password's NT hash
 * (ntowf.h), for raw NTLMSSP, or (spnego) for SPNEGO offering NTLM only. */
int wb_gss_use_ntlm(struct wb_auth *a, struct wb_gss *g, bool spnego, struct wb_error *err);
/* The first gss_init_sec_context call with the credential chosen above. */
int wb_gss_first_step(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out,
		      struct wb_error *err);
/* Drops the credential and context (begin() trying another mechanism). */
void wb_gss_reset(struct wb_gss *g);
/* Whether a password credential can be used for NTLM. */
bool wb_gss_ntlm_possible(const struct wb_cred_meta *meta, const struct wb_secret *sec);
/* Why Negotiate did not use Kerberos, added to an NTLM refusal. */
void wb_gss_note(struct wb_gss *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the struct wb_auth_ops functions the modules plug in ---- */

/* start(): allocates the state, decides message encryption. */
int wb_gss_start(struct wb_auth *a, const struct wb_gss_mech *mech, struct wb_error *err);
int wb_gss_next_token(struct wb_auth *a, long status, const char *challenge,
		      struct wb_writer *authz, struct wb_error *err);
int wb_gss_wrap(struct wb_auth *a, const uint8_t *plain, size_t n, struct wb_writer *body,
		char content_type[WB_AUTH_CT_MAX], struct wb_error *err);
int wb_gss_unwrap(struct wb_auth *a, const char *content_type, const uint8_t *body, size_t n,
		  struct wb_writer *plain, struct wb_error *err);
void wb_gss_free(struct wb_auth *a);

/* The delegation rule shared by applies(): kerberos_delegation needs a
 * credential that allows it (WB_CRED_F_DELEGATE). */
int wb_gss_check_delegation(const struct wb_target *t, const struct wb_cred_meta *meta,
			    struct wb_error *err);

/* ---- for CredSSP (auth_credssp.c): a context without the HTTP loop ---- */

/* A context state for a's target (the SPN as wb_gss_start makes it); its
 * begin() is called by the caller, not by this module. NULL on error. */
struct wb_gss *wb_gss_new(struct wb_auth *a, const struct wb_gss_mech *mech,
			  struct wb_error *err);
void wb_gss_destroy(struct wb_gss *g);
/* One gss_init_sec_context step with the server's token: 0 when complete,
 * 1 to continue; out (release with gss_release_buffer) may be empty. */
int wb_gss_step(struct wb_auth *a, struct wb_gss *g, const uint8_t *in, size_t n,
		gss_buffer_t out, struct wb_error *err);
bool wb_gss_complete(const struct wb_gss *g);
const char *wb_gss_inner(const struct wb_gss *g);	/* "Kerberos" or "NTLM" */
/* gss_wrap with confidentiality, appended to out; gss_unwrap, refusing a
 * message that was not sealed. */
int wb_gss_seal_msg(struct wb_gss *g, const uint8_t *in, size_t n, struct wb_writer *out,
		    struct wb_error *err);
int wb_gss_unseal_msg(struct wb_gss *g, const uint8_t *in, size_t n, struct wb_writer *out,
		      struct wb_error *err);

/* ---- helpers, exposed for unit tests ---- */

/* RFC 5929 tls-server-end-point application data for a DER certificate:
 * "tls-server-end-point:" + hash, the hash of the certificate's signature
 * algorithm (SHA-256 for MD5, SHA-1 or none). Returns its length, or -1. */
int wb_gss_end_point_binding(const uint8_t *der, size_t len, uint8_t *out, size_t size);

/* "major text: minor text" for a GSSAPI status. */
void wb_gss_status_text(OM_uint32 major, OM_uint32 minor, gss_const_OID mech, char *out,
			size_t size);

#endif
