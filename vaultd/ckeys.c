/* Collection keys as the store keeps them (vaultd/ckeys.h). */
#include "ckeys.h"

#include <errno.h>

#include "collkeys.h"
#include "keeper-proto.h"
#include "recmeta.h"
#include "util.h"

/* ckeys value: gen(8) kek_version(4) wrapped. */
#define CKEY_VALUE_SIZE (8 + 4 + KEYS_WRAPPED)

/* Makes a new key of purpose and generation k->gen for k->collection
 * (the keeper wraps it) and stores it at key, replacing any: the old one
 * is gone from the store, so it is retired. */
static int ckey_make(struct vault *v, MDB_txn *txn, const uint8_t *key, size_t klen, char purpose,
                     struct keeper_ckey *k, uint8_t buf[KEYS_WRAPPED])
{
        uint8_t val[CKEY_VALUE_SIZE];
        int r = keeper_ckey_new(v->keeper, purpose == CKEY_INDEX ? KEEPER_CKEY_INDEX : KEEPER_CKEY_PSEUDONYM,
                                k->collection, k->gen, &k->kek_version, buf);

        if (r < 0)
                return r;
        be64_put(val, k->gen);
        be32_put(val + 8, k->kek_version);
        memcpy(val + 12, buf, KEYS_WRAPPED);
        return store_put(txn, v->store->ckeys, key, klen, val, sizeof(val), 0);
}

int ckey_get(struct vault *v, MDB_txn *txn, const char *collection, char purpose, bool create,
             struct keeper_ckey *k, uint8_t buf[KEYS_WRAPPED])
{
        uint8_t key[RECMETA_KEY_MAX];
        size_t klen = ckeys_pair(collection, &purpose, 1, key);
        MDB_val got;
        int r = store_get(txn, v->store->ckeys, key, klen, &got);

        *k = (struct keeper_ckey){.collection = collection, .wrapped = buf};
        if (r == 0) {
                if (got.mv_size != CKEY_VALUE_SIZE)
                        return -EIO;
                k->gen = be64_get(got.mv_data);
                k->kek_version = be32_get((const uint8_t *)got.mv_data + 8);
                memcpy(buf, (const uint8_t *)got.mv_data + 12, KEYS_WRAPPED);
                return 0;
        }
        if (r != -ENOENT || !create)
                return r;
        k->gen = 1;
        return ckey_make(v, txn, key, klen, purpose, k, buf);
}

int ckey_rotate(struct vault *v, MDB_txn *txn, const char *collection, uint64_t *ret_gen)
{
        uint8_t key[RECMETA_KEY_MAX], pkey[RECMETA_KEY_MAX], buf[KEYS_WRAPPED], val[CKEY_VALUE_SIZE];
        char purpose = CKEY_INDEX, previous = CKEY_PREVIOUS;
        size_t klen = ckeys_pair(collection, &purpose, 1, key),
               plen = ckeys_pair(collection, &previous, 1, pkey);
        struct keeper_ckey k;
        int r = ckey_get(v, txn, collection, CKEY_INDEX, false, &k, buf);

        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0) { /* kept until the rebuild is done */
                be64_put(val, k.gen);
                be32_put(val + 8, k.kek_version);
                memcpy(val + 12, buf, KEYS_WRAPPED);
                if ((r = store_put(txn, v->store->ckeys, pkey, plen, val, sizeof(val), 0)) < 0)
                        return r;
                k.gen++;
        } else
                k.gen = 1;
        if ((r = ckey_make(v, txn, key, klen, purpose, &k, buf)) < 0)
                return r;
        *ret_gen = k.gen;
        return 0;
}

/* Whether a ckeys entry is a wrapped key (not a rebuild's progress). */
static bool ckey_entry(const MDB_val *key, const MDB_val *val)
{
        const uint8_t *k = key->mv_data;

        return val->mv_size == CKEY_VALUE_SIZE && key->mv_size >= 2 && k[key->mv_size - 2] == '\0' &&
               (k[key->mv_size - 1] == CKEY_INDEX || k[key->mv_size - 1] == CKEY_PREVIOUS ||
                k[key->mv_size - 1] == CKEY_PSEUDONYM);
}

int ckeys_count(struct vault *v, MDB_txn *txn, uint64_t counts[KEYS_MAX_KEK])
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc = mdb_cursor_open(txn, v->store->ckeys, &cur);

        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                uint32_t kv = ckey_entry(&key, &val) ? be32_get((const uint8_t *)val.mv_data + 8) : 0;

                if (kv > 0 && kv < KEYS_MAX_KEK)
                        counts[kv]++;
        }
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND ? 0 : store_errno(rc);
}

/* Re-wraps one collection key (ckeys key, value) under the current KEK. */
static int ckey_rewrap(struct vault *v, MDB_txn *txn, const MDB_val *key, const MDB_val *val)
{
        const uint8_t *p = val->mv_data, *nul = memchr(key->mv_data, '\0', key->mv_size);
        char collection[NAME_COLLECTION_MAX + 1];
        uint8_t out[CKEY_VALUE_SIZE];
        struct body_binding b;
        uint32_t kv;
        size_t cl;
        int r;

        if (!nul || (cl = (size_t)(nul - (const uint8_t *)key->mv_data)) > NAME_COLLECTION_MAX ||
            key->mv_size != cl + 2 || val->mv_size != CKEY_VALUE_SIZE)
                return -EIO;
        memcpy(collection, key->mv_data, cl);
        collection[cl] = '\0';
        b = (struct body_binding){
                collection, nul[1] == CKEY_PSEUDONYM ? COLLKEY_ID_PSEUDONYM : COLLKEY_ID_INDEX, be64_get(p)};
        memcpy(out, p, 8);
        r = keeper_rewrap(v->keeper, &b, be32_get(p + 8), p + 12, &kv, out + 12);
        if (r < 0)
                return r;
        be32_put(out + 8, kv);
        return store_put(txn, v->store->ckeys, key->mv_data, key->mv_size, out, sizeof(out), 0);
}

int ckeys_rewrap(struct vault *v, MDB_txn *txn, uint32_t current)
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc = mdb_cursor_open(txn, v->store->ckeys, &cur), r = 0, n = 0;

        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && r >= 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (ckey_entry(&key, &val) && be32_get((const uint8_t *)val.mv_data + 8) < current &&
                    (r = ckey_rewrap(v, txn, &key, &val)) == 0)
                        n++;
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        return rc == MDB_NOTFOUND ? n : store_errno(rc);
}

/* ckeys key of a rebuild's progress: collection NUL 'r'. */
static size_t rebuild_key(const char *collection, uint8_t buf[RECMETA_KEY_MAX])
{
        return ckeys_pair(collection, "r", 1, buf);
}

/* Its value: gen(8) total(8) after. A rebuild begun by an older vaultd
 * left gen(8) after, told apart by the NUL that starts total (an id
 * never starts with one); its total counts from the upgrade. */
int ckeys_rebuild_get(struct vault *v, MDB_txn *txn, const char *collection, uint64_t *ret_gen,
                      uint64_t *ret_total, char ret_after[NAME_ID_MAX + 1])
{
        uint8_t key[RECMETA_KEY_MAX];
        const uint8_t *p;
        MDB_val got;
        size_t skip = 8;
        int r = store_get(txn, v->store->ckeys, key, rebuild_key(collection, key), &got);

        if (r < 0)
                return r;
        p = got.mv_data;
        if (got.mv_size >= 16 && p[8] == '\0')
                skip = 16;
        if (got.mv_size < 8 || got.mv_size - skip > NAME_ID_MAX)
                return -EIO;
        *ret_gen = be64_get(p);
        *ret_total = skip == 16 ? be64_get(p + 8) : 0;
        memcpy(ret_after, p + skip, got.mv_size - skip);
        ret_after[got.mv_size - skip] = '\0';
        return 0;
}

int ckeys_rebuild_set(struct vault *v, MDB_txn *txn, const char *collection, uint64_t gen, uint64_t total,
                      const char *after)
{
        uint8_t key[RECMETA_KEY_MAX], pkey[RECMETA_KEY_MAX], val[16 + NAME_ID_MAX];
        char previous = CKEY_PREVIOUS;
        size_t klen = rebuild_key(collection, key), al;
        int r;

        if (!after) { /* done: no record is filed under the old key any more */
                r = store_del(txn, v->store->ckeys, key, klen);
                if (r == 0 || r == -ENOENT)
                        r = store_del(txn, v->store->ckeys, pkey,
                                      ckeys_pair(collection, &previous, 1, pkey));
                return r == -ENOENT ? 0 : r;
        }
        if ((al = strlen(after)) > NAME_ID_MAX || total >> 56)
                return -EINVAL;
        be64_put(val, gen);
        be64_put(val + 8, total);
        memcpy(val + 16, after, al);
        return store_put(txn, v->store->ckeys, key, klen, val, 16 + al, 0);
}
