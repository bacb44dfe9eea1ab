/* The audit trail's formats, as fixed by docs/audit-format.md: the audit
 * line and its hash chain, checkpoints as C2SP signed notes, verifier keys,
 * and the JSON Lines export. Verification here needs only public data, so
 * vaultctl can check an export offline. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cosign.h"
#include "jsonscan.h"
#include "note.h"

#define AUDIT_HASH_SIZE     32
#define AUDIT_HASH_HEX_SIZE 65
/* Longest audit line the verifier accepts. */
#define AUDIT_LINE_MAX 65536
#define EXPORT_FORMAT  "vaultd-audit-export/1"

struct audit_actor {
        uint32_t uid, gid;
        int32_t pid;
        const char *user; /* NULL when unknown */
        const char *role; /* NULL when the caller holds no role */
};

struct audit_entry {
        uint64_t time_us;
        struct audit_actor actor;
        const char *op;         /* "records.put", ... */
        const char *collection; /* NULL when the op has none */
        const char *id;         /* NULL when the op has none */
        int64_t version;        /* < 0 when the op has none */
        const char *result;     /* "ok", "denied" or "error" */
        const char *error;      /* short error name when result is not ok */
        json_t *extra;          /* further fields (borrowed), may be NULL */
};

/* Builds line number seq with the given prev hash. *ret is malloc'd,
 * NUL-terminated, and *ret_len excludes the NUL. -ENOMEM, -EINVAL, -E2BIG
 * past AUDIT_LINE_MAX. Written directly (lib/auditline.c) when every
 * string is plain printable ASCII, which is what jansson would print; else
 * by auditfmt_line_json, the reference the unit tests compare it with. */
int auditfmt_line(uint64_t seq, const struct audit_entry *e, const uint8_t prev[AUDIT_HASH_SIZE], char **ret,
                  size_t *ret_len);
int auditfmt_line_json(uint64_t seq, const struct audit_entry *e, const uint8_t prev[AUDIT_HASH_SIZE],
                       char **ret, size_t *ret_len);

/* SHA-256 of the exact line bytes. */
void auditfmt_hash(const char *line, size_t len, uint8_t out[AUDIT_HASH_SIZE]);

/* Incremental chain check: feed lines in order. */
struct audit_chain {
        uint64_t next_seq;
        uint8_t prev[AUDIT_HASH_SIZE]; /* hash of the line before next_seq */
};

/* Starts a chain at first_seq whose predecessor hashes to prev (all zeros
 * for seq 0). */
void audit_chain_init(struct audit_chain *c, uint64_t first_seq, const uint8_t prev[AUDIT_HASH_SIZE]);
/* Checks one line and advances. -EBADMSG with a reason in why when the line
 * is not valid JSON, has the wrong seq, or its prev is not the hash of the
 * line before. */
int audit_chain_feed(struct audit_chain *c, const char *line, size_t len, char *why, size_t whylen);
/* The same for a line that jscan_object has read (js: its members), so
 * that a caller which looked at it first does not read it twice. */
int audit_chain_feed_scanned(struct audit_chain *c, const char *line, size_t len, const struct jscan *js,
                             char *why, size_t whylen);

/* The verifier key that signs the checkpoint of size size, from a vault's
 * history of signing keys (META_SIGN_KEYS in storelayout.h: one "SIZE
 * VKEY\n" per key, VKEY signing the checkpoints above SIZE). -EINVAL when
 * the history is malformed or names no key for that size, -ENAMETOOLONG
 * when the key does not fit in cap. */
int signing_key_at(const char *hist, size_t len, uint64_t size, char *buf, size_t cap);

/* Offline verification of an export file. */
struct export_report {
        uint64_t first_seq, last_seq;       /* audit lines covered */
        uint64_t lines;                     /* audit lines checked */
        uint64_t checkpoints;               /* checkpoints checked */
        uint64_t key_changes;               /* co-signed hand-overs to a new signing key */
        char last_key[512];                 /* the key in force at the end (when it verifies) */
        char origin[256];                   /* the header's (when it verifies) */
        uint8_t last_hash[AUDIT_HASH_SIZE]; /* hash of line last_seq */
        /* The newest signed checkpoint: the vault's head when the export
         * was made. head_size > last_seq + 1 for a partial export. */
        uint64_t head_size;
        int64_t head_time;   /* its signed time, 0 when it has none */
        uint64_t crlf_lines; /* lines that ended in CR LF (the CR was dropped) */
        /* The Merkle tree of lines 0 … last_seq: its root when the export
         * lets it be computed (tree_known: it starts at 0, or its header
         * gives the tree before its first line), whether a checkpoint
         * signed that root (tree_root_signed) and whether it is vouched
         * for at all (tree_verified: signed, or computed from line 0 on). */
        uint64_t tree_size;
        uint8_t tree_root[32];
        bool tree_known, tree_root_signed, tree_verified;
        /* The forms of its checkpoints: the old one, then signed roots. */
        struct checkpoint_forms forms;
        /* Cosignatures by the witnesses of opts (checkpoints whose root
         * the lines gave only): on the checkpoint that covers the last
         * line (cosigned_size, 0 when it names no root), and the largest
         * checkpoint with the most of them (best_size, best.valid). */
        uint64_t cosigned_size;
        struct cosign_verdict cosigned;
        uint64_t best_size;
        struct cosign_verdict best;
        uint64_t bad_line; /* 1-based line of the file that failed, 0 if none */
        int64_t bad_seq;   /* seq of the failing audit line, -1 if none */
        char why[320];
};

/* How long after its newest checkpoint was signed an export may say it
 * was made (vaultd signs one for every export, just before). */
#define EXPORT_FRESH_SECONDS 300

struct export_opts {
        const char *vkey; /* the verifier key the auditor trusts; NULL: the header's */
        /* Accept an export that ends before the head it was exported at
         * (one asked for with an end); else that is a failure. */
        bool partial;
        /* The trail of a copy (a backup): it has no export time to check
         * against its newest checkpoint. */
        bool archive;
        /* Continuity: the export must hold line since_seq, hashing to
         * since_hash (a head verified earlier). */
        bool has_since;
        uint64_t since_seq;
        uint8_t since_hash[AUDIT_HASH_SIZE];
        /* Continuity by the tree instead: the export's tree of since_size
         * lines must have since_root (a root verified earlier). It needs
         * no line before since_size: the export may start right there. */
        bool has_since_root;
        uint64_t since_size;
        uint8_t since_root[32];
        /* Witnesses whose cosignatures to check (report: cosigned, best). */
        const struct cosigner *witnesses;
        size_t nwitnesses;
};

/* Reads an export from f and checks header, chain, every checkpoint, that
 * the newest checkpoint is the one signed when the export was made (its
 * signed time within EXPORT_FRESH_SECONDS before the header's "exported")
 * and covers the last line (unless partial), and continuity. Windows line
 * ends and blank lines at the end are tolerated (counted). Returns 0 when
 * everything verifies, -EBADMSG with the report filled in when not, other
 * -errno on read errors. */
int export_verify_opts(FILE *f, const struct export_opts *opts, struct export_report *ret);
/* The same with only a trusted key (NULL: the header's). */
int export_verify(FILE *f, const char *vkey, struct export_report *ret);
