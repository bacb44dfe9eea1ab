/* The vault's keys (DESIGN §6), as the keeper process holds them: the root
 * key, the KEKs it wraps and the audit signing key. Only the keeper calls
 * the functions that touch key bytes (vaultd/keeper.c); the worker stores
 * their wrapped forms and asks the keeper for data keys and signatures.
 * All key bytes live in sodium_malloc'd memory and are wiped when freed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define KEYS_KEY_SIZE 32
#define KEYS_MAX_KEK  256
/* A secret wrapped by XChaCha20-Poly1305: nonce || ciphertext || tag. */
#define KEYS_WRAP_OVERHEAD                                                                                  \
        (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define KEYS_WRAPPED      (KEYS_KEY_SIZE + KEYS_WRAP_OVERHEAD)
#define KEYS_SIGN_WRAPPED (crypto_sign_SECRETKEYBYTES + KEYS_WRAP_OVERHEAD)
#define KEYS_AD_MAX       512

struct vault_keys;

/* What a record body is bound to: a ciphertext opens only for the same
 * collection, id and version. */
struct body_binding {
        const char *collection;
        const char *id;
        uint64_t version;
};

/* The wrapped forms of a new vault's keys, for the worker to store. */
struct keys_material {
        uint8_t kek_wrapped[KEYS_WRAPPED]; /* KEK version 1 */
        uint8_t sign_wrapped[KEYS_SIGN_WRAPPED];
        uint8_t pk[crypto_sign_PUBLICKEYBYTES];
};

/* Creates a new random root key file at path: O_EXCL, mode 0600; sealed
 * by a passphrase (Argon2id with moderate limits, the parameters kept in
 * the file, then XChaCha20-Poly1305) unless pass is NULL. -EEXIST when the
 * file is already there. */
int keys_root_create(const char *path, const char *pass, size_t pass_len);
/* Largest key file, and so largest sealed text keys_reseal writes. */
#define KEYS_FILE_MAX 512

/* Reads a root key file into guarded memory. A sealed one stays locked
 * until keys_unlock. -EBADMSG when it is not a vaultd key file, -EPERM
 * when it is readable by group or others. */
int keys_load(const char *key_file, struct vault_keys **ret);
void keys_free(struct vault_keys *k);
/* Whether the root key is sealed and not opened (yet, or again). */
bool keys_locked(struct vault_keys *k);
/* Opens a sealed root key with its passphrase. -EKEYREJECTED for a wrong
 * one, -EINVAL for a plain key file. */
int keys_unlock(struct vault_keys *k, const char *pass, size_t len);
/* Whether the key file was sealed by a passphrase (so that keys_lock can
 * be undone). */
bool keys_sealable(struct vault_keys *k);
/* Wipes the root key, every KEK and the signing key from memory; a sealed
 * root key can be opened again with its passphrase. */
void keys_lock(struct vault_keys *k);

/* A new vault: makes KEK version 1 (current) and the signing key, and
 * writes their wrapped forms to *ret. */
int keys_create(struct vault_keys *k, struct keys_material *ret);
/* Unwraps KEK version (or, wrapped NULL, makes a random one). -EBADMSG
 * when the root key is not the one that wrapped it. */
int keys_add_kek(struct vault_keys *k, uint32_t version, const uint8_t wrapped[KEYS_WRAPPED]);
/* New data keys are wrapped by this version from now on. -ENOKEY when it
 * is not loaded. */
int keys_set_current(struct vault_keys *k, uint32_t version);
/* Unwraps the audit signing key. -EBADMSG as above. */
int keys_open_signer(struct vault_keys *k, const uint8_t wrapped[KEYS_SIGN_WRAPPED]);

/* A fresh data key for binding b, and its form wrapped by the current KEK
 * (bound to b and the KEK version). -ENOKEY before a KEK is current. */
int keys_dek_new(struct vault_keys *k, const struct body_binding *b, uint32_t *ret_kek_version,
                 uint8_t wrapped[KEYS_WRAPPED], uint8_t dek[KEYS_KEY_SIZE]);
/* Wraps an existing data key for b under the current KEK (rewrap). */
int keys_rewrap_dek(struct vault_keys *k, const struct body_binding *b, const uint8_t dek[KEYS_KEY_SIZE],
                    uint32_t *ret_kek_version, uint8_t wrapped[KEYS_WRAPPED]);
/* Unwraps a data key. -EBADMSG when it was altered or belongs to another
 * record or version, -ENOKEY when its KEK is unknown. */
int keys_dek_open(struct vault_keys *k, const struct body_binding *b, uint32_t kek_version,
                  const uint8_t wrapped[KEYS_WRAPPED], uint8_t dek[KEYS_KEY_SIZE]);

/* A run of data-key uses (the keeper's DEK_MANY): until keys_kek_release,
 * a KEK page opened for keys_dek_new, keys_rewrap_dek or keys_dek_open
 * stays open (read-only) instead of being closed after each use: one
 * mprotect pair per KEK for the run, not per key. No other keys_ call
 * may come in between. */
void keys_kek_hold(struct vault_keys *k);
void keys_kek_release(struct vault_keys *k);

/* The current KEK version, and the highest loaded (0 when none). */
uint32_t keys_kek_current(struct vault_keys *k);
uint32_t keys_kek_highest(struct vault_keys *k);
/* Wraps KEK version's bytes under the root key (for storing a new one). */
int keys_wrap_kek(struct vault_keys *k, uint32_t version, uint8_t wrapped[KEYS_WRAPPED]);
/* Wipes and forgets KEK version. -EBUSY when it is current. */
int keys_drop_kek(struct vault_keys *k, uint32_t version);

/* The associated data that binds a body ("vaultd-body") or its data key
 * ("vaultd-dek") to one record version and KEK version. -EINVAL when the
 * names do not fit in cap. No key bytes: the worker uses it too. */
int keys_binding_ad(const char *purpose, const struct body_binding *b, uint32_t kek_version, uint8_t *ad,
                    size_t cap, size_t *ret_len);

/* Signing-key rotation: a next signing key, made new (returned wrapped
 * under the root key, and its public half) or unwrapped from the store.
 * Its wrapped form is bound to the signing key it follows: it opens as no
 * other key's next, and not as a signing key. Until keys_next_switch makes
 * it the signing key, checkpoints are signed by both (keys_sign,
 * keys_sign_next); keys_next_wrap_as_signer gives the form to store as
 * the signing key then. */
int keys_next_new(struct vault_keys *k, uint8_t ret_wrapped[KEYS_SIGN_WRAPPED], uint8_t ret_pk[32]);
int keys_next_open(struct vault_keys *k, const uint8_t wrapped[KEYS_SIGN_WRAPPED]);
/* false when there is no next key. */
bool keys_next_public(struct vault_keys *k, uint8_t pk[32]);
int keys_next_wrap_as_signer(struct vault_keys *k, uint8_t ret_wrapped[KEYS_SIGN_WRAPPED]);
void keys_sign_next(struct vault_keys *k, const void *msg, size_t len, uint8_t sig[64]);
/* The next key becomes the signing key; the old one is wiped. -ENOKEY
 * when there is none. */
int keys_next_switch(struct vault_keys *k);

/* Ed25519 signature of msg by the audit key. */
void keys_sign(struct vault_keys *k, const void *msg, size_t len, uint8_t sig[64]);
/* Makes the root and signing key pages inaccessible until needed (the
 * signing key is opened for each signature). Call once start-up is done. */
void keys_seal_idle(struct vault_keys *k);
/* Whether key pages can be locked in RAM (else they may reach swap). */
bool keys_memory_locked(struct vault_keys *k);

/* Offline rekey (vaultd --rekey, the daemon stopped): every KEK, the
 * signing key and the next signing key (if any, into ret_next) of k,
 * wrapped under the root key of to, for the store.
 * ret_versions and ret_keks hold KEYS_MAX_KEK. -EKEYREVOKED while either
 * is locked. */
int keys_wrap_under(struct vault_keys *k, struct vault_keys *to, uint32_t *ret_versions,
                    uint8_t (*ret_keks)[KEYS_WRAPPED], size_t *ret_n, uint8_t ret_sign[KEYS_SIGN_WRAPPED],
                    uint8_t ret_next[KEYS_SIGN_WRAPPED]);

/* The audit key's public half. */
void keys_public(struct vault_keys *k, uint8_t pk[32]);
