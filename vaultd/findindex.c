#include "findindex.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "collkeys.h"
#include "jsonfield.h"
#include "keeper-proto.h"
#include "records.h"
#include "util.h"

#define IFACE              "io.vaultd.records"
#define FIND_LIMIT_MAX     1000
#define FIND_LIMIT_DEFAULT 100
/* A value as it comes, before NFC (which may compose it shorter). */
#define VALUE_IN_MAX (FINDINDEX_VALUE_MAX * 4)
/* ckeys value: gen(8) kek_version(4) wrapped. */
#define CKEY_VALUE_SIZE (8 + 4 + KEYS_WRAPPED)
/* Longest findex key: collection NUL field NUL tag id. */
#define ENTRY_KEY_MAX (NAME_COLLECTION_MAX + 1 + COLLECTION_FIELD_MAX + 1 + FINDINDEX_TAG_SIZE + NAME_ID_MAX)
/* Longest fterms value. */
#define TERMS_VALUE_MAX (9 + COLLECTION_INDEX_MAX * (1 + COLLECTION_FIELD_MAX + FINDINDEX_TAG_SIZE))

struct term {
        const char *field; /* borrowed from the collection's settings */
        char value[FINDINDEX_VALUE_MAX + 1];
        uint8_t tag[32];
};

/* "collection NUL purpose" or "collection NUL id": a key of ckeys or
 * fterms into buf (RECMETA_KEY_MAX bytes). */
static size_t pair_key(const char *a, const char *b, size_t blen, uint8_t *buf)
{
        size_t al = strlen(a) + 1;

        memcpy(buf, a, al);
        memcpy(buf + al, b, blen);
        return al + blen;
}

/* Makes a new key of purpose and generation k->gen for k->collection
 * (the keeper wraps it) and stores it at key, replacing any: the old one
 * is gone from the store, so it is retired. */
static int ckey_make(struct vault *v, MDB_txn *txn, const uint8_t *key, size_t klen, char purpose,
                     struct keeper_ckey *k, uint8_t buf[KEYS_WRAPPED])
{
        uint8_t val[CKEY_VALUE_SIZE];
        int r = keeper_ckey_new(v->keeper,
                                purpose == FINDINDEX_CKEY_INDEX ? KEEPER_CKEY_INDEX : KEEPER_CKEY_PSEUDONYM,
                                k->collection, k->gen, &k->kek_version, buf);

        if (r < 0)
                return r;
        be64_put(val, k->gen);
        be32_put(val + 8, k->kek_version);
        memcpy(val + 12, buf, KEYS_WRAPPED);
        return store_put(txn, v->store->ckeys, key, klen, val, sizeof(val), 0);
}

int findindex_ckey(struct vault *v, MDB_txn *txn, const char *collection, char purpose, bool create,
                   struct keeper_ckey *k, uint8_t buf[KEYS_WRAPPED])
{
        uint8_t key[RECMETA_KEY_MAX];
        size_t klen = pair_key(collection, &purpose, 1, key);
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

int findindex_rotate(struct vault *v, MDB_txn *txn, const char *collection, uint64_t *ret_gen)
{
        uint8_t key[RECMETA_KEY_MAX], buf[KEYS_WRAPPED];
        char purpose = FINDINDEX_CKEY_INDEX;
        size_t klen = pair_key(collection, &purpose, 1, key);
        struct keeper_ckey k;
        int r = findindex_ckey(v, txn, collection, FINDINDEX_CKEY_INDEX, false, &k, buf);

        if (r < 0 && r != -ENOENT)
                return r;
        k.gen = r == 0 ? k.gen + 1 : 1;
        if ((r = ckey_make(v, txn, key, klen, purpose, &k, buf)) < 0)
                return r;
        *ret_gen = k.gen;
        return 0;
}

/* A value as it is indexed and sought: NFC, 1 to FINDINDEX_VALUE_MAX
 * bytes, no control or bidi character. in holds len bytes (a decoded
 * JSON string may hold a NUL: refused). */
static bool value_normalise(const char *in, size_t len, char out[FINDINDEX_VALUE_MAX + 1])
{
        int n;

        if (len == 0 || len > VALUE_IN_MAX || strlen(in) != len || text_has_controls(in, len))
                return false;
        n = name_normalise(in, out, FINDINDEX_VALUE_MAX + 1);
        return n > 0 && !text_has_controls(out, (size_t)n);
}

#define VALUE_RULE "an index value is 1-256 bytes of text (NFC) without control characters"

static const char *declared_field(const struct collection_settings *cs, const char *field)
{
        for (size_t i = 0; i < cs->nindex; i++)
                if (strcmp(cs->index[i], field) == 0)
                        return cs->index[i];
        return NULL;
}

/* The call's "index" object: 1 when it gave none, 0 with the terms, or
 * JOB_FAILED. */
static int terms_from_call(struct job *j, const struct collection_settings *cs, struct term *terms,
                           size_t *ret_n)
{
        json_t *index = json_object_get(j->call.parameters, "index"), *value;
        const char *field;
        char reason[200];
        size_t n = 0;

        if (!index || json_is_null(index))
                return 1;
        if (!json_is_object(index))
                return job_invalid(j, IFACE, "index", "must be an object of field names and values");
        if (cs->nindex == 0 && json_object_size(index) > 0)
                return job_invalid(j, IFACE, "index",
                                   "this collection has no index fields (an admin declares them: "
                                   "vaultctl collection set NAME --index FIELD)");
        json_object_foreach(index, field, value)
        {
                if (!(terms[n].field = declared_field(cs, field))) {
                        snprintf(reason, sizeof(reason), "%.64s is not an index field of this collection",
                                 field);
                        return job_invalid(j, IFACE, "index", reason);
                }
                if (!json_is_string(value) ||
                    !value_normalise(json_string_value(value), json_string_length(value), terms[n].value))
                        return job_invalid(j, IFACE, "index", VALUE_RULE);
                n++;
        }
        *ret_n = n;
        return 0;
}

/* A json body's top-level fields of the index's names (strings or
 * numbers; a field that is absent or of another type gives no term).
 * 0, or -EBADMSG with *ret_bad the field whose value is no term. */
static int body_terms(const struct collection_settings *cs, const uint8_t *body, size_t len,
                      struct term *terms, size_t *ret_n, const char **ret_bad)
{
        char raw[VALUE_IN_MAX + 1];
        size_t n = 0;
        int k;

        for (size_t i = 0; i < cs->nindex; i++) {
                k = jsonfield_scalar(body, len, cs->index[i], raw, sizeof(raw));
                if (k == -ENOENT)
                        continue;
                if (k < 0 || !value_normalise(raw, (size_t)k, terms[n].value)) {
                        sodium_memzero(raw, sizeof(raw));
                        *ret_bad = cs->index[i];
                        return -EBADMSG;
                }
                terms[n++].field = cs->index[i];
        }
        sodium_memzero(raw, sizeof(raw));
        *ret_n = n;
        return 0;
}

/* body_terms for a Put: 0, or JOB_FAILED with InvalidContent. */
static int terms_from_body(struct job *j, const struct collection_settings *cs, const uint8_t *body,
                           size_t len, struct term *terms, size_t *ret_n)
{
        const char *bad;

        if (body_terms(cs, body, len, terms, ret_n, &bad) < 0) {
                j->audit.extra = json_pack("{s:s}", "field", bad);
                return job_fail(j, IFACE ".InvalidContent",
                                json_pack("{s:s,s:I,s:I,s:I,s:s}", "parameter", "data", "position",
                                          (json_int_t)0, "line", (json_int_t)1, "column", (json_int_t)1,
                                          "reason",
                                          "an index field's value is not 1-256 bytes of text "
                                          "without control characters"));
        }
        return 0;
}

/* findex key: collection NUL field NUL tag id. */
static size_t entry_key(const char *collection, const char *field, const uint8_t *tag, const char *id,
                        size_t idlen, uint8_t buf[ENTRY_KEY_MAX])
{
        size_t cl = strlen(collection) + 1, fl = strlen(field) + 1;

        memcpy(buf, collection, cl);
        memcpy(buf + cl, field, fl);
        memcpy(buf + cl + fl, tag, FINDINDEX_TAG_SIZE);
        memcpy(buf + cl + fl + FINDINDEX_TAG_SIZE, id, idlen);
        return cl + fl + FINDINDEX_TAG_SIZE + idlen;
}

int findindex_remove(struct vault *v, MDB_txn *txn, const char *collection, const char *id)
{
        uint8_t key[RECMETA_KEY_MAX], terms[TERMS_VALUE_MAX], ek[ENTRY_KEY_MAX];
        size_t klen = pair_key(collection, id, strlen(id), key), len, pos = 9;
        char field[COLLECTION_FIELD_MAX + 1];
        MDB_val got;
        int r = store_get(txn, v->store->fterms, key, klen, &got);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if ((len = got.mv_size) > sizeof(terms) || len < 9)
                return -EIO;
        memcpy(terms, got.mv_data, len); /* the deletes below move it */
        for (unsigned i = 0; i < terms[8]; i++) {
                size_t fl = pos < len ? terms[pos] : 0;

                if (fl == 0 || fl > COLLECTION_FIELD_MAX || pos + 1 + fl + FINDINDEX_TAG_SIZE > len)
                        return -EIO;
                memcpy(field, terms + pos + 1, fl);
                field[fl] = '\0';
                r = store_del(txn, v->store->findex, ek,
                              entry_key(collection, field, terms + pos + 1 + fl, id, strlen(id), ek));
                if (r < 0 && r != -ENOENT)
                        return r;
                pos += 1 + fl + FINDINDEX_TAG_SIZE;
        }
        return store_del(txn, v->store->fterms, key, klen);
}

/* Files record id under each term's tag and notes the tags in fterms. */
static int entries_add(struct vault *v, MDB_txn *txn, const char *collection, const char *id, uint64_t gen,
                       const struct term *terms, size_t n)
{
        uint8_t key[RECMETA_KEY_MAX], val[TERMS_VALUE_MAX], ek[ENTRY_KEY_MAX];
        size_t pos = 9, fl;
        int r;

        be64_put(val, gen);
        val[8] = (uint8_t)n;
        for (size_t i = 0; i < n; i++) {
                r = store_put(txn, v->store->findex, ek,
                              entry_key(collection, terms[i].field, terms[i].tag, id, strlen(id), ek), "", 0,
                              0);
                if (r < 0)
                        return r;
                fl = strlen(terms[i].field);
                val[pos] = (uint8_t)fl;
                memcpy(val + pos + 1, terms[i].field, fl);
                memcpy(val + pos + 1 + fl, terms[i].tag, FINDINDEX_TAG_SIZE);
                pos += 1 + fl + FINDINDEX_TAG_SIZE;
        }
        return store_put(txn, v->store->fterms, key, pair_key(collection, id, strlen(id), key), val, pos, 0);
}

/* The tags of n terms under the collection's index key (made at the
 * first term). */
static int terms_tag(struct vault *v, MDB_txn *txn, const char *collection, struct term *terms, size_t n,
                     uint64_t *ret_gen)
{
        const char *fields[COLLECTION_INDEX_MAX], *values[COLLECTION_INDEX_MAX];
        uint8_t wrapped[KEYS_WRAPPED], tags[COLLECTION_INDEX_MAX][32];
        struct keeper_ckey k;
        int r = findindex_ckey(v, txn, collection, FINDINDEX_CKEY_INDEX, true, &k, wrapped);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                fields[i] = terms[i].field;
                values[i] = terms[i].value;
        }
        if ((r = keeper_index_tags(v->keeper, &k, n, fields, values, tags)) < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                memcpy(terms[i].tag, tags[i], sizeof(tags[i]));
        *ret_gen = k.gen;
        return 0;
}

int findindex_put(struct vault *v, MDB_txn *txn, struct job *j, const struct collection_settings *cs,
                  const char *collection, const char *id, const uint8_t *body, size_t len,
                  json_t **ret_fields)
{
        struct term terms[COLLECTION_INDEX_MAX];
        uint64_t gen = 0;
        size_t n = 0;
        int r;

        *ret_fields = NULL;
        r = terms_from_call(j, cs, terms, &n);
        if (r == 1)
                r = cs->content == CONTENT_JSON && cs->nindex ? terms_from_body(j, cs, body, len, terms, &n)
                                                              : 0;
        if (r == 0)
                r = findindex_remove(v, txn, collection, id);
        if (r == 0 && n > 0 && (r = terms_tag(v, txn, collection, terms, n, &gen)) == 0)
                r = entries_add(v, txn, collection, id, gen, terms, n);
        if (r == 0 && n > 0) {
                *ret_fields = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(*ret_fields, json_string(terms[i].field));
        }
        sodium_memzero(terms, sizeof(terms));
        return r;
}

/* Find's field and value parameters: the declared field, the value in
 * NFC. 0, or JOB_FAILED. */
static int find_params(struct job *j, const struct collection_settings *cs, const char **ret_field,
                       char value[FINDINDEX_VALUE_MAX + 1])
{
        const char *field, *raw;
        json_t *jv;
        int r;

        if ((r = param_string(j, IFACE, "field", true, &field)) != 0)
                return r;
        if (!(*ret_field = declared_field(cs, field)))
                return job_invalid(j, IFACE, "field",
                                   cs->nindex ? "is not an index field of this collection (see vaultctl "
                                                "collection show)"
                                              : "this collection has no index fields (an admin declares "
                                                "them: vaultctl collection set NAME --index FIELD)");
        if ((r = param_string(j, IFACE, "value", true, &raw)) != 0)
                return r;
        jv = json_object_get(j->call.parameters, "value");
        if (!value_normalise(raw, json_string_length(jv), value))
                return job_invalid(j, IFACE, "value", VALUE_RULE);
        return 0;
}

/* The ids filed under prefix (collection NUL field NUL tag), after after
 * (an id, or NULL), at most limit, into ids; *ret_more when there are
 * more. */
static int entries_read(struct vault *v, MDB_txn *txn, const uint8_t *prefix, size_t plen, const char *after,
                        uint64_t limit, json_t *ids, bool *ret_more)
{
        uint8_t start[ENTRY_KEY_MAX];
        MDB_cursor *cur;
        MDB_val key, val;
        size_t slen = plen;
        int rc;

        memcpy(start, prefix, plen);
        if (after) {
                memcpy(start + plen, after, strlen(after));
                slen += strlen(after);
        }
        if ((rc = mdb_cursor_open(txn, v->store->findex, &cur)) != 0)
                return store_errno(rc);
        key = (MDB_val){slen, start};
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && after && key.mv_size == slen && memcmp(key.mv_data, start, slen) == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        *ret_more = false;
        for (; rc == 0 && key.mv_size > plen && memcmp(key.mv_data, prefix, plen) == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (json_array_size(ids) == limit) {
                        *ret_more = true;
                        break;
                }
                json_array_append_new(ids,
                                      json_stringn((const char *)key.mv_data + plen, key.mv_size - plen));
        }
        mdb_cursor_close(cur);
        return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_errno(rc);
}

int findindex_find(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        const char *collection, *field, *after, *tag_value[1];
        char value[FINDINDEX_VALUE_MAX + 1], rebuild_after[NAME_ID_MAX + 1];
        uint8_t wrapped[KEYS_WRAPPED], tag[1][32], prefix[ENTRY_KEY_MAX];
        uint64_t limit = FIND_LIMIT_DEFAULT, rebuild_gen;
        struct keeper_ckey k;
        json_t *ids;
        bool more = false;
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &collection)) != 0)
                return r;
        j->audit.collection = collection;
        if ((r = param_uint(j, IFACE, "limit", false, FIND_LIMIT_MAX, &limit, NULL)) != 0 ||
            (r = records_param_name(j, "after", NAME_ID, false, &after)) != 0)
                return r;
        if (limit == 0)
                return job_invalid(j, IFACE, "limit", "must be an integer from 1 to 1000");
        if ((r = collection_settings_get(v, txn, collection, &cs)) < 0)
                return r;
        if (!cs.created)
                return job_fail(j, IFACE ".CollectionNotFound",
                                json_pack("{s:s}", "collection", collection));
        if ((r = find_params(j, &cs, &field, value)) != 0)
                return r;
        j->audit.extra = json_pack("{s:s}", "field", field);
        ids = json_array();
        r = findindex_ckey(v, txn, collection, FINDINDEX_CKEY_INDEX, false, &k, wrapped);
        if (r == 0) {
                tag_value[0] = value;
                r = keeper_index_tags(v->keeper, &k, 1, &field, tag_value, tag);
                if (r == 0)
                        r = entries_read(v, txn, prefix, entry_key(collection, field, tag[0], "", 0, prefix),
                                         after, limit, ids, &more);
        } else if (r == -ENOENT) /* nothing was ever indexed */
                r = 0;
        sodium_memzero(value, sizeof(value));
        if (r < 0) {
                json_decref(ids);
                return r;
        }
        json_object_set_new(j->audit.extra, "matched", json_integer((json_int_t)json_array_size(ids)));
        j->reply = json_pack("{s:o}", "ids", ids);
        if (more)
                json_object_set(j->reply, "next", json_array_get(ids, json_array_size(ids) - 1));
        if (j->reply && findindex_rebuild_get(v, txn, collection, &rebuild_gen, rebuild_after) == 0)
                json_object_set_new(j->reply, "rebuilding", json_true());
        return j->reply ? 0 : -ENOMEM;
}

/* Whether a ckeys entry is a wrapped key (not a rebuild's progress). */
static bool ckey_entry(const MDB_val *key, const MDB_val *val)
{
        const uint8_t *k = key->mv_data;

        return val->mv_size == CKEY_VALUE_SIZE && key->mv_size >= 2 && k[key->mv_size - 2] == '\0' &&
               (k[key->mv_size - 1] == FINDINDEX_CKEY_INDEX ||
                k[key->mv_size - 1] == FINDINDEX_CKEY_PSEUDONYM);
}

int findindex_ckeys_count(struct vault *v, MDB_txn *txn, uint64_t counts[KEYS_MAX_KEK])
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
        b = (struct body_binding){collection,
                                  nul[1] == FINDINDEX_CKEY_INDEX ? COLLKEY_ID_INDEX : COLLKEY_ID_PSEUDONYM,
                                  be64_get(p)};
        memcpy(out, p, 8);
        r = keeper_rewrap(v->keeper, &b, be32_get(p + 8), p + 12, &kv, out + 12);
        if (r < 0)
                return r;
        be32_put(out + 8, kv);
        return store_put(txn, v->store->ckeys, key->mv_data, key->mv_size, out, sizeof(out), 0);
}

int findindex_ckeys_rewrap(struct vault *v, MDB_txn *txn, uint32_t current)
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

int findindex_term_gen(struct vault *v, MDB_txn *txn, const char *collection, const char *id,
                       uint64_t *ret_gen)
{
        uint8_t key[RECMETA_KEY_MAX];
        MDB_val got;
        int r = store_get(txn, v->store->fterms, key, pair_key(collection, id, strlen(id), key), &got);

        if (r < 0)
                return r;
        if (got.mv_size < 9)
                return -EIO;
        *ret_gen = be64_get(got.mv_data);
        return 0;
}

int findindex_reindex(struct vault *v, MDB_txn *txn, const struct collection_settings *cs,
                      const char *collection, const char *id, const uint8_t *body, size_t len)
{
        struct term terms[COLLECTION_INDEX_MAX];
        const char *bad;
        uint64_t gen;
        size_t n = 0;
        int r = findindex_remove(v, txn, collection, id);

        if (r == 0 && body)
                r = body_terms(cs, body, len, terms, &n, &bad);
        if (r == 0 && n > 0 && (r = terms_tag(v, txn, collection, terms, n, &gen)) == 0)
                r = entries_add(v, txn, collection, id, gen, terms, n);
        sodium_memzero(terms, sizeof(terms));
        return r < 0 ? r : (int)n;
}

/* ckeys key of a rebuild's progress: collection NUL 'r'. */
static size_t rebuild_key(const char *collection, uint8_t buf[RECMETA_KEY_MAX])
{
        return pair_key(collection, "r", 1, buf);
}

int findindex_rebuild_get(struct vault *v, MDB_txn *txn, const char *collection, uint64_t *ret_gen,
                          char ret_after[NAME_ID_MAX + 1])
{
        uint8_t key[RECMETA_KEY_MAX];
        MDB_val got;
        int r = store_get(txn, v->store->ckeys, key, rebuild_key(collection, key), &got);

        if (r < 0)
                return r;
        if (got.mv_size < 8 || got.mv_size - 8 > NAME_ID_MAX)
                return -EIO;
        *ret_gen = be64_get(got.mv_data);
        memcpy(ret_after, (const uint8_t *)got.mv_data + 8, got.mv_size - 8);
        ret_after[got.mv_size - 8] = '\0';
        return 0;
}

int findindex_rebuild_set(struct vault *v, MDB_txn *txn, const char *collection, uint64_t gen,
                          const char *after)
{
        uint8_t key[RECMETA_KEY_MAX], val[8 + NAME_ID_MAX];
        size_t klen = rebuild_key(collection, key), al;
        int r;

        if (!after) {
                r = store_del(txn, v->store->ckeys, key, klen);
                return r == -ENOENT ? 0 : r;
        }
        if ((al = strlen(after)) > NAME_ID_MAX)
                return -EINVAL;
        be64_put(val, gen);
        memcpy(val + 8, after, al);
        return store_put(txn, v->store->ckeys, key, klen, val, 8 + al, 0);
}
