/*
 * Unit tests for brokerd/winrm/soap.c: our envelopes read back by namespace
 * (XPath, independent of soap.c's own tree walk), answers with the prefixes
 * real servers use, faults, RelatesTo, and hostile XML.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <sodium.h>

#include "buf.h"
#include "winrm/soap.h"

#define NS_S "http://www.w3.org/2003/05/soap-envelope"
#define NS_A "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_W "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_RSP "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define NS_X "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define NS_F "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#define CMD_ID "1A2B3C4D-0000-4000-8000-000000000001"
#define MSG_ID "uuid:11111111-2222-4333-8444-555555555555"

/* ---- reading our own envelopes back -------------------------------------- */

struct doc {
	xmlDocPtr doc;
	xmlXPathContextPtr xp;
};

static void doc_open(struct doc *d, const struct wb_writer *w)
{
	d->doc = xmlReadMemory((const char *)w->data, (int)w->len, NULL, NULL, XML_PARSE_NONET);
	ck_assert_ptr_nonnull(d->doc);
	d->xp = xmlXPathNewContext(d->doc);
	ck_assert_ptr_nonnull(d->xp);
	/* Our own prefixes, unrelated to the ones soap.c writes. */
	xmlXPathRegisterNs(d->xp, BAD_CAST "E", BAD_CAST NS_S);
	xmlXPathRegisterNs(d->xp, BAD_CAST "A", BAD_CAST NS_A);
	xmlXPathRegisterNs(d->xp, BAD_CAST "M", BAD_CAST NS_W);
	xmlXPathRegisterNs(d->xp, BAD_CAST "R", BAD_CAST NS_RSP);
}

static void doc_close(struct doc *d)
{
	xmlXPathFreeContext(d->xp);
	xmlFreeDoc(d->doc);
}

/* string(expr), as a malloc'd C string. */
static char *xs(struct doc *d, const char *expr)
{
	char full[512];
	xmlXPathObjectPtr o;
	char *s;

	snprintf(full, sizeof(full), "string(%s)", expr);
	o = xmlXPathEvalExpression(BAD_CAST full, d->xp);
	ck_assert_ptr_nonnull(o);
	s = strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	return s;
}

static double xcount(struct doc *d, const char *expr)
{
	char full[512];
	xmlXPathObjectPtr o;
	double v;

	snprintf(full, sizeof(full), "count(%s)", expr);
	o = xmlXPathEvalExpression(BAD_CAST full, d->xp);
	ck_assert_ptr_nonnull(o);
	v = o->floatval;
	xmlXPathFreeObject(o);
	return v;
}

#define ck_xs(d, expr, want) do { \
	char *got_ = xs(d, expr); \
	ck_assert_str_eq(got_, want); \
	free(got_); \
} while (0)

static void common_header(struct doc *d, const struct wb_soap_req *r, const char *action)
{
	ck_xs(d, "/E:Envelope/E:Header/A:Action", action);
	ck_xs(d, "/E:Envelope/E:Header/A:Action/@E:mustUnderstand", "true");
	ck_xs(d, "/E:Envelope/E:Header/A:MessageID", r->message_id);
	ck_xs(d, "/E:Envelope/E:Header/A:To", "https://[::1]:5986/wsman");
	ck_xs(d, "/E:Envelope/E:Header/A:ReplyTo/A:Address", NS_A "/role/anonymous");
	ck_xs(d, "/E:Envelope/E:Header/M:ResourceURI", NS_RSP "/cmd");
	ck_xs(d, "/E:Envelope/E:Header/M:MaxEnvelopeSize", "153600");
	ck_xs(d, "/E:Envelope/E:Header/M:OperationTimeout", "PT20.000S");
	ck_xs(d, "/E:Envelope/E:Header/M:Locale/@xml:lang", "en-US");
}

static void req_init(struct wb_soap_req *r, const char *shell_id)
{
	memset(r, 0, sizeof(*r));
	r->to = "https://[::1]:5986/wsman";
	r->operation_timeout_sec = 20;
	r->shell_id = shell_id;
}

START_TEST(test_build_create)
{
	struct wb_soap_req r;
	struct wb_writer w;
	struct doc d;

	req_init(&r, "ignored");
	wb_writer_init(&w, 1 << 20, WB_PLAIN);
	ck_assert_int_eq(wb_soap_create(&r, &w, NULL), 0);
	ck_assert_ptr_null(r.shell_id);
	ck_assert_int_eq(strncmp(r.message_id, "uuid:", 5), 0);
	doc_open(&d, &w);
	common_header(&d, &r, NS_X "/Create");
	ck_xs(&d, "//M:OptionSet/M:Option[@Name='WINRS_CODEPAGE']", "65001");
	ck_xs(&d, "//M:OptionSet/M:Option[@Name='WINRS_NOPROFILE']", "FALSE");
	ck_assert(xcount(&d, "//M:SelectorSet") == 0);
	ck_xs(&d, "/E:Envelope/E:Body/R:Shell/R:InputStreams", "stdin");
	ck_xs(&d, "/E:Envelope/E:Body/R:Shell/R:OutputStreams", "stdout stderr");
	doc_close(&d);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_build_command_escapes)
{
	static const char *const args[] = { "a<b>&c", "\"quoted\" 'single'", "]]>", "tab\there" };
	struct wb_soap_req r;
	struct wb_writer w;
	struct doc d;

	req_init(&r, "SHELL-1");
	wb_writer_init(&w, 1 << 20, WB_PLAIN);
	ck_assert_int_eq(wb_soap_command(&r, "echo & </rsp:Command>", args, 4, &w, NULL), 0);
	doc_open(&d, &w);
	common_header(&d, &r, NS_RSP "/Command");
	ck_xs(&d, "//M:SelectorSet/M:Selector[@Name='ShellId']", "SHELL-1");
	ck_xs(&d, "//M:Option[@Name='WINRS_CONSOLEMODE_STDIN']", "TRUE");
	ck_xs(&d, "//M:Option[@Name='WINRS_SKIP_CMD_SHELL']", "FALSE");
	ck_xs(&d, "/E:Envelope/E:Body/R:CommandLine/R:Command", "echo & </rsp:Command>");
	ck_assert(xcount(&d, "/E:Envelope/E:Body/R:CommandLine/R:Arguments") == 4);
	ck_xs(&d, "/E:Envelope/E:Body/R:CommandLine/R:Arguments[1]", "a<b>&c");
	ck_xs(&d, "/E:Envelope/E:Body/R:CommandLine/R:Arguments[2]", "\"quoted\" 'single'");
	ck_xs(&d, "/E:Envelope/E:Body/R:CommandLine/R:Arguments[3]", "]]>");
	ck_xs(&d, "/E:Envelope/E:Body/R:CommandLine/R:Arguments[4]", "tab\there");
	doc_close(&d);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_build_refuses_bad_text)
{
	static const char *const bad_arg[] = { "ok", "bell\a" };
	struct wb_soap_req r;
	struct wb_writer w;
	struct wb_error err = { 0 };

	req_init(&r, "SHELL-1");
	wb_writer_init(&w, 1 << 20, WB_PLAIN);
	ck_assert_int_eq(wb_soap_command(&r, "esc\x1b[2J", NULL, 0, &w, &err), -WB_E_INVALID);
	ck_assert_int_eq(wb_soap_command(&r, "bad \xc3\x28 utf8", NULL, 0, &w, &err),
			 -WB_E_INVALID);
	ck_assert_int_eq(wb_soap_command(&r, "overlong \xc0\xaf", NULL, 0, &w, &err),
			 -WB_E_INVALID);
	ck_assert_int_eq(wb_soap_command(&r, "", NULL, 0, &w, &err), -WB_E_INVALID);
	ck_assert_int_eq(wb_soap_command(&r, "echo", bad_arg, 2, &w, &err), -WB_E_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "argument 2"));
	/* UTF-8 is fine. */
	ck_assert_int_eq(wb_soap_command(&r, "echo gr\xc3\xbc\xc3\x9f \xe2\x82\xac", NULL, 0, &w,
					 NULL), 0);
	r.shell_id = "bad id with spaces";
	ck_assert_int_eq(wb_soap_delete(&r, &w, &err), -WB_E_INVALID);
	wb_writer_free(&w);
}
END_TEST

START_TEST(test_build_send_receive_signal_delete)
{
	static const uint8_t data[] = { 0, 1, 2, 'h', 'i', '\n', 0xff };
	char first_id[WB_SOAP_ID_MAX], *b64;
	uint8_t back[16];
	size_t back_len = 0;
	struct wb_soap_req r;
	struct wb_writer w;
	struct doc d;

	req_init(&r, "SHELL-1");
	wb_writer_init(&w, 1 << 20, WB_PLAIN);

	ck_assert_int_eq(wb_soap_send(&r, CMD_ID, data, sizeof(data), true, &w, NULL), 0);
	memcpy(first_id, r.message_id, sizeof(first_id));
	doc_open(&d, &w);
	common_header(&d, &r, NS_RSP "/Send");
	ck_xs(&d, "//R:Send/R:Stream/@Name", "stdin");
	ck_xs(&d, "//R:Send/R:Stream/@CommandId", CMD_ID);
	ck_xs(&d, "//R:Send/R:Stream/@End", "true");
	b64 = xs(&d, "//R:Send/R:Stream");
	ck_assert_int_eq(sodium_base642bin(back, sizeof(back), b64, strlen(b64), NULL, &back_len,
					   NULL, sodium_base64_VARIANT_ORIGINAL), 0);
	ck_assert_uint_eq(back_len, sizeof(data));
	ck_assert_mem_eq(back, data, sizeof(data));
	free(b64);
	doc_close(&d);

	ck_assert_int_eq(wb_soap_send(&r, CMD_ID, NULL, 0, false, &w, NULL), 0);
	doc_open(&d, &w);
	ck_assert(xcount(&d, "//R:Send/R:Stream/@End") == 0);
	doc_close(&d);
	ck_assert_int_eq(wb_soap_send(&r, CMD_ID, data, WB_SOAP_SEND_MAX + 1, false, &w, NULL),
			 -WB_E_INVALID);

	ck_assert_int_eq(wb_soap_receive(&r, CMD_ID, &w, NULL), 0);
	ck_assert_str_ne(r.message_id, first_id);	/* a new MessageID per request */
	doc_open(&d, &w);
	common_header(&d, &r, NS_RSP "/Receive");
	ck_xs(&d, "//R:Receive/R:DesiredStream", "stdout stderr");
	ck_xs(&d, "//R:Receive/R:DesiredStream/@CommandId", CMD_ID);
	doc_close(&d);

	ck_assert_int_eq(wb_soap_signal(&r, CMD_ID, WB_SOAP_CTRL_C, &w, NULL), 0);
	doc_open(&d, &w);
	common_header(&d, &r, NS_RSP "/Signal");
	ck_xs(&d, "//R:Signal/@CommandId", CMD_ID);
	ck_xs(&d, "//R:Signal/R:Code", NS_RSP "/signal/ctrl_c");
	doc_close(&d);
	ck_assert_int_eq(wb_soap_signal(&r, CMD_ID, WB_SOAP_TERMINATE, &w, NULL), 0);
	doc_open(&d, &w);
	ck_xs(&d, "//R:Signal/R:Code", NS_RSP "/signal/terminate");
	doc_close(&d);

	ck_assert_int_eq(wb_soap_delete(&r, &w, NULL), 0);
	doc_open(&d, &w);
	common_header(&d, &r, NS_X "/Delete");
	ck_xs(&d, "//M:SelectorSet/M:Selector[@Name='ShellId']", "SHELL-1");
	ck_assert(xcount(&d, "/E:Envelope/E:Body/*") == 0);
	doc_close(&d);
	wb_writer_free(&w);
}
END_TEST

/* ---- answers ---------------------------------------------------------------- */

#define P(s) (const uint8_t *)(s), strlen(s)

/* An envelope with the given prefixes for SOAP and the shell namespace. */
static char *answer(const char *s, const char *rsp, const char *relates, const char *body)
{
	char *out;
	int n;

	n = asprintf(&out,
		     "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		     "<%1$s:Envelope xml:lang=\"en-US\" xmlns:%1$s=\"" NS_S "\" "
		     "xmlns:addr=\"" NS_A "\" xmlns:%2$s=\"" NS_RSP "\" xmlns:x=\"" NS_X "\" "
		     "xmlns:wsman=\"" NS_W "\">"
		     "<%1$s:Header><addr:Action>whatever</addr:Action>"
		     "<addr:MessageID>uuid:9</addr:MessageID>%3$s%4$s%5$s</%1$s:Header>"
		     "<%1$s:Body>%6$s</%1$s:Body></%1$s:Envelope>",
		     s, rsp, relates ? "<addr:RelatesTo>" : "", relates ? relates : "",
		     relates ? "</addr:RelatesTo>" : "", body);
	ck_assert_int_gt(n, 0);
	return out;
}

START_TEST(test_parse_create_prefixes)
{
	static const char *const soap_prefixes[] = { "s", "env", "soapenv", "SOAP-ENV" };
	char id[WB_SOAP_ID_MAX], body[1024], *a;
	struct wb_soap_fault f;
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(body, sizeof(body),
			 "<shell:Shell><shell:ShellId>AAAA-%zu</shell:ShellId></shell:Shell>", i);
		a = answer(soap_prefixes[i], "shell", MSG_ID, body);
		ck_assert_int_eq(wb_soap_parse_create(P(a), MSG_ID, id, &f, NULL), 0);
		ck_assert_int_eq((int)id[5], (int)('0' + i));
		free(a);
	}
	/* The EPR form only, with the Selector pywinrm reads. */
	a = answer("s", "rsp", MSG_ID,
		   "<x:ResourceCreated><addr:Address>http://h/wsman</addr:Address>"
		   "<addr:ReferenceParameters><wsman:ResourceURI>u</wsman:ResourceURI>"
		   "<wsman:SelectorSet><wsman:Selector Name=\"Other\">no</wsman:Selector>"
		   "<wsman:Selector Name=\"ShellId\">EPR-ID</wsman:Selector></wsman:SelectorSet>"
		   "</addr:ReferenceParameters></x:ResourceCreated>");
	ck_assert_int_eq(wb_soap_parse_create(P(a), MSG_ID, id, &f, NULL), 0);
	ck_assert_str_eq(id, "EPR-ID");
	free(a);
}
END_TEST

START_TEST(test_parse_default_namespace)
{
	/* No prefixes at all: default namespaces, switched per element. */
	static const char a[] =
		"<Envelope xmlns=\"" NS_S "\"><Header>"
		"<RelatesTo xmlns=\"" NS_A "\">" MSG_ID "</RelatesTo></Header><Body>"
		"<CommandResponse xmlns=\"" NS_RSP "\"><CommandId>" CMD_ID "</CommandId>"
		"</CommandResponse></Body></Envelope>";
	char id[WB_SOAP_ID_MAX];
	struct wb_soap_fault f;

	ck_assert_int_eq(wb_soap_parse_command(P(a), MSG_ID, id, &f, NULL), 0);
	ck_assert_str_eq(id, CMD_ID);
}
END_TEST

START_TEST(test_parse_wrong_namespace_is_not_found)
{
	/* Right prefix and local name, wrong namespace URI: not our element. */
	static const char a[] =
		"<s:Envelope xmlns:s=\"" NS_S "\" xmlns:a=\"" NS_A "\" "
		"xmlns:rsp=\"http://example.com/not-the-shell\"><s:Header>"
		"<a:RelatesTo>" MSG_ID "</a:RelatesTo></s:Header><s:Body>"
		"<rsp:CommandResponse><rsp:CommandId>X</rsp:CommandId></rsp:CommandResponse>"
		"</s:Body></s:Envelope>";
	static const char soap11[] =
		"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
		"xmlns:a=\"" NS_A "\"><s:Header><a:RelatesTo>" MSG_ID "</a:RelatesTo>"
		"</s:Header><s:Body/></s:Envelope>";
	char id[WB_SOAP_ID_MAX];
	struct wb_soap_fault f;
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_soap_parse_command(P(a), MSG_ID, id, &f, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "CommandId"));
	ck_assert_int_eq(wb_soap_parse_ack(P(soap11), MSG_ID, &f, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "SOAP 1.2"));
}
END_TEST

START_TEST(test_parse_receive)
{
	static const char *const rsp_prefixes[] = { "rsp", "shell", "r" };
	char body[2048], *a;
	struct wb_soap_received got;
	struct wb_soap_fault f;
	size_t i;

	for (i = 0; i < 3; i++) {
		const char *p = rsp_prefixes[i];

		/* "hello\n" and "oops": base64 wrapped over lines, as some hosts do */
		snprintf(body, sizeof(body),
			 "<%1$s:ReceiveResponse>"
			 "<%1$s:Stream Name=\"stdout\" CommandId=\"%2$s\">aGVs\r\n bG8K</%1$s:Stream>"
			 "<%1$s:Stream Name=\"stderr\" CommandId=\"%2$s\">b29wcw==</%1$s:Stream>"
			 "<%1$s:Stream Name=\"stdout\" CommandId=\"%2$s\" End=\"true\"></%1$s:Stream>"
			 "<%1$s:CommandState CommandId=\"%2$s\" State=\"" NS_RSP
			 "/CommandState/Done\"><%1$s:ExitCode>7</%1$s:ExitCode></%1$s:CommandState>"
			 "</%1$s:ReceiveResponse>", p, CMD_ID);
		a = answer(i == 1 ? "env" : "s", p, MSG_ID, body);
		ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, NULL), 0);
		ck_assert_uint_eq(got.n_chunks, 3);
		ck_assert_int_eq(got.chunks[0].stream, 1);
		ck_assert_uint_eq(got.chunks[0].len, 6);
		ck_assert_mem_eq(got.chunks[0].data, "hello\n", 6);
		ck_assert_int_eq(got.chunks[1].stream, 2);
		ck_assert_mem_eq(got.chunks[1].data, "oops", 4);
		ck_assert(!got.chunks[1].end);
		ck_assert_uint_eq(got.chunks[2].len, 0);
		ck_assert(got.chunks[2].end);
		ck_assert(got.done);
		ck_assert_int_eq(got.exit_code, 7);
		wb_soap_received_free(&got);
		free(a);
	}
}
END_TEST

START_TEST(test_parse_receive_running_and_exit_codes)
{
	char body[1024], *a;
	struct wb_soap_received got;
	struct wb_soap_fault f;
	struct wb_error err = { 0 };

	a = answer("s", "rsp", MSG_ID, "<rsp:ReceiveResponse><rsp:CommandState CommandId=\""
		   CMD_ID "\" State=\"" NS_RSP "/CommandState/Running\"/></rsp:ReceiveResponse>");
	ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, NULL), 0);
	ck_assert(!got.done);
	ck_assert_uint_eq(got.n_chunks, 0);
	wb_soap_received_free(&got);
	free(a);

	/* A DWORD exit code (0xFFFFFFFF) is -1, as cmd.exe's %ERRORLEVEL%. */
	snprintf(body, sizeof(body), "<rsp:ReceiveResponse><rsp:CommandState CommandId=\"%s\" "
		 "State=\"" NS_RSP "/CommandState/Done\"><rsp:ExitCode> 4294967295 "
		 "</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>", CMD_ID);
	a = answer("s", "rsp", MSG_ID, body);
	ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, NULL), 0);
	ck_assert_int_eq(got.exit_code, -1);
	wb_soap_received_free(&got);
	free(a);

	snprintf(body, sizeof(body), "<rsp:ReceiveResponse><rsp:CommandState CommandId=\"%s\" "
		 "State=\"" NS_RSP "/CommandState/Done\"><rsp:ExitCode>4294967296"
		 "</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>", CMD_ID);
	a = answer("s", "rsp", MSG_ID, body);
	ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, &err),
			 -WB_E_REMOTE);
	free(a);

	snprintf(body, sizeof(body), "<rsp:ReceiveResponse><rsp:CommandState CommandId=\"%s\" "
		 "State=\"" NS_RSP "/CommandState/Done\"/></rsp:ReceiveResponse>", CMD_ID);
	a = answer("s", "rsp", MSG_ID, body);
	ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, &err),
			 -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "ExitCode"));
	free(a);
}
END_TEST

static const char timed_out_fault[] =
	"<%1$s:Fault><%1$s:Code><%1$s:Value>%1$s:Receiver</%1$s:Value><%1$s:Subcode>"
	"<%1$s:Value>wsman:TimedOut</%1$s:Value></%1$s:Subcode></%1$s:Code><%1$s:Reason>"
	"<%1$s:Text xml:lang=\"en-US\">The WS-Management service cannot complete the operation "
	"within the time specified in OperationTimeout.  </%1$s:Text></%1$s:Reason><%1$s:Detail>"
	"<wsmf:WSManFault xmlns:wsmf=\"" NS_F "\" Code=\"2150858793\" Machine=\"win\">"
	"<wsmf:Message>Nothing yet.</wsmf:Message></wsmf:WSManFault></%1$s:Detail></%1$s:Fault>";

START_TEST(test_parse_faults)
{
	char body[2048], *a;
	struct wb_soap_received got;
	struct wb_soap_fault f;
	struct wb_error err = { 0 };

	snprintf(body, sizeof(body), timed_out_fault, "env");
	a = answer("env", "rsp", MSG_ID, body);
	ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, &err),
			 -WB_E_REMOTE);
	ck_assert(f.present);
	ck_assert_uint_eq(f.wsman_code, WB_WSMAN_TIMED_OUT);
	ck_assert_str_eq(f.code, "Receiver");
	ck_assert_str_eq(f.subcode, "TimedOut");
	ck_assert_str_eq(f.message, "Nothing yet.");
	ck_assert_ptr_nonnull(strstr(err.msg, "2150858793"));
	ck_assert_ptr_nonnull(strstr(err.msg, "TimedOut"));
	free(a);

	/* A fault without RelatesTo is still a fault (the host could not read
	 * our request), without a WSManFault it falls back to Reason. */
	/* XML 1.0 allows C1 controls (CSI is U+009B), XML 1.1 references to C0. */
	a = answer("s", "rsp", NULL,
		   "<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason>"
		   "<s:Text>bad \xc2\x9b" "31mred\xc2\x9b" "0m\xc2\x85 request</s:Text></s:Reason>"
		   "</s:Fault>");
	ck_assert_int_eq(wb_soap_parse_ack(P(a), MSG_ID, &f, &err), -WB_E_REMOTE);
	ck_assert(f.present);
	ck_assert_uint_eq(f.wsman_code, 0);
	ck_assert_str_eq(f.code, "Sender");
	ck_assert_ptr_null(strstr(f.message, "\xc2\x9b"));	/* no terminal escapes */
	ck_assert_ptr_null(strstr(err.msg, "\xc2\x9b"));
	ck_assert_ptr_null(strstr(err.msg, "\xc2\x85"));
	ck_assert_ptr_nonnull(strstr(f.message, "request"));
	free(a);
	{
		static const char v11[] =
			"<?xml version=\"1.1\"?><s:Envelope xmlns:s=\"" NS_S "\"><s:Body><s:Fault>"
			"<s:Reason><s:Text>x&#x1b;[2Jy&#x7;</s:Text></s:Reason></s:Fault></s:Body>"
			"</s:Envelope>";

		ck_assert_int_eq(wb_soap_parse_ack(P(v11), MSG_ID, &f, &err), -WB_E_REMOTE);
		ck_assert_ptr_null(strchr(err.msg, '\x1b'));
		ck_assert_ptr_null(strchr(err.msg, '\x07'));
	}

	/* A fault answering someone else's request is refused as such. */
	snprintf(body, sizeof(body), timed_out_fault, "s");
	a = answer("s", "rsp", "uuid:other", body);
	ck_assert_int_eq(wb_soap_parse_ack(P(a), MSG_ID, &f, &err), -WB_E_REMOTE);
	ck_assert(!f.present);
	ck_assert_ptr_nonnull(strstr(err.msg, "RelatesTo"));
	free(a);
}
END_TEST

START_TEST(test_parse_relates_to)
{
	char *a;
	struct wb_soap_fault f;
	struct wb_error err = { 0 };

	a = answer("s", "rsp", "uuid:11111111-2222-4333-8444-555555555556", "");
	ck_assert_int_eq(wb_soap_parse_ack(P(a), MSG_ID, &f, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "RelatesTo"));
	ck_assert(!f.present);
	free(a);

	a = answer("s", "rsp", NULL, "");
	ck_assert_int_eq(wb_soap_parse_ack(P(a), MSG_ID, &f, &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "no RelatesTo"));
	free(a);

	a = answer("s", "rsp", "  " MSG_ID "\n", "");	/* whitespace around is fine */
	ck_assert_int_eq(wb_soap_parse_ack(P(a), MSG_ID, &f, NULL), 0);
	free(a);
}
END_TEST

/* ---- hostile input ------------------------------------------------------------ */

static void expect_refused(const char *xml, size_t n, const char *needle)
{
	char id[WB_SOAP_ID_MAX];
	struct wb_soap_received got;
	struct wb_soap_fault f;
	struct wb_error err = { 0 };

	ck_assert_int_eq(wb_soap_parse_create((const uint8_t *)xml, n, MSG_ID, id, &f, &err),
			 -WB_E_REMOTE);
	ck_assert_msg(!needle || strstr(err.msg, needle), "'%s' not in '%s'", needle, err.msg);
	ck_assert_int_eq(wb_soap_parse_receive((const uint8_t *)xml, n, MSG_ID, CMD_ID, &got, &f,
					       &err), -WB_E_REMOTE);
	ck_assert_ptr_null(got.buf);
	ck_assert_int_eq(wb_soap_parse_ack((const uint8_t *)xml, n, MSG_ID, &f, &err),
			 -WB_E_REMOTE);
}

START_TEST(test_hostile_doctype_and_entities)
{
	static const char laughs[] =
		"<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">"
		"]><s:Envelope xmlns:s=\"" NS_S "\"><s:Body>&c;</s:Body></s:Envelope>";
	static const char xxe[] =
		"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<s:Envelope xmlns:s=\"" NS_S "\"><s:Body>&e;</s:Body></s:Envelope>";
	static const char external_dtd[] =
		"<!DOCTYPE s:Envelope SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
		"<s:Envelope xmlns:s=\"" NS_S "\"><s:Body/></s:Envelope>";
	static const char undeclared[] =
		"<s:Envelope xmlns:s=\"" NS_S "\"><s:Body>&undeclared;</s:Body></s:Envelope>";

	expect_refused(laughs, strlen(laughs), "DOCTYPE");
	expect_refused(xxe, strlen(xxe), "DOCTYPE");
	expect_refused(external_dtd, strlen(external_dtd), "DOCTYPE");
	expect_refused(undeclared, strlen(undeclared), "well-formed");
}
END_TEST

START_TEST(test_hostile_shapes)
{
	static const char *const cases[] = {
		"", "garbage", "<", "<s:Envelope xmlns:s=\"" NS_S "\"><s:Body>",
		"<s:Envelope xmlns:s=\"" NS_S "\"></s:Envelope>",
		"<Envelope/>", "<s:Envelope xmlns:s=\"" NS_S "\"><s:Body/></s:Envelope>trailing",
		"<s:Envelope><s:Body/></s:Envelope>",	/* unbound prefix */
		"\xff\xfe<\0",
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(cases[i], strlen(cases[i]), NULL);
}
END_TEST

static char *nested(size_t depth, size_t *len)
{
	char *x = malloc(depth * 7 + 256);
	size_t i, n = 0;

	n += (size_t)sprintf(x, "<s:Envelope xmlns:s=\"" NS_S "\"><s:Body>");
	for (i = 0; i < depth; i++)
		n += (size_t)sprintf(x + n, "<a>");
	for (i = 0; i < depth; i++)
		n += (size_t)sprintf(x + n, "</a>");
	n += (size_t)sprintf(x + n, "</s:Body></s:Envelope>");
	*len = n;
	return x;
}

START_TEST(test_hostile_deep_nesting)
{
	struct wb_soap_fault f;
	struct wb_error err = { 0 };
	size_t n;
	char *x;

	x = nested(100000, &n);	/* over the size cap */
	ck_assert_int_eq(wb_soap_parse_ack((const uint8_t *)x, n, MSG_ID, &f, &err),
			 -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
	free(x);
	x = nested(20000, &n);	/* within it: libxml2's depth limit */
	ck_assert_uint_lt(n, WB_SOAP_MAX_ANSWER);
	ck_assert_int_eq(wb_soap_parse_ack((const uint8_t *)x, n, MSG_ID, &f, &err),
			 -WB_E_REMOTE);
	ck_assert_msg(strstr(err.msg, "depth") != NULL, "%s", err.msg);
	free(x);
	x = nested(50, &n);	/* shallow: well-formed, only the RelatesTo is missing */
	ck_assert_int_eq(wb_soap_parse_ack((const uint8_t *)x, n, MSG_ID, &f, &err),
			 -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "RelatesTo"));
	free(x);
}
END_TEST

START_TEST(test_hostile_sizes_and_streams)
{
	char *big, *a, body[1024];
	size_t n = WB_SOAP_MAX_ANSWER + 1;
	struct wb_soap_received got;
	struct wb_soap_fault f;
	struct wb_error err = { 0 };

	/* A huge base64 Stream: refused by size before parsing. */
	big = malloc(n + 1);
	memset(big, 'A', n);
	big[n] = '\0';
	memcpy(big, "<s:Envelope>", 12);
	ck_assert_int_eq(wb_soap_parse_receive((const uint8_t *)big, n, MSG_ID, CMD_ID, &got, &f,
					       &err), -WB_E_REMOTE);
	ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
	free(big);

	struct {
		const char *body;
		const char *needle;
	} bad[] = {
		{ "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\">!!notbase64!!</rsp:Stream>"
		  "</rsp:ReceiveResponse>", "base64" },
		{ "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\">aGk=aGk=</rsp:Stream>"
		  "</rsp:ReceiveResponse>", NULL },
		{ "<rsp:ReceiveResponse><rsp:Stream Name=\"stdin\">aGk=</rsp:Stream>"
		  "</rsp:ReceiveResponse>", "neither" },
		{ "<rsp:ReceiveResponse><rsp:Stream>aGk=</rsp:Stream></rsp:ReceiveResponse>",
		  "neither" },
		{ "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\" CommandId=\"OTHER\">aGk="
		  "</rsp:Stream></rsp:ReceiveResponse>", "another command" },
		{ "<rsp:ReceiveResponse><rsp:CommandState CommandId=\"OTHER\" State=\"" NS_RSP
		  "/CommandState/Done\"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"
		  "</rsp:ReceiveResponse>", "another command" },
		{ "<rsp:SomethingElse/>", "ReceiveResponse" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "%s", bad[i].body);
		a = answer("s", "rsp", MSG_ID, body);
		ck_assert_int_eq(wb_soap_parse_receive(P(a), MSG_ID, CMD_ID, &got, &f, &err),
				 -WB_E_REMOTE);
		ck_assert_msg(!bad[i].needle || strstr(err.msg, bad[i].needle),
			      "case %zu: '%s'", i, err.msg);
		ck_assert_ptr_null(got.buf);
		free(a);
	}

	/* Ids we would echo back must be plain. */
	a = answer("s", "rsp", MSG_ID, "<rsp:Shell><rsp:ShellId>a\"b&lt;c</rsp:ShellId></rsp:Shell>");
	ck_assert_int_eq(wb_soap_parse_create(P(a), MSG_ID, body, &f, &err), -WB_E_REMOTE);
	free(a);
}
END_TEST

/* Random mutations of a valid answer: never a crash (ASan watches), and a
 * result that is either a clean error or a consistent parse. */
START_TEST(test_mutations_never_crash)
{
	char body[1024], *a;
	uint8_t *m;
	size_t len, i, k;
	uint32_t seed = 12345;
	struct wb_soap_received got;
	struct wb_soap_fault f;

	snprintf(body, sizeof(body),
		 "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\" CommandId=\"%1$s\">aGVsbG8K"
		 "</rsp:Stream><rsp:Stream Name=\"stderr\" CommandId=\"%1$s\" End=\"true\">b29w"
		 "</rsp:Stream><rsp:CommandState CommandId=\"%1$s\" State=\"" NS_RSP
		 "/CommandState/Done\"><rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState>"
		 "</rsp:ReceiveResponse>", CMD_ID);
	a = answer("s", "rsp", MSG_ID, body);
	len = strlen(a);
	m = malloc(len);
	for (i = 0; i < 20000; i++) {
		size_t n = len;

		memcpy(m, a, len);
		for (k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			m[(seed >> 8) % len] = (uint8_t)(seed >> 3);
		}
		if (i % 7 == 0)
			n = (seed >> 5) % len;	/* truncated */
		if (wb_soap_parse_receive(m, n, MSG_ID, CMD_ID, &got, &f, NULL) == 0) {
			size_t c, total = 0;

			for (c = 0; c < got.n_chunks; c++) {
				ck_assert(got.chunks[c].stream == 1 || got.chunks[c].stream == 2);
				total += got.chunks[c].len;
			}
			ck_assert_uint_le(total, n);
			wb_soap_received_free(&got);
		}
	}
	free(m);
	free(a);
}
END_TEST

static Suite *soap_suite(void)
{
	Suite *s = suite_create("soap");
	TCase *b = tcase_create("build"), *p = tcase_create("parse"), *h = tcase_create("hostile");

	tcase_add_test(b, test_build_create);
	tcase_add_test(b, test_build_command_escapes);
	tcase_add_test(b, test_build_refuses_bad_text);
	tcase_add_test(b, test_build_send_receive_signal_delete);
	tcase_add_test(p, test_parse_create_prefixes);
	tcase_add_test(p, test_parse_default_namespace);
	tcase_add_test(p, test_parse_wrong_namespace_is_not_found);
	tcase_add_test(p, test_parse_receive);
	tcase_add_test(p, test_parse_receive_running_and_exit_codes);
	tcase_add_test(p, test_parse_faults);
	tcase_add_test(p, test_parse_relates_to);
	tcase_add_test(h, test_hostile_doctype_and_entities);
	tcase_add_test(h, test_hostile_shapes);
	tcase_add_test(h, test_hostile_deep_nesting);
	tcase_add_test(h, test_hostile_sizes_and_streams);
	tcase_add_test(h, test_mutations_never_crash);
	tcase_set_timeout(h, 60);
	suite_add_tcase(s, b);
	suite_add_tcase(s, p);
	suite_add_tcase(s, h);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	xmlInitParser();
	sr = srunner_create(soap_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
