/* Unit tests for brokerd/options.c: target options read from frames, and
 * resolved against the config so that a request can only narrow what the
 * config allows; every refusal says what, why and which section. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

/* ---- helpers ---- */

static struct wb_config *conf(const char *text)
{
	struct wb_config *c = NULL;
	struct wb_error e = { 0 };

	ck_assert_msg(wb_config_parse((const uint8_t *)text, strlen(text), "t.conf", &c, &e) == 0,
		      "%s", e.msg);
	return c;
}

/* The host the next ok()/refused() resolves for: set by req(), so that each
 * test reads as "a request for this host, with these options". */
static const char *cur_host;

static struct wb_request_options req(const char *host)
{
	struct wb_request_options o;

	memset(&o, 0, sizeof(o));
	cur_host = host;
	return o;
}

/* Resolves o against text; expects success. */
static struct wb_target ok(const char *text, const struct wb_request_options *o)
{
	struct wb_config *c = conf(text);
	struct wb_target t;
	struct wb_error e = { 0 };

	ck_assert_msg(wb_options_resolve(c, cur_host, o, &t, &e) == 0, "refused: %s", e.msg);
	wb_config_free(c);
	return t;
}

/* Expects refusal with code; every needle must be in the message. */
static void refused(const char *text, const struct wb_request_options *o, int code,
		    const char *n1, const char *n2, const char *n3)
{
	struct wb_config *c = conf(text);
	struct wb_target t;
	struct wb_error e = { 0 };
	int rc = wb_options_resolve(c, cur_host, o, &t, &e);

	ck_assert_msg(rc == -code, "expected %s, got %d: %s", wb_errcode_name(code), rc, e.msg);
	ck_assert_int_eq(e.code, code);
	ck_assert_msg(strstr(e.msg, n1), "'%s' not in '%s'", n1, e.msg);
	ck_assert_msg(!n2 || strstr(e.msg, n2), "'%s' not in '%s'", n2, e.msg);
	ck_assert_msg(!n3 || strstr(e.msg, n3), "'%s' not in '%s'", n3, e.msg);
	wb_config_free(c);
}

static void denied(const char *text, const struct wb_request_options *o, const char *n1,
		   const char *n2, const char *n3)
{
	refused(text, o, WB_E_DENIED, n1, n2, n3);
}

static uint8_t fbuf[WB_FRAME_HDR + WB_FRAME_MAX];

/* A RUN frame from a writer that already holds the attributes. */
static struct wb_frame finish(struct wb_writer *w)
{
	struct wb_frame f;

	ck_assert_int_eq(wb_msg_finish(w), 0);
	ck_assert_uint_le(w->len, sizeof(fbuf));
	memcpy(fbuf, w->data, w->len);
	ck_assert_int_eq(wb_frame_parse(fbuf, w->len, &f), 0);
	wb_writer_free(w);
	return f;
}

static void begin(struct wb_writer *w, const char *host)
{
	wb_writer_init(w, sizeof(fbuf), WB_PLAIN);
	ck_assert_int_eq(wb_msg_begin(w, WB_MSG_RUN), 0);
	ck_assert_int_eq(wb_msg_put_str(w, WB_A_CRED, "svc"), 0);
	if (host)
		ck_assert_int_eq(wb_msg_put_str(w, WB_A_HOST, host), 0);
}

/* Parses a frame holding host plus one extra attribute; returns the rc. */
static int one_attr(uint16_t tag, const void *val, size_t n, struct wb_request_options *o,
		    struct wb_error *e)
{
	struct wb_writer w;
	struct wb_frame f;

	begin(&w, "h.example");
	ck_assert_int_eq(wb_msg_put(&w, tag, val, n), 0);
	f = finish(&w);
	wb_error_clear(e);
	return wb_options_from_frame(&f, o, e);
}

static int one_str(uint16_t tag, const char *s, struct wb_request_options *o, struct wb_error *e)
{
	return one_attr(tag, s, strlen(s), o, e);
}

/* ---- reading frames ---- */

START_TEST(test_frame_all_options)
{
	struct wb_request_options o;
	struct wb_error e = { 0 };
	struct wb_writer w;
	struct wb_frame f;

	begin(&w, "[2001:db8::1]");
	wb_msg_put_u32(&w, WB_A_PORT, 5985);
	wb_msg_put_str(&w, WB_A_SCHEME, "http");
	wb_msg_put_str(&w, WB_A_PATH, "/wsman2");
	wb_msg_put_str(&w, WB_A_TRANSPORT, "kerberos");
	wb_msg_put_str(&w, WB_A_TRANSPORT, "ntlm");
	wb_msg_put_str(&w, WB_A_CERT_VALIDATION, "ignore");
	wb_msg_put_str(&w, WB_A_CA_TRUST_PATH, "/etc/ca.pem");
	wb_msg_put_u32(&w, WB_A_OPERATION_TIMEOUT, 40);
	wb_msg_put_u32(&w, WB_A_READ_TIMEOUT, 50);
	wb_msg_put_str(&w, WB_A_MESSAGE_ENCRYPTION, "always");
	wb_msg_put_u8(&w, WB_A_KERBEROS_DELEGATION, 1);
	wb_msg_put_str(&w, WB_A_KRB_HOSTNAME_OVERRIDE, "DC1.Corp.");
	wb_msg_put_str(&w, WB_A_SERVICE, "WSMAN");
	wb_msg_put_u8(&w, WB_A_SEND_CBT, 0);
	wb_msg_put_u8(&w, WB_A_CREDSSP_DISABLE_TLSV1_2, 1);
	wb_msg_put_u32(&w, 0x7777, 1);	/* unknown attributes are ignored */
	f = finish(&w);

	ck_assert_msg(wb_options_from_frame(&f, &o, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(o.set, 0x3fff);	/* every option */
	ck_assert_uint_eq(o.port, 5985);
	ck_assert(!o.https);
	ck_assert_str_eq(o.path, "/wsman2");
	ck_assert_uint_eq(o.n_transports, 2);
	ck_assert_int_eq(o.transports[0], WB_TRANSPORT_KERBEROS);
	ck_assert_int_eq(o.transports[1], WB_TRANSPORT_NTLM);
	ck_assert(!o.validate_cert);
	ck_assert_str_eq(o.ca_trust_path, "/etc/ca.pem");
	ck_assert_uint_eq(o.operation_timeout_sec, 40);
	ck_assert_uint_eq(o.read_timeout_sec, 50);
	ck_assert_int_eq(o.message_encryption, WB_MSGENC_ALWAYS);
	ck_assert(o.kerberos_delegation);
	ck_assert_str_eq(o.kerberos_hostname_override, "dc1.corp");
	ck_assert_str_eq(o.service, "WSMAN");
	ck_assert(!o.send_cbt);
	ck_assert(o.credssp_disable_tlsv1_2);

	/* HOST is the caller's to read; no options at all is fine */
	begin(&w, NULL);
	f = finish(&w);
	ck_assert_int_eq(wb_options_from_frame(&f, &o, &e), 0);
	ck_assert_uint_eq(o.set, 0);
}
END_TEST

START_TEST(test_frame_errors)
{
	struct wb_request_options o;
	struct wb_error e = { 0 };
	struct wb_writer w;
	struct wb_frame f;
	uint8_t u8 = 2, u16[2] = { 0, 1 };
	char longpath[WB_PATH_MAX_LEN + 2];

	/* wire types */
	ck_assert_int_eq(one_attr(WB_A_PORT, &u8, 1, &o, &e), -WB_E_PROTO);
	ck_assert_str_eq(e.msg, "port: not a 4-byte integer");
	ck_assert_int_eq(one_attr(WB_A_SEND_CBT, u16, 2, &o, &e), -WB_E_PROTO);
	ck_assert_int_eq(one_attr(WB_A_SCHEME, "ht\0tp", 5, &o, &e), -WB_E_PROTO);
	ck_assert_int_eq(one_attr(WB_A_TRANSPORT, "nt\0lm", 5, &o, &e), -WB_E_PROTO);
	/* values */
	ck_assert_int_eq(one_attr(WB_A_PORT, "\0\0\0\0", 4, &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "port: 0 is not from 1 to 65535");
	ck_assert_int_eq(one_attr(WB_A_PORT, "\0\x01\0\0", 4, &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_attr(WB_A_KERBEROS_DELEGATION, &u8, 1, &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "kerberos_delegation: 2 is not 0 or 1");
	ck_assert_int_eq(one_str(WB_A_SCHEME, "ftp", &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "scheme: 'ftp' is not https or http");
	ck_assert_int_eq(one_str(WB_A_SCHEME, "HTTPS", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_CERT_VALIDATION, "no", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_MESSAGE_ENCRYPTION, "weak", &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "message_encryption: 'weak' is not auto, always or never");
	ck_assert_int_eq(one_str(WB_A_TRANSPORT, "plaintext", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_TRANSPORT, "averyveryverylongname", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_PATH, "wsman", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_PATH, "/ws man", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_CA_TRUST_PATH, "ca.pem", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_CA_TRUST_PATH, "", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_SERVICE, "HTTP/x", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_SERVICE, "", &o, &e), -WB_E_INVALID);
	ck_assert_int_eq(one_str(WB_A_KRB_HOSTNAME_OVERRIDE, "a b", &o, &e), -WB_E_INVALID);
	ck_assert_ptr_nonnull(strstr(e.msg, "kerberos_hostname_override: host:"));
	ck_assert_int_eq(one_str(WB_A_KRB_HOSTNAME_OVERRIDE, "", &o, &e), 0);	/* none */
	ck_assert(o.set & WB_OPT_KRB_HOSTNAME_OVERRIDE);
	ck_assert_str_eq(o.kerberos_hostname_override, "");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(one_str(WB_A_PATH, longpath, &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "path: longer than 1024 characters");
	longpath[sizeof(longpath) - 2] = '\0';
	ck_assert_int_eq(one_str(WB_A_PATH, longpath, &o, &e), 0);
	/* what the client sent is echoed, but never raw control bytes */
	ck_assert_int_eq(one_str(WB_A_SCHEME, "\x1b[31mred", &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "scheme: '?[31mred' is not https or http");

	/* repeated options and transports */
	begin(&w, "h");
	wb_msg_put_u32(&w, WB_A_PORT, 1);
	wb_msg_put_u32(&w, WB_A_PORT, 2);
	f = finish(&w);
	ck_assert_int_eq(wb_options_from_frame(&f, &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "port: given 2 times; give it once");
	begin(&w, "h");
	wb_msg_put_str(&w, WB_A_TRANSPORT, "ntlm");
	wb_msg_put_str(&w, WB_A_TRANSPORT, "basic");
	wb_msg_put_str(&w, WB_A_TRANSPORT, "ntlm");
	f = finish(&w);
	ck_assert_int_eq(wb_options_from_frame(&f, &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "transport: 'ntlm' given twice");
	begin(&w, "h");
	for (u8 = 0; u8 < 7; u8++)
		wb_msg_put_str(&w, WB_A_TRANSPORT, "ntlm");
	f = finish(&w);
	ck_assert_int_eq(wb_options_from_frame(&f, &o, &e), -WB_E_INVALID);
	ck_assert_str_eq(e.msg, "transport: 7 given; at most 6");
}
END_TEST

/* Random attribute soup: never a crash, only a result or an error. */
START_TEST(test_frame_hostile)
{
	static const uint16_t tags[] = {
		WB_A_HOST, WB_A_PORT, WB_A_SCHEME, WB_A_PATH, WB_A_TRANSPORT, WB_A_CERT_VALIDATION,
		WB_A_CA_TRUST_PATH, WB_A_OPERATION_TIMEOUT, WB_A_READ_TIMEOUT,
		WB_A_MESSAGE_ENCRYPTION, WB_A_KERBEROS_DELEGATION, WB_A_KRB_HOSTNAME_OVERRIDE,
		WB_A_SERVICE, WB_A_SEND_CBT, WB_A_CREDSSP_DISABLE_TLSV1_2,
	};
	static const char *const words[] = {
		"", "http", "https", "ntlm", "basic", "credssp", "validate", "ignore", "auto",
		"always", "never", "/wsman", "/etc/ca.pem", "HTTP", "::1", "[::1]", "host.example",
		"10.0.0.1", "\x01\x02", "a b",
	};
	struct wb_config *c = conf("[host *.example]\nallow_cert_validation_ignore = yes\n"
				   "[host ::1]\nscheme = http\n");
	char host[WB_HOST_MAX + 3];
	unsigned seed = 7;
	uint8_t val[300];
	int round;

	for (round = 0; round < 5000; round++) {
		struct wb_request_options o;
		struct wb_target t;
		struct wb_error e = { 0 };
		struct wb_writer w;
		struct wb_frame f;
		int i, n = rand_r(&seed) % 8, rc;

		begin(&w, rand_r(&seed) % 8 ? words[rand_r(&seed) % 20] : NULL);
		for (i = 0; i < n; i++) {
			uint16_t tag = tags[rand_r(&seed) % 15];
			size_t len;

			if (rand_r(&seed) % 2) {
				const char *s = words[rand_r(&seed) % 20];

				wb_msg_put_str(&w, tag, s);
				continue;
			}
			len = (size_t)(rand_r(&seed) % (int)sizeof(val));
			len = rand_r(&seed) % 3 ? len % 6 : len;
			for (size_t k = 0; k < len; k++)
				val[k] = (uint8_t)rand_r(&seed);
			wb_msg_put(&w, tag, val, len);
		}
		f = finish(&w);
		rc = wb_options_from_frame(&f, &o, &e);
		ck_assert(rc == 0 || rc == -WB_E_INVALID || rc == -WB_E_PROTO);
		if (rc == 0 && wb_attr_str(&f, WB_A_HOST, 0, host, sizeof(host)) == 0) {
			rc = wb_options_resolve(c, host, &o, &t, &e);
			ck_assert_msg(rc == 0 || rc == -WB_E_INVALID || rc == -WB_E_DENIED, "%d", rc);
			if (rc == 0)
				ck_assert(t.read_timeout_sec > t.operation_timeout_sec);
		}
		ck_assert(rc == 0 || strlen(e.msg) > 0);
	}
	wb_config_free(c);
}
END_TEST

/* ---- resolving ---- */

START_TEST(test_defaults)
{
	struct wb_request_options o = req("Win01.Corp.Example");
	struct wb_target t = ok("", &o), d;
	char url[128];

	wb_target_defaults(&d);
	ck_assert_str_eq(t.host, "win01.corp.example");
	ck_assert_uint_eq(t.port, 5986);
	ck_assert(t.https);
	ck_assert_str_eq(t.path, "/wsman");
	ck_assert_uint_eq(t.n_transports, 6);
	ck_assert_int_eq(t.transports[0], WB_TRANSPORT_BASIC);
	ck_assert(t.validate_cert);
	ck_assert_str_eq(t.ca_trust_path, "");
	ck_assert_uint_eq(t.operation_timeout_sec, d.operation_timeout_sec);
	ck_assert_uint_eq(t.read_timeout_sec, d.read_timeout_sec);
	ck_assert_int_eq(t.message_encryption, WB_MSGENC_AUTO);
	ck_assert(!t.kerberos_delegation);
	ck_assert_str_eq(t.kerberos_hostname_override, "");
	ck_assert_str_eq(t.service, "HTTP");
	ck_assert(t.send_cbt);
	ck_assert(!t.credssp_disable_tlsv1_2);
	ck_assert_uint_eq(t.credssp_min_version, 5);	/* the config's, never the request's */
	ck_assert_int_eq(wb_target_url(&t, url, sizeof(url)), 0);
	ck_assert_str_eq(url, "https://win01.corp.example:5986/wsman");
}
END_TEST

START_TEST(test_ipv6_hosts)
{
	static const char *const cfg = "[host 2001:db8::5]\nport = 6000\n";
	struct wb_request_options o = req("[2001:DB8::5]");
	struct wb_target t = ok(cfg, &o);
	char url[128];

	ck_assert_str_eq(t.host, "2001:db8::5");
	ck_assert_uint_eq(t.port, 6000);
	ck_assert_int_eq(wb_target_url(&t, url, sizeof(url)), 0);
	ck_assert_str_eq(url, "https://[2001:db8::5]:6000/wsman");
	o = req("2001:db8:0::5");
	t = ok(cfg, &o);
	ck_assert_str_eq(t.host, "2001:db8::5");
	ck_assert_uint_eq(t.port, 6000);
	o = req("::1");
	t = ok(cfg, &o);
	ck_assert_str_eq(t.host, "::1");
	ck_assert_uint_eq(t.port, 5986);
	o = req("[::1]");
	t = ok(cfg, &o);
	ck_assert_str_eq(t.host, "::1");
	/* an IPv4-mapped address is the IPv4 host and its section */
	o = req("::ffff:10.0.0.5");
	t = ok("[host 10.0.0.5]\nport = 7000\n", &o);
	ck_assert_str_eq(t.host, "10.0.0.5");
	ck_assert_uint_eq(t.port, 7000);
}
END_TEST

START_TEST(test_bad_hosts)
{
	static const char *const bad[] = {
		"", "a b", "host/x", "user@host", "a\x01", "[::1", "[10.0.0.1]", "10.1",
		"0x0a000005", "167772165", "fe80::1%eth0", "-x",
	};
	char longname[WB_HOST_MAX + 3];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wb_request_options o = req(bad[i]);

		refused("", &o, WB_E_INVALID, "host:", NULL, NULL);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	{
		struct wb_request_options o = req(longname);

		refused("", &o, WB_E_INVALID, "host:", "253", NULL);
	}
}
END_TEST

START_TEST(test_port_scheme_defaults)
{
	struct wb_request_options o;
	struct wb_target t;

	o = req("h");
	o.set = WB_OPT_PORT;
	o.port = 5985;
	t = ok("", &o);
	ck_assert(!t.https);
	ck_assert_uint_eq(t.port, 5985);
	o.port = 5986;
	t = ok("", &o);
	ck_assert(t.https);
	o.port = 8080;
	t = ok("", &o);
	ck_assert(t.https);
	ck_assert_uint_eq(t.port, 8080);

	o = req("h");
	o.set = WB_OPT_SCHEME;
	o.https = false;
	t = ok("", &o);
	ck_assert_uint_eq(t.port, 5985);
	ck_assert(!t.https);
	o.https = true;
	t = ok("", &o);
	ck_assert_uint_eq(t.port, 5986);

	/* the config's values are defaults in the same way */
	o = req("h");
	t = ok("[host h]\nport = 5985\n", &o);
	ck_assert(!t.https);
	t = ok("[host h]\nscheme = http\n", &o);
	ck_assert_uint_eq(t.port, 5985);
	t = ok("[host h]\nport = 8443\n", &o);
	ck_assert(t.https);
	ck_assert_uint_eq(t.port, 8443);
	/* each value on its own: the request's, then the config's, then derived */
	o.set = WB_OPT_PORT;
	o.port = 5985;
	t = ok("[host h]\nscheme = https\n", &o);
	ck_assert(t.https);
	ck_assert_uint_eq(t.port, 5985);
	t = ok("[host h]\nport = 5986\n", &o);
	ck_assert(!t.https);
	ck_assert_uint_eq(t.port, 5985);
	o.set = WB_OPT_SCHEME;
	o.https = false;
	t = ok("[host h]\nport = 8080\n", &o);
	ck_assert(!t.https);
	ck_assert_uint_eq(t.port, 8080);
}
END_TEST

START_TEST(test_pins)
{
	static const char *const cfg =
		"[host a]\n"
		"[host h]\nport = 5986\nscheme = https\npath = /wsman\nservice = HTTP\n"
		"kerberos_hostname_override = dc.corp\n"
		"pin = port, scheme, path, service, kerberos_hostname_override\n";
	struct wb_request_options o = req("h");
	struct wb_target t;

	o.set = WB_OPT_PORT;
	o.port = 5986;		/* the pinned value itself is fine */
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.port, 5986);
	o.port = 5985;
	denied(cfg, &o, "port: the request asks 5985, but the config pins 5986",
	       "(decided by t.conf:2 [host h])", NULL);
	o = req("h");
	o.set = WB_OPT_SCHEME;
	o.https = false;
	denied(cfg, &o, "scheme: the request asks http, but the config pins https", "t.conf:2", NULL);
	o = req("h");
	o.set = WB_OPT_PATH;
	strcpy(o.path, "/other");
	denied(cfg, &o, "path: the request asks '/other', but the config pins '/wsman'", "t.conf:2",
	       NULL);
	strcpy(o.path, "/wsman");
	ok(cfg, &o);
	o = req("h");
	o.set = WB_OPT_SERVICE;
	strcpy(o.service, "WSMAN");
	denied(cfg, &o, "service: the request asks 'WSMAN', but the config pins 'HTTP'", NULL, NULL);
	o = req("h");
	o.set = WB_OPT_KRB_HOSTNAME_OVERRIDE;
	strcpy(o.kerberos_hostname_override, "evil.corp");
	denied(cfg, &o, "kerberos_hostname_override: the request asks 'evil.corp'", "'dc.corp'", NULL);
	o.kerberos_hostname_override[0] = '\0';
	denied(cfg, &o, "kerberos_hostname_override", NULL, NULL);
	strcpy(o.kerberos_hostname_override, "dc.corp");
	t = ok(cfg, &o);
	ck_assert_str_eq(t.kerberos_hostname_override, "dc.corp");

	/* unpinned, the same requests are fine */
	o = req("a");
	o.set = WB_OPT_PORT | WB_OPT_PATH | WB_OPT_SERVICE | WB_OPT_KRB_HOSTNAME_OVERRIDE;
	o.port = 1234;
	strcpy(o.path, "/x");
	strcpy(o.service, "WSMAN");
	strcpy(o.kerberos_hostname_override, "dc2.corp");
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.port, 1234);
	ck_assert_str_eq(t.path, "/x");
	ck_assert_str_eq(t.service, "WSMAN");
	ck_assert_str_eq(t.kerberos_hostname_override, "dc2.corp");
}
END_TEST

START_TEST(test_transports)
{
	static const char *const cfg = "[host h]\ntransport = kerberos, ntlm, basic\n";
	struct wb_request_options o = req("h");
	struct wb_target t = ok(cfg, &o);

	ck_assert_uint_eq(t.n_transports, 3);	/* absent: the config's list */
	ck_assert_int_eq(t.transports[0], WB_TRANSPORT_KERBEROS);
	ck_assert_int_eq(t.transports[2], WB_TRANSPORT_BASIC);
	o.set = WB_OPT_TRANSPORT;
	o.n_transports = 2;
	o.transports[0] = WB_TRANSPORT_BASIC;	/* a subset, in the request's order */
	o.transports[1] = WB_TRANSPORT_KERBEROS;
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.n_transports, 2);
	ck_assert_int_eq(t.transports[0], WB_TRANSPORT_BASIC);
	ck_assert_int_eq(t.transports[1], WB_TRANSPORT_KERBEROS);
	o.transports[1] = WB_TRANSPORT_CREDSSP;
	denied(cfg, &o, "transport: the request asks credssp, which the config does not allow",
	       "(allowed: kerberos, ntlm, basic)", "(decided by t.conf:1 [host h])");
}
END_TEST

START_TEST(test_transports_over_http)
{
	struct wb_request_options o = req("h");
	struct wb_target t;

	/* Basic and Certificate are dropped from the default list over http */
	o.set = WB_OPT_SCHEME;
	o.https = false;
	t = ok("", &o);
	ck_assert_uint_eq(t.n_transports, 4);
	ck_assert_int_eq(t.transports[0], WB_TRANSPORT_NTLM);
	ck_assert_int_eq(t.transports[3], WB_TRANSPORT_CREDSSP);
	/* and refused when asked for */
	o.set |= WB_OPT_TRANSPORT;
	o.n_transports = 2;
	o.transports[0] = WB_TRANSPORT_NTLM;
	o.transports[1] = WB_TRANSPORT_BASIC;
	denied("", &o, "transport: basic is never used over http",
	       "would send the password in clear", "built-in defaults");
	o.transports[1] = WB_TRANSPORT_CERTIFICATE;
	denied("", &o, "certificate is never used over http", "needs TLS", NULL);
	o.set = WB_OPT_PORT;
	o.port = 5985;
	denied("[host h]\ntransport = basic, certificate\n", &o,
	       "none of the allowed transports (basic, certificate) can be used over http", NULL, NULL);
}
END_TEST

START_TEST(test_cert_validation)
{
	struct wb_request_options o = req("h");
	struct wb_target t;

	o.set = WB_OPT_CERT_VALIDATION;
	o.validate_cert = false;
	denied("", &o, "server_cert_validation: the request asks ignore",
	       "allows only validate (allow_cert_validation_ignore = no)", "built-in defaults");
	denied("[host h]\nallow_cert_validation_ignore = no\n", &o, "server_cert_validation",
	       "t.conf:1 [host h]", NULL);
	t = ok("[host h]\nallow_cert_validation_ignore = yes\n", &o);
	ck_assert(!t.validate_cert);
	/* the admin's own default ignore stands, and a request may still validate */
	o.set = 0;
	t = ok("[host h]\nserver_cert_validation = ignore\n", &o);
	ck_assert(!t.validate_cert);
	o.set = WB_OPT_CERT_VALIDATION;
	o.validate_cert = true;
	t = ok("[host h]\nserver_cert_validation = ignore\n", &o);
	ck_assert(t.validate_cert);
	t = ok("", &o);
	ck_assert(t.validate_cert);
}
END_TEST

START_TEST(test_ca_trust_path)
{
	static const char *const cfg =
		"[host h]\nca_trust_path = /etc/wb/ca.pem\n"
		"ca_trust_paths_allowed = /etc/wb/lab.pem /etc/wb/old.pem\n";
	struct wb_request_options o = req("h");
	struct wb_target t = ok(cfg, &o);

	ck_assert_str_eq(t.ca_trust_path, "/etc/wb/ca.pem");
	o.set = WB_OPT_CA_TRUST_PATH;
	strcpy(o.ca_trust_path, "/etc/wb/ca.pem");
	t = ok(cfg, &o);
	ck_assert_str_eq(t.ca_trust_path, "/etc/wb/ca.pem");
	strcpy(o.ca_trust_path, "/etc/wb/old.pem");
	t = ok(cfg, &o);
	ck_assert_str_eq(t.ca_trust_path, "/etc/wb/old.pem");
	/* exact names only: no prefixes, no dot-dot, nothing the client owns */
	strcpy(o.ca_trust_path, "/home/mallory/ca.pem");
	denied(cfg, &o, "ca_trust_path: the request asks '/home/mallory/ca.pem'",
	       "the config's ca_trust_path ('/etc/wb/ca.pem')", "t.conf:1 [host h]");
	strcpy(o.ca_trust_path, "/etc/wb/lab.pem/../../../tmp/x.pem");
	denied(cfg, &o, "ca_trust_path", NULL, NULL);
	strcpy(o.ca_trust_path, "/etc/wb/");
	denied(cfg, &o, "ca_trust_path", NULL, NULL);
	strcpy(o.ca_trust_path, "/etc/wb/lab.pem");
	ok(cfg, &o);
	/* with no config at all, only the system store */
	denied("", &o, "ca_trust_path", "system store", "built-in defaults");
}
END_TEST

START_TEST(test_message_encryption)
{
	struct wb_request_options o = req("h");
	struct wb_target t;

	o.set = WB_OPT_MESSAGE_ENCRYPTION;
	o.message_encryption = WB_MSGENC_NEVER;
	denied("", &o, "message_encryption: the request asks never, weaker than the config's auto",
	       "(never < auto < always)", NULL);
	o.message_encryption = WB_MSGENC_ALWAYS;
	t = ok("", &o);
	ck_assert_int_eq(t.message_encryption, WB_MSGENC_ALWAYS);
	o.message_encryption = WB_MSGENC_AUTO;
	denied("[host h]\nmessage_encryption = always\n", &o,
	       "the request asks auto, weaker than the config's always", "t.conf:1", NULL);
	t = ok("[host h]\nmessage_encryption = never\n", &o);
	ck_assert_int_eq(t.message_encryption, WB_MSGENC_AUTO);
	o.set = 0;
	t = ok("[host h]\nmessage_encryption = never\n", &o);
	ck_assert_int_eq(t.message_encryption, WB_MSGENC_NEVER);
}
END_TEST

START_TEST(test_timeouts)
{
	static const char *const cfg = "[host h]\nmax_operation_timeout_sec = 100\n";
	struct wb_request_options o = req("h");
	struct wb_target t;

	/* only the operation timeout: the read timeout rises to op + 10 if needed */
	o.set = WB_OPT_OPERATION_TIMEOUT;
	o.operation_timeout_sec = 50;
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.operation_timeout_sec, 50);
	ck_assert_uint_eq(t.read_timeout_sec, 60);
	o.operation_timeout_sec = 5;
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.read_timeout_sec, 30);
	o.operation_timeout_sec = 100;
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.read_timeout_sec, 110);
	o.operation_timeout_sec = 101;
	denied(cfg, &o, "operation_timeout_sec: the request asks 101 s",
	       "at most 100 s (max_operation_timeout_sec)", "t.conf:1 [host h]");
	o.operation_timeout_sec = 0;
	refused(cfg, &o, WB_E_INVALID, "operation_timeout_sec: must be at least 1 second", NULL, NULL);
	/* both */
	o.set = WB_OPT_OPERATION_TIMEOUT | WB_OPT_READ_TIMEOUT;
	o.operation_timeout_sec = 30;
	o.read_timeout_sec = 31;
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.operation_timeout_sec, 30);
	ck_assert_uint_eq(t.read_timeout_sec, 31);
	o.read_timeout_sec = 30;
	refused(cfg, &o, WB_E_INVALID, "read_timeout_sec: 30 s must be greater than "
		"operation_timeout_sec (30 s, from the request)", NULL, NULL);
	o.read_timeout_sec = 101;
	denied(cfg, &o, "read_timeout_sec: the request asks 101 s", NULL, NULL);
	/* only the read timeout: it must exceed the config's operation timeout */
	o.set = WB_OPT_READ_TIMEOUT;
	o.read_timeout_sec = 21;
	t = ok(cfg, &o);
	ck_assert_uint_eq(t.operation_timeout_sec, 20);
	ck_assert_uint_eq(t.read_timeout_sec, 21);
	o.read_timeout_sec = 15;
	refused(cfg, &o, WB_E_INVALID, "read_timeout_sec: 15 s must be greater than "
		"operation_timeout_sec (20 s, from the config)", "t.conf:1", NULL);
	o.read_timeout_sec = 0;
	refused(cfg, &o, WB_E_INVALID, "read_timeout_sec: must be at least 1 second", NULL, NULL);
	/* the config's own values */
	o.set = 0;
	t = ok("[host h]\noperation_timeout_sec = 60\nread_timeout_sec = 90\n", &o);
	ck_assert_uint_eq(t.operation_timeout_sec, 60);
	ck_assert_uint_eq(t.read_timeout_sec, 90);
}
END_TEST

START_TEST(test_kerberos_and_cbt)
{
	struct wb_request_options o = req("h");
	struct wb_target t;

	o.set = WB_OPT_KERBEROS_DELEGATION;
	o.kerberos_delegation = true;
	denied("", &o, "kerberos_delegation: the request asks yes, but the config allows only no "
	       "(allow_kerberos_delegation = no)", "built-in defaults", NULL);
	t = ok("[host h]\nallow_kerberos_delegation = yes\n", &o);
	ck_assert(t.kerberos_delegation);
	o.kerberos_delegation = false;
	t = ok("[host h]\nkerberos_delegation = yes\n", &o);	/* narrowing: fine */
	ck_assert(!t.kerberos_delegation);
	o.set = 0;
	t = ok("[host h]\nkerberos_delegation = yes\n", &o);
	ck_assert(t.kerberos_delegation);

	o.set = WB_OPT_SEND_CBT;
	o.send_cbt = false;
	denied("[host h]\n", &o, "send_cbt: the request asks no, but the config allows only yes "
	       "(allow_disable_cbt = no)", "t.conf:1 [host h]", NULL);
	t = ok("[host h]\nallow_disable_cbt = yes\n", &o);
	ck_assert(!t.send_cbt);
	o.send_cbt = true;
	t = ok("[host h]\nsend_cbt = no\n", &o);
	ck_assert(t.send_cbt);

	o.set = WB_OPT_CREDSSP_DISABLE_TLSV1_2;
	o.credssp_disable_tlsv1_2 = true;
	denied("", &o, "credssp_disable_tlsv1_2: the request asks yes",
	       "(allow_credssp_disable_tlsv1_2 = no)", NULL);
	t = ok("[host h]\nallow_credssp_disable_tlsv1_2 = yes\n", &o);
	ck_assert(t.credssp_disable_tlsv1_2);
	o.credssp_disable_tlsv1_2 = false;
	t = ok("[host h]\ncredssp_disable_tlsv1_2 = yes\n", &o);
	ck_assert(!t.credssp_disable_tlsv1_2);

	/* kerberos_hostname_override and service: a request may set them */
	o.set = WB_OPT_KRB_HOSTNAME_OVERRIDE | WB_OPT_SERVICE;
	strcpy(o.kerberos_hostname_override, "win01.corp");
	strcpy(o.service, "WSMAN");
	t = ok("[host h]\nservice = HTTP\nkerberos_hostname_override = x.corp\n", &o);
	ck_assert_str_eq(t.kerberos_hostname_override, "win01.corp");
	ck_assert_str_eq(t.service, "WSMAN");
	o.set = 0;
	t = ok("[host h]\nservice = HOST\nkerberos_hostname_override = x.corp\n", &o);
	ck_assert_str_eq(t.kerberos_hostname_override, "x.corp");
	ck_assert_str_eq(t.service, "HOST");
}
END_TEST

/* First match decides, and the message says which section it was. */
START_TEST(test_first_match_decides)
{
	static const char *const cfg =
		"[host web1.corp]\nallow_cert_validation_ignore = yes\n"
		"[host *.corp]\n"
		"[host *]\nallow_cert_validation_ignore = yes\n";
	struct wb_request_options o = req("WEB1.corp");

	o.set = WB_OPT_CERT_VALIDATION;
	o.validate_cert = false;
	ok(cfg, &o);
	o = req("web2.corp");
	o.set = WB_OPT_CERT_VALIDATION;
	denied(cfg, &o, "server_cert_validation", "(decided by t.conf:3 [host *.corp])", NULL);
	o = req("other.example");
	o.set = WB_OPT_CERT_VALIDATION;
	ok(cfg, &o);
}
END_TEST

/* From bytes on the wire to a target, as the broker will do it. */
START_TEST(test_frame_to_target)
{
	struct wb_config *c = conf("[host *.corp]\nport = 5985\npin = port\n"
				   "transport = ntlm, kerberos\nmessage_encryption = always\n");
	struct wb_request_options o;
	struct wb_error e = { 0 };
	struct wb_target t;
	struct wb_writer w;
	struct wb_frame f;
	char url[128], host[WB_HOST_MAX + 3];

	begin(&w, "Srv.Corp");
	wb_msg_put_str(&w, WB_A_TRANSPORT, "kerberos");
	wb_msg_put_u32(&w, WB_A_OPERATION_TIMEOUT, 60);
	f = finish(&w);
	ck_assert_int_eq(wb_attr_str(&f, WB_A_HOST, 0, host, sizeof(host)), 0);
	ck_assert_int_eq(wb_options_from_frame(&f, &o, &e), 0);
	ck_assert_msg(wb_options_resolve(c, host, &o, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(wb_target_url(&t, url, sizeof(url)), 0);
	ck_assert_str_eq(url, "http://srv.corp:5985/wsman");
	ck_assert_uint_eq(t.n_transports, 1);
	ck_assert_int_eq(t.transports[0], WB_TRANSPORT_KERBEROS);
	ck_assert_int_eq(t.message_encryption, WB_MSGENC_ALWAYS);
	ck_assert_uint_eq(t.read_timeout_sec, 70);

	begin(&w, "Srv.Corp");
	wb_msg_put_u32(&w, WB_A_PORT, 5986);
	f = finish(&w);
	ck_assert_int_eq(wb_options_from_frame(&f, &o, &e), 0);
	ck_assert_int_eq(wb_options_resolve(c, host, &o, &t, &e), -WB_E_DENIED);
	ck_assert_str_eq(e.msg, "port: the request asks 5986, but the config pins 5985 "
			 "(decided by t.conf:1 [host *.corp])");
	wb_config_free(c);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_frame_all_options);
	tcase_add_test(tc, test_frame_errors);
	tcase_add_test(tc, test_frame_hostile);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_ipv6_hosts);
	tcase_add_test(tc, test_bad_hosts);
	tcase_add_test(tc, test_port_scheme_defaults);
	tcase_add_test(tc, test_pins);
	tcase_add_test(tc, test_transports);
	tcase_add_test(tc, test_transports_over_http);
	tcase_add_test(tc, test_cert_validation);
	tcase_add_test(tc, test_ca_trust_path);
	tcase_add_test(tc, test_message_encryption);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_kerberos_and_cbt);
	tcase_add_test(tc, test_first_match_decides);
	tcase_add_test(tc, test_frame_to_target);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(options_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
