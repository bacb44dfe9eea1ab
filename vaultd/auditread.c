/* The long reads of io.vaultd.audit, on the reader thread (vaultd/reader.h):
 * Export's file, written straight into varlink messages (an audit line is
 * quoted as a JSON string, no tree is built), and Verify's check of the
 * trail and of the records against it. */
#include "auditread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auditproof.h"
#include "auditree.h"
#include "cosignatures.h"
#include "jsonscan.h"
#include "methods.h"
#include "recverify.h"
#include "util.h"

#define IFACE                        "io.vaultd.audit"
#define EXPORT_CHECKPOINTS_PER_REPLY 256
/* A reply of lines: {"parameters":{"lines":[...]}, and "continues". */
#define LINES_OPEN       "{\"parameters\":{\"lines\":["
#define LINES_CLOSE      "]}}"
#define LINES_CLOSE_MORE "]},\"continues\":true}"

enum { EXPORT_HEADER, EXPORT_LINES, EXPORT_CHECKPOINTS, EXPORT_DONE };

struct export_read {
        uint64_t seq;         /* the Export's own audit line */
        uint64_t first, next; /* the first line, and the next line or checkpoint size to read */
        uint64_t end;         /* the last line */
        uint64_t head;        /* the vault's newest checkpoint when the export began */
        int phase;
        /* The message being written: how many lines it holds, and the
         * line that could not be quoted. */
        struct reader_buf *out;
        size_t nlines;
        int64_t bad_seq;
        /* Where the cosignatures of each checkpoint are read from. */
        struct vault_store *store;
        MDB_txn *txn;
};

static int export_start(struct vault *v, const struct job *j, void **ret)
{
        struct export_read *e = calloc(1, sizeof(*e));

        (void)v;
        if (!e)
                return -ENOMEM;
        *e = (struct export_read){.seq = j->seq,
                                  .first = j->stream_first,
                                  .next = j->stream_first,
                                  .end = j->stream_end,
                                  .phase = EXPORT_HEADER,
                                  .bad_seq = -1};
        *ret = e;
        return 0;
}

static void export_free(void *state)
{
        free(state);
}

/* One line of the file as a JSON string in the open message; -EILSEQ when
 * the bytes are not UTF-8 (JSON cannot carry them). */
static int message_line(struct export_read *e, const char *s, size_t len)
{
        size_t n;
        int r = reader_buf_reserve(e->out, JSCAN_QUOTED_MAX(len) + 3);

        if (r < 0)
                return r;
        if (e->nlines++)
                e->out->data[e->out->len++] = ',';
        e->out->data[e->out->len++] = '"';
        r = jscan_quote(s, len, e->out->data + e->out->len, &n);
        if (r < 0)
                return r;
        e->out->len += n;
        e->out->data[e->out->len++] = '"';
        return 0;
}

/* o (stolen) as one compact JSON line of the file. */
static int message_object(struct export_read *e, json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        int r = s ? message_line(e, s, strlen(s)) : -ENOMEM;

        json_decref(o);
        free(s);
        return r;
}

static int each_line(void *data, uint64_t seq, const char *line, size_t len)
{
        struct export_read *e = data;
        int r = message_line(data, line, len);

        if (r == -EILSEQ)
                e->bad_seq = (int64_t)seq;
        return r;
}

/* {"checkpoint": note} with the witnesses' cosignatures of it. */
static int each_checkpoint(void *data, uint64_t size, const char *note, size_t len)
{
        struct export_read *e = data;
        _cleanup_(freep) char *cosigned = NULL;
        size_t clen;
        int r = cosign_note(e->store, e->txn, size, note, len, &cosigned, &clen);

        if (r < 0)
                return r;
        return message_object(e, json_pack("{s:s%}", "checkpoint", cosigned, clen));
}

/* {"checkpoint": note} of the checkpoint at size. */
static int message_checkpoint(struct vault *v, MDB_txn *txn, struct export_read *e, uint64_t size)
{
        uint8_t key[8];
        MDB_val val;
        int r;

        be64_put(key, size);
        if ((r = store_get(txn, v->store->checkpoints, key, 8, &val)) < 0)
                return r == -ENOENT ? -EIO : r;
        return each_checkpoint(e, size, val.mv_data, val.mv_size);
}

/* Fixes the export's last line: the first checkpoint at or after the line
 * asked for (the batch that logged this Export signed one at its end). */
static int export_header(struct vault *v, MDB_txn *txn, struct export_read *e, const char **ret_error,
                         json_t **ret_params)
{
        uint8_t prev[AUDIT_HASH_SIZE] = {0};
        char hex[AUDIT_HASH_HEX_SIZE], tbuf[TIME_STRING_MAX], vkey[512];
        uint64_t want = e->end < e->seq ? e->end : e->seq, size;
        struct merkle_frontier tree;
        int r;

        r = audit_checkpoint_at_or_after(v->audit, txn, want + 1, &size);
        /* None covers it: the vault is sealed, and the keeper signs nothing
         * until it is unsealed. Export up to the last checkpoint there is;
         * the lines after it follow in an export once it is unsealed. */
        if (r == -ENOENT && (r = store_meta_get_u64(txn, v->store, "audit.cp.size", &size)) == 0 &&
            size <= e->next) {
                *ret_error = IFACE ".InvalidParameter";
                *ret_params =
                        json_pack("{s:s,s:s}", "parameter", "from_seq", "reason",
                                  "the vault is sealed and no signed checkpoint covers these lines yet: "
                                  "export them once it is unsealed");
                return JOB_FAILED;
        }
        if (r < 0)
                return r;
        e->end = size - 1;
        /* The newest checkpoint (signed for this export, unless sealed)
         * ends every export, even one that stops earlier: it shows the
         * verifier how long the trail was when the export was made. */
        if ((r = store_meta_get_u64(txn, v->store, "audit.cp.size", &e->head)) < 0)
                return r;
        if (e->next > 0 && (r = audit_line_hash(v->audit, txn, e->next - 1, prev)) < 0)
                return r;
        /* The key that signs the export's first checkpoint. */
        if ((r = audit_checkpoint_at_or_after(v->audit, txn, e->next + 1, &size)) < 0 ||
            (r = audit_key_at(v->audit, txn, size, vkey, sizeof(vkey))) < 0)
                return r;
        if ((r = auditree_frontier(v->store, txn, e->next, &tree)) < 0)
                return r == -ENOENT ? -EIO : r;
        hex_encode(prev, AUDIT_HASH_SIZE, hex);
        time_format_us(now_realtime_us(), tbuf);
        return message_object(e, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:o,s:s}", "format", EXPORT_FORMAT,
                                           "vault", v->audit->vault_id, "origin", v->audit->origin,
                                           "verifier_key", vkey, "first_seq", (json_int_t)e->next,
                                           "last_seq", (json_int_t)e->end, "prev", hex, "tree",
                                           auditproof_frontier_json(&tree), "exported", tbuf));
}

/* The checkpoints over the exported lines, a message's worth; then the
 * newest, when it lies beyond them. */
static int export_checkpoints(struct vault *v, MDB_txn *txn, struct export_read *e)
{
        int r = audit_read_checkpoints(v->audit, txn, e->next, e->end + 1, EXPORT_CHECKPOINTS_PER_REPLY,
                                       each_checkpoint, e, &e->next);

        if (r == 0 && e->next > e->end + 1) {
                if (e->head > e->end + 1)
                        r = message_checkpoint(v, txn, e, e->head);
                e->phase = EXPORT_DONE;
        }
        return r;
}

/* One message of the export: the header, a chunk of lines, or a chunk of
 * checkpoints. */
static int export_next(struct vault *v, MDB_txn *txn, void *state, struct reader_buf *out, bool *ret_done,
                       const char **ret_error, json_t **ret_params)
{
        struct export_read *e = state;
        size_t mark = out->len;
        int r;

        e->out = out;
        e->nlines = 0;
        e->store = v->store;
        e->txn = txn;
        if ((r = reader_buf_append(out, LINES_OPEN, strlen(LINES_OPEN))) < 0)
                return r;
        switch (e->phase) {
        case EXPORT_HEADER:
                r = export_header(v, txn, e, ret_error, ret_params);
                e->phase = EXPORT_LINES;
                break;
        case EXPORT_LINES:
                r = audit_read_lines(v->audit, txn, e->next, e->end, READER_CHUNK_BYTES, each_line, e,
                                     &e->next);
                if (r == 0 && e->next > e->end) {
                        e->phase = EXPORT_CHECKPOINTS;
                        e->next = e->first + 1; /* now the checkpoint sizes */
                } else if (r == 0 && e->nlines == 0)
                        r = -EIO; /* a line is missing from the store */
                break;
        default:
                r = export_checkpoints(v, txn, e);
                break;
        }
        if (r == -EILSEQ) {
                *ret_error = IFACE ".IntegrityError";
                *ret_params = json_pack("{s:I,s:s}", "seq", (json_int_t)e->bad_seq, "reason",
                                        "the stored audit line is not UTF-8: the trail was altered");
                r = JOB_FAILED;
        }
        if (r != 0) {
                out->len = mark; /* the message begun is dropped; the error follows what was sent */
                return r;
        }
        *ret_done = e->phase == EXPORT_DONE;
        if (*ret_done)
                return reader_buf_append(out, LINES_CLOSE, sizeof(LINES_CLOSE));
        return reader_buf_append(out, LINES_CLOSE_MORE, sizeof(LINES_CLOSE_MORE));
}

const struct reader_ops auditread_export = {export_start, export_next, export_free};

/* Verify checks in steps of lines (or checkpoints), then of records; the
 * reader thread runs steps until its slice is over. */
#define VERIFY_STEP_ITEMS   500
#define VERIFY_STEP_RECORDS 200

struct verify_read {
        uint64_t seq; /* the Verify's own audit line */
        const char *op;
        struct audit_verify trail;
        struct records_verify *records; /* once the trail verifies */
};

static int verify_start(struct vault *v, const struct job *j, void **ret)
{
        struct verify_read *st = calloc(1, sizeof(*st));

        (void)v;
        if (!st)
                return -ENOMEM;
        st->seq = j->seq;
        st->op = j->method->op;
        audit_verify_init(&st->trail);
        *ret = st;
        return 0;
}

static void verify_free(void *state)
{
        struct verify_read *st = state;

        recverify_free(st->records);
        audit_verify_done(&st->trail);
        free(st);
}

/* A Verify's verdict, for Status (vaultd/health.h): the trail broken at
 * seq bad_seq (>= 0), or records that do not match it (rv), or neither. */
static void verify_health(struct vault *v, const struct verify_read *st, int64_t bad_seq,
                          const struct records_verify *rv)
{
        struct integrity_event e = {.kind = INTEGRITY_VERIFY, .seq = st->seq, .version = -1};
        json_t *first = rv ? json_array_get(rv->list, 0) : NULL;
        char problem[HEALTH_SENTENCE_MAX];

        snprintf(e.op, sizeof(e.op), "%s", st->op);
        if (bad_seq >= 0) {
                snprintf(problem, sizeof(problem), "audit verify failed at seq %lld", (long long)bad_seq);
                snprintf(e.what, sizeof(e.what), "the audit trail does not verify at seq %lld: %.180s",
                         (long long)bad_seq, st->trail.why);
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

/* The verdict once both halves are done (r: the last step's 1, or
 * -EBADMSG from the trail). */
static int verify_verdict(struct vault *v, MDB_txn *txn, struct verify_read *st, int r,
                          struct reader_buf *out, const char **ret_error, json_t **ret_params)
{
        struct records_verify *rv = st->records;
        char hex[AUDIT_HASH_HEX_SIZE];
        uint8_t h[AUDIT_HASH_SIZE];
        json_t *params;

        if (r == -EBADMSG) {
                verify_health(v, st, st->trail.bad_seq, NULL);
                *ret_error = IFACE ".IntegrityError";
                *ret_params = json_pack("{s:I,s:s}", "seq", (json_int_t)st->trail.bad_seq, "reason",
                                        st->trail.why);
                return JOB_FAILED;
        }
        if ((r = audit_line_hash(v->audit, txn, st->trail.lines - 1, h)) < 0)
                return r;
        verify_health(v, st, -1, rv);
        if (rv->problems) {
                *ret_error = IFACE ".RecordsInconsistent";
                *ret_params =
                        json_pack("{s:O,s:I}", "problems", rv->list, "count", (json_int_t)rv->problems);
                return JOB_FAILED;
        }
        hex_encode(h, AUDIT_HASH_SIZE, hex);
        params = json_pack("{s:I,s:I,s:s,s:I,s:I}", "lines", (json_int_t)st->trail.lines, "checkpoints",
                           (json_int_t)st->trail.checkpoints, "hash", hex, "records",
                           (json_int_t)rv->records, "versions", (json_int_t)rv->versions);
        r = params ? reader_buf_reply(out, params, false) : -ENOMEM;
        json_decref(params);
        return r;
}

/* One step: the trail first, then the records against it. */
static int verify_next(struct vault *v, MDB_txn *txn, void *state, struct reader_buf *out, bool *ret_done,
                       const char **ret_error, json_t **ret_params)
{
        struct verify_read *st = state;
        int r;

        if (!st->records) {
                r = audit_verify_step(v->audit, txn, &st->trail, VERIFY_STEP_ITEMS);
                if (r == 1)
                        r = recverify_new(st->trail.lines, &st->records);
        } else
                r = recverify_step(v, txn, st->records, VERIFY_STEP_RECORDS);
        if (r == 0)
                return 0; /* more to do */
        if (r < 0 && r != -EBADMSG)
                return r;
        *ret_done = true;
        return verify_verdict(v, txn, st, r, out, ret_error, ret_params);
}

const struct reader_ops auditread_verify = {verify_start, verify_next, verify_free};
