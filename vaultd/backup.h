/* io.vaultd.admin.Backup: a consistent, compacted copy of the store,
 * written into a file the caller opened and passed with the call
 * (SCM_RIGHTS), so that vaultd needs no path to it and the sandbox stays
 * closed. Admin role; one backup at a time.
 *
 * The call is audited twice, as the copy is data leaving the vault: its
 * line (admin.backup) is durable before the first byte is copied, and a
 * second line (admin.backup-done: size, the audit head the copy holds, or
 * why it failed) is durable before the reply. Between them:
 *
 *   writer, the call's batch    checks the descriptor, writes admin.backup
 *   writer, after the batch's   makes room in the map, starts the copy
 *   checkpoint (settled)        thread, waits (well under a batch) until
 *                               the copy's read transaction has begun: the
 *                               copy holds exactly the state just signed
 *   copy thread                 LMDB's compacting copy, fsync; then queues
 *                               the completion job for the writer
 *   writer                      admin.backup-done, the last backup in meta
 *   event loop                  the reply, from the completion (deferred)
 *
 * Writers go on while the copy runs (it reads one snapshot); the map is
 * not resized under it (store_make_room first leaves half of it free). */
#pragma once

#include "vault.h"

/* The call's run in the writer: the descriptor must be a new, empty
 * regular file open for writing; InvalidParameter "fd" otherwise, TryLater
 * while a backup runs. */
int backup_run(struct vault *v, MDB_txn *txn, struct job *j);
/* After the batch's checkpoint: starts the copy and defers the call. */
void backup_settled(struct vault *v, struct job *j);
/* When vaultd last wrote a backup completely and synced it (realtime µs),
 * from the store's meta (one read). -ENOENT before the first one. */
int backup_last_time(struct vault *v, uint64_t *ret_us);
/* Adds the last good backup (backup_time, backup_age_seconds) to a Status
 * reply, when there was one. Event loop. */
int backup_status(struct vault *v, json_t *reply);
/* Waits until no copy runs (at shutdown: the copy reads the store, and
 * its completion needs the writer). */
void backup_wait(struct vault *v);
