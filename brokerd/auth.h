/*
 * auth.h - how the broker proves who it is to a WinRM host: one interface,
 * one file per mechanism (auth_basic.c, auth_cert.c, auth_ntlm.c,
 * auth_kerberos.c, auth_negotiate.c, the last three over auth_gss.c;
 * auth_credssp.c over auth_gss.c and credssp_asn1.c), and the table that picks a mechanism for a target and a
 * credential (auth.c).
 *
 * A mechanism instance (struct wb_auth) belongs to exactly one HTTP
 * connection (http.c) for that connection's life, so a connection-bound
 * mechanism keeps its security context and sequence numbers in it. http.c
 * drives it and never knows how a mechanism works:
 *
 *   start()           once, when the connection is created; no network I/O.
 *   next_token()      the handshake. Called first with status 0 and no
 *                     challenge. WB_AUTH_CONTINUE: http.c POSTs an empty body
 *                     with the Authorization line the mechanism wrote (none if
 *                     empty: an anonymous probe, which also brings the TLS
 *                     connection up) and calls again with the answer's status
 *                     and WWW-Authenticate values. WB_AUTH_DONE: authenticated
 *                     (a single-leg mechanism answers DONE at once). Called
 *                     again with 401 when the host refuses a SOAP request:
 *                     CONTINUE starts a new handshake, an error ends it; and
 *                     with status 0 again when the connection was lost: a
 *                     connection-bound mechanism starts over.
 *   request_header()  the Authorization line for each SOAP request (Basic,
 *                     Certificate: every request); NULL for mechanisms whose
 *                     connection stays authenticated.
 *   wrap()/unwrap()   MS-WSMV 2.2.9.1 message encryption, owned by the
 *                     mechanism that holds the session keys; used when
 *                     start() or next_token() sets a->encrypt; NULL for none.
 *
 * Secrets: the credential is borrowed for one operation and never copied
 * outside sodium memory by a mechanism; Authorization lines are written into
 * WB_SECRET writers.
 */
#ifndef WB_AUTH_H
#define WB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cred.h"
#include "error.h"
#include "target.h"

struct wb_tickets;	/* krb5_tickets.h */

enum { WB_AUTH_DONE = 0, WB_AUTH_CONTINUE = 1 };

#define WB_AUTH_HEADER_MAX 65536	/* one Authorization line */
#define WB_AUTH_CT_MAX 256		/* a wrapped body's Content-Type */

struct wb_auth {
	const struct wb_auth_ops *ops;
	const struct wb_target *target;
	const struct wb_cred_meta *meta;
	const struct wb_secret *sec;	/* borrowed; outlives the connection */
	struct wb_tickets *tickets;	/* the broker's TGT cache; NULL: no Kerberos */

	/* Set by the mechanism: */
	bool encrypt;			/* SOAP bodies go through wrap/unwrap */
	const uint8_t *client_cert_pem;	/* TLS client certificate and key, PEM, */
	size_t client_cert_len;		/* borrowed from sec; http.c hands them */
	const uint8_t *client_key_pem;	/* to the TLS library without copying */
	size_t client_key_len;
	void *state;			/* the mechanism's own */

	/* Set by http.c from the live TLS connection (RFC 5929 channel binding,
	 * CredSSP's public key); NULL over http. */
	uint8_t *server_cert_der;
	size_t server_cert_len;
};

struct wb_auth_ops {
	const char *name;		/* as in wb_transport_name() */
	enum wb_transport transport;

	/* 0 if this mechanism can use this credential on this target;
	 * -WB_E_UNSUPPORTED if the credential is of another kind (the engine
	 * tries the next transport); any other error refuses the target (e.g.
	 * Basic over http), with a message saying why. */
	int (*applies)(const struct wb_target *t, const struct wb_cred_meta *meta,
		       const struct wb_secret *sec, struct wb_error *err);
	int (*start)(struct wb_auth *a, struct wb_error *err);
	/* status 0 / challenge NULL on the first call; challenge holds every
	 * WWW-Authenticate value of the answer, one per line. Writes a complete
	 * "Authorization: ..." line, or nothing, into authz (WB_SECRET). */
	int (*next_token)(struct wb_auth *a, long status, const char *challenge,
			  struct wb_writer *authz, struct wb_error *err);
	int (*request_header)(struct wb_auth *a, struct wb_writer *authz, struct wb_error *err);
	/* Plain SOAP -> the HTTP body and its Content-Type. */
	int (*wrap)(struct wb_auth *a, const uint8_t *plain, size_t n, struct wb_writer *body,
		    char content_type[WB_AUTH_CT_MAX], struct wb_error *err);
	/* The HTTP body and its Content-Type -> plain SOAP. */
	int (*unwrap)(struct wb_auth *a, const char *content_type, const uint8_t *body, size_t n,
		      struct wb_writer *plain, struct wb_error *err);
	void (*free)(struct wb_auth *a);	/* releases a->state, wiping keys */
};

extern const struct wb_auth_ops wb_auth_basic;
extern const struct wb_auth_ops wb_auth_cert;
extern const struct wb_auth_ops wb_auth_ntlm;
extern const struct wb_auth_ops wb_auth_kerberos;
extern const struct wb_auth_ops wb_auth_negotiate;
extern const struct wb_auth_ops wb_auth_credssp;

/* The mechanism for a transport; NULL while it is not implemented. */
const struct wb_auth_ops *wb_auth_mech(enum wb_transport transport);

/*
 * Picks the first of t->transports whose mechanism can use this credential.
 * Refusals (Basic over http) win over "not implemented yet", which wins over
 * "no transport fits the credential kind".
 */
int wb_auth_select(const struct wb_target *t, const struct wb_cred_meta *meta,
		   const struct wb_secret *sec, const struct wb_auth_ops **out,
		   struct wb_error *err);

/* An instance for one connection: checks applies(), then start().
 * tickets (may be NULL) is borrowed, like the credential. */
int wb_auth_new(const struct wb_auth_ops *ops, const struct wb_target *t,
		const struct wb_cred_meta *meta, const struct wb_secret *sec,
		struct wb_tickets *tickets, struct wb_auth **out, struct wb_error *err);
void wb_auth_free(struct wb_auth *a);

#endif
