/* config.c - see config.h; the file format is documented in docs/config.md. */
#include "config.h"
#include "ini.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

struct wb_config {
	char *name;
	struct wb_broker_settings broker;
	struct wb_host_section builtin;	/* governs hosts no section matches */
	struct wb_host_section *hosts;	/* in file order */
	size_t n_hosts;
};

static void freep(void *p)
{
	free(*(void **)p);
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static void configp(struct wb_config **c)
{
	wb_config_free(*c);
}

#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_config_ __attribute__((cleanup(configp)))

/* ---- host names ---- */

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static char to_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

const char *wb_quote(const char *s, char *buf, size_t size)
{
	size_t i, n = strlen(s);

	if (size == 0)
		return "";
	for (i = 0; i < n && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	if (i < n && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

/* Writes the canonical text of an address; IPv4-mapped IPv6 becomes IPv4,
 * so that "::ffff:10.0.0.1" is governed by the section for 10.0.0.1. */
static int addr_text(int af, const uint8_t *a, char *out, size_t size, struct wb_error *err)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (af == AF_INET6 && memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		af = AF_INET;
		a += 12;
	}
	if (!inet_ntop(af, a, out, (socklen_t)size))
		return wb_error_set(err, WB_E_INVALID, "host: address does not fit the buffer");
	return 0;
}

static int ipv6_literal(const char *s, char *out, size_t size, struct wb_error *err)
{
	uint8_t a[16];
	char q[80];

	if (inet_pton(AF_INET6, s, a) != 1)
		return wb_error_set(err, WB_E_INVALID,
				    "host: '%s' is not an IPv6 address (zone ids like %%eth0 are not supported)",
				    wb_quote(s, q, sizeof(q)));
	return addr_text(AF_INET6, a, out, size, err);
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static int dns_name(const char *in, char *out, size_t size, struct wb_error *err)
{
	size_t i, n = strlen(in), label = 0;
	struct in_addr ignored;
	const char *last;
	char q[80];

	if (n > 0 && in[n - 1] == '.')
		n--;	/* "host.corp." and "host.corp" are one host */
	if (n == 0 || n > WB_HOST_MAX || n >= size)
		return wb_error_set(err, WB_E_INVALID, "host: empty or longer than %d characters",
				    WB_HOST_MAX);
	for (i = 0; i < n; i++) {
		char ch = in[i];

		if (ch == '.') {
			if (label == 0)
				return wb_error_set(err, WB_E_INVALID, "host: '%s' has an empty label",
						    wb_quote(in, q, sizeof(q)));
			label = 0;
		} else if (is_alnum(ch) || ch == '_' || (ch == '-' && label > 0)) {
			if (++label > 63)
				return wb_error_set(err, WB_E_INVALID,
						    "host: a label is longer than 63 characters");
		} else {
			return wb_error_set(err, WB_E_INVALID,
					    "host: '%s' is not a DNS name, IPv4 or IPv6 address "
					    "(character %zu is not allowed)",
					    wb_quote(in, q, sizeof(q)), i + 1);
		}
		out[i] = to_lower(ch);
	}
	out[n] = '\0';
	/* The resolver reads "10.1", "0x0a000001" or "1.2.3.4.5" as numbers or
	 * rejects them; refuse them so one address has one spelling. */
	last = strrchr(out, '.');
	last = last ? last + 1 : out;
	if (all_digits(last, strlen(last)) || inet_aton(out, &ignored))
		return wb_error_set(err, WB_E_INVALID,
				    "host: '%s' looks numeric but is not a dotted-quad IPv4 address; "
				    "write the address as a.b.c.d", wb_quote(in, q, sizeof(q)));
	return 0;
}

int wb_host_normalize(const char *in, char *out, size_t size, struct wb_error *err)
{
	size_t n = strnlen(in, WB_HOST_MAX + 3);
	char inner[WB_HOST_MAX + 1];
	uint8_t a[4];

	if (n == 0)
		return wb_error_set(err, WB_E_INVALID, "host: empty");
	if (n > WB_HOST_MAX + 2)
		return wb_error_set(err, WB_E_INVALID, "host: longer than %d characters",
				    WB_HOST_MAX);
	if (in[0] == '[') {
		if (n < 3 || in[n - 1] != ']')
			return wb_error_set(err, WB_E_INVALID,
					    "host: '[' without a closing ']'; write [IPv6] or IPv6");
		memcpy(inner, in + 1, n - 2);
		inner[n - 2] = '\0';
		return ipv6_literal(inner, out, size, err);
	}
	if (strchr(in, ':'))
		return ipv6_literal(in, out, size, err);
	if (inet_pton(AF_INET, in, a) == 1)
		return addr_text(AF_INET, a, out, size, err);
	return dns_name(in, out, size, err);
}

/* ---- defaults ---- */

static void broker_defaults(struct wb_broker_settings *b)
{
	memset(b, 0, sizeof(*b));
	strcpy(b->socket, "/run/winrm-broker/broker.sock");
	strcpy(b->state_dir, "/var/lib/winrm-broker");
	b->max_connections = 1024;
	b->max_connections_per_uid = 16;
	b->max_operations_per_uid = 4;
	b->idle_timeout_sec = 60;
	b->session_bind_timeout_sec = 120;
	b->session_max_ttl_sec = 7 * 86400;	/* a logout that never arrives */
	b->max_session_credentials_per_user = 8;
	b->log_level = LOG_INFO;
	strcpy(b->policy_dir, "/etc/winrm-broker/policy.d");
	strcpy(b->audit_file, "/var/log/winrm-broker/audit.log");
	strcpy(b->transcript_dir, "/var/lib/winrm-broker/transcripts");
	b->audit_builtin_redactions = true;
}

/* The per-request defaults live in wb_target_defaults; a section starts
 * from them and adds the limits only the config has. */
static void section_defaults(struct wb_host_section *h)
{
	static const enum wb_transport all[] = {
		WB_TRANSPORT_BASIC, WB_TRANSPORT_CERTIFICATE, WB_TRANSPORT_NTLM,
		WB_TRANSPORT_KERBEROS, WB_TRANSPORT_NEGOTIATE, WB_TRANSPORT_CREDSSP,
	};
	struct wb_target t;

	wb_target_defaults(&t);
	memset(h, 0, sizeof(*h));
	strcpy(h->path, t.path);
	memcpy(h->transports, all, sizeof(all));
	h->n_transports = sizeof(all) / sizeof(all[0]);
	h->validate_cert = t.validate_cert;
	h->message_encryption = t.message_encryption;
	h->operation_timeout_sec = t.operation_timeout_sec;
	h->read_timeout_sec = t.read_timeout_sec;
	h->max_operation_timeout_sec = 3600;
	strcpy(h->service, t.service);
	h->send_cbt = t.send_cbt;
	h->credssp_min_version = 5;	/* CVE-2018-0886 */
}

/* ---- the parser ---- */

enum section_kind { SEC_NONE, SEC_BROKER, SEC_HOST };

enum key_type {
	K_UINT, K_BOOL, K_ABSPATH, K_ABSPATH_OR_EMPTY, K_GROUP, K_LOGLEVEL,
	K_SCHEME, K_URLPATH, K_TRANSPORTS, K_PINS, K_CERTVAL, K_CALIST, K_MSGENC,
	K_HOSTNAME_OR_EMPTY, K_SERVICE,
};

struct key {
	const char *name;
	enum key_type type;
	size_t off;
	size_t size;
	unsigned min, max;	/* K_UINT */
};

#define B(f) offsetof(struct wb_broker_settings, f), sizeof(((struct wb_broker_settings *)0)->f)
#define H(f) offsetof(struct wb_host_section, f), sizeof(((struct wb_host_section *)0)->f)

static const struct key broker_keys[] = {
	{ "socket", K_ABSPATH, B(socket), 0, 0 },
	{ "state_dir", K_ABSPATH, B(state_dir), 0, 0 },
	{ "master_key", K_ABSPATH_OR_EMPTY, B(master_key), 0, 0 },
	{ "admin_group", K_GROUP, B(admin_group), 0, 0 },
	{ "max_connections", K_UINT, B(max_connections), 1, 65536 },
	{ "max_connections_per_uid", K_UINT, B(max_connections_per_uid), 1, 65536 },
	{ "max_operations_per_uid", K_UINT, B(max_operations_per_uid), 1, 4096 },
	{ "idle_timeout_sec", K_UINT, B(idle_timeout_sec), 1, 86400 },
	{ "session_bind_timeout_sec", K_UINT, B(session_bind_timeout_sec), 1, 3600 },
	{ "session_max_ttl_sec", K_UINT, B(session_max_ttl_sec), 0, 31u * 86400 },
	{ "max_session_credentials_per_user", K_UINT, B(max_session_credentials_per_user), 1, 64 },
	{ "log_level", K_LOGLEVEL, B(log_level), 0, 0 },
	{ "policy_dir", K_ABSPATH, B(policy_dir), 0, 0 },
	{ "audit_file", K_ABSPATH, B(audit_file), 0, 0 },
	{ "transcript_dir", K_ABSPATH, B(transcript_dir), 0, 0 },
	{ "audit_redact_file", K_ABSPATH_OR_EMPTY, B(audit_redact_file), 0, 0 },
	{ "audit_builtin_redactions", K_BOOL, B(audit_builtin_redactions), 0, 0 },
};

static const struct key host_keys[] = {
	{ "port", K_UINT, H(port), 1, 65535 },
	{ "scheme", K_SCHEME, H(https), 0, 0 },
	{ "path", K_URLPATH, H(path), 0, 0 },
	{ "pin", K_PINS, H(pins), 0, 0 },
	{ "transport", K_TRANSPORTS, H(transports), 0, 0 },
	{ "server_cert_validation", K_CERTVAL, H(validate_cert), 0, 0 },
	{ "allow_cert_validation_ignore", K_BOOL, H(allow_cert_validation_ignore), 0, 0 },
	{ "ca_trust_path", K_ABSPATH_OR_EMPTY, H(ca_trust_path), 0, 0 },
	{ "ca_trust_paths_allowed", K_CALIST, H(ca_allowed), 0, 0 },
	{ "message_encryption", K_MSGENC, H(message_encryption), 0, 0 },
	{ "operation_timeout_sec", K_UINT, H(operation_timeout_sec), 1, 86400 },
	{ "read_timeout_sec", K_UINT, H(read_timeout_sec), 1, 86400 },
	{ "max_operation_timeout_sec", K_UINT, H(max_operation_timeout_sec), 1, 86400 },
	{ "kerberos_delegation", K_BOOL, H(kerberos_delegation), 0, 0 },
	{ "allow_kerberos_delegation", K_BOOL, H(allow_kerberos_delegation), 0, 0 },
	{ "kerberos_hostname_override", K_HOSTNAME_OR_EMPTY, H(kerberos_hostname_override), 0, 0 },
	{ "service", K_SERVICE, H(service), 0, 0 },
	{ "send_cbt", K_BOOL, H(send_cbt), 0, 0 },
	{ "allow_disable_cbt", K_BOOL, H(allow_disable_cbt), 0, 0 },
	{ "credssp_disable_tlsv1_2", K_BOOL, H(credssp_disable_tlsv1_2), 0, 0 },
	{ "allow_credssp_disable_tlsv1_2", K_BOOL, H(allow_credssp_disable_tlsv1_2), 0, 0 },
	{ "credssp_min_version", K_UINT, H(credssp_min_version), 2, 6 },
};

#define N_BROKER_KEYS (sizeof(broker_keys) / sizeof(broker_keys[0]))
#define N_HOST_KEYS (sizeof(host_keys) / sizeof(host_keys[0]))

struct parser {
	const char *name;
	unsigned line;
	struct wb_config *c;
	enum section_kind sec;
	unsigned sec_line;
	unsigned key_line[N_HOST_KEYS > N_BROKER_KEYS ? N_HOST_KEYS : N_BROKER_KEYS];
	unsigned broker_line;
	unsigned catch_all_line;
	struct wb_error *err;
};

static int perr(const struct parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(const struct parser *p, unsigned line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line == 0)	/* not from a file: a command-line override */
		return wb_error_set(p->err, WB_E_CONFIG, "%s: %s", p->name, msg);
	return wb_error_set(p->err, WB_E_CONFIG, "%s:%u: %s", p->name, line, msg);
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long x = 0;
	size_t i, n = strlen(v);

	if (n == 0 || n > 9 || !all_digits(v, n))
		return -1;
	for (i = 0; i < n; i++)
		x = x * 10 + (unsigned long)(v[i] - '0');
	if (x < min || x > max)
		return -1;
	*out = (unsigned)x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

/* One word from a list separated by spaces, tabs or commas; NULL at the end. */
static char *next_item(char **cursor)
{
	char *s = *cursor, *start;

	while (*s == ',' || is_space(*s))
		s++;
	if (!*s)
		return NULL;
	start = s;
	while (*s && *s != ',' && !is_space(*s))
		s++;
	if (*s)
		*s++ = '\0';
	*cursor = s;
	return start;
}

static int set_string(const struct parser *p, const struct key *k, char *field, const char *v)
{
	size_t n = strlen(v);

	if (n >= k->size)
		return perr(p, p->line, "%s: longer than %zu characters", k->name, k->size - 1);
	memcpy(field, v, n + 1);
	return 0;
}

static int set_abspath(const struct parser *p, const struct key *k, char *field, const char *v,
		       bool empty_ok)
{
	if (!*v && empty_ok)
		return set_string(p, k, field, v);
	if (v[0] != '/')
		return perr(p, p->line, "%s: '%s' is not an absolute path", k->name, v);
	return set_string(p, k, field, v);
}

static bool name_chars(const char *v, size_t max)
{
	size_t i, n = strlen(v);

	if (n == 0 || n > max || v[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum(v[i]) && v[i] != '.' && v[i] != '_' && v[i] != '-')
			return false;
	return true;
}

bool wb_service_valid(const char *v)
{
	return name_chars(v, WB_SERVICE_MAX);
}

/* RFC 3986 path characters, minus anything that would need escaping. */
bool wb_url_path_valid(const char *v)
{
	const char *s;

	if (v[0] != '/' || strlen(v) > WB_PATH_MAX_LEN)
		return false;
	for (s = v; *s; s++)
		if (!is_alnum(*s) && !strchr("/-._~%!$&'()*+,;=:@", *s))
			return false;
	return true;
}

static int set_transports(const struct parser *p, struct wb_host_section *h, char *v)
{
	enum wb_transport t;
	size_t i, n = 0;
	char *item;

	while ((item = next_item(&v))) {
		if (wb_transport_parse(item, &t) < 0)
			return perr(p, p->line, "transport: unknown transport '%s' (known: basic, "
				    "certificate, ntlm, kerberos, negotiate, credssp)", item);
		for (i = 0; i < n; i++)
			if (h->transports[i] == t)
				return perr(p, p->line, "transport: '%s' listed twice", item);
		h->transports[n++] = t;	/* no overflow: six names, no repeats */
	}
	if (n == 0)
		return perr(p, p->line, "transport: empty list; name at least one transport");
	h->n_transports = n;
	return 0;
}

static int set_pins(const struct parser *p, struct wb_host_section *h, char *v)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "port", WB_PIN_PORT }, { "scheme", WB_PIN_SCHEME }, { "path", WB_PIN_PATH },
		{ "service", WB_PIN_SERVICE }, { "kerberos_hostname_override", WB_PIN_KRB_HOSTNAME },
	};
	unsigned pins = 0, bit;
	size_t i;
	char *item;

	while ((item = next_item(&v))) {
		for (i = 0, bit = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(item, names[i].name))
				bit = names[i].bit;
		if (!bit)
			return perr(p, p->line, "pin: cannot pin '%s' (pinnable: port, scheme, path, "
				    "service, kerberos_hostname_override)", item);
		if (pins & bit)
			return perr(p, p->line, "pin: '%s' listed twice", item);
		pins |= bit;
	}
	h->pins = pins;
	return 0;
}

static int set_ca_list(const struct parser *p, struct wb_host_section *h, char *v)
{
	size_t i;
	char *item;

	while ((item = next_item(&v))) {
		if (item[0] != '/' || strlen(item) > WB_PATH_MAX_LEN)
			return perr(p, p->line, "ca_trust_paths_allowed: '%s' is not an absolute path "
				    "of at most %d characters", item, WB_PATH_MAX_LEN);
		for (i = 0; i < h->n_ca_allowed; i++)
			if (!strcmp(h->ca_allowed[i], item))
				return perr(p, p->line, "ca_trust_paths_allowed: '%s' listed twice", item);
		if (h->n_ca_allowed == WB_CA_ALLOWED_MAX)
			return perr(p, p->line, "ca_trust_paths_allowed: more than %d paths",
				    WB_CA_ALLOWED_MAX);
		h->ca_allowed[h->n_ca_allowed] = strdup(item);
		if (!h->ca_allowed[h->n_ca_allowed])
			return wb_error_set(p->err, WB_E_INTERNAL, "config: out of memory");
		h->n_ca_allowed++;
	}
	return 0;
}

/* Looks v up in words; -1 when it is none of them. */
static int find_word(const char *v, const char *const *words, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v, words[i]))
			return (int)i;
	return -1;
}

static int set_hostname(const struct parser *p, const struct key *k, char *field, const char *v)
{
	struct wb_error e = { 0 };

	field[0] = '\0';
	if (*v && wb_host_normalize(v, field, k->size, &e) < 0)
		return perr(p, p->line, "%s: %s", k->name, e.msg);
	return 0;
}

static int set_value(struct parser *p, const struct key *k, void *base, char *v)
{
	static const char *const levels[] = { "err", "warning", "notice", "info", "debug" };
	static const int level_values[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	static const char *const encs[] = { "auto", "always", "never" };
	static const enum wb_msg_encryption enc_values[] = {
		WB_MSGENC_AUTO, WB_MSGENC_ALWAYS, WB_MSGENC_NEVER,
	};
	struct wb_host_section *h = base;
	char *field = (char *)base + k->off;
	int i;

	switch (k->type) {
	case K_UINT:
		if (parse_uint(v, k->min, k->max, (unsigned *)(void *)field) < 0)
			return perr(p, p->line, "%s: '%s' is not a whole number from %u to %u",
				    k->name, v, k->min, k->max);
		return 0;
	case K_BOOL:
		if (parse_bool(v, (bool *)field) < 0)
			return perr(p, p->line, "%s: '%s' is not yes, no, true, false, 1 or 0",
				    k->name, v);
		return 0;
	case K_ABSPATH:
	case K_ABSPATH_OR_EMPTY:
		return set_abspath(p, k, field, v, k->type == K_ABSPATH_OR_EMPTY);
	case K_GROUP:
		if (*v && !name_chars(v, k->size - 1))
			return perr(p, p->line, "admin_group: '%s' is not a group name", v);
		return set_string(p, k, field, v);
	case K_LOGLEVEL:
		i = find_word(v, levels, 5);
		if (i < 0)
			return perr(p, p->line, "log_level: '%s' is not err, warning, notice, info "
				    "or debug", v);
		*(int *)(void *)field = level_values[i];
		return 0;
	case K_SCHEME:
		if (strcmp(v, "http") && strcmp(v, "https"))
			return perr(p, p->line, "scheme: '%s' is not http or https", v);
		h->has_scheme = true;
		h->https = !strcmp(v, "https");
		return 0;
	case K_URLPATH:
		if (!wb_url_path_valid(v))
			return perr(p, p->line, "path: '%s' is not a URL path starting with '/' "
				    "(letters, digits and /-._~%%!$&'()*+,;=:@ only)", v);
		return set_string(p, k, field, v);
	case K_TRANSPORTS:
		return set_transports(p, h, v);
	case K_PINS:
		return set_pins(p, h, v);
	case K_CERTVAL:
		if (strcmp(v, "validate") && strcmp(v, "ignore"))
			return perr(p, p->line, "server_cert_validation: '%s' is not validate or ignore", v);
		h->validate_cert = !strcmp(v, "validate");
		return 0;
	case K_CALIST:
		return set_ca_list(p, h, v);
	case K_MSGENC:
		i = find_word(v, encs, 3);
		if (i < 0)
			return perr(p, p->line, "message_encryption: '%s' is not auto, always or never",
				    v);
		h->message_encryption = enc_values[i];
		return 0;
	case K_HOSTNAME_OR_EMPTY:
		return set_hostname(p, k, field, v);
	case K_SERVICE:
		if (!wb_service_valid(v))
			return perr(p, p->line, "service: '%s' is not a service class like HTTP "
				    "(letters, digits, '.', '_', '-'; at most %d)", v, WB_SERVICE_MAX);
		return set_string(p, k, field, v);
	}
	return wb_error_set(p->err, WB_E_INTERNAL, "config: unhandled key type");
}

static ssize_t key_index(const struct key *keys, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(keys[i].name, name))
			return (ssize_t)i;
	return -1;
}

static int apply_key(struct parser *p, const char *name, char *value)
{
	const struct key *keys = p->sec == SEC_BROKER ? broker_keys : host_keys;
	size_t n = p->sec == SEC_BROKER ? N_BROKER_KEYS : N_HOST_KEYS;
	void *base = p->sec == SEC_BROKER ? (void *)&p->c->broker
					  : (void *)&p->c->hosts[p->c->n_hosts - 1];
	ssize_t i = key_index(keys, n, name);

	if (i < 0)
		return perr(p, p->line, "unknown key '%s' in [%s] (see docs/config.md)", name,
			    p->sec == SEC_BROKER ? "broker" : "host");
	if (p->key_line[i])
		return perr(p, p->line, "duplicate key '%s' (first set at line %u)", name,
			    p->key_line[i]);
	p->key_line[i] = p->line;
	return set_value(p, &keys[i], base, value);
}

static bool key_set(const struct parser *p, const char *name)
{
	return p->key_line[key_index(host_keys, N_HOST_KEYS, name)] != 0;
}

/* Checks that need the whole section: pins name set values, timeouts agree. */
static int finish_host(const struct parser *p, const struct wb_host_section *h)
{
	static const struct { unsigned bit; const char *key; } pinned[] = {
		{ WB_PIN_PORT, "port" }, { WB_PIN_SCHEME, "scheme" }, { WB_PIN_PATH, "path" },
		{ WB_PIN_SERVICE, "service" },
		{ WB_PIN_KRB_HOSTNAME, "kerberos_hostname_override" },
	};
	size_t i;

	for (i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++)
		if ((h->pins & pinned[i].bit) && !key_set(p, pinned[i].key))
			return perr(p, p->sec_line, "[host %s]: pin names %s, but the section does "
				    "not set it; add '%s = ...'", h->pattern, pinned[i].key, pinned[i].key);
	if (h->operation_timeout_sec > h->max_operation_timeout_sec)
		return perr(p, p->sec_line, "[host %s]: operation_timeout_sec (%u) exceeds "
			    "max_operation_timeout_sec (%u)", h->pattern, h->operation_timeout_sec,
			    h->max_operation_timeout_sec);
	if (h->read_timeout_sec <= h->operation_timeout_sec)
		return perr(p, p->sec_line, "[host %s]: read_timeout_sec (%u) must be greater than "
			    "operation_timeout_sec (%u); WinRM holds a Receive for the operation "
			    "timeout", h->pattern, h->read_timeout_sec, h->operation_timeout_sec);
	return 0;
}

static int finish_broker(const struct parser *p)
{
	const struct wb_broker_settings *b = &p->c->broker;

	if (b->max_connections_per_uid > b->max_connections)
		return perr(p, p->broker_line, "[broker]: max_connections_per_uid (%u) exceeds "
			    "max_connections (%u)", b->max_connections_per_uid, b->max_connections);
	return 0;
}

static int finish_section(struct parser *p)
{
	int rc = 0;

	if (p->sec == SEC_HOST)
		rc = finish_host(p, &p->c->hosts[p->c->n_hosts - 1]);
	else if (p->sec == SEC_BROKER)
		rc = finish_broker(p);
	memset(p->key_line, 0, sizeof(p->key_line));
	p->sec = SEC_NONE;
	return rc;
}

static bool glob_chars(const char *s)
{
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr(".-_*?[]!:", *s))
			return false;
	return true;
}

/* Fills h's pattern: an IP literal (compared as an address) or a glob. */
static int set_pattern(struct parser *p, struct wb_host_section *h, const char *pat)
{
	size_t i, n = strlen(pat);
	const char *ip = pat;
	char inner[WB_HOST_MAX + 3];

	if (n == 0)
		return perr(p, p->line, "[host] needs a pattern, e.g. [host *.corp.example]");
	if (n > WB_HOST_MAX + 2)
		return perr(p, p->line, "host pattern longer than %d characters", WB_HOST_MAX);
	if (pat[0] == '[' && pat[n - 1] == ']' && n > 2) {
		memcpy(inner, pat + 1, n - 2);
		inner[n - 2] = '\0';
		ip = inner;
	}
	if (inet_pton(AF_INET6, ip, h->addr) == 1 ||
	    (ip == pat && inet_pton(AF_INET, ip, h->addr) == 1)) {	/* brackets: IPv6 only */
		if (wb_host_normalize(ip, h->pattern, sizeof(h->pattern), NULL) < 0)
			return perr(p, p->line, "host pattern '%s' is not a usable address", pat);
		h->is_addr = true;
		h->af = strchr(h->pattern, ':') ? AF_INET6 : AF_INET;
		inet_pton(h->af, h->pattern, h->addr);
		return 0;
	}
	if (n > WB_HOST_MAX || !glob_chars(pat))
		return perr(p, p->line, "host pattern '%s' is not a glob over host names "
			    "(letters, digits, . - _ * ? [ ] ! :) or an IP address", pat);
	for (i = 0; i <= n; i++)
		h->pattern[i] = to_lower(pat[i]);
	return 0;
}

static int add_host(struct parser *p, const char *pat)
{
	struct wb_config *c = p->c;
	struct wb_host_section *h;
	size_t i;
	int rc;

	if (c->n_hosts == WB_CONFIG_MAX_HOSTS)
		return perr(p, p->line, "more than %d [host] sections", WB_CONFIG_MAX_HOSTS);
	if (p->catch_all_line)
		return perr(p, p->line, "[host %s] can never match: [host *] at line %u comes first "
			    "and matches every host; move it to the end", pat, p->catch_all_line);
	if ((c->n_hosts & (c->n_hosts - 1)) == 0) {	/* full at 0, 1, 2, 4, ...: double */
		size_t cap = c->n_hosts ? c->n_hosts * 2 : 1;
		struct wb_host_section *nh = reallocarray(c->hosts, cap, sizeof(*nh));

		if (!nh)
			return wb_error_set(p->err, WB_E_INTERNAL, "config: out of memory");
		c->hosts = nh;
	}
	h = &c->hosts[c->n_hosts];
	section_defaults(h);
	h->line = p->line;
	c->n_hosts++;	/* now owned by c, so an error below frees it */
	rc = set_pattern(p, h, pat);
	if (rc < 0)
		return rc;
	for (i = 0; i + 1 < c->n_hosts; i++)
		if (!strcmp(c->hosts[i].pattern, h->pattern))
			return perr(p, p->line, "[host %s] repeats the section at line %u, which "
				    "always matches first", pat, c->hosts[i].line);
	if (!strcmp(h->pattern, "*"))
		p->catch_all_line = p->line;
	p->sec = SEC_HOST;
	p->sec_line = p->line;
	return 0;
}

static int start_section(struct parser *p, char *s)
{
	size_t n = strlen(s);
	char *inner;
	int rc;

	if (n < 2 || s[n - 1] != ']')
		return perr(p, p->line, "unterminated section header; expected [broker] or "
			    "[host PATTERN]");
	s[n - 1] = '\0';
	inner = wb_ini_trim(s + 1);
	rc = finish_section(p);
	if (rc < 0)
		return rc;
	if (!strcmp(inner, "broker")) {
		if (p->broker_line)
			return perr(p, p->line, "second [broker] section (the first is at line %u)",
				    p->broker_line);
		p->broker_line = p->line;
		p->sec = SEC_BROKER;
		p->sec_line = p->line;
		return 0;
	}
	if (!strncmp(inner, "host", 4) && (inner[4] == '\0' || is_space(inner[4]))) {
		char *pat = wb_ini_trim(inner + 4);

		if (strpbrk(pat, " \t"))
			return perr(p, p->line, "[host %s]: one pattern per section", pat);
		return add_host(p, pat);
	}
	return perr(p, p->line, "unknown section [%s]; expected [broker] or [host PATTERN]", inner);
}

static int parse_line(struct parser *p, char *line)
{
	struct wb_ini_line l;

	wb_ini_split(line, &l);
	switch (l.kind) {
	case WB_INI_BLANK:
		return 0;
	case WB_INI_BAD_CHAR:
		return perr(p, p->line, "control character 0x%02x at column %zu", l.bad_byte,
			    l.bad_col);
	case WB_INI_SECTION:
		return start_section(p, l.text);
	case WB_INI_NO_EQUALS:
		return perr(p, p->line, "expected 'key = value', a [section] or a # comment");
	case WB_INI_NO_KEY:
		return perr(p, p->line, "missing key before '='");
	case WB_INI_PAIR:
		break;
	}
	if (p->sec == SEC_NONE)
		return perr(p, p->line, "'%s' is outside any section; put it under [broker] or "
			    "[host PATTERN]", l.key);
	return apply_key(p, l.key, l.value);
}

static struct wb_config *config_new(const char *name)
{
	struct wb_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->name = strdup(name);
	if (!c->name) {
		free(c);
		return NULL;
	}
	broker_defaults(&c->broker);
	section_defaults(&c->builtin);
	return c;
}

int wb_config_parse(const uint8_t *data, size_t len, const char *name,
		    struct wb_config **out, struct wb_error *err)
{
	_cleanup_config_ struct wb_config *c = NULL;
	struct parser p = { .name = name, .err = err };
	char line[WB_CONFIG_MAX_LINE + 1];
	size_t pos = 0;
	int rc;

	*out = NULL;
	if (len > WB_CONFIG_MAX_SIZE)
		return wb_error_set(err, WB_E_CONFIG, "%s: larger than %d bytes", name,
				    WB_CONFIG_MAX_SIZE);
	c = config_new(name);
	if (!c)
		return wb_error_set(err, WB_E_INTERNAL, "config: out of memory");
	p.c = c;
	while (pos < len) {
		const uint8_t *nl = memchr(data + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;

		p.line++;
		if (n > WB_CONFIG_MAX_LINE)
			return perr(&p, p.line, "line longer than %d bytes", WB_CONFIG_MAX_LINE);
		if (memchr(data + pos, '\0', n))
			return perr(&p, p.line, "NUL byte in line");
		memcpy(line, data + pos, n);
		line[n] = '\0';
		rc = parse_line(&p, line);
		if (rc < 0)
			return rc;
		pos += n + (nl ? 1 : 0);
	}
	rc = finish_section(&p);
	if (rc < 0)
		return rc;
	if (!p.broker_line) {	/* defaults are consistent, but check them the same way */
		rc = finish_broker(&p);
		if (rc < 0)
			return rc;
	}
	*out = c;
	c = NULL;
	return 0;
}

/* The config decides who may do what, so only root (or the broker's own
 * user, for tests) may be able to change it, as OpenSSH's StrictModes. */
static int check_file(const char *path, const struct stat *st, struct wb_error *err)
{
	if (!S_ISREG(st->st_mode))
		return wb_error_set(err, WB_E_CONFIG, "%s: not a regular file", path);
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return wb_error_set(err, WB_E_CONFIG, "%s: owned by uid %u, not by root; "
				    "chown root %s", path, (unsigned)st->st_uid, path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return wb_error_set(err, WB_E_CONFIG, "%s: writable by group or others; "
				    "chmod go-w %s", path, path);
	if (st->st_size > WB_CONFIG_MAX_SIZE)
		return wb_error_set(err, WB_E_CONFIG, "%s: larger than %d bytes", path,
				    WB_CONFIG_MAX_SIZE);
	return 0;
}

int wb_config_load(const char *path, const char *default_path, struct wb_config **out,
		   struct wb_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	bool is_default = path == NULL;
	size_t len = 0;
	struct stat st;
	int rc;

	*out = NULL;
	if (is_default)
		path = default_path ? default_path : WB_CONFIG_DEFAULT_PATH;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && is_default)
		return wb_config_parse(NULL, 0, path, out, err);
	if (fd < 0)
		return wb_error_set(err, WB_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return wb_error_set(err, WB_E_CONFIG, "%s: cannot stat: %s", path, strerror(errno));
	rc = check_file(path, &st, err);
	if (rc < 0)
		return rc;
	/* One byte more than allowed, to see a file that grew since fstat. */
	buf = malloc(WB_CONFIG_MAX_SIZE + 1);
	if (!buf)
		return wb_error_set(err, WB_E_INTERNAL, "config: out of memory");
	while (len < WB_CONFIG_MAX_SIZE + 1) {
		ssize_t r = read(fd, buf + len, WB_CONFIG_MAX_SIZE + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wb_error_set(err, WB_E_CONFIG, "%s: cannot read: %s", path,
					    strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
	}
	return wb_config_parse(buf, len, path, out, err);
}

int wb_config_override(struct wb_config *c, const char *key, const char *value,
		       struct wb_error *err)
{
	struct parser p = { .name = "command line", .c = c, .sec = SEC_BROKER, .err = err };
	char v[WB_CONFIG_MAX_LINE + 1];
	size_t i, n = strlen(value);
	int rc;

	if (n > WB_CONFIG_MAX_LINE)
		return perr(&p, 0, "%s: value longer than %d bytes", key, WB_CONFIG_MAX_LINE);
	for (i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return perr(&p, 0, "%s: control character in value", key);
	memcpy(v, value, n + 1);
	rc = apply_key(&p, key, v);
	if (rc < 0)
		return rc;
	return finish_broker(&p);
}

void wb_config_free(struct wb_config *c)
{
	size_t i, j;

	if (!c)
		return;
	for (i = 0; i < c->n_hosts; i++)
		for (j = 0; j < c->hosts[i].n_ca_allowed; j++)
			free(c->hosts[i].ca_allowed[j]);
	free(c->hosts);
	free(c->name);
	free(c);
}

const struct wb_broker_settings *wb_config_broker(const struct wb_config *c)
{
	return &c->broker;
}

const char *wb_config_name(const struct wb_config *c)
{
	return c->name;
}

const struct wb_host_section *wb_config_match(const struct wb_config *c, const char *host)
{
	uint8_t a[16];
	int af = 0;
	size_t i;

	if (inet_pton(AF_INET6, host, a) == 1)
		af = AF_INET6;
	else if (inet_pton(AF_INET, host, a) == 1)
		af = AF_INET;
	for (i = 0; i < c->n_hosts; i++) {
		const struct wb_host_section *h = &c->hosts[i];

		if (h->is_addr) {
			if (af == h->af && !memcmp(a, h->addr, af == AF_INET ? 4 : 16))
				return h;
		} else if (fnmatch(h->pattern, host, 0) == 0) {
			return h;
		}
	}
	return &c->builtin;
}

void wb_config_describe(const struct wb_config *c, const struct wb_host_section *s,
			char *buf, size_t size)
{
	if (s->line == 0)
		snprintf(buf, size, "the built-in defaults (no [host] section of %s matched)",
			 c->name);
	else
		snprintf(buf, size, "%s:%u [host %s]", c->name, s->line, s->pattern);
}
