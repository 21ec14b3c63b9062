/*
 * fuzz_options.c - brokerd/options.c: a RUN or CRED_TEST frame's target
 * options as an unprivileged client sends them (wb_options_from_frame),
 * then resolved against a config with pins and allow_* limits
 * (wb_options_resolve, which normalizes the frame's HOST with
 * wb_host_normalize). A target that resolves must fit brokerd/http.c's URL
 * buffer.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "fuzz.h"
#include "options.h"
#include "proto.h"

/* Every kind of section the resolver meets: pinned, permissive, IP, IPv6, catch-all. */
static const char config_text[] =
	"[broker]\n"
	"socket = /run/winrm-broker/broker.sock\n"
	"[host *.corp.example]\n"
	"port = 5986\nscheme = https\npath = /wsman\n"
	"transport = kerberos, negotiate\n"
	"ca_trust_path = /etc/winrm-broker/corp-ca.pem\n"
	"operation_timeout_sec = 20\nread_timeout_sec = 30\nmax_operation_timeout_sec = 600\n"
	"allow_kerberos_delegation = yes\nservice = HTTP\n"
	"pin = port, scheme, path, service\n"
	"[host 192.0.2.*]\n"
	"transport = ntlm, credssp, basic, certificate\n"
	"allow_cert_validation_ignore = yes\n"
	"ca_trust_paths_allowed = /etc/winrm-broker/lab-ca.pem, /etc/winrm-broker/lab-ca-old.pem\n"
	"allow_disable_cbt = yes\nallow_credssp_disable_tlsv1_2 = yes\n"
	"credssp_min_version = 2\n"
	"[host [2001:db8::10]]\n"
	"port = 5985\nmessage_encryption = always\ntransport = ntlm, kerberos\n"
	"[host 10.1.2.3]\n"
	"scheme = http\nmessage_encryption = never\ntransport = basic\n"
	"[host *]\n"
	"transport = basic, certificate, ntlm, kerberos, negotiate, credssp\n";

static struct wb_config *config;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct wb_error err;

	(void)argc;
	(void)argv;
	if (sodium_init() < 0 ||
	    wb_config_parse((const uint8_t *)config_text, sizeof(config_text) - 1, "fuzz.conf",
			    &config, &err) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wb_request_options o;
	struct wb_target t;
	struct wb_error err;
	struct wb_frame f;
	char host[2 * WB_HOST_MAX], url[WB_HOST_MAX + WB_PATH_MAX_LEN + 32];	/* http.c's size */

	if (wb_frame_parse(data, size, &f) < 0 || wb_options_from_frame(&f, &o, &err) < 0)
		return 0;
	if (wb_attr_str(&f, WB_A_HOST, 0, host, sizeof(host)) < 0)
		strcpy(host, "win1.corp.example");
	if (wb_options_resolve(config, host, &o, &t, &err) == 0 &&
	    wb_target_url(&t, url, sizeof(url)) < 0)
		abort();	/* a resolved target must make a URL */
	return 0;
}
