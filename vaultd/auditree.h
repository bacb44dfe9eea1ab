/* The audit trail's Merkle tree in the store (docs/audit-format.md,
 * lib/merkle.h): the stored hashes live in the tree database, keyed
 * level(1) be64(index), and leaf n is written in the same transaction as
 * audit line n (audit_append), so a committed trail and its tree always
 * have the same size. Proofs read O(log n) hashes. A store made before the
 * tree gets it built at start-up (auditree_build). */
#pragma once

#include <stdint.h>

#include "merkle.h"
#include "store.h"

/* Leaves in the tree: one past the last stored leaf hash, 0 when none. */
int auditree_size(struct vault_store *s, MDB_txn *txn, uint64_t *ret);
/* Appends line seq (the tree holds exactly seq leaves) inside txn. */
int auditree_append(struct vault_store *s, MDB_txn *txn, uint64_t seq, const char *line, size_t len);
/* The root of the first size leaves. -ENOENT when the tree is shorter. */
int auditree_root(struct vault_store *s, MDB_txn *txn, uint64_t size, uint8_t ret[MERKLE_HASH_SIZE]);
/* Proofs (lib/merkle.h), into ret (room for MERKLE_PROOF_MAX hashes);
 * return the number of hashes. -EINVAL for impossible sizes, -ENOENT when
 * the tree is shorter. */
int auditree_prove_inclusion(struct vault_store *s, MDB_txn *txn, uint64_t seq, uint64_t size,
                             uint8_t (*ret)[MERKLE_HASH_SIZE]);
int auditree_prove_consistency(struct vault_store *s, MDB_txn *txn, uint64_t old_size, uint64_t new_size,
                               uint8_t (*ret)[MERKLE_HASH_SIZE]);
/* The frontier of the first size leaves (for the keeper). */
int auditree_frontier(struct vault_store *s, MDB_txn *txn, uint64_t size, struct merkle_frontier *ret);

/* Lines hashed into the tree per transaction while it is built. */
#define AUDITREE_BUILD_LINES 50000

/* Builds the tree of a store whose trail is longer than its tree (made
 * before the tree, or written by an older vaultd since), up to the
 * trail's end, in write transactions of AUDITREE_BUILD_LINES lines (each
 * one committed: a crash resumes where it stopped). Call at start-up,
 * before the writer runs. *ret_added is the number of leaves added (0 when
 * the tree was complete). -EIO when the tree is longer than the trail. */
int auditree_build(struct vault_store *s, uint64_t *ret_added);
