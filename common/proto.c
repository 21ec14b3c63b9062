/* proto.c - see proto.h and docs/protocol.md. */
#include "proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int wb_msg_begin(struct wb_writer *w, uint16_t type)
{
	int rc;

	w->len = 0;
	rc = wb_put_u32be(w, 0);	/* length, filled by wb_msg_finish */
	if (rc == 0)
		rc = wb_put_u8(w, (uint8_t)(type >> 8));
	if (rc == 0)
		rc = wb_put_u8(w, (uint8_t)type);
	if (rc == 0)
		rc = wb_put(w, "\0\0", 2);
	return rc;
}

int wb_msg_put(struct wb_writer *w, uint16_t tag, const void *p, size_t n)
{
	int rc;

	if (n > WB_FRAME_MAX)
		return -EMSGSIZE;
	rc = wb_put_u8(w, (uint8_t)(tag >> 8));
	if (rc == 0)
		rc = wb_put_u8(w, (uint8_t)tag);
	if (rc == 0)
		rc = wb_put_u32be(w, (uint32_t)n);
	if (rc == 0)
		rc = wb_put(w, p, n);
	return rc;
}

int wb_msg_put_u8(struct wb_writer *w, uint16_t tag, uint8_t v)
{
	return wb_msg_put(w, tag, &v, 1);
}

int wb_msg_put_u32(struct wb_writer *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	return wb_msg_put(w, tag, b, sizeof(b));
}

int wb_msg_put_u64(struct wb_writer *w, uint16_t tag, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return wb_msg_put(w, tag, b, sizeof(b));
}

int wb_msg_put_str(struct wb_writer *w, uint16_t tag, const char *s)
{
	return wb_msg_put(w, tag, s, strlen(s));
}

int wb_msg_finish(struct wb_writer *w)
{
	size_t n;

	if (w->len < WB_FRAME_HDR)
		return -EINVAL;
	n = w->len - WB_FRAME_HDR;
	if (n > WB_FRAME_MAX)
		return -EMSGSIZE;
	w->data[0] = (uint8_t)(n >> 24);
	w->data[1] = (uint8_t)(n >> 16);
	w->data[2] = (uint8_t)(n >> 8);
	w->data[3] = (uint8_t)n;
	return 0;
}

int wb_frame_header(const uint8_t hdr[WB_FRAME_HDR], uint32_t *len, uint16_t *type)
{
	struct wb_reader r;
	uint32_t n, rest;

	wb_reader_init(&r, hdr, WB_FRAME_HDR);
	if (wb_get_u32be(&r, &n) < 0 || wb_get_u32be(&r, &rest) < 0)
		return -EBADMSG;
	if ((rest & 0xffff) != 0)
		return -EBADMSG;
	if (n > WB_FRAME_MAX)
		return -EMSGSIZE;
	*len = n;
	*type = (uint16_t)(rest >> 16);
	return 0;
}

/* Reads one attribute header and points at its value. */
static int next_attr(struct wb_reader *r, uint16_t *tag, const uint8_t **val, uint32_t *vlen)
{
	const uint8_t *t;

	if (wb_get_bytes(r, 2, &t) < 0 || wb_get_u32be(r, vlen) < 0 ||
	    wb_get_bytes(r, *vlen, val) < 0)
		return -EBADMSG;
	*tag = (uint16_t)(t[0] << 8 | t[1]);
	return 0;
}

int wb_attrs_check(const uint8_t *p, size_t n)
{
	struct wb_reader r;
	size_t count = 0;

	wb_reader_init(&r, p, n);
	while (wb_reader_left(&r) > 0) {
		uint16_t tag;
		const uint8_t *val;
		uint32_t vlen;

		if (++count > WB_ATTRS_MAX)
			return -EMSGSIZE;
		if (next_attr(&r, &tag, &val, &vlen) < 0)
			return -EBADMSG;
	}
	return 0;
}

int wb_frame_parse(const uint8_t *buf, size_t n, struct wb_frame *f)
{
	uint32_t len;
	uint16_t type;
	int rc;

	if (n < WB_FRAME_HDR)
		return -EBADMSG;
	rc = wb_frame_header(buf, &len, &type);
	if (rc < 0)
		return rc;
	if (n - WB_FRAME_HDR != len)
		return -EBADMSG;
	rc = wb_attrs_check(buf + WB_FRAME_HDR, len);
	if (rc < 0)
		return rc;
	f->type = type;
	f->payload = buf + WB_FRAME_HDR;
	f->len = len;
	return 0;
}

int wb_attr_find(const struct wb_frame *f, uint16_t tag, size_t nth,
		 const uint8_t **val, uint32_t *vlen)
{
	struct wb_reader r;

	wb_reader_init(&r, f->payload, f->len);
	while (wb_reader_left(&r) > 0) {
		uint16_t t;

		if (next_attr(&r, &t, val, vlen) < 0)
			return -EBADMSG;
		if (t == tag && nth-- == 0)
			return 0;
	}
	return -ENOENT;
}

size_t wb_attr_count(const struct wb_frame *f, uint16_t tag)
{
	const uint8_t *val;
	uint32_t vlen;
	size_t n = 0;

	while (wb_attr_find(f, tag, n, &val, &vlen) == 0)
		n++;
	return n;
}

static int attr_uint(const struct wb_frame *f, uint16_t tag, size_t size, uint64_t *v)
{
	const uint8_t *val;
	uint32_t vlen, i;
	int rc = wb_attr_find(f, tag, 0, &val, &vlen);

	if (rc < 0)
		return rc;
	if (vlen != size)
		return -EBADMSG;
	*v = 0;
	for (i = 0; i < vlen; i++)
		*v = *v << 8 | val[i];
	return 0;
}

int wb_attr_u8(const struct wb_frame *f, uint16_t tag, uint8_t *v)
{
	uint64_t x;
	int rc = attr_uint(f, tag, 1, &x);

	if (rc == 0)
		*v = (uint8_t)x;
	return rc;
}

int wb_attr_u32(const struct wb_frame *f, uint16_t tag, uint32_t *v)
{
	uint64_t x;
	int rc = attr_uint(f, tag, 4, &x);

	if (rc == 0)
		*v = (uint32_t)x;
	return rc;
}

int wb_attr_u64(const struct wb_frame *f, uint16_t tag, uint64_t *v)
{
	return attr_uint(f, tag, 8, v);
}

int wb_attr_str(const struct wb_frame *f, uint16_t tag, size_t nth, char *buf, size_t size)
{
	const uint8_t *val;
	uint32_t vlen;
	int rc = wb_attr_find(f, tag, nth, &val, &vlen);

	if (rc < 0)
		return rc;
	if (memchr(val, '\0', vlen))
		return -EBADMSG;
	if (size == 0 || vlen >= size)
		return -EMSGSIZE;
	memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	return 0;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return got == 0 ? -ECONNRESET : -EPIPE;
		got += (size_t)r;
	}
	return 0;
}

int wb_frame_read(int fd, uint8_t *buf, size_t cap, struct wb_frame *f)
{
	uint32_t len;
	uint16_t type;
	int rc;

	if (cap < WB_FRAME_HDR + WB_FRAME_MAX)
		return -EINVAL;
	rc = read_full(fd, buf, WB_FRAME_HDR);
	if (rc < 0)
		return rc;
	rc = wb_frame_header(buf, &len, &type);
	if (rc < 0)
		return rc;
	rc = read_full(fd, buf + WB_FRAME_HDR, len);
	if (rc == -ECONNRESET)
		rc = -EPIPE;	/* EOF inside a frame is not a clean close */
	if (rc < 0)
		return rc;
	return wb_frame_parse(buf, WB_FRAME_HDR + len, f);
}

int wb_frame_write(int fd, const struct wb_writer *w)
{
	return wb_write_all(fd, w->data, w->len);
}
