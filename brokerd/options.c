/* options.c - see options.h; the rules are documented in docs/config.md. */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- reading the frame ---- */

/* Each reader returns 1 when the attribute is there, 0 when absent. */
static int once(const struct wb_frame *f, uint16_t tag, const char *name, struct wb_error *err)
{
	size_t n = wb_attr_count(f, tag);

	if (n > 1)
		return wb_error_set(err, WB_E_INVALID, "%s: given %zu times; give it once", name, n);
	return (int)n;
}

static int get_str(const struct wb_frame *f, uint16_t tag, const char *name, char *buf,
		   size_t size, struct wb_error *err)
{
	int rc = once(f, tag, name, err);

	if (rc <= 0)
		return rc;
	rc = wb_attr_str(f, tag, 0, buf, size);
	if (rc == -EBADMSG)
		return wb_error_set(err, WB_E_PROTO, "%s: a NUL byte inside a string", name);
	if (rc < 0)
		return wb_error_set(err, WB_E_INVALID, "%s: longer than %zu characters", name,
				    size - 1);
	return 1;
}

static int get_u32(const struct wb_frame *f, uint16_t tag, const char *name, unsigned *v,
		   struct wb_error *err)
{
	uint32_t x;
	int rc = once(f, tag, name, err);

	if (rc <= 0)
		return rc;
	if (wb_attr_u32(f, tag, &x) < 0)
		return wb_error_set(err, WB_E_PROTO, "%s: not a 4-byte integer", name);
	*v = x;
	return 1;
}

static int get_bool(const struct wb_frame *f, uint16_t tag, const char *name, bool *v,
		    struct wb_error *err)
{
	uint8_t x;
	int rc = once(f, tag, name, err);

	if (rc <= 0)
		return rc;
	if (wb_attr_u8(f, tag, &x) < 0)
		return wb_error_set(err, WB_E_PROTO, "%s: not a 1-byte integer", name);
	if (x > 1)
		return wb_error_set(err, WB_E_INVALID, "%s: %u is not 0 or 1", name, x);
	*v = x == 1;
	return 1;
}

/* A string that must be one of two words; *v is true for the first. */
static int get_choice(const struct wb_frame *f, uint16_t tag, const char *name,
		      const char *yes, const char *no, bool *v, struct wb_error *err)
{
	char s[64], q[40];
	int rc = get_str(f, tag, name, s, sizeof(s), err);

	if (rc <= 0)
		return rc;
	if (strcmp(s, yes) && strcmp(s, no))
		return wb_error_set(err, WB_E_INVALID, "%s: '%s' is not %s or %s", name,
				    wb_quote(s, q, sizeof(q)), yes, no);
	*v = !strcmp(s, yes);
	return 1;
}

static int get_transports(const struct wb_frame *f, struct wb_request_options *o,
			  struct wb_error *err)
{
	size_t i, j, n = wb_attr_count(f, WB_A_TRANSPORT);
	char s[16], q[40];

	if (n == 0)
		return 0;
	if (n > WB_TARGET_MAX_TRANSPORTS)
		return wb_error_set(err, WB_E_INVALID, "transport: %zu given; at most %d", n,
				    WB_TARGET_MAX_TRANSPORTS);
	for (i = 0; i < n; i++) {
		int rc = wb_attr_str(f, WB_A_TRANSPORT, i, s, sizeof(s));

		if (rc == -EBADMSG)
			return wb_error_set(err, WB_E_PROTO, "transport: a NUL byte inside a string");
		if (rc < 0 || wb_transport_parse(s, &o->transports[i]) < 0)
			return wb_error_set(err, WB_E_INVALID, "transport: '%s' is not basic, "
					    "certificate, ntlm, kerberos, negotiate or credssp",
					    rc < 0 ? "(too long)" : wb_quote(s, q, sizeof(q)));
		for (j = 0; j < i; j++)
			if (o->transports[j] == o->transports[i])
				return wb_error_set(err, WB_E_INVALID, "transport: '%s' given twice", s);
	}
	o->n_transports = n;
	return 1;
}

static int get_msgenc(const struct wb_frame *f, struct wb_request_options *o,
		      struct wb_error *err)
{
	static const char *const names[] = { [WB_MSGENC_AUTO] = "auto",
		[WB_MSGENC_ALWAYS] = "always", [WB_MSGENC_NEVER] = "never" };
	char s[64], q[40];
	size_t i;
	int rc = get_str(f, WB_A_MESSAGE_ENCRYPTION, "message_encryption", s, sizeof(s), err);

	if (rc <= 0)
		return rc;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			o->message_encryption = (enum wb_msg_encryption)i;
			return 1;
		}
	}
	return wb_error_set(err, WB_E_INVALID, "message_encryption: '%s' is not auto, always "
			    "or never", wb_quote(s, q, sizeof(q)));
}

/* The string options that need a check of their own. */
static int get_strings(const struct wb_frame *f, struct wb_request_options *o,
		       struct wb_error *err)
{
	char raw[WB_HOST_MAX + 3], q[80];
	int rc;

	rc = get_str(f, WB_A_PATH, "path", o->path, sizeof(o->path), err);
	if (rc > 0 && !wb_url_path_valid(o->path))
		return wb_error_set(err, WB_E_INVALID, "path: '%s' is not a URL path starting "
				    "with '/'", wb_quote(o->path, q, sizeof(q)));
	if (rc < 0)
		return rc;
	o->set |= rc ? WB_OPT_PATH : 0;

	rc = get_str(f, WB_A_CA_TRUST_PATH, "ca_trust_path", o->ca_trust_path,
		     sizeof(o->ca_trust_path), err);
	if (rc > 0 && o->ca_trust_path[0] != '/')
		return wb_error_set(err, WB_E_INVALID, "ca_trust_path: '%s' is not an absolute path",
				    wb_quote(o->ca_trust_path, q, sizeof(q)));
	if (rc < 0)
		return rc;
	o->set |= rc ? WB_OPT_CA_TRUST_PATH : 0;

	rc = get_str(f, WB_A_SERVICE, "service", o->service, sizeof(o->service), err);
	if (rc > 0 && !wb_service_valid(o->service))
		return wb_error_set(err, WB_E_INVALID, "service: '%s' is not a service class like "
				    "HTTP", wb_quote(o->service, q, sizeof(q)));
	if (rc < 0)
		return rc;
	o->set |= rc ? WB_OPT_SERVICE : 0;

	rc = get_str(f, WB_A_KRB_HOSTNAME_OVERRIDE, "kerberos_hostname_override", raw,
		     sizeof(raw), err);
	if (rc > 0 && raw[0] && wb_host_normalize(raw, o->kerberos_hostname_override,
					   sizeof(o->kerberos_hostname_override), err) < 0)
		return wb_error_prefix(err, "kerberos_hostname_override");
	if (rc < 0)
		return rc;
	o->set |= rc ? WB_OPT_KRB_HOSTNAME_OVERRIDE : 0;
	return 0;
}

/* Runs one reader; on success records whether the option was there. */
#define READ_OPT(bit, expr)                     \
	do {                                    \
		int rc_ = (expr);               \
		if (rc_ < 0)                    \
			return rc_;             \
		if (rc_ > 0)                    \
			o->set |= (bit);        \
	} while (0)

int wb_options_from_frame(const struct wb_frame *f, struct wb_request_options *o,
			  struct wb_error *err)
{
	memset(o, 0, sizeof(*o));
	READ_OPT(WB_OPT_PORT, get_u32(f, WB_A_PORT, "port", &o->port, err));
	if ((o->set & WB_OPT_PORT) && (o->port < 1 || o->port > 65535))
		return wb_error_set(err, WB_E_INVALID, "port: %u is not from 1 to 65535", o->port);
	READ_OPT(WB_OPT_SCHEME, get_choice(f, WB_A_SCHEME, "scheme", "https", "http",
					   &o->https, err));
	READ_OPT(WB_OPT_TRANSPORT, get_transports(f, o, err));
	READ_OPT(WB_OPT_CERT_VALIDATION, get_choice(f, WB_A_CERT_VALIDATION,
						    "server_cert_validation", "validate", "ignore",
						    &o->validate_cert, err));
	READ_OPT(WB_OPT_OPERATION_TIMEOUT, get_u32(f, WB_A_OPERATION_TIMEOUT,
						   "operation_timeout_sec",
						   &o->operation_timeout_sec, err));
	READ_OPT(WB_OPT_READ_TIMEOUT, get_u32(f, WB_A_READ_TIMEOUT, "read_timeout_sec",
					      &o->read_timeout_sec, err));
	READ_OPT(WB_OPT_MESSAGE_ENCRYPTION, get_msgenc(f, o, err));
	READ_OPT(WB_OPT_KERBEROS_DELEGATION, get_bool(f, WB_A_KERBEROS_DELEGATION,
						      "kerberos_delegation",
						      &o->kerberos_delegation, err));
	READ_OPT(WB_OPT_SEND_CBT, get_bool(f, WB_A_SEND_CBT, "send_cbt", &o->send_cbt, err));
	READ_OPT(WB_OPT_CREDSSP_DISABLE_TLSV1_2, get_bool(f, WB_A_CREDSSP_DISABLE_TLSV1_2,
							  "credssp_disable_tlsv1_2",
							  &o->credssp_disable_tlsv1_2, err));
	return get_strings(f, o, err);
}

/* ---- resolving against the config ---- */

struct resolve {
	const struct wb_host_section *s;	/* the section that decides */
	const struct wb_request_options *o;
	struct wb_target *t;
	char where[400];			/* "brokerd.conf:12 [host *.corp]" */
	struct wb_error *err;
};

static int refuse(const struct resolve *x, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every refusal ends with the section that decided. */
static int refuse(const struct resolve *x, int code, const char *fmt, ...)
{
	char msg[360];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wb_error_set(x->err, code, "%s (decided by %s)", msg, x->where);
}

static bool asked(const struct resolve *x, unsigned bit)
{
	return (x->o->set & bit) != 0;
}

static bool pinned(const struct resolve *x, unsigned pin)
{
	return (x->s->pins & pin) != 0;
}

/* Each value on its own: the request's, else the config's, else derived
 * from the other one as the seed says (5985 is http, anything else https). */
static int resolve_endpoint(struct resolve *x)
{
	const struct wb_host_section *s = x->s;
	const struct wb_request_options *o = x->o;
	struct wb_target *t = x->t;
	bool have_scheme = asked(x, WB_OPT_SCHEME) || s->has_scheme;
	char q[80];

	if (asked(x, WB_OPT_PORT) && pinned(x, WB_PIN_PORT) && o->port != s->port)
		return refuse(x, WB_E_DENIED, "port: the request asks %u, but the config pins %u",
			      o->port, s->port);
	if (asked(x, WB_OPT_SCHEME) && pinned(x, WB_PIN_SCHEME) && o->https != s->https)
		return refuse(x, WB_E_DENIED, "scheme: the request asks %s, but the config pins %s",
			      o->https ? "https" : "http", s->https ? "https" : "http");
	if (asked(x, WB_OPT_PATH) && pinned(x, WB_PIN_PATH) && strcmp(o->path, s->path))
		return refuse(x, WB_E_DENIED, "path: the request asks '%s', but the config pins '%s'",
			      wb_quote(o->path, q, sizeof(q)), s->path);
	t->https = asked(x, WB_OPT_SCHEME) ? o->https : s->https;
	t->port = asked(x, WB_OPT_PORT) ? o->port : s->port;
	if (t->port == 0)
		t->port = have_scheme && !t->https ? 5985 : 5986;
	if (!have_scheme)
		t->https = t->port != 5985;
	strcpy(t->path, asked(x, WB_OPT_PATH) ? o->path : s->path);
	return 0;
}

static void list_transports(const enum wb_transport *v, size_t n, char *buf, size_t size)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 wb_transport_name(v[i]));
}

static bool has_transport(const enum wb_transport *v, size_t n, enum wb_transport t)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == t)
			return true;
	return false;
}

/* Basic would send the password in clear over http, and a client
 * certificate needs TLS: neither is ever used without https. */
static bool needs_tls(enum wb_transport t)
{
	return t == WB_TRANSPORT_BASIC || t == WB_TRANSPORT_CERTIFICATE;
}

static int resolve_transports(struct resolve *x)
{
	const struct wb_host_section *s = x->s;
	const struct wb_request_options *o = x->o;
	struct wb_target *t = x->t;
	const enum wb_transport *want = asked(x, WB_OPT_TRANSPORT) ? o->transports : s->transports;
	size_t i, n = asked(x, WB_OPT_TRANSPORT) ? o->n_transports : s->n_transports;
	char allowed[80];

	list_transports(s->transports, s->n_transports, allowed, sizeof(allowed));
	t->n_transports = 0;
	for (i = 0; i < n; i++) {
		if (!has_transport(s->transports, s->n_transports, want[i]))
			return refuse(x, WB_E_DENIED, "transport: the request asks %s, which the "
				      "config does not allow (allowed: %s)",
				      wb_transport_name(want[i]), allowed);
		if (!t->https && needs_tls(want[i])) {
			if (asked(x, WB_OPT_TRANSPORT))
				return refuse(x, WB_E_DENIED, "transport: %s is never used over http "
					      "(it %s); use https", wb_transport_name(want[i]),
					      want[i] == WB_TRANSPORT_BASIC
					      ? "would send the password in clear" : "needs TLS");
			continue;
		}
		t->transports[t->n_transports++] = want[i];
	}
	if (t->n_transports == 0)
		return refuse(x, WB_E_DENIED, "transport: none of the allowed transports (%s) can be "
			      "used over http; use https", allowed);
	return 0;
}

static int resolve_tls(struct resolve *x)
{
	const struct wb_host_section *s = x->s;
	const struct wb_request_options *o = x->o;
	struct wb_target *t = x->t;
	char q[80];
	size_t i;

	t->validate_cert = asked(x, WB_OPT_CERT_VALIDATION) ? o->validate_cert : s->validate_cert;
	if (!t->validate_cert && s->validate_cert && !s->allow_cert_validation_ignore)
		return refuse(x, WB_E_DENIED, "server_cert_validation: the request asks ignore, but "
			      "the config allows only validate (allow_cert_validation_ignore = no)");
	strcpy(t->ca_trust_path, s->ca_trust_path);
	if (!asked(x, WB_OPT_CA_TRUST_PATH) || !strcmp(o->ca_trust_path, s->ca_trust_path))
		return 0;
	/* Exact names only: a client must never make the broker trust a CA
	 * file it controls, so no prefixes, globs or relative paths. */
	for (i = 0; i < s->n_ca_allowed; i++) {
		if (!strcmp(o->ca_trust_path, s->ca_allowed[i])) {
			strcpy(t->ca_trust_path, o->ca_trust_path);
			return 0;
		}
	}
	return refuse(x, WB_E_DENIED, "ca_trust_path: the request asks '%s', which is neither the "
		      "config's ca_trust_path (%s%s%s) nor in its ca_trust_paths_allowed (%zu paths)",
		      wb_quote(o->ca_trust_path, q, sizeof(q)), s->ca_trust_path[0] ? "'" : "",
		      s->ca_trust_path[0] ? s->ca_trust_path : "none: the system store",
		      s->ca_trust_path[0] ? "'" : "", s->n_ca_allowed);
}

static int strength(enum wb_msg_encryption e)
{
	return e == WB_MSGENC_NEVER ? 0 : e == WB_MSGENC_AUTO ? 1 : 2;
}

static const char *msgenc_name(enum wb_msg_encryption e)
{
	return e == WB_MSGENC_NEVER ? "never" : e == WB_MSGENC_AUTO ? "auto" : "always";
}

static int resolve_encryption(struct resolve *x)
{
	enum wb_msg_encryption want = x->o->message_encryption, dflt = x->s->message_encryption;

	x->t->message_encryption = dflt;
	if (!asked(x, WB_OPT_MESSAGE_ENCRYPTION))
		return 0;
	if (strength(want) < strength(dflt))
		return refuse(x, WB_E_DENIED, "message_encryption: the request asks %s, weaker than "
			      "the config's %s; a request may only strengthen it "
			      "(never < auto < always)", msgenc_name(want), msgenc_name(dflt));
	x->t->message_encryption = want;
	return 0;
}

static int check_timeout(const struct resolve *x, const char *name, unsigned v)
{
	if (v == 0)
		return wb_error_set(x->err, WB_E_INVALID, "%s: must be at least 1 second", name);
	if (v > x->s->max_operation_timeout_sec)
		return refuse(x, WB_E_DENIED, "%s: the request asks %u s, but the config allows at "
			      "most %u s (max_operation_timeout_sec)", name, v,
			      x->s->max_operation_timeout_sec);
	return 0;
}

/* The HTTP read must outlast a Receive the server holds for the operation
 * timeout, so read > operation always. */
static int resolve_timeouts(struct resolve *x)
{
	const struct wb_request_options *o = x->o;
	struct wb_target *t = x->t;
	bool op = asked(x, WB_OPT_OPERATION_TIMEOUT), rd = asked(x, WB_OPT_READ_TIMEOUT);
	int rc;

	t->operation_timeout_sec = x->s->operation_timeout_sec;
	t->read_timeout_sec = x->s->read_timeout_sec;
	if (op) {
		rc = check_timeout(x, "operation_timeout_sec", o->operation_timeout_sec);
		if (rc < 0)
			return rc;
		t->operation_timeout_sec = o->operation_timeout_sec;
	}
	if (rd) {
		rc = check_timeout(x, "read_timeout_sec", o->read_timeout_sec);
		if (rc < 0)
			return rc;
		t->read_timeout_sec = o->read_timeout_sec;
	} else if (op && t->read_timeout_sec < t->operation_timeout_sec + 10) {
		t->read_timeout_sec = t->operation_timeout_sec + 10;
	}
	if (t->read_timeout_sec <= t->operation_timeout_sec)
		return refuse(x, WB_E_INVALID, "read_timeout_sec: %u s must be greater than "
			      "operation_timeout_sec (%u s, from the %s)", t->read_timeout_sec,
			      t->operation_timeout_sec, op ? "request" : "config");
	return 0;
}

/* A yes/no option the request may always set to safe and may set to
 * unsafe only when the config's default is already unsafe or allow_key
 * says yes. */
static int resolve_flag(const struct resolve *x, unsigned bit, bool want, bool dflt,
			bool unsafe, bool allowed, const char *name, const char *allow_key,
			bool *out)
{
	*out = (x->o->set & bit) ? want : dflt;
	if (*out == unsafe && dflt != unsafe && !allowed)
		return refuse(x, WB_E_DENIED, "%s: the request asks %s, but the config allows only "
			      "%s (%s = no)", name, unsafe ? "yes" : "no", unsafe ? "no" : "yes",
			      allow_key);
	return 0;
}

static int resolve_string(const struct resolve *x, unsigned bit, unsigned pin, const char *want,
			  const char *dflt, const char *name, char *out, size_t size)
{
	char q[80];

	if (!(x->o->set & bit)) {
		snprintf(out, size, "%s", dflt);
		return 0;
	}
	if (pinned(x, pin) && strcmp(want, dflt))
		return refuse(x, WB_E_DENIED, "%s: the request asks '%s', but the config pins '%s'",
			      name, wb_quote(want, q, sizeof(q)), dflt);
	snprintf(out, size, "%s", want);
	return 0;
}

static int resolve_auth(struct resolve *x)
{
	const struct wb_host_section *s = x->s;
	const struct wb_request_options *o = x->o;
	struct wb_target *t = x->t;
	int rc;

	t->credssp_min_version = s->credssp_min_version;
	rc = resolve_flag(x, WB_OPT_KERBEROS_DELEGATION, o->kerberos_delegation,
			  s->kerberos_delegation, true, s->allow_kerberos_delegation,
			  "kerberos_delegation", "allow_kerberos_delegation", &t->kerberos_delegation);
	if (rc == 0)
		rc = resolve_flag(x, WB_OPT_SEND_CBT, o->send_cbt, s->send_cbt, false,
				  s->allow_disable_cbt, "send_cbt", "allow_disable_cbt", &t->send_cbt);
	if (rc == 0)
		rc = resolve_flag(x, WB_OPT_CREDSSP_DISABLE_TLSV1_2, o->credssp_disable_tlsv1_2,
				  s->credssp_disable_tlsv1_2, true, s->allow_credssp_disable_tlsv1_2,
				  "credssp_disable_tlsv1_2", "allow_credssp_disable_tlsv1_2",
				  &t->credssp_disable_tlsv1_2);
	if (rc == 0)
		rc = resolve_string(x, WB_OPT_KRB_HOSTNAME_OVERRIDE, WB_PIN_KRB_HOSTNAME,
				    o->kerberos_hostname_override, s->kerberos_hostname_override,
				    "kerberos_hostname_override", t->kerberos_hostname_override,
				    sizeof(t->kerberos_hostname_override));
	if (rc == 0)
		rc = resolve_string(x, WB_OPT_SERVICE, WB_PIN_SERVICE, o->service, s->service,
				    "service", t->service, sizeof(t->service));
	return rc;
}

int wb_options_resolve(const struct wb_config *c, const char *host,
		       const struct wb_request_options *o, struct wb_target *out,
		       struct wb_error *err)
{
	struct resolve x = { .o = o, .t = out, .err = err };
	int rc;

	wb_target_defaults(out);
	rc = wb_host_normalize(host, out->host, sizeof(out->host), err);
	if (rc < 0)
		return rc;
	x.s = wb_config_match(c, out->host);
	wb_config_describe(c, x.s, x.where, sizeof(x.where));
	rc = resolve_endpoint(&x);
	if (rc == 0)
		rc = resolve_transports(&x);
	if (rc == 0)
		rc = resolve_tls(&x);
	if (rc == 0)
		rc = resolve_encryption(&x);
	if (rc == 0)
		rc = resolve_timeouts(&x);
	if (rc == 0)
		rc = resolve_auth(&x);
	return rc;
}
