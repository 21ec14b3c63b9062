/*
 * fuzz_audit.c - the audit file's reader, common/auditchain.c: each line
 * parsed on its own (wb_auditrec_parse), the whole input verified as a
 * chain (wb_auditverify_*) both in one piece and split in two (the result
 * must not depend on where a read() ends), and the head file
 * (wb_audithead_parse). Also brokerd/audit.c's /proc/PID/cgroup parser.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "auditchain.h"
#include "fuzz.h"

static void parse_lines(const uint8_t *data, size_t size)
{
	struct wb_auditrec r;
	char why[256];
	size_t at = 0, i;

	while (at < size) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (data + at)) : size - at;

		if (wb_auditrec_parse(data + at, len, &r, why, sizeof(why)) == 0) {
			if (r.n > WB_AUDIT_FIELDS_MAX || r.body_len > len)
				abort();
			for (i = 0; i < r.n; i++)
				if (wb_auditrec_get(&r, r.f[i].key) == NULL)
					abort();	/* each parsed key can be looked up */
			wb_auditrec_free(&r);
		}
		at += len + 1;
	}
}

static void verify(const uint8_t *data, size_t size, size_t split, struct wb_auditverify *v)
{
	wb_auditverify_init(v);
	wb_auditverify_feed(v, data, split);
	wb_auditverify_feed(v, data + split, size - split);
	(void)wb_auditverify_end(v);
	(void)wb_auditfault_name(v->fault);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_auditverify whole, split;
	char chain[WB_AUDIT_CHAIN_HEX + 1], cgroup[512];
	struct wb_audit_head head;

	parse_lines(data, size);

	verify(data, size, size, &whole);
	verify(data, size, size / 2 + (size ? data[0] % (size - size / 2) : 0), &split);
	if (whole.fault != split.fault || whole.lines != split.lines ||
	    whole.fault_line != split.fault_line || whole.last.seq != split.last.seq)
		abort();	/* verification depends on how the bytes were cut */
	wb_auditverify_free(&whole);
	wb_auditverify_free(&split);

	(void)wb_audithead_parse(data, size, chain, &head);
	(void)wb_audit_cgroup_parse(data, size, cgroup, sizeof(cgroup));
	return 0;
}
