/* decide.c - one request against the rules, first applying rule wins
 * (docs/policy.md, "How a request is decided"). */
#include "policy_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Local time is now + offset; real offsets are within -12:00..+14:00. */
#define MAX_UTC_OFFSET (26 * 3600)
#define MAX_ABS_NOW ((int64_t)1 << 52)

static const char *const why_names[] = {
	[WB_POLICY_ALLOWED] = "allowed",
	[WB_POLICY_NO_RULE] = "no-rule",
	[WB_POLICY_EXPIRED] = "expired",
	[WB_POLICY_OUTSIDE_TIME] = "outside-time",
	[WB_POLICY_NOT_OWNER] = "not-owner",
	[WB_POLICY_DENY_RULE] = "deny-rule",
	[WB_POLICY_TRANSPORT] = "transport",
	[WB_POLICY_DELEGATION] = "delegation",
	[WB_POLICY_CERT_IGNORE] = "cert-ignore",
	[WB_POLICY_COMMAND_DENIED] = "command-denied",
	[WB_POLICY_COMMAND_NOT_ALLOWED] = "command-not-allowed",
	[WB_POLICY_BAD_REQUEST] = "bad-request",
};

const char *wb_policy_why_name(enum wb_policy_why why)
{
	if ((unsigned)why >= sizeof(why_names) / sizeof(why_names[0]))
		return "unknown";
	return why_names[why];
}

static void say(struct wb_policy_decision *d, enum wb_policy_why why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct wb_policy_decision *d, enum wb_policy_why why, const char *fmt, ...)
{
	va_list ap;

	d->why = why;
	d->allow = why == WB_POLICY_ALLOWED;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

/* Request text in a message: printable ASCII only, and bounded. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t i, n;

	if (!s)
		return "(none)";
	n = strlen(s);
	for (i = 0; i < n && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	if (i < n && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

static void set_rule(struct wb_policy_decision *d, const struct rule *r)
{
	snprintf(d->rule, sizeof(d->rule), "%s:%u [rule %s]", r->file ? r->file : "?", r->line,
		 r->name);
	snprintf(d->rule_name, sizeof(d->rule_name), "%s", r->name);
}

/* "kerberos, negotiate" of a set of transports. */
static void transport_list(unsigned set, char *buf, size_t size)
{
	size_t off = 0;
	int t;

	buf[0] = '\0';
	for (t = 0; t < PT_COUNT && off < size; t++)
		if (set & (1u << t))
			off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? ", " : "",
						m_transport_name(t));
}

static bool filter_transports(const struct rule *r, const struct wb_policy_request *q,
			      struct wb_policy_decision *d)
{
	unsigned asked = 0, seen = 0;
	char want[128], allowed[128];
	size_t i;

	for (i = 0; i < q->n_transports; i++) {
		int t = q->transports[i] ? m_transport_index(q->transports[i]) : -1;

		if (t < 0)
			continue;	/* unknown to the policy: never allowed */
		asked |= 1u << t;
		if (!(r->transports & (1u << t)) || (seen & (1u << t)))
			continue;
		seen |= 1u << t;
		d->transports[d->n_transports++] = m_transport_name(t);
	}
	if (d->n_transports > 0)
		return true;
	transport_list(asked, want, sizeof(want));
	transport_list(r->transports, allowed, sizeof(allowed));
	say(d, WB_POLICY_TRANSPORT, "transports: the broker would try %s; the rule allows only "
	    "%s%s", asked ? want : "no known transport", allowed,
	    (asked & (1u << PT_CREDSSP)) && !(r->transports & (1u << PT_CREDSSP)) ?
	    " (credssp only when its transports names it)" : "");
	return false;
}

static bool check_commands(const struct rule *r, const char *line, struct wb_policy_decision *d,
			   char *note, size_t note_size)
{
	const struct cmd_entry *c;
	const char *s;

	note[0] = '\0';
	if (!line)
		return true;	/* no command: a credential test */
	c = m_command_deny(r, line);
	if (c) {
		say(d, WB_POLICY_COMMAND_DENIED, "command matches deny %s '%s' at %s:%u",
		    m_cmd_kind_name(c->kind), c->text, r->file ? r->file : "?", c->line);
		return false;
	}
	if (r->n_allow == 0)
		return true;
	c = m_command_allow(r, line);
	if (c) {
		snprintf(note, note_size, "; command matches allow %s '%s' at %s:%u",
			 m_cmd_kind_name(c->kind), c->text, r->file ? r->file : "?", c->line);
		return true;
	}
	for (s = line; *s && (unsigned char)*s >= 0x20 && *s != 0x7f; s++)
		;
	if (*s)
		say(d, WB_POLICY_COMMAND_NOT_ALLOWED, "command contains control character 0x%02x, "
		    "which no command_allow entry ever matches", (unsigned char)*s);
	else
		say(d, WB_POLICY_COMMAND_NOT_ALLOWED, "command matches none of the rule's %zu "
		    "command_allow entries", r->n_allow);
	return false;
}

/* The first applying rule decides; nothing falls through to later rules. */
static void apply(const struct rule *r, const struct wb_policy_request *q,
		  struct wb_policy_decision *d)
{
	char note[400];

	set_rule(d, r);
	if (r->deny) {
		say(d, WB_POLICY_DENY_RULE, "the rule denies (action = deny at line %u)",
		    r->key_line[K_ACTION]);
		return;
	}
	if (!filter_transports(r, q, d))
		goto denied;
	if (q->want_delegation && !r->allow_delegation) {
		say(d, WB_POLICY_DELEGATION, "kerberos delegation was asked; the rule does not "
		    "allow it (allow_kerberos_delegation = no)");
		goto denied;
	}
	if (q->want_cert_ignore && !r->allow_cert_ignore) {
		say(d, WB_POLICY_CERT_IGNORE, "server_cert_validation = ignore was asked; the rule "
		    "does not allow it (allow_cert_validation_ignore = no)");
		goto denied;
	}
	if (!check_commands(r, q->command_line, d, note, sizeof(note)))
		goto denied;
	say(d, WB_POLICY_ALLOWED, "allowed by rule '%s'%s", r->name, note);
	d->max_concurrent = r->max_concurrent;
	d->max_runtime_sec = r->max_runtime_sec;
	d->transcript = r->transcript;
	return;
denied:
	d->n_transports = 0;
}

/* Why the first rule that matched did not apply: expired, or off hours. */
static void near_miss(const struct rule *r, bool expired, int64_t local,
		      struct wb_policy_decision *d)
{
	char when[40];

	if (expired) {
		tw_format_datetime(r->expires, when, sizeof(when));
		say(d, WB_POLICY_EXPIRED, "no rule applies: rule '%s' (%s:%u) matches but expired "
		    "at %s local time (expires = %s)", r->name, r->file ? r->file : "?", r->line, when,
		    r->expires_text);
	} else {
		tw_format_weekday_time(local, when, sizeof(when));
		say(d, WB_POLICY_OUTSIDE_TIME, "no rule applies: rule '%s' (%s:%u) matches but now "
		    "(%s local time) is outside its time windows: %.200s", r->name,
		    r->file ? r->file : "?", r->line, when, r->time_text);
	}
}

static int bad_request(struct wb_policy_decision *d, const char *what)
{
	say(d, WB_POLICY_BAD_REQUEST, "malformed policy request: %s", what);
	return -WB_E_INVALID;
}

/* Reads the host as an address, IPv4-mapped IPv6 as IPv4; 0 for a name. */
static int host_addr(const char *host, uint8_t addr[16])
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, host, addr) != 1)
		return 0;
	if (memcmp(addr, v4mapped, 12) == 0) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		return AF_INET;
	}
	return AF_INET6;
}

int wb_policy_decide(const struct wb_policy *p, const struct wb_policy_request *q,
		     struct wb_policy_decision *d)
{
	const struct rule *miss = NULL;
	bool miss_expired = false;
	char qu[80], qc[80], qh[80];
	uint8_t addr[16];
	int64_t local;
	size_t i;
	int af;

	memset(d, 0, sizeof(*d));
	snprintf(d->rule, sizeof(d->rule), "default deny");
	if (!p || !q || !q->cred || !q->host)
		return bad_request(d, "no policy, credential or host");
	if ((q->n_groups && !q->gids) || (q->n_transports && !q->transports))
		return bad_request(d, "a count without its array");
	if (q->utc_offset_sec < -MAX_UTC_OFFSET || q->utc_offset_sec > MAX_UTC_OFFSET ||
	    q->now < -MAX_ABS_NOW || q->now > MAX_ABS_NOW)
		return bad_request(d, "the time or the UTC offset is out of range");
	/* Windows runs nothing longer, and regexec can be quadratic in it. */
	if (q->command_line && strnlen(q->command_line, WB_POLICY_MAX_COMMAND_LINE + 1) >
				       WB_POLICY_MAX_COMMAND_LINE)
		return bad_request(d, "the command line is longer than 32767 bytes, more than "
				   "Windows runs");
	local = q->now + q->utc_offset_sec;
	if (q->cred_personal && q->cred_owner != q->uid) {
		snprintf(d->rule, sizeof(d->rule), "personal credential");
		say(d, WB_POLICY_NOT_OWNER, "credential '%s' is a personal credential of uid %u; "
		    "only its owner may use it", quote(q->cred, qc, sizeof(qc)),
		    (unsigned)q->cred_owner);
		return 0;
	}
	af = host_addr(q->host, addr);
	for (i = 0; i < p->n_rules; i++) {
		const struct rule *r = p->rules[i];
		bool expired;

		if (!m_subject(r, q) || !m_cred(r, q) || !m_host(r, q->host, af, addr))
			continue;
		expired = tw_expired(r, local);
		if (!expired && tw_in_windows(r, local)) {
			apply(r, q, d);
			return 0;
		}
		if (!miss) {
			miss = r;
			miss_expired = expired;
		}
	}
	if (miss)
		near_miss(miss, miss_expired, local, d);
	else
		say(d, WB_POLICY_NO_RULE, "no rule matches user '%s' (uid %u), credential '%s' "
		    "(%s), host '%s'", quote(q->user, qu, sizeof(qu)), (unsigned)q->uid,
		    quote(q->cred, qc, sizeof(qc)), q->cred_personal ? "personal" : "shared",
		    quote(q->host, qh, sizeof(qh)));
	return 0;
}

char *wb_policy_command_join(const char *command, const char *const *args, size_t n_args)
{
	size_t i, len = strlen(command), off;
	char *s;

	for (i = 0; i < n_args; i++)
		len += 1 + strlen(args[i]);
	s = malloc(len + 1);
	if (!s)
		return NULL;
	off = strlen(command);
	memcpy(s, command, off);
	for (i = 0; i < n_args; i++) {
		size_t n = strlen(args[i]);

		s[off++] = ' ';
		memcpy(s + off, args[i], n);
		off += n;
	}
	s[off] = '\0';
	return s;
}
