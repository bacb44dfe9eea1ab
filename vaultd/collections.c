#include "collections.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "collname.h"
#include "recctl.h"
#include "records.h"
#include "util.h"

#define IFACE "io.vaultd.records"
/* Collections one ListCollections answers at most. */
#define COLLECTIONS_LIST_MAX 1000

static const char *const content_names[] = {[CONTENT_BYTES] = "bytes", [CONTENT_JSON] = "json"};

int retention_parse(const char *s, struct retention *ret)
{
        static const struct {
                char unit;
                uint32_t max;
        } units[] = {{'y', RETENTION_YEARS_MAX},
                     {'m', RETENTION_YEARS_MAX * 12},
                     {'d', RETENTION_YEARS_MAX * 366}};
        unsigned long n;
        char *end;

        if (strcmp(s, "none") == 0) {
                *ret = (struct retention){0};
                return 0;
        }
        if (s[0] < '1' || s[0] > '9')
                return -EINVAL;
        n = strtoul(s, &end, 10);
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (end[0] == units[i].unit && end[1] == '\0' && n <= units[i].max) {
                        *ret = (struct retention){units[i].unit, (uint32_t)n};
                        return 0;
                }
        return -EINVAL;
}

void retention_format(const struct retention *r, char buf[static RETENTION_TEXT_MAX])
{
        if (r->unit)
                snprintf(buf, RETENTION_TEXT_MAX, "%" PRIu32 "%c", r->count, r->unit);
        else
                snprintf(buf, RETENTION_TEXT_MAX, "none");
}

uint64_t retention_add(uint64_t from_us, const struct retention *r)
{
        static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        time_t sec = (time_t)(from_us / 1000000u);
        int64_t y, m, d, days;
        struct tm tm;

        if (!r->unit)
                return UINT64_MAX;
        gmtime_r(&sec, &tm);
        y = tm.tm_year + 1900;
        m = tm.tm_mon;
        d = tm.tm_mday;
        if (r->unit == 'y')
                y += r->count;
        else if (r->unit == 'm') {
                y += (m + r->count) / 12;
                m = (m + r->count) % 12;
        }
        if (r->unit != 'd') {
                unsigned last = mdays[m] + (m == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
                if (d > last)
                        d = last;
        }
        days = days_from_civil(y, (unsigned)m + 1, (unsigned)d) + (r->unit == 'd' ? r->count : 0);
        return (uint64_t)days * 86400000000u + (from_us % 86400000000u);
}

static bool field_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > COLLECTION_FIELD_MAX || s[0] < 'a' || s[0] > 'z')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

/* Settings from their stored (or audited) JSON form. */
static int settings_decode(json_t *o, struct collection_settings *ret)
{
        struct collection_settings cs = {.created = true};
        const char *content = json_string_value(json_object_get(o, "content")),
                   *retention = json_string_value(json_object_get(o, "retention"));
        json_t *index = json_object_get(o, "index"), *f, *priv = json_object_get(o, "private_ids"),
               *pname = json_object_get(o, "private_name");
        size_t i;

        if ((priv && !json_is_boolean(priv)) || (pname && !json_is_boolean(pname)))
                return -EBADMSG;
        cs.private_ids = json_is_true(priv);
        cs.private_name = json_is_true(pname);
        if (!content || !retention || !json_is_array(index) ||
            json_array_size(index) > COLLECTION_INDEX_MAX || retention_parse(retention, &cs.retention) < 0)
                return -EBADMSG;
        if (strcmp(content, "json") == 0)
                cs.content = CONTENT_JSON;
        else if (strcmp(content, "bytes") != 0)
                return -EBADMSG;
        json_array_foreach(index, i, f)
        {
                if (!json_is_string(f) || !field_valid(json_string_value(f)))
                        return -EBADMSG;
                strcpy(cs.index[cs.nindex++], json_string_value(f));
        }
        if (recmeta_time_parse(json_string_value(json_object_get(o, "created")), &cs.created_us) < 0 ||
            recmeta_time_parse(json_string_value(json_object_get(o, "updated")), &cs.updated_us) < 0)
                return -EBADMSG;
        *ret = cs;
        return 0;
}

/* The settings as stored and answered (times: when created and last
 * changed, for a defined collection) or audited (no times: the line has
 * its own). */
static json_t *settings_json(const struct collection_settings *cs, bool times)
{
        char ret[RETENTION_TEXT_MAX], t[TIME_STRING_MAX];
        json_t *index = json_array(), *o;

        for (size_t i = 0; i < cs->nindex; i++)
                json_array_append_new(index, json_string(cs->index[i]));
        retention_format(&cs->retention, ret);
        o = json_pack("{s:s,s:s,s:o,s:b}", "content", content_names[cs->content], "retention", ret, "index",
                      index, "private_ids", cs->private_ids);
        /* Only when set: the settings of every other collection, stored
         * and audited, stay as they were. */
        if (o && cs->private_name)
                json_object_set_new(o, "private_name", json_true());
        if (cs->created && times) {
                time_format_us(cs->created_us, t);
                json_object_set_new(o, "created", json_string(t));
                time_format_us(cs->updated_us, t);
                json_object_set_new(o, "updated", json_string(t));
        }
        return o;
}

int collection_settings_get(struct vault *v, MDB_txn *txn, const char *name, struct collection_settings *ret)
{
        MDB_val val;
        json_t *o;
        int r = store_get(txn, v->store->collections, name, strlen(name), &val);

        if (r == -ENOENT) {
                *ret = (struct collection_settings){0};
                return 0;
        }
        if (r < 0)
                return r;
        o = json_loadb(val.mv_data, val.mv_size, JSON_REJECT_DUPLICATES, NULL);
        r = json_is_object(o) && settings_decode(o, ret) == 0 ? 0 : -EIO;
        json_decref(o);
        return r;
}

static int settings_put(struct vault *v, MDB_txn *txn, const char *name,
                        const struct collection_settings *cs)
{
        json_t *o = settings_json(cs, true);
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        int r;

        json_decref(o);
        if (!s)
                return -ENOMEM;
        r = store_put(txn, v->store->collections, name, strlen(name), s, strlen(s), 0);
        free(s);
        return r;
}

/* Applies the call's retention, content and index to *cs. Returns 0, or
 * JOB_FAILED; *ret_any says whether the call gave any. */
static int settings_params(struct job *j, struct collection_settings *cs, bool *ret_any)
{
        const char *retention, *content;
        json_t *index = json_object_get(j->call.parameters, "index"), *f, *priv;
        size_t i;
        int r;

        *ret_any = false;
        if ((r = param_string(j, IFACE, "retention", false, &retention)) != 0 ||
            (r = param_string(j, IFACE, "content", false, &content)) != 0)
                return r;
        if (retention) {
                if (retention_parse(retention, &cs->retention) < 0)
                        return job_invalid(j, IFACE, "retention",
                                           "must be a period such as 10y, 18m or 90d (years, months, "
                                           "days; at most 200 years), or none");
                *ret_any = true;
        }
        if (content) {
                if (strcmp(content, "json") == 0)
                        cs->content = CONTENT_JSON;
                else if (strcmp(content, "bytes") == 0)
                        cs->content = CONTENT_BYTES;
                else
                        return job_invalid(j, IFACE, "content", "must be bytes or json");
                *ret_any = true;
        }
        priv = json_object_get(j->call.parameters, "private_ids");
        if (priv && !json_is_null(priv)) {
                if (!json_is_boolean(priv))
                        return job_invalid(j, IFACE, "private_ids", "must be true or false");
                cs->private_ids = json_is_true(priv);
                *ret_any = true;
        }
        if (index && !json_is_null(index)) {
                if (!json_is_array(index) || json_array_size(index) > COLLECTION_INDEX_MAX)
                        return job_invalid(j, IFACE, "index", "must be a list of at most 8 field names");
                cs->nindex = 0;
                json_array_foreach(index, i, f)
                {
                        if (!json_is_string(f) || !field_valid(json_string_value(f)))
                                return job_invalid(j, IFACE, "index",
                                                   "each field name is 1-64 characters of a-z 0-9 _, "
                                                   "starting with a letter");
                        for (size_t k = 0; k < cs->nindex; k++)
                                if (strcmp(cs->index[k], json_string_value(f)) == 0)
                                        return job_invalid(j, IFACE, "index", "names a field twice");
                        strcpy(cs->index[cs->nindex++], json_string_value(f));
                }
                *ret_any = true;
        }
        return 0;
}

struct collection_counts {
        uint64_t live, deleted, disposed, held;
};

/* Counts the records of collection name: a walk over its heads, and its
 * entries in recctl (disposed records are neither live nor deleted). Only
 * once per collection (counts_get). */
static int count_records(struct vault *v, MDB_txn *txn, const char *name, struct collection_counts *ret)
{
        struct collection_counts c = {0};
        size_t cl = strlen(name) + 1;
        MDB_cursor *cur;
        MDB_val key, val;
        int rc;

        for (int pass = 0; pass < 2; pass++) {
                rc = mdb_cursor_open(txn, pass == 0 ? v->store->heads : v->store->recctl, &cur);
                if (rc)
                        return store_errno(rc);
                key = (MDB_val){cl, (void *)name};
                for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
                     rc == 0 && key.mv_size > cl && memcmp(key.mv_data, name, cl) == 0;
                     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                        struct record_head h;
                        struct recctl ctl;
                        MDB_val head;

                        if (pass == 0) {
                                if (recmeta_head_decode(val.mv_data, val.mv_size, &h) == 0)
                                        h.state == RECMETA_STATE_ACTIVE ? c.live++ : c.deleted++;
                                continue;
                        }
                        if (recctl_decode(val.mv_data, val.mv_size, &ctl) < 0)
                                continue;
                        c.held += ctl.held;
                        if (!ctl.disposed)
                                continue;
                        c.disposed++;
                        if (store_get(txn, v->store->heads, key.mv_data, key.mv_size, &head) == 0 &&
                            recmeta_head_decode(head.mv_data, head.mv_size, &h) == 0)
                                h.state == RECMETA_STATE_ACTIVE ? c.live-- : c.deleted--;
                }
                mdb_cursor_close(cur);
                if (rc && rc != MDB_NOTFOUND)
                        return store_errno(rc);
        }
        *ret = c;
        return 0;
}

/* Where a collection's counts are kept: "\x01" + name in the collections
 * table (no name starts with 0x01), four be64: live, deleted, disposed,
 * held. */
static size_t counts_key(const char *name, uint8_t key[static NAME_COLLECTION_MAX + 1])
{
        size_t n = strlen(name);

        key[0] = 0x01;
        memcpy(key + 1, name, n);
        return n + 1;
}

static int counts_delete(struct vault *v, MDB_txn *txn, const char *name)
{
        uint8_t key[NAME_COLLECTION_MAX + 1];
        int r = store_del(txn, v->store->collections, key, counts_key(name, key));

        return r == -ENOENT ? 0 : r;
}

static int counts_put(struct vault *v, MDB_txn *txn, const char *name, const struct collection_counts *c)
{
        uint8_t key[NAME_COLLECTION_MAX + 1], val[32];

        be64_put(val, c->live);
        be64_put(val + 8, c->deleted);
        be64_put(val + 16, c->disposed);
        be64_put(val + 24, c->held);
        return store_put(txn, v->store->collections, key, counts_key(name, key), val, sizeof(val), 0);
}

/* -ENOENT when the collection has no counts kept yet. */
static int counts_read(struct vault *v, MDB_txn *txn, const char *name, struct collection_counts *ret)
{
        uint8_t key[NAME_COLLECTION_MAX + 1];
        MDB_val val;
        int r = store_get(txn, v->store->collections, key, counts_key(name, key), &val);

        if (r < 0)
                return r;
        if (val.mv_size != 32)
                return -EIO;
        *ret = (struct collection_counts){be64_get(val.mv_data), be64_get((uint8_t *)val.mv_data + 8),
                                          be64_get((uint8_t *)val.mv_data + 16),
                                          be64_get((uint8_t *)val.mv_data + 24)};
        return 0;
}

/* A collection's counts, as kept; a collection without them (a store from
 * before they were kept) is counted once, and they are kept from then on:
 * no call walks a collection's records in the writer again. */
static int counts_get(struct vault *v, MDB_txn *txn, const char *name, struct collection_counts *ret)
{
        int r = counts_read(v, txn, name, ret);

        if (r != -ENOENT)
                return r;
        if ((r = count_records(v, txn, name, ret)) < 0)
                return r;
        return counts_put(v, txn, name, ret);
}

int collection_count_add(struct vault *v, MDB_txn *txn, const char *name, int live, int deleted,
                         int disposed, int held)
{
        struct collection_counts c;
        int r = counts_read(v, txn, name, &c);

        if (r == -ENOENT)
                return 0; /* counted when first asked for, this change included */
        if (r < 0)
                return r;
        c.live += (uint64_t)(int64_t)live;
        c.deleted += (uint64_t)(int64_t)deleted;
        c.disposed += (uint64_t)(int64_t)disposed;
        c.held += (uint64_t)(int64_t)held;
        return counts_put(v, txn, name, &c);
}

/* One collection as answered: its name, settings and counts. */
static int collection_reply(struct vault *v, MDB_txn *txn, const char *name,
                            const struct collection_settings *cs, json_t **ret)
{
        struct collection_counts c;
        json_t *o;
        int r = counts_get(v, txn, name, &c);

        if (r < 0)
                return r;
        o = settings_json(cs, true);
        json_object_set_new(o, "collection", json_string(name));
        json_object_set_new(o, "defined", json_boolean(cs->created));
        json_object_set_new(o, "live", json_integer((json_int_t)c.live));
        json_object_set_new(o, "deleted", json_integer((json_int_t)c.deleted));
        json_object_set_new(o, "disposed", json_integer((json_int_t)c.disposed));
        json_object_set_new(o, "held", json_integer((json_int_t)c.held));
        /* The name a private collection has in the trail and exports. */
        if (cs->private_name)
                json_object_set_new(o, "stored_as", json_string(name));
        *ret = o;
        return 0;
}

/* Whether private_ids may go from was to now: only while the collection
 * holds no record, whose ids are stored as they are or as pseudonyms.
 * 0, or JOB_FAILED. */
static int private_ids_change(struct vault *v, MDB_txn *txn, struct job *j, const char *name, bool was,
                              bool now)
{
        struct collection_counts c;
        int r;

        if (was == now)
                return 0;
        if ((r = counts_get(v, txn, name, &c)) < 0)
                return r;
        if (c.live + c.deleted + c.disposed > 0)
                return job_invalid(j, IFACE, "private_ids",
                                   "can be set only while the collection holds no record (its ids are "
                                   "stored as they are, or as pseudonyms)");
        return 0;
}

static int collection_not_found(struct job *j, const char *name)
{
        return job_fail(j, IFACE ".CollectionNotFound", json_pack("{s:s}", "collection", name));
}

/* CreateCollection's private_name: the collection is made under its
 * name's pseudonym (*name becomes it), while it holds no record under its
 * name. 0, or JOB_FAILED. */
static int private_name_make(struct vault *v, MDB_txn *txn, struct job *j, const char **name,
                             struct collection_settings *cs)
{
        json_t *priv = json_object_get(j->call.parameters, "private_name");
        struct collection_counts c;
        char pc[COLLNAME_TEXT + 1];
        int r;

        if (!priv || json_is_null(priv) || json_is_false(priv))
                return 0;
        if (!json_is_true(priv))
                return job_invalid(j, IFACE, "private_name", "must be true or false");
        /* (Read only: counts kept under the name would name it.) */
        if ((r = counts_read(v, txn, *name, &c)) == -ENOENT)
                r = count_records(v, txn, *name, &c);
        if (r < 0)
                return r;
        if (c.live + c.deleted + c.disposed > 0)
                return job_invalid(j, IFACE, "private_name",
                                   "this collection already holds records under its name; a name is made "
                                   "private only for a new collection");
        r = collname_make(v, txn, *name, pc);
        if (r == -EKEYREVOKED)
                return job_fail(j, IFACE ".Sealed", NULL);
        if (r < 0)
                return r;
        /* Counts an older call kept under the name go: they are kept
         * under the pseudonym. */
        if ((r = counts_delete(v, txn, *name)) < 0 || !(*name = collname_adopt(j, pc)))
                return r < 0 ? r : -ENOMEM;
        j->audit.collection = *name;
        cs->private_name = true;
        return 0;
}

int collections_create(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        const char *name;
        json_t *o;
        bool any;
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &name)) != 0)
                return r;
        j->audit.collection = name;
        if ((r = collection_settings_get(v, txn, name, &cs)) < 0)
                return r;
        if (cs.created)
                return job_fail(j, IFACE ".CollectionExists", json_pack("{s:s}", "collection", name));
        /* (The name made private first: private_ids_change keeps counts
         * under the name it is given.) */
        if ((r = settings_params(j, &cs, &any)) != 0 ||
            (r = private_name_make(v, txn, j, &name, &cs)) != 0 ||
            (r = private_ids_change(v, txn, j, name, false, cs.private_ids)) != 0)
                return r;
        cs.created = true;
        cs.created_us = cs.updated_us = now_realtime_us();
        if ((r = settings_put(v, txn, name, &cs)) < 0 || (r = collection_reply(v, txn, name, &cs, &o)) < 0)
                return r;
        j->audit.extra = json_pack("{s:o}", "settings", settings_json(&cs, false));
        j->reply = json_pack("{s:o}", "collection", o);
        return 0;
}

int collections_set(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs, old;
        const char *name;
        json_t *o;
        bool any;
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &name)) != 0)
                return r;
        j->audit.collection = name;
        if ((r = collection_settings_get(v, txn, name, &cs)) < 0)
                return r;
        if (!cs.created)
                return collection_not_found(j, name);
        old = cs;
        if (json_object_get(j->call.parameters, "private_name"))
                return job_invalid(j, IFACE, "private_name",
                                   "is given only when a collection is created (its records are stored "
                                   "under the name it has then)");
        if ((r = settings_params(j, &cs, &any)) != 0)
                return r;
        if (!any)
                return job_invalid(j, IFACE, "retention",
                                   "give at least one of retention, content, index, private_ids");
        if ((r = private_ids_change(v, txn, j, name, old.private_ids, cs.private_ids)) != 0)
                return r;
        cs.updated_us = now_realtime_us();
        if ((r = settings_put(v, txn, name, &cs)) < 0 || (r = collection_reply(v, txn, name, &cs, &o)) < 0)
                return r;
        j->audit.extra =
                json_pack("{s:o,s:o}", "old", settings_json(&old, false), "new", settings_json(&cs, false));
        j->reply = json_pack("{s:o}", "collection", o);
        return 0;
}

int collections_get(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        struct collection_counts c;
        const char *name;
        json_t *o;
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &name)) != 0)
                return r;
        j->audit.collection = name;
        if ((r = collection_settings_get(v, txn, name, &cs)) < 0 || (r = counts_get(v, txn, name, &c)) < 0)
                return r;
        if (!cs.created && c.live + c.deleted + c.disposed == 0)
                return collection_not_found(j, name);
        if ((r = collection_reply(v, txn, name, &cs, &o)) < 0)
                return r;
        j->reply = json_pack("{s:o}", "collection", o);
        return 0;
}

/* Whether the caller sees every collection (admin, auditor), or only
 * those the policy grants it as a service. */
static bool sees_collection(const struct job *j, const char *name)
{
        const struct policy *p = j->previous_policy;
        const char *role;

        if (j->internal || policy_check(p, &j->peer, ROLE_ADMIN | ROLE_AUDITOR, NULL, &role) == 0)
                return true;
        return policy_check(p, &j->peer, ROLE_SERVICE, name, &role) == 0;
}

/* Adds to names (an object used as a set) every collection with a head:
 * one cursor jump per collection, not a walk over its records. */
static int implicit_names(struct vault *v, MDB_txn *txn, json_t *names)
{
        char next[NAME_COLLECTION_MAX + 2] = "";
        MDB_cursor *cur;
        MDB_val key, val;
        int rc = mdb_cursor_open(txn, v->store->heads, &cur);
        MDB_cursor_op op = MDB_FIRST;

        if (rc)
                return store_errno(rc);
        while (json_object_size(names) < COLLECTIONS_LIST_MAX * 2 &&
               (rc = mdb_cursor_get(cur, &key, &val, op)) == 0) {
                const char *k = key.mv_data, *nul = memchr(k, '\0', key.mv_size);
                size_t cl = nul ? (size_t)(nul - k) : 0;

                if (!nul || cl > NAME_COLLECTION_MAX)
                        break;
                memcpy(next, k, cl);
                next[cl] = '\0';
                json_object_set_new(names, next, json_true());
                /* The first key after every "name\0...": no name holds 0x01. */
                next[cl] = '\x01';
                key = (MDB_val){cl + 1, next};
                op = MDB_SET_RANGE;
        }
        mdb_cursor_close(cur);
        return rc && rc != MDB_NOTFOUND ? store_errno(rc) : 0;
}

static int defined_names(struct vault *v, MDB_txn *txn, json_t *names)
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc = mdb_cursor_open(txn, v->store->collections, &cur);
        char name[NAME_COLLECTION_MAX + 1];

        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size > NAME_COLLECTION_MAX || ((uint8_t *)key.mv_data)[0] == 0x01)
                        continue; /* (a collection's counts) */
                memcpy(name, key.mv_data, key.mv_size);
                name[key.mv_size] = '\0';
                json_object_set_new(names, name, json_true());
        }
        mdb_cursor_close(cur);
        return rc != MDB_NOTFOUND ? store_errno(rc) : 0;
}

/* A collection as listed: its stored name, and the name its caller
 * knows (a private one opened, vaultd/collname.h). */
struct listed {
        const char *stored, *shown;
};

static int cmp_listed(const void *a, const void *b)
{
        return strcmp(((const struct listed *)a)->shown, ((const struct listed *)b)->shown);
}

/* Opens the private names among all[0..n) in place (into opened, which
 * the caller frees). Sealed, they stay pseudonyms. */
static int open_private(struct vault *v, MDB_txn *txn, struct listed *all, size_t n, char **opened)
{
        const char **pcs = calloc(n + 1, sizeof(*pcs));
        size_t np = 0;
        int r = 0;

        if (!pcs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct collection_settings cs;

                if (collname_is_pseudonym(all[i].stored) &&
                    collection_settings_get(v, txn, all[i].stored, &cs) == 0 && cs.private_name)
                        pcs[np++] = all[i].stored;
        }
        if (np)
                r = collname_open(v, txn, np, pcs, opened);
        for (size_t i = 0, k = 0; r == 0 && i < n && k < np; i++)
                if (all[i].stored == pcs[k])
                        all[i].shown = opened[k++];
        free(pcs);
        return r == -EKEYREVOKED || r == -EPROTO ? 0 : r;
}

int collections_list(struct vault *v, MDB_txn *txn, struct job *j)
{
        json_t *names = json_object(), *list = json_array(), *o, *dummy;
        struct listed *all = NULL;
        char **opened = NULL;
        const char *name;
        size_t n = 0, total, shown = 0;
        int r;

        if ((r = defined_names(v, txn, names)) < 0 || (r = implicit_names(v, txn, names)) < 0)
                goto out;
        total = json_object_size(names);
        all = calloc(total + 1, sizeof(*all));
        opened = calloc(total + 1, sizeof(*opened));
        if (!all || !opened) {
                r = -ENOMEM;
                goto out;
        }
        json_object_foreach(names, name, dummy) if (name_collection_valid(name)) all[n++] =
                (struct listed){name, name};
        if ((r = open_private(v, txn, all, n, opened)) < 0)
                goto out;
        for (size_t i = 0; i < n; i++)
                if (sees_collection(j, all[i].shown))
                        all[shown++] = all[i];
        qsort(all, shown, sizeof(*all), cmp_listed);
        for (size_t i = 0; i < shown && i < COLLECTIONS_LIST_MAX; i++) {
                struct collection_settings cs;

                if ((r = collection_settings_get(v, txn, all[i].stored, &cs)) < 0 ||
                    (r = collection_reply(v, txn, all[i].stored, &cs, &o)) < 0)
                        goto out;
                json_object_set_new(o, "collection", json_string(all[i].shown));
                json_array_append_new(list, o);
        }
        j->audit.extra = json_pack("{s:I}", "count", (json_int_t)json_array_size(list));
        j->reply = json_pack("{s:O}", "collections", list);
        r = 0;
out:
        for (size_t i = 0; opened && i < total; i++)
                free(opened[i]);
        free(opened);
        free(all);
        json_decref(list);
        json_decref(names);
        return r;
}
