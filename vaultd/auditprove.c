#include "auditprove.h"

#include <errno.h>
#include <string.h>

#include "auditproof.h"
#include "auditree.h"
#include "cosignatures.h"
#include "recmeta.h"
#include "util.h"

#define IFACE "io.vaultd.audit"

/* The stored checkpoint of size size, with the witnesses' cosignatures
 * of it, as a JSON string, or null. */
static json_t *checkpoint_at(struct vault *v, MDB_txn *txn, uint64_t size)
{
        _cleanup_(freep) char *note = NULL;
        uint8_t key[8];
        MDB_val val;
        size_t len;

        be64_put(key, size);
        if (store_get(txn, v->store->checkpoints, key, 8, &val) < 0 ||
            cosign_note(v->store, txn, size, val.mv_data, val.mv_size, &note, &len) < 0)
                return json_null();
        return json_stringn(note, len);
}

static int set_root(struct vault *v, MDB_txn *txn, json_t *reply, const char *name, uint64_t size)
{
        uint8_t root[MERKLE_HASH_SIZE];
        char b64[MERKLE_HASH_B64_SIZE];
        int r = auditree_root(v->store, txn, size, root);

        if (r < 0)
                return r == -ENOENT ? -EIO : r;
        auditproof_hash_b64(root, b64);
        return json_object_set_new(reply, name, json_string(b64)) < 0 ? -ENOMEM : 0;
}

/* {"seq", "line", "inclusion"} of line seq in the tree of size lines. */
static int proven_line(struct vault *v, MDB_txn *txn, uint64_t seq, uint64_t size, json_t *lines)
{
        uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE], key[8];
        MDB_val val;
        int n;

        be64_put(key, seq);
        if ((n = store_get(txn, v->store->audit, key, 8, &val)) < 0 ||
            (n = auditree_prove_inclusion(v->store, txn, seq, size, proof)) < 0)
                return n == -ENOENT ? -EIO : n;
        return json_array_append_new(lines,
                                     json_pack("{s:I,s:s%,s:o}", "seq", (json_int_t)seq, "line",
                                               (const char *)val.mv_data, val.mv_size, "inclusion",
                                               auditproof_hashes_json((const void *)proof, (size_t)n))) < 0
                       ? -ENOMEM
                       : 0;
}

/* The lines that wrote each version of a record (their seq is in the
 * versions' headers), from version from on, at most a page of them. */
static int record_lines(struct vault *v, MDB_txn *txn, struct job *j, uint64_t size, json_t *lines)
{
        struct record_name name = {0};
        uint8_t key[RECMETA_KEY_MAX];
        uint64_t from = 1;
        size_t klen, plen;
        MDB_cursor *cur;
        MDB_val k, val;
        const char *collection, *id;
        int rc, r;

        if ((r = param_string(j, IFACE, "collection", true, &collection)) != 0 ||
            (r = param_string(j, IFACE, "id", true, &id)) != 0 ||
            (r = param_uint(j, IFACE, "from_version", false, INT64_MAX, &from, NULL)) != 0)
                return r;
        if (!name_collection_valid(collection))
                return job_invalid(j, IFACE, "collection", "is not a collection name");
        if (!name_id_valid(id))
                return job_invalid(j, IFACE, "id", "is not a record id");
        j->audit.collection = collection;
        j->audit.id = id;
        snprintf(name.collection, sizeof(name.collection), "%s", collection);
        snprintf(name.id, sizeof(name.id), "%s", id);
        name.version = from;
        klen = recmeta_key_build(&name, true, key);
        plen = klen - 8; /* collection NUL id NUL */
        if ((rc = mdb_cursor_open(txn, v->store->versions, &cur)) != 0)
                return store_errno(rc);
        k = (MDB_val){klen, key};
        for (rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
                struct version_meta m;
                size_t hlen;

                if (k.mv_size != klen || memcmp(k.mv_data, key, plen) != 0)
                        break;
                if (recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0 || recmeta_legacy(&m) ||
                    m.seq >= size)
                        continue; /* unbound (Verify names it), or not yet in the tree asked for */
                if (json_array_size(lines) == PROVE_RECORD_LINES_MAX) {
                        json_object_set_new(j->reply, "next_version",
                                            json_integer((json_int_t)be64_get((uint8_t *)k.mv_data + plen)));
                        break;
                }
                r = proven_line(v, txn, m.seq, size, lines);
        }
        mdb_cursor_close(cur);
        if (r != 0)
                return r;
        return rc && rc != MDB_NOTFOUND ? store_errno(rc) : 0;
}

static int consistency(struct vault *v, MDB_txn *txn, struct job *j, uint64_t old_size, uint64_t size)
{
        uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
        int n, r;

        if (old_size == 0 || old_size > size)
                return job_invalid(j, IFACE, "old_size", "must be from 1 to size");
        n = auditree_prove_consistency(v->store, txn, old_size, size, proof);
        if (n < 0)
                return n == -ENOENT ? -EIO : n;
        if ((r = set_root(v, txn, j->reply, "old_root", old_size)) < 0)
                return r;
        json_object_set_new(j->reply, "old_size", json_integer((json_int_t)old_size));
        json_object_set_new(j->reply, "old_checkpoint", checkpoint_at(v, txn, old_size));
        json_object_set_new(j->reply, "consistency", auditproof_hashes_json((const void *)proof, (size_t)n));
        return 0;
}

/* The tree size: as asked, else the last signed checkpoint's. */
static int prove_size(struct vault *v, MDB_txn *txn, struct job *j, uint64_t *ret)
{
        bool has = false;
        int r = param_uint(j, IFACE, "size", false, INT64_MAX, ret, &has);

        if (r != 0)
                return r;
        if (!has && (r = store_meta_get_u64(txn, v->store, META_AUDIT_CP_SIZE, ret)) < 0)
                return r == -ENOENT ? job_invalid(j, IFACE, "size", "no checkpoint is signed yet: give one")
                                    : r;
        if (*ret == 0 || *ret > v->audit->pending_next_seq)
                return job_invalid(j, IFACE, "size", "must be from 1 to the number of lines in the trail");
        if (!v->audit->tree)
                return -EIO;
        return 0;
}

int auditprove_run(struct vault *v, MDB_txn *txn, struct job *j)
{
        json_t *params = j->call.parameters, *lines = NULL;
        uint64_t size, seq = 0, old_size = 0;
        char vkey[512];
        json_t *coll = json_object_get(params, "collection");
        bool has_seq = false, has_old = false, by_record = coll && !json_is_null(coll);
        int r;

        if ((r = param_uint(j, IFACE, "seq", false, INT64_MAX, &seq, &has_seq)) != 0 ||
            (r = param_uint(j, IFACE, "old_size", false, INT64_MAX, &old_size, &has_old)) != 0 ||
            (r = prove_size(v, txn, j, &size)) != 0)
                return r;
        if (has_seq + has_old + by_record != 1)
                return job_invalid(j, IFACE, "seq", "give one of seq, old_size, or collection with id");
        if (has_seq && seq >= size)
                return job_invalid(j, IFACE, "seq", "is not a line of the tree of size lines");
        /* The key that signs the checkpoint of that size. */
        if ((r = audit_key_at(v->audit, txn, size, vkey, sizeof(vkey))) < 0)
                return r;
        j->reply = json_pack("{s:I,s:s,s:s,s:o}", "size", (json_int_t)size, "origin", v->audit->origin,
                             "verifier_key", vkey, "checkpoint", checkpoint_at(v, txn, size));
        if (!j->reply || (r = set_root(v, txn, j->reply, "root", size)) < 0)
                return j->reply ? r : -ENOMEM;
        j->audit.extra = json_pack("{s:I}", "size", (json_int_t)size);
        if (has_old) {
                json_object_set_new(j->audit.extra, "old_size", json_integer((json_int_t)old_size));
                return consistency(v, txn, j, old_size, size);
        }
        lines = json_array();
        json_object_set_new(j->reply, "lines", lines);
        if (has_seq) {
                json_object_set_new(j->audit.extra, "seq", json_integer((json_int_t)seq));
                return proven_line(v, txn, seq, size, lines);
        }
        return record_lines(v, txn, j, size, lines);
}
