/*
 * auth_basic.c - HTTP Basic: "user:password" on every request, over https
 * only (a Windows listener takes local accounts only).
 *
 * The Authorization line is built once per connection in sodium memory.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"

struct basic {
	struct wb_writer line;	/* "Authorization: Basic ...\0", WB_SECRET */
};

static int basic_applies(const struct wb_target *t, const struct wb_cred_meta *meta,
			 const struct wb_secret *sec, struct wb_error *err)
{
	if (meta->kind != WB_CRED_PASSWORD || !sec || !sec->password)
		return wb_error_set(err, WB_E_UNSUPPORTED,
				    "basic needs a password credential; '%s' is not one", meta->name);
	if (!t->https)
		return wb_error_set(err, WB_E_INVALID,
				    "basic over http to %s is refused: it would send the password "
				    "in clear text; use https (port 5986)", t->host);
	if (!meta->user[0] || strchr(meta->user, ':'))
		return wb_error_set(err, WB_E_INVALID,
				    "credential '%s': basic needs a user name without ':'", meta->name);
	return 0;
}

/* "DOMAIN\user" unless the user is already qualified; Windows also takes ".\user". */
static int put_user(struct wb_writer *w, const struct wb_cred_meta *meta)
{
	int rc = 0;

	if (meta->domain[0] && !strchr(meta->user, '\\') && !strchr(meta->user, '@')) {
		rc = wb_put(w, meta->domain, strlen(meta->domain));
		if (rc == 0)
			rc = wb_put_u8(w, '\\');
	}
	return rc ? rc : wb_put(w, meta->user, strlen(meta->user));
}

static int basic_start(struct wb_auth *a, struct wb_error *err)
{
	static const char prefix[] = "Authorization: Basic ";
	struct wb_writer plain;
	struct basic *b;
	size_t b64len;
	char *b64 = NULL;
	int rc;

	b = calloc(1, sizeof(*b));
	if (!b)
		return wb_error_set(err, WB_E_INTERNAL, "basic: out of memory");
	a->state = b;
	wb_writer_init(&b->line, WB_AUTH_HEADER_MAX, WB_SECRET);
	wb_writer_init(&plain, WB_CRED_TEXT_MAX * 2 + WB_CRED_SECRET_MAX + 2, WB_SECRET);
	rc = put_user(&plain, a->meta);
	if (rc == 0)
		rc = wb_put_u8(&plain, ':');
	if (rc == 0)
		rc = wb_put(&plain, a->sec->password, strlen(a->sec->password));
	if (rc == 0) {
		b64len = sodium_base64_ENCODED_LEN(plain.len, sodium_base64_VARIANT_ORIGINAL);
		b64 = sodium_malloc(b64len);
		if (!b64)
			rc = -1;
	}
	if (rc == 0) {
		sodium_bin2base64(b64, b64len, plain.data, plain.len,
				  sodium_base64_VARIANT_ORIGINAL);
		rc = wb_put(&b->line, prefix, strlen(prefix));
		if (rc == 0)
			rc = wb_put(&b->line, b64, strlen(b64) + 1);
	}
	sodium_free(b64);
	wb_writer_free(&plain);
	if (rc)
		return wb_error_set(err, WB_E_INTERNAL, "basic: cannot build the header");
	return 0;
}

static int basic_next_token(struct wb_auth *a, long status, const char *challenge,
			    struct wb_writer *authz, struct wb_error *err)
{
	(void)challenge;
	(void)authz;
	if (status == 0)
		return WB_AUTH_DONE;	/* nothing to negotiate */
	return wb_error_set(err, WB_E_AUTH,
			    "%s refused user '%s' with basic (HTTP %ld): wrong user name or password, "
			    "a domain account (basic takes local accounts only), or basic disabled on "
			    "the host (winrm set winrm/config/service/auth @{Basic=\"true\"})",
			    a->target->host, a->meta->user, status);
}

static int basic_request_header(struct wb_auth *a, struct wb_writer *authz, struct wb_error *err)
{
	struct basic *b = a->state;

	if (wb_put(authz, b->line.data, b->line.len) < 0)
		return wb_error_set(err, WB_E_INTERNAL, "basic: header too large");
	return 0;
}

static void basic_free(struct wb_auth *a)
{
	struct basic *b = a->state;

	if (b) {
		wb_writer_free(&b->line);
		free(b);
	}
	a->state = NULL;
}

const struct wb_auth_ops wb_auth_basic = {
	.name = "basic",
	.transport = WB_TRANSPORT_BASIC,
	.applies = basic_applies,
	.start = basic_start,
	.next_token = basic_next_token,
	.request_header = basic_request_header,
	.free = basic_free,
};
