/* ini.c - see ini.h. */
#include "ini.h"

#include <string.h>

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

char *wb_ini_trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

void wb_ini_split(char *line, struct wb_ini_line *out)
{
	size_t i, n = strlen(line);
	char *s, *eq;

	memset(out, 0, sizeof(*out));
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	for (i = 0; i < n; i++) {
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f) {
			out->kind = WB_INI_BAD_CHAR;
			out->bad_col = i + 1;
			out->bad_byte = (unsigned char)line[i];
			return;
		}
	}
	s = wb_ini_trim(line);
	out->text = s;
	if (!*s || *s == '#') {
		out->kind = WB_INI_BLANK;
		return;
	}
	if (*s == '[') {
		out->kind = WB_INI_SECTION;
		return;
	}
	eq = strchr(s, '=');
	if (!eq) {
		out->kind = WB_INI_NO_EQUALS;
		return;
	}
	*eq = '\0';
	out->key = wb_ini_trim(s);
	out->value = wb_ini_trim(eq + 1);
	out->kind = *out->key ? WB_INI_PAIR : WB_INI_NO_KEY;
}
