/* io.vaultd.audit: Head, Export, Verify (docs/io.vaultd.audit.varlink). */
#pragma once

#include "vault.h"

int auditapi_head(struct vault *v, MDB_txn *txn, struct job *j);
/* Export: run checks the range in the writer; after streams the file. */
int auditapi_export(struct vault *v, MDB_txn *txn, struct job *j);
int auditapi_export_next(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues);
/* Verify: run only logs the request; after checks the trail. */
int auditapi_verify(struct vault *v, MDB_txn *txn, struct job *j);
int auditapi_verify_after(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues);
