/* io.vaultd.admin (docs/io.vaultd.admin.varlink). */
#pragma once

#include "vault.h"

/* Status: answered directly, not audited. */
int admin_status(struct vault *v, struct job *j);
/* ReloadPolicy: run parses the file in the writer; after swaps it in once
 * the audit line is durable (the event loop owns the live policy). */
int admin_reload_policy(struct vault *v, MDB_txn *txn, struct job *j);
int admin_reload_policy_after(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues);
