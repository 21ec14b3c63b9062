/*
 * store.h - the credential store: one file of sealed records under the
 * state directory (e.g. /var/lib/winrm-broker/store).
 *
 * Owns the file format (documented in store.c and docs/store.md), sealing
 * and unsealing (XChaCha20-Poly1305 under the master key, each record's
 * whole metadata bound as associated data), atomic durable rewrites, and
 * the handling of corrupt records: a bad record is reported, never used,
 * never dropped silently, and never takes the other records with it.
 *
 * A record's identity is (scope, owner, name): uid 1001 and uid 1002 may
 * each hold a personal "login", next to a shared "login" (owner 0).
 *
 * Not thread-safe: the broker serializes every call on one store with its
 * own mutex. One process at a time may open a store file: wb_store_open
 * takes an exclusive flock on the store's directory, held until
 * wb_store_close.
 */
#ifndef WB_STORE_H
#define WB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cred.h"
#include "error.h"
#include "masterkey.h"

#define WB_STORE_MAX_RECORDS 10000		/* frames in one file, bad ones included */
#define WB_STORE_RECORD_MAX (256u * 1024)	/* one sealed record */
#define WB_STORE_FILE_MAX (256u * 1024 * 1024)	/* the whole file */

struct wb_store;

/*
 * Opens the store file at path; a missing file is an empty store (created
 * by the first put). key is borrowed and must outlive the store. Records
 * that fail to load are counted (wb_store_bad_count) and described
 * (wb_store_problems) but do not fail the open. Errors (WB_E_STORE unless
 * said): wrong master key; a file that is empty, truncated inside its
 * header, not a store, of an unsupported version or with a corrupt header;
 * the store being open in another process; WB_E_IO for I/O failures.
 */
int wb_store_open(const char *path, const struct wb_masterkey *key, struct wb_store **out,
		  struct wb_error *err);

/*
 * Loads a store image from memory exactly as wb_store_open loads the file
 * (the fuzz target). The result belongs to no file: put and remove change
 * only memory.
 */
int wb_store_parse(const uint8_t *buf, size_t len, const struct wb_masterkey *key,
		   struct wb_store **out, struct wb_error *err);

/* Records that failed to load: bad frames plus records missing from the file. */
size_t wb_store_bad_count(const struct wb_store *s);

/*
 * Calls visit once per problem found at load, with a message naming the
 * record (index, file offset, and name if readable). A non-zero return
 * stops the walk and is returned.
 */
int wb_store_problems(const struct wb_store *s, int (*visit)(const char *msg, void *ctx),
		      void *ctx);

/*
 * Adds a credential, or replaces one with the same identity when replace is
 * true (WB_E_EXISTS otherwise). meta->kind must match secret->kind. The
 * store sets meta's created (kept on replace) and updated times. The file
 * is rewritten before this returns; on failure nothing changed.
 * Errors: WB_E_INVALID, WB_E_EXISTS, WB_E_LIMIT, WB_E_STORE, WB_E_IO.
 */
int wb_store_put(struct wb_store *s, const struct wb_cred_meta *meta,
		 const struct wb_secret *secret, bool replace, struct wb_error *err);

/* Removes a credential. WB_E_NOCRED if there is none with that identity. */
int wb_store_remove(struct wb_store *s, enum wb_cred_scope scope, uid_t owner, const char *name,
		    struct wb_error *err);

/*
 * Looks a credential up. meta (may be NULL) receives its metadata; secret
 * (may be NULL) receives it unsealed, to be freed with wb_secret_free as
 * soon as the operation is done. WB_E_NOCRED if there is none.
 */
int wb_store_get(struct wb_store *s, enum wb_cred_scope scope, uid_t owner, const char *name,
		 struct wb_cred_meta *meta, struct wb_secret **secret, struct wb_error *err);

/*
 * Calls visit with the metadata of every usable credential, in file order;
 * no secret is unsealed. A non-zero return stops the walk and is returned.
 */
int wb_store_list(const struct wb_store *s, int (*visit)(const struct wb_cred_meta *m, void *ctx),
		  void *ctx);

/*
 * Forgets the bad records kept from earlier loads and rewrites the file
 * (an admin's decision once the bytes are saved or known worthless; see
 * docs/store.md). Returns how many were dropped.
 */
int wb_store_drop_bad(struct wb_store *s, struct wb_error *err);

/* Frees the store and releases its lock; NULL is a no-op. */
void wb_store_close(struct wb_store *s);

#endif
