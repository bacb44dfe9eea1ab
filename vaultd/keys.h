/* The vault's keys (DESIGN §6). This module is the only code that touches
 * key bytes: the root key, the KEKs it wraps, per-version DEKs and the audit
 * signing key. It offers sealing and opening of record bodies, signing, and
 * nothing else, so it could move into a process of its own. All key bytes
 * live in sodium_malloc'd memory and are wiped when freed. Sealing and
 * opening share one DEK scratch buffer: call them from one thread (the
 * writer). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct vault_keys;

/* What a record body is bound to: a ciphertext opens only for the same
 * collection, id and version. */
struct body_binding {
        const char *collection;
        const char *id;
        uint64_t version;
};

/* Creates a new random root key file at path: O_EXCL, mode 0600.
 * -EEXIST when the file is already there. */
int keys_root_create(const char *path);

/* Reads a root key file into guarded memory. -EBADMSG when it is not a
 * vaultd key file, -EPERM when it is readable by group or others. */
int keys_load(const char *key_file, struct vault_keys **ret);
void keys_free(struct vault_keys *k);

/* At vault creation: makes KEK version 1 and the audit signing key and
 * stores them wrapped by the root key inside txn. */
int keys_store_init(struct vault_keys *k, struct vault_store *s, MDB_txn *txn);
/* At start: unwraps every KEK and the signing key. -EBADMSG when the root
 * key is not this vault's. */
int keys_store_open(struct vault_keys *k, struct vault_store *s, MDB_txn *txn);

/* Encrypts a body under a fresh DEK wrapped by the current KEK. *ret is
 * malloc'd (ciphertext is not secret). */
int keys_seal_body(struct vault_keys *k, const struct body_binding *b, const uint8_t *plain, size_t len,
                   uint8_t **ret, size_t *ret_len);
/* Opens an envelope. *ret is malloc'd: release with keys_free_plain, which
 * wipes it.
 * -EBADMSG when it was altered or belongs to another record or version,
 * -ENOKEY when its KEK is unknown. */
int keys_open_body(struct vault_keys *k, const struct body_binding *b, const uint8_t *env, size_t env_len,
                   uint8_t **ret, size_t *ret_len);
void keys_free_plain(uint8_t *plain, size_t len);
/* The KEK version an envelope was sealed under, or -EBADMSG. */
int keys_envelope_kek(const uint8_t *env, size_t env_len);

/* Ed25519 signature of msg by the audit key. */
void keys_sign(struct vault_keys *k, const void *msg, size_t len, uint8_t sig[64]);
/* Makes the root and signing key pages inaccessible until needed (the
 * signing key is opened for each signature). Call once start-up is done. */
void keys_seal_idle(struct vault_keys *k);
/* Whether key pages can be locked in RAM (else they may reach swap). */
bool keys_memory_locked(struct vault_keys *k);

/* The audit key's public half. */
void keys_public(struct vault_keys *k, uint8_t pk[32]);
