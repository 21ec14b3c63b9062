/* parse.c - a policy file's lines, [rule NAME] sections and keys
 * (docs/policy.md, "Format"); the values are parse_value.c's and timewin.c's. */
#include "policy_int.h"
#include "ini.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct key {
	const char *name;
	bool repeatable;	/* one entry per line: command_allow, command_deny */
	bool allow_only;	/* has no effect in an action = deny rule */
};

static const struct key keys[K_COUNT] = {
	[K_ACTION] = { "action", false, false },
	[K_USERS] = { "users", false, false },
	[K_GROUPS] = { "groups", false, false },
	[K_CREDENTIALS] = { "credentials", false, false },
	[K_HOSTS] = { "hosts", false, false },
	[K_TRANSPORTS] = { "transports", false, true },
	[K_COMMAND_ALLOW] = { "command_allow", true, true },
	[K_COMMAND_DENY] = { "command_deny", true, true },
	[K_ALLOW_DELEGATION] = { "allow_kerberos_delegation", false, true },
	[K_ALLOW_CERT_IGNORE] = { "allow_cert_validation_ignore", false, true },
	[K_MAX_CONCURRENT] = { "max_concurrent", false, true },
	[K_MAX_RUNTIME] = { "max_runtime_sec", false, true },
	[K_TIME] = { "time", false, false },
	[K_EXPIRES] = { "expires", false, false },
	[K_TRANSCRIPT] = { "transcript", false, true },
};

#define ALL_BUT_CREDSSP ((1u << PT_COUNT) - 1 - (1u << PT_CREDSSP))

struct parser {
	const char *name;	/* file name in messages */
	unsigned line;
	const struct wb_policy *into;	/* rules of earlier files, for name clashes */
	struct rule **rules;	/* this file's, in order */
	size_t n_rules;
	struct rule *cur;	/* the open [rule], also in rules */
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
	return wb_error_set(p->err, WB_E_CONFIG, "%s:%u: %s", p->name, line, msg);
}

static int oom(const struct parser *p)
{
	return wb_error_set(p->err, WB_E_INTERNAL, "policy: out of memory");
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* ---- keys ---- */

static int set_value(struct parser *p, enum rule_key k, char *v)
{
	struct rule *r = p->cur;
	struct why w = { "" };
	const char *bad = NULL;	/* a value error without its own message */
	int rc = 0;

	switch (k) {
	case K_ACTION:
		if (!strcmp(v, "allow") || !strcmp(v, "deny"))
			r->deny = v[0] == 'd';
		else
			bad = "expected allow or deny";
		break;
	case K_USERS:
	case K_GROUPS:
		rc = pv_subjects(v, k == K_USERS, r, &w);
		break;
	case K_CREDENTIALS:
		rc = pv_creds(v, r, &w);
		break;
	case K_HOSTS:
		rc = pv_hosts(v, r, &w);
		break;
	case K_TRANSPORTS:
		rc = pv_transports(v, r, &w);
		break;
	case K_COMMAND_ALLOW:
	case K_COMMAND_DENY:
		rc = pv_command(v, p->line, k == K_COMMAND_DENY, r, &w);
		break;
	case K_ALLOW_DELEGATION:
		bad = pv_bool(v, &r->allow_delegation) < 0 ? "expected yes or no" : NULL;
		break;
	case K_ALLOW_CERT_IGNORE:
		bad = pv_bool(v, &r->allow_cert_ignore) < 0 ? "expected yes or no" : NULL;
		break;
	case K_TRANSCRIPT:
		bad = pv_bool(v, &r->transcript) < 0 ? "expected yes or no" : NULL;
		break;
	case K_MAX_CONCURRENT:
		bad = pv_uint(v, 1, 4096, &r->max_concurrent) < 0 ? "expected 1..4096" : NULL;
		break;
	case K_MAX_RUNTIME:
		bad = pv_uint(v, 1, 30 * 86400, &r->max_runtime_sec) < 0 ?
			"expected 1..2592000 seconds (30 days)" : NULL;
		break;
	case K_TIME:
		rc = tw_parse_windows(v, r, &w);
		break;
	case K_EXPIRES:
		rc = tw_parse_expiry(v, r, &w);
		break;
	case K_COUNT:
		break;
	}
	if (bad)
		return perr(p, p->line, "%s: '%.64s': %s", keys[k].name, v, bad);
	if (rc < 0)
		return strcmp(w.msg, "out of memory") ? perr(p, p->line, "%s", w.msg) : oom(p);
	return 0;
}

static int apply_key(struct parser *p, const char *name, char *value)
{
	struct rule *r = p->cur;
	int k;

	for (k = 0; k < K_COUNT; k++)
		if (!strcmp(keys[k].name, name))
			break;
	if (k == K_COUNT)
		return perr(p, p->line, "unknown key '%.64s'", name);
	if (r->key_line[k] && !keys[k].repeatable)
		return perr(p, p->line, "'%s' set twice in [rule %s] (first at line %u)", name,
			    r->name, r->key_line[k]);
	if (!r->key_line[k])
		r->key_line[k] = p->line;
	if (!*value)
		return perr(p, p->line, "%s: empty value", name);
	return set_value(p, (enum rule_key)k, value);
}

/* ---- rules ---- */

static int finish_rule(struct parser *p)
{
	struct rule *r = p->cur;
	int k;

	if (!r)
		return 0;
	p->cur = NULL;
	if (!r->key_line[K_USERS] && !r->key_line[K_GROUPS])
		return perr(p, r->line, "[rule %s] names no users or groups; write e.g. "
			    "users = alice, or users = * for everyone", r->name);
	if (!r->key_line[K_CREDENTIALS])
		return perr(p, r->line, "[rule %s] has no credentials; write e.g. credentials = "
			    "personal, or credentials = *", r->name);
	if (!r->key_line[K_HOSTS])
		return perr(p, r->line, "[rule %s] has no hosts; write e.g. hosts = *.corp.example, "
			    "or hosts = * for every host", r->name);
	if (r->deny)
		for (k = 0; k < K_COUNT; k++)
			if (keys[k].allow_only && r->key_line[k])
				return perr(p, r->key_line[k], "'%s' has no effect in [rule %s], "
					    "which has action = deny (line %u)", keys[k].name,
					    r->name, r->key_line[K_ACTION]);
	if (!r->key_line[K_TRANSPORTS])
		r->transports = ALL_BUT_CREDSSP;
	return 0;
}

static bool rule_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
				  (s[0] >= '0' && s[0] <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static const struct rule *find_rule(const struct parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->into->n_rules; i++)
		if (!strcmp(p->into->rules[i]->name, name))
			return p->into->rules[i];
	for (i = 0; i < p->n_rules; i++)
		if (!strcmp(p->rules[i]->name, name))
			return p->rules[i];
	return NULL;
}

static int start_rule(struct parser *p, const char *name)
{
	const struct rule *other;
	struct rule **nr, *r;

	if (!rule_name_ok(name))
		return perr(p, p->line, "rule name '%.64s' must be 1..63 letters, digits, . _ - "
			    "starting with a letter or digit", name);
	other = find_rule(p, name);
	if (other)
		return perr(p, p->line, "rule name '%s' is already used at %s:%u", name,
			    other->file ? other->file : p->name, other->line);
	if (p->into->n_rules + p->n_rules >= WB_POLICY_MAX_RULES)
		return perr(p, p->line, "more than %d rules in the policy", WB_POLICY_MAX_RULES);
	r = calloc(1, sizeof(*r));
	if (!r)
		return oom(p);
	nr = reallocarray(p->rules, p->n_rules + 1, sizeof(*nr));
	if (!nr) {
		free(r);
		return oom(p);
	}
	p->rules = nr;
	p->rules[p->n_rules++] = r;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->line = p->line;
	p->cur = r;
	return 0;
}

static int start_section(struct parser *p, char *s)
{
	size_t n = strlen(s);
	char *inner;
	int rc;

	if (n < 2 || s[n - 1] != ']')
		return perr(p, p->line, "unterminated section header; expected [rule NAME]");
	s[n - 1] = '\0';
	inner = wb_ini_trim(s + 1);
	rc = finish_rule(p);
	if (rc < 0)
		return rc;
	if (strncmp(inner, "rule", 4) || (inner[4] && !is_blank(inner[4])))
		return perr(p, p->line, "unknown section [%.64s]; expected [rule NAME]", inner);
	inner = wb_ini_trim(inner + 4);
	if (!*inner)
		return perr(p, p->line, "[rule] needs a name, e.g. [rule ops-jump]");
	return start_rule(p, inner);
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
		return perr(p, p->line, "expected 'key = value', [rule NAME] or a # comment");
	case WB_INI_NO_KEY:
		return perr(p, p->line, "missing key before '='");
	case WB_INI_PAIR:
		break;
	}
	if (!p->cur)
		return perr(p, p->line, "'%.64s' is outside any rule; start one with [rule NAME]",
			    l.key);
	return apply_key(p, l.key, l.value);
}

/* ---- the file ---- */

static void free_rules(struct rule **rules, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		pv_rule_free(rules[i]);
	free(rules);
}

static size_t count_commands(struct rule **rules, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += rules[i]->n_allow + rules[i]->n_deny;
	return c;
}

static int parse_lines(struct parser *p, const uint8_t *buf, size_t len)
{
	char line[WB_POLICY_MAX_LINE + 1];
	size_t pos = 0;
	int rc;

	while (pos < len) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		p->line++;
		if (n > WB_POLICY_MAX_LINE)
			return perr(p, p->line, "line longer than %d bytes", WB_POLICY_MAX_LINE);
		if (memchr(buf + pos, '\0', n))
			return perr(p, p->line, "NUL byte in line");
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		rc = parse_line(p, line);
		if (rc < 0)
			return rc;
		pos += n + (nl ? 1 : 0);
	}
	return finish_rule(p);
}

static int adopt(struct wb_policy *into, struct parser *p, const char *name)
{
	struct rule **nr;
	char **nf, *file;
	size_t i;

	file = strdup(name);
	if (!file)
		return oom(p);
	nf = reallocarray(into->files, into->n_files + 1, sizeof(*nf));
	if (!nf) {
		free(file);
		return oom(p);
	}
	into->files = nf;
	nr = reallocarray(into->rules, into->n_rules + p->n_rules + 1, sizeof(*nr));
	if (!nr) {
		free(file);
		return oom(p);
	}
	into->rules = nr;
	into->files[into->n_files++] = file;
	for (i = 0; i < p->n_rules; i++) {
		p->rules[i]->file = file;
		into->rules[into->n_rules++] = p->rules[i];
	}
	into->n_commands += count_commands(p->rules, p->n_rules);
	free(p->rules);
	p->rules = NULL;
	p->n_rules = 0;
	return 0;
}

int wb_policy_parse(const uint8_t *buf, size_t len, const char *name, struct wb_policy *into,
		    struct wb_error *err)
{
	struct parser p = { .name = name, .into = into, .err = err };
	int rc;

	if (len > WB_POLICY_MAX_FILE)
		return wb_error_set(err, WB_E_CONFIG, "%s: larger than %d bytes", name,
				    WB_POLICY_MAX_FILE);
	rc = parse_lines(&p, buf, len);
	if (rc >= 0 && into->n_commands + count_commands(p.rules, p.n_rules) >
			       WB_POLICY_MAX_ALL_COMMANDS)
		rc = wb_error_set(err, WB_E_CONFIG, "%s: more than %d command entries in the "
				  "policy", name, WB_POLICY_MAX_ALL_COMMANDS);
	if (rc >= 0)
		rc = adopt(into, &p, name);
	free_rules(p.rules, p.n_rules);
	return rc;
}

struct wb_policy *wb_policy_new(void)
{
	return calloc(1, sizeof(struct wb_policy));
}

void wb_policy_free(struct wb_policy *p)
{
	size_t i;

	if (!p)
		return;
	free_rules(p->rules, p->n_rules);
	for (i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	free(p);
}

size_t wb_policy_rule_count(const struct wb_policy *p)
{
	return p ? p->n_rules : 0;
}
