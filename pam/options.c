/* options.c - pam_winrm_broker's arguments and user mapping (see options.h, docs/pam.md). */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Windows refuses these in account and domain names (and \ and @ have a
 * meaning of their own here). */
#define NAME_FORBIDDEN "\"/\\[]:;|=,+*?<>"

static int fail(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (msg && size) {
		va_start(ap, fmt);
		vsnprintf(msg, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A value as it may be quoted in a message: at most 40 bytes. */
#define SHOW(v) (int)(strlen(v) > 40 ? 40 : strlen(v)), (v), (strlen(v) > 40 ? "..." : "")

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool has_any(const char *s, const char *set)
{
	return strpbrk(s, set) != NULL;
}

static int copy(char *dst, size_t size, const char *key, const char *v, char *msg, size_t n)
{
	size_t len = strlen(v);

	if (len == 0)
		return fail(msg, n, "option '%s=' is empty", key);
	if (len >= size)
		return fail(msg, n, "option '%s=' is longer than %zu bytes", key, size - 1);
	if (has_control(v))
		return fail(msg, n, "option '%s=' contains a control character", key);
	memcpy(dst, v, len + 1);
	return 0;
}

/* Decimal digits only (no sign, no space), at most max. */
static int number(const char *key, const char *v, uint64_t max, uint64_t *out, char *msg,
		  size_t n)
{
	uint64_t x = 0;
	const char *p = v;

	if (!*p)
		goto bad;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		x = x * 10 + (uint64_t)(*p - '0');
		if (x > max)
			goto bad;
	}
	*out = x;
	return 0;
bad:
	return fail(msg, n, "option '%s=' wants a whole number from 0 to %llu, not '%.*s%s'", key,
		    (unsigned long long)max, SHOW(v));
}

/* ---- one handler per option; value is NULL for a bare word ---- */

static int opt_socket(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	int rc = copy(o->socket, sizeof(o->socket), "socket", v, msg, n);

	if (rc == 0 && o->socket[0] != '/')
		return fail(msg, n, "option 'socket=' must be an absolute path, not '%.*s%s'", SHOW(v));
	return rc;
}

static int opt_name(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	struct wbc_error err;

	if (wbc_cred_name_check(v, &err) < 0)
		return fail(msg, n, "option 'name=': %s", err.message);
	return copy(o->name, sizeof(o->name), "name", v, msg, n);
}

static int qualifier(char *dst, size_t size, const char *key, const char *v, char *msg, size_t n)
{
	int rc = copy(dst, size, key, v, msg, n);

	if (rc == 0 && (has_any(v, NAME_FORBIDDEN "@ ")))
		return fail(msg, n, "option '%s=' is not a valid %s: '%.*s%s'", key,
			    strcmp(key, "realm") ? "domain name" : "realm", SHOW(v));
	return rc;
}

static int opt_domain(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	return qualifier(o->domain, sizeof(o->domain), "domain", v, msg, n);
}

static int opt_realm(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	return qualifier(o->realm, sizeof(o->realm), "realm", v, msg, n);
}

/* %u and %% only, at least one %u, at most one backslash. */
static int opt_format(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	const char *p;
	bool user = false;
	int rc = copy(o->format, sizeof(o->format), "format", v, msg, n);

	if (rc < 0)
		return rc;
	for (p = v; *p; p++) {
		if (*p != '%')
			continue;
		if (!p[1])
			return fail(msg, n, "option 'format=' ends with a lone %%; write %%%% for a %%");
		if (p[1] == 'u')
			user = true;
		else if (p[1] != '%')
			return fail(msg, n, "option 'format=': '%%%c' is not %%u or %%%%", p[1]);
		p++;
	}
	if (!user)
		return fail(msg, n, "option 'format=' has no %%u for the user name: '%.*s%s'", SHOW(v));
	p = strchr(v, '\\');
	if (p && strchr(p + 1, '\\'))
		return fail(msg, n, "option 'format=' has more than one backslash: '%.*s%s'", SHOW(v));
	return 0;
}

static int opt_ttl(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	uint64_t x;
	int rc = number("ttl", v, UINT32_MAX, &x, msg, n);

	if (rc == 0)
		o->ttl_sec = (uint32_t)x;
	return rc;
}

static int opt_timeout(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	uint64_t x;
	int rc = number("timeout", v, PWB_TIMEOUT_MAX_SEC, &x, msg, n);

	if (rc == 0 && x == 0)
		return fail(msg, n, "option 'timeout=' must be at least 1 second");
	if (rc == 0)
		o->timeout_sec = (int)x;
	return rc;
}

static int opt_minimum_uid(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	uint64_t x;
	int rc = number("minimum_uid", v, UINT32_MAX - 1, &x, msg, n);

	if (rc == 0)
		o->minimum_uid = (uint32_t)x;
	return rc;
}

static int opt_broker_user(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	int rc = copy(o->broker_user, sizeof(o->broker_user), "broker_user", v, msg, n);

	if (rc == 0 && has_any(v, " :/"))
		return fail(msg, n, "option 'broker_user=' is not a user name: '%.*s%s'", SHOW(v));
	return rc;
}

static int opt_broker_down(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	if (strcmp(v, "ignore") == 0)
		o->broker_down_fail = false;
	else if (strcmp(v, "fail") == 0)
		o->broker_down_fail = true;
	else
		return fail(msg, n, "option 'broker_down=' is ignore or fail, not '%.*s%s'", SHOW(v));
	return 0;
}

static int opt_validate(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	(void)v, (void)msg, (void)n;
	o->validate = true;
	return 0;
}

static int opt_delegate(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	(void)v, (void)msg, (void)n;
	o->delegate = true;
	return 0;
}

/* The password phase always takes PAM_AUTHTOK, the new password: this is
 * what use_authtok asks of other modules, so it is accepted and changes
 * nothing. */
static int opt_use_authtok(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	(void)o, (void)v, (void)msg, (void)n;
	return 0;
}

static int opt_debug(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	(void)v, (void)msg, (void)n;
	o->debug = true;
	return 0;
}

static int opt_use_first(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	(void)v;
	if (o->pass == PWB_PASS_TRY_FIRST)
		return fail(msg, n, "options 'use_first_pass' and 'try_first_pass' exclude each other");
	o->pass = PWB_PASS_USE_FIRST;
	return 0;
}

static int opt_try_first(struct pwb_options *o, const char *v, char *msg, size_t n)
{
	(void)v;
	if (o->pass == PWB_PASS_USE_FIRST)
		return fail(msg, n, "options 'use_first_pass' and 'try_first_pass' exclude each other");
	o->pass = PWB_PASS_TRY_FIRST;
	return 0;
}

struct opt_def {
	const char *key;
	bool has_value;
	int (*set)(struct pwb_options *o, const char *v, char *msg, size_t n);
};

static const struct opt_def opt_defs[] = {
	{ "socket", true, opt_socket },
	{ "name", true, opt_name },
	{ "domain", true, opt_domain },
	{ "realm", true, opt_realm },
	{ "format", true, opt_format },
	{ "ttl", true, opt_ttl },
	{ "timeout", true, opt_timeout },
	{ "minimum_uid", true, opt_minimum_uid },
	{ "broker_user", true, opt_broker_user },
	{ "broker_down", true, opt_broker_down },
	{ "validate", false, opt_validate },
	{ "delegate", false, opt_delegate },
	{ "use_authtok", false, opt_use_authtok },
	{ "debug", false, opt_debug },
	{ "use_first_pass", false, opt_use_first },
	{ "try_first_pass", false, opt_try_first },
};

#define N_OPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static const struct opt_def *find_opt(const char *arg, size_t key_len)
{
	size_t i;

	for (i = 0; i < N_OPTS; i++)
		if (strlen(opt_defs[i].key) == key_len && strncmp(opt_defs[i].key, arg, key_len) == 0)
			return &opt_defs[i];
	return NULL;
}

static int parse_one(const char *arg, struct pwb_options *o, bool seen[N_OPTS], char *msg,
		     size_t n)
{
	const char *eq = strchr(arg, '=');
	size_t key_len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct opt_def *d = find_opt(arg, key_len);

	if (!d)
		return fail(msg, n, "unknown option '%.*s%s'", SHOW(arg));
	if (d->has_value && !eq)
		return fail(msg, n, "option '%s' needs a value (%s=...)", d->key, d->key);
	if (!d->has_value && eq)
		return fail(msg, n, "option '%s' takes no value", d->key);
	if (seen[d - opt_defs])
		return fail(msg, n, "option '%s' is given twice", d->key);
	seen[d - opt_defs] = true;
	return d->set(o, eq ? eq + 1 : NULL, msg, n);
}

static void defaults(struct pwb_options *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->socket, sizeof(o->socket), "%s", WBC_DEFAULT_SOCKET);
	snprintf(o->name, sizeof(o->name), "%s", PWB_DEFAULT_NAME);
	snprintf(o->broker_user, sizeof(o->broker_user), "%s", PWB_DEFAULT_BROKER_USER);
	o->timeout_sec = PWB_DEFAULT_TIMEOUT_SEC;
	o->minimum_uid = 1;
	o->pass = PWB_PASS_DEFAULT;
}

int pwb_options_parse(int argc, const char **argv, struct pwb_options *o, char *msg,
		      size_t msg_size)
{
	bool seen[N_OPTS] = { false };
	char this_msg[PWB_MSG_MAX];
	int i, rc = 0;

	defaults(o);
	if (msg && msg_size)
		msg[0] = '\0';
	for (i = 0; i < argc; i++) {
		if (!argv[i])
			continue;
		if (parse_one(argv[i], o, seen, this_msg, sizeof(this_msg)) < 0 && rc == 0)
			rc = fail(msg, msg_size, "%s", this_msg);
	}
	if (rc == 0 && o->format[0] && (o->domain[0] || o->realm[0]))
		rc = fail(msg, msg_size, "option 'format=' excludes 'domain=' and 'realm=' "
			  "(put the domain or realm into the format)");
	return rc;
}

/* ---- mapping ---- */

/* Appends n bytes; false when the result would not fit. */
static bool append(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + n >= size)
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

/* format with %u and %% expanded, or -EINVAL when too long. */
static int expand(const char *format, const char *pam_user, char *out, size_t size)
{
	size_t len = 0;
	const char *p;

	out[0] = '\0';
	for (p = format; *p; p++) {
		bool ok;

		if (*p == '%' && p[1] == 'u')
			ok = append(out, size, &len, pam_user, strlen(pam_user));
		else if (*p == '%' && p[1] == '%')
			ok = append(out, size, &len, "%", 1);
		else
			ok = append(out, size, &len, p, 1);
		if (!ok)
			return -EINVAL;
		if (*p == '%')
			p++;	/* options.c accepted only %u and %% */
	}
	return 0;
}

static bool mapping_qualifies(const struct pwb_options *o)
{
	return o->domain[0] || o->realm[0] || has_any(o->format, "\\@");
}

static int check_pam_user(const struct pwb_options *o, const char *pam_user, char *msg, size_t n)
{
	if (!pam_user || !*pam_user)
		return fail(msg, n, "no user name");
	if (strlen(pam_user) > WBC_CRED_TEXT_MAX)
		return fail(msg, n, "the user name is longer than %d bytes", WBC_CRED_TEXT_MAX);
	if (has_control(pam_user))
		return fail(msg, n, "the user name contains a control character");
	if (mapping_qualifies(o) && has_any(pam_user, "\\@"))
		return fail(msg, n, "the user name '%.*s%s' is already qualified (has \\ or @) "
			    "and the options qualify it again", SHOW(pam_user));
	return 0;
}

/* The account part: no Windows-forbidden characters, at most one @ inside. */
static int check_account(const char *user, const char *domain, char *msg, size_t n)
{
	const char *at = strchr(user, '@');

	if (!*user)
		return fail(msg, n, "the mapped account has an empty user name");
	if (strlen(user) > WBC_CRED_TEXT_MAX || strlen(domain) > WBC_CRED_TEXT_MAX)
		return fail(msg, n, "the mapped account is longer than %d bytes", WBC_CRED_TEXT_MAX);
	if (has_any(user, NAME_FORBIDDEN) || (at && (at == user || !at[1] || strchr(at + 1, '@'))))
		return fail(msg, n, "'%.*s%s' is not a valid Windows user name", SHOW(user));
	if (has_any(domain, NAME_FORBIDDEN "@ "))
		return fail(msg, n, "'%.*s%s' is not a valid Windows domain name", SHOW(domain));
	return 0;
}

int pwb_map_user(const struct pwb_options *o, const char *pam_user, char *user, char *domain,
		 char *msg, size_t msg_size)
{
	/* Room for "DOMAIN\user" at their limits, and one byte to notice more. */
	char full[2 * WBC_CRED_TEXT_MAX + 3];
	const char *bs;
	int rc = check_pam_user(o, pam_user, msg, msg_size);

	user[0] = domain[0] = '\0';
	if (rc < 0)
		return rc;
	if (o->format[0])
		rc = expand(o->format, pam_user, full, sizeof(full));
	else
		rc = snprintf(full, sizeof(full), "%s%s%s", pam_user, o->realm[0] ? "@" : "",
			      o->realm) >= (int)sizeof(full) ? -EINVAL : 0;
	if (rc < 0)
		return fail(msg, msg_size, "the mapped account is longer than %d bytes",
			    WBC_CRED_TEXT_MAX);
	bs = strchr(full, '\\');
	if (bs && strchr(bs + 1, '\\'))
		return fail(msg, msg_size, "'%.*s%s' has more than one backslash", SHOW(full));
	if (bs && bs == full)
		return fail(msg, msg_size, "'%.*s%s' has an empty domain before the backslash",
			    SHOW(full));
	if (bs) {
		if ((size_t)(bs - full) > WBC_CRED_TEXT_MAX || strlen(bs + 1) > WBC_CRED_TEXT_MAX)
			return fail(msg, msg_size, "the mapped account is longer than %d bytes",
				    WBC_CRED_TEXT_MAX);
		memcpy(domain, full, (size_t)(bs - full));
		domain[bs - full] = '\0';
		memcpy(user, bs + 1, strlen(bs + 1) + 1);
	} else {
		if (strlen(full) > WBC_CRED_TEXT_MAX)
			return fail(msg, msg_size, "the mapped account is longer than %d bytes",
				    WBC_CRED_TEXT_MAX);
		memcpy(user, full, strlen(full) + 1);
		memcpy(domain, o->domain, strlen(o->domain) + 1);
	}
	rc = check_account(user, domain, msg, msg_size);
	if (rc < 0)
		user[0] = domain[0] = '\0';
	return rc;
}
