/* krb5_tickets.c - see krb5_tickets.h. */
#include "krb5_tickets.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <krb5/krb5.h>
#include <sodium.h>

#include "buf.h"

/* ---- named errors --------------------------------------------------------------- */

struct krb5_hint {
	krb5_error_code code;
	int wb_code;
	const char *hint;
};

static const struct krb5_hint hints[] = {
	{ KRB5KRB_AP_ERR_SKEW, WB_E_AUTH,
	  "clock skew: clocks differ by more than 5 minutes; sync time (chrony/ntp)" },
	{ KRB5_KDCREP_SKEW, WB_E_AUTH,
	  "clock skew: clocks differ by more than 5 minutes; sync time (chrony/ntp)" },
	{ KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, WB_E_AUTH,
	  "unknown client principal: the KDC has no such user; check the user name and "
	  "the realm (user@REALM)" },
	{ KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, WB_E_AUTH,
	  "SPN not found: register HTTP/<host> or set kerberos_hostname_override" },
	{ KRB5_KDC_UNREACH, WB_E_CONNECT,
	  "KDC unreachable: check the realm's kdc entries in krb5.conf (or its DNS SRV "
	  "records), that the KDC runs, and the firewall (port 88)" },
	{ KRB5_REALM_CANT_RESOLVE, WB_E_CONFIG,
	  "realm not found in krb5.conf: add it under [realms] with its kdc, or fix the "
	  "realm of the user (user@REALM)" },
	{ KRB5_REALM_UNKNOWN, WB_E_CONFIG,
	  "realm not found in krb5.conf: add it under [realms] with its kdc, or fix the "
	  "realm of the user (user@REALM)" },
	{ KRB5_CONFIG_NODEFREALM, WB_E_CONFIG,
	  "no realm: give the user as user@REALM, or set default_realm in krb5.conf" },
	{ KRB5_CONFIG_CANTOPEN, WB_E_CONFIG,
	  "krb5.conf cannot be read: check /etc/krb5.conf (or KRB5_CONFIG)" },
	{ KRB5_CONFIG_BADFORMAT, WB_E_CONFIG,
	  "krb5.conf is malformed: check /etc/krb5.conf (or KRB5_CONFIG)" },
	{ KRB5KDC_ERR_PREAUTH_FAILED, WB_E_AUTH,
	  "wrong password (or an outdated keytab): replace the credential" },
	{ KRB5KRB_AP_ERR_BAD_INTEGRITY, WB_E_AUTH,
	  "wrong password (or an outdated keytab): replace the credential" },
	{ KRB5KDC_ERR_KEY_EXP, WB_E_AUTH,
	  "expired password: change it on the domain (or with kpasswd), then replace "
	  "the credential" },
	{ KRB5KDC_ERR_CLIENT_REVOKED, WB_E_AUTH,
	  "account disabled or locked out: check the account on the domain" },
	{ KRB5KDC_ERR_NAME_EXP, WB_E_AUTH,
	  "account expired: extend it on the domain" },
	{ KRB5KDC_ERR_ETYPE_NOSUPP, WB_E_AUTH,
	  "no common encryption type: check permitted_enctypes in krb5.conf and the "
	  "account's encryption types (AES)" },
	{ KRB5_KT_NOTFOUND, WB_E_AUTH,
	  "no key for this principal in the keytab: check the principal, re-export "
	  "the keytab" },
	{ KRB5_KT_KVNONOTFOUND, WB_E_AUTH,
	  "the keytab's key version is outdated: re-export the keytab" },
	{ KRB5KRB_AP_ERR_TKT_EXPIRED, WB_E_AUTH,
	  "ticket expired: get a new one; if this repeats, sync time (chrony/ntp)" },
	{ KRB5KRB_AP_ERR_MODIFIED, WB_E_AUTH,
	  "service key mismatch: the SPN is registered on another account or the "
	  "host's keytab is stale (setspn -Q HTTP/<host>)" },
	{ KRB5KDC_ERR_BADOPTION, WB_E_AUTH,
	  "the KDC refused a ticket option: delegation (a forwardable ticket) may not "
	  "be allowed for this account or service" },
	{ KRB5KDC_ERR_POLICY, WB_E_AUTH,
	  "refused by KDC policy: check the account's restrictions (logon hours, "
	  "allowed workstations)" },
	{ KRB5KDC_ERR_WRONG_REALM, WB_E_AUTH,
	  "wrong realm: use the account's own realm (user@REALM)" },
	{ ETIMEDOUT, WB_E_TIMEOUT,
	  "the KDC did not answer in time: check that it runs and the firewall (port 88)" },
};

/* A krb5_error_code passed as a long, or a GSSAPI minor status (OM_uint32)
 * holding one: the same 32 bits. */
static krb5_error_code krb5_code(long code)
{
	return (krb5_error_code)(int32_t)(uint32_t)code;
}

static const struct krb5_hint *find_hint(long code)
{
	krb5_error_code c = krb5_code(code);
	size_t i;

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (hints[i].code == c)
			return &hints[i];
	return NULL;
}

const char *wb_krb5_hint(long code)
{
	const struct krb5_hint *h = find_hint(code);

	return h ? h->hint : NULL;
}

int wb_krb5_errcode(long code)
{
	const struct krb5_hint *h = find_hint(code);
	krb5_error_code c = krb5_code(code);

	if (h)
		return h->wb_code;
	/* The KDC's and the server's protocol errors (RFC 4120 7.5.9). */
	if (c >= KRB5KDC_ERR_NONE && c <= KRB5KDC_ERR_NONE + 127)
		return WB_E_AUTH;
	return WB_E_INTERNAL;
}

/* "kerberos: cannot get a TGT for alice@REALM: <hint> (krb5: <its message>)" */
static int tgt_error(krb5_context ctx, krb5_error_code code, const char *who,
		     struct wb_error *err)
{
	const char *hint = wb_krb5_hint(code);
	const char *msg = krb5_get_error_message(ctx, code);
	int rc;

	rc = wb_error_set(err, wb_krb5_errcode(code), "kerberos: cannot get a TGT for %s: %s%s(krb5: %s)",
			  who, hint ? hint : "", hint ? " " : "", msg ? msg : "unknown error");
	krb5_free_error_message(ctx, msg);
	return rc;
}

/* ---- the keytab file format --------------------------------------------------------- */

static int get_u16be(struct wb_reader *r, uint16_t *v)
{
	uint8_t hi, lo;
	int rc;

	if ((rc = wb_get_u8(r, &hi)) < 0 || (rc = wb_get_u8(r, &lo)) < 0)
		return rc;
	*v = (uint16_t)(hi << 8 | lo);
	return 0;
}

static int get_counted(struct wb_reader *r, struct wb_keytab_bytes *b)
{
	uint16_t n;
	int rc;

	if ((rc = get_u16be(r, &n)) < 0 || (rc = wb_get_bytes(r, n, &b->p)) < 0)
		return rc;
	b->len = n;
	return 0;
}

/* One entry: principal, name type, timestamp, 8-bit kvno, key, then an
 * optional 32-bit kvno that wins when not zero. */
static int parse_entry(const uint8_t *p, size_t n, struct wb_keytab_entry *e)
{
	struct wb_reader r;
	uint16_t nc;
	uint8_t vno8;
	uint32_t vno32;
	size_t i;

	memset(e, 0, sizeof(*e));
	wb_reader_init(&r, p, n);
	if (get_u16be(&r, &nc) < 0 || nc == 0 || nc > WB_KEYTAB_MAX_COMPONENTS)
		return -EBADMSG;
	if (get_counted(&r, &e->realm) < 0 || e->realm.len == 0)
		return -EBADMSG;
	for (i = 0; i < nc; i++)
		if (get_counted(&r, &e->components[i]) < 0 || e->components[i].len == 0)
			return -EBADMSG;
	e->n_components = nc;
	if (wb_get_u32be(&r, &e->name_type) < 0 || wb_get_u32be(&r, &e->timestamp) < 0 ||
	    wb_get_u8(&r, &vno8) < 0 || get_u16be(&r, &e->enctype) < 0 ||
	    get_counted(&r, &e->key) < 0 || e->key.len == 0)
		return -EBADMSG;
	e->vno = vno8;
	if (wb_reader_left(&r) >= 4 && wb_get_u32be(&r, &vno32) == 0 && vno32)
		e->vno = vno32;
	return 0;
}

int wb_keytab_parse(const uint8_t *data, size_t len,
		    int (*on_entry)(void *arg, const struct wb_keytab_entry *e), void *arg,
		    struct wb_error *err)
{
	struct wb_keytab_entry e;
	struct wb_reader r;
	const uint8_t *p;
	uint16_t version;
	uint32_t size;
	int n = 0, rc;

	wb_reader_init(&r, data, len);
	if (get_u16be(&r, &version) < 0 || version != 0x0502)
		return wb_error_set(err, WB_E_INVALID, "keytab: not a keytab of format 0x0502 "
				    "(as ktutil, kadmin and ktpass write it); re-export it");
	/* A zero size, or fewer than 4 bytes left, ends the table (MIT reads a
	 * zero-filled tail so); a negative size is a hole left by a deleted entry. */
	while (wb_reader_left(&r) >= 4) {
		wb_get_u32be(&r, &size);
		if (size == 0)
			break;
		if (size & 0x80000000u) {
			if (wb_skip(&r, (size_t)(~size + 1u)) < 0)
				return wb_error_set(err, WB_E_INVALID, "keytab: truncated after entry %d", n);
			continue;
		}
		if (wb_get_bytes(&r, size, &p) < 0)
			return wb_error_set(err, WB_E_INVALID, "keytab: entry %d is truncated", n + 1);
		if (parse_entry(p, size, &e) < 0)
			return wb_error_set(err, WB_E_INVALID, "keytab: entry %d is malformed", n + 1);
		if (on_entry && (rc = on_entry(arg, &e)) < 0)
			return rc;
		n++;
	}
	return n;
}

/* The keytab bytes as a MEMORY keytab that exists for one exchange: krb5
 * copies each key, and wipes its copies when the last handle closes. */
struct kt_load {
	krb5_context ctx;
	krb5_keytab kt;
	krb5_principal first;
	krb5_error_code code;
};

static krb5_data kt_data(const struct wb_keytab_bytes *b)
{
	krb5_data d = { .magic = KV5M_DATA, .length = (unsigned)b->len, .data = (char *)b->p };

	return d;
}

static int kt_add(void *arg, const struct wb_keytab_entry *e)
{
	struct kt_load *l = arg;
	krb5_data comps[WB_KEYTAB_MAX_COMPONENTS];
	krb5_principal_data princ = { .magic = KV5M_PRINCIPAL };
	krb5_keytab_entry ent = { .magic = KV5M_KEYTAB_ENTRY };
	size_t i;

	for (i = 0; i < e->n_components; i++)
		comps[i] = kt_data(&e->components[i]);
	princ.realm = kt_data(&e->realm);
	princ.data = comps;
	princ.length = (krb5_int32)e->n_components;
	princ.type = (krb5_int32)e->name_type;
	ent.principal = &princ;
	ent.timestamp = (krb5_timestamp)e->timestamp;
	ent.vno = e->vno;
	ent.key.magic = KV5M_KEYBLOCK;
	ent.key.enctype = e->enctype;
	ent.key.length = (unsigned)e->key.len;
	ent.key.contents = (krb5_octet *)e->key.p;	/* read, never written */
	l->code = krb5_kt_add_entry(l->ctx, l->kt, &ent);
	if (!l->code && !l->first)
		l->code = krb5_copy_principal(l->ctx, &princ, &l->first);
	return l->code ? -WB_E_INTERNAL : 0;
}

static int keytab_open(krb5_context ctx, const struct wb_secret *sec, krb5_keytab *out,
		       krb5_principal *first, struct wb_error *err)
{
	struct kt_load l = { .ctx = ctx };
	uint8_t rnd[16];
	char hex[2 * sizeof(rnd) + 1], name[64];
	int n;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(name, sizeof(name), "MEMORY:wb-kt-%s", hex);
	if ((l.code = krb5_kt_resolve(ctx, name, &l.kt)) != 0)
		return wb_error_set(err, WB_E_INTERNAL, "kerberos: cannot create a memory keytab");
	n = wb_keytab_parse(sec->keytab, sec->keytab_len, kt_add, &l, err);
	if (n <= 0) {
		krb5_kt_close(ctx, l.kt);
		krb5_free_principal(ctx, l.first);
		if (n == 0)
			return wb_error_set(err, WB_E_INVALID, "keytab: it holds no key");
		if (l.code)
			return wb_error_set(err, WB_E_INTERNAL, "kerberos: cannot fill a memory keytab");
		return n;
	}
	*out = l.kt;
	*first = l.first;
	return 0;
}

/* ---- the client principal ----------------------------------------------------------- */

/* "corp.example.com": letters, digits, '-' and '.', with a dot. */
static bool dns_like(const char *s, size_t n)
{
	bool dot = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '.')
			dot = true;
		else if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	}
	return dot;
}

static int client_principal(krb5_context ctx, const struct wb_cred_meta *m,
			    krb5_const_principal from_keytab, krb5_principal *out,
			    struct wb_error *err)
{
	const char *user = m->user, *at = strrchr(user, '@'), *realm;
	char text[2 * WB_CRED_TEXT_MAX + 2], *def = NULL;
	size_t ulen, i;
	krb5_error_code code;

	if (!user[0] && from_keytab)
		return krb5_copy_principal(ctx, from_keytab, out) ?
			wb_error_set(err, WB_E_INTERNAL, "kerberos: out of memory") : 0;
	if (strchr(user, '\\'))
		return wb_error_set(err, WB_E_INVALID, "kerberos: '%s' is a NetBIOS logon name "
				    "(DOMAIN\\user), not a Kerberos principal: store the user as "
				    "user@REALM (e.g. alice@CORP.EXAMPLE.COM)", user);
	ulen = at ? (size_t)(at - user) : strlen(user);
	if (at)
		realm = at + 1;
	else if (dns_like(m->domain, strlen(m->domain)))
		realm = m->domain;
	else if ((code = krb5_get_default_realm(ctx, &def)) != 0)
		return tgt_error(ctx, code, user, err);
	else
		realm = def;
	if (ulen == 0 || !realm[0]) {
		krb5_free_default_realm(ctx, def);
		return wb_error_set(err, WB_E_INVALID, "kerberos: '%s' is not a principal "
				    "(user@REALM)", user);
	}
	snprintf(text, sizeof(text), "%.*s@%s", (int)ulen, user, realm);
	krb5_free_default_realm(ctx, def);
	if (dns_like(text + ulen + 1, strlen(text + ulen + 1)))
		for (i = ulen + 1; text[i]; i++)
			text[i] = (char)toupper((unsigned char)text[i]);
	code = krb5_parse_name_flags(ctx, text, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, out);
	if (code)
		return wb_error_set(err, WB_E_INVALID, "kerberos: '%s' is not a principal "
				    "(user@REALM)", text);
	return 0;
}

/* ---- the table ------------------------------------------------------------------------ */

struct tk_entry {
	struct tk_entry *next;
	/* The key; fixed at creation. */
	enum wb_cred_scope scope;
	uid_t owner;
	char name[WB_CRED_NAME_MAX + 1];
	int64_t updated;
	bool forwardable;
	char ccname[WB_CCNAME_MAX];
	unsigned refs;			/* the table's, plus one per caller; wb_tickets.lock */

	pthread_mutex_t lock;		/* the rest, and one KDC exchange at a time */
	bool dead;			/* out of the table, ccache destroyed */
	krb5_context ctx;		/* NULL until the first exchange */
	krb5_ccache cc;
	bool valid;			/* cc holds a TGT */
	int64_t endtime, renew_till;	/* unix time; renew_till 0: not renewable */
};

struct wb_tickets {
	pthread_mutex_t lock;		/* head and every refs */
	struct tk_entry *head;
};

int wb_tickets_new(struct wb_tickets **out, struct wb_error *err)
{
	struct wb_tickets *t = calloc(1, sizeof(*t));

	if (!t || pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return wb_error_set(err, WB_E_INTERNAL, "tickets: out of memory");
	}
	*out = t;
	return 0;
}

static bool same_cred(const struct tk_entry *e, const struct wb_cred_meta *m)
{
	return e->scope == m->scope && e->owner == m->owner && strcmp(e->name, m->name) == 0;
}

static struct tk_entry *entry_new(const struct wb_cred_meta *m, bool forwardable)
{
	struct tk_entry *e = calloc(1, sizeof(*e));
	uint8_t rnd[16];
	char hex[2 * sizeof(rnd) + 1];

	if (!e || pthread_mutex_init(&e->lock, NULL) != 0) {
		free(e);
		return NULL;
	}
	e->scope = m->scope;
	e->owner = m->owner;
	snprintf(e->name, sizeof(e->name), "%s", m->name);
	e->updated = m->updated;
	e->forwardable = forwardable;
	/* Unguessable, so nothing else in the process resolves it by chance. */
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(e->ccname, sizeof(e->ccname), "MEMORY:wb-%s", hex);
	e->refs = 1;
	return e;
}

/* Destroys the ccache (its tickets and keys are freed and wiped by krb5). */
static void entry_close(struct tk_entry *e)
{
	if (e->cc)
		krb5_cc_destroy(e->ctx, e->cc);
	if (e->ctx)
		krb5_free_context(e->ctx);
	e->cc = NULL;
	e->ctx = NULL;
	e->valid = false;
}

static void entry_free(struct tk_entry *e)
{
	entry_close(e);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static void unref(struct wb_tickets *t, struct tk_entry *e)
{
	unsigned left;

	pthread_mutex_lock(&t->lock);
	left = --e->refs;
	pthread_mutex_unlock(&t->lock);
	if (left == 0)
		entry_free(e);
}

/* Entries already out of the table: wait for their exchange, destroy. */
static void retire(struct wb_tickets *t, struct tk_entry *list)
{
	struct tk_entry *e, *next;

	for (e = list; e; e = next) {
		next = e->next;
		pthread_mutex_lock(&e->lock);
		entry_close(e);
		e->dead = true;
		pthread_mutex_unlock(&e->lock);
		unref(t, e);
	}
}

/*
 * The entry for (credential, forwardable), created if needed, with a
 * reference for the caller. Entries of an older or newer version of the
 * credential (another `updated`) are moved to *stale.
 */
static struct tk_entry *lookup(struct wb_tickets *t, const struct wb_cred_meta *m,
			       bool forwardable, struct tk_entry **stale)
{
	struct tk_entry **pp, *e, *found = NULL;

	pthread_mutex_lock(&t->lock);
	for (pp = &t->head; (e = *pp) != NULL;) {
		if (same_cred(e, m) && e->updated != m->updated) {
			*pp = e->next;
			e->next = *stale;
			*stale = e;
			continue;
		}
		if (same_cred(e, m) && e->forwardable == forwardable)
			found = e;
		pp = &e->next;
	}
	if (!found && (found = entry_new(m, forwardable)) != NULL) {
		found->next = t->head;
		t->head = found;
	}
	if (found)
		found->refs++;
	pthread_mutex_unlock(&t->lock);
	return found;
}

static void forget(struct wb_tickets *t, const struct wb_cred_meta *meta, bool exact)
{
	struct tk_entry **pp, *e, *gone = NULL;

	if (!t || !meta)
		return;
	pthread_mutex_lock(&t->lock);
	for (pp = &t->head; (e = *pp) != NULL;) {
		if (!same_cred(e, meta) || (exact && e->updated != meta->updated)) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		e->next = gone;
		gone = e;
	}
	pthread_mutex_unlock(&t->lock);
	retire(t, gone);
}

void wb_tickets_forget(struct wb_tickets *t, const struct wb_cred_meta *meta)
{
	forget(t, meta, false);
}

void wb_tickets_forget_version(struct wb_tickets *t, const struct wb_cred_meta *meta)
{
	forget(t, meta, true);
}

void wb_tickets_free(struct wb_tickets *t)
{
	struct tk_entry *e, *next;

	if (!t)
		return;
	for (e = t->head; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- getting a TGT (under the entry's lock) ----------------------------------------- */

static int entry_open(struct tk_entry *e, struct wb_error *err)
{
	krb5_error_code code;

	if (e->ctx)
		return 0;
	if ((code = krb5_init_context(&e->ctx)) != 0) {
		e->ctx = NULL;
		return tgt_error(NULL, code, "this credential", err);
	}
	if ((code = krb5_cc_resolve(e->ctx, e->ccname, &e->cc)) != 0) {
		krb5_free_context(e->ctx);
		e->ctx = NULL;
		e->cc = NULL;
		return wb_error_set(err, WB_E_INTERNAL, "kerberos: cannot create a memory ccache");
	}
	return 0;
}

/* Replaces what the ccache holds with this TGT, in place: the name stays. */
static krb5_error_code store(struct tk_entry *e, krb5_creds *creds)
{
	krb5_error_code code;

	e->valid = false;
	code = krb5_cc_initialize(e->ctx, e->cc, creds->client);
	if (!code)
		code = krb5_cc_store_cred(e->ctx, e->cc, creds);
	if (code)
		return code;
	/* krb5_timestamp is unsigned on the wire and in MIT since 1.16 (y2038). */
	e->endtime = (uint32_t)creds->times.endtime;
	e->renew_till = creds->ticket_flags & TKT_FLG_RENEWABLE ?
		(int64_t)(uint32_t)creds->times.renew_till : 0;
	e->valid = true;
	return 0;
}

static krb5_error_code renew(struct tk_entry *e)
{
	krb5_principal client = NULL;
	krb5_creds creds;
	krb5_error_code code;

	memset(&creds, 0, sizeof(creds));
	code = krb5_cc_get_principal(e->ctx, e->cc, &client);
	if (!code)
		code = krb5_get_renewed_creds(e->ctx, &creds, client, e->cc, NULL);
	if (!code)
		code = store(e, &creds);
	krb5_free_cred_contents(e->ctx, &creds);	/* wipes the session key */
	krb5_free_principal(e->ctx, client);
	return code;
}

static krb5_error_code init_creds(struct tk_entry *e, krb5_principal client,
				  const struct wb_secret *sec, krb5_keytab kt, krb5_creds *creds)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_error_code code;

	code = krb5_get_init_creds_opt_alloc(e->ctx, &opt);
	if (code)
		return code;
	/* Set both ways: a TGT for a non-delegating target is not forwardable,
	 * whatever krb5.conf's forwardable says. */
	krb5_get_init_creds_opt_set_forwardable(opt, e->forwardable);
	if (kt)
		code = krb5_get_init_creds_keytab(e->ctx, creds, client, kt, 0, NULL, opt);
	else
		code = krb5_get_init_creds_password(e->ctx, creds, client, sec->password,
						    NULL, NULL, 0, NULL, opt);
	krb5_get_init_creds_opt_free(e->ctx, opt);
	return code;
}

static int acquire(struct tk_entry *e, const struct wb_cred_meta *meta,
		   const struct wb_secret *sec, struct wb_error *err)
{
	krb5_principal client = NULL, first = NULL;
	krb5_keytab kt = NULL;
	krb5_creds creds;
	krb5_error_code code;
	char *who = NULL;
	int rc;

	memset(&creds, 0, sizeof(creds));
	if (meta->kind == WB_CRED_KEYTAB && (rc = keytab_open(e->ctx, sec, &kt, &first, err)) < 0) {
		if (err)
			wb_error_prefix(err, "kerberos: credential '%s'", meta->name);
		return rc;
	}
	rc = client_principal(e->ctx, meta, first, &client, err);
	if (rc == 0) {
		code = init_creds(e, client, sec, kt, &creds);
		if (!code)
			code = store(e, &creds);
		if (code) {
			if (krb5_unparse_name(e->ctx, client, &who) != 0)
				who = NULL;
			rc = tgt_error(e->ctx, code, who ? who : meta->user, err);
		}
	}
	krb5_free_unparsed_name(e->ctx, who);
	krb5_free_cred_contents(e->ctx, &creds);
	krb5_free_principal(e->ctx, client);
	krb5_free_principal(e->ctx, first);
	if (kt)
		krb5_kt_close(e->ctx, kt);	/* the last handle: keys wiped */
	return rc;
}

/* A TGT valid beyond the margin: the one held, a renewed one, or a new one. */
static int refresh(struct tk_entry *e, const struct wb_cred_meta *meta,
		   const struct wb_secret *sec, struct wb_error *err)
{
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (e->valid && e->endtime - now > WB_TICKETS_MARGIN_SEC)
		return 0;
	if ((rc = entry_open(e, err)) < 0)
		return rc;
	if (e->valid && e->renew_till - now > WB_TICKETS_MARGIN_SEC && renew(e) == 0)
		return 0;
	return acquire(e, meta, sec, err);
}

static int check_secret(const struct wb_cred_meta *meta, const struct wb_secret *sec,
			struct wb_error *err)
{
	switch (meta->kind) {
	case WB_CRED_PASSWORD:
		if (!sec || !sec->password)
			return wb_error_set(err, WB_E_INVALID, "kerberos: credential '%s' has no "
					    "password", meta->name);
		return 0;
	case WB_CRED_KEYTAB:
		if (!sec || !sec->keytab || !sec->keytab_len)
			return wb_error_set(err, WB_E_INVALID, "kerberos: credential '%s' has no "
					    "keytab", meta->name);
		return 0;
	default:
		return wb_error_set(err, WB_E_UNSUPPORTED, "kerberos: credential '%s' is not a "
				    "password or keytab credential (PKINIT is not supported)",
				    meta->name);
	}
}

int wb_tickets_ccache(struct wb_tickets *t, const struct wb_cred_meta *meta,
		      const struct wb_secret *sec, bool forwardable,
		      char *ccname, size_t size, struct wb_error *err)
{
	struct tk_entry *e, *stale = NULL;
	int rc;

	if (!t || !meta || !ccname || size < WB_CCNAME_MAX)
		return wb_error_set(err, WB_E_INVALID, "tickets: bad arguments");
	if ((rc = check_secret(meta, sec, err)) < 0)
		return rc;
	e = lookup(t, meta, forwardable, &stale);
	retire(t, stale);
	if (!e)
		return wb_error_set(err, WB_E_INTERNAL, "tickets: out of memory");
	pthread_mutex_lock(&e->lock);
	if (e->dead)
		rc = wb_error_set(err, WB_E_NOCRED, "kerberos: credential '%s' was removed or "
				  "replaced meanwhile", meta->name);
	else
		rc = refresh(e, meta, sec, err);
	if (rc == 0)
		snprintf(ccname, size, "%s", e->ccname);
	pthread_mutex_unlock(&e->lock);
	unref(t, e);
	return rc;
}
