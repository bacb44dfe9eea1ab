/* vaultd --restore FILE --state-dir DIR, with vaultd stopped: installs a
 * backup (vaultctl backup) as the vault in DIR.
 *
 * The copy is verified first (lib/storefile.c: its trail and checkpoints,
 * as `vaultctl backup verify` checks them). A new, compacted store is
 * built beside the old one (DIR/restore.tmp/), and its first new audit line,
 * admin.restore, records the restore before the store is put in place:
 * the backup's head (seq, hash, time), the uid that restored it, the store
 * it replaced and the published checkpoint it supersedes. Then one rename
 * puts it in place (an exchange, with --force over an existing store,
 * which is kept as DIR/data.mdb.replaced-TIME), owned by DIR's owner, mode
 * 0600.
 *
 * A restore is a deliberate rollback: DIR/checkpoint.last, where vaultd
 * publishes its last signed checkpoint so that a store found behind it is
 * refused at start, is removed once the new store is in place; its note
 * lives on in the admin.restore line, and the next checkpoint publishes
 * the restored trail's head.
 *
 * Refused: a store that a process has open (vaultd running), and an
 * existing store unless force. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Logs what is wrong and what to do; -errno on failure. */
int restore_run(const char *file, const char *state_dir, bool force, uid_t uid);
