/* The stored names of a writer batch's record calls, and the pseudonyms
 * among them fetched one collection at a time (vaultd/psprefetch.h). The
 * names are read as the jobs will read them: the collection mapped by
 * collname_stored (a rerun of the batch finds its pseudonym already in
 * place, which maps to itself), the real id of a private one where the
 * wrappers keep it (pseudonym_real_id). The pseudonym is asked under the
 * collection's stored name and its pseudonym key as stored now: a key
 * the batch itself makes (its first Put) or changes (a KEK rotation) is
 * not asked for here, and the job's own request then differs from the
 * one kept and goes to the keeper. */
#include "ckeys.h"
#include "psprefetch.h"

#include <stdlib.h>
#include <string.h>

#include "collections.h"
#include "collname.h"
#include "keeper.h"
#include "methods.h"
#include "pseudonym.h"

static bool by_id(const struct job *j)
{
        int (*run)(struct vault *, MDB_txn *, struct job *) = j->method->run;

        return run == pseudonym_put || run == pseudonym_get || run == pseudonym_delete ||
               run == pseudonym_history;
}

/* The collection asked about last, as stored: settings are read once
 * for a run of jobs in the same collection, as batches mostly are. */
struct last {
        char collection[NAME_COLLECTION_MAX + 1];
        bool known, private_ids;
};

/* The job's names, its id still the real one. */
static void job_names(struct vault *v, MDB_txn *txn, struct job *j, struct last *last,
                      struct psprefetch_name *n)
{
        const char *c = json_string_value(json_object_get(j->call.parameters, "collection")), *id;
        struct collection_settings cs;

        if (!c || !name_collection_valid(c) || collname_stored(v, txn, c, n->collection) != 0) {
                n->collection[0] = '\0';
                return;
        }
        /* A collection the batch itself creates with private ids has no
         * settings yet, those of a collection without: the names worked
         * out here are then not the job's, and nothing asked for under
         * them is ever taken (its pseudonym key does not exist yet). */
        if (strcmp(last->collection, n->collection) != 0) {
                strcpy(last->collection, n->collection);
                last->known = collection_settings_get(v, txn, n->collection, &cs) == 0;
                last->private_ids = last->known && cs.private_ids;
        }
        /* (As the wrappers run: a collection without private ids takes
         * the id as the call holds it.) */
        id = last->private_ids ? pseudonym_real_id(j)
                               : json_string_value(json_object_get(j->call.parameters, "id"));
        if (!last->known || !id || !name_id_valid(id)) {
                n->collection[0] = '\0';
                return;
        }
        strcpy(n->id, id);
        n->private_ids = last->private_ids;
}

/* Maps the ids of every job still to map in names[first]'s collection
 * (from first on, of jobs), in one request; idx, ids and ps are scratch
 * room for jobs entries. */
static void map_collection(struct vault *v, MDB_txn *txn, struct psprefetch_name *names, size_t first,
                           size_t jobs, size_t *idx, const char **ids, uint8_t (*ps)[COLLKEY_PSEUDONYM_SIZE])
{
        const char *collection = names[first].collection;
        uint8_t wrapped[KEYS_WRAPPED];
        struct keeper_ckey k;
        size_t m = 0;
        int r;

        for (size_t i = first; i < jobs; i++)
                if (names[i].private_ids && strcmp(names[i].collection, collection) == 0) {
                        idx[m] = i;
                        ids[m++] = names[i].id;
                }
        r = ckey_get(v, txn, collection, CKEY_PSEUDONYM, false, &k, wrapped);
        if (r == 0)
                r = keeper_pseudonym_prefetch(v->keeper, &k, m, ids, ps);
        for (size_t i = 0; i < m; i++) {
                struct psprefetch_name *n = &names[idx[i]];

                n->private_ids = false;
                if (r == 0)
                        pseudonym_text(ps[i], n->id);
                else
                        n->collection[0] = '\0';
        }
}

void psprefetch_batch(struct vault *v, MDB_txn *txn, struct job *batch, struct psprefetch_name *names)
{
        size_t jobs = 0, i = 0, *idx = NULL;
        const char **ids = NULL;
        uint8_t(*ps)[COLLKEY_PSEUDONYM_SIZE] = NULL;
        struct last last = {.collection = ""};
        bool any = false;

        keeper_pseudonym_forget(v->keeper);
        for (struct job *j = batch; j; j = j->next, jobs++) {
                names[jobs] = (struct psprefetch_name){.collection = ""};
                if (!j->denied && !j->internal && !j->preset_error && by_id(j)) {
                        job_names(v, txn, j, &last, &names[jobs]);
                        any |= names[jobs].private_ids;
                }
        }
        if (!any)
                return;
        idx = calloc(jobs, sizeof(*idx));
        ids = calloc(jobs, sizeof(*ids));
        ps = calloc(jobs, sizeof(*ps));
        for (i = 0; i < jobs; i++) {
                if (!names[i].private_ids)
                        continue;
                if (idx && ids && ps)
                        map_collection(v, txn, names, i, jobs, idx, ids, ps);
                else /* out of memory: each job maps its own */
                        names[i] = (struct psprefetch_name){.collection = ""};
        }
        free(idx);
        free(ids);
        free(ps);
}
