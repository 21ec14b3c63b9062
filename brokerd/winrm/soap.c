/* soap.c - WS-Man shell envelopes, built and read with libxml2 (see soap.h). */
#include "soap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <sodium.h>

#define NS_S "http://www.w3.org/2003/05/soap-envelope"
#define NS_A "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_W "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_P "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define NS_RSP "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define NS_X "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define NS_F "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

#define ANONYMOUS NS_A "/role/anonymous"
#define RESOURCE_CMD NS_RSP "/cmd"
#define STATE_DONE NS_RSP "/CommandState/Done"

/* ---- text ----------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p and its code point, or 0. */
static size_t utf8_char(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		c = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Can this go into an XML 1.0 document as text? */
static bool text_ok(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), i = 0, len;
	uint32_t cp;

	while (i < n) {
		len = utf8_char(p + i, n - i, &cp);
		if (!len || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
		    cp == 0xfffe || cp == 0xffff)
			return false;
		i += len;
	}
	return true;
}

/* In place: control characters (C0, DEL, C1) become spaces, broken UTF-8 '?',
 * so a host's message cannot drive a terminal. */
static void sanitize(char *s)
{
	uint8_t *p = (uint8_t *)s;
	size_t n = strlen(s), i = 0, o = 0, len;
	uint32_t cp;

	while (i < n) {
		len = utf8_char(p + i, n - i, &cp);
		if (!len) {
			p[o++] = '?';
			i++;
		} else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			p[o++] = ' ';
			i += len;
		} else {
			memmove(p + o, p + i, len);
			o += len;
			i += len;
		}
	}
	p[o] = '\0';
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < WB_SOAP_ID_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:{}") == n;
}

static void new_message_id(char out[WB_SOAP_ID_MAX])
{
	uint8_t u[16];

	randombytes_buf(u, sizeof(u));
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);	/* RFC 4122 version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	snprintf(out, WB_SOAP_ID_MAX,
		 "uuid:%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

/* ---- building --------------------------------------------------------------- */

struct env {
	xmlDocPtr doc;
	xmlNodePtr header, body;
	xmlNsPtr s, a, w, p, rsp;
	bool failed;		/* an allocation failed somewhere */
};

/* A child element with escaped text (or none); a NULL parent propagates. */
static xmlNodePtr el(struct env *e, xmlNodePtr parent, xmlNsPtr ns, const char *name,
		     const char *text)
{
	xmlNodePtr n = parent ? xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST text) : NULL;

	if (!n)
		e->failed = true;
	return n;
}

static void attr(struct env *e, xmlNodePtr node, xmlNsPtr ns, const char *name,
		 const char *value)
{
	if (!node || !xmlNewNsProp(node, ns, BAD_CAST name, BAD_CAST value))
		e->failed = true;
}

static void must_understand(struct env *e, xmlNodePtr node, bool yes)
{
	attr(e, node, e->s, "mustUnderstand", yes ? "true" : "false");
}

static void option(struct env *e, xmlNodePtr set, const char *name, const char *value)
{
	attr(e, el(e, set, e->w, "Option", value), NULL, "Name", name);
}

static void header(struct env *e, struct wb_soap_req *r, const char *action)
{
	char tmo[32], size[16];
	xmlNodePtr h = e->header, n;

	el(e, h, e->a, "To", r->to);
	n = el(e, el(e, h, e->a, "ReplyTo", NULL), e->a, "Address", ANONYMOUS);
	must_understand(e, n, true);
	snprintf(size, sizeof(size), "%u", WB_SOAP_MAX_ENVELOPE);
	must_understand(e, el(e, h, e->w, "MaxEnvelopeSize", size), true);
	el(e, h, e->a, "MessageID", r->message_id);
	n = el(e, h, e->w, "Locale", NULL);
	if (n)
		xmlNodeSetLang(n, BAD_CAST "en-US");
	must_understand(e, n, false);
	n = el(e, h, e->p, "DataLocale", NULL);
	if (n)
		xmlNodeSetLang(n, BAD_CAST "en-US");
	must_understand(e, n, false);
	snprintf(tmo, sizeof(tmo), "PT%u.000S", r->operation_timeout_sec);
	el(e, h, e->w, "OperationTimeout", tmo);
	must_understand(e, el(e, h, e->w, "ResourceURI", RESOURCE_CMD), true);
	must_understand(e, el(e, h, e->a, "Action", action), true);
	if (r->shell_id) {
		n = el(e, el(e, h, e->w, "SelectorSet", NULL), e->w, "Selector", r->shell_id);
		attr(e, n, NULL, "Name", "ShellId");
	}
}

static int env_begin(struct env *e, struct wb_soap_req *r, const char *action,
		     struct wb_error *err)
{
	xmlNodePtr root;

	memset(e, 0, sizeof(*e));
	if (!r->to || !text_ok(r->to) || (r->shell_id && !id_ok(r->shell_id)))
		return wb_error_set(err, WB_E_INVALID, "soap: bad endpoint or ShellId");
	new_message_id(r->message_id);
	e->doc = xmlNewDoc(BAD_CAST "1.0");
	root = e->doc ? xmlNewDocNode(e->doc, NULL, BAD_CAST "Envelope", NULL) : NULL;
	if (!root) {
		xmlFreeDoc(e->doc);
		return wb_error_set(err, WB_E_INTERNAL, "soap: out of memory");
	}
	xmlDocSetRootElement(e->doc, root);
	e->s = xmlNewNs(root, BAD_CAST NS_S, BAD_CAST "s");
	e->a = xmlNewNs(root, BAD_CAST NS_A, BAD_CAST "a");
	e->w = xmlNewNs(root, BAD_CAST NS_W, BAD_CAST "w");
	e->p = xmlNewNs(root, BAD_CAST NS_P, BAD_CAST "p");
	e->rsp = xmlNewNs(root, BAD_CAST NS_RSP, BAD_CAST "rsp");
	if (!e->s || !e->a || !e->w || !e->p || !e->rsp)
		e->failed = true;
	xmlSetNs(root, e->s);
	e->header = el(e, root, e->s, "Header", NULL);
	header(e, r, action);
	e->body = el(e, root, e->s, "Body", NULL);
	return 0;
}

static int env_end(struct env *e, struct wb_writer *out, struct wb_error *err)
{
	xmlChar *mem = NULL;
	int size = 0, rc = 0;

	out->len = 0;
	if (!e->failed)
		xmlDocDumpMemoryEnc(e->doc, &mem, &size, "UTF-8");
	if (!mem || size <= 0)
		rc = wb_error_set(err, WB_E_INTERNAL, "soap: cannot build the envelope");
	else if (wb_put(out, mem, (size_t)size) < 0)
		rc = wb_error_set(err, WB_E_INTERNAL, "soap: envelope of %d bytes too large", size);
	xmlFree(mem);
	xmlFreeDoc(e->doc);
	e->doc = NULL;
	return rc;
}

int wb_soap_create(struct wb_soap_req *r, struct wb_writer *out, struct wb_error *err)
{
	char cp[16];
	struct env e;
	xmlNodePtr set, shell;
	int rc;

	r->shell_id = NULL;
	rc = env_begin(&e, r, NS_X "/Create", err);
	if (rc < 0)
		return rc;
	set = el(&e, e.header, e.w, "OptionSet", NULL);
	option(&e, set, "WINRS_NOPROFILE", "FALSE");
	snprintf(cp, sizeof(cp), "%d", WB_SOAP_CODEPAGE);
	option(&e, set, "WINRS_CODEPAGE", cp);
	shell = el(&e, e.body, e.rsp, "Shell", NULL);
	el(&e, shell, e.rsp, "InputStreams", "stdin");
	el(&e, shell, e.rsp, "OutputStreams", "stdout stderr");
	return env_end(&e, out, err);
}

int wb_soap_command(struct wb_soap_req *r, const char *command, const char *const *args,
		    size_t n_args, struct wb_writer *out, struct wb_error *err)
{
	struct env e;
	xmlNodePtr set, line;
	size_t i;
	int rc;

	if (!command || !command[0] || !text_ok(command))
		return wb_error_set(err, WB_E_INVALID, "the command is empty, not UTF-8, or has "
				    "control characters");
	for (i = 0; i < n_args; i++)
		if (!args[i] || !text_ok(args[i]))
			return wb_error_set(err, WB_E_INVALID, "argument %zu is not UTF-8 or has "
					    "control characters", i + 1);
	rc = env_begin(&e, r, NS_RSP "/Command", err);
	if (rc < 0)
		return rc;
	set = el(&e, e.header, e.w, "OptionSet", NULL);
	option(&e, set, "WINRS_CONSOLEMODE_STDIN", "TRUE");
	option(&e, set, "WINRS_SKIP_CMD_SHELL", "FALSE");
	line = el(&e, e.body, e.rsp, "CommandLine", NULL);
	el(&e, line, e.rsp, "Command", command);
	for (i = 0; i < n_args; i++)
		el(&e, line, e.rsp, "Arguments", args[i]);
	return env_end(&e, out, err);
}

int wb_soap_send(struct wb_soap_req *r, const char *command_id, const uint8_t *data, size_t n,
		 bool end, struct wb_writer *out, struct wb_error *err)
{
	char *b64;
	size_t b64len;
	struct env e;
	xmlNodePtr s;
	int rc;

	if (n > WB_SOAP_SEND_MAX || !command_id || !id_ok(command_id))
		return wb_error_set(err, WB_E_INVALID, "soap: Send of %zu bytes or bad CommandId", n);
	b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	b64 = malloc(b64len);
	if (!b64)
		return wb_error_set(err, WB_E_INTERNAL, "soap: out of memory");
	sodium_bin2base64(b64, b64len, data, n, sodium_base64_VARIANT_ORIGINAL);
	rc = env_begin(&e, r, NS_RSP "/Send", err);
	if (rc == 0) {
		s = el(&e, el(&e, e.body, e.rsp, "Send", NULL), e.rsp, "Stream", b64);
		attr(&e, s, NULL, "Name", "stdin");
		attr(&e, s, NULL, "CommandId", command_id);
		if (end)
			attr(&e, s, NULL, "End", "true");
		rc = env_end(&e, out, err);
	}
	free(b64);
	return rc;
}

int wb_soap_receive(struct wb_soap_req *r, const char *command_id, struct wb_writer *out,
		    struct wb_error *err)
{
	struct env e;
	xmlNodePtr set, d;
	int rc;

	if (!command_id || !id_ok(command_id))
		return wb_error_set(err, WB_E_INVALID, "soap: bad CommandId");
	rc = env_begin(&e, r, NS_RSP "/Receive", err);
	if (rc < 0)
		return rc;
	set = el(&e, e.header, e.w, "OptionSet", NULL);
	option(&e, set, "WSMAN_CMDSHELL_OPTION_KEEPALIVE", "TRUE");
	d = el(&e, el(&e, e.body, e.rsp, "Receive", NULL), e.rsp, "DesiredStream",
	       "stdout stderr");
	attr(&e, d, NULL, "CommandId", command_id);
	return env_end(&e, out, err);
}

int wb_soap_signal(struct wb_soap_req *r, const char *command_id, enum wb_soap_signal sig,
		   struct wb_writer *out, struct wb_error *err)
{
	struct env e;
	xmlNodePtr s;
	int rc;

	if (!command_id || !id_ok(command_id))
		return wb_error_set(err, WB_E_INVALID, "soap: bad CommandId");
	rc = env_begin(&e, r, NS_RSP "/Signal", err);
	if (rc < 0)
		return rc;
	s = el(&e, e.body, e.rsp, "Signal", NULL);
	attr(&e, s, NULL, "CommandId", command_id);
	el(&e, s, e.rsp, "Code", sig == WB_SOAP_CTRL_C ? NS_RSP "/signal/ctrl_c"
						       : NS_RSP "/signal/terminate");
	return env_end(&e, out, err);
}

int wb_soap_delete(struct wb_soap_req *r, struct wb_writer *out, struct wb_error *err)
{
	struct env e;
	int rc;

	rc = env_begin(&e, r, NS_X "/Delete", err);
	return rc < 0 ? rc : env_end(&e, out, err);
}

/* ---- reading ---------------------------------------------------------------- */

/* A DOCTYPE stops the parser before its internal subset: no entity is ever
 * declared, so none can be expanded, and nothing external is loaded. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = ctx;

	(void)name;
	(void)ext;
	(void)sys;
	*(bool *)ctxt->_private = true;
	xmlStopParser(ctxt);
}

static int parse_xml(const uint8_t *p, size_t n, xmlDocPtr *out, struct wb_error *err)
{
	xmlParserCtxtPtr ctxt;
	bool doctype = false;
	const xmlError *e;
	char why[160] = "";
	int rc = 0;

	*out = NULL;
	if (n == 0)
		return wb_error_set(err, WB_E_REMOTE, "the answer is empty");
	if (n > WB_SOAP_MAX_ANSWER)
		return wb_error_set(err, WB_E_REMOTE, "the answer of %zu bytes exceeds %u",
				    n, WB_SOAP_MAX_ANSWER);
	ctxt = xmlCreateMemoryParserCtxt((const char *)p, (int)n);
	if (!ctxt)
		return wb_error_set(err, WB_E_INTERNAL, "soap: out of memory");
	/* No XML_PARSE_NOENT, DTDLOAD or HUGE: entities stay unexpanded, and
	 * libxml2 keeps its depth and size limits. */
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ctxt->sax->internalSubset = on_doctype;
	ctxt->_private = &doctype;
	xmlParseDocument(ctxt);
	if (doctype) {
		rc = wb_error_set(err, WB_E_REMOTE, "the answer has a DOCTYPE; refused");
	} else if (!ctxt->wellFormed || !ctxt->myDoc) {
		e = xmlCtxtGetLastError(ctxt);
		if (e && e->message) {
			snprintf(why, sizeof(why), "%s", e->message);
			sanitize(why);
		}
		rc = wb_error_set(err, WB_E_REMOTE, "the answer is not well-formed XML (line %d): %s",
				  e ? e->line : 0, why);
	} else {
		*out = ctxt->myDoc;
		ctxt->myDoc = NULL;
	}
	if (ctxt->myDoc)
		xmlFreeDoc(ctxt->myDoc);
	ctxt->myDoc = NULL;
	xmlFreeParserCtxt(ctxt);
	return rc;
}

static bool is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, ns) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(const xmlNode *parent, const char *ns, const char *name)
{
	xmlNodePtr c;

	for (c = parent ? parent->children : NULL; c; c = c->next)
		if (is_el(c, ns, name))
			return c;
	return NULL;
}

/* Copies s trimmed into buf; a longer text fails, or is cut when cut is set. */
static int copy_trimmed(const char *s, char *buf, size_t size, bool cut)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n >= size) {
		if (!cut)
			return -1;
		n = size - 1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* The element's text content; -1 if absent, or too long and not cut. */
static int text(const xmlNode *n, char *buf, size_t size, bool cut)
{
	xmlChar *t;
	int rc;

	buf[0] = '\0';
	if (!n || !(t = xmlNodeGetContent(n)))
		return -1;
	rc = copy_trimmed((const char *)t, buf, size, cut);
	xmlFree(t);
	return rc;
}

static int attr_text(const xmlNode *n, const char *name, char *buf, size_t size)
{
	xmlChar *v;
	int rc;

	buf[0] = '\0';
	if (!n || !(v = xmlGetNoNsProp(n, BAD_CAST name)))
		return -1;
	rc = copy_trimmed((const char *)v, buf, size, false);
	xmlFree(v);
	return rc;
}

/* "w:TimedOut" -> "TimedOut": prefixes are the host's choice. */
static void local_part(char *qname)
{
	char *colon = strrchr(qname, ':');

	if (colon)
		memmove(qname, colon + 1, strlen(colon + 1) + 1);
}

static void read_fault(const xmlNode *f, struct wb_soap_fault *fault)
{
	xmlNodePtr code = child(f, NS_S, "Code"), wf, msg;
	char num[16];
	char *end;
	unsigned long v;

	fault->present = true;
	text(child(code, NS_S, "Value"), fault->code, sizeof(fault->code), true);
	text(child(child(code, NS_S, "Subcode"), NS_S, "Value"), fault->subcode,
	     sizeof(fault->subcode), true);
	local_part(fault->code);
	local_part(fault->subcode);
	wf = child(child(f, NS_S, "Detail"), NS_F, "WSManFault");
	if (attr_text(wf, "Code", num, sizeof(num)) == 0) {
		errno = 0;
		v = strtoul(num, &end, 10);
		if (errno == 0 && *end == '\0' && end != num && v <= UINT32_MAX && num[0] != '-')
			fault->wsman_code = (uint32_t)v;
	}
	msg = child(wf, NS_F, "Message");
	if (!msg || text(msg, fault->message, sizeof(fault->message), true) < 0 ||
	    !fault->message[0])
		text(child(child(f, NS_S, "Reason"), NS_S, "Text"), fault->message,
		     sizeof(fault->message), true);
	sanitize(fault->code);
	sanitize(fault->subcode);
	sanitize(fault->message);
}

/* Parses an answer to message_id; on success *docp and *bodyp are set. */
static int open_answer(const uint8_t *p, size_t n, const char *message_id, xmlDocPtr *docp,
		       xmlNodePtr *bodyp, struct wb_soap_fault *fault, struct wb_error *err)
{
	xmlNodePtr root, hdr, body, relates, f;
	char rel[WB_SOAP_ID_MAX];
	xmlDocPtr doc;
	int rc;

	memset(fault, 0, sizeof(*fault));
	rc = parse_xml(p, n, &doc, err);
	if (rc < 0)
		return rc;
	root = xmlDocGetRootElement(doc);
	hdr = child(root, NS_S, "Header");
	body = child(root, NS_S, "Body");
	f = child(body, NS_S, "Fault");
	relates = child(hdr, NS_A, "RelatesTo");
	if (!is_el(root, NS_S, "Envelope") || !body) {
		rc = wb_error_set(err, WB_E_REMOTE, "the answer is not a SOAP 1.2 envelope "
				  "with a Body");
	} else if (relates && (text(relates, rel, sizeof(rel), false) < 0 ||
			       strcmp(rel, message_id) != 0)) {
		rc = wb_error_set(err, WB_E_REMOTE, "the answer's RelatesTo does not match our "
				  "MessageID %s: it answers another request", message_id);
	} else if (!relates && !f) {
		rc = wb_error_set(err, WB_E_REMOTE, "the answer has no RelatesTo header");
	} else if (f) {
		read_fault(f, fault);
		rc = wb_error_set(err, WB_E_REMOTE, "WS-Man fault %lu (%s): %s",
				  (unsigned long)fault->wsman_code,
				  fault->subcode[0] ? fault->subcode : fault->code,
				  fault->message[0] ? fault->message : "no message");
	}
	if (rc < 0) {
		xmlFreeDoc(doc);
		return rc;
	}
	*docp = doc;
	*bodyp = body;
	return 0;
}

int wb_soap_parse_ack(const uint8_t *p, size_t n, const char *message_id,
		      struct wb_soap_fault *fault, struct wb_error *err)
{
	xmlNodePtr body;
	xmlDocPtr doc;
	int rc = open_answer(p, n, message_id, &doc, &body, fault, err);

	if (rc == 0)
		xmlFreeDoc(doc);
	return rc;
}

static int id_from(const xmlNode *n, char id[WB_SOAP_ID_MAX], const char *what,
		   struct wb_error *err)
{
	if (text(n, id, WB_SOAP_ID_MAX, false) < 0 || !id_ok(id)) {
		id[0] = '\0';
		return wb_error_set(err, WB_E_REMOTE, "the answer has no valid %s", what);
	}
	return 0;
}

int wb_soap_parse_create(const uint8_t *p, size_t n, const char *message_id,
			 char shell_id[WB_SOAP_ID_MAX], struct wb_soap_fault *fault,
			 struct wb_error *err)
{
	xmlNodePtr body, id, sel;
	xmlDocPtr doc;
	char name[16];
	int rc;

	shell_id[0] = '\0';
	rc = open_answer(p, n, message_id, &doc, &body, fault, err);
	if (rc < 0)
		return rc;
	id = child(child(body, NS_RSP, "Shell"), NS_RSP, "ShellId");
	if (!id) {	/* the EPR form: ResourceCreated/ReferenceParameters/SelectorSet */
		sel = child(child(child(child(body, NS_X, "ResourceCreated"), NS_A,
					"ReferenceParameters"), NS_W, "SelectorSet"), NS_W, "Selector");
		for (; sel && !id; sel = sel->next)
			if (is_el(sel, NS_W, "Selector") &&
			    attr_text(sel, "Name", name, sizeof(name)) == 0 &&
			    strcmp(name, "ShellId") == 0)
				id = sel;
	}
	rc = id_from(id, shell_id, "ShellId", err);
	xmlFreeDoc(doc);
	return rc;
}

int wb_soap_parse_command(const uint8_t *p, size_t n, const char *message_id,
			  char command_id[WB_SOAP_ID_MAX], struct wb_soap_fault *fault,
			  struct wb_error *err)
{
	xmlNodePtr body;
	xmlDocPtr doc;
	int rc;

	command_id[0] = '\0';
	rc = open_answer(p, n, message_id, &doc, &body, fault, err);
	if (rc < 0)
		return rc;
	rc = id_from(child(child(body, NS_RSP, "CommandResponse"), NS_RSP, "CommandId"),
		     command_id, "CommandId", err);
	xmlFreeDoc(doc);
	return rc;
}

/* An element naming another command is an answer to someone else. */
static bool same_command(const xmlNode *n, const char *command_id)
{
	char id[WB_SOAP_ID_MAX];

	if (!xmlHasProp(n, BAD_CAST "CommandId"))
		return true;
	return attr_text(n, "CommandId", id, sizeof(id)) == 0 && strcasecmp(id, command_id) == 0;
}

static int read_stream(const xmlNode *s, const char *command_id, struct wb_soap_received *out,
		       size_t *used, size_t cap, struct wb_error *err)
{
	struct wb_soap_chunk *c = &out->chunks[out->n_chunks];
	char name[16], end[8];
	xmlChar *b64;
	const char *stop = NULL;
	size_t len = 0;
	int rc = 0;

	if (attr_text(s, "Name", name, sizeof(name)) < 0 ||
	    (strcmp(name, "stdout") != 0 && strcmp(name, "stderr") != 0))
		return wb_error_set(err, WB_E_REMOTE, "the answer has a Stream that is neither "
				    "stdout nor stderr");
	if (!same_command(s, command_id))
		return wb_error_set(err, WB_E_REMOTE, "the answer has output of another command");
	c->stream = name[3] == 'o' ? 1 : 2;
	c->end = attr_text(s, "End", end, sizeof(end)) == 0 &&
		 (strcasecmp(end, "true") == 0 || strcmp(end, "1") == 0);
	b64 = xmlNodeGetContent(s);
	if (!b64)
		return wb_error_set(err, WB_E_INTERNAL, "soap: out of memory");
	if (b64[0] && sodium_base642bin(out->buf + *used, cap - *used, (const char *)b64,
					strlen((const char *)b64), " \t\r\n", &len, &stop,
					sodium_base64_VARIANT_ORIGINAL) != 0)
		rc = wb_error_set(err, WB_E_REMOTE, "the answer has a Stream that is not base64");
	else if (stop && *stop)
		rc = wb_error_set(err, WB_E_REMOTE, "the answer has a Stream that is not base64 (trailing data)");
	xmlFree(b64);
	if (rc < 0)
		return rc;
	c->data = out->buf + *used;
	c->len = len;
	*used += len;
	out->n_chunks++;
	return 0;
}

static int read_state(const xmlNode *st, const char *command_id, struct wb_soap_received *out,
		      struct wb_error *err)
{
	char state[256], code[24];
	char *end;
	long long v;

	if (!same_command(st, command_id))
		return wb_error_set(err, WB_E_REMOTE, "the answer has the state of another command");
	if (attr_text(st, "State", state, sizeof(state)) < 0 || strcmp(state, STATE_DONE) != 0)
		return 0;	/* Running, Pending: keep receiving */
	if (text(child(st, NS_RSP, "ExitCode"), code, sizeof(code), false) < 0 || !code[0])
		return wb_error_set(err, WB_E_REMOTE, "the command is Done without an ExitCode");
	errno = 0;
	v = strtoll(code, &end, 10);
	if (errno || *end || v < INT32_MIN || v > (long long)UINT32_MAX)
		return wb_error_set(err, WB_E_REMOTE, "the ExitCode is not a 32-bit number");
	out->done = true;
	out->exit_code = (int32_t)(uint32_t)v;	/* a DWORD: 0xFFFFFFFF is -1 */
	return 0;
}

int wb_soap_parse_receive(const uint8_t *p, size_t n, const char *message_id,
			  const char *command_id, struct wb_soap_received *out,
			  struct wb_soap_fault *fault, struct wb_error *err)
{
	xmlNodePtr body, resp, c;
	size_t count = 0, used = 0;
	xmlDocPtr doc;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = open_answer(p, n, message_id, &doc, &body, fault, err);
	if (rc < 0)
		return rc;
	resp = child(body, NS_RSP, "ReceiveResponse");
	if (!resp) {
		xmlFreeDoc(doc);
		return wb_error_set(err, WB_E_REMOTE, "the answer has no ReceiveResponse");
	}
	for (c = resp->children; c; c = c->next)
		count += is_el(c, NS_RSP, "Stream");
	/* Decoded output is shorter than the document that carried it. */
	out->chunks = calloc(count ? count : 1, sizeof(*out->chunks));
	out->buf = malloc(n);
	if (!out->chunks || !out->buf)
		rc = wb_error_set(err, WB_E_INTERNAL, "soap: out of memory");
	for (c = resp->children; rc == 0 && c; c = c->next) {
		if (is_el(c, NS_RSP, "Stream"))
			rc = read_stream(c, command_id, out, &used, n, err);
		else if (is_el(c, NS_RSP, "CommandState"))
			rc = read_state(c, command_id, out, err);
	}
	xmlFreeDoc(doc);
	if (rc < 0)
		wb_soap_received_free(out);
	return rc;
}

void wb_soap_received_free(struct wb_soap_received *r)
{
	free(r->chunks);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}
