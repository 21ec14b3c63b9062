/* http.c - one authenticated HTTP(S) connection over libcurl (see http.h). */
#include "http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "msgenc.h"

#define SOAP_CT "application/soap+xml;charset=UTF-8"
#define USER_AGENT "winrm-broker/0.1"
#define MAX_SOCKS 4		/* curl may race two addresses while connecting */
#define MAX_FDS 8
#define CHALLENGE_MAX 65536
#define REQUEST_MAX (4u << 20)

enum phase { IDLE, HANDSHAKE, REQUEST };

struct sock {
	curl_socket_t fd;
	int what;		/* CURL_POLL_IN / OUT / INOUT */
};

struct wb_http {
	const struct wb_target *t;
	struct wb_auth *auth;
	CURLM *multi;		/* one per connection: a connection cache of its own */
	CURL *easy;
	char url[WB_HOST_MAX + WB_PATH_MAX_LEN + 32];
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers;
	struct curl_blob cert_blob, key_blob;

	struct wb_writer req;		/* plain SOAP, kept for a new handshake */
	struct wb_writer wire;		/* req wrapped by the mechanism */
	struct wb_writer resp;		/* the answer as received */
	struct wb_writer plain;		/* the answer unwrapped */
	struct wb_writer challenge;	/* WWW-Authenticate values, one per line */
	char content_type[WB_AUTH_CT_MAX];
	bool too_big;

	enum phase phase;
	bool authed;		/* the mechanism said DONE on this connection */
	bool reauthed;		/* one new handshake per request at most */
	bool done;		/* finished, not yet collected */
	long timeout_ms;
	long status;
	int rc;
	struct wb_error err;

	struct sock socks[MAX_SOCKS];
	int64_t deadline;	/* curl's timer, monotonic ms; -1: none */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- curl callbacks ------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct wb_http *h = ud;

	if (wb_put(&h->resp, p, size * n) < 0) {
		h->too_big = true;
		return 0;	/* CURLE_WRITE_ERROR */
	}
	return size * n;
}

/* The server certificate, for mechanisms that bind to the TLS channel. Read
 * while the response arrives: curl detaches the connection afterwards. */
static void capture_server_cert(struct wb_http *h)
{
	struct curl_tlssessioninfo *info = NULL;
	unsigned char *der = NULL;
	struct wb_auth *a = h->auth;
	X509 *cert;
	uint8_t *copy;
	int n;

	if (!h->t->https || curl_easy_getinfo(h->easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK ||
	    !info || info->backend != CURLSSLBACKEND_OPENSSL || !info->internals)
		return;
	cert = SSL_get0_peer_certificate(info->internals);
	if (!cert || (n = i2d_X509(cert, &der)) <= 0)
		return;
	if (!a->server_cert_der || a->server_cert_len != (size_t)n ||
	    memcmp(a->server_cert_der, der, (size_t)n) != 0) {
		copy = malloc((size_t)n);
		if (copy) {
			memcpy(copy, der, (size_t)n);
			free(a->server_cert_der);
			a->server_cert_der = copy;
			a->server_cert_len = (size_t)n;
		}
	}
	OPENSSL_free(der);
}

/* "Name: value" -> value, trimmed; NULL if the name differs. */
static const char *header_value(const char *p, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name), i, j;

	if (len <= nl || p[nl] != ':' || strncasecmp(p, name, nl) != 0)
		return NULL;
	for (i = nl + 1; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	for (j = len; j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '); j--)
		;
	*vlen = j - i;
	return p + i;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct wb_http *h = ud;
	size_t len = size * n, vlen;
	const char *v;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {	/* a new response (or 100) */
		h->challenge.len = 0;
		h->content_type[0] = '\0';
		capture_server_cert(h);
	} else if ((v = header_value(p, len, "WWW-Authenticate", &vlen))) {
		/* Past the cap a challenge is dropped; the mechanism then fails. */
		if (h->challenge.len + vlen + 2 <= CHALLENGE_MAX &&
		    wb_put(&h->challenge, v, vlen) == 0)
			wb_put_u8(&h->challenge, '\n');
	} else if ((v = header_value(p, len, "Content-Type", &vlen))) {
		if (vlen >= sizeof(h->content_type))
			vlen = sizeof(h->content_type) - 1;
		memcpy(h->content_type, v, vlen);
		h->content_type[vlen] = '\0';
	}
	return len;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
	struct wb_http *h = ud;
	int i, slot = -1;

	(void)e;
	(void)sockp;
	for (i = 0; i < MAX_SOCKS; i++) {
		if (h->socks[i].fd == fd)
			break;
		if (h->socks[i].fd == CURL_SOCKET_BAD && slot < 0)
			slot = i;
	}
	if (what == CURL_POLL_REMOVE) {
		if (i < MAX_SOCKS)
			h->socks[i].fd = CURL_SOCKET_BAD;
		return 0;
	}
	if (i == MAX_SOCKS) {
		if (slot < 0)
			return -1;
		i = slot;
		h->socks[i].fd = fd;
	}
	h->socks[i].what = what;
	return 0;
}

static int on_timer(CURLM *m, long ms, void *ud)
{
	struct wb_http *h = ud;

	(void)m;
	h->deadline = ms < 0 ? -1 : now_ms() + ms;
	return 0;
}

/* ---- errors --------------------------------------------------------------- */

static bool is_tls_error(CURLcode c)
{
	switch (c) {
	case CURLE_SSL_CONNECT_ERROR: case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED: case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_SHUTDOWN_FAILED: case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CLIENTCERT:
		return true;
	default:
		return false;
	}
}

static int curl_error(struct wb_http *h, CURLcode c)
{
	const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(c);
	curl_off_t connected = 0;

	if (h->too_big)
		return wb_error_set(&h->err, WB_E_REMOTE, "the answer from %s is larger than "
				    "%zu bytes; refused", h->url, h->resp.max);
	if (c == CURLE_PEER_FAILED_VERIFICATION)
		return wb_error_set(&h->err, WB_E_TLS, "cannot verify the TLS certificate of %s: "
				    "%s; set ca_trust_path to the CA that issued it, and use the "
				    "host name the certificate names", h->url, why);
	if (c == CURLE_SSL_CERTPROBLEM || c == CURLE_SSL_CLIENTCERT)
		return wb_error_set(&h->err, WB_E_TLS, "TLS to %s: the client certificate of "
				    "credential '%s' is unusable: %s", h->url,
				    h->auth->meta->name, why);
	if (c == CURLE_SSL_CACERT_BADFILE)
		return wb_error_set(&h->err, WB_E_TLS, "TLS to %s: cannot load ca_trust_path "
				    "'%s': %s (a directory needs OpenSSL hash links: "
				    "openssl rehash DIR)", h->url, h->t->ca_trust_path, why);
	if (is_tls_error(c))
		return wb_error_set(&h->err, WB_E_TLS, "TLS handshake with %s failed: %s",
				    h->url, why);
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return wb_error_set(&h->err, WB_E_CONNECT, "cannot resolve the host of %s: %s; "
				    "check the host name", h->url, why);
	case CURLE_COULDNT_CONNECT:
		return wb_error_set(&h->err, WB_E_CONNECT, "cannot connect to %s: %s; is WinRM "
				    "listening on port %u there (winrm quickconfig, firewall)?",
				    h->url, why, h->t->port);
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(h->easy, CURLINFO_CONNECT_TIME_T, &connected);
		if (connected == 0 && strncmp(why, "Operation", 9) != 0)
			return wb_error_set(&h->err, WB_E_CONNECT, "cannot connect to %s in time: "
					    "%s", h->url, why);
		return wb_error_set(&h->err, WB_E_TIMEOUT, "%s did not answer within %ld s: %s; "
				    "raise read_timeout_sec if the host is slow", h->url,
				    h->timeout_ms / 1000, why);
	case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return wb_error_set(&h->err, WB_E_CONNECT, "connection to %s lost: %s",
				    h->url, why);
	default:
		return wb_error_set(&h->err, WB_E_CONNECT, "request to %s failed: %s",
				    h->url, why);
	}
}

/* A short, printable excerpt of an error body for a message. */
static void excerpt(const struct wb_writer *w, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < w->len && o + 1 < size && o < 160; i++) {
		uint8_t c = w->data[i];

		if (c == '\n' || c == '\r')
			break;
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
}

/* ---- requests ------------------------------------------------------------- */

/* curl copies each string into its own heap (curl_slist_append) and into its
 * request buffer, which it frees without wiping: an Authorization line leaves
 * plain copies we cannot reach. We wipe the ones we can, here. */
static void free_headers(struct wb_http *h)
{
	struct curl_slist *s;

	for (s = h->headers; s; s = s->next)
		sodium_memzero(s->data, strlen(s->data));
	curl_slist_free_all(h->headers);
	h->headers = NULL;
}

static int add_header(struct wb_http *h, struct wb_writer *line)
{
	struct curl_slist *s;

	if (line->len == 0)
		return 0;
	if (line->data[line->len - 1] != '\0' && wb_put_u8(line, '\0') < 0)
		return -1;
	s = curl_slist_append(h->headers, (const char *)line->data);
	if (!s)
		return -1;
	h->headers = s;
	return 0;
}

static int add_text_header(struct wb_http *h, const char *text)
{
	struct curl_slist *s = curl_slist_append(h->headers, text);

	if (!s)
		return -1;
	h->headers = s;
	return 0;
}

/* Starts one exchange: an empty handshake POST, or the SOAP request. */
static int transfer(struct wb_http *h, enum phase phase, struct wb_writer *authz,
		    struct wb_error *err)
{
	char ct[WB_AUTH_CT_MAX] = SOAP_CT, ct_line[WB_AUTH_CT_MAX + 16];
	struct wb_auth *a = h->auth;
	struct wb_writer line;
	const uint8_t *body = (const uint8_t *)"";
	size_t len = 0;
	CURLcode c = CURLE_OK;
	int rc = 0;

	free_headers(h);
	wb_writer_init(&line, WB_AUTH_HEADER_MAX, WB_SECRET);
	if (phase == REQUEST) {
		if (a->ops->request_header)
			rc = a->ops->request_header(a, &line, err);
		body = h->req.data;
		len = h->req.len;
		if (rc == 0 && a->encrypt) {
			h->wire.len = 0;
			rc = a->ops->wrap(a, h->req.data, h->req.len, &h->wire, ct, err);
			body = h->wire.data;
			len = h->wire.len;
		}
	}
	if (rc < 0) {
		wb_writer_free(&line);
		return rc;
	}
	snprintf(ct_line, sizeof(ct_line), "Content-Type: %s", ct);
	/* No "Expect: 100-continue": a Windows listener answers at once. */
	if (add_text_header(h, ct_line) < 0 || add_text_header(h, "Expect:") < 0 ||
	    (authz && add_header(h, authz) < 0) || add_header(h, &line) < 0)
		rc = wb_error_set(err, WB_E_INTERNAL, "http: out of memory");
	wb_writer_free(&line);
	if (rc < 0)
		return rc;

	h->resp.len = h->plain.len = h->challenge.len = 0;
	h->content_type[0] = '\0';
	h->too_big = false;
	h->errbuf[0] = '\0';
	c = curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
	if (c == CURLE_OK)
		c = curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, len ? (const char *)body : "");
	if (c == CURLE_OK)
		c = curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (c == CURLE_OK)
		c = curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	if (c == CURLE_OK)
		c = curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
	if (c != CURLE_OK || curl_multi_add_handle(h->multi, h->easy) != CURLM_OK)
		return wb_error_set(err, WB_E_INTERNAL, "http: cannot start a request to %s",
				    h->url);
	h->phase = phase;
	return 0;
}

/* One handshake step: the mechanism's next token, then the next exchange. */
static int step(struct wb_http *h, long status, const char *challenge, struct wb_error *err)
{
	struct wb_writer authz;
	int rc;

	wb_writer_init(&authz, WB_AUTH_HEADER_MAX, WB_SECRET);
	rc = h->auth->ops->next_token(h->auth, status, challenge, &authz, err);
	if (rc == WB_AUTH_CONTINUE) {
		rc = transfer(h, HANDSHAKE, &authz, err);
	} else if (rc == WB_AUTH_DONE) {
		h->authed = true;
		/* A last token the mechanism still has rides on the request. */
		rc = transfer(h, REQUEST, &authz, err);
	}
	wb_writer_free(&authz);
	return rc;
}

static void finish_with(struct wb_http *h, int rc)
{
	h->rc = rc < 0 ? rc : 0;
	h->done = true;
}

/* Maps a SOAP request's HTTP status; 200 and a SOAP 500 go to the caller. */
static int reply_status(struct wb_http *h, long status)
{
	struct wb_auth *a = h->auth;
	bool sealed = wb_msgenc_is_encrypted(h->content_type);
	char text[200];
	int rc;

	/* On an encrypted session every SOAP answer (a fault too) is sealed: a
	 * clear one is refused, never passed through. */
	if ((status == 200 || status == 500) && a->encrypt && h->resp.len) {
		if (!sealed)
			return wb_error_set(&h->err, WB_E_REMOTE, "%s answered in clear text (%s) "
					    "on an encrypted session; refused", h->url,
					    h->content_type[0] ? h->content_type : "no type");
		rc = a->ops->unwrap(a, h->content_type, h->resp.data, h->resp.len, &h->plain,
				    &h->err);
		if (rc < 0)
			return rc;
	} else if ((status == 200 || status == 500) && sealed && h->resp.len) {
		return wb_error_set(&h->err, WB_E_REMOTE, "%s sent an encrypted answer on a "
				    "session without message encryption; refused", h->url);
	} else {
		h->plain.len = 0;
		if (h->resp.len && wb_put(&h->plain, h->resp.data, h->resp.len) < 0)
			return wb_error_set(&h->err, WB_E_INTERNAL, "http: out of memory");
	}
	excerpt(&h->resp, text, sizeof(text));
	switch (status) {
	case 200:
		return 0;
	case 500:
		if (h->plain.len == 0 && !h->t->https && !a->encrypt && a->ops->wrap)
			return wb_error_set(&h->err, WB_E_REMOTE, "%s answered HTTP 500 with no body: "
					    "it refuses unencrypted messages over http "
					    "(AllowUnencrypted=false, the Windows default); "
					    "message_encryption=never needs AllowUnencrypted=true on "
					    "the host: use message_encryption=auto, or https", h->url);
		if (h->plain.len == 0)
			return wb_error_set(&h->err, WB_E_REMOTE, "%s answered HTTP 500 with no body "
					    "(Windows does so to a plaintext request over http: "
					    "AllowUnencrypted=false)", h->url);
		if (!sealed && !strstr(h->content_type, "xml"))
			return wb_error_set(&h->err, WB_E_REMOTE, "%s answered HTTP 500: %s",
					    h->url, text);
		return 0;
	case 404:
		return wb_error_set(&h->err, WB_E_REMOTE, "%s answered HTTP 404: no WinRM "
				    "listener at this path (the default is /wsman)", h->url);
	case 413:
		return wb_error_set(&h->err, WB_E_REMOTE, "%s answered HTTP 413: the request is "
				    "larger than the host's MaxEnvelopeSizekb", h->url);
	default:
		return wb_error_set(&h->err, WB_E_REMOTE, "%s answered HTTP %ld: %s", h->url,
				    status, text);
	}
}

/* A finished exchange: the next handshake step, a new handshake, or the end. */
static void complete(struct wb_http *h, CURLcode c)
{
	enum phase phase = h->phase;
	const char *challenge;
	long status = 0;
	int rc;

	curl_multi_remove_handle(h->multi, h->easy);
	free_headers(h);
	h->phase = IDLE;
	if (c != CURLE_OK) {
		finish_with(h, curl_error(h, c));
		return;
	}
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
	h->status = status;
	wb_put_u8(&h->challenge, '\0');	/* room kept by on_header */
	challenge = (const char *)h->challenge.data;
	if (phase == HANDSHAKE) {
		rc = step(h, status, challenge, &h->err);
	} else if (status == 401 && h->reauthed) {
		rc = wb_error_set(&h->err, WB_E_AUTH, "%s refused the %s credential '%s' again "
				  "after a new handshake (HTTP 401)", h->url, h->auth->ops->name,
				  h->auth->meta->name);
	} else if (status == 401) {
		h->authed = false;
		h->reauthed = true;
		rc = step(h, 401, challenge, &h->err);
	} else {
		finish_with(h, reply_status(h, status));
		return;
	}
	if (rc < 0)
		finish_with(h, rc);
}

static void drain(struct wb_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == h->easy && h->phase != IDLE)
			complete(h, m->data.result);
	}
}

static void act(struct wb_http *h, curl_socket_t fd, int flags)
{
	int running;

	if (curl_multi_socket_action(h->multi, fd, flags, &running) != CURLM_OK &&
	    h->phase != IDLE) {
		curl_multi_remove_handle(h->multi, h->easy);
		h->phase = IDLE;
		finish_with(h, wb_error_set(&h->err, WB_E_INTERNAL, "http: curl failed on %s",
					    h->url));
	}
}

static void fire_timer(struct wb_http *h)
{
	if (h->deadline >= 0 && h->deadline <= now_ms()) {
		h->deadline = -1;
		act(h, CURL_SOCKET_TIMEOUT, 0);
	}
}

/* ---- public --------------------------------------------------------------- */

static int setup_tls(struct wb_http *h, struct wb_error *err)
{
	const struct wb_target *t = h->t;
	struct wb_auth *a = h->auth;
	CURL *e = h->easy;
	CURLcode c;
	struct stat st;

	c = curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->validate_cert ? 1L : 0L);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->validate_cert ? 2L : 0L);
	if (c == CURLE_OK && t->validate_cert && t->ca_trust_path[0]) {
		/* Only the configured CAs: the system store is not added. */
		if (stat(t->ca_trust_path, &st) < 0)
			return wb_error_set(err, WB_E_INVALID, "ca_trust_path '%s': %s",
					    t->ca_trust_path, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			c = curl_easy_setopt(e, CURLOPT_CAPATH, t->ca_trust_path);
			if (c == CURLE_OK)
				c = curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
		} else {
			c = curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_trust_path);
			if (c == CURLE_OK)
				c = curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		}
	}
	if (c == CURLE_OK && a->client_cert_pem) {
		/* NOCOPY: curl reads the credential's sodium memory in place; OpenSSL
		 * still parses the key into its own heap for each handshake. */
		h->cert_blob = (struct curl_blob){ (void *)a->client_cert_pem,
						   a->client_cert_len, CURL_BLOB_NOCOPY };
		h->key_blob = (struct curl_blob){ (void *)a->client_key_pem,
						  a->client_key_len, CURL_BLOB_NOCOPY };
		c = curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &h->cert_blob);
		if (c == CURLE_OK)
			c = curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		if (c == CURLE_OK)
			c = curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &h->key_blob);
		if (c == CURLE_OK)
			c = curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c != CURLE_OK)
		return wb_error_set(err, WB_E_TLS, "http: cannot set up TLS for %s: %s", h->url,
				    curl_easy_strerror(c));
	return 0;
}

static int setup_easy(struct wb_http *h, struct wb_error *err)
{
	CURL *e = h->easy;
	CURLcode c;

	c = curl_easy_setopt(e, CURLOPT_URL, h->url);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, h->t->https ? "https" : "http");
	if (c == CURLE_OK)	/* never a proxy taken from the daemon's environment */
		c = curl_easy_setopt(e, CURLOPT_PROXY, "");
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (c == CURLE_OK)	/* Nagle + delayed ACK would add 40 ms per request */
		c = curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_POST, 1L);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	if (c == CURLE_OK)
		c = curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	if (c != CURLE_OK)
		return wb_error_set(err, WB_E_INTERNAL, "http: cannot set up curl: %s",
				    curl_easy_strerror(c));
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK)
		return wb_error_set(err, WB_E_INTERNAL, "http: cannot set up curl multi");
	return h->t->https ? setup_tls(h, err) : 0;
}

int wb_http_open(const struct wb_target *t, const struct wb_auth_ops *mech,
		 const struct wb_cred_meta *meta, const struct wb_secret *sec,
		 struct wb_tickets *tickets, size_t max_body, struct wb_http **out,
		 struct wb_error *err)
{
	struct wb_http *h;
	int rc, i;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return wb_error_set(err, WB_E_INTERNAL, "http: out of memory");
	h->t = t;
	h->deadline = -1;
	for (i = 0; i < MAX_SOCKS; i++)
		h->socks[i].fd = CURL_SOCKET_BAD;
	wb_writer_init(&h->req, REQUEST_MAX, WB_PLAIN);
	wb_writer_init(&h->wire, 2 * REQUEST_MAX, WB_PLAIN);
	wb_writer_init(&h->resp, max_body, WB_PLAIN);
	wb_writer_init(&h->plain, max_body, WB_PLAIN);
	wb_writer_init(&h->challenge, CHALLENGE_MAX + 1, WB_PLAIN);
	if (wb_target_url(t, h->url, sizeof(h->url)) < 0) {
		rc = wb_error_set(err, WB_E_INVALID, "target %s: URL too long", t->host);
		goto fail;
	}
	rc = wb_auth_new(mech, t, meta, sec, tickets, &h->auth, err);
	if (rc < 0)
		goto fail;
	h->multi = curl_multi_init();
	h->easy = curl_easy_init();
	if (!h->multi || !h->easy) {
		rc = wb_error_set(err, WB_E_INTERNAL, "http: cannot create curl handles");
		goto fail;
	}
	rc = setup_easy(h, err);
	if (rc < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	wb_http_close(h);
	return rc;
}

void wb_http_close(struct wb_http *h)
{
	if (!h)
		return;
	wb_http_abort(h);
	if (h->easy)
		curl_easy_cleanup(h->easy);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free_headers(h);
	wb_auth_free(h->auth);
	wb_writer_free(&h->req);
	wb_writer_free(&h->wire);
	wb_writer_free(&h->resp);
	wb_writer_free(&h->plain);
	wb_writer_free(&h->challenge);
	free(h);
}

int wb_http_begin(struct wb_http *h, const uint8_t *body, size_t n, long timeout_ms,
		  struct wb_error *err)
{
	if (h->phase != IDLE || h->done)
		return wb_error_set(err, WB_E_INTERNAL, "http: a request is already in flight");
	h->req.len = 0;
	if (wb_put(&h->req, body, n) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "http: request of %zu bytes too large", n);
	h->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	h->reauthed = false;
	h->status = 0;
	wb_error_clear(&h->err);
	if (!h->authed)
		return step(h, 0, NULL, err);
	return transfer(h, REQUEST, NULL, err);
}

int wb_http_wait(struct wb_http *const *hs, size_t nh, const int *fds, size_t nfds,
		 int timeout_ms, unsigned *ready, struct wb_error *err)
{
	struct pollfd pfd[MAX_SOCKS * 2 + MAX_FDS];
	struct wb_http *owner[MAX_SOCKS * 2 + MAX_FDS];
	size_t i, np = 0, first_fd;
	int64_t now;
	int wait = timeout_ms, k;

	*ready = 0;
	if (nh > 2 || nfds > MAX_FDS)
		return wb_error_set(err, WB_E_INTERNAL, "http: too many handles to wait on");
	for (i = 0; i < nh; i++) {
		fire_timer(hs[i]);
		drain(hs[i]);
		if (hs[i]->done)
			return 0;
	}
	now = now_ms();
	for (i = 0; i < nh; i++) {
		for (k = 0; k < MAX_SOCKS; k++) {
			const struct sock *s = &hs[i]->socks[k];

			if (s->fd == CURL_SOCKET_BAD)
				continue;
			pfd[np].fd = s->fd;
			pfd[np].events = (short)(((s->what & CURL_POLL_IN) ? POLLIN : 0) |
						 ((s->what & CURL_POLL_OUT) ? POLLOUT : 0));
			pfd[np].revents = 0;
			owner[np++] = hs[i];
		}
		if (hs[i]->deadline >= 0) {
			int64_t left = hs[i]->deadline - now;
			int w = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;

			if (wait < 0 || w < wait)
				wait = w;
		}
	}
	first_fd = np;
	for (i = 0; i < nfds; i++) {
		pfd[np].fd = fds[i];	/* poll ignores negative fds */
		pfd[np].events = POLLIN;
		pfd[np].revents = 0;
		owner[np++] = NULL;
	}
	if (poll(pfd, np, wait) < 0) {
		if (errno == EINTR)
			return 0;
		return wb_error_set(err, WB_E_IO, "http: poll: %s", strerror(errno));
	}
	for (i = 0; i < first_fd; i++) {
		int flags = 0;

		if (!pfd[i].revents)
			continue;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			flags |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			flags |= CURL_CSELECT_ERR;
		act(owner[i], pfd[i].fd, flags);
	}
	for (i = 0; i < nh; i++) {
		fire_timer(hs[i]);
		drain(hs[i]);
	}
	for (i = first_fd; i < np; i++)
		if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			*ready |= 1u << (i - first_fd);
	return 0;
}

bool wb_http_busy(const struct wb_http *h)
{
	return h->phase != IDLE;
}

bool wb_http_done(const struct wb_http *h)
{
	return h->done;
}

int wb_http_finish(struct wb_http *h, struct wb_http_reply *reply, struct wb_error *err)
{
	if (!h->done)
		return wb_error_set(err, WB_E_INTERNAL, "http: no finished request");
	h->done = false;
	if (h->rc < 0) {
		if (err)
			*err = h->err;
		return h->rc;
	}
	reply->status = h->status;
	reply->body = h->plain.data;
	reply->len = h->plain.len;
	return 0;
}

void wb_http_abort(struct wb_http *h)
{
	if (h->phase != IDLE) {
		curl_multi_remove_handle(h->multi, h->easy);
		free_headers(h);
		h->phase = IDLE;
		/* The connection is closed; a connection-bound mechanism starts over. */
		h->authed = false;
	}
	h->done = false;
}

int wb_http_post(struct wb_http *h, const uint8_t *body, size_t n, long timeout_ms,
		 struct wb_http_reply *reply, struct wb_error *err)
{
	unsigned ready;
	int rc;

	rc = wb_http_begin(h, body, n, timeout_ms, err);
	while (rc == 0 && !h->done)
		rc = wb_http_wait(&h, 1, NULL, 0, -1, &ready, err);
	if (rc < 0) {
		wb_http_abort(h);
		return rc;
	}
	return wb_http_finish(h, reply, err);
}

const struct wb_auth *wb_http_auth(const struct wb_http *h)
{
	return h->auth;
}

const char *wb_http_url(const struct wb_http *h)
{
	return h->url;
}
