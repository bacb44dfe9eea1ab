/* The worker's side of the keeper protocol (vaultd/keeper-proto.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collkeys.h"
#include "keeper-proto.h"
#include "keeper.h"
#include "util.h"

/* A data key fetched ahead (keeper_dek_prefetch), until used or
 * forgotten. tag identifies what it was asked for: a hash of the item as
 * sent (its op, the binding, and for an opened key the wrapped key). */
struct kept_dek {
        uint8_t tag[crypto_generichash_BYTES];
        bool open;            /* an opened key (else a new one) */
        bool used;            /* or refused, or not answered yet */
        uint32_t kek_version; /* a new key's */
        uint8_t wrapped[KEYS_WRAPPED];
        uint8_t dek[KEYS_KEY_SIZE];
};

/* A pseudonym fetched ahead (keeper_pseudonym_prefetch), until the batch
 * is over. tag identifies the PSEUDONYM request it answers: a hash of
 * that request's payload (the collection key as sent, and the id). */
struct kept_ps {
        uint8_t tag[crypto_generichash_BYTES];
        uint8_t pseudonym[COLLKEY_PSEUDONYM_SIZE];
        size_t sealed_len;
        uint8_t sealed[KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD];
};

/* Slots of the kept pseudonyms' table: at most half full. */
#define PS_SLOTS (2 * KEEPER_PS_KEPT_MAX)

struct keeper {
        int fd, pidfd;
        pid_t pid;
        uint8_t pk[32];
        /* A signing-key rotation: the next key co-signs every checkpoint
         * (has_next) until keeper_sign_switch; pending is one made by
         * keeper_sign_new and not yet in use. */
        bool has_next, has_pending;
        uint8_t next_pk[32], pending_pk[32];
        /* One request or reply (may hold a data key: wiped), after room for
         * the header: a request goes out in one write, so the keeper wakes
         * once for it, not once for the header and again for the rest. */
        uint8_t *msg, *buf; /* buf = msg + the header */
        size_t len;
        /* Data keys fetched ahead for a writer batch (sodium_malloc'd, wiped
         * as each is used and by keeper_dek_forget); the ones before next
         * are all used. */
        struct kept_dek *kept;
        size_t n_kept, next_kept;
        /* Pseudonyms fetched ahead for a writer batch, in the order asked,
         * and a table of their tags (open addressing; a slot holds an
         * entry's index + 1, 0 when free). */
        struct kept_ps *kept_ps;
        uint16_t *ps_slots;
        size_t n_kept_ps;
};

int keeper_start(const char *key_file, uid_t uid, gid_t gid, bool sandbox, struct keeper **ret)
{
        struct keeper *kp = calloc(1, sizeof(*kp));
        int r;

        if (!kp)
                return -ENOMEM;
        kp->fd = kp->pidfd = -1;
        kp->msg = sodium_malloc(sizeof(struct keeper_hdr) + KEEPER_MSG_MAX);
        if (!kp->msg) {
                free(kp);
                return -ENOMEM;
        }
        kp->buf = kp->msg + sizeof(struct keeper_hdr);
        r = keeper_fork(key_file, uid, gid, sandbox, &kp->fd, &kp->pid);
        if (r == 0 && (kp->pidfd = (int)syscall(SYS_pidfd_open, kp->pid, 0)) < 0)
                r = -errno;
        if (r < 0) {
                keeper_free(kp);
                return r;
        }
        *ret = kp;
        return 0;
}

void keeper_free(struct keeper *kp)
{
        if (!kp)
                return;
        if (kp->fd >= 0)
                close(kp->fd);
        if (kp->pidfd >= 0)
                close(kp->pidfd);
        sodium_free(kp->msg);
        sodium_free(kp->kept);
        keeper_pseudonym_forget(kp);
        free(kp->kept_ps);
        free(kp->ps_slots);
        free(kp);
}

int keeper_pidfd(struct keeper *kp)
{
        return kp->pidfd;
}

pid_t keeper_pid(struct keeper *kp)
{
        return kp->pid;
}

void keeper_public(struct keeper *kp, uint8_t pk[32])
{
        memcpy(pk, kp->pk, 32);
}

/* Request building: into kp->buf, then one round trip. */
static void put(struct keeper *kp, const void *p, size_t n)
{
        memcpy(kp->buf + kp->len, p, n);
        kp->len += n;
}

static void put_u32(struct keeper *kp, uint32_t v)
{
        uint8_t b[4];

        be32_put(b, v);
        put(kp, b, 4);
}

static void put_u64(struct keeper *kp, uint64_t v)
{
        uint8_t b[8];

        be64_put(b, v);
        put(kp, b, 8);
}

static int put_name(struct keeper *kp, const char *name)
{
        size_t len = strlen(name);
        uint8_t b[2] = {(uint8_t)(len >> 8), (uint8_t)len};

        if (len > KEEPER_NAME_MAX) {
                kp->len = 0; /* the request is abandoned */
                return -ENAMETOOLONG;
        }
        put(kp, b, 2);
        put(kp, name, len);
        return 0;
}

static int put_binding(struct keeper *kp, const struct body_binding *b)
{
        int r;

        if ((r = put_name(kp, b->collection)) < 0 || (r = put_name(kp, b->id)) < 0)
                return r;
        put_u64(kp, b->version);
        return 0;
}

/* Sends the request in kp->buf and reads the reply into kp->buf. Returns
 * the reply's length (want: the length it must have), or -errno. */
static int call(struct keeper *kp, enum keeper_req type, size_t want)
{
        struct keeper_hdr h = {type, (uint32_t)kp->len};
        int r;

        kp->len = 0;
        memcpy(kp->msg, &h, sizeof(h));
        /* A keeper that is gone is -EPIPE (vaultd ignores SIGPIPE). */
        if ((r = write_all(kp->fd, kp->msg, sizeof(h) + h.len)) < 0 ||
            (r = read_full(kp->fd, &h, sizeof(h))) < 0)
                return r == -EPIPE || r == -ECONNRESET ? -EPIPE : r;
        if (h.type < 0)
                return h.type;
        if (h.len != want) {
                /* The stream is out of step: no later reply could be read
                 * right. The keeper sees its socket close and exits. */
                shutdown(kp->fd, SHUT_RDWR);
                return -EPROTO;
        }
        r = read_full(kp->fd, kp->buf, h.len);
        return r < 0 ? -EPIPE : (int)h.len;
}

int keeper_create(struct keeper *kp, const char *origin, struct keys_material *ret)
{
        int r = put_name(kp, origin);

        if (r < 0 || (r = call(kp, KEEPER_CREATE, sizeof(*ret))) < 0)
                return r;
        memcpy(ret->kek_wrapped, kp->buf, KEYS_WRAPPED);
        memcpy(ret->sign_wrapped, kp->buf + KEYS_WRAPPED, KEYS_SIGN_WRAPPED);
        memcpy(ret->pk, kp->buf + KEYS_WRAPPED + KEYS_SIGN_WRAPPED, sizeof(ret->pk));
        memcpy(kp->pk, ret->pk, sizeof(kp->pk));
        return 0;
}

int keeper_open(struct keeper *kp, const char *origin, uint32_t kek_current,
                const uint8_t sign_wrapped[KEYS_SIGN_WRAPPED], const uint8_t *sign_next,
                const struct keeper_kek *keks, size_t n)
{
        int r = put_name(kp, origin);

        if (r < 0)
                return r;
        if (n > KEYS_MAX_KEK) {
                kp->len = 0;
                return -E2BIG;
        }
        put_u32(kp, kek_current);
        put(kp, sign_wrapped, KEYS_SIGN_WRAPPED);
        put_u32(kp, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
                put_u32(kp, keks[i].version);
                put(kp, keks[i].wrapped, KEYS_WRAPPED);
        }
        if (sign_next)
                put(kp, sign_next, KEYS_SIGN_WRAPPED);
        if ((r = call(kp, KEEPER_OPEN, sign_next ? 64 : 32)) < 0)
                return r;
        memcpy(kp->pk, kp->buf, sizeof(kp->pk));
        kp->has_next = sign_next != NULL;
        if (sign_next)
                memcpy(kp->next_pk, kp->buf + 32, 32);
        return 0;
}

int keeper_chain(struct keeper *kp, uint64_t size, const struct merkle_frontier *tree, const char *line,
                 size_t len, const uint8_t sig[64], int64_t time)
{
        static const uint8_t none[64];
        int r;

        if (size > 0 &&
            (tree->size != size - 1 || 8 + 64 + 8 + MERKLE_LEVELS * MERKLE_HASH_SIZE + len > KEEPER_MSG_MAX))
                return -EINVAL;
        put_u64(kp, size);
        put(kp, sig ? sig : none, 64);
        put_u64(kp, (uint64_t)time);
        if (size > 0) {
                for (unsigned level = 0; level < MERKLE_LEVELS; level++)
                        if ((tree->size >> level) & 1)
                                put(kp, tree->hash[level], MERKLE_HASH_SIZE);
                put(kp, line, len);
        }
        r = call(kp, KEEPER_CHAIN, 0);
        return r < 0 ? r : 0;
}

int keeper_sign(struct keeper *kp, uint64_t first, const char *const *lines, const size_t *lens, size_t n,
                int64_t *ret_time, uint8_t ret_root[MERKLE_HASH_SIZE], uint8_t ret_sig[64],
                uint8_t ret_next_sig[64], uint8_t ret_next_wrapped[KEYS_SIGN_WRAPPED])
{
        uint64_t next = first;
        size_t i = 0;
        int r;

        /* In chunks that fit a message; each continues where the last one
         * stopped. */
        do {
                put_u64(kp, next);
                for (; i < n && kp->len + 4 + lens[i] <= KEEPER_MSG_MAX; i++, next++) {
                        put_u32(kp, (uint32_t)lens[i]);
                        put(kp, lines[i], lens[i]);
                }
                if (kp->len == 8 && i < n) {
                        kp->len = 0;
                        return -E2BIG; /* one line larger than a message */
                }
                if ((r = call(kp, KEEPER_LINES, 8)) < 0)
                        return r;
                if (be64_get(kp->buf) != next)
                        return -EPROTO;
        } while (i < n);
        put_u64(kp, next);
        if (kp->has_next)
                put(kp, kp->next_pk, 32);
        if ((r = call(kp, KEEPER_SIGN,
                      8 + MERKLE_HASH_SIZE + (kp->has_next ? 128 + KEYS_SIGN_WRAPPED : 64))) < 0)
                return r;
        *ret_time = (int64_t)be64_get(kp->buf);
        memcpy(ret_root, kp->buf + 8, MERKLE_HASH_SIZE);
        memcpy(ret_sig, kp->buf + 8 + MERKLE_HASH_SIZE, 64);
        if (kp->has_next) {
                memcpy(ret_next_sig, kp->buf + 8 + MERKLE_HASH_SIZE + 64, 64);
                memcpy(ret_next_wrapped, kp->buf + 8 + MERKLE_HASH_SIZE + 128, KEYS_SIGN_WRAPPED);
        }
        return 0;
}

int keeper_sign_new(struct keeper *kp, uint8_t ret_wrapped[KEYS_SIGN_WRAPPED], uint8_t ret_pk[32])
{
        int r = call(kp, KEEPER_SIGN_NEW, KEYS_SIGN_WRAPPED + 32);

        if (r < 0)
                return r;
        memcpy(ret_wrapped, kp->buf, KEYS_SIGN_WRAPPED);
        memcpy(kp->pending_pk, kp->buf + KEYS_SIGN_WRAPPED, 32);
        memcpy(ret_pk, kp->pending_pk, 32);
        kp->has_pending = true;
        return 0;
}

int keeper_sign_use(struct keeper *kp)
{
        int r;

        if (!kp->has_pending)
                return -ENOKEY;
        r = call(kp, KEEPER_SIGN_USE, 0);
        if (r < 0)
                return r;
        memcpy(kp->next_pk, kp->pending_pk, 32);
        kp->has_next = true;
        kp->has_pending = false;
        return 0;
}

int keeper_sign_switch(struct keeper *kp)
{
        int r = call(kp, KEEPER_SIGN_SWITCH, 0);

        if (r < 0)
                return r;
        memcpy(kp->pk, kp->next_pk, 32);
        kp->has_next = false;
        return 0;
}

bool keeper_next_public(struct keeper *kp, uint8_t pk[32])
{
        if (kp->has_next)
                memcpy(pk, kp->next_pk, 32);
        return kp->has_next;
}

/* The tag of a data-key request: its DEK_MANY op and the payload that
 * DEK_NEW or DEK_OPEN would carry (p, n), which is the item DEK_MANY
 * carries after the op. */
static void dek_tag(uint8_t op, const uint8_t *p, size_t n, uint8_t tag[crypto_generichash_BYTES])
{
        crypto_generichash_state h;

        crypto_generichash_init(&h, NULL, 0, crypto_generichash_BYTES);
        crypto_generichash_update(&h, &op, 1);
        crypto_generichash_update(&h, p, n);
        crypto_generichash_final(&h, tag, crypto_generichash_BYTES);
}

/* The kept key asked for exactly as the request now in kp->buf asks, or
 * NULL. Jobs use their keys in the order they were fetched, so the next
 * one is nearly always it. */
static struct kept_dek *kept_find(struct keeper *kp, uint8_t op)
{
        uint8_t tag[crypto_generichash_BYTES];

        if (kp->next_kept == kp->n_kept)
                return NULL;
        dek_tag(op, kp->buf, kp->len, tag);
        for (size_t i = kp->next_kept; i < kp->n_kept; i++) {
                struct kept_dek *k = &kp->kept[i];

                if (k->used || memcmp(k->tag, tag, sizeof(tag)) != 0)
                        continue;
                k->used = true;
                while (kp->next_kept < kp->n_kept && kp->kept[kp->next_kept].used)
                        kp->next_kept++;
                kp->len = 0; /* the request is not sent */
                return k;
        }
        return NULL;
}

int keeper_dek_new(struct keeper *kp, const struct body_binding *b, uint32_t *ret_kek_version,
                   uint8_t wrapped[KEYS_WRAPPED], uint8_t *dek)
{
        struct kept_dek *k;
        int r = put_binding(kp, b);

        if (r < 0)
                return r;
        if ((k = kept_find(kp, KEEPER_DEK_ITEM_NEW))) {
                *ret_kek_version = k->kek_version;
                memcpy(wrapped, k->wrapped, KEYS_WRAPPED);
                memcpy(dek, k->dek, KEYS_KEY_SIZE);
                sodium_memzero(k->dek, KEYS_KEY_SIZE);
                return 0;
        }
        if ((r = call(kp, KEEPER_DEK_NEW, 4 + KEYS_WRAPPED + KEYS_KEY_SIZE)) < 0)
                return r;
        *ret_kek_version = be32_get(kp->buf);
        memcpy(wrapped, kp->buf + 4, KEYS_WRAPPED);
        memcpy(dek, kp->buf + 4 + KEYS_WRAPPED, KEYS_KEY_SIZE);
        sodium_memzero(kp->buf, 4 + KEYS_WRAPPED + KEYS_KEY_SIZE);
        return 0;
}

int keeper_dek_open(struct keeper *kp, const struct body_binding *b, uint32_t kek_version,
                    const uint8_t wrapped[KEYS_WRAPPED], uint8_t *dek)
{
        struct kept_dek *k;
        int r;

        put_u32(kp, kek_version);
        put(kp, wrapped, KEYS_WRAPPED);
        if ((r = put_binding(kp, b)) < 0)
                return r;
        if ((k = kept_find(kp, KEEPER_DEK_ITEM_OPEN))) {
                memcpy(dek, k->dek, KEYS_KEY_SIZE);
                sodium_memzero(k->dek, KEYS_KEY_SIZE);
                return 0;
        }
        if ((r = call(kp, KEEPER_DEK_OPEN, KEYS_KEY_SIZE)) < 0)
                return r;
        memcpy(dek, kp->buf, KEYS_KEY_SIZE);
        sodium_memzero(kp->buf, KEYS_KEY_SIZE);
        return 0;
}

/* One DEK_MANY of n items (at most KEEPER_DEK_MANY_MAX); the keys it
 * gives are kept. */
static int dek_many(struct keeper *kp, const struct keeper_dek_req *reqs, size_t n)
{
        size_t want = 0, first = kp->n_kept, start;
        uint8_t *p;
        int r;

        put_u32(kp, 0); /* the count, set below */
        for (size_t i = 0; i < n; i++) {
                const struct keeper_dek_req *q = &reqs[i];
                uint8_t op = q->wrapped ? KEEPER_DEK_ITEM_OPEN : KEEPER_DEK_ITEM_NEW;

                /* Names too long for the keeper: that call fails alone, later. */
                if (strlen(q->b.collection) > KEEPER_NAME_MAX || strlen(q->b.id) > KEEPER_NAME_MAX)
                        continue;
                put(kp, &op, 1);
                start = kp->len;
                if (q->wrapped) {
                        put_u32(kp, q->kek_version);
                        put(kp, q->wrapped, KEYS_WRAPPED);
                }
                (void)put_binding(kp, &q->b);
                dek_tag(op, kp->buf + start, kp->len - start, kp->kept[kp->n_kept].tag);
                kp->kept[kp->n_kept].open = q->wrapped != NULL;
                kp->kept[kp->n_kept++].used = true; /* until the keeper gives its key */
                want += q->wrapped ? KEEPER_DEK_SLOT_OPEN : KEEPER_DEK_SLOT_NEW;
        }
        if (kp->n_kept == first) {
                kp->len = 0;
                return 0;
        }
        be32_put(kp->buf, (uint32_t)(kp->n_kept - first));
        if ((r = call(kp, KEEPER_DEK_MANY, want)) < 0) {
                kp->n_kept = first;
                return r;
        }
        p = kp->buf;
        for (size_t i = first; i < kp->n_kept; i++) {
                struct kept_dek *k = &kp->kept[i];

                /* A refused item is not kept: its job asks for itself and
                 * gets the refusal. */
                k->used = be32_get(p) != 0;
                if (!k->used && k->open)
                        memcpy(k->dek, p + 4, KEYS_KEY_SIZE);
                else if (!k->used) {
                        k->kek_version = be32_get(p + 4);
                        memcpy(k->wrapped, p + 8, KEYS_WRAPPED);
                        memcpy(k->dek, p + 8 + KEYS_WRAPPED, KEYS_KEY_SIZE);
                }
                p += k->open ? KEEPER_DEK_SLOT_OPEN : KEEPER_DEK_SLOT_NEW;
        }
        sodium_memzero(kp->buf, want);
        return 0;
}

int keeper_dek_prefetch(struct keeper *kp, const struct keeper_dek_req *reqs, size_t n)
{
        size_t done = 0, chunk;
        int r = 0;

        if (!kp->kept && !(kp->kept = sodium_allocarray(KEEPER_DEK_KEPT_MAX, sizeof(*kp->kept))))
                return -ENOMEM;
        keeper_dek_forget(kp);
        if (n > KEEPER_DEK_KEPT_MAX)
                n = KEEPER_DEK_KEPT_MAX;
        while (r == 0 && done < n) {
                chunk = n - done < KEEPER_DEK_MANY_MAX ? n - done : KEEPER_DEK_MANY_MAX;
                r = dek_many(kp, reqs + done, chunk);
                done += chunk;
        }
        while (kp->next_kept < kp->n_kept && kp->kept[kp->next_kept].used)
                kp->next_kept++;
        return r;
}

size_t keeper_dek_kept(struct keeper *kp)
{
        size_t n = 0;

        for (size_t i = kp->next_kept; i < kp->n_kept; i++)
                n += !kp->kept[i].used;
        return n;
}

void keeper_dek_forget(struct keeper *kp)
{
        if (kp->kept)
                sodium_memzero(kp->kept, kp->n_kept * sizeof(*kp->kept));
        kp->n_kept = kp->next_kept = 0;
}

int keeper_kek_new(struct keeper *kp, uint32_t version, uint8_t ret_wrapped[KEYS_WRAPPED])
{
        int r;

        put_u32(kp, version);
        if ((r = call(kp, KEEPER_KEK_NEW, KEYS_WRAPPED)) < 0)
                return r;
        memcpy(ret_wrapped, kp->buf, KEYS_WRAPPED);
        return 0;
}

int keeper_kek_use(struct keeper *kp, uint32_t version)
{
        int r;

        put_u32(kp, version);
        r = call(kp, KEEPER_KEK_USE, 0);
        return r < 0 ? r : 0;
}

int keeper_rewrap(struct keeper *kp, const struct body_binding *b, uint32_t kek_version,
                  const uint8_t wrapped[KEYS_WRAPPED], uint32_t *ret_kek_version,
                  uint8_t ret_wrapped[KEYS_WRAPPED])
{
        int r;

        put_u32(kp, kek_version);
        put(kp, wrapped, KEYS_WRAPPED);
        if ((r = put_binding(kp, b)) < 0 || (r = call(kp, KEEPER_REWRAP, 4 + KEYS_WRAPPED)) < 0)
                return r;
        *ret_kek_version = be32_get(kp->buf);
        memcpy(ret_wrapped, kp->buf + 4, KEYS_WRAPPED);
        return 0;
}

int keeper_ckey_new(struct keeper *kp, int purpose, const char *collection, uint64_t gen,
                    uint32_t *ret_kek_version, uint8_t ret_wrapped[KEYS_WRAPPED])
{
        uint8_t p = (uint8_t)purpose;
        int r;

        put(kp, &p, 1);
        put_u64(kp, gen);
        if ((r = put_name(kp, collection)) < 0 || (r = call(kp, KEEPER_CKEY_NEW, 4 + KEYS_WRAPPED)) < 0)
                return r;
        *ret_kek_version = be32_get(kp->buf);
        memcpy(ret_wrapped, kp->buf + 4, KEYS_WRAPPED);
        return 0;
}

static int put_ckey(struct keeper *kp, const struct keeper_ckey *k)
{
        put_u64(kp, k->gen);
        put_u32(kp, k->kek_version);
        put(kp, k->wrapped, KEYS_WRAPPED);
        return put_name(kp, k->collection);
}

/* A counted byte string (len(2) bytes) of 1 to max bytes. */
static int put_bytes(struct keeper *kp, const char *s, size_t max)
{
        size_t len = strlen(s);
        uint8_t b[2] = {(uint8_t)(len >> 8), (uint8_t)len};

        if (len == 0 || len > max) {
                kp->len = 0;
                return -EINVAL;
        }
        put(kp, b, 2);
        put(kp, s, len);
        return 0;
}

int keeper_index_tags(struct keeper *kp, const struct keeper_ckey *k, size_t n, const char *const *fields,
                      const char *const *values, uint8_t (*ret_tags)[32])
{
        uint8_t b[2] = {(uint8_t)(n >> 8), (uint8_t)n};
        int r;

        if (n == 0 || n > KEEPER_CKEY_ITEMS_MAX)
                return -EINVAL;
        if ((r = put_ckey(kp, k)) < 0)
                return r;
        put(kp, b, 2);
        for (size_t i = 0; i < n; i++)
                if ((r = put_bytes(kp, fields[i], KEEPER_NAME_MAX)) < 0 ||
                    (r = put_bytes(kp, values[i], KEEPER_VALUE_MAX)) < 0)
                        return r;
        if ((r = call(kp, KEEPER_INDEX_TAGS, n * 32)) < 0)
                return r;
        memcpy(ret_tags, kp->buf, n * 32);
        return 0;
}

/* The tag of a PSEUDONYM request whose payload is prefix and item (the
 * collection key as put_ckey puts it, and the id as put_bytes does). */
static void ps_tag(const uint8_t *prefix, size_t plen, const uint8_t *item, size_t ilen,
                   uint8_t tag[crypto_generichash_BYTES])
{
        crypto_generichash_state h;
        uint8_t op = KEEPER_PSEUDONYM;

        crypto_generichash_init(&h, NULL, 0, crypto_generichash_BYTES);
        crypto_generichash_update(&h, &op, 1);
        crypto_generichash_update(&h, prefix, plen);
        crypto_generichash_update(&h, item, ilen);
        crypto_generichash_final(&h, tag, crypto_generichash_BYTES);
}

/* The slot of tag in the table: the one that holds its entry, or the
 * free one where it would go. */
static size_t ps_slot(struct keeper *kp, const uint8_t tag[crypto_generichash_BYTES])
{
        size_t i = (size_t)be32_get(tag) % PS_SLOTS;

        while (kp->ps_slots[i] &&
               memcmp(kp->kept_ps[kp->ps_slots[i] - 1].tag, tag, crypto_generichash_BYTES))
                i = (i + 1) % PS_SLOTS;
        return i;
}

/* The kept pseudonym that answers the PSEUDONYM request now in kp->buf,
 * or NULL. */
static const struct kept_ps *ps_kept(struct keeper *kp)
{
        uint8_t tag[crypto_generichash_BYTES];
        size_t i;

        if (kp->n_kept_ps == 0)
                return NULL;
        ps_tag(kp->buf, kp->len, NULL, 0, tag);
        i = ps_slot(kp, tag);
        return kp->ps_slots[i] ? &kp->kept_ps[kp->ps_slots[i] - 1] : NULL;
}

int keeper_pseudonym(struct keeper *kp, const struct keeper_ckey *k, const char *id, uint8_t *ret_pseudonym,
                     uint8_t *ret_sealed, size_t *ret_sealed_len)
{
        const struct kept_ps *e;
        size_t len = strlen(id);
        int r;

        if ((r = put_ckey(kp, k)) < 0 || (r = put_bytes(kp, id, KEEPER_NAME_MAX)) < 0)
                return r;
        if ((e = ps_kept(kp))) {
                kp->len = 0; /* the request is not sent */
                memcpy(ret_pseudonym, e->pseudonym, COLLKEY_PSEUDONYM_SIZE);
                memcpy(ret_sealed, e->sealed, e->sealed_len);
                *ret_sealed_len = e->sealed_len;
                return 0;
        }
        if ((r = call(kp, KEEPER_PSEUDONYM, COLLKEY_PSEUDONYM_SIZE + len + COLLKEY_SEAL_OVERHEAD)) < 0)
                return r;
        memcpy(ret_pseudonym, kp->buf, COLLKEY_PSEUDONYM_SIZE);
        memcpy(ret_sealed, kp->buf + COLLKEY_PSEUDONYM_SIZE, len + COLLKEY_SEAL_OVERHEAD);
        *ret_sealed_len = len + COLLKEY_SEAL_OVERHEAD;
        return 0;
}

/* One PSEUDONYMS for ids from the first on, as many as fit one request
 * (*ret_taken): an id asked for already (kept, or earlier in this
 * request) is not asked again; entry[i] receives the index of ids[i]'s
 * kept pseudonym. */
static int ps_many(struct keeper *kp, const struct keeper_ckey *k, size_t n, const char *const *ids,
                   size_t *entry, size_t *ret_taken)
{
        size_t plen, first = kp->n_kept_ps, count = 0, want = 0, i, slot, start;
        uint8_t tag[crypto_generichash_BYTES];
        const uint8_t *p;
        int r;

        if ((r = put_ckey(kp, k)) < 0)
                return r;
        plen = kp->len;
        kp->len += 2; /* the count, set below */
        for (i = 0; i < n && count < KEEPER_PSEUDONYMS_MAX; i++) {
                start = kp->len;
                if ((r = put_bytes(kp, ids[i], KEEPER_NAME_MAX)) < 0)
                        return r;
                ps_tag(kp->buf, plen, kp->buf + start, kp->len - start, tag);
                slot = ps_slot(kp, tag);
                if (kp->ps_slots[slot]) { /* asked for already */
                        kp->len = start;
                        entry[i] = kp->ps_slots[slot] - 1u;
                        continue;
                }
                if (kp->n_kept_ps == KEEPER_PS_KEPT_MAX) {
                        kp->len = 0;
                        return -E2BIG;
                }
                entry[i] = kp->n_kept_ps;
                memcpy(kp->kept_ps[entry[i]].tag, tag, sizeof(tag));
                kp->kept_ps[entry[i]].sealed_len = kp->len - start - 2 + COLLKEY_SEAL_OVERHEAD;
                kp->ps_slots[slot] = (uint16_t)++kp->n_kept_ps;
                want += COLLKEY_PSEUDONYM_SIZE + kp->kept_ps[entry[i]].sealed_len;
                count++;
        }
        *ret_taken = i;
        if (count == 0) {
                kp->len = 0;
                return 0;
        }
        be16_put(kp->buf + plen, (uint16_t)count);
        if ((r = call(kp, KEEPER_PSEUDONYMS, want)) < 0)
                return r;
        p = kp->buf;
        for (i = first; i < kp->n_kept_ps; i++) {
                struct kept_ps *e = &kp->kept_ps[i];

                memcpy(e->pseudonym, p, COLLKEY_PSEUDONYM_SIZE);
                memcpy(e->sealed, p + COLLKEY_PSEUDONYM_SIZE, e->sealed_len);
                p += COLLKEY_PSEUDONYM_SIZE + e->sealed_len;
        }
        return 0;
}

int keeper_pseudonym_prefetch(struct keeper *kp, const struct keeper_ckey *k, size_t n,
                              const char *const *ids, uint8_t (*ret_pseudonyms)[COLLKEY_PSEUDONYM_SIZE])
{
        size_t done = 0, taken = 0, *entry;
        int r = 0;

        if (!kp->kept_ps && (!(kp->kept_ps = calloc(KEEPER_PS_KEPT_MAX, sizeof(*kp->kept_ps))) ||
                             !(kp->ps_slots = calloc(PS_SLOTS, sizeof(*kp->ps_slots))))) {
                free(kp->kept_ps);
                kp->kept_ps = NULL;
                return -ENOMEM;
        }
        if (n == 0)
                return 0;
        if (!(entry = calloc(n, sizeof(*entry))))
                return -ENOMEM;
        for (; r == 0 && done < n; done += taken)
                r = ps_many(kp, k, n - done, ids + done, entry + done, &taken);
        if (r < 0)
                keeper_pseudonym_forget(kp); /* what was asked for and not answered too */
        for (size_t i = 0; r == 0 && i < n; i++)
                memcpy(ret_pseudonyms[i], kp->kept_ps[entry[i]].pseudonym, COLLKEY_PSEUDONYM_SIZE);
        free(entry);
        return r;
}

size_t keeper_pseudonym_kept(struct keeper *kp)
{
        return kp->n_kept_ps;
}

void keeper_pseudonym_forget(struct keeper *kp)
{
        if (kp->kept_ps)
                sodium_memzero(kp->kept_ps, kp->n_kept_ps * sizeof(*kp->kept_ps));
        if (kp->ps_slots)
                memset(kp->ps_slots, 0, PS_SLOTS * sizeof(*kp->ps_slots));
        kp->n_kept_ps = 0;
}

int keeper_id_open(struct keeper *kp, const struct keeper_ckey *k, size_t n,
                   const uint8_t *const *pseudonyms, const uint8_t *const *sealed, const size_t *lens,
                   char **ret_ids)
{
        uint8_t b[2] = {(uint8_t)(n >> 8), (uint8_t)n};
        size_t want = 0, pos = 0;
        int r;

        if (n == 0 || n > KEEPER_ID_OPEN_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (lens[i] <= COLLKEY_SEAL_OVERHEAD || lens[i] > KEEPER_NAME_MAX + COLLKEY_SEAL_OVERHEAD)
                        return -EBADMSG;
                want += 2 + lens[i] - COLLKEY_SEAL_OVERHEAD;
        }
        if ((r = put_ckey(kp, k)) < 0)
                return r;
        put(kp, b, 2);
        for (size_t i = 0; i < n; i++) {
                uint8_t l[2] = {(uint8_t)(lens[i] >> 8), (uint8_t)lens[i]};

                put(kp, pseudonyms[i], COLLKEY_PSEUDONYM_SIZE);
                put(kp, l, 2);
                put(kp, sealed[i], lens[i]);
        }
        if ((r = call(kp, KEEPER_ID_OPEN, want)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                size_t len = (size_t)kp->buf[pos] << 8 | kp->buf[pos + 1];

                r = len != lens[i] - COLLKEY_SEAL_OVERHEAD                    ? -EPROTO
                    : !(ret_ids[i] = strndup((char *)kp->buf + pos + 2, len)) ? -ENOMEM
                                                                              : 0;
                if (r < 0) {
                        /* None is returned: the caller frees nothing. */
                        while (i > 0) {
                                free(ret_ids[--i]);
                                ret_ids[i] = NULL;
                        }
                        return r;
                }
                pos += 2 + len;
        }
        return 0;
}

int keeper_kek_drop(struct keeper *kp, uint32_t version)
{
        int r;

        put_u32(kp, version);
        r = call(kp, KEEPER_KEK_DROP, 0);
        return r < 0 ? r : 0;
}

int keeper_unseal(struct keeper *kp, const char *pass, size_t len)
{
        int r;

        if (len == 0 || len > KEEPER_MSG_MAX)
                return -EINVAL;
        /* The payload is the passphrase itself (no length field: it is the
         * rest); the reply is empty, so the request is wiped here. */
        put(kp, pass, len);
        r = call(kp, KEEPER_UNSEAL, 0);
        sodium_memzero(kp->buf, len);
        return r < 0 ? r : 0;
}

int keeper_seal(struct keeper *kp)
{
        int r;

        keeper_dek_forget(kp); /* no data key outlives a seal */
        keeper_pseudonym_forget(kp);
        r = call(kp, KEEPER_SEAL, 0);
        return r < 0 ? r : 0;
}

void keeper_set_public(struct keeper *kp, const uint8_t pk[32])
{
        memcpy(kp->pk, pk, 32);
}
