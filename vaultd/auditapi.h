/* io.vaultd.audit: Head, Export, Verify (docs/io.vaultd.audit.varlink). */
#pragma once

#include "vault.h"

int auditapi_head(struct vault *v, MDB_txn *txn, struct job *j);
/* Export: run checks the range in the writer; the reader thread streams
 * the file (vaultd/auditread.h). */
int auditapi_export(struct vault *v, MDB_txn *txn, struct job *j);
/* Verify: run takes the caller's one Verify at a time (TryLater when one
 * runs) and logs the request; the reader thread checks the trail. */
int auditapi_verify(struct vault *v, MDB_txn *txn, struct job *j);
