#include "collkeys.h"

#include <errno.h>
#include <string.h>

#define INDEX_FIELD_LABEL "vaultd-index-field"
#define PSEUDONYM_LABEL   "vaultd-pseudonym"
#define SEAL_LABEL        "vaultd-id-seal"
#define SEAL_AD_LABEL     "vaultd-id"

/* HMAC-SHA-256(key, label NUL msg). */
static void labelled_mac(const uint8_t *key, size_t keylen, const char *label, const uint8_t *msg,
                         size_t len, uint8_t out[COLLKEY_MAC_SIZE])
{
        crypto_auth_hmacsha256_state st;

        crypto_auth_hmacsha256_init(&st, key, keylen);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label) + 1);
        crypto_auth_hmacsha256_update(&st, msg, len);
        crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof(st));
}

void collkey_index_tag(const uint8_t key[COLLKEY_SIZE], const char *field, const uint8_t *value, size_t len,
                       uint8_t out[COLLKEY_MAC_SIZE])
{
        uint8_t field_key[COLLKEY_MAC_SIZE];

        labelled_mac(key, COLLKEY_SIZE, INDEX_FIELD_LABEL, (const uint8_t *)field, strlen(field), field_key);
        crypto_auth_hmacsha256(out, value, len, field_key);
        sodium_memzero(field_key, sizeof(field_key));
}

void collkey_pseudonym(const uint8_t key[COLLKEY_SIZE], const uint8_t *id, size_t len,
                       uint8_t out[COLLKEY_MAC_SIZE])
{
        labelled_mac(key, COLLKEY_SIZE, PSEUDONYM_LABEL, id, len, out);
}

/* "vaultd-id" NUL collection NUL pseudonym, into ad (cap bytes). */
static size_t seal_ad(const char *collection, const uint8_t *pseudonym, uint8_t *ad, size_t cap)
{
        size_t l = strlen(SEAL_AD_LABEL) + 1, cl = strlen(collection) + 1, pl = COLLKEY_PSEUDONYM_SIZE;

        if (l + cl + pl > cap)
                return 0;
        memcpy(ad, SEAL_AD_LABEL, l);
        memcpy(ad + l, collection, cl);
        memcpy(ad + l + cl, pseudonym, pl);
        return l + cl + pl;
}

#define SEAL_AD_MAX 512

void collkey_seal_id(const uint8_t key[COLLKEY_SIZE], const char *collection,
                     const uint8_t pseudonym[COLLKEY_PSEUDONYM_SIZE], const uint8_t *id, size_t len,
                     uint8_t *out)
{
        uint8_t k[COLLKEY_MAC_SIZE], ad[SEAL_AD_MAX];
        size_t adlen = seal_ad(collection, pseudonym, ad, sizeof(ad));

        labelled_mac(key, COLLKEY_SIZE, SEAL_LABEL, NULL, 0, k);
        randombytes_buf(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL,
                                                   id, len, ad, adlen, NULL, out, k);
        sodium_memzero(k, sizeof(k));
}

int collkey_open_id(const uint8_t key[COLLKEY_SIZE], const char *collection,
                    const uint8_t pseudonym[COLLKEY_PSEUDONYM_SIZE], const uint8_t *sealed, size_t len,
                    uint8_t *out)
{
        uint8_t k[COLLKEY_MAC_SIZE], ad[SEAL_AD_MAX];
        size_t adlen = seal_ad(collection, pseudonym, ad, sizeof(ad));
        int r;

        if (len < COLLKEY_SEAL_OVERHEAD || adlen == 0)
                return -EBADMSG;
        labelled_mac(key, COLLKEY_SIZE, SEAL_LABEL, NULL, 0, k);
        r = crypto_aead_xchacha20poly1305_ietf_decrypt(
                out, NULL, NULL, sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen, sealed, k);
        sodium_memzero(k, sizeof(k));
        return r == 0 ? 0 : -EBADMSG;
}
