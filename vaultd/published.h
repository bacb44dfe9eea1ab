/* Checkpoints published outside the store, so that a store put back from
 * an older copy (or one whose trail forked) cannot rewind the audit trail
 * unnoticed: every checkpoint, once stored, goes to the journal and into
 * checkpoint.last beside the store; at start the store is compared with
 * that file (docs/architecture.md, "Rollback across restarts").
 *
 * checkpoint.last holds two slots of PUBLISHED_SLOT_SIZE bytes, written in
 * turn with pwrite and fdatasync through a descriptor opened at start-up
 * (the sandbox then opens nothing by path). Each slot is text:
 *
 *     vaultd-checkpoint/1 <generation>\n
 *     <the signed checkpoint note, exactly as stored>
 *     sha256 <hex of the bytes above>\n
 *
 * padded with newlines. A slot torn by a crash fails its hash, and the
 * other one, one checkpoint older, is read instead. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"

#define PUBLISHED_FILE       "checkpoint.last"
#define PUBLISHED_SLOT_SIZE  4096
#define PUBLISHED_ORIGIN_MAX 256

struct published {
        int fd;
        uint64_t generation; /* of the slot last written; 0: none yet */
        char *note;          /* the last published note; NULL when none */
        uint64_t size;       /* its size */
        bool damaged;        /* the file holds something, but no intact slot */
        uint64_t seen;       /* the store's checkpoint size published_update last saw */
};

/* Opens (creates, mode 0600) PUBLISHED_FILE in the directory dir_fd, which
 * the caller has checked (vaultd/statedir.h), and reads the newest intact
 * slot (damaged set when the file holds something but no intact slot; the
 * next write makes it whole again). The caller owns *ret. -EPERM when it
 * is not a regular file. */
int published_open(int dir_fd, struct published **ret);
void published_free(struct published *p);

/* How the store stands against the last published checkpoint. */
enum rollback_state {
        ROLLBACK_NONE,        /* the store holds the published history (or nothing was published) */
        ROLLBACK_BEHIND,      /* the store has fewer lines than were published */
        ROLLBACK_FORKED,      /* at the published size, the store's history differs */
        ROLLBACK_OTHER_VAULT, /* the published checkpoint names another vault's origin */
        ROLLBACK_DAMAGED,     /* the file has no intact copy of what was published */
};

struct rollback_check {
        enum rollback_state state;
        uint64_t published_size, store_size;
        uint8_t published_hash[AUDIT_HASH_SIZE];
        /* The store's hash at the published size (FORKED), else of its last line. */
        uint8_t store_hash[AUDIT_HASH_SIZE];
        char published_origin[PUBLISHED_ORIGIN_MAX];
};

/* Compares the store's trail (log, in txn) with the last published
 * checkpoint. The note's signature is not checked here: whoever could
 * forge the file could as well delete it; auditors check the journal's
 * copies with the verifier key. -errno on storage errors. */
int published_compare(const struct published *p, struct audit_log *log, MDB_txn *txn,
                      struct rollback_check *ret);

/* Publishes the store's last checkpoint (log->checkpoint_size), read back
 * from the store in a read transaction: to the journal, and into the file
 * unless it holds that size already. Call after the checkpoint is
 * committed, with no write transaction open in this thread. */
int published_update(struct published *p, struct audit_log *log);

/* The fields of a checkpoint note's text (origin, size, hash), unverified.
 * -EBADMSG when malformed. */
int published_note_fields(const char *note, char ret_origin[PUBLISHED_ORIGIN_MAX], uint64_t *ret_size,
                          uint8_t ret_hash[AUDIT_HASH_SIZE]);
