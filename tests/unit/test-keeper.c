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
#include <unistd.h>

#include <sodium.h>

#include "auditfmt.h"
#include "keeper.h"
#include "keys.h"
#include "util.h"

#define ORIGIN "vaultd/test"
#define LINES  12

struct fixture {
        char dir[PATH_MAX], key_path[PATH_MAX + 16];
        struct keeper *kp;
        char *lines[LINES];
        size_t lens[LINES];
        uint8_t hash[LINES][AUDIT_HASH_SIZE]; /* hash of line i */
        int64_t t[LINES + 4];                 /* signed time of the checkpoint at each size */
};

/* A valid chain of LINES audit lines; alt changes line 5's content. */
static void make_chain(struct fixture *f, bool alt)
{
        uint8_t prev[AUDIT_HASH_SIZE] = {0};

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
        }
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct keys_material m;

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-keeper-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->key_path, sizeof(f->key_path), "%s/root.key", f->dir);
        if (keys_root_create(f->key_path, NULL, 0) < 0 ||
            keeper_start(f->key_path, getuid(), getgid(), true, &f->kp) < 0 ||
            keeper_create(f->kp, ORIGIN, &m) < 0)
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

/* Checks sig is the keeper's signature of the checkpoint at size. */
static void assert_signed(struct fixture *f, uint64_t size, const uint8_t sig[64])
{
        _cleanup_(freep) char *text = NULL;
        uint8_t pk[32];

        struct checkpoint c = {.origin = ORIGIN, .size = size, .time = f->t[size]};

        keeper_public(f->kp, pk);
        memcpy(c.hash, f->hash[size - 1], AUDIT_HASH_SIZE);
        assert_true(c.time > 1700000000); /* the keeper's clock, now */
        assert_int_equal(checkpoint_text(&c, &text), 0);
        assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)text, strlen(text), pk), 0);
}

static void test_signs_only_what_it_recomputed(void **state)
{
        struct fixture *f = *state;
        uint8_t zero[AUDIT_HASH_SIZE] = {0}, sig[64];

        assert_int_equal(keeper_chain(f->kp, 0, zero, NULL, 0), 0);
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 4, &f->t[0 + 4], sig, NULL, NULL), 0);
        assert_signed(f, 4, sig);
        /* Extending works, in several chunks too. */
        assert_int_equal(keeper_sign(f->kp, 4, at(f, 4), f->lens + 4, 4, &f->t[4 + 4], sig, NULL, NULL), 0);
        assert_signed(f, 8, sig);
}

static void test_refuses_rewritten_or_shortened_history(void **state)
{
        struct fixture *f = *state;
        uint8_t zero[AUDIT_HASH_SIZE] = {0}, sig[64];

        assert_int_equal(keeper_chain(f->kp, 0, zero, NULL, 0), 0);
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 8, &f->t[0 + 8], sig, NULL, NULL), 0);
        /* The floor is now 8: a signature at or below it could only be for
         * another history. */
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 8, &f->t[0 + 8], sig, NULL, NULL),
                         -ERANGE);
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 6, &f->t[0 + 6], sig, NULL, NULL),
                         -ERANGE);
        /* A rewritten line 5 with a correctly recomputed chain after it. */
        make_chain(f, true);
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 10, &f->t[0 + 10], sig, NULL, NULL),
                         -ERANGE);
        assert_int_equal(keeper_sign(f->kp, 8, at(f, 8), f->lens + 8, 2, &f->t[8 + 2], sig, NULL, NULL),
                         -EBADMSG);
        /* Lines that skip one, or claim the wrong seq. */
        make_chain(f, false);
        assert_int_equal(keeper_sign(f->kp, 8, at(f, 9), f->lens + 9, 2, &f->t[8 + 2], sig, NULL, NULL),
                         -EBADMSG);
        /* The genuine extension still signs. */
        assert_int_equal(keeper_sign(f->kp, 8, at(f, 8), f->lens + 8, 4, &f->t[8 + 4], sig, NULL, NULL), 0);
        assert_signed(f, 12, sig);
}

static void test_floor_is_told_once_and_must_be_signed(void **state)
{
        struct fixture *f = *state;
        uint8_t sig[64], forged[64] = {1}, zero[AUDIT_HASH_SIZE] = {0};

        /* A floor with a signature the keeper did not make is refused... */
        assert_int_equal(keeper_chain(f->kp, 8, f->hash[7], forged, f->t[8]), -EBADMSG);
        assert_int_equal(keeper_chain(f->kp, 0, zero, NULL, 0), 0);
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 4, &f->t[0 + 4], sig, NULL, NULL), 0);
        /* ...once set, it cannot be moved back... */
        assert_int_equal(keeper_chain(f->kp, 0, zero, NULL, 0), -EALREADY);
        assert_int_equal(keeper_chain(f->kp, 2, f->hash[1], forged, f->t[2]), -EALREADY);
        /* ...and telling it the floor it has changes nothing. */
        assert_int_equal(keeper_chain(f->kp, 4, f->hash[3], sig, f->t[4]), 0);
        assert_int_equal(keeper_sign(f->kp, 4, at(f, 4), f->lens + 4, 2, &f->t[4 + 2], sig, NULL, NULL), 0);
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

/* What a compromised worker might try on a keeper it opens again: a floor
 * of 0 without the signature creation gives, a KEK that does not unwrap
 * made current, a current KEK moved back, another origin. */
static void test_reopened_keeper_refuses_tricks(void **state)
{
        struct fixture *f = *state;
        struct keys_material m;
        struct keeper *kp;
        struct keeper_kek keks[2];
        uint8_t zero[AUDIT_HASH_SIZE] = {0}, wrapped[KEYS_WRAPPED];

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
        assert_int_equal(keeper_chain(kp, 0, zero, NULL, 0), -EPERM);
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
        memcpy(c.hash, f->hash[size - 1], AUDIT_HASH_SIZE);
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
        uint8_t zero[AUDIT_HASH_SIZE] = {0}, old_pk[32], next_pk[32], pk[32];
        uint8_t next[KEYS_SIGN_WRAPPED], as_signer[KEYS_SIGN_WRAPPED], sig[64], next_sig[64], sig8[64];
        struct keeper *kp;
        int64_t t8;

        keeper_free(f->kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &f->kp), 0);
        assert_int_equal(keeper_create(f->kp, ORIGIN, &m), 0);
        kek.version = 1;
        memcpy(kek.wrapped, m.kek_wrapped, KEYS_WRAPPED);
        memcpy(old_pk, m.pk, 32);
        assert_int_equal(keeper_chain(f->kp, 0, zero, NULL, 0), 0);
        assert_int_equal(keeper_sign(f->kp, 0, at(f, 0), f->lens, 4, &f->t[0 + 4], sig, NULL, NULL), 0);
        assert_int_equal(keeper_sign_switch(f->kp), -EPROTO); /* nothing to switch to */
        assert_int_equal(keeper_sign_new(f->kp, next, next_pk), 0);
        assert_int_equal(keeper_sign_new(f->kp, next, next_pk), 0); /* not in use yet: replaced */
        assert_int_equal(keeper_sign_switch(f->kp), -EPROTO);
        assert_int_equal(keeper_sign_use(f->kp), 0);
        assert_int_equal(keeper_sign_new(f->kp, next, pk), -EBUSY); /* one rotation at a time */
        assert_int_equal(keeper_sign_switch(f->kp), -EPROTO);       /* nothing co-signed yet */
        assert_int_equal(
                keeper_sign(f->kp, 4, at(f, 4), f->lens + 4, 4, &f->t[4 + 4], sig8, next_sig, as_signer), 0);
        assert_signed_by(f, 8, old_pk, next_pk, sig8);
        assert_signed_by(f, 8, next_pk, next_pk, next_sig);
        t8 = f->t[8];

        /* A restart before the hand-over was stored: the old key signs,
         * the stored next one co-signs. */
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, m.sign_wrapped, next, &kek, 1), 0);
        assert_true(keeper_next_public(kp, pk));
        assert_memory_equal(pk, next_pk, 32);
        assert_int_equal(keeper_chain(kp, 4, f->hash[3], sig, f->t[4]), 0);
        assert_int_equal(
                keeper_sign(kp, 4, at(f, 4), f->lens + 4, 4, &f->t[4 + 4], sig, next_sig, as_signer), 0);
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
        assert_int_equal(keeper_chain(kp, 8, f->hash[7], sig8, t8), -EBADMSG);
        keeper_free(kp);
        assert_int_equal(keeper_start(f->key_path, getuid(), getgid(), true, &kp), 0);
        assert_int_equal(keeper_open(kp, ORIGIN, 1, as_signer, NULL, &kek, 1), 0);
        assert_false(keeper_next_public(kp, pk));
        assert_int_equal(keeper_chain(kp, 8, f->hash[7], next_sig, f->t[8]), 0);
        assert_int_equal(keeper_sign(kp, 8, at(f, 8), f->lens + 8, 4, &f->t[8 + 4], sig, NULL, NULL), 0);
        assert_signed_by(f, 12, next_pk, NULL, sig);
        keeper_free(kp);

        /* The running keeper switches once it co-signed, and forgets the old key. */
        assert_int_equal(keeper_sign_switch(f->kp), 0);
        keeper_public(f->kp, pk);
        assert_memory_equal(pk, next_pk, 32);
        assert_false(keeper_next_public(f->kp, pk));
        assert_int_equal(keeper_sign(f->kp, 8, at(f, 8), f->lens + 8, 4, &f->t[8 + 4], sig, NULL, NULL), 0);
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
        assert_int_equal(keeper_chain(f->kp, 0, zero, NULL, 0), -EPIPE);
        assert_int_equal(keeper_dek_open(f->kp, &(struct body_binding){"c", "i", 1}, 1, zero, zero), -EPIPE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_signs_only_what_it_recomputed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_rewritten_or_shortened_history, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_floor_is_told_once_and_must_be_signed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_data_keys_bound_to_their_record, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopened_keeper_refuses_tricks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signing_key_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unseal_backs_off_in_the_keeper, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keeper_gone_is_epipe, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
