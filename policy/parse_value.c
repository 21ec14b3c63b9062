/* parse_value.c - the values of a rule's keys: subjects, credentials,
 * hosts, transports, command entries (docs/policy.md, "Keys"). */
#include "policy_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct why *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

char *pv_next_item(char **cursor)
{
	char *s = *cursor, *start;

	while (*s == ',' || is_blank(*s))
		s++;
	if (!*s)
		return NULL;
	start = s;
	while (*s && *s != ',' && !is_blank(*s))
		s++;
	if (*s)
		*s++ = '\0';
	*cursor = s;
	return start;
}

int pv_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long x = 0;

	if (!all_digits(v) || strlen(v) > 10)
		return -1;
	for (; *v; v++)
		x = x * 10 + (unsigned)(*v - '0');
	if (x < min || x > max)
		return -1;
	*out = (unsigned)x;
	return 0;
}

int pv_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

/* Appends one zeroed element to a growing array; NULL when out of memory. */
static void *grow(void *arrayp, size_t *n, size_t size)
{
	void **array = arrayp;
	char *a = *array;

	if ((*n & (*n - 1)) == 0) {	/* full at 0, 1, 2, 4, ...: double */
		a = reallocarray(a, *n ? *n * 2 : 1, size);
		if (!a)
			return NULL;
		*array = a;
	}
	memset(a + *n * size, 0, size);
	return a + (*n)++ * size;
}

/* ---- users, groups ---- */

/* Account names as NSS (SSSD, winbind) gives them: alice, alice@corp.example,
 * CORP\alice, host$. No blanks or commas: they separate list items. */
static bool account_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr("._-@$\\", *s))
			return false;
	return true;
}

int pv_subjects(char *v, bool users, struct rule *r, struct why *w)
{
	const char *what = users ? "users" : "groups";
	struct subject **list = users ? &r->users : &r->groups;
	size_t *n = users ? &r->n_users : &r->n_groups;
	char *item;
	unsigned id = 0;

	while ((item = pv_next_item(&v))) {
		struct subject *s;

		if (users && !strcmp(item, "*")) {
			r->any_user = true;
			continue;
		}
		if (all_digits(item)) {
			if (pv_uint(item, 0, 4294967294u, &id) < 0)
				return fail(w, "%s: '%s' is not a %s (0..4294967294)", what, item,
					    users ? "uid" : "gid");
		} else if (!account_name_ok(item)) {
			return fail(w, "%s: '%s' is not a %s name (letters, digits, . _ - @ $ \\; "
				    "a number is a %s)%s", what, item, users ? "user" : "group",
				    users ? "uid" : "gid",
				    !users && !strcmp(item, "*") ? "; for everyone write users = *" : "");
		}
		s = grow(list, n, sizeof(**list));
		if (!s)
			return fail(w, "out of memory");
		if (!all_digits(item)) {
			s->name = strdup(item);
			if (!s->name)
				return fail(w, "out of memory");
		} else {
			s->id = id;
		}
	}
	if (*n == 0 && !(users && r->any_user))
		return fail(w, "%s: empty list", what);
	return 0;
}

/* ---- globs ---- */

/* A glob of fnmatch(3) over names made of name_chars: '*', '?', and
 * closed, non-empty [...] / [!...] classes. */
static bool glob_ok(const char *s, const char *name_chars, const char **bad)
{
	for (; *s; s++) {
		if (*s == '[') {
			const char *c = s + 1;

			if (*c == '!')
				c++;
			if (*c == ']' || !*c || !strchr(c, ']')) {
				*bad = "an unclosed or empty [ ] class";
				return false;
			}
			for (; *c != ']'; c++)
				if (!is_alnum(*c) && !strchr(name_chars, *c) && *c != '-') {
					*bad = "a character that cannot occur in a name inside [ ]";
					return false;
				}
			s = c;
		} else if (*s == ']') {
			*bad = "a ']' without '['";
			return false;
		} else if (!is_alnum(*s) && *s != '*' && *s != '?' && !strchr(name_chars, *s)) {
			*bad = "a character that cannot occur in a name";
			return false;
		}
	}
	return true;
}

/* ---- credentials ---- */

int pv_creds(char *v, struct rule *r, struct why *w)
{
	char *item;

	while ((item = pv_next_item(&v))) {
		bool personal = !strncmp(item, "personal", 8) && (!item[8] || item[8] == ':');
		const char *glob = personal ? (item[8] ? item + 9 : NULL) : item;
		const char *bad = "";
		struct cred_item *c;

		if (glob && (!*glob || strlen(glob) > 64 || !glob_ok(glob, "._@-", &bad)))
			return fail(w, "credentials: '%s' is not a credential name or glob%s%s",
				    item, *bad ? ": " : "", bad);
		c = grow(&r->creds, &r->n_creds, sizeof(*c));
		if (!c)
			return fail(w, "out of memory");
		c->personal = personal;
		if (glob && !(c->glob = strdup(glob)))
			return fail(w, "out of memory");
	}
	if (r->n_creds == 0)
		return fail(w, "credentials: empty list");
	return 0;
}

/* ---- hosts ---- */

/* An IPv4-mapped IPv6 address is matched as the IPv4 address, the way
 * wb_host_normalize spells it. */
static void unmap_v4(struct host_item *h)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (h->af == AF_INET6 && memcmp(h->addr, v4mapped, 12) == 0 && h->prefix >= 96) {
		h->af = AF_INET;
		memmove(h->addr, h->addr + 12, 4);
		memset(h->addr + 4, 0, 12);
		h->prefix -= 96;
	}
}

static bool parse_addr(const char *s, struct host_item *h)
{
	char inner[64];
	size_t n = strlen(s);

	if (n > 2 && n < sizeof(inner) + 2 && s[0] == '[' && s[n - 1] == ']') {
		memcpy(inner, s + 1, n - 2);	/* [2001:db8::1]: IPv6 only */
		inner[n - 2] = '\0';
		h->af = AF_INET6;
		return inet_pton(AF_INET6, inner, h->addr) == 1;
	}
	if (inet_pton(AF_INET, s, h->addr) == 1) {
		h->af = AF_INET;
		return true;
	}
	h->af = AF_INET6;
	return inet_pton(AF_INET6, s, h->addr) == 1;
}

static int host_cidr(char *item, struct host_item *h, struct why *w)
{
	char *slash = strchr(item, '/');
	unsigned bits, max, i;

	*slash = '\0';
	if (!parse_addr(item, h))
		return fail(w, "hosts: bad CIDR '%s/%s': '%s' is not an IPv4 or IPv6 address",
			    item, slash + 1, item);
	max = h->af == AF_INET ? 32 : 128;
	if (pv_uint(slash + 1, 0, max, &bits) < 0)
		return fail(w, "hosts: bad CIDR '%s/%s': the prefix length must be 0..%u",
			    item, slash + 1, max);
	for (i = bits; i < max; i++)
		if (h->addr[i / 8] & (0x80 >> (i % 8)))
			return fail(w, "hosts: bad CIDR '%s/%s': bits are set after the first %u; "
				    "write the network address", item, slash + 1, bits);
	h->prefix = bits;
	unmap_v4(h);
	return 0;
}

static int host_item(char *item, struct host_item *h, struct why *w)
{
	const char *bad = "";
	size_t i;

	if (strchr(item, '/'))
		return host_cidr(item, h, w);
	if (parse_addr(item, h)) {
		h->prefix = h->af == AF_INET ? 32 : 128;
		unmap_v4(h);
		return 0;
	}
	if (strlen(item) > 253 || !glob_ok(item, ".-_:", &bad))
		return fail(w, "hosts: '%s' is not a host name glob, an IP address or a CIDR "
			    "block%s%s", item, *bad ? ": " : "", bad);
	for (i = 0; item[i]; i++)
		if (item[i] >= 'A' && item[i] <= 'Z')
			item[i] = (char)(item[i] - 'A' + 'a');
	h->glob = strdup(item);
	return h->glob ? 0 : fail(w, "out of memory");
}

int pv_hosts(char *v, struct rule *r, struct why *w)
{
	char *item;

	while ((item = pv_next_item(&v))) {
		struct host_item *h = grow(&r->hosts, &r->n_hosts, sizeof(*h));

		if (!h)
			return fail(w, "out of memory");
		if (host_item(item, h, w) < 0)
			return -1;
	}
	if (r->n_hosts == 0)
		return fail(w, "hosts: empty list");
	return 0;
}

/* ---- transports ---- */

int pv_transports(char *v, struct rule *r, struct why *w)
{
	char *item;

	r->transports = 0;
	while ((item = pv_next_item(&v))) {
		int t = m_transport_index(item);

		if (t < 0)
			return fail(w, "transports: unknown transport '%s' (basic, certificate, ntlm, "
				    "kerberos, negotiate, credssp)", item);
		if (r->transports & (1u << t))
			return fail(w, "transports: '%s' is named twice", item);
		r->transports |= 1u << t;
	}
	if (!r->transports)
		return fail(w, "transports: empty list");
	return 0;
}

/* ---- commands ---- */

/*
 * glibc compiles bounded repetitions into copies of the repeated part, so
 * "((a{255}){255}){255}" takes gigabytes and seconds; "x+" is compiled as
 * "xx*", so each stacked "+" doubles what it follows ("a++++..." found by
 * fuzz/fuzz_policy). Estimate the compiled size (atoms, with each {m,n}
 * multiplying and each + doubling what it repeats) and refuse big ones, as
 * a file that makes the broker swap is as bad as a broken one.
 */
#define REGEX_MAX_WEIGHT 10000
#define REGEX_MAX_DEPTH 32

static const char *skip_bracket(const char *s)
{
	s++;	/* '[' */
	if (*s == '^')
		s++;
	if (*s == ']')
		s++;
	while (*s && *s != ']') {
		if (*s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
			const char *end = strstr(s + 2, (char[]){ s[1], ']', '\0' });

			if (!end)
				return s + strlen(s) - 1;	/* regcomp will refuse it */
			s = end + 2;
		} else {
			s++;
		}
	}
	return *s ? s : s - 1;	/* at ']' (or the last char: regcomp will refuse it) */
}

/* "{m}", "{m,}" or "{m,n}" at s: sets *n to the copies it makes (m + 1 for
 * "{m,}") and *end to its '}'. */
static bool parse_bound(const char *s, unsigned long *n, const char **end)
{
	char *e;
	unsigned long m;

	if (s[1] < '0' || s[1] > '9')
		return false;
	m = strtoul(s + 1, &e, 10);
	*n = m;
	if (*e == ',' && e[1] == '}') {
		*n = m + 1;
		e++;
	} else if (*e == ',') {
		if (e[1] < '0' || e[1] > '9')
			return false;
		*n = strtoul(e + 1, &e, 10);
	}
	if (*e != '}')
		return false;
	*end = e;
	return true;
}

static bool regex_too_big(const char *s)
{
	unsigned long sum[REGEX_MAX_DEPTH + 1] = { 0 }, last = 0, n;
	const char *end;
	size_t depth = 0;

	for (; *s; s++) {
		unsigned long atom = 1;

		if (*s == '(') {
			if (++depth > REGEX_MAX_DEPTH)
				return true;
			sum[depth] = 0;
			last = 0;
			continue;
		}
		if (*s == ')' && depth > 0) {
			atom = sum[depth] ? sum[depth] : 1;
			depth--;
		} else if (*s == '{' && last > 0 && parse_bound(s, &n, &end)) {
			if (n > REGEX_MAX_WEIGHT)
				return true;
			if (n > 1) {
				sum[depth] += last * (n - 1);
				last *= n;
			}
			if (sum[depth] > REGEX_MAX_WEIGHT || last > REGEX_MAX_WEIGHT)
				return true;
			s = end;
			continue;
		} else if (*s == '+' && last > 0) {
			sum[depth] += last;
			last *= 2;
			if (sum[depth] > REGEX_MAX_WEIGHT || last > REGEX_MAX_WEIGHT)
				return true;
			continue;
		} else if (*s == '*' || *s == '+' || *s == '?' || *s == '|') {
			continue;
		} else if (*s == '[') {
			s = skip_bracket(s);
		} else if (*s == '\\' && s[1]) {
			s++;
		}
		sum[depth] += atom;
		last = atom;
		if (sum[depth] > REGEX_MAX_WEIGHT)
			return true;
	}
	return false;
}

/*
 * Adjacent repetitions ("a+?", "a*+", "a{2}*") are undefined in POSIX ERE,
 * and glibc compiles some of them into exponential automata ("a?+?+?+..."
 * from fuzz/fuzz_policy): refused, with the fix named.
 */
static bool stacked_repetition(const char *s)
{
	const char *end;
	unsigned long n;
	bool after_rep = false;

	for (; *s; s++) {
		bool rep = *s == '*' || *s == '+' || *s == '?';

		if (*s == '{' && parse_bound(s, &n, &end)) {
			rep = true;
			s = end;
		}
		if (rep && after_rep)
			return true;
		if (*s == '[')
			s = skip_bracket(s);
		else if (*s == '\\' && s[1])
			s++;
		after_rep = rep;
	}
	return false;
}

static int compile_regex(struct cmd_entry *c, struct why *w)
{
	char ebuf[200];
	int rc;

	if (stacked_repetition(c->text))
		return fail(w, "bad regex '%s': two repetitions in a row (such as '+?' or '*+') "
			    "are undefined in POSIX regular expressions; keep one", c->text);
	if (regex_too_big(c->text))
		return fail(w, "bad regex '%s': too large once compiled (nested or big {m,n} "
			    "repetitions); simplify it", c->text);
	/* Case-insensitive, as cmd.exe and PowerShell read commands. */
	rc = regcomp(&c->re, c->text, REG_EXTENDED | REG_NOSUB | REG_ICASE);
	if (rc != 0) {
		regerror(rc, &c->re, ebuf, sizeof(ebuf));
		return fail(w, "bad regex '%s': %s%s", c->text, ebuf,
			    strstr(c->text, "(?") ? " ((?i) and other Perl syntax is not POSIX; "
			    "matching always ignores case)" : "");
	}
	return 0;
}

int pv_command(const char *v, unsigned line, bool deny, struct rule *r, struct why *w)
{
	static const struct { const char *prefix; enum cmd_kind kind; } kinds[] = {
		{ "exact:", CMD_EXACT }, { "prefix:", CMD_PREFIX }, { "regex:", CMD_REGEX },
	};
	const char *key = deny ? "command_deny" : "command_allow";
	struct cmd_entry *c;
	size_t i;

	if (r->n_allow + r->n_deny >= WB_POLICY_MAX_COMMANDS)
		return fail(w, "%s: more than %d command entries in one rule", key,
			    WB_POLICY_MAX_COMMANDS);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(v, kinds[i].prefix, strlen(kinds[i].prefix)))
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return fail(w, "%s: expected exact:TEXT, prefix:TEXT or regex:ERE", key);
	v += strlen(kinds[i].prefix);
	while (is_blank(*v))
		v++;
	if (!*v)
		return fail(w, "%s: empty %s", key, kinds[i].prefix);
	c = deny ? grow(&r->deny_cmds, &r->n_deny, sizeof(*c))
		 : grow(&r->allow, &r->n_allow, sizeof(*c));
	if (!c)
		return fail(w, "out of memory");
	c->kind = kinds[i].kind;
	c->line = line;
	c->text = strdup(v);
	if (!c->text)
		return fail(w, "out of memory");
	if (c->kind == CMD_REGEX && compile_regex(c, w) < 0) {
		c->kind = CMD_EXACT;	/* nothing compiled to free */
		return -1;
	}
	return 0;
}

static void free_cmds(struct cmd_entry *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (c[i].kind == CMD_REGEX)
			regfree(&c[i].re);
		free(c[i].text);
	}
	free(c);
}

static void free_subjects(struct subject *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(s[i].name);
	free(s);
}

void pv_rule_free(struct rule *r)
{
	size_t i;

	if (!r)
		return;
	free_subjects(r->users, r->n_users);
	free_subjects(r->groups, r->n_groups);
	for (i = 0; i < r->n_creds; i++)
		free(r->creds[i].glob);
	free(r->creds);
	for (i = 0; i < r->n_hosts; i++)
		free(r->hosts[i].glob);
	free(r->hosts);
	free_cmds(r->allow, r->n_allow);
	free_cmds(r->deny_cmds, r->n_deny);
	free(r->windows);
	free(r->time_text);
	free(r);
}
