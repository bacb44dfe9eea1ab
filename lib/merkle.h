/* The audit trail's Merkle tree (RFC 6962 §2.1, RFC 9162 §2.1;
 * docs/audit-format.md): the leaves are the audit lines, leaf hash =
 * SHA-256(0x00 || line bytes), node hash = SHA-256(0x01 || left || right).
 *
 * Stored hashes, as Go's golang.org/x/mod/sumdb/tlog and c2sp.org/tlog-tiles
 * keep them: the hash of every complete subtree, named by its level and
 * index (level L, index i covers leaves [i * 2^L, (i + 1) * 2^L)). They
 * never change once written, an append writes 1 + (trailing one bits of
 * n) of them, and a root or proof reads O(log n) of them. Where they live
 * is the caller's (vaultd: LMDB; tests: an array), behind
 * struct merkle_hashes.
 *
 * Verification needs only public data: vaultctl checks proofs offline.
 * Proofs are RFC 9162's, the same bytes as Go's tlog.ProveRecord and
 * tlog.ProveTree (tests/merkle). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_SIZE 32
/* Levels of a tree of up to 2^63 leaves, and the longest proof of one:
 * an inclusion proof holds at most one hash per level, a consistency
 * proof at most one more. */
#define MERKLE_LEVELS    64
#define MERKLE_PROOF_MAX (MERKLE_LEVELS + 1)
/* Longest tree the functions below accept (sizes are int64 in Go and on
 * the wire). */
#define MERKLE_SIZE_MAX ((uint64_t)INT64_MAX)

/* Where the stored hashes are. get returns 0, -ENOENT when that hash is
 * not stored, or another -errno; put (appends only) 0 or -errno. */
struct merkle_hashes {
        int (*get)(void *userdata, unsigned level, uint64_t index, uint8_t ret[MERKLE_HASH_SIZE]);
        int (*put)(void *userdata, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_SIZE]);
        void *userdata;
};

/* SHA-256(0x00 || data). */
void merkle_leaf_hash(const void *data, size_t len, uint8_t ret[MERKLE_HASH_SIZE]);
/* SHA-256(0x01 || left || right). */
void merkle_node_hash(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
                      uint8_t ret[MERKLE_HASH_SIZE]);

/* Appends leaf n (the tree holds leaves 0..n-1): puts its hash and the
 * hash of every subtree it completes, reading their left halves. */
int merkle_append(const struct merkle_hashes *h, uint64_t n, const uint8_t leaf[MERKLE_HASH_SIZE]);

/* The root of the tree of the first size leaves (size >= 1: vaultd has
 * no empty tree). -EINVAL for size 0 or above MERKLE_SIZE_MAX. */
int merkle_root(const struct merkle_hashes *h, uint64_t size, uint8_t ret[MERKLE_HASH_SIZE]);

/* The inclusion proof of leaf index in the tree of size leaves (RFC 9162
 * §2.1.3.1), into ret (room for MERKLE_PROOF_MAX hashes); returns the
 * number of hashes. -EINVAL unless index < size <= MERKLE_SIZE_MAX. */
int merkle_prove_inclusion(const struct merkle_hashes *h, uint64_t index, uint64_t size,
                           uint8_t (*ret)[MERKLE_HASH_SIZE]);
/* The consistency proof from the tree of old_size leaves to the one of
 * new_size (RFC 9162 §2.1.4.1), as above; empty when they are equal.
 * -EINVAL unless 1 <= old_size <= new_size <= MERKLE_SIZE_MAX. */
int merkle_prove_consistency(const struct merkle_hashes *h, uint64_t old_size, uint64_t new_size,
                             uint8_t (*ret)[MERKLE_HASH_SIZE]);

/* Checks an inclusion proof (RFC 9162 §2.1.3.2): leaf is leaf index of
 * the tree of size leaves whose root is root. 0 when it is, -EBADMSG when
 * the proof does not show it, -EINVAL when index >= size. */
int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_SIZE],
                            const uint8_t (*proof)[MERKLE_HASH_SIZE], size_t n,
                            const uint8_t root[MERKLE_HASH_SIZE]);
/* Checks a consistency proof (RFC 9162 §2.1.4.2): the tree of old_size
 * leaves with root old_root is a prefix of the one of new_size leaves
 * with root new_root. 0, -EBADMSG, or -EINVAL unless 1 <= old_size <=
 * new_size. */
int merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const uint8_t old_root[MERKLE_HASH_SIZE],
                              const uint8_t new_root[MERKLE_HASH_SIZE],
                              const uint8_t (*proof)[MERKLE_HASH_SIZE], size_t n);

/* The right edge of a tree: the roots of its complete subtrees, one per
 * one bit of size (hash[L] when bit L is set), O(log n) hashes that are
 * enough to append and to compute the root. The keeper keeps one. */
struct merkle_frontier {
        uint64_t size;
        uint8_t hash[MERKLE_LEVELS][MERKLE_HASH_SIZE];
};

void merkle_frontier_init(struct merkle_frontier *f);
/* Appends one leaf. -EOVERFLOW past MERKLE_SIZE_MAX leaves. */
int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf[MERKLE_HASH_SIZE]);
/* The root. -EINVAL when the tree is empty. */
int merkle_frontier_root(const struct merkle_frontier *f, uint8_t ret[MERKLE_HASH_SIZE]);
/* The frontier of the first size leaves, from stored hashes. */
int merkle_frontier_load(const struct merkle_hashes *h, uint64_t size, struct merkle_frontier *ret);
