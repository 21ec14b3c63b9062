/*
 * utf8.h - strict UTF-8 sequence check, for code that writes JSON (the
 * audit file, the CLI): no overlong forms, surrogates or code points
 * beyond U+10FFFF.
 */
#ifndef WB_UTF8_H
#define WB_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (n > 0 bytes left), 0 if invalid. */
size_t wb_utf8_len(const unsigned char *p, size_t n);

#endif
