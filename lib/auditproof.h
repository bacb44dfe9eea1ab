/* Merkle proofs of the audit trail as JSON (docs/audit-format.md,
 * "Proofs"): the hash lists io.vaultd.audit.Prove returns, and the proof
 * file `vaultctl audit prove` writes, checked offline with only public
 * data (`vaultctl audit verify --proof`). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "merkle.h"

#define AUDITPROOF_FORMAT "vaultd-audit-proof/1"
/* Standard base64 of a hash, with its NUL. */
#define MERKLE_HASH_B64_SIZE 45

void auditproof_hash_b64(const uint8_t hash[MERKLE_HASH_SIZE], char out[MERKLE_HASH_B64_SIZE]);
/* A JSON string holding a hash in standard base64 (44 characters, padded).
 * -EINVAL otherwise. */
int auditproof_hash_parse(json_t *s, uint8_t ret[MERKLE_HASH_SIZE]);
/* A JSON array of n hashes in base64; NULL when out of memory. */
json_t *auditproof_hashes_json(const uint8_t (*hashes)[MERKLE_HASH_SIZE], size_t n);
/* Parses such an array into ret (room for MERKLE_PROOF_MAX). -EINVAL when
 * it is not one, or is longer. Returns the number of hashes. */
int auditproof_hashes_parse(json_t *array, uint8_t (*ret)[MERKLE_HASH_SIZE]);

/* A tree's frontier (lib/merkle.h) as a JSON array of its hashes in
 * base64, the largest (leftmost) subtree first: one per one bit of its
 * size, [] for 0 (the export header's "tree"). NULL when out of memory. */
json_t *auditproof_frontier_json(const struct merkle_frontier *f);
/* Parses such an array as the frontier of size leaves. -EINVAL when it is
 * not one, or holds another number of hashes. */
int auditproof_frontier_parse(json_t *array, uint64_t size, struct merkle_frontier *ret);

struct auditproof_report {
        uint64_t size;        /* the tree the proofs are against */
        uint64_t lines;       /* lines proven included */
        uint64_t old_size;    /* the consistency proof's older tree, 0 when none */
        bool checkpoint;      /* a checkpoint of size lines, signed by the key, came with it */
        bool root_signed;     /* ... and its hash is the root (a tlog checkpoint) */
        bool old_root_signed; /* the same for the older tree's checkpoint */
        int64_t bad_seq;      /* the line whose proof fails, -1 if none */
        char why[320];
};

/* Checks a proof file (a JSON object of format AUDITPROOF_FORMAT): every
 * line's inclusion proof against the root, the consistency proof between
 * the two roots, and each checkpoint given against vkey (NULL: the key
 * the file names). Returns 0 when all of it holds, -EBADMSG with why (and
 * bad_seq) when not. A checkpoint whose hash is not the root (one signed
 * before the tree) is reported, not failed, through root_signed. */
int auditproof_verify(json_t *proof, const char *vkey, struct auditproof_report *ret);
