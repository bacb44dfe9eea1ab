/* Finding records by a field's value without storing the value (issue
 * #13, docs/protocol.md "Find"). A collection declares index fields; each
 * Put gives the record's terms (the call's "index", or for a json
 * collection the body's top-level fields of those names) and vaultd
 * stores, per term, only a blind tag: the first FINDINDEX_TAG_SIZE bytes
 * of HMAC-SHA-256 under a key for that collection and field, which the
 * keeper derives from the collection's index key and never hands out
 * (vaultd/collkeys.h). Find asks the keeper for the tag of the value
 * sought and reads the ids filed under it.
 *
 * Tables (lib/storelayout.h): ckeys (the collection's wrapped index key,
 * and during a rebuild the one it replaces), findex (collection NUL field
 * NUL tag id), fterms (a record's tags, so that a new version's terms
 * replace the old and a Delete or a disposal removes them, and the terms
 * a Put gave, sealed beside its version's body so that a rebuild can tag
 * them again). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "collections.h"
#include "envelope.h"
#include "keeper.h"
#include "vault.h"

/* 64 bits of the HMAC: docs/protocol.md "Find" says why this length. */
#define FINDINDEX_TAG_SIZE 8
/* A value is 1 to FINDINDEX_VALUE_MAX bytes of text once in NFC. */
#define FINDINDEX_VALUE_MAX 256

/* The terms a Put gave, as they are kept (sealed), and sealed. */
#define FINDINDEX_GIVEN_MAX  (COLLECTION_INDEX_MAX * (1 + COLLECTION_FIELD_MAX + 2 + FINDINDEX_VALUE_MAX))
#define FINDINDEX_SEALED_MAX (FINDINDEX_GIVEN_MAX + ENVELOPE_BESIDE_OVERHEAD)
struct findindex_given {
        uint8_t plain[FINDINDEX_GIVEN_MAX]; /* secret: the caller wipes it */
        size_t len;                         /* 0: the call gave none */
};

/* The index a Put leaves for record id (as stored) of collection, whose
 * settings are cs and body (len bytes, already checked against its
 * content) is being written: its old entries go, its new terms' come.
 * Returns 0 with *ret_fields (a new reference: the fields indexed, for
 * the audit line; NULL when none) and, when the call gave the terms,
 * them in *ret_given, for the caller to seal beside the version's body
 * (envelope_seal_beside) and keep with findindex_keep_given; JOB_FAILED
 * (InvalidParameter index, InvalidContent), or -errno. */
int findindex_put(struct vault *v, MDB_txn *txn, struct job *j, const struct collection_settings *cs,
                  const char *collection, const char *id, const uint8_t *body, size_t len,
                  struct findindex_given *ret_given, json_t **ret_fields);
/* Keeps the terms findindex_put gave, sealed beside version (sealed_len
 * bytes), with the record's tags: a rebuild opens them (-ENOENT: it has
 * no tags). */
int findindex_keep_given(struct vault *v, MDB_txn *txn, const char *collection, const char *id,
                         uint64_t version, const uint8_t *sealed, size_t sealed_len);
/* Removes record id's entries (a Delete, a disposal). */
int findindex_remove(struct vault *v, MDB_txn *txn, const char *collection, const char *id);

/* For RebuildIndex (vaultd/reindex.h), after ckey_rotate (vaultd/ckeys.h)
 * made a new index key: from then on Put tags under the new key, and Find
 * looks under both until the rebuild is done. findindex_stored_get: what fterms holds for record
 * id: the generation of the key its tags were made under and the terms
 * its Put gave, sealed beside which version (sealed_len 0: none);
 * -ENOENT: it has no tags. findindex_reindex removes record id's entries
 * and files the terms of src as a Put would: the given terms (opened:
 * those of fields still indexed; the sealed copy kept stays with them),
 * else a json body's fields; returns how many (0 or more), -EBADMSG when
 * a value is no term, or -errno. */
struct findindex_stored {
        uint64_t gen;
        uint64_t version;
        uint8_t sealed[FINDINDEX_SEALED_MAX];
        size_t sealed_len;
};
struct findindex_source {
        const uint8_t *body; /* a json body, or NULL */
        size_t body_len;
        const uint8_t *given; /* the kept terms, opened, or NULL */
        size_t given_len;
        const struct findindex_stored *kept; /* their sealed copy */
};
int findindex_stored_get(struct vault *v, MDB_txn *txn, const char *collection, const char *id,
                         struct findindex_stored *ret);
int findindex_reindex(struct vault *v, MDB_txn *txn, const struct collection_settings *cs,
                      const char *collection, const char *id, const struct findindex_source *src);
/* io.vaultd.records.Find (service: its collections; admin). Handler as in
 * vaultd/records.h. */
int findindex_find(struct vault *v, MDB_txn *txn, struct job *j);
