/*
 * fuzz_config.c - brokerd/config.c: brokerd.conf parsed from memory
 * (wb_config_parse, through common/ini.c's line lexer), then the [host]
 * matching every request goes through (wb_config_match, wb_config_describe)
 * for names, IPv4 and IPv6 addresses, and a command-line override.
 */
#include <stdlib.h>

#include <sodium.h>

#include "config.h"
#include "fuzz.h"

static const char *const hosts[] = {
	"win1.corp.example", "ws-17.corp.example", "192.0.2.7", "10.1.2.3",
	"2001:db8::10", "::1", "localhost", "a",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_config *c = NULL;
	struct wb_error err;
	char where[512];
	size_t i;

	if (wb_config_parse(data, size, "fuzz.conf", &c, &err) < 0)
		return 0;
	(void)wb_config_broker(c);
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		const struct wb_host_section *s = wb_config_match(c, hosts[i]);

		if (!s)
			abort();	/* never NULL: the built-in defaults govern the rest */
		wb_config_describe(c, s, where, sizeof(where));
	}
	(void)wb_config_override(c, "socket", "/run/fuzz.sock", &err);
	wb_config_free(c);
	return 0;
}
