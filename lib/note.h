/* Signed notes (c2sp.org/signed-note) with Ed25519 keys, and the
 * checkpoints vaultd signs with them (c2sp.org/tlog-checkpoint layout,
 * docs/audit-format.md). Parsing follows the spec, and gives the same
 * verdicts as Go's golang.org/x/mod/sumdb/note on the same bytes
 * (tests/integration/test_note_corpus.py; the exceptions are listed
 * there). Only public data here: vaultctl verifies exports offline with
 * it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTE_HASH_SIZE 32
/* A note with more signature lines than this is malformed (as in Go). */
#define NOTE_MAX_SIGS 100
/* The extension line of a checkpoint that hands the signing role to a
 * new key: "vaultd-next-key <verifier key>". */
#define NOTE_NEXT_KEY "vaultd-next-key "
/* The extension line with the time the keeper signed a checkpoint:
 * "vaultd-time YYYY-MM-DDTHH:MM:SSZ" (UTC). */
#define NOTE_TIME "vaultd-time "

/* The signature type of a key (c2sp.org/signed-note): 0x01 Ed25519, which
 * signs vaultd's checkpoints; witnesses' cosignatures are another type
 * (lib/cosign.h). */
#define NOTE_KEY_ED25519 0x01

/* key id = first 4 bytes of SHA-256(name || 0x0A || 0x01 || pk). */
void note_key_id(const char *name, const uint8_t pk[32], uint8_t ret_id[4]);
/* The same for a key of another signature type. */
void note_key_id_type(const char *name, uint8_t type, const uint8_t pk[32], uint8_t ret_id[4]);
/* Whether name may name a key: non-empty UTF-8 without white space or '+'. */
bool note_name_valid(const char *name, size_t len);
/* "<name>+<hex key id>+<base64(0x01 || pk)>"; caller frees. */
int note_verifier_key(const char *name, const uint8_t pk[32], char **ret);
/* Parses a verifier key. -EINVAL when malformed or the key id does not match. */
int note_verifier_parse(const char *vkey, char **ret_name, uint8_t ret_pk[32], uint8_t ret_id[4]);
/* The same for a verifier key of signature type type, 32 bytes of key. */
int note_verifier_parse_type(const char *vkey, uint8_t type, char **ret_name, uint8_t ret_pk[32],
                             uint8_t ret_id[4]);
/* Whether two verifier keys are well formed and the same key (name and
 * public key; base64 can spell one key in more than one way). */
bool note_verifier_equal(const char *a, const char *b);

struct note_sig {
        const char *name; /* into the note's copy, NUL-terminated */
        uint8_t id[4];
        const uint8_t *sig; /* after the key id */
        size_t sig_len;
};

struct note {
        char *buf; /* one allocation: the text, then names and signatures */
        size_t text_len;
        struct note_sig sigs[NOTE_MAX_SIGS];
        size_t nsigs;
};

/* Splits msg into text and signature lines as the spec says: UTF-8 with
 * no control character but newline, the signatures after the last blank
 * line, each "— name base64(id || sig)\n". -EBADMSG with why when it is
 * malformed. The caller frees with note_done. */
int note_parse(const char *msg, size_t len, struct note *ret, char *why, size_t whylen);
void note_done(struct note *n);
/* Whether n is signed by the Ed25519 key (name, pk): 0 when it is,
 * -ENOENT when no line names that key, -EBADMSG when the first line that
 * does carries a signature that fails (later duplicates are ignored). */
int note_check(const struct note *n, const char *name, const uint8_t pk[32]);

/* text, a blank line and one signature line per (ids[i], sigs[i]), all by
 * key name name. Caller frees. */
int checkpoint_note(const char *text, const char *name, const uint8_t (*ids)[4], const uint8_t (*sigs)[64],
                    size_t n, char **ret);

struct checkpoint {
        char *origin;
        uint64_t size;
        uint8_t hash[NOTE_HASH_SIZE];
        /* When the keeper signed it (its vaultd-time line, seconds since
         * the epoch), or 0 when it has none (vaults before signed time). */
        int64_t time;
        /* The key this checkpoint hands the signing role to (its
         * vaultd-next-key line, and it carries that key's valid
         * signature), or NULL. Later checkpoints are signed by it. */
        char *next_key;
};

/* The text of checkpoint c: origin, size and the base64 hash, each
 * followed by a newline, then "vaultd-time ..." when c->time is not 0 and
 * "vaultd-next-key ..." when c->next_key is not NULL. Caller frees. */
int checkpoint_text(const struct checkpoint *c, char **ret);

/* The checkpoint fields of a parsed note's text, signatures unchecked.
 * -EBADMSG with why when the text is not a checkpoint's. The caller frees
 * with checkpoint_done (also on failure). */
int checkpoint_parse(const struct note *n, struct checkpoint *ret, char *why, size_t whylen);
/* Checks that note is a checkpoint signed by vkey and parses it; a
 * vaultd-next-key line must come with a valid signature by that key.
 * Unknown extension lines are ignored. -EBADMSG with why when not, and
 * -EINVAL when vkey is malformed. The caller frees with checkpoint_done. */
int checkpoint_verify(const char *note, const char *vkey, struct checkpoint *ret, char *why, size_t whylen);
void checkpoint_done(struct checkpoint *c);

/* The two forms of a checkpoint's hash line (docs/audit-format.md,
 * "Checkpoints"): the root of the Merkle tree of its lines (a tlog
 * checkpoint), or, in a checkpoint signed before its store's upgrade to
 * signed roots, the SHA-256 of its last line. A trail switches once, from
 * the old form to the root, never back. A verifier feeds its checkpoints
 * in order of size. */
struct checkpoint_forms {
        uint64_t old;        /* checkpoints that name their last line's hash */
        uint64_t old_last;   /* the size of the last of them */
        uint64_t root;       /* checkpoints that name the root */
        uint64_t root_first; /* the size of the first of them */
};

/* Which form the hash of checkpoint c is: 1 the root (root: the tree's
 * root at c->size, NULL when the verifier cannot compute it), 0 the old
 * form (line_hash: hash of line c->size-1, NULL when unknown); counted
 * in f. -EBADMSG with why when it is neither, or the old form after a
 * checkpoint of the new. */
int checkpoint_form(struct checkpoint_forms *f, const struct checkpoint *c, const uint8_t *root,
                    const uint8_t *line_hash, char *why, size_t whylen);
