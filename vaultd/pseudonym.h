/* Identifiers that are themselves personal data (issue #13, docs/protocol.md
 * "Private ids"). In a collection with private ids, vaultd stores, indexes
 * and audits each record id as its pseudonym: "ps-" and 32 hex digits, the
 * first 16 bytes of HMAC-SHA-256 of the id under the collection's
 * pseudonym key, which the keeper makes, keeps wrapped like a data key and
 * never hands out (vaultd/collkeys.h). Services keep using the real id:
 * these wrappers put the pseudonym in the call's place of the id before
 * the method runs, and the real ids back into what the service is
 * answered. The id itself is kept only sealed under that key (table
 * pseudonyms), for List and Find to answer it and for an auditor or admin
 * to resolve one pseudonym on request (audit.Resolve, audited).
 *
 * Handlers as in vaultd/records.h; each runs the method it wraps
 * unchanged for a collection without private ids. A writer batch has the
 * keeper map all its ids beforehand (vaultd/psprefetch.h): the wrappers
 * still ask keeper_pseudonym, which answers a kept pseudonym only for
 * exactly the request it would send. */
#pragma once

#include <stdbool.h>

#include "collkeys.h"
#include "vault.h"

#include <stddef.h>
#include <stdint.h>

#define PSEUDONYM_PREFIX "ps-"
#define PSEUDONYM_TEXT   (3 + 32) /* "ps-" and 32 hex digits */

int pseudonym_put(struct vault *v, MDB_txn *txn, struct job *j);
int pseudonym_get(struct vault *v, MDB_txn *txn, struct job *j);
int pseudonym_delete(struct vault *v, MDB_txn *txn, struct job *j);
int pseudonym_history(struct vault *v, MDB_txn *txn, struct job *j);
int pseudonym_list(struct vault *v, MDB_txn *txn, struct job *j);
int pseudonym_find(struct vault *v, MDB_txn *txn, struct job *j);
/* SetHold and Dispose (admin) take the real id or a pseudonym (as Due and
 * ListHolds show them). */
int pseudonym_set_hold(struct vault *v, MDB_txn *txn, struct job *j);
int pseudonym_dispose(struct vault *v, MDB_txn *txn, struct job *j);
/* io.vaultd.audit.Prove: a record given by its real id or its pseudonym;
 * the proof's lines name the pseudonym, as the trail does. */
int pseudonym_prove(struct vault *v, MDB_txn *txn, struct job *j);
/* io.vaultd.audit.Resolve (auditor, admin): collection, pseudonym -> id. */
int pseudonym_resolve(struct vault *v, MDB_txn *txn, struct job *j);

/* For private collection names too (vaultd/collname.h), whose owner is
 * COLLNAME_KEY_OWNER. pseudonym_seal_put stores the sealed name of a
 * pseudonym (text, with its prefix) of owner, once. pseudonym_open opens
 * n of them (texts) into ret (malloc'd); -EIO when one is not stored or
 * does not open. */
int pseudonym_seal_put(struct vault *v, MDB_txn *txn, const char *owner, const char *text,
                       const uint8_t *sealed, size_t len);
int pseudonym_open(struct vault *v, MDB_txn *txn, const char *owner, size_t n, const char *const *texts,
                   char **ret);

/* A pseudonym's text: PSEUDONYM_PREFIX and its hex digits. */
void pseudonym_text(const uint8_t ps[COLLKEY_PSEUDONYM_SIZE], char out[PSEUDONYM_TEXT + 1]);
/* The real id of a Put, Get, Delete or History in a collection with
 * private ids: its "id", also after a run of its batch that was undone
 * put the pseudonym in its place (the wrappers above keep it). NULL when
 * it has none; valid as long as the job's parameters. */
const char *pseudonym_real_id(struct job *j);

/* Whether collection (a valid name) has private ids: a denied call's
 * audit line then names no id (vaultd/writer.c). */
bool pseudonym_private(struct vault *v, MDB_txn *txn, const char *collection);
