/* The daemon's side of the audit trail (DESIGN §7, docs/audit-format.md):
 * appending lines inside the writer's transaction, signing checkpoints,
 * and reading the trail back for Export and Verify. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auditfmt.h"
#include "keeper.h"
#include "merkle.h"
#include "store.h"

/* Sign a checkpoint after this many lines or this much time. */
#define AUDIT_CHECKPOINT_LINES 1000
#define AUDIT_CHECKPOINT_USEC  (60ull * 1000000u)

struct audit_log {
        struct vault_store *store;
        struct keeper *keeper;
        char *origin; /* checkpoint origin and signing key name */
        char *vkey;   /* verifier key (writer thread only: a rotation replaces it) */
        char vault_id[33];
        /* Committed head, and head inside the open write transaction. */
        uint64_t next_seq, pending_next_seq;
        uint8_t head[AUDIT_HASH_SIZE], pending_head[AUDIT_HASH_SIZE];
        uint64_t checkpoint_size, checkpoint_time_us; /* last stored checkpoint */
        uint64_t keeper_size; /* last size the keeper signed (stored, unless that failed) */
        /* The Merkle tree (vaultd/auditree.h) is as long as the trail, and
         * each append extends it; false in a store made before the tree
         * opened offline (vaultd --rekey): the next start builds it
         * (auditree_build) before the log is opened. */
        bool tree;
        /* For Status (read from the event loop, atomic): when the keeper
         * signed the last stored checkpoint (its vaultd-time, seconds since
         * the epoch; 0: none, or one signed without a time), and since when
         * committed lines have waited for a checkpoint to cover them
         * (realtime µs; 0: none wait). */
        uint64_t checkpoint_signed_s, unsigned_since_us;
};

/* At vault creation: writes the vault id (32 hex digits), the checkpoint
 * origin and line 0 (op vault.init) inside txn. The keeper must have
 * created the keys (keystore_create) for that origin. */
int audit_store_init(struct vault_store *s, struct keeper *kp, MDB_txn *txn, const struct audit_actor *actor,
                     const char *idhex, const char *origin);

/* Loads the head from the store and tells the keeper the last signed
 * checkpoint (keeper_chain). -ESTALE when that checkpoint covers more
 * lines than the store holds (lines were removed). The caller owns *ret
 * (audit_log_free). */
int audit_log_open(struct vault_store *s, struct keeper *kp, MDB_txn *txn, struct audit_log **ret);
void audit_log_free(struct audit_log *log);

/* Appends one line inside txn with vaultd stopped (an offline operation
 * such as vaultd --rekey); the next start's first checkpoint covers it. */
int audit_append_offline(struct vault_store *s, MDB_txn *txn, const struct audit_entry *e);

/* Writer side: begin tracks a new write transaction, append adds one line
 * (returning its seq), and commit follows the transaction's fate (an
 * aborted one is forgotten by the next begin). */
void audit_txn_begin(struct audit_log *log);
int audit_append(struct audit_log *log, MDB_txn *txn, const struct audit_entry *e, uint64_t *ret_seq);
void audit_txn_commit(struct audit_log *log);
/* Whether audit_checkpoint would sign now (lines since the last one, and
 * enough of them or enough time, or force). */
bool audit_checkpoint_due(struct audit_log *log, uint64_t now_us, bool force);
/* Signs the committed head when due, through the keeper, and stores the
 * note in a write transaction of its own. Only committed lines are ever
 * signed: the keeper never signs the same size twice, so a signature over
 * lines that a failed commit then dropped would block every later one.
 * Call with no write transaction open (the writer, between batches). */
int audit_checkpoint(struct audit_log *log, uint64_t now_us, bool force);

/* Reader side (any thread, inside a read transaction). */

/* Hands lines from..to (inclusive) to each, in order, until max_bytes
 * have been handed; *ret_next is the first seq not handed. A non-zero
 * return of each stops the walk and is returned (the line it refused not
 * counted as handed). */
int audit_read_lines(struct audit_log *log, MDB_txn *txn, uint64_t from, uint64_t to, size_t max_bytes,
                     int (*each)(void *data, uint64_t seq, const char *line, size_t len), void *data,
                     uint64_t *ret_next);
/* Hands the checkpoints whose size lies in [min_size, max_size] to each
 * (its size and the note, as stored), at most max_count; *ret_next is the size to
 * start from next time (max_size + 1 when all were handed). A non-zero
 * return of each stops the walk and is returned. */
int audit_read_checkpoints(struct audit_log *log, MDB_txn *txn, uint64_t min_size, uint64_t max_size,
                           size_t max_count,
                           int (*each)(void *data, uint64_t size, const char *note, size_t len), void *data,
                           uint64_t *ret_next);
/* The smallest checkpoint size >= size. -ENOENT when none. */
int audit_checkpoint_at_or_after(struct audit_log *log, MDB_txn *txn, uint64_t size, uint64_t *ret);
/* The verifier key that signs the checkpoint of size size (the meta
 * history of signing keys), into buf. */
int audit_key_at(struct audit_log *log, MDB_txn *txn, uint64_t size, char *buf, size_t cap);
/* Signing-key rotation, in the writer's txn: stores the next key (wrapped,
 * from keeper_sign_new), for keeper_sign_use once committed. The next
 * checkpoint is signed by both keys and completes the hand-over. */
int audit_key_rotate(struct audit_log *log, MDB_txn *txn, const uint8_t wrapped[KEYS_SIGN_WRAPPED]);
/* After that commit: the next key co-signs from now on. */
int audit_key_rotate_committed(struct audit_log *log);
/* The verifier key again from the keeper's public key (after an unseal
 * opened the keys anew). */
int audit_keys_refresh(struct audit_log *log);
/* Hash of line seq. */
int audit_line_hash(struct audit_log *log, MDB_txn *txn, uint64_t seq, uint8_t ret[AUDIT_HASH_SIZE]);

/* Checks the whole stored trail — chain, stored head, every checkpoint — a
 * bounded step at a time, so that a long trail does not stall the event
 * loop. Each step runs in a read transaction of its own. The tree is
 * recomputed from the lines, and each checkpoint must name its root (or,
 * one signed before the store's upgrade, its last line's hash). */
struct audit_verify_root {
        uint64_t size;
        uint8_t root[MERKLE_HASH_SIZE];
};

struct audit_verify {
        struct audit_chain chain;
        struct merkle_frontier tree;     /* of the lines verified so far */
        uint64_t next_root;              /* the next checkpoint's size, whose root is kept; 0: none */
        struct audit_verify_root *roots; /* the root at each checkpoint's size, in order */
        size_t nroots, roots_cap, roots_checked;
        struct checkpoint_forms forms;
        bool lines_done;
        uint64_t lines;           /* lines verified, once lines_done */
        uint64_t checkpoints;     /* checkpoints verified */
        uint64_t next_checkpoint; /* size to resume from */
        int64_t bad_seq;
        char why[256];
        char key[512]; /* the key checkpoints are signed by at next_checkpoint */
};

void audit_verify_init(struct audit_verify *st);
/* Frees what a verification holds (not st itself). */
void audit_verify_done(struct audit_verify *st);
/* Checks up to max_items lines or checkpoints. Returns 0 when there is more
 * to do, 1 when the trail verifies, -EBADMSG with bad_seq and why set when
 * it does not, other -errno on storage errors. */
int audit_verify_step(struct audit_log *log, MDB_txn *txn, struct audit_verify *st, size_t max_items);
