/* The keeper's wire protocol (DESIGN §3): small fixed-layout messages over
 * a socketpair, no JSON. Each message is a header, then len bytes. A reply
 * has status 0 and the payload, or a negative errno and no payload.
 * Integers are big-endian. Shared by vaultd/keeper.c (the keeper) and
 * vaultd/keeper-client.c (the worker). */
#pragma once

#include <stdint.h>

#include "collkeys.h"
#include "keys.h"

/* Largest request payload: a chunk of audit lines for a checkpoint. */
#define KEEPER_MSG_MAX (1u << 20)
/* A binding on the wire: collection_len(2) collection id_len(2) id
 * version(8). */
#define KEEPER_NAME_MAX 255
/* Largest reply payload: DEK_MANY's, at most KEEPER_DEK_MANY_MAX new keys. */
#define KEEPER_REPLY_MAX 32768

struct keeper_hdr {
        int32_t type; /* request: enum keeper_req; reply: 0 or -errno */
        uint32_t len;
};

enum keeper_req {
        /* A new vault. → wrapped KEK v1, wrapped signing key, public key. */
        KEEPER_CREATE = 1,
        /* An existing vault: origin_len(2) origin kek_current(4)
         * sign_wrapped, then n(4) and n × (version(4) wrapped KEK), then
         * the next signing key's sign_wrapped when a rotation is under way.
         * → public key(32), and the next one's(32). */
        KEEPER_OPEN,
        /* The last signed checkpoint, told once at start: size(8)
         * signature(64; zeros when size is 0) time(8; its signed time, 0
         * when it has none), then, when size is not 0, the frontier of
         * the Merkle tree of the first size-1 lines (one hash(32) per one
         * bit of size-1, lowest level first) and line size-1 (the rest).
         * From these the keeper computes the chain hash (the line's) and
         * the tree, and checks the signature against the root (a tlog
         * checkpoint) or, for one signed before the tree, the line's hash,
         * before it takes that as its floor. → nothing. */
        KEEPER_CHAIN,
        /* Audit lines that extend the chain and the tree: first_seq(8),
         * then per line len(4) bytes. first_seq is where the last chunk
         * stopped, or the floor again (to start over). → pending size(8). */
        KEEPER_LINES,
        /* Sign the checkpoint at size(8), which must be the pending size
         * and above the floor, then the next key's public key(32) exactly
         * when the worker knows one is in use (else -EPROTO). → the
         * time(8) it signed at (the text's vaultd-time line), the tree's
         * root(32) (the text's third line), signature(64), and while a next signing key is in use (the text
         * then names it) its signature(64) and its sign_wrapped as the
         * signing key, to store with this checkpoint. */
        KEEPER_SIGN,
        /* A new data key for a record version: binding. → kek_version(4)
         * wrapped DEK, DEK(32). */
        KEEPER_DEK_NEW,
        /* Opens a wrapped data key: kek_version(4) wrapped, binding.
         * → DEK(32). */
        KEEPER_DEK_OPEN,
        /* Rotation, first half: a new random KEK at version(4), above every
         * loaded one, loaded but not yet used. → its wrapped form. */
        KEEPER_KEK_NEW,
        /* Rotation, second half (once the wrapped KEK is stored): new data
         * keys are wrapped by version(4) from now on. → nothing. */
        KEEPER_KEK_USE,
        /* Re-wraps a data key under the current KEK without showing it:
         * kek_version(4) wrapped, binding. → kek_version(4) wrapped. */
        KEEPER_REWRAP,
        /* Forgets (wipes) KEK version(4), which must not be current. */
        KEEPER_KEK_DROP,
        /* Opens a sealed root key: the payload is the passphrase. Then the
         * worker sends OPEN again. -EKEYREJECTED for a wrong passphrase,
         * -EAGAIN too soon after one (keeper_unseal_delay_s). */
        KEEPER_UNSEAL,
        /* Wipes the root key, every KEK and the signing key; a sealed root
         * key can be opened again with UNSEAL. */
        KEEPER_SEAL,
        /* Signing-key rotation: a new next signing key, not used yet.
         * → its sign_wrapped (bound to the current signing key: it opens
         * only as that key's next), public key(32). -EBUSY while one is in
         * use. */
        KEEPER_SIGN_NEW,
        /* The next key (stored by the worker) co-signs from now on. */
        KEEPER_SIGN_USE,
        /* After a co-signed checkpoint: the next key becomes the signing
         * key, the old one is wiped. -EPROTO before one. */
        KEEPER_SIGN_SWITCH,
        /* A writer batch's data keys in one round trip: n(4), 1 to
         * KEEPER_DEK_MANY_MAX, then n items, each op(1) and what DEK_NEW
         * (KEEPER_DEK_ITEM_NEW: binding) or DEK_OPEN (KEEPER_DEK_ITEM_OPEN:
         * kek_version(4) wrapped binding) takes. → n slots in order, each
         * status(4, big-endian: 0 or -errno) and what that request answers
         * (new: kek_version(4) wrapped DEK(32); open: DEK(32)), zeros when
         * the status is not 0. An item that fails (a binding its wrapped
         * key is not bound to, an altered key, an unknown KEK) fails alone,
         * with the errno DEK_NEW or DEK_OPEN would give; a request that is
         * malformed anywhere (n, an op, a length, bytes left over) fails
         * whole (-E2BIG for too many items, else -EBADMSG), and every key
         * it had made is wiped unsent. */
        KEEPER_DEK_MANY,
        /* Collection keys (vaultd/collkeys.h, issue #13): random keys the
         * keeper makes and wraps like data keys, bound to the collection,
         * a purpose (the binding id COLLKEY_ID_INDEX or _PSEUDONYM) and a
         * generation, and never hands out: DEK_NEW, DEK_OPEN and DEK_MANY
         * refuse such a binding (-EPERM); REWRAP moves one under the
         * current KEK like a data key. A new one: purpose(1) gen(8)
         * collection. → kek_version(4) wrapped. */
        KEEPER_CKEY_NEW,
        /* Blind index tags under a collection's index key: gen(8)
         * kek_version(4) wrapped collection n(2), 1 to KEEPER_CKEY_ITEMS_MAX,
         * then n × (field value), each len(2) bytes, a field 1 to
         * KEEPER_NAME_MAX bytes and a value 1 to KEEPER_VALUE_MAX. → n ×
         * tag(32). */
        KEEPER_INDEX_TAGS,
        /* A record id's pseudonym in a collection with private ids:
         * gen(8) kek_version(4) wrapped collection, then the id, len(2)
         * bytes (1 to KEEPER_NAME_MAX). → pseudonym(16), then the id
         * sealed for it (len + COLLKEY_SEAL_OVERHEAD bytes). */
        KEEPER_PSEUDONYM,
        /* Opens sealed ids: gen(8) kek_version(4) wrapped collection n(2),
         * 1 to KEEPER_ID_OPEN_MAX, then n × (pseudonym(16), sealed id
         * len(2) bytes). → n × (len(2) id); -EBADMSG when one does not
         * open for its pseudonym. */
        KEEPER_ID_OPEN,
        /* A writer batch's pseudonyms in one collection, in one round
         * trip: the collection key as PSEUDONYM takes it (gen(8)
         * kek_version(4) wrapped collection), then n(2), 1 to
         * KEEPER_PSEUDONYMS_MAX, then n ids, each len(2) bytes (1 to
         * KEEPER_NAME_MAX, no NUL). → for each id in order what PSEUDONYM
         * answers: pseudonym(16), then the id sealed for it (len +
         * COLLKEY_SEAL_OVERHEAD bytes). All or nothing: every length is
         * checked before anything is computed, and a request malformed
         * anywhere (a count of 0, a length, bytes left over) fails whole,
         * -E2BIG for too many ids, else -EBADMSG. */
        KEEPER_PSEUDONYMS,
};

/* A collection key's purpose on the wire (CKEY_NEW). */
#define KEEPER_CKEY_INDEX     1
#define KEEPER_CKEY_PSEUDONYM 2
/* Items in one collection-key request, and the longest value. */
#define KEEPER_CKEY_ITEMS_MAX 200
#define KEEPER_VALUE_MAX      1024
_Static_assert(KEEPER_CKEY_ITEMS_MAX * 32 <= KEEPER_REPLY_MAX, "INDEX_TAGS's reply fits");
/* Ids one ID_OPEN opens at most. */
#define KEEPER_ID_OPEN_MAX 100
_Static_assert(KEEPER_ID_OPEN_MAX *(2 + KEEPER_NAME_MAX) + 64 <= KEEPER_REPLY_MAX, "ID_OPEN's reply fits");
_Static_assert(KEEPER_CKEY_ITEMS_MAX *(2 + KEEPER_NAME_MAX + 2 + KEEPER_VALUE_MAX) + 1024 <= KEEPER_MSG_MAX,
               "INDEX_TAGS's request fits");
/* Ids one PSEUDONYMS maps at most; its reply leaves room for the key the
 * keeper opens at the end of its reply buffer (vaultd/keeper.c). */
#define KEEPER_PSEUDONYMS_MAX 100
_Static_assert(KEEPER_PSEUDONYMS_MAX *(COLLKEY_PSEUDONYM_SIZE + KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD) +
                               COLLKEY_SIZE <=
                       KEEPER_REPLY_MAX,
               "PSEUDONYMS's reply fits");

/* Items in one DEK_MANY (a writer batch, at most 1,024 jobs, takes a few),
 * and the size of each one's reply slot. */
#define KEEPER_DEK_MANY_MAX  256
#define KEEPER_DEK_ITEM_NEW  1
#define KEEPER_DEK_ITEM_OPEN 2
#define KEEPER_DEK_SLOT_NEW  (4 + 4 + KEYS_WRAPPED + KEYS_KEY_SIZE)
#define KEEPER_DEK_SLOT_OPEN (4 + KEYS_KEY_SIZE)
_Static_assert(KEEPER_DEK_MANY_MAX *KEEPER_DEK_SLOT_NEW <= KEEPER_REPLY_MAX, "DEK_MANY's reply fits");
_Static_assert(4 + KEEPER_DEK_MANY_MAX * (1 + 4 + KEYS_WRAPPED + 2 * (2 + KEEPER_NAME_MAX) + 8) <=
                       KEEPER_MSG_MAX,
               "DEK_MANY's request fits");

/* The wait after the n-th wrong passphrase in a row (n >= 1): 1 s,
 * doubling, at most an hour. The worker answers TryLater meanwhile; the
 * keeper itself refuses UNSEAL with -EAGAIN, so that a compromised worker
 * cannot try passphrases faster. */
static inline uint64_t keeper_unseal_delay_s(unsigned failures)
{
        return failures >= 13 ? 3600 : 1ull << (failures - 1);
}
