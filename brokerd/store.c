/*
 * store.c - see store.h. The file format, version 1 (docs/store.md says
 * the same at more length). All integers are little-endian.
 *
 * Header, 64 bytes:
 *    0   8  magic "WBSTORE\0"
 *    8   4  format version, 1
 *   12   4  frame count, at most WB_STORE_MAX_RECORDS
 *   16  24  key-check nonce (random per write)
 *   40  16  key-check tag: XChaCha20-Poly1305 seal of nothing under the master
 *           key, AD = "wb-store-header\0" || bytes 0..15. It tells "wrong master
 *           key" apart from "corrupt", and authenticates the frame count.
 *   56   8  checksum: unkeyed BLAKE2b-128 (crypto_generichash) of bytes 0..55,
 *           first 8 bytes. It tells "corrupt header" apart from "wrong key".
 *
 * Then `count` frames, back to back, to the end of the file:
 *    0   4  magic "WBRF"
 *    4   4  type: 1 = sealed record, 2 = quarantined bytes
 *    8   4  body length L (the body must fit in the file)
 *   12   8  checksum: BLAKE2b-128 of bytes 0..11, first 8 bytes
 *   20   L  body
 *
 * Sealed record body (type 1), at most WB_STORE_RECORD_MAX bytes:
 *   u32 M, then M bytes of metadata (at most META_MAX)
 *   24 bytes nonce (random per seal)
 *   u32 C, then C bytes: XChaCha20-Poly1305-IETF ciphertext and tag of the
 *   padded secret, AD = "wb-store-record\0" || the M metadata bytes.
 *   Nothing may follow.
 *
 * Metadata (stored in the clear so that listing unseals nothing, yet every
 * byte of it is authenticated as AD):
 *   u8 version (1), u8 scope, u8 kind, u8 0, u32 owner, u32 flags,
 *   u64 created, u64 updated,
 *   name, user, domain: each u32 n then n bytes (no NUL; cred.h limits),
 *   allowed uids, allowed gids: each u32 n (<= WB_CRED_ACL_MAX) then n u32.
 *
 * Secret plaintext: u8 kind, then per kind, each field u32 n (>= 1) then n
 * bytes: password: password (no NUL); certificate: PEM certificate, PEM key;
 * keytab: keytab. Then ISO/IEC 7816-4 padding (0x80 0x00...) to a multiple
 * of 64 bytes (sodium_unpad), so the file shows sizes only coarsely.
 *
 * Loading never gives up on the whole file for one bad record. The frame
 * checksum lets the reader find frame boundaries in damaged data: where a
 * frame header does not check, the reader scans forward for the next "WBRF"
 * whose header checks (and whose end is the end of the file or another good
 * header); the bytes in between are one bad stretch. A record that does not
 * parse or authenticate, a duplicate identity, an unknown frame type and a
 * type-2 frame are bad: reported, never used, and written back verbatim on
 * every rewrite (a bad stretch as the body of a type-2 frame), until an
 * admin calls wb_store_drop_bad. Records the authenticated count has but
 * the file lacks (truncation at a frame boundary) are reported as missing.
 *
 * Not covered: rolling the whole file back to an older copy made with the
 * same key. The store file's permissions (0600, broker's user) guard that.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "buf.h"
#include "io.h"

#define STORE_MAGIC "WBSTORE\0"
#define STORE_VERSION 1u
#define HEADER_LEN 64
#define FRAME_MAGIC "WBRF"
#define FRAME_HDR_LEN 20
#define CHECK_LEN 8
#define META_VERSION 1
#define META_MAX 2048
#define PAD_BLOCK 64
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AD_HEADER "wb-store-header" /* 16 bytes with its NUL */
#define AD_RECORD "wb-store-record"

enum frame_type {
	FRAME_RECORD = 1,
	FRAME_QUARANTINE = 2,
};

struct entry {
	uint32_t type;		/* frame type, written back unchanged */
	bool bad;		/* failed to load: kept verbatim, never used */
	uint8_t *body;		/* frame body; sealed, so plain malloc */
	size_t len;
	struct wb_cred_meta meta;	/* usable records only */
};

struct wb_store {
	const struct wb_masterkey *key;
	int dirfd;		/* -1: an image in memory, no file */
	char *path;		/* for messages */
	char *base;		/* the file's name in dirfd */
	char *tmp;		/* base + ".tmp" */
	struct entry *v;
	size_t n, cap;
	size_t missing;		/* counted by the header, absent from the file */
	char **problems;
	size_t n_problems;
};

/* Views into a sealed record body. */
struct sealed {
	const uint8_t *meta, *nonce, *ct;
	size_t meta_len, ct_len;
};

static void freep(void *p)
{
	free(*(void **)p);
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static void sodium_freep(void *p)
{
	sodium_free(*(void **)p);
}

static void secret_freep(struct wb_secret **s)
{
	wb_secret_free(*s);
}

#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_sodium_ __attribute__((cleanup(sodium_freep)))
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))
#define _cleanup_writer_ __attribute__((cleanup(wb_writer_free)))

/* ---- small codecs ---- */

static void checksum(const uint8_t *p, size_t n, uint8_t out[CHECK_LEN])
{
	uint8_t h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), p, n, NULL, 0);
	memcpy(out, h, CHECK_LEN);
}

static int get_u64le(struct wb_reader *r, uint64_t *v)
{
	uint32_t lo, hi;

	if (wb_get_u32le(r, &lo) < 0 || wb_get_u32le(r, &hi) < 0)
		return -EBADMSG;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

static int put_u64le(struct wb_writer *w, uint64_t v)
{
	int rc = wb_put_u32le(w, (uint32_t)v);

	return rc < 0 ? rc : wb_put_u32le(w, (uint32_t)(v >> 32));
}

/* u32 n, then n bytes, 1 <= n <= max. */
static int get_blob(struct wb_reader *r, size_t max, const uint8_t **p, size_t *n)
{
	uint32_t len;

	if (wb_get_u32le(r, &len) < 0 || len == 0 || len > max)
		return -EBADMSG;
	*n = len;
	return wb_get_bytes(r, len, p);
}

static int put_blob(struct wb_writer *w, const void *p, size_t n)
{
	int rc = wb_put_u32le(w, (uint32_t)n);

	return rc < 0 ? rc : wb_put(w, p, n);
}

/* u32 n, then n bytes without NUL, n <= max; dst holds max + 1. */
static int get_text(struct wb_reader *r, char *dst, size_t max)
{
	const uint8_t *p;
	uint32_t n;

	if (wb_get_u32le(r, &n) < 0 || n > max || wb_get_bytes(r, n, &p) < 0 ||
	    memchr(p, '\0', n))
		return -EBADMSG;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

static int get_ids(struct wb_reader *r, uint32_t *ids, size_t *n)
{
	uint32_t count, i;

	if (wb_get_u32le(r, &count) < 0 || count > WB_CRED_ACL_MAX)
		return -EBADMSG;
	for (i = 0; i < count; i++)
		if (wb_get_u32le(r, &ids[i]) < 0)
			return -EBADMSG;
	*n = count;
	return 0;
}

static int put_ids(struct wb_writer *w, const uint32_t *ids, size_t n)
{
	int rc = wb_put_u32le(w, (uint32_t)n);
	size_t i;

	for (i = 0; rc == 0 && i < n; i++)
		rc = wb_put_u32le(w, ids[i]);
	return rc;
}

/* ---- metadata ---- */

_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
	       "uids and gids are stored as u32");

static bool meta_valid(const struct wb_cred_meta *m, const char **why)
{
	*why = NULL;
	if (!memchr(m->name, '\0', sizeof(m->name)) || !wb_cred_name_valid(m->name))
		*why = "bad name: 1 to 64 of [A-Za-z0-9._@-], starting with a letter or digit";
	else if (m->scope != WB_SCOPE_PERSONAL && m->scope != WB_SCOPE_SHARED)
		*why = "bad scope";
	else if (m->scope == WB_SCOPE_SHARED && m->owner != 0)
		*why = "a shared credential has owner 0";
	else if (m->owner == (uid_t)-1)
		*why = "bad owner";
	else if (m->kind < WB_CRED_PASSWORD || m->kind > WB_CRED_KEYTAB)
		*why = "bad kind";
	else if (!memchr(m->user, '\0', sizeof(m->user)) ||
		 !memchr(m->domain, '\0', sizeof(m->domain)))
		*why = "user or domain longer than 256 bytes";
	else if (m->flags & ~WB_CRED_F_DELEGATE)
		*why = "unknown flags";
	else if (m->n_allow_uids > WB_CRED_ACL_MAX || m->n_allow_gids > WB_CRED_ACL_MAX)
		*why = "more than 64 allowed uids or gids";
	return *why == NULL;
}

static int put_meta(struct wb_writer *w, const struct wb_cred_meta *m)
{
	int rc = 0;

	rc = rc ?: wb_put_u8(w, META_VERSION);
	rc = rc ?: wb_put_u8(w, (uint8_t)m->scope);
	rc = rc ?: wb_put_u8(w, (uint8_t)m->kind);
	rc = rc ?: wb_put_u8(w, 0);
	rc = rc ?: wb_put_u32le(w, m->owner);
	rc = rc ?: wb_put_u32le(w, m->flags);
	rc = rc ?: put_u64le(w, (uint64_t)m->created);
	rc = rc ?: put_u64le(w, (uint64_t)m->updated);
	rc = rc ?: put_blob(w, m->name, strlen(m->name));
	rc = rc ?: put_blob(w, m->user, strlen(m->user));
	rc = rc ?: put_blob(w, m->domain, strlen(m->domain));
	rc = rc ?: put_ids(w, m->allow_uids, m->n_allow_uids);
	rc = rc ?: put_ids(w, m->allow_gids, m->n_allow_gids);
	return rc;
}

static int parse_meta(const uint8_t *p, size_t n, struct wb_cred_meta *m, const char **why)
{
	struct wb_reader r;
	uint8_t version, scope, kind, zero;
	uint64_t created, updated;

	memset(m, 0, sizeof(*m));
	*why = "metadata malformed";
	wb_reader_init(&r, p, n);
	if (wb_get_u8(&r, &version) < 0 || version != META_VERSION) {
		*why = "unknown metadata version";
		return -EBADMSG;
	}
	if (wb_get_u8(&r, &scope) < 0 || wb_get_u8(&r, &kind) < 0 || wb_get_u8(&r, &zero) < 0 ||
	    zero != 0 || wb_get_u32le(&r, &m->owner) < 0 || wb_get_u32le(&r, &m->flags) < 0 ||
	    get_u64le(&r, &created) < 0 || get_u64le(&r, &updated) < 0 ||
	    get_text(&r, m->name, WB_CRED_NAME_MAX) < 0 ||
	    get_text(&r, m->user, WB_CRED_TEXT_MAX) < 0 ||
	    get_text(&r, m->domain, WB_CRED_TEXT_MAX) < 0 ||
	    get_ids(&r, m->allow_uids, &m->n_allow_uids) < 0 ||
	    get_ids(&r, m->allow_gids, &m->n_allow_gids) < 0 || wb_reader_left(&r) != 0)
		return -EBADMSG;
	m->scope = (enum wb_cred_scope)scope;
	m->kind = (enum wb_cred_kind)kind;
	m->created = (int64_t)created;
	m->updated = (int64_t)updated;
	return meta_valid(m, why) ? 0 : -EBADMSG;
}

/* ---- secrets ---- */

static bool secret_valid(const struct wb_secret *sec, enum wb_cred_kind kind, const char **why)
{
	size_t n;

	*why = NULL;
	if (!sec || sec->kind != kind)
		*why = "the secret's kind differs from the credential's kind";
	else if (kind == WB_CRED_PASSWORD &&
		 (!sec->password || (n = strnlen(sec->password, WB_CRED_SECRET_MAX + 1)) == 0 ||
		  n > WB_CRED_SECRET_MAX))
		*why = "the password is empty or longer than 65536 bytes";
	else if (kind == WB_CRED_CERTIFICATE &&
		 (!sec->cert_pem || sec->cert_len == 0 || sec->cert_len > WB_CRED_CERT_MAX ||
		  !sec->key_pem || sec->key_len == 0 || sec->key_len > WB_CRED_SECRET_MAX))
		*why = "the certificate or key is empty or longer than 65536 bytes";
	else if (kind == WB_CRED_KEYTAB &&
		 (!sec->keytab || sec->keytab_len == 0 || sec->keytab_len > WB_CRED_SECRET_MAX))
		*why = "the keytab is empty or longer than 65536 bytes";
	return *why == NULL;
}

/* Serializes a valid secret into w (a WB_SECRET writer), padded. */
static int put_secret(struct wb_writer *w, const struct wb_secret *sec)
{
	int rc = wb_put_u8(w, (uint8_t)sec->kind);

	if (sec->kind == WB_CRED_PASSWORD)
		rc = rc ?: put_blob(w, sec->password, strlen(sec->password));
	if (sec->kind == WB_CRED_CERTIFICATE) {
		rc = rc ?: put_blob(w, sec->cert_pem, sec->cert_len);
		rc = rc ?: put_blob(w, sec->key_pem, sec->key_len);
	}
	if (sec->kind == WB_CRED_KEYTAB)
		rc = rc ?: put_blob(w, sec->keytab, sec->keytab_len);
	rc = rc ?: wb_put_u8(w, 0x80);
	while (rc == 0 && w->len % PAD_BLOCK)
		rc = wb_put_u8(w, 0);
	return rc;
}

/* Copies a blob into sec's sodium_malloc'd field (when sec is not NULL). */
static int take_blob(struct wb_reader *r, size_t max, struct wb_secret *sec, uint8_t **dst,
		     size_t *dst_len, bool text)
{
	const uint8_t *p;
	size_t n;

	if (get_blob(r, max, &p, &n) < 0 || (text && memchr(p, '\0', n)))
		return -EBADMSG;
	return sec ? wb_secret_set(dst, dst_len, p, n) : 0;
}

/* Parses an unpadded secret; with out NULL it only checks. */
static int parse_secret(const uint8_t *p, size_t n, enum wb_cred_kind kind,
			struct wb_secret **out, const char **why)
{
	_cleanup_secret_ struct wb_secret *sec = NULL;
	uint8_t *password = NULL;
	struct wb_reader r;
	uint8_t k;
	int rc;

	wb_reader_init(&r, p, n);
	if (wb_get_u8(&r, &k) < 0 || k != kind) {
		*why = "the sealed secret's kind differs from the metadata";
		return -EBADMSG;
	}
	if (out && !(sec = wb_secret_new(kind)))
		return -ENOMEM;
	if (kind == WB_CRED_PASSWORD) {
		rc = take_blob(&r, WB_CRED_SECRET_MAX, sec, &password, NULL, true);
		if (sec)
			sec->password = (char *)password;
	} else if (kind == WB_CRED_CERTIFICATE) {
		rc = take_blob(&r, WB_CRED_CERT_MAX, sec, sec ? &sec->cert_pem : NULL,
			       sec ? &sec->cert_len : NULL, false);
		rc = rc ?: take_blob(&r, WB_CRED_SECRET_MAX, sec, sec ? &sec->key_pem : NULL,
				     sec ? &sec->key_len : NULL, false);
	} else {
		rc = take_blob(&r, WB_CRED_SECRET_MAX, sec, sec ? &sec->keytab : NULL,
			       sec ? &sec->keytab_len : NULL, false);
	}
	if (rc == 0 && wb_reader_left(&r) != 0)
		rc = -EBADMSG;
	if (rc < 0) {
		*why = rc == -ENOMEM ? "out of memory" : "the sealed secret is malformed";
		return rc;
	}
	if (out) {
		*out = sec;
		sec = NULL;
	}
	return 0;
}

/* ---- sealing ---- */

static int make_ad(struct wb_writer *ad, const char *label, const uint8_t *p, size_t n)
{
	wb_writer_init(ad, sizeof(AD_RECORD) + META_MAX, WB_PLAIN);
	return wb_put(ad, label, strlen(label) + 1) ?: wb_put(ad, p, n);
}

static int split_record(const uint8_t *body, size_t len, struct sealed *sd)
{
	struct wb_reader r;
	uint32_t m, c;

	wb_reader_init(&r, body, len);
	if (len > WB_STORE_RECORD_MAX || wb_get_u32le(&r, &m) < 0 || m > META_MAX ||
	    wb_get_bytes(&r, m, &sd->meta) < 0 || wb_get_bytes(&r, NONCE_LEN, &sd->nonce) < 0 ||
	    wb_get_u32le(&r, &c) < 0 || c < TAG_LEN + PAD_BLOCK ||
	    wb_get_bytes(&r, c, &sd->ct) < 0 || wb_reader_left(&r) != 0)
		return -EBADMSG;
	sd->meta_len = m;
	sd->ct_len = c;
	return 0;
}

/*
 * Parses and authenticates a sealed record body; unseals the secret into
 * *secret when secret is not NULL. -EBADMSG with *why for a bad record,
 * -ENOMEM when out of memory.
 */
static int open_record(const uint8_t *key, const uint8_t *body, size_t len,
		       struct wb_cred_meta *meta, struct wb_secret **secret, const char **why)
{
	_cleanup_writer_ struct wb_writer ad = { 0 };
	_cleanup_sodium_ uint8_t *pt = NULL;
	unsigned long long pt_len = 0;
	struct sealed sd;
	size_t unpadded;
	int rc;

	memset(meta, 0, sizeof(*meta));
	if (split_record(body, len, &sd) < 0) {
		*why = "record layout malformed";
		return -EBADMSG;
	}
	rc = parse_meta(sd.meta, sd.meta_len, meta, why);
	if (rc < 0)
		return rc;
	pt = sodium_malloc(sd.ct_len);
	if (!pt || make_ad(&ad, AD_RECORD, sd.meta, sd.meta_len) < 0) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, sd.ct, sd.ct_len,
						       ad.data, ad.len, sd.nonce, key) != 0) {
		*why = "does not authenticate under the master key: tampered or corrupt";
		return -EBADMSG;
	}
	if (sodium_unpad(&unpadded, pt, (size_t)pt_len, PAD_BLOCK) != 0) {
		*why = "the sealed secret's padding is malformed";
		return -EBADMSG;
	}
	return parse_secret(pt, unpadded, meta->kind, secret, why);
}

/* Seals a valid record into a fresh malloc'd body. */
static int seal_record(const uint8_t *key, const struct wb_cred_meta *m,
		       const struct wb_secret *sec, uint8_t **body, size_t *len)
{
	_cleanup_writer_ struct wb_writer meta = { 0 }, ad = { 0 }, pt = { 0 }, out = { 0 };
	_cleanup_free_ uint8_t *ct = NULL;
	uint8_t nonce[NONCE_LEN];
	unsigned long long ct_len = 0;
	int rc;

	wb_writer_init(&meta, META_MAX, WB_PLAIN);
	wb_writer_init(&pt, WB_STORE_RECORD_MAX, WB_SECRET);
	wb_writer_init(&out, WB_STORE_RECORD_MAX, WB_PLAIN);
	rc = put_meta(&meta, m) ?: make_ad(&ad, AD_RECORD, meta.data, meta.len) ?:
	     put_secret(&pt, sec);
	if (rc < 0)
		return rc;
	ct = malloc(pt.len + TAG_LEN);
	if (!ct)
		return -ENOMEM;
	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, pt.data, pt.len, ad.data, ad.len,
						   NULL, nonce, key);
	rc = put_blob(&out, meta.data, meta.len) ?: wb_put(&out, nonce, sizeof(nonce)) ?:
	     put_blob(&out, ct, (size_t)ct_len);
	if (rc < 0)
		return rc;
	*body = out.data;	/* plain writer memory: the caller free()s it */
	*len = out.len;
	out.data = NULL;
	return 0;
}

/* ---- the in-memory store ---- */

static bool same_identity(const struct wb_cred_meta *m, enum wb_cred_scope scope, uid_t owner,
			  const char *name)
{
	return m->scope == scope && m->owner == owner && strcmp(m->name, name) == 0;
}

static ssize_t find(const struct wb_store *s, enum wb_cred_scope scope, uid_t owner,
		    const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->v[i].bad && same_identity(&s->v[i].meta, scope, owner, name))
			return (ssize_t)i;
	return -1;
}

static int append(struct wb_store *s, const struct entry *e)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct entry *v = reallocarray(s->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *e;
	return 0;
}

static int note(struct wb_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int note(struct wb_store *s, const char *fmt, ...)
{
	char **v = reallocarray(s->problems, s->n_problems + 1, sizeof(*v));
	va_list ap;
	int rc;

	if (!v)
		return -ENOMEM;
	s->problems = v;
	va_start(ap, fmt);
	rc = vasprintf(&v[s->n_problems], fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -ENOMEM;
	s->n_problems++;
	return 0;
}

static const char *scope_name(enum wb_cred_scope scope)
{
	return scope == WB_SCOPE_SHARED ? "shared" :
	       scope == WB_SCOPE_PERSONAL ? "personal" : "unknown scope";
}

/* Adds a frame read from the file; a bad one is kept and reported. */
static int add_frame(struct wb_store *s, uint32_t type, const uint8_t *body, size_t len,
		     size_t off)
{
	struct entry e = { .type = type, .bad = true, .len = len };
	const char *why = NULL;
	ssize_t dup = -1;
	int rc;

	e.body = malloc(len ? len : 1);
	if (!e.body)
		return -ENOMEM;
	memcpy(e.body, body, len);
	if (type == FRAME_RECORD) {
		rc = open_record(wb_masterkey_bytes(s->key), body, len, &e.meta, NULL, &why);
		if (rc == -ENOMEM)
			goto fail;
		dup = rc == 0 ? find(s, e.meta.scope, e.meta.owner, e.meta.name) : -1;
		e.bad = rc < 0 || dup >= 0;
		/* Kept as quarantined bytes, so removing the first copy never revives it. */
		if (dup >= 0)
			e.type = FRAME_QUARANTINE;
	}
	if (type == FRAME_QUARANTINE)
		rc = note(s, "record #%zu at offset %zu: %zu bad bytes kept from an earlier load (docs/store.md)",
			  s->n, off, len);
	else if (type != FRAME_RECORD)
		rc = note(s, "record #%zu at offset %zu: unknown frame type %u; kept, not used",
			  s->n, off, (unsigned)type);
	else if (dup >= 0)
		rc = note(s, "record #%zu at offset %zu (\"%s\", %s, uid %u): duplicate of record #%zd; kept, not used",
			  s->n, off, e.meta.name, scope_name(e.meta.scope),
			  (unsigned)e.meta.owner, dup);
	else if (e.bad && wb_cred_name_valid(e.meta.name))
		rc = note(s, "record #%zu at offset %zu (\"%s\", %s, uid %u): %s; kept, not used",
			  s->n, off, e.meta.name, scope_name(e.meta.scope),
			  (unsigned)e.meta.owner, why);
	else if (e.bad)
		rc = note(s, "record #%zu at offset %zu: %s; kept, not used", s->n, off, why);
	else
		rc = 0;
	if (rc == 0 && (rc = append(s, &e)) == 0)
		return 0;
fail:
	free(e.body);
	return -ENOMEM;
}

/* Adds a stretch of bytes no frame header accounts for, to be kept as a type-2 frame. */
static int add_stretch(struct wb_store *s, const uint8_t *p, size_t len, size_t off)
{
	struct entry e = { .type = FRAME_QUARANTINE, .bad = true, .len = len };

	e.body = malloc(len);
	if (!e.body)
		return -ENOMEM;
	memcpy(e.body, p, len);
	if (note(s, "record #%zu at offset %zu: frame header damaged or file cut short; %zu bytes kept, not used",
		 s->n, off, len) < 0 || append(s, &e) < 0) {
		free(e.body);
		return -ENOMEM;
	}
	return 0;
}

/* ---- reading the image ---- */

/* True if a frame header at off checks and its body fits in the image. */
static bool frame_at(const uint8_t *buf, size_t len, size_t off, uint32_t *type, size_t *body_len)
{
	const uint8_t *magic, *check;
	uint8_t want[CHECK_LEN];
	struct wb_reader r;
	uint32_t t, n;

	wb_reader_init(&r, buf + off, len - off);
	if (wb_get_bytes(&r, 4, &magic) < 0 || wb_get_u32le(&r, &t) < 0 ||
	    wb_get_u32le(&r, &n) < 0 || wb_get_bytes(&r, CHECK_LEN, &check) < 0 ||
	    memcmp(magic, FRAME_MAGIC, 4) != 0)
		return false;
	checksum(buf + off, 12, want);
	if (memcmp(want, check, CHECK_LEN) != 0 || n > wb_reader_left(&r))
		return false;
	*type = t;
	*body_len = n;
	return true;
}

/*
 * The next offset after `from` where a good frame starts, or len. A
 * candidate must also end where the file ends or another good header
 * starts, so a frame header inside quarantined bytes cannot swallow the
 * records after it.
 */
static size_t resync(const uint8_t *buf, size_t len, size_t from)
{
	size_t off = from, n, n2;
	uint32_t t;
	struct wb_reader r;
	ssize_t hit;

	while (off < len) {
		wb_reader_init(&r, buf + off, len - off);
		hit = wb_find(&r, FRAME_MAGIC, 4);
		if (hit < 0)
			break;
		off += (size_t)hit;
		if (frame_at(buf, len, off, &t, &n)) {
			size_t end = off + FRAME_HDR_LEN + n;

			if (end == len || frame_at(buf, len, end, &t, &n2))
				return off;
		}
		off++;
	}
	return len;
}

static int check_header(const struct wb_store *s, const uint8_t *buf, size_t len,
			uint32_t *count, struct wb_error *err)
{
	_cleanup_writer_ struct wb_writer ad = { 0 };
	const uint8_t *nonce, *tag, *check;
	uint8_t want[CHECK_LEN], dummy[1];
	unsigned long long dummy_len;
	struct wb_reader r;
	uint32_t version;

	if (len == 0)
		return wb_error_set(err, WB_E_STORE,
				    "the file is empty (0 bytes): truncated? restore it from a backup, or remove it to start an empty store");
	if (memcmp(buf, STORE_MAGIC, len < 8 ? len : 8) != 0)
		return wb_error_set(err, WB_E_STORE, "not a winrm-broker store (bad magic)");
	if (len < HEADER_LEN)
		return wb_error_set(err, WB_E_STORE,
				    "truncated inside its header (%zu of %d bytes); restore it from a backup",
				    len, HEADER_LEN);
	wb_reader_init(&r, buf, len);
	wb_skip(&r, 8);
	wb_get_u32le(&r, &version);
	wb_get_u32le(&r, count);
	wb_get_bytes(&r, NONCE_LEN, &nonce);
	wb_get_bytes(&r, TAG_LEN, &tag);
	wb_get_bytes(&r, CHECK_LEN, &check);
	checksum(buf, HEADER_LEN - CHECK_LEN, want);
	if (memcmp(want, check, CHECK_LEN) != 0)
		return wb_error_set(err, WB_E_STORE,
				    version == STORE_VERSION ?
				    "the header is corrupt (checksum mismatch); restore it from a backup" :
				    "the header is corrupt or of an unknown format version; restore it from a backup");
	if (version != STORE_VERSION)
		return wb_error_set(err, WB_E_STORE,
				    "format version %u; this broker reads version %u (a newer winrm-broker wrote it?)",
				    version, STORE_VERSION);
	if (*count > WB_STORE_MAX_RECORDS)
		return wb_error_set(err, WB_E_STORE, "the header counts %u records, more than %d",
				    *count, WB_STORE_MAX_RECORDS);
	if (make_ad(&ad, AD_HEADER, buf, 16) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dummy, &dummy_len, NULL, tag, TAG_LEN,
						       ad.data, ad.len, nonce,
						       wb_masterkey_bytes(s->key)) != 0)
		return wb_error_set(err, WB_E_STORE,
				    "wrong master key: the store's key check fails under this key (the header itself is intact); load the key this store was written with");
	return 0;
}

static int load_image(struct wb_store *s, const uint8_t *buf, size_t len, struct wb_error *err)
{
	size_t off = HEADER_LEN, body_len;
	uint32_t count = 0, type;
	int rc;

	if (len > WB_STORE_FILE_MAX)
		return wb_error_set(err, WB_E_STORE, "larger than %u bytes", WB_STORE_FILE_MAX);
	rc = check_header(s, buf, len, &count, err);
	while (rc == 0 && off < len) {
		if (s->n == WB_STORE_MAX_RECORDS)
			return wb_error_set(err, WB_E_STORE,
					    "more than %d records in the file: corrupt, or not written by winrm-broker",
					    WB_STORE_MAX_RECORDS);
		if (frame_at(buf, len, off, &type, &body_len)) {
			rc = add_frame(s, type, buf + off + FRAME_HDR_LEN, body_len, off);
			off += FRAME_HDR_LEN + body_len;
		} else {
			size_t next = resync(buf, len, off + 1);

			rc = add_stretch(s, buf + off, next - off, off);
			off = next;
		}
		if (rc < 0)
			return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	}
	if (rc < 0)
		return rc;
	if (count > s->n) {
		s->missing = count - s->n;
		rc = note(s, "%zu records missing: the header counts %u, the file holds %zu (cut short, or records removed outside the broker)",
			  s->missing, count, s->n);
	} else if (count < s->n) {
		rc = note(s, "the file holds %zu records but its header counts %u (records added outside the broker?)",
			  s->n, count);
	}
	return rc < 0 ? wb_error_set(err, WB_E_INTERNAL, "out of memory") : 0;
}

static struct wb_store *store_new(const struct wb_masterkey *key)
{
	struct wb_store *s = calloc(1, sizeof(*s));

	if (s) {
		s->key = key;
		s->dirfd = -1;
	}
	return s;
}

int wb_store_parse(const uint8_t *buf, size_t len, const struct wb_masterkey *key,
		   struct wb_store **out, struct wb_error *err)
{
	struct wb_store *s = store_new(key);
	int rc;

	*out = NULL;
	if (!s)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	rc = load_image(s, buf, len, err);
	if (rc < 0) {
		wb_store_close(s);
		return wb_error_prefix(err, "store image");
	}
	*out = s;
	return 0;
}

/* ---- the file ---- */

static int set_paths(struct wb_store *s, const char *path)
{
	_cleanup_free_ char *copy1 = strdup(path), *copy2 = strdup(path);

	s->path = strdup(path);
	if (!copy1 || !copy2 || !s->path)
		return -ENOMEM;
	s->base = strdup(basename(copy1));
	if (!s->base || asprintf(&s->tmp, "%s.tmp", s->base) < 0) {
		s->tmp = NULL;
		return -ENOMEM;
	}
	s->dirfd = open(dirname(copy2), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->dirfd < 0 ? -errno : 0;
}

/* Reads the whole store file; *buf stays NULL when there is none. */
static int read_file(struct wb_store *s, uint8_t **buf, size_t *len, struct wb_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t got = 0;

	*buf = NULL;
	*len = 0;
	fd = openat(s->dirfd, s->base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return wb_error_set(err, WB_E_STORE, "cannot open: %s%s", strerror(errno),
				    errno == ELOOP ? " (the store must not be a symlink)" : "");
	if (fstat(fd, &st) < 0)
		return wb_error_set(err, WB_E_STORE, "stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return wb_error_set(err, WB_E_STORE, "not a regular file");
	if ((uint64_t)st.st_size > WB_STORE_FILE_MAX)
		return wb_error_set(err, WB_E_STORE, "larger than %u bytes", WB_STORE_FILE_MAX);
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	/* Read to EOF, not to st_size: the file is ours and locked, but be exact. */
	for (;;) {
		ssize_t r = read(fd, *buf + got, (size_t)st.st_size + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wb_error_set(err, WB_E_STORE, "read: %s", strerror(errno));
		if (r == 0 || (got += (size_t)r) > (size_t)st.st_size)
			break;
	}
	if (got != (size_t)st.st_size)
		return wb_error_set(err, WB_E_STORE, "the file changed size while being read");
	*len = got;
	return 0;
}

int wb_store_open(const char *path, const struct wb_masterkey *key, struct wb_store **out,
		  struct wb_error *err)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct wb_store *s = store_new(key);
	size_t len;
	int rc;

	*out = NULL;
	if (!s)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	rc = set_paths(s, path);
	if (rc < 0) {
		rc = wb_error_set(err, rc == -ENOMEM ? WB_E_INTERNAL : WB_E_STORE,
				  "its directory: %s", strerror(-rc));
		goto fail;
	}
	/* One writer per file: a second broker would silently undo our writes. */
	if (flock(s->dirfd, LOCK_EX | LOCK_NB) < 0) {
		rc = wb_error_set(err, WB_E_STORE, "in use by another process (%s); is another winrm-brokerd running?",
				  strerror(errno));
		goto fail;
	}
	/* A temp file left by a crash is never the store: drop it. */
	unlinkat(s->dirfd, s->tmp, 0);
	rc = read_file(s, &buf, &len, err);
	if (rc == 0 && buf)
		rc = load_image(s, buf, len, err);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	wb_store_close(s);
	return wb_error_prefix(err, "store %s", path);
}


static int serialize(const struct wb_store *s, struct wb_writer *w)
{
	_cleanup_writer_ struct wb_writer ad = { 0 };
	uint8_t nonce[NONCE_LEN], tag[TAG_LEN], check[CHECK_LEN], dummy = 0;
	unsigned long long tag_len;
	size_t i, start;
	int rc;

	rc = wb_put(w, STORE_MAGIC, 8) ?: wb_put_u32le(w, STORE_VERSION) ?:
	     wb_put_u32le(w, (uint32_t)s->n) ?: make_ad(&ad, AD_HEADER, w->data, 16);
	if (rc < 0)
		return rc;
	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(tag, &tag_len, &dummy, 0, ad.data, ad.len,
						   NULL, nonce, wb_masterkey_bytes(s->key));
	rc = wb_put(w, nonce, sizeof(nonce)) ?: wb_put(w, tag, sizeof(tag));
	if (rc < 0)
		return rc;
	checksum(w->data, w->len, check);
	rc = wb_put(w, check, sizeof(check));
	for (i = 0; rc == 0 && i < s->n; i++) {
		start = w->len;
		rc = wb_put(w, FRAME_MAGIC, 4) ?: wb_put_u32le(w, s->v[i].type) ?:
		     wb_put_u32le(w, (uint32_t)s->v[i].len);
		if (rc < 0)
			break;
		checksum(w->data + start, 12, check);
		rc = wb_put(w, check, sizeof(check)) ?: wb_put(w, s->v[i].body, s->v[i].len);
	}
	return rc;
}

/*
 * Rewrites the file from memory: temp file, fsync, rename, fsync of the
 * directory. *renamed tells the caller whether the new content is in place
 * (then memory must keep the new state even if an error is returned).
 */
static int save(struct wb_store *s, bool *renamed, struct wb_error *err)
{
	_cleanup_writer_ struct wb_writer w = { 0 };
	_cleanup_close_ int fd = -1;
	int rc;

	*renamed = false;
	if (s->dirfd < 0)
		return 0;
	wb_writer_init(&w, WB_STORE_FILE_MAX, WB_PLAIN);
	rc = serialize(s, &w);
	if (rc < 0)
		return wb_error_set(err, rc == -EMSGSIZE ? WB_E_LIMIT : WB_E_INTERNAL,
				    "store %s: %s", s->path,
				    rc == -EMSGSIZE ? "it would exceed its size limit" : "out of memory");
	unlinkat(s->dirfd, s->tmp, 0);
	fd = openat(s->dirfd, s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return wb_error_set(err, WB_E_STORE, "store %s: cannot create %s: %s; nothing changed",
				    s->path, s->tmp, strerror(errno));
	rc = wb_write_all(fd, w.data, w.len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && close(fd) < 0)
		rc = -errno;
	fd = -1;
	if (rc == 0 && renameat(s->dirfd, s->tmp, s->dirfd, s->base) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(s->dirfd, s->tmp, 0);
		return wb_error_set(err, WB_E_STORE, "store %s: cannot write it: %s; nothing changed",
				    s->path, strerror(-rc));
	}
	*renamed = true;
	if (fsync(s->dirfd) < 0)
		return wb_error_set(err, WB_E_STORE,
				    "store %s: written, but the directory fsync failed: %s; the change may not survive a power loss",
				    s->path, strerror(errno));
	return 0;
}

/* ---- operations ---- */

int wb_store_put(struct wb_store *s, const struct wb_cred_meta *meta,
		 const struct wb_secret *secret, bool replace, struct wb_error *err)
{
	struct entry e = { .type = FRAME_RECORD }, old;
	const char *why;
	bool renamed;
	ssize_t i;
	int rc;

	e.meta = *meta;
	if (!meta_valid(&e.meta, &why) || !secret_valid(secret, e.meta.kind, &why))
		return wb_error_set(err, WB_E_INVALID, "credential: %s", why);
	i = find(s, e.meta.scope, e.meta.owner, e.meta.name);
	if (i >= 0 && !replace)
		return wb_error_set(err, WB_E_EXISTS,
				    "credential \"%s\" exists; ask to replace it", e.meta.name);
	if (i < 0 && s->n >= WB_STORE_MAX_RECORDS)
		return wb_error_set(err, WB_E_LIMIT, "the store holds %d records, its limit",
				    WB_STORE_MAX_RECORDS);
	e.meta.updated = (int64_t)time(NULL);
	e.meta.created = i >= 0 ? s->v[i].meta.created : e.meta.updated;
	rc = seal_record(wb_masterkey_bytes(s->key), &e.meta, secret, &e.body, &e.len);
	if (rc < 0)
		return wb_error_set(err, rc == -EMSGSIZE ? WB_E_LIMIT : WB_E_INTERNAL,
				    "credential \"%s\": %s", e.meta.name,
				    rc == -EMSGSIZE ? "too large" : "out of memory");
	if (i < 0 && append(s, &e) < 0) {
		free(e.body);
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	}
	if (i >= 0) {
		old = s->v[i];
		s->v[i] = e;
	}
	rc = save(s, &renamed, err);
	if (rc < 0 && !renamed) {	/* undo: memory matches the file again */
		if (i < 0)
			s->n--;
		else
			s->v[i] = old;
		free(e.body);
		return rc;
	}
	if (i >= 0)
		free(old.body);
	return rc;
}

int wb_store_remove(struct wb_store *s, enum wb_cred_scope scope, uid_t owner, const char *name,
		    struct wb_error *err)
{
	ssize_t i = name ? find(s, scope, owner, name) : -1;
	struct entry old;
	bool renamed;
	int rc;

	if (i < 0)
		return wb_error_set(err, WB_E_NOCRED, "no credential \"%s\"", name ? name : "");
	old = s->v[i];
	memmove(&s->v[i], &s->v[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->v));
	s->n--;
	rc = save(s, &renamed, err);
	if (rc < 0 && !renamed) {
		memmove(&s->v[i + 1], &s->v[i], (s->n - (size_t)i) * sizeof(*s->v));
		s->v[i] = old;
		s->n++;
		return rc;
	}
	free(old.body);
	return rc;
}

int wb_store_get(struct wb_store *s, enum wb_cred_scope scope, uid_t owner, const char *name,
		 struct wb_cred_meta *meta, struct wb_secret **secret, struct wb_error *err)
{
	ssize_t i = name ? find(s, scope, owner, name) : -1;
	struct wb_cred_meta m;
	const char *why = NULL;
	int rc;

	if (secret)
		*secret = NULL;
	if (i < 0)
		return wb_error_set(err, WB_E_NOCRED, "no credential \"%s\"", name ? name : "");
	if (meta)
		*meta = s->v[i].meta;
	if (!secret)
		return 0;
	/* Authenticated again: memory is not trusted more than the file was. */
	rc = open_record(wb_masterkey_bytes(s->key), s->v[i].body, s->v[i].len, &m, secret, &why);
	if (rc < 0)
		return wb_error_set(err, rc == -ENOMEM ? WB_E_INTERNAL : WB_E_STORE,
				    "credential \"%s\": cannot unseal: %s", name, why);
	return 0;
}

int wb_store_list(const struct wb_store *s, int (*visit)(const struct wb_cred_meta *m, void *ctx),
		  void *ctx)
{
	size_t i;
	int rc;

	for (i = 0; i < s->n; i++)
		if (!s->v[i].bad && (rc = visit(&s->v[i].meta, ctx)) != 0)
			return rc;
	return 0;
}

size_t wb_store_bad_count(const struct wb_store *s)
{
	size_t i, bad = s->missing;

	for (i = 0; i < s->n; i++)
		bad += s->v[i].bad;
	return bad;
}

int wb_store_problems(const struct wb_store *s, int (*visit)(const char *msg, void *ctx),
		      void *ctx)
{
	size_t i;
	int rc;

	for (i = 0; i < s->n_problems; i++)
		if ((rc = visit(s->problems[i], ctx)) != 0)
			return rc;
	return 0;
}

static void clear_problems(struct wb_store *s)
{
	size_t i;

	for (i = 0; i < s->n_problems; i++)
		free(s->problems[i]);
	free(s->problems);
	s->problems = NULL;
	s->n_problems = 0;
}

int wb_store_drop_bad(struct wb_store *s, struct wb_error *err)
{
	_cleanup_free_ struct entry *saved = NULL;
	size_t i, n = s->n, kept = 0;
	bool renamed;
	int rc;

	saved = malloc((n ? n : 1) * sizeof(*saved));
	if (!saved)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	if (n)
		memcpy(saved, s->v, n * sizeof(*saved));
	for (i = 0; i < n; i++)
		if (!saved[i].bad)
			s->v[kept++] = saved[i];
	s->n = kept;
	rc = save(s, &renamed, err);
	if (rc < 0 && !renamed) {
		if (n)
			memcpy(s->v, saved, n * sizeof(*saved));
		s->n = n;
		return rc;
	}
	for (i = 0; i < n; i++)
		if (saved[i].bad)
			free(saved[i].body);
	s->missing = 0;
	clear_problems(s);
	return rc < 0 ? rc : (int)(n - kept);
}

void wb_store_close(struct wb_store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		free(s->v[i].body);
	free(s->v);
	clear_problems(s);
	if (s->dirfd >= 0)
		close(s->dirfd);	/* releases the flock */
	free(s->path);
	free(s->base);
	free(s->tmp);
	free(s);
}
