/* The vault's keys as the worker stores them: wrapped forms only (DESIGN
 * §5 `keys` and `meta`), made by the keeper at creation and handed back to
 * it at every start. */
#pragma once

#include "keeper.h"
#include "store.h"

/* meta keys: the signing key being rotated to (stored until the
 * checkpoint it co-signs replaces sign.key with it). */
#define KEYSTORE_SIGN_NEXT "sign.next"

/* A new vault: asks the keeper for KEK version 1 and the signing key and
 * stores their wrapped forms (and the public key) inside txn. */
int keystore_create(struct keeper *kp, struct vault_store *s, MDB_txn *txn, const char *origin);
/* At start (and after unseal): hands the stored wrapped keys to the
 * keeper. -EBADMSG when the keeper's root key does not open them (another
 * vault's key), -EKEYREVOKED when the root key is sealed (the keeper then
 * knows the public key, from the store), -EIO when the records are
 * damaged, -ENOKEY when one is missing. */
int keystore_open(struct keeper *kp, struct vault_store *s, MDB_txn *txn);

/* Offline rekey (vaultd --rekey, the daemon stopped): opens every stored
 * KEK and the signing key with old's root key and stores them wrapped
 * under new's, inside txn; *ret_n KEKs. -EBADMSG when old's root key does
 * not open them. */
int keystore_rekey(struct vault_keys *old, struct vault_keys *new, struct vault_store *s, MDB_txn *txn,
                   size_t *ret_n);
