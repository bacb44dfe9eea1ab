/* Private collection names (issue #13, docs/protocol.md "Private
 * collection names"). A collection created with private_name is stored,
 * counted, keyed and audited under its pseudonym: "pc-" and 32 hex
 * digits, the first 16 bytes of HMAC-SHA-256 of the name under the
 * vault's names key, which the keeper makes, keeps wrapped and never hands
 * out (a collection key bound to COLLNAME_KEY_OWNER, vaultd/collkeys.h).
 * The name itself is kept only sealed beside its pseudonym (table
 * pseudonyms), to be answered to the callers the policy lets see it.
 *
 * Services and admins keep using the name: collname_run puts the
 * pseudonym in the call's place of its "collection" before the method
 * runs, and the name back into what the caller is answered. So no module
 * below it ever sees a private name, and the store, the trail, exports
 * and backups never hold one. Writer thread only. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "names.h"
#include "vault.h"

#define COLLNAME_PREFIX "pc-"
#define COLLNAME_TEXT   (3 + 32) /* "pc-" and 32 hex digits */
/* The names key's binding in the keeper and its place in ckeys: a
 * control character first, which no collection name holds. */
#define COLLNAME_KEY_OWNER "\001names"

/* Whether s has the form of a collection pseudonym. Such names are
 * reserved: no collection can be created or written under one (one made
 * before private names keeps being served). */
bool collname_is_pseudonym(const char *s);

/* Runs j's method in txn with its collection mapped as above; what the
 * method returns, or JOB_FAILED (Sealed while the name cannot be told
 * apart; InvalidParameter for a reserved name). */
int collname_run(struct vault *v, MDB_txn *txn, struct job *j);

/* The name a record of collection name is stored under (name itself, or
 * its pseudonym) into out: 0, 1 when it cannot be told now (the keeper is
 * sealed and has not mapped the name since start), -errno. For what is
 * audited of a call that never runs (a denial) and a policy's diff. */
int collname_stored(struct vault *v, MDB_txn *txn, const char *name, char out[NAME_COLLECTION_MAX + 1]);

/* A denial summary's "collections" (vaultd/denials.h) as the trail may
 * hold them: by collname_stored, a name not told apart dropped and
 * counted in "other_collections". */
void collname_summary(struct vault *v, MDB_txn *txn, json_t *summary);

/* CreateCollection with private_name: name's pseudonym into out, and the
 * name sealed beside it. */
int collname_make(struct vault *v, MDB_txn *txn, const char *name, char out[COLLNAME_TEXT + 1]);

/* Stores the call's collection under stored from now on (a collection
 * CreateCollection makes private): the call's parameter is replaced, and
 * the caller answered with its name. Returns the stored name, as long as
 * the job lives; NULL when out of memory. */
const char *collname_adopt(struct job *j, const char *stored);

/* The names of n private collections' pseudonyms (malloc'd into ret).
 * -EIO when one is no private collection's, -EKEYREVOKED while sealed. */
int collname_open(struct vault *v, MDB_txn *txn, size_t n, const char *const *pcs, char **ret);

void collname_cache_free(struct vault *v);
