#include "recverify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "recctl.h"

enum { PASS_LINES, PASS_VERSIONS, PASS_HEADS, PASS_DONE };

int recverify_new(uint64_t trail_end, struct records_verify **ret)
{
        struct records_verify *st = calloc(1, sizeof(*st));

        if (!st)
                return -ENOMEM;
        st->trail_end = trail_end;
        st->list = json_array();
        if (!st->list) {
                free(st);
                return -ENOMEM;
        }
        *ret = st;
        return 0;
}

void recverify_free(struct records_verify *st)
{
        if (!st)
                return;
        json_decref(st->list);
        free(st);
}

static void problem(struct records_verify *st, const struct record_name *n, int64_t version, int64_t seq,
                    const char *reason)
{
        json_t *p;

        st->problems++;
        if (json_array_size(st->list) >= RECVERIFY_PROBLEMS_MAX)
                return;
        p = json_pack("{s:s,s:s}", "collection", n ? n->collection : "?", "id", n ? n->id : "?");
        if (!p)
                return;
        if (version >= 0)
                json_object_set_new(p, "version", json_integer(version));
        if (seq >= 0)
                json_object_set_new(p, "seq", json_integer(seq));
        json_object_set_new(p, "reason", json_string(reason));
        json_array_append_new(st->list, p);
}

static int line_get(struct vault *v, MDB_txn *txn, uint64_t seq, MDB_val *ret)
{
        uint8_t kb[8];

        be64_put(kb, seq);
        return store_get(txn, v->store->audit, kb, 8, ret);
}

int recverify_version(struct vault *v, MDB_txn *txn, const struct record_name *n,
                      const struct version_meta *m, char *why, size_t whylen)
{
        MDB_val line;
        int r = line_get(v, txn, m->seq, &line);

        if (r == -ENOENT) {
                snprintf(why, whylen, "it names audit line %" PRIu64 ", which the trail does not hold",
                         m->seq);
                return -EBADMSG;
        }
        if (r < 0)
                return r;
        return recmeta_line_check(line.mv_data, line.mv_size, n, m, why, whylen);
}

/* Pass 1: each line that wrote a version has it in the store. */
static int check_line(struct vault *v, MDB_txn *txn, struct records_verify *st, uint64_t seq,
                      const MDB_val *line)
{
        uint8_t key[RECMETA_KEY_MAX];
        struct record_name n;
        struct version_meta m;
        MDB_val val;
        char why[RECVERIFY_WHY_MAX];
        int r;

        if (!recmeta_line_may_write(line->mv_data, line->mv_size))
                return 0;
        r = recmeta_line_parse(line->mv_data, line->mv_size, seq, &n, &m);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                problem(st, NULL, -1, (int64_t)seq,
                        "this audit line wrote a version but does not say which");
                return 0;
        }
        r = store_get(txn, v->store->versions, key, recmeta_key_build(&n, true, key), &val);
        if (r == -ENOENT) {
                snprintf(why, sizeof(why),
                         "audit line %" PRIu64 " wrote this version, but the store does not hold it: it was "
                         "removed",
                         seq);
                problem(st, &n, (int64_t)n.version, (int64_t)seq, why);
                return 0;
        }
        return r;
}

static int pass_lines(struct vault *v, MDB_txn *txn, struct records_verify *st, size_t max)
{
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        MDB_cursor *cur;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, v->store->audit, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, st->next_seq);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && n < max;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
                uint64_t seq = key.mv_size == 8 ? be64_get(key.mv_data) : UINT64_MAX;

                if (seq >= st->trail_end) {
                        rc = MDB_NOTFOUND;
                        break;
                }
                if ((r = check_line(v, txn, st, seq, &val)) < 0)
                        break;
                st->next_seq = seq + 1;
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (rc == MDB_NOTFOUND)
                st->phase = PASS_VERSIONS;
        else if (rc)
                return store_errno(rc);
        return 0;
}

/* Whether line is the records.dispose of record n that c describes: same
 * record, result ok, time, versions and uid as the control entry says.
 * -EBADMSG with why when not. */
static int disposal_line_check(const MDB_val *line, const struct record_name *n, const struct recctl *c,
                               char *why, size_t whylen)
{
        json_t *o = json_loadb(line->mv_data, line->mv_size, JSON_REJECT_DUPLICATES, NULL);
        const char *op = json_string_value(json_object_get(o, "op")),
                   *result = json_string_value(json_object_get(o, "result")),
                   *coll = json_string_value(json_object_get(o, "collection")),
                   *id = json_string_value(json_object_get(o, "id")),
                   *time = json_string_value(json_object_get(o, "time"));
        json_t *versions = json_object_get(o, "versions"),
               *uid = json_object_get(json_object_get(o, "actor"), "uid");
        uint64_t time_us;
        int r = -EBADMSG;

        if (!op || strcmp(op, "records.dispose") != 0 || !result || strcmp(result, "ok") != 0)
                snprintf(why, whylen,
                         "its record is said disposed of by audit line %" PRIu64
                         ", which is no disposal that succeeded",
                         c->disposed_seq);
        else if (!coll || !id || strcmp(coll, n->collection) != 0 || strcmp(id, n->id) != 0)
                snprintf(why, whylen, "audit line %" PRIu64 " disposed of another record, not this one",
                         c->disposed_seq);
        else if (!time || recmeta_time_parse(time, &time_us) < 0 || time_us != c->disposed_us)
                snprintf(why, whylen,
                         "its record's disposal time is not the time of audit line %" PRIu64
                         ", which disposed of it",
                         c->disposed_seq);
        else if (!json_is_integer(versions) ||
                 (uint64_t)json_integer_value(versions) != c->disposed_versions || !json_is_integer(uid) ||
                 (uint64_t)json_integer_value(uid) != c->disposed_uid)
                snprintf(why, whylen,
                         "its record's disposal (versions, uid) is not what audit line %" PRIu64 " says",
                         c->disposed_seq);
        else
                r = 0;
        json_decref(o);
        return r;
}

/* A disposed (shredded) version: its record's control entry says it was
 * disposed of, by a records.dispose line the trail holds, which took this
 * version. Without this, whoever can write the store could strip bodies
 * and write a disposal that never happened. */
static int check_disposed(struct vault *v, MDB_txn *txn, struct records_verify *st, const MDB_val *key,
                          const struct record_name *n, const struct version_meta *m)
{
        char why[RECVERIFY_WHY_MAX];
        struct recctl c;
        MDB_val line;
        int r = recctl_get(v, txn, key->mv_data, key->mv_size - 9, &c);

        if (r == -EIO || (r == 0 && !c.disposed)) {
                problem(st, n, (int64_t)n->version, (int64_t)m->seq,
                        "its body is destroyed, but its record was never disposed of");
                return 0;
        }
        if (r < 0)
                return r;
        if (n->version > c.disposed_versions || c.disposed_seq <= m->seq) {
                snprintf(why, sizeof(why),
                         "its body is destroyed, but its record's disposal (audit line %" PRIu64 ", %" PRIu64
                         " versions) did not take this version",
                         c.disposed_seq, c.disposed_versions);
                problem(st, n, (int64_t)n->version, (int64_t)m->seq, why);
                return 0;
        }
        r = line_get(v, txn, c.disposed_seq, &line);
        if (r == -ENOENT) {
                snprintf(why, sizeof(why),
                         "its body is destroyed by a disposal that names audit line %" PRIu64
                         ", which the trail does not hold",
                         c.disposed_seq);
                problem(st, n, (int64_t)n->version, (int64_t)m->seq, why);
                return 0;
        }
        if (r < 0)
                return r;
        if (disposal_line_check(&line, n, &c, why, sizeof(why)) < 0)
                problem(st, n, (int64_t)n->version, (int64_t)m->seq, why);
        return 0;
}

/* Pass 2: one stored version against the line it names, and (at its
 * record's first version) the record has a head. */
static int check_version(struct vault *v, MDB_txn *txn, struct records_verify *st, const MDB_val *key,
                         const MDB_val *val)
{
        char why[RECVERIFY_WHY_MAX];
        struct record_name n, prev;
        struct version_meta m;
        MDB_val head;
        size_t hlen;
        int r;

        if (recmeta_key_parse(key->mv_data, key->mv_size, true, &n) < 0) {
                problem(st, NULL, -1, -1, "a stored version's key names no record");
                return 0;
        }
        st->versions++;
        if (st->pos_len == 0 || recmeta_key_parse(st->pos, st->pos_len, true, &prev) < 0 ||
            strcmp(prev.collection, n.collection) != 0 || strcmp(prev.id, n.id) != 0) {
                r = store_get(txn, v->store->heads, key->mv_data, key->mv_size - 9, &head);
                if (r == -ENOENT)
                        problem(st, &n, -1, -1, "versions are stored, but the record has no head");
                else if (r < 0)
                        return r;
        }
        if (recmeta_version_decode(val->mv_data, val->mv_size, &m, &hlen) < 0) {
                problem(st, &n, (int64_t)n.version, -1, "the stored version is malformed");
                return 0;
        }
        if (recmeta_legacy(&m)) {
                problem(st, &n, (int64_t)n.version, -1,
                        "this version is not bound to the audit trail: it predates bound metadata and no "
                        "audit line wrote it");
                return 0;
        }
        r = recverify_version(v, txn, &n, &m, why, sizeof(why));
        if (r == -EBADMSG)
                problem(st, &n, (int64_t)n.version, (int64_t)m.seq, why);
        if (r < 0)
                return r == -EBADMSG ? 0 : r;
        return recmeta_disposed(&m) ? check_disposed(v, txn, st, key, &n, &m) : 0;
}

static int version_meta_get(struct vault *v, MDB_txn *txn, const struct record_name *n,
                            struct version_meta *ret)
{
        uint8_t key[RECMETA_KEY_MAX];
        MDB_val val;
        size_t hlen;
        int r = store_get(txn, v->store->versions, key, recmeta_key_build(n, true, key), &val);

        if (r < 0)
                return r;
        return recmeta_version_decode(val.mv_data, val.mv_size, ret, &hlen);
}

/* Pass 3: a head against its latest version and its first. Malformed
 * versions were named by pass 2. */
static int check_head(struct vault *v, MDB_txn *txn, struct records_verify *st, const MDB_val *key,
                      const MDB_val *val)
{
        char why[RECVERIFY_WHY_MAX];
        struct version_meta latest, first, next;
        struct record_head h;
        struct record_name n;
        int r;

        if (recmeta_key_parse(key->mv_data, key->mv_size, false, &n) < 0) {
                problem(st, NULL, -1, -1, "a head's key names no record");
                return 0;
        }
        st->records++;
        if (recmeta_head_decode(val->mv_data, val->mv_size, &h) < 0 || h.version == 0) {
                problem(st, &n, -1, -1, "the head is malformed");
                return 0;
        }
        n.version = h.version;
        r = version_meta_get(v, txn, &n, &latest);
        if (r == -ENOENT) {
                problem(st, &n, (int64_t)h.version, -1,
                        "the head names this version as the latest, but the store does not hold it");
                return 0;
        }
        if (r < 0)
                return r == -EBADMSG ? 0 : r;
        n.version = h.version + 1;
        r = version_meta_get(v, txn, &n, &next);
        if (r != -ENOENT) {
                if (r < 0 && r != -EBADMSG)
                        return r;
                snprintf(why, sizeof(why),
                         "the head says version %" PRIu64 " is the latest, but version %" PRIu64
                         " exists: the head was rolled back",
                         h.version, h.version + 1);
                problem(st, &n, (int64_t)n.version, -1, why);
                return 0;
        }
        first = latest;
        n.version = 1;
        if (h.version != 1 && (r = version_meta_get(v, txn, &n, &first)) == -ENOENT) {
                problem(st, &n, 1, -1, "the store does not hold the record's version 1");
                return 0;
        }
        if (h.version != 1 && r < 0)
                return r == -EBADMSG ? 0 : r;
        n.version = h.version;
        if (recmeta_head_check(&h, &latest, &first, why, sizeof(why)) < 0)
                problem(st, &n, (int64_t)h.version, -1, why);
        return 0;
}

/* Passes 2 and 3: a cursor over versions or heads, from the key after
 * st->pos, up to max entries. */
static int pass_table(struct vault *v, MDB_txn *txn, struct records_verify *st, size_t max, MDB_dbi dbi,
                      int (*check)(struct vault *, MDB_txn *, struct records_verify *, const MDB_val *,
                                   const MDB_val *))
{
        MDB_val key = {st->pos_len, st->pos}, val;
        MDB_cursor *cur;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, dbi, &cur);
        if (rc)
                return store_errno(rc);
        rc = mdb_cursor_get(cur, &key, &val, st->pos_len ? MDB_SET_RANGE : MDB_FIRST);
        if (rc == 0 && st->pos_len && key.mv_size == st->pos_len &&
            memcmp(key.mv_data, st->pos, st->pos_len) == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        for (; rc == 0 && n < max; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
                if ((r = check(v, txn, st, &key, &val)) < 0)
                        break;
                if (key.mv_size > sizeof(st->pos)) {
                        r = -EIO; /* LMDB keeps no key this long */
                        break;
                }
                st->pos_len = key.mv_size;
                memcpy(st->pos, key.mv_data, st->pos_len);
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (rc == MDB_NOTFOUND) {
                st->phase++;
                st->pos_len = 0;
        } else if (rc)
                return store_errno(rc);
        return 0;
}

int recverify_step(struct vault *v, MDB_txn *txn, struct records_verify *st, size_t max_items)
{
        int r;

        switch (st->phase) {
        case PASS_LINES:
                r = pass_lines(v, txn, st, max_items);
                break;
        case PASS_VERSIONS:
                r = pass_table(v, txn, st, max_items, v->store->versions, check_version);
                break;
        case PASS_HEADS:
                r = pass_table(v, txn, st, max_items, v->store->heads, check_head);
                break;
        default:
                return 1;
        }
        if (r < 0)
                return r;
        return st->phase == PASS_DONE ? 1 : 0;
}
