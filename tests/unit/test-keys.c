/* Unit tests for the keys as the worker sees them: record envelopes
 * (vaultd/envelope.c) with data keys from a real keeper process
 * (vaultd/keeper.c), root key files (vaultd/keys.c), and the binding of a
 * vault's wrapped keys (vaultd/keystore.c) to its root key. Each test runs
 * against a fresh vault in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "envelope.h"
#include "keeper.h"
#include "keys.h"
#include "keystore.h"
#include "store.h"
#include "util.h"

struct fixture {
        char dir[PATH_MAX];
        char key_path[PATH_MAX];
        struct vault_store *store;
        struct keeper *keys;
};

static const struct body_binding binding = {.collection = "people", .id = "alice", .version = 3};

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st;
        (void)type;
        (void)ftw;
        return remove(path);
}

static void rm_rf(const char *dir)
{
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_join(char *out, const char *dir, const char *name)
{
        assert_true(snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
}

/* A keeper (unconfined: this test is no daemon) for the root key file. */
static int keeper_for(const char *key_path, struct keeper **ret)
{
        return keeper_start(key_path, getuid(), getgid(), false, ret);
}

/* Makes a vault in dir as vaultd does: root key, store, wrapped keys.
 * Fills *store and *keys as far as it gets; the caller frees them either way. */
static int vault_create(const char *dir, const char *key_path, struct vault_store **store,
                        struct keeper **keys)
{
        MDB_txn *txn;
        int r;

        *store = NULL;
        *keys = NULL;
        if ((r = keys_root_create(key_path, NULL, 0)) < 0 || (r = store_open(dir, true, store)) < 0 ||
            (r = keeper_for(key_path, keys)) < 0 || (r = store_begin(*store, true, &txn)) < 0)
                return r;
        r = keystore_create(*keys, *store, txn, "test");
        if (r == 0)
                r = store_put(txn, (*store)->meta, "audit.origin", 12, "test", 4, 0);
        if (r < 0) {
                mdb_txn_abort(txn);
                return r;
        }
        return store_commit(txn);
}

static int teardown(void **state);

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-keys-XXXXXX");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        if (snprintf(f->key_path, sizeof(f->key_path), "%s/root.key", f->dir) >= (int)sizeof(f->key_path))
                return -1;
        *state = f;
        r = vault_create(f->dir, f->key_path, &f->store, &f->keys);
        if (r < 0) {
                print_error("cannot create a vault in %s: %s\n", f->dir, strerror(-r));
                teardown(state);
                return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        keeper_free(f->keys);
        store_free(f->store);
        rm_rf(f->dir);
        free(f);
        return 0;
}

/* The metadata bodies are sealed with (a version header's worth). */
static const uint8_t meta_bytes[29] = "kind, time, uid, size and seq";
static const struct envelope_meta meta = {meta_bytes, sizeof(meta_bytes)};

static void seal(struct fixture *f, const struct body_binding *b, const uint8_t *plain, size_t len,
                 uint8_t **ret, size_t *ret_len)
{
        assert_int_equal(envelope_seal(f->keys, b, &meta, plain, len, ret, ret_len), 0);
        assert_non_null(*ret);
}

/* Opens env and returns the error, or checks the plaintext and returns 0. */
static int open_meta_and_compare(struct keeper *k, const struct body_binding *b,
                                 const struct envelope_meta *m, const uint8_t *env, size_t env_len,
                                 const uint8_t *want, size_t want_len)
{
        uint8_t *plain = NULL;
        size_t len = 0;
        int r = envelope_open(k, b, m, env, env_len, &plain, &len);

        if (r < 0)
                return r;
        assert_non_null(plain);
        assert_int_equal(len, want_len);
        if (want_len > 0)
                assert_memory_equal(plain, want, want_len);
        envelope_free_plain(plain, len);
        return 0;
}

static int open_and_compare(struct keeper *k, const struct body_binding *b, const uint8_t *env,
                            size_t env_len, const uint8_t *want, size_t want_len)
{
        return open_meta_and_compare(k, b, &meta, env, env_len, want, want_len);
}

static void test_envelope_round_trip(void **state)
{
        static const size_t sizes[] = {0, 1, 1u << 20};
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint8_t *body = malloc(sizes[i] ? sizes[i] : 1), *env;
                size_t env_len;

                assert_non_null(body);
                randombytes_buf(body, sizes[i]);
                seal(f, &binding, body, sizes[i], &env, &env_len);
                assert_true(env_len > sizes[i]);
                /* The ciphertext must not carry the body in the clear. */
                if (sizes[i] >= 16)
                        assert_null(memmem(env, env_len, body, 16));
                assert_int_equal(envelope_kek(env, env_len), 1);
                assert_int_equal(open_and_compare(f->keys, &binding, env, env_len, body, sizes[i]), 0);
                free(env);
                free(body);
        }
}

static void test_envelope_bound_to_record(void **state)
{
        static const struct body_binding others[] = {
                {.collection = "other", .id = "alice", .version = 3},
                {.collection = "people", .id = "bob", .version = 3},
                {.collection = "people", .id = "alice", .version = 4},
                {.collection = "people", .id = "alice", .version = 2},
                /* Same bytes split differently between collection and id. */
                {.collection = "peoplea", .id = "lice", .version = 3},
        };
        static const uint8_t body[] = "a record body";
        struct fixture *f = *state;
        uint8_t *env;
        size_t env_len;

        seal(f, &binding, body, sizeof(body), &env, &env_len);
        assert_int_equal(open_and_compare(f->keys, &binding, env, env_len, body, sizeof(body)), 0);
        for (size_t i = 0; i < ELEMENTSOF(others); i++)
                assert_int_equal(open_and_compare(f->keys, &others[i], env, env_len, body, sizeof(body)),
                                 -EBADMSG);
        free(env);
}

/* Format 3 binds the body to its version's metadata: a changed byte of it,
 * or the envelope passed off as format 2 (which binds none), fails. */
static void test_envelope_bound_to_meta(void **state)
{
        static const uint8_t body[] = "a record body";
        struct fixture *f = *state;
        uint8_t other_bytes[sizeof(meta_bytes)], *env, *old;
        struct envelope_meta other = {other_bytes, sizeof(other_bytes)};
        size_t env_len, old_len;

        seal(f, &binding, body, sizeof(body), &env, &env_len);
        assert_true(envelope_binds_meta(env, env_len));
        for (size_t i = 0; i < sizeof(meta_bytes); i++) {
                memcpy(other_bytes, meta_bytes, sizeof(meta_bytes));
                other_bytes[i] ^= 0x01;
                assert_int_equal(
                        open_meta_and_compare(f->keys, &binding, &other, env, env_len, body, sizeof(body)),
                        -EBADMSG);
        }
        other.len = sizeof(meta_bytes) - 1;
        assert_int_equal(open_meta_and_compare(f->keys, &binding, &other, env, env_len, body, sizeof(body)),
                         -EBADMSG);
        assert_int_equal(open_meta_and_compare(f->keys, &binding, NULL, env, env_len, body, sizeof(body)),
                         -EBADMSG);
        env[0] = 2;
        assert_int_equal(open_and_compare(f->keys, &binding, env, env_len, body, sizeof(body)), -EBADMSG);
        free(env);
        /* Sealed without metadata (format 2, as before it was bound): opens
         * whatever metadata is given, which the trail must vouch for. */
        assert_int_equal(envelope_seal(f->keys, &binding, NULL, body, sizeof(body), &old, &old_len), 0);
        assert_false(envelope_binds_meta(old, old_len));
        assert_int_equal(open_meta_and_compare(f->keys, &binding, &other, old, old_len, body, sizeof(body)),
                         0);
        free(old);
}

static void test_envelope_altered_byte(void **state)
{
        static const uint8_t masks[] = {0x01, 0x80, 0xff};
        static const uint8_t body[] = "sixteen bytes!!";
        struct fixture *f = *state;
        size_t env_len, wrong = 0;
        uint8_t *env;

        seal(f, &binding, body, sizeof(body), &env, &env_len);
        for (size_t off = 0; off < env_len; off++)
                for (size_t m = 0; m < ELEMENTSOF(masks); m++) {
                        int r;

                        env[off] ^= masks[m];
                        r = open_and_compare(f->keys, &binding, env, env_len, body, sizeof(body));
                        env[off] ^= masks[m];
                        if (r != -EBADMSG) {
                                print_error("byte %zu ^ 0x%02x: got %d (%s), want -EBADMSG\n", off, masks[m],
                                            r, strerror(-r));
                                wrong++;
                        }
                }
        /* Unaltered, it still opens: the loop restored every byte. */
        assert_int_equal(open_and_compare(f->keys, &binding, env, env_len, body, sizeof(body)), 0);
        free(env);
        if (wrong > 0)
                fail_msg("%zu altered envelopes were not refused with -EBADMSG", wrong);
}

static void test_envelope_truncated_or_extended(void **state)
{
        static const uint8_t body[] = "a record body";
        struct fixture *f = *state;
        uint8_t *env, *longer;
        size_t env_len;

        seal(f, &binding, body, sizeof(body), &env, &env_len);
        for (size_t len = 0; len < env_len; len++)
                assert_int_equal(open_and_compare(f->keys, &binding, env, len, body, sizeof(body)),
                                 -EBADMSG);
        longer = malloc(env_len + 1);
        assert_non_null(longer);
        memcpy(longer, env, env_len);
        longer[env_len] = 0;
        assert_int_equal(open_and_compare(f->keys, &binding, longer, env_len + 1, body, sizeof(body)),
                         -EBADMSG);
        free(longer);
        free(env);
}

static void test_root_create_exclusive_0600(void **state)
{
        struct fixture *f = *state;
        _cleanup_(freep) char *before = NULL, *after = NULL;
        char path[PATH_MAX];
        mode_t old_mask;
        struct stat st;
        int r;

        /* The fixture's key file exists: creating it again must not touch it. */
        assert_true(read_file_max(f->key_path, 4096, &before, NULL) > 0);
        assert_int_equal(keys_root_create(f->key_path, NULL, 0), -EEXIST);
        assert_true(read_file_max(f->key_path, 4096, &after, NULL) > 0);
        assert_string_equal(before, after);

        /* 0600 comes from the code, not from a restrictive umask. */
        path_join(path, f->dir, "fresh.key");
        old_mask = umask(0);
        r = keys_root_create(path, NULL, 0);
        umask(old_mask);
        assert_int_equal(r, 0);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(keys_root_create(path, NULL, 0), -EEXIST);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, text, strlen(text)), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void test_load_rejects_open_mode(void **state)
{
        struct fixture *f = *state;
        struct vault_keys *k = NULL;
        char path[PATH_MAX];

        path_join(path, f->dir, "shared.key");
        assert_int_equal(keys_root_create(path, NULL, 0), 0);
        assert_int_equal(keys_load(path, &k), 0);
        keys_free(k);
        k = NULL;
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(keys_load(path, &k), -EPERM);
        assert_null(k);
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(keys_load(path, &k), -EPERM);
        assert_null(k);
}

static void test_load_rejects_garbage(void **state)
{
        static const char *const bad[] = {
                "this is not a key file\n",
                "",
                "vaultd-root-key 1 plain\n",
                /* 16 bytes of key instead of 32. */
                "vaultd-root-key 1 plain\nAAAAAAAAAAAAAAAAAAAAAA==\n",
                /* 33 bytes of key. */
                "vaultd-root-key 1 plain\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                "vaultd-root-key 2 plain\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
                "vaultd-root-key 1 plain\n!!!!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        };
        struct fixture *f = *state;
        struct vault_keys *k = NULL;
        char path[PATH_MAX], name[32];

        /* A well-formed file of the same shape loads, so the rejections below
         * are about content. */
        path_join(path, f->dir, "good.key");
        write_file(path, "vaultd-root-key 1 plain\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0600);
        assert_int_equal(keys_load(path, &k), 0);
        keys_free(k);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                k = NULL;
                snprintf(name, sizeof(name), "bad%zu.key", i);
                path_join(path, f->dir, name);
                write_file(path, bad[i], 0600);
                assert_int_equal(keys_load(path, &k), -EBADMSG);
                assert_null(k);
        }
        path_join(path, f->dir, "missing.key");
        assert_int_equal(keys_load(path, &k), -ENOENT);
}

static void test_other_vault_root_key(void **state)
{
        static const uint8_t body[] = "a record body";
        struct fixture *f = *state;
        char other_dir[PATH_MAX], other_key[PATH_MAX];
        struct vault_store *other_store;
        struct keeper *other_keys, *again;
        uint8_t *env;
        size_t env_len;
        MDB_txn *txn;

        seal(f, &binding, body, sizeof(body), &env, &env_len);

        path_join(other_dir, f->dir, "other");
        assert_int_equal(mkdir(other_dir, 0700), 0);
        path_join(other_key, other_dir, "root.key");
        assert_int_equal(vault_create(other_dir, other_key, &other_store, &other_keys), 0);

        /* The other vault's key does not unwrap this vault's keys... */
        assert_int_equal(keeper_for(other_key, &again), 0);
        assert_int_equal(store_begin(f->store, false, &txn), 0);
        assert_int_equal(keystore_open(again, f->store, txn), -EBADMSG);
        mdb_txn_abort(txn);
        keeper_free(again);
        /* ...nor do its own keys open this vault's envelopes. */
        assert_int_equal(open_and_compare(other_keys, &binding, env, env_len, body, sizeof(body)), -EBADMSG);

        /* This vault's own key, loaded afresh, does. */
        assert_int_equal(keeper_for(f->key_path, &again), 0);
        assert_int_equal(store_begin(f->store, false, &txn), 0);
        assert_int_equal(keystore_open(again, f->store, txn), 0);
        mdb_txn_abort(txn);
        assert_int_equal(open_and_compare(again, &binding, env, env_len, body, sizeof(body)), 0);

        keeper_free(again);
        keeper_free(other_keys);
        store_free(other_store);
        free(env);
}

static void test_sealed_key_file(void **state)
{
        struct fixture *f = *state;
        char path[PATH_MAX];
        struct vault_keys *k = NULL;

        path_join(path, f->dir, "sealed.key");
        assert_int_equal(keys_root_create(path, "correct horse", 13), 0);
        assert_int_equal(keys_load(path, &k), 0);
        assert_true(keys_locked(k));
        assert_true(keys_sealable(k));
        assert_int_equal(keys_unlock(k, "wrong horse", 11), -EKEYREJECTED);
        assert_true(keys_locked(k));
        assert_int_equal(keys_unlock(k, "correct horse", 13), 0);
        assert_false(keys_locked(k));
        /* Locked again, nothing but the passphrase opens it. */
        keys_lock(k);
        assert_true(keys_locked(k));
        assert_int_equal(keys_unlock(k, "correct horse", 13), 0);
        keys_free(k);
}

static void test_rotate_rewrap_retire(void **state)
{
        static const uint8_t body[] = "an allowance record";
        struct fixture *f = *state;
        uint8_t wrapped[KEYS_WRAPPED], *old, *moved, *fresh;
        size_t old_len, moved_len, fresh_len;

        seal(f, &binding, body, sizeof(body), &old, &old_len);
        assert_int_equal(envelope_kek(old, old_len), 1);
        /* A KEK can only be added above the others, never replace one. */
        assert_int_equal(keeper_kek_new(f->keys, 1, wrapped), -EEXIST);
        assert_int_equal(keeper_kek_new(f->keys, 2, wrapped), 0);
        /* Until it is used, new data keys stay under version 1. */
        seal(f, &binding, body, sizeof(body), &fresh, &fresh_len);
        assert_int_equal(envelope_kek(fresh, fresh_len), 1);
        free(fresh);
        assert_int_equal(keeper_kek_use(f->keys, 2), 0);
        seal(f, &binding, body, sizeof(body), &fresh, &fresh_len);
        assert_int_equal(envelope_kek(fresh, fresh_len), 2);
        /* Rewrap moves the data key, and leaves the body as it was. */
        assert_int_equal(envelope_rewrap(f->keys, &binding, &meta, old, old_len, &moved, &moved_len), 0);
        assert_int_equal(envelope_kek(moved, moved_len), 2);
        assert_int_equal(moved_len, old_len);
        assert_memory_equal(moved + moved_len - sizeof(body) - 16, old + old_len - sizeof(body) - 16,
                            sizeof(body) + 16);
        assert_int_equal(open_and_compare(f->keys, &binding, moved, moved_len, body, sizeof(body)), 0);
        /* The current version cannot be retired; a retired one opens nothing. */
        assert_int_equal(keeper_kek_drop(f->keys, 2), -EBUSY);
        assert_int_equal(keeper_kek_drop(f->keys, 1), 0);
        assert_int_equal(open_and_compare(f->keys, &binding, old, old_len, body, sizeof(body)), -ENOKEY);
        assert_int_equal(open_and_compare(f->keys, &binding, moved, moved_len, body, sizeof(body)), 0);
        free(old);
        free(moved);
        free(fresh);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_envelope_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_envelope_bound_to_record, setup, teardown),
                cmocka_unit_test_setup_teardown(test_envelope_bound_to_meta, setup, teardown),
                cmocka_unit_test_setup_teardown(test_envelope_altered_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_envelope_truncated_or_extended, setup, teardown),
                cmocka_unit_test_setup_teardown(test_root_create_exclusive_0600, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_rejects_open_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_rejects_garbage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_vault_root_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotate_rewrap_retire, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sealed_key_file, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        signal(SIGPIPE, SIG_IGN); /* as vaultd does: a keeper gone is -EPIPE */
        return cmocka_run_group_tests(tests, NULL, NULL);
}
