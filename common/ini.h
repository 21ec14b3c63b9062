/*
 * ini.h - one line of the broker's INI-like files (brokerd.conf, the
 * policy.d rules): a trailing CR dropped, control characters refused,
 * blanks trimmed, comments and blank lines skipped, "[section]" told apart
 * from "key = value". The callers own the sections, keys and messages.
 */
#ifndef WB_INI_H
#define WB_INI_H

#include <stddef.h>

enum wb_ini_kind {
	WB_INI_BLANK,		/* empty, blanks only, or a # comment */
	WB_INI_SECTION,		/* text starts with '[' */
	WB_INI_PAIR,		/* key and value, both trimmed */
	WB_INI_BAD_CHAR,	/* a control character: bad_byte at bad_col (1-based) */
	WB_INI_NO_EQUALS,	/* neither a section nor key = value */
	WB_INI_NO_KEY,		/* "= value" */
};

struct wb_ini_line {
	enum wb_ini_kind kind;
	char *text;		/* the trimmed line (SECTION) */
	char *key, *value;	/* PAIR */
	size_t bad_col;
	unsigned char bad_byte;
};

/* Splits line (NUL-terminated, modified in place). */
void wb_ini_split(char *line, struct wb_ini_line *out);
/* Strips spaces and tabs at both ends, in place. */
char *wb_ini_trim(char *s);

#endif
