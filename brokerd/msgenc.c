/* msgenc.c - MS-WSMV multipart/encrypted framing (see msgenc.h). */
#include "msgenc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY "Encrypted Boundary"
#define SINGLE "multipart/encrypted"
#define MULTI "multipart/x-multi-encrypted"
#define ORIGINAL_TYPE "type=application/soap+xml;charset=UTF-8;Length="
#define OCTET_STREAM "application/octet-stream"
#define LINE_MAX_LEN 1024	/* one part header line */
#define LINES_MAX 8		/* header lines in one part */
#define PROTOCOL_MAX 128

/* ---- building ------------------------------------------------------------- */

static int put_str(struct wb_writer *w, const char *s)
{
	return wb_put(w, s, strlen(s));
}

static int build_pair(const char *protocol, const uint8_t *plain, size_t n,
		      wb_msgenc_seal_fn seal, void *ctx, struct wb_writer *body,
		      struct wb_error *err)
{
	char length[32];
	uint32_t length_field = 0;
	size_t at;
	int rc;

	snprintf(length, sizeof(length), "%zu", n);
	rc = put_str(body, "--" BOUNDARY "\r\n\tContent-Type: ");
	rc = rc ?: put_str(body, protocol);
	rc = rc ?: put_str(body, "\r\n\tOriginalContent: " ORIGINAL_TYPE);
	rc = rc ?: put_str(body, length);
	rc = rc ?: put_str(body, "\r\n--" BOUNDARY "\r\n\tContent-Type: " OCTET_STREAM "\r\n");
	at = body->len;
	rc = rc ?: wb_put_u32le(body, 0);	/* the length field, known after sealing */
	if (rc < 0)
		return wb_error_set(err, WB_E_INTERNAL, "message encryption: body too large");
	rc = seal(ctx, plain, n, body, &length_field, err);
	if (rc < 0)
		return rc;
	body->data[at] = (uint8_t)length_field;
	body->data[at + 1] = (uint8_t)(length_field >> 8);
	body->data[at + 2] = (uint8_t)(length_field >> 16);
	body->data[at + 3] = (uint8_t)(length_field >> 24);
	return 0;
}

int wb_msgenc_build(const char *protocol, const uint8_t *plain, size_t n, size_t chunk,
		    wb_msgenc_seal_fn seal, void *ctx, struct wb_writer *body,
		    char *content_type, size_t ct_size, struct wb_error *err)
{
	size_t step = chunk && chunk < n ? chunk : n, off;
	int rc, len;

	if (n == 0)
		return wb_error_set(err, WB_E_INTERNAL, "message encryption: nothing to seal");
	if ((n + step - 1) / step > WB_MSGENC_MAX_PARTS)
		return wb_error_set(err, WB_E_INTERNAL, "message encryption: too many parts");
	len = snprintf(content_type, ct_size, "%s;protocol=\"%s\";boundary=\"" BOUNDARY "\"",
		       step < n ? MULTI : SINGLE, protocol);
	if (len < 0 || (size_t)len >= ct_size)
		return wb_error_set(err, WB_E_INTERNAL, "message encryption: protocol too long");
	for (off = 0; off < n; off += step) {
		rc = build_pair(protocol, plain + off, n - off < step ? n - off : step, seal, ctx,
				body, err);
		if (rc < 0)
			return rc;
	}
	if (put_str(body, "--" BOUNDARY "--\r\n") < 0)
		return wb_error_set(err, WB_E_INTERNAL, "message encryption: body too large");
	return 0;
}

/* ---- the Content-Type ------------------------------------------------------- */

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* kind;param=value;param="value": the kind and the protocol parameter. */
static int parse_content_type(const char *ct, bool *multi, char *protocol, size_t psize)
{
	const char *p = skip_blanks(ct), *semi;
	size_t klen = strcspn(p, "; \t");

	if (klen == strlen(SINGLE) && strncasecmp(p, SINGLE, klen) == 0)
		*multi = false;
	else if (klen == strlen(MULTI) && strncasecmp(p, MULTI, klen) == 0)
		*multi = true;
	else
		return -EBADMSG;
	protocol[0] = '\0';
	for (semi = strchr(p, ';'); semi; semi = strchr(semi + 1, ';')) {
		const char *k = skip_blanks(semi + 1), *v = strchr(k, '=');
		size_t vlen;

		if (!v || v > k + strcspn(k, ";"))
			continue;
		v = skip_blanks(v + 1);
		if (*v == '"') {
			v++;
			vlen = strcspn(v, "\"");
		} else {
			vlen = strcspn(v, "; \t");
		}
		if (strncasecmp(k, "protocol", 8) == 0 && (k[8] == '=' || k[8] == ' ')) {
			if (vlen >= psize)
				return -EBADMSG;
			memcpy(protocol, v, vlen);
			protocol[vlen] = '\0';
		} else if (strncasecmp(k, "boundary", 8) == 0 && (k[8] == '=' || k[8] == ' ')) {
			if (vlen != strlen(BOUNDARY) || strncmp(v, BOUNDARY, vlen) != 0)
				return -EBADMSG;
		}
	}
	return protocol[0] ? 0 : -EBADMSG;
}

bool wb_msgenc_is_encrypted(const char *content_type)
{
	const char *p = skip_blanks(content_type);

	return strncasecmp(p, SINGLE, strlen(SINGLE)) == 0 ||
	       strncasecmp(p, MULTI, strlen(MULTI)) == 0;
}

/* ---- the body ----------------------------------------------------------------- */

/* "--", any blanks, the boundary, at the cursor. */
static int get_marker(struct wb_reader *r)
{
	const uint8_t *p;
	uint8_t c = 0;

	if (wb_get_bytes(r, 2, &p) < 0 || memcmp(p, "--", 2) != 0)
		return -EBADMSG;
	while (wb_reader_left(r) && (r->data[r->off] == ' ' || r->data[r->off] == '\t'))
		wb_get_u8(r, &c);
	if (wb_get_bytes(r, strlen(BOUNDARY), &p) < 0 || memcmp(p, BOUNDARY, strlen(BOUNDARY)))
		return -EBADMSG;
	return 0;
}

static bool next_is(const struct wb_reader *r, const char *lit)
{
	size_t n = strlen(lit);

	return wb_reader_left(r) >= n && memcmp(r->data + r->off, lit, n) == 0;
}

static int get_crlf(struct wb_reader *r)
{
	const uint8_t *p;

	if (wb_get_bytes(r, 2, &p) < 0 || memcmp(p, "\r\n", 2) != 0)
		return -EBADMSG;
	return 0;
}

/* The offset (from the cursor) where the next marker starts, or -ENOENT. */
static ssize_t find_marker(const struct wb_reader *r)
{
	struct wb_reader s = *r;
	ssize_t hit;
	size_t at, back;

	for (;;) {
		hit = wb_find(&s, BOUNDARY, strlen(BOUNDARY));
		if (hit < 0)
			return hit;
		at = s.off + (size_t)hit;	/* absolute offset of the boundary text */
		back = at;
		while (back > r->off && (r->data[back - 1] == ' ' || r->data[back - 1] == '\t'))
			back--;
		if (back >= r->off + 2 && r->data[back - 1] == '-' && r->data[back - 2] == '-')
			return (ssize_t)(back - 2 - r->off);
		s.off = at + 1;
	}
}

/* One "Name: value\r\n" line, leading blanks allowed. */
struct header {
	const char *name;	/* not NUL-terminated: lengths below */
	size_t nlen;
	const char *value;
	size_t vlen;
};

static int get_header(struct wb_reader *r, struct header *h)
{
	const uint8_t *p;
	ssize_t end;
	size_t i, n, len;

	end = wb_find(r, "\r\n", 2);
	if (end < 0 || end > LINE_MAX_LEN)
		return -EBADMSG;
	len = (size_t)end;
	if (wb_get_bytes(r, len, &p) < 0 || get_crlf(r) < 0)
		return -EBADMSG;
	for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	h->name = (const char *)p + i;
	for (n = 0; i + n < len && p[i + n] != ':'; n++)
		;
	if (i + n == len || n == 0)
		return -EBADMSG;
	h->nlen = n;
	for (i += n + 1; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	h->value = (const char *)p + i;
	h->vlen = len - i;
	while (h->vlen && (h->value[h->vlen - 1] == ' ' || h->value[h->vlen - 1] == '\t'))
		h->vlen--;
	return 0;
}

static bool header_is(const struct header *h, const char *name)
{
	return h->nlen == strlen(name) && strncasecmp(h->name, name, h->nlen) == 0;
}

static bool value_is(const struct header *h, const char *value)
{
	return h->vlen == strlen(value) && strncasecmp(h->value, value, h->vlen) == 0;
}

/* "...;Length=<digits>" in OriginalContent. */
static int original_length(const struct header *h, size_t *len)
{
	size_t i, v = 0, digits = 0;

	for (i = 0; i + 7 <= h->vlen; i++)
		if (strncasecmp(h->value + i, "Length=", 7) == 0)
			break;
	if (i + 7 > h->vlen)
		return -EBADMSG;
	for (i += 7; i < h->vlen && h->value[i] >= '0' && h->value[i] <= '9'; i++) {
		if (++digits > 10)
			return -EBADMSG;
		v = v * 10 + (size_t)(h->value[i] - '0');
	}
	if (!digits || v > UINT32_MAX)
		return -EBADMSG;
	*len = v;
	return 0;
}

struct parse {
	const char *protocol;
	wb_msgenc_unseal_fn unseal;
	void *ctx;
	struct wb_writer *plain;
	struct wb_error *err;
	size_t part;
};

static int bad(struct parse *ps, const char *why)
{
	return wb_error_set(ps->err, WB_E_REMOTE, "encrypted answer, part %zu: %s; refused",
			    ps->part, why);
}

/* The first part's headers, up to (not including) the next marker. */
static int get_description(struct parse *ps, struct wb_reader *r, size_t *length)
{
	bool have_type = false, have_length = false;
	struct header h;
	int lines;

	for (lines = 0; !next_is(r, "--"); lines++) {
		if (lines == LINES_MAX || get_header(r, &h) < 0)
			return bad(ps, "malformed part header");
		if (header_is(&h, "Content-Type")) {
			if (!value_is(&h, ps->protocol))
				return bad(ps, "part Content-Type is not the session's protocol");
			have_type = true;
		} else if (header_is(&h, "OriginalContent")) {
			if (original_length(&h, length) < 0)
				return bad(ps, "OriginalContent has no valid Length");
			have_length = true;
		}
	}
	if (!have_type || !have_length)
		return bad(ps, "part without Content-Type or OriginalContent");
	return 0;
}

static int get_pair(struct parse *ps, struct wb_reader *r)
{
	const uint8_t *data;
	struct header h;
	uint32_t length_field;
	size_t length = 0, before;
	ssize_t end;
	int rc;

	if (get_crlf(r) < 0)
		return bad(ps, "no line end after the boundary");
	rc = get_description(ps, r, &length);
	if (rc < 0)
		return rc;
	if (get_marker(r) < 0 || get_crlf(r) < 0)
		return bad(ps, "no data part after the description");
	if (get_header(r, &h) < 0 || !header_is(&h, "Content-Type") || !value_is(&h, OCTET_STREAM))
		return bad(ps, "data part is not application/octet-stream");
	end = find_marker(r);
	if (end < 0)
		return bad(ps, "data not followed by a boundary");
	if (end < 4 || wb_get_u32le(r, &length_field) < 0)
		return bad(ps, "data shorter than its length field");
	end -= 4;
	if (length_field > (size_t)end)
		return bad(ps, "length field larger than the data");
	if (wb_get_bytes(r, (size_t)end, &data) < 0)
		return bad(ps, "truncated data");
	before = ps->plain->len;
	rc = ps->unseal(ps->ctx, length_field, data, (size_t)end, ps->plain, ps->err);
	if (rc < 0)
		return rc;
	if (ps->plain->len - before != length) {
		char why[96];

		snprintf(why, sizeof(why), "unsealed %zu bytes but OriginalContent says %zu",
			 ps->plain->len - before, length);
		return bad(ps, why);
	}
	return 0;
}

static int parse_body(const char *content_type, const char *protocol, const uint8_t *body,
		      size_t n, wb_msgenc_unseal_fn unseal, void *ctx, struct wb_writer *plain,
		      struct wb_error *err)
{
	struct parse ps = { protocol, unseal, ctx, plain, err, 0 };
	char got[PROTOCOL_MAX];
	struct wb_reader r;
	bool multi = false;
	int rc;

	if (parse_content_type(content_type, &multi, got, sizeof(got)) < 0)
		return wb_error_set(err, WB_E_REMOTE, "encrypted answer with a malformed "
				    "Content-Type (%.80s); refused", content_type);
	if (strcasecmp(got, protocol) != 0)
		return wb_error_set(err, WB_E_REMOTE, "encrypted answer for protocol %s on a %s "
				    "session; refused", got, protocol);
	wb_reader_init(&r, body, n);
	for (;;) {
		if (get_marker(&r) < 0)
			return bad(&ps, "expected a boundary");
		if (next_is(&r, "--"))
			break;
		if (++ps.part > (multi ? WB_MSGENC_MAX_PARTS : 1))
			return bad(&ps, multi ? "too many parts" : "multipart/encrypted with "
				   "more than one part");
		rc = get_pair(&ps, &r);
		if (rc < 0)
			return rc;
	}
	wb_skip(&r, 2);
	if (ps.part == 0)
		return bad(&ps, "no encrypted part");
	while (wb_reader_left(&r) && memchr(" \t\r\n", r.data[r.off], 4))
		wb_skip(&r, 1);
	if (wb_reader_left(&r))
		return bad(&ps, "bytes after the closing boundary");
	return 0;
}

int wb_msgenc_parse(const char *content_type, const char *protocol, const uint8_t *body,
		    size_t n, wb_msgenc_unseal_fn unseal, void *ctx, struct wb_writer *plain,
		    struct wb_error *err)
{
	size_t start = plain->len;
	int rc = parse_body(content_type, protocol, body, n, unseal, ctx, plain, err);

	if (rc < 0)	/* nothing of a refused answer is left for anyone to use */
		plain->len = start;
	return rc;
}
