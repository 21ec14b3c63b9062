/*
 * fuzz_keytab.c - brokerd/krb5_tickets.c: wb_keytab_parse, the keytab
 * file format a keytab credential's bytes are read with before krb5 sees
 * them. Every span an entry points at must lie inside the input.
 */
#include <stdlib.h>

#include <sodium.h>

#include "fuzz.h"
#include "krb5_tickets.h"

static void touch(const struct wb_keytab_bytes *b, const uint8_t *data, size_t size)
{
	if (b->len && (b->p < data || b->p + b->len > data + size))
		abort();	/* krb5_tickets.h: pointers into the input */
}

static int on_entry(void *arg, const struct wb_keytab_entry *e)
{
	const struct wb_keytab_bytes *in = arg;
	size_t i;

	if (e->n_components > WB_KEYTAB_MAX_COMPONENTS)
		abort();
	touch(&e->realm, in->p, in->len);
	touch(&e->key, in->p, in->len);
	for (i = 0; i < e->n_components; i++)
		touch(&e->components[i], in->p, in->len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_keytab_bytes in = { data, size };
	struct wb_error err;

	(void)wb_keytab_parse(data, size, on_entry, &in, &err);
	return 0;
}
