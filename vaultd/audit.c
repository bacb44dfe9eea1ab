#include "audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auditree.h"
#include "keeper.h"
#include "keystore.h"
#include "util.h"

/* make bench builds the daemon once more without its Merkle tree's writes
 * (-DVAULTD_BENCH_NO_TREE, build/bench-notree/, never installed) to
 * measure what the tree costs a Put. */
#ifdef VAULTD_BENCH_NO_TREE
#define TREE_WRITES 0
#else
#define TREE_WRITES 1
#endif

#define SIGN_KEYS META_SIGN_KEYS

static int meta_get_string(MDB_txn *txn, struct vault_store *s, const char *name, char **ret)
{
        MDB_val v;
        int k = store_get(txn, s->meta, name, strlen(name), &v);

        if (k < 0)
                return k;
        *ret = strndup(v.mv_data, v.mv_size);
        return *ret ? 0 : -ENOMEM;
}

static int meta_put_string(MDB_txn *txn, struct vault_store *s, const char *name, const char *val)
{
        return store_put(txn, s->meta, name, strlen(name), val, strlen(val), 0);
}

static int audit_log_load(struct vault_store *s, struct keeper *kp, MDB_txn *txn, struct audit_log **ret);

int audit_store_init(struct vault_store *s, struct keeper *kp, MDB_txn *txn, const struct audit_actor *actor,
                     const char *idhex, const char *origin)
{
        uint8_t zero[AUDIT_HASH_SIZE] = {0}, pk[32];
        _cleanup_(freep) char *vkey = NULL;
        struct audit_log *log = NULL;
        json_t *extra;
        int k;

        keeper_public(kp, pk);
        k = note_verifier_key(origin, pk, &vkey);
        if (k < 0)
                goto out;
        if ((k = meta_put_string(txn, s, "vault.id", idhex)) < 0 ||
            (k = meta_put_string(txn, s, "audit.origin", origin)) < 0 ||
            (k = store_meta_put_u64(txn, s, "audit.next", 0)) < 0 ||
            (k = store_put(txn, s->meta, "audit.head", 10, zero, sizeof(zero), 0)) < 0 ||
            (k = store_meta_put_u64(txn, s, "format", STORE_FORMAT_VERSION)) < 0)
                goto out;
        k = audit_log_load(s, kp, txn, &log);
        if (k < 0)
                goto out;
        extra = json_pack("{s:s,s:s,s:s}", "vault", idhex, "origin", origin, "verifier_key", vkey);
        struct audit_entry e = {
                .time_us = now_realtime_us(),
                .actor = *actor,
                .op = "vault.init",
                .version = -1,
                .result = "ok",
                .extra = extra,
        };
        audit_txn_begin(log);
        k = audit_append(log, txn, &e, NULL);
        json_decref(extra);
out:
        audit_log_free(log);
        return k;
}

/* Whether the tree is as long as the trail (log->tree); -EIO when it is
 * longer (lines were removed). */
static int tree_check(struct audit_log *log, MDB_txn *txn)
{
        uint64_t size;
        int k = auditree_size(log->store, txn, &size);

        if (k < 0)
                return k;
        log->tree = size == log->next_seq;
        return size > log->next_seq ? -EIO : 0;
}

/* Reads the stored head and origin; tells the keeper nothing. */
static int audit_log_load(struct vault_store *s, struct keeper *kp, MDB_txn *txn, struct audit_log **ret)
{
        struct audit_log *log = calloc(1, sizeof(*log));
        _cleanup_(freep) char *id = NULL;
        uint8_t pk[32];
        MDB_val v;
        int k;

        if (!log)
                return -ENOMEM;
        log->store = s;
        log->keeper = kp;
        if ((k = meta_get_string(txn, s, "vault.id", &id)) < 0 ||
            (k = meta_get_string(txn, s, "audit.origin", &log->origin)) < 0 ||
            (k = store_meta_get_u64(txn, s, "audit.next", &log->next_seq)) < 0 ||
            (k = store_get(txn, s->meta, "audit.head", 10, &v)) < 0)
                goto fail;
        if (v.mv_size != AUDIT_HASH_SIZE || strlen(id) != 32) {
                k = -EIO;
                goto fail;
        }
        memcpy(log->head, v.mv_data, AUDIT_HASH_SIZE);
        memcpy(log->vault_id, id, 33);
        if (store_meta_get_u64(txn, s, "audit.cp.size", &log->checkpoint_size) < 0)
                log->checkpoint_size = 0;
        /* A tree longer than the trail is refused by audit_log_open, once
         * it has said whether a signed checkpoint is beyond it too. */
        if ((k = tree_check(log, txn)) < 0 && kp)
                k = 0;
        else if (k < 0)
                goto fail;
        log->keeper_size = log->checkpoint_size;
        log->checkpoint_time_us = now_realtime_us();
        if (kp) { /* offline (no keeper): no verifier key, only appends */
                keeper_public(kp, pk);
                k = note_verifier_key(log->origin, pk, &log->vkey);
                if (k < 0)
                        goto fail;
        }
        audit_txn_begin(log);
        *ret = log;
        return 0;
fail:
        audit_log_free(log);
        return k;
}

/* The signature by the current signing key in a stored checkpoint note,
 * and the note's signed time (0: none). */
static int note_signature(struct audit_log *log, const MDB_val *val, uint8_t sig[64], int64_t *ret_time)
{
        struct checkpoint c = {0};
        uint8_t pk[32], id[4];
        struct note n;
        int k = note_parse(val->mv_data, val->mv_size, &n, NULL, 0);

        if (k < 0)
                return -EIO;
        keeper_public(log->keeper, pk);
        note_key_id(log->origin, pk, id);
        k = checkpoint_parse(&n, &c, NULL, 0) < 0 ? -EIO : -ENOKEY;
        for (size_t i = 0; k == -ENOKEY && i < n.nsigs; i++)
                if (strcmp(n.sigs[i].name, log->origin) == 0 && memcmp(n.sigs[i].id, id, 4) == 0 &&
                    n.sigs[i].sig_len == 64) {
                        memcpy(sig, n.sigs[i].sig, 64);
                        *ret_time = c.time;
                        k = 0;
                }
        checkpoint_done(&c);
        note_done(&n);
        return k == -ENOKEY ? -EIO : k;
}

/* The keeper's floor (keeper_chain): the last signed checkpoint, the
 * frontier of the tree below its last line, and that line. */
static int tell_floor(struct audit_log *log, MDB_txn *txn, int64_t *ret_time)
{
        struct merkle_frontier tree = {0};
        uint8_t sig[64] = {0}, key[8];
        int64_t time = 0;
        MDB_val note, line = {0, NULL};
        uint64_t size = log->checkpoint_size;
        int k;

        if (size > 0) {
                /* The tree is built before the log is opened (vault_open):
                 * without it the keeper could not extend the root. */
                if (!log->tree)
                        return -EIO;
                be64_put(key, size);
                if ((k = store_get(txn, log->store->checkpoints, key, 8, &note)) < 0 ||
                    (k = note_signature(log, &note, sig, &time)) < 0 ||
                    (k = auditree_frontier(log->store, txn, size - 1, &tree)) < 0)
                        return k;
                be64_put(key, size - 1);
                if ((k = store_get(txn, log->store->audit, key, 8, &line)) < 0)
                        return k;
        }
        k = keeper_chain(log->keeper, size, &tree, line.mv_data, line.mv_size, sig, time);
        if (k == 0)
                *ret_time = time;
        return k;
}

int audit_log_open(struct vault_store *s, struct keeper *kp, MDB_txn *txn, struct audit_log **ret)
{
        int64_t time = 0;
        struct audit_log *log;
        int k = audit_log_load(s, kp, txn, &log);

        if (k < 0)
                return k;
        /* The keeper signs only extensions of the last checkpoint it
         * signed: tell it which one that is, before serving anyone. */
        if (log->checkpoint_size > log->next_seq) {
                k = -ESTALE; /* a signed checkpoint covers lines the store no longer has */
                goto fail;
        }
        if ((k = tree_check(log, txn)) < 0 || (k = tell_floor(log, txn, &time)) < 0)
                goto fail;
        log->checkpoint_signed_s = time > 0 ? (uint64_t)time : 0;
        /* Lines left unsigned by the last run (sealed, or a crash) wait
         * from now on, as far as this run can tell. */
        log->unsigned_since_us = log->next_seq > log->checkpoint_size ? now_realtime_us() : 0;
        *ret = log;
        return 0;
fail:
        audit_log_free(log);
        return k == -ENOENT ? -EIO : k;
}

int audit_append_offline(struct vault_store *s, MDB_txn *txn, const struct audit_entry *e)
{
        struct audit_log *log = NULL;
        int k = audit_log_load(s, NULL, txn, &log);

        if (k == 0)
                k = audit_append(log, txn, e, NULL);
        audit_log_free(log);
        return k;
}

void audit_log_free(struct audit_log *log)
{
        if (!log)
                return;
        free(log->origin);
        free(log->vkey);
        free(log);
}

void audit_txn_begin(struct audit_log *log)
{
        log->pending_next_seq = log->next_seq;
        memcpy(log->pending_head, log->head, AUDIT_HASH_SIZE);
}

void audit_txn_commit(struct audit_log *log)
{
        if (log->pending_next_seq > log->next_seq && !log->unsigned_since_us)
                __atomic_store_n(&log->unsigned_since_us, now_realtime_us(), __ATOMIC_RELAXED);
        __atomic_store_n(&log->next_seq, log->pending_next_seq, __ATOMIC_RELAXED); /* Status reads it */
        memcpy(log->head, log->pending_head, AUDIT_HASH_SIZE);
}

int audit_append(struct audit_log *log, MDB_txn *txn, const struct audit_entry *e, uint64_t *ret_seq)
{
        _cleanup_(freep) char *line = NULL;
        uint64_t seq = log->pending_next_seq;
        uint8_t key[8], hash[AUDIT_HASH_SIZE];
        size_t len;
        int k;

        k = auditfmt_line(seq, e, log->pending_head, &line, &len);
        if (k < 0)
                return k;
        be64_put(key, seq);
        k = store_put(txn, log->store->audit, key, 8, line, len, MDB_NOOVERWRITE | MDB_APPEND);
        if (k < 0)
                return k;
        auditfmt_hash(line, len, hash);
        if ((TREE_WRITES && log->tree && (k = auditree_append(log->store, txn, seq, line, len)) < 0) ||
            (k = store_meta_put_u64(txn, log->store, "audit.next", seq + 1)) < 0 ||
            (k = store_put(txn, log->store->meta, "audit.head", 10, hash, AUDIT_HASH_SIZE, 0)) < 0)
                return k;
        log->pending_next_seq = seq + 1;
        memcpy(log->pending_head, hash, AUDIT_HASH_SIZE);
        if (ret_seq)
                *ret_seq = seq;
        return 0;
}

bool audit_checkpoint_due(struct audit_log *log, uint64_t now_us, bool force)
{
        uint64_t size = log->next_seq;

        if (size == log->keeper_size)
                return false;
        return force || size - log->keeper_size >= AUDIT_CHECKPOINT_LINES ||
               now_us - log->checkpoint_time_us >= AUDIT_CHECKPOINT_USEC;
}

/* Asks the keeper to sign the committed head: it gets every line since the
 * last size it signed and recomputes the chain itself. */
static int checkpoint_sign(struct audit_log *log, MDB_txn *txn, uint64_t size, int64_t *time,
                           uint8_t root[MERKLE_HASH_SIZE], uint8_t sig[64], uint8_t next_sig[64],
                           uint8_t next_wrapped[KEYS_SIGN_WRAPPED])
{
        uint64_t n = size - log->keeper_size;
        uint8_t stored[MERKLE_HASH_SIZE];
        const char **lines = calloc(n, sizeof(*lines));
        size_t *lens = calloc(n, sizeof(*lens));
        uint8_t key[8];
        MDB_val v;
        int k = lines && lens ? 0 : -ENOMEM;

        for (uint64_t i = 0; k == 0 && i < n; i++) {
                be64_put(key, log->keeper_size + i);
                k = store_get(txn, log->store->audit, key, 8, &v);
                lines[i] = v.mv_data;
                lens[i] = v.mv_size;
        }
        if (k == 0)
                k = keeper_sign(log->keeper, log->keeper_size, lines, lens, n, time, root, sig, next_sig,
                                next_wrapped);
        free(lines);
        free(lens);
        if (k < 0)
                return k;
        /* The keeper's root is what it signed; the stored tree, which
         * proofs are made from, must have the same. */
        if (TREE_WRITES && log->tree && (k = auditree_root(log->store, txn, size, stored)) == 0 &&
            memcmp(stored, root, MERKLE_HASH_SIZE) != 0)
                k = -EIO;
        return k;
}

/* Appends "size vkey" to the history of signing keys (starting it with
 * the vault's first key when this is the first rotation). */
static int keys_history_add(struct audit_log *log, MDB_txn *txn, uint64_t size, const char *vkey)
{
        _cleanup_(freep) char *old = NULL, *text = NULL;
        int k = meta_get_string(txn, log->store, SIGN_KEYS, &old);

        if (k == -ENOENT)
                k = asprintf(&old, "0 %s\n", log->vkey) < 0 ? -ENOMEM : 0;
        if (k < 0)
                return k;
        if (asprintf(&text, "%s%" PRIu64 " %s\n", old, size, vkey) < 0)
                return -ENOMEM;
        return meta_put_string(txn, log->store, SIGN_KEYS, text);
}

/* A checkpoint signed by both keys, being stored in txn: the next key
 * (wrapped as the signing key) takes the old one's place in the store. */
static int key_handover(struct audit_log *log, MDB_txn *txn, uint64_t size, const char *next_vkey,
                        const uint8_t next_pk[32], const uint8_t wrapped[KEYS_SIGN_WRAPPED])
{
        int k;

        if ((k = keys_history_add(log, txn, size, next_vkey)) < 0 ||
            (k = store_put(txn, log->store->meta, "sign.key", 8, wrapped, KEYS_SIGN_WRAPPED, 0)) < 0 ||
            (k = store_put(txn, log->store->meta, "sign.pub", 8, next_pk, 32, 0)) < 0)
                return k;
        k = store_errno(mdb_del(txn, log->store->meta,
                                &(MDB_val){strlen(KEYSTORE_SIGN_NEXT), KEYSTORE_SIGN_NEXT}, NULL));
        return k == -ENOENT ? 0 : k;
}

int audit_checkpoint(struct audit_log *log, uint64_t now_us, bool force)
{
        _cleanup_(freep) char *text = NULL, *note = NULL, *next_vkey = NULL;
        uint64_t size = log->next_seq;
        uint8_t ids[2][4], pk[32], next_pk[32], sigs[2][64], key[8], next_wrapped[KEYS_SIGN_WRAPPED];
        /* Whether this checkpoint hands over to a next key is the keeper's
         * state, which every OPEN (start, unseal) sets from the store. */
        bool handover = keeper_next_public(log->keeper, next_pk);
        struct checkpoint c = {.origin = log->origin, .size = size};
        MDB_txn *txn;
        int k;

        if (!audit_checkpoint_due(log, now_us, force))
                return 0;
        if (handover && (k = note_verifier_key(log->origin, next_pk, &next_vkey)) < 0)
                return k;
        c.next_key = next_vkey;
        k = store_begin(log->store, true, &txn);
        if (k < 0)
                return k;
        k = checkpoint_sign(log, txn, size, &c.time, c.hash, sigs[0], sigs[1], next_wrapped);
        if (k == 0 || k == -EIO)
                log->keeper_size = size; /* signed: the keeper will not sign it again */
        if (k < 0)
                goto abort;
        log->checkpoint_time_us = now_us;
        if ((k = checkpoint_text(&c, &text)) < 0)
                goto abort;
        keeper_public(log->keeper, pk);
        note_key_id(log->origin, pk, ids[0]);
        note_key_id(log->origin, next_pk, ids[1]);
        be64_put(key, size);
        if ((k = checkpoint_note(text, log->origin, ids, sigs, handover ? 2 : 1, &note)) < 0 ||
            (k = store_put(txn, log->store->checkpoints, key, 8, note, strlen(note), 0)) < 0 ||
            (k = store_meta_put_u64(txn, log->store, "audit.cp.size", size)) < 0 ||
            (handover && (k = key_handover(log, txn, size, next_vkey, next_pk, next_wrapped)) < 0))
                goto abort;
        k = store_commit(txn);
        sodium_memzero(next_wrapped, sizeof(next_wrapped));
        if (k < 0)
                return k;
        __atomic_store_n(&log->checkpoint_size, size, __ATOMIC_RELAXED); /* Status reads these */
        __atomic_store_n(&log->checkpoint_signed_s, c.time > 0 ? (uint64_t)c.time : 0, __ATOMIC_RELAXED);
        __atomic_store_n(&log->unsigned_since_us, 0, __ATOMIC_RELAXED);
        if (handover) {
                /* Stored: the keeper may forget the old key. Should this
                 * fail, the next start opens the new one from the store. */
                k = keeper_sign_switch(log->keeper);
                free(log->vkey);
                log->vkey = next_vkey;
                next_vkey = NULL;
        }
        return k;
abort:
        mdb_txn_abort(txn);
        return k;
}

int audit_key_at(struct audit_log *log, MDB_txn *txn, uint64_t size, char *buf, size_t cap)
{
        _cleanup_(freep) char *vkey = NULL;
        MDB_val v;
        int k = store_get(txn, log->store->meta, SIGN_KEYS, strlen(SIGN_KEYS), &v);

        if (k == 0) {
                k = signing_key_at(v.mv_data, v.mv_size, size, buf, cap);
                return k == -EINVAL ? -EIO : k;
        }
        if (k != -ENOENT)
                return k;
        /* Never rotated: the one key. */
        if ((k = store_get(txn, log->store->meta, "sign.pub", 8, &v)) < 0)
                return k;
        if (v.mv_size != 32)
                return -EIO;
        if ((k = note_verifier_key(log->origin, v.mv_data, &vkey)) < 0)
                return k;
        return snprintf(buf, cap, "%s", vkey) < (int)cap ? 0 : -ENAMETOOLONG;
}

int audit_key_rotate(struct audit_log *log, MDB_txn *txn, const uint8_t wrapped[KEYS_SIGN_WRAPPED])
{
        return store_put(txn, log->store->meta, KEYSTORE_SIGN_NEXT, strlen(KEYSTORE_SIGN_NEXT), wrapped,
                         KEYS_SIGN_WRAPPED, 0);
}

int audit_key_rotate_committed(struct audit_log *log)
{
        return keeper_sign_use(log->keeper);
}

int audit_keys_refresh(struct audit_log *log)
{
        uint8_t pk[32];
        char *vkey;
        int k;

        keeper_public(log->keeper, pk);
        if ((k = note_verifier_key(log->origin, pk, &vkey)) < 0)
                return k;
        free(log->vkey);
        log->vkey = vkey;
        return 0;
}

int audit_read_lines(struct audit_log *log, MDB_txn *txn, uint64_t from, uint64_t to, size_t max_bytes,
                     int (*each)(void *data, uint64_t seq, const char *line, size_t len), void *data,
                     uint64_t *ret_next)
{
        MDB_cursor *cur;
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        size_t bytes = 0;
        uint64_t seq = from;
        int rc, r = 0;

        if (from > to) {
                *ret_next = from;
                return 0;
        }
        rc = mdb_cursor_open(txn, log->store->audit, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, from);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY); rc == 0 && seq <= to && bytes < max_bytes;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size != 8 || be64_get(key.mv_data) != seq) {
                        rc = MDB_CORRUPTED;
                        break;
                }
                if ((r = each(data, seq, val.mv_data, val.mv_size)) != 0)
                        break;
                bytes += val.mv_size;
                seq++;
        }
        mdb_cursor_close(cur);
        if (r != 0)
                return r;
        if (rc && rc != MDB_NOTFOUND)
                return store_errno(rc);
        *ret_next = seq;
        return 0;
}

int audit_read_checkpoints(struct audit_log *log, MDB_txn *txn, uint64_t min_size, uint64_t max_size,
                           size_t max_count,
                           int (*each)(void *data, uint64_t size, const char *note, size_t len), void *data,
                           uint64_t *ret_next)
{
        MDB_cursor *cur;
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        uint64_t next = max_size + 1;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, log->store->checkpoints, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, min_size);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
             rc == 0 && be64_get(key.mv_data) <= max_size; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (n == max_count) {
                        next = be64_get(key.mv_data);
                        break;
                }
                if ((r = each(data, be64_get(key.mv_data), val.mv_data, val.mv_size)) != 0)
                        break;
                n++;
        }
        mdb_cursor_close(cur);
        if (r != 0)
                return r;
        if (rc && rc != MDB_NOTFOUND)
                return store_errno(rc);
        *ret_next = next;
        return 0;
}

int audit_checkpoint_at_or_after(struct audit_log *log, MDB_txn *txn, uint64_t size, uint64_t *ret)
{
        MDB_cursor *cur;
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        int rc;

        rc = mdb_cursor_open(txn, log->store->checkpoints, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, size);
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0)
                *ret = be64_get(key.mv_data);
        mdb_cursor_close(cur);
        return store_errno(rc);
}

int audit_line_hash(struct audit_log *log, MDB_txn *txn, uint64_t seq, uint8_t ret[AUDIT_HASH_SIZE])
{
        uint8_t kb[8];
        MDB_val v;
        int k;

        be64_put(kb, seq);
        k = store_get(txn, log->store->audit, kb, 8, &v);
        if (k < 0)
                return k;
        auditfmt_hash(v.mv_data, v.mv_size, ret);
        return 0;
}

void audit_verify_init(struct audit_verify *st)
{
        uint8_t zero[AUDIT_HASH_SIZE] = {0};

        *st = (struct audit_verify){.bad_seq = -1, .next_checkpoint = 1};
        audit_chain_init(&st->chain, 0, zero);
        merkle_frontier_init(&st->tree);
}

void audit_verify_done(struct audit_verify *st)
{
        free(st->roots);
        st->roots = NULL;
        st->nroots = st->roots_cap = 0;
}

/* At the start of a step, while no checkpoint lies ahead: the next one's
 * size, in case one was signed since (always at the trail's end, so
 * never behind the walk). */
static int find_next_root(struct audit_log *log, MDB_txn *txn, struct audit_verify *st)
{
        int k = audit_checkpoint_at_or_after(log, txn, st->tree.size + 1, &st->next_root);

        if (k == -ENOENT)
                st->next_root = 0;
        return k == -ENOENT ? 0 : k;
}

/* After line seq joined the tree: the root at the size of the next
 * checkpoint is kept for verify_one_checkpoint, and the next one looked up
 * (one lookup per checkpoint, some thousand lines apart). */
static int keep_root(struct audit_log *log, MDB_txn *txn, struct audit_verify *st)
{
        int k;

        if (st->next_root != st->tree.size)
                return 0;
        if (st->nroots == st->roots_cap) {
                size_t cap = st->roots_cap ? 2 * st->roots_cap : 64;
                struct audit_verify_root *r = reallocarray(st->roots, cap, sizeof(*r));

                if (!r)
                        return -ENOMEM;
                st->roots = r;
                st->roots_cap = cap;
        }
        st->roots[st->nroots].size = st->tree.size;
        if ((k = merkle_frontier_root(&st->tree, st->roots[st->nroots].root)) < 0)
                return k;
        st->nroots++;
        return find_next_root(log, txn, st);
}

static int verify_fail(struct audit_verify *st, int64_t seq, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int verify_fail(struct audit_verify *st, int64_t seq, const char *fmt, ...)
{
        va_list ap;

        st->bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(st->why, sizeof(st->why), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

/* At the end of the lines in this snapshot, the stored head must be the
 * hash of the last one. */
static int verify_head(struct audit_log *log, MDB_txn *txn, struct audit_verify *st)
{
        uint64_t stored_next;
        MDB_val hv;
        int k;

        if ((k = store_meta_get_u64(txn, log->store, "audit.next", &stored_next)) < 0 ||
            (k = store_get(txn, log->store->meta, "audit.head", 10, &hv)) < 0)
                return k;
        if (stored_next != st->chain.next_seq || hv.mv_size != AUDIT_HASH_SIZE ||
            sodium_memcmp(hv.mv_data, st->chain.prev, AUDIT_HASH_SIZE) != 0)
                return verify_fail(
                        st, (int64_t)(st->chain.next_seq < stored_next ? st->chain.next_seq : stored_next),
                        "the stored head (%" PRIu64 " lines) does not match the trail (%" PRIu64
                        " lines): lines were removed or appended",
                        stored_next, st->chain.next_seq);
        st->lines = st->chain.next_seq;
        st->lines_done = true;
        return 0;
}

static int verify_lines(struct audit_log *log, MDB_txn *txn, struct audit_verify *st, size_t max)
{
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        MDB_cursor *cur;
        size_t n = 0;
        int rc, k = 0;

        if (st->next_root == 0 && (k = find_next_root(log, txn, st)) < 0)
                return k;
        rc = mdb_cursor_open(txn, log->store->audit, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, st->chain.next_seq);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && n < max;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
                uint64_t seq = st->chain.next_seq;
                uint8_t leaf[MERKLE_HASH_SIZE];
                char why[sizeof(st->why)];

                if (key.mv_size != 8 || be64_get(key.mv_data) != seq)
                        k = verify_fail(st, (int64_t)seq, "line %" PRIu64 " is missing from the store", seq);
                else if (audit_chain_feed(&st->chain, val.mv_data, val.mv_size, why, sizeof(why)) < 0)
                        k = verify_fail(st, (int64_t)seq, "%s", why);
                else {
                        merkle_leaf_hash(val.mv_data, val.mv_size, leaf);
                        if ((k = merkle_frontier_append(&st->tree, leaf)) == 0)
                                k = keep_root(log, txn, st);
                }
                if (k < 0)
                        break;
        }
        mdb_cursor_close(cur);
        if (k < 0)
                return k;
        if (rc == MDB_NOTFOUND)
                return verify_head(log, txn, st);
        return rc && n < max ? store_errno(rc) : 0;
}

/* The key the first checkpoint must be signed by: the first of the
 * stored history, which must be the one line 0 records. */
static int verify_first_key(struct audit_log *log, MDB_txn *txn, struct audit_verify *st)
{
        uint8_t kb[8] = {0};
        MDB_val v;
        json_t *line0;
        const char *vkey;
        int k;

        if ((k = audit_key_at(log, txn, 1, st->key, sizeof(st->key))) < 0 ||
            (k = store_get(txn, log->store->audit, kb, 8, &v)) < 0)
                return k;
        line0 = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        vkey = json_string_value(json_object_get(line0, "verifier_key"));
        k = vkey && strcmp(vkey, st->key) == 0
                    ? 0
                    : verify_fail(st, 0, "the vault's first signing key is not the one line 0 records");
        json_decref(line0);
        return k;
}

/* The root of the lines at a checkpoint's size, kept by the line walk. */
static const uint8_t *verify_root(struct audit_verify *st, uint64_t size)
{
        while (st->roots_checked < st->nroots && st->roots[st->roots_checked].size < size)
                st->roots_checked++;
        return st->roots_checked < st->nroots && st->roots[st->roots_checked].size == size
                       ? st->roots[st->roots_checked].root
                       : NULL;
}

static int verify_one_checkpoint(struct audit_log *log, MDB_txn *txn, struct audit_verify *st, uint64_t size,
                                 const MDB_val *val)
{
        _cleanup_(freep) char *note = strndup(val->mv_data, val->mv_size);
        uint8_t line_hash[AUDIT_HASH_SIZE], stored[MERKLE_HASH_SIZE];
        const uint8_t *root = NULL;
        char why[sizeof(st->why)];
        struct checkpoint c;
        int k = 0;

        if (!note)
                return -ENOMEM;
        if (!st->key[0] && (k = verify_first_key(log, txn, st)) < 0)
                return k;
        if (checkpoint_verify(note, st->key, &c, why, sizeof(why)) < 0)
                return verify_fail(st, (int64_t)size - 1, "%s", why);
        if (c.size != size || size == 0)
                k = verify_fail(st, (int64_t)size - 1,
                                "checkpoint stored as size %" PRIu64 " is for size %" PRIu64, size, c.size);
        else if ((k = audit_line_hash(log, txn, size - 1, line_hash)) < 0)
                ;
        else if (checkpoint_form(&st->forms, &c, (root = verify_root(st, size)), line_hash, why,
                                 sizeof(why)) < 0)
                k = verify_fail(st, (int64_t)size - 1, "%s", why);
        /* The stored tree, which proofs come from, must have the same
         * root as the lines. */
        else if (root && ((k = auditree_root(log->store, txn, size, stored)) < 0 ||
                          sodium_memcmp(stored, root, MERKLE_HASH_SIZE) != 0))
                k = verify_fail(st, (int64_t)size - 1,
                                "the stored Merkle tree's root at size %" PRIu64
                                " is not the root of the lines: the tree was altered in the store",
                                size);
        else if (c.next_key && snprintf(st->key, sizeof(st->key), "%s", c.next_key) >= (int)sizeof(st->key))
                k = -ENAMETOOLONG; /* the hand-over: later checkpoints are signed by the next key */
        checkpoint_done(&c);
        if (k == 0)
                st->checkpoints++;
        return k;
}

/* Checkpoints up to the lines verified; newer ones were signed after the
 * snapshot that ended the line check and are left for the next Verify. */
static int verify_checkpoints(struct audit_log *log, MDB_txn *txn, struct audit_verify *st, size_t max)
{
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        MDB_cursor *cur;
        size_t n = 0;
        int rc, k = 0;

        rc = mdb_cursor_open(txn, log->store->checkpoints, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, st->next_checkpoint);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && n < max;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
                uint64_t size = key.mv_size == 8 ? be64_get(key.mv_data) : 0;

                if (size > st->lines) {
                        /* A checkpoint is written with its lines, so one
                         * beyond this snapshot's trail means lines were cut. */
                        uint64_t stored_next = 0;

                        k = store_meta_get_u64(txn, log->store, "audit.next", &stored_next);
                        if (k == 0 && size > stored_next)
                                k = verify_fail(st, (int64_t)stored_next,
                                                "a signed checkpoint covers %" PRIu64
                                                " lines but the trail has "
                                                "%" PRIu64 ": lines were removed",
                                                size, stored_next);
                        if (k < 0)
                                break;
                        rc = MDB_NOTFOUND;
                        break;
                }
                k = verify_one_checkpoint(log, txn, st, size, &val);
                if (k < 0)
                        break;
                st->next_checkpoint = size + 1;
        }
        mdb_cursor_close(cur);
        if (k < 0)
                return k;
        if (rc == MDB_NOTFOUND)
                return 1;
        return rc && n < max ? store_errno(rc) : 0;
}

int audit_verify_step(struct audit_log *log, MDB_txn *txn, struct audit_verify *st, size_t max_items)
{
        if (!st->lines_done)
                return verify_lines(log, txn, st, max_items);
        /* A checkpoint costs an Ed25519 verification, some 25 lines' worth. */
        return verify_checkpoints(log, txn, st, max_items / 25 ? max_items / 25 : 1);
}
