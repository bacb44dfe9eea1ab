/* The data keys of a writer batch's record calls, fetched from the keeper
 * in one round trip before the batch runs (vaultd/recprefetch.c). */
#pragma once

#include "vault.h"

/* Reads, in txn (the batch's, before any of its jobs ran), the names
 * batch's record calls will store under, their private ids' pseudonyms
 * fetched at once (vaultd/psprefetch.h), then which data keys its Puts
 * and Gets will ask for, and has the keeper make or open them all at once
 * (keeper_dek_prefetch). Never fails: a pseudonym or key not fetched is
 * asked for by its job. The caller calls keeper_dek_forget and
 * keeper_pseudonym_forget once the jobs ran. */
void recprefetch_batch(struct vault *v, MDB_txn *txn, struct job *batch);
