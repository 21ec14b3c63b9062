/*
 * msgenc.h - MS-WSMV 2.2.9.1 message encryption framing: the
 * multipart/encrypted body around a mechanism's sealed bytes, built for a
 * request and parsed (bounded, through common/buf.h) from an answer.
 *
 * Mechanism-agnostic: the sealing itself is a callback (auth_gss.c for
 * NTLM and Kerberos; CredSSP later). One part pair per piece:
 *
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: <protocol>\r\n
 *   \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<n>\r\n
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/octet-stream\r\n
 *   <uint32 LE length field><payload>
 *
 * then "--Encrypted Boundary--\r\n". The length field is the mechanism's
 * signature or header length; the payload is that signature or header
 * followed by the sealed data. multipart/encrypted has exactly one pair;
 * multipart/x-multi-encrypted (MS-WSMV defines it for CredSSP's 16 KiB
 * pieces) has one or more.
 *
 * The parser accepts blanks after "--" (some servers write "-- Encrypted
 * Boundary"), checks the protocol of the Content-Type and of every part,
 * and checks each part's OriginalContent Length against what unsealing
 * produced. Any failure is an error: nothing is ever passed through.
 */
#ifndef WB_MSGENC_H
#define WB_MSGENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define WB_MSGENC_SPNEGO "application/HTTP-SPNEGO-session-encrypted"
#define WB_MSGENC_KERBEROS "application/HTTP-Kerberos-session-encrypted"
#define WB_MSGENC_CREDSSP "application/HTTP-CredSSP-session-encrypted"

#define WB_MSGENC_MAX_PARTS 4096

/* Seals plain[0..n): appends the payload to out and sets *length_field. */
typedef int (*wb_msgenc_seal_fn)(void *ctx, const uint8_t *plain, size_t n,
				 struct wb_writer *out, uint32_t *length_field,
				 struct wb_error *err);

/* Unseals one payload (length_field as received, checked to fit n):
 * appends the plaintext to plain. */
typedef int (*wb_msgenc_unseal_fn)(void *ctx, uint32_t length_field, const uint8_t *payload,
				   size_t n, struct wb_writer *plain, struct wb_error *err);

/*
 * plain[0..n) (n > 0) as an encrypted body appended to body, and its
 * Content-Type into content_type. chunk 0: one part pair
 * (multipart/encrypted); otherwise pieces of at most chunk bytes
 * (multipart/x-multi-encrypted when there is more than one).
 */
int wb_msgenc_build(const char *protocol, const uint8_t *plain, size_t n, size_t chunk,
		    wb_msgenc_seal_fn seal, void *ctx, struct wb_writer *body,
		    char *content_type, size_t ct_size, struct wb_error *err);

/*
 * An encrypted answer (its Content-Type header value and body) whose
 * protocol must be `protocol`: every part unsealed and appended to plain.
 * -WB_E_REMOTE for a malformed body, a foreign protocol or a length
 * mismatch; the unseal callback's error as it is. On error plain is left
 * as it was: no part of a refused answer is kept.
 */
int wb_msgenc_parse(const char *content_type, const char *protocol, const uint8_t *body,
		    size_t n, wb_msgenc_unseal_fn unseal, void *ctx, struct wb_writer *plain,
		    struct wb_error *err);

/* Whether a Content-Type value is an encrypted body (either kind). */
bool wb_msgenc_is_encrypted(const char *content_type);

#endif
