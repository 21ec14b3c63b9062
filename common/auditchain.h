/*
 * auditchain.h - the audit file's format: one JSON object per line, each
 * line carrying the BLAKE2b-256 hash (libsodium crypto_generichash,
 * unkeyed) of its own bytes up to its "hash" member, and the previous
 * line's hash in "prev", so an edited, deleted, reordered or cut line
 * shows. docs/audit.md describes the format and what it guarantees.
 *
 * Owns building a line (brokerd/audit.c writes them), parsing one, and
 * verifying a whole chain (brokerd at open, `winrm-broker audit`). Every
 * parser takes (bytes, len) so a fuzzer can drive it.
 *
 * Errors: negative errno values (-EINVAL, -EMSGSIZE, -EBADMSG, -ENOMEM);
 * 0 on success. A verification result is an enum wb_auditfault.
 */
#ifndef WB_AUDITCHAIN_H
#define WB_AUDITCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WB_AUDIT_HASH_LEN 32			/* BLAKE2b-256 */
#define WB_AUDIT_HEX_LEN (2 * WB_AUDIT_HASH_LEN)
#define WB_AUDIT_CHAIN_LEN 16			/* random id of one chain */
#define WB_AUDIT_CHAIN_HEX (2 * WB_AUDIT_CHAIN_LEN)
#define WB_AUDIT_LINE_MAX (256 * 1024)		/* bytes, newline included */
#define WB_AUDIT_VALUE_MAX (32 * 1024)		/* longer strings are cut */
#define WB_AUDIT_FIELDS_MAX 64
#define WB_AUDIT_EVENT_FILE_START "file-start"	/* the first line of every file */

/* Where a chain stands: the seq and hash of its last line. Seq 0 with a
 * zero hash is the empty chain, the "prev" of line seq 1. */
struct wb_audit_head {
	uint64_t seq;
	uint8_t hash[WB_AUDIT_HASH_LEN];
};

/* --- Building a line --------------------------------------------------- */

struct wb_auditline {
	struct wb_writer w;
	uint64_t seq;
};

/* Starts line prev->seq + 1: {"seq":N,"prev":"<hex>" */
int wb_auditline_begin(struct wb_auditline *l, const struct wb_audit_head *prev);
/* Members. Keys are [a-z0-9_]{1,64} and not seq/prev/hash. A NULL string
 * is skipped; strings longer than WB_AUDIT_VALUE_MAX are cut and end in
 * "[TRUNCATED]"; bytes that are not UTF-8 become U+FFFD. */
int wb_auditline_str(struct wb_auditline *l, const char *key, const char *value);
int wb_auditline_int(struct wb_auditline *l, const char *key, int64_t v);
int wb_auditline_uint(struct wb_auditline *l, const char *key, uint64_t v);
int wb_auditline_bool(struct wb_auditline *l, const char *key, bool v);
/* Appends ,"hash":"<hex>"}\n. The line is l->w.data, l->w.len bytes;
 * *head becomes this line's seq and hash. */
int wb_auditline_finish(struct wb_auditline *l, struct wb_audit_head *head);
void wb_auditline_free(struct wb_auditline *l);

/* --- Parsing a line ---------------------------------------------------- */

enum wb_auditval { WB_AV_STRING, WB_AV_NUMBER, WB_AV_BOOL, WB_AV_NULL };

struct wb_auditfield {
	const char *key;
	const char *value;	/* decoded string, or the number/true/false/null as written */
	enum wb_auditval type;
};

struct wb_auditrec {
	uint64_t seq;
	uint8_t prev[WB_AUDIT_HASH_LEN];
	uint8_t hash[WB_AUDIT_HASH_LEN];	/* as the line states it */
	size_t body_len;			/* the bytes "hash" covers */
	const char *event;
	size_t n;
	struct wb_auditfield f[WB_AUDIT_FIELDS_MAX];	/* in line order, hash included */
	char *mem;				/* keys and values */
};

/* Parses one line without its newline: a flat JSON object with "seq",
 * "prev", "event" and, last, "hash"; unique keys. Does not check the hash.
 * 0, or -EBADMSG with *why (why_size bytes) saying what is wrong; -ENOMEM. */
int wb_auditrec_parse(const uint8_t *p, size_t n, struct wb_auditrec *r, char *why,
		      size_t why_size);
/* The value of key, or NULL. */
const char *wb_auditrec_get(const struct wb_auditrec *r, const char *key);
void wb_auditrec_free(struct wb_auditrec *r);

/* --- Verifying a chain ------------------------------------------------- */

enum wb_auditfault {
	WB_AF_NONE = 0,
	WB_AF_MALFORMED,	/* not a line of this format */
	WB_AF_EDITED,		/* the line's bytes do not match its hash */
	WB_AF_LINK,		/* "prev" is not the previous line's hash */
	WB_AF_DELETED,		/* seq jumps forward: lines removed before it */
	WB_AF_REORDERED,	/* seq goes back, repeats, or the missing one comes later */
	WB_AF_TRUNCATED,	/* ends inside a line, or before an anchor's seq */
	WB_AF_START,		/* a file's first line is not a file-start record */
	WB_AF_ANCHOR,		/* the line with an anchor's seq has another hash */
};

const char *wb_auditfault_name(enum wb_auditfault f);

/* An outside record of where the chain stood (the .head file, the
 * journal): the line with that seq must have that hash. */
struct wb_auditanchor {
	struct wb_audit_head at;
	const char *source;	/* for messages, e.g. "audit.log.head"; not copied */
};

struct wb_auditverify {
	/* Results, complete after wb_auditverify_end(). */
	enum wb_auditfault fault;
	unsigned fault_file;		/* 0-based file of the first bad line */
	uint64_t fault_line;		/* its 1-based line number; 0 for an anchor past the end */
	char why[384];
	uint64_t lines;			/* lines verified */
	uint64_t first_seq;		/* seq of the first line, 0 when there is none */
	struct wb_audit_head last;	/* the last verified line */
	char chain[WB_AUDIT_CHAIN_HEX + 1];	/* from the first line; "" when none */
	size_t anchors_checked;		/* anchors whose seq was found and matched */
	size_t anchors_before;		/* anchors older than the first line: not checkable */

	/* Internal. */
	unsigned file;
	uint64_t line;
	bool have_last;
	bool file_begun;
	bool overlong;
	uint8_t *buf;
	size_t len;
	struct wb_auditanchor *anchors;
	size_t n_anchors, cap_anchors;
	bool anchors_sorted;
	bool looking;			/* a seq went missing: is it further down? */
	uint64_t missing_seq, found_seq;
};

void wb_auditverify_init(struct wb_auditverify *v);
/* Before the first feed. -ENOMEM. */
int wb_auditverify_anchor(struct wb_auditverify *v, const struct wb_audit_head *at,
			  const char *source);
/* The file's bytes, split anywhere. Stops checking at the first fault. */
void wb_auditverify_feed(struct wb_auditverify *v, const uint8_t *p, size_t n);
/* The next file of the same chain begins (rotated logs, oldest first). */
void wb_auditverify_next_file(struct wb_auditverify *v);
enum wb_auditfault wb_auditverify_end(struct wb_auditverify *v);
void wb_auditverify_free(struct wb_auditverify *v);

/* --- The head file: the chain's last seq and hash, beside the log ------- */

/* "winrm-broker-audit-head v1 chain=<32 hex> seq=<20 digits> hash=<64 hex>\n" */
#define WB_AUDIT_HEAD_FILE_LEN (27 + 6 + WB_AUDIT_CHAIN_HEX + 5 + 20 + 6 + WB_AUDIT_HEX_LEN + 1)

void wb_audithead_format(char out[WB_AUDIT_HEAD_FILE_LEN + 1], const char *chain,
			 const struct wb_audit_head *h);
/* 0, or -EBADMSG. chain gets the 32 hex digits and a NUL. */
int wb_audithead_parse(const uint8_t *p, size_t n, char chain[WB_AUDIT_CHAIN_HEX + 1],
		       struct wb_audit_head *h);

/* 64 lowercase hex digits to bytes; -EBADMSG otherwise. */
int wb_audit_hex_hash(const char *hex, size_t n, uint8_t out[WB_AUDIT_HASH_LEN]);

#endif
