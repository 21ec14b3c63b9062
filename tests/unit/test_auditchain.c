/*
 * Unit tests for common/auditchain.c: lines built and parsed, and a chain
 * verified, naming the first bad line for every kind of tampering.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auditchain.h"

#define CHAIN "00112233445566778899aabbccddeeff"

/* A log as one growing buffer, with the head after every line. */
struct log {
	char *data;
	size_t len;
	struct wb_audit_head head;
	struct wb_audit_head heads[64];	/* heads[seq] */
};

static void log_line(struct log *lg, const char *event, int i)
{
	struct wb_auditline l;
	char cmd[64];

	ck_assert_int_eq(wb_auditline_begin(&l, &lg->head), 0);
	ck_assert_int_eq(wb_auditline_str(&l, "time", "2024-05-01T12:00:00.000000Z"), 0);
	ck_assert_int_eq(wb_auditline_str(&l, "event", event), 0);
	if (strcmp(event, WB_AUDIT_EVENT_FILE_START) == 0) {
		ck_assert_int_eq(wb_auditline_str(&l, "chain", CHAIN), 0);
	} else {
		snprintf(cmd, sizeof(cmd), "dir C:\\ & echo \"%d\"", i);
		ck_assert_int_eq(wb_auditline_str(&l, "command", cmd), 0);
		ck_assert_int_eq(wb_auditline_int(&l, "exit_code", -i), 0);
		ck_assert_int_eq(wb_auditline_bool(&l, "delegation", i % 2), 0);
	}
	ck_assert_int_eq(wb_auditline_finish(&l, &lg->head), 0);
	lg->data = realloc(lg->data, lg->len + l.w.len + 1);
	memcpy(lg->data + lg->len, l.w.data, l.w.len);
	lg->len += l.w.len;
	lg->data[lg->len] = '\0';
	if (lg->head.seq < 64)
		lg->heads[lg->head.seq] = lg->head;
	wb_auditline_free(&l);
}

/* A file-start line then n - 1 records. */
static void log_build(struct log *lg, int n)
{
	int i;

	memset(lg, 0, sizeof(*lg));
	log_line(lg, WB_AUDIT_EVENT_FILE_START, 0);
	for (i = 1; i < n; i++)
		log_line(lg, "decision", i);
}

/* The byte offset where line k (1-based) begins; len when past the end. */
static size_t line_off(const struct log *lg, int k)
{
	size_t off = 0;

	while (--k > 0) {
		char *nl = memchr(lg->data + off, '\n', lg->len - off);

		if (!nl)
			return lg->len;
		off = (size_t)(nl - lg->data) + 1;
	}
	return off;
}

static enum wb_auditfault verify(const char *p, size_t n, const struct wb_audit_head *anchor,
				 struct wb_auditverify *v)
{
	wb_auditverify_init(v);
	if (anchor)
		ck_assert_int_eq(wb_auditverify_anchor(v, anchor, "test.head"), 0);
	wb_auditverify_feed(v, (const uint8_t *)p, n);
	return wb_auditverify_end(v);
}

/* The log with lines a and b (1-based, a < b) swapped. */
static char *swap_lines(const struct log *lg, int a, int b, size_t *n)
{
	size_t a0 = line_off(lg, a), a1 = line_off(lg, a + 1), b0 = line_off(lg, b),
	       b1 = line_off(lg, b + 1);
	char *out = malloc(lg->len + 1);
	size_t o = 0;

	memcpy(out + o, lg->data, a0), o += a0;
	memcpy(out + o, lg->data + b0, b1 - b0), o += b1 - b0;
	memcpy(out + o, lg->data + a1, b0 - a1), o += b0 - a1;
	memcpy(out + o, lg->data + a0, a1 - a0), o += a1 - a0;
	memcpy(out + o, lg->data + b1, lg->len - b1), o += lg->len - b1;
	*n = o;
	return out;
}

START_TEST(test_intact)
{
	struct log lg;
	struct wb_auditverify v;

	log_build(&lg, 6);
	ck_assert_int_eq(verify(lg.data, lg.len, &lg.head, &v), WB_AF_NONE);
	ck_assert_uint_eq(v.lines, 6);
	ck_assert_uint_eq(v.first_seq, 1);
	ck_assert_uint_eq(v.last.seq, 6);
	ck_assert_mem_eq(v.last.hash, lg.head.hash, WB_AUDIT_HASH_LEN);
	ck_assert_str_eq(v.chain, CHAIN);
	ck_assert_uint_eq(v.anchors_checked, 1);
	ck_assert_str_eq(wb_auditfault_name(v.fault), "intact");
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

START_TEST(test_hash_is_blake2b_of_body)
{
	struct log lg;
	struct wb_auditrec r;
	uint8_t h[WB_AUDIT_HASH_LEN];
	size_t n;

	log_build(&lg, 2);
	n = line_off(&lg, 2) - 1;
	ck_assert_int_eq(wb_auditrec_parse((const uint8_t *)lg.data, n, &r, NULL, 0), 0);
	/* What docs/audit.md tells an auditor: b2sum -l 256 of the bytes before ,"hash". */
	ck_assert(memcmp(lg.data + r.body_len, ",\"hash\":\"", 9) == 0);
	crypto_generichash(h, sizeof(h), (const uint8_t *)lg.data, r.body_len, NULL, 0);
	ck_assert_mem_eq(h, r.hash, sizeof(h));
	ck_assert_mem_eq(h, lg.heads[1].hash, sizeof(h));
	ck_assert_uint_eq(r.seq, 1);
	ck_assert_str_eq(r.event, "file-start");
	wb_auditrec_free(&r);
	free(lg.data);
}
END_TEST

START_TEST(test_fields_round_trip)
{
	static const char tricky[] = "a\"b\\c\n\t\x01\x7f é €😀 \xff\xfe end";
	struct wb_audit_head h = { 0 }, out;
	struct wb_auditline l;
	struct wb_auditrec r;
	char why[128];

	ck_assert_int_eq(wb_auditline_begin(&l, &h), 0);
	ck_assert_int_eq(wb_auditline_str(&l, "event", "decision"), 0);
	ck_assert_int_eq(wb_auditline_str(&l, "command", tricky), 0);
	ck_assert_int_eq(wb_auditline_str(&l, "skipped", NULL), 0);
	ck_assert_int_eq(wb_auditline_int(&l, "exit_code", INT64_MIN), 0);
	ck_assert_int_eq(wb_auditline_uint(&l, "bytes", UINT64_MAX), 0);
	ck_assert_int_eq(wb_auditline_bool(&l, "delegation", true), 0);
	ck_assert_int_eq(wb_auditline_finish(&l, &out), 0);
	ck_assert_uint_eq(out.seq, 1);
	ck_assert_uint_eq(l.w.data[l.w.len - 1], '\n');
	ck_assert_ptr_null(memchr(l.w.data, '\n', l.w.len - 1));	/* one line */
	ck_assert_int_eq(wb_auditrec_parse(l.w.data, l.w.len - 1, &r, why, sizeof(why)), 0);
	ck_assert_str_eq(wb_auditrec_get(&r, "command"),
			 "a\"b\\c\n\t\x01\x7f é €😀 \xef\xbf\xbd\xef\xbf\xbd end");
	ck_assert_str_eq(wb_auditrec_get(&r, "exit_code"), "-9223372036854775808");
	ck_assert_str_eq(wb_auditrec_get(&r, "bytes"), "18446744073709551615");
	ck_assert_str_eq(wb_auditrec_get(&r, "delegation"), "true");
	ck_assert_ptr_null(wb_auditrec_get(&r, "skipped"));
	ck_assert_str_eq(r.f[0].key, "seq");
	ck_assert_str_eq(r.f[r.n - 1].key, "hash");
	wb_auditrec_free(&r);
	wb_auditline_free(&l);
}
END_TEST

START_TEST(test_builder_rules)
{
	struct wb_audit_head h = { 0 }, out;
	struct wb_auditline l;
	struct wb_auditrec r;
	char *big = malloc(WB_AUDIT_VALUE_MAX + 100);
	const char *v;

	ck_assert_int_eq(wb_auditline_begin(&l, &h), 0);
	ck_assert_int_eq(wb_auditline_str(&l, "hash", "x"), -EINVAL);
	ck_assert_int_eq(wb_auditline_str(&l, "seq", "x"), -EINVAL);
	ck_assert_int_eq(wb_auditline_str(&l, "Bad", "x"), -EINVAL);
	ck_assert_int_eq(wb_auditline_str(&l, "", "x"), -EINVAL);
	ck_assert_int_eq(wb_auditline_str(&l, "a\"b", "x"), -EINVAL);
	ck_assert_int_eq(wb_auditline_str(&l, "event", "decision"), 0);
	memset(big, 'x', WB_AUDIT_VALUE_MAX + 99);
	big[WB_AUDIT_VALUE_MAX + 99] = '\0';
	ck_assert_int_eq(wb_auditline_str(&l, "command", big), 0);
	ck_assert_int_eq(wb_auditline_finish(&l, &out), 0);
	ck_assert_int_eq(wb_auditrec_parse(l.w.data, l.w.len - 1, &r, NULL, 0), 0);
	v = wb_auditrec_get(&r, "command");
	ck_assert_uint_eq(strlen(v), WB_AUDIT_VALUE_MAX + strlen("[TRUNCATED]"));
	ck_assert_str_eq(v + WB_AUDIT_VALUE_MAX, "[TRUNCATED]");
	wb_auditrec_free(&r);
	wb_auditline_free(&l);
	/* A line never outgrows the cap: members beyond it are refused. */
	ck_assert_int_eq(wb_auditline_begin(&l, &h), 0);
	{
		int i, rc = 0;
		char key[16];

		for (i = 0; i < 20 && rc == 0; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			rc = wb_auditline_str(&l, key, big);
		}
		ck_assert_int_eq(rc, -EMSGSIZE);
	}
	wb_auditline_free(&l);
	h.seq = UINT64_MAX;
	ck_assert_int_eq(wb_auditline_begin(&l, &h), -EOVERFLOW);
	wb_auditline_free(&l);
	free(big);
}
END_TEST

START_TEST(test_edited)
{
	struct log lg;
	struct wb_auditverify v;
	char *p;

	log_build(&lg, 6);
	p = strstr(lg.data + line_off(&lg, 3), "echo");
	p[0] = 'E';		/* "echo" -> "Echo" on line 3 */
	ck_assert_int_eq(verify(lg.data, lg.len, &lg.head, &v), WB_AF_EDITED);
	ck_assert_uint_eq(v.fault_line, 3);
	ck_assert_uint_eq(v.lines, 2);
	ck_assert_str_eq(wb_auditfault_name(v.fault), "edited");
	ck_assert_ptr_nonnull(strstr(v.why, "edited"));
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

/* Line 3 replaced by a forged line with a correct hash: line 4 no longer links. */
START_TEST(test_edited_with_recomputed_hash)
{
	struct log lg, forged;
	struct wb_auditverify v;
	size_t a, b, n;
	char *out;

	log_build(&lg, 6);
	/* A different line with seq 3, built on the real head of line 2. */
	memset(&forged, 0, sizeof(forged));
	forged.head = lg.heads[2];
	log_line(&forged, "decision", 99);
	a = line_off(&lg, 3);
	b = line_off(&lg, 4);
	out = malloc(lg.len + forged.len);
	memcpy(out, lg.data, a);
	memcpy(out + a, forged.data, forged.len);
	memcpy(out + a + forged.len, lg.data + b, lg.len - b);
	n = a + forged.len + lg.len - b;
	ck_assert_int_eq(verify(out, n, NULL, &v), WB_AF_LINK);
	ck_assert_uint_eq(v.fault_line, 4);
	ck_assert_ptr_nonnull(strstr(v.why, "prev"));
	wb_auditverify_free(&v);
	free(out);
	free(forged.data);
	free(lg.data);
}
END_TEST

START_TEST(test_deleted)
{
	struct log lg;
	struct wb_auditverify v;
	size_t a, b;

	log_build(&lg, 6);
	a = line_off(&lg, 3);
	b = line_off(&lg, 5);
	memmove(lg.data + a, lg.data + b, lg.len - b);	/* lines 3 and 4 gone */
	lg.len -= b - a;
	ck_assert_int_eq(verify(lg.data, lg.len, &lg.head, &v), WB_AF_DELETED);
	ck_assert_uint_eq(v.fault_line, 3);
	ck_assert_ptr_nonnull(strstr(v.why, "seq 5 follows seq 2: 2 line(s) were removed"));
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

START_TEST(test_reordered)
{
	struct log lg;
	struct wb_auditverify v;
	size_t n;
	char *out;

	log_build(&lg, 6);
	out = swap_lines(&lg, 3, 4, &n);
	ck_assert_uint_eq(n, lg.len);
	ck_assert_int_eq(verify(out, n, &lg.head, &v), WB_AF_REORDERED);
	ck_assert_uint_eq(v.fault_line, 3);
	ck_assert_ptr_nonnull(strstr(v.why, "seq 3 is at line 4"));
	wb_auditverify_free(&v);
	free(out);
	/* Moved further: line 5 goes first after line 2. */
	out = swap_lines(&lg, 2, 5, &n);
	ck_assert_int_eq(verify(out, n, NULL, &v), WB_AF_REORDERED);
	ck_assert_uint_eq(v.fault_line, 2);
	wb_auditverify_free(&v);
	free(out);
	free(lg.data);
}
END_TEST

START_TEST(test_repeated_line)
{
	struct log lg;
	struct wb_auditverify v;
	size_t a = 0, b = 0;
	char *out;

	log_build(&lg, 4);
	a = line_off(&lg, 3);
	b = line_off(&lg, 4);
	out = malloc(lg.len + (b - a));
	memcpy(out, lg.data, b);
	memcpy(out + b, lg.data + a, lg.len - a);	/* line 3 twice */
	ck_assert_int_eq(verify(out, lg.len + (b - a), NULL, &v), WB_AF_REORDERED);
	ck_assert_uint_eq(v.fault_line, 4);
	wb_auditverify_free(&v);
	free(out);
	free(lg.data);
}
END_TEST

START_TEST(test_truncated_mid_line)
{
	struct log lg;
	struct wb_auditverify v;

	log_build(&lg, 6);
	ck_assert_int_eq(verify(lg.data, lg.len - 10, NULL, &v), WB_AF_TRUNCATED);
	ck_assert_uint_eq(v.fault_line, 6);
	ck_assert_uint_eq(v.lines, 5);
	wb_auditverify_free(&v);
	/* Only the newline gone. */
	ck_assert_int_eq(verify(lg.data, lg.len - 1, NULL, &v), WB_AF_TRUNCATED);
	ck_assert_uint_eq(v.fault_line, 6);
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

START_TEST(test_truncated_whole_lines)
{
	struct log lg;
	struct wb_auditverify v;
	size_t cut;

	log_build(&lg, 6);
	cut = line_off(&lg, 5);		/* lines 5 and 6 removed */
	/* From the file alone this cannot be seen; docs/audit.md says so. */
	ck_assert_int_eq(verify(lg.data, cut, NULL, &v), WB_AF_NONE);
	ck_assert_uint_eq(v.last.seq, 4);
	wb_auditverify_free(&v);
	/* With the anchor it is. */
	ck_assert_int_eq(verify(lg.data, cut, &lg.head, &v), WB_AF_TRUNCATED);
	ck_assert_uint_eq(v.fault_line, 0);
	ck_assert_ptr_nonnull(strstr(v.why, "test.head records seq 6 but the log ends at seq 4"));
	ck_assert_ptr_nonnull(strstr(v.why, "last 2 line(s)"));
	wb_auditverify_free(&v);
	/* Everything gone. */
	ck_assert_int_eq(verify(lg.data, 0, &lg.head, &v), WB_AF_TRUNCATED);
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

START_TEST(test_top_deleted)
{
	struct log lg;
	struct wb_auditverify v;
	size_t a;

	log_build(&lg, 6);
	a = line_off(&lg, 3);
	ck_assert_int_eq(verify(lg.data + a, lg.len - a, &lg.head, &v), WB_AF_START);
	ck_assert_uint_eq(v.fault_line, 1);
	ck_assert_ptr_nonnull(strstr(v.why, "lines at its top were removed"));
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

/* The whole chain rewritten from line 3 on: only an anchor shows it. */
START_TEST(test_anchor_mismatch)
{
	struct log lg, forged;
	struct wb_auditverify v;
	size_t a;
	int i;

	log_build(&lg, 6);
	a = line_off(&lg, 3);
	memset(&forged, 0, sizeof(forged));
	forged.head = lg.heads[2];
	for (i = 3; i <= 6; i++)
		log_line(&forged, "decision", 100 + i);
	lg.data = realloc(lg.data, a + forged.len + 1);
	memcpy(lg.data + a, forged.data, forged.len);
	ck_assert_int_eq(verify(lg.data, a + forged.len, NULL, &v), WB_AF_NONE);
	wb_auditverify_free(&v);
	ck_assert_int_eq(verify(lg.data, a + forged.len, &lg.heads[4], &v), WB_AF_ANCHOR);
	ck_assert_uint_eq(v.fault_line, 4);
	ck_assert_ptr_nonnull(strstr(v.why, "test.head"));
	wb_auditverify_free(&v);
	free(forged.data);
	free(lg.data);
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = {
		"garbage",
		"{}",
		"{\"seq\":2,\"prev\":\"00\",\"event\":\"x\",\"hash\":\"00\"}",
		"{\"seq\":2,\"seq\":2}",
		"{\"seq\":2,\"o\":{\"a\":1}}",
		"{\"seq\":2,\"a\":[1]}",
		"{\"seq\":\"2\"}",
		"{\"seq\":02}",
		"{\"seq\":2,\"s\":\"\\u0000\"}",
		"{\"seq\":2,\"s\":\"\\ud800\"}",
		"{\"seq\":2,\"s\":\"\x01\"}",
		"{\"seq\":2,\"s\":\"abc}",
		"{\"seq\":2} trailing",
		"{\"seq\":2,}",
		"{\"seq\":1e}",
		"{\"seq\":tru}",
	};
	struct wb_auditrec r;
	char why[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(wb_auditrec_parse((const uint8_t *)bad[i], strlen(bad[i]), &r, why,
						sizeof(why)) == -EBADMSG, "accepted: %s", bad[i]);
		ck_assert_msg(why[0], "no reason for: %s", bad[i]);
	}
}
END_TEST

START_TEST(test_malformed_in_chain)
{
	struct log lg;
	struct wb_auditverify v;
	size_t a;
	char *out;
	static const char junk[] = "not json at all\n";

	log_build(&lg, 4);
	a = line_off(&lg, 3);
	out = malloc(lg.len + sizeof(junk));
	memcpy(out, lg.data, a);
	memcpy(out + a, junk, sizeof(junk) - 1);
	memcpy(out + a + sizeof(junk) - 1, lg.data + a, lg.len - a);
	ck_assert_int_eq(verify(out, lg.len + sizeof(junk) - 1, NULL, &v), WB_AF_MALFORMED);
	ck_assert_uint_eq(v.fault_line, 3);
	wb_auditverify_free(&v);
	/* A blank line, a CRLF ending. */
	out[a] = '\n';
	memcpy(out + a + 1, lg.data + a, lg.len - a);
	ck_assert_int_eq(verify(out, lg.len + 1, NULL, &v), WB_AF_MALFORMED);
	ck_assert_uint_eq(v.fault_line, 3);
	wb_auditverify_free(&v);
	free(out);
	free(lg.data);
}
END_TEST

START_TEST(test_overlong_line)
{
	struct log lg;
	struct wb_auditverify v;
	size_t n = WB_AUDIT_LINE_MAX + 10;
	char *big = malloc(n);

	log_build(&lg, 2);
	memset(big, 'x', n);
	big[n - 1] = '\n';
	wb_auditverify_init(&v);
	wb_auditverify_feed(&v, (const uint8_t *)lg.data, lg.len);
	wb_auditverify_feed(&v, (const uint8_t *)big, 1000);
	wb_auditverify_feed(&v, (const uint8_t *)big + 1000, n - 1000);
	wb_auditverify_feed(&v, (const uint8_t *)lg.data, lg.len);
	ck_assert_int_eq(wb_auditverify_end(&v), WB_AF_MALFORMED);
	ck_assert_uint_eq(v.fault_line, 3);
	ck_assert_uint_eq(v.line, 5);	/* counting went on past it */
	wb_auditverify_free(&v);
	free(big);
	free(lg.data);
}
END_TEST

START_TEST(test_byte_by_byte)
{
	struct log lg;
	struct wb_auditverify v;
	size_t i;

	log_build(&lg, 5);
	wb_auditverify_init(&v);
	ck_assert_int_eq(wb_auditverify_anchor(&v, &lg.head, "h"), 0);
	for (i = 0; i < lg.len; i++)
		wb_auditverify_feed(&v, (const uint8_t *)lg.data + i, 1);
	ck_assert_int_eq(wb_auditverify_end(&v), WB_AF_NONE);
	ck_assert_uint_eq(v.lines, 5);
	ck_assert_uint_eq(v.anchors_checked, 1);
	wb_auditverify_free(&v);
	free(lg.data);
}
END_TEST

/* Rotation: the next file starts with a file-start line linked to the last. */
START_TEST(test_rotated_files)
{
	struct log one, two;
	struct wb_auditverify v;
	uint64_t seq;

	log_build(&one, 4);
	memset(&two, 0, sizeof(two));
	two.head = one.head;
	log_line(&two, WB_AUDIT_EVENT_FILE_START, 0);
	log_line(&two, "decision", 7);
	/* The newer file alone: it continues a chain, which is fine. */
	ck_assert_int_eq(verify(two.data, two.len, &two.head, &v), WB_AF_NONE);
	ck_assert_uint_eq(v.first_seq, 5);
	wb_auditverify_free(&v);
	/* Both in order. */
	wb_auditverify_init(&v);
	wb_auditverify_feed(&v, (const uint8_t *)one.data, one.len);
	wb_auditverify_next_file(&v);
	wb_auditverify_feed(&v, (const uint8_t *)two.data, two.len);
	ck_assert_int_eq(wb_auditverify_end(&v), WB_AF_NONE);
	ck_assert_uint_eq(v.lines, 6);
	wb_auditverify_free(&v);
	/* The older file cut by a line: the newer file's first line shows it. */
	wb_auditverify_init(&v);
	wb_auditverify_feed(&v, (const uint8_t *)one.data, line_off(&one, 4));
	wb_auditverify_next_file(&v);
	wb_auditverify_feed(&v, (const uint8_t *)two.data, two.len);
	ck_assert_int_eq(wb_auditverify_end(&v), WB_AF_DELETED);
	ck_assert_uint_eq(v.fault_file, 1);
	ck_assert_uint_eq(v.fault_line, 1);
	wb_auditverify_free(&v);
	/* An anchor older than the file cannot be checked, and says so. */
	ck_assert_int_eq(verify(two.data, two.len, &one.heads[2], &v), WB_AF_NONE);
	ck_assert_uint_eq(v.anchors_before, 1);
	wb_auditverify_free(&v);
	/* A second file that does not start with file-start. */
	seq = line_off(&two, 2);
	wb_auditverify_init(&v);
	wb_auditverify_feed(&v, (const uint8_t *)one.data, one.len);
	wb_auditverify_next_file(&v);
	wb_auditverify_feed(&v, (const uint8_t *)two.data + seq, two.len - seq);
	ck_assert_int_eq(wb_auditverify_end(&v), WB_AF_START);
	ck_assert_uint_eq(v.fault_file, 1);
	wb_auditverify_free(&v);
	free(one.data);
	free(two.data);
}
END_TEST

START_TEST(test_head_file)
{
	struct wb_audit_head h = { .seq = 12345 }, back;
	char buf[WB_AUDIT_HEAD_FILE_LEN + 1], chain[WB_AUDIT_CHAIN_HEX + 1];

	randombytes_buf(h.hash, sizeof(h.hash));
	wb_audithead_format(buf, CHAIN, &h);
	ck_assert_uint_eq(strlen(buf), WB_AUDIT_HEAD_FILE_LEN);
	ck_assert_int_eq(wb_audithead_parse((const uint8_t *)buf, strlen(buf), chain, &back), 0);
	ck_assert_str_eq(chain, CHAIN);
	ck_assert_uint_eq(back.seq, 12345);
	ck_assert_mem_eq(back.hash, h.hash, sizeof(h.hash));
	ck_assert_int_eq(wb_audithead_parse((const uint8_t *)buf, strlen(buf) - 1, chain, &back),
			 -EBADMSG);
	buf[40] = 'X';
	ck_assert_int_eq(wb_audithead_parse((const uint8_t *)buf, strlen(buf), chain, &back),
			 -EBADMSG);
	h.seq = UINT64_MAX;
	wb_audithead_format(buf, CHAIN, &h);
	ck_assert_int_eq(wb_audithead_parse((const uint8_t *)buf, strlen(buf), chain, &back), 0);
	ck_assert_uint_eq(back.seq, UINT64_MAX);
}
END_TEST

/* Any one byte changed, anywhere, is caught; the verifier never crashes. */
START_TEST(test_every_byte_flip)
{
	struct log lg;
	struct wb_auditverify v;
	size_t i;
	char *copy;

	log_build(&lg, 4);
	copy = malloc(lg.len);
	for (i = 0; i < lg.len; i++) {
		memcpy(copy, lg.data, lg.len);
		copy[i] ^= (char)(1 + (i % 7));
		ck_assert_msg(verify(copy, lg.len, &lg.head, &v) != WB_AF_NONE,
			      "flip at byte %zu not seen", i);
		ck_assert_uint_gt(v.fault_line + (v.fault == WB_AF_TRUNCATED), 0);
		wb_auditverify_free(&v);
	}
	free(copy);
	free(lg.data);
}
END_TEST

START_TEST(test_random_input)
{
	struct wb_auditverify v;
	struct wb_auditrec r;
	uint8_t buf[512];
	int i;

	for (i = 0; i < 2000; i++) {
		size_t n = 3 + randombytes_uniform(sizeof(buf) - 3);

		randombytes_buf(buf, n);
		buf[0] = '{';
		buf[n / 2] = '\n';
		wb_auditverify_init(&v);
		wb_auditverify_feed(&v, buf, n);
		ck_assert_int_ne(wb_auditverify_end(&v), WB_AF_NONE);
		wb_auditverify_free(&v);
		if (wb_auditrec_parse(buf, n, &r, NULL, 0) == 0)
			wb_auditrec_free(&r);
	}
}
END_TEST

static Suite *auditchain_suite(void)
{
	Suite *s = suite_create("auditchain");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_intact);
	tcase_add_test(tc, test_hash_is_blake2b_of_body);
	tcase_add_test(tc, test_fields_round_trip);
	tcase_add_test(tc, test_builder_rules);
	tcase_add_test(tc, test_edited);
	tcase_add_test(tc, test_edited_with_recomputed_hash);
	tcase_add_test(tc, test_deleted);
	tcase_add_test(tc, test_reordered);
	tcase_add_test(tc, test_repeated_line);
	tcase_add_test(tc, test_truncated_mid_line);
	tcase_add_test(tc, test_truncated_whole_lines);
	tcase_add_test(tc, test_top_deleted);
	tcase_add_test(tc, test_anchor_mismatch);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_malformed_in_chain);
	tcase_add_test(tc, test_overlong_line);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_test(tc, test_rotated_files);
	tcase_add_test(tc, test_head_file);
	tcase_add_test(tc, test_every_byte_flip);
	tcase_add_test(tc, test_random_input);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(auditchain_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
