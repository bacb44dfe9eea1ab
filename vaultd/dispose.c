#include "dispose.h"

#include <errno.h>
#include <string.h>

#include "collections.h"
#include "findindex.h"
#include "recctl.h"
#include "recmeta.h"
#include "records.h"
#include "util.h"

#define IFACE              "io.vaultd.records"
#define LIST_LIMIT_MAX     1000
#define LIST_LIMIT_DEFAULT 100
/* Heads one Due call, or control entries one ListHolds call, reads at
 * most (it answers next when it stops). */
#define DUE_SCAN_MAX 10000

/* When the record falls due: its retain_until, else its collection's
 * period after its last change. -ENOENT when neither is set. */
static int due_time(const struct collection_settings *cs, const struct record_head *h,
                    const struct recctl *c, uint64_t *ret, bool *ret_shortened)
{
        uint64_t period = cs->retention.unit ? retention_add(h->updated_us, &cs->retention) : UINT64_MAX;

        /* A service gives retain_until (it knows the event retention runs
         * from), so a compromised one could make its records due at once:
         * a record whose retain_until ends it before its collection's
         * period, or that was due already when it was last written, is
         * marked for the admin who disposes of it. */
        *ret_shortened = c->retain_until_us && ((cs->retention.unit && c->retain_until_us < period) ||
                                                c->retain_until_us <= h->updated_us);
        if (c->retain_until_us) {
                *ret = c->retain_until_us;
                return 0;
        }
        if (!cs->retention.unit)
                return -ENOENT;
        *ret = period;
        return 0;
}

static json_t *time_json(uint64_t us)
{
        char t[TIME_STRING_MAX];

        time_format_us(us, t);
        return json_string(t);
}

struct target {
        const char *collection, *id;
        uint8_t key[RECMETA_KEY_MAX];
        size_t klen;
        struct record_head head;
        struct recctl ctl;
};

/* The record a call names, with its head and control entry: 0, or
 * JOB_FAILED (InvalidParameter, NotFound, Disposed), or -errno. */
static int target_load(struct vault *v, MDB_txn *txn, struct job *j, struct target *t)
{
        struct record_name n = {0};
        MDB_val val;
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &t->collection)) != 0)
                return r;
        j->audit.collection = t->collection;
        if ((r = records_param_name(j, "id", NAME_ID, true, &t->id)) != 0)
                return r;
        j->audit.id = t->id;
        strcpy(n.collection, t->collection);
        strcpy(n.id, t->id);
        t->klen = recmeta_key_build(&n, false, t->key);
        r = store_get(txn, v->store->heads, t->key, t->klen, &val);
        if (r == -ENOENT)
                return job_fail(j, IFACE ".NotFound",
                                json_pack("{s:s,s:s}", "collection", t->collection, "id", t->id));
        if (r < 0)
                return r;
        if (recmeta_head_decode(val.mv_data, val.mv_size, &t->head) < 0)
                return -EIO;
        j->audit.version = (int64_t)t->head.version;
        if ((r = recctl_get(v, txn, t->key, t->klen, &t->ctl)) < 0)
                return r;
        if (t->ctl.disposed)
                return recctl_fail_disposed(j, t->collection, t->id, &t->ctl);
        return 0;
}

/* Whether LMDB keeps a value of len bytes under a key of klen on its leaf
 * page, as mdb.c decides: a node (8 bytes, key, value) of at most
 * me_nodemax, ((page - 16) / 2 rounded down to even) - 2. Larger values
 * live on overflow pages of their own. */
static bool value_inline(MDB_txn *txn, size_t klen, size_t len)
{
        MDB_stat st;

        if (mdb_env_stat(mdb_txn_env(txn), &st))
                return false;
        return 8 + klen + len <= (((st.ms_psize - 16) / 2) & ~1u) - 2;
}

/* Shreds one version in place: then only the header stays, its kind
 * saying disposed. A value on its leaf page is first overwritten with
 * zeros in this transaction's copy of the page, so that shrinking it
 * leaves zeros, not the envelope, in the page's free space. A larger one
 * is on overflow pages, which LMDB frees whole rather than rewrite: zeroing
 * it would write the whole body again on new pages (a disk's worth for a
 * record of 8 MiB versions) and leave the old ones as they were. Their
 * data key is gone with the header either way. Returns 1 when it shredded
 * a body, 0 for a tombstone or a version shredded before. */
static int shred_version(struct vault *v, MDB_txn *txn, uint8_t *key, size_t klen)
{
        uint8_t header[RECMETA_HEADER];
        struct version_meta m;
        MDB_val k = {klen, key}, val, res;
        size_t hlen, len;
        int rc, r;

        r = store_get(txn, v->store->versions, key, klen, &val);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0)
                return -EIO;
        if (recmeta_tombstone(&m) || recmeta_disposed(&m))
                return 0;
        len = val.mv_size;
        memcpy(header, val.mv_data, hlen);
        header[0] = recmeta_legacy(&m) ? RECMETA_KIND_LEGACY_DISPOSED : RECMETA_KIND_DISPOSED;
        if (value_inline(txn, klen, len)) {
                res = (MDB_val){len, NULL};
                rc = mdb_put(txn, v->store->versions, &k, &res, MDB_RESERVE);
                if (rc)
                        return store_errno(rc);
                memset(res.mv_data, 0, len);
        }
        r = store_put(txn, v->store->versions, key, klen, header, hlen, 0);
        return r < 0 ? r : 1;
}

static int fail_on_hold(struct job *j, const struct target *t)
{
        return job_fail(j, IFACE ".OnHold",
                        json_pack("{s:s,s:s,s:s,s:o}", "collection", t->collection, "id", t->id, "reason",
                                  t->ctl.hold_reason, "since", time_json(t->ctl.hold_us)));
}

static int fail_retention(struct job *j, const struct target *t, uint64_t due, bool has_due)
{
        json_t *p = json_pack("{s:s,s:s,s:s}", "collection", t->collection, "id", t->id, "reason",
                              has_due ? "the record's retention has not ended"
                                      : "no retention is defined for this record: give it a retain_until "
                                        "or its collection a retention period");

        if (has_due)
                json_object_set_new(p, "due", time_json(due));
        return job_fail(j, IFACE ".RetentionActive", p);
}

int dispose_record(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        struct target t;
        const char *reason;
        uint64_t due = 0, now = now_realtime_us(), shredded = 0;
        bool shortened;
        int r;

        if ((r = target_load(v, txn, j, &t)) != 0)
                return r;
        if ((r = recctl_param_reason(j, IFACE, "reason", &reason)) != 0)
                return r;
        if (t.ctl.held)
                return fail_on_hold(j, &t);
        if ((r = collection_settings_get(v, txn, t.collection, &cs)) < 0)
                return r;
        r = due_time(&cs, &t.head, &t.ctl, &due, &shortened);
        if (r < 0 || due > now)
                return fail_retention(j, &t, due, r == 0);
        for (uint64_t ver = 1; ver <= t.head.version; ver++) {
                uint8_t vkey[RECMETA_KEY_MAX];

                memcpy(vkey, t.key, t.klen);
                vkey[t.klen] = '\0';
                be64_put(vkey + t.klen + 1, ver);
                if ((r = shred_version(v, txn, vkey, t.klen + 9)) < 0)
                        return r;
                shredded += (uint64_t)r;
        }
        t.ctl.disposed = true;
        t.ctl.disposed_us = now;
        t.ctl.disposed_seq = v->audit->pending_next_seq;
        t.ctl.disposed_versions = t.head.version;
        t.ctl.disposed_uid = j->actor.uid;
        snprintf(t.ctl.disposed_reason, sizeof(t.ctl.disposed_reason), "%s", reason);
        if ((r = recctl_put(v, txn, t.key, t.klen, &t.ctl)) < 0 ||
            (r = findindex_remove(v, txn, t.collection, t.id)) < 0)
                return r;
        if ((r = collection_count_add(v, txn, t.collection, t.head.state == RECMETA_STATE_ACTIVE ? -1 : 0,
                                      t.head.state == RECMETA_STATE_ACTIVE ? 0 : -1, 1, 0)) < 0)
                return r;
        if (t.head.state == RECMETA_STATE_ACTIVE)
                __atomic_sub_fetch(&v->records_active, 1, __ATOMIC_RELAXED);
        j->audit.time_us = now;
        j->audit.extra = json_pack("{s:s,s:I,s:I,s:s}", "reason", reason, "versions",
                                   (json_int_t)t.head.version, "shredded", (json_int_t)shredded, "basis",
                                   t.ctl.retain_until_us ? "retain_until" : "retention");
        if (j->audit.extra && shortened)
                json_object_set_new(j->audit.extra, "shortened", json_true());
        j->reply = json_pack("{s:I,s:I,s:o}", "versions", (json_int_t)t.head.version, "shredded",
                             (json_int_t)shredded, "time", time_json(now));
        return 0;
}

int dispose_set_hold(struct vault *v, MDB_txn *txn, struct job *j)
{
        json_t *hold = json_object_get(j->call.parameters, "hold");
        const char *reason;
        struct target t;
        int r;

        if ((r = target_load(v, txn, j, &t)) != 0)
                return r;
        if (!json_is_boolean(hold))
                return job_invalid(j, IFACE, "hold", "must be true (hold the record) or false (release it)");
        if ((r = recctl_param_reason(j, IFACE, "reason", &reason)) != 0)
                return r;
        j->audit.extra = json_pack("{s:b,s:s,s:b}", "hold", json_is_true(hold), "reason", reason, "was_held",
                                   t.ctl.held);
        if (t.ctl.held != json_is_true(hold) &&
            (r = collection_count_add(v, txn, t.collection, 0, 0, 0, json_is_true(hold) ? 1 : -1)) < 0)
                return r;
        t.ctl.held = json_is_true(hold);
        if (t.ctl.held) {
                t.ctl.hold_us = now_realtime_us();
                t.ctl.hold_uid = j->actor.uid;
                snprintf(t.ctl.hold_reason, sizeof(t.ctl.hold_reason), "%s", reason);
        }
        if ((r = recctl_put(v, txn, t.key, t.klen, &t.ctl)) < 0)
                return r;
        j->reply = json_pack("{s:b}", "held", t.ctl.held);
        return 0;
}

/* ListHolds' cursor: the last control entry's key read, in hex (keys
 * hold a NUL; hex keeps their order). */
#define HOLDS_CURSOR_MAX (2 * RECMETA_KEY_MAX)

int dispose_list_holds(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint64_t limit = LIST_LIMIT_MAX, scanned = 0;
        uint8_t start[RECMETA_KEY_MAX];
        char cursor[HOLDS_CURSOR_MAX + 1];
        const char *collection, *after;
        size_t cl = 0, slen = 0;
        MDB_cursor *cur;
        MDB_val key, val;
        json_t *list;
        int r, rc;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, false, &collection)) != 0 ||
            (r = param_string(j, IFACE, "after", false, &after)) != 0 ||
            (r = param_uint(j, IFACE, "limit", false, LIST_LIMIT_MAX, &limit, NULL)) != 0)
                return r;
        j->audit.collection = collection;
        if (limit == 0)
                return job_invalid(j, IFACE, "limit", "must be an integer from 1 to 1000");
        if (collection) {
                cl = strlen(collection) + 1;
                memcpy(start, collection, cl);
                slen = cl;
        }
        if (after) {
                size_t n = strlen(after) / 2;

                if (strlen(after) % 2 || n == 0 || n > sizeof(start) || hex_decode(after, start, n) < 0 ||
                    (collection && (n < cl || memcmp(start, collection, cl) != 0)))
                        return job_invalid(j, IFACE, "after", "must be the next of an earlier ListHolds");
                slen = n;
        }
        rc = mdb_cursor_open(txn, v->store->recctl, &cur);
        if (rc)
                return store_errno(rc);
        list = json_array();
        key = (MDB_val){slen, start};
        rc = mdb_cursor_get(cur, &key, &val, slen ? MDB_SET_RANGE : MDB_FIRST);
        if (rc == 0 && after && key.mv_size == slen && memcmp(key.mv_data, start, slen) == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct record_name n;
                struct recctl c;
                json_t *o;

                if (collection && (key.mv_size <= cl || memcmp(key.mv_data, collection, cl) != 0))
                        break;
                if (json_array_size(list) == limit || scanned == DUE_SCAN_MAX)
                        break;
                scanned++;
                hex_encode(key.mv_data, key.mv_size < RECMETA_KEY_MAX ? key.mv_size : RECMETA_KEY_MAX,
                           cursor);
                if (recctl_decode(val.mv_data, val.mv_size, &c) < 0 || !c.held ||
                    recmeta_key_parse(key.mv_data, key.mv_size, false, &n) < 0)
                        continue;
                o = recctl_hold_json(&c);
                json_object_set_new(o, "collection", json_string(n.collection));
                json_object_set_new(o, "id", json_string(n.id));
                json_array_append_new(list, o);
        }
        /* More may follow: the walk stopped on an entry it did not read. */
        bool more =
                rc == 0 && !(collection && (key.mv_size <= cl || memcmp(key.mv_data, collection, cl) != 0));
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND) {
                json_decref(list);
                return store_errno(rc);
        }
        j->audit.extra = json_pack("{s:I}", "count", (json_int_t)json_array_size(list));
        j->reply = json_pack("{s:o}", "holds", list);
        if (more && scanned)
                json_object_set_new(j->reply, "next", json_string(cursor));
        return 0;
}

/* One head of the Due walk: appended to items when due. */
static int due_one(struct vault *v, MDB_txn *txn, const struct collection_settings *cs, const MDB_val *key,
                   const MDB_val *val, size_t cl, uint64_t now, json_t *items)
{
        struct record_head h;
        struct recctl c;
        uint64_t due;
        bool shortened;
        json_t *o;
        int r;

        if (recmeta_head_decode(val->mv_data, val->mv_size, &h) < 0)
                return 0;
        if ((r = recctl_get(v, txn, key->mv_data, key->mv_size, &c)) < 0)
                return r;
        if (c.disposed || c.held || due_time(cs, &h, &c, &due, &shortened) < 0 || due > now)
                return 0;
        o = json_pack("{s:s%,s:o,s:I,s:o,s:b,s:s}", "id", (char *)key->mv_data + cl, key->mv_size - cl,
                      "due", time_json(due), "version", (json_int_t)h.version, "updated",
                      time_json(h.updated_us), "deleted", h.state != RECMETA_STATE_ACTIVE, "basis",
                      c.retain_until_us ? "retain_until" : "retention");
        if (o && shortened)
                json_object_set_new(o, "shortened", json_true());
        if (!o || json_array_append_new(items, o) < 0)
                return -ENOMEM;
        return 0;
}

int dispose_due(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        const char *collection, *after;
        uint64_t limit = LIST_LIMIT_DEFAULT, now = now_realtime_us(), scanned = 0;
        char start[NAME_COLLECTION_MAX + NAME_ID_MAX + 2];
        MDB_cursor *cur;
        MDB_val key, val;
        json_t *items;
        size_t cl;
        int r, rc;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &collection)) != 0 ||
            (r = records_param_name(j, "after", NAME_ID, false, &after)) != 0 ||
            (r = param_uint(j, IFACE, "limit", false, LIST_LIMIT_MAX, &limit, NULL)) != 0)
                return r;
        j->audit.collection = collection;
        if (limit == 0)
                return job_invalid(j, IFACE, "limit", "must be an integer from 1 to 1000");
        if ((r = collection_settings_get(v, txn, collection, &cs)) < 0)
                return r;
        r = 0;
        cl = strlen(collection) + 1;
        memcpy(start, collection, cl);
        strcpy(start + cl, after ? after : "");
        key = (MDB_val){cl + (after ? strlen(after) : 0), start};
        rc = mdb_cursor_open(txn, v->store->heads, &cur);
        if (rc)
                return store_errno(rc);
        items = json_array();
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && after && key.mv_size == cl + strlen(after) &&
            memcmp(key.mv_data, start, key.mv_size) == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size <= cl || memcmp(key.mv_data, start, cl) != 0)
                        break;
                if (json_array_size(items) == limit || scanned == DUE_SCAN_MAX)
                        break;
                scanned++;
                memcpy(start + cl, (char *)key.mv_data + cl, key.mv_size - cl);
                start[key.mv_size] = '\0';
                if ((r = due_one(v, txn, &cs, &key, &val, cl, now, items)) < 0)
                        break;
        }
        bool more = rc == 0 && r >= 0 && key.mv_size > cl && memcmp(key.mv_data, start, cl) == 0;
        mdb_cursor_close(cur);
        if (r < 0 || (rc && rc != MDB_NOTFOUND)) {
                json_decref(items);
                return r < 0 ? r : store_errno(rc);
        }
        j->reply = json_pack("{s:o}", "records", items);
        /* next: the last id read, due or not, so a walk goes on past a
         * stretch of records not due. */
        if (more && scanned)
                json_object_set_new(j->reply, "next", json_string(start + cl));
        j->audit.extra = json_pack("{s:I}", "count", (json_int_t)json_array_size(items));
        return 0;
}

int dispose_count_live_disposed(struct vault *v, MDB_txn *txn, uint64_t *ret)
{
        MDB_cursor *cur;
        MDB_val key, val, head;
        uint64_t n = 0;
        int rc = mdb_cursor_open(txn, v->store->recctl, &cur);

        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct record_head h;
                struct recctl c;

                if (recctl_decode(val.mv_data, val.mv_size, &c) == 0 && c.disposed &&
                    store_get(txn, v->store->heads, key.mv_data, key.mv_size, &head) == 0 &&
                    recmeta_head_decode(head.mv_data, head.mv_size, &h) == 0 &&
                    h.state == RECMETA_STATE_ACTIVE)
                        n++;
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
                return store_errno(rc);
        *ret = n;
        return 0;
}
