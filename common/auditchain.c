/* auditchain.c - see auditchain.h. */
#include "auditchain.h"
#include "utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static const uint8_t zero_hash[WB_AUDIT_HASH_LEN];

/* --- Building ------------------------------------------------------------ */

static bool key_ok(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++)
		if (i >= 64 || !((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
				 key[i] == '_'))
			return false;
	return i > 0 && strcmp(key, "seq") != 0 && strcmp(key, "prev") != 0 &&
	       strcmp(key, "hash") != 0;
}

static int put_str(struct wb_writer *w, const char *s)
{
	return wb_put(w, s, strlen(s));
}

static int put_hex(struct wb_writer *w, const uint8_t *p, size_t n)
{
	char hex[2 * WB_AUDIT_HASH_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), p, n);
	return put_str(w, hex);
}


/* A JSON string of at most max input bytes, cut on a character boundary. */
static int put_json_string(struct wb_writer *w, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), used = 0;
	bool cut = false;
	int rc = wb_put_u8(w, '"');

	while (rc == 0 && n > 0) {
		size_t len = wb_utf8_len(p, n);
		char esc[8];

		if (used + (len ? len : 1) > max) {
			cut = true;
			break;
		}
		if (len == 0) {
			rc = put_str(w, "\\ufffd");
			len = 1;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\', esc[1] = (char)*p;
			rc = wb_put(w, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			rc = put_str(w, esc);
		} else {
			rc = wb_put(w, p, len);
		}
		p += len;
		n -= len;
		used += len;
	}
	if (rc == 0 && cut)
		rc = put_str(w, "[TRUNCATED]");
	return rc ? rc : wb_put_u8(w, '"');
}

static int put_key(struct wb_auditline *l, const char *key)
{
	int rc;

	if (!key_ok(key))
		return -EINVAL;
	rc = wb_put_u8(&l->w, ',');
	if (rc == 0)
		rc = put_json_string(&l->w, key, 64);
	return rc ? rc : wb_put_u8(&l->w, ':');
}

int wb_auditline_begin(struct wb_auditline *l, const struct wb_audit_head *prev)
{
	char num[32];
	int rc;

	/* Room for the hash member after the cap on the members. */
	wb_writer_init(&l->w, WB_AUDIT_LINE_MAX, WB_PLAIN);
	if (prev->seq == UINT64_MAX)
		return -EOVERFLOW;
	l->seq = prev->seq + 1;
	snprintf(num, sizeof(num), "%" PRIu64, l->seq);
	rc = put_str(&l->w, "{\"seq\":");
	if (rc == 0)
		rc = put_str(&l->w, num);
	if (rc == 0)
		rc = put_str(&l->w, ",\"prev\":\"");
	if (rc == 0)
		rc = put_hex(&l->w, prev->hash, WB_AUDIT_HASH_LEN);
	return rc ? rc : wb_put_u8(&l->w, '"');
}

/* Keeps the last bytes of the cap free for the hash member and newline. */
static int room(const struct wb_auditline *l, int rc)
{
	if (rc == 0 && l->w.len > WB_AUDIT_LINE_MAX - (WB_AUDIT_HEX_LEN + 16))
		return -EMSGSIZE;
	return rc;
}

int wb_auditline_str(struct wb_auditline *l, const char *key, const char *value)
{
	int rc;

	if (!value)
		return 0;
	rc = put_key(l, key);
	if (rc == 0)
		rc = put_json_string(&l->w, value, WB_AUDIT_VALUE_MAX);
	return room(l, rc);
}

int wb_auditline_int(struct wb_auditline *l, const char *key, int64_t v)
{
	char num[32];
	int rc = put_key(l, key);

	snprintf(num, sizeof(num), "%" PRId64, v);
	return room(l, rc ? rc : put_str(&l->w, num));
}

int wb_auditline_uint(struct wb_auditline *l, const char *key, uint64_t v)
{
	char num[32];
	int rc = put_key(l, key);

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return room(l, rc ? rc : put_str(&l->w, num));
}

int wb_auditline_bool(struct wb_auditline *l, const char *key, bool v)
{
	int rc = put_key(l, key);

	return room(l, rc ? rc : put_str(&l->w, v ? "true" : "false"));
}

int wb_auditline_finish(struct wb_auditline *l, struct wb_audit_head *head)
{
	uint8_t hash[WB_AUDIT_HASH_LEN];
	int rc;

	crypto_generichash(hash, sizeof(hash), l->w.data, l->w.len, NULL, 0);
	rc = put_str(&l->w, ",\"hash\":\"");
	if (rc == 0)
		rc = put_hex(&l->w, hash, sizeof(hash));
	if (rc == 0)
		rc = put_str(&l->w, "\"}\n");
	if (rc < 0)
		return rc;
	head->seq = l->seq;
	memcpy(head->hash, hash, sizeof(hash));
	return 0;
}

void wb_auditline_free(struct wb_auditline *l)
{
	wb_writer_free(&l->w);
}

/* --- Parsing ------------------------------------------------------------- */

struct parser {
	struct wb_reader r;
	char *mem;
	size_t mlen, mcap;
	char *why;
	size_t why_size;
};

static int bad(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->why && ps->why_size) {
		va_start(ap, fmt);
		vsnprintf(ps->why, ps->why_size, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static int peek(const struct wb_reader *r)
{
	return wb_reader_left(r) ? r->data[r->off] : -1;
}

static void skip_ws(struct wb_reader *r)
{
	int c;

	while ((c = peek(r)) == ' ' || c == '\t' || c == '\r' || c == '\n')
		r->off++;
}

/* mcap is sized so that these never fail; the check keeps it honest. */
static int emit(struct parser *ps, const void *p, size_t n)
{
	if (n > ps->mcap - ps->mlen)
		return bad(ps, "internal: parse buffer");
	memcpy(ps->mem + ps->mlen, p, n);
	ps->mlen += n;
	return 0;
}

static int emit_utf8(struct parser *ps, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80)
		b[0] = (uint8_t)cp, n = 1;
	else if (cp < 0x800)
		b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
	else if (cp < 0x10000)
		b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
		b[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
	else
		b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f)),
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)),
		n = 4;
	return emit(ps, b, n);
}

static int hex4(struct parser *ps, uint32_t *v)
{
	uint8_t c;
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (wb_get_u8(&ps->r, &c) < 0)
			return bad(ps, "cut \\u escape");
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return bad(ps, "bad \\u escape");
	}
	return 0;
}

static int parse_escape_u(struct parser *ps)
{
	uint32_t cp, lo;
	uint8_t c1, c2;

	if (hex4(ps, &cp) < 0)
		return -EBADMSG;
	if (cp == 0)
		return bad(ps, "\\u0000 in a string");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return bad(ps, "lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (wb_get_u8(&ps->r, &c1) < 0 || wb_get_u8(&ps->r, &c2) < 0 || c1 != '\\' ||
		    c2 != 'u' || hex4(ps, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return bad(ps, "lone high surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return emit_utf8(ps, cp);
}

/* A string at the cursor, decoded into mem and NUL-terminated. */
static int parse_string(struct parser *ps, const char **out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t start = ps->mlen;
	uint8_t c;

	if (wb_get_u8(&ps->r, &c) < 0 || c != '"')
		return bad(ps, "expected a string at byte %zu", ps->r.off);
	for (;;) {
		if (wb_get_u8(&ps->r, &c) < 0)
			return bad(ps, "unterminated string");
		if (c == '"')
			break;
		if (c < 0x20)
			return bad(ps, "control character in a string at byte %zu", ps->r.off);
		if (c != '\\') {
			if (emit(ps, &c, 1) < 0)
				return -EBADMSG;
			continue;
		}
		if (wb_get_u8(&ps->r, &c) < 0)
			return bad(ps, "cut escape");
		if (c == 'u') {
			if (parse_escape_u(ps) < 0)
				return -EBADMSG;
		} else if (c && strchr(from, c)) {
			if (emit(ps, &to[strchr(from, c) - from], 1) < 0)
				return -EBADMSG;
		} else {
			return bad(ps, "bad escape \\%c", c);
		}
	}
	*out = ps->mem + start;
	return emit(ps, "", 1);
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* A JSON number, copied as written. */
static int parse_number(struct parser *ps, const char **out)
{
	struct wb_reader *r = &ps->r;
	size_t start = r->off;
	const uint8_t *p;

	if (peek(r) == '-')
		r->off++;
	if (peek(r) == '0')
		r->off++;
	else if (is_digit(peek(r)))
		while (is_digit(peek(r)))
			r->off++;
	else
		return bad(ps, "bad number at byte %zu", start);
	if (peek(r) == '.') {
		r->off++;
		if (!is_digit(peek(r)))
			return bad(ps, "bad number at byte %zu", start);
		while (is_digit(peek(r)))
			r->off++;
	}
	if (peek(r) == 'e' || peek(r) == 'E') {
		r->off++;
		if (peek(r) == '+' || peek(r) == '-')
			r->off++;
		if (!is_digit(peek(r)))
			return bad(ps, "bad number at byte %zu", start);
		while (is_digit(peek(r)))
			r->off++;
	}
	p = r->data + start;
	*out = ps->mem + ps->mlen;
	if (emit(ps, p, r->off - start) < 0)
		return -EBADMSG;
	return emit(ps, "", 1);
}

static int parse_word(struct parser *ps, const char *word, const char **out)
{
	size_t n = strlen(word);
	const uint8_t *p;

	if (wb_get_bytes(&ps->r, n, &p) < 0 || memcmp(p, word, n) != 0)
		return bad(ps, "bad value at byte %zu", ps->r.off);
	*out = word;
	return 0;
}

static int parse_value(struct parser *ps, struct wb_auditfield *f)
{
	int c = peek(&ps->r);

	f->type = WB_AV_STRING;
	if (c == '"')
		return parse_string(ps, &f->value);
	f->type = WB_AV_NUMBER;
	if (c == '-' || is_digit(c))
		return parse_number(ps, &f->value);
	f->type = c == 'n' ? WB_AV_NULL : WB_AV_BOOL;
	if (c == 't')
		return parse_word(ps, "true", &f->value);
	if (c == 'f')
		return parse_word(ps, "false", &f->value);
	if (c == 'n')
		return parse_word(ps, "null", &f->value);
	if (c == '{' || c == '[')
		return bad(ps, "nested value at byte %zu: not part of the format", ps->r.off);
	return bad(ps, "bad value at byte %zu", ps->r.off);
}

/* "{" members "}" and nothing after; *hash_comma is where "hash" begins. */
static int parse_object(struct parser *ps, struct wb_auditrec *r, size_t *hash_comma)
{
	size_t comma = 0, i;
	uint8_t c;

	skip_ws(&ps->r);
	if (wb_get_u8(&ps->r, &c) < 0 || c != '{')
		return bad(ps, "not a JSON object");
	skip_ws(&ps->r);
	if (peek(&ps->r) == '}')
		return bad(ps, "empty object");
	for (;;) {
		struct wb_auditfield *f = &r->f[r->n];

		if (r->n == WB_AUDIT_FIELDS_MAX)
			return bad(ps, "more than %d members", WB_AUDIT_FIELDS_MAX);
		skip_ws(&ps->r);
		if (parse_string(ps, &f->key) < 0)
			return -EBADMSG;
		for (i = 0; i < r->n; i++)
			if (strcmp(r->f[i].key, f->key) == 0)
				return bad(ps, "duplicate key \"%.64s\"", f->key);
		if (strcmp(f->key, "hash") == 0)
			*hash_comma = comma;
		skip_ws(&ps->r);
		if (wb_get_u8(&ps->r, &c) < 0 || c != ':')
			return bad(ps, "expected ':' at byte %zu", ps->r.off);
		skip_ws(&ps->r);
		if (parse_value(ps, f) < 0)
			return -EBADMSG;
		r->n++;
		skip_ws(&ps->r);
		comma = ps->r.off;
		if (wb_get_u8(&ps->r, &c) < 0)
			return bad(ps, "unterminated object");
		if (c == '}')
			break;
		if (c != ',')
			return bad(ps, "expected ',' or '}' at byte %zu", comma);
	}
	skip_ws(&ps->r);
	if (wb_reader_left(&ps->r))
		return bad(ps, "bytes after the object at byte %zu", ps->r.off);
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!is_digit(*s) || (s[0] == '0' && s[1]))
		return -EBADMSG;
	for (; *s; s++) {
		if (!is_digit(*s) || n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EBADMSG;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

int wb_audit_hex_hash(const char *hex, size_t n, uint8_t out[WB_AUDIT_HASH_LEN])
{
	size_t i;

	if (n != WB_AUDIT_HEX_LEN)
		return -EBADMSG;
	for (i = 0; i < n; i++)
		if (!is_digit(hex[i]) && !(hex[i] >= 'a' && hex[i] <= 'f'))
			return -EBADMSG;
	if (sodium_hex2bin(out, WB_AUDIT_HASH_LEN, hex, n, NULL, NULL, NULL) != 0)
		return -EBADMSG;
	return 0;
}

static const struct wb_auditfield *field(const struct wb_auditrec *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			return &r->f[i];
	return NULL;
}

const char *wb_auditrec_get(const struct wb_auditrec *r, const char *key)
{
	const struct wb_auditfield *f = field(r, key);

	return f ? f->value : NULL;
}

static int check_required(struct parser *ps, struct wb_auditrec *r)
{
	const struct wb_auditfield *seq = field(r, "seq"), *prev = field(r, "prev"),
				   *hash = field(r, "hash"), *event = field(r, "event");

	if (!seq || seq->type != WB_AV_NUMBER || parse_u64(seq->value, &r->seq) < 0 ||
	    r->seq == 0)
		return bad(ps, "no valid \"seq\"");
	if (!prev || prev->type != WB_AV_STRING ||
	    wb_audit_hex_hash(prev->value, strlen(prev->value), r->prev) < 0)
		return bad(ps, "no valid \"prev\"");
	if (!hash || hash->type != WB_AV_STRING ||
	    wb_audit_hex_hash(hash->value, strlen(hash->value), r->hash) < 0)
		return bad(ps, "no valid \"hash\"");
	if (hash != &r->f[r->n - 1] || hash == &r->f[0])
		return bad(ps, "\"hash\" is not the last member");
	if (!event || event->type != WB_AV_STRING || !event->value[0])
		return bad(ps, "no \"event\"");
	r->event = event->value;
	return 0;
}

int wb_auditrec_parse(const uint8_t *p, size_t n, struct wb_auditrec *r, char *why,
		      size_t why_size)
{
	struct parser ps = { .why = why, .why_size = why_size };
	size_t hash_comma = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	if (why && why_size)
		why[0] = '\0';
	if (n > WB_AUDIT_LINE_MAX)
		return bad(&ps, "longer than %d bytes", WB_AUDIT_LINE_MAX);
	/* Decoded text is never longer than its source; each token adds a NUL. */
	ps.mcap = 2 * n + 2;
	ps.mem = malloc(ps.mcap);
	if (!ps.mem)
		return -ENOMEM;
	r->mem = ps.mem;
	wb_reader_init(&ps.r, p, n);
	rc = parse_object(&ps, r, &hash_comma);
	if (rc == 0)
		rc = check_required(&ps, r);
	if (rc < 0) {
		wb_auditrec_free(r);
		return rc;
	}
	r->body_len = hash_comma;
	return 0;
}

void wb_auditrec_free(struct wb_auditrec *r)
{
	free(r->mem);
	r->mem = NULL;
	r->n = 0;
}

/* --- Verifying ----------------------------------------------------------- */

const char *wb_auditfault_name(enum wb_auditfault f)
{
	static const char *const names[] = {
		[WB_AF_NONE] = "intact", [WB_AF_MALFORMED] = "malformed",
		[WB_AF_EDITED] = "edited", [WB_AF_LINK] = "broken-link",
		[WB_AF_DELETED] = "deleted", [WB_AF_REORDERED] = "reordered",
		[WB_AF_TRUNCATED] = "truncated", [WB_AF_START] = "bad-start",
		[WB_AF_ANCHOR] = "anchor-mismatch",
	};

	return (size_t)f < sizeof(names) / sizeof(names[0]) && names[f] ? names[f] : "unknown";
}

void wb_auditverify_init(struct wb_auditverify *v)
{
	memset(v, 0, sizeof(*v));
}

int wb_auditverify_anchor(struct wb_auditverify *v, const struct wb_audit_head *at,
			  const char *source)
{
	if (v->n_anchors == v->cap_anchors) {
		size_t cap = v->cap_anchors ? 2 * v->cap_anchors : 8;
		struct wb_auditanchor *a = reallocarray(v->anchors, cap, sizeof(*a));

		if (!a)
			return -ENOMEM;
		v->anchors = a;
		v->cap_anchors = cap;
	}
	v->anchors[v->n_anchors].at = *at;
	v->anchors[v->n_anchors].source = source ? source : "anchor";
	v->n_anchors++;
	v->anchors_sorted = false;
	return 0;
}

static void fail(struct wb_auditverify *v, enum wb_auditfault f, uint64_t line, const char *fmt,
		 ...) __attribute__((format(printf, 4, 5)));

static void fail(struct wb_auditverify *v, enum wb_auditfault f, uint64_t line, const char *fmt,
		 ...)
{
	va_list ap;

	v->fault = f;
	v->fault_file = v->file;
	v->fault_line = line;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
}

static int anchor_cmp(const void *a, const void *b)
{
	const struct wb_auditanchor *x = a, *y = b;

	return x->at.seq < y->at.seq ? -1 : x->at.seq > y->at.seq;
}

/* Every anchor at this seq must name this hash. */
static void check_anchors(struct wb_auditverify *v, const struct wb_auditrec *r, const uint8_t *h)
{
	struct wb_auditanchor key = { .at.seq = r->seq }, *a;
	char want[WB_AUDIT_HEX_LEN + 1];

	if (!v->n_anchors)
		return;
	if (!v->anchors_sorted) {
		qsort(v->anchors, v->n_anchors, sizeof(*v->anchors), anchor_cmp);
		v->anchors_sorted = true;
	}
	a = bsearch(&key, v->anchors, v->n_anchors, sizeof(*a), anchor_cmp);
	if (!a)
		return;
	while (a > v->anchors && a[-1].at.seq == r->seq)
		a--;
	for (; a < v->anchors + v->n_anchors && a->at.seq == r->seq; a++) {
		if (sodium_memcmp(a->at.hash, h, WB_AUDIT_HASH_LEN) != 0) {
			sodium_bin2hex(want, sizeof(want), a->at.hash, WB_AUDIT_HASH_LEN);
			fail(v, WB_AF_ANCHOR, v->line,
			     "seq %" PRIu64 " has another hash than %s records (%.16s...): this line "
			     "or one before it was rewritten and the chain recomputed",
			     r->seq, a->source, want);
			return;
		}
		v->anchors_checked++;
	}
}

static bool is_file_start(const struct wb_auditrec *r)
{
	return strcmp(r->event, WB_AUDIT_EVENT_FILE_START) == 0;
}

/* The first line of a file: a file-start record of this chain. */
static bool check_start(struct wb_auditverify *v, const struct wb_auditrec *r)
{
	const char *chain = wb_auditrec_get(r, "chain");

	if (!is_file_start(r)) {
		fail(v, WB_AF_START, v->line,
		     "the file does not begin with a file-start record (seq %" PRIu64 " is \"%.32s\"): "
		     "lines at its top were removed",
		     r->seq, r->event);
		return false;
	}
	if (!chain || strlen(chain) != WB_AUDIT_CHAIN_HEX) {
		fail(v, WB_AF_MALFORMED, v->line, "file-start record without a valid \"chain\"");
		return false;
	}
	if (r->seq == 1 && sodium_memcmp(r->prev, zero_hash, WB_AUDIT_HASH_LEN) != 0) {
		fail(v, WB_AF_LINK, v->line, "seq 1 does not start from the empty chain");
		return false;
	}
	if (v->chain[0] && strcmp(v->chain, chain) != 0) {
		fail(v, WB_AF_LINK, v->line, "file-start of another chain (%s, not %s)", chain,
		     v->chain);
		return false;
	}
	if (!v->chain[0])
		memcpy(v->chain, chain, WB_AUDIT_CHAIN_HEX + 1);
	return true;
}

/* Links this line to the one before it. */
static bool check_link(struct wb_auditverify *v, const struct wb_auditrec *r)
{
	uint64_t want = v->last.seq + 1;

	if (r->seq > want) {
		/* Deleted, unless the missing seq turns up further down. */
		fail(v, WB_AF_DELETED, v->line,
		     "seq %" PRIu64 " follows seq %" PRIu64 ": %" PRIu64 " line(s) were removed before "
		     "this line",
		     r->seq, v->last.seq, r->seq - want);
		v->looking = true;
		v->missing_seq = want;
		v->found_seq = r->seq;
		return false;
	}
	if (r->seq < want) {
		fail(v, WB_AF_REORDERED, v->line,
		     "seq %" PRIu64 " follows seq %" PRIu64 ": lines were moved or repeated", r->seq,
		     v->last.seq);
		return false;
	}
	if (sodium_memcmp(r->prev, v->last.hash, WB_AUDIT_HASH_LEN) != 0) {
		fail(v, WB_AF_LINK, v->line,
		     "\"prev\" is not the hash of the line before (seq %" PRIu64 "): that line was "
		     "replaced with a recomputed hash, or this one comes from another log",
		     v->last.seq);
		return false;
	}
	if (is_file_start(r)) {
		const char *chain = wb_auditrec_get(r, "chain");

		if (!chain || strcmp(chain, v->chain) != 0) {
			fail(v, WB_AF_LINK, v->line, "file-start record of another chain");
			return false;
		}
	}
	return true;
}

/* After a gap: is the missing seq further down (then the lines were moved)? */
static void look_for_missing(struct wb_auditverify *v, const uint8_t *p, size_t n)
{
	struct wb_auditrec r;

	if (wb_auditrec_parse(p, n, &r, NULL, 0) < 0)
		return;
	if (r.seq == v->missing_seq) {
		snprintf(v->why, sizeof(v->why),
			 "holds seq %" PRIu64 " where seq %" PRIu64 " belongs; seq %" PRIu64
			 " is at line %" PRIu64 "%s: lines were moved",
			 v->found_seq, v->missing_seq, v->missing_seq, v->line,
			 v->file != v->fault_file ? " of a later file" : "");
		v->fault = WB_AF_REORDERED;
		v->looking = false;
	}
	wb_auditrec_free(&r);
}

/* Hash, position in the chain, anchors; false at the first fault. */
static bool check_record(struct wb_auditverify *v, const struct wb_auditrec *r, const uint8_t *h,
			 bool first)
{
	if (sodium_memcmp(h, r->hash, WB_AUDIT_HASH_LEN) != 0) {
		fail(v, WB_AF_EDITED, v->line,
		     "seq %" PRIu64 ": the line's bytes do not match its hash: it was edited", r->seq);
		return false;
	}
	if (first && !check_start(v, r))
		return false;
	if (v->have_last && !check_link(v, r))
		return false;
	check_anchors(v, r, h);
	return !v->fault;
}

static void verify_line(struct wb_auditverify *v, const uint8_t *p, size_t n)
{
	struct wb_auditrec r;
	uint8_t h[WB_AUDIT_HASH_LEN];
	char why[200];
	bool first = !v->file_begun;

	v->line++;
	v->file_begun = true;
	if (v->looking) {
		look_for_missing(v, p, n);
		return;
	}
	if (v->fault)
		return;
	if (wb_auditrec_parse(p, n, &r, why, sizeof(why)) < 0) {
		fail(v, WB_AF_MALFORMED, v->line, "not an audit record: %s", why);
		return;
	}
	crypto_generichash(h, sizeof(h), p, r.body_len, NULL, 0);
	if (check_record(v, &r, h, first)) {
		if (!v->have_last)
			v->first_seq = r.seq;
		v->have_last = true;
		v->last.seq = r.seq;
		memcpy(v->last.hash, h, sizeof(h));
		v->lines++;
	}
	wb_auditrec_free(&r);
}

void wb_auditverify_feed(struct wb_auditverify *v, const uint8_t *p, size_t n)
{
	while (n > 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (!v->overlong && take > WB_AUDIT_LINE_MAX - 1 - v->len) {
			/* Too long to be ours: fail here, then skip to its end. */
			v->line++;
			v->file_begun = true;
			if (!v->fault)
				fail(v, WB_AF_MALFORMED, v->line, "line longer than %d bytes",
				     WB_AUDIT_LINE_MAX);
			v->overlong = true;
			v->len = 0;
		}
		if (!v->overlong) {
			if (nl && v->len == 0) {
				verify_line(v, p, take);
			} else {
				if (!v->buf && !(v->buf = malloc(WB_AUDIT_LINE_MAX))) {
					fail(v, WB_AF_MALFORMED, v->line + 1, "out of memory");
					return;
				}
				memcpy(v->buf + v->len, p, take);
				v->len += take;
				if (nl) {
					verify_line(v, v->buf, v->len);
					v->len = 0;
				}
			}
		} else if (nl) {
			v->overlong = false;
		}
		if (!nl)
			return;
		p = nl + 1;
		n -= take + 1;
	}
}

/* A file ending without its newline: cut mid-line or an interrupted write. */
static void end_of_file(struct wb_auditverify *v)
{
	/* An overlong line was counted and failed when it began. */
	if (v->len > 0 && !v->overlong) {
		v->line++;
		if (!v->fault)
			fail(v, WB_AF_TRUNCATED, v->line,
			     "the file ends inside this line (no newline): it was cut mid-line or a "
			     "write was interrupted");
	}
	v->len = 0;
	v->overlong = false;
}

void wb_auditverify_next_file(struct wb_auditverify *v)
{
	end_of_file(v);
	v->file++;
	v->line = 0;
	v->file_begun = false;
}

/* Anchors past the last line mean lines were cut from the end. */
static void check_anchor_ends(struct wb_auditverify *v)
{
	size_t i;

	for (i = 0; i < v->n_anchors && !v->fault; i++) {
		const struct wb_auditanchor *a = &v->anchors[i];

		if (!v->have_last || a->at.seq > v->last.seq) {
			fail(v, WB_AF_TRUNCATED, 0,
			     "%s records seq %" PRIu64 " but the log ends at seq %" PRIu64
			     ": its last %" PRIu64 " line(s) were removed",
			     a->source, a->at.seq, v->last.seq, a->at.seq - v->last.seq);
		} else if (a->at.seq < v->first_seq) {
			v->anchors_before++;
		}
	}
}

enum wb_auditfault wb_auditverify_end(struct wb_auditverify *v)
{
	end_of_file(v);
	if (v->looking)
		v->looking = false;	/* the missing seq never came: it was deleted */
	check_anchor_ends(v);
	return v->fault;
}

void wb_auditverify_free(struct wb_auditverify *v)
{
	free(v->buf);
	free(v->anchors);
	v->buf = NULL;
	v->anchors = NULL;
	v->n_anchors = v->cap_anchors = 0;
}

/* --- The head file ------------------------------------------------------- */

void wb_audithead_format(char out[WB_AUDIT_HEAD_FILE_LEN + 1], const char *chain,
			 const struct wb_audit_head *h)
{
	char hex[WB_AUDIT_HEX_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), h->hash, sizeof(h->hash));
	snprintf(out, WB_AUDIT_HEAD_FILE_LEN + 1,
		 "winrm-broker-audit-head v1 chain=%.32s seq=%020" PRIu64 " hash=%s\n", chain, h->seq,
		 hex);
}

int wb_audithead_parse(const uint8_t *p, size_t n, char chain[WB_AUDIT_CHAIN_HEX + 1],
		       struct wb_audit_head *h)
{
	static const char magic[] = "winrm-broker-audit-head v1 chain=";
	char seq[21], hex[WB_AUDIT_HEX_LEN + 1];
	struct wb_reader r;
	const uint8_t *b;
	size_t i;

	wb_reader_init(&r, p, n);
	if (n != WB_AUDIT_HEAD_FILE_LEN || wb_get_bytes(&r, sizeof(magic) - 1, &b) < 0 ||
	    memcmp(b, magic, sizeof(magic) - 1) != 0)
		return -EBADMSG;
	if (wb_get_bytes(&r, WB_AUDIT_CHAIN_HEX, &b) < 0)
		return -EBADMSG;
	for (i = 0; i < WB_AUDIT_CHAIN_HEX; i++)
		if (!is_digit(b[i]) && !(b[i] >= 'a' && b[i] <= 'f'))
			return -EBADMSG;
	memcpy(chain, b, WB_AUDIT_CHAIN_HEX);
	chain[WB_AUDIT_CHAIN_HEX] = '\0';
	if (wb_get_bytes(&r, 5, &b) < 0 || memcmp(b, " seq=", 5) != 0 ||
	    wb_get_bytes(&r, 20, &b) < 0)
		return -EBADMSG;
	memcpy(seq, b, 20);
	seq[20] = '\0';
	/* Zero-padded: skip the padding, keep one digit. */
	for (i = 0; i < 19 && seq[i] == '0'; i++)
		;
	if (parse_u64(seq + i, &h->seq) < 0)
		return -EBADMSG;
	if (wb_get_bytes(&r, 6, &b) < 0 || memcmp(b, " hash=", 6) != 0 ||
	    wb_get_bytes(&r, WB_AUDIT_HEX_LEN, &b) < 0)
		return -EBADMSG;
	memcpy(hex, b, WB_AUDIT_HEX_LEN);
	hex[WB_AUDIT_HEX_LEN] = '\0';
	if (wb_audit_hex_hash(hex, WB_AUDIT_HEX_LEN, h->hash) < 0 ||
	    wb_get_bytes(&r, 1, &b) < 0 || b[0] != '\n')
		return -EBADMSG;
	return 0;
}
