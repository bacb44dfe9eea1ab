#include "auditapi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auditrange.h"
#include "methods.h"
#include "reader.h"
#include "util.h"

#define IFACE "io.vaultd.audit"
/* What a Verify refused because another runs suggests to wait, seconds. */
#define VERIFY_RETRY_SECONDS 1

static json_t *latest_checkpoint(struct vault *v, MDB_txn *txn)
{
        MDB_cursor *cur;
        MDB_val key, val;
        json_t *note = NULL;

        if (mdb_cursor_open(txn, v->store->checkpoints, &cur) != 0)
                return NULL;
        if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == 0)
                note = json_stringn(val.mv_data, val.mv_size);
        mdb_cursor_close(cur);
        return note;
}

int auditapi_head(struct vault *v, MDB_txn *txn, struct job *j)
{
        char hex[AUDIT_HASH_HEX_SIZE];
        struct audit_log *log = v->audit;

        hex_encode(log->pending_head, AUDIT_HASH_SIZE, hex);
        j->reply = json_pack("{s:I,s:s,s:s,s:s}", "lines", (json_int_t)log->pending_next_seq, "hash", hex,
                             "origin", log->origin, "verifier_key", log->vkey);
        if (!j->reply)
                return -ENOMEM;
        json_object_set_new(j->reply, "checkpoint", latest_checkpoint(v, txn) ?: json_null());
        return 0;
}

int auditapi_export(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct export_range rg = {.to = INT64_MAX};
        int r;

        if ((r = param_uint(j, IFACE, "from_seq", false, INT64_MAX, &rg.from, &rg.has_from)) != 0 ||
            (r = param_uint(j, IFACE, "to_seq", false, INT64_MAX, &rg.to, &rg.has_to)) != 0 ||
            (r = export_range_by_time(v, txn, j, &rg)) != 0)
                return r;
        if (rg.from >= v->audit->pending_next_seq)
                return job_invalid(j, IFACE, "from_seq", "is beyond the end of the trail");
        if (rg.has_to && rg.to < rg.from)
                return job_invalid(j, IFACE, "to_seq", "is before from_seq");
        j->audit.extra = json_pack("{s:I}", "from_seq", (json_int_t)rg.from);
        if (rg.has_to)
                json_object_set_new(j->audit.extra, "to_seq", json_integer((json_int_t)rg.to));
        export_range_note(j);
        j->stream_first = rg.from;
        j->stream_end = rg.to;
        return 0;
}

int auditapi_verify(struct vault *v, MDB_txn *txn, struct job *j)
{
        int r;

        (void)txn;
        if (!v->reader)
                return 0;
        /* Refused before its line is written, so the line says so. */
        r = reader_claim(v->reader, j->actor.uid, j);
        if (r == -EBUSY)
                return job_fail(j, IFACE ".TryLater",
                                json_pack("{s:i,s:s}", "retry_after", VERIFY_RETRY_SECONDS, "reason",
                                          "a Verify of this caller is running: one at a time"));
        if (r == -EAGAIN)
                return job_fail(j, IFACE ".TryLater",
                                json_pack("{s:i,s:s}", "retry_after", VERIFY_RETRY_SECONDS, "reason",
                                          "the most verifications vaultd runs at once are running"));
        if (r < 0)
                return r;
        j->verify_claim = v->reader;
        return 0;
}
