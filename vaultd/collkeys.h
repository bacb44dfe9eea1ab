/* Collection keys (issue #13): what the keeper does with a collection's
 * own secret keys, which it makes, keeps wrapped like data keys and never
 * hands out. A collection has an index key (blind indexes for Find) and,
 * with private ids, a pseudonym key. Pure functions of libsodium: the
 * keeper (vaultd/keeper.c) opens the key, calls these, and wipes it.
 *
 * - an index tag: HMAC-SHA-256(field key, value), where the field key is
 *   HMAC-SHA-256(index key, "vaultd-index-field" NUL field): one key per
 *   collection (the index key is bound to its collection) and field;
 * - a pseudonym: HMAC-SHA-256(pseudonym key, "vaultd-pseudonym" NUL id);
 * - a sealed id: the id under XChaCha20-Poly1305 with the key
 *   HMAC-SHA-256(pseudonym key, "vaultd-id-seal"), a random nonce and the
 *   associated data "vaultd-id" NUL collection NUL pseudonym, so that it
 *   opens only beside the pseudonym it was sealed for.
 * A pseudonym is the MAC's first COLLKEY_PSEUDONYM_SIZE bytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define COLLKEY_SIZE     32
#define COLLKEY_MAC_SIZE crypto_auth_hmacsha256_BYTES
/* 128 bits: two ids of a collection never share one (a collision is
 * expected after about 2^64 ids). */
#define COLLKEY_PSEUDONYM_SIZE 16
/* A sealed id: nonce, ciphertext, tag. */
#define COLLKEY_SEAL_OVERHEAD                                                                               \
        (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)

/* The binding ids of collection keys in the keeper (keys_dek_*'s
 * associated data): a control character first, which no record id can
 * hold (lib/names.h), so that no data-key request can name one. */
#define COLLKEY_ID_INDEX     "\001index"
#define COLLKEY_ID_PSEUDONYM "\001pseudonym"

void collkey_index_tag(const uint8_t key[COLLKEY_SIZE], const char *field, const uint8_t *value, size_t len,
                       uint8_t out[COLLKEY_MAC_SIZE]);
void collkey_pseudonym(const uint8_t key[COLLKEY_SIZE], const uint8_t *id, size_t len,
                       uint8_t out[COLLKEY_MAC_SIZE]);
/* Seals id (len bytes) into out (len + COLLKEY_SEAL_OVERHEAD bytes). */
void collkey_seal_id(const uint8_t key[COLLKEY_SIZE], const char *collection,
                     const uint8_t pseudonym[COLLKEY_PSEUDONYM_SIZE], const uint8_t *id, size_t len,
                     uint8_t *out);
/* Opens a sealed id (len bytes) into out (len - COLLKEY_SEAL_OVERHEAD
 * bytes). -EBADMSG when it was altered or belongs to another pseudonym. */
int collkey_open_id(const uint8_t key[COLLKEY_SIZE], const char *collection,
                    const uint8_t pseudonym[COLLKEY_PSEUDONYM_SIZE], const uint8_t *sealed, size_t len,
                    uint8_t *out);
