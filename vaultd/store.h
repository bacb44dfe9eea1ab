/* The LMDB environment and its named databases (DESIGN §5). This module is
 * the only one that sees LMDB error codes: every function returns -errno
 * (MDB_NOTFOUND -> -ENOENT; MDB_MAP_FULL -> -ENOBUFS, meaning "grow the map
 * and retry"; a full disk -> -ENOSPC; corruption -> -EIO). */
#pragma once

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "storelayout.h"

struct vault_store {
        MDB_env *env;
        MDB_dbi meta, heads, versions, audit, checkpoints, keys;
        MDB_dbi tree;                  /* the audit trail's Merkle tree */
        MDB_dbi collections, recctl;   /* records control */
        MDB_dbi ckeys, findex, fterms; /* collection keys, Find's blind index */
        MDB_dbi pseudonyms;            /* sealed ids of collections with private ids */
        MDB_dbi cosignatures;          /* witnesses' cosignatures of checkpoints */
        /* (made in an older store when it is opened) */
        size_t map_size;
        /* Held shared by readers, exclusively when the map is resized. */
        pthread_rwlock_t resize_lock;
        char *dir;
        int dir_fd; /* the state directory, for free-space checks */
};

/* Free space kept in reserve: writes stop (StorageFull) before the disk
 * is completely full, so LMDB never meets a short write, and the audit
 * lines that refuse requests (StorageFull) still have room. */
#define STORE_RESERVE_BYTES (8ull << 20)
/* The map grows on demand (doubling) up to this size, never past it. */
#define STORE_MAP_LIMIT (1ull << 40)

/* Opens (create: creates) the environment in dir. The caller owns *ret and
 * releases it with store_free. -ENOENT when dir holds no vault and create is
 * false, -EEXIST when create is true and a vault is there. */
int store_open(const char *dir, bool create, struct vault_store **ret);
/* The same in the directory open at dir_fd (dir names it in messages and
 * is kept as s->dir), which the caller has checked (vaultd/statedir.h);
 * dir_fd stays the caller's. Besides store_open's errors: -EMEDIUMTYPE when
 * data.mdb is not an LMDB file, -EPROTONOSUPPORT when it is one of another
 * LMDB format version, -EUCLEAN when it is empty or shorter than its own
 * header says (a copy cut short), -EIO when LMDB finds it corrupt. */
int store_open_at(int dir_fd, const char *dir, bool create, struct vault_store **ret);
void store_free(struct vault_store *s);

/* Maps an LMDB return code to -errno. */
int store_errno(int mdb_rc);

/* Write transactions belong to one thread at a time (the writer). */
int store_begin(struct vault_store *s, bool write, MDB_txn **ret);
/* Commits (and syncs). -ENOSPC when the disk is full, -ENOBUFS when the map is. */
int store_commit(MDB_txn *txn);
/* Child transaction for one job inside a batch. */
int store_begin_child(MDB_txn *parent, MDB_txn **ret);

/* Read-only transaction for a thread other than the writer; pair with
 * store_read_end, which also releases the resize lock. */
int store_read_begin(struct vault_store *s, MDB_txn **ret);
void store_read_end(struct vault_store *s, MDB_txn *txn);

/* -ENOSPC when the state directory's file system has less than need bytes
 * available, plus the reserve unless use_reserve; 0 otherwise. Only the
 * audit lines of refused requests may use the reserve. */
int store_space_check(struct vault_store *s, uint64_t need, bool use_reserve);

/* What the store and its file system hold now, in bytes: data.mdb's size,
 * the map's size and how much of it is in use (LMDB's highest page), and
 * the space free to vaultd (what an unprivileged user may still write)
 * and in all on the state directory's file system. No scan: cheap enough
 * to ask every second, from any thread. */
struct store_usage {
        uint64_t file_size, map_size, map_used, disk_free, disk_total;
};
int store_usage(struct vault_store *s, struct store_usage *ret);

/* Doubles the map size. Call with no transaction open in this thread. */
int store_grow(struct vault_store *s);
/* Grows the map until at least half of it is free (a long read, such as a
 * backup, holds the map, which cannot be resized until it ends). Call with
 * no transaction open in this thread. */
int store_make_room(struct vault_store *s);

/* Writes a consistent, compacted copy of the environment into fd, from a
 * read transaction of its own (writers go on), holding the map against
 * resizing meanwhile. LMDB writes through a helper thread it starts. fd's
 * offset must be 0. -errno of the write (-ENOSPC, -EIO, ...). */
int store_copy(struct vault_store *s, int fd);
/* Whether thread holds a read transaction on the store now (LMDB's reader
 * table): a copy started in it has taken its snapshot. */
bool store_reading(struct vault_store *s, pthread_t thread);

/* Simple accessors. The value returned by store_get points into the map and
 * is valid only until the transaction ends or the key is written. */
int store_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, MDB_val *ret);
int store_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned flags);

/* Removes key (-ENOENT when it is not there). */
int store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen);

/* meta helpers for small named values. */
int store_meta_get_u64(MDB_txn *txn, struct vault_store *s, const char *name, uint64_t *ret);
int store_meta_put_u64(MDB_txn *txn, struct vault_store *s, const char *name, uint64_t v);
