/*
 * cred.h - what a stored credential is: its public metadata and, once
 * unsealed, its secret part.
 *
 * The store (store.c) seals and unseals; the WinRM engine and the auth
 * modules only read an unsealed struct wb_secret and never keep it past the
 * operation. Metadata is safe to list to clients; a secret never leaves
 * the broker.
 */
#ifndef WB_CRED_H
#define WB_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum wb_cred_kind {
	WB_CRED_PASSWORD = 1,	 /* user, domain or realm, password */
	WB_CRED_CERTIFICATE = 2, /* PEM certificate + PEM private key */
	WB_CRED_KEYTAB = 3,	 /* principal + keytab bytes */
};

enum wb_cred_scope {
	WB_SCOPE_PERSONAL = 1,	/* belongs to one uid, usable only by it */
	WB_SCOPE_SHARED = 2,	/* managed by root or the admin group */
};

/* Credential flags. */
#define WB_CRED_F_DELEGATE 0x1u	/* may be delegated (Kerberos delegation, CredSSP) */

#define WB_CRED_NAME_MAX 64	/* [A-Za-z0-9._@-], first char alphanumeric */
#define WB_CRED_TEXT_MAX 256	/* user, domain */
#define WB_CRED_ACL_MAX 64	/* allowed uids / gids on a shared credential */
#define WB_CRED_CERT_MAX 65536	/* PEM certificate */
#define WB_CRED_SECRET_MAX 65536	/* password, PEM key, keytab */

struct wb_cred_meta {
	char name[WB_CRED_NAME_MAX + 1];
	enum wb_cred_scope scope;
	uid_t owner;		/* personal: its uid; shared: 0 */
	enum wb_cred_kind kind;
	char user[WB_CRED_TEXT_MAX + 1];	/* account name, or principal for keytab */
	char domain[WB_CRED_TEXT_MAX + 1];	/* NetBIOS domain or Kerberos realm; may be empty */
	uint32_t flags;		/* WB_CRED_F_* */
	int64_t created;	/* unix time */
	int64_t updated;
	/* Who may use a shared credential (until policy/ lands): */
	size_t n_allow_uids;
	uid_t allow_uids[WB_CRED_ACL_MAX];
	size_t n_allow_gids;
	gid_t allow_gids[WB_CRED_ACL_MAX];
};

/*
 * The secret part, unsealed. Every pointer is sodium_malloc'd (also the
 * certificate, to keep one rule); wb_secret_free wipes and frees all of it.
 */
struct wb_secret {
	enum wb_cred_kind kind;
	char *password;		/* NUL-terminated; password kind */
	uint8_t *cert_pem;	/* certificate kind */
	size_t cert_len;
	uint8_t *key_pem;	/* certificate kind: private key */
	size_t key_len;
	uint8_t *keytab;	/* keytab kind */
	size_t keytab_len;
};

struct wb_secret *wb_secret_new(enum wb_cred_kind kind);
/* Copies n bytes into fresh sodium_malloc'd memory (NUL-terminated too). */
int wb_secret_set(uint8_t **dst, size_t *dst_len, const void *src, size_t n);
void wb_secret_free(struct wb_secret *s);

/*
 * Checks a credential before it is stored, so a mistake shows at `cred
 * add` and not at the first run: a password kind has a password; a
 * certificate parses as PEM, its key parses, and the two belong together.
 */
struct wb_error;
int wb_cred_check(const struct wb_cred_meta *m, const struct wb_secret *s, struct wb_error *err);

/* Name rule above; returns false for anything else. */
bool wb_cred_name_valid(const char *name);

#endif
