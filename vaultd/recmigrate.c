#include "recmigrate.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "recmeta.h"
#include "util.h"

#define UPGRADE_FROM          1
#define UPGRADE_NEXT          "upgrade.next"  /* the audit line to resume from */
#define UPGRADE_BOUND         "upgrade.bound" /* versions bound so far */
#define UPGRADE_LINES_PER_TXN 5000
/* Each transaction tells systemd to wait this much longer for start-up. */
#define UPGRADE_EXTEND_USEC (60ull * 1000000u)

/* Binds version n, which line metadata lm says it wrote, when it is still
 * of format 1 and agrees with the line; its head takes the line's time.
 * Returns 1 when bound, 0 when left as it was. */
static int bind_version(struct vault *v, MDB_txn *txn, const struct record_name *n,
                        const struct version_meta *lm)
{
        uint8_t key[RECMETA_KEY_MAX], head[RECMETA_HEAD_SIZE], *rec;
        size_t klen = recmeta_key_build(n, true, key), hlen, env_len;
        struct version_meta m;
        struct record_head h;
        MDB_val val;
        int r = store_get(txn, v->store->versions, key, klen, &val);

        if (r < 0)
                return r == -ENOENT ? 0 : r;
        if (recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0 || !recmeta_legacy(&m) ||
            recmeta_tombstone(&m) != recmeta_tombstone(lm) || m.uid != lm->uid || m.size != lm->size)
                return 0;
        env_len = val.mv_size - hlen;
        rec = malloc(RECMETA_HEADER + env_len);
        if (!rec)
                return -ENOMEM;
        recmeta_version_encode(lm, rec);
        memcpy(rec + RECMETA_HEADER, (const uint8_t *)val.mv_data + hlen, env_len);
        r = store_put(txn, v->store->versions, key, klen, rec, RECMETA_HEADER + env_len, 0);
        free(rec);
        if (r < 0)
                return r;
        r = store_get(txn, v->store->heads, key, klen - 9, &val);
        if (r == -ENOENT || (r == 0 && recmeta_head_decode(val.mv_data, val.mv_size, &h) < 0))
                return 1; /* Verify names it */
        if (r < 0)
                return r;
        if (n->version == 1)
                h.created_us = lm->time_us;
        if (n->version == h.version)
                h.updated_us = lm->time_us;
        recmeta_head_encode(&h, head);
        r = store_put(txn, v->store->heads, key, klen - 9, head, sizeof(head), 0);
        return r < 0 ? r : 1;
}

struct upgrade {
        uint64_t next;  /* the audit line to resume from */
        uint64_t bound; /* versions bound so far */
        uint64_t unbound;
        bool done; /* the trail's end was reached */
};

/* Up to UPGRADE_LINES_PER_TXN lines from u->next on. */
static int upgrade_chunk(struct vault *v, MDB_txn *txn, struct upgrade *u)
{
        uint8_t kb[8];
        MDB_val key = {8, kb}, val;
        MDB_cursor *cur;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, v->store->audit, &cur);
        if (rc)
                return store_errno(rc);
        be64_put(kb, u->next);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && n < UPGRADE_LINES_PER_TXN;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT), n++) {
                uint64_t seq = key.mv_size == 8 ? be64_get(key.mv_data) : 0;
                struct record_name name;
                struct version_meta lm;

                if (key.mv_size != 8) {
                        r = -EIO;
                        break;
                }
                if (recmeta_line_may_write(val.mv_data, val.mv_size) &&
                    recmeta_line_parse(val.mv_data, val.mv_size, seq, &name, &lm) == 0) {
                        r = bind_version(v, txn, &name, &lm);
                        if (r < 0)
                                break;
                        u->bound += (uint64_t)r;
                }
                u->next = seq + 1;
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        if (rc && rc != MDB_NOTFOUND)
                return store_errno(rc);
        u->done = rc == MDB_NOTFOUND;
        if ((r = store_meta_put_u64(txn, v->store, UPGRADE_NEXT, u->next)) < 0 ||
            (r = store_meta_put_u64(txn, v->store, UPGRADE_BOUND, u->bound)) < 0)
                return r;
        return 0;
}

/* Versions no line bound: still of format 1. */
static int count_unbound(struct vault *v, MDB_txn *txn, uint64_t *ret)
{
        MDB_cursor *cur;
        MDB_val key, val;
        uint64_t n = 0;
        int rc = mdb_cursor_open(txn, v->store->versions, &cur);

        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct version_meta m;
                size_t hlen;

                if (recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0 || recmeta_legacy(&m))
                        n++;
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
                return store_errno(rc);
        *ret = n;
        return 0;
}

/* The last transaction: format 2, and the line that records the upgrade
 * (vaultd itself, role "system", as for vault.init). */
static int upgrade_finish(struct vault *v, MDB_txn *txn, struct upgrade *u)
{
        struct passwd *pw = getpwuid(getuid());
        json_t *extra;
        int r;

        if ((r = count_unbound(v, txn, &u->unbound)) < 0 ||
            (r = store_meta_put_u64(txn, v->store, "format", STORE_FORMAT_VERSION)) < 0)
                return r;
        mdb_del(txn, v->store->meta, &(MDB_val){strlen(UPGRADE_NEXT), UPGRADE_NEXT}, NULL);
        mdb_del(txn, v->store->meta, &(MDB_val){strlen(UPGRADE_BOUND), UPGRADE_BOUND}, NULL);
        extra = json_pack("{s:i,s:i,s:I,s:I}", "from_format", UPGRADE_FROM, "format", STORE_FORMAT_VERSION,
                          "bound", (json_int_t)u->bound, "unbound", (json_int_t)u->unbound);
        struct audit_entry e = {
                .time_us = now_realtime_us(),
                .actor = {getuid(), getgid(), getpid(), pw ? pw->pw_name : NULL, "system"},
                .op = "vault.upgrade",
                .version = -1,
                .result = "ok",
                .extra = extra,
        };
        audit_txn_begin(v->audit);
        r = extra ? audit_append(v->audit, txn, &e, NULL) : -ENOMEM;
        json_decref(extra);
        return r;
}

static int read_state(struct vault *v, uint64_t *format, uint64_t *next, uint64_t *bound)
{
        MDB_txn *txn;
        int r = store_begin(v->store, false, &txn);

        if (r < 0)
                return r;
        r = store_meta_get_u64(txn, v->store, "format", format);
        if (store_meta_get_u64(txn, v->store, UPGRADE_NEXT, next) < 0)
                *next = 0;
        if (store_meta_get_u64(txn, v->store, UPGRADE_BOUND, bound) < 0)
                *bound = 0;
        mdb_txn_abort(txn);
        return r == -ENOENT ? -EIO : r;
}

/* Runs step in a write transaction of its own; when the map is full,
 * grows it and runs the step again from the same state. */
static int in_write_txn(struct vault *v, struct upgrade *u,
                        int (*step)(struct vault *, MDB_txn *, struct upgrade *))
{
        for (;;) {
                struct upgrade attempt = *u;
                MDB_txn *txn;
                int r = store_begin(v->store, true, &txn);

                if (r < 0)
                        return r;
                r = step(v, txn, &attempt);
                if (r == 0)
                        r = store_commit(txn);
                else
                        mdb_txn_abort(txn);
                if (r == -ENOBUFS && (r = store_grow(v->store)) == 0)
                        continue;
                if (r == 0)
                        *u = attempt;
                return r;
        }
}

int recmigrate_run(struct vault *v, uint64_t *ret_bound, uint64_t *ret_unbound)
{
        struct upgrade u = {0};
        uint64_t format;
        int r = read_state(v, &format, &u.next, &u.bound);

        if (r < 0)
                return r;
        if (format == STORE_FORMAT_VERSION)
                return 0;
        if (format > STORE_FORMAT_VERSION)
                return -EPROTONOSUPPORT;
        if (format != UPGRADE_FROM)
                return -EIO;
        while (r == 0 && !u.done) {
                r = in_write_txn(v, &u, upgrade_chunk);
                sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=upgrading the store: audit line %" PRIu64,
                           (unsigned long long)UPGRADE_EXTEND_USEC, u.next);
        }
        if (r == 0)
                r = in_write_txn(v, &u, upgrade_finish);
        if (r < 0)
                return r;
        audit_txn_commit(v->audit);
        *ret_bound = u.bound;
        *ret_unbound = u.unbound;
        return 1;
}
