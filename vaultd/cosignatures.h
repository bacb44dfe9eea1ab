/* Witnesses' cosignatures of the vault's checkpoints (c2sp.org/
 * tlog-cosignature; docs/audit-format.md "Cosignatures"): stored next to
 * the checkpoint they sign, one per witness key, and appended to that
 * checkpoint wherever it leaves the vault (Export, Prove). vaultd checks
 * that a cosignature is well formed and names a checkpoint it signed; and,
 * given the witnesses it trusts (vaultd --witnesses), that it is one of
 * theirs and verifies, so that nobody can store a forged one first in a
 * witness's name. Its verifier (vaultctl audit verify --witness) checks
 * the signature either way. */
#pragma once

#include "cosign.h"
#include "vault.h"

/* How far a cosignature's time may lie ahead of vaultd's clock, or
 * before the checkpoint's signed time (clocks differ), in seconds. */
#define COSIGN_CLOCK_SLACK 600

/* io.vaultd.audit.AddCosignatures: the cosignature lines of a checkpoint
 * the vault signed, stored. */
int cosign_add(struct vault *v, MDB_txn *txn, struct job *j);

/* The stored checkpoint note (len bytes) of size size with the
 * cosignatures stored for it appended, in *ret (malloc'd, NUL-terminated;
 * *ret_len without the NUL). -errno from the store. */
int cosign_note(struct vault_store *s, MDB_txn *txn, uint64_t size, const char *note, size_t len, char **ret,
                size_t *ret_len);
