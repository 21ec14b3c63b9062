/*
 * fuzz_proto.c - common/proto.c: a whole frame as the broker or a client
 * reads it (wb_frame_header, wb_frame_parse, wb_attrs_check), every
 * attribute getter on every attribute it holds, and the round trip: a frame
 * that parses must re-encode, attribute by attribute, to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

/* Every getter on one tag; their results only matter to ASan/UBSan. */
static void getters(const struct wb_frame *f, uint16_t tag)
{
	char small[16], big[WB_FRAME_MAX + 1];
	const uint8_t *val;
	uint32_t vlen, u32;
	uint64_t u64;
	uint8_t u8;
	size_t n = wb_attr_count(f, tag), i;

	for (i = 0; i <= n; i++) {
		if ((wb_attr_find(f, tag, i, &val, &vlen) == 0) != (i < n))
			abort();
		(void)wb_attr_str(f, tag, i, small, sizeof(small));
		(void)wb_attr_str(f, tag, i, big, sizeof(big));
	}
	(void)wb_attr_u8(f, tag, &u8);
	(void)wb_attr_u32(f, tag, &u32);
	(void)wb_attr_u64(f, tag, &u64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t seen[65536 / 8];	/* reset per input; static only for its size */
	struct wb_writer w;
	struct wb_reader r;
	struct wb_frame f;
	uint32_t len;
	uint16_t type;

	if (size >= WB_FRAME_HDR)
		(void)wb_frame_header(data, &len, &type);
	(void)wb_attrs_check(data, size);
	if (wb_frame_parse(data, size, &f) < 0)
		return 0;

	memset(seen, 0, sizeof(seen));
	wb_writer_init(&w, WB_FRAME_HDR + WB_FRAME_MAX, WB_PLAIN);
	if (wb_msg_begin(&w, f.type) < 0)
		abort();
	/* The attribute layout (docs/protocol.md) walked independently of proto.c. */
	wb_reader_init(&r, f.payload, f.len);
	while (wb_reader_left(&r) > 0) {
		const uint8_t *t, *val;
		uint16_t tag;
		uint32_t vlen;

		if (wb_get_bytes(&r, 2, &t) < 0 || wb_get_u32be(&r, &vlen) < 0 ||
		    wb_get_bytes(&r, vlen, &val) < 0)
			abort();	/* wb_frame_parse accepted what is not an attribute list */
		tag = (uint16_t)(t[0] << 8 | t[1]);
		if (!(seen[tag / 8] & 1u << (tag % 8))) {
			seen[tag / 8] |= (uint8_t)(1u << (tag % 8));
			getters(&f, tag);
		}
		if (wb_msg_put(&w, tag, val, vlen) < 0)
			abort();
	}
	if (wb_msg_finish(&w) < 0 || w.len != size || memcmp(w.data, data, size) != 0)
		abort();	/* parse and encode disagree */
	wb_writer_free(&w);
	return 0;
}
