#include "keystore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keeper-proto.h"
#include "util.h"

int keystore_create(struct keeper *kp, struct vault_store *s, MDB_txn *txn, const char *origin)
{
        struct keys_material m;
        uint8_t vkey[4];
        int r;

        r = keeper_create(kp, origin, &m);
        if (r < 0)
                return r;
        be32_put(vkey, 1);
        if ((r = store_put(txn, s->keys, vkey, 4, m.kek_wrapped, KEYS_WRAPPED, MDB_NOOVERWRITE)) < 0 ||
            (r = store_meta_put_u64(txn, s, "kek.current", 1)) < 0 ||
            (r = store_put(txn, s->meta, "sign.key", 8, m.sign_wrapped, KEYS_SIGN_WRAPPED,
                           MDB_NOOVERWRITE)) < 0)
                return r;
        return store_put(txn, s->meta, "sign.pub", 8, m.pk, sizeof(m.pk), MDB_NOOVERWRITE);
}

/* Reads every stored KEK (at most KEYS_MAX_KEK) into keks. */
static int read_keks(struct vault_store *s, MDB_txn *txn, struct keeper_kek *keks, size_t *ret_n)
{
        MDB_cursor *cur;
        MDB_val key, val;
        size_t n = 0;
        int rc, r = 0;

        rc = mdb_cursor_open(txn, s->keys, &cur);
        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size != 4 || val.mv_size != KEYS_WRAPPED || n == KEYS_MAX_KEK) {
                        r = -EIO;
                        break;
                }
                keks[n].version = be32_get(key.mv_data);
                memcpy(keks[n++].wrapped, val.mv_data, KEYS_WRAPPED);
        }
        mdb_cursor_close(cur);
        if (r == 0 && rc != MDB_NOTFOUND)
                r = store_errno(rc);
        *ret_n = n;
        return r;
}

int keystore_open(struct keeper *kp, struct vault_store *s, MDB_txn *txn)
{
        struct keeper_kek *keks = calloc(KEYS_MAX_KEK, sizeof(*keks));
        char origin[KEEPER_NAME_MAX + 1];
        uint8_t pk[32];
        uint64_t current;
        size_t n = 0;
        MDB_val sign, o, pub, next = {0};
        int r;

        if (!keks)
                return -ENOMEM;
        if ((r = read_keks(s, txn, keks, &n)) < 0 ||
            (r = store_meta_get_u64(txn, s, "kek.current", &current)) < 0 ||
            (r = store_get(txn, s->meta, "sign.key", 8, &sign)) < 0 ||
            (r = store_get(txn, s->meta, "audit.origin", 12, &o)) < 0 ||
            (r = store_get(txn, s->meta, "sign.pub", 8, &pub)) < 0) {
                if (r == -ENOENT) /* a record is missing, not the key file */
                        r = -ENOKEY;
                goto out;
        }
        if (current == 0 || current >= KEYS_MAX_KEK || sign.mv_size != KEYS_SIGN_WRAPPED ||
            o.mv_size > KEEPER_NAME_MAX || pub.mv_size != sizeof(pk)) {
                r = -EIO;
                goto out;
        }
        /* A signing-key rotation under way: the next key co-signs. */
        if ((r = store_get(txn, s->meta, KEYSTORE_SIGN_NEXT, strlen(KEYSTORE_SIGN_NEXT), &next)) == -ENOENT)
                next = (MDB_val){0};
        else if (r < 0 || next.mv_size != KEYS_SIGN_WRAPPED) {
                r = r < 0 ? r : -EIO;
                goto out;
        }
        memcpy(origin, o.mv_data, o.mv_size);
        origin[o.mv_size] = '\0';
        r = keeper_open(kp, origin, (uint32_t)current, sign.mv_data, next.mv_data, keks, n);
        if (r == -EKEYREVOKED) /* sealed: the stored public key serves verifiers meanwhile */
                keeper_set_public(kp, pub.mv_data);
        if (r == 0) {
                keeper_public(kp, pk);
                if (memcmp(pk, pub.mv_data, sizeof(pk)) != 0)
                        r = -EBADMSG;
        }
out:
        free(keks);
        return r;
}

int keystore_rekey(struct vault_keys *old, struct vault_keys *new, struct vault_store *s, MDB_txn *txn,
                   size_t *ret_n)
{
        struct keeper_kek *keks = calloc(KEYS_MAX_KEK, sizeof(*keks));
        uint32_t *versions = calloc(KEYS_MAX_KEK, sizeof(*versions));
        uint8_t(*wrapped)[KEYS_WRAPPED] = calloc(KEYS_MAX_KEK, KEYS_WRAPPED);
        uint8_t sign_new[KEYS_SIGN_WRAPPED], next_new[KEYS_SIGN_WRAPPED], vkey[4];
        uint64_t current;
        size_t n = 0, m = 0;
        MDB_val sign, next = {0};
        int r = keks && versions && wrapped ? 0 : -ENOMEM;

        if (r == 0 && (r = read_keks(s, txn, keks, &n)) == 0 &&
            (r = store_meta_get_u64(txn, s, "kek.current", &current)) == 0 &&
            (r = store_get(txn, s->meta, "sign.key", 8, &sign)) == 0 && sign.mv_size != KEYS_SIGN_WRAPPED)
                r = -EIO;
        /* Every stored KEK and the signing key must open with the old root. */
        for (size_t i = 0; r == 0 && i < n; i++)
                r = keys_add_kek(old, keks[i].version, keks[i].wrapped);
        if (r == 0 && (r = keys_set_current(old, (uint32_t)current)) == 0)
                r = keys_open_signer(old, sign.mv_data);
        if (r == 0 && store_get(txn, s->meta, KEYSTORE_SIGN_NEXT, strlen(KEYSTORE_SIGN_NEXT), &next) == 0)
                r = next.mv_size == KEYS_SIGN_WRAPPED ? keys_next_open(old, next.mv_data) : -EIO;
        if (r == 0)
                r = keys_wrap_under(old, new, versions, wrapped, &m, sign_new, next_new);
        for (size_t i = 0; r == 0 && i < m; i++) {
                be32_put(vkey, versions[i]);
                r = store_put(txn, s->keys, vkey, 4, wrapped[i], KEYS_WRAPPED, 0);
        }
        if (r == 0)
                r = store_put(txn, s->meta, "sign.key", 8, sign_new, KEYS_SIGN_WRAPPED, 0);
        if (r == 0 && next.mv_data)
                r = store_put(txn, s->meta, KEYSTORE_SIGN_NEXT, strlen(KEYSTORE_SIGN_NEXT), next_new,
                              KEYS_SIGN_WRAPPED, 0);
        free(keks);
        free(versions);
        free(wrapped);
        if (r == 0)
                *ret_n = m;
        return r;
}
