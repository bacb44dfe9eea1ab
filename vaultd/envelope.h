/* Sealed record bodies (DESIGN §6), on the worker's side: each version is
 * encrypted under its own data key (XChaCha20-Poly1305), which the keeper
 * makes and wraps under a KEK the worker never sees. The envelope stored
 * is format(1) kek_version(4) wrapped-DEK nonce ciphertext; the body and
 * its data key are bound to the record's collection, id and version. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "keeper.h"

/* Seals a body under a fresh data key. *ret is malloc'd (ciphertext is not
 * secret). */
int envelope_seal(struct keeper *kp, const struct body_binding *b, const uint8_t *plain, size_t len,
                  uint8_t **ret, size_t *ret_len);
/* Opens an envelope. *ret is malloc'd: release it with envelope_free_plain,
 * which wipes it. -EBADMSG when it was altered or belongs to another
 * record or version, -ENOKEY when its KEK is unknown. */
int envelope_open(struct keeper *kp, const struct body_binding *b, const uint8_t *env, size_t env_len,
                  uint8_t **ret, size_t *ret_len);
void envelope_free_plain(uint8_t *plain, size_t len);
/* The same body under the current KEK, as a new envelope in *ret
 * (malloc'd): the data key re-wrapped by the keeper, the body untouched
 * (an envelope of the first format, whose body named its KEK, is sealed
 * anew). */
int envelope_rewrap(struct keeper *kp, const struct body_binding *b, const uint8_t *env, size_t env_len,
                    uint8_t **ret, size_t *ret_len);
/* The KEK version an envelope was sealed under, or -EBADMSG. */
int envelope_kek(const uint8_t *env, size_t env_len);
