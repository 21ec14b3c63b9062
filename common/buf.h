/*
 * buf.h - bounded byte readers and writers.
 *
 * Owns every read of untrusted bytes in winrm-broker: socket frames,
 * multipart/encrypted bodies, NTLM and TLS records, HTTP headers. Each getter
 * checks the remaining length first and fails with -EBADMSG instead of
 * reading past the end (the OpenSSH sshbuf rule), so a parser built on it
 * can be driven by a fuzzer without further bounds code of its own.
 *
 * Errors: negative errno values; 0 or a length on success.
 */
#ifndef WB_BUF_H
#define WB_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A read cursor over bytes it does not own. */
struct wb_reader {
	const uint8_t *data;
	size_t len;
	size_t off;
};

void wb_reader_init(struct wb_reader *r, const void *data, size_t len);
size_t wb_reader_left(const struct wb_reader *r);
int wb_get_u8(struct wb_reader *r, uint8_t *v);
int wb_get_u16le(struct wb_reader *r, uint16_t *v);
int wb_get_u32le(struct wb_reader *r, uint32_t *v);
int wb_get_u32be(struct wb_reader *r, uint32_t *v);
/* Points *p at the next n bytes (no copy) and advances past them. */
int wb_get_bytes(struct wb_reader *r, size_t n, const uint8_t **p);
int wb_skip(struct wb_reader *r, size_t n);
/* Finds needle at or after the cursor; returns its offset from the cursor or -ENOENT. */
ssize_t wb_find(const struct wb_reader *r, const void *needle, size_t nlen);

/*
 * A growable write buffer with a hard cap. With WB_SECRET, storage comes from
 * sodium_malloc (guard pages, mlock) and is wiped on growth and on free.
 */
enum { WB_PLAIN = 0, WB_SECRET = 1 };

struct wb_writer {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	int flags;
};

void wb_writer_init(struct wb_writer *w, size_t max, int flags);
void wb_writer_free(struct wb_writer *w);
int wb_put(struct wb_writer *w, const void *p, size_t n);
int wb_put_u8(struct wb_writer *w, uint8_t v);
int wb_put_u32le(struct wb_writer *w, uint32_t v);
int wb_put_u32be(struct wb_writer *w, uint32_t v);

#endif
