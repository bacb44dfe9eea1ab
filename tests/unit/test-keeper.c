/* Unit tests for the keeper's signing rule (vaultd/keeper.c), driving a
 * real keeper process over its socket as a compromised worker would: it
 * signs a checkpoint only over a chain it has recomputed itself, and only
 * above the last size it signed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ckeys.h"
#include "auditfmt.h"
#include "collkeys.h"
#include "envelope.h"
#include "keeper-proto.h"
#include "keeper.h"
#include "keys.h"
#include "methods.h"
#include "recmeta.h"
#include "findindex.h"
#include "pseudonym.h"
#include "psprefetch.h"
#include "recprefetch.h"
#include "store.h"
#include "util.h"

#define ORIGIN "vaultd/test"
#define LINES  12

struct fixture {
        char dir[PATH_MAX], key_path[PATH_MAX + 16];
        struct keeper *kp;
        struct keys_material m; /* the keys it created, as stored */
        char *lines[LINES];
        size_t lens[LINES];
        uint8_t hash[LINES][AUDIT_HASH_SIZE];      /* hash of line i */
        uint8_t root[LINES + 1][MERKLE_HASH_SIZE]; /* root of the tree of the first n lines */
        uint8_t got_root[MERKLE_HASH_SIZE];        /* the root keeper_sign returned last */
        int64_t t[LINES + 4];                      /* signed time of the checkpoint at each size */
};

/* A valid chain of LINES audit lines; alt changes line 5's content. */
static void make_chain(struct fixture *f, bool alt)
{
        uint8_t prev[AUDIT_HASH_SIZE] = {0}, leaf[MERKLE_HASH_SIZE];
        struct merkle_frontier tree;

        merkle_frontier_init(&tree);
        for (int i = 0; i < LINES; i++) {
                struct audit_entry e = {
                        .time_us = 1700000000000000ull + (uint64_t)i,
                        .actor = {1000, 1000, 42, "svc", "service"},
                        .op = "records.put",
                        .collection = "c",
                        .id = alt && i == 5 ? "FORGED" : "R-1",
                        .version = i,
                        .result = "ok",
                };
                free(f->lines[i]);
                assert_int_equal(auditfmt_line((uint64_t)i, &e, prev, &f->lines[i], &f->lens[i]), 0);
                auditfmt_hash(f->lines[i], f->lens[i], f->hash[i]);
                memcpy(prev, f->hash[i], AUDIT_HASH_SIZE);
                merkle_leaf_hash(f->lines[i], f->lens[i], leaf);
                assert_int_equal(merkle_frontier_append(&tree, leaf), 0);
                assert_int_equal(merkle_frontier_root(&tree, f->root[i + 1]), 0);
        }
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-keeper-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->key_path, sizeof(f->key_path), "%s/root.key", f->dir);
        if (keys_root_create(f->key_path, NULL, 0) < 0 ||
            keeper_start(f->key_path, getuid(), getgid(), true, &f->kp) < 0 ||
            keeper_create(f->kp, ORIGIN, &f->m) < 0)
                return -1;
        *state = f;
        make_chain(f, false);
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        keeper_free(f->kp);
        for (int i = 0; i < LINES; i++)
                free(f->lines[i]);
        unlink(f->key_path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static const char *const *at(struct fixture *f, int first)
{
        return (const char *const *)f->lines + first;
}

/* The frontier of the tree of the first n lines. */
static void frontier_of(struct fixture *f, uint64_t n, struct merkle_frontier *ret)
{
        uint8_t leaf[MERKLE_HASH_SIZE];

        merkle_frontier_init(ret);
        for (uint64_t i = 0; i < n; i++) {
                merkle_leaf_hash(f->lines[i], f->lens[i], leaf);
                assert_int_equal(merkle_frontier_append(ret, leaf), 0);
        }
}

/* keeper_chain as the worker calls it: the floor at size, with the
 * frontier below line size-1 and that line, from the fixture's lines. */
static int tell(struct keeper *kp, struct fixture *f, uint64_t size, const uint8_t *sig, int64_t time)
{
        struct merkle_frontier tree = {0};

        if (size > 0)
                frontier_of(f, size - 1, &tree);
        return keeper_chain(kp, size, &tree, size ? f->lines[size - 1] : NULL, size ? f->lens[size - 1] : 0,
                            sig, time);
}

/* Checks sig is the keeper's signature of the checkpoint at size. */
static void assert_signed(struct fixture *f, uint64_t size, const uint8_t sig[64])
{
        _cleanup_(freep) char *text = NULL;
        uint8_t pk[32];

        struct checkpoint c = {.origin = ORIGIN, .size = size, .time = f->t[size]};

        keeper_public(f->kp, pk);
        /* A tlog checkpoint: the root of the tree of those lines, the
         * root keeper_sign returned. */
        memcpy(c.hash, f->root[size], MERKLE_HASH_SIZE);
        assert_memory_equal(f->got_root, f->root[size], MERKLE_HASH_SIZE);
        assert_true(c.time > 1700000000); /* the keeper's clock, now */
        assert_int_equal(checkpoint_text(&c, &text), 0);
        assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)text, strlen(text), pk), 0);
}

static void test_signs_only_what_it_recomputed(void **state)
{
        struct fixture *f = *state;
        uint8_t sig[64];

        assert_int_equal(tell(f->kp, f, 0, NULL, 0), 0);
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 4, &f->t[0 + 4], f->got_root, sig, NULL, NULL), 0);
        assert_signed(f, 4, sig);
        /* Extending works, in several chunks too. */
        assert_int_equal(
                keeper_sign(f->kp, 4, at(f, 4), f->lens + 4, 4, &f->t[4 + 4], f->got_root, sig, NULL, NULL),
                0);
        assert_signed(f, 8, sig);
}

static void test_refuses_rewritten_or_shortened_history(void **state)
{
        struct fixture *f = *state;
        uint8_t sig[64];

        assert_int_equal(tell(f->kp, f, 0, NULL, 0), 0);
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 8, &f->t[0 + 8], f->got_root, sig, NULL, NULL), 0);
        /* The floor is now 8: a signature at or below it could only be for
         * another history. */
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 8, &f->t[0 + 8], f->got_root, sig, NULL, NULL),
                -ERANGE);
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 6, &f->t[0 + 6], f->got_root, sig, NULL, NULL),
                -ERANGE);
        /* A rewritten line 5 with a correctly recomputed chain after it. */
        make_chain(f, true);
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 10, &f->t[0 + 10], f->got_root, sig, NULL, NULL),
                -ERANGE);
        assert_int_equal(
                keeper_sign(f->kp, 8, at(f, 8), f->lens + 8, 2, &f->t[8 + 2], f->got_root, sig, NULL, NULL),
                -EBADMSG);
        /* Lines that skip one, or claim the wrong seq. */
        make_chain(f, false);
        assert_int_equal(
                keeper_sign(f->kp, 8, at(f, 9), f->lens + 9, 2, &f->t[8 + 2], f->got_root, sig, NULL, NULL),
                -EBADMSG);
        /* The genuine extension still signs. */
        assert_int_equal(
                keeper_sign(f->kp, 8, at(f, 8), f->lens + 8, 4, &f->t[8 + 4], f->got_root, sig, NULL, NULL),
                0);
        assert_signed(f, 12, sig);
}

static void test_floor_is_told_once_and_must_be_signed(void **state)
{
        struct fixture *f = *state;
        uint8_t sig[64], forged[64] = {1};

        /* A floor with a signature the keeper did not make is refused... */
        assert_int_equal(tell(f->kp, f, 8, forged, f->t[8]), -EBADMSG);
        assert_int_equal(tell(f->kp, f, 0, NULL, 0), 0);
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 4, &f->t[0 + 4], f->got_root, sig, NULL, NULL), 0);
        /* ...once set, it cannot be moved back... */
        assert_int_equal(tell(f->kp, f, 0, NULL, 0), -EALREADY);
        assert_int_equal(tell(f->kp, f, 2, forged, f->t[2]), -EALREADY);
        /* ...and telling it the floor it has changes nothing. */
        assert_int_equal(tell(f->kp, f, 4, sig, f->t[4]), 0);
        assert_int_equal(
                keeper_sign(f->kp, 4, at(f, 4), f->lens + 4, 2, &f->t[4 + 2], f->got_root, sig, NULL, NULL),
                0);
}

/* A store from before the tree: its last checkpoint names the hash of its
 * last line. The keeper takes it as its floor (the tree below it on the
 * worker's word, once, at start) and signs roots from then on; a floor
 * whose signature names a root is refused with a frontier or a line that
 * do not make that root. */
static void test_floor_from_before_the_tree(void **state)
{
        struct fixture *f = *state;
        struct checkpoint c = {.origin = ORIGIN, .size = 4, .time = 1700000100};
        struct keeper_kek kek = {.version = 1};
        _cleanup_(freep) char *text = NULL;
        struct merkle_frontier tree;
        struct vault_keys *keys;
        uint8_t old_sig[64], sig[64];
        struct keeper *kp;

        /* A checkpoint as vaultd signed them before the tree. */
        assert_int_equal(keys_load(f->key_path, &keys), 0);
        assert_int_equal(keys_open_signer(keys, f->m.sign_wrapped), 0);
        memcpy(c.hash, f->hash[3], AUDIT_HASH_SIZE);
        assert_int_equal(checkpoint_text(&c, &text), 0);
        keys_sign(keys, text, strlen(text), old_sig);
        keys_free(keys);
        memcpy(kek.wrapped, f->m.kek_wrapped, KEYS_WRAPPED);

        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, f->m.sign_wrapped, NULL, &kek, 1), 0);
        assert_int_equal(tell(kp, f, 4, old_sig, c.time), 0);
        assert_int_equal(
                keeper_sign(kp, 4, at(f, 4), f->lens + 4, 4, &f->t[8], f->got_root, sig, NULL, NULL), 0);
        assert_signed(f, 8, sig);
        keeper_free(kp);

        /* That root-signed checkpoint as the floor: only with the tree
         * and the line that make its root. */
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, f->m.sign_wrapped, NULL, &kek, 1), 0);
        frontier_of(f, 7, &tree);
        tree.hash[1][0] ^= 1;
        assert_int_equal(keeper_chain(kp, 8, &tree, f->lines[7], f->lens[7], sig, f->t[8]), -EBADMSG);
        frontier_of(f, 7, &tree);
        assert_int_equal(keeper_chain(kp, 8, &tree, f->lines[6], f->lens[6], sig, f->t[8]), -EBADMSG);
        assert_int_equal(tell(kp, f, 8, sig, f->t[8]), 0);
        assert_int_equal(
                keeper_sign(kp, 8, at(f, 8), f->lens + 8, 4, &f->t[12], f->got_root, sig, NULL, NULL), 0);
        assert_signed(f, 12, sig);
        keeper_free(kp);
}

static void test_data_keys_bound_to_their_record(void **state)
{
        static const struct body_binding b = {"people", "alice", 3}, other = {"people", "alice", 4};
        struct fixture *f = *state;
        uint8_t wrapped[KEYS_WRAPPED], dek[KEYS_KEY_SIZE], again[KEYS_KEY_SIZE];
        uint32_t kv;

        assert_int_equal(keeper_dek_new(f->kp, &b, &kv, wrapped, dek), 0);
        assert_int_equal(kv, 1);
        assert_int_equal(keeper_dek_open(f->kp, &b, kv, wrapped, again), 0);
        assert_memory_equal(dek, again, sizeof(dek));
        assert_int_equal(keeper_dek_open(f->kp, &other, kv, wrapped, again), -EBADMSG);
        assert_int_equal(keeper_dek_open(f->kp, &b, 2, wrapped, again), -EBADMSG); /* newer than current */
        wrapped[30] ^= 1;
        assert_int_equal(keeper_dek_open(f->kp, &b, kv, wrapped, again), -EBADMSG);
}

/* A collection's index key stays in the keeper: only its wrapped form and
 * tags leave; no data-key request opens or makes one; tags differ per
 * field and value and are the same each time. */
static void test_collection_keys_never_leave(void **state)
{
        static const struct body_binding ck = {"people", COLLKEY_ID_INDEX, 1};
        const char *fields[3] = {"so_cccd", "so_cccd", "ma_ho"},
                   *values[3] = {"037090001234", "1", "037090001234"};
        struct fixture *f = *state;
        uint8_t wrapped[KEYS_WRAPPED], other[KEYS_WRAPPED], dek[KEYS_KEY_SIZE], tags[3][32], again[3][32];
        struct keeper_ckey k = {"people", 1, 0, wrapped};
        struct keeper_dek_req req = {ck, wrapped, 0};
        uint32_t kv;

        assert_int_equal(keeper_ckey_new(f->kp, KEEPER_CKEY_INDEX, "people", 1, &k.kek_version, wrapped), 0);
        assert_int_equal(keeper_index_tags(f->kp, &k, 3, fields, values, tags), 0);
        assert_int_equal(keeper_index_tags(f->kp, &k, 3, fields, values, again), 0);
        assert_memory_equal(tags, again, sizeof(tags));
        assert_memory_not_equal(tags[0], tags[1], 32);
        assert_memory_not_equal(tags[0], tags[2], 32);
        /* The key opens for its collection and generation only. */
        k.collection = "others";
        assert_int_equal(keeper_index_tags(f->kp, &k, 1, fields, values, again), -EBADMSG);
        k.collection = "people";
        k.gen = 2;
        assert_int_equal(keeper_index_tags(f->kp, &k, 1, fields, values, again), -EBADMSG);
        /* Another collection's key gives other tags. */
        assert_int_equal(keeper_ckey_new(f->kp, KEEPER_CKEY_INDEX, "others", 1, &kv, other), 0);
        k = (struct keeper_ckey){"others", 1, kv, other};
        assert_int_equal(keeper_index_tags(f->kp, &k, 1, fields, values, again), 0);
        assert_memory_not_equal(tags[0], again[0], 32);
        /* A data-key request for a collection key's binding is refused. */
        req.kek_version = kv;
        assert_int_equal(keeper_dek_open(f->kp, &ck, kv, wrapped, dek), -EPERM);
        assert_int_equal(keeper_dek_new(f->kp, &ck, &kv, other, dek), -EPERM);
        assert_int_equal(keeper_dek_prefetch(f->kp, &req, 1), -EPERM);
        /* The keeper is still there. */
        k = (struct keeper_ckey){"people", 1, kv, wrapped};
        assert_int_equal(keeper_index_tags(f->kp, &k, 1, fields, values, again), 0);
}

/* Pseudonyms: the same id gives the same pseudonym; its sealed id opens
 * only beside it; the key is refused to data-key requests. */
static void test_pseudonyms_and_sealed_ids(void **state)
{
        static const struct body_binding ck = {"people", COLLKEY_ID_PSEUDONYM, 1};
        struct fixture *f = *state;
        uint8_t wrapped[KEYS_WRAPPED], dek[KEYS_KEY_SIZE], ps[2][COLLKEY_PSEUDONYM_SIZE], again[16];
        uint8_t sealed[2][KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD],
                other[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
        struct keeper_ckey k = {"people", 1, 0, wrapped};
        const uint8_t *pp[2], *sp[2];
        size_t lens[2], olen;
        char *ids[2];

        assert_int_equal(keeper_ckey_new(f->kp, KEEPER_CKEY_PSEUDONYM, "people", 1, &k.kek_version, wrapped),
                         0);
        assert_int_equal(keeper_pseudonym(f->kp, &k, "CCCD-099887766554", ps[0], sealed[0], &lens[0]), 0);
        assert_int_equal(keeper_pseudonym(f->kp, &k, "Nguyễn-Văn-A", ps[1], sealed[1], &lens[1]), 0);
        assert_int_equal(keeper_pseudonym(f->kp, &k, "CCCD-099887766554", again, other, &olen), 0);
        assert_memory_equal(ps[0], again, sizeof(again));
        assert_memory_not_equal(ps[0], ps[1], sizeof(again));
        assert_memory_not_equal(sealed[0], other, lens[0]); /* a fresh nonce each time */
        assert_null(memmem(sealed[0], lens[0], "099887766554", 12));
        pp[0] = ps[0], pp[1] = ps[1], sp[0] = sealed[0], sp[1] = sealed[1];
        assert_int_equal(keeper_id_open(f->kp, &k, 2, pp, sp, lens, ids), 0);
        assert_string_equal(ids[0], "CCCD-099887766554");
        assert_string_equal(ids[1], "Nguyễn-Văn-A");
        free(ids[0]);
        free(ids[1]);
        /* A sealed id beside another pseudonym does not open. */
        pp[0] = ps[1];
        assert_int_equal(keeper_id_open(f->kp, &k, 1, pp, sp, lens, ids), -EBADMSG);
        /* Nor does the pseudonym key open as a data key or an index key. */
        assert_int_equal(keeper_dek_open(f->kp, &ck, k.kek_version, wrapped, dek), -EPERM);
        assert_int_equal(keeper_index_tags(f->kp, &k, 1, (const char *[]){"f"}, (const char *[]){"v"},
                                           (uint8_t(*)[32])dek),
                         -EBADMSG);
}

/* What a compromised worker might try on a keeper it opens again: a floor
 * of 0 without the signature creation gives, a KEK that does not unwrap
 * made current, a current KEK moved back, another origin. */
static void test_reopened_keeper_refuses_tricks(void **state)
{
        struct fixture *f = *state;
        struct keys_material m;
        struct keeper *kp;
        struct keeper_kek keks[2];
        uint8_t wrapped[KEYS_WRAPPED];

        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_create(f->kp, ORIGIN, &m), -EALREADY);
        /* The fixture's keeper made the keys; read them back as stored. */
        keeper_free(f->kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &f->kp), 0);
        assert_int_equal(keeper_create(f->kp, ORIGIN, &m), 0);
        keks[0].version = 1;
        memcpy(keks[0].wrapped, m.kek_wrapped, KEYS_WRAPPED);
        keks[1].version = 2;
        memset(keks[1].wrapped, 0x5a, KEYS_WRAPPED); /* garbage: does not unwrap */
        assert_int_equal(keeper_open(kp, ORIGIN, 1, m.sign_wrapped, NULL, keks, 2), -EBADMSG);
        /* Nothing of it stays: with a plain root key wiped too, the keeper
         * serves nothing more (no zero KEK to make current). */
        assert_int_equal(keeper_open(kp, ORIGIN, 2, m.sign_wrapped, NULL, keks, 1), -EBADMSG);
        keeper_free(kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, "vaultd/other\nline", 1, m.sign_wrapped, NULL, keks, 1), -EBADMSG);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, m.sign_wrapped, NULL, keks, 1), 0);
        /* Only a keeper that created the vault takes a floor of 0. */
        assert_int_equal(tell(kp, f, 0, NULL, 0), -EPERM);
        /* Rotation never goes back, and a new KEK never replaces a used one. */
        assert_int_equal(keeper_kek_new(kp, 1, wrapped), -EEXIST);
        assert_int_equal(keeper_kek_new(kp, 2, wrapped), 0);
        assert_int_equal(keeper_kek_new(kp, 2, wrapped), 0); /* a failed commit, retried */
        assert_int_equal(keeper_kek_use(kp, 2), 0);
        assert_int_equal(keeper_kek_new(kp, 2, wrapped), -EEXIST);
        assert_int_equal(keeper_kek_use(kp, 1), -EPERM);
        keeper_free(kp);
}

/* sig is pk's signature of the checkpoint at size, naming next (or not). */
static void assert_signed_by(struct fixture *f, uint64_t size, const uint8_t pk[32], const uint8_t *next,
                             const uint8_t sig[64])
{
        _cleanup_(freep) char *text = NULL, *vkey = NULL;

        struct checkpoint c = {.origin = ORIGIN, .size = size, .time = f->t[size]};

        if (next)
                assert_int_equal(note_verifier_key(ORIGIN, next, &vkey), 0);
        c.next_key = vkey;
        memcpy(c.hash, f->root[size], MERKLE_HASH_SIZE);
        assert_int_equal(checkpoint_text(&c, &text), 0);
        assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)text, strlen(text), pk), 0);
}

/* Signing-key rotation: one next key at a time, co-signing once in use,
 * the switch only after a co-signed checkpoint; and after a restart, a
 * keeper opened with a stored next key co-signs, and one opened with the
 * new key takes the hand-over checkpoint as its floor. */
static void test_signing_key_rotation(void **state)
{
        struct fixture *f = *state;
        struct keys_material m;
        struct keeper_kek kek;
        uint8_t old_pk[32], next_pk[32], pk[32];
        uint8_t next[KEYS_SIGN_WRAPPED], as_signer[KEYS_SIGN_WRAPPED], sig[64], next_sig[64], sig8[64];
        struct keeper *kp;
        int64_t t8;

        keeper_free(f->kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &f->kp), 0);
        assert_int_equal(keeper_create(f->kp, ORIGIN, &m), 0);
        kek.version = 1;
        memcpy(kek.wrapped, m.kek_wrapped, KEYS_WRAPPED);
        memcpy(old_pk, m.pk, 32);
        assert_int_equal(tell(f->kp, f, 0, NULL, 0), 0);
        assert_int_equal(
                keeper_sign(f->kp, 0, at(f, 0), f->lens, 4, &f->t[0 + 4], f->got_root, sig, NULL, NULL), 0);
        assert_int_equal(keeper_sign_switch(f->kp), -EPROTO); /* nothing to switch to */
        assert_int_equal(keeper_sign_new(f->kp, next, next_pk), 0);
        assert_int_equal(keeper_sign_new(f->kp, next, next_pk), 0); /* not in use yet: replaced */
        assert_int_equal(keeper_sign_switch(f->kp), -EPROTO);
        assert_int_equal(keeper_sign_use(f->kp), 0);
        assert_int_equal(keeper_sign_new(f->kp, next, pk), -EBUSY); /* one rotation at a time */
        assert_int_equal(keeper_sign_switch(f->kp), -EPROTO);       /* nothing co-signed yet */
        assert_int_equal(keeper_sign(f->kp, 4, at(f, 4), f->lens + 4, 4, &f->t[4 + 4], f->got_root, sig8,
                                     next_sig, as_signer),
                         0);
        assert_signed_by(f, 8, old_pk, next_pk, sig8);
        assert_signed_by(f, 8, next_pk, next_pk, next_sig);
        t8 = f->t[8];

        /* A restart before the hand-over was stored: the old key signs,
         * the stored next one co-signs. */
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, m.sign_wrapped, next, &kek, 1), 0);
        assert_true(keeper_next_public(kp, pk));
        assert_memory_equal(pk, next_pk, 32);
        assert_int_equal(tell(kp, f, 4, sig, f->t[4]), 0);
        assert_int_equal(keeper_sign(kp, 4, at(f, 4), f->lens + 4, 4, &f->t[4 + 4], f->got_root, sig,
                                     next_sig, as_signer),
                         0);
        assert_signed_by(f, 8, old_pk, next_pk, sig);
        assert_signed_by(f, 8, next_pk, next_pk, next_sig);
        keeper_free(kp);

        /* A next key's stored form opens only as the next key of the key
         * it follows: not as a signing key, and not as the next key of the
         * key it replaced (no handing the role back). */
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, next, NULL, &kek, 1), -EBADMSG);
        keeper_free(kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, as_signer, next, &kek, 1), -EBADMSG);
        keeper_free(kp);

        /* After: the new key is the signing key, the hand-over its floor;
         * the old key's signature of it is not the keeper's. */
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, as_signer, NULL, &kek, 1), 0);
        assert_int_equal(tell(kp, f, 8, sig8, t8), -EBADMSG);
        keeper_free(kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, as_signer, NULL, &kek, 1), 0);
        assert_false(keeper_next_public(kp, pk));
        assert_int_equal(tell(kp, f, 8, next_sig, f->t[8]), 0);
        assert_int_equal(
                keeper_sign(kp, 8, at(f, 8), f->lens + 8, 4, &f->t[8 + 4], f->got_root, sig, NULL, NULL), 0);
        assert_signed_by(f, 12, next_pk, NULL, sig);
        keeper_free(kp);

        /* The running keeper switches once it co-signed, and forgets the old key. */
        assert_int_equal(keeper_sign_switch(f->kp), 0);
        keeper_public(f->kp, pk);
        assert_memory_equal(pk, next_pk, 32);
        assert_false(keeper_next_public(f->kp, pk));
        assert_int_equal(
                keeper_sign(f->kp, 8, at(f, 8), f->lens + 8, 4, &f->t[8 + 4], f->got_root, sig, NULL, NULL),
                0);
        assert_signed_by(f, 12, next_pk, NULL, sig);
}

/* The keeper enforces the unseal back-off itself: a worker that ignores it
 * gets -EAGAIN, even with the right passphrase, until the wait is over. */
static void test_unseal_backs_off_in_the_keeper(void **state)
{
        struct fixture *f = *state;
        char path[PATH_MAX + 32];
        struct keeper *kp;

        snprintf(path, sizeof(path), "%s/sealed.key", f->dir);
        assert_int_equal(keys_root_create(path, "right", 5), 0);
        assert_int_equal(keeper_start(path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_unseal(kp, "wrong", 5), -EKEYREJECTED);
        assert_int_equal(keeper_unseal(kp, "right", 5), -EAGAIN);
        usleep(1100 * 1000); /* the first wait is 1 s */
        assert_int_equal(keeper_unseal(kp, "right", 5), 0);
        keeper_free(kp);
        unlink(path);
}

static void test_keeper_gone_is_epipe(void **state)
{
        struct fixture *f = *state;
        uint8_t zero[KEYS_WRAPPED] = {0};

        kill(keeper_pid(f->kp), SIGKILL);
        assert_int_equal(tell(f->kp, f, 0, NULL, 0), -EPIPE);
        assert_int_equal(keeper_dek_open(f->kp, &(struct body_binding){"c", "i", 1}, 1, zero, zero), -EPIPE);
}

/* DEK_MANY spoken raw, as a compromised worker could: a keeper of its
 * own (fd), made to create a vault first. */
static int raw_call(int fd, int32_t type, const uint8_t *p, size_t len, uint8_t *reply, size_t cap,
                    size_t *ret_len)
{
        struct keeper_hdr h = {type, (uint32_t)len};

        assert_int_equal(write_all(fd, &h, sizeof(h)), 0);
        if (len)
                assert_int_equal(write_all(fd, p, len), 0);
        assert_int_equal(read_full(fd, &h, sizeof(h)), 0);
        assert_true(h.len <= cap);
        if (h.len)
                assert_int_equal(read_full(fd, reply, h.len), 0);
        if (ret_len)
                *ret_len = h.len;
        return h.type;
}

/* Appends one DEK_MANY item to buf at *len: op, then (open) kv and wrapped,
 * then the binding. */
static void raw_item(uint8_t *buf, size_t *len, uint8_t op, const struct body_binding *b, uint32_t kv,
                     const uint8_t *wrapped)
{
        size_t cl = strlen(b->collection), il = strlen(b->id);

        buf[(*len)++] = op;
        if (op == KEEPER_DEK_ITEM_OPEN) {
                be32_put(buf + *len, kv);
                memcpy(buf + *len + 4, wrapped, KEYS_WRAPPED);
                *len += 4 + KEYS_WRAPPED;
        }
        buf[(*len)++] = (uint8_t)(cl >> 8);
        buf[(*len)++] = (uint8_t)cl;
        memcpy(buf + *len, b->collection, cl);
        *len += cl;
        buf[(*len)++] = (uint8_t)(il >> 8);
        buf[(*len)++] = (uint8_t)il;
        memcpy(buf + *len, b->id, il);
        *len += il;
        be64_put(buf + *len, b->version);
        *len += 8;
}

/* A keeper forked for raw requests (fd, pid), and the origin as CREATE
 * takes it (length-prefixed, into origin). */
static void raw_keeper_start(struct fixture *f, int *fd, pid_t *pid, uint8_t origin[64])
{
        assert_int_equal(keeper_fork(f->key_path, getuid(), getgid(), true, fd, pid), 0);
        origin[0] = 0;
        origin[1] = (uint8_t)strlen(ORIGIN);
        memcpy(origin + 2, ORIGIN, strlen(ORIGIN));
}

/* One binding's item failing fails that item alone, with DEK_OPEN's
 * errno and zeros for its key; a malformed request fails whole, returns
 * no key, and leaves the keeper serving. */
static void test_dek_many_items_and_malformed_requests(void **state)
{
        static const struct body_binding a = {"people", "alice", 3}, b = {"people", "bob", 1},
                                         wrong = {"people", "alice", 4};
        struct fixture *f = *state;
        uint8_t *req = malloc(KEEPER_MSG_MAX), *rep = malloc(KEEPER_REPLY_MAX), origin[64];
        uint8_t zero[KEYS_KEY_SIZE] = {0}, wrapped[KEYS_WRAPPED], dek[KEYS_KEY_SIZE];
        size_t len = 0, rlen;
        pid_t pid;
        int fd;

        assert_non_null(req);
        assert_non_null(rep);
        raw_keeper_start(f, &fd, &pid, origin);
        /* Before the keys are there, nothing. */
        be32_put(req, 1);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &a, 0, NULL);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EPROTO);
        assert_int_equal(
                raw_call(fd, KEEPER_CREATE, origin, 2 + strlen(ORIGIN), rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, sizeof(struct keys_material));
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, KEEPER_DEK_SLOT_NEW);
        assert_int_equal(be32_get(rep), 0);
        assert_int_equal(be32_get(rep + 4), 1);
        /* Mixed: a new key for b; a's key opened as another version of
         * a, under a KEK newer than the current one (both -EBADMSG, alone),
         * then as a's. */
        memcpy(wrapped, rep + 8, KEYS_WRAPPED);
        memcpy(dek, rep + 8 + KEYS_WRAPPED, KEYS_KEY_SIZE);
        be32_put(req, 4);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &b, 0, NULL);
        raw_item(req, &len, KEEPER_DEK_ITEM_OPEN, &wrong, 1, wrapped);
        raw_item(req, &len, KEEPER_DEK_ITEM_OPEN, &a, 2, wrapped); /* a KEK newer than the current */
        raw_item(req, &len, KEEPER_DEK_ITEM_OPEN, &a, 1, wrapped);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, KEEPER_DEK_SLOT_NEW + 3 * KEEPER_DEK_SLOT_OPEN);
        assert_int_equal(be32_get(rep), 0);
        assert_int_equal((int32_t)be32_get(rep + KEEPER_DEK_SLOT_NEW), -EBADMSG);
        assert_memory_equal(rep + KEEPER_DEK_SLOT_NEW + 4, zero, KEYS_KEY_SIZE);
        assert_int_equal((int32_t)be32_get(rep + KEEPER_DEK_SLOT_NEW + KEEPER_DEK_SLOT_OPEN), -EBADMSG);
        assert_memory_equal(rep + KEEPER_DEK_SLOT_NEW + KEEPER_DEK_SLOT_OPEN + 4, zero, KEYS_KEY_SIZE);
        assert_int_equal(be32_get(rep + KEEPER_DEK_SLOT_NEW + 2 * KEEPER_DEK_SLOT_OPEN), 0);
        assert_memory_equal(rep + KEEPER_DEK_SLOT_NEW + 2 * KEEPER_DEK_SLOT_OPEN + 4, dek, KEYS_KEY_SIZE);
        /* A new key the keeper made and then could not bind (names too
         * long together for its associated data) is wiped, not sent. */
        char longest[KEEPER_NAME_MAX + 1];
        memset(longest, 'x', KEEPER_NAME_MAX);
        longest[KEEPER_NAME_MAX] = '\0';
        be32_put(req, 2);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &(struct body_binding){longest, longest, 1}, 0, NULL);
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &b, 0, NULL);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, 2 * KEEPER_DEK_SLOT_NEW);
        assert_int_equal((int32_t)be32_get(rep), -EINVAL);
        for (size_t i = 4; i < KEEPER_DEK_SLOT_NEW; i++)
                assert_int_equal(rep[i], 0);
        assert_int_equal(be32_get(rep + KEEPER_DEK_SLOT_NEW), 0);

        /* Malformed, each failing whole with no payload: no items, too
         * many, a count above the items sent, bytes left over, an unknown
         * op, a name too long, a name with a NUL, a short wrapped key. */
        be32_put(req, 0);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, 4, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        assert_int_equal(rlen, 0);
        be32_put(req, KEEPER_DEK_MANY_MAX + 1);
        len = 4;
        for (int i = 0; i <= KEEPER_DEK_MANY_MAX; i++)
                raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &b, 0, NULL);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -E2BIG);
        assert_int_equal(rlen, 0);
        be32_put(req, KEEPER_DEK_MANY_MAX); /* the most it takes: fine */
        len -= 1 + 2 + strlen(b.collection) + 2 + strlen(b.id) + 8;
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, KEEPER_DEK_MANY_MAX * KEEPER_DEK_SLOT_NEW);
        be32_put(req, 3);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &b, 0, NULL);
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &b, 0, NULL);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        assert_int_equal(rlen, 0);
        be32_put(req, 1);
        req[len++] = 0;
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        len = 4;
        raw_item(req, &len, 7, &b, 0, NULL);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &b, 0, NULL);
        req[5] = 1; /* collection length 256 + 6: past the payload and the name limit */
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_NEW, &(struct body_binding){"peo\001le", "bob", 1}, 0, NULL);
        req[4 + 1 + 2 + 3] = 0; /* "peo\0le" */
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        len = 4;
        raw_item(req, &len, KEEPER_DEK_ITEM_OPEN, &a, 1, wrapped);
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, 4 + 1 + 4 + 40, rep, KEEPER_REPLY_MAX, &rlen),
                         -EBADMSG);
        /* The keeper still serves, the same keys. */
        assert_int_equal(raw_call(fd, KEEPER_DEK_MANY, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(be32_get(rep), 0);
        assert_memory_equal(rep + 4, dek, KEYS_KEY_SIZE);
        close(fd);
        free(req);
        free(rep);
}

/* The collection key part of a raw PSEUDONYM, PSEUDONYMS or ID_OPEN:
 * gen(8) kek_version(4) wrapped collection. */
static size_t raw_ckey(uint8_t *buf, uint64_t gen, uint32_t kv, const uint8_t *wrapped, const char *coll)
{
        size_t cl = strlen(coll);

        be64_put(buf, gen);
        be32_put(buf + 8, kv);
        memcpy(buf + 12, wrapped, KEYS_WRAPPED);
        be16_put(buf + 12 + KEYS_WRAPPED, (uint16_t)cl);
        memcpy(buf + 14 + KEYS_WRAPPED, coll, cl);
        return 14 + KEYS_WRAPPED + cl;
}

/* A counted id: len(2) bytes. */
static void raw_bytes(uint8_t *buf, size_t *len, const char *s)
{
        be16_put(buf + *len, (uint16_t)strlen(s));
        memcpy(buf + *len + 2, s, strlen(s));
        *len += 2 + strlen(s);
}

/* PSEUDONYMS spoken raw, as a compromised worker could: each id answered
 * as PSEUDONYM answers it; a malformed request (no ids, too many, one cut
 * short, an empty or overlong or NUL-holding id, bytes left over) fails
 * whole with no payload; a data key or an index key is not taken for a
 * pseudonym key, nor a pseudonym key for a data key. */
static void test_pseudonyms_many_raw(void **state)
{
        static const char *const ids[3] = {"CCCD-099887766554", "Nguyễn-Văn-A", "CCCD-099887766554"};
        struct fixture *f = *state;
        uint8_t *req = malloc(KEEPER_MSG_MAX), *rep = malloc(KEEPER_REPLY_MAX), origin[64];
        uint8_t pk[KEYS_WRAPPED], ik[KEYS_WRAPPED], dk[KEYS_WRAPPED], one[COLLKEY_PSEUDONYM_SIZE];
        uint32_t pkv, ikv, dkv;
        size_t len, rlen, head, pos;
        char longest[KEEPER_NAME_MAX + 2];
        pid_t pid;
        int fd;

        assert_non_null(req);
        assert_non_null(rep);
        raw_keeper_start(f, &fd, &pid, origin);
        assert_int_equal(
                raw_call(fd, KEEPER_CREATE, origin, 2 + strlen(ORIGIN), rep, KEEPER_REPLY_MAX, &rlen), 0);
        /* A pseudonym key and an index key for people, a data key for
         * people/alice version 1. */
        for (int purpose = KEEPER_CKEY_INDEX; purpose <= KEEPER_CKEY_PSEUDONYM; purpose++) {
                req[0] = (uint8_t)purpose;
                be64_put(req + 1, 1);
                len = 9;
                raw_bytes(req, &len, "people");
                assert_int_equal(raw_call(fd, KEEPER_CKEY_NEW, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
                assert_int_equal(rlen, 4 + KEYS_WRAPPED);
                *(purpose == KEEPER_CKEY_INDEX ? &ikv : &pkv) = be32_get(rep);
                memcpy(purpose == KEEPER_CKEY_INDEX ? ik : pk, rep + 4, KEYS_WRAPPED);
        }
        len = 0;
        raw_bytes(req, &len, "people");
        raw_bytes(req, &len, "alice");
        be64_put(req + len, 1);
        assert_int_equal(raw_call(fd, KEEPER_DEK_NEW, req, len + 8, rep, KEEPER_REPLY_MAX, &rlen), 0);
        dkv = be32_get(rep);
        memcpy(dk, rep + 4, KEYS_WRAPPED);

        /* Three ids (one twice): what PSEUDONYM gives each, and a sealed
         * id that ID_OPEN opens beside its pseudonym. */
        head = raw_ckey(req, 1, pkv, pk, "people");
        len = head;
        raw_bytes(req, &len, ids[0]);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYM, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        memcpy(one, rep, sizeof(one));
        be16_put(req + head, 3);
        len = head + 2;
        for (int i = 0; i < 3; i++)
                raw_bytes(req, &len, ids[i]);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, 3 * (COLLKEY_PSEUDONYM_SIZE + COLLKEY_SEAL_OVERHEAD) + 2 * strlen(ids[0]) +
                                       strlen(ids[1]));
        pos = COLLKEY_PSEUDONYM_SIZE + strlen(ids[0]) + COLLKEY_SEAL_OVERHEAD;
        assert_memory_equal(rep, one, sizeof(one));
        assert_memory_not_equal(rep + pos, one, sizeof(one));
        assert_memory_equal(rep + pos + COLLKEY_PSEUDONYM_SIZE + strlen(ids[1]) + COLLKEY_SEAL_OVERHEAD, one,
                            sizeof(one));
        uint8_t *open = malloc(KEEPER_MSG_MAX);
        assert_non_null(open);
        len = raw_ckey(open, 1, pkv, pk, "people");
        be16_put(open + len, 1);
        len += 2;
        memcpy(open + len, rep + pos, COLLKEY_PSEUDONYM_SIZE);
        be16_put(open + len + COLLKEY_PSEUDONYM_SIZE, (uint16_t)(strlen(ids[1]) + COLLKEY_SEAL_OVERHEAD));
        memcpy(open + len + COLLKEY_PSEUDONYM_SIZE + 2, rep + pos + COLLKEY_PSEUDONYM_SIZE,
               strlen(ids[1]) + COLLKEY_SEAL_OVERHEAD);
        len += COLLKEY_PSEUDONYM_SIZE + 2 + strlen(ids[1]) + COLLKEY_SEAL_OVERHEAD;
        assert_int_equal(raw_call(fd, KEEPER_ID_OPEN, open, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, 2 + strlen(ids[1]));
        assert_memory_equal(rep + 2, ids[1], strlen(ids[1]));
        free(open);

        /* As many ids as it takes, the longest each: fine; one more: -E2BIG. */
        memset(longest, 'x', KEEPER_NAME_MAX + 1);
        longest[KEEPER_NAME_MAX] = '\0';
        be16_put(req + head, KEEPER_PSEUDONYMS_MAX);
        len = head + 2;
        for (int i = 0; i < KEEPER_PSEUDONYMS_MAX; i++)
                raw_bytes(req, &len, longest);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_int_equal(rlen, KEEPER_PSEUDONYMS_MAX *
                                       (COLLKEY_PSEUDONYM_SIZE + KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD));
        be16_put(req + head, KEEPER_PSEUDONYMS_MAX + 1);
        raw_bytes(req, &len, longest);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen), -E2BIG);
        assert_int_equal(rlen, 0);

        /* Malformed, each failing whole with no payload. */
        static const struct {
                uint16_t count;  /* the count sent */
                const char *ids; /* the ids sent, '|' between them */
                int cut;         /* bytes cut off the end (negative: bytes added) */
        } bad[] = {
                {0, "", 0},          /* no id */
                {0, "alice", 0},     /* none counted, one sent */
                {2, "alice", 0},     /* counted two, one sent */
                {1, "alice", 2},     /* one cut short */
                {1, "alice", 5},     /* its length alone */
                {1, "alice", 6},     /* half its length */
                {1, "alice", -1},    /* a byte left over */
                {1, "alice|bob", 0}, /* an id left over */
                {1, "", 0},          /* an empty id */
        };
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
                char copy[64], *save = NULL;

                be16_put(req + head, bad[b].count);
                len = head + 2;
                strcpy(copy, bad[b].ids);
                for (char *s = strtok_r(copy, "|", &save); s; s = strtok_r(NULL, "|", &save))
                        raw_bytes(req, &len, s);
                if (bad[b].ids[0] == '\0' && bad[b].count)
                        raw_bytes(req, &len, "");
                if (bad[b].cut < 0)
                        req[len++] = 0;
                else
                        len -= (size_t)bad[b].cut;
                assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen),
                                 -EBADMSG);
                assert_int_equal(rlen, 0);
        }
        /* An id too long (its length past the limit), an id with a NUL,
         * no count at all. */
        be16_put(req + head, 1);
        len = head + 2;
        longest[KEEPER_NAME_MAX] = 'x';
        longest[KEEPER_NAME_MAX + 1] = '\0';
        raw_bytes(req, &len, longest);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        len = head + 2;
        raw_bytes(req, &len, "ali\001e");
        req[len - 2] = 0; /* "ali\0e" */
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, head, rep, KEEPER_REPLY_MAX, &rlen), -EBADMSG);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, head - 3, rep, KEEPER_REPLY_MAX, &rlen),
                         -EBADMSG);

        /* Other keys in the pseudonym key's place: the index key, the data
         * key (bound to people/alice/1), the key of another generation or
         * collection; and the pseudonym key asked for as a data key. */
        const struct {
                const uint8_t *wrapped;
                uint32_t kv;
                uint64_t gen;
                const char *coll;
        } keys[] = {{ik, ikv, 1, "people"},
                    {dk, dkv, 1, "people"},
                    {pk, pkv, 2, "people"},
                    {pk, pkv, 1, "others"}};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                len = raw_ckey(req, keys[i].gen, keys[i].kv, keys[i].wrapped, keys[i].coll);
                be16_put(req + len, 1);
                len += 2;
                raw_bytes(req, &len, "alice");
                assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen),
                                 -EBADMSG);
                assert_int_equal(rlen, 0);
        }
        be32_put(req, pkv);
        memcpy(req + 4, pk, KEYS_WRAPPED);
        len = 4 + KEYS_WRAPPED;
        raw_bytes(req, &len, "people");
        raw_bytes(req, &len, COLLKEY_ID_PSEUDONYM);
        be64_put(req + len, 1);
        assert_int_equal(raw_call(fd, KEEPER_DEK_OPEN, req, len + 8, rep, KEEPER_REPLY_MAX, &rlen), -EPERM);

        /* The keeper still serves, the same pseudonyms. */
        len = head;
        raw_ckey(req, 1, pkv, pk, "people");
        be16_put(req + head, 1);
        len = head + 2;
        raw_bytes(req, &len, ids[0]);
        assert_int_equal(raw_call(fd, KEEPER_PSEUDONYMS, req, len, rep, KEEPER_REPLY_MAX, &rlen), 0);
        assert_memory_equal(rep, one, sizeof(one));
        close(fd);
        free(req);
        free(rep);
}

/* Pseudonyms kept for a batch: each id asked once, in as many requests
 * as it takes; keeper_pseudonym answers a kept one for exactly its
 * request, as often as asked, without the keeper, and asks for any
 * other; nothing is kept once forgotten, or after a failure. */
static void test_pseudonym_prefetch_keeps_exact_requests(void **state)
{
        struct fixture *f = *state;
        uint8_t wrapped[KEYS_WRAPPED], other[KEYS_WRAPPED], ps[3][COLLKEY_PSEUDONYM_SIZE], got[16],
                again[16];
        uint8_t sealed[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
        uint8_t(*many_ps)[COLLKEY_PSEUDONYM_SIZE] = calloc(KEEPER_PS_KEPT_MAX + 1, sizeof(*many_ps));
        const char **many = calloc(KEEPER_PS_KEPT_MAX + 1, sizeof(*many));
        char(*names)[16] = calloc(KEEPER_PS_KEPT_MAX + 1, sizeof(*names));
        struct keeper_ckey k = {"people", 1, 0, wrapped}, o = {"others", 1, 0, other};
        const char *ids[3] = {"alice", "bob", "alice"};
        const uint8_t *pp[1], *sp[1];
        size_t len, lens[1];
        char *opened;

        assert_non_null(many_ps);
        assert_non_null(many);
        assert_non_null(names);
        assert_int_equal(keeper_ckey_new(f->kp, KEEPER_CKEY_PSEUDONYM, "people", 1, &k.kek_version, wrapped),
                         0);
        assert_int_equal(keeper_ckey_new(f->kp, KEEPER_CKEY_PSEUDONYM, "others", 1, &o.kek_version, other),
                         0);
        /* What the keeper gives one by one. */
        assert_int_equal(keeper_pseudonym(f->kp, &k, "alice", got, sealed, &len), 0);
        assert_int_equal(keeper_pseudonym(f->kp, &k, "bob", again, sealed, &len), 0);
        assert_int_equal(keeper_pseudonym_prefetch(f->kp, &k, 3, ids, ps), 0);
        assert_int_equal(keeper_pseudonym_kept(f->kp), 2);
        assert_memory_equal(ps[0], got, sizeof(got));
        assert_memory_equal(ps[1], again, sizeof(again));
        assert_memory_equal(ps[2], got, sizeof(got));
        /* The sealed id kept is the keeper's, sealed for its pseudonym. */
        assert_int_equal(keeper_pseudonym(f->kp, &k, "bob", got, sealed, &len), 0);
        pp[0] = got, sp[0] = sealed, lens[0] = len;
        assert_int_equal(keeper_id_open(f->kp, &k, 1, pp, sp, lens, &opened), 0);
        assert_string_equal(opened, "bob");
        free(opened);

        /* More than one request's worth, and past what can be kept. */
        for (size_t i = 0; i <= KEEPER_PS_KEPT_MAX; i++) {
                snprintf(names[i], sizeof(names[i]), "id-%zu", i);
                many[i] = names[i];
        }
        keeper_pseudonym_forget(f->kp);
        assert_int_equal(keeper_pseudonym_kept(f->kp), 0);
        assert_int_equal(keeper_pseudonym_prefetch(f->kp, &k, 2 * KEEPER_PSEUDONYMS_MAX + 3, many, many_ps),
                         0);
        assert_int_equal(keeper_pseudonym_kept(f->kp), 2 * KEEPER_PSEUDONYMS_MAX + 3);
        assert_int_equal(keeper_pseudonym(f->kp, &k, many[2 * KEEPER_PSEUDONYMS_MAX + 2], got, sealed, &len),
                         0);
        assert_memory_equal(got, many_ps[2 * KEEPER_PSEUDONYMS_MAX + 2], sizeof(got));
        keeper_pseudonym_forget(f->kp);
        assert_int_equal(keeper_pseudonym_prefetch(f->kp, &k, KEEPER_PS_KEPT_MAX + 1, many, many_ps),
                         -E2BIG);
        assert_int_equal(keeper_pseudonym_kept(f->kp), 0);

        /* Two collections kept side by side; then the keeper is gone. */
        assert_int_equal(keeper_pseudonym_prefetch(f->kp, &k, 3, ids, ps), 0);
        assert_int_equal(keeper_pseudonym_prefetch(f->kp, &o, 1, ids, &ps[2]), 0);
        assert_memory_not_equal(ps[0], ps[2], sizeof(got));
        assert_int_equal(keeper_pseudonym_kept(f->kp), 3);
        kill(keeper_pid(f->kp), SIGKILL);
        for (int twice = 0; twice < 2; twice++) {
                assert_int_equal(keeper_pseudonym(f->kp, &k, "alice", got, sealed, &len), 0);
                assert_memory_equal(got, ps[0], sizeof(got));
                assert_int_equal(len, strlen("alice") + COLLKEY_SEAL_OVERHEAD);
        }
        assert_int_equal(keeper_pseudonym(f->kp, &o, "alice", got, sealed, &len), 0);
        assert_memory_equal(got, ps[2], sizeof(got));
        /* Any other request goes to the keeper: another id, generation,
         * KEK version or wrapped key, another collection named. */
        assert_int_equal(keeper_pseudonym(f->kp, &k, "carol", got, sealed, &len), -EPIPE);
        assert_int_equal(keeper_pseudonym(f->kp, &o, "bob", got, sealed, &len), -EPIPE);
        k.gen = 2;
        assert_int_equal(keeper_pseudonym(f->kp, &k, "alice", got, sealed, &len), -EPIPE);
        k.gen = 1;
        k.kek_version++;
        assert_int_equal(keeper_pseudonym(f->kp, &k, "alice", got, sealed, &len), -EPIPE);
        k.kek_version--;
        k.wrapped = other;
        assert_int_equal(keeper_pseudonym(f->kp, &k, "alice", got, sealed, &len), -EPIPE);
        k.wrapped = wrapped;
        k.collection = "People";
        assert_int_equal(keeper_pseudonym(f->kp, &k, "alice", got, sealed, &len), -EPIPE);
        k.collection = "people";
        assert_int_equal(keeper_pseudonym(f->kp, &k, "bob", got, sealed, &len), 0);
        keeper_pseudonym_forget(f->kp);
        assert_int_equal(keeper_pseudonym(f->kp, &k, "bob", got, sealed, &len), -EPIPE);
        assert_int_equal(keeper_pseudonym_prefetch(f->kp, &k, 1, ids, ps), -EPIPE);
        assert_int_equal(keeper_pseudonym_kept(f->kp), 0);
        free(many_ps);
        free(many);
        free(names);
}

/* Kept keys: used for exactly what they were asked for, once each, without
 * asking the keeper again; refused ones are not kept. */
static void test_dek_prefetch_keeps_keys_for_their_binding(void **state)
{
        static const struct body_binding a = {"people", "alice", 3}, b = {"people", "bob", 1},
                                         c = {"people", "carol", 1}, a4 = {"people", "alice", 4};
        struct fixture *f = *state;
        uint8_t wa[KEYS_WRAPPED], wb[KEYS_WRAPPED], wc[KEYS_WRAPPED], da[KEYS_KEY_SIZE], db[KEYS_KEY_SIZE],
                dc[KEYS_KEY_SIZE], dek[KEYS_KEY_SIZE];
        char long_id[300];
        struct keeper_dek_req *many = calloc(KEEPER_DEK_KEPT_MAX + 100, sizeof(*many));
        uint32_t kv;

        assert_non_null(many);
        assert_int_equal(keeper_dek_new(f->kp, &a, &kv, wa, da), 0);
        memset(long_id, 'x', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        struct keeper_dek_req reqs[] = {
                {a, wa, kv},                       /* a's key */
                {b, NULL, 0},                      /* a new one for b */
                {a4, wa, kv},                      /* not a4's: refused, not kept */
                {{"people", long_id, 1}, NULL, 0}, /* too long to send: left out */
                {c, NULL, 0},
        };
        assert_int_equal(keeper_dek_prefetch(f->kp, reqs, 5), 0);
        assert_int_equal(keeper_dek_kept(f->kp), 3);
        /* Not what was asked for: asked for and refused as ever. */
        assert_int_equal(keeper_dek_open(f->kp, &a4, kv, wa, dek), -EBADMSG);
        assert_int_equal(keeper_dek_open(f->kp, &a, kv, wa, dek), 0);
        assert_memory_equal(dek, da, sizeof(da));
        assert_int_equal(keeper_dek_kept(f->kp), 2);
        assert_int_equal(keeper_dek_new(f->kp, &c, &kv, wc, dc), 0); /* out of order */
        assert_int_equal(keeper_dek_new(f->kp, &b, &kv, wb, db), 0);
        assert_int_equal(keeper_dek_kept(f->kp), 0);
        /* The kept new keys are the keeper's, bound to their records. */
        assert_int_equal(keeper_dek_open(f->kp, &b, kv, wb, dek), 0);
        assert_memory_equal(dek, db, sizeof(db));
        assert_int_equal(keeper_dek_open(f->kp, &c, kv, wc, dek), 0);
        assert_memory_equal(dek, dc, sizeof(dc));
        assert_int_equal(keeper_dek_open(f->kp, &c, kv, wb, dek), -EBADMSG);

        /* Forgotten keys are gone; more than one request's worth, and more
         * than can be kept. */
        assert_int_equal(keeper_dek_prefetch(f->kp, reqs, 2), 0);
        keeper_dek_forget(f->kp);
        assert_int_equal(keeper_dek_kept(f->kp), 0);
        for (size_t i = 0; i < KEEPER_DEK_KEPT_MAX + 100; i++)
                many[i] = (struct keeper_dek_req){{"people", "bob", i + 1}, NULL, 0};
        assert_int_equal(keeper_dek_prefetch(f->kp, many, 2 * KEEPER_DEK_MANY_MAX + 3), 0);
        assert_int_equal(keeper_dek_kept(f->kp), 2 * KEEPER_DEK_MANY_MAX + 3);
        assert_int_equal(keeper_dek_prefetch(f->kp, many, KEEPER_DEK_KEPT_MAX + 100), 0);
        assert_int_equal(keeper_dek_kept(f->kp), KEEPER_DEK_KEPT_MAX);

        /* Kept keys are used without the keeper (gone now), once. */
        assert_int_equal(keeper_dek_prefetch(f->kp, reqs, 2), 0);
        kill(keeper_pid(f->kp), SIGKILL);
        assert_int_equal(keeper_dek_open(f->kp, &a, kv, wa, dek), 0);
        assert_memory_equal(dek, da, sizeof(da));
        assert_int_equal(keeper_dek_new(f->kp, &b, &kv, wb, db), 0);
        assert_int_equal(keeper_dek_new(f->kp, &b, &kv, wb, db), -EPIPE);
        assert_int_equal(keeper_dek_open(f->kp, &a, kv, wa, dek), -EPIPE);
        assert_int_equal(keeper_dek_prefetch(f->kp, reqs, 2), -EPIPE);
        assert_int_equal(keeper_dek_kept(f->kp), 0);
        free(many);
}

/* A record version as vaultd stores it (header, then an envelope unless
 * tomb), and its head. */
static void store_version(struct fixture *f, struct vault *v, MDB_txn *txn, const char *id, uint64_t version,
                          bool tomb)
{
        struct record_name n = {.version = version};
        struct version_meta m = {tomb ? RECMETA_KIND_TOMBSTONE : RECMETA_KIND_DATA, 1, 0, tomb ? 0 : 4, 1};
        struct record_head h = {version, tomb ? RECMETA_STATE_DELETED : RECMETA_STATE_ACTIVE, 1, 1};
        uint8_t key[RECMETA_KEY_MAX], val[RECMETA_HEADER + 256], hb[RECMETA_HEAD_SIZE], *env = NULL;
        size_t klen, env_len = 0;

        strcpy(n.collection, "c");
        strcpy(n.id, id);
        recmeta_version_encode(&m, val);
        if (!tomb) {
                struct envelope_meta em = {val, RECMETA_HEADER};
                assert_int_equal(envelope_seal(f->kp, &(struct body_binding){"c", id, version}, &em,
                                               (const uint8_t *)"body", 4, &env, &env_len),
                                 0);
                memcpy(val + RECMETA_HEADER, env, env_len);
                free(env);
        }
        klen = recmeta_key_build(&n, true, key);
        assert_int_equal(store_put(txn, v->store->versions, key, klen, val, RECMETA_HEADER + env_len, 0), 0);
        recmeta_head_encode(&h, hb);
        klen = recmeta_key_build(&n, false, key);
        assert_int_equal(store_put(txn, v->store->heads, key, klen, hb, sizeof(hb), 0), 0);
}

/* Removes a test store's directory. */
static void store_dir_remove(const char *dir)
{
        for (const char *const *name = (const char *const[]){"data.mdb", "lock.mdb", NULL}; *name; name++) {
                char path[PATH_MAX + 32];
                snprintf(path, sizeof(path), "%s/%s", dir, *name);
                unlink(path);
        }
        assert_int_equal(rmdir(dir), 0);
}

/* Starts a batch test: a new store in dir (f's directory/store, PATH_MAX
 * + 8 bytes) for v, and a write transaction on it. */
static MDB_txn *batch_store(struct fixture *f, char *dir, struct vault *v)
{
        MDB_txn *txn;

        snprintf(dir, PATH_MAX + 8, "%s/store", f->dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(store_open(dir, true, &v->store), 0);
        assert_int_equal(store_begin(v->store, true, &txn), 0);
        return txn;
}

/* Ends a batch test: its transaction aborted, the store closed, the jobs
 * freed, the store's directory removed. */
static void batch_done(MDB_txn *txn, struct vault_store *store, struct job *batch, const char *dir)
{
        mdb_txn_abort(txn);
        store_free(store);
        while (batch) {
                struct job *next = batch->next;
                json_decref(batch->call.root);
                free(batch);
                batch = next;
        }
        store_dir_remove(dir);
}

static struct job *batch_job(struct job **tail, const char *method, const char *params)
{
        struct job *j = calloc(1, sizeof(*j));

        assert_non_null(j);
        assert_int_equal(method_find(method, &j->method), 0);
        j->call.root = json_loads(params, 0, NULL);
        assert_non_null(j->call.root);
        j->call.parameters = j->call.root;
        *tail = j;
        return j;
}

/* The writer's pre-pass predicts each Put's version (after the batch's
 * earlier writes of the same record) and finds each Get's stored key;
 * what a job will fail at, or cannot know before it runs, is left out. */
static void test_batch_prefetch_predicts_bindings(void **state)
{
        struct fixture *f = *state;
        char dir[PATH_MAX + 8];
        struct vault v = {.keeper = f->kp};
        struct job *batch = NULL, **tail = &batch;
        uint8_t w[KEYS_WRAPPED], dek[KEYS_KEY_SIZE];
        uint32_t kv;
        MDB_txn *txn;

        txn = batch_store(f, dir, &v);
        store_version(f, &v, txn, "r1", 1, false);
        store_version(f, &v, txn, "r2", 5, false);
        store_version(f, &v, txn, "r3", 2, true);
        /* Put new (1), Put it again (2), Put r2 (6), Put r2 if_version 5
         * (conflicts after the last: left out), Delete r2 (7), Put r2 (8),
         * Get r1 (stored 1), Get r2 (written first: left out), Get r2
         * version 5 (stored), Get r3 (a tombstone), Put r3 (3), a denied
         * Put, a Put without data, a Get of no record. */
        tail = &batch_job(tail, "io.vaultd.records.Put",
                          "{\"collection\":\"c\",\"id\":\"new\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Put",
                          "{\"collection\":\"c\",\"id\":\"new\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Put",
                          "{\"collection\":\"c\",\"id\":\"r2\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Put",
                          "{\"collection\":\"c\",\"id\":\"r2\",\"data\":\"\",\"if_version\":5}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Delete", "{\"collection\":\"c\",\"id\":\"r2\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Put",
                          "{\"collection\":\"c\",\"id\":\"r2\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Get", "{\"collection\":\"c\",\"id\":\"r1\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Get", "{\"collection\":\"c\",\"id\":\"r2\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Get",
                          "{\"collection\":\"c\",\"id\":\"r2\",\"version\":5}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Get", "{\"collection\":\"c\",\"id\":\"r3\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Put",
                          "{\"collection\":\"c\",\"id\":\"r3\",\"data\":\"\"}")
                        ->next;
        struct job *denied = batch_job(tail, "io.vaultd.records.Put",
                                       "{\"collection\":\"c\",\"id\":\"d\",\"data\":\"\"}");
        denied->denied = true;
        tail = &denied->next;
        tail = &batch_job(tail, "io.vaultd.records.Put", "{\"collection\":\"c\",\"id\":\"nodata\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Get", "{\"collection\":\"c\",\"id\":\"none\"}")->next;
        recprefetch_batch(&v, txn, batch);
        assert_int_equal(keeper_dek_kept(f->kp), 7);
        /* Exactly those: taken without the keeper. */
        kill(keeper_pid(f->kp), SIGKILL);
        static const struct body_binding news[] = {
                {"c", "new", 1}, {"c", "new", 2}, {"c", "r2", 6}, {"c", "r2", 8}, {"c", "r3", 3}};
        for (size_t i = 0; i < sizeof(news) / sizeof(news[0]); i++)
                assert_int_equal(keeper_dek_new(f->kp, &news[i], &kv, w, dek), 0);
        static const struct {
                const char *id;
                uint64_t version;
        } gets[] = {{"r1", 1}, {"r2", 5}};
        for (size_t i = 0; i < 2; i++) {
                struct record_name n = {.version = gets[i].version};
                uint8_t key[RECMETA_KEY_MAX];
                const uint8_t *wrapped;
                MDB_val val;
                size_t hlen;
                struct version_meta m;

                strcpy(n.collection, "c");
                strcpy(n.id, gets[i].id);
                assert_int_equal(
                        store_get(txn, v.store->versions, key, recmeta_key_build(&n, true, key), &val), 0);
                assert_int_equal(recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen), 0);
                wrapped = envelope_wrapped_dek((uint8_t *)val.mv_data + hlen, val.mv_size - hlen, &kv);
                assert_non_null(wrapped);
                assert_int_equal(keeper_dek_open(f->kp,
                                                 &(struct body_binding){"c", gets[i].id, gets[i].version},
                                                 kv, wrapped, dek),
                                 0);
        }
        assert_int_equal(keeper_dek_kept(f->kp), 0);
        batch_done(txn, v.store, batch, dir);
}

/* The pseudonym text of id under k, from the keeper. */
static void pseudonym_of(struct fixture *f, const struct keeper_ckey *k, const char *id,
                         char out[PSEUDONYM_TEXT + 1])
{
        uint8_t ps[COLLKEY_PSEUDONYM_SIZE], sealed[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
        size_t len;

        assert_int_equal(keeper_pseudonym(f->kp, k, id, ps, sealed, &len), 0);
        pseudonym_text(ps, out);
}

/* In a collection with private ids, the writer's pre-pass has the keeper
 * map every id of the batch at once (an id given twice once, an id a
 * rerun of the batch left stashed by its real id), and predicts the data
 * keys under the pseudonyms; a collection whose pseudonym key does not
 * exist yet, and a denied call, are left to the jobs. */
static void test_batch_prefetch_maps_private_ids(void **state)
{
        static const char settings[] = "{\"content\":\"bytes\",\"created\":\"2026-01-01T00:00:00.000000Z\","
                                       "\"index\":[],\"private_ids\":true,\"retention\":\"none\","
                                       "\"updated\":\"2026-01-01T00:00:00.000000Z\"}";
        struct fixture *f = *state;
        char dir[PATH_MAX + 8], ps[5][PSEUDONYM_TEXT + 1], params[256];
        struct vault v = {.keeper = f->kp};
        struct job *batch = NULL, **tail = &batch, *rerun, *denied;
        struct psprefetch_name names[10];
        uint8_t wrapped[KEYS_WRAPPED], w[KEYS_WRAPPED], dek[KEYS_KEY_SIZE];
        struct keeper_ckey k;
        uint32_t kv;
        MDB_txn *txn;

        txn = batch_store(f, dir, &v);
        for (const char *const *c = (const char *const[]){"p", "q", NULL}; *c; c++)
                assert_int_equal(
                        store_put(txn, v.store->collections, *c, 1, settings, sizeof(settings) - 1, 0), 0);
        assert_int_equal(ckey_get(&v, txn, "p", CKEY_PSEUDONYM, true, &k, wrapped), 0);
        const char *ids[] = {"x", "y", "z", "v", "d"};
        for (size_t i = 0; i < 5; i++)
                pseudonym_of(f, &k, ids[i], ps[i]);

        tail = &batch_job(tail, "io.vaultd.records.Put", "{\"collection\":\"p\",\"id\":\"x\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Put", "{\"collection\":\"p\",\"id\":\"x\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Get", "{\"collection\":\"p\",\"id\":\"y\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.History", "{\"collection\":\"p\",\"id\":\"z\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Put", "{\"collection\":\"q\",\"id\":\"w\",\"data\":\"\"}")
                        ->next;
        tail = &batch_job(tail, "io.vaultd.records.Put", "{\"collection\":\"c\",\"id\":\"r\",\"data\":\"\"}")
                        ->next;
        /* Run before: its pseudonym in its place, its real id stashed
         * (as vaultd/pseudonym.c keeps it). */
        snprintf(params, sizeof(params), "{\"collection\":\"p\",\"id\":\"%s\",\"data\":\"\"}", ps[3]);
        rerun = batch_job(tail, "io.vaultd.records.Put", params);
        assert_int_equal(json_object_setn_new(rerun->call.parameters, "id\0real", 7, json_string("v")), 0);
        tail = &rerun->next;
        denied = batch_job(tail, "io.vaultd.records.Put",
                           "{\"collection\":\"p\",\"id\":\"d\",\"data\":\"\"}");
        denied->denied = true;
        tail = &denied->next;
        tail = &batch_job(tail, "io.vaultd.records.List", "{\"collection\":\"p\"}")->next;
        tail = &batch_job(tail, "io.vaultd.records.Get", "{\"collection\":\"p\",\"id\":\"\"}")->next;

        psprefetch_batch(&v, txn, batch, names);
        static const struct {
                const char *collection;
                int ps; /* index into ps, or -1: the id itself */
                const char *id;
        } want[10] = {{"p", 0, NULL}, {"p", 0, NULL}, {"p", 1, NULL}, {"p", 2, NULL}, {"", -1, NULL},
                      {"c", -1, "r"}, {"p", 3, NULL}, {"", -1, NULL}, {"", -1, NULL}, {"", -1, NULL}};
        for (size_t i = 0; i < 10; i++) {
                assert_string_equal(names[i].collection, want[i].collection);
                if (want[i].collection[0])
                        assert_string_equal(names[i].id, want[i].ps >= 0 ? ps[want[i].ps] : want[i].id);
        }
        assert_int_equal(keeper_pseudonym_kept(f->kp), 4);

        /* With the data keys: Put p/x twice, c/r, p/v; taken without the
         * keeper, as the pseudonyms are. */
        recprefetch_batch(&v, txn, batch);
        assert_int_equal(keeper_pseudonym_kept(f->kp), 4);
        assert_int_equal(keeper_dek_kept(f->kp), 4);
        kill(keeper_pid(f->kp), SIGKILL);
        for (size_t i = 0; i < 4; i++) {
                char again[PSEUDONYM_TEXT + 1];

                pseudonym_of(f, &k, ids[i], again);
                assert_string_equal(again, ps[i]);
        }
        uint8_t p[COLLKEY_PSEUDONYM_SIZE], sealed[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
        size_t len;
        assert_int_equal(keeper_pseudonym(f->kp, &k, "d", p, sealed, &len), -EPIPE);
        const struct body_binding news[] = {
                {"p", ps[0], 1}, {"p", ps[0], 2}, {"c", "r", 1}, {"p", ps[3], 1}};
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(keeper_dek_new(f->kp, &news[i], &kv, w, dek), 0);
        assert_int_equal(keeper_dek_kept(f->kp), 0);
        batch_done(txn, v.store, batch, dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_signs_only_what_it_recomputed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_rewritten_or_shortened_history, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_floor_is_told_once_and_must_be_signed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_floor_from_before_the_tree, setup, teardown),
                cmocka_unit_test_setup_teardown(test_data_keys_bound_to_their_record, setup, teardown),
                cmocka_unit_test_setup_teardown(test_collection_keys_never_leave, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pseudonyms_and_sealed_ids, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopened_keeper_refuses_tricks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signing_key_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unseal_backs_off_in_the_keeper, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keeper_gone_is_epipe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dek_many_items_and_malformed_requests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pseudonyms_many_raw, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pseudonym_prefetch_keeps_exact_requests, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_dek_prefetch_keeps_keys_for_their_binding, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_batch_prefetch_predicts_bindings, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_prefetch_maps_private_ids, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
