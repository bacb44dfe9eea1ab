#include "keyadmin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckeys.h"
#include "envelope.h"
#include "keeper-proto.h"
#include "keystore.h"
#include "log.h"
#include "recmeta.h"
#include "records.h"
#include "util.h"

#define IFACE            "io.vaultd.admin"
#define REWRAP_LIMIT_MAX 10000
#define REWRAP_LIMIT_DEF 1000
#define REWRAP_POS       "rewrap.pos" /* versions key to resume from */
#define REWRAP_FOR       "rewrap.for" /* the KEK version the pass moves to */

static int kek_current(struct vault *v, MDB_txn *txn, uint32_t *ret)
{
        uint64_t current;
        int r = store_meta_get_u64(txn, v->store, "kek.current", &current);

        if (r < 0)
                return r;
        if (current == 0 || current >= KEYS_MAX_KEK)
                return -EIO;
        *ret = (uint32_t)current;
        return 0;
}

static void kek_time_name(uint32_t version, char name[32])
{
        snprintf(name, 32, "kek.%u.created", version);
}

/* The highest stored KEK version. */
static int kek_highest(struct vault *v, MDB_txn *txn, uint32_t *ret)
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc = mdb_cursor_open(txn, v->store->keys, &cur);

        if (rc)
                return store_errno(rc);
        rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        mdb_cursor_close(cur);
        if (rc || key.mv_size != 4)
                return rc ? store_errno(rc) : -EIO;
        *ret = be32_get(key.mv_data);
        return 0;
}

int keyadmin_rotate(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint8_t wrapped[KEYS_WRAPPED], vkey[4];
        uint32_t highest = 0, current = 0, next;
        char name[32];
        int r;

        if ((r = kek_highest(v, txn, &highest)) < 0 || (r = kek_current(v, txn, &current)) < 0)
                return r;
        next = highest + 1;
        if (next >= KEYS_MAX_KEK)
                return job_invalid(j, IFACE, "version",
                                   "this vault has had 255 KEK versions, the most it can have: the last "
                                   "one stays current (retiring old ones does not free a version)");
        r = keeper_kek_new(v->keeper, next, wrapped);
        if (r < 0)
                return r;
        be32_put(vkey, next);
        kek_time_name(next, name);
        if ((r = store_put(txn, v->store->keys, vkey, 4, wrapped, KEYS_WRAPPED, MDB_NOOVERWRITE)) < 0 ||
            (r = store_meta_put_u64(txn, v->store, "kek.current", next)) < 0 ||
            (r = store_meta_put_u64(txn, v->store, name, now_realtime_us())) < 0)
                return r;
        j->audit.extra =
                json_pack("{s:I,s:I}", "kek_version", (json_int_t)next, "previous", (json_int_t)current);
        j->reply = json_pack("{s:I,s:I}", "version", (json_int_t)next, "previous", (json_int_t)current);
        return j->reply ? 0 : -ENOMEM;
}

void keyadmin_rotate_committed(struct vault *v, struct job *j)
{
        json_int_t next = json_integer_value(json_object_get(j->reply, "version"));

        /* Stored: from now on new data keys are wrapped by it. Should this
         * fail, the next start makes it current from the store. */
        if (next > 0)
                keeper_kek_use(v->keeper, (uint32_t)next);
}

int keyadmin_rotate_signing(struct vault *v, MDB_txn *txn, struct job *j)
{
        _cleanup_(freep) char *next = NULL;
        uint8_t wrapped[KEYS_SIGN_WRAPPED], pk[32];
        int r;

        /* One rotation at a time: a second one (in this batch, or before
         * the first one's hand-over checkpoint) would replace a key an
         * admin was already told about. */
        if (store_get(txn, v->store->meta, KEYSTORE_SIGN_NEXT, strlen(KEYSTORE_SIGN_NEXT), &(MDB_val){0}) ==
            0)
                return job_invalid(j, IFACE, "key",
                                   "a signing-key rotation is under way: it completes at the next "
                                   "checkpoint (unseal the vault if it is sealed)");
        r = keeper_sign_new(v->keeper, wrapped, pk);
        if (r == -EBUSY)
                return job_invalid(j, IFACE, "key",
                                   "the last signing-key rotation waits for its checkpoint: try again "
                                   "once 'vaultctl audit head' shows the new key");
        if (r < 0 || (r = note_verifier_key(v->audit->origin, pk, &next)) < 0 ||
            (r = audit_key_rotate(v->audit, txn, wrapped)) < 0)
                return r;
        j->audit.extra = json_pack("{s:s,s:s}", "verifier_key", next, "previous", v->audit->vkey);
        j->reply = json_pack("{s:s,s:s}", "verifier_key", next, "previous", v->audit->vkey);
        return j->reply ? 0 : -ENOMEM;
}

void keyadmin_rotate_signing_committed(struct vault *v, struct job *j)
{
        int r;

        (void)j;
        /* Stored: the next checkpoint (forced for this call) is signed by
         * both keys and completes the hand-over. Sealed since (a Seal in
         * the same batch), or already co-signing (an Unseal in it opened
         * the stored key), the keeper co-signs from the stored key once
         * opened; so it does after a restart, should this fail. */
        if (__atomic_load_n(&v->sealed, __ATOMIC_RELAXED) || keeper_next_public(v->keeper, (uint8_t[32]){0}))
                return;
        r = audit_key_rotate_committed(v->audit);
        if (r < 0)
                log_error("cannot start co-signing with the new audit key: %s", strerror(-r));
}

/* A versions key split into its binding; false when it is not one. */
static bool version_binding(const MDB_val *key, struct body_binding *ret, char *buf, size_t cap)
{
        const char *p = key->mv_data;
        size_t cl, il;

        if (key->mv_size < 12 || key->mv_size - 9 >= cap)
                return false;
        memcpy(buf, p, key->mv_size - 9);
        buf[key->mv_size - 9] = '\0';
        cl = strnlen(buf, key->mv_size - 9);
        if (cl + 1 >= key->mv_size - 9)
                return false;
        il = strlen(buf + cl + 1);
        if (cl + 1 + il != key->mv_size - 9 || p[key->mv_size - 9] != '\0')
                return false;
        *ret = (struct body_binding){buf, buf + cl + 1, be64_get((const uint8_t *)p + key->mv_size - 8)};
        return true;
}

/* Re-wraps one stored version in place when its KEK is older than current.
 * Returns 1 when it did, 0 when there was nothing to do. */
static int rewrap_one(struct vault *v, MDB_txn *txn, const MDB_val *key, const MDB_val *val,
                      uint32_t current)
{
        const uint8_t *p = val->mv_data;
        char buf[NAME_COLLECTION_MAX + NAME_ID_MAX + 4];
        struct body_binding b;
        struct version_meta m;
        uint8_t *env, *rec;
        size_t env_len, hlen;
        int kv, r;

        if (recmeta_version_decode(p, val->mv_size, &m, &hlen) < 0 || recmeta_tombstone(&m) ||
            recmeta_disposed(&m))
                return 0;
        kv = envelope_kek(p + hlen, val->mv_size - hlen);
        if (kv < 0 || !version_binding(key, &b, buf, sizeof(buf)))
                return -EIO;
        if ((uint32_t)kv >= current)
                return 0;
        /* A body sealed anew (the first envelope format) is bound to the
         * header it keeps, when that header binds. */
        struct envelope_meta em = {p, hlen};
        r = envelope_rewrap(v->keeper, &b, recmeta_legacy(&m) ? NULL : &em, p + hlen, val->mv_size - hlen,
                            &env, &env_len);
        if (r < 0)
                return r;
        rec = malloc(hlen + env_len);
        if (!rec) {
                free(env);
                return -ENOMEM;
        }
        memcpy(rec, p, hlen);
        memcpy(rec + hlen, env, env_len);
        free(env);
        r = store_put(txn, v->store->versions, key->mv_data, key->mv_size, rec, hlen + env_len, 0);
        free(rec);
        return r < 0 ? r : 1;
}

/* Where this pass resumes: a pass that moves to an older KEK than the
 * current one (a rotation since) starts over from the first version. */
static int rewrap_start(struct vault *v, MDB_txn *txn, uint32_t current, MDB_cursor *cur, MDB_val *key,
                        MDB_val *val)
{
        uint64_t pass_for = 0;
        MDB_val pos;
        int rc;

        if (store_meta_get_u64(txn, v->store, REWRAP_FOR, &pass_for) < 0 || pass_for != current ||
            store_get(txn, v->store->meta, REWRAP_POS, strlen(REWRAP_POS), &pos) < 0)
                return mdb_cursor_get(cur, key, val, MDB_FIRST);
        *key = pos;
        rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
        return rc;
}

int keyadmin_rewrap(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint64_t limit = REWRAP_LIMIT_DEF, done = 0, scanned = 0;
        MDB_cursor *cur;
        MDB_val key, val;
        uint32_t current;
        int rc, r;

        if ((r = param_uint(j, IFACE, "limit", false, REWRAP_LIMIT_MAX, &limit, NULL)) != 0)
                return r;
        if (limit == 0)
                return job_invalid(j, IFACE, "limit", "must be an integer from 1 to 10000");
        if ((r = kek_current(v, txn, &current)) < 0)
                return r;
        rc = mdb_cursor_open(txn, v->store->versions, &cur);
        if (rc)
                return store_errno(rc);
        r = 0;
        for (rc = rewrap_start(v, txn, current, cur, &key, &val); rc == 0 && done < limit;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                scanned++;
                r = rewrap_one(v, txn, &key, &val, current);
                if (r < 0)
                        break;
                done += (uint64_t)r;
        }
        if (r >= 0 && rc == 0) /* stopped at the limit: resume at this key */
                r = store_put(txn, v->store->meta, REWRAP_POS, strlen(REWRAP_POS), key.mv_data, key.mv_size,
                              0);
        else if (r >= 0 && rc != MDB_NOTFOUND) /* MDB_NOTFOUND: the end, this pass is complete */
                r = store_errno(rc);
        mdb_cursor_close(cur);
        if (r >= 0)
                r = store_meta_put_u64(txn, v->store, REWRAP_FOR, current);
        if (r < 0)
                return r;
        /* The pass is complete: the collections' keys (a few) go last. */
        if (rc == MDB_NOTFOUND && (r = ckeys_rewrap(v, txn, current)) < 0)
                return r;
        if (rc == MDB_NOTFOUND) {
                done += (uint64_t)r;
                mdb_del(txn, v->store->meta, &(MDB_val){strlen(REWRAP_POS), REWRAP_POS}, NULL);
        }
        j->audit.extra =
                json_pack("{s:I,s:I}", "kek_version", (json_int_t)current, "rewrapped", (json_int_t)done);
        j->reply =
                json_pack("{s:I,s:I,s:b,s:I}", "rewrapped", (json_int_t)done, "scanned", (json_int_t)scanned,
                          "done", rc == MDB_NOTFOUND, "version", (json_int_t)current);
        return j->reply ? 0 : -ENOMEM;
}

/* How many stored data keys each KEK version wraps. */
static int count_deks(struct vault *v, MDB_txn *txn, uint64_t counts[KEYS_MAX_KEK])
{
        MDB_cursor *cur;
        MDB_val key, val;
        int rc = mdb_cursor_open(txn, v->store->versions, &cur);

        if (rc)
                return store_errno(rc);
        memset(counts, 0, KEYS_MAX_KEK * sizeof(counts[0]));
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct version_meta m;
                size_t hlen;
                int kv;

                if (recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0 ||
                    recmeta_tombstone(&m) || recmeta_disposed(&m))
                        continue;
                kv = envelope_kek((const uint8_t *)val.mv_data + hlen, val.mv_size - hlen);
                if (kv > 0)
                        counts[kv]++;
        }
        mdb_cursor_close(cur);
        /* Collections' own keys are wrapped like data keys (ckeys.h). */
        return rc == MDB_NOTFOUND ? ckeys_count(v, txn, counts) : store_errno(rc);
}

int keyadmin_list(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint64_t *counts = calloc(KEYS_MAX_KEK, sizeof(*counts)), created;
        json_t *list = json_array();
        MDB_cursor *cur;
        MDB_val key, val;
        uint32_t current;
        char name[32], when[TIME_STRING_MAX];
        int rc, r = -ENOMEM;

        if (!counts || !list || (r = kek_current(v, txn, &current)) < 0 ||
            (r = count_deks(v, txn, counts)) < 0 ||
            (r = store_errno(mdb_cursor_open(txn, v->store->keys, &cur))) < 0)
                goto out;
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                uint32_t version = key.mv_size == 4 ? be32_get(key.mv_data) : 0;

                if (version == 0 || version >= KEYS_MAX_KEK)
                        continue;
                kek_time_name(version, name);
                /* The first KEK was made with the vault (no record of when). */
                if (store_meta_get_u64(txn, v->store, name, &created) < 0)
                        created = 0;
                time_format_us(created, when);
                json_array_append_new(list, json_pack("{s:I,s:b,s:s?,s:I}", "version", (json_int_t)version,
                                                      "current", version == current, "created",
                                                      created ? when : NULL, "data_keys",
                                                      (json_int_t)counts[version]));
        }
        mdb_cursor_close(cur);
        r = rc == MDB_NOTFOUND ? 0 : store_errno(rc);
        if (r == 0) {
                j->reply = json_pack("{s:O}", "keys", list);
                r = j->reply ? 0 : -ENOMEM;
        }
out:
        json_decref(list);
        free(counts);
        return r;
}

int keyadmin_retire(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint64_t version, *counts = NULL;
        uint32_t current;
        uint8_t vkey[4];
        char name[32];
        int r;

        if ((r = param_uint(j, IFACE, "version", true, KEYS_MAX_KEK - 1, &version, NULL)) != 0)
                return r;
        if ((r = kek_current(v, txn, &current)) < 0)
                return r;
        j->audit.extra = json_pack("{s:I}", "kek_version", (json_int_t)version);
        counts = calloc(KEYS_MAX_KEK, sizeof(*counts));
        if (!counts)
                return -ENOMEM;
        r = count_deks(v, txn, counts);
        if (r == 0 && version == current)
                r = job_fail(j, IFACE ".KeyInUse",
                             json_pack("{s:I,s:I,s:s}", "version", (json_int_t)version, "data_keys",
                                       (json_int_t)counts[version], "reason",
                                       "it is the current KEK: rotate first"));
        else if (r == 0 && counts[version] > 0)
                r = job_fail(j, IFACE ".KeyInUse",
                             json_pack("{s:I,s:I,s:s}", "version", (json_int_t)version, "data_keys",
                                       (json_int_t)counts[version], "reason",
                                       "it still wraps data keys: run 'vaultctl key rewrap' first"));
        free(counts);
        if (r != 0)
                return r;
        be32_put(vkey, (uint32_t)version);
        kek_time_name((uint32_t)version, name);
        r = store_errno(mdb_del(txn, v->store->keys, &(MDB_val){4, vkey}, NULL));
        if (r == -ENOENT)
                return job_invalid(j, IFACE, "version", "no such KEK version");
        if (r < 0)
                return r;
        mdb_del(txn, v->store->meta, &(MDB_val){strlen(name), name}, NULL);
        j->reply = json_pack("{s:I}", "version", (json_int_t)version);
        return j->reply ? 0 : -ENOMEM;
}

void keyadmin_retire_committed(struct vault *v, struct job *j)
{
        json_int_t version = json_integer_value(json_object_get(j->reply, "version"));

        if (version > 0)
                keeper_kek_drop(v->keeper, (uint32_t)version);
}

static int passphrase_param(struct job *j, const char **ret, size_t *ret_len)
{
        json_t *p = json_object_get(j->call.parameters, "passphrase");

        if (!json_is_string(p) || json_string_length(p) == 0)
                return job_invalid(j, IFACE, "passphrase", "is required (a non-empty string)");
        *ret = json_string_value(p);
        *ret_len = json_string_length(p);
        return 0;
}

int keyadmin_unseal(struct vault *v, MDB_txn *txn, struct job *j)
{
        uint64_t now = now_monotonic_us();
        const char *pass = NULL;
        size_t len = 0;
        int r;

        if ((r = passphrase_param(j, &pass, &len)) != 0)
                return r;
        if (!__atomic_load_n(&v->sealed, __ATOMIC_RELAXED))
                goto done;
        if (now < v->unseal_not_before_us)
                return job_fail(j, IFACE ".TryLater",
                                json_pack("{s:I}", "retry_after",
                                          (json_int_t)((v->unseal_not_before_us - now + 999999) / 1000000)));
        r = keeper_unseal(v->keeper, pass, len);
        if (r == -EAGAIN) /* the keeper's own wait, which ends just before ours */
                return job_fail(j, IFACE ".TryLater", json_pack("{s:I}", "retry_after", (json_int_t)1));
        if (r == -EKEYREJECTED) {
                uint64_t delay = keeper_unseal_delay_s(++v->unseal_failures);

                /* From the refusal, not the attempt: the check itself takes
                 * a while (Argon2id), longer than a short delay on a busy
                 * machine. */
                v->unseal_not_before_us = now_monotonic_us() + delay * 1000000;
                j->audit.extra = json_pack("{s:I}", "failures", (json_int_t)v->unseal_failures);
                return job_fail(j, IFACE ".WrongPassphrase",
                                json_pack("{s:I}", "retry_after", (json_int_t)delay));
        }
        if (r < 0 || (r = keystore_open(v->keeper, v->store, txn)) < 0 ||
            (r = audit_keys_refresh(v->audit)) < 0)
                return r;
        v->unseal_failures = 0;
        __atomic_store_n(&v->sealed, false, __ATOMIC_RELAXED);
done:
        j->reply = json_pack("{s:s}", "state", "serving");
        return j->reply ? 0 : -ENOMEM;
}

int keyadmin_seal(struct vault *v, MDB_txn *txn, struct job *j)
{
        int r;

        (void)txn;
        if (!__atomic_load_n(&v->sealed, __ATOMIC_RELAXED)) {
                r = keeper_seal(v->keeper);
                if (r == -EINVAL)
                        return job_invalid(j, IFACE, "key",
                                           "the root key file is not sealed by a passphrase, so nothing "
                                           "could unseal the vault again");
                if (r < 0)
                        return r;
                __atomic_store_n(&v->sealed, true, __ATOMIC_RELAXED);
        }
        j->reply = json_pack("{s:s}", "state", "sealed");
        return j->reply ? 0 : -ENOMEM;
}
