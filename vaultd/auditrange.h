/* Export by time: the audit lines whose times fall in a period, found by
 * binary search over the trail (docs/protocol.md, Export since/until). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vault.h"

/* The first seq below end whose line's time is at or after time_us, or end
 * when there is none; a binary search over lines 0..end-1 inside txn. Lines
 * are appended with the realtime clock, so their times only go up, unless
 * the clock was stepped back: then the answer is one place where the times
 * cross time_us, not necessarily the first (the range it starts stays
 * contiguous). -EIO when a line is missing or has no valid "time". */
int audit_seq_at_time(struct audit_log *log, MDB_txn *txn, uint64_t time_us, uint64_t end, uint64_t *ret);

/* The lines an Export asks for, by seq (from_seq, to_seq) or by time
 * (since, until). */
struct export_range {
        uint64_t from, to;
        bool has_from, has_to;
};

/* Reads Export's since and until (optional, RFC 3339 UTC) and, when given,
 * sets range->from (the first line at or after since) and range->to (the
 * last line before until; has_to stays false when until is after every
 * line, so that the export runs to the end). Lines 0..pending_next_seq-1
 * are searched: the trail as this transaction sees it. Returns 0, or
 * JOB_FAILED with InvalidParameter set (bad syntax; since with from_seq or
 * until with to_seq; a period that holds no line), or -errno. */
int export_range_by_time(struct vault *v, MDB_txn *txn, struct job *j, struct export_range *range);

/* Adds since and until, as asked, to the Export's audit line (call after
 * export_range_by_time() accepted them). */
void export_range_note(struct job *j);
