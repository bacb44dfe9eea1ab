/* Retention, legal hold and disposition (issue #13, docs/protocol.md
 * "Retention, hold and disposal"):
 *
 * - a record falls due when its retain_until (given at Put) has passed,
 *   or else its collection's retention period after its last change; a
 *   record with neither never falls due;
 * - an admin may hold a record (a dispute, an inspection): a held record
 *   is never due and cannot be disposed of;
 * - Dispose crypto-shreds a due record: every version keeps its header
 *   (what its audit line wrote: kind, time, uid, size, seq) and loses its
 *   envelope, so its wrapped data key and ciphertext are gone from the
 *   store. The record's head, its version count and the trail stay; a Get
 *   answers Disposed with when and why, and the id is retired.
 *
 * Handlers as in vaultd/records.h. */
#pragma once

#include "vault.h"

int dispose_record(struct vault *v, MDB_txn *txn, struct job *j);     /* Dispose (admin) */
int dispose_set_hold(struct vault *v, MDB_txn *txn, struct job *j);   /* SetHold (admin) */
int dispose_list_holds(struct vault *v, MDB_txn *txn, struct job *j); /* ListHolds (admin, auditor) */
int dispose_due(struct vault *v, MDB_txn *txn, struct job *j);        /* Due (admin, auditor) */

/* Records whose head is live but which were disposed of (at start, for
 * Status's count of live records). */
int dispose_count_live_disposed(struct vault *v, MDB_txn *txn, uint64_t *ret);
