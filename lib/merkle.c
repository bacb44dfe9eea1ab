#include "merkle.h"

#include <errno.h>
#include <string.h>

#include "sha256.h"

void merkle_leaf_hash(const void *data, size_t len, uint8_t ret[MERKLE_HASH_SIZE])
{
        sha256_prefixed(0x00, data, len, ret);
}

void merkle_node_hash(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
                      uint8_t ret[MERKLE_HASH_SIZE])
{
        uint8_t buf[2 * MERKLE_HASH_SIZE];

        memcpy(buf, left, MERKLE_HASH_SIZE);
        memcpy(buf + MERKLE_HASH_SIZE, right, MERKLE_HASH_SIZE);
        sha256_prefixed(0x01, buf, sizeof(buf), ret);
}

int merkle_append(const struct merkle_hashes *h, uint64_t n, const uint8_t leaf[MERKLE_HASH_SIZE])
{
        uint8_t hash[MERKLE_HASH_SIZE], left[MERKLE_HASH_SIZE];
        int r;

        if (n >= MERKLE_SIZE_MAX)
                return -EOVERFLOW;
        memcpy(hash, leaf, MERKLE_HASH_SIZE);
        if ((r = h->put(h->userdata, 0, n, hash)) < 0)
                return r;
        /* Each one bit at the bottom of n is a left sibling waiting: the
         * new leaf completes the subtree above it. */
        for (unsigned level = 0; (n >> level) & 1; level++) {
                if ((r = h->get(h->userdata, level, (n >> level) - 1, left)) < 0)
                        return r;
                merkle_node_hash(left, hash, hash);
                if ((r = h->put(h->userdata, level + 1, n >> (level + 1), hash)) < 0)
                        return r;
        }
        return 0;
}

/* The largest power of two below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
        uint64_t k = 1;

        while (k << 1 < n)
                k <<= 1;
        return k;
}

/* MTH(D[lo:hi]) for the ranges RFC 6962's recursion meets, whose lo is a
 * multiple of a power of two at least hi - lo: the complete subtrees
 * from lo, largest first, folded from the right. */
static int subtree_hash(const struct merkle_hashes *h, uint64_t lo, uint64_t hi,
                        uint8_t ret[MERKLE_HASH_SIZE])
{
        uint8_t parts[MERKLE_LEVELS][MERKLE_HASH_SIZE];
        size_t n = 0;
        int r;

        while (lo < hi) {
                unsigned level = 0;

                while (level + 1 < MERKLE_LEVELS && lo % (2ull << level) == 0 && (2ull << level) <= hi - lo)
                        level++;
                if (n == MERKLE_LEVELS)
                        return -EINVAL;
                if ((r = h->get(h->userdata, level, lo >> level, parts[n++])) < 0)
                        return r;
                lo += 1ull << level;
        }
        if (n == 0)
                return -EINVAL;
        memcpy(ret, parts[n - 1], MERKLE_HASH_SIZE);
        while (n-- > 1)
                merkle_node_hash(parts[n - 1], ret, ret);
        return 0;
}

int merkle_root(const struct merkle_hashes *h, uint64_t size, uint8_t ret[MERKLE_HASH_SIZE])
{
        if (size == 0 || size > MERKLE_SIZE_MAX)
                return -EINVAL;
        return subtree_hash(h, 0, size, ret);
}

/* PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, appended to ret[*n]. */
static int path(const struct merkle_hashes *h, uint64_t m, uint64_t lo, uint64_t hi,
                uint8_t (*ret)[MERKLE_HASH_SIZE], size_t *n)
{
        uint64_t k;
        int r;

        if (hi - lo == 1)
                return 0;
        if (*n == MERKLE_PROOF_MAX)
                return -EINVAL;
        k = split_point(hi - lo);
        if (m < lo + k) {
                if ((r = path(h, m, lo, lo + k, ret, n)) < 0)
                        return r;
                return subtree_hash(h, lo + k, hi, ret[(*n)++]);
        }
        if ((r = path(h, m, lo + k, hi, ret, n)) < 0)
                return r;
        return subtree_hash(h, lo, lo + k, ret[(*n)++]);
}

int merkle_prove_inclusion(const struct merkle_hashes *h, uint64_t index, uint64_t size,
                           uint8_t (*ret)[MERKLE_HASH_SIZE])
{
        size_t n = 0;
        int r;

        if (index >= size || size > MERKLE_SIZE_MAX)
                return -EINVAL;
        r = path(h, index, 0, size, ret, &n);
        return r < 0 ? r : (int)n;
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1 (m absolute), appended to
 * ret[*n]. */
static int subproof(const struct merkle_hashes *h, uint64_t m, uint64_t lo, uint64_t hi, bool whole,
                    uint8_t (*ret)[MERKLE_HASH_SIZE], size_t *n)
{
        uint64_t k;
        int r;

        if (*n == MERKLE_PROOF_MAX)
                return -EINVAL;
        if (m == hi)
                return whole ? 0 : subtree_hash(h, lo, hi, ret[(*n)++]);
        k = split_point(hi - lo);
        if (m <= lo + k) {
                if ((r = subproof(h, m, lo, lo + k, whole, ret, n)) < 0)
                        return r;
                return subtree_hash(h, lo + k, hi, ret[(*n)++]);
        }
        if ((r = subproof(h, m, lo + k, hi, false, ret, n)) < 0)
                return r;
        return subtree_hash(h, lo, lo + k, ret[(*n)++]);
}

int merkle_prove_consistency(const struct merkle_hashes *h, uint64_t old_size, uint64_t new_size,
                             uint8_t (*ret)[MERKLE_HASH_SIZE])
{
        size_t n = 0;
        int r;

        if (old_size == 0 || old_size > new_size || new_size > MERKLE_SIZE_MAX)
                return -EINVAL;
        if (old_size == new_size)
                return 0;
        r = subproof(h, old_size, 0, new_size, true, ret, &n);
        return r < 0 ? r : (int)n;
}

int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_SIZE],
                            const uint8_t (*proof)[MERKLE_HASH_SIZE], size_t n,
                            const uint8_t root[MERKLE_HASH_SIZE])
{
        uint64_t fn = index, sn = size - 1;
        uint8_t r[MERKLE_HASH_SIZE];

        if (index >= size || size > MERKLE_SIZE_MAX)
                return -EINVAL;
        if (n > MERKLE_PROOF_MAX)
                return -EBADMSG;
        memcpy(r, leaf, MERKLE_HASH_SIZE);
        for (size_t i = 0; i < n; i++) {
                if (sn == 0)
                        return -EBADMSG;
                if ((fn & 1) || fn == sn) {
                        merkle_node_hash(proof[i], r, r);
                        while (!(fn & 1) && fn != 0) {
                                fn >>= 1;
                                sn >>= 1;
                        }
                } else
                        merkle_node_hash(r, proof[i], r);
                fn >>= 1;
                sn >>= 1;
        }
        return sn == 0 && memcmp(r, root, MERKLE_HASH_SIZE) == 0 ? 0 : -EBADMSG;
}

int merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t old_root[MERKLE_HASH_SIZE],
                              const uint8_t new_root[MERKLE_HASH_SIZE],
                              const uint8_t (*proof)[MERKLE_HASH_SIZE], size_t n)
{
        uint8_t fr[MERKLE_HASH_SIZE], sr[MERKLE_HASH_SIZE];
        uint64_t fn, sn;
        size_t i = 0;

        if (old_size == 0 || old_size > new_size || new_size > MERKLE_SIZE_MAX)
                return -EINVAL;
        if (old_size == new_size)
                return n == 0 && memcmp(old_root, new_root, MERKLE_HASH_SIZE) == 0 ? 0 : -EBADMSG;
        if (n == 0 || n > MERKLE_PROOF_MAX)
                return -EBADMSG;
        /* An old tree whose size is a power of two is a node of the new
         * one: the proof starts above it, at its root. */
        if ((old_size & (old_size - 1)) == 0)
                memcpy(fr, old_root, MERKLE_HASH_SIZE);
        else
                memcpy(fr, proof[i++], MERKLE_HASH_SIZE);
        memcpy(sr, fr, MERKLE_HASH_SIZE);
        fn = old_size - 1;
        sn = new_size - 1;
        while (fn & 1) {
                fn >>= 1;
                sn >>= 1;
        }
        for (; i < n; i++) {
                if (sn == 0)
                        return -EBADMSG;
                if ((fn & 1) || fn == sn) {
                        merkle_node_hash(proof[i], fr, fr);
                        merkle_node_hash(proof[i], sr, sr);
                        while (!(fn & 1) && fn != 0) {
                                fn >>= 1;
                                sn >>= 1;
                        }
                } else
                        merkle_node_hash(sr, proof[i], sr);
                fn >>= 1;
                sn >>= 1;
        }
        return sn == 0 && memcmp(fr, old_root, MERKLE_HASH_SIZE) == 0 &&
                               memcmp(sr, new_root, MERKLE_HASH_SIZE) == 0
                       ? 0
                       : -EBADMSG;
}

void merkle_frontier_init(struct merkle_frontier *f)
{
        memset(f, 0, sizeof(*f));
}

int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_SIZE])
{
        uint8_t hash[MERKLE_HASH_SIZE];
        unsigned level = 0;

        if (f->size >= MERKLE_SIZE_MAX)
                return -EOVERFLOW;
        memcpy(hash, leaf, MERKLE_HASH_SIZE);
        for (; (f->size >> level) & 1; level++)
                merkle_node_hash(f->hash[level], hash, hash);
        memcpy(f->hash[level], hash, MERKLE_HASH_SIZE);
        f->size++;
        return 0;
}

int merkle_frontier_root(const struct merkle_frontier *f, uint8_t ret[MERKLE_HASH_SIZE])
{
        uint8_t r[MERKLE_HASH_SIZE];
        bool any = false;

        for (unsigned level = 0; level < MERKLE_LEVELS; level++) {
                if (!((f->size >> level) & 1))
                        continue;
                if (any)
                        merkle_node_hash(f->hash[level], r, r);
                else
                        memcpy(r, f->hash[level], MERKLE_HASH_SIZE);
                any = true;
        }
        if (!any)
                return -EINVAL;
        memcpy(ret, r, MERKLE_HASH_SIZE);
        return 0;
}

int merkle_frontier_load(const struct merkle_hashes *h, uint64_t size, struct merkle_frontier *ret)
{
        struct merkle_frontier f = {.size = size};
        uint64_t lo = 0;
        int r;

        if (size > MERKLE_SIZE_MAX)
                return -EINVAL;
        for (int level = MERKLE_LEVELS - 1; level >= 0; level--) {
                if (!((size >> level) & 1))
                        continue;
                if ((r = h->get(h->userdata, (unsigned)level, lo >> level, f.hash[level])) < 0)
                        return r;
                lo += 1ull << level;
        }
        *ret = f;
        return 0;
}
