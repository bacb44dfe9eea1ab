/* The names a writer batch's record calls will store under, worked out
 * before the batch runs (vaultd/psprefetch.c): each call's collection as
 * stored (vaultd/collname.h) and, in a collection with private ids, its
 * id's pseudonym (vaultd/pseudonym.h), which the keeper computes for all
 * the batch's calls in one collection in one round trip
 * (keeper_pseudonym_prefetch) and the keeper client keeps for the jobs.
 * A job still maps its own id when it runs: keeper_pseudonym answers it
 * a kept pseudonym only for exactly the request it would send, and asks
 * the keeper otherwise. */
#pragma once

#include <stdbool.h>

#include "names.h"
#include "vault.h"

struct psprefetch_name {
        /* "" when not known before the job runs (not a Put, Get, Delete or
         * History by id, names that are not well-formed, a collection
         * that does not exist yet or whose pseudonym key does not, the
         * keeper failed): the job works it out itself. */
        char collection[NAME_COLLECTION_MAX + 1];
        char id[NAME_ID_MAX + 1]; /* as stored: the id itself, or its pseudonym */
        bool private_ids;         /* (the id still to be mapped, while it is worked out) */
};

/* Fills names[i] for the i-th job of batch, read in txn (the batch's,
 * before any of its jobs ran), and has the keeper map every private id
 * of them. Never fails: what is not known is "". The caller calls
 * keeper_pseudonym_forget once the jobs ran. */
void psprefetch_batch(struct vault *v, MDB_txn *txn, struct job *batch, struct psprefetch_name *names);
