/* Collection keys as the store keeps them (table ckeys, lib/storelayout.h):
 * each collection's own keys, which the keeper makes and wraps like data
 * keys and never hands out (its side: vaultd/collkeys.h) — the blind
 * index key of Find (vaultd/findindex.h), the index key a rebuild
 * replaces, kept until it is done (vaultd/reindex.h), the pseudonym key
 * of private ids (vaultd/pseudonym.h) and the vault's names key
 * (vaultd/collname.h) — and a rebuild's progress. A key is stored at
 * "collection NUL purpose" as gen(8) kek_version(4) wrapped. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "keeper.h"
#include "keys.h"
#include "names.h"
#include "vault.h"

/* Purposes. */
#define CKEY_INDEX     'i'
#define CKEY_PSEUDONYM 'p'
#define CKEY_PREVIOUS  'o' /* the index key a rebuild replaces */

/* "a NUL b": a key of ckeys (b a purpose) or fterms (b an id) into buf
 * (RECMETA_KEY_MAX bytes); its length. */
static inline size_t ckeys_pair(const char *a, const char *b, size_t blen, uint8_t *buf)
{
        size_t al = strlen(a) + 1;

        memcpy(buf, a, al);
        memcpy(buf + al, b, blen);
        return al + blen;
}

/* The collection's stored key of purpose, as keeper requests name it
 * (k->wrapped points into buf); with create, the keeper makes one when
 * there is none. -ENOENT when there is none and create is false. */
int ckey_get(struct vault *v, MDB_txn *txn, const char *collection, char purpose, bool create,
             struct keeper_ckey *k, uint8_t buf[KEYS_WRAPPED]);
/* Makes the collection's next index key (generation one more, or 1) and
 * stores it in place of the old, which it keeps as CKEY_PREVIOUS until
 * the rebuild is done (ckeys_rebuild_set). */
int ckey_rotate(struct vault *v, MDB_txn *txn, const char *collection, uint64_t *ret_gen);

/* How many collection keys each KEK version wraps (added to counts), and
 * moves every one wrapped by an older KEK than current under it; returns
 * how many it moved. For RetireKey and Rewrap (vaultd/keyadmin.c). */
int ckeys_count(struct vault *v, MDB_txn *txn, uint64_t counts[KEYS_MAX_KEK]);
int ckeys_rewrap(struct vault *v, MDB_txn *txn, uint32_t current);

/* A rebuild's progress, kept beside the key: the generation it rebuilds
 * for, the records looked at so far and the last id (as stored) done (""
 * before the first). _get: -ENOENT when none is under way. _set with after
 * NULL: done, which also drops the previous key. */
int ckeys_rebuild_get(struct vault *v, MDB_txn *txn, const char *collection, uint64_t *ret_gen,
                      uint64_t *ret_total, char ret_after[NAME_ID_MAX + 1]);
int ckeys_rebuild_set(struct vault *v, MDB_txn *txn, const char *collection, uint64_t gen, uint64_t total,
                      const char *after);
