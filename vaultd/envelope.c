#include "envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG   crypto_aead_xchacha20poly1305_ietf_ABYTES

/* Format 1 bound the body to the KEK version as well, so its data key
 * could not be re-wrapped alone; format 2 binds only the data key to it
 * (the body stays bound to its record version through the data key);
 * format 3 also binds the body to the version's metadata (its header,
 * which names the audit line that wrote it). */
#define ENV_FORMAT_1 1
#define ENV_FORMAT_2 2
#define ENV_FORMAT   3
#define ENV_HEADER   (1 + 4 + KEYS_WRAPPED + NONCE)

/* The body's associated data for an envelope of format with KEK kv: the
 * binding, then (format 3) the metadata. */
static int body_ad(int format, const struct body_binding *b, const struct envelope_meta *meta, uint32_t kv,
                   uint8_t *ad, size_t *ret_len)
{
        size_t len;
        int r;

        if (format == ENV_FORMAT && (!meta || meta->len > ENVELOPE_META_MAX))
                return -EBADMSG;
        r = keys_binding_ad("vaultd-body", b, format == ENV_FORMAT_1 ? kv : 0, ad,
                            KEYS_AD_MAX - ENVELOPE_META_MAX, &len);
        if (r < 0)
                return r;
        if (format == ENV_FORMAT) {
                memcpy(ad + len, meta->bytes, meta->len);
                len += meta->len;
        }
        *ret_len = len;
        return 0;
}

/* One data key at a time, and the key derived from it for what is kept
 * beside the body, in a guarded page allocated once (a guarded allocation
 * per request costs an mmap, mprotect and munmap each). Only the writer
 * thread seals and opens. */
static uint8_t *dek_scratch(void)
{
        static uint8_t *dek;

        if (!dek)
                dek = sodium_malloc(2 * KEYS_KEY_SIZE);
        return dek;
}

/* The beside key: a subkey of the data key (crypto_kdf), so that a body
 * and what is kept beside it never share a key and nonce space. */
#define BESIDE_KDF_CONTEXT "vdbeside"
#define BESIDE_AD_PURPOSE  "vaultd-beside"
_Static_assert(KEYS_KEY_SIZE == crypto_kdf_KEYBYTES, "a data key is a crypto_kdf master key");
_Static_assert(ENVELOPE_BESIDE_OVERHEAD == NONCE + TAG, "what is sealed beside has a nonce and a tag");

/* Seals (open false) or opens in with len bytes of plain text into out
 * under the beside key of dek, bound to b. -EBADMSG when it does not
 * open. */
static int beside_crypt(bool open, uint8_t *dek, const struct body_binding *b, const uint8_t *in, size_t len,
                        uint8_t *out)
{
        uint8_t ad[KEYS_AD_MAX], *sub = dek + KEYS_KEY_SIZE;
        size_t adlen;
        int r = keys_binding_ad(BESIDE_AD_PURPOSE, b, 0, ad, sizeof(ad), &adlen);

        if (r < 0)
                return r;
        crypto_kdf_derive_from_key(sub, KEYS_KEY_SIZE, 1, BESIDE_KDF_CONTEXT, dek);
        if (open)
                r = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + NONCE, len + TAG, ad,
                                                               adlen, in, sub) == 0
                            ? 0
                            : -EBADMSG;
        else {
                randombytes_buf(out, NONCE);
                crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE, NULL, in, len, ad, adlen, NULL, out,
                                                           sub);
        }
        sodium_memzero(sub, KEYS_KEY_SIZE);
        return r;
}

int envelope_seal(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                  const uint8_t *plain, size_t len, uint8_t **ret, size_t *ret_len)
{
        return envelope_seal_beside(kp, b, meta, plain, len, NULL, 0, NULL, ret, ret_len);
}

int envelope_seal_beside(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                         const uint8_t *plain, size_t len, const uint8_t *beside, size_t beside_len,
                         uint8_t *ret_beside, uint8_t **ret, size_t *ret_len)
{
        int format = meta ? ENV_FORMAT : ENV_FORMAT_2;
        uint8_t ad[KEYS_AD_MAX], *env, *dek = dek_scratch();
        uint32_t kv;
        size_t adlen;
        int r;

        if (!dek)
                return -ENOMEM;
        env = malloc(ENV_HEADER + len + TAG);
        if (!env)
                return -ENOMEM;
        r = keeper_dek_new(kp, b, &kv, env + 5, dek);
        if (r == 0)
                r = body_ad(format, b, meta, kv, ad, &adlen);
        if (r == 0 && beside)
                r = beside_crypt(false, dek, b, beside, beside_len, ret_beside);
        if (r < 0) {
                sodium_memzero(dek, KEYS_KEY_SIZE);
                free(env);
                return r;
        }
        env[0] = (uint8_t)format;
        be32_put(env + 1, kv);
        randombytes_buf(env + 5 + KEYS_WRAPPED, NONCE);
        crypto_aead_xchacha20poly1305_ietf_encrypt(env + ENV_HEADER, NULL, plain, len, ad, adlen, NULL,
                                                   env + 5 + KEYS_WRAPPED, dek);
        sodium_memzero(dek, KEYS_KEY_SIZE);
        *ret = env;
        *ret_len = ENV_HEADER + len + TAG;
        return 0;
}

int envelope_kek(const uint8_t *env, size_t env_len)
{
        uint32_t v;

        if (env_len < ENV_HEADER + TAG || env[0] < ENV_FORMAT_1 || env[0] > ENV_FORMAT)
                return -EBADMSG;
        v = be32_get(env + 1);
        if (v == 0 || v >= KEYS_MAX_KEK)
                return -EBADMSG;
        return (int)v;
}

const uint8_t *envelope_wrapped_dek(const uint8_t *env, size_t env_len, uint32_t *ret_kek)
{
        int kv = envelope_kek(env, env_len);

        if (kv < 0)
                return NULL;
        *ret_kek = (uint32_t)kv;
        return env + 5;
}

bool envelope_binds_meta(const uint8_t *env, size_t env_len)
{
        return envelope_kek(env, env_len) > 0 && env[0] == ENV_FORMAT;
}

int envelope_open(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                  const uint8_t *env, size_t env_len, uint8_t **ret, size_t *ret_len)
{
        uint8_t ad[KEYS_AD_MAX], *dek = dek_scratch(), *plain;
        int kv = envelope_kek(env, env_len), r;
        size_t adlen, len;

        if (kv < 0)
                return kv;
        if (!dek)
                return -ENOMEM;
        if ((r = body_ad(env[0], b, meta, (uint32_t)kv, ad, &adlen)) < 0)
                return r;
        len = env_len - ENV_HEADER - TAG;
        plain = malloc(len ? len : 1);
        if (!plain)
                return -ENOMEM;
        r = keeper_dek_open(kp, b, (uint32_t)kv, env + 5, dek);
        if (r == 0 &&
            crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, env + ENV_HEADER, len + TAG, ad,
                                                       adlen, env + 5 + KEYS_WRAPPED, dek) != 0)
                r = -EBADMSG;
        sodium_memzero(dek, KEYS_KEY_SIZE);
        if (r < 0) {
                envelope_free_plain(plain, len);
                return r;
        }
        *ret = plain;
        *ret_len = len;
        return 0;
}

int envelope_open_beside(struct keeper *kp, const struct body_binding *b, const uint8_t *env, size_t env_len,
                         const uint8_t *sealed, size_t sealed_len, uint8_t *ret_plain)
{
        uint8_t *dek = dek_scratch();
        int kv = envelope_kek(env, env_len), r;

        if (kv < 0)
                return kv;
        if (sealed_len < ENVELOPE_BESIDE_OVERHEAD)
                return -EBADMSG;
        if (!dek)
                return -ENOMEM;
        r = keeper_dek_open(kp, b, (uint32_t)kv, env + 5, dek);
        if (r == 0)
                r = beside_crypt(true, dek, b, sealed, sealed_len - ENVELOPE_BESIDE_OVERHEAD, ret_plain);
        sodium_memzero(dek, KEYS_KEY_SIZE);
        return r;
}

void envelope_free_plain(uint8_t *plain, size_t len)
{
        if (!plain)
                return;
        sodium_memzero(plain, len);
        free(plain);
}

int envelope_rewrap(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                    const uint8_t *env, size_t env_len, uint8_t **ret, size_t *ret_len)
{
        int kv = envelope_kek(env, env_len), r;
        uint8_t *plain, *out;
        uint32_t nkv;
        size_t len;

        if (kv < 0)
                return kv;
        if (env[0] == ENV_FORMAT_1) { /* the body names its KEK: seal it anew */
                r = envelope_open(kp, b, NULL, env, env_len, &plain, &len);
                if (r < 0)
                        return r;
                r = envelope_seal(kp, b, meta, plain, len, ret, ret_len);
                envelope_free_plain(plain, len);
                return r;
        }
        out = malloc(env_len);
        if (!out)
                return -ENOMEM;
        memcpy(out, env, env_len);
        r = keeper_rewrap(kp, b, (uint32_t)kv, env + 5, &nkv, out + 5);
        if (r < 0) {
                free(out);
                return r;
        }
        be32_put(out + 1, nkv);
        *ret = out;
        *ret_len = env_len;
        return 0;
}
