#include "pseudonym.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "ckeys.h"
#include "auditprove.h"
#include "collections.h"
#include "collname.h"
#include "collkeys.h"
#include "dispose.h"
#include "findindex.h"
#include "keeper-proto.h"
#include "methods.h"
#include "recctl.h"
#include "records.h"
#include "util.h"

#define IFACE_RECORDS "io.vaultd.records"
#define IFACE_AUDIT   "io.vaultd.audit"
/* Where the real id waits while the call holds the pseudonym in its
 * place, should the batch run again: a key with a NUL, which no client can
 * send (jansson refuses one in a message). */
#define STASH_ID     "id\0real"
#define STASH_AFTER  "after\0real"
#define STASH_LEN(s) (sizeof(s) - 1)

enum {
        MAP_ID = 1 << 0,       /* the call's id is a real id */
        MAP_ID_OR_PS = 1 << 1, /* ... or a pseudonym (admin methods) */
        SEAL = 1 << 2,         /* keep the sealed id (a Put) */
        MAP_AFTER = 1 << 3,    /* the call's after is a real id */
        OPEN_RECORDS = 1 << 4, /* the reply's records[].id and next are pseudonyms (List) */
        OPEN_IDS = 1 << 5,     /* the reply's ids[] and next are (Find) */
};

typedef int (*handler_fn)(struct vault *v, MDB_txn *txn, struct job *j);

void pseudonym_text(const uint8_t ps[COLLKEY_PSEUDONYM_SIZE], char out[PSEUDONYM_TEXT + 1])
{
        memcpy(out, PSEUDONYM_PREFIX, 3);
        hex_encode(ps, COLLKEY_PSEUDONYM_SIZE, out + 3);
}

/* A pseudonym's text with any prefix (its three first characters). */
static bool text_parse(const char *s, uint8_t ps[COLLKEY_PSEUDONYM_SIZE])
{
        return strlen(s) == PSEUDONYM_TEXT && s[2] == '-' &&
               hex_decode(s + 3, ps, COLLKEY_PSEUDONYM_SIZE) == 0;
}

static bool pseudonym_parse(const char *s, uint8_t ps[COLLKEY_PSEUDONYM_SIZE])
{
        return strncmp(s, PSEUDONYM_PREFIX, 3) == 0 && text_parse(s, ps);
}

static size_t sealed_key(const char *owner, const char *ps, uint8_t buf[RECMETA_KEY_MAX])
{
        size_t cl = strlen(owner) + 1;

        memcpy(buf, owner, cl);
        memcpy(buf + cl, ps, PSEUDONYM_TEXT);
        return cl + PSEUDONYM_TEXT;
}

int pseudonym_seal_put(struct vault *v, MDB_txn *txn, const char *owner, const char *text,
                       const uint8_t *sealed, size_t len)
{
        uint8_t key[RECMETA_KEY_MAX];
        size_t klen = sealed_key(owner, text, key);
        MDB_val got;
        int r = store_get(txn, v->store->pseudonyms, key, klen, &got);

        return r == -ENOENT ? store_put(txn, v->store->pseudonyms, key, klen, sealed, len, 0) : r;
}

bool pseudonym_private(struct vault *v, MDB_txn *txn, const char *collection)
{
        struct collection_settings cs;

        return collection_settings_get(v, txn, collection, &cs) < 0 || cs.private_ids;
}

/* The pseudonym of real id in collection, as text; with seal, the sealed
 * id is stored beside it (once). */
static int pseudonym_of(struct vault *v, MDB_txn *txn, const char *collection, const char *id, bool seal,
                        char out[PSEUDONYM_TEXT + 1])
{
        uint8_t wrapped[KEYS_WRAPPED], ps[COLLKEY_PSEUDONYM_SIZE],
                sealed[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
        struct keeper_ckey k;
        size_t len;
        int r = ckey_get(v, txn, collection, CKEY_PSEUDONYM, true, &k, wrapped);

        if (r < 0 || (r = keeper_pseudonym(v->keeper, &k, id, ps, sealed, &len)) < 0)
                return r == -EBADMSG ? -EIO : r;
        pseudonym_text(ps, out);
        return seal ? pseudonym_seal_put(v, txn, collection, out, sealed, len) : 0;
}

int pseudonym_open(struct vault *v, MDB_txn *txn, const char *owner, size_t n, const char *const *ps,
                   char **ret)
{
        uint8_t wrapped[KEYS_WRAPPED], bins[KEEPER_ID_OPEN_MAX][COLLKEY_PSEUDONYM_SIZE],
                key[RECMETA_KEY_MAX];
        const uint8_t *pp[KEEPER_ID_OPEN_MAX], *sealed[KEEPER_ID_OPEN_MAX];
        size_t lens[KEEPER_ID_OPEN_MAX];
        struct keeper_ckey k;
        MDB_val got;
        int r = ckey_get(v, txn, owner, CKEY_PSEUDONYM, false, &k, wrapped);

        if (r < 0)
                return r == -ENOENT ? -EIO : r;
        for (size_t done = 0, m; done < n; done += m) {
                m = n - done < KEEPER_ID_OPEN_MAX ? n - done : KEEPER_ID_OPEN_MAX;
                for (size_t i = 0; i < m; i++) {
                        if (!text_parse(ps[done + i], bins[i]) ||
                            store_get(txn, v->store->pseudonyms, key, sealed_key(owner, ps[done + i], key),
                                      &got) < 0)
                                return -EIO;
                        pp[i] = bins[i];
                        sealed[i] = got.mv_data;
                        lens[i] = got.mv_size;
                }
                if ((r = keeper_id_open(v->keeper, &k, m, pp, sealed, lens, ret + done)) < 0)
                        return r == -EBADMSG ? -EIO : r;
        }
        return 0;
}

/* Replaces the real id in the call's parameter name (stashed under stash,
 * where a second run finds it) by its pseudonym, into ps. 1 when there is
 * nothing to map (the method then refuses the parameter itself). */
static int map_param(struct vault *v, MDB_txn *txn, struct job *j, const char *collection, const char *name,
                     const char *stash, size_t stash_len, unsigned flags, char ps[PSEUDONYM_TEXT + 1])
{
        json_t *params = j->call.parameters, *saved = json_object_getn(params, stash, stash_len);
        const char *real = json_string_value(saved ? saved : json_object_get(params, name));
        uint8_t bin[COLLKEY_PSEUDONYM_SIZE], key[RECMETA_KEY_MAX];
        MDB_val got;
        int r;

        if (!real || !name_id_valid(real))
                return 1;
        if (!saved && (flags & MAP_ID_OR_PS) && pseudonym_parse(real, bin) &&
            store_get(txn, v->store->pseudonyms, key, sealed_key(collection, real, key), &got) == 0) {
                strcpy(ps, real);
                return 0;
        }
        if ((r = pseudonym_of(v, txn, collection, real, flags & SEAL, ps)) < 0)
                return r;
        if (!saved)
                json_object_setn_new(params, stash, stash_len, json_string(real));
        json_object_set_new(params, name, json_string(ps));
        return 0;
}

/* The real id of the call's parameter name, after map_param (NULL when it
 * was not mapped). */
static const char *stashed(struct job *j, const char *stash, size_t stash_len)
{
        return json_string_value(json_object_getn(j->call.parameters, stash, stash_len));
}

const char *pseudonym_real_id(struct job *j)
{
        const char *real = stashed(j, STASH_ID, STASH_LEN(STASH_ID));

        return real ? real : json_string_value(json_object_get(j->call.parameters, "id"));
}

/* Puts the real ids back into a reply: the strings of arr (or its objects'
 * member "id"), and next, the last of them. */
static int reply_open(struct vault *v, MDB_txn *txn, struct job *j, const char *collection, json_t *arr,
                      bool objects)
{
        size_t n = json_array_size(arr), i;
        const char **ps = calloc(n + 1, sizeof(*ps));
        char **ids = calloc(n + 1, sizeof(*ids));
        json_t *item;
        int r = ps && ids ? 0 : -ENOMEM;

        json_array_foreach(arr, i, item) if (r == 0)
        {
                ps[i] = json_string_value(objects ? json_object_get(item, "id") : item);
                if (!ps[i])
                        r = -EIO;
        }
        if (r == 0 && n > 0)
                r = pseudonym_open(v, txn, collection, n, ps, ids);
        for (i = 0; r == 0 && i < n; i++) {
                if (objects)
                        json_object_set_new(json_array_get(arr, i), "id", json_string(ids[i]));
                else
                        json_array_set_new(arr, i, json_string(ids[i]));
        }
        if (r == 0 && n > 0 && json_object_get(j->reply, "next"))
                json_object_set_new(j->reply, "next", json_string(ids[n - 1]));
        for (i = 0; ids && i < n; i++)
                free(ids[i]);
        free(ids);
        free(ps);
        return r;
}

static int wrap(struct vault *v, MDB_txn *txn, struct job *j, handler_fn run, unsigned flags)
{
        const char *collection = json_string_value(json_object_get(j->call.parameters, "collection")), *real;
        char ps[PSEUDONYM_TEXT + 1] = "", after[PSEUDONYM_TEXT + 1];
        struct collection_settings cs;
        json_t *id;
        int r;

        if (!collection || !name_collection_valid(collection))
                return run(v, txn, j);
        if ((r = collection_settings_get(v, txn, collection, &cs)) < 0)
                return r;
        if (!cs.private_ids)
                return run(v, txn, j);
        if ((flags & (MAP_ID | MAP_ID_OR_PS)) &&
            (r = map_param(v, txn, j, collection, "id", STASH_ID, STASH_LEN(STASH_ID), flags, ps)) < 0)
                return r == -EKEYREVOKED ? job_fail(j, method_error(j->method, "Sealed"), NULL) : r;
        if ((flags & MAP_AFTER) && (r = map_param(v, txn, j, collection, "after", STASH_AFTER,
                                                  STASH_LEN(STASH_AFTER), flags, after)) < 0)
                return r == -EKEYREVOKED ? job_fail(j, method_error(j->method, "Sealed"), NULL) : r;
        /* A failure named here (IntegrityError) is answered in the
         * service's terms too. */
        if ((r = run(v, txn, j)) < 0 && r != -ENOBUFS)
                r = job_fail_errno(j, r);
        /* The service is answered in its own terms: an error that names the
         * record names it by the id it sent. */
        real = stashed(j, STASH_ID, STASH_LEN(STASH_ID));
        id = json_object_get(j->error_params, "id");
        if (r == JOB_FAILED && real && json_is_string(id) && strcmp(json_string_value(id), ps) == 0)
                json_object_set_new(j->error_params, "id", json_string(real));
        if (r == 0 && (flags & OPEN_RECORDS))
                r = reply_open(v, txn, j, collection, json_object_get(j->reply, "records"), true);
        if (r == 0 && (flags & OPEN_IDS))
                r = reply_open(v, txn, j, collection, json_object_get(j->reply, "ids"), false);
        return r;
}

int pseudonym_put(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, records_put, MAP_ID | SEAL);
}

int pseudonym_get(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, records_get, MAP_ID);
}

int pseudonym_delete(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, records_delete, MAP_ID);
}

int pseudonym_history(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, records_history, MAP_ID);
}

int pseudonym_list(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, records_list, MAP_AFTER | OPEN_RECORDS);
}

int pseudonym_find(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, findindex_find, MAP_AFTER | OPEN_IDS);
}

int pseudonym_set_hold(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, dispose_set_hold, MAP_ID_OR_PS);
}

int pseudonym_dispose(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, dispose_record, MAP_ID_OR_PS);
}

/* Resolve without a pseudonym: the name of a private collection. */
static int resolve_name(struct vault *v, MDB_txn *txn, struct job *j, const char *collection,
                        const struct collection_settings *cs)
{
        char *name = NULL;
        int r;

        if (!cs->private_name)
                return job_invalid(j, IFACE_AUDIT, "pseudonym",
                                   "is required: this collection's name is not private");
        r = collname_open(v, txn, 1, &collection, &name);
        if (r == -EIO)
                return job_fail(j, IFACE_AUDIT ".NotFound", json_pack("{s:s}", "collection", collection));
        if (r < 0)
                return r;
        j->reply = json_pack("{s:s}", "name", name);
        free(name);
        return j->reply ? 0 : -ENOMEM;
}

int pseudonym_prove(struct vault *v, MDB_txn *txn, struct job *j)
{
        return wrap(v, txn, j, auditprove_run, MAP_ID_OR_PS);
}

int pseudonym_resolve(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *collection, *ps, *reason;
        struct collection_settings cs;
        uint8_t bin[COLLKEY_PSEUDONYM_SIZE];
        char *id = NULL;
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, &collection)) != 0)
                return r;
        /* The line names the collection and the pseudonym, never the id
         * (nor a private collection's name: collname.h). */
        j->audit.collection = collection;
        /* Why, for the trail: an investigation's reference. */
        if ((r = param_string(j, IFACE_AUDIT, "pseudonym", false, &ps)) != 0 ||
            (r = recctl_param_reason(j, IFACE_AUDIT, "reason", &reason)) != 0)
                return r;
        j->audit.extra = json_pack("{s:s}", "reason", reason);
        if ((r = collection_settings_get(v, txn, collection, &cs)) < 0)
                return r;
        if (!ps)
                return resolve_name(v, txn, j, collection, &cs);
        if (!pseudonym_parse(ps, bin))
                return job_invalid(j, IFACE_AUDIT, "pseudonym",
                                   "must be ps- and 32 hex digits, as the audit trail shows it");
        j->audit.id = ps;
        if (!cs.private_ids)
                return job_invalid(j, IFACE_AUDIT, "collection",
                                   "this collection does not have private ids");
        r = pseudonym_open(v, txn, collection, 1, &ps, &id);
        if (r == -EIO)
                return job_fail(j, IFACE_AUDIT ".NotFound",
                                json_pack("{s:s,s:s}", "collection", collection, "pseudonym", ps));
        if (r < 0)
                return r;
        j->reply = json_pack("{s:s}", "id", id);
        sodium_memzero(id, strlen(id));
        free(id);
        return j->reply ? 0 : -ENOMEM;
}
