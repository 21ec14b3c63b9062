/*
 * fuzz_soap.c - brokerd/winrm/soap.c: the host's answers as the shell
 * reads them. Each input goes through all four parsers (Create, Command,
 * Send/Signal/Delete acknowledgement, Receive) with the MessageID and
 * CommandId the seeds answer, so RelatesTo and stream matching are reached.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <sodium.h>

#include "fuzz.h"
#include "winrm/soap.h"

static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, silent);	/* libxml2's messages would flood the output */
	return 0;
}

static void check_fault(const struct wb_soap_fault *f)
{
	if (f->present && (!memchr(f->code, '\0', sizeof(f->code)) ||
			   !memchr(f->subcode, '\0', sizeof(f->subcode)) ||
			   !memchr(f->message, '\0', sizeof(f->message))))
		abort();
}

static void check_received(const struct wb_soap_received *r)
{
	size_t i;

	for (i = 0; i < r->n_chunks; i++) {
		const struct wb_soap_chunk *c = &r->chunks[i];

		if (c->stream != 1 && c->stream != 2)
			abort();
		if (c->len)	/* ASan checks the chunk lies in live memory */
			(void)((volatile const uint8_t *)c->data)[c->len - 1];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[WB_SOAP_ID_MAX];
	struct wb_soap_received rec;
	struct wb_soap_fault fault;
	struct wb_error err;

	memset(&fault, 0, sizeof(fault));
	if (wb_soap_parse_create(data, size, FUZZ_SOAP_MSG_ID, id, &fault, &err) == 0 &&
	    !memchr(id, '\0', sizeof(id)))
		abort();
	check_fault(&fault);
	memset(&fault, 0, sizeof(fault));
	if (wb_soap_parse_command(data, size, FUZZ_SOAP_MSG_ID, id, &fault, &err) == 0 &&
	    !memchr(id, '\0', sizeof(id)))
		abort();
	check_fault(&fault);
	memset(&fault, 0, sizeof(fault));
	(void)wb_soap_parse_ack(data, size, FUZZ_SOAP_MSG_ID, &fault, &err);
	check_fault(&fault);
	memset(&fault, 0, sizeof(fault));
	memset(&rec, 0, sizeof(rec));
	if (wb_soap_parse_receive(data, size, FUZZ_SOAP_MSG_ID, FUZZ_SOAP_CMD_ID, &rec, &fault,
				  &err) == 0)
		check_received(&rec);
	check_fault(&fault);
	wb_soap_received_free(&rec);
	return 0;
}
