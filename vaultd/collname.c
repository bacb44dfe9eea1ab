#include "collname.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ckeys.h"
#include "collections.h"
#include "collkeys.h"
#include "keeper-proto.h"
#include "methods.h"
#include "pseudonym.h"
#include "util.h"

/* Where the name waits while the call holds the pseudonym in its place,
 * should the batch run again: a key with a NUL, which no client can send
 * (jansson refuses one in a message). */
#define STASH     "collection\0name"
#define STASH_LEN (sizeof(STASH) - 1)

/* Pseudonyms computed since start, by name: a name is mapped by the
 * keeper once, not on every call. A pseudonym is a pure function of the
 * name and the names key, which never changes, so an entry is never
 * stale; a slot taken by another name is simply overwritten. */
#define CACHE_SLOTS 256

struct collname_cache {
        struct {
                char name[NAME_COLLECTION_MAX + 1];
                char pc[COLLNAME_TEXT + 1];
        } slot[CACHE_SLOTS];
};

bool collname_is_pseudonym(const char *s)
{
        uint8_t bin[COLLKEY_PSEUDONYM_SIZE];
        char again[COLLNAME_TEXT - 3 + 1];

        if (strlen(s) != COLLNAME_TEXT || strncmp(s, COLLNAME_PREFIX, 3) != 0 ||
            hex_decode(s + 3, bin, sizeof(bin)) < 0)
                return false;
        /* Only the lower-case form is one (as names are lower-case). */
        hex_encode(bin, sizeof(bin), again);
        return strcmp(again, s + 3) == 0;
}

static size_t slot_of(const char *name)
{
        return (size_t)(fnv1a(FNV1A_INIT, name, strlen(name)) % CACHE_SLOTS);
}

static void cache_put(struct vault *v, const char *name, const char *pc)
{
        size_t i = slot_of(name);

        if (!v->collnames && !(v->collnames = calloc(1, sizeof(*v->collnames))))
                return; /* the keeper is asked again next time */
        strcpy(v->collnames->slot[i].name, name);
        strcpy(v->collnames->slot[i].pc, pc);
}

static const char *cache_get(struct vault *v, const char *name)
{
        size_t i = slot_of(name);

        return v->collnames && strcmp(v->collnames->slot[i].name, name) == 0 ? v->collnames->slot[i].pc
                                                                             : NULL;
}

void collname_cache_free(struct vault *v)
{
        free(v->collnames);
        v->collnames = NULL;
}

/* The names key, as keeper requests name it: -ENOENT when no private
 * name was ever made (the vault has none). */
static int names_key(struct vault *v, MDB_txn *txn, bool create, struct keeper_ckey *k,
                     uint8_t buf[KEYS_WRAPPED])
{
        return ckey_get(v, txn, COLLNAME_KEY_OWNER, CKEY_PSEUDONYM, create, k, buf);
}

/* name's pseudonym into pc; with seal, its sealed name stored too. */
static int pseudonym(struct vault *v, MDB_txn *txn, const struct keeper_ckey *k, const char *name, bool seal,
                     char pc[COLLNAME_TEXT + 1])
{
        uint8_t ps[COLLKEY_PSEUDONYM_SIZE], sealed[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
        const char *known = seal ? NULL : cache_get(v, name);
        size_t len;
        int r;

        if (known) {
                strcpy(pc, known);
                return 0;
        }
        if ((r = keeper_pseudonym(v->keeper, k, name, ps, sealed, &len)) < 0)
                return r == -EBADMSG ? -EIO : r;
        memcpy(pc, COLLNAME_PREFIX, 3);
        hex_encode(ps, sizeof(ps), pc + 3);
        cache_put(v, name, pc);
        return seal ? pseudonym_seal_put(v, txn, COLLNAME_KEY_OWNER, pc, sealed, len) : 0;
}

/* Whether collection name exists under that name: it has settings or a
 * record. Such a name is no private one: a private name, once made, maps
 * every later call that names it (and a name in use cannot be made
 * private). */
static bool exists_in_clear(struct vault *v, MDB_txn *txn, const char *name)
{
        size_t cl = strlen(name) + 1;
        MDB_cursor *cur;
        MDB_val key = {cl, (void *)name}, val;
        bool found;

        if (store_get(txn, v->store->collections, name, cl - 1, &val) == 0)
                return true;
        if (mdb_cursor_open(txn, v->store->heads, &cur))
                return false;
        found = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE) == 0 && key.mv_size > cl &&
                memcmp(key.mv_data, name, cl) == 0;
        mdb_cursor_close(cur);
        return found;
}

/* A private collection's settings are stored under its pseudonym. */
static bool is_private(struct vault *v, MDB_txn *txn, const char *pc)
{
        struct collection_settings cs;

        return collection_settings_get(v, txn, pc, &cs) == 0 && cs.private_name;
}

int collname_stored(struct vault *v, MDB_txn *txn, const char *name, char out[NAME_COLLECTION_MAX + 1])
{
        uint8_t buf[KEYS_WRAPPED];
        char pc[COLLNAME_TEXT + 1];
        struct keeper_ckey k;
        int r;

        strcpy(out, name);
        /* (Cheapest first: most vaults have no private name at all.) */
        if (collname_is_pseudonym(name) || (r = names_key(v, txn, false, &k, buf)) == -ENOENT ||
            (r == 0 && exists_in_clear(v, txn, name)))
                return 0;
        if (r < 0)
                return r;
        r = pseudonym(v, txn, &k, name, false, pc);
        if (r == -EKEYREVOKED || r == -EPROTO)
                return 1; /* sealed */
        if (r < 0)
                return r;
        if (is_private(v, txn, pc))
                strcpy(out, pc);
        return 0;
}

void collname_summary(struct vault *v, MDB_txn *txn, json_t *summary)
{
        json_t *names = json_object_get(summary, "collections"),
               *other = json_object_get(summary, "other_collections");
        char stored[NAME_COLLECTION_MAX + 1];

        for (size_t i = 0; i < json_array_size(names);) {
                const char *name = json_string_value(json_array_get(names, i));

                if (name && collname_stored(v, txn, name, stored) == 0) {
                        json_array_set_new(names, i++, json_string(stored));
                        continue;
                }
                json_array_remove(names, i);
                json_object_set_new(summary, "other_collections",
                                    json_integer(json_integer_value(other) + 1));
                other = json_object_get(summary, "other_collections");
        }
}

int collname_make(struct vault *v, MDB_txn *txn, const char *name, char out[COLLNAME_TEXT + 1])
{
        uint8_t buf[KEYS_WRAPPED];
        struct keeper_ckey k;
        int r = names_key(v, txn, true, &k, buf);

        return r < 0 ? r : pseudonym(v, txn, &k, name, true, out);
}

int collname_open(struct vault *v, MDB_txn *txn, size_t n, const char *const *pcs, char **ret)
{
        int r = pseudonym_open(v, txn, COLLNAME_KEY_OWNER, n, pcs, ret);

        for (size_t i = 0; r == 0 && i < n; i++)
                cache_put(v, ret[i], pcs[i]);
        return r;
}

/* Where pc is among the n pseudonyms of list; n when it is not. */
static size_t pc_index(char (*list)[COLLNAME_TEXT + 1], size_t n, const char *pc)
{
        size_t k = 0;

        while (k < n && strcmp(list[k], pc) != 0)
                k++;
        return k;
}

/* Puts names back in place of the pseudonyms in the "collection" of arr's
 * objects (ListHolds without a collection): each private collection's
 * once, however many of its holds there are. Sealed, they stay. */
static int open_items(struct vault *v, MDB_txn *txn, json_t *arr)
{
        size_t total = json_array_size(arr), n = 0, i, k;
        char(*pcs)[COLLNAME_TEXT + 1] = calloc(total + 1, sizeof(*pcs)),
                                   **names = calloc(total + 1, sizeof(*names));
        const char **asked = calloc(total + 1, sizeof(*asked));
        json_t *o;
        int r = pcs && names && asked ? 0 : -ENOMEM;

        json_array_foreach(arr, i, o) if (r == 0)
        {
                const char *c = json_string_value(json_object_get(o, "collection"));

                if (c && collname_is_pseudonym(c) && pc_index(pcs, n, c) == n && is_private(v, txn, c)) {
                        strcpy(pcs[n], c);
                        asked[n] = pcs[n];
                        n++;
                }
        }
        if (r == 0 && n > 0)
                r = collname_open(v, txn, n, asked, names);
        if (r == -EKEYREVOKED || r == -EPROTO)
                r = 0, n = 0;
        json_array_foreach(arr, i, o) if (r == 0 && n > 0)
        {
                const char *c = json_string_value(json_object_get(o, "collection"));

                if (c && (k = pc_index(pcs, n, c)) < n)
                        json_object_set_new(o, "collection", json_string(names[k]));
        }
        for (i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
        free(asked);
        free(pcs);
        return r;
}

/* The caller's name for the collection in what it is answered, where
 * the method named the stored one. */
static void answer_name(json_t *o, const char *stored, const char *name)
{
        json_t *c = json_object_get(o, "collection");

        if (json_is_object(c))
                answer_name(c, stored, name);
        else if (json_is_string(c) && strcmp(json_string_value(c), stored) == 0)
                json_object_set_new(o, "collection", json_string(name));
}

const char *collname_adopt(struct job *j, const char *stored)
{
        json_t *params = j->call.parameters, *name = json_object_get(params, "collection"), *s;

        if (!json_object_getn(params, STASH, STASH_LEN) &&
            json_object_setn(params, STASH, STASH_LEN, name) < 0)
                return NULL;
        if (!(s = json_string(stored)) || json_object_set_new(params, "collection", s) < 0)
                return NULL;
        return json_string_value(s);
}

int collname_run(struct vault *v, MDB_txn *txn, struct job *j)
{
        json_t *params = j->call.parameters, *saved = json_object_getn(params, STASH, STASH_LEN);
        const char *name = json_string_value(saved ? saved : json_object_get(params, "collection"));
        char stored[NAME_COLLECTION_MAX + 1];
        int r;

        /* (A collection of that form from before private names, in the
         * clear, keeps being served.) */
        if (name && name_collection_valid(name) && collname_is_pseudonym(name) &&
            !is_private(v, txn, name) && !exists_in_clear(v, txn, name))
                return job_fail(j, method_error(j->method, "InvalidParameter"),
                                json_pack("{s:s,s:s}", "parameter", "collection", "reason",
                                          "names of the form pc- and 32 hex digits are reserved for "
                                          "private collection names"));
        if (name && name_collection_valid(name)) {
                if ((r = collname_stored(v, txn, name, stored)) == 1)
                        return job_fail(j, method_error(j->method, "Sealed"), NULL);
                if (r < 0)
                        return r;
                /* (Run again, the batch before was undone: so is what
                 * it mapped.) */
                if ((saved || strcmp(stored, name) != 0) && !collname_adopt(j, stored))
                        return -ENOMEM;
        }
        if ((r = j->method->run(v, txn, j)) < 0 && r != -ENOBUFS)
                r = job_fail_errno(j, r);
        /* The caller is answered in its own terms: the name it gave (in
         * an IntegrityError too, named just above). */
        if ((saved = json_object_getn(params, STASH, STASH_LEN))) {
                const char *pc = json_string_value(json_object_get(params, "collection"));

                answer_name(j->error_params, pc, json_string_value(saved));
                answer_name(j->reply, pc, json_string_value(saved));
        }
        if (r == 0 && json_is_array(json_object_get(j->reply, "holds")))
                r = open_items(v, txn, json_object_get(j->reply, "holds"));
        return r;
}
