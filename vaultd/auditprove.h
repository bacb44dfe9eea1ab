/* io.vaultd.audit.Prove: Merkle proofs from the audit trail's tree
 * (docs/io.vaultd.audit.varlink, docs/audit-format.md). Runs in the
 * writer's transaction, like Head: a proof reads O(log n) stored hashes. */
#pragma once

#include "vault.h"

/* Entries of one record's lines per reply (each with its proof). */
#define PROVE_RECORD_LINES_MAX 100

int auditprove_run(struct vault *v, MDB_txn *txn, struct job *j);
