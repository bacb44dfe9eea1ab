/* io.vaultd.admin (docs/io.vaultd.admin.varlink). */
#pragma once

#include "vault.h"

/* Status: answered directly, not audited. Counters and health (state
 * "degraded", problems, warnings, the numbers behind them) only for admins
 * and auditors; a service or a cosigner gets the version and the state
 * "serving" or "sealed". */
int admin_status(struct vault *v, struct job *j);
/* ReloadPolicy: run parses the file in the writer; after swaps it in once
 * the audit line is durable (the event loop owns the live policy). */
int admin_reload_policy(struct vault *v, MDB_txn *txn, struct job *j);
/* Logs each warning of a policy (rules that grant nothing) at warning
 * level, on every load. */
void admin_log_policy_warnings(const struct policy *p, const char *path);
int admin_reload_policy_after(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues);
