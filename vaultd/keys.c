#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "util.h"

#define KEY_SIZE              32
#define KEY_FILE_MAGIC        "vaultd-root-key 1 plain\n"
#define KEY_FILE_MAGIC_SEALED "vaultd-root-key 1 sealed\n"
#define KEY_FILE_MAX          KEYS_FILE_MAX

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG   crypto_aead_xchacha20poly1305_ietf_ABYTES

struct vault_keys {
        uint8_t *root;              /* sodium_malloc, KEY_SIZE */
        uint8_t *kek[KEYS_MAX_KEK]; /* index = version; NULL when absent */
        uint32_t kek_current;
        uint8_t *sign_sk;           /* sodium_malloc, crypto_sign_SECRETKEYBYTES */
        bool idle;                  /* key pages are inaccessible between uses */
        struct sealed_root *sealed; /* the key file's sealed root key, or NULL (plain) */
        bool locked;                /* sealed and not opened by its passphrase (yet, or again) */
        uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
        uint8_t *next_sk; /* the signing key being rotated to, or NULL */
        uint8_t next_pk[crypto_sign_PUBLICKEYBYTES];
        /* keys_kek_hold: KEK pages opened since stay open (held[version])
         * until keys_kek_release. */
        bool hold;
        bool held[KEYS_MAX_KEK];
};

/* Between uses (once keys_seal_idle ran) key pages are not even readable:
 * a stray read (a bug, an exploit's info leak) faults instead. These open
 * one for a use and close it again. */
static void key_open(const struct vault_keys *k, void *p, bool write)
{
        if (k->idle && p)
                (void)(write ? sodium_mprotect_readwrite(p) : sodium_mprotect_readonly(p));
}

static void key_close(const struct vault_keys *k, void *p)
{
        if (k->idle && p)
                sodium_mprotect_noaccess(p);
}

/* A KEK page, for one data key's use: kept open while held. */
static void kek_open(struct vault_keys *k, uint32_t version)
{
        if (k->hold && k->held[version])
                return;
        key_open(k, k->kek[version], false);
        k->held[version] = k->hold;
}

static void kek_close(struct vault_keys *k, uint32_t version)
{
        if (!k->hold)
                key_close(k, k->kek[version]);
}

void keys_kek_hold(struct vault_keys *k)
{
        k->hold = true;
}

void keys_kek_release(struct vault_keys *k)
{
        k->hold = false;
        for (size_t v = 0; v < KEYS_MAX_KEK; v++)
                if (k->held[v]) {
                        key_close(k, k->kek[v]);
                        k->held[v] = false;
                }
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

/* A sealed root key (format "sealed"): Argon2id parameters and salt, then
 * the root key under XChaCha20-Poly1305 with the derived key. */
struct sealed_root {
        unsigned long long opslimit;
        size_t memlimit;
        uint8_t salt[crypto_pwhash_SALTBYTES];
        uint8_t box[NONCE + KEY_SIZE + TAG];
};

#define SEALED_AD "vaultd-root-key sealed"

/* Writes text to a new file at path (O_EXCL, 0600), synced. */
static int write_new_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600), k;

        if (fd < 0)
                return -errno;
        k = write_all(fd, text, strlen(text));
        if (k == 0 && fsync(fd) < 0)
                k = -errno;
        close(fd);
        if (k < 0)
                unlink(path);
        return k;
}

/* The key that seals the root key, from a passphrase. */
static int derive(const struct sealed_root *s, const char *pass, size_t len, uint8_t *key)
{
        if (crypto_pwhash(key, KEY_SIZE, pass, len, s->salt, s->opslimit, s->memlimit,
                          crypto_pwhash_ALG_ARGON2ID13) != 0)
                return -ENOMEM; /* libsodium's only failure: it could not get the memory */
        return 0;
}

/* Seals root under pass into s (fresh salt and nonce). */
static int seal_root(const uint8_t *root, const char *pass, size_t len, struct sealed_root *s)
{
        uint8_t *key = sodium_malloc(KEY_SIZE);
        int r;

        if (!key)
                return -ENOMEM;
        s->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
        s->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
        randombytes_buf(s->salt, sizeof(s->salt));
        r = derive(s, pass, len, key);
        if (r == 0)
                wrap(key, (const uint8_t *)SEALED_AD, strlen(SEALED_AD), root, KEY_SIZE, s->box);
        sodium_free(key);
        return r;
}

/* The text of a sealed key file. */
static void sealed_text(const struct sealed_root *s, char *buf, size_t cap)
{
        char salt[sodium_base64_ENCODED_LEN(sizeof(s->salt), sodium_base64_VARIANT_ORIGINAL)];
        char box[sodium_base64_ENCODED_LEN(sizeof(s->box), sodium_base64_VARIANT_ORIGINAL)];

        sodium_bin2base64(salt, sizeof(salt), s->salt, sizeof(s->salt), sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(box, sizeof(box), s->box, sizeof(s->box), sodium_base64_VARIANT_ORIGINAL);
        snprintf(buf, cap, "%sargon2id13 %llu %zu %s\n%s\n", KEY_FILE_MAGIC_SEALED, s->opslimit, s->memlimit,
                 salt, box);
}

int keys_root_create(const char *path, const char *pass, size_t pass_len)
{
        uint8_t *key = sodium_malloc(KEY_SIZE);
        char b64[sodium_base64_ENCODED_LEN(KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];
        char *buf = sodium_malloc(KEY_FILE_MAX);
        struct sealed_root s;
        int k = 0;

        if (!key || !buf) {
                sodium_free(key);
                sodium_free(buf);
                return -ENOMEM;
        }
        randombytes_buf(key, KEY_SIZE);
        if (pass) {
                k = seal_root(key, pass, pass_len, &s);
                sealed_text(&s, buf, KEY_FILE_MAX);
        } else {
                sodium_bin2base64(b64, sizeof(b64), key, KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
                snprintf(buf, KEY_FILE_MAX, "%s%s\n", KEY_FILE_MAGIC, b64);
                sodium_memzero(b64, sizeof(b64));
        }
        sodium_free(key);
        if (k == 0)
                k = write_new_file(path, buf);
        sodium_free(buf);
        return k;
}

/* Reads a key file (at most KEY_FILE_MAX bytes) into buf, which the caller
 * wipes. -EPERM when group or others may read it. */
static int read_key_text(const char *path, char *buf, size_t *ret_len)
{
        size_t len = 0;
        struct stat st;
        int fd, k = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                k = -EINVAL;
        else if (st.st_mode & 077)
                k = -EPERM;
        while (k == 0) {
                ssize_t n = read(fd, buf + len, KEY_FILE_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        k = -errno;
                if (n <= 0 || (len += (size_t)n) == KEY_FILE_MAX)
                        break;
        }
        close(fd);
        buf[len] = '\0';
        *ret_len = len;
        return k;
}

static int parse_plain(const char *text, size_t len, uint8_t *root)
{
        size_t klen, ml = strlen(KEY_FILE_MAGIC);

        if (sodium_base642bin(root, KEY_SIZE, text + ml, len - ml, "\n", &klen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0 ||
            klen != KEY_SIZE)
                return -EBADMSG;
        return 0;
}

static int parse_sealed(const char *text, struct sealed_root *s)
{
        char salt[64], box[128];
        size_t n1, n2;

        if (sscanf(text + strlen(KEY_FILE_MAGIC_SEALED), "argon2id13 %llu %zu %63s %127s", &s->opslimit,
                   &s->memlimit, salt, box) != 4 ||
            s->opslimit < crypto_pwhash_OPSLIMIT_MIN || s->opslimit > crypto_pwhash_OPSLIMIT_SENSITIVE ||
            s->memlimit < crypto_pwhash_MEMLIMIT_MIN || s->memlimit > crypto_pwhash_MEMLIMIT_SENSITIVE ||
            sodium_base642bin(s->salt, sizeof(s->salt), salt, strlen(salt), NULL, &n1, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0 ||
            sodium_base642bin(s->box, sizeof(s->box), box, strlen(box), NULL, &n2, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0 ||
            n1 != sizeof(s->salt) || n2 != sizeof(s->box))
                return -EBADMSG;
        return 0;
}

int keys_load(const char *key_file, struct vault_keys **ret)
{
        struct vault_keys *k = calloc(1, sizeof(*k));
        char *text = sodium_malloc(KEY_FILE_MAX + 1);
        size_t len = 0;
        int r = -ENOMEM;

        if (!k || !text || !(k->root = sodium_malloc(KEY_SIZE)))
                goto fail;
        r = read_key_text(key_file, text, &len);
        if (r < 0)
                goto fail;
        if (strncmp(text, KEY_FILE_MAGIC, strlen(KEY_FILE_MAGIC)) == 0)
                r = parse_plain(text, len, k->root);
        else if (strncmp(text, KEY_FILE_MAGIC_SEALED, strlen(KEY_FILE_MAGIC_SEALED)) == 0) {
                k->sealed = calloc(1, sizeof(*k->sealed));
                r = k->sealed ? parse_sealed(text, k->sealed) : -ENOMEM;
                k->locked = true; /* until a passphrase opens it */
        } else
                r = -EBADMSG;
        if (r < 0)
                goto fail;
        sodium_free(text);
        *ret = k;
        return 0;
fail:
        sodium_free(text);
        keys_free(k);
        return r;
}

bool keys_locked(struct vault_keys *k)
{
        return k->locked;
}

int keys_unlock(struct vault_keys *k, const char *pass, size_t len)
{
        uint8_t *key;
        int r;

        if (!k->sealed)
                return -EINVAL; /* a plain key file has no passphrase */
        if (!k->locked)
                return 0;
        key = sodium_malloc(KEY_SIZE);
        if (!key)
                return -ENOMEM;
        r = derive(k->sealed, pass, len, key);
        key_open(k, k->root, true);
        if (r == 0)
                r = unwrap(key, (const uint8_t *)SEALED_AD, strlen(SEALED_AD), k->sealed->box,
                           sizeof(k->sealed->box), k->root);
        key_close(k, k->root);
        sodium_free(key);
        if (r == 0)
                k->locked = false;
        return r == -EBADMSG ? -EKEYREJECTED : r;
}

bool keys_sealable(struct vault_keys *k)
{
        return k->sealed != NULL;
}

void keys_lock(struct vault_keys *k)
{
        key_open(k, k->root, true);
        sodium_memzero(k->root, KEY_SIZE);
        key_close(k, k->root);
        for (size_t i = 0; i < KEYS_MAX_KEK; i++) {
                sodium_free(k->kek[i]); /* wipes */
                k->kek[i] = NULL;
        }
        k->kek_current = 0;
        sodium_free(k->sign_sk);
        k->sign_sk = NULL;
        sodium_free(k->next_sk);
        k->next_sk = NULL;
        k->locked = k->sealed != NULL;
}

void keys_free(struct vault_keys *k)
{
        if (!k)
                return;
        sodium_free(k->root);
        for (size_t i = 0; i < KEYS_MAX_KEK; i++)
                sodium_free(k->kek[i]);
        sodium_free(k->sign_sk);
        sodium_free(k->next_sk);
        free(k->sealed);
        free(k);
}

/* Associated data for a wrapped KEK: its purpose and version. */
static size_t kek_ad(uint32_t version, uint8_t ad[16])
{
        memcpy(ad, "vaultd-kek\0", 11);
        be32_put(ad + 11, version);
        return 15;
}

#define SIGN_AD "vaultd-audit-signing-key"

int keys_create(struct vault_keys *k, struct keys_material *ret)
{
        uint8_t ad[16];
        int r;

        if ((r = keys_add_kek(k, 1, NULL)) < 0)
                return r;
        if (!k->sign_sk && !(k->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
                return -ENOMEM;
        key_open(k, k->root, false);
        key_open(k, k->kek[1], false);
        key_open(k, k->sign_sk, true);
        wrap(k->root, ad, kek_ad(1, ad), k->kek[1], KEY_SIZE, ret->kek_wrapped);
        k->kek_current = 1;
        crypto_sign_keypair(k->sign_pk, k->sign_sk);
        wrap(k->root, (const uint8_t *)SIGN_AD, strlen(SIGN_AD), k->sign_sk, crypto_sign_SECRETKEYBYTES,
             ret->sign_wrapped);
        key_close(k, k->sign_sk);
        key_close(k, k->kek[1]);
        key_close(k, k->root);
        memcpy(ret->pk, k->sign_pk, sizeof(ret->pk));
        return 0;
}

int keys_add_kek(struct vault_keys *k, uint32_t version, const uint8_t wrapped[KEYS_WRAPPED])
{
        uint8_t ad[16];

        int r = 0;

        if (version == 0 || version >= KEYS_MAX_KEK)
                return -EINVAL;
        if (!k->kek[version] && !(k->kek[version] = sodium_malloc(KEY_SIZE)))
                return -ENOMEM;
        key_open(k, k->kek[version], true);
        if (!wrapped)
                randombytes_buf(k->kek[version], KEY_SIZE);
        else {
                key_open(k, k->root, false);
                r = unwrap(k->root, ad, kek_ad(version, ad), wrapped, KEYS_WRAPPED, k->kek[version]);
                key_close(k, k->root);
        }
        key_close(k, k->kek[version]);
        return r;
}

int keys_set_current(struct vault_keys *k, uint32_t version)
{
        if (version == 0 || version >= KEYS_MAX_KEK || !k->kek[version])
                return -ENOKEY;
        k->kek_current = version;
        return 0;
}

/* Unwraps a signing key into *sk (allocated on first use) and its public
 * half into pk. */
static int open_signer(struct vault_keys *k, uint8_t **sk, uint8_t pk[32],
                       const uint8_t wrapped[KEYS_SIGN_WRAPPED])
{
        int r;

        if (!*sk && !(*sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
                return -ENOMEM;
        key_open(k, k->root, false);
        key_open(k, *sk, true);
        r = unwrap(k->root, (const uint8_t *)SIGN_AD, strlen(SIGN_AD), wrapped, KEYS_SIGN_WRAPPED, *sk);
        if (r == 0)
                crypto_sign_ed25519_sk_to_pk(pk, *sk);
        key_close(k, *sk);
        key_close(k, k->root);
        return r;
}

int keys_open_signer(struct vault_keys *k, const uint8_t wrapped[KEYS_SIGN_WRAPPED])
{
        return open_signer(k, &k->sign_sk, k->sign_pk, wrapped);
}

/* Associated data of a next signing key: its purpose and the public key
 * of the signing key it follows. Such a blob opens only as the next key
 * of that very key: not as a signing key, and not after another one (a
 * retired key cannot be handed the role back). */
#define NEXT_AD "vaultd-audit-signing-key-next"

static size_t next_ad(const struct vault_keys *k, uint8_t ad[64])
{
        memcpy(ad, NEXT_AD, strlen(NEXT_AD));
        memcpy(ad + strlen(NEXT_AD), k->sign_pk, 32);
        return strlen(NEXT_AD) + 32;
}

int keys_next_open(struct vault_keys *k, const uint8_t wrapped[KEYS_SIGN_WRAPPED])
{
        uint8_t ad[64];
        size_t adlen = next_ad(k, ad);
        int r;

        if (!k->next_sk && !(k->next_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
                return -ENOMEM;
        key_open(k, k->root, false);
        key_open(k, k->next_sk, true);
        r = unwrap(k->root, ad, adlen, wrapped, KEYS_SIGN_WRAPPED, k->next_sk);
        if (r == 0)
                crypto_sign_ed25519_sk_to_pk(k->next_pk, k->next_sk);
        key_close(k, k->next_sk);
        key_close(k, k->root);
        if (r < 0) {
                sodium_free(k->next_sk);
                k->next_sk = NULL;
        }
        return r;
}

int keys_next_new(struct vault_keys *k, uint8_t ret_wrapped[KEYS_SIGN_WRAPPED], uint8_t ret_pk[32])
{
        uint8_t ad[64];
        size_t adlen = next_ad(k, ad);

        if (!k->next_sk && !(k->next_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
                return -ENOMEM;
        key_open(k, k->root, false);
        key_open(k, k->next_sk, true);
        crypto_sign_keypair(k->next_pk, k->next_sk);
        wrap(k->root, ad, adlen, k->next_sk, crypto_sign_SECRETKEYBYTES, ret_wrapped);
        key_close(k, k->next_sk);
        key_close(k, k->root);
        memcpy(ret_pk, k->next_pk, 32);
        return 0;
}

int keys_next_wrap_as_signer(struct vault_keys *k, uint8_t ret_wrapped[KEYS_SIGN_WRAPPED])
{
        if (!k->next_sk)
                return -ENOKEY;
        key_open(k, k->root, false);
        key_open(k, k->next_sk, false);
        wrap(k->root, (const uint8_t *)SIGN_AD, strlen(SIGN_AD), k->next_sk, crypto_sign_SECRETKEYBYTES,
             ret_wrapped);
        key_close(k, k->next_sk);
        key_close(k, k->root);
        return 0;
}

bool keys_next_public(struct vault_keys *k, uint8_t pk[32])
{
        if (!k->next_sk)
                return false;
        memcpy(pk, k->next_pk, 32);
        return true;
}

void keys_sign_next(struct vault_keys *k, const void *msg, size_t len, uint8_t sig[64])
{
        key_open(k, k->next_sk, false);
        crypto_sign_detached(sig, NULL, msg, len, k->next_sk);
        key_close(k, k->next_sk);
}

int keys_next_switch(struct vault_keys *k)
{
        if (!k->next_sk)
                return -ENOKEY;
        sodium_free(k->sign_sk); /* wipes */
        k->sign_sk = k->next_sk;
        k->next_sk = NULL;
        memcpy(k->sign_pk, k->next_pk, 32);
        return 0;
}

uint32_t keys_kek_current(struct vault_keys *k)
{
        return k->kek_current;
}

uint32_t keys_kek_highest(struct vault_keys *k)
{
        for (uint32_t v = KEYS_MAX_KEK - 1; v > 0; v--)
                if (k->kek[v])
                        return v;
        return 0;
}

int keys_wrap_kek(struct vault_keys *k, uint32_t version, uint8_t wrapped[KEYS_WRAPPED])
{
        uint8_t ad[16];

        if (version == 0 || version >= KEYS_MAX_KEK || !k->kek[version])
                return -ENOKEY;
        key_open(k, k->root, false);
        key_open(k, k->kek[version], false);
        wrap(k->root, ad, kek_ad(version, ad), k->kek[version], KEY_SIZE, wrapped);
        key_close(k, k->kek[version]);
        key_close(k, k->root);
        return 0;
}

int keys_drop_kek(struct vault_keys *k, uint32_t version)
{
        if (version == 0 || version >= KEYS_MAX_KEK || !k->kek[version])
                return -ENOKEY;
        if (version == k->kek_current)
                return -EBUSY;
        sodium_free(k->kek[version]); /* wipes */
        k->kek[version] = NULL;
        return 0;
}

int keys_binding_ad(const char *purpose, const struct body_binding *b, uint32_t kek_version, uint8_t *ad,
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

int keys_dek_new(struct vault_keys *k, const struct body_binding *b, uint32_t *ret_kek_version,
                 uint8_t wrapped[KEYS_WRAPPED], uint8_t dek[KEYS_KEY_SIZE])
{
        crypto_aead_xchacha20poly1305_ietf_keygen(dek);
        return keys_rewrap_dek(k, b, dek, ret_kek_version, wrapped);
}

int keys_rewrap_dek(struct vault_keys *k, const struct body_binding *b, const uint8_t dek[KEYS_KEY_SIZE],
                    uint32_t *ret_kek_version, uint8_t wrapped[KEYS_WRAPPED])
{
        uint8_t ad[KEYS_AD_MAX];
        size_t adlen;
        uint32_t kv = k->kek_current;
        int r;

        if (!kv)
                return -ENOKEY;
        r = keys_binding_ad("vaultd-dek", b, kv, ad, sizeof(ad), &adlen);
        if (r < 0)
                return r;
        kek_open(k, kv);
        wrap(k->kek[kv], ad, adlen, dek, KEY_SIZE, wrapped);
        kek_close(k, kv);
        *ret_kek_version = kv;
        return 0;
}

int keys_dek_open(struct vault_keys *k, const struct body_binding *b, uint32_t kek_version,
                  const uint8_t wrapped[KEYS_WRAPPED], uint8_t dek[KEYS_KEY_SIZE])
{
        uint8_t ad[KEYS_AD_MAX];
        size_t adlen;
        int r;

        /* No genuine envelope names a KEK newer than the current one. */
        if (kek_version == 0 || kek_version >= KEYS_MAX_KEK || kek_version > k->kek_current)
                return -EBADMSG;
        if (!k->kek[kek_version])
                return -ENOKEY;
        r = keys_binding_ad("vaultd-dek", b, kek_version, ad, sizeof(ad), &adlen);
        if (r < 0)
                return r;
        kek_open(k, kek_version);
        r = unwrap(k->kek[kek_version], ad, adlen, wrapped, KEYS_WRAPPED, dek);
        kek_close(k, kek_version);
        return r;
}

void keys_sign(struct vault_keys *k, const void *msg, size_t len, uint8_t sig[64])
{
        key_open(k, k->sign_sk, false);
        crypto_sign_detached(sig, NULL, msg, len, k->sign_sk);
        key_close(k, k->sign_sk);
}

void keys_seal_idle(struct vault_keys *k)
{
        k->idle = true;
        key_close(k, k->root);
        key_close(k, k->sign_sk);
        key_close(k, k->next_sk);
        for (size_t i = 0; i < KEYS_MAX_KEK; i++)
                key_close(k, k->kek[i]);
}

bool keys_memory_locked(struct vault_keys *k)
{
        /* sodium_malloc tries mlock silently; ask again to learn the answer. */
        return sodium_mlock(k->root, KEY_SIZE) == 0;
}

void keys_public(struct vault_keys *k, uint8_t pk[32])
{
        memcpy(pk, k->sign_pk, 32);
}

int keys_wrap_under(struct vault_keys *k, struct vault_keys *to, uint32_t *ret_versions,
                    uint8_t (*ret_keks)[KEYS_WRAPPED], size_t *ret_n, uint8_t ret_sign[KEYS_SIGN_WRAPPED],
                    uint8_t ret_next[KEYS_SIGN_WRAPPED])
{
        uint8_t ad[16];
        size_t n = 0;

        if (k->locked || to->locked || !k->sign_sk)
                return -EKEYREVOKED;
        key_open(to, to->root, false);
        for (uint32_t v = 1; v < KEYS_MAX_KEK; v++) {
                if (!k->kek[v])
                        continue;
                key_open(k, k->kek[v], false);
                wrap(to->root, ad, kek_ad(v, ad), k->kek[v], KEY_SIZE, ret_keks[n]);
                key_close(k, k->kek[v]);
                ret_versions[n++] = v;
        }
        key_open(k, k->sign_sk, false);
        wrap(to->root, (const uint8_t *)SIGN_AD, strlen(SIGN_AD), k->sign_sk, crypto_sign_SECRETKEYBYTES,
             ret_sign);
        key_close(k, k->sign_sk);
        if (k->next_sk) {
                uint8_t nad[64];
                size_t nadlen = next_ad(k, nad);

                key_open(k, k->next_sk, false);
                wrap(to->root, nad, nadlen, k->next_sk, crypto_sign_SECRETKEYBYTES, ret_next);
                key_close(k, k->next_sk);
        }
        key_close(to, to->root);
        *ret_n = n;
        return 0;
}
