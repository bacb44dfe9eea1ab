/* io.vaultd.admin's key lifecycle (DESIGN §6): rotate the KEK, re-wrap old
 * data keys under the newest, list KEK versions, retire one that wraps
 * nothing. Each runs in the writer like every audited call; the keeper
 * does the key work, the worker stores the wrapped results. Admin role. */
#pragma once

#include "vault.h"

/* A new KEK version, current once its wrapped form is committed. */
int keyadmin_rotate(struct vault *v, MDB_txn *txn, struct job *j);
/* After commit: the keeper starts wrapping new data keys with it. */
void keyadmin_rotate_committed(struct vault *v, struct job *j);
/* A new audit signing key: the checkpoint signed right after is signed by
 * the old and the new key, and names the new one; later ones by it alone. */
int keyadmin_rotate_signing(struct vault *v, MDB_txn *txn, struct job *j);
void keyadmin_rotate_signing_committed(struct vault *v, struct job *j);
/* Re-wraps up to limit data keys under older KEKs, from where the last call
 * stopped; done once a pass reached the end. */
int keyadmin_rewrap(struct vault *v, MDB_txn *txn, struct job *j);
/* Every KEK version: current or not, created when, how many data keys it
 * still wraps (a scan of every stored version). */
int keyadmin_list(struct vault *v, MDB_txn *txn, struct job *j);
/* Destroys a KEK version that is not current and wraps nothing. */
int keyadmin_retire(struct vault *v, MDB_txn *txn, struct job *j);
void keyadmin_retire_committed(struct vault *v, struct job *j);

/* A sealed root key (DESIGN §6): Unseal opens it with the passphrase
 * (wrong ones back off, per vault: 1 s, doubling, at most an hour), Seal
 * wipes every key from the keeper. */
int keyadmin_unseal(struct vault *v, MDB_txn *txn, struct job *j);
int keyadmin_seal(struct vault *v, MDB_txn *txn, struct job *j);
