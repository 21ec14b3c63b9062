/*
 * auth_credssp.c - CredSSP (MS-CSSP) under the "CredSSP" HTTP scheme: a TLS
 * session over memory BIOs whose records travel base64 in the
 * Authorization / WWW-Authenticate headers; inside it, TSRequests
 * (credssp_asn1.h) carrying SPNEGO with Kerberos or NTLM (auth_gss.h); then
 * the public-key binding (pubKeyAuth), and only when the server proved it
 * holds the TLS key we saw, the stored password as TSPasswordCreds.
 *
 * Afterwards the same TLS session seals SOAP bodies (MS-WSMV 2.2.9.1.3,
 * application/HTTP-CredSSP-session-encrypted): each 16 KiB piece is one TLS
 * record, and the length field is the record's trailer length as SChannel
 * reports it (trailer_length()).
 *
 * The risk is that the password itself leaves the broker, so: only for a
 * credential stored with WB_CRED_F_DELEGATE (checked before any I/O), only
 * at CredSSP version >= credssp_min_version (default 5, the CVE-2018-0886
 * fix), only after the server's pubKeyAuth answer checked out, and the TLS
 * certificate is validated like the HTTPS one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "auth_gss.h"
#include "credssp_asn1.h"
#include "log.h"
#include "msgenc.h"

#define SCHEME "CredSSP"
#define CLIENT_VERSION 6
#define DEFAULT_MIN_VERSION 5
#define NONCE_LEN 32
#define ROUNDS_MAX 12		/* TLS 1.2 + SPNEGO/NTLM needs 6 */
#define TOKEN_MAX (96 * 1024)	/* one decoded CredSSP token */
#define CHUNK 16384		/* MS-WSMV: one TLS record's plaintext */
#define NTLM_AUTHENTICATE "NTLMSSP\0\3\0\0\0"

static const char client_magic[] = "CredSSP Client-To-Server Binding Hash";
static const char server_magic[] = "CredSSP Server-To-Client Binding Hash";

enum stage {
	C_IDLE,		/* nothing yet, or a new handshake is due */
	C_TLS,		/* TLS handshake records in flight */
	C_NEGO,		/* SPNEGO tokens in TSRequests */
	C_PUBKEY,	/* our pubKeyAuth is out */
	C_CREDS,	/* the delegated credentials are out */
	C_DONE,
};

struct credssp {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;	/* from the host / to the host; owned by ssl */
	struct wb_gss *g;
	enum stage stage;
	int rounds;
	long version;		/* negotiated; 0 until the server's first TSRequest */
	unsigned min_version;
	uint8_t nonce[NONCE_LEN];
	uint8_t *spki;		/* the TLS certificate's subjectPublicKey */
	size_t spki_len;
};

static const char *stage_name(enum stage s)
{
	static const char *const names[] = { "start", "TLS handshake", "SPNEGO",
					     "public key exchange", "credential delegation",
					     "done" };
	return names[s];
}

/* ---- TLS ----------------------------------------------------------------------------- */

/* The OpenSSL error queue as text (the queue emptied). */
static void tls_text(char *out, size_t size)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(out, size, "no details");
	else
		ERR_error_string_n(e, out, size);
	ERR_clear_error();
}

static int ctx_trust(SSL_CTX *ctx, const struct wb_target *t, struct wb_error *err)
{
	struct stat st;
	int ok;

	if (!t->validate_cert)
		return 0;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!t->ca_trust_path[0])
		ok = SSL_CTX_set_default_verify_paths(ctx);
	else if (stat(t->ca_trust_path, &st) < 0)
		return wb_error_set(err, WB_E_INVALID, "ca_trust_path '%s': %s", t->ca_trust_path,
				    strerror(errno));
	else if (S_ISDIR(st.st_mode))
		ok = SSL_CTX_load_verify_dir(ctx, t->ca_trust_path);
	else
		ok = SSL_CTX_load_verify_file(ctx, t->ca_trust_path);
	if (!ok) {
		char why[200];

		tls_text(why, sizeof(why));
		return wb_error_set(err, WB_E_TLS, "CredSSP TLS: cannot load ca_trust_path '%s': %s",
				    t->ca_trust_path, why);
	}
	return 0;
}

/*
 * TLS 1.2 at least (1.0 with credssp_disable_tlsv1_2, for old hosts), 1.3
 * when offered. Suites limited to those whose WinRM trailer length is
 * defined (GCM, CBC + HMAC), and no encrypt-then-MAC or empty fragments,
 * which SChannel does not do: one record per sealed piece.
 */
static int make_ctx(struct credssp *s, const struct wb_target *t, struct wb_error *err)
{
	const char *suites = "ECDHE+AESGCM:DHE+AESGCM:ECDHE+AES:AESGCM:AES:!aNULL:!eNULL:!PSK:"
			     "!SRP:!CCM:!ARIA:!CAMELLIA:!CHACHA20";
	bool old = t->credssp_disable_tlsv1_2;

	s->ctx = SSL_CTX_new(TLS_client_method());
	if (!s->ctx)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: cannot create a TLS context");
	SSL_CTX_set_options(s->ctx, SSL_OP_NO_ENCRYPT_THEN_MAC | SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS |
				    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (old)
		SSL_CTX_set_security_level(s->ctx, 0);	/* TLS 1.0/1.1 with SHA-1 */
	if (!SSL_CTX_set_min_proto_version(s->ctx, old ? TLS1_VERSION : TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(s->ctx, suites) ||
	    !SSL_CTX_set_ciphersuites(s->ctx, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"))
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: cannot configure TLS");
	return ctx_trust(s->ctx, t, err);
}

static int new_session(struct credssp *s, const struct wb_target *t, struct wb_error *err)
{
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, t->host, ip) == 1 || inet_pton(AF_INET6, t->host, ip) == 1;

	s->ssl = SSL_new(s->ctx);
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->rbio || !s->wbio) {
		BIO_free(s->rbio);
		BIO_free(s->wbio);
		s->rbio = s->wbio = NULL;
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: cannot create a TLS session");
	}
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_connect_state(s->ssl);
	if (!is_ip && !SSL_set_tlsext_host_name(s->ssl, t->host))
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: cannot set the TLS server name");
	if (t->validate_cert &&
	    !(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), t->host)
		    : SSL_set1_host(s->ssl, t->host)))
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: cannot set the name to verify");
	return 0;
}

/* Everything TLS wrote for the host, appended to out. */
static int drain(struct credssp *s, struct wb_writer *out)
{
	uint8_t buf[4096];
	int n;

	while ((n = BIO_read(s->wbio, buf, sizeof(buf))) > 0)
		if (wb_put(out, buf, (size_t)n) < 0)
			return -1;
	return 0;
}

static int tls_write(struct credssp *s, const uint8_t *p, size_t n, struct wb_writer *out,
		     struct wb_error *err)
{
	size_t done = 0;
	char why[200];

	while (done < n) {
		size_t w = 0;

		if (SSL_write_ex(s->ssl, p + done, n - done, &w) != 1) {
			tls_text(why, sizeof(why));
			return wb_error_set(err, WB_E_TLS, "CredSSP: TLS write failed: %s", why);
		}
		done += w;
	}
	if (drain(s, out) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: token too large");
	return 0;
}

/* The host's records in; all the plaintext they hold appended to out. */
static int tls_read(struct credssp *s, const uint8_t *p, size_t n, struct wb_writer *out,
		    struct wb_error *err)
{
	uint8_t buf[CHUNK];
	size_t got;
	char why[200];
	int e;

	if (n > INT32_MAX || BIO_write(s->rbio, p, (int)n) != (int)n)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: out of memory");
	for (;;) {
		if (SSL_read_ex(s->ssl, buf, sizeof(buf), &got) == 1) {
			int rc = wb_put(out, buf, got);

			sodium_memzero(buf, got);
			if (rc < 0)
				return wb_error_set(err, WB_E_REMOTE, "CredSSP: message from the host "
						    "too large");
			continue;
		}
		e = SSL_get_error(s->ssl, 0);
		if (e == SSL_ERROR_WANT_READ)
			return 0;
		if (e == SSL_ERROR_ZERO_RETURN)
			return wb_error_set(err, WB_E_REMOTE, "CredSSP: the host closed the TLS "
					    "session");
		tls_text(why, sizeof(why));
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: a TLS record from the host was "
				    "refused: %s", why);
	}
}

/*
 * The WinRM length field: the TLS trailer of one record as SChannel's
 * EncryptMessage reports it. TLS 1.3: 16-byte tag + content type; TLS 1.2
 * GCM: the tag; CBC + HMAC: the MAC and the padding (with its length byte).
 * The rule pywinrm and pyspnego use.
 */
static int trailer_length(SSL *ssl, size_t plain_len, uint32_t *out)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	const EVP_MD *md;
	const EVP_CIPHER *ciph;
	size_t mac, block;

	if (!c)
		return -1;
	if (SSL_version(ssl) == TLS1_3_VERSION) {
		*out = 17;
		return 0;
	}
	if (SSL_CIPHER_is_aead(c)) {
		if (SSL_CIPHER_get_cipher_nid(c) != NID_aes_128_gcm &&
		    SSL_CIPHER_get_cipher_nid(c) != NID_aes_256_gcm)
			return -1;
		*out = 16;
		return 0;
	}
	md = EVP_get_digestbynid(SSL_CIPHER_get_digest_nid(c));
	ciph = EVP_get_cipherbynid(SSL_CIPHER_get_cipher_nid(c));
	if (!md || !ciph)
		return -1;
	mac = (size_t)EVP_MD_get_size(md);
	block = (size_t)EVP_CIPHER_get_block_size(ciph);
	*out = (uint32_t)(block > 1 ? mac + block - (plain_len + mac) % block : mac);
	return 0;
}

/* ---- TSRequests ------------------------------------------------------------------------ */

/* "Authorization: CredSSP <base64>" from a token. */
static int put_token(const struct wb_writer *tok, struct wb_writer *authz, struct wb_error *err)
{
	size_t b64len;
	char *b64;
	int rc;

	if (tok->len == 0 || tok->len > TOKEN_MAX)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: a token of %zu bytes", tok->len);
	b64len = sodium_base64_ENCODED_LEN(tok->len, sodium_base64_VARIANT_ORIGINAL);
	b64 = sodium_malloc(b64len);
	if (!b64)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	sodium_bin2base64(b64, b64len, tok->data, tok->len, sodium_base64_VARIANT_ORIGINAL);
	rc = wb_put(authz, "Authorization: " SCHEME " ", strlen("Authorization: " SCHEME " "));
	rc = rc ?: wb_put(authz, b64, strlen(b64) + 1);
	sodium_free(b64);
	if (rc < 0)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: Authorization header too large");
	return 0;
}

/* A TSRequest through TLS into authz (after any TLS bytes already in tok). */
static int send_request(struct credssp *s, const struct wb_tsreq *r, struct wb_writer *tok,
			struct wb_writer *authz, struct wb_error *err)
{
	struct wb_writer der;
	int rc;

	wb_writer_init(&der, WB_CREDSSP_MSG_MAX, WB_SECRET);
	rc = wb_tsreq_encode(r, &der, err);
	if (rc == 0)
		rc = tls_write(s, der.data, der.len, tok, err);
	wb_writer_free(&der);
	return rc < 0 ? rc : put_token(tok, authz, err);
}

/* Decodes base64 b64[0..n) into out. */
static int decode_b64(const char *b64, size_t n, struct wb_writer *out, struct wb_error *err)
{
	size_t bin = 0;
	uint8_t *buf;
	int rc = 0;

	if (n > TOKEN_MAX * 4 / 3 + 4)
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: token from the host too large");
	buf = malloc(n + 1);
	if (!buf)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	if (sodium_base642bin(buf, n + 1, b64, n, NULL, &bin, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || bin == 0 ||
	    wb_put(out, buf, bin) < 0)
		rc = wb_error_set(err, WB_E_REMOTE, "CredSSP: the host's token is not valid base64");
	free(buf);
	return rc;
}

/*
 * The "CredSSP [token]" among the WWW-Authenticate values (one per line,
 * or comma-joined): 1 and the token decoded into out; 0 when there is no
 * token (*offered says whether the scheme was there at all).
 */
static int challenge_token(const char *challenge, struct wb_writer *out, bool *offered,
			   struct wb_error *err)
{
	const char *p = challenge ? challenge : "";
	size_t slen = strlen(SCHEME);

	*offered = false;
	while (*p) {
		size_t n = strcspn(p, ",\n"), i = 0, len;
		const char *b64;
		int rc;

		while (i < n && p[i] == ' ')
			i++;
		len = n - i;
		while (len && (p[i + len - 1] == '\r' || p[i + len - 1] == ' '))
			len--;
		if (len >= slen && strncasecmp(p + i, SCHEME, slen) == 0 &&
		    (len == slen || p[i + slen] == ' ')) {
			*offered = true;
			b64 = p + i + slen + 1;
			if (len <= slen + 1)
				return 0;
			rc = decode_b64(b64, len - slen - 1, out, err);
			return rc < 0 ? rc : 1;
		}
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

static const char *ntstatus_hint(uint32_t code)
{
	switch (code) {
	case 0xC000006D: return " (STATUS_LOGON_FAILURE: wrong user, domain or password)";
	case 0xC000006E: return " (STATUS_ACCOUNT_RESTRICTION)";
	case 0xC0000071: return " (STATUS_PASSWORD_EXPIRED)";
	case 0xC0000072: return " (STATUS_ACCOUNT_DISABLED)";
	case 0xC0000234: return " (STATUS_ACCOUNT_LOCKED_OUT)";
	case 0x80090302: return " (SEC_E_UNSUPPORTED_FUNCTION)";
	case 0x8009030C: return " (SEC_E_LOGON_DENIED: wrong user, domain or password)";
	}
	return "";
}

/* The host's TSRequest from a token; its errorCode is an error. */
static int read_request(struct wb_auth *a, struct credssp *s, const struct wb_writer *tok,
			struct wb_tsreq *r, struct wb_error *err)
{
	struct wb_writer plain;
	int rc;

	wb_writer_init(&plain, WB_CREDSSP_MSG_MAX, WB_SECRET);
	rc = tls_read(s, tok->data, tok->len, &plain, err);
	if (rc == 0 && plain.len == 0)
		rc = wb_error_set(err, WB_E_REMOTE, "CredSSP: %s sent no TSRequest during the %s",
				  a->target->host, stage_name(s->stage));
	if (rc == 0)
		rc = wb_tsreq_decode(plain.data, plain.len, r, err);
	wb_writer_free(&plain);
	if (rc < 0)
		return rc;
	if (r->has_error) {
		rc = wb_error_set(err, WB_E_AUTH, "CredSSP: %s reported errorCode 0x%08X%s during "
				  "the %s", a->target->host, r->error_code,
				  ntstatus_hint(r->error_code), stage_name(s->stage));
		wb_tsreq_clear(r);
	}
	return rc;
}

/* ---- the stages -------------------------------------------------------------------------- */

static bool kerberos_possible(const struct wb_auth *a)
{
	return a->tickets && !strchr(a->meta->user, '\\');
}

/* SPNEGO with Kerberos when a ticket can be had, NTLM otherwise. */
static int gss_begin(struct wb_auth *a, struct wb_gss *g, gss_buffer_t out, struct wb_error *err)
{
	struct wb_error kerr = { 0 };
	int rc;

	if (kerberos_possible(a)) {
		rc = wb_gss_use_kerberos(a, g, true, &kerr);
		if (rc == 0)
			rc = wb_gss_first_step(a, g, out, &kerr);
		if (rc == 0)
			return 0;
		wb_gss_reset(g);
		wb_log(LOG_INFO, "credssp to %s with credential '%s': Kerberos not usable (%s); "
		       "using NTLM", a->target->host, a->meta->name, kerr.msg);
		wb_gss_note(g, "Kerberos was not used: %s", kerr.msg);
	}
	rc = wb_gss_use_ntlm(a, g, true, err);
	return rc < 0 ? rc : wb_gss_first_step(a, g, out, err);
}

static const struct wb_gss_mech credssp_mech = {
	.scheme = SCHEME,
	.protocol = WB_MSGENC_CREDSSP,
	.no_binding = true,	/* pubKeyAuth binds to the CredSSP tunnel */
	.begin = gss_begin,
};

static void reset(struct credssp *s)
{
	wb_gss_destroy(s->g);
	s->g = NULL;
	SSL_free(s->ssl);	/* and its BIOs */
	s->ssl = NULL;
	s->rbio = s->wbio = NULL;
	free(s->spki);
	s->spki = NULL;
	s->spki_len = 0;
	s->version = 0;
	s->rounds = 0;
	s->stage = C_IDLE;
	sodium_memzero(s->nonce, sizeof(s->nonce));
}

/* A new exchange: a new TLS session, its ClientHello out. */
static int begin(struct wb_auth *a, struct credssp *s, struct wb_writer *authz,
		 struct wb_error *err)
{
	struct wb_writer tok;
	int rc;

	reset(s);
	rc = new_session(s, a->target, err);
	if (rc < 0)
		return rc;
	if (SSL_do_handshake(s->ssl) == 1 || SSL_get_error(s->ssl, 0) != SSL_ERROR_WANT_READ)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: TLS did not start");
	wb_writer_init(&tok, TOKEN_MAX, WB_PLAIN);
	rc = drain(s, &tok) < 0 ? wb_error_set(err, WB_E_INTERNAL, "CredSSP: token too large")
				: put_token(&tok, authz, err);
	wb_writer_free(&tok);
	if (rc < 0)
		return rc;
	s->stage = C_TLS;
	return WB_AUTH_CONTINUE;
}

static int tls_failed(struct wb_auth *a, struct credssp *s, struct wb_error *err)
{
	long v = SSL_get_verify_result(s->ssl);
	char why[200];

	tls_text(why, sizeof(why));
	if (a->target->validate_cert && v != X509_V_OK)
		return wb_error_set(err, WB_E_TLS, "CredSSP: cannot verify the TLS certificate of "
				    "%s: %s; set ca_trust_path to the CA that issued it",
				    a->target->host, X509_verify_cert_error_string(v));
	return wb_error_set(err, WB_E_TLS, "CredSSP: the TLS handshake with %s failed: %s%s",
			    a->target->host, why, a->target->credssp_disable_tlsv1_2 ? "" :
			    " (a host with TLS 1.0 only needs credssp_disable_tlsv1_2)");
}

/* TLS is up: keep the server key, start SPNEGO, send the first TSRequest. */
static int tls_up(struct wb_auth *a, struct credssp *s, struct wb_writer *tok,
		  struct wb_writer *authz, struct wb_error *err)
{
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	X509 *peer = SSL_get0_peer_certificate(s->ssl);
	const ASN1_BIT_STRING *key = peer ? X509_get0_pubkey_bitstr(peer) : NULL;
	struct wb_tsreq r = { .version = CLIENT_VERSION };
	struct wb_error e = { 0 };
	OM_uint32 min;
	int rc;

	if (!key || key->length <= 0)
		return wb_error_set(err, WB_E_TLS, "CredSSP: %s sent no usable TLS certificate",
				    a->target->host);
	s->spki = malloc((size_t)key->length);
	if (!s->spki)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	memcpy(s->spki, key->data, (size_t)key->length);
	s->spki_len = (size_t)key->length;
	s->g = wb_gss_new(a, &credssp_mech, &e);
	if (!s->g)
		return wb_error_set(err, e.code, "%s", e.msg);
	rc = gss_begin(a, s->g, &out, err);
	if (rc == 0) {
		r.nego = (struct wb_blob){ true, out.value, out.length };
		rc = send_request(s, &r, tok, authz, err);
	}
	if (out.length)
		gss_release_buffer(&min, &out);
	if (rc < 0)
		return rc;
	s->stage = C_NEGO;
	return WB_AUTH_CONTINUE;
}

static int on_tls(struct wb_auth *a, struct credssp *s, const struct wb_writer *in,
		  struct wb_writer *authz, struct wb_error *err)
{
	struct wb_writer tok;
	int rc;

	if (in->len > INT32_MAX || BIO_write(s->rbio, in->data, (int)in->len) != (int)in->len)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: out of memory");
	wb_writer_init(&tok, TOKEN_MAX, WB_PLAIN);
	if (SSL_do_handshake(s->ssl) == 1) {
		/* TLS 1.3: our Finished goes with the first TSRequest. */
		rc = drain(s, &tok) < 0 ? wb_error_set(err, WB_E_INTERNAL, "CredSSP: token too "
						       "large") : 0;
		rc = rc ?: tls_up(a, s, &tok, authz, err);
	} else if (SSL_get_error(s->ssl, 0) == SSL_ERROR_WANT_READ) {
		rc = drain(s, &tok) < 0 ? wb_error_set(err, WB_E_INTERNAL, "CredSSP: token too "
						       "large") : put_token(&tok, authz, err);
		rc = rc ?: WB_AUTH_CONTINUE;
	} else {
		rc = tls_failed(a, s, err);
	}
	wb_writer_free(&tok);
	return rc;
}

static unsigned min_version(const struct wb_target *t)
{
	return t->credssp_min_version ? t->credssp_min_version : DEFAULT_MIN_VERSION;
}

static int learn_version(struct wb_auth *a, struct credssp *s, long server,
			 struct wb_error *err)
{
	if (s->version)
		return 0;
	if (server < 2)
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: %s announced version %ld",
				    a->target->host, server);
	s->version = server < CLIENT_VERSION ? server : CLIENT_VERSION;
	if ((unsigned)s->version < min_version(a->target))
		return wb_error_set(err, WB_E_AUTH, "CredSSP: %s speaks version %ld, below the "
				    "minimum %u (versions before 5 lack the CVE-2018-0886 fix); "
				    "update the host, or lower credssp_min_version if you accept "
				    "the risk", a->target->host, s->version, min_version(a->target));
	return 0;
}

/* What pubKeyAuth proves: v5+ a hash over the nonce and key, before that
 * the key itself (the server answers it with the first byte + 1). */
static void binding(const struct credssp *s, bool server, uint8_t *out, size_t *n)
{
	if (s->version >= 5) {
		crypto_hash_sha256_state h;

		crypto_hash_sha256_init(&h);
		crypto_hash_sha256_update(&h, (const uint8_t *)(server ? server_magic : client_magic),
					  sizeof(client_magic));	/* with the NUL */
		crypto_hash_sha256_update(&h, s->nonce, sizeof(s->nonce));
		crypto_hash_sha256_update(&h, s->spki, s->spki_len);
		crypto_hash_sha256_final(&h, out);
		*n = crypto_hash_sha256_BYTES;
		return;
	}
	memcpy(out, s->spki, s->spki_len);
	if (server)
		out[0]++;
	*n = s->spki_len;
}

/* Our last SPNEGO token (if any) with pubKeyAuth and the nonce. */
static int send_pubkey(struct credssp *s, gss_buffer_t last, struct wb_writer *authz,
		       struct wb_error *err)
{
	struct wb_tsreq r = { .version = CLIENT_VERSION };
	struct wb_writer sealed, tok;
	uint8_t *proof = malloc(s->spki_len > 32 ? s->spki_len : 32);
	size_t n = 0;
	int rc;

	if (!proof)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	if (s->version >= 5)
		randombytes_buf(s->nonce, sizeof(s->nonce));
	binding(s, false, proof, &n);
	wb_writer_init(&sealed, TOKEN_MAX, WB_PLAIN);
	wb_writer_init(&tok, TOKEN_MAX, WB_PLAIN);
	rc = wb_gss_seal_msg(s->g, proof, n, &sealed, err);
	if (rc == 0) {
		if (last->length)
			r.nego = (struct wb_blob){ true, last->value, last->length };
		r.pub_key_auth = (struct wb_blob){ true, sealed.data, sealed.len };
		if (s->version >= 5)
			r.nonce = (struct wb_blob){ true, s->nonce, sizeof(s->nonce) };
		rc = send_request(s, &r, &tok, authz, err);
	}
	wb_writer_free(&sealed);
	wb_writer_free(&tok);
	free(proof);
	if (rc < 0)
		return rc;
	s->stage = C_PUBKEY;
	return WB_AUTH_CONTINUE;
}

static int on_nego(struct wb_auth *a, struct credssp *s, const struct wb_writer *in,
		   struct wb_writer *authz, struct wb_error *err)
{
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	struct wb_tsreq r, mine = { .version = CLIENT_VERSION };
	struct wb_writer tok;
	OM_uint32 min;
	int rc;

	rc = read_request(a, s, in, &r, err);
	if (rc < 0)
		return rc;
	rc = learn_version(a, s, r.version, err);
	if (rc == 0 && !r.nego.present)
		rc = wb_error_set(err, WB_E_REMOTE, "CredSSP: %s sent a TSRequest without "
				  "negoTokens during SPNEGO", a->target->host);
	if (rc == 0)
		rc = wb_gss_step(a, s->g, r.nego.p, r.nego.n, &out, err);
	wb_tsreq_clear(&r);
	if (rc < 0)
		return rc;
	/* NTLM's AUTHENTICATE goes with pubKeyAuth: SPNEGO completes only with
	 * the server's mechListMIC, after it. */
	if (wb_gss_complete(s->g) ||
	    (out.length && memmem(out.value, out.length, NTLM_AUTHENTICATE,
				       sizeof(NTLM_AUTHENTICATE) - 1))) {
		rc = send_pubkey(s, &out, authz, err);
	} else if (!out.length) {
		rc = wb_error_set(err, WB_E_AUTH, "CredSSP: SPNEGO with %s stalled (nothing to "
				  "send)", a->target->host);
	} else {
		wb_writer_init(&tok, TOKEN_MAX, WB_PLAIN);
		mine.nego = (struct wb_blob){ true, out.value, out.length };
		rc = send_request(s, &mine, &tok, authz, err);
		wb_writer_free(&tok);
		rc = rc ?: WB_AUTH_CONTINUE;
	}
	if (out.length)
		gss_release_buffer(&min, &out);
	return rc;
}

/* The server proved it holds the key: now, and only now, the password. */
static int send_credentials(struct wb_auth *a, struct credssp *s, struct wb_writer *authz,
			    struct wb_error *err)
{
	struct wb_tsreq r = { .version = CLIENT_VERSION };
	struct wb_writer creds, sealed, tok;
	int rc;

	char domain[WB_CRED_TEXT_MAX + 1];
	const char *user = a->meta->user, *bs = strchr(user, '\\');

	/* "DOMAIN\user" goes as its two fields, as Windows clients send it. */
	snprintf(domain, sizeof(domain), "%s", a->meta->domain);
	if (bs && !domain[0]) {
		snprintf(domain, sizeof(domain), "%.*s", (int)(bs - user), user);
		user = bs + 1;
	}
	wb_writer_init(&creds, WB_CREDSSP_MSG_MAX, WB_SECRET);
	wb_writer_init(&sealed, TOKEN_MAX, WB_SECRET);
	wb_writer_init(&tok, TOKEN_MAX, WB_PLAIN);
	rc = wb_tscreds_encode_password(domain, user, a->sec->password, &creds, err);
	rc = rc ?: wb_gss_seal_msg(s->g, creds.data, creds.len, &sealed, err);
	if (rc == 0) {
		r.auth_info = (struct wb_blob){ true, sealed.data, sealed.len };
		rc = send_request(s, &r, &tok, authz, err);
	}
	wb_writer_free(&creds);
	wb_writer_free(&sealed);
	wb_writer_free(&tok);
	if (rc < 0)
		return rc;
	s->stage = C_CREDS;
	return WB_AUTH_CONTINUE;
}

static int on_pubkey(struct wb_auth *a, struct credssp *s, const struct wb_writer *in,
		     struct wb_writer *authz, struct wb_error *err)
{
	gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
	struct wb_writer got;
	uint8_t *want = malloc(s->spki_len > 32 ? s->spki_len : 32);
	size_t n = 0;
	struct wb_tsreq r;
	OM_uint32 min;
	int rc;

	if (!want)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	wb_writer_init(&got, TOKEN_MAX, WB_PLAIN);
	rc = read_request(a, s, in, &r, err);
	if (rc == 0 && r.nego.present && !wb_gss_complete(s->g))
		rc = wb_gss_step(a, s->g, r.nego.p, r.nego.n, &out, err);
	if (out.length)
		gss_release_buffer(&min, &out);
	if (rc == 0 && !wb_gss_complete(s->g))
		rc = wb_error_set(err, WB_E_AUTH, "CredSSP: SPNEGO with %s did not complete; "
				  "credentials not sent", a->target->host);
	if (rc == 0 && !r.pub_key_auth.present)
		rc = wb_error_set(err, WB_E_AUTH, "CredSSP: %s sent no pubKeyAuth answer; "
				  "credentials not sent", a->target->host);
	if (rc == 0)
		rc = wb_gss_unseal_msg(s->g, r.pub_key_auth.p, r.pub_key_auth.n, &got, err);
	if (rc == 0) {
		binding(s, true, want, &n);
		if (got.len != n || sodium_memcmp(got.data, want, n) != 0)
			rc = wb_error_set(err, WB_E_AUTH, "CredSSP: the pubKeyAuth answer of %s does "
					  "not match the TLS key it presented (a man in the middle, "
					  "or a broken host); refused, credentials not sent",
					  a->target->host);
	}
	wb_tsreq_clear(&r);
	wb_writer_free(&got);
	free(want);
	return rc < 0 ? rc : send_credentials(a, s, authz, err);
}

static int refused(struct wb_auth *a, struct credssp *s, long status, bool offered,
		   struct wb_error *err)
{
	if (s->stage == C_CREDS)
		return wb_error_set(err, WB_E_AUTH, "%s refused the delegated credential '%s' (HTTP "
				    "%ld): wrong user, domain or password?", a->target->host,
				    a->meta->name, status);
	if (s->stage == C_TLS && offered)
		return wb_error_set(err, WB_E_TLS, "%s offers CredSSP but refused our TLS handshake "
				    "(no common TLS version or cipher suite: TLS 1.2 or later with "
				    "AES-GCM or AES-CBC%s)", a->target->host,
				    a->target->credssp_disable_tlsv1_2 ? "" : "; a host with TLS 1.0 "
				    "only needs credssp_disable_tlsv1_2");
	if (s->stage == C_TLS && s->rounds == 1)
		return wb_error_set(err, WB_E_AUTH, "%s does not accept CredSSP (HTTP %ld to the "
				    "TLS ClientHello); enable it on the host (winrm set "
				    "winrm/config/service/auth @{CredSSP=\"true\"}) or choose "
				    "another transport", a->target->host, status);
	return wb_error_set(err, WB_E_AUTH, "%s ended the CredSSP exchange during the %s (HTTP "
			    "%ld, no token): wrong user, domain or password, or a CredSSP version "
			    "or TLS mismatch", a->target->host, stage_name(s->stage), status);
}

static int credssp_next_token(struct wb_auth *a, long status, const char *challenge,
			      struct wb_writer *authz, struct wb_error *err)
{
	struct credssp *s = a->state;
	struct wb_writer in;
	bool offered = false;
	int rc, have;

	if (status == 0 || s->stage == C_DONE || s->stage == C_IDLE)
		return begin(a, s, authz, err);
	if (++s->rounds > ROUNDS_MAX)
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: %s needs more than %d legs; refused",
				    a->target->host, ROUNDS_MAX);
	if (s->stage == C_CREDS && status == 200) {
		s->stage = C_DONE;
		wb_log(LOG_DEBUG, "%s: CredSSP version %ld with %s over %s, credential '%s' "
		       "delegated", a->target->host, s->version, wb_gss_inner(s->g),
		       SSL_get_version(s->ssl), a->meta->name);
		return WB_AUTH_DONE;
	}
	if (status != 401)
		return wb_error_set(err, WB_E_REMOTE, "%s answered HTTP %ld during the CredSSP %s",
				    a->target->host, status, stage_name(s->stage));
	wb_writer_init(&in, TOKEN_MAX, WB_PLAIN);
	have = challenge_token(challenge, &in, &offered, err);
	if (have == 0)
		rc = refused(a, s, status, offered, err);
	else if (have < 0)
		rc = have;
	else if (s->stage == C_TLS)
		rc = on_tls(a, s, &in, authz, err);
	else if (s->stage == C_NEGO)
		rc = on_nego(a, s, &in, authz, err);
	else if (s->stage == C_PUBKEY)
		rc = on_pubkey(a, s, &in, authz, err);
	else
		rc = wb_error_set(err, WB_E_REMOTE, "%s sent a CredSSP token after the credentials",
				  a->target->host);
	wb_writer_free(&in);
	return rc;
}

/* ---- message encryption -------------------------------------------------------------- */

static int seal(void *ctx, const uint8_t *plain, size_t n, struct wb_writer *out,
		uint32_t *length_field, struct wb_error *err)
{
	struct credssp *s = ctx;

	if (trailer_length(s->ssl, n, length_field) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: no WinRM trailer rule for the "
				    "TLS suite %s", SSL_get_cipher_name(s->ssl));
	return tls_write(s, plain, n, out, err);
}

static int unseal(void *ctx, uint32_t length_field, const uint8_t *payload, size_t n,
		  struct wb_writer *plain, struct wb_error *err)
{
	struct credssp *s = ctx;
	size_t before = plain->len;
	uint32_t want = 0;
	int rc;

	rc = tls_read(s, payload, n, plain, err);
	if (rc < 0)
		return rc;
	if (plain->len == before)
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: an encrypted part holds no data");
	if (trailer_length(s->ssl, plain->len - before, &want) < 0 || want != length_field) {
		plain->len = before;
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: an encrypted part's length field "
				    "is %u, not the TLS trailer length %u; refused", length_field,
				    want);
	}
	return 0;
}

static int credssp_wrap(struct wb_auth *a, const uint8_t *plain, size_t n, struct wb_writer *body,
			char content_type[WB_AUTH_CT_MAX], struct wb_error *err)
{
	struct credssp *s = a->state;

	if (s->stage != C_DONE)
		return wb_error_set(err, WB_E_INTERNAL, "CredSSP: sealing before authentication");
	return wb_msgenc_build(WB_MSGENC_CREDSSP, plain, n, CHUNK, seal, s, body, content_type,
			       WB_AUTH_CT_MAX, err);
}

static int credssp_unwrap(struct wb_auth *a, const char *content_type, const uint8_t *body,
			  size_t n, struct wb_writer *plain, struct wb_error *err)
{
	struct credssp *s = a->state;
	int rc;

	if (s->stage != C_DONE)
		return wb_error_set(err, WB_E_REMOTE, "CredSSP: an encrypted answer before "
				    "authentication; refused");
	plain->len = 0;
	rc = wb_msgenc_parse(content_type, WB_MSGENC_CREDSSP, body, n, unseal, s, plain, err);
	if (rc < 0) {
		plain->len = 0;
		wb_error_prefix(err, "%s", a->target->host);
	}
	return rc;
}

/* ---- the instance ---------------------------------------------------------------------- */

static int credssp_applies(const struct wb_target *t, const struct wb_cred_meta *meta,
			   const struct wb_secret *sec, struct wb_error *err)
{
	unsigned min = t->credssp_min_version;

	if (meta->kind != WB_CRED_PASSWORD || !sec || !sec->password || !meta->user[0])
		return wb_error_set(err, WB_E_UNSUPPORTED, "credssp needs a password credential; "
				    "'%s' is not one", meta->name);
	if (!(meta->flags & WB_CRED_F_DELEGATE))
		return wb_error_set(err, WB_E_DENIED, "credssp hands the password of '%s' to %s, "
				    "but the credential does not allow delegation (store it with "
				    "--delegate, or use another transport)", meta->name, t->host);
	if (min && (min < 2 || min > CLIENT_VERSION))
		return wb_error_set(err, WB_E_INVALID, "credssp_min_version %u is not in 2..%d",
				    min, CLIENT_VERSION);
	return wb_gss_check_delegation(t, meta, err);
}

static int credssp_start(struct wb_auth *a, struct wb_error *err)
{
	const struct wb_target *t = a->target;
	struct credssp *s = calloc(1, sizeof(*s));

	if (!s)
		return wb_error_set(err, WB_E_INTERNAL, "auth: out of memory");
	a->state = s;
	a->encrypt = t->message_encryption == WB_MSGENC_ALWAYS ||
		     (t->message_encryption == WB_MSGENC_AUTO && !t->https);
	return make_ctx(s, t, err);
}

static void credssp_free(struct wb_auth *a)
{
	struct credssp *s = a->state;

	if (!s)
		return;
	reset(s);
	SSL_CTX_free(s->ctx);
	sodium_memzero(s, sizeof(*s));
	free(s);
	a->state = NULL;
}

const struct wb_auth_ops wb_auth_credssp = {
	.name = "credssp",
	.transport = WB_TRANSPORT_CREDSSP,
	.applies = credssp_applies,
	.start = credssp_start,
	.next_token = credssp_next_token,
	.wrap = credssp_wrap,
	.unwrap = credssp_unwrap,
	.free = credssp_free,
};
