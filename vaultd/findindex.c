#include "findindex.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ckeys.h"
#include "collkeys.h"
#include "envelope.h"
#include "jsonfield.h"
#include "keeper-proto.h"
#include "records.h"
#include "util.h"

#define IFACE              "io.vaultd.records"
#define FIND_LIMIT_MAX     1000
#define FIND_LIMIT_DEFAULT 100
/* A value as it comes, before NFC (which may compose it shorter). */
#define VALUE_IN_MAX (FINDINDEX_VALUE_MAX * 4)
/* Longest findex key: collection NUL field NUL tag id. */
#define ENTRY_KEY_MAX (NAME_COLLECTION_MAX + 1 + COLLECTION_FIELD_MAX + 1 + FINDINDEX_TAG_SIZE + NAME_ID_MAX)
/* Longest fterms value: the tags, then the given terms sealed. */
#define TAGS_VALUE_MAX  (9 + COLLECTION_INDEX_MAX * (1 + COLLECTION_FIELD_MAX + FINDINDEX_TAG_SIZE))
#define TERMS_VALUE_MAX (TAGS_VALUE_MAX + 8 + 2 + FINDINDEX_SEALED_MAX)

struct term {
        const char *field; /* borrowed from the collection's settings */
        char value[FINDINDEX_VALUE_MAX + 1];
        uint8_t tag[32];
};

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

/* Where an fterms value's tags end (its sealed terms follow, if any):
 * -EIO when it is malformed. */
static int tags_end(const uint8_t *val, size_t len, size_t *ret_end)
{
        size_t pos = 9;

        if (len < 9 || len > TERMS_VALUE_MAX)
                return -EIO;
        for (unsigned i = 0; i < val[8]; i++) {
                size_t fl = pos < len ? val[pos] : 0;

                if (fl == 0 || fl > COLLECTION_FIELD_MAX || pos + 1 + fl + FINDINDEX_TAG_SIZE > len)
                        return -EIO;
                pos += 1 + fl + FINDINDEX_TAG_SIZE;
        }
        *ret_end = pos;
        return 0;
}

int findindex_remove(struct vault *v, MDB_txn *txn, const char *collection, const char *id)
{
        uint8_t key[RECMETA_KEY_MAX], terms[TAGS_VALUE_MAX], ek[ENTRY_KEY_MAX];
        size_t klen = ckeys_pair(collection, id, strlen(id), key), end, pos = 9;
        char field[COLLECTION_FIELD_MAX + 1];
        MDB_val got;
        int r = store_get(txn, v->store->fterms, key, klen, &got);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if ((r = tags_end(got.mv_data, got.mv_size, &end)) < 0)
                return r;
        memcpy(terms, got.mv_data, end); /* the deletes below move it */
        for (unsigned i = 0; i < terms[8]; i++) {
                size_t fl = terms[pos];

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

/* Files record id under each term's tag and notes the tags in fterms,
 * with the sealed terms kept (when not NULL). */
static int entries_add(struct vault *v, MDB_txn *txn, const char *collection, const char *id, uint64_t gen,
                       const struct term *terms, size_t n, const struct findindex_stored *kept)
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
        if (kept && kept->sealed_len) {
                be64_put(val + pos, kept->version);
                be16_put(val + pos + 8, (uint16_t)kept->sealed_len);
                memcpy(val + pos + 10, kept->sealed, kept->sealed_len);
                pos += 10 + kept->sealed_len;
        }
        return store_put(txn, v->store->fterms, key, ckeys_pair(collection, id, strlen(id), key), val, pos,
                         0);
}

/* The tags of n terms under the collection's index key (made at the
 * first term). */
static int terms_tag(struct vault *v, MDB_txn *txn, const char *collection, struct term *terms, size_t n,
                     uint64_t *ret_gen)
{
        const char *fields[COLLECTION_INDEX_MAX], *values[COLLECTION_INDEX_MAX];
        uint8_t wrapped[KEYS_WRAPPED], tags[COLLECTION_INDEX_MAX][32];
        struct keeper_ckey k;
        int r = ckey_get(v, txn, collection, CKEY_INDEX, true, &k, wrapped);

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

/* The terms as they are kept sealed: n x (field_len(1) field
 * value_len(2) value), into out (FINDINDEX_GIVEN_MAX bytes). */
static size_t given_encode(const struct term *terms, size_t n, uint8_t *out)
{
        size_t pos = 0, fl, vl;

        for (size_t i = 0; i < n; i++) {
                fl = strlen(terms[i].field);
                vl = strlen(terms[i].value);
                out[pos] = (uint8_t)fl;
                memcpy(out + pos + 1, terms[i].field, fl);
                be16_put(out + pos + 1 + fl, (uint16_t)vl);
                memcpy(out + pos + 3 + fl, terms[i].value, vl);
                pos += 3 + fl + vl;
        }
        return pos;
}

/* The kept terms (given_encode's, len bytes) of the fields cs still
 * indexes: 0, or -EBADMSG when they are malformed. */
static int given_decode(const struct collection_settings *cs, const uint8_t *in, size_t len,
                        struct term *terms, size_t *ret_n)
{
        char field[COLLECTION_FIELD_MAX + 1], raw[FINDINDEX_VALUE_MAX + 1];
        size_t pos = 0, n = 0, fl, vl;
        int r = 0;

        while (pos < len && r == 0) {
                fl = in[pos];
                if (fl == 0 || fl > COLLECTION_FIELD_MAX || pos + 3 + fl > len ||
                    (vl = be16_get(in + pos + 1 + fl)) > FINDINDEX_VALUE_MAX || pos + 3 + fl + vl > len ||
                    n == COLLECTION_INDEX_MAX) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(field, in + pos + 1, fl);
                field[fl] = '\0';
                memcpy(raw, in + pos + 3 + fl, vl);
                raw[vl] = '\0';
                pos += 3 + fl + vl;
                if (!(terms[n].field = declared_field(cs, field)))
                        continue; /* no longer an index field */
                if (!value_normalise(raw, vl, terms[n].value))
                        r = -EBADMSG;
                n++;
        }
        sodium_memzero(raw, sizeof(raw));
        *ret_n = n;
        return r;
}

int findindex_put(struct vault *v, MDB_txn *txn, struct job *j, const struct collection_settings *cs,
                  const char *collection, const char *id, const uint8_t *body, size_t len,
                  struct findindex_given *ret_given, json_t **ret_fields)
{
        struct term terms[COLLECTION_INDEX_MAX];
        uint64_t gen = 0;
        bool given;
        size_t n = 0;
        int r;

        *ret_fields = NULL;
        ret_given->len = 0;
        r = terms_from_call(j, cs, terms, &n);
        given = r == 0;
        if (r == 1)
                r = cs->content == CONTENT_JSON && cs->nindex ? terms_from_body(j, cs, body, len, terms, &n)
                                                              : 0;
        if (r == 0)
                r = findindex_remove(v, txn, collection, id);
        if (r == 0 && n > 0 && (r = terms_tag(v, txn, collection, terms, n, &gen)) == 0)
                r = entries_add(v, txn, collection, id, gen, terms, n, NULL);
        if (r == 0 && n > 0 && given)
                ret_given->len = given_encode(terms, n, ret_given->plain);
        if (r == 0 && n > 0) {
                *ret_fields = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(*ret_fields, json_string(terms[i].field));
        }
        sodium_memzero(terms, sizeof(terms));
        return r;
}

int findindex_keep_given(struct vault *v, MDB_txn *txn, const char *collection, const char *id,
                         uint64_t version, const uint8_t *sealed, size_t sealed_len)
{
        uint8_t key[RECMETA_KEY_MAX], val[TERMS_VALUE_MAX];
        size_t klen = ckeys_pair(collection, id, strlen(id), key), end;
        MDB_val got;
        int r = store_get(txn, v->store->fterms, key, klen, &got);

        if (r < 0)
                return r;
        if (sealed_len > FINDINDEX_SEALED_MAX)
                return -EINVAL;
        if ((r = tags_end(got.mv_data, got.mv_size, &end)) < 0)
                return r;
        memcpy(val, got.mv_data, end);
        be64_put(val + end, version);
        be16_put(val + end + 8, (uint16_t)sealed_len);
        memcpy(val + end + 10, sealed, sealed_len);
        return store_put(txn, v->store->fterms, key, klen, val, end + 10 + sealed_len, 0);
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

/* The ids filed under value's tag for field under the collection's key
 * of purpose (the index key, or the one a rebuild replaces), as
 * entries_read reads them. -ENOENT when there is no such key. */
static int find_under(struct vault *v, MDB_txn *txn, const char *collection, char purpose, const char *field,
                      const char *value, const char *after, uint64_t limit, json_t *ids, bool *ret_more)
{
        uint8_t wrapped[KEYS_WRAPPED], tag[1][32], prefix[ENTRY_KEY_MAX];
        struct keeper_ckey k;
        int r = ckey_get(v, txn, collection, purpose, false, &k, wrapped);

        if (r < 0)
                return r;
        if ((r = keeper_index_tags(v->keeper, &k, 1, &field, &value, tag)) < 0)
                return r;
        return entries_read(v, txn, prefix, entry_key(collection, field, tag[0], "", 0, prefix), after,
                            limit, ids, ret_more);
}

/* The first limit ids of two lists in id order (a record is filed under
 * one generation's tag only, so no id is in both): the result in *a,
 * with *more set when some were left out. */
static int ids_merge(json_t *a, json_t *b, uint64_t limit, bool *more)
{
        json_t *out = json_array();
        size_t i = 0, k = 0, na = json_array_size(a), nb = json_array_size(b);

        if (!out)
                return -ENOMEM;
        while ((i < na || k < nb) && json_array_size(out) < limit) {
                json_t *x = json_array_get(a, i), *y = json_array_get(b, k);

                if (!y || (x && strcmp(json_string_value(x), json_string_value(y)) < 0)) {
                        json_array_append(out, x);
                        i++;
                } else {
                        json_array_append(out, y);
                        k++;
                }
        }
        *more = *more || i < na || k < nb;
        json_array_clear(a);
        json_array_extend(a, out);
        json_decref(out);
        return 0;
}

/* Find's ids: under the index key and, while a rebuild is under way,
 * under the key it replaces, which files the records it has not reached
 * yet. Sets *ret_rebuilding. */
static int find_ids(struct vault *v, MDB_txn *txn, const char *collection, const char *field,
                    const char *value, const char *after, uint64_t limit, json_t *ids, bool *ret_more,
                    bool *ret_rebuilding)
{
        char rebuild_after[NAME_ID_MAX + 1];
        uint64_t rebuild_gen, total;
        bool more_old = false;
        json_t *old;
        int r = find_under(v, txn, collection, CKEY_INDEX, field, value, after, limit, ids, ret_more);

        if (r == -ENOENT) /* nothing was ever indexed */
                return 0;
        if (r < 0)
                return r;
        r = ckeys_rebuild_get(v, txn, collection, &rebuild_gen, &total, rebuild_after);
        *ret_rebuilding = r == 0;
        if (r == -ENOENT)
                return 0;
        if (r < 0 || !(old = json_array()))
                return r < 0 ? r : -ENOMEM;
        r = find_under(v, txn, collection, CKEY_PREVIOUS, field, value, after, limit, old, &more_old);
        *ret_more = *ret_more || more_old;
        if (r == 0)
                r = ids_merge(ids, old, limit, ret_more);
        json_decref(old);
        return r == -ENOENT ? 0 : r; /* a rebuild begun before the old key was kept */
}

int findindex_find(struct vault *v, MDB_txn *txn, struct job *j)
{
        struct collection_settings cs;
        const char *collection, *field, *after;
        char value[FINDINDEX_VALUE_MAX + 1];
        uint64_t limit = FIND_LIMIT_DEFAULT;
        json_t *ids;
        bool more = false, rebuilding = false;
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
        r = ids ? find_ids(v, txn, collection, field, value, after, limit, ids, &more, &rebuilding)
                : -ENOMEM;
        sodium_memzero(value, sizeof(value));
        if (r < 0) {
                json_decref(ids);
                return r;
        }
        json_object_set_new(j->audit.extra, "matched", json_integer((json_int_t)json_array_size(ids)));
        j->reply = json_pack("{s:o}", "ids", ids);
        if (more)
                json_object_set(j->reply, "next", json_array_get(ids, json_array_size(ids) - 1));
        if (j->reply && rebuilding)
                json_object_set_new(j->reply, "rebuilding", json_true());
        return j->reply ? 0 : -ENOMEM;
}

int findindex_stored_get(struct vault *v, MDB_txn *txn, const char *collection, const char *id,
                         struct findindex_stored *ret)
{
        uint8_t key[RECMETA_KEY_MAX];
        const uint8_t *p;
        MDB_val got;
        size_t end, sl = 0;
        int r = store_get(txn, v->store->fterms, key, ckeys_pair(collection, id, strlen(id), key), &got);

        if (r < 0)
                return r;
        if ((r = tags_end(got.mv_data, got.mv_size, &end)) < 0)
                return r;
        p = (const uint8_t *)got.mv_data + end;
        if (got.mv_size > end && (got.mv_size < end + 10 || (sl = be16_get(p + 8)) > FINDINDEX_SEALED_MAX ||
                                  end + 10 + sl != got.mv_size))
                return -EIO;
        ret->gen = be64_get(got.mv_data);
        ret->version = got.mv_size > end ? be64_get(p) : 0;
        ret->sealed_len = sl;
        if (sl)
                memcpy(ret->sealed, p + 10, sl);
        return 0;
}

int findindex_reindex(struct vault *v, MDB_txn *txn, const struct collection_settings *cs,
                      const char *collection, const char *id, const struct findindex_source *src)
{
        struct term terms[COLLECTION_INDEX_MAX];
        const char *bad;
        uint64_t gen;
        size_t n = 0;
        int r = findindex_remove(v, txn, collection, id);

        if (r == 0 && src->given)
                r = given_decode(cs, src->given, src->given_len, terms, &n);
        else if (r == 0 && src->body)
                r = body_terms(cs, src->body, src->body_len, terms, &n, &bad);
        if (r == 0 && n > 0 && (r = terms_tag(v, txn, collection, terms, n, &gen)) == 0)
                r = entries_add(v, txn, collection, id, gen, terms, n, src->given ? src->kept : NULL);
        sodium_memzero(terms, sizeof(terms));
        return r < 0 ? r : (int)n;
}
