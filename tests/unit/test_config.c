/* Unit tests for brokerd/config.c: every key parses, every error names
 * file:line, sections match first-in-file-order, host names have one
 * spelling, and hostile files give errors, never crashes. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"

static struct wb_config *parse_ok(const char *text)
{
	struct wb_config *c = NULL;
	struct wb_error e = { 0 };
	int rc = wb_config_parse((const uint8_t *)text, strlen(text), "t.conf", &c, &e);

	ck_assert_msg(rc == 0, "parse failed: %s", e.msg);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* Fails at exactly `line`, with a message containing needle. */
static void parse_fails_n(const char *text, size_t len, unsigned line, const char *needle)
{
	struct wb_config *c = (struct wb_config *)1;
	struct wb_error e = { 0 };
	char prefix[64];
	int rc = wb_config_parse((const uint8_t *)text, len, "t.conf", &c, &e);

	ck_assert_msg(rc == -WB_E_CONFIG, "expected a config error for <<%s>>, got %d (%s)",
		      text, rc, e.msg);
	ck_assert_int_eq(e.code, WB_E_CONFIG);
	ck_assert_ptr_null(c);
	snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0,
		      "expected prefix '%s' in '%s'", prefix, e.msg);
	ck_assert_msg(strstr(e.msg, needle), "expected '%s' in '%s'", needle, e.msg);
}

static void parse_fails(const char *text, unsigned line, const char *needle)
{
	parse_fails_n(text, strlen(text), line, needle);
}

START_TEST(test_defaults)
{
	struct wb_config *c = parse_ok("");
	const struct wb_broker_settings *b = wb_config_broker(c);
	const struct wb_host_section *h = wb_config_match(c, "any.example");
	char d[256];

	ck_assert_str_eq(b->socket, "/run/winrm-broker/broker.sock");
	ck_assert_str_eq(b->state_dir, "/var/lib/winrm-broker");
	ck_assert_str_eq(b->master_key, "");
	ck_assert_str_eq(b->admin_group, "");
	ck_assert_uint_eq(b->max_connections, 1024);
	ck_assert_uint_eq(b->max_connections_per_uid, 16);
	ck_assert_uint_eq(b->max_operations_per_uid, 4);
	ck_assert_uint_eq(b->idle_timeout_sec, 60);
	ck_assert_int_eq(b->log_level, LOG_INFO);

	ck_assert_uint_eq(h->line, 0);
	ck_assert_uint_eq(h->port, 0);
	ck_assert(!h->has_scheme);
	ck_assert_str_eq(h->path, "/wsman");
	ck_assert_uint_eq(h->n_transports, 6);
	ck_assert_int_eq(h->transports[0], WB_TRANSPORT_BASIC);
	ck_assert_int_eq(h->transports[5], WB_TRANSPORT_CREDSSP);
	ck_assert(h->validate_cert);
	ck_assert(!h->allow_cert_validation_ignore);
	ck_assert_str_eq(h->ca_trust_path, "");
	ck_assert_uint_eq(h->n_ca_allowed, 0);
	ck_assert_int_eq(h->message_encryption, WB_MSGENC_AUTO);
	ck_assert_uint_eq(h->operation_timeout_sec, 20);
	ck_assert_uint_eq(h->read_timeout_sec, 30);
	ck_assert_uint_eq(h->max_operation_timeout_sec, 3600);
	ck_assert(!h->kerberos_delegation && !h->allow_kerberos_delegation);
	ck_assert_str_eq(h->service, "HTTP");
	ck_assert(h->send_cbt && !h->allow_disable_cbt);
	ck_assert(!h->credssp_disable_tlsv1_2 && !h->allow_credssp_disable_tlsv1_2);
	ck_assert_uint_eq(h->credssp_min_version, 5);
	ck_assert_uint_eq(h->pins, 0);
	wb_config_describe(c, h, d, sizeof(d));
	ck_assert_str_eq(d, "the built-in defaults (no [host] section of t.conf matched)");
	wb_config_free(c);
}
END_TEST

START_TEST(test_broker_keys)
{
	struct wb_config *c = parse_ok(
		"# the broker\n"
		"[broker]\n"
		"socket = /tmp/x/broker.sock\n"
		"  state_dir=/tmp/state  \n"
		"master_key = /etc/winrm-broker/master key\n"
		"admin_group = winrm-admins\n"
		"max_connections = 100\n"
		"max_connections_per_uid = 100\n"
		"max_operations_per_uid = 7\n"
		"\tidle_timeout_sec\t=\t5\r\n"
		"log_level = debug\n");
	const struct wb_broker_settings *b = wb_config_broker(c);

	ck_assert_str_eq(b->socket, "/tmp/x/broker.sock");
	ck_assert_str_eq(b->state_dir, "/tmp/state");
	ck_assert_str_eq(b->master_key, "/etc/winrm-broker/master key");	/* verbatim */
	ck_assert_str_eq(b->admin_group, "winrm-admins");
	ck_assert_uint_eq(b->max_connections, 100);
	ck_assert_uint_eq(b->max_connections_per_uid, 100);
	ck_assert_uint_eq(b->max_operations_per_uid, 7);
	ck_assert_uint_eq(b->idle_timeout_sec, 5);
	ck_assert_int_eq(b->log_level, LOG_DEBUG);
	ck_assert_str_eq(wb_config_name(c), "t.conf");
	wb_config_free(c);

	c = parse_ok("[broker]\nlog_level = err\nmaster_key =\n");
	ck_assert_int_eq(wb_config_broker(c)->log_level, LOG_ERR);
	ck_assert_str_eq(wb_config_broker(c)->master_key, "");
	wb_config_free(c);
	c = parse_ok("[broker]\nlog_level = warning\n");
	ck_assert_int_eq(wb_config_broker(c)->log_level, LOG_WARNING);
	wb_config_free(c);
	c = parse_ok("[broker]\nlog_level = notice\n");
	ck_assert_int_eq(wb_config_broker(c)->log_level, LOG_NOTICE);
	wb_config_free(c);
}
END_TEST

START_TEST(test_host_keys)
{
	struct wb_config *c = parse_ok(
		"[host WIN-*.Corp.Example]\n"
		"port = 8443\n"
		"scheme = https\n"
		"path = /wsman-alt\n"
		"pin = port, scheme path,service kerberos_hostname_override\n"
		"transport = kerberos, ntlm\n"
		"server_cert_validation = ignore\n"
		"allow_cert_validation_ignore = yes\n"
		"ca_trust_path = /etc/winrm-broker/ca.pem\n"
		"ca_trust_paths_allowed = /etc/a.pem, /etc/b.pem\t/etc/c.pem\n"
		"message_encryption = always\n"
		"operation_timeout_sec = 40\n"
		"read_timeout_sec = 50\n"
		"max_operation_timeout_sec = 600\n"
		"kerberos_delegation = true\n"
		"allow_kerberos_delegation = 1\n"
		"kerberos_hostname_override = DC1.Corp.Example.\n"
		"service = WSMAN\n"
		"send_cbt = no\n"
		"allow_disable_cbt = false\n"
		"credssp_disable_tlsv1_2 = 0\n"
		"allow_credssp_disable_tlsv1_2 = yes\n");
	const struct wb_host_section *h = wb_config_match(c, "win-7.corp.example");

	ck_assert_uint_eq(h->line, 1);
	ck_assert_str_eq(h->pattern, "win-*.corp.example");
	ck_assert(!h->is_addr);
	ck_assert_uint_eq(h->port, 8443);
	ck_assert(h->has_scheme && h->https);
	ck_assert_str_eq(h->path, "/wsman-alt");
	ck_assert_uint_eq(h->pins, WB_PIN_PORT | WB_PIN_SCHEME | WB_PIN_PATH | WB_PIN_SERVICE |
			  WB_PIN_KRB_HOSTNAME);
	ck_assert_uint_eq(h->n_transports, 2);
	ck_assert_int_eq(h->transports[0], WB_TRANSPORT_KERBEROS);
	ck_assert_int_eq(h->transports[1], WB_TRANSPORT_NTLM);
	ck_assert(!h->validate_cert);
	ck_assert(h->allow_cert_validation_ignore);
	ck_assert_str_eq(h->ca_trust_path, "/etc/winrm-broker/ca.pem");
	ck_assert_uint_eq(h->n_ca_allowed, 3);
	ck_assert_str_eq(h->ca_allowed[0], "/etc/a.pem");
	ck_assert_str_eq(h->ca_allowed[1], "/etc/b.pem");
	ck_assert_str_eq(h->ca_allowed[2], "/etc/c.pem");
	wb_config_free(c);
}
END_TEST

START_TEST(test_host_keys_2)
{
	struct wb_config *c = parse_ok(
		"[host *]\n"
		"scheme = http\n"
		"message_encryption = never\n"
		"operation_timeout_sec = 40\n"
		"read_timeout_sec = 50\n"
		"max_operation_timeout_sec = 600\n"
		"kerberos_delegation = true\n"
		"allow_kerberos_delegation = 1\n"
		"kerberos_hostname_override = DC1.Corp.Example.\n"
		"service = WSMAN\n"
		"send_cbt = no\n"
		"allow_disable_cbt = true\n"
		"credssp_disable_tlsv1_2 = 1\n"
		"allow_credssp_disable_tlsv1_2 = yes\n"
		"credssp_min_version = 4\n"
		"ca_trust_paths_allowed =\n");
	const struct wb_host_section *h = wb_config_match(c, "x");

	ck_assert(h->has_scheme && !h->https);
	ck_assert_int_eq(h->message_encryption, WB_MSGENC_NEVER);
	ck_assert_uint_eq(h->operation_timeout_sec, 40);
	ck_assert_uint_eq(h->read_timeout_sec, 50);
	ck_assert_uint_eq(h->max_operation_timeout_sec, 600);
	ck_assert(h->kerberos_delegation && h->allow_kerberos_delegation);
	ck_assert_str_eq(h->kerberos_hostname_override, "dc1.corp.example");
	ck_assert_str_eq(h->service, "WSMAN");
	ck_assert(!h->send_cbt && h->allow_disable_cbt);
	ck_assert(h->credssp_disable_tlsv1_2 && h->allow_credssp_disable_tlsv1_2);
	ck_assert_uint_eq(h->credssp_min_version, 4);
	ck_assert_uint_eq(h->n_ca_allowed, 0);
	wb_config_free(c);
}
END_TEST

START_TEST(test_value_errors)
{
	parse_fails("[broker]\nsocket = relative.sock\n", 2, "socket: 'relative.sock' is not an absolute path");
	parse_fails("[broker]\nsocket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		    2, "socket: longer than 107");
	parse_fails("[broker]\nstate_dir =\n", 2, "state_dir: '' is not an absolute path");
	parse_fails("[broker]\nmaster_key = key\n", 2, "master_key");
	parse_fails("[broker]\nadmin_group = -wheel\n", 2, "admin_group");
	parse_fails("[broker]\nadmin_group = a b\n", 2, "admin_group");
	parse_fails("[broker]\nmax_connections = 0\n", 2, "max_connections: '0' is not a whole number from 1 to 65536");
	parse_fails("[broker]\nmax_connections = 65537\n", 2, "max_connections");
	parse_fails("[broker]\nmax_connections = -1\n", 2, "max_connections");
	parse_fails("[broker]\nmax_connections = +5\n", 2, "max_connections");
	parse_fails("[broker]\nmax_connections = 0x10\n", 2, "max_connections");
	parse_fails("[broker]\nmax_connections = 99999999999999999999\n", 2, "max_connections");
	parse_fails("[broker]\nmax_connections =\n", 2, "max_connections");
	parse_fails("[broker]\nidle_timeout_sec = 1e3\n", 2, "idle_timeout_sec");
	parse_fails("[broker]\nlog_level = verbose\n", 2, "log_level: 'verbose'");
	parse_fails("[broker]\nlog_level = INFO\n", 2, "log_level");
	parse_fails("[broker]\nmax_connections = 10\nmax_connections_per_uid = 11\n", 1,
		    "max_connections_per_uid (11) exceeds max_connections (10)");

	parse_fails("[host a]\nport = 0\n", 2, "port");
	parse_fails("[host a]\ncredssp_min_version = 1\n", 2, "credssp_min_version");
	parse_fails("[host a]\ncredssp_min_version = 7\n", 2, "credssp_min_version");
	parse_fails("[host a]\nport = 65536\n", 2, "port");
	parse_fails("[host a]\nscheme = ftp\n", 2, "scheme: 'ftp' is not http or https");
	parse_fails("[host a]\nscheme = HTTPS\n", 2, "scheme");
	parse_fails("[host a]\npath = wsman\n", 2, "path: 'wsman'");
	parse_fails("[host a]\npath = /ws man\n", 2, "path");
	parse_fails("[host a]\npath = /wsman?x=1\n", 2, "path");
	parse_fails("[host a]\npath = /wsman#x\n", 2, "path");
	parse_fails("[host a]\ntransport = basic, smoke\n", 2, "transport: unknown transport 'smoke'");
	parse_fails("[host a]\ntransport = basic, ntlm basic\n", 2, "transport: 'basic' listed twice");
	parse_fails("[host a]\ntransport = , ,\n", 2, "transport: empty list");
	parse_fails("[host a]\npin = port, user\n", 2, "pin: cannot pin 'user'");
	parse_fails("[host a]\npin = port port\nport = 1\n", 2, "pin: 'port' listed twice");
	parse_fails("[host a]\nserver_cert_validation = no\n", 2, "server_cert_validation: 'no'");
	parse_fails("[host a]\nallow_cert_validation_ignore = Yes\n", 2,
		    "allow_cert_validation_ignore: 'Yes' is not yes, no, true, false, 1 or 0");
	parse_fails("[host a]\nallow_disable_cbt = on\n", 2, "allow_disable_cbt");
	parse_fails("[host a]\nca_trust_path = ca.pem\n", 2, "ca_trust_path: 'ca.pem' is not an absolute path");
	parse_fails("[host a]\nca_trust_paths_allowed = /a.pem ../b.pem\n", 2,
		    "ca_trust_paths_allowed: '../b.pem' is not an absolute path");
	parse_fails("[host a]\nca_trust_paths_allowed = /a.pem /a.pem\n", 2,
		    "ca_trust_paths_allowed: '/a.pem' listed twice");
	parse_fails("[host a]\nca_trust_paths_allowed = /1 /2 /3 /4 /5 /6 /7 /8 /9 /10 /11 /12 "
		    "/13 /14 /15 /16 /17\n", 2, "more than 16 paths");
	parse_fails("[host a]\nmessage_encryption = sometimes\n", 2, "message_encryption: 'sometimes'");
	parse_fails("[host a]\noperation_timeout_sec = 0\n", 2, "operation_timeout_sec");
	parse_fails("[host a]\nkerberos_hostname_override = a b\n", 2, "kerberos_hostname_override: host:");
	parse_fails("[host a]\nkerberos_hostname_override = 10.1\n", 2, "looks numeric");
	parse_fails("[host a]\nservice = HTTP/x\n", 2, "service: 'HTTP/x'");
	parse_fails("[host a]\nservice = \n", 2, "service");
}
END_TEST

START_TEST(test_section_errors)
{
	/* checks that need the whole section report the section's header line */
	parse_fails("# c\n[host a]\n\npin = port\n", 2,
		    "[host a]: pin names port, but the section does not set it");
	parse_fails("[host a]\npin = scheme\n[host b]\n", 1, "pin names scheme");
	parse_fails("[host a]\npin = path\n", 1, "pin names path");
	parse_fails("[host a]\npin = service\n", 1, "pin names service");
	parse_fails("[host a]\npin = kerberos_hostname_override\n", 1,
		    "pin names kerberos_hostname_override");
	parse_fails("[host a]\nread_timeout_sec = 20\n", 1,
		    "read_timeout_sec (20) must be greater than operation_timeout_sec (20)");
	parse_fails("[host a]\noperation_timeout_sec = 100\nread_timeout_sec = 200\n"
		    "max_operation_timeout_sec = 99\n", 1,
		    "operation_timeout_sec (100) exceeds max_operation_timeout_sec (99)");
}
END_TEST

START_TEST(test_syntax_errors)
{
	char big[WB_CONFIG_MAX_LINE + 64];

	parse_fails("[broker]\nfoo = 1\n", 2, "unknown key 'foo' in [broker]");
	parse_fails("[host a]\nsocket = /x\n", 2, "unknown key 'socket' in [host]");
	parse_fails("[broker]\nport = 1\n", 2, "unknown key 'port' in [broker]");
	parse_fails("[broker]\nlog_level = info\n\nlog_level = info\n", 4,
		    "duplicate key 'log_level' (first set at line 2)");
	parse_fails("[host a]\nport = 1\nport = 1\n", 3, "duplicate key 'port'");
	parse_fails("log_level = info\n", 1, "'log_level' is outside any section");
	parse_fails("[broker]\nlog_level info\n", 2, "expected 'key = value'");
	parse_fails("[broker]\n = info\n", 2, "missing key before '='");
	parse_fails("[broker\n", 1, "unterminated section header");
	parse_fails("[\n", 1, "unterminated section header");
	parse_fails("[host a.b\nport = 1\n", 1, "unterminated section header");
	parse_fails("[hosts a]\n", 1, "unknown section [hosts a]");
	parse_fails("[]\n", 1, "unknown section []");
	parse_fails("[host]\n", 1, "[host] needs a pattern");
	parse_fails("[host   ]\n", 1, "[host] needs a pattern");
	parse_fails("[host a b]\n", 1, "one pattern per section");
	parse_fails("[host a/b]\n", 1, "host pattern 'a/b' is not a glob");
	parse_fails("[host user@a]\n", 1, "is not a glob");
	parse_fails("[broker]\n[host a]\n[broker]\n", 3, "second [broker] section (the first is at line 1)");
	parse_fails("[host A.example]\n[host a.example]\n", 2, "repeats the section at line 1");
	parse_fails("[host 2001:db8::1]\n[host [2001:DB8:0::1]]\n", 2, "repeats the section at line 1");
	parse_fails("[host x]\n[host *]\n\n[host y]\n", 4,
		    "[host y] can never match: [host *] at line 2 comes first");
	parse_fails("[broker]\nlog_level = in\x01" "fo\n", 2, "control character 0x01 at column 15");
	parse_fails("[broker]\nlog_level = info\x7f\n", 2, "control character 0x7f");
	parse_fails("[broker]\nlog_level = in\rfo\n", 2, "control character 0x0d");
	parse_fails_n("[broker]\nlog_level = in\0fo\n", sizeof("[broker]\nlog_level = in\0fo\n") - 1,
		      2, "NUL byte");
	/* a space in a list separates items: a relative second item */
	parse_fails("[host a]\nca_trust_paths_allowed = /etc/c dir/x.pem\n", 2, "'dir/x.pem'");
	memset(big, 'x', sizeof(big));
	memcpy(big, "[broker]\n# ", 11);
	big[9 + WB_CONFIG_MAX_LINE] = '\n';	/* line 2 is exactly the maximum: fine */
	big[10 + WB_CONFIG_MAX_LINE] = '\0';
	wb_config_free(parse_ok(big));
	big[9 + WB_CONFIG_MAX_LINE] = 'x';	/* one byte more */
	big[10 + WB_CONFIG_MAX_LINE] = '\n';
	big[11 + WB_CONFIG_MAX_LINE] = '\0';
	parse_fails(big, 2, "line longer than 4096 bytes");
}
END_TEST

START_TEST(test_too_many_sections)
{
	size_t i, cap = (WB_CONFIG_MAX_HOSTS + 1) * 24;
	char *text = malloc(cap), *p = text;

	ck_assert_ptr_nonnull(text);
	for (i = 0; i <= WB_CONFIG_MAX_HOSTS; i++)
		p += sprintf(p, "[host h%zu]\n", i);
	parse_fails(text, WB_CONFIG_MAX_HOSTS + 1, "more than 1024 [host] sections");
	/* one fewer is fine */
	*strrchr(text, '[') = '\0';
	wb_config_free(parse_ok(text));
	free(text);
}
END_TEST

START_TEST(test_size_limit)
{
	size_t n = WB_CONFIG_MAX_SIZE + 1;
	uint8_t *buf = malloc(n);
	struct wb_config *c;
	struct wb_error e = { 0 };
	size_t i;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < n; i++)
		buf[i] = i % 64 == 63 ? '\n' : '#';
	ck_assert_int_eq(wb_config_parse(buf, n, "t.conf", &c, &e), -WB_E_CONFIG);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(e.msg, "t.conf: larger than 1048576 bytes");
	ck_assert_int_eq(wb_config_parse(buf, n - 1, "t.conf", &c, &e), 0);
	wb_config_free(c);
	free(buf);
}
END_TEST

START_TEST(test_first_match)
{
	struct wb_config *c = parse_ok(
		"[broker]\n"
		"[host web1.corp.example]\n"		/* 2 */
		"port = 1001\n"
		"[host web*.corp.example]\n"		/* 4 */
		"port = 1002\n"
		"[host *.CORP.example]\n"		/* 6 */
		"port = 1003\n"
		"[host 10.0.0.5]\n"			/* 8 */
		"port = 1004\n"
		"[host [2001:db8::1]]\n"		/* 10 */
		"port = 1005\n"
		"[host 2001:db8::2]\n"			/* 12 */
		"port = 1006\n"
		"[host 10.0.1.*]\n"			/* 14 */
		"port = 1007\n"
		"[host ::ffff:10.0.0.6]\n"		/* 16 */
		"port = 1008\n"
		"[host web[12].other]\n"		/* 18 */
		"port = 1009\n"
		"[host *]\n"				/* 20 */
		"port = 1010\n");
	struct { const char *host; unsigned line; } cases[] = {
		{ "web1.corp.example", 2 },
		{ "web2.corp.example", 4 },
		{ "web.corp.example", 4 },
		{ "db.corp.example", 6 },
		{ "a.b.corp.example", 6 },	/* '*' crosses dots */
		{ "corp.example", 20 },
		{ "10.0.0.5", 8 },
		{ "2001:db8::1", 10 },
		{ "2001:db8::2", 12 },
		{ "10.0.1.77", 14 },
		{ "10.0.0.6", 16 },
		{ "web1.other", 18 },
		{ "web3.other", 20 },
		{ "10.0.0.50", 20 },
		{ "::1", 20 },
	};
	char d[256], host[WB_HOST_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct wb_host_section *h = wb_config_match(c, cases[i].host);

		ck_assert_msg(h->line == cases[i].line, "%s: matched line %u, expected %u",
			      cases[i].host, h->line, cases[i].line);
	}
	/* Spellings of the same address match the same section. */
	ck_assert_int_eq(wb_host_normalize("[2001:DB8:0:0::1]", host, sizeof(host), NULL), 0);
	ck_assert_uint_eq(wb_config_match(c, host)->line, 10);
	ck_assert_int_eq(wb_host_normalize("::ffff:10.0.0.5", host, sizeof(host), NULL), 0);
	ck_assert_uint_eq(wb_config_match(c, host)->line, 8);
	ck_assert_int_eq(wb_host_normalize("WEB1.Corp.Example.", host, sizeof(host), NULL), 0);
	ck_assert_uint_eq(wb_config_match(c, host)->line, 2);
	wb_config_describe(c, wb_config_match(c, "db.corp.example"), d, sizeof(d));
	ck_assert_str_eq(d, "t.conf:6 [host *.corp.example]");
	wb_config_describe(c, wb_config_match(c, "10.0.0.6"), d, sizeof(d));
	ck_assert_str_eq(d, "t.conf:16 [host 10.0.0.6]");
	/* No inheritance: the section that matches is all there is. */
	ck_assert_uint_eq(wb_config_match(c, "web2.corp.example")->port, 1002);
	wb_config_free(c);

	/* No section matches: the built-in defaults, not some section. */
	c = parse_ok("[host a.example]\nport = 1\n[host 10.0.0.1]\nport = 2\n");
	ck_assert_uint_eq(wb_config_match(c, "b.example")->line, 0);
	ck_assert_uint_eq(wb_config_match(c, "b.example")->port, 0);
	ck_assert_uint_eq(wb_config_match(c, "10.0.0.2")->line, 0);
	ck_assert_uint_eq(wb_config_match(c, "::1")->line, 0);
	ck_assert_uint_eq(wb_config_match(c, "a.example")->line, 1);
	wb_config_free(c);
}
END_TEST

START_TEST(test_host_normalize)
{
	static const struct { const char *in, *out; } good[] = {
		{ "Win01.Corp.Example", "win01.corp.example" },
		{ "host.", "host" },
		{ "a_b-c", "a_b-c" },
		{ "localhost", "localhost" },
		{ "10.0.0.1", "10.0.0.1" },
		{ "::1", "::1" },
		{ "[::1]", "::1" },
		{ "2001:DB8:0000::0001", "2001:db8::1" },
		{ "[2001:db8::1]", "2001:db8::1" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },
		{ "[::ffff:c000:0201]", "192.0.2.1" },
		{ "1a.example", "1a.example" },
		{ "example.1a", "example.1a" },
	};
	static const char *const bad[] = {
		"", "a b", "a/b", "user@host", "a\x01", "-host", "a..b", ".a", "a.-b", "[::1",
		"::1]", "[]", "[10.0.0.1]", "[host]", "1:2:3", "fe80::1%eth0", "10.1", "10.0.1",
		"0x0a000001", "167772161", "010.0.0.1", "1.2.3.4.5", "host.123", "h\xc3\xa9",
		"a:b", "http://x", "x?y", "x\\y", ".", "..",
	};
	char out[WB_HOST_MAX + 1], longname[300];
	struct wb_error e;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(wb_host_normalize(good[i].in, out, sizeof(out), &e) == 0,
			      "%s: %s", good[i].in, e.msg);
		ck_assert_str_eq(out, good[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wb_error_clear(&e);
		ck_assert_msg(wb_host_normalize(bad[i], out, sizeof(out), &e) == -WB_E_INVALID,
			      "'%s' accepted", bad[i]);
		ck_assert_int_eq(e.code, WB_E_INVALID);
		ck_assert_msg(!strchr(e.msg, '\x01'), "raw control byte echoed");
	}
	/* 253 characters is the maximum, labels at most 63 */
	memset(longname, 0, sizeof(longname));
	for (i = 0; i < 253; i++)
		longname[i] = i % 50 == 49 ? '.' : 'a';
	ck_assert_int_eq(wb_host_normalize(longname, out, sizeof(out), NULL), 0);
	longname[253] = 'a';
	ck_assert_int_eq(wb_host_normalize(longname, out, sizeof(out), NULL), -WB_E_INVALID);
	memset(longname, 'a', 64);
	longname[64] = '\0';
	ck_assert_int_eq(wb_host_normalize(longname, out, sizeof(out), &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "host: a label is longer than 63 characters");
	longname[63] = '\0';
	ck_assert_int_eq(wb_host_normalize(longname, out, sizeof(out), NULL), 0);
}
END_TEST

START_TEST(test_quote)
{
	char b[8];

	ck_assert_str_eq(wb_quote("abc", b, sizeof(b)), "abc");
	ck_assert_str_eq(wb_quote("a\x1b[1m", b, sizeof(b)), "a?[1m");
	ck_assert_str_eq(wb_quote("abcdefghij", b, sizeof(b)), "abcd...");
	ck_assert_str_eq(wb_quote("h\xc3\xa9", b, sizeof(b)), "h??");
}
END_TEST

/* ---- wb_config_load ---- */

static char tmpdir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(test_load)
{
	char path[128], msg[256];
	struct wb_config *c;
	struct wb_error e = { 0 };
	FILE *f;
	size_t i;

	ck_assert_ptr_nonnull(mkdtemp(strcpy(tmpdir, "/tmp/test_config.XXXXXX")));
	snprintf(path, sizeof(path), "%s/brokerd.conf", tmpdir);

	write_file(path, "[broker]\nidle_timeout_sec = 9\n", 0644);
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), 0);
	ck_assert_uint_eq(wb_config_broker(c)->idle_timeout_sec, 9);
	ck_assert_str_eq(wb_config_name(c), path);
	wb_config_free(c);

	/* messages name the file */
	write_file(path, "[broker]\nidle_timeout_sec = x\n", 0644);
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);
	snprintf(msg, sizeof(msg), "%s:2: idle_timeout_sec", path);
	ck_assert_msg(!strncmp(e.msg, msg, strlen(msg)), "%s", e.msg);

	write_file(path, "[broker]\n", 0664);
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "writable by group or others"));
	write_file(path, "[broker]\n", 0646);
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "writable by group or others"));
	if (geteuid() == 0) {
		write_file(path, "[broker]\n", 0644);
		ck_assert_int_eq(chown(path, 1, 1), 0);
		ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);
		ck_assert_ptr_nonnull(strstr(e.msg, "owned by uid 1, not by root"));
	}
	unlink(path);

	/* an explicitly named file must exist; a missing default file means defaults */
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "cannot open"));
	ck_assert_ptr_null(c);
	ck_assert_int_eq(wb_config_load(path, "/nonexistent/default.conf", &c, &e), -WB_E_CONFIG);
	ck_assert_int_eq(wb_config_load(NULL, path, &c, &e), 0);
	ck_assert_uint_eq(wb_config_broker(c)->idle_timeout_sec, 60);
	ck_assert_str_eq(wb_config_name(c), path);
	wb_config_free(c);
	/* an existing default file is read, and its errors count */
	write_file(path, "[broker]\nidle_timeout_sec = 7\n", 0600);
	ck_assert_int_eq(wb_config_load(NULL, path, &c, &e), 0);
	ck_assert_uint_eq(wb_config_broker(c)->idle_timeout_sec, 7);
	wb_config_free(c);
	write_file(path, "[broker]\nidle_timeout_sec = 0\n", 0600);
	ck_assert_int_eq(wb_config_load(NULL, path, &c, &e), -WB_E_CONFIG);
	unlink(path);
	/* not a regular file */
	ck_assert_int_eq(wb_config_load(tmpdir, NULL, &c, &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);	/* and does not hang */
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
	unlink(path);

	/* too large */
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < WB_CONFIG_MAX_SIZE / 16 + 1; i++)
		fputs("# 3456789012345\n", f);	/* 16 bytes */
	fclose(f);
	ck_assert_int_eq(wb_config_load(path, NULL, &c, &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "larger than 1048576 bytes"));
	unlink(path);

	/* the default path: missing means defaults (checked only where it is missing) */
	if (access(WB_CONFIG_DEFAULT_PATH, F_OK) != 0) {
		ck_assert_int_eq(wb_config_load(NULL, NULL, &c, &e), 0);
		ck_assert_uint_eq(wb_config_broker(c)->max_connections, 1024);
		ck_assert_str_eq(wb_config_name(c), WB_CONFIG_DEFAULT_PATH);
		wb_config_free(c);
	}
	ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

START_TEST(test_example_file_parses)
{
	struct wb_config *c = NULL;
	struct wb_error e = { 0 };
	const char *path = getenv("WB_CONFIG_EXAMPLE");
	static uint8_t buf[WB_CONFIG_MAX_SIZE];
	size_t n;
	FILE *f;

	/* parsed from memory: a checkout need not have the owner the loader wants */
	ck_assert_ptr_nonnull(path);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ck_assert_msg(wb_config_parse(buf, n, path, &c, &e) == 0, "%s", e.msg);
	ck_assert_uint_ge(wb_config_match(c, "web01.corp.example")->line, 1);
	wb_config_free(c);
}
END_TEST

START_TEST(test_override)
{
	struct wb_config *c = parse_ok("[broker]\nsocket = /run/a.sock\nmax_connections = 8\n"
				       "max_connections_per_uid = 4\n");
	struct wb_error e = { 0 };

	ck_assert_int_eq(wb_config_override(c, "socket", "/tmp/b.sock", &e), 0);
	ck_assert_int_eq(wb_config_override(c, "state_dir", "/tmp/state", &e), 0);
	ck_assert_int_eq(wb_config_override(c, "master_key", "/tmp/key", &e), 0);
	ck_assert_str_eq(wb_config_broker(c)->socket, "/tmp/b.sock");
	ck_assert_str_eq(wb_config_broker(c)->state_dir, "/tmp/state");
	ck_assert_str_eq(wb_config_broker(c)->master_key, "/tmp/key");
	/* an override replaces the file's value, and the last override wins */
	ck_assert_int_eq(wb_config_override(c, "socket", "/tmp/c.sock", &e), 0);
	ck_assert_str_eq(wb_config_broker(c)->socket, "/tmp/c.sock");
	/* the same checks as in the file */
	ck_assert_int_eq(wb_config_override(c, "log_level", "loud", &e), -WB_E_CONFIG);
	ck_assert_str_eq(e.msg, "command line: log_level: 'loud' is not err, warning, notice, "
			 "info or debug");
	ck_assert_int_eq(wb_config_override(c, "port", "1", &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "unknown key 'port' in [broker]"));
	ck_assert_int_eq(wb_config_override(c, "state_dir", "relative", &e), -WB_E_CONFIG);
	ck_assert_int_eq(wb_config_override(c, "admin_group", "a\nb", &e), -WB_E_CONFIG);
	ck_assert_str_eq(e.msg, "command line: admin_group: control character in value");
	ck_assert_int_eq(wb_config_override(c, "max_connections_per_uid", "9", &e), -WB_E_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.msg, "max_connections_per_uid (9) exceeds max_connections (8)"));
	wb_config_free(c);
}
END_TEST

/* docs/config.md shows the example file verbatim; keep them one text. */
START_TEST(test_doc_shows_example)
{
	static char ex[65536], doc[65536];
	const char *paths[2] = { getenv("WB_CONFIG_EXAMPLE"), getenv("WB_CONFIG_DOC") };
	char *bufs[2] = { ex, doc };
	size_t i;

	for (i = 0; i < 2; i++) {
		FILE *f;
		size_t n;

		ck_assert_ptr_nonnull(paths[i]);
		f = fopen(paths[i], "rb");
		ck_assert_msg(f != NULL, "%s", paths[i]);
		n = fread(bufs[i], 1, sizeof(ex) - 1, f);
		bufs[i][n] = '\0';
		fclose(f);
	}
	ck_assert_msg(strstr(doc, ex), "docs/config.md does not hold brokerd.conf.example verbatim");
}
END_TEST

/* ---- hostile input ---- */

static void parse_any(const uint8_t *buf, size_t n)
{
	struct wb_config *c = NULL;
	struct wb_error e = { 0 };
	int rc = wb_config_parse(buf, n, "t.conf", &c, &e);

	if (rc == 0) {
		ck_assert_ptr_nonnull(c);
		wb_config_match(c, "x.example");
		wb_config_match(c, "10.0.0.1");
		wb_config_free(c);
	} else {
		ck_assert_int_eq(rc, -WB_E_CONFIG);
		ck_assert_ptr_null(c);
		ck_assert_msg(!strncmp(e.msg, "t.conf:", 7), "%s", e.msg);
	}
}

START_TEST(test_hostile_mutations)
{
	static const char base[] =
		"[broker]\nsocket = /run/x.sock\nmax_connections = 10\n"
		"[host *.corp]\nport = 5985\npin = port\ntransport = ntlm, kerberos\n"
		"ca_trust_paths_allowed = /a /b\nread_timeout_sec = 40\n"
		"[host [::1]]\nscheme = http\n[host *]\n";
	static const uint8_t subst[] = { '\0', '\n', '[', ']', '=', '#', ' ', ',', '*', 0xff, 0x01 };
	uint8_t buf[sizeof(base)];
	size_t i, j, n = sizeof(base) - 1;

	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(subst); j++) {
			memcpy(buf, base, n);
			buf[i] = subst[j];
			parse_any(buf, n);
		}
		parse_any((const uint8_t *)base, i);	/* every truncation */
	}
}
END_TEST

START_TEST(test_hostile_random)
{
	static const char alphabet[] = "[]=#\n\t ,*?:/.abhostbrokerportpin0123456789\r\x01";
	static uint8_t buf[8192];
	unsigned seed = 12345;
	size_t round, i, n;

	for (round = 0; round < 3000; round++) {
		n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		for (i = 0; i < n; i++)
			buf[i] = round % 4 ? (uint8_t)alphabet[rand_r(&seed) % (int)(sizeof(alphabet) - 1)]
					   : (uint8_t)rand_r(&seed);
		parse_any(buf, n);
	}
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_broker_keys);
	tcase_add_test(tc, test_host_keys);
	tcase_add_test(tc, test_host_keys_2);
	tcase_add_test(tc, test_value_errors);
	tcase_add_test(tc, test_section_errors);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_too_many_sections);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_first_match);
	tcase_add_test(tc, test_host_normalize);
	tcase_add_test(tc, test_quote);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_override);
	tcase_add_test(tc, test_example_file_parses);
	tcase_add_test(tc, test_doc_shows_example);
	tcase_add_test(tc, test_hostile_mutations);
	tcase_add_test(tc, test_hostile_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
