/* io.vaultd.records: versioned, encrypted records (docs/protocol.md).
 * Each handler runs in the writer thread inside the batch's transaction
 * (a child transaction of its own) and returns 0 with j->reply set,
 * JOB_FAILED with a named error set, or -errno for a storage failure. */
#pragma once

#include "names.h"
#include "vault.h"

/* The heads and versions tables (DESIGN §5) are laid out in
 * vaultd/recmeta.h. */

/* A name parameter (collection, id, or another of the same syntax,
 * lib/names.h), already in NFC (vaultd/methods.c normalises calls):
 * returns 0 with *ret borrowed from the call (NULL when absent and not
 * required), or JOB_FAILED with InvalidParameter naming what is wrong. */
int records_param_name(struct job *j, const char *name, enum name_kind kind, bool required,
                       const char **ret);

int records_put(struct vault *v, MDB_txn *txn, struct job *j);
int records_get(struct vault *v, MDB_txn *txn, struct job *j);
int records_delete(struct vault *v, MDB_txn *txn, struct job *j);
int records_list(struct vault *v, MDB_txn *txn, struct job *j);
int records_history(struct vault *v, MDB_txn *txn, struct job *j);

/* Counts active records (at start-up). */
/* The meta key that keeps the number of active records, written by the
 * writer in each batch that changes it (so start-up never scans). */
#define RECORDS_ACTIVE_KEY "records.active"
/* Reads the count into v->records_active; a store that lacks it (written
 * before it was kept) is counted once and gets it. */
int records_active_load(struct vault *v);
