/* The data keys a writer batch's record calls will ask the keeper for,
 * worked out before the batch runs and fetched in one round trip
 * (keeper_dek_prefetch). A Put needs a new key bound to the version it
 * will write, a Get the stored key of the version it will read: both are
 * read from the batch's transaction before any job runs, and a Put's
 * version is predicted from its record's head and the batch's earlier
 * Puts and Deletes of the same record. A prediction is only a guess: the
 * job still works out its binding itself, and takes a kept key only when
 * it was asked for with exactly that binding (and wrapped key); otherwise
 * (a call that fails, an if_version that conflicts, a Get of a record the
 * batch writes first) it asks the keeper itself, as without this. In a
 * collection with private ids the binding names the id's pseudonym, which
 * the keeper maps for the whole batch first (vaultd/psprefetch.h). */
#include "recprefetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "methods.h"
#include "psprefetch.h"
#include "pseudonym.h"
#include "recmeta.h"
#include "records.h"
#include "util.h"

/* A record the batch writes: its version and state as predicted so far. */
struct predicted {
        const char *collection, *id; /* borrowed from the plan, the job's parameters; NULL: a free slot */
        uint64_t version;
        bool active;
};

struct plan {
        struct vault *v;
        MDB_txn *txn;
        /* Each job's record names as stored (vaultd/psprefetch.h). */
        struct psprefetch_name *names;
        size_t job;
        struct predicted *table; /* open addressing, size a power of two, at most half full */
        size_t mask;
        struct keeper_dek_req *reqs;
        size_t n;
};

/* FNV-1a over collection NUL id. */
static size_t name_hash(const char *collection, const char *id)
{
        return (size_t)fnv1a(fnv1a(FNV1A_INIT, collection, strlen(collection) + 1), id, strlen(id));
}

/* The head read from the transaction, the slot it fills. */
static int head_read(struct plan *pl, const char *collection, const char *id, struct record_head *ret)
{
        struct record_name n = {.version = 0};
        uint8_t key[RECMETA_KEY_MAX];
        MDB_val val;
        size_t klen;
        int r;

        strcpy(n.collection, collection);
        strcpy(n.id, id);
        klen = recmeta_key_build(&n, false, key);
        r = store_get(pl->txn, pl->v->store->heads, key, klen, &val);
        if (r == -ENOENT) {
                *ret = (struct record_head){0};
                return 0;
        }
        if (r < 0)
                return r;
        return recmeta_head_decode(val.mv_data, val.mv_size, ret);
}

/* The record's predicted slot, loaded from its head the first time; with
 * load false, NULL for a record the batch has not written yet. */
static struct predicted *predicted(struct plan *pl, const char *collection, const char *id, bool load)
{
        struct record_head h;
        size_t i = name_hash(collection, id) & pl->mask;

        for (; pl->table[i].collection; i = (i + 1) & pl->mask)
                if (strcmp(pl->table[i].collection, collection) == 0 && strcmp(pl->table[i].id, id) == 0)
                        return &pl->table[i];
        if (!load || head_read(pl, collection, id, &h) < 0)
                return NULL;
        pl->table[i] = (struct predicted){collection, id, h.version, h.state == RECMETA_STATE_ACTIVE};
        return &pl->table[i];
}

/* A job's record names as stored, when known before it runs (else the
 * job fails by itself, or works them out itself): in a collection with
 * private ids, the id is its pseudonym, which the keeper was asked for
 * already (vaultd/psprefetch.h). */
static bool record_names(struct plan *pl, const char **ret_collection, const char **ret_id)
{
        const struct psprefetch_name *n = &pl->names[pl->job];

        *ret_collection = n->collection;
        *ret_id = n->id;
        return n->collection[0] != '\0';
}

/* An optional unsigned parameter: false when it is there but no integer
 * in range (the job fails by itself). */
static bool optional_uint(struct job *j, const char *name, uint64_t *ret, bool *ret_present)
{
        json_t *v = json_object_get(j->call.parameters, name);

        *ret_present = v && !json_is_null(v);
        if (!*ret_present)
                return true;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

/* A Put or a Delete: the version it will write (a Put asks for its key). */
static void plan_write(struct plan *pl, struct job *j, bool put)
{
        const char *collection, *id;
        struct predicted *p;
        uint64_t if_version;
        bool present;

        if (!record_names(pl, &collection, &id) || !(p = predicted(pl, collection, id, true)) ||
            !optional_uint(j, "if_version", &if_version, &present) || (present && if_version != p->version))
                return;
        if (put && !json_is_string(json_object_get(j->call.parameters, "data")))
                return;
        if (!put && !p->active)
                return;
        p->version++;
        p->active = put;
        if (put)
                pl->reqs[pl->n++] = (struct keeper_dek_req){{collection, id, p->version}, NULL, 0};
}

/* A Get: the stored key of the version it will read. */
static void plan_get(struct plan *pl, struct job *j)
{
        const char *collection, *id;
        struct record_name n;
        struct record_head h;
        struct version_meta m;
        uint8_t key[RECMETA_KEY_MAX];
        const uint8_t *wrapped;
        uint64_t version;
        uint32_t kv;
        size_t klen, hlen;
        bool present;
        MDB_val val;

        if (!record_names(pl, &collection, &id) || !optional_uint(j, "version", &version, &present))
                return;
        /* The latest version of a record the batch writes first is not
         * stored yet. */
        if (!present && (predicted(pl, collection, id, false) || head_read(pl, collection, id, &h) < 0 ||
                         (version = h.version) == 0))
                return;
        strcpy(n.collection, collection);
        strcpy(n.id, id);
        n.version = version;
        klen = recmeta_key_build(&n, true, key);
        if (store_get(pl->txn, pl->v->store->versions, key, klen, &val) < 0 ||
            recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0 || recmeta_tombstone(&m) ||
            recmeta_disposed(&m) ||
            !(wrapped = envelope_wrapped_dek((const uint8_t *)val.mv_data + hlen, val.mv_size - hlen, &kv)))
                return;
        pl->reqs[pl->n++] = (struct keeper_dek_req){{collection, id, version}, wrapped, kv};
}

void recprefetch_batch(struct vault *v, MDB_txn *txn, struct job *batch)
{
        struct plan pl = {.v = v, .txn = txn};
        size_t jobs = 0, size = 16;

        for (struct job *j = batch; j; j = j->next)
                jobs++;
        while (size < 2 * jobs)
                size *= 2;
        pl.table = calloc(size, sizeof(*pl.table));
        pl.reqs = calloc(jobs, sizeof(*pl.reqs));
        pl.names = calloc(jobs, sizeof(*pl.names));
        pl.mask = size - 1;
        if (!pl.table || !pl.reqs || !pl.names)
                goto out; /* each job asks for itself */
        psprefetch_batch(v, txn, batch, pl.names);
        for (struct job *j = batch; j; j = j->next, pl.job++) {
                if (j->denied || j->internal || j->preset_error)
                        continue;
                /* By the method, not its handler: Put, Get and Delete run
                 * through vaultd/pseudonym.c's wrappers. */
                if (j->method->run == pseudonym_put || j->method->run == pseudonym_delete)
                        plan_write(&pl, j, j->method->run == pseudonym_put);
                else if (j->method->run == pseudonym_get)
                        plan_get(&pl, j);
        }
        /* A failure only means the jobs ask one by one (and meet it then). */
        if (pl.n)
                (void)keeper_dek_prefetch(v->keeper, pl.reqs, pl.n);
out:
        free(pl.table);
        free(pl.reqs);
        free(pl.names);
}
