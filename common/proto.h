/*
 * proto.h - the broker's wire protocol (docs/protocol.md): frame and
 * attribute encoding and decoding, and whole-frame socket I/O.
 *
 * Shared by brokerd, libclient and pam; the only code they share. Decoding
 * works on (const uint8_t *, size_t) through common/buf.h, so a fuzzer can
 * drive it, and checks every length before use.
 */
#ifndef WB_PROTO_H
#define WB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "io.h"

#define WB_PROTO_VERSION 1
#define WB_FRAME_HDR 8
#define WB_FRAME_MAX 262144	/* payload bytes */
#define WB_ATTRS_MAX 1024	/* attributes in one frame */
#define WB_STDIN_CHUNK 65536	/* DATA bytes in one STDIN/STDOUT/STDERR frame */

enum wb_msg_type {
	WB_MSG_HELLO = 0x0001,
	WB_MSG_RUN = 0x0010,
	WB_MSG_STDIN = 0x0011,
	WB_MSG_SIGNAL = 0x0012,
	WB_MSG_STDOUT = 0x0020,
	WB_MSG_STDERR = 0x0021,
	WB_MSG_EXIT = 0x0022,
	WB_MSG_CRED_ADD = 0x0030,
	WB_MSG_CRED_RM = 0x0031,
	WB_MSG_CRED_LIST = 0x0032,
	WB_MSG_CRED_INFO = 0x0033,
	WB_MSG_CRED_TEST = 0x0034,
	WB_MSG_CRED_SESSION = 0x0035,
	WB_MSG_STATUS = 0x0040,
	WB_MSG_STATUS_INFO = 0x0041,
	WB_MSG_POLICY_CHECK = 0x0050,
	WB_MSG_POLICY_DECISION = 0x0051,
	WB_MSG_OK = 0x00F0,
	WB_MSG_ERROR = 0x00FF,
};

enum wb_attr_tag {
	WB_A_VERSION = 0x0001,
	WB_A_CLIENT = 0x0002,
	WB_A_SERVER = 0x0003,
	WB_A_CRED = 0x0010,
	WB_A_SCOPE = 0x0011,
	WB_A_KIND = 0x0012,
	WB_A_USER = 0x0013,
	WB_A_DOMAIN = 0x0014,
	WB_A_SECRET = 0x0015,
	WB_A_CERT = 0x0016,
	WB_A_FLAGS = 0x0017,
	WB_A_REPLACE = 0x0018,
	WB_A_ALLOW_UID = 0x0019,
	WB_A_ALLOW_GID = 0x001A,
	WB_A_OWNER = 0x001B,
	WB_A_CREATED = 0x001C,
	WB_A_UPDATED = 0x001D,
	WB_A_HOST = 0x0020,
	WB_A_COMMAND = 0x0021,
	WB_A_ARG = 0x0022,
	WB_A_STDIN_OPEN = 0x0023,
	WB_A_PORT = 0x0030,
	WB_A_SCHEME = 0x0031,
	WB_A_PATH = 0x0032,
	WB_A_TRANSPORT = 0x0033,
	WB_A_CERT_VALIDATION = 0x0034,
	WB_A_CA_TRUST_PATH = 0x0035,
	WB_A_OPERATION_TIMEOUT = 0x0036,
	WB_A_READ_TIMEOUT = 0x0037,
	WB_A_MESSAGE_ENCRYPTION = 0x0038,
	WB_A_KERBEROS_DELEGATION = 0x0039,
	WB_A_KRB_HOSTNAME_OVERRIDE = 0x003A,
	WB_A_SERVICE = 0x003B,
	WB_A_SEND_CBT = 0x003C,
	WB_A_CREDSSP_DISABLE_TLSV1_2 = 0x003D,
	WB_A_DATA = 0x0040,
	WB_A_EOF = 0x0041,
	WB_A_SIGNAL = 0x0042,
	WB_A_EXIT_CODE = 0x0043,
	WB_A_ERROR_CODE = 0x0050,
	WB_A_MESSAGE = 0x0051,
	WB_A_UPTIME = 0x0060,
	WB_A_CONNECTIONS = 0x0061,
	WB_A_OPERATIONS = 0x0062,
	WB_A_CREDENTIALS = 0x0063,
	WB_A_BAD_RECORDS = 0x0064,
	WB_A_CHECK_USER = 0x0070,
	WB_A_ALLOW = 0x0071,
	WB_A_RULE = 0x0072,
	WB_A_SESSION = 0x0080,
	WB_A_TTL = 0x0081,
	WB_A_VALIDATE = 0x0082,
	WB_A_SESSION_OP = 0x0083,
	WB_A_SESSIONS = 0x0084,
	WB_A_EXPIRES = 0x0085,
	WB_A_DEPOSIT = 0x0086,
	WB_A_SESSION_ID = 0x0087,
};

enum wb_signal { WB_SIGNAL_CTRL_C = 1, WB_SIGNAL_TERMINATE = 2 };

/* One decoded frame: type and payload (not owned). */
struct wb_frame {
	uint16_t type;
	const uint8_t *payload;
	size_t len;
};

/* --- encoding (into a wb_writer; use WB_SECRET when a secret goes in) --- */
int wb_msg_begin(struct wb_writer *w, uint16_t type);
int wb_msg_put(struct wb_writer *w, uint16_t tag, const void *p, size_t n);
int wb_msg_put_u8(struct wb_writer *w, uint16_t tag, uint8_t v);
int wb_msg_put_u32(struct wb_writer *w, uint16_t tag, uint32_t v);
int wb_msg_put_u64(struct wb_writer *w, uint16_t tag, uint64_t v);
int wb_msg_put_str(struct wb_writer *w, uint16_t tag, const char *s);
/* Fills in the length; -EMSGSIZE when the payload exceeds WB_FRAME_MAX. */
int wb_msg_finish(struct wb_writer *w);

/* --- decoding --- */
/* Header: -EBADMSG (reserved bits) or -EMSGSIZE (too long). */
int wb_frame_header(const uint8_t hdr[WB_FRAME_HDR], uint32_t *len, uint16_t *type);
/* Whole frame in memory (header + payload): checks header and attributes. */
int wb_frame_parse(const uint8_t *buf, size_t n, struct wb_frame *f);
/* Checks that the payload is a well-formed attribute list. */
int wb_attrs_check(const uint8_t *p, size_t n);
/* The nth (0-based) value of tag; -ENOENT when absent. */
int wb_attr_find(const struct wb_frame *f, uint16_t tag, size_t nth,
		 const uint8_t **val, uint32_t *vlen);
size_t wb_attr_count(const struct wb_frame *f, uint16_t tag);
/* Exact-size integers: -ENOENT absent, -EBADMSG wrong size. */
int wb_attr_u8(const struct wb_frame *f, uint16_t tag, uint8_t *v);
int wb_attr_u32(const struct wb_frame *f, uint16_t tag, uint32_t *v);
int wb_attr_u64(const struct wb_frame *f, uint16_t tag, uint64_t *v);
/* String into buf (NUL-terminated): -ENOENT absent, -EBADMSG on a NUL
 * byte inside, -EMSGSIZE when it does not fit. */
int wb_attr_str(const struct wb_frame *f, uint16_t tag, size_t nth, char *buf, size_t size);

/* --- socket I/O (blocking; EINTR retried; MSG_NOSIGNAL) --- */
/* Reads one frame into buf (capacity WB_FRAME_HDR + WB_FRAME_MAX).
 * Returns 0, -ECONNRESET on a clean EOF before a header, -EBADMSG /
 * -EMSGSIZE on a bad frame, or -errno. */
int wb_frame_read(int fd, uint8_t *buf, size_t cap, struct wb_frame *f);
int wb_frame_write(int fd, const struct wb_writer *w);

#endif
