/* The records checked against the audit trail (docs/audit-format.md,
 * "Online verification"): the second half of Verify, once the trail
 * itself verifies. Three passes, each a bounded step at a time in a read
 * transaction of its own, so that other clients are served meanwhile:
 *
 * 1. every line that wrote a version (records.put, records.delete, ok)
 *    has that version in the store;
 * 2. every stored version names the line that wrote it, and that line
 *    says the same record, version, kind, time, uid and size; its record
 *    has a head; a disposed (shredded) version's record was disposed of
 *    by the records.dispose line its control entry names (vaultd/recctl.h);
 * 3. every head names its latest version (none after it), and its state
 *    and times are that version's and version 1's.
 *
 * So a head rolled back, a record undeleted, a version dropped, moved or
 * rewritten, or one the trail never wrote, is named. Lines appended after
 * the trail was verified are not needed: versions are never removed, and
 * each is written in the same transaction as its line. */
#pragma once

#include <jansson.h>

#include "recmeta.h"
#include "vault.h"

/* A reason, as a sentence. */
#define RECVERIFY_WHY_MAX 256
/* LMDB's longest key (mdb_env_get_maxkeysize), a key the passes resume
 * from may be any stored one. */
#define RECVERIFY_KEY_MAX 511
/* Problems named in a reply; more are only counted. */
#define RECVERIFY_PROBLEMS_MAX 100

struct records_verify {
        int phase;
        uint64_t trail_end;             /* lines 0 .. trail_end-1 verified; pass 1 reads them */
        uint64_t next_seq;              /* pass 1: the line to resume from */
        uint8_t pos[RECVERIFY_KEY_MAX]; /* passes 2 and 3: the last key checked */
        size_t pos_len;                 /* 0: start from the first */
        uint64_t versions, records;     /* checked */
        uint64_t problems;              /* found (the first RECVERIFY_PROBLEMS_MAX in list) */
        json_t *list;                   /* [{collection, id, version?, seq?, reason}] */
};

/* A check of the records against trail lines 0 .. trail_end-1, which
 * verify. The caller owns *ret (recverify_free, which accepts NULL). */
int recverify_new(uint64_t trail_end, struct records_verify **ret);
void recverify_free(struct records_verify *st);

/* Checks up to max_items lines, versions or heads in txn. Returns 0 when
 * there is more to do, 1 when done (st->problems says whether anything
 * was wrong), -errno on storage errors. */
int recverify_step(struct vault *v, MDB_txn *txn, struct records_verify *st, size_t max_items);

/* Whether stored version n with metadata m is what its audit line wrote
 * (for Get, when no AEAD binds m). -EBADMSG with why when not. */
int recverify_version(struct vault *v, MDB_txn *txn, const struct record_name *n,
                      const struct version_meta *m, char *why, size_t whylen);
