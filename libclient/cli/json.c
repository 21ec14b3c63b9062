/* json.c - the little JSON the CLI writes: strings and base64 (see cli.h). */
#include "cli.h"
#include "utf8.h"

#include <string.h>

#include <sodium.h>


/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	fputc('"', f);
	while (n > 0) {
		size_t len = wb_utf8_len(p, n);

		if (len == 0) {
			fputs("\\ufffd", f);
			len = 1;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, len, f);
		}
		p += len;
		n -= len;
	}
	fputc('"', f);
}

/* Standard base64 (RFC 4648, with padding), encoded in pieces. */
void json_base64(FILE *f, const uint8_t *p, size_t n)
{
	enum { PIECE = 3 * 1024 };
	char out[sodium_base64_ENCODED_LEN(PIECE, sodium_base64_VARIANT_ORIGINAL)];

	fputc('"', f);
	while (n > 0) {
		size_t k = n < PIECE ? n : PIECE;

		fputs(sodium_bin2base64(out, sizeof(out), p, k, sodium_base64_VARIANT_ORIGINAL), f);
		p += k;
		n -= k;
	}
	fputc('"', f);
}
