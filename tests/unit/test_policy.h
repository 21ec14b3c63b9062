/* Shared helpers of the policy engine's unit tests (test_policy*.c). */
#ifndef WB_TEST_POLICY_H
#define WB_TEST_POLICY_H

#include <check.h>
#include <stdint.h>

#include "policy.h"

/* A request with room for its arrays; req_default() fills a Monday
 * 2029-03-05 10:00 UTC request by alice (uid 1000; groups alice 1000,
 * ops 2000) for the shared credential ops-admin on srv1.corp.example over
 * kerberos and negotiate, running "Get-Date". */
struct req {
	struct wb_policy_request q;
	gid_t gids[8];
	const char *groups[8];
	const char *transports[8];
};

void req_default(struct req *r);
void req_groups(struct req *r, size_t n, ...);		/* pairs: gid, "name" */
void req_transports(struct req *r, size_t n, ...);	/* names */
int64_t at(int y, int mo, int d, int h, int mi, int s);	/* UTC */

struct wb_policy *pol(const char *text);	/* parses as "t.conf"; must succeed */
/* Parsing text as "t.conf" fails at exactly line, with needle in the message. */
void pol_fails_n(const char *text, size_t len, unsigned line, const char *needle);
void pol_fails(const char *text, unsigned line, const char *needle);
/* Decides; the call itself must succeed. */
void decide(const struct wb_policy *p, const struct req *r, struct wb_policy_decision *d);
/* Decides text's policy for r and checks allow and why. */
void expect(const char *text, const struct req *r, bool allow, enum wb_policy_why why);

TCase *policy_parse_tcase(void);
TCase *policy_match_tcase(void);
TCase *policy_decide_tcase(void);
TCase *policy_load_tcase(void);

#endif
