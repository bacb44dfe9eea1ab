/* A copy of a vault's store (a backup: one LMDB data file) read without
 * vaultd and without keys: what the vault is, its audit trail and
 * checkpoints, checked by the same verifier as an export (lib/export.c),
 * and a compacted copy of it (vaultd --restore). The layout it reads is
 * lib/storelayout.h's. Only vaultd/store.c and this module use LMDB.
 *
 * LMDB trusts the pages it maps: a file shorter than its own meta page
 * says is refused before any page is read, but a file crafted to mislead
 * LMDB's page structure can still crash the reader. Check copies you made
 * (or got from a place you trust), not arbitrary files. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "auditfmt.h"

struct storefile;

/* What the copy says about itself (its meta values). Strings are owned by
 * the storefile. */
struct storefile_info {
        char vault_id[33];
        const char *origin;       /* checkpoint origin and signing key name */
        const char *verifier_key; /* from the stored public key */
        uint64_t lines;           /* audit lines: 0 .. lines-1 */
        uint8_t head[AUDIT_HASH_SIZE];
        uint64_t bytes;   /* the file's size */
        uint64_t records; /* records (heads), deleted ones included */
};

/* Opens the data file at path read-only, without a lock file (MDB_RDONLY,
 * MDB_NOSUBDIR, MDB_NOLOCK), and reads its meta values. The caller owns
 * *ret (storefile_free). -EBADMSG with why set when it is not a vault
 * store or is cut short; other -errno when it cannot be read. */
int storefile_open(const char *path, struct storefile **ret, char *why, size_t whylen);
void storefile_free(struct storefile *sf);
const struct storefile_info *storefile_info(const struct storefile *sf);

/* Writes the trail as an audit export (docs/audit-format.md): lines 0 up
 * to the last signed checkpoint, and every checkpoint. Lines after that
 * checkpoint (a sealed vault signs none) are left to storefile_verify. */
int storefile_export(struct storefile *sf, FILE *out);

/* The copy's verdict. */
struct storefile_report {
        struct export_report trail; /* of the export part, export_verify's */
        uint64_t unsigned_lines;    /* lines after the last checkpoint, chained only */
        char head_time[64];         /* the last line's "time" */
        int64_t bad_seq;            /* the first bad line, -1 when none is to blame */
        char why[256];
};

/* Checks the copy as `vaultctl audit verify --file` checks an export: its
 * trail is exported to a temporary file and read back by export_verify
 * (against vkey, NULL: the key the copy names), so every rule of the
 * export verifier applies; then the lines after the last checkpoint must
 * chain on from it, and the stored head must be the last line. Returns 0,
 * -EBADMSG with bad_seq and why set, other -errno. */
int storefile_verify(struct storefile *sf, const char *vkey, struct storefile_report *ret);

/* Writes a consistent, compacted copy of the file into fd (offset 0). */
int storefile_copy(struct storefile *sf, int fd);

/* Whether a process has the store in dir open (LMDB holds a lock on its
 * lock file for as long as an environment is open): 1 yes, 0 no (or no
 * lock file), -errno when it cannot tell. */
int storefile_in_use(const char *dir);
