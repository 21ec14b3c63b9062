/* match.c - whether one rule's subjects, credentials, hosts and command
 * entries match a request (docs/policy.md, "Matching"). */
#include "policy_int.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static const char *const transport_names[PT_COUNT] = {
	"basic", "certificate", "ntlm", "kerberos", "negotiate", "credssp",
};

int m_transport_index(const char *name)
{
	int i;

	for (i = 0; i < PT_COUNT; i++)
		if (!strcmp(name, transport_names[i]))
			return i;
	return -1;
}

const char *m_transport_name(int i)
{
	return i >= 0 && i < PT_COUNT ? transport_names[i] : "?";
}

const char *m_cmd_kind_name(enum cmd_kind k)
{
	return k == CMD_EXACT ? "exact" : k == CMD_PREFIX ? "prefix" : "regex";
}

/* ---- subjects ---- */

static bool subject_is(const struct subject *s, const char *name, uint32_t id)
{
	return s->name ? name && !strcmp(s->name, name) : s->id == id;
}

bool m_subject(const struct rule *r, const struct wb_policy_request *q)
{
	size_t i, j;

	if (r->any_user)
		return true;
	for (i = 0; i < r->n_users; i++)
		if (subject_is(&r->users[i], q->user, (uint32_t)q->uid))
			return true;
	for (i = 0; i < r->n_groups; i++)
		for (j = 0; j < q->n_groups; j++)
			if (subject_is(&r->groups[i], q->groups ? q->groups[j] : NULL,
				       (uint32_t)q->gids[j]))
				return true;
	return false;
}

/* ---- credentials ---- */

/* Plain items name shared credentials; only "personal[:GLOB]" items name
 * personal ones, and the caller's own at that (decide.c checks the owner). */
bool m_cred(const struct rule *r, const struct wb_policy_request *q)
{
	size_t i;

	for (i = 0; i < r->n_creds; i++) {
		const struct cred_item *c = &r->creds[i];

		if (c->personal != q->cred_personal)
			continue;
		if (!c->glob || fnmatch(c->glob, q->cred, 0) == 0)
			return true;
	}
	return false;
}

/* ---- hosts ---- */

static bool in_block(const struct host_item *h, int af, const uint8_t *addr)
{
	unsigned full = h->prefix / 8, rest = h->prefix % 8;

	if (af != h->af)
		return false;
	if (memcmp(addr, h->addr, full) != 0)
		return false;
	return rest == 0 || ((addr[full] ^ h->addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

bool m_host(const struct rule *r, const char *host, int af, const uint8_t *addr)
{
	size_t i;

	for (i = 0; i < r->n_hosts; i++) {
		const struct host_item *h = &r->hosts[i];

		if (h->glob ? fnmatch(h->glob, host, FNM_CASEFOLD) == 0
			    : af != 0 && in_block(h, af, addr))
			return true;
	}
	return false;
}

/* ---- commands ---- */

static bool is_blank_or_ctl(char ch)
{
	return (unsigned char)ch <= 0x20 || ch == 0x7f;
}

/* Matches s[0..n) (s need not end at n), ignoring ASCII case. */
static bool entry_matches(const struct cmd_entry *c, const char *s, size_t n)
{
	size_t tn = strlen(c->text);
	regmatch_t span[1];

	switch (c->kind) {
	case CMD_EXACT:
		return n == tn && strncasecmp(s, c->text, n) == 0;
	case CMD_PREFIX:	/* whole leading words: "Get-Service" not "Get-ServiceX" */
		return n >= tn && strncasecmp(s, c->text, tn) == 0 &&
		       (n == tn || is_blank_or_ctl(s[tn]));
	case CMD_REGEX:
		span[0].rm_so = 0;
		span[0].rm_eo = (regoff_t)n;
		return regexec(&c->re, s, 1, span, REG_STARTEND) == 0;
	}
	return false;
}

static const struct cmd_entry *first_match(const struct cmd_entry *c, size_t n, const char *s,
					   size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (entry_matches(&c[i], s, len))
			return &c[i];
	return NULL;
}

/*
 * A deny entry is tried on each line of the command line (split at CR and
 * LF, since a shell runs each as a command), with blanks around it
 * dropped, since cmd.exe and PowerShell ignore them: " format c:" and
 * "dir\nformat c:" are denied by prefix:format as "format c:" is.
 */
const struct cmd_entry *m_command_deny(const struct rule *r, const char *line)
{
	const char *s = line;

	for (;;) {
		size_t n = strcspn(s, "\r\n");
		size_t a = 0, b = n;
		const struct cmd_entry *hit;

		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		hit = first_match(r->deny_cmds, r->n_deny, s + a, b - a);
		if (hit)
			return hit;
		if (!s[n])
			return NULL;
		s += n + 1;
	}
}

/* An allow entry is tried on the whole line, verbatim; a line with a
 * control character (a second line, a tab) matches none, so an entry never
 * lets a second command ride along. */
const struct cmd_entry *m_command_allow(const struct rule *r, const char *line)
{
	const char *s;

	for (s = line; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return NULL;
	return first_match(r->allow, r->n_allow, line, strlen(line));
}
