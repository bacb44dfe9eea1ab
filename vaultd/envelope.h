/* Sealed record bodies (DESIGN §6), on the worker's side: each version is
 * encrypted under its own data key (XChaCha20-Poly1305), which the keeper
 * makes and wraps under a KEK the worker never sees. The envelope stored
 * is format(1) kek_version(4) wrapped-DEK nonce ciphertext; the body and
 * its data key are bound to the record's collection, id and version, and
 * (format 3) the body to the version's metadata too. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keeper.h"

/* Metadata a body is bound to (a version header, vaultd/recmeta.h): it is
 * not encrypted, only authenticated with the body. */
#define ENVELOPE_META_MAX 64
struct envelope_meta {
        const uint8_t *bytes;
        size_t len; /* at most ENVELOPE_META_MAX */
};

/* Seals a body under a fresh data key, bound to meta (format 3; NULL:
 * format 2, for versions written before metadata was bound). *ret is
 * malloc'd (ciphertext is not secret). */
int envelope_seal(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                  const uint8_t *plain, size_t len, uint8_t **ret, size_t *ret_len);
/* envelope_seal, and beside it beside_len bytes of beside (a Put's terms
 * for Find, vaultd/findindex.h), sealed into ret_beside (beside_len +
 * ENVELOPE_BESIDE_OVERHEAD bytes: nonce, ciphertext, tag) under a key
 * derived from the version's data key and bound to b: it opens only with
 * that data key, which the keeper alone unwraps, and a disposal, which
 * wipes the data key, destroys it with the body. */
#define ENVELOPE_BESIDE_OVERHEAD (24 + 16)
int envelope_seal_beside(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                         const uint8_t *plain, size_t len, const uint8_t *beside, size_t beside_len,
                         uint8_t *ret_beside, uint8_t **ret, size_t *ret_len);
/* Opens what was sealed beside env's body for b (sealed_len bytes) into
 * ret_plain (sealed_len - ENVELOPE_BESIDE_OVERHEAD bytes; the caller
 * wipes it). -EBADMSG when it was altered or belongs to another version,
 * -ENOKEY when env's KEK is unknown. */
int envelope_open_beside(struct keeper *kp, const struct body_binding *b, const uint8_t *env, size_t env_len,
                         const uint8_t *sealed, size_t sealed_len, uint8_t *ret_plain);
/* Opens an envelope; meta must be what it was sealed with (ignored by
 * formats 1 and 2, which bind none). *ret is malloc'd: release it with
 * envelope_free_plain, which wipes it. -EBADMSG when it was altered,
 * belongs to another record or version, or its metadata was altered,
 * -ENOKEY when its KEK is unknown. */
int envelope_open(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                  const uint8_t *env, size_t env_len, uint8_t **ret, size_t *ret_len);
void envelope_free_plain(uint8_t *plain, size_t len);
/* Whether env binds its body to metadata (format 3): an older one's
 * metadata is checked against the audit trail instead. */
bool envelope_binds_meta(const uint8_t *env, size_t env_len);
/* The same body under the current KEK, as a new envelope in *ret
 * (malloc'd): the data key re-wrapped by the keeper, the body untouched
 * (an envelope of the first format, whose body named its KEK, is sealed
 * anew, bound to meta when given). */
int envelope_rewrap(struct keeper *kp, const struct body_binding *b, const struct envelope_meta *meta,
                    const uint8_t *env, size_t env_len, uint8_t **ret, size_t *ret_len);
/* The KEK version an envelope was sealed under, or -EBADMSG. */
int envelope_kek(const uint8_t *env, size_t env_len);
/* Its wrapped data key (KEYS_WRAPPED bytes inside env) and, in *ret_kek,
 * that KEK version; NULL when env is no envelope. For asking the keeper
 * ahead of envelope_open (keeper_dek_prefetch). */
const uint8_t *envelope_wrapped_dek(const uint8_t *env, size_t env_len, uint32_t *ret_kek);
