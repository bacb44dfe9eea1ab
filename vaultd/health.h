/* The vault's health (issue #10): whether it is well or needs an admin, for
 * Status and the sd_notify STATUS= line. Three steps, so that the rules
 * can be tested without a daemon:
 *
 *   health_gather  one cheap look at the vault: disk and map (one statvfs,
 *                  LMDB's environment info), the audit head and the last
 *                  checkpoint (atomics), the last backup (one meta read),
 *                  the writer, the integrity failures since start. No
 *                  scan: it runs every second for the STATUS= line.
 *   health_judge   the state ("serving", "degraded", "sealed") and the
 *                  problems (they make it "degraded") and warnings (they
 *                  do not), each a short sentence naming no record;
 *   health_json,   the Status fields and the STATUS= text.
 *   health_status_line
 *
 * Integrity failures come from the event loop (a call answered
 * IntegrityError, a Verify that failed) and from the writer (a checkpoint
 * that could not be signed): struct health counts them under a lock, keeps
 * the last one, and logs each at error level (log_integrity). */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct vault;

/* The thresholds (README, "What status tells you"; docs/protocol.md,
 * "Health"). Less free space than either of these on the state
 * directory's file system is a problem: */
#define HEALTH_DISK_MIN_PERCENT 10
#define HEALTH_DISK_MIN_BYTES   (4 * STORE_RESERVE_BYTES)
/* Below the reserve and this much, writes are being refused. */
#define HEALTH_DISK_FULL_MARGIN (1ull << 20)
/* The map at its largest size (it cannot grow) with less than this free. */
#define HEALTH_MAP_MIN_PERCENT 10
/* Audit lines waiting this long for a checkpoint (one is due after a
 * minute, AUDIT_CHECKPOINT_USEC): the keeper or the store fails to sign. */
#define HEALTH_CHECKPOINT_STALE_S (10 * 60)
/* An integrity failure keeps the vault degraded this long (a failed
 * Verify: until a Verify passes). */
#define HEALTH_INTEGRITY_RECENT_S (24 * 3600)
/* One batch running this long: writes are stuck (the watchdog, when
 * systemd runs one, restarts vaultd sooner). */
#define HEALTH_WRITER_STUCK_S 30
/* A last good backup older than this is a warning, not a problem. */
#define HEALTH_BACKUP_WARN_S (2 * 86400)

#define HEALTH_SENTENCE_MAX 160
#define HEALTH_PROBLEMS_MAX 8
#define HEALTH_WARNINGS_MAX 2
/* The STATUS= text, problems included. */
#define HEALTH_STATUS_LINE_MAX 1024

enum health_state {
        HEALTH_SERVING,
        HEALTH_DEGRADED, /* serving, but something needs an admin: see the problems */
        HEALTH_SEALED,   /* records answer Sealed until Unseal */
};

enum integrity_kind {
        INTEGRITY_RECORD,     /* a call found a record's stored data or metadata altered */
        INTEGRITY_VERIFY,     /* Verify found the trail broken, or records that do not match it */
        INTEGRITY_CHECKPOINT, /* a checkpoint could not be signed, stored or published */
};

struct integrity_event {
        enum integrity_kind kind;
        uint64_t time_us; /* realtime; 0: no event */
        uint64_t seq;     /* the audit line of the call that met it; UINT64_MAX: none */
        char op[32];      /* "records.get", "audit.verify", "audit.checkpoint" */
        char what[256];   /* a sentence; names no record id (it goes to the journal) */
        /* The record it concerns, for admins and auditors only ("": none). */
        char collection[65], id[129];
        int64_t version; /* -1: none */
};

struct health {
        pthread_mutex_t lock;
        uint64_t failures;                 /* integrity failures since start */
        struct integrity_event last;       /* the last of any kind */
        struct integrity_event last_other; /* the last that is not a Verify's */
        /* The last Verify failed: its problem stays until one passes. */
        bool verify_failed;
        char verify_problem[HEALTH_SENTENCE_MAX];
};

void health_init(struct health *h);
void health_done(struct health *h);

/* Counts an integrity failure, keeps it as the last one, and logs it at
 * error level. e is copied; a time of 0 is now. Any thread. */
void health_integrity(struct health *h, const struct integrity_event *e);
/* A Verify ended: failed with e (counted as health_integrity does) and
 * problem, a short sentence kept in the problems until a Verify passes;
 * or passed (e and problem NULL). */
void health_verify_result(struct health *h, const struct integrity_event *e, const char *problem);

/* What health_judge decides from. */
struct health_facts {
        uint64_t now_us; /* realtime */
        bool sealed;
        bool has_usage; /* usage is known (the store answered) */
        struct store_usage usage;
        uint64_t audit_lines, checkpoint_size;
        uint64_t checkpoint_signed_s; /* 0: no signed time */
        uint64_t unsigned_since_us;   /* 0: no line waits for a checkpoint */
        bool has_backup;
        uint64_t backup_time_us;
        uint64_t writer_busy_us;
        uint64_t integrity_failures;
        struct integrity_event last, last_other;
        bool verify_failed;
        char verify_problem[HEALTH_SENTENCE_MAX];
};

/* One cheap look at v (event loop). */
void health_gather(struct vault *v, struct health_facts *ret);

struct health_verdict {
        enum health_state state;
        size_t nproblems, nwarnings;
        char problems[HEALTH_PROBLEMS_MAX][HEALTH_SENTENCE_MAX];
        char warnings[HEALTH_WARNINGS_MAX][HEALTH_SENTENCE_MAX];
};

/* Applies the thresholds above. Sealed wins over degraded; the problems
 * are listed either way (a checkpoint is not expected while sealed). */
void health_judge(const struct health_facts *f, struct health_verdict *ret);
/* "serving", "degraded", "sealed". */
const char *health_state_name(enum health_state state);

/* The health fields of a Status reply for admins and auditors (new
 * reference; NULL when out of memory): problems, warnings, the checkpoint,
 * store, map and disk numbers, the integrity failures. */
json_t *health_json(const struct health_facts *f, const struct health_verdict *vd);
/* The STATUS= text: the state (with its problems), the counts, disk free,
 * the checkpoint's and the backup's age, in whole minutes or coarser so
 * that it changes rarely. */
void health_status_line(const struct health_facts *f, const struct health_verdict *vd, uint64_t records,
                        unsigned clients, char *buf, size_t size);
