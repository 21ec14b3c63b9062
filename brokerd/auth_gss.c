/* auth_gss.c - the GSSAPI handshake, channel binding and message
 * encryption shared by Kerberos, NTLM and Negotiate (see auth_gss.h). */
#include "auth_gss.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_ntlmssp.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "krb5_tickets.h"
#include "log.h"
#include "msgenc.h"
#include "ntowf.h"

#define TOKEN_MAX 65536		/* one Authorization header's worth */
#define LEGS_MAX 6		/* SPNEGO with NTLM needs 3; anything longer is broken */
#define KRB_HEADER_MAX 1024	/* RFC 4121 header + trailer is under 100 bytes */
#define NTLM_SIG_LEN 16		/* MS-NLMP NTLMSSP_MESSAGE_SIGNATURE */
#define CBT_PREFIX "tls-server-end-point:"
#define NOTE_MAX 300

static gss_OID_desc krb5_oid = { 9, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" };
static gss_OID_desc ntlm_oid = { GSS_NTLMSSP_OID_LENGTH, GSS_NTLMSSP_OID_STRING };
static gss_OID_desc spnego_oid = { 6, "\x2b\x06\x01\x05\x05\x02" };

enum state {
	S_IDLE,		/* no handshake yet */
	S_PROBE,	/* an anonymous POST is out, to learn the server certificate */
	S_LEGS,		/* our token is out */
	S_DONE,		/* authenticated */
};

enum wb_gss_inner { WB_GSS_NONE = 0, WB_GSS_KRB5, WB_GSS_NTLM };

struct wb_gss {
	const struct wb_gss_mech *mech;
	enum state state;
	int legs;
	gss_name_t target;
	char spn[WB_HOST_MAX + 80];
	gss_cred_id_t cred;
	gss_ctx_id_t ctx;
	gss_OID oid;			/* asked for: krb5, NTLM or SPNEGO */
	enum wb_gss_inner inner;	/* what runs inside */
	OM_uint32 req_flags, ret_flags;
	bool complete;
	bool bound;			/* a channel binding went into the context */
	uint8_t cbt[sizeof(CBT_PREFIX) + EVP_MAX_MD_SIZE];
	struct gss_channel_bindings_struct cb;
	char note[NOTE_MAX];		/* why Negotiate did not use Kerberos */
};

/* ---- small helpers ------------------------------------------------------------ */

static void release_buffer(gss_buffer_t b)
{
	OM_uint32 min;

	if (b->length)
		gss_release_buffer(&min, b);
	b->value = NULL;
	b->length = 0;
}

static bool delegating(const struct wb_auth *a)
{
	return a->target->kerberos_delegation && (a->meta->flags & WB_CRED_F_DELEGATE);
}

static const char *inner_name(enum wb_gss_inner inner)
{
	return inner == WB_GSS_KRB5 ? "Kerberos" : inner == WB_GSS_NTLM ? "NTLM" : "GSSAPI";
}

static void append(char *out, size_t size, const char *text, size_t n)
{
	size_t have = strlen(out);

	if (have + 1 >= size)
		return;
	if (n > size - have - 1)
		n = size - have - 1;
	memcpy(out + have, text, n);
	out[have + n] = '\0';
}

static void append_status(OM_uint32 code, int type, gss_const_OID mech, char *out, size_t size)
{
	OM_uint32 min, more = 0;
	gss_buffer_desc msg = GSS_C_EMPTY_BUFFER;
	bool first = true;

	do {
		if (GSS_ERROR(gss_display_status(&min, code, type, (gss_OID)mech, &more, &msg)))
			break;
		if (!first)
			append(out, size, "; ", 2);
		append(out, size, msg.value, msg.length);
		release_buffer(&msg);
		first = false;
	} while (more);
}

void wb_gss_status_text(OM_uint32 major, OM_uint32 minor, gss_const_OID mech, char *out,
			size_t size)
{
	out[0] = '\0';
	/* "Unspecified GSS failure. Minor code may provide more information"
	 * says nothing the minor text does not. */
	if (GSS_ROUTINE_ERROR(major) != GSS_S_FAILURE || !minor) {
		append_status(GSS_ROUTINE_ERROR(major) ? GSS_ROUTINE_ERROR(major) : major,
			      GSS_C_GSS_CODE, GSS_C_NO_OID, out, size);
		if (minor)
			append(out, size, ": ", 2);
	}
	if (minor)
		append_status(minor, GSS_C_MECH_CODE, mech, out, size);
}

static gss_OID inner_oid(enum wb_gss_inner inner)
{
	return inner == WB_GSS_KRB5 ? &krb5_oid : inner == WB_GSS_NTLM ? &ntlm_oid : GSS_C_NO_OID;
}

void wb_gss_note(struct wb_gss *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->note, sizeof(g->note), fmt, ap);
	va_end(ap);
}

/* ---- channel binding (RFC 5929) --------------------------------------------- */

int wb_gss_end_point_binding(const uint8_t *der, size_t len, uint8_t *out, size_t size)
{
	const unsigned char *p = der;
	const EVP_MD *md = NULL;
	unsigned int hlen = 0;
	size_t plen = strlen(CBT_PREFIX);
	X509 *x;
	int mdnid = NID_undef;

	x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return -1;
	if (!X509_get_signature_info(x, &mdnid, NULL, NULL, NULL))
		mdnid = NID_undef;
	X509_free(x);
	/* MD5 and SHA-1 are upgraded; a signature without a separate hash
	 * (Ed25519) has none to take: SHA-256, as Windows does. */
	if (mdnid != NID_undef && mdnid != NID_md5 && mdnid != NID_sha1)
		md = EVP_get_digestbynid(mdnid);
	if (!md)
		md = EVP_sha256();
	if (size < plen + (size_t)EVP_MD_get_size(md))
		return -1;
	memcpy(out, CBT_PREFIX, plen);
	if (!EVP_Digest(der, len, out + plen, &hlen, md, NULL))
		return -1;
	return (int)(plen + hlen);
}

/* The binding for this handshake, when the connection is TLS and send_cbt. */
static gss_channel_bindings_t bindings(struct wb_auth *a, struct wb_gss *g)
{
	int n;

	if (g->mech->no_binding || !a->target->https || !a->target->send_cbt ||
	    !a->server_cert_der)
		return GSS_C_NO_CHANNEL_BINDINGS;
	n = wb_gss_end_point_binding(a->server_cert_der, a->server_cert_len, g->cbt,
				     sizeof(g->cbt));
	if (n < 0)
		return GSS_C_NO_CHANNEL_BINDINGS;
	memset(&g->cb, 0, sizeof(g->cb));	/* address types GSS_C_AF_UNSPEC */
	g->cb.application_data.value = g->cbt;
	g->cb.application_data.length = (size_t)n;
	g->bound = true;
	return &g->cb;
}

/* ---- credentials ------------------------------------------------------------- */

void wb_gss_reset(struct wb_gss *g)
{
	OM_uint32 min;

	if (g->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&min, &g->ctx, GSS_C_NO_BUFFER);
	if (g->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&min, &g->cred);
	g->ctx = GSS_C_NO_CONTEXT;
	g->cred = GSS_C_NO_CREDENTIAL;
	g->oid = GSS_C_NO_OID;
	g->inner = WB_GSS_NONE;
	g->req_flags = g->ret_flags = 0;
	g->complete = g->bound = false;
}

static int neg_mechs(struct wb_gss *g, gss_OID inner, struct wb_error *err)
{
	gss_OID_set_desc set = { 1, inner };
	OM_uint32 maj, min;
	char text[256];

	maj = gss_set_neg_mechs(&min, g->cred, &set);
	if (GSS_ERROR(maj)) {
		wb_gss_status_text(maj, min, &spnego_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_INTERNAL, "SPNEGO: cannot restrict the mechanisms: %s",
				    text);
	}
	return 0;
}

int wb_gss_use_kerberos(struct wb_auth *a, struct wb_gss *g, bool spnego, struct wb_error *err)
{
	char ccname[WB_CCNAME_MAX], text[256];
	gss_key_value_element_desc el = { "ccache", ccname };
	gss_key_value_set_desc store = { 1, &el };
	gss_OID_set_desc mechs = { 1, spnego ? &spnego_oid : &krb5_oid };
	OM_uint32 maj, min;
	int rc;

	if (!a->tickets)
		return wb_error_set(err, WB_E_UNSUPPORTED, "kerberos: this engine has no ticket "
				    "cache");
	rc = wb_tickets_ccache(a->tickets, a->meta, a->sec, delegating(a), ccname,
			       sizeof(ccname), err);
	if (rc < 0) {
		wb_error_prefix(err, "credential '%s'", a->meta->name);
		return rc;
	}
	maj = gss_acquire_cred_from(&min, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
				    &store, &g->cred, NULL, NULL);
	if (GSS_ERROR(maj)) {
		wb_gss_status_text(maj, min, &krb5_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_AUTH, "kerberos: cannot use the ticket of credential "
				    "'%s': %s", a->meta->name, text);
	}
	if (spnego && (rc = neg_mechs(g, &krb5_oid, err)) < 0)
		return rc;
	g->oid = spnego ? &spnego_oid : &krb5_oid;
	g->inner = WB_GSS_KRB5;
	g->req_flags = GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG |
		       GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG;
	if (delegating(a))
		g->req_flags |= GSS_C_DELEG_FLAG;
	return 0;
}

bool wb_gss_ntlm_possible(const struct wb_cred_meta *meta, const struct wb_secret *sec)
{
	return meta->kind == WB_CRED_PASSWORD && sec && sec->password && meta->user[0];
}

/* "DOMAIN\user" unless the user is already qualified ("D\u", "u@d"). */
static int ntlm_user(const struct wb_cred_meta *meta, char *out, size_t size)
{
	int n;

	if (meta->domain[0] && !strchr(meta->user, '\\') && !strchr(meta->user, '@'))
		n = snprintf(out, size, "%s\\%s", meta->domain, meta->user);
	else
		n = snprintf(out, size, "%s", meta->user);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * gss-ntlmssp gets the NT hash, not the password (ntowf.h says why); both
 * stay in sodium memory here, and gss-ntlmssp keeps its own copy in the
 * credential until it is released.
 */
static int ntlm_cred(struct wb_auth *a, gss_name_t name, gss_OID_set mechs, gss_cred_id_t *cred,
		     OM_uint32 *maj, OM_uint32 *min)
{
	gss_key_value_element_desc el = { GSS_NTLMSSP_CS_NTHASH, NULL };
	gss_key_value_set_desc store = { 1, &el };
	uint8_t *hash = sodium_malloc(WB_NT_HASH_LEN);
	char *hex = sodium_malloc(2 * WB_NT_HASH_LEN + 1);
	int rc = -1;

	if (hash && hex && wb_ntowf(a->sec->password, hash) == 0) {
		sodium_bin2hex(hex, 2 * WB_NT_HASH_LEN + 1, hash, WB_NT_HASH_LEN);
		el.value = hex;
		*maj = gss_acquire_cred_from(min, name, GSS_C_INDEFINITE, mechs, GSS_C_INITIATE,
					     &store, cred, NULL, NULL);
		rc = 0;
	}
	sodium_free(hash);
	sodium_free(hex);
	return rc;
}

int wb_gss_use_ntlm(struct wb_auth *a, struct wb_gss *g, bool spnego, struct wb_error *err)
{
	char user[2 * WB_CRED_TEXT_MAX + 2], text[256];
	gss_buffer_desc ub;
	gss_OID_set_desc mechs = { 1, spnego ? &spnego_oid : &ntlm_oid };
	gss_name_t name = GSS_C_NO_NAME;
	OM_uint32 maj, min;
	int rc;

	if (!wb_gss_ntlm_possible(a->meta, a->sec))
		return wb_error_set(err, WB_E_UNSUPPORTED, "ntlm needs a password credential; "
				    "'%s' is not one", a->meta->name);
	if (ntlm_user(a->meta, user, sizeof(user)) < 0)
		return wb_error_set(err, WB_E_INVALID, "ntlm: user name of '%s' too long",
				    a->meta->name);
	ub.value = user;
	ub.length = strlen(user);
	maj = gss_import_name(&min, &ub, GSS_C_NT_USER_NAME, &name);
	if (!GSS_ERROR(maj)) {
		rc = ntlm_cred(a, name, &mechs, &g->cred, &maj, &min);
		gss_release_name(&min, &name);
		if (rc < 0)
			return wb_error_set(err, WB_E_INVALID, "ntlm: the password of '%s' is not "
					    "valid UTF-8", a->meta->name);
	}
	if (GSS_ERROR(maj)) {
		wb_gss_status_text(maj, min, &ntlm_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_UNSUPPORTED, "ntlm: cannot make a credential for %s "
				    "(is gss-ntlmssp installed? /etc/gss/mech.d): %s", user, text);
	}
	if (spnego && (rc = neg_mechs(g, &ntlm_oid, err)) < 0)
		return rc;
	g->oid = spnego ? &spnego_oid : &ntlm_oid;
	g->inner = WB_GSS_NTLM;
	/* No mutual flag: NTLM cannot prove the server. Sealing needs CONF. */
	g->req_flags = GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG | GSS_C_REPLAY_FLAG |
		       GSS_C_SEQUENCE_FLAG;
	return 0;
}

/* ---- the context ---------------------------------------------------------------- */

static int init_failed(struct wb_auth *a, struct wb_gss *g, bool first, OM_uint32 maj,
		       OM_uint32 min, struct wb_error *err)
{
	const char *hint = NULL;
	char text[300];
	int code = WB_E_AUTH;

	wb_gss_status_text(maj, min, inner_oid(g->inner), text, sizeof(text));
	if (g->inner == WB_GSS_KRB5 && min) {
		hint = wb_krb5_hint((long)(int32_t)min);
		code = wb_krb5_errcode((long)(int32_t)min);
		if (code == WB_E_INTERNAL)
			code = WB_E_AUTH;
		if (first)
			return wb_error_set(err, code, "kerberos to %s: cannot get a service "
					    "ticket for %s: %s%s%s", a->target->host, g->spn, text,
					    hint ? "; " : "", hint ? hint : "");
		return wb_error_set(err, code, "kerberos to %s: the host's answer does not "
				    "complete the authentication for %s: %s%s%s", a->target->host,
				    g->spn, text, hint ? "; " : "", hint ? hint : "");
	}
	return wb_error_set(err, code, "%s to %s failed%s: %s", inner_name(g->inner),
			    a->target->host, first ? " to start" : "", text);
}

/* One gss_init_sec_context call: 0 when complete, 1 to continue. */
static int init_step(struct wb_auth *a, struct wb_gss *g, gss_buffer_t in, gss_buffer_t out,
		     struct wb_error *err)
{
	OM_uint32 maj, min = 0;

	maj = gss_init_sec_context(&min, g->cred, &g->ctx, g->target, g->oid, g->req_flags, 0,
				   bindings(a, g), in, NULL, out, &g->ret_flags, NULL);
	if (GSS_ERROR(maj)) {
		release_buffer(out);
		return init_failed(a, g, in == GSS_C_NO_BUFFER, maj, min, err);
	}
	g->complete = maj == GSS_S_COMPLETE;
	return g->complete ? 0 : 1;
}

int wb_gss_first_step(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out,
		      struct wb_error *err)
{
	int rc = init_step(a, g, GSS_C_NO_BUFFER, out, err);

	if (rc >= 0 && out->length == 0)
		return wb_error_set(err, WB_E_INTERNAL, "%s: no initial token",
				    inner_name(g->inner));
	return rc < 0 ? rc : 0;
}

/* "Authorization: <scheme> <base64>" */
static int put_token(struct wb_gss *g, const gss_buffer_t tok, struct wb_writer *authz,
		     struct wb_error *err)
{
	size_t b64len;
	char *b64;
	int rc;

	if (tok->length > TOKEN_MAX)
		return wb_error_set(err, WB_E_INTERNAL, "%s token of %zu bytes is too large",
				    g->mech->scheme, tok->length);
	b64len = sodium_base64_ENCODED_LEN(tok->length, sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(b64len);
	if (!b64)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	sodium_bin2base64(b64, b64len, tok->value, tok->length, sodium_base64_VARIANT_ORIGINAL);
	rc = wb_put(authz, "Authorization: ", 15);
	rc = rc ?: wb_put(authz, g->mech->scheme, strlen(g->mech->scheme));
	rc = rc ?: wb_put_u8(authz, ' ');
	rc = rc ?: wb_put(authz, b64, strlen(b64) + 1);
	free(b64);
	if (rc < 0)
		return wb_error_set(err, WB_E_INTERNAL, "%s: Authorization header too large",
				    g->mech->scheme);
	g->legs++;
	return 0;
}

/* ---- the challenge --------------------------------------------------------------- */

/*
 * Finds scheme among the WWW-Authenticate values (one per line; some
 * servers join them with commas, and base64 has no commas): true, with
 * what follows the scheme (the token, or nothing) in tok/toklen.
 */
static bool find_scheme(const char *challenge, const char *scheme, const char **tok,
			size_t *toklen)
{
	size_t slen = strlen(scheme);
	const char *p = challenge ? challenge : "";

	while (*p) {
		size_t n = strcspn(p, ",\n"), i = 0;

		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (n - i >= slen && strncasecmp(p + i, scheme, slen) == 0 &&
		    (n - i == slen || p[i + slen] == ' ')) {
			i += slen;
			while (i < n && p[i] == ' ')
				i++;
			*tok = p + i;
			*toklen = n - i;
			while (*toklen && ((*tok)[*toklen - 1] == ' ' || (*tok)[*toklen - 1] == '\r'))
				(*toklen)--;
			return true;
		}
		p += n;
		if (*p)
			p++;
	}
	return false;
}

/* 1 and the decoded token, 0 when the answer carries none, < 0 malformed. */
static int challenge_token(struct wb_auth *a, struct wb_gss *g, const char *challenge,
			   gss_buffer_t in, uint8_t **owned, struct wb_error *err)
{
	const char *tok;
	size_t toklen, bin = 0;
	uint8_t *buf;

	if (!find_scheme(challenge, g->mech->scheme, &tok, &toklen) || toklen == 0)
		return 0;
	if (toklen > TOKEN_MAX * 4 / 3 + 4)
		return wb_error_set(err, WB_E_REMOTE, "%s sent a %s token too large", a->target->host,
				    g->mech->scheme);
	buf = malloc(toklen);
	if (!buf)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	if (sodium_base642bin(buf, toklen, tok, toklen, NULL, &bin, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || bin == 0) {
		free(buf);
		return wb_error_set(err, WB_E_REMOTE, "%s sent a malformed %s token (bad base64)",
				    a->target->host, g->mech->scheme);
	}
	in->value = buf;
	in->length = bin;
	*owned = buf;
	return 1;
}

/* The schemes a 401 offers, for a message. */
static void offered(const char *challenge, char *out, size_t size)
{
	const char *p = challenge ? challenge : "";

	out[0] = '\0';
	while (*p) {
		size_t n = strcspn(p, ",\n"), i = 0, w;

		while (i < n && p[i] == ' ')
			i++;
		w = strcspn(p + i, " ,\n");
		if (w && (out[0] ? strlen(out) + 2 : 0) + w + 1 < size) {
			if (out[0])
				append(out, size, ", ", 2);
			append(out, size, p + i, w);
		}
		p += n;
		if (*p)
			p++;
	}
	if (!out[0])
		snprintf(out, size, "nothing");
}

/* ---- the handshake --------------------------------------------------------------- */

static int refused(struct wb_auth *a, struct wb_gss *g, long status, struct wb_error *err)
{
	const struct wb_target *t = a->target;
	const char *cbt = t->https && !t->send_cbt ?
		"; the host may require channel binding (CbtHardeningLevel=Strict): keep "
		"send_cbt on" : "";
	char user[2 * WB_CRED_TEXT_MAX + 2] = "";

	if (g->inner == WB_GSS_NTLM) {
		ntlm_user(a->meta, user, sizeof(user));
		return wb_error_set(err, WB_E_AUTH, "%s refused the NTLM credential '%s' (%s, HTTP "
				    "%ld): wrong user/domain/password?%s%s%s", t->host,
				    a->meta->name, user, status, cbt, g->note[0] ? "; " : "",
				    g->note);
	}
	return wb_error_set(err, WB_E_AUTH, "%s refused the Kerberos ticket for %s of credential "
			    "'%s' (HTTP %ld): the host's key for the SPN may differ from the KDC's "
			    "(keytab, or kerberos_hostname_override naming another host), or the "
			    "clocks differ%s", t->host, g->spn, a->meta->name, status, cbt);
}

/* The context is established: check what it gives before any request. */
static int established(struct wb_auth *a, struct wb_gss *g, struct wb_error *err)
{
	const char *host = a->target->host;

	if (g->inner == WB_GSS_KRB5 && !(g->ret_flags & GSS_C_MUTUAL_FLAG))
		return wb_error_set(err, WB_E_AUTH, "kerberos to %s: the host did not prove its "
				    "identity (no mutual authentication); refused", host);
	if (a->encrypt && !(g->ret_flags & GSS_C_CONF_FLAG))
		return wb_error_set(err, WB_E_AUTH, "%s to %s: the security context offers no "
				    "confidentiality, so messages cannot be encrypted",
				    inner_name(g->inner), host);
	if (g->inner == WB_GSS_KRB5 && (g->req_flags & GSS_C_DELEG_FLAG) &&
	    !(g->ret_flags & GSS_C_DELEG_FLAG))
		return wb_error_set(err, WB_E_AUTH, "kerberos to %s: delegation was asked "
				    "(kerberos_delegation) but no ticket was delegated: the KDC "
				    "gave no forwardable ticket (forwardable = true in krb5.conf, and "
				    "the account must not be 'sensitive and cannot be delegated')",
				    host);
	g->state = S_DONE;
	wb_log(LOG_DEBUG, "%s: %s authenticated with %s%s%s", host, g->mech->scheme,
	       inner_name(g->inner), g->oid == &spnego_oid ? " in SPNEGO" : "",
	       g->bound ? ", channel bound" : "");
	return WB_AUTH_DONE;
}

/* A new handshake: the connection's first, or after a 401 or a reconnect. */
static int handshake(struct wb_auth *a, struct wb_gss *g, struct wb_writer *authz,
		     struct wb_error *err)
{
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	int rc;

	g->note[0] = '\0';
	rc = g->mech->begin(a, g, &out, err);
	if (rc >= 0)
		rc = put_token(g, &out, authz, err);
	release_buffer(&out);
	if (rc < 0)
		return rc;
	g->state = S_LEGS;
	return WB_AUTH_CONTINUE;
}

/* Our token is out; this is the host's answer. */
static int answer(struct wb_auth *a, struct wb_gss *g, long status, const char *challenge,
		  struct wb_writer *authz, struct wb_error *err)
{
	gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
	uint8_t *owned = NULL;
	int rc, have;

	if (status != 200 && status != 401)
		return wb_error_set(err, WB_E_REMOTE, "%s answered HTTP %ld during the %s "
				    "handshake", a->target->host, status, g->mech->scheme);
	have = challenge_token(a, g, challenge, &in, &owned, err);
	if (have < 0)
		return have;
	if (status == 401 && (!have || g->complete)) {
		free(owned);
		return refused(a, g, status, err);
	}
	if (!have && !g->complete) {
		return wb_error_set(err, WB_E_AUTH, "%s accepted the %s handshake without its "
				    "last token%s; refused", a->target->host, g->mech->scheme,
				    g->inner == WB_GSS_KRB5 ? " (no mutual authentication)" : "");
	}
	if (g->legs >= LEGS_MAX) {
		free(owned);
		return wb_error_set(err, WB_E_REMOTE, "%s: more than %d %s legs; refused",
				    a->target->host, LEGS_MAX, g->mech->scheme);
	}
	rc = 0;
	if (have && !g->complete)
		rc = init_step(a, g, &in, &out, err);
	free(owned);
	if (rc < 0)
		return rc;
	if (status == 401) {		/* the host wants another leg */
		rc = out.length ? put_token(g, &out, authz, err)
				: wb_error_set(err, WB_E_AUTH, "%s asked for another %s leg, but "
					       "the context has nothing to send", a->target->host,
					       g->mech->scheme);
		release_buffer(&out);
		return rc < 0 ? rc : WB_AUTH_CONTINUE;
	}
	release_buffer(&out);	/* a last token after a 200 has nobody to go to */
	if (!g->complete)
		return wb_error_set(err, WB_E_AUTH, "%s accepted the %s handshake before it was "
				    "complete; refused", a->target->host, g->mech->scheme);
	return established(a, g, err);
}

int wb_gss_next_token(struct wb_auth *a, long status, const char *challenge,
		      struct wb_writer *authz, struct wb_error *err)
{
	struct wb_gss *g = a->state;
	const struct wb_target *t = a->target;
	const char *tok;
	size_t toklen;
	char offers[160];

	if (status == 0 || g->state == S_DONE || g->state == S_IDLE) {
		/* 0: a new connection (or a reconnect); 401 after S_DONE: the host
		 * dropped the authentication, e.g. fail_401_after. */
		wb_gss_reset(g);
		g->legs = 0;
		if (t->https && t->send_cbt && g->mech->binds_first_token && !a->server_cert_der) {
			g->state = S_PROBE;
			return WB_AUTH_CONTINUE;	/* empty Authorization: anonymous */
		}
		return handshake(a, g, authz, err);
	}
	if (g->state == S_PROBE) {
		if (status != 401)
			return wb_error_set(err, WB_E_REMOTE, "%s answered HTTP %ld to an "
					    "unauthenticated request (expected 401)", t->host, status);
		if (!find_scheme(challenge, g->mech->scheme, &tok, &toklen)) {
			offered(challenge, offers, sizeof(offers));
			return wb_error_set(err, WB_E_AUTH, "%s does not offer %s authentication (it "
					    "offers %s); enable it on the host (winrm set "
					    "winrm/config/service/auth) or choose another transport",
					    t->host, g->mech->scheme, offers);
		}
		return handshake(a, g, authz, err);
	}
	return answer(a, g, status, challenge, authz, err);
}

/* ---- message encryption ------------------------------------------------------------ */

static int seal_ntlm(struct wb_gss *g, const uint8_t *plain, size_t n, struct wb_writer *out,
		     uint32_t *length_field, struct wb_error *err)
{
	gss_buffer_desc in = { n, (void *)plain }, sealed = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int conf = 0, rc;
	char text[256];

	maj = gss_wrap(&min, g->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &sealed);
	if (GSS_ERROR(maj)) {
		wb_gss_status_text(maj, min, &ntlm_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_INTERNAL, "NTLM: cannot seal a message: %s", text);
	}
	rc = conf && sealed.length == n + NTLM_SIG_LEN ? wb_put(out, sealed.value, sealed.length)
						       : -2;
	release_buffer(&sealed);
	if (rc == -2)
		return wb_error_set(err, WB_E_INTERNAL, "NTLM: gss_wrap did not seal the message "
				    "as signature + data");
	if (rc < 0)
		return wb_error_set(err, WB_E_INTERNAL, "NTLM: sealed message too large");
	*length_field = NTLM_SIG_LEN;
	return 0;
}

static int seal_krb5(struct wb_gss *g, const uint8_t *plain, size_t n, struct wb_writer *out,
		     uint32_t *length_field, struct wb_error *err)
{
	static const uint8_t zeros[KRB_HEADER_MAX];
	gss_iov_buffer_desc iov[3];
	OM_uint32 maj, min;
	size_t start = out->len;
	uint8_t *base;
	int conf = 0;
	char text[256];

	memset(iov, 0, sizeof(iov));
	iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
	iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
	iov[1].buffer.length = n;
	iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING;
	maj = gss_wrap_iov_length(&min, g->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
	if (GSS_ERROR(maj) || iov[0].buffer.length > KRB_HEADER_MAX ||
	    iov[2].buffer.length > KRB_HEADER_MAX) {
		wb_gss_status_text(maj, min, &krb5_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_INTERNAL, "Kerberos: cannot size a sealed message: %s",
				    text);
	}
	/* Header, data and padding laid out in place: sealed without a copy. */
	if (wb_put(out, zeros, iov[0].buffer.length) < 0 || wb_put(out, plain, n) < 0 ||
	    wb_put(out, zeros, iov[2].buffer.length) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "Kerberos: sealed message too large");
	base = out->data + start;
	iov[0].buffer.value = base;
	iov[1].buffer.value = base + iov[0].buffer.length;
	iov[2].buffer.value = base + iov[0].buffer.length + n;
	maj = gss_wrap_iov(&min, g->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
	if (GSS_ERROR(maj) || !conf) {
		wb_gss_status_text(maj, min, &krb5_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_INTERNAL, "Kerberos: cannot seal a message: %s",
				    conf ? text : "not encrypted");
	}
	*length_field = (uint32_t)iov[0].buffer.length;
	return 0;
}

static int seal(void *ctx, const uint8_t *plain, size_t n, struct wb_writer *out,
		uint32_t *length_field, struct wb_error *err)
{
	struct wb_gss *g = ctx;

	if (g->inner == WB_GSS_NTLM)
		return seal_ntlm(g, plain, n, out, length_field, err);
	return seal_krb5(g, plain, n, out, length_field, err);
}

static int unseal_ntlm(struct wb_gss *g, uint32_t length_field, const uint8_t *payload,
		       size_t n, struct wb_writer *plain, struct wb_error *err)
{
	gss_buffer_desc in = { n, (void *)payload }, out = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int conf = 0, rc;
	char text[256];

	if (length_field != NTLM_SIG_LEN || n <= NTLM_SIG_LEN)
		return wb_error_set(err, WB_E_REMOTE, "NTLM: encrypted answer with a signature of "
				    "%u bytes in %zu; refused", length_field, n);
	maj = gss_unwrap(&min, g->ctx, &in, &out, &conf, NULL);
	if (GSS_ERROR(maj)) {
		wb_gss_status_text(maj, min, &ntlm_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_REMOTE, "NTLM: an answer failed to unseal (%s); "
				    "refused", text);
	}
	rc = conf ? wb_put(plain, out.value, out.length) : -2;
	release_buffer(&out);
	if (rc == -2)
		return wb_error_set(err, WB_E_REMOTE, "NTLM: an answer was signed but not sealed; "
				    "refused");
	return rc < 0 ? wb_error_set(err, WB_E_REMOTE, "NTLM: answer too large") : 0;
}

static int unseal_krb5(struct wb_gss *g, uint32_t length_field, const uint8_t *payload,
		       size_t n, struct wb_writer *plain, struct wb_error *err)
{
	uint8_t header[KRB_HEADER_MAX];
	gss_iov_buffer_desc iov[2];
	size_t before = plain->len;
	OM_uint32 maj, min;
	int conf = 0;
	char text[256];

	if (length_field < 16 || length_field > KRB_HEADER_MAX || length_field > n)
		return wb_error_set(err, WB_E_REMOTE, "Kerberos: encrypted answer with a header of "
				    "%u bytes in %zu; refused", length_field, n);
	/* Decrypted in place, where the plaintext belongs. */
	memcpy(header, payload, length_field);
	if (wb_put(plain, payload + length_field, n - length_field) < 0)
		return wb_error_set(err, WB_E_REMOTE, "Kerberos: answer too large");
	memset(iov, 0, sizeof(iov));
	iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
	iov[0].buffer.value = header;
	iov[0].buffer.length = length_field;
	iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
	iov[1].buffer.value = plain->data + before;
	iov[1].buffer.length = n - length_field;
	maj = gss_unwrap_iov(&min, g->ctx, &conf, NULL, iov, 2);
	if (GSS_ERROR(maj) || !conf || iov[1].buffer.length > n - length_field) {
		plain->len = before;
		wb_gss_status_text(maj, min, &krb5_oid, text, sizeof(text));
		return wb_error_set(err, WB_E_REMOTE, "Kerberos: an answer failed to unseal (%s); "
				    "refused", GSS_ERROR(maj) ? text : "not encrypted");
	}
	plain->len = before + iov[1].buffer.length;
	return 0;
}

static int unseal(void *ctx, uint32_t length_field, const uint8_t *payload, size_t n,
		  struct wb_writer *plain, struct wb_error *err)
{
	struct wb_gss *g = ctx;

	if (g->inner == WB_GSS_NTLM)
		return unseal_ntlm(g, length_field, payload, n, plain, err);
	return unseal_krb5(g, length_field, payload, n, plain, err);
}

int wb_gss_wrap(struct wb_auth *a, const uint8_t *plain, size_t n, struct wb_writer *body,
		char content_type[WB_AUTH_CT_MAX], struct wb_error *err)
{
	struct wb_gss *g = a->state;

	if (g->state != S_DONE)
		return wb_error_set(err, WB_E_INTERNAL, "%s: sealing before authentication",
				    g->mech->scheme);
	return wb_msgenc_build(g->mech->protocol, plain, n, 0, seal, g, body, content_type,
			       WB_AUTH_CT_MAX, err);
}

int wb_gss_unwrap(struct wb_auth *a, const char *content_type, const uint8_t *body, size_t n,
		  struct wb_writer *plain, struct wb_error *err)
{
	struct wb_gss *g = a->state;
	int rc;

	if (g->state != S_DONE)
		return wb_error_set(err, WB_E_REMOTE, "%s: an encrypted answer before "
				    "authentication; refused", g->mech->scheme);
	plain->len = 0;
	rc = wb_msgenc_parse(content_type, g->mech->protocol, body, n, unseal, g, plain, err);
	if (rc < 0) {
		plain->len = 0;
		wb_error_prefix(err, "%s", a->target->host);
	}
	return rc;
}

/* ---- the instance ------------------------------------------------------------------ */

int wb_gss_check_delegation(const struct wb_target *t, const struct wb_cred_meta *meta,
			    struct wb_error *err)
{
	if (t->kerberos_delegation && !(meta->flags & WB_CRED_F_DELEGATE))
		return wb_error_set(err, WB_E_DENIED, "kerberos_delegation is asked for %s, but "
				    "credential '%s' does not allow delegation (store it with "
				    "delegation allowed, or drop kerberos_delegation)", t->host,
				    meta->name);
	return 0;
}

struct wb_gss *wb_gss_new(struct wb_auth *a, const struct wb_gss_mech *mech,
			  struct wb_error *err)
{
	const struct wb_target *t = a->target;
	const char *host = t->kerberos_hostname_override[0] ? t->kerberos_hostname_override
							      : t->host;
	char hbs[sizeof(((struct wb_gss *)0)->spn)];
	gss_buffer_desc name;
	OM_uint32 maj, min;
	struct wb_gss *g;
	int n;

	g = calloc(1, sizeof(*g));
	if (!g) {
		wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
		return NULL;
	}
	g->mech = mech;
	g->ctx = GSS_C_NO_CONTEXT;
	g->cred = GSS_C_NO_CREDENTIAL;
	g->target = GSS_C_NO_NAME;
	n = snprintf(g->spn, sizeof(g->spn), "%s/%s", t->service[0] ? t->service : "HTTP", host);
	if (n < 0 || (size_t)n >= sizeof(g->spn)) {
		wb_error_set(err, WB_E_INVALID, "SPN for %s too long", host);
		wb_gss_destroy(g);
		return NULL;
	}
	/* service@host: a host-based service name, which both krb5 (as the
	 * principal service/host) and gss-ntlmssp take. */
	snprintf(hbs, sizeof(hbs), "%s@%s", t->service[0] ? t->service : "HTTP", host);
	name.value = hbs;
	name.length = strlen(hbs);
	maj = gss_import_name(&min, &name, GSS_C_NT_HOSTBASED_SERVICE, &g->target);
	if (GSS_ERROR(maj)) {
		wb_error_set(err, WB_E_INVALID, "cannot use %s as a service name", g->spn);
		wb_gss_destroy(g);
		return NULL;
	}
	return g;
}

int wb_gss_start(struct wb_auth *a, const struct wb_gss_mech *mech, struct wb_error *err)
{
	const struct wb_target *t = a->target;
	struct wb_error e = { 0 };

	a->encrypt = t->message_encryption == WB_MSGENC_ALWAYS ||
		     (t->message_encryption == WB_MSGENC_AUTO && !t->https);
	a->state = wb_gss_new(a, mech, &e);
	return a->state ? 0 : wb_error_set(err, e.code, "%s", e.msg);
}

void wb_gss_destroy(struct wb_gss *g)
{
	OM_uint32 min;

	if (!g)
		return;
	wb_gss_reset(g);
	if (g->target != GSS_C_NO_NAME)
		gss_release_name(&min, &g->target);
	sodium_memzero(g, sizeof(*g));
	free(g);
}

int wb_gss_step(struct wb_auth *a, struct wb_gss *g, const uint8_t *in, size_t n,
		gss_buffer_t out, struct wb_error *err)
{
	gss_buffer_desc tok = { n, (void *)in };

	return init_step(a, g, &tok, out, err);
}

bool wb_gss_complete(const struct wb_gss *g)
{
	return g->complete;
}

const char *wb_gss_inner(const struct wb_gss *g)
{
	return inner_name(g->inner);
}

int wb_gss_seal_msg(struct wb_gss *g, const uint8_t *in, size_t n, struct wb_writer *out,
		    struct wb_error *err)
{
	gss_buffer_desc msg = { n, (void *)in }, sealed = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int conf = 0, rc;
	char text[256];

	maj = gss_wrap(&min, g->ctx, 1, GSS_C_QOP_DEFAULT, &msg, &conf, &sealed);
	if (GSS_ERROR(maj) || !conf) {
		release_buffer(&sealed);
		wb_gss_status_text(maj, min, inner_oid(g->inner), text, sizeof(text));
		return wb_error_set(err, WB_E_INTERNAL, "%s: cannot seal a message: %s",
				    inner_name(g->inner), conf ? text : "no confidentiality");
	}
	rc = wb_put(out, sealed.value, sealed.length);
	if (sealed.length)
		sodium_memzero(sealed.value, sealed.length);
	release_buffer(&sealed);
	return rc < 0 ? wb_error_set(err, WB_E_INTERNAL, "%s: sealed message too large",
				     inner_name(g->inner)) : 0;
}

int wb_gss_unseal_msg(struct wb_gss *g, const uint8_t *in, size_t n, struct wb_writer *out,
		      struct wb_error *err)
{
	gss_buffer_desc msg = { n, (void *)in }, plain = GSS_C_EMPTY_BUFFER;
	OM_uint32 maj, min;
	int conf = 0, rc;
	char text[256];

	maj = gss_unwrap(&min, g->ctx, &msg, &plain, &conf, NULL);
	if (GSS_ERROR(maj) || !conf) {
		release_buffer(&plain);
		wb_gss_status_text(maj, min, inner_oid(g->inner), text, sizeof(text));
		return wb_error_set(err, WB_E_REMOTE, "%s: a message from the host failed to "
				    "unseal: %s", inner_name(g->inner),
				    GSS_ERROR(maj) ? text : "not encrypted");
	}
	rc = wb_put(out, plain.value, plain.length);
	release_buffer(&plain);
	return rc < 0 ? wb_error_set(err, WB_E_REMOTE, "%s: message too large",
				     inner_name(g->inner)) : 0;
}

void wb_gss_free(struct wb_auth *a)
{
	wb_gss_destroy(a->state);
	a->state = NULL;
}
