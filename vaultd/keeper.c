/* The keeper process (DESIGN §3): holds every key and nothing else. It
 * reads the root key file once, confines itself to its end of a socketpair
 * (seccomp: a handful of syscalls, no path, no socket, no exec), and
 * answers fixed-layout requests from the worker, one at a time. */
#include "keeper.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auditfmt.h"
#include "collkeys.h"
#include "keeper-proto.h"
#include "keys.h"
#include "merkle.h"
#include "util.h"

#define ORIGIN_MAX 256
/* A checkpoint text: origin, size, hash, and a next-key line. */
#define TEXT_MAX (2 * ORIGIN_MAX + 256)

struct keeper_state {
        int fd;
        struct vault_keys *keys;
        int load_error; /* the key file could not be read: every request fails so */
        char origin[ORIGIN_MAX];
        bool opened;    /* CREATE or OPEN done */
        bool chain_set; /* CHAIN done (once) */
        bool created;   /* this keeper made the vault's keys (CREATE) */
        /* The chain: the floor is the last size signed, the pending head
         * what LINES extended it to since. Signatures only ever go to a
         * pending head above the floor, so all lie on one history. */
        uint64_t floor_size, pending_size;
        uint8_t floor_hash[AUDIT_HASH_SIZE], pending_hash[AUDIT_HASH_SIZE];
        /* The Merkle tree of the same lines, as its frontier (O(log n)
         * hashes): a checkpoint's root is always the floor's tree extended
         * by the lines LINES sent, so every root signed is consistent
         * with the last one. floor_root: the floor checkpoint names its
         * root (else, a checkpoint from before the tree, the hash of its
         * last line). */
        struct merkle_frontier floor_tree, pending_tree;
        uint8_t floor_root[MERKLE_HASH_SIZE];
        bool floor_names_root;
        uint8_t floor_sig[64];      /* by the signing key */
        uint8_t floor_next_sig[64]; /* by the next key, when it co-signed the floor */
        int64_t floor_time;         /* the signed time of the floor (0: none), never to go back */
        bool floor_unchecked;       /* told while sealed: checked when opened */
        /* Signing-key rotation: a next key made (pending), co-signing
         * (active), and whether it has co-signed a checkpoint yet. */
        bool next_pending, next_active, cosigned;
        /* Wrong passphrases in a row, and when UNSEAL is taken again. */
        unsigned unseal_failures;
        uint64_t unseal_not_before_us;
        bool floor_bad; /* it did not check out: nothing is signed */
        /* Message buffers (out may hold data keys: wiped). out is a reply's
         * payload, after room for its header: a reply goes out in one write,
         * so the worker wakes once for it. */
        uint8_t *in, *out;
        size_t out_len;
};

/* Payload reader: each get fails once the payload is exhausted. */
struct cursor {
        const uint8_t *p;
        size_t left;
};

static const uint8_t *take(struct cursor *c, size_t n)
{
        const uint8_t *p = c->p;

        if (c->left < n)
                return NULL;
        c->p += n;
        c->left -= n;
        return p;
}

static int take_u32(struct cursor *c, uint32_t *ret)
{
        const uint8_t *p = take(c, 4);

        if (!p)
                return -EBADMSG;
        *ret = be32_get(p);
        return 0;
}

static int take_u64(struct cursor *c, uint64_t *ret)
{
        const uint8_t *p = take(c, 8);

        if (!p)
                return -EBADMSG;
        *ret = be64_get(p);
        return 0;
}

/* A name: len(2) bytes, copied NUL-terminated into buf. */
static int take_name(struct cursor *c, char *buf, size_t cap)
{
        const uint8_t *p = take(c, 2), *name;
        size_t len;

        if (!p || (len = (size_t)p[0] << 8 | p[1]) >= cap || !(name = take(c, len)) ||
            memchr(name, '\0', len))
                return -EBADMSG;
        memcpy(buf, name, len);
        buf[len] = '\0';
        return 0;
}

static int take_binding(struct cursor *c, char coll[KEEPER_NAME_MAX + 1], char id[KEEPER_NAME_MAX + 1],
                        struct body_binding *ret)
{
        int r;

        if ((r = take_name(c, coll, KEEPER_NAME_MAX + 1)) < 0 ||
            (r = take_name(c, id, KEEPER_NAME_MAX + 1)) < 0 || (r = take_u64(c, &ret->version)) < 0)
                return r;
        ret->collection = coll;
        ret->id = id;
        return 0;
}

/* A record version's binding: never a collection key's (collkeys.h),
 * which no data-key request may make or open. */
static int take_record_binding(struct cursor *c, char coll[KEEPER_NAME_MAX + 1],
                               char id[KEEPER_NAME_MAX + 1], struct body_binding *ret)
{
        int r = take_binding(c, coll, id, ret);

        return r < 0 ? r : id[0] == COLLKEY_ID_INDEX[0] ? -EPERM : 0;
}

static void put(struct keeper_state *st, const void *p, size_t n)
{
        memcpy(st->out + st->out_len, p, n);
        st->out_len += n;
}

/* The checkpoint origin: set by the first CREATE or OPEN, the same ever
 * after, and printable (it is a line of every signed text). */
static int take_origin(struct keeper_state *st, struct cursor *c)
{
        char origin[ORIGIN_MAX];
        int r = take_name(c, origin, sizeof(origin));

        if (r < 0)
                return r;
        for (const char *p = origin; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f)
                        return -EBADMSG;
        if (st->origin[0] && strcmp(st->origin, origin) != 0)
                return -EPERM;
        strcpy(st->origin, origin);
        return 0;
}

static int do_create(struct keeper_state *st, struct cursor *c)
{
        struct keys_material m;
        int r;

        if (st->opened)
                return -EALREADY;
        if (keys_locked(st->keys))
                return -EKEYREVOKED;
        if ((r = take_origin(st, c)) < 0)
                return r;
        r = keys_create(st->keys, &m);
        if (r < 0)
                return r;
        put(st, m.kek_wrapped, sizeof(m.kek_wrapped));
        put(st, m.sign_wrapped, sizeof(m.sign_wrapped));
        put(st, m.pk, sizeof(m.pk));
        st->opened = true;
        st->created = true;
        return 0;
}

static int floor_recheck(const struct keeper_state *st);
static int floor_settle(struct keeper_state *st);

static int do_open(struct keeper_state *st, struct cursor *c)
{
        const uint8_t *sign, *wrapped;
        uint32_t current, n, version;
        uint8_t pk[32];
        int r;

        if (st->opened)
                return -EALREADY;
        if ((r = take_origin(st, c)) < 0)
                return r;
        if (keys_locked(st->keys))
                return -EKEYREVOKED; /* sealed: the origin is kept, the rest waits for unseal */
        if ((r = take_u32(c, &current)) < 0 || !(sign = take(c, KEYS_SIGN_WRAPPED)) ||
            (r = take_u32(c, &n)) < 0)
                return r < 0 ? r : -EBADMSG;
        /* All or nothing: a KEK that did not unwrap must not stay loaded
         * (as zeros), to be made current by a later request. */
        for (uint32_t i = 0; r == 0 && i < n; i++) {
                if ((r = take_u32(c, &version)) < 0 || !(wrapped = take(c, KEYS_WRAPPED)))
                        r = r < 0 ? r : -EBADMSG;
                else
                        r = keys_add_kek(st->keys, version, wrapped);
        }
        if (r == 0 && (r = keys_set_current(st->keys, current)) == 0)
                r = keys_open_signer(st->keys, sign);
        /* A rotation under way: the next key the worker stored co-signs. */
        if (r == 0 && c->left)
                r = c->left == KEYS_SIGN_WRAPPED ? keys_next_open(st->keys, take(c, KEYS_SIGN_WRAPPED))
                                                 : -EBADMSG;
        if (r < 0) {
                keys_lock(st->keys); /* wipes every KEK and the signing key; a sealed root stays openable */
                if (!keys_locked(st->keys))
                        st->load_error = r; /* a plain root key was wiped with them: nothing more to serve */
                return r;
        }
        st->opened = true;
        /* A floor told while sealed is checked now: a wrong one stops
         * every signature (the store is not what the keeper signed). */
        if (st->floor_unchecked && (r = floor_settle(st)) < 0) {
                st->floor_bad = true;
                return r;
        }
        /* Every OPEN (after an unseal too) loads the keys anew: the floor
         * must still be these keys' signature, or nothing is signed. */
        if (st->chain_set && !st->floor_unchecked && (r = floor_recheck(st)) < 0) {
                st->floor_bad = true;
                return r;
        }
        st->floor_unchecked = false;
        keys_public(st->keys, pk);
        put(st, pk, sizeof(pk));
        st->next_pending = st->cosigned = false;
        st->next_active = keys_next_public(st->keys, pk);
        if (st->next_active)
                put(st, pk, sizeof(pk));
        return 0;
}

/* The checkpoint text (docs/audit-format.md) for size, hash and time, in
 * buf; with pk, it hands over to that key (a vaultd-next-key line). */
static int checkpoint_text_of(const struct keeper_state *st, uint64_t size,
                              const uint8_t hash[AUDIT_HASH_SIZE], int64_t time, const uint8_t *pk,
                              char *buf, size_t cap)
{
        _cleanup_(freep) char *text = NULL, *vkey = NULL;
        struct checkpoint c = {.origin = (char *)st->origin, .size = size, .time = time};
        size_t n;
        int r;

        memcpy(c.hash, hash, AUDIT_HASH_SIZE);
        if (pk && (r = note_verifier_key(st->origin, pk, &vkey)) < 0)
                return r;
        c.next_key = vkey;
        if ((r = checkpoint_text(&c, &text)) < 0)
                return r;
        n = strlen(text);
        if (n >= cap)
                return -ENAMETOOLONG;
        memcpy(buf, text, n + 1);
        return (int)n;
}

/* Whether sig is the keeper's signature of the checkpoint at size: as a
 * plain checkpoint, or as the one that handed the signing role to its
 * key. */
static int floor_check(const struct keeper_state *st, uint64_t size, const uint8_t *hash, int64_t time,
                       const uint8_t *sig)
{
        char text[TEXT_MAX];
        uint8_t pk[32];
        int n;

        if (size == 0)
                return 0;
        keys_public(st->keys, pk);
        for (int handover = 0; handover < 2; handover++) {
                n = checkpoint_text_of(st, size, hash, time, handover ? pk : NULL, text, sizeof(text));
                if (n < 0)
                        return n;
                if (crypto_sign_verify_detached(sig, (const uint8_t *)text, (size_t)n, pk) == 0)
                        return 0;
        }
        return -EBADMSG;
}

/* The floor told by CHAIN, checked again with the keys as opened now. */
static int floor_recheck(const struct keeper_state *st)
{
        return floor_check(st, st->floor_size, st->floor_names_root ? st->floor_root : st->floor_hash,
                           st->floor_time, st->floor_sig);
}

/* The floor told by CHAIN, checked the first time: it names its root (a
 * tlog checkpoint), or, signed before the store had a tree, the hash of
 * its last line. Then its tree is taken on the worker's word, once, at
 * start-up, and every root signed from now on extends it. */
static int floor_settle(struct keeper_state *st)
{
        st->floor_names_root = true;
        if (st->floor_size == 0 || floor_recheck(st) == 0)
                return 0;
        st->floor_names_root = false;
        return floor_recheck(st);
}

/* CHAIN's tree part (keeper-proto.h): the frontier of the first size-1
 * lines, then line size-1 itself. Sets the floor's chain hash (the
 * line's) and its tree (with the line appended), and computes its root. */
static int take_floor_tree(struct keeper_state *st, struct cursor *c, uint64_t size,
                           uint8_t ret_root[MERKLE_HASH_SIZE])
{
        struct merkle_frontier f = {.size = size - 1};
        uint8_t leaf[MERKLE_HASH_SIZE];
        char head[40];
        const uint8_t *h;
        int hl, r;

        for (unsigned level = 0; level < MERKLE_LEVELS; level++)
                if ((f.size >> level) & 1) {
                        if (!(h = take(c, MERKLE_HASH_SIZE)))
                                return -EBADMSG;
                        memcpy(f.hash[level], h, MERKLE_HASH_SIZE);
                }
        /* The rest is line size-1, of the fixed format (lib/auditfmt.c). */
        hl = snprintf(head, sizeof(head), "{\"seq\":%llu,", (unsigned long long)(size - 1));
        if (c->left < (size_t)hl || memcmp(c->p, head, (size_t)hl) != 0 || memchr(c->p, '\n', c->left))
                return -EBADMSG;
        crypto_hash_sha256(st->floor_hash, c->p, c->left);
        merkle_leaf_hash(c->p, c->left, leaf);
        if ((r = merkle_frontier_append(&f, leaf)) < 0 || (r = merkle_frontier_root(&f, ret_root)) < 0)
                return r;
        st->floor_tree = f;
        return 0;
}

static int do_chain(struct keeper_state *st, struct cursor *c)
{
        uint8_t root[MERKLE_HASH_SIZE] = {0};
        const uint8_t *sig;
        uint64_t size, time;
        int r;

        /* Sealed, the keeper cannot check the signature yet: it keeps the
         * floor and checks it when the keys are opened. */
        if (!st->opened && !keys_locked(st->keys))
                return -EPROTO;
        if ((r = take_u64(c, &size)) < 0 || !(sig = take(c, 64)) || (r = take_u64(c, &time)) < 0 ||
            time > INT64_MAX || size > MERKLE_SIZE_MAX)
                return r < 0 ? r : -EBADMSG;
        /* Told once, at start, before the worker has read a byte from any
         * client: later the worker is not to be trusted with the floor.
         * Telling the same floor again changes nothing. */
        if (st->chain_set)
                return size == st->floor_size && memcmp(sig, st->floor_sig, 64) == 0 ? 0 : -EALREADY;
        /* A floor of 0 needs no signature, so only a vault this keeper just
         * created may have it: anything else always has a checkpoint
         * (creation signs one), and a worker that removed it must not get
         * a rewritten trail signed from line 0. */
        if (size == 0 && !st->created)
                return -EPERM;
        if (size == 0) {
                if (c->left)
                        return -EBADMSG;
                memset(st->floor_hash, 0, AUDIT_HASH_SIZE);
                merkle_frontier_init(&st->floor_tree);
        } else if ((r = take_floor_tree(st, c, size, root)) < 0)
                return r;
        memcpy(st->floor_root, root, MERKLE_HASH_SIZE);
        st->floor_size = size;
        st->floor_time = (int64_t)time;
        memcpy(st->floor_sig, sig, 64);
        if (st->opened && (r = floor_settle(st)) < 0)
                return r;
        st->pending_size = size;
        memcpy(st->pending_hash, st->floor_hash, AUDIT_HASH_SIZE);
        st->pending_tree = st->floor_tree;
        st->floor_unchecked = !st->opened;
        st->chain_set = true;
        return 0;
}

static int do_unseal(struct keeper_state *st, struct cursor *c)
{
        uint64_t now = now_monotonic_us();
        int r;

        /* The rest of the payload is the passphrase (wiped by serve). */
        if (now < st->unseal_not_before_us)
                return -EAGAIN;
        r = keys_unlock(st->keys, (const char *)c->p, c->left);
        if (r == -EKEYREJECTED)
                st->unseal_not_before_us =
                        now_monotonic_us() + keeper_unseal_delay_s(++st->unseal_failures) * 1000000;
        else if (r == 0)
                st->unseal_failures = 0;
        return r;
}

static int do_seal(struct keeper_state *st, struct cursor *c)
{
        (void)c;
        if (!keys_sealable(st->keys))
                return -EINVAL; /* a plain key file: nothing could open it again */
        keys_lock(st->keys);
        st->opened = false;
        st->next_pending = st->next_active = st->cosigned = false;
        return 0;
}

/* One line extends the pending head: it must be line seq, and its prev
 * must be the pending hash. The format is fixed (lib/auditfmt.c): it
 * starts {"seq":N, and ends ,"prev":"<64 hex>"}. */
static int extend(struct keeper_state *st, const uint8_t *line, size_t len)
{
        char head[40], tail[AUDIT_HASH_SIZE * 2 + 16], hex[AUDIT_HASH_SIZE * 2 + 1];
        uint8_t leaf[MERKLE_HASH_SIZE];
        int hl, tl, r;

        hex_encode(st->pending_hash, AUDIT_HASH_SIZE, hex);
        hl = snprintf(head, sizeof(head), "{\"seq\":%llu,", (unsigned long long)st->pending_size);
        tl = snprintf(tail, sizeof(tail), ",\"prev\":\"%s\"}", hex);
        if (len < (size_t)(hl + tl) || memcmp(line, head, (size_t)hl) != 0 ||
            memcmp(line + len - (size_t)tl, tail, (size_t)tl) != 0 || memchr(line, '\n', len))
                return -EBADMSG;
        merkle_leaf_hash(line, len, leaf);
        if ((r = merkle_frontier_append(&st->pending_tree, leaf)) < 0)
                return r;
        crypto_hash_sha256(st->pending_hash, line, len);
        st->pending_size++;
        return 0;
}

static void pending_reset(struct keeper_state *st)
{
        st->pending_size = st->floor_size;
        memcpy(st->pending_hash, st->floor_hash, AUDIT_HASH_SIZE);
        st->pending_tree = st->floor_tree;
}

static int do_lines(struct keeper_state *st, struct cursor *c)
{
        uint64_t first;
        uint32_t len;
        const uint8_t *line;
        uint8_t out[8];
        int r;

        if (!st->chain_set)
                return -EPROTO;
        if ((r = take_u64(c, &first)) < 0)
                return r;
        if (first == st->floor_size) /* start over from the floor */
                pending_reset(st);
        else if (first != st->pending_size)
                return -ERANGE;
        while (c->left > 0) {
                if ((r = take_u32(c, &len)) < 0 || !(line = take(c, len)))
                        return r < 0 ? r : -EBADMSG;
                r = extend(st, line, len);
                if (r < 0) { /* a chain that does not extend: nothing of it stays */
                        pending_reset(st);
                        return r;
                }
        }
        be64_put(out, st->pending_size);
        put(st, out, sizeof(out));
        return 0;
}

/* The time a checkpoint is signed at: the keeper's clock, never before the
 * floor's (a clock stepped back does not make time run backwards). */
static int64_t sign_time(const struct keeper_state *st)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return ts.tv_sec > st->floor_time ? (int64_t)ts.tv_sec : st->floor_time;
}

static int do_sign(struct keeper_state *st, struct cursor *c)
{
        char text[TEXT_MAX];
        uint8_t next_pk[32], tb[8], root[MERKLE_HASH_SIZE];
        uint64_t size;
        int64_t time;
        int r, n;

        if (!st->chain_set)
                return -EPROTO;
        if ((r = take_u64(c, &size)) < 0)
                return r;
        /* Never at or below what was signed: a signature there could only
         * be for another history. */
        if (size != st->pending_size || size <= st->floor_size)
                return -ERANGE;
        if (st->floor_bad || st->floor_unchecked)
                return -EBADMSG;
        if (st->next_active && !keys_next_public(st->keys, next_pk))
                return -ENOKEY;
        /* The worker names the next key it expects (or none): a hand-over
         * it does not know of would be stored as a note it cannot write. */
        if (st->next_active ? c->left != 32 || memcmp(take(c, 32), next_pk, 32) != 0 : c->left != 0)
                return -EPROTO;
        /* The root of the tree it has extended itself (a tlog checkpoint). */
        if ((r = merkle_frontier_root(&st->pending_tree, root)) < 0)
                return r;
        time = sign_time(st);
        n = checkpoint_text_of(st, size, root, time, st->next_active ? next_pk : NULL, text, sizeof(text));
        if (n < 0)
                return n;
        be64_put(tb, (uint64_t)time);
        put(st, tb, sizeof(tb));
        put(st, root, sizeof(root));
        keys_sign(st->keys, text, (size_t)n, st->floor_sig);
        put(st, st->floor_sig, sizeof(st->floor_sig));
        if (st->next_active) {
                uint8_t as_signer[KEYS_SIGN_WRAPPED];

                keys_sign_next(st->keys, text, (size_t)n, st->floor_next_sig);
                put(st, st->floor_next_sig, sizeof(st->floor_next_sig));
                if ((r = keys_next_wrap_as_signer(st->keys, as_signer)) < 0)
                        return r;
                put(st, as_signer, sizeof(as_signer));
                st->cosigned = true;
        }
        st->floor_size = size;
        st->floor_time = time;
        memcpy(st->floor_hash, st->pending_hash, AUDIT_HASH_SIZE);
        st->floor_tree = st->pending_tree;
        memcpy(st->floor_root, root, MERKLE_HASH_SIZE);
        st->floor_names_root = true;
        return 0;
}

/* Signing-key rotation (keeper.h): one next key at a time. */
static int do_sign_new(struct keeper_state *st, struct cursor *c)
{
        uint8_t wrapped[KEYS_SIGN_WRAPPED], pk[32];
        int r;

        (void)c;
        if (st->next_active)
                return -EBUSY;
        r = keys_next_new(st->keys, wrapped, pk);
        if (r < 0)
                return r;
        put(st, wrapped, sizeof(wrapped));
        put(st, pk, sizeof(pk));
        st->next_pending = true;
        return 0;
}

static int do_sign_use(struct keeper_state *st, struct cursor *c)
{
        (void)c;
        if (!st->next_pending)
                return -ENOKEY;
        st->next_pending = false;
        st->next_active = true;
        st->cosigned = false;
        return 0;
}

static int do_sign_switch(struct keeper_state *st, struct cursor *c)
{
        int r;

        (void)c;
        /* Only once a checkpoint signed by both keys exists: it is what
         * lets a verifier who trusts the old key accept the new one. */
        if (!st->next_active || !st->cosigned)
                return -EPROTO;
        r = keys_next_switch(st->keys);
        if (r < 0)
                return r;
        memcpy(st->floor_sig, st->floor_next_sig, sizeof(st->floor_sig));
        st->next_active = st->cosigned = false;
        return 0;
}

static int do_dek_new(struct keeper_state *st, struct cursor *c)
{
        char coll[KEEPER_NAME_MAX + 1], id[KEEPER_NAME_MAX + 1];
        uint8_t kv[4], wrapped[KEYS_WRAPPED];
        struct body_binding b;
        uint32_t version;
        int r;

        if ((r = take_record_binding(c, coll, id, &b)) < 0)
                return r;
        if (c->left)
                return -EBADMSG;
        r = keys_dek_new(st->keys, &b, &version, wrapped, st->out + 4 + KEYS_WRAPPED);
        if (r < 0) {
                sodium_memzero(st->out + 4 + KEYS_WRAPPED, KEYS_KEY_SIZE);
                return r;
        }
        be32_put(kv, version);
        put(st, kv, 4);
        put(st, wrapped, KEYS_WRAPPED);
        st->out_len += KEYS_KEY_SIZE; /* the DEK, written in place */
        return 0;
}

static int do_dek_open(struct keeper_state *st, struct cursor *c)
{
        char coll[KEEPER_NAME_MAX + 1], id[KEEPER_NAME_MAX + 1];
        const uint8_t *wrapped;
        struct body_binding b;
        uint32_t version;
        int r;

        if ((r = take_u32(c, &version)) < 0 || !(wrapped = take(c, KEYS_WRAPPED)))
                return r < 0 ? r : -EBADMSG;
        if ((r = take_record_binding(c, coll, id, &b)) < 0)
                return r;
        r = keys_dek_open(st->keys, &b, version, wrapped, st->out);
        if (r < 0)
                return r;
        st->out_len = KEYS_KEY_SIZE;
        return 0;
}

/* DEK_MANY's n items (keeper-proto.h): each answered as DEK_NEW or
 * DEK_OPEN would answer it, into its own slot. Each key is made or opened
 * in place in the reply, which reply() wipes: if the request turns out
 * malformed further on, none of it is sent. */
static int dek_items(struct keeper_state *st, struct cursor *c, uint32_t n)
{
        char coll[KEEPER_NAME_MAX + 1], id[KEEPER_NAME_MAX + 1];
        const uint8_t *op, *wrapped = NULL;
        struct body_binding b;
        uint32_t version = 0;
        uint8_t *slot;
        int r;

        for (uint32_t i = 0; i < n; i++) {
                if (!(op = take(c, 1)) || (*op != KEEPER_DEK_ITEM_NEW && *op != KEEPER_DEK_ITEM_OPEN))
                        return -EBADMSG;
                if (*op == KEEPER_DEK_ITEM_OPEN &&
                    ((r = take_u32(c, &version)) < 0 || !(wrapped = take(c, KEYS_WRAPPED))))
                        return -EBADMSG;
                if ((r = take_record_binding(c, coll, id, &b)) < 0)
                        return r;
                slot = st->out + st->out_len;
                if (*op == KEEPER_DEK_ITEM_NEW) {
                        st->out_len += KEEPER_DEK_SLOT_NEW;
                        r = keys_dek_new(st->keys, &b, &version, slot + 8, slot + 8 + KEYS_WRAPPED);
                        be32_put(slot + 4, r < 0 ? 0 : version);
                } else {
                        st->out_len += KEEPER_DEK_SLOT_OPEN;
                        r = keys_dek_open(st->keys, &b, version, wrapped, slot + 4);
                }
                if (r < 0) /* this item alone: nothing of it is sent */
                        sodium_memzero(slot, (size_t)(st->out + st->out_len - slot));
                be32_put(slot, (uint32_t)r);
        }
        return c->left ? -EBADMSG : 0;
}

/* A batch's data keys. The KEK pages stay open for this one request (at
 * most KEEPER_DEK_MANY_MAX keys), not opened and closed for each key. */
static int do_dek_many(struct keeper_state *st, struct cursor *c)
{
        uint32_t n;
        int r;

        if ((r = take_u32(c, &n)) < 0)
                return r;
        if (n == 0)
                return -EBADMSG;
        if (n > KEEPER_DEK_MANY_MAX)
                return -E2BIG;
        keys_kek_hold(st->keys);
        r = dek_items(st, c, n);
        keys_kek_release(st->keys);
        return r;
}

static int do_kek_new(struct keeper_state *st, struct cursor *c)
{
        uint8_t wrapped[KEYS_WRAPPED];
        uint32_t version;
        int r;

        if ((r = take_u32(c, &version)) < 0)
                return r;
        /* Only above every KEK there is, or the highest one again while it
         * was never made current (a rotation whose commit failed is
         * retried): a compromised worker cannot replace one that wraps
         * data keys. */
        if (version < keys_kek_highest(st->keys) ||
            (version == keys_kek_highest(st->keys) && version <= keys_kek_current(st->keys)))
                return -EEXIST;
        if ((r = keys_add_kek(st->keys, version, NULL)) < 0 ||
            (r = keys_wrap_kek(st->keys, version, wrapped)) < 0)
                return r;
        put(st, wrapped, sizeof(wrapped));
        return 0;
}

static int do_kek_use(struct keeper_state *st, struct cursor *c)
{
        uint32_t version;
        int r;

        if ((r = take_u32(c, &version)) < 0)
                return r;
        /* Never back to an older KEK. */
        if (version < keys_kek_current(st->keys))
                return -EPERM;
        return keys_set_current(st->keys, version);
}

static int do_kek_drop(struct keeper_state *st, struct cursor *c)
{
        uint32_t version;
        int r;

        if ((r = take_u32(c, &version)) < 0)
                return r;
        return keys_drop_kek(st->keys, version);
}

static int do_rewrap(struct keeper_state *st, struct cursor *c)
{
        char coll[KEEPER_NAME_MAX + 1], id[KEEPER_NAME_MAX + 1];
        uint8_t *dek = st->out + 64, kv[4], wrapped[KEYS_WRAPPED];
        const uint8_t *old;
        struct body_binding b;
        uint32_t version, current;
        int r;

        if ((r = take_u32(c, &version)) < 0 || !(old = take(c, KEYS_WRAPPED)))
                return r < 0 ? r : -EBADMSG;
        if ((r = take_binding(c, coll, id, &b)) < 0)
                return r;
        /* The data key passes through the (wiped) reply buffer only. */
        r = keys_dek_open(st->keys, &b, version, old, dek);
        if (r == 0)
                r = keys_rewrap_dek(st->keys, &b, dek, &current, wrapped);
        sodium_memzero(dek, KEYS_KEY_SIZE);
        if (r < 0)
                return r;
        be32_put(kv, current);
        put(st, kv, 4);
        put(st, wrapped, sizeof(wrapped));
        return 0;
}

/* A collection key's binding (collkeys.h): purpose and generation, then
 * (after what the caller takes between) the collection. */
static int take_ckey_purpose(struct cursor *c, const char **ret_id, uint64_t *ret_gen)
{
        const uint8_t *p = take(c, 1);
        int r;

        if (!p || (*p != KEEPER_CKEY_INDEX && *p != KEEPER_CKEY_PSEUDONYM))
                return -EBADMSG;
        if ((r = take_u64(c, ret_gen)) < 0)
                return r;
        *ret_id = *p == KEEPER_CKEY_INDEX ? COLLKEY_ID_INDEX : COLLKEY_ID_PSEUDONYM;
        return 0;
}

/* A new collection key, made and wrapped here; only its wrapped form
 * leaves. */
static int do_ckey_new(struct keeper_state *st, struct cursor *c)
{
        char coll[KEEPER_NAME_MAX + 1];
        uint8_t *key = st->out + KEEPER_REPLY_MAX - COLLKEY_SIZE, kv[4], wrapped[KEYS_WRAPPED];
        struct body_binding b;
        uint32_t version;
        int r;

        if ((r = take_ckey_purpose(c, &b.id, &b.version)) < 0 || (r = take_name(c, coll, sizeof(coll))) < 0)
                return r;
        if (c->left || !coll[0])
                return -EBADMSG;
        b.collection = coll;
        r = keys_dek_new(st->keys, &b, &version, wrapped, key);
        sodium_memzero(key, COLLKEY_SIZE);
        if (r < 0)
                return r;
        be32_put(kv, version);
        put(st, kv, 4);
        put(st, wrapped, sizeof(wrapped));
        return 0;
}

/* Opens the collection key a request names: gen(8) kek_version(4)
 * wrapped collection, for purpose id, into key (in the reply buffer's
 * tail, which the caller wipes). */
static int open_ckey(struct keeper_state *st, struct cursor *c, const char *id,
                     char coll[KEEPER_NAME_MAX + 1], uint8_t *key)
{
        struct body_binding b = {.id = id};
        const uint8_t *wrapped;
        uint32_t version;
        int r;

        if ((r = take_u64(c, &b.version)) < 0 || (r = take_u32(c, &version)) < 0 ||
            !(wrapped = take(c, KEYS_WRAPPED)) || (r = take_name(c, coll, KEEPER_NAME_MAX + 1)) < 0)
                return r < 0 ? r : -EBADMSG;
        if (!coll[0])
                return -EBADMSG;
        b.collection = coll;
        return keys_dek_open(st->keys, &b, version, wrapped, key);
}

/* A counted byte string: len(2), 1 to max bytes. */
static const uint8_t *take_bytes(struct cursor *c, size_t max, size_t *ret_len)
{
        const uint8_t *p = take(c, 2);
        size_t len;

        if (!p || (len = (size_t)p[0] << 8 | p[1]) == 0 || len > max)
                return NULL;
        *ret_len = len;
        return take(c, len);
}

static int index_items(struct keeper_state *st, struct cursor *c, const char *coll, const uint8_t *key)
{
        (void)coll; /* (the key is bound to it) */
        char field[KEEPER_NAME_MAX + 1];
        const uint8_t *p, *value;
        size_t flen, vlen;
        uint32_t n;

        if (!(p = take(c, 2)) || (n = (uint32_t)p[0] << 8 | p[1]) == 0 || n > KEEPER_CKEY_ITEMS_MAX)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++) {
                if (!(p = take_bytes(c, KEEPER_NAME_MAX, &flen)) || memchr(p, '\0', flen) ||
                    !(value = take_bytes(c, KEEPER_VALUE_MAX, &vlen)))
                        return -EBADMSG;
                memcpy(field, p, flen);
                field[flen] = '\0';
                collkey_index_tag(key, field, value, vlen, st->out + st->out_len);
                st->out_len += COLLKEY_MAC_SIZE;
        }
        return c->left ? -EBADMSG : 0;
}

typedef int (*ckey_items_fn)(struct keeper_state *st, struct cursor *c, const char *coll,
                             const uint8_t *key);

/* A request on many items under one collection key of purpose id: the
 * key opened once (in the reply buffer's tail), items answers them, and
 * the key is wiped. What leaves is what items puts, never the key. */
static int with_ckey(struct keeper_state *st, struct cursor *c, const char *id, ckey_items_fn items)
{
        char coll[KEEPER_NAME_MAX + 1];
        uint8_t *key = st->out + KEEPER_REPLY_MAX - COLLKEY_SIZE;
        int r = open_ckey(st, c, id, coll, key);

        if (r == 0)
                r = items(st, c, coll, key);
        sodium_memzero(key, COLLKEY_SIZE);
        return r;
}

/* A pseudonym and the id sealed for it: what a Put into a collection
 * with private ids stores (collkeys.h). */
static void put_pseudonym(struct keeper_state *st, const char *coll, const uint8_t *key, const uint8_t *id,
                          size_t len)
{
        uint8_t mac[COLLKEY_MAC_SIZE];

        collkey_pseudonym(key, id, len, mac);
        put(st, mac, COLLKEY_PSEUDONYM_SIZE);
        collkey_seal_id(key, coll, mac, id, len, st->out + st->out_len);
        st->out_len += len + COLLKEY_SEAL_OVERHEAD;
        sodium_memzero(mac, sizeof(mac));
}

static int pseudonym_item(struct keeper_state *st, struct cursor *c, const char *coll, const uint8_t *key)
{
        const uint8_t *id;
        size_t len;

        if (!(id = take_bytes(c, KEEPER_NAME_MAX, &len)) || c->left)
                return -EBADMSG;
        put_pseudonym(st, coll, key, id, len);
        return 0;
}

/* PSEUDONYMS's ids (keeper-proto.h), each checked before any is mapped:
 * a malformed request computes nothing. */
static int pseudonym_items(struct keeper_state *st, struct cursor *c, const char *coll, const uint8_t *key)
{
        const uint8_t *p, *ids[KEEPER_PSEUDONYMS_MAX];
        size_t lens[KEEPER_PSEUDONYMS_MAX];
        uint32_t n;

        if (!(p = take(c, 2)) || (n = (uint32_t)p[0] << 8 | p[1]) == 0)
                return -EBADMSG;
        if (n > KEEPER_PSEUDONYMS_MAX)
                return -E2BIG;
        for (uint32_t i = 0; i < n; i++)
                if (!(ids[i] = take_bytes(c, KEEPER_NAME_MAX, &lens[i])) || memchr(ids[i], '\0', lens[i]))
                        return -EBADMSG;
        if (c->left)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++)
                put_pseudonym(st, coll, key, ids[i], lens[i]);
        return 0;
}

static int id_items(struct keeper_state *st, struct cursor *c, const char *coll, const uint8_t *key)
{
        const uint8_t *p, *ps, *sealed;
        size_t len;
        uint32_t n;

        if (!(p = take(c, 2)) || (n = (uint32_t)p[0] << 8 | p[1]) == 0 || n > KEEPER_ID_OPEN_MAX)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++) {
                uint8_t *out = st->out + st->out_len;

                if (!(ps = take(c, COLLKEY_PSEUDONYM_SIZE)) ||
                    !(sealed = take_bytes(c, KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD, &len)) ||
                    len <= COLLKEY_SEAL_OVERHEAD)
                        return -EBADMSG;
                len -= COLLKEY_SEAL_OVERHEAD;
                if (collkey_open_id(key, coll, ps, sealed, len + COLLKEY_SEAL_OVERHEAD, out + 2) < 0)
                        return -EBADMSG;
                out[0] = (uint8_t)(len >> 8);
                out[1] = (uint8_t)len;
                st->out_len += 2 + len;
        }
        return c->left ? -EBADMSG : 0;
}

static int handle(struct keeper_state *st, int32_t type, struct cursor *c)
{
        if (st->load_error)
                return st->load_error;
        if (!st->opened && type != KEEPER_CREATE && type != KEEPER_OPEN && type != KEEPER_CHAIN &&
            type != KEEPER_UNSEAL && type != KEEPER_SEAL)
                return keys_locked(st->keys) ? -EKEYREVOKED : -EPROTO;
        switch (type) {
        case KEEPER_CREATE:
                return do_create(st, c);
        case KEEPER_OPEN:
                return do_open(st, c);
        case KEEPER_CHAIN:
                return do_chain(st, c);
        case KEEPER_LINES:
                return do_lines(st, c);
        case KEEPER_SIGN:
                return do_sign(st, c);
        case KEEPER_DEK_NEW:
                return do_dek_new(st, c);
        case KEEPER_DEK_OPEN:
                return do_dek_open(st, c);
        case KEEPER_KEK_NEW:
                return do_kek_new(st, c);
        case KEEPER_KEK_USE:
                return do_kek_use(st, c);
        case KEEPER_REWRAP:
                return do_rewrap(st, c);
        case KEEPER_KEK_DROP:
                return do_kek_drop(st, c);
        case KEEPER_UNSEAL:
                return do_unseal(st, c);
        case KEEPER_SEAL:
                return do_seal(st, c);
        case KEEPER_SIGN_NEW:
                return do_sign_new(st, c);
        case KEEPER_SIGN_USE:
                return do_sign_use(st, c);
        case KEEPER_SIGN_SWITCH:
                return do_sign_switch(st, c);
        case KEEPER_DEK_MANY:
                return do_dek_many(st, c);
        case KEEPER_CKEY_NEW:
                return do_ckey_new(st, c);
        case KEEPER_INDEX_TAGS:
                return with_ckey(st, c, COLLKEY_ID_INDEX, index_items); /* blind index tags */
        case KEEPER_PSEUDONYM:
                return with_ckey(st, c, COLLKEY_ID_PSEUDONYM, pseudonym_item);
        case KEEPER_ID_OPEN:
                /* ids opened from their sealed forms (List, Find, Resolve) */
                return with_ckey(st, c, COLLKEY_ID_PSEUDONYM, id_items);
        case KEEPER_PSEUDONYMS:
                /* a writer batch's pseudonyms in one collection */
                return with_ckey(st, c, COLLKEY_ID_PSEUDONYM, pseudonym_items);

        default:
                return -EOPNOTSUPP;
        }
}

static int reply(struct keeper_state *st, int r)
{
        struct keeper_hdr h = {r < 0 ? r : 0, r < 0 ? 0 : (uint32_t)st->out_len};
        int k;

        memcpy(st->out - sizeof(h), &h, sizeof(h));
        k = write_all(st->fd, st->out - sizeof(h), sizeof(h) + h.len);
        sodium_memzero(st->out, st->out_len);
        st->out_len = 0;
        return k;
}

static _Noreturn void serve(struct keeper_state *st)
{
        for (;;) {
                struct keeper_hdr h;
                struct cursor c;
                int r;

                if (read_full(st->fd, &h, sizeof(h)) < 0 || h.len > KEEPER_MSG_MAX ||
                    read_full(st->fd, st->in, h.len) < 0)
                        _exit(0); /* the worker is gone (or speaks nonsense): so are we */
                c = (struct cursor){st->in, h.len};
                r = handle(st, h.type, &c);
                sodium_memzero(st->in, h.len); /* a passphrase, whatever the handler did */
                if (reply(st, r) < 0)
                        _exit(0);
        }
}

/* Every syscall the keeper makes after start-up, with its reason, and
 * what its arguments must be: reads and writes only on the worker's
 * socket (fd 3), and memory never made executable. */
enum { ANY_ARGS, ON_SOCKET, NOT_EXEC };
static const struct {
        int nr;
        int args;
        const char *why;
} allowed[] = {
        {SCMP_SYS(read), ON_SOCKET, "requests"},
        {SCMP_SYS(write), ON_SOCKET, "replies"},
        {SCMP_SYS(exit_group), ANY_ARGS, "the worker is gone"},
        {SCMP_SYS(exit), ANY_ARGS, "thread exit in glibc's _exit path"},
        {SCMP_SYS(getrandom), ANY_ARGS, "new keys, nonces"},
        {SCMP_SYS(mprotect), NOT_EXEC, "key pages opened only while used"},
        {SCMP_SYS(mmap), NOT_EXEC, "sodium_malloc for new keys, malloc"},
        {SCMP_SYS(munmap), ANY_ARGS, "sodium_free, free"},
        {SCMP_SYS(mlock), ANY_ARGS, "key pages stay out of swap"},
        {SCMP_SYS(munlock), ANY_ARGS, "sodium_free"},
        {SCMP_SYS(madvise), ANY_ARGS, "sodium_malloc (MADV_DONTDUMP), malloc trims"},
        {SCMP_SYS(brk), ANY_ARGS, "malloc"},
        {SCMP_SYS(rt_sigreturn), ANY_ARGS, "signal return"},
        {SCMP_SYS(clock_gettime), ANY_ARGS, "the unseal back-off (when the vDSO cannot answer)"},
};

static int confine(void)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        int r = ctx ? 0 : -ENOMEM;

        for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                if (allowed[i].args == ON_SOCKET)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 1, SCMP_A0(SCMP_CMP_EQ, 3));
                else if (allowed[i].args == NOT_EXEC)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 1,
                                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
                else
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 0);
        }
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}

static _Noreturn void keeper_main(int fd, const char *key_file, uid_t uid, gid_t gid, bool sandbox)
{
        struct keeper_state st = {.fd = fd};
        struct rlimit none = {0, 0};

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Not dumpable: no core file, and no process of the same uid (the
         * worker included) may ptrace it or read its memory. */
        prctl(PR_SET_DUMPABLE, 0);
        setrlimit(RLIMIT_CORE, &none);
        st.load_error = keys_load(key_file, &st.keys);
        if (st.load_error == -EBADMSG)
                st.load_error = -ENOEXEC; /* not a key file; -EBADMSG means the wrong key */
        st.in = malloc(KEEPER_MSG_MAX);
        st.out = sodium_malloc(sizeof(struct keeper_hdr) + KEEPER_REPLY_MAX);
        if (!st.in || !st.out)
                _exit(1);
        st.out += sizeof(struct keeper_hdr);
        if (st.keys)
                keys_seal_idle(st.keys);
        if (sandbox) {
                if (geteuid() == 0 && (uid || gid) &&
                    (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0))
                        _exit(1);
                /* A credential change resets both: set them again. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0 ||
                    getppid() == 1 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || confine() < 0)
                        _exit(1);
        }
        serve(&st);
}

int keeper_fork(const char *key_file, uid_t uid, gid_t gid, bool sandbox, int *ret_fd, pid_t *ret_pid)
{
        int sv[2];
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                /* Nothing of the worker's: its store, its socket, its logs. */
                if (dup2(sv[1], 3) < 0 || close_range(4, ~0U, 0) < 0)
                        _exit(1);
                keeper_main(3, key_file, uid, gid, sandbox);
        }
        close(sv[1]);
        *ret_fd = sv[0];
        *ret_pid = pid;
        return 0;
}
