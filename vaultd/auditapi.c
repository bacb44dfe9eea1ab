#include "auditapi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auditrange.h"
#include "methods.h"
#include "recverify.h"
#include "util.h"

#define IFACE "io.vaultd.audit"
/* Bytes of audit lines per streamed reply. */
#define EXPORT_CHUNK_BYTES           (256u << 10)
#define EXPORT_CHECKPOINTS_PER_REPLY 256

enum { EXPORT_HEADER, EXPORT_LINES, EXPORT_CHECKPOINTS, EXPORT_DONE };

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

/* Appends o (stolen) to an export reply's lines, as one compact JSON line. */
static int append_line(json_t *lines, json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        if (!s)
                return -ENOMEM;
        json_array_append_new(lines, json_string(s));
        free(s);
        return 0;
}

/* {"checkpoint": note} of the checkpoint at size, as a line of an export. */
static int append_checkpoint(struct vault *v, MDB_txn *txn, uint64_t size, json_t *lines)
{
        uint8_t key[8];
        MDB_val val;
        int r;

        be64_put(key, size);
        if ((r = store_get(txn, v->store->checkpoints, key, 8, &val)) < 0)
                return r == -ENOENT ? -EIO : r;
        return append_line(lines, json_pack("{s:s%}", "checkpoint", (const char *)val.mv_data, val.mv_size));
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
        j->stream_first = j->stream_next = rg.from;
        j->stream_end = rg.to;
        j->stream_phase = EXPORT_HEADER;
        return 0;
}

/* Fixes the export's last line: the first checkpoint at or after the line
 * asked for (the batch that logged this Export signed one at its end). */
static int export_header(struct vault *v, MDB_txn *txn, struct job *j, json_t *lines)
{
        uint8_t prev[AUDIT_HASH_SIZE] = {0};
        char hex[AUDIT_HASH_HEX_SIZE], tbuf[TIME_STRING_MAX], vkey[512];
        uint64_t want = j->stream_end < j->seq ? j->stream_end : j->seq, size;
        int r;

        r = audit_checkpoint_at_or_after(v->audit, txn, want + 1, &size);
        /* None covers it: the vault is sealed, and the keeper signs nothing
         * until it is unsealed. Export up to the last checkpoint there is;
         * the lines after it follow in an export once it is unsealed. */
        if (r == -ENOENT && (r = store_meta_get_u64(txn, v->store, "audit.cp.size", &size)) == 0 &&
            size <= j->stream_next)
                return job_invalid(j, IFACE, "from_seq",
                                   "the vault is sealed and no signed checkpoint covers these lines yet: "
                                   "export them once it is unsealed");
        if (r < 0)
                return r;
        j->stream_end = size - 1;
        /* The newest checkpoint (signed for this export, unless sealed)
         * ends every export, even one that stops earlier: it shows the
         * verifier how long the trail was when the export was made. */
        if ((r = store_meta_get_u64(txn, v->store, "audit.cp.size", &j->stream_head)) < 0)
                return r;
        if (j->stream_next > 0 && (r = audit_line_hash(v->audit, txn, j->stream_next - 1, prev)) < 0)
                return r;
        /* The key that signs the export's first checkpoint. */
        if ((r = audit_checkpoint_at_or_after(v->audit, txn, j->stream_next + 1, &size)) < 0 ||
            (r = audit_key_at(v->audit, txn, size, vkey, sizeof(vkey))) < 0)
                return r;
        hex_encode(prev, AUDIT_HASH_SIZE, hex);
        time_format_us(now_realtime_us(), tbuf);
        return append_line(lines,
                           json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s}", "format", EXPORT_FORMAT, "vault",
                                     v->audit->vault_id, "origin", v->audit->origin, "verifier_key", vkey,
                                     "first_seq", (json_int_t)j->stream_next, "last_seq",
                                     (json_int_t)j->stream_end, "prev", hex, "exported", tbuf));
}

int auditapi_export_next(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues)
{
        json_t *lines = json_array();
        MDB_txn *txn;
        int r;

        r = store_read_begin(v->store, &txn);
        if (r < 0) {
                json_decref(lines);
                return r;
        }
        switch (j->stream_phase) {
        case EXPORT_HEADER:
                r = export_header(v, txn, j, lines);
                j->stream_phase = EXPORT_LINES;
                break;
        case EXPORT_LINES:
                r = audit_read_lines(v->audit, txn, j->stream_next, j->stream_end, EXPORT_CHUNK_BYTES, lines,
                                     &j->stream_next);
                if (r == 0 && j->stream_next > j->stream_end) {
                        j->stream_phase = EXPORT_CHECKPOINTS;
                        j->stream_next = j->stream_first + 1;
                } else if (r == 0 && json_array_size(lines) == 0)
                        r = -EIO;
                break;
        case EXPORT_CHECKPOINTS: {
                json_t *cps = json_array(), *cp;
                size_t i;

                /* stream_next now walks checkpoint sizes, a chunk per reply. */
                r = audit_read_checkpoints(v->audit, txn, j->stream_next, j->stream_end + 1,
                                           EXPORT_CHECKPOINTS_PER_REPLY, cps, &j->stream_next);
                json_array_foreach(cps, i, cp) if (r == 0) r = append_line(lines, json_incref(cp));
                json_decref(cps);
                if (r == 0 && j->stream_next > j->stream_end + 1) {
                        if (j->stream_head > j->stream_end + 1)
                                r = append_checkpoint(v, txn, j->stream_head, lines);
                        j->stream_phase = EXPORT_DONE;
                }
                break;
        }
        }
        store_read_end(v->store, txn);
        if (r != 0) { /* -errno, or JOB_FAILED with the error set */
                json_decref(lines);
                return r;
        }
        *ret_params = json_pack("{s:o}", "lines", lines);
        *ret_continues = j->stream_phase != EXPORT_DONE;
        return 0;
}

int auditapi_verify(struct vault *v, MDB_txn *txn, struct job *j)
{
        (void)v;
        (void)txn;
        (void)j;
        return 0;
}

/* A turn of Verify on the event loop lasts about this long: other clients
 * wait for it between their own events. Within a turn the trail is
 * checked in steps of lines (or checkpoints), the records in steps of
 * lines, versions or heads (a version costs a lookup and a parse of its
 * line), until the time is up. */
#define VERIFY_TURN_USEC    5000
#define VERIFY_STEP_ITEMS   500
#define VERIFY_STEP_RECORDS 200

/* One step: the trail first, then the records against it. Returns 1 when
 * both are done, 0 when there is more, -EBADMSG when the trail does not
 * verify, other -errno. */
static int verify_step(struct vault *v, MDB_txn *txn, struct job *j)
{
        int r;

        if (!j->verify_records) {
                r = audit_verify_step(v->audit, txn, j->verify, VERIFY_STEP_ITEMS);
                if (r == 1)
                        r = recverify_new(j->verify->lines, &j->verify_records);
                return r;
        }
        return recverify_step(v, txn, j->verify_records, VERIFY_STEP_RECORDS);
}

/* Steps in one read transaction until done or the turn's time is up. */
static int verify_turn(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint64_t start = now_monotonic_us();
        int r;

        do
                r = verify_step(v, txn, j);
        while (r == 0 && now_monotonic_us() - start < VERIFY_TURN_USEC);
        return r;
}

/* A Verify's verdict, for Status (vaultd/health.h): the trail broken at
 * seq bad_seq (>= 0), or records that do not match it (rv), or neither. */
static void verify_health(struct vault *v, struct job *j, int64_t bad_seq, const struct records_verify *rv)
{
        struct integrity_event e = {.kind = INTEGRITY_VERIFY, .seq = j->seq, .version = -1};
        json_t *first = rv ? json_array_get(rv->list, 0) : NULL;
        char problem[HEALTH_SENTENCE_MAX];

        snprintf(e.op, sizeof(e.op), "%s", j->method->op);
        if (bad_seq >= 0) {
                snprintf(problem, sizeof(problem), "audit verify failed at seq %lld", (long long)bad_seq);
                snprintf(e.what, sizeof(e.what), "the audit trail does not verify at seq %lld: %.180s",
                         (long long)bad_seq, j->verify->why);
        } else if (rv && rv->problems) {
                snprintf(problem, sizeof(problem), "audit verify: %llu %s not match the trail",
                         (unsigned long long)rv->problems, rv->problems == 1 ? "record does" : "records do");
                snprintf(e.what, sizeof(e.what),
                         "%llu stored %s not match the audit trail; the first, in "
                         "collection %s: %s",
                         (unsigned long long)rv->problems, rv->problems == 1 ? "record does" : "records do",
                         json_string_value(json_object_get(first, "collection")) ?: "?",
                         json_string_value(json_object_get(first, "reason")) ?: "?");
                snprintf(e.collection, sizeof(e.collection), "%s",
                         json_string_value(json_object_get(first, "collection")) ?: "");
                snprintf(e.id, sizeof(e.id), "%s", json_string_value(json_object_get(first, "id")) ?: "");
                if (json_is_integer(json_object_get(first, "version")))
                        e.version = json_integer_value(json_object_get(first, "version"));
        } else {
                health_verify_result(&v->health, NULL, NULL);
                return;
        }
        health_verify_result(&v->health, &e, problem);
}

int auditapi_verify_after(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues)
{
        char hex[AUDIT_HASH_HEX_SIZE];
        uint8_t h[AUDIT_HASH_SIZE];
        struct records_verify *rv;
        MDB_txn *txn;
        int r;

        if (!j->verify) {
                j->verify = malloc(sizeof(*j->verify));
                if (!j->verify)
                        return -ENOMEM;
                audit_verify_init(j->verify);
        }
        r = store_read_begin(v->store, &txn);
        if (r < 0)
                return r;
        r = verify_turn(v, txn, j);
        if (r == 0) {
                /* More to do: nothing to send yet, come back next turn. */
                store_read_end(v->store, txn);
                *ret_params = NULL;
                *ret_continues = true;
                return 0;
        }
        if (r == 1)
                r = audit_line_hash(v->audit, txn, j->verify->lines - 1, h);
        store_read_end(v->store, txn);
        *ret_continues = false;
        if (r == -EBADMSG)
                verify_health(v, j, j->verify->bad_seq, NULL);
        if (r == -EBADMSG)
                return job_fail(j, IFACE ".IntegrityError",
                                json_pack("{s:I,s:s}", "seq", (json_int_t)j->verify->bad_seq, "reason",
                                          j->verify->why));
        if (r < 0)
                return r;
        rv = j->verify_records;
        verify_health(v, j, -1, rv);
        if (rv->problems)
                return job_fail(
                        j, IFACE ".RecordsInconsistent",
                        json_pack("{s:O,s:I}", "problems", rv->list, "count", (json_int_t)rv->problems));
        hex_encode(h, AUDIT_HASH_SIZE, hex);
        *ret_params = json_pack("{s:I,s:I,s:s,s:I,s:I}", "lines", (json_int_t)j->verify->lines,
                                "checkpoints", (json_int_t)j->verify->checkpoints, "hash", hex, "records",
                                (json_int_t)rv->records, "versions", (json_int_t)rv->versions);
        return 0;
}
