#include "reindex.h"

#include <errno.h>
#include <string.h>

#include "ckeys.h"
#include "collections.h"
#include "envelope.h"
#include "findindex.h"
#include "recctl.h"
#include "recmeta.h"
#include "records.h"
#include "util.h"

#define IFACE "io.vaultd.records"

struct rebuild {
        struct vault *v;
        MDB_txn *txn;
        const struct collection_settings *cs;
        const char *collection;
        uint64_t gen, total;
        uint64_t records, current, reindexed, dropped, unreadable, bytes;
};

/* The latest version of live record id (head h, heads key key): 0 with
 * its stored value in *ret and header length in *ret_hlen, 1 when it has
 * none to index (a deletion, disposed of), -EBADMSG when it is missing
 * or malformed, -errno. */
static int latest_version(struct rebuild *rb, const MDB_val *key, const struct record_head *h, MDB_val *ret,
                          size_t *ret_hlen)
{
        uint8_t vkey[RECMETA_KEY_MAX];
        struct version_meta m;
        struct recctl c;
        int r;

        if (h->state != RECMETA_STATE_ACTIVE || key->mv_size + 9 > sizeof(vkey))
                return 1;
        if ((r = recctl_get(rb->v, rb->txn, key->mv_data, key->mv_size, &c)) < 0)
                return r;
        if (c.disposed)
                return 1;
        memcpy(vkey, key->mv_data, key->mv_size);
        vkey[key->mv_size] = '\0';
        be64_put(vkey + key->mv_size + 1, h->version);
        if ((r = store_get(rb->txn, rb->v->store->versions, vkey, key->mv_size + 9, ret)) < 0)
                return r == -ENOENT ? -EBADMSG : r;
        if (recmeta_version_decode(ret->mv_data, ret->mv_size, &m, ret_hlen) < 0)
                return -EBADMSG;
        return recmeta_tombstone(&m) || recmeta_disposed(&m) ? 1 : 0;
}

/* The terms of record id to tag again, into src: those its Put gave
 * (kept, sealed beside its latest version: opened into given), else for
 * a json collection its latest body's (decrypted into src->body, which
 * the caller releases with envelope_free_plain). 0, 1 when there are
 * none, -EBADMSG when they do not open, -errno. */
static int rebuild_source(struct rebuild *rb, const MDB_val *key, const char *id,
                          const struct record_head *h, const struct findindex_stored *kept, uint8_t *given,
                          struct findindex_source *src)
{
        struct body_binding b = {rb->collection, id, h->version};
        struct envelope_meta em;
        uint8_t *body;
        MDB_val val;
        size_t hlen, len;
        int r;

        if (!kept->sealed_len && (rb->cs->content != CONTENT_JSON || !rb->cs->nindex))
                return 1;
        if ((r = latest_version(rb, key, h, &val, &hlen)) != 0)
                return r;
        if (kept->sealed_len) {
                if (kept->version != h->version)
                        return -EBADMSG;
                r = envelope_open_beside(rb->v->keeper, &b, (const uint8_t *)val.mv_data + hlen,
                                         val.mv_size - hlen, kept->sealed, kept->sealed_len, given);
                if (r == 0)
                        *src = (struct findindex_source){.given = given,
                                                         .given_len =
                                                                 kept->sealed_len - ENVELOPE_BESIDE_OVERHEAD,
                                                         .kept = kept};
        } else {
                em = (struct envelope_meta){val.mv_data, hlen};
                r = envelope_open(rb->v->keeper, &b, &em, (const uint8_t *)val.mv_data + hlen,
                                  val.mv_size - hlen, &body, &len);
                if (r == 0)
                        *src = (struct findindex_source){.body = body, .body_len = len};
        }
        return r == -ENOKEY ? -EBADMSG : r;
}

/* One record of the walk (heads key and value). */
static int rebuild_one(struct rebuild *rb, const MDB_val *key, const MDB_val *val, size_t cl)
{
        char id[NAME_ID_MAX + 1];
        struct record_head h;
        struct findindex_stored kept = {0};
        struct findindex_source src = {0};
        uint8_t given[FINDINDEX_GIVEN_MAX];
        bool had;
        int r;

        if (key->mv_size - cl > NAME_ID_MAX || recmeta_head_decode(val->mv_data, val->mv_size, &h) < 0)
                return -EIO;
        memcpy(id, (const char *)key->mv_data + cl, key->mv_size - cl);
        id[key->mv_size - cl] = '\0';
        rb->records++;
        r = findindex_stored_get(rb->v, rb->txn, rb->collection, id, &kept);
        if (r < 0 && r != -ENOENT)
                return r;
        had = r == 0;
        if (had && kept.gen == rb->gen) { /* put again since the rotation */
                rb->current++;
                return 0;
        }
        r = rebuild_source(rb, key, id, &h, &kept, given, &src);
        if (r == -EBADMSG)
                rb->unreadable++;
        else if (r < 0)
                return r;
        r = findindex_reindex(rb->v, rb->txn, rb->cs, rb->collection, id, &src);
        sodium_memzero(given, sizeof(given));
        if (src.body) {
                rb->bytes += src.body_len;
                envelope_free_plain((uint8_t *)src.body, src.body_len);
        }
        if (r < 0 && r != -EBADMSG)
                return r;
        if (r > 0)
                rb->reindexed++;
        else if (had)
                rb->dropped++;
        return 0;
}

/* Walks the collection's heads after the id after, up to the limits.
 * Returns 1 when it reached the end, 0 when it stopped with after set
 * to the last id done, -errno. */
static int rebuild_walk(struct rebuild *rb, char after[NAME_ID_MAX + 1])
{
        char start[NAME_COLLECTION_MAX + 1 + NAME_ID_MAX + 1];
        size_t cl = strlen(rb->collection) + 1, al = strlen(after);
        MDB_val key = {cl + al, start}, val;
        MDB_cursor *cur;
        int rc, r = 0;

        memcpy(start, rb->collection, cl);
        memcpy(start + cl, after, al);
        if ((rc = mdb_cursor_open(rb->txn, rb->v->store->heads, &cur)) != 0)
                return store_errno(rc);
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && al && key.mv_size == cl + al && memcmp(key.mv_data, start, cl + al) == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size <= cl || memcmp(key.mv_data, start, cl) != 0) {
                        rc = MDB_NOTFOUND;
                        break;
                }
                if (rb->records == REINDEX_RECORDS_MAX || rb->bytes >= REINDEX_BYTES_MAX)
                        break;
                if ((r = rebuild_one(rb, &key, &val, cl)) < 0)
                        break;
                memcpy(after, (const char *)key.mv_data + cl, key.mv_size - cl);
                after[key.mv_size - cl] = '\0';
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (rc == MDB_NOTFOUND)
                return 1;
        return rc ? store_errno(rc) : 0;
}

int reindex_rebuild(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        struct rebuild rb = {.v = v, .txn = txn, .cs = &cs};
        char after[NAME_ID_MAX + 1] = "";
        bool rotated = false;
        int r, done;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &rb.collection)) != 0)
                return r;
        j->audit.collection = rb.collection;
        if ((r = collection_settings_get(v, txn, rb.collection, &cs)) < 0)
                return r;
        if (!cs.created)
                return job_fail(j, IFACE ".CollectionNotFound",
                                json_pack("{s:s}", "collection", rb.collection));
        r = ckeys_rebuild_get(v, txn, rb.collection, &rb.gen, &rb.total, after);
        if (r == -ENOENT) {
                if ((r = ckey_rotate(v, txn, rb.collection, &rb.gen)) < 0)
                        return r;
                rotated = true;
        }
        if (r < 0)
                return r;
        if ((done = rebuild_walk(&rb, after)) < 0)
                return done;
        rb.total += rb.records;
        if ((r = ckeys_rebuild_set(v, txn, rb.collection, rb.gen, rb.total, done ? NULL : after)) < 0)
                return r;
        j->reply = json_pack("{s:I,s:b,s:b,s:I,s:I,s:I,s:I,s:I}", "generation", (json_int_t)rb.gen,
                             "rotated", rotated, "done", done, "records", (json_int_t)rb.records, "current",
                             (json_int_t)rb.current, "reindexed", (json_int_t)rb.reindexed, "dropped",
                             (json_int_t)rb.dropped, "unreadable", (json_int_t)rb.unreadable);
        /* The line also says how far the rebuild has got over all its calls. */
        j->audit.extra = json_deep_copy(j->reply);
        if (j->audit.extra)
                json_object_set_new(j->audit.extra, "total", json_integer((json_int_t)rb.total));
        return j->reply && j->audit.extra ? 0 : -ENOMEM;
}
