/* Unit tests for lib/merkle.c: the RFC 6962 tree over stored hashes, its
 * proofs and their verification. Roots and proofs are set against a
 * reference written straight from RFC 6962's recursive definitions (MTH,
 * PATH, SUBPROOF) over the leaves themselves, for every size and index of
 * small trees; tests/merkle holds the same against Go's tlog package. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"
#include "util.h"

#define LEAVES 70 /* every shape up to a few levels, and past 64 */
#define H      MERKLE_HASH_SIZE

/* An in-memory store of stored hashes: [level][index], with a flag. */
struct mem {
        uint8_t hash[8][LEAVES][H];
        bool set[8][LEAVES];
        unsigned gets, puts;
};

static int mem_get(void *userdata, unsigned level, uint64_t index, uint8_t ret[H])
{
        struct mem *m = userdata;

        m->gets++;
        if (level >= 8 || index >= LEAVES || !m->set[level][index])
                return -ENOENT;
        memcpy(ret, m->hash[level][index], H);
        return 0;
}

static int mem_put(void *userdata, unsigned level, uint64_t index, const uint8_t hash[H])
{
        struct mem *m = userdata;

        m->puts++;
        assert_true(level < 8 && index < LEAVES);
        assert_false(m->set[level][index]); /* stored hashes are written once */
        memcpy(m->hash[level][index], hash, H);
        m->set[level][index] = true;
        return 0;
}

static uint8_t leaves[LEAVES][H];
static struct mem mem;
static const struct merkle_hashes hashes = {mem_get, mem_put, &mem};

/* Reference MTH(D[lo:hi]) over the leaf hashes. */
static void ref_mth(uint64_t lo, uint64_t hi, uint8_t ret[H])
{
        uint8_t l[H], r[H];
        uint64_t k = 1;

        if (hi - lo == 1) {
                memcpy(ret, leaves[lo], H);
                return;
        }
        while (k * 2 < hi - lo)
                k *= 2;
        ref_mth(lo, lo + k, l);
        ref_mth(lo + k, hi, r);
        merkle_node_hash(l, r, ret);
}

static void ref_path(uint64_t m, uint64_t lo, uint64_t hi, uint8_t (*out)[H], size_t *n)
{
        uint64_t k = 1;

        if (hi - lo == 1)
                return;
        while (k * 2 < hi - lo)
                k *= 2;
        if (m < lo + k) {
                ref_path(m, lo, lo + k, out, n);
                ref_mth(lo + k, hi, out[(*n)++]);
        } else {
                ref_path(m, lo + k, hi, out, n);
                ref_mth(lo, lo + k, out[(*n)++]);
        }
}

static void ref_subproof(uint64_t m, uint64_t lo, uint64_t hi, bool whole, uint8_t (*out)[H], size_t *n)
{
        uint64_t k = 1;

        if (m == hi) {
                if (!whole)
                        ref_mth(lo, hi, out[(*n)++]);
                return;
        }
        while (k * 2 < hi - lo)
                k *= 2;
        if (m <= lo + k) {
                ref_subproof(m, lo, lo + k, whole, out, n);
                ref_mth(lo + k, hi, out[(*n)++]);
        } else {
                ref_subproof(m, lo + k, hi, false, out, n);
                ref_mth(lo, lo + k, out[(*n)++]);
        }
}

static int setup(void **state)
{
        char line[64];

        (void)state;
        memset(&mem, 0, sizeof(mem));
        for (uint64_t i = 0; i < LEAVES; i++) {
                int len = snprintf(line, sizeof(line), "{\"seq\":%llu}", (unsigned long long)i);
                merkle_leaf_hash(line, (size_t)len, leaves[i]);
                assert_int_equal(merkle_append(&hashes, i, leaves[i]), 0);
        }
        return 0;
}

static void test_hashes_are_rfc6962s(void **state)
{
        /* SHA-256 of the single byte 0x00: the leaf hash of an empty line. */
        static const char empty_leaf[] = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
        uint8_t h[H], buf[1 + 2 * H], want[H];
        char hex[2 * H + 1];

        (void)state;
        merkle_leaf_hash("", 0, h);
        hex_encode(h, H, hex);
        assert_string_equal(hex, empty_leaf);
        /* A node is 0x01 || left || right, hashed. */
        buf[0] = 0x01;
        memcpy(buf + 1, leaves[0], H);
        memcpy(buf + 1 + H, leaves[1], H);
        crypto_hash_sha256(want, buf, sizeof(buf));
        merkle_node_hash(leaves[0], leaves[1], h);
        assert_memory_equal(h, want, H);
}

static void test_appends_store_each_complete_subtree_once(void **state)
{
        (void)state;
        /* n leaves make n + (n - popcount(n)) stored hashes: 70 = 1000110b. */
        assert_int_equal(mem.puts, LEAVES + LEAVES - 3);
        /* Each append read only the left halves of what it completed. */
        assert_int_equal(mem.gets, LEAVES - 3);
        assert_true(mem.set[6][0]);  /* leaves 0..63 */
        assert_false(mem.set[6][1]); /* 64..127 is not complete */
}

static void test_roots_match_the_definition(void **state)
{
        struct merkle_frontier f;
        uint8_t root[H], want[H], froot[H];

        (void)state;
        merkle_frontier_init(&f);
        assert_int_equal(merkle_frontier_root(&f, froot), -EINVAL);
        for (uint64_t size = 1; size <= LEAVES; size++) {
                struct merkle_frontier loaded;

                ref_mth(0, size, want);
                assert_int_equal(merkle_root(&hashes, size, root), 0);
                assert_memory_equal(root, want, H);
                assert_int_equal(merkle_frontier_append(&f, leaves[size - 1]), 0);
                assert_int_equal(merkle_frontier_root(&f, froot), 0);
                assert_memory_equal(froot, want, H);
                assert_int_equal(merkle_frontier_load(&hashes, size, &loaded), 0);
                assert_int_equal(merkle_frontier_root(&loaded, froot), 0);
                assert_memory_equal(froot, want, H);
        }
        assert_int_equal(merkle_root(&hashes, 0, root), -EINVAL);
        /* Beyond what is stored: the store's -ENOENT. */
        assert_int_equal(merkle_root(&hashes, LEAVES + 1, root), -ENOENT);
}

static void test_inclusion_proofs(void **state)
{
        uint8_t proof[MERKLE_PROOF_MAX][H], want[MERKLE_PROOF_MAX][H], root[H];

        (void)state;
        for (uint64_t size = 1; size <= LEAVES; size++) {
                ref_mth(0, size, root);
                for (uint64_t i = 0; i < size; i++) {
                        size_t nw = 0;
                        int n = merkle_prove_inclusion(&hashes, i, size, proof);

                        ref_path(i, 0, size, want, &nw);
                        assert_int_equal(n, (int)nw);
                        if (n > 0)
                                assert_memory_equal(proof, want, (size_t)n * H);
                        assert_int_equal(merkle_verify_inclusion(i, size, leaves[i], (const void *)proof,
                                                                 (size_t)n, root),
                                         0);
                        /* Another leaf or index; a proof one
                         * hash short or long, or with one bit changed. */
                        assert_int_equal(merkle_verify_inclusion(i, size, leaves[(i + 1) % LEAVES],
                                                                 (const void *)proof, (size_t)n, root),
                                         -EBADMSG);
                        if (size > 1)
                                assert_int_equal(merkle_verify_inclusion((i + 1) % size, size, leaves[i],
                                                                         (const void *)proof, (size_t)n,
                                                                         root),
                                                 -EBADMSG);
                        if (n > 0) {
                                assert_int_equal(merkle_verify_inclusion(i, size, leaves[i],
                                                                         (const void *)proof, (size_t)n - 1,
                                                                         root),
                                                 -EBADMSG);
                                proof[n - 1][7] ^= 0x20;
                                assert_int_equal(merkle_verify_inclusion(i, size, leaves[i],
                                                                         (const void *)proof, (size_t)n,
                                                                         root),
                                                 -EBADMSG);
                        }
                        memcpy(proof[n], root, H);
                        assert_int_equal(merkle_verify_inclusion(i, size, leaves[i], (const void *)proof,
                                                                 (size_t)n + 1, root),
                                         -EBADMSG);
                }
        }
        assert_int_equal(merkle_prove_inclusion(&hashes, 5, 5, proof), -EINVAL);
        assert_int_equal(merkle_verify_inclusion(5, 5, leaves[0], (const void *)proof, 0, root), -EINVAL);
}

static void test_consistency_proofs(void **state)
{
        uint8_t proof[MERKLE_PROOF_MAX + 1][H], want[MERKLE_PROOF_MAX][H], old_root[H], new_root[H];

        (void)state;
        for (uint64_t new_size = 1; new_size <= LEAVES; new_size++) {
                ref_mth(0, new_size, new_root);
                for (uint64_t old_size = 1; old_size <= new_size; old_size++) {
                        size_t nw = 0;
                        int n = merkle_prove_consistency(&hashes, old_size, new_size, proof);

                        if (old_size < new_size)
                                ref_subproof(old_size, 0, new_size, true, want, &nw);
                        ref_mth(0, old_size, old_root);
                        assert_int_equal(n, (int)nw);
                        if (n > 0)
                                assert_memory_equal(proof, want, (size_t)n * H);
                        assert_int_equal(merkle_verify_consistency(old_size, new_size, old_root, new_root,
                                                                   (const void *)proof, (size_t)n),
                                         0);
                        /* A rewritten old tree (another root), roots
                         * swapped, a hash changed or left out. */
                        old_root[0] ^= 1;
                        assert_int_equal(merkle_verify_consistency(old_size, new_size, old_root, new_root,
                                                                   (const void *)proof, (size_t)n),
                                         -EBADMSG);
                        old_root[0] ^= 1;
                        if (old_size == new_size)
                                continue;
                        assert_int_equal(merkle_verify_consistency(old_size, new_size, new_root, old_root,
                                                                   (const void *)proof, (size_t)n),
                                         -EBADMSG);
                        assert_int_equal(merkle_verify_consistency(old_size, new_size, old_root, new_root,
                                                                   (const void *)proof, (size_t)n - 1),
                                         -EBADMSG);
                        memcpy(proof[n], new_root, H);
                        assert_int_equal(merkle_verify_consistency(old_size, new_size, old_root, new_root,
                                                                   (const void *)proof, (size_t)n + 1),
                                         -EBADMSG);
                        proof[0][31] ^= 0x80;
                        assert_int_equal(merkle_verify_consistency(old_size, new_size, old_root, new_root,
                                                                   (const void *)proof, (size_t)n),
                                         -EBADMSG);
                }
        }
        assert_int_equal(merkle_prove_consistency(&hashes, 0, 3, proof), -EINVAL);
        assert_int_equal(merkle_prove_consistency(&hashes, 4, 3, proof), -EINVAL);
        assert_int_equal(merkle_verify_consistency(0, 3, old_root, new_root, (const void *)proof, 1),
                         -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hashes_are_rfc6962s),
                cmocka_unit_test(test_appends_store_each_complete_subtree_once),
                cmocka_unit_test(test_roots_match_the_definition),
                cmocka_unit_test(test_inclusion_proofs),
                cmocka_unit_test(test_consistency_proofs),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
