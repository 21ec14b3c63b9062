/* cred.c - see cred.h. */
#include "cred.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

struct wb_secret *wb_secret_new(enum wb_cred_kind kind)
{
	struct wb_secret *s = sodium_malloc(sizeof(*s));

	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	return s;
}

int wb_secret_set(uint8_t **dst, size_t *dst_len, const void *src, size_t n)
{
	uint8_t *p;

	if (n > WB_CRED_SECRET_MAX)
		return -EMSGSIZE;
	p = sodium_malloc(n + 1);
	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p, src, n);
	p[n] = '\0';
	if (*dst)
		sodium_free(*dst);
	*dst = p;
	if (dst_len)
		*dst_len = n;
	return 0;
}

void wb_secret_free(struct wb_secret *s)
{
	if (!s)
		return;
	/* sodium_free wipes before it unmaps; NULL is a no-op. */
	sodium_free(s->password);
	sodium_free(s->cert_pem);
	sodium_free(s->key_pem);
	sodium_free(s->keytab);
	sodium_free(s);
}

bool wb_cred_name_valid(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > WB_CRED_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || !strchr("._@-", c)))
			return false;
	}
	return true;
}
