/*
 * target.c - a host and its target options, checked on the client side so
 * a typo gets a clear message before anything is sent (the broker checks
 * again). Option names are Ansible's (ansible_winrm_<name>).
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MAX 253
#define PATH_MAX_LEN 1024
#define TIMEOUT_MAX 86400
#define TRANSPORTS_MAX 6

/* ASCII only: the caller's locale must not change what is accepted. */
static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alnum(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* The first n bytes of a and b are equal ignoring ASCII case. */
static bool same_nocase(const char *a, const char *b, size_t n)
{
	for (; n > 0; n--, a++, b++)
		if (lower(*a) != lower(*b))
			return false;
	return true;
}

static bool eq_nocase(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && same_nocase(a, b, strlen(a));
}

enum enc { ENC_U32, ENC_U8, ENC_STR, ENC_LIST };

struct opt_def {
	const char *name;
	uint16_t tag;
	enum enc enc;
	/* Checks value; writes the form to send into norm (NUL-terminated). */
	int (*check)(const struct opt_def *d, const char *value, char *norm, size_t size,
		     struct wbc_error *err);
	const char *words;	/* allowed words, for word options */
};

enum opt_id {
	OPT_PORT, OPT_SCHEME, OPT_PATH, OPT_TRANSPORT, OPT_CERT_VALIDATION, OPT_CA_TRUST_PATH,
	OPT_OPERATION_TIMEOUT, OPT_READ_TIMEOUT, OPT_MESSAGE_ENCRYPTION, OPT_KRB_DELEGATION,
	OPT_KRB_HOSTNAME, OPT_SERVICE, OPT_SEND_CBT, OPT_CREDSSP_NO_TLS12, N_OPTS
};

struct wbc_target {
	char host[HOST_MAX + 1];
	char *val[N_OPTS];	/* normalized values; NULL when not set */
};

static int bad(const struct opt_def *d, const char *value, const char *want, struct wbc_error *err)
{
	return wbci_seterr(err, WBC_E_INVALID, "bad value '%.64s' for option %s: expected %s",
			   value, d->name, want);
}

static int copy_norm(const char *v, char *norm, size_t size)
{
	size_t n = strlen(v);

	if (n >= size)
		return -1;
	memcpy(norm, v, n + 1);
	return 0;
}

static int check_uint(const struct opt_def *d, const char *v, unsigned long max,
		      char *norm, size_t size, struct wbc_error *err)
{
	char want[48];
	unsigned long n;
	char *end;

	snprintf(want, sizeof(want), "a number from 1 to %lu", max);
	if (!is_digit(v[0]) || strlen(v) > 9)
		return bad(d, v, want, err);
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*end || errno || n < 1 || n > max)
		return bad(d, v, want, err);
	snprintf(norm, size, "%lu", n);
	return 0;
}

static int check_port(const struct opt_def *d, const char *v, char *norm, size_t size,
		      struct wbc_error *err)
{
	return check_uint(d, v, 65535, norm, size, err);
}

static int check_timeout(const struct opt_def *d, const char *v, char *norm, size_t size,
			 struct wbc_error *err)
{
	return check_uint(d, v, TIMEOUT_MAX, norm, size, err);
}

/* One of d->words ("a|b|c"), any case; sent in lower case. */
static int check_word(const struct opt_def *d, const char *v, char *norm, size_t size,
		      struct wbc_error *err)
{
	const char *w = d->words;
	size_t n = strlen(v);
	char want[96];

	while (*w) {
		size_t wl = strcspn(w, "|");

		if (wl == n && same_nocase(w, v, n) && n < size) {
			memcpy(norm, w, n);
			norm[n] = '\0';
			return 0;
		}
		w += wl + (w[wl] == '|');
	}
	snprintf(want, sizeof(want), "one of %s", d->words);
	return bad(d, v, want, err);
}

static int check_bool(const struct opt_def *d, const char *v, char *norm, size_t size,
		      struct wbc_error *err)
{
	static const char *const yes[] = { "1", "true", "yes", "on", "y" };
	static const char *const no[] = { "0", "false", "no", "off", "n" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (eq_nocase(v, yes[i]))
			return copy_norm("1", norm, size);
		if (eq_nocase(v, no[i]))
			return copy_norm("0", norm, size);
	}
	return bad(d, v, "true or false (yes/no, on/off, 1/0)", err);
}

/* Printable ASCII without spaces: what a URL path or a file path needs. */
static bool printable(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v >= 0x7f)
			return false;
	return true;
}

static int check_abs_path(const struct opt_def *d, const char *v, char *norm, size_t size,
			  struct wbc_error *err)
{
	if (v[0] != '/' || strlen(v) > PATH_MAX_LEN || !printable(v) || copy_norm(v, norm, size))
		return bad(d, v, "an absolute path of printable characters, without spaces", err);
	return 0;
}

static bool dns_name_ok(const char *v)
{
	size_t n = strlen(v), label = 0, i;

	if (n == 0 || n > HOST_MAX || v[0] == '.' || v[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (is_alnum((char)ch) || ch == '-' || ch == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static int check_hostname(const struct opt_def *d, const char *v, char *norm, size_t size,
			  struct wbc_error *err)
{
	if (!dns_name_ok(v) || copy_norm(v, norm, size))
		return bad(d, v, "a host name", err);
	return 0;
}

static int check_service(const struct opt_def *d, const char *v, char *norm, size_t size,
			 struct wbc_error *err)
{
	size_t n = strlen(v), i;

	for (i = 0; i < n; i++)
		if (!is_alnum(v[i]) && !strchr("._-", v[i]))
			break;
	if (n == 0 || n > 63 || i < n || copy_norm(v, norm, size))
		return bad(d, v, "an SPN service class such as HTTP or WSMAN", err);
	return 0;
}

static const char transport_words[] = "basic|certificate|ntlm|kerberos|negotiate|credssp";

static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p; p += strcspn(p, ","), p += (*p == ',')) {
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* "Kerberos, basic" -> "kerberos,basic": known names, no repeats. */
static int check_transports(const struct opt_def *d, const char *v, char *norm, size_t size,
			    struct wbc_error *err)
{
	const struct opt_def word = { .name = d->name, .words = transport_words };
	size_t used = 0, count = 0;
	const char *p = v;

	norm[0] = '\0';
	for (;;) {
		char item[32], one[32];
		size_t n;
		int rc;

		p += strspn(p, " \t");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof(item))
			return bad(d, v, "a comma-separated list of basic, certificate, ntlm, "
				   "kerberos, negotiate, credssp", err);
		memcpy(item, p, n);
		item[n] = '\0';
		rc = check_word(&word, item, one, sizeof(one), err);
		if (rc < 0)
			return rc;
		if (listed(norm, one))
			return bad(d, v, "each transport at most once", err);
		if (++count > TRANSPORTS_MAX || used + strlen(one) + 2 > size)
			return bad(d, v, "at most 6 transports", err);
		used += (size_t)snprintf(norm + used, size - used, "%s%s", used ? "," : "", one);
		p += strcspn(p, ",");
		if (*p != ',')
			return 0;
		p++;
	}
}

static const struct opt_def opts[N_OPTS] = {
	[OPT_PORT] = { "port", WB_A_PORT, ENC_U32, check_port, NULL },
	[OPT_SCHEME] = { "scheme", WB_A_SCHEME, ENC_STR, check_word, "http|https" },
	[OPT_PATH] = { "path", WB_A_PATH, ENC_STR, check_abs_path, NULL },
	[OPT_TRANSPORT] = { "transport", WB_A_TRANSPORT, ENC_LIST, check_transports, NULL },
	[OPT_CERT_VALIDATION] = { "server_cert_validation", WB_A_CERT_VALIDATION, ENC_STR,
				  check_word, "validate|ignore" },
	[OPT_CA_TRUST_PATH] = { "ca_trust_path", WB_A_CA_TRUST_PATH, ENC_STR, check_abs_path,
				NULL },
	[OPT_OPERATION_TIMEOUT] = { "operation_timeout_sec", WB_A_OPERATION_TIMEOUT, ENC_U32,
				    check_timeout, NULL },
	[OPT_READ_TIMEOUT] = { "read_timeout_sec", WB_A_READ_TIMEOUT, ENC_U32, check_timeout, NULL },
	[OPT_MESSAGE_ENCRYPTION] = { "message_encryption", WB_A_MESSAGE_ENCRYPTION, ENC_STR,
				     check_word, "auto|always|never" },
	[OPT_KRB_DELEGATION] = { "kerberos_delegation", WB_A_KERBEROS_DELEGATION, ENC_U8,
				 check_bool, NULL },
	[OPT_KRB_HOSTNAME] = { "kerberos_hostname_override", WB_A_KRB_HOSTNAME_OVERRIDE, ENC_STR,
			       check_hostname, NULL },
	[OPT_SERVICE] = { "service", WB_A_SERVICE, ENC_STR, check_service, NULL },
	[OPT_SEND_CBT] = { "send_cbt", WB_A_SEND_CBT, ENC_U8, check_bool, NULL },
	[OPT_CREDSSP_NO_TLS12] = { "credssp_disable_tlsv1_2", WB_A_CREDSSP_DISABLE_TLSV1_2, ENC_U8,
				   check_bool, NULL },
};

static const struct opt_def *find_opt(const char *name)
{
	size_t i;

	/* Accept the inventory spelling too: ansible_winrm_port=5986. */
	if (strncmp(name, "ansible_winrm_", 14) == 0)
		name += 14;
	for (i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

/* An IPv6 literal, optionally with a %zone. */
static bool ipv6_ok(const char *v)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a;
	const char *zone = strchr(v, '%');
	size_t n = zone ? (size_t)(zone - v) : strlen(v);

	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, v, n);
	addr[n] = '\0';
	if (zone && (!zone[1] || strlen(zone + 1) > 15 || !dns_name_ok(zone + 1)))
		return false;
	return inet_pton(AF_INET6, addr, &a) == 1;
}

/* DNS name, IPv4, or IPv6 literal (brackets optional, removed). */
static int check_host(const char *host, char *out, size_t size, struct wbc_error *err)
{
	size_t n = strlen(host);
	bool bracketed = n >= 2 && host[0] == '[' && host[n - 1] == ']';
	const char *name = bracketed ? host + 1 : host;

	if (bracketed)
		n -= 2;
	if (n > 0 && n <= HOST_MAX && n < size) {
		memcpy(out, name, n);
		out[n] = '\0';
		/* Brackets belong to IPv6 literals only. */
		if (strchr(out, ':') ? ipv6_ok(out) : !bracketed && dns_name_ok(out))
			return 0;
	}
	return wbci_seterr(err, WBC_E_INVALID,
			   "bad host '%.64s': expected a host name, an IPv4 address or an IPv6 address",
			   host);
}

int wbc_target_new(const char *host, struct wbc_target **out, struct wbc_error *err)
{
	struct wbc_target *t;
	int rc;

	*out = NULL;
	if (!host)
		return wbci_seterr(err, WBC_E_INVALID, "no host given");
	t = calloc(1, sizeof(*t));
	if (!t)
		return wbci_seterr(err, WBC_E_INTERNAL, "out of memory");
	rc = check_host(host, t->host, sizeof(t->host), err);
	if (rc < 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int wbc_target_set(struct wbc_target *t, const char *name, const char *value,
		   struct wbc_error *err)
{
	const struct opt_def *d = name ? find_opt(name) : NULL;
	char norm[PATH_MAX_LEN + 1];
	char *copy;
	int rc;

	if (!d)
		return wbci_seterr(err, WBC_E_INVALID,
				   "unknown option '%.64s'; known: port, scheme, path, transport, "
				   "server_cert_validation, ca_trust_path, operation_timeout_sec, "
				   "read_timeout_sec, message_encryption, kerberos_delegation, "
				   "kerberos_hostname_override, service, send_cbt, "
				   "credssp_disable_tlsv1_2", name ? name : "");
	if (!value)
		return bad(d, "", "a value", err);
	rc = d->check(d, value, norm, sizeof(norm), err);
	if (rc < 0)
		return rc;
	copy = strdup(norm);
	if (!copy)
		return wbci_seterr(err, WBC_E_INTERNAL, "out of memory");
	free(t->val[d - opts]);
	t->val[d - opts] = copy;
	return 0;
}

void wbc_target_free(struct wbc_target *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < N_OPTS; i++)
		free(t->val[i]);
	free(t);
}

/* Caught here rather than by the broker because the fix is the caller's. */
static int check_timeouts(const struct wbc_target *t, struct wbc_error *err)
{
	const char *op = t->val[OPT_OPERATION_TIMEOUT], *rd = t->val[OPT_READ_TIMEOUT];

	if (op && rd && strtoul(rd, NULL, 10) <= strtoul(op, NULL, 10))
		return wbci_seterr(err, WBC_E_INVALID,
				   "read_timeout_sec (%s) must be greater than operation_timeout_sec (%s)",
				   rd, op);
	return 0;
}

static int put_opt(const struct opt_def *d, const char *v, struct wb_writer *w)
{
	char item[32];
	size_t n;
	int rc = 0;

	switch (d->enc) {
	case ENC_U32:
		return wb_msg_put_u32(w, d->tag, (uint32_t)strtoul(v, NULL, 10));
	case ENC_U8:
		return wb_msg_put_u8(w, d->tag, (uint8_t)(v[0] == '1'));
	case ENC_STR:
		return wb_msg_put_str(w, d->tag, v);
	case ENC_LIST:
		/* One attribute per name, in order (normalized: "a,b"). */
		while (rc == 0 && *v) {
			n = strcspn(v, ",");
			if (n >= sizeof(item))
				return -EINVAL;
			memcpy(item, v, n);
			item[n] = '\0';
			rc = wb_msg_put_str(w, d->tag, item);
			v += n + (v[n] == ',');
		}
		return rc;
	}
	return -EINVAL;
}

int wbci_target_put(const struct wbc_target *t, struct wb_writer *w, struct wbc_error *err)
{
	size_t i;
	int rc = check_timeouts(t, err);

	if (rc < 0)
		return rc;
	rc = wb_msg_put_str(w, WB_A_HOST, t->host);
	for (i = 0; i < N_OPTS && rc == 0; i++)
		if (t->val[i])
			rc = put_opt(&opts[i], t->val[i], w);
	if (rc < 0)
		return wbci_seterr(err, WBC_E_INTERNAL, "encoding the target options: %s",
				   strerror(-rc));
	return 0;
}

bool wbci_cred_name_ok(const char *name)
{
	size_t n, i;

	if (!name || !is_alnum(name[0]))
		return false;
	n = strlen(name);
	if (n > WBC_CRED_NAME_MAX)
		return false;
	for (i = 1; i < n; i++)
		if (!is_alnum(name[i]) && !strchr("._@-", name[i]))
			return false;
	return true;
}

int wbc_cred_name_check(const char *name, struct wbc_error *err)
{
	if (wbci_cred_name_ok(name))
		return 0;
	return wbci_seterr(err, WBC_E_INVALID,
			   "bad credential name '%.64s': 1 to 64 characters of A-Z a-z 0-9 . _ @ -, "
			   "starting with a letter or digit", name ? name : "");
}
