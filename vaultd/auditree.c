#include "auditree.h"

#include <errno.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "util.h"

/* Each transaction of a build tells systemd to wait this much longer for
 * start-up. */
#define BUILD_EXTEND_USEC (60ull * 1000000u)

#define TREE_KEY_SIZE 8

struct tree_txn {
        struct vault_store *store;
        MDB_txn *txn;
};

/* Where the hash of level's index'th complete subtree is stored: Go's
 * tlog numbering (StoredHashIndex), in which the hashes an append writes
 * (the leaf, then each subtree it completes) come right after all the
 * earlier ones. Every append thus goes at the end of the table, onto its
 * last page, instead of onto one page per level (issue #14: the tree may
 * cost Put little). */
static uint64_t stored_index(unsigned level, uint64_t index)
{
        uint64_t i = 0;

        for (unsigned l = level; l > 0; l--)
                index = 2 * index + 1;
        for (; index > 0; index >>= 1)
                i += index;
        return i + level;
}

/* How many hashes a tree of n leaves stores. */
static uint64_t stored_count(uint64_t n)
{
        uint64_t c;

        if (n == 0)
                return 0;
        c = stored_index(0, n - 1) + 1;
        for (uint64_t i = n - 1; i & 1; i >>= 1)
                c++;
        return c;
}

static void tree_key(unsigned level, uint64_t index, uint8_t key[TREE_KEY_SIZE])
{
        be64_put(key, stored_index(level, index));
}

static int tree_get(void *userdata, unsigned level, uint64_t index, uint8_t ret[MERKLE_HASH_SIZE])
{
        struct tree_txn *t = userdata;
        uint8_t key[TREE_KEY_SIZE];
        MDB_val v;
        int r;

        tree_key(level, index, key);
        r = store_get(t->txn, t->store->tree, key, sizeof(key), &v);
        if (r < 0)
                return r;
        if (v.mv_size != MERKLE_HASH_SIZE)
                return -EIO;
        memcpy(ret, v.mv_data, MERKLE_HASH_SIZE);
        return 0;
}

static int tree_put(void *userdata, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_SIZE])
{
        struct tree_txn *t = userdata;
        uint8_t key[TREE_KEY_SIZE];

        tree_key(level, index, key);
        /* Appends are in stored order (merkle_append: the leaf, then up):
         * LMDB's append mode, which also refuses a key not past the last. */
        return store_put(t->txn, t->store->tree, key, sizeof(key), hash, MERKLE_HASH_SIZE, MDB_APPEND);
}

#define HASHES(s, txn)                                                                                      \
        (const struct merkle_hashes)                                                                        \
        {                                                                                                   \
                tree_get, tree_put, &(struct tree_txn)                                                      \
                {                                                                                           \
                        (s), (txn)                                                                          \
                }                                                                                           \
        }

int auditree_size(struct vault_store *s, MDB_txn *txn, uint64_t *ret)
{
        MDB_val key, val;
        MDB_cursor *cur;
        uint64_t count, lo = 0, hi;
        int rc;

        rc = mdb_cursor_open(txn, s->tree, &cur);
        if (rc)
                return store_errno(rc);
        rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND) {
                *ret = 0;
                return 0;
        }
        if (rc)
                return store_errno(rc);
        if (key.mv_size != TREE_KEY_SIZE)
                return -EIO;
        /* The leaves of a tree that stores exactly count hashes (the
         * count grows with the leaves: a binary search). */
        count = be64_get(key.mv_data) + 1;
        hi = count;
        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (stored_count(mid) < count)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (stored_count(lo) != count)
                return -EIO; /* not the hashes of any tree */
        *ret = lo;
        return 0;
}

int auditree_append(struct vault_store *s, MDB_txn *txn, uint64_t seq, const char *line, size_t len)
{
        uint8_t leaf[MERKLE_HASH_SIZE];
        int r;

        merkle_leaf_hash(line, len, leaf);
        r = merkle_append(&HASHES(s, txn), seq, leaf);
        /* A hash already there, or a left half missing: not the tree of
         * this trail. */
        return r == -EEXIST || r == -ENOENT ? -EIO : r;
}

int auditree_root(struct vault_store *s, MDB_txn *txn, uint64_t size, uint8_t ret[MERKLE_HASH_SIZE])
{
        return merkle_root(&HASHES(s, txn), size, ret);
}

int auditree_prove_inclusion(struct vault_store *s, MDB_txn *txn, uint64_t seq, uint64_t size,
                             uint8_t (*ret)[MERKLE_HASH_SIZE])
{
        return merkle_prove_inclusion(&HASHES(s, txn), seq, size, ret);
}

int auditree_prove_consistency(struct vault_store *s, MDB_txn *txn, uint64_t old_size, uint64_t new_size,
                               uint8_t (*ret)[MERKLE_HASH_SIZE])
{
        return merkle_prove_consistency(&HASHES(s, txn), old_size, new_size, ret);
}

int auditree_frontier(struct vault_store *s, MDB_txn *txn, uint64_t size, struct merkle_frontier *ret)
{
        return merkle_frontier_load(&HASHES(s, txn), size, ret);
}

/* Up to AUDITREE_BUILD_LINES lines from *next on, in txn. */
static int build_chunk(struct vault_store *s, MDB_txn *txn, uint64_t *next, bool *ret_done)
{
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        MDB_cursor *cur;
        uint64_t seq = *next;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, s->audit, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, seq);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && n < AUDITREE_BUILD_LINES;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++, seq++) {
                if (key.mv_size != 8 || be64_get(key.mv_data) != seq) {
                        r = -EIO; /* a line missing: Verify names it */
                        break;
                }
                if ((r = auditree_append(s, txn, seq, val.mv_data, val.mv_size)) < 0)
                        break;
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (rc && rc != MDB_NOTFOUND)
                return store_errno(rc);
        *next = seq;
        *ret_done = rc == MDB_NOTFOUND;
        return 0;
}

int auditree_build(struct vault_store *s, uint64_t *ret_added)
{
        uint64_t size, lines, start;
        bool done = false;
        MDB_txn *txn;
        int r = store_begin(s, false, &txn);

        if (r < 0)
                return r;
        if ((r = auditree_size(s, txn, &size)) == 0)
                r = store_meta_get_u64(txn, s, META_AUDIT_NEXT, &lines);
        mdb_txn_abort(txn);
        if (r < 0)
                return r == -ENOENT ? -EIO : r;
        if (size > lines)
                return -EIO;
        start = size;
        while (size < lines && !done) {
                uint64_t next = size;

                if ((r = store_begin(s, true, &txn)) < 0)
                        return r;
                r = build_chunk(s, txn, &next, &done);
                r = r == 0 ? store_commit(txn) : (mdb_txn_abort(txn), r);
                if (r == -ENOBUFS && (r = store_grow(s)) == 0)
                        continue;
                if (r < 0)
                        return r;
                size = next;
                sd_notifyf(
                        0,
                        "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=building the audit trail's Merkle tree: line %llu",
                        (unsigned long long)BUILD_EXTEND_USEC, (unsigned long long)size);
        }
        *ret_added = size - start;
        return 0;
}
