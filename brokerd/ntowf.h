/*
 * ntowf.h - NTOWFv1 (MS-NLMP 3.3.1): the NT hash of a password, MD4 of its
 * UTF-16LE form, which is all NTLMv2 needs of it.
 *
 * auth_gss.c hands gss-ntlmssp the hash (cred store "ntlmssp_nthash")
 * instead of the password: gss-ntlmssp 1.2.0 leaks about 7.6 KB (an
 * OpenSSL MD4 fetch) on every gss_acquire_cred_with_password, which a
 * daemon making a credential per connection cannot afford. The hash is
 * password-equivalent: callers keep it in sodium memory and wipe it.
 */
#ifndef WB_NTOWF_H
#define WB_NTOWF_H

#include <stddef.h>
#include <stdint.h>

#define WB_NT_HASH_LEN 16

/* MD4 (RFC 1320) of n bytes, from OpenSSL's legacy provider; 0 or -1. */
int wb_md4(const uint8_t *p, size_t n, uint8_t out[16]);

/* The NT hash of a UTF-8 password; -1 if it is not valid UTF-8 (or a
 * scratch buffer cannot be had). The UTF-16 copy lives in sodium memory. */
int wb_ntowf(const char *password, uint8_t out[WB_NT_HASH_LEN]);

#endif
