/*
 * fuzz_policy.c - policy/: one policy file parsed from memory
 * (wb_policy_parse: rules, users, groups, hosts with globs and CIDRs,
 * transports, command patterns including POSIX regexes, time windows,
 * expiry), then decisions for a few requests, so the matchers run on the
 * patterns the fuzzer wrote.
 */
#include <stdlib.h>

#include <sodium.h>

#include "fuzz.h"
#include "policy.h"

static const gid_t gids[] = { 1000, 2001, 3000 };
static const char *const groups[] = { "ops", "oncall", "helpdesk" };
static const char *const transports[] = { "kerberos", "negotiate", "ntlm", "basic",
					  "certificate", "credssp" };

/* Mon 2029-03-05 10:30 UTC and Sat 2029-03-10 23:00 UTC. */
#define WEEKDAY 1867401000
#define WEEKEND 1867878000

static const struct wb_policy_request requests[] = {
	{ .uid = 1000, .user = "alice", .gids = gids, .groups = groups, .n_groups = 3,
	  .cred = "ops-admin", .host = "win1.corp.example", .transports = transports,
	  .n_transports = 6, .command_line = "ipconfig /all", .now = WEEKDAY },
	{ .uid = 1001, .user = "bob", .gids = gids + 2, .groups = groups + 2, .n_groups = 1,
	  .cred = "login", .cred_personal = true, .cred_owner = 1001, .host = "10.1.2.3",
	  .transports = transports + 2, .n_transports = 2,
	  .command_line = "format c: /q\r\nshutdown -r", .want_delegation = true,
	  .want_cert_ignore = true, .now = WEEKEND, .utc_offset_sec = 3600 },
	{ .uid = 1002, .user = NULL, .gids = gids, .groups = NULL, .n_groups = 1,
	  .cred = "helpdesk-ro", .host = "2001:db8:100::5", .transports = transports,
	  .n_transports = 1, .command_line = NULL, .now = WEEKDAY, .utc_offset_sec = -18000 },
	{ .uid = 0, .user = "root", .gids = gids, .groups = groups, .n_groups = 2,
	  .cred = "x", .host = "ws-01.corp.example", .transports = transports + 1,
	  .n_transports = 5, .command_line = "Get-Process -Name svchost", .now = WEEKDAY },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_policy *p = wb_policy_new();
	struct wb_policy_decision d;
	struct wb_error err;
	size_t i;

	if (!p)
		return 0;
	if (wb_policy_parse(data, size, "fuzz.conf", p, &err) == 0) {
		(void)wb_policy_rule_count(p);
		for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
			if (wb_policy_decide(p, &requests[i], &d) < 0)
				abort();	/* the requests are well-formed */
	}
	wb_policy_free(p);
	return 0;
}
