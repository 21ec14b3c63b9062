/* buf.c - bounded byte readers and writers (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void wb_reader_init(struct wb_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->off = 0;
}

size_t wb_reader_left(const struct wb_reader *r)
{
	return r->len - r->off;
}

int wb_get_bytes(struct wb_reader *r, size_t n, const uint8_t **p)
{
	if (n > wb_reader_left(r))
		return -EBADMSG;
	*p = r->data + r->off;
	r->off += n;
	return 0;
}

int wb_skip(struct wb_reader *r, size_t n)
{
	const uint8_t *p;

	return wb_get_bytes(r, n, &p);
}

int wb_get_u8(struct wb_reader *r, uint8_t *v)
{
	const uint8_t *p;
	int rc = wb_get_bytes(r, 1, &p);

	if (rc == 0)
		*v = p[0];
	return rc;
}

int wb_get_u16le(struct wb_reader *r, uint16_t *v)
{
	const uint8_t *p;
	int rc = wb_get_bytes(r, 2, &p);

	if (rc == 0)
		*v = (uint16_t)(p[0] | p[1] << 8);
	return rc;
}

int wb_get_u32le(struct wb_reader *r, uint32_t *v)
{
	const uint8_t *p;
	int rc = wb_get_bytes(r, 4, &p);

	if (rc == 0)
		*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return rc;
}

int wb_get_u32be(struct wb_reader *r, uint32_t *v)
{
	const uint8_t *p;
	int rc = wb_get_bytes(r, 4, &p);

	if (rc == 0)
		*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
		     (uint32_t)p[3];
	return rc;
}

ssize_t wb_find(const struct wb_reader *r, const void *needle, size_t nlen)
{
	const uint8_t *hit;

	if (nlen == 0 || nlen > wb_reader_left(r))
		return -ENOENT;
	hit = memmem(r->data + r->off, wb_reader_left(r), needle, nlen);
	return hit ? hit - (r->data + r->off) : -ENOENT;
}

void wb_writer_init(struct wb_writer *w, size_t max, int flags)
{
	w->data = NULL;
	w->len = w->cap = 0;
	w->max = max;
	w->flags = flags;
}

static void release(uint8_t *p, size_t cap, int flags)
{
	if (!p)
		return;
	if (flags & WB_SECRET) {
		sodium_free(p); /* wipes before unmapping */
	} else {
		sodium_memzero(p, cap);
		free(p);
	}
}

void wb_writer_free(struct wb_writer *w)
{
	release(w->data, w->cap, w->flags);
	wb_writer_init(w, w->max, w->flags);
}

/* Grows by doubling; a secret buffer is copied into fresh locked memory. */
static int reserve(struct wb_writer *w, size_t n)
{
	size_t want, cap;
	uint8_t *p;

	if (n > w->max || w->len > w->max - n)
		return -EMSGSIZE;
	want = w->len + n;
	if (want <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 64;
	if (cap > w->max)
		cap = w->max;
	while (cap < want)
		cap = cap > w->max / 2 ? w->max : cap * 2;
	p = (w->flags & WB_SECRET) ? sodium_malloc(cap) : malloc(cap);
	if (!p)
		return -ENOMEM;
	if (w->len)
		memcpy(p, w->data, w->len);
	release(w->data, w->cap, w->flags);
	w->data = p;
	w->cap = cap;
	return 0;
}

int wb_put(struct wb_writer *w, const void *p, size_t n)
{
	int rc = reserve(w, n);

	if (rc < 0)
		return rc;
	if (n)
		memcpy(w->data + w->len, p, n);
	w->len += n;
	return 0;
}

int wb_put_u8(struct wb_writer *w, uint8_t v)
{
	return wb_put(w, &v, 1);
}

int wb_put_u32le(struct wb_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	return wb_put(w, b, sizeof(b));
}

int wb_put_u32be(struct wb_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	return wb_put(w, b, sizeof(b));
}
