/* Witness cosignatures of checkpoints (c2sp.org/tlog-cosignature,
 * cosignature/v1, Ed25519; docs/audit-format.md "Cosignatures"). A
 * witness that saw a checkpoint extend the last one it saw of the same
 * log adds a note signature line to it: key id = first 4 bytes of
 * SHA-256(name || 0x0A || 0x04 || public key), and the signature is
 * be64(time) || Ed25519 over "cosignature/v1\ntime <time>\n" and the
 * checkpoint's text. A witness's key is a verifier key of type 0x04.
 * Only public data here: vaultctl checks cosignatures offline; vaultd
 * checks their shape, and their signatures when it is given the witnesses
 * it trusts (vaultd --witnesses). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "note.h"

#define COSIGN_KEY_TYPE 0x04
/* The signature after the key id: be64 time, then 64 bytes of Ed25519. */
#define COSIGN_SIG_SIZE 72
/* What vaultd keeps on one checkpoint at most, and the witness keys a
 * verifier takes at most. */
#define COSIGN_PER_CHECKPOINT_MAX 32
#define COSIGN_WITNESSES_MAX      32
/* Longest checkpoint, with its signatures, vaultd takes with cosignatures
 * (io.vaultd.audit.AddCosignatures). */
#define COSIGN_NOTE_MAX 16384

struct cosigner {
        char *name;
        uint8_t pk[32];
        uint8_t id[4];
};

/* Parses a witness's verifier key, "<name>+<hex key id>+<base64(0x04 ||
 * 32-byte key)>". -EINVAL when it is malformed, of another type, or its
 * key id does not match. Free with cosigner_done. */
int cosigner_parse(const char *vkey, struct cosigner *ret);
void cosigner_done(struct cosigner *w);

/* Parses a witnesses file (text, NUL-terminated): one witness verifier key
 * per line; blank lines and lines starting with # are skipped. Fills
 * ws[0..*ret_n) (at most max, each to be freed with cosigner_done).
 * -EINVAL with "line N: what is wrong" in err. */
int cosigners_parse(const char *text, struct cosigner *ws, size_t max, size_t *ret_n, char *err,
                    size_t errlen);

/* Whether s has the shape of a cosignature/v1: COSIGN_SIG_SIZE bytes and
 * a time that fits in an int64 (seconds since the epoch, in *ret_time). */
bool cosign_shape(const struct note_sig *s, uint64_t *ret_time);

/* Whether the note n carries a valid cosignature by witness w: 0 (its
 * time in *ret_time), -ENOENT when no signature line names w's key,
 * -EBADMSG when the first that does is not a valid cosignature. */
int cosign_check(const struct note *n, const struct cosigner *w, uint64_t *ret_time);

/* The verdict on each of n witnesses (n <= COSIGN_WITNESSES_MAX): 0 when
 * it cosigned the note, -ENOENT when it did not, -EBADMSG when its line
 * does not verify (forged, or over another text); and how many did. */
struct cosign_verdict {
        size_t valid;
        int result[COSIGN_WITNESSES_MAX];
        uint64_t time[COSIGN_WITNESSES_MAX];
};

/* Checks note (a signed note, len bytes) for cosignatures by each of
 * ws[0..n-1]. -EBADMSG when it is not a well-formed note, -EINVAL when n
 * is too large. */
int cosign_verdict(const char *note, size_t len, const struct cosigner *ws, size_t n,
                   struct cosign_verdict *ret);
