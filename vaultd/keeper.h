/* The key keeper (DESIGN §3): a process of its own that alone holds the
 * root key, the KEKs and the audit signing key. The worker (everything
 * else) talks to it through this interface, over a socketpair
 * (vaultd/keeper-proto.h); it never sees a KEK, the root key or the
 * signing key. Calls are synchronous round trips: make them from one
 * thread at a time (the writer, or start-up before it runs). Every call
 * returns -EPIPE once the keeper is gone. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auditfmt.h"
#include "collkeys.h"
#include "keys.h"
#include "merkle.h"

struct keeper;

/* Forks the keeper, which reads key_file, then (sandbox) switches to
 * uid/gid, becomes undumpable and confines itself with seccomp. Call
 * before any thread starts. A key file that cannot be read fails the first
 * keeper_create or keeper_open with its -errno. The caller owns *ret. */
int keeper_start(const char *key_file, uid_t uid, gid_t gid, bool sandbox, struct keeper **ret);
/* Closes the socket: the keeper exits. Accepts NULL. */
void keeper_free(struct keeper *kp);
/* A pidfd of the keeper: readable once it has exited. */
int keeper_pidfd(struct keeper *kp);
/* The keeper's process id (for tests and logs). */
pid_t keeper_pid(struct keeper *kp);

/* A new vault: the keeper makes KEK version 1 and the signing key; *ret
 * receives their wrapped forms and the public key, to store. */
int keeper_create(struct keeper *kp, const char *origin, struct keys_material *ret);

/* A stored KEK, for keeper_open. */
struct keeper_kek {
        uint32_t version;
        uint8_t wrapped[KEYS_WRAPPED];
};
/* An existing vault: hands the keeper its wrapped keys (sign_next: the
 * signing key being rotated to, or NULL). -EBADMSG when the root key is
 * not this vault's. */
int keeper_open(struct keeper *kp, const char *origin, uint32_t kek_current,
                const uint8_t sign_wrapped[KEYS_SIGN_WRAPPED], const uint8_t *sign_next,
                const struct keeper_kek *keks, size_t n);
/* The audit key's public half (after create or open). */
void keeper_public(struct keeper *kp, uint8_t pk[32]);

/* Tells the keeper, once at start, the last signed checkpoint: size, the
 * frontier of the tree of its first size-1 lines (tree) and line size-1
 * (len bytes), the signature and its signed time (size 0: none yet, tree
 * and line unused; time 0: a checkpoint without one). -EBADMSG when the
 * signature is not the keeper's over that root, nor (a checkpoint signed
 * before the tree) over that line's hash. */
int keeper_chain(struct keeper *kp, uint64_t size, const struct merkle_frontier *tree, const char *line,
                 size_t len, const uint8_t sig[64], int64_t time);
/* Sends the lines from seq first on (lines[i] of lens[i] bytes) and asks
 * for a signature over the checkpoint they end at: size first + n, whose
 * text names the root *ret_root of the Merkle tree of those lines, signed
 * at the keeper's time *ret_time (its text's vaultd-time line). The
 * keeper recomputes the chain and the tree from the last size it signed
 * and refuses (-EBADMSG, -ERANGE) lines that do not extend them. */
int keeper_sign(struct keeper *kp, uint64_t first, const char *const *lines, const size_t *lens, size_t n,
                int64_t *ret_time, uint8_t ret_root[MERKLE_HASH_SIZE], uint8_t ret_sig[64],
                uint8_t ret_next_sig[64], uint8_t ret_next_wrapped[KEYS_SIGN_WRAPPED]);

/* Signing-key rotation (docs/audit-format.md). keeper_sign_new makes a
 * next signing key and returns it wrapped, to store; once stored,
 * keeper_sign_use has every later checkpoint signed by both keys (its text
 * naming the next key; keeper_sign then fills ret_next_sig, and
 * ret_next_wrapped with the next key wrapped as the signing key); once such
 * a checkpoint is stored with the next key in place of the old one,
 * keeper_sign_switch makes the keeper forget the old key. The keeper
 * refuses a new key while one is in use (-EBUSY), and a switch before a
 * co-signed checkpoint (-EPROTO). */
int keeper_sign_new(struct keeper *kp, uint8_t ret_wrapped[KEYS_SIGN_WRAPPED], uint8_t ret_pk[32]);
int keeper_sign_use(struct keeper *kp);
int keeper_sign_switch(struct keeper *kp);
/* The next key's public half while one co-signs; false when none does. */
bool keeper_next_public(struct keeper *kp, uint8_t pk[32]);

/* A fresh data key for b (into dek, KEYS_KEY_SIZE bytes the caller wipes)
 * and its wrapped form under KEK *ret_kek_version. */
int keeper_dek_new(struct keeper *kp, const struct body_binding *b, uint32_t *ret_kek_version,
                   uint8_t wrapped[KEYS_WRAPPED], uint8_t *dek);
/* Unwraps a data key for b. -EBADMSG when it does not belong to b or was
 * altered, -ENOKEY when its KEK is unknown. */
int keeper_dek_open(struct keeper *kp, const struct body_binding *b, uint32_t kek_version,
                    const uint8_t wrapped[KEYS_WRAPPED], uint8_t *dek);

/* Data keys for a writer batch, asked for ahead in as few round trips as
 * fit (KEEPER_DEK_MANY, at most KEEPER_DEK_MANY_MAX items each) and kept
 * (in guarded memory) until used or forgotten: keeper_dek_new and
 * keeper_dek_open then take a kept key asked for with exactly the same
 * binding (and, to open, the same KEK version and wrapped key) instead of
 * asking, each one once. An item the keeper refuses is not kept (the
 * later call asks and gets the refusal itself), nor one past
 * KEEPER_DEK_KEPT_MAX. Forgets what was kept before. */
#define KEEPER_DEK_KEPT_MAX 1024
struct keeper_dek_req {
        struct body_binding b;
        const uint8_t *wrapped; /* the key to open (KEYS_WRAPPED bytes), or NULL for a new one */
        uint32_t kek_version;   /* the KEK that wrapped it */
};
int keeper_dek_prefetch(struct keeper *kp, const struct keeper_dek_req *reqs, size_t n);
/* Kept keys not used yet. */
size_t keeper_dek_kept(struct keeper *kp);
/* Wipes every kept key (the writer: after its batch's jobs ran). */
void keeper_dek_forget(struct keeper *kp);

/* Rotation: a new KEK at version (above every existing one), returned
 * wrapped for storing; then, once stored, keeper_kek_use makes it the one
 * new data keys are wrapped by. */
int keeper_kek_new(struct keeper *kp, uint32_t version, uint8_t ret_wrapped[KEYS_WRAPPED]);
int keeper_kek_use(struct keeper *kp, uint32_t version);
/* Re-wraps a data key under the current KEK (the worker never sees it). */
int keeper_rewrap(struct keeper *kp, const struct body_binding *b, uint32_t kek_version,
                  const uint8_t wrapped[KEYS_WRAPPED], uint32_t *ret_kek_version,
                  uint8_t ret_wrapped[KEYS_WRAPPED]);
/* Wipes KEK version from the keeper (retired: it wraps nothing). */
int keeper_kek_drop(struct keeper *kp, uint32_t version);

/* A collection key (vaultd/collkeys.h): the keeper makes one for
 * collection, purpose (KEEPER_CKEY_INDEX or _PSEUDONYM) and generation
 * and returns only its wrapped form, to store. */
int keeper_ckey_new(struct keeper *kp, int purpose, const char *collection, uint64_t gen,
                    uint32_t *ret_kek_version, uint8_t ret_wrapped[KEYS_WRAPPED]);
/* A stored collection key, as requests name it. */
struct keeper_ckey {
        const char *collection;
        uint64_t gen;
        uint32_t kek_version;
        const uint8_t *wrapped; /* KEYS_WRAPPED bytes */
};
/* The blind index tags (32 bytes each, into ret_tags) of n (1 to
 * KEEPER_CKEY_ITEMS_MAX) field/value pairs under the collection's index
 * key k. Values are 1 to KEEPER_VALUE_MAX bytes. -EBADMSG when k does
 * not open (altered, another collection's), -ENOKEY when its KEK is
 * unknown. */
int keeper_index_tags(struct keeper *kp, const struct keeper_ckey *k, size_t n, const char *const *fields,
                      const char *const *values, uint8_t (*ret_tags)[32]);

/* The pseudonym (COLLKEY_PSEUDONYM_SIZE bytes) of record id in the
 * collection of pseudonym key k, and the id sealed for it (strlen(id) +
 * COLLKEY_SEAL_OVERHEAD bytes into ret_sealed, which holds
 * KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD). */
int keeper_pseudonym(struct keeper *kp, const struct keeper_ckey *k, const char *id, uint8_t *ret_pseudonym,
                     uint8_t *ret_sealed, size_t *ret_sealed_len);
/* A writer batch's pseudonyms in the collection of pseudonym key k,
 * asked for ahead in as few round trips as fit (KEEPER_PSEUDONYMS, at
 * most KEEPER_PSEUDONYMS_MAX ids each; an id given twice is asked once)
 * and kept until keeper_pseudonym_forget, with the sealed ids:
 * keeper_pseudonym then answers a kept one, without asking, for exactly
 * the request it would have sent (the same key, generation, KEK version,
 * wrapped key, collection and id), as often as it is asked. ret_pseudonyms
 * receives each id's pseudonym (n of them). On failure nothing is kept,
 * not even what earlier calls kept (-E2BIG past KEEPER_PS_KEPT_MAX ids
 * kept in all, -EINVAL for an id of more than KEEPER_NAME_MAX bytes). */
#define KEEPER_PS_KEPT_MAX 1024
int keeper_pseudonym_prefetch(struct keeper *kp, const struct keeper_ckey *k, size_t n,
                              const char *const *ids, uint8_t (*ret_pseudonyms)[COLLKEY_PSEUDONYM_SIZE]);
/* Pseudonyms kept. */
size_t keeper_pseudonym_kept(struct keeper *kp);
/* Wipes every kept pseudonym (the writer: after its batch's jobs ran). */
void keeper_pseudonym_forget(struct keeper *kp);
/* Opens n (1 to KEEPER_ID_OPEN_MAX) sealed ids: pseudonyms[i] (16
 * bytes) and sealed[i] of lens[i] bytes; ret_ids[i] receives a malloc'd
 * string (the caller frees each). -EBADMSG when one does not open. */
int keeper_id_open(struct keeper *kp, const struct keeper_ckey *k, size_t n,
                   const uint8_t *const *pseudonyms, const uint8_t *const *sealed, const size_t *lens,
                   char **ret_ids);

/* Sealed root keys (a key file sealed by a passphrase). keeper_open
 * answers -EKEYREVOKED while sealed; keeper_unseal opens the root key
 * (-EKEYREJECTED: wrong passphrase), after which keeper_open is called
 * again; keeper_seal wipes every key from the keeper. Nothing ever takes a
 * root key out of the keeper, in any form: a compromised worker could ask
 * for it as well as an admin could. */
int keeper_unseal(struct keeper *kp, const char *pass, size_t len);
int keeper_seal(struct keeper *kp);
/* The public key as stored, while the keeper is sealed and cannot say. */
void keeper_set_public(struct keeper *kp, const uint8_t pk[32]);

/* The keeper process itself (vaultd/keeper.c): forks it. */
int keeper_fork(const char *key_file, uid_t uid, gid_t gid, bool sandbox, int *ret_fd, pid_t *ret_pid);
