/* A record's retention, legal hold and disposal (issue #13,
 * docs/protocol.md "Records control"): kept beside its head, in the
 * recctl table, keyed like the head (collection NUL id), for the records
 * that have any. A record without an entry has no retain_until, no hold
 * and was never disposed. The value is a small JSON object; the head and
 * the versions keep their layouts (vaultd/recmeta.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "recmeta.h"
#include "vault.h"

/* Longest reason for a hold or a disposal, in bytes of UTF-8. */
#define RECCTL_REASON_MAX 256

struct recctl {
        uint64_t retain_until_us; /* 0: none given; the collection's period applies */
        bool held;
        uint64_t hold_us;
        uint32_t hold_uid;
        char hold_reason[RECCTL_REASON_MAX + 1];
        bool disposed;
        uint64_t disposed_us;
        uint64_t disposed_seq;      /* the records.dispose audit line */
        uint64_t disposed_versions; /* the record's versions then */
        uint32_t disposed_uid;
        char disposed_reason[RECCTL_REASON_MAX + 1];
};

/* Reads the entry of the record whose heads key is key: *ret zeroed when
 * there is none. -EIO when the stored value is malformed. */
int recctl_get(struct vault *v, MDB_txn *txn, const void *key, size_t klen, struct recctl *ret);
/* Writes c (removes the entry when c holds nothing). */
int recctl_put(struct vault *v, MDB_txn *txn, const void *key, size_t klen, const struct recctl *c);
/* Decodes a stored value (for walks over the table). -EBADMSG. */
int recctl_decode(const void *val, size_t len, struct recctl *ret);

/* {"reason","since","uid"} of a hold, {"time","reason","versions","seq",
 * "uid"} of a disposal: new references. */
json_t *recctl_hold_json(const struct recctl *c);
json_t *recctl_disposed_json(const struct recctl *c);

/* Sets io.vaultd.records.Disposed for the record (when and why, its
 * versions) and returns JOB_FAILED. */
int recctl_fail_disposed(struct job *j, const char *collection, const char *id, const struct recctl *c);

/* The reason parameter name of the call: 1..RECCTL_REASON_MAX bytes of
 * UTF-8 without control or bidi characters. 0 with *ret borrowed, or
 * JOB_FAILED with InvalidParameter. */
int recctl_param_reason(struct job *j, const char *iface, const char *name, const char **ret);
/* A time parameter: "YYYY-MM-DD" (its first microsecond, UTC) or RFC 3339
 * UTC. 0 (*ret 0 when absent), or JOB_FAILED with InvalidParameter. */
int recctl_param_time(struct job *j, const char *iface, const char *name, uint64_t *ret);
