/*
 * soap.h - the WS-Management envelopes of the remote shell (MS-WSMV 3.1.4):
 * building Create, Command, Send, Receive, Signal and Delete requests, and
 * reading the host's answers.
 *
 * Answers are untrusted: parsed with libxml2 from (bytes, length) with no
 * network, no DTD (a DOCTYPE is refused), no entity expansion, libxml2's
 * depth limit and a size cap; elements are found by namespace URI and local
 * name, never by prefix. Every answer must carry RelatesTo = our MessageID
 * (a fault without RelatesTo is accepted as a fault: a host that could not
 * read our request cannot echo it).
 *
 * Parsers return 0, or -WB_E_REMOTE with err set; when the answer is a SOAP
 * fault, fault->present is set and its fields are filled.
 */
#ifndef WB_SOAP_H
#define WB_SOAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define WB_SOAP_MAX_ENVELOPE 153600	/* our MaxEnvelopeSize, as winrs and pywinrm */
#define WB_SOAP_MAX_ANSWER (2 * WB_SOAP_MAX_ENVELOPE)	/* bytes of XML we parse */
#define WB_SOAP_ID_MAX 128		/* ShellId, CommandId, MessageID + NUL */
#define WB_SOAP_CODEPAGE 65001		/* WINRS_CODEPAGE: UTF-8 */
#define WB_SOAP_SEND_MAX 65536		/* stdin bytes per Send */

/* WSManFault codes the engine acts on. */
#define WB_WSMAN_TIMED_OUT 2150858793u	/* Receive: no output yet, ask again */

struct wb_soap_req {
	const char *to;			/* the endpoint URL (a:To) */
	unsigned operation_timeout_sec;	/* w:OperationTimeout */
	const char *shell_id;		/* every request but Create */
	char message_id[WB_SOAP_ID_MAX];	/* out: "uuid:...", new per request */
};

enum wb_soap_signal { WB_SOAP_CTRL_C = 1, WB_SOAP_TERMINATE };

/* Builders: the envelope into out (which they reset). Text must be UTF-8
 * without control characters other than tab, CR, LF (-WB_E_INVALID). */
int wb_soap_create(struct wb_soap_req *r, struct wb_writer *out, struct wb_error *err);
int wb_soap_command(struct wb_soap_req *r, const char *command, const char *const *args,
		    size_t n_args, struct wb_writer *out, struct wb_error *err);
int wb_soap_send(struct wb_soap_req *r, const char *command_id, const uint8_t *data, size_t n,
		 bool end, struct wb_writer *out, struct wb_error *err);
int wb_soap_receive(struct wb_soap_req *r, const char *command_id, struct wb_writer *out,
		    struct wb_error *err);
int wb_soap_signal(struct wb_soap_req *r, const char *command_id, enum wb_soap_signal sig,
		   struct wb_writer *out, struct wb_error *err);
int wb_soap_delete(struct wb_soap_req *r, struct wb_writer *out, struct wb_error *err);

struct wb_soap_fault {
	bool present;
	char code[64];		/* local name of Code/Value: "Sender", "Receiver" */
	char subcode[64];	/* local name of Subcode/Value: "TimedOut" */
	uint32_t wsman_code;	/* WSManFault/@Code, 0 when absent */
	char message[384];	/* WSManFault/Message or Reason/Text, printable */
};

/* CreateResponse -> the ShellId. */
int wb_soap_parse_create(const uint8_t *p, size_t n, const char *message_id,
			 char shell_id[WB_SOAP_ID_MAX], struct wb_soap_fault *fault,
			 struct wb_error *err);
/* CommandResponse -> the CommandId. */
int wb_soap_parse_command(const uint8_t *p, size_t n, const char *message_id,
			  char command_id[WB_SOAP_ID_MAX], struct wb_soap_fault *fault,
			  struct wb_error *err);
/* Send, Signal, Delete: nothing but success or a fault. */
int wb_soap_parse_ack(const uint8_t *p, size_t n, const char *message_id,
		      struct wb_soap_fault *fault, struct wb_error *err);

struct wb_soap_chunk {
	int stream;		/* 1 stdout, 2 stderr */
	const uint8_t *data;	/* into wb_soap_received.buf */
	size_t len;
	bool end;
};

struct wb_soap_received {
	struct wb_soap_chunk *chunks;
	size_t n_chunks;
	bool done;		/* CommandState Done */
	int exit_code;		/* when done; a DWORD above INT_MAX wraps negative */
	uint8_t *buf;		/* the decoded stream data */
};

/* ReceiveResponse -> output chunks in document order, and the state. */
int wb_soap_parse_receive(const uint8_t *p, size_t n, const char *message_id,
			  const char *command_id, struct wb_soap_received *out,
			  struct wb_soap_fault *fault, struct wb_error *err);
void wb_soap_received_free(struct wb_soap_received *r);

#endif
