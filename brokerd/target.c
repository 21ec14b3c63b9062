/* target.c - see target.h. */
#include "target.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

static const char *const transport_names[] = {
	[WB_TRANSPORT_BASIC] = "basic",
	[WB_TRANSPORT_CERTIFICATE] = "certificate",
	[WB_TRANSPORT_NTLM] = "ntlm",
	[WB_TRANSPORT_KERBEROS] = "kerberos",
	[WB_TRANSPORT_NEGOTIATE] = "negotiate",
	[WB_TRANSPORT_CREDSSP] = "credssp",
};

void wb_target_defaults(struct wb_target *t)
{
	memset(t, 0, sizeof(*t));
	t->port = 5986;
	t->https = true;
	strcpy(t->path, "/wsman");
	t->validate_cert = true;
	t->operation_timeout_sec = 20;
	t->read_timeout_sec = 30;
	t->message_encryption = WB_MSGENC_AUTO;
	strcpy(t->service, "HTTP");
	t->send_cbt = true;
}

int wb_target_url(const struct wb_target *t, char *buf, size_t size)
{
	bool v6 = strchr(t->host, ':') != NULL;
	int n = snprintf(buf, size, "%s://%s%s%s:%u%s", t->https ? "https" : "http",
			 v6 ? "[" : "", t->host, v6 ? "]" : "", t->port, t->path);

	if (n < 0 || (size_t)n >= size)
		return -WB_E_INVALID;
	return 0;
}

const char *wb_transport_name(enum wb_transport t)
{
	if ((size_t)t < sizeof(transport_names) / sizeof(transport_names[0]) && transport_names[t])
		return transport_names[t];
	return "unknown";
}

int wb_transport_parse(const char *name, enum wb_transport *out)
{
	size_t i;

	for (i = 1; i < sizeof(transport_names) / sizeof(transport_names[0]); i++) {
		if (strcmp(name, transport_names[i]) == 0) {
			*out = (enum wb_transport)i;
			return 0;
		}
	}
	return -WB_E_INVALID;
}
