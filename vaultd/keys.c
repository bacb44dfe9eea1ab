#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "util.h"

#define KEY_SIZE       32
#define KEYS_MAX_KEK   256
#define KEY_FILE_MAGIC "vaultd-root-key 1 plain\n"
#define KEY_FILE_MAX   256

#define NONCE   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG     crypto_aead_xchacha20poly1305_ietf_ABYTES
#define WRAPPED (NONCE + KEY_SIZE + TAG)

/* Envelope: format(1) kek_version(4) nonce wrapped-DEK nonce ciphertext. */
#define ENV_FORMAT 1
#define ENV_HEADER (1 + 4 + WRAPPED + NONCE)

struct vault_keys {
        uint8_t *root;              /* sodium_malloc, KEY_SIZE */
        uint8_t *kek[KEYS_MAX_KEK]; /* index = version; NULL when absent */
        uint32_t kek_current;
        uint8_t *sign_sk; /* sodium_malloc, crypto_sign_SECRETKEYBYTES */
        /* Scratch for one DEK at a time, allocated once: guarded pages cost
         * an mprotect/munmap each, far too slow per request. */
        uint8_t *dek;
        uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
};

int keys_root_create(const char *path)
{
        uint8_t *key = sodium_malloc(KEY_SIZE);
        char b64[sodium_base64_ENCODED_LEN(KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];
        char buf[sizeof(KEY_FILE_MAGIC) + sizeof(b64) + 1];
        int fd, k;

        if (!key)
                return -ENOMEM;
        randombytes_buf(key, KEY_SIZE);
        sodium_bin2base64(b64, sizeof(b64), key, KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
        sodium_free(key);
        snprintf(buf, sizeof(buf), "%s%s\n", KEY_FILE_MAGIC, b64);
        sodium_memzero(b64, sizeof(b64));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                sodium_memzero(buf, sizeof(buf));
                return -errno;
        }
        k = write_all(fd, buf, strlen(buf));
        sodium_memzero(buf, sizeof(buf));
        if (k == 0 && fsync(fd) < 0)
                k = -errno;
        close(fd);
        if (k < 0)
                unlink(path);
        return k;
}

static int read_key_file(const char *path, uint8_t *root)
{
        char *buf = sodium_malloc(KEY_FILE_MAX + 1);
        size_t len = 0, klen;
        struct stat st;
        int fd, k = 0;

        if (!buf)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                k = -errno;
                goto out;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                k = -EINVAL;
                goto out;
        }
        if (st.st_mode & 077) {
                k = -EPERM;
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, buf + len, KEY_FILE_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        k = -errno;
                        goto out;
                }
                if (n == 0 || (len += (size_t)n) == KEY_FILE_MAX)
                        break;
        }
        buf[len] = '\0';
        if (strncmp(buf, KEY_FILE_MAGIC, strlen(KEY_FILE_MAGIC)) != 0 ||
            sodium_base642bin(root, KEY_SIZE, buf + strlen(KEY_FILE_MAGIC), len - strlen(KEY_FILE_MAGIC),
                              "\n", &klen, NULL, sodium_base64_VARIANT_ORIGINAL) < 0 ||
            klen != KEY_SIZE)
                k = -EBADMSG;
out:
        if (fd >= 0)
                close(fd);
        sodium_free(buf);
        return k;
}

int keys_load(const char *key_file, struct vault_keys **ret)
{
        struct vault_keys *k = calloc(1, sizeof(*k));
        int r;

        if (!k)
                return -ENOMEM;
        k->root = sodium_malloc(KEY_SIZE);
        k->dek = sodium_malloc(KEY_SIZE);
        if (!k->root || !k->dek) {
                keys_free(k);
                return -ENOMEM;
        }
        r = read_key_file(key_file, k->root);
        if (r < 0) {
                keys_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

void keys_free(struct vault_keys *k)
{
        if (!k)
                return;
        sodium_free(k->root);
        for (size_t i = 0; i < KEYS_MAX_KEK; i++)
                sodium_free(k->kek[i]);
        sodium_free(k->sign_sk);
        sodium_free(k->dek);
        free(k);
}

/* Wraps a secret under kek; out receives nonce || ciphertext || tag. */
static void wrap(const uint8_t *kek, const uint8_t *ad, size_t adlen, const uint8_t *secret, size_t len,
                 uint8_t *out)
{
        randombytes_buf(out, NONCE);
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE, NULL, secret, len, ad, adlen, NULL, out,
                                                   kek);
}

static int unwrap(const uint8_t *kek, const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
                  uint8_t *secret)
{
        if (inlen < NONCE + TAG)
                return -EBADMSG;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, NULL, NULL, in + NONCE, inlen - NONCE, ad,
                                                       adlen, in, kek) != 0)
                return -EBADMSG;
        return 0;
}

/* Associated data for a wrapped KEK: its purpose and version. */
static size_t kek_ad(uint32_t version, uint8_t ad[16])
{
        memcpy(ad, "vaultd-kek\0", 11);
        be32_put(ad + 11, version);
        return 15;
}

#define SIGN_AD "vaultd-audit-signing-key"

int keys_store_init(struct vault_keys *k, struct vault_store *s, MDB_txn *txn)
{
        uint8_t vkey[4], ad[16], wrapped[NONCE + crypto_sign_SECRETKEYBYTES + TAG];
        uint8_t *kek = sodium_malloc(KEY_SIZE);
        uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
        int r = -ENOMEM;

        if (!kek || !sk)
                goto out;
        randombytes_buf(kek, KEY_SIZE);
        be32_put(vkey, 1);
        wrap(k->root, ad, kek_ad(1, ad), kek, KEY_SIZE, wrapped);
        r = store_put(txn, s->keys, vkey, 4, wrapped, WRAPPED, MDB_NOOVERWRITE);
        if (r < 0)
                goto out;
        r = store_meta_put_u64(txn, s, "kek.current", 1);
        if (r < 0)
                goto out;
        crypto_sign_keypair(k->sign_pk, sk);
        wrap(k->root, (const uint8_t *)SIGN_AD, strlen(SIGN_AD), sk, crypto_sign_SECRETKEYBYTES, wrapped);
        r = store_put(txn, s->meta, "sign.key", 8, wrapped, sizeof(wrapped), MDB_NOOVERWRITE);
        if (r < 0)
                goto out;
        r = store_put(txn, s->meta, "sign.pub", 8, k->sign_pk, sizeof(k->sign_pk), MDB_NOOVERWRITE);
        if (r < 0)
                goto out;
        r = keys_store_open(k, s, txn);
out:
        sodium_free(kek);
        sodium_free(sk);
        return r;
}

static int load_keks(struct vault_keys *k, struct vault_store *s, MDB_txn *txn)
{
        MDB_cursor *cur;
        MDB_val key, val;
        uint8_t ad[16];
        int rc, r = 0;

        rc = mdb_cursor_open(txn, s->keys, &cur);
        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                uint32_t v;

                if (key.mv_size != 4 || val.mv_size != WRAPPED)
                        continue;
                v = be32_get(key.mv_data);
                if (v == 0 || v >= KEYS_MAX_KEK) {
                        r = -EIO;
                        break;
                }
                if (!k->kek[v] && !(k->kek[v] = sodium_malloc(KEY_SIZE))) {
                        r = -ENOMEM;
                        break;
                }
                r = unwrap(k->root, ad, kek_ad(v, ad), val.mv_data, val.mv_size, k->kek[v]);
                if (r < 0)
                        break;
        }
        mdb_cursor_close(cur);
        if (r == 0 && rc != MDB_NOTFOUND)
                r = store_errno(rc);
        return r;
}

int keys_store_open(struct vault_keys *k, struct vault_store *s, MDB_txn *txn)
{
        uint64_t current;
        MDB_val v;
        int r;

        r = load_keks(k, s, txn);
        if (r < 0)
                return r;
        r = store_meta_get_u64(txn, s, "kek.current", &current);
        if (r < 0)
                return r;
        if (current == 0 || current >= KEYS_MAX_KEK || !k->kek[current])
                return -EIO;
        k->kek_current = (uint32_t)current;
        if (!k->sign_sk && !(k->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
                return -ENOMEM;
        r = store_get(txn, s->meta, "sign.key", 8, &v);
        if (r < 0)
                return r;
        r = unwrap(k->root, (const uint8_t *)SIGN_AD, strlen(SIGN_AD), v.mv_data, v.mv_size, k->sign_sk);
        if (r < 0)
                return r;
        crypto_sign_ed25519_sk_to_pk(k->sign_pk, k->sign_sk);
        return 0;
}

/* Associated data binding a body or its DEK to one record version. */
static int body_ad(const char *purpose, const struct body_binding *b, uint32_t kek_version, uint8_t *ad,
                   size_t cap, size_t *ret_len)
{
        size_t pl = strlen(purpose) + 1, cl = strlen(b->collection) + 1, il = strlen(b->id) + 1;

        if (pl + cl + il + 12 > cap)
                return -EINVAL;
        memcpy(ad, purpose, pl);
        memcpy(ad + pl, b->collection, cl);
        memcpy(ad + pl + cl, b->id, il);
        be64_put(ad + pl + cl + il, b->version);
        be32_put(ad + pl + cl + il + 8, kek_version);
        *ret_len = pl + cl + il + 12;
        return 0;
}

#define AD_MAX 256

int keys_seal_body(struct vault_keys *k, const struct body_binding *b, const uint8_t *plain, size_t len,
                   uint8_t **ret, size_t *ret_len)
{
        uint8_t ad[AD_MAX], dad[AD_MAX], *env, *dek = k->dek;
        size_t adlen, dadlen;
        uint32_t kv = k->kek_current;
        int r;

        if ((r = body_ad("vaultd-body", b, kv, ad, sizeof(ad), &adlen)) < 0 ||
            (r = body_ad("vaultd-dek", b, kv, dad, sizeof(dad), &dadlen)) < 0)
                return r;
        env = malloc(ENV_HEADER + len + TAG);
        if (!env)
                return -ENOMEM;
        crypto_aead_xchacha20poly1305_ietf_keygen(dek);
        env[0] = ENV_FORMAT;
        be32_put(env + 1, kv);
        wrap(k->kek[kv], dad, dadlen, dek, KEY_SIZE, env + 5);
        randombytes_buf(env + 5 + WRAPPED, NONCE);
        crypto_aead_xchacha20poly1305_ietf_encrypt(env + ENV_HEADER, NULL, plain, len, ad, adlen, NULL,
                                                   env + 5 + WRAPPED, dek);
        sodium_memzero(dek, KEY_SIZE);
        *ret = env;
        *ret_len = ENV_HEADER + len + TAG;
        return 0;
}

int keys_envelope_kek(const uint8_t *env, size_t env_len)
{
        uint32_t v;

        if (env_len < ENV_HEADER + TAG || env[0] != ENV_FORMAT)
                return -EBADMSG;
        v = be32_get(env + 1);
        if (v == 0 || v >= KEYS_MAX_KEK)
                return -EBADMSG;
        return (int)v;
}

int keys_open_body(struct vault_keys *k, const struct body_binding *b, const uint8_t *env, size_t env_len,
                   uint8_t **ret, size_t *ret_len)
{
        uint8_t ad[AD_MAX], dad[AD_MAX], *dek = k->dek, *plain;
        size_t adlen, dadlen, len;
        int kv = keys_envelope_kek(env, env_len), r;

        if (kv < 0)
                return kv;
        /* No genuine envelope names a KEK newer than the current one. */
        if ((uint32_t)kv > k->kek_current)
                return -EBADMSG;
        if (!k->kek[kv])
                return -ENOKEY;
        if ((r = body_ad("vaultd-body", b, (uint32_t)kv, ad, sizeof(ad), &adlen)) < 0 ||
            (r = body_ad("vaultd-dek", b, (uint32_t)kv, dad, sizeof(dad), &dadlen)) < 0)
                return r;
        len = env_len - ENV_HEADER - TAG;
        plain = malloc(len ? len : 1);
        if (!plain)
                return -ENOMEM;
        r = unwrap(k->kek[kv], dad, dadlen, env + 5, WRAPPED, dek);
        if (r < 0)
                goto fail;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, env + ENV_HEADER, len + TAG, ad,
                                                       adlen, env + 5 + WRAPPED, dek) != 0) {
                r = -EBADMSG;
                goto fail;
        }
        sodium_memzero(dek, KEY_SIZE);
        *ret = plain;
        *ret_len = len;
        return 0;
fail:
        sodium_memzero(dek, KEY_SIZE);
        keys_free_plain(plain, len);
        return r;
}

void keys_free_plain(uint8_t *plain, size_t len)
{
        if (!plain)
                return;
        sodium_memzero(plain, len);
        free(plain);
}

void keys_sign(struct vault_keys *k, const void *msg, size_t len, uint8_t sig[64])
{
        sodium_mprotect_readonly(k->sign_sk);
        crypto_sign_detached(sig, NULL, msg, len, k->sign_sk);
        sodium_mprotect_noaccess(k->sign_sk);
}

void keys_seal_idle(struct vault_keys *k)
{
        /* Between uses the root and signing keys are not even readable: a
         * stray read (a bug, an exploit's info leak) faults instead. */
        sodium_mprotect_noaccess(k->root);
        if (k->sign_sk)
                sodium_mprotect_noaccess(k->sign_sk);
}

bool keys_memory_locked(struct vault_keys *k)
{
        /* sodium_malloc tries mlock silently; ask again to learn the answer. */
        return sodium_mlock(k->dek, KEY_SIZE) == 0;
}

void keys_public(struct vault_keys *k, uint8_t pk[32])
{
        memcpy(pk, k->sign_pk, 32);
}
