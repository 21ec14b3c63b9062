/*
 * masterkey.h - the 32-byte master key that seals every credential in the
 * store: loading it from a file or from systemd's $CREDENTIALS_DIRECTORY,
 * and creating one at setup time.
 *
 * The key lives in sodium_malloc'd memory made read-only once loaded, and is
 * wiped when freed. A key file must be a regular file, owned by root or the
 * broker's user, with no group or other access (chmod 600), and must not sit
 * in the store's directory or below it: a backup or a copy of the state
 * directory must never carry the key with the data.
 *
 * File format: exactly 32 raw bytes, or 64 hex digits optionally followed by
 * one newline (e.g. `systemd-creds encrypt` of a hex key).
 */
#ifndef WB_MASTERKEY_H
#define WB_MASTERKEY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define WB_MASTERKEY_LEN 32
/* The name of the key in $CREDENTIALS_DIRECTORY (LoadCredential=master-key:...). */
#define WB_MASTERKEY_CREDENTIAL "master-key"

struct wb_masterkey;

/*
 * Loads the key from path, or from $CREDENTIALS_DIRECTORY/master-key when
 * path is NULL. store_path is the store file the key will open (or the
 * state directory holding it); the key is refused if it lives in that
 * directory or below it (NULL skips this check: for tools that have no
 * store). Errors: WB_E_CONFIG for a key file
 * that is missing, mis-sized or unsafe (the message names the fix), WB_E_IO
 * for a read failure.
 */
int wb_masterkey_load(const char *path, const char *store_path, struct wb_masterkey **out,
		      struct wb_error *err);

/* A key from bytes in memory (tests, fuzz harnesses). len must be 32. */
int wb_masterkey_from_bytes(const uint8_t *bytes, size_t len, struct wb_masterkey **out,
			    struct wb_error *err);

/*
 * Creates path (O_EXCL: never replaces an existing file) holding 32 fresh
 * random raw bytes, mode 0600, fsync'd with its directory. WB_E_EXISTS if
 * path exists.
 */
int wb_masterkey_generate(const char *path, struct wb_error *err);

/* The 32 key bytes, read-only. For store.c only; never copy them elsewhere. */
const uint8_t *wb_masterkey_bytes(const struct wb_masterkey *key);

/* Wipes and frees; NULL is a no-op. */
void wb_masterkey_free(struct wb_masterkey *key);

#endif
