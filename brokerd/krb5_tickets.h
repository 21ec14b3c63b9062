/*
 * krb5_tickets.h - the broker's Kerberos ticket-granting tickets: one
 * in-memory credential cache per (credential, forwardable), filled with the
 * krb5 API from a stored password or keytab, reused by every operation
 * until it is about to expire.
 *
 * The GSSAPI mechanisms (auth_kerberos.c, auth_negotiate.c) ask for a
 * ccache name and hand it to GSSAPI (gss_acquire_cred_from with the
 * "ccache" key); the service tickets GSSAPI stores there are reused too.
 * No kinit process, no password on a command line or in the environment,
 * no file: MEMORY ccaches live only in this process, and KRB5CCNAME is
 * never set.
 */
#ifndef WB_KRB5_TICKETS_H
#define WB_KRB5_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "error.h"

/* Re-acquire (or renew) a TGT that ends within this many seconds. */
#define WB_TICKETS_MARGIN_SEC 300

/* "MEMORY:wb-" + 32 hex digits + NUL fits in this. */
#define WB_CCNAME_MAX 64

struct wb_tickets;

int wb_tickets_new(struct wb_tickets **out, struct wb_error *err);
/* Destroys every ccache. No call may be running. */
void wb_tickets_free(struct wb_tickets *t);

/*
 * Writes into ccname (size >= WB_CCNAME_MAX, else WB_E_INVALID) the name
 * ("MEMORY:wb-<32 hex digits>") of a ccache holding a TGT for this
 * credential that is valid for more than WB_TICKETS_MARGIN_SEC, getting one
 * from the KDC when needed:
 *
 *   - password kind: krb5_get_init_creds_password with sec->password, the
 *     sodium memory itself (MIT krb5 1.20 reads it in place; the key it
 *     derives from it lives in krb5's heap and is wiped when the exchange
 *     ends);
 *   - keytab kind: sec->keytab is parsed (wb_keytab_parse) into a MEMORY
 *     keytab that exists only for the exchange (krb5 wipes its key copies
 *     when it is closed), then krb5_get_init_creds_keytab.
 *
 * A renewable TGT (when krb5.conf asks for renew_lifetime) is renewed
 * instead, while its renew-till is beyond the margin; a failed renewal
 * falls back to a new TGT. The name of the ccache stays the same while the
 * credential does; a new TGT replaces the old one in place (and drops the
 * service tickets cached with it).
 *
 * The cache key is (meta->scope, meta->owner, meta->name, meta->updated,
 * forwardable): a replaced credential (new `updated`) never sees the old
 * ticket, and the old ccache is destroyed on the first call for the new one.
 * forwardable asks the KDC for a forwardable TGT (for delegation); false
 * asks for one that is not, whatever krb5.conf says.
 *
 * Principal: meta->user "user@REALM" takes its realm from there; else
 * meta->user + "@" + meta->domain when the domain looks like a DNS name
 * (has a dot); else the default realm of krb5.conf (so a NetBIOS domain
 * such as WINRMTEST, which NTLM uses, never becomes a realm). A realm that
 * looks like a DNS name is uppercased (an AD realm is its domain's DNS
 * name in capitals; the KDC matches realms exactly). "DOMAIN\user" is
 * refused with WB_E_INVALID. A keytab credential with an empty user uses
 * the first principal in its keytab.
 *
 * Errors: WB_E_INVALID (bad principal, malformed keytab), WB_E_UNSUPPORTED
 * (certificate credential), WB_E_AUTH (the KDC refused: wrong password,
 * unknown principal, expired password, clock skew...), WB_E_CONNECT (KDC
 * unreachable), WB_E_CONFIG (realm not in krb5.conf, no default realm),
 * WB_E_TIMEOUT, WB_E_NOCRED (forgotten while waiting), WB_E_INTERNAL. The
 * message names the problem and its likely fix (wb_krb5_hint) and never
 * contains the secret.
 *
 * Thread-safe: one table lock held only to find the entry, and one lock
 * per entry, so concurrent callers for the same credential make one KDC
 * exchange and callers for other credentials do not wait for it. Each
 * entry keeps its own krb5_context, used only under its lock. The call
 * blocks during a KDC exchange (krb5's own timeouts apply).
 */
int wb_tickets_ccache(struct wb_tickets *t, const struct wb_cred_meta *meta,
		      const struct wb_secret *sec, bool forwardable,
		      char *ccname, size_t size, struct wb_error *err);

/*
 * Destroys what is cached for this credential (scope, owner and name; every
 * `updated` and both forwardable variants): call it when the credential is
 * removed or replaced. A GSSAPI context already established keeps its
 * session keys; a new one needs a new wb_tickets_ccache call.
 */
void wb_tickets_forget(struct wb_tickets *t, const struct wb_cred_meta *meta);
/* The same for one version only (meta->updated too): a login-session
 * deposit that was validated but never became active. */
void wb_tickets_forget_version(struct wb_tickets *t, const struct wb_cred_meta *meta);

/*
 * The named problem and its likely fix for a krb5 error code (a
 * krb5_error_code, or a GSSAPI minor status from the krb5 mechanism), e.g.
 * KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN -> "SPN not found: register HTTP/<host>
 * or set kerberos_hostname_override"; NULL for a code without one.
 */
const char *wb_krb5_hint(long code);

/* The WB_E_* class of a krb5 error code (positive): WB_E_AUTH for what the
 * KDC or the server refused, WB_E_CONNECT, WB_E_CONFIG, WB_E_TIMEOUT, or
 * WB_E_INTERNAL. */
int wb_krb5_errcode(long code);

/*
 * The keytab file format (version 0x502, as MIT and Windows ktpass write
 * it), parsed from untrusted bytes for the keytab credential. Each live
 * entry is handed to on_entry; its pointers point into the input (the key
 * too: nothing is copied). on_entry returning < 0 stops the walk and is
 * returned. Returns the number of entries, or -WB_E_INVALID with a
 * message for a malformed keytab. Takes (bytes, length) for a fuzzer.
 */
#define WB_KEYTAB_MAX_COMPONENTS 8

struct wb_keytab_bytes {
	const uint8_t *p;
	size_t len;
};

struct wb_keytab_entry {
	struct wb_keytab_bytes realm;
	struct wb_keytab_bytes components[WB_KEYTAB_MAX_COMPONENTS];
	size_t n_components;
	uint32_t name_type;
	uint32_t timestamp;
	uint32_t vno;
	uint16_t enctype;
	struct wb_keytab_bytes key;
};

int wb_keytab_parse(const uint8_t *data, size_t len,
		    int (*on_entry)(void *arg, const struct wb_keytab_entry *e), void *arg,
		    struct wb_error *err);

#endif
