/* Cosignatures of checkpoints (vaultd/cosignatures.h). */
#include "cosignatures.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cosign.h"
#include "note.h"
#include "util.h"

#define IFACE "io.vaultd.audit"
/* be64(size) key id(4) name */
#define COSIGN_KEY_MAX (8 + 4 + 256)

struct cosign_key {
        uint8_t bytes[COSIGN_KEY_MAX];
        size_t len;
};

static int cosign_key(uint64_t size, const struct note_sig *s, struct cosign_key *ret)
{
        size_t nlen = strlen(s->name);

        if (nlen > COSIGN_KEY_MAX - 12)
                return -ENAMETOOLONG;
        be64_put(ret->bytes, size);
        memcpy(ret->bytes + 8, s->id, 4);
        memcpy(ret->bytes + 12, s->name, nlen);
        ret->len = 12 + nlen;
        return 0;
}

int cosign_note(struct vault_store *s, MDB_txn *txn, uint64_t size, const char *note, size_t len, char **ret,
                size_t *ret_len)
{
        uint8_t prefix[8];
        MDB_cursor *cur;
        MDB_val k = {8, prefix}, val;
        char *buf = NULL;
        size_t blen = 0;
        FILE *f;
        int rc;

        be64_put(prefix, size);
        if ((rc = mdb_cursor_open(txn, s->cosignatures, &cur)) != 0)
                return store_errno(rc);
        f = open_memstream(&buf, &blen);
        if (!f) {
                mdb_cursor_close(cur);
                return -ENOMEM;
        }
        fwrite(note, 1, len, f);
        for (rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
             rc == 0 && k.mv_size > 8 && memcmp(k.mv_data, prefix, 8) == 0;
             rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
                fwrite(val.mv_data, 1, val.mv_size, f);
                fputc('\n', f);
        }
        mdb_cursor_close(cur);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        if (rc && rc != MDB_NOTFOUND) {
                free(buf);
                return store_errno(rc);
        }
        *ret = buf;
        *ret_len = blen;
        return 0;
}

static int unknown_checkpoint(struct job *j, uint64_t size, const char *reason)
{
        return job_fail(j, IFACE ".UnknownCheckpoint",
                        json_pack("{s:I,s:s}", "size", (json_int_t)size, "reason", reason));
}

/* Whether s is one of the stored checkpoint's own signature lines. */
static bool own_signature(const struct note *stored, const struct note_sig *s)
{
        for (size_t i = 0; i < stored->nsigs; i++) {
                const struct note_sig *o = &stored->sigs[i];

                if (strcmp(o->name, s->name) == 0 && memcmp(o->id, s->id, 4) == 0 &&
                    o->sig_len == s->sig_len && memcmp(o->sig, s->sig, s->sig_len) == 0)
                        return true;
        }
        return false;
}

/* The signature line of s as the note carried it: "— name base64". */
static char *signature_line(const struct note_sig *s)
{
        uint8_t blob[4 + COSIGN_SIG_SIZE];
        char b64[sodium_base64_ENCODED_LEN(sizeof(blob), sodium_base64_VARIANT_ORIGINAL)], *line;

        memcpy(blob, s->id, 4);
        memcpy(blob + 4, s->sig, COSIGN_SIG_SIZE);
        sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
        return asprintf(&line, "\xe2\x80\x94 %s %s", s->name, b64) < 0 ? NULL : line;
}

/* The witness (vaultd --witnesses) whose key signed s, or NULL. */
static const struct cosigner *witness_of(const struct vault *v, const struct note_sig *s)
{
        for (size_t k = 0; k < v->nwitnesses; k++)
                if (strcmp(v->witnesses[k].name, s->name) == 0 && memcmp(v->witnesses[k].id, s->id, 4) == 0)
                        return &v->witnesses[k];
        return NULL;
}

/* Whether the vault keeps s, a cosignature of n (*ret_kept): any
 * well-formed one without witnesses given; else only one by a witness
 * (others are ignored: a poster may ask more witnesses than this vault
 * trusts), which must verify. 0, or JOB_FAILED (a forged one). */
static int witness_check(struct vault *v, struct job *j, const struct note *n, const struct note_sig *s,
                         bool *ret_kept)
{
        const struct cosigner *w = witness_of(v, s);
        char why[512];
        uint64_t t;

        *ret_kept = v->nwitnesses == 0 || w;
        if (v->nwitnesses == 0 || !w || cosign_check(n, w, &t) == 0)
                return 0;
        snprintf(why, sizeof(why),
                 "the cosignature by %s does not verify against that witness's key: forged, or over "
                 "another text",
                 s->name);
        return job_invalid(j, IFACE, "checkpoint", why);
}

/* Whether the stored signature line old of a trusted witness's key does
 * not verify on the checkpoint text of n (it was stored before the vault
 * was given its witnesses): then a valid one replaces it. */
static bool stored_forged(const struct vault *v, const struct note *n, const struct note_sig *s,
                          const MDB_val *old)
{
        const struct cosigner *w = witness_of(v, s);
        _cleanup_(freep) char *msg = NULL;
        struct note stored = {0};
        char why[64];
        uint64_t t;
        bool forged;

        if (!w || asprintf(&msg, "%.*s\n%.*s\n", (int)n->text_len, n->buf, (int)old->mv_size,
                           (const char *)old->mv_data) < 0)
                return false;
        if (note_parse(msg, strlen(msg), &stored, why, sizeof(why)) < 0)
                return true;
        forged = cosign_check(&stored, w, &t) != 0;
        note_done(&stored);
        return forged;
}

/* Checks each signature of n that the stored checkpoint does not carry:
 * a cosignature's shape, its time, one per witness key; *ret_count: how
 * many there are. 0 or JOB_FAILED. */
static int check_cosignatures(struct vault *v, struct job *j, const struct note *n,
                              const struct note *stored, const struct checkpoint *c, size_t *ret_count)
{
        int64_t now = (int64_t)(now_realtime_us() / 1000000);
        char why[512];
        size_t count = 0, others = 0;
        int r;

        for (size_t i = 0; i < n->nsigs; i++) {
                const struct note_sig *s = &n->sigs[i];
                bool kept;
                uint64_t t;

                if (own_signature(stored, s))
                        continue;
                if (strcmp(s->name, v->audit->origin) == 0)
                        return job_invalid(j, IFACE, "checkpoint",
                                           "it carries a signature in the vault's own name that the vault "
                                           "did not make");
                if (!cosign_shape(s, &t)) {
                        snprintf(why, sizeof(why),
                                 "the signature by %s is not a cosignature/v1 (c2sp.org/tlog-cosignature: "
                                 "a key id, an 8-byte time and a 64-byte Ed25519 signature)",
                                 s->name);
                        return job_invalid(j, IFACE, "checkpoint", why);
                }
                if ((int64_t)t > now + COSIGN_CLOCK_SLACK || (int64_t)t < c->time - COSIGN_CLOCK_SLACK) {
                        snprintf(why, sizeof(why),
                                 "the cosignature by %s is dated %" PRIu64
                                 ", %s: check that witness's clock",
                                 s->name, t,
                                 (int64_t)t > now ? "in the future" : "before the checkpoint was signed");
                        return job_invalid(j, IFACE, "checkpoint", why);
                }
                for (size_t k = 0; k < i; k++)
                        if (strcmp(n->sigs[k].name, s->name) == 0 && memcmp(n->sigs[k].id, s->id, 4) == 0) {
                                snprintf(why, sizeof(why), "it carries two cosignatures by the key of %s",
                                         s->name);
                                return job_invalid(j, IFACE, "checkpoint", why);
                        }
                if ((r = witness_check(v, j, n, s, &kept)) != 0)
                        return r;
                count += kept;
                others += !kept;
        }
        if (count == 0 && others)
                return job_invalid(j, IFACE, "checkpoint",
                                   "none of its cosignatures is by a witness this vault trusts (its "
                                   "witnesses file names them)");
        if (count == 0)
                return job_invalid(j, IFACE, "checkpoint",
                                   "it carries no cosignature: append the witness's reply (its signature "
                                   "lines) to the checkpoint");
        *ret_count = count;
        return 0;
}

/* The stored checkpoint of c->size, parsed into *ret; JOB_FAILED when
 * the vault signed none of that size, or another text. */
static int stored_checkpoint(struct vault *v, MDB_txn *txn, struct job *j, const struct note *n,
                             const struct checkpoint *c, struct note *ret)
{
        uint8_t key[8];
        MDB_val val;
        char why[256];
        int r;

        if (strcmp(c->origin, v->audit->origin) != 0)
                return unknown_checkpoint(j, c->size,
                                          "the checkpoint is of another log (its origin is not "
                                          "this vault's)");
        be64_put(key, c->size);
        r = store_get(txn, v->store->checkpoints, key, 8, &val);
        if (r == -ENOENT)
                return unknown_checkpoint(j, c->size, "the vault signed no checkpoint of that size");
        if (r < 0)
                return r;
        if (note_parse(val.mv_data, val.mv_size, ret, why, sizeof(why)) < 0)
                return -EIO;
        if (ret->text_len != n->text_len || memcmp(ret->buf, n->buf, n->text_len) != 0) {
                note_done(ret);
                return unknown_checkpoint(j, c->size,
                                          "the vault's checkpoint of that size has another text: this "
                                          "one is of another history (a fork) or was altered");
        }
        return 0;
}

/* Stores the new cosignatures of n; counts what happened in the reply. */
static int store_cosignatures(struct vault *v, MDB_txn *txn, struct job *j, const struct note *n,
                              const struct note *stored, uint64_t size, json_t *names)
{
        unsigned added = 0, ignored = 0, unchanged = 0;
        struct cosign_key key;
        MDB_val old;
        int r;

        for (size_t i = 0; i < n->nsigs; i++) {
                const struct note_sig *s = &n->sigs[i];
                _cleanup_(freep) char *line = NULL;

                if (own_signature(stored, s))
                        continue;
                if (v->nwitnesses && !witness_of(v, s)) {
                        ignored++; /* by a witness the vault does not trust */
                        continue;
                }
                if ((r = cosign_key(size, s, &key)) < 0)
                        return job_invalid(j, IFACE, "checkpoint", "a witness name is too long");
                if (!(line = signature_line(s)))
                        return -ENOMEM;
                r = store_get(txn, v->store->cosignatures, key.bytes, key.len, &old);
                if (r == 0 && old.mv_size == strlen(line) && memcmp(old.mv_data, line, old.mv_size) == 0) {
                        unchanged++;
                        continue;
                }
                if (r < 0 && r != -ENOENT)
                        return r;
                /* The first one stays: without the witness's key vaultd
                 * cannot tell a newer cosignature from a forged one, and a
                 * caller replacing a witness's genuine one would destroy
                 * the evidence (a review found it). With witnesses given,
                 * only valid ones are stored, and one stored before that
                 * does not verify is replaced. */
                if (r == 0 && !(v->nwitnesses && stored_forged(v, n, s, &old))) {
                        ignored++;
                        continue;
                }
                added++;
                if ((r = store_put(txn, v->store->cosignatures, key.bytes, key.len, line, strlen(line), 0)) <
                    0)
                        return r;
                json_array_append_new(names, json_string(s->name));
        }
        j->reply = json_pack("{s:I,s:I,s:I,s:I}", "size", (json_int_t)size, "added", (json_int_t)added,
                             "ignored", (json_int_t)ignored, "unchanged", (json_int_t)unchanged);
        if (!j->reply)
                return -ENOMEM;
        json_object_update(j->audit.extra, j->reply);
        return 0;
}

/* How many cosignatures the checkpoint of size holds, up to the most. */
static int stored_count(struct vault *v, MDB_txn *txn, uint64_t size, size_t *ret)
{
        uint8_t prefix[8];
        MDB_cursor *cur;
        MDB_val k = {8, prefix}, val;
        size_t n = 0;
        int rc;

        be64_put(prefix, size);
        if ((rc = mdb_cursor_open(txn, v->store->cosignatures, &cur)) != 0)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
             rc == 0 && k.mv_size > 8 && memcmp(k.mv_data, prefix, 8) == 0;
             rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT))
                n++;
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
                return store_errno(rc);
        *ret = n;
        return 0;
}

int cosign_add(struct vault *v, MDB_txn *txn, struct job *j)
{
        json_t *param = json_object_get(j->call.parameters, "checkpoint"), *names;
        struct note n = {0}, stored = {0};
        struct checkpoint c = {0};
        size_t have = 0, count = 0;
        char why[256];
        int r;

        if (!json_is_string(param))
                return job_invalid(j, IFACE, "checkpoint",
                                   "is required: the checkpoint with its cosignatures");
        if (json_string_length(param) > COSIGN_NOTE_MAX)
                return job_invalid(j, IFACE, "checkpoint", "is longer than 16384 bytes");
        if (note_parse(json_string_value(param), json_string_length(param), &n, why, sizeof(why)) < 0 ||
            checkpoint_parse(&n, &c, why, sizeof(why)) < 0) {
                note_done(&n);
                checkpoint_done(&c);
                return job_invalid(j, IFACE, "checkpoint", why);
        }
        names = json_array();
        j->audit.extra = json_pack("{s:I,s:o}", "size", (json_int_t)c.size, "witnesses", names);
        r = j->audit.extra ? stored_checkpoint(v, txn, j, &n, &c, &stored) : -ENOMEM;
        if (r == 0)
                r = check_cosignatures(v, j, &n, &stored, &c, &count);
        if (r == 0)
                r = stored_count(v, txn, c.size, &have);
        /* (the limit counts the call's new ones with those stored) */
        if (r == 0 && have + count > COSIGN_PER_CHECKPOINT_MAX)
                r = job_invalid(j, IFACE, "checkpoint", "a checkpoint keeps 32 cosignatures at most");
        if (r == 0)
                r = store_cosignatures(v, txn, j, &n, &stored, c.size, names);
        note_done(&n);
        note_done(&stored);
        checkpoint_done(&c);
        return r;
}
