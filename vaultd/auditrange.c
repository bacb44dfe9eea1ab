/* Time to seq for Export's since/until. Each probe reads one stored line
 * and its "time" (fixed format, RFC 3339 UTC); about 40 probes cover any
 * trail, so the search runs in the writer's transaction like the rest of
 * Export's checks. */
#include "auditrange.h"

#include <errno.h>

#include "timestamp.h"
#include "util.h"

/* The time of stored line seq. */
static int line_time(struct audit_log *log, MDB_txn *txn, uint64_t seq, uint64_t *ret_us)
{
        uint8_t key[8];
        MDB_val v;
        json_t *line;
        int r;

        be64_put(key, seq);
        r = store_get(txn, log->store->audit, key, sizeof(key), &v);
        if (r < 0)
                return r == -ENOENT ? -EIO : r;
        line = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        r = timestamp_parse_utc(json_string_value(json_object_get(line, "time")), ret_us);
        json_decref(line);
        return r < 0 ? -EIO : 0;
}

int audit_seq_at_time(struct audit_log *log, MDB_txn *txn, uint64_t time_us, uint64_t end, uint64_t *ret)
{
        uint64_t lo = 0, hi = end, t;
        int r;

        /* Invariant: lines below lo are before time_us, lines from hi on
         * are at or after it. */
        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;

                r = line_time(log, txn, mid, &t);
                if (r < 0)
                        return r;
                if (t < time_us)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret = lo;
        return 0;
}

#define IFACE       "io.vaultd.audit"
#define TIME_REASON "must be an RFC 3339 time in UTC, such as 2026-11-01T00:00:00Z"

/* A time parameter: 0 with *ret_present false when absent, 0 with the time
 * in *ret_us, or JOB_FAILED. */
static int param_time(struct job *j, const char *name, uint64_t *ret_us, bool *ret_present)
{
        const char *s;
        int r = param_string(j, IFACE, name, false, &s);

        *ret_present = false;
        if (r != 0 || !s)
                return r;
        if (timestamp_parse_utc(s, ret_us) < 0)
                return job_invalid(j, IFACE, name, TIME_REASON);
        *ret_present = true;
        return 0;
}

int export_range_by_time(struct vault *v, MDB_txn *txn, struct job *j, struct export_range *range)
{
        uint64_t lines = v->audit->pending_next_seq, since = 0, until = 0, end;
        bool has_since, has_until;
        int r;

        if ((r = param_time(j, "since", &since, &has_since)) != 0 ||
            (r = param_time(j, "until", &until, &has_until)) != 0)
                return r;
        if (has_since && range->has_from)
                return job_invalid(j, IFACE, "since", "give since or from_seq, not both");
        if (has_until && range->has_to)
                return job_invalid(j, IFACE, "until", "give until or to_seq, not both");
        if (has_since && has_until && until <= since)
                return job_invalid(j, IFACE, "until", "must be after since");
        if (has_since) {
                r = audit_seq_at_time(v->audit, txn, since, lines, &range->from);
                if (r < 0)
                        return r;
                if (range->from >= lines)
                        return job_invalid(j, IFACE, "since", "is after the last line of the trail");
                range->has_from = true;
        }
        if (!has_until)
                return 0;
        r = audit_seq_at_time(v->audit, txn, until, lines, &end);
        if (r < 0)
                return r;
        if (end == 0)
                return job_invalid(j, IFACE, "until", "is before the first line of the trail");
        if (end <= range->from)
                return job_invalid(j, IFACE, "until", "no audit line falls between since and until");
        /* Every line so far is before until: the export runs to the end,
         * its own line included, as without to_seq. */
        if (end < lines) {
                range->to = end - 1;
                range->has_to = true;
        }
        return 0;
}

void export_range_note(struct job *j)
{
        static const char *const names[] = {"since", "until"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                json_t *t = json_object_get(j->call.parameters, names[i]);

                if (json_is_string(t))
                        json_object_set_new(j->audit.extra, names[i], json_string(json_string_value(t)));
        }
}
