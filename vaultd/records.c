#include "records.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"
#include "collections.h"
#include "dispose.h"
#include "envelope.h"
#include "findindex.h"
#include "jsoncheck.h"
#include "recctl.h"
#include "recmeta.h"
#include "recverify.h"
#include "util.h"

#define IFACE              "io.vaultd.records"
#define LIST_LIMIT_MAX     1000
#define LIST_LIMIT_DEFAULT 100

#define STATE_ACTIVE RECMETA_STATE_ACTIVE

struct record_key {
        uint8_t buf[RECMETA_KEY_MAX];
        size_t head_len; /* collection NUL id */
};

static void record_key_init(struct record_key *k, const char *collection, const char *id)
{
        size_t cl = strlen(collection) + 1, il = strlen(id);

        memcpy(k->buf, collection, cl);
        memcpy(k->buf + cl, id, il);
        k->head_len = cl + il;
}

/* The versions key: collection NUL id NUL be64(version). */
static size_t record_key_version(struct record_key *k, uint64_t version)
{
        k->buf[k->head_len] = '\0';
        be64_put(k->buf + k->head_len + 1, version);
        return k->head_len + 9;
}

static int head_read(struct vault *v, MDB_txn *txn, struct record_key *k, struct record_head *ret)
{
        MDB_val val;
        int r = store_get(txn, v->store->heads, k->buf, k->head_len, &val);

        if (r < 0)
                return r;
        return recmeta_head_decode(val.mv_data, val.mv_size, ret) < 0 ? -EIO : 0;
}

static int head_write(struct vault *v, MDB_txn *txn, struct record_key *k, const struct record_head *h)
{
        uint8_t b[RECMETA_HEAD_SIZE];

        recmeta_head_encode(h, b);
        return store_put(txn, v->store->heads, k->buf, k->head_len, b, RECMETA_HEAD_SIZE, 0);
}

/* A version of record k: -ENOENT when there is none, -EBADMSG when its
 * value is no version. val->mv_data + *ret_hlen is its envelope. */
static int version_read(struct vault *v, MDB_txn *txn, struct record_key *k, uint64_t version, MDB_val *val,
                        struct version_meta *ret, size_t *ret_hlen)
{
        size_t klen = record_key_version(k, version);
        int r = store_get(txn, v->store->versions, k->buf, klen, val);

        if (r < 0)
                return r;
        return recmeta_version_decode(val->mv_data, val->mv_size, ret, ret_hlen);
}

int records_param_name(struct job *j, const char *name, enum name_kind kind, bool required, const char **ret)
{
        char why[160], reason[400];
        int r;

        if ((r = param_string(j, IFACE, name, required, ret)) != 0 || !*ret)
                return r;
        /* Only well-formed names reach the audit line: never client bytes. */
        if (!name_check(kind, *ret, why, sizeof(why))) {
                snprintf(
                        reason, sizeof(reason), "%s: %s", why,
                        kind == NAME_COLLECTION
                                ? "a collection name is 1-64 bytes of UTF-8: lower-case letters (Vietnamese "
                                  "too), digits and . _ - /, starting with a letter or digit"
                                : "a record id is 1-128 bytes of UTF-8: letters (Vietnamese too), digits, "
                                  "punctuation and symbols such as / - . :, starting with a letter or "
                                  "digit; no spaces or control characters");
                return job_invalid(j, IFACE, name, reason);
        }
        return 0;
}

static int integrity_error(struct job *j, const char *collection, const char *id, uint64_t version,
                           const char *reason);

/* A disposed record's answer: Disposed, with when and why. */
static int records_fail_disposed(struct vault *v, MDB_txn *txn, struct job *j, struct record_key *k,
                                 const char *collection, const char *id)
{
        struct recctl c;
        int r = recctl_get(v, txn, k->buf, k->head_len, &c);

        if (r < 0)
                return r;
        if (!c.disposed)
                return integrity_error(
                        j, collection, id, (uint64_t)j->audit.version,
                        "this version's body was shredded, but the record was never disposed of");
        return recctl_fail_disposed(j, collection, id, &c);
}

/* Validates collection and id and fills the audit fields. */
static int record_params(struct job *j, const char **ret_collection, const char **ret_id)
{
        int r;

        if ((r = records_param_name(j, "collection", NAME_COLLECTION, true, ret_collection)) != 0)
                return r;
        j->audit.collection = *ret_collection;
        if (!ret_id)
                return 0;
        if ((r = records_param_name(j, "id", NAME_ID, true, ret_id)) != 0)
                return r;
        j->audit.id = *ret_id;
        return 0;
}

static int not_found(struct job *j, const char *collection, const char *id, int64_t version)
{
        json_t *p = json_pack("{s:s,s:s}", "collection", collection, "id", id);

        if (version >= 0)
                json_object_set_new(p, "version", json_integer(version));
        return job_fail(j, IFACE ".NotFound", p);
}

/* A deletion's answer: NotFound, or Disposed when the record was then
 * disposed of (a disposal shreds bodies and leaves tombstones as they
 * are, so a deleted record's latest version stays one). */
static int tombstone_answer(struct vault *v, MDB_txn *txn, struct job *j, struct record_key *k,
                            const char *collection, const char *id, int64_t version)
{
        struct recctl c;
        int r = recctl_get(v, txn, k->buf, k->head_len, &c);

        if (r < 0)
                return r;
        if (c.disposed)
                return recctl_fail_disposed(j, collection, id, &c);
        return not_found(j, collection, id, version);
}

/* Decodes the base64 body, enforcing the size limit before allocating.
 * The caller wipes and frees it with envelope_free_plain(*ret, *ret_len). */
static int decode_body(struct vault *v, struct job *j, uint8_t **ret, size_t *ret_len)
{
        const char *b64;
        size_t len, cap, out_len;
        uint8_t *buf;
        int r;

        if ((r = param_string(j, IFACE, "data", true, &b64)) != 0)
                return r;
        len = json_string_length(json_object_get(j->call.parameters, "data"));
        /* The most len characters can decode to: b64_decode writes no more
         * (none past out_len on success), so wiping cap bytes on failure
         * wipes whatever part of the body it wrote. */
        cap = len / 4 * 3;
        if (cap > v->body_max + 2)
                return job_fail(
                        j, IFACE ".TooLarge",
                        json_pack("{s:s,s:I}", "parameter", "data", "limit", (json_int_t)v->body_max));
        buf = malloc(cap + 1); /* + 1: an empty body still gets a buffer, not malloc(0) */
        if (!buf)
                return -ENOMEM;
        if (b64_decode(buf, cap, b64, len, &out_len) < 0) {
                envelope_free_plain(buf, cap);
                return job_invalid(j, IFACE, "data", "must be standard base64 with padding");
        }
        if (out_len > v->body_max) {
                envelope_free_plain(buf, cap);
                return job_fail(
                        j, IFACE ".TooLarge",
                        json_pack("{s:s,s:I}", "parameter", "data", "limit", (json_int_t)v->body_max));
        }
        *ret = buf;
        *ret_len = out_len;
        return 0;
}

/* Writes version of record k: its header, then the envelope (none for a
 * tombstone). */
static int write_version(struct vault *v, MDB_txn *txn, struct record_key *k, uint64_t version,
                         const uint8_t header[RECMETA_HEADER], const uint8_t *env, size_t env_len)
{
        size_t klen = record_key_version(k, version);
        MDB_val key = {klen, k->buf}, val = {RECMETA_HEADER + env_len, NULL};
        int rc;

        rc = mdb_put(txn, v->store->versions, &key, &val, MDB_NOOVERWRITE | MDB_RESERVE);
        if (rc)
                return store_errno(rc);
        memcpy(val.mv_data, header, RECMETA_HEADER);
        if (env_len)
                memcpy((uint8_t *)val.mv_data + RECMETA_HEADER, env, env_len);
        return 0;
}

/* The metadata of a version this job writes: bound to the job's own audit
 * line, the next one appended to the trail, which carries the same time. */
static struct version_meta new_version_meta(struct vault *v, struct job *j, uint8_t kind, uint64_t size)
{
        j->audit.time_us = now_realtime_us();
        return (struct version_meta){kind, j->audit.time_us, j->actor.uid, size, v->audit->pending_next_seq};
}

/* Loads the head and applies if_version. Fills *h (zeroed when new). */
static int check_if_version(struct vault *v, MDB_txn *txn, struct job *j, struct record_key *k,
                            const char *collection, const char *id, struct record_head *h)
{
        uint64_t if_version;
        bool present;
        int r;

        r = param_uint(j, IFACE, "if_version", false, INT64_MAX, &if_version, &present);
        if (r != 0)
                return r;
        r = head_read(v, txn, k, h);
        if (r == -ENOENT)
                *h = (struct record_head){0};
        else if (r < 0)
                return r;
        if (present && if_version != h->version)
                return job_fail(j, IFACE ".Conflict",
                                json_pack("{s:s,s:s,s:I}", "collection", collection, "id", id, "current",
                                          (json_int_t)h->version));
        return 0;
}

/* A body for a collection whose content is json must be one JSON object.
 * Returns 0, or JOB_FAILED with InvalidContent naming where it is not
 * (never its bytes). */
static int check_content(struct job *j, const struct collection_settings *cs, const uint8_t *body,
                         size_t len)
{
        struct jsoncheck_error e;

        if (cs->content != CONTENT_JSON || jsoncheck_object(body, len, &e) == 0)
                return 0;
        j->audit.extra = json_pack("{s:I}", "position", (json_int_t)e.offset);
        return job_fail(j, IFACE ".InvalidContent",
                        json_pack("{s:s,s:I,s:I,s:I,s:s}", "parameter", "data", "position",
                                  (json_int_t)e.offset, "line", (json_int_t)e.line, "column",
                                  (json_int_t)e.column, "reason", e.reason));
}

/* The record control a Put applies: it refuses a disposed record (its id
 * stays retired) and takes retain_until. Returns 0 with *ret_changed
 * when ctl must be written, or JOB_FAILED. */
static int put_control(struct vault *v, MDB_txn *txn, struct job *j, struct record_key *k,
                       const char *collection, const char *id, struct recctl *ctl, bool *ret_changed)
{
        uint64_t retain_until;
        int r;

        if ((r = recctl_param_time(j, IFACE, "retain_until", &retain_until)) != 0)
                return r;
        if ((r = recctl_get(v, txn, k->buf, k->head_len, ctl)) < 0)
                return r;
        if (ctl->disposed)
                return recctl_fail_disposed(j, collection, id, ctl);
        *ret_changed = retain_until && retain_until != ctl->retain_until_us;
        if (retain_until)
                ctl->retain_until_us = retain_until;
        return 0;
}

int records_put(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *collection, *id;
        struct record_key k;
        struct record_head h;
        struct version_meta m;
        struct collection_settings cs;
        struct recctl ctl;
        struct findindex_given given;
        json_t *indexed = NULL;
        uint8_t *body = NULL, *env = NULL, header[RECMETA_HEADER], sealed[FINDINDEX_SEALED_MAX];
        size_t body_len = 0, env_len, sealed_len;
        bool was_active, was_new, ctl_changed = false;
        int r;

        if ((r = record_params(j, &collection, &id)) != 0)
                return r;
        record_key_init(&k, collection, id);
        if ((r = check_if_version(v, txn, j, &k, collection, id, &h)) != 0)
                return r;
        if ((r = put_control(v, txn, j, &k, collection, id, &ctl, &ctl_changed)) != 0)
                return r;
        if ((r = collection_settings_get(v, txn, collection, &cs)) < 0)
                return r;
        if ((r = decode_body(v, j, &body, &body_len)) != 0)
                return r;
        if ((r = check_content(j, &cs, body, body_len)) != 0 ||
            (r = findindex_put(v, txn, j, &cs, collection, id, body, body_len, &given, &indexed)) != 0) {
                envelope_free_plain(body, body_len);
                sodium_memzero(&given, sizeof(given));
                return r;
        }
        was_active = h.state == STATE_ACTIVE;
        was_new = h.version == 0;
        h.version++;
        m = new_version_meta(v, j, RECMETA_KIND_DATA, body_len);
        recmeta_version_encode(&m, header);
        struct body_binding b = {collection, id, h.version};
        struct envelope_meta em = {header, RECMETA_HEADER};
        /* The terms the call gave are sealed beside the body, under its data
         * key: a rebuild can tag them again, a disposal destroys them. */
        sealed_len = given.len ? given.len + ENVELOPE_BESIDE_OVERHEAD : 0;
        r = envelope_seal_beside(v->keeper, &b, &em, body, body_len, sealed_len ? given.plain : NULL,
                                 given.len, sealed, &env, &env_len);
        envelope_free_plain(body, body_len);
        sodium_memzero(&given, sizeof(given));
        if (r == 0) {
                r = write_version(v, txn, &k, h.version, header, env, env_len);
                free(env);
        }
        if (r == 0 && sealed_len)
                r = findindex_keep_given(v, txn, collection, id, h.version, sealed, sealed_len);
        if (r < 0) {
                json_decref(indexed);
                return r;
        }
        h.updated_us = m.time_us;
        if (h.created_us == 0)
                h.created_us = m.time_us;
        h.state = STATE_ACTIVE;
        if ((r = head_write(v, txn, &k, &h)) < 0 ||
            (ctl_changed && (r = recctl_put(v, txn, k.buf, k.head_len, &ctl)) < 0) ||
            (!was_active && (r = collection_count_add(v, txn, collection, 1, was_new ? 0 : -1, 0, 0)) < 0)) {
                json_decref(indexed);
                return r;
        }
        if (!was_active)
                __atomic_add_fetch(&v->records_active, 1, __ATOMIC_RELAXED);
        j->audit.version = (int64_t)h.version;
        j->audit.extra = json_pack("{s:I}", "size", (json_int_t)body_len);
        if (indexed)
                json_object_set_new(j->audit.extra, "index", indexed);
        if (ctl_changed) {
                char t[TIME_STRING_MAX];

                time_format_us(ctl.retain_until_us, t);
                json_object_set_new(j->audit.extra, "retain_until", json_string(t));
        }
        j->reply = json_pack("{s:I}", "version", (json_int_t)h.version);
        return 0;
}

static int integrity_error(struct job *j, const char *collection, const char *id, uint64_t version,
                           const char *reason)
{
        return job_fail(j, IFACE ".IntegrityError",
                        json_pack("{s:s,s:s,s:I,s:s}", "collection", collection, "id", id, "version",
                                  (json_int_t)version, "reason", reason));
}

/* Bodies up to this size never wait: a Get of a small record is never
 * held back by another tenant's large ones. */
#define BODY_SMALL (64u << 10)
/* Whether a body of size bytes must wait for a later batch. A large body
 * is decrypted only in a batch of its own (the writer's large lane), so
 * other tenants' calls never wait in the same batch for its decryption;
 * and while bodies decrypted earlier still wait to be sent, not past the
 * budget. One always goes through when nothing is held, so even a body
 * larger than the budget is served. */
static bool body_must_wait(struct vault *v, const struct job *j, uint64_t size)
{
        uint64_t held = __atomic_load_n(&v->bodies_held, __ATOMIC_RELAXED);

        if (size <= BODY_SMALL || __atomic_load_n(&v->bodies_unlimited, __ATOMIC_RELAXED))
                return false;
        if (!v->large_lane)
                return true;
        /* One at a time per connection: a client that does not read holds
         * one body, which the drain rule frees, never the budget. */
        if (j->conn_large && __atomic_load_n(j->conn_large, __ATOMIC_RELAXED))
                return true;
        return held && held + size > v->bodies_limit;
}

/* The reply's parameters but "data", and the body itself, which the event
 * loop encodes as the peer reads (no 22 MB string built and copied for a
 * 16 MiB body). */
static int reply_body(struct vault *v, struct job *j, const char *collection, const char *id,
                      uint64_t version, const MDB_val *val, const struct version_meta *m, size_t hlen)
{
        const uint8_t *p = val->mv_data;
        struct body_binding b = {collection, id, version};
        struct envelope_meta em = {p, hlen};
        char tbuf[TIME_STRING_MAX];
        uint8_t *plain;
        size_t len;
        int r;

        if (body_must_wait(v, j, m->size))
                return JOB_WAIT;
        r = envelope_open(v->keeper, &b, &em, p + hlen, val->mv_size - hlen, &plain, &len);
        if (r == -EBADMSG || r == -ENOKEY)
                return integrity_error(j, collection, id, version,
                                       r == -ENOKEY ? "the key that sealed this version is missing"
                                                    : "the stored ciphertext or its metadata does not "
                                                      "authenticate");
        if (r < 0)
                return r;
        if (len != m->size) {
                envelope_free_plain(plain, len);
                return integrity_error(j, collection, id, version, "the body's size is not its metadata's");
        }
        time_format_us(m->time_us, tbuf);
        j->reply = json_pack("{s:I,s:s,s:I}", "version", (json_int_t)version, "time", tbuf, "size",
                             (json_int_t)len);
        if (!j->reply) {
                envelope_free_plain(plain, len);
                return -ENOMEM;
        }
        j->body = plain;
        j->body_len = len;
        /* Only large bodies count against the budget: small ones never
         * wait, and counting them let a client that reads nothing fill it
         * with small replies queued behind a large one, stopping every
         * tenant's large Gets for good. */
        j->body_held = len > BODY_SMALL ? &v->bodies_held : &v->small_bodies_held;
        __atomic_add_fetch(j->body_held, len, __ATOMIC_RELAXED);
        if (len > BODY_SMALL && j->conn_large) {
                __atomic_add_fetch(j->conn_large, 1, __ATOMIC_RELAXED);
                j->holds_large = true;
        }
        return 0;
}

/* The latest version m must be the head's: none after it, and the head's
 * state and update time are its. Returns 0, or JOB_FAILED. (Version 1's
 * time, the head's creation time, is left to Verify: it costs a read.) */
static int check_latest(struct vault *v, MDB_txn *txn, struct job *j, struct record_key *k,
                        const char *collection, const char *id, const struct record_head *h,
                        const struct version_meta *m)
{
        struct version_meta next;
        char why[RECVERIFY_WHY_MAX];
        size_t hlen;
        MDB_val val;
        int r = version_read(v, txn, k, h->version + 1, &val, &next, &hlen);

        if (r != -ENOENT && r != -EBADMSG && r < 0)
                return r;
        if (r != -ENOENT) {
                snprintf(why, sizeof(why),
                         "the head says version %" PRIu64 " is the latest, but version %" PRIu64
                         " exists: the head was rolled back",
                         h->version, h->version + 1);
                return integrity_error(j, collection, id, h->version, why);
        }
        if (recmeta_head_check(h, m, NULL, why, sizeof(why)) < 0)
                return integrity_error(j, collection, id, h->version, why);
        return 0;
}

/* A version whose body does not authenticate its metadata (a tombstone,
 * or an envelope sealed before metadata was bound) is checked against the
 * audit line it names. Returns 0, or JOB_FAILED. */
static int check_against_trail(struct vault *v, MDB_txn *txn, struct job *j, const char *collection,
                               const char *id, uint64_t version, const struct version_meta *m)
{
        struct record_name n = {.version = version};
        char why[RECVERIFY_WHY_MAX];
        int r;

        if (recmeta_legacy(m))
                return integrity_error(j, collection, id, version,
                                       "this version is not bound to the audit trail: it predates "
                                       "bound metadata and no audit line wrote it");
        strcpy(n.collection, collection);
        strcpy(n.id, id);
        r = recverify_version(v, txn, &n, m, why, sizeof(why));
        if (r == -EBADMSG)
                return integrity_error(j, collection, id, version, why);
        return r;
}

int records_get(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *collection, *id;
        struct record_key k;
        struct record_head h;
        struct version_meta m;
        uint64_t version;
        bool present;
        MDB_val val;
        size_t hlen;
        int r;

        if ((r = record_params(j, &collection, &id)) != 0)
                return r;
        if ((r = param_uint(j, IFACE, "version", false, INT64_MAX, &version, &present)) != 0)
                return r;
        record_key_init(&k, collection, id);
        r = head_read(v, txn, &k, &h);
        if (r == -ENOENT)
                return not_found(j, collection, id, present ? (int64_t)version : -1);
        if (r < 0)
                return r;
        if (!present)
                version = h.version;
        j->audit.version = (int64_t)version;
        r = version_read(v, txn, &k, version, &val, &m, &hlen);
        if (r == -ENOENT && present)
                return not_found(j, collection, id, (int64_t)version);
        if (r == -ENOENT)
                return integrity_error(j, collection, id, version,
                                       "the head names this version, but the store does not hold it");
        if (r == -EBADMSG)
                return integrity_error(j, collection, id, version, "the stored version is malformed");
        if (r < 0)
                return r;
        if (recmeta_disposed(&m))
                return records_fail_disposed(v, txn, j, &k, collection, id);
        if (version > h.version)
                return integrity_error(
                        j, collection, id, version,
                        "this version is newer than the record's head: the head was rolled back");
        if (!present && (r = check_latest(v, txn, j, &k, collection, id, &h, &m)) != 0)
                return r;
        if ((recmeta_tombstone(&m) ||
             !envelope_binds_meta((uint8_t *)val.mv_data + hlen, val.mv_size - hlen)) &&
            (r = check_against_trail(v, txn, j, collection, id, version, &m)) != 0)
                return r;
        if (recmeta_tombstone(&m))
                return tombstone_answer(v, txn, j, &k, collection, id, present ? (int64_t)version : -1);
        return reply_body(v, j, collection, id, version, &val, &m, hlen);
}

int records_delete(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *collection, *id;
        struct record_key k;
        struct record_head h;
        struct version_meta m;
        struct recctl ctl;
        uint8_t header[RECMETA_HEADER];
        int r;

        if ((r = record_params(j, &collection, &id)) != 0)
                return r;
        record_key_init(&k, collection, id);
        if ((r = check_if_version(v, txn, j, &k, collection, id, &h)) != 0)
                return r;
        if (h.state != STATE_ACTIVE)
                return not_found(j, collection, id, -1);
        if ((r = recctl_get(v, txn, k.buf, k.head_len, &ctl)) < 0)
                return r;
        if (ctl.disposed)
                return recctl_fail_disposed(j, collection, id, &ctl);
        h.version++;
        m = new_version_meta(v, j, RECMETA_KIND_TOMBSTONE, 0);
        recmeta_version_encode(&m, header);
        r = write_version(v, txn, &k, h.version, header, NULL, 0);
        if (r < 0)
                return r;
        h.state = RECMETA_STATE_DELETED;
        h.updated_us = m.time_us;
        if ((r = head_write(v, txn, &k, &h)) < 0 || (r = findindex_remove(v, txn, collection, id)) < 0 ||
            (r = collection_count_add(v, txn, collection, -1, 1, 0, 0)) < 0)
                return r;
        __atomic_sub_fetch(&v->records_active, 1, __ATOMIC_RELAXED);
        j->audit.version = (int64_t)h.version;
        j->reply = json_pack("{s:I}", "version", (json_int_t)h.version);
        return 0;
}

int records_list(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *collection, *after;
        uint64_t limit = LIST_LIMIT_DEFAULT;
        struct record_key k;
        MDB_cursor *cur;
        MDB_val key, val;
        json_t *items;
        size_t cl;
        int r, rc;

        if ((r = record_params(j, &collection, NULL)) != 0 ||
            (r = param_string(j, IFACE, "after", false, &after)) != 0 ||
            (r = param_uint(j, IFACE, "limit", false, LIST_LIMIT_MAX, &limit, NULL)) != 0)
                return r;
        if (after && (r = records_param_name(j, "after", NAME_ID, false, &after)) != 0)
                return r;
        if (limit == 0)
                return job_invalid(j, IFACE, "limit", "must be an integer from 1 to 1000");
        record_key_init(&k, collection, after ? after : "");
        cl = strlen(collection) + 1;
        key = (MDB_val){k.head_len, k.buf};
        rc = mdb_cursor_open(txn, v->store->heads, &cur);
        if (rc)
                return store_errno(rc);
        items = json_array();
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && after && key.mv_size == k.head_len && memcmp(key.mv_data, k.buf, k.head_len) == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
        for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct record_head h;
                struct recctl ctl;
                char tbuf[TIME_STRING_MAX];

                if (key.mv_size <= cl || memcmp(key.mv_data, k.buf, cl) != 0)
                        break;
                if (recmeta_head_decode(val.mv_data, val.mv_size, &h) < 0 || h.state != STATE_ACTIVE)
                        continue;
                if (json_array_size(items) == limit)
                        break;
                /* A disposed record is not live: its bodies are gone. */
                if (recctl_get(v, txn, key.mv_data, key.mv_size, &ctl) < 0 || ctl.disposed)
                        continue;
                time_format_us(h.updated_us, tbuf);
                json_array_append_new(items, json_pack("{s:s%,s:I,s:s}", "id", (char *)key.mv_data + cl,
                                                       key.mv_size - cl, "version", (json_int_t)h.version,
                                                       "updated", tbuf));
        }
        /* rc == 0 here means we stopped at a further record of this collection. */
        bool more = rc == 0 && key.mv_size > cl && memcmp(key.mv_data, k.buf, cl) == 0 &&
                    json_array_size(items) == limit;
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND) {
                json_decref(items);
                return store_errno(rc);
        }
        j->reply = json_pack("{s:o}", "records", items);
        if (more)
                json_object_set(j->reply, "next",
                                json_object_get(json_array_get(items, json_array_size(items) - 1), "id"));
        j->audit.extra = json_pack("{s:I}", "count", (json_int_t)json_array_size(items));
        return 0;
}

int records_history(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *collection, *id;
        struct record_key k;
        struct record_head h;
        MDB_cursor *cur;
        MDB_val key, val;
        json_t *versions;
        uint64_t after = 0, limit = LIST_LIMIT_MAX, last;
        int r, rc = 0;

        if ((r = record_params(j, &collection, &id)) != 0 ||
            (r = param_uint(j, IFACE, "after_version", false, INT64_MAX, &after, NULL)) != 0 ||
            (r = param_uint(j, IFACE, "limit", false, LIST_LIMIT_MAX, &limit, NULL)) != 0)
                return r;
        if (limit == 0)
                return job_invalid(j, IFACE, "limit", "must be an integer from 1 to 1000");
        record_key_init(&k, collection, id);
        r = head_read(v, txn, &k, &h);
        if (r == -ENOENT)
                return not_found(j, collection, id, -1);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn, v->store->versions, &cur);
        if (rc)
                return store_errno(rc);
        versions = json_array();
        /* One page, so a record with a long life cannot make one huge reply. */
        last = h.version - after > limit ? after + limit : h.version;
        for (uint64_t ver = after + 1; ver <= last; ver++) {
                size_t klen = record_key_version(&k, ver), hlen;
                struct version_meta m;
                char tbuf[TIME_STRING_MAX];

                key = (MDB_val){klen, k.buf};
                rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
                if (rc == MDB_NOTFOUND)
                        continue;
                if (rc)
                        break;
                if (recmeta_version_decode(val.mv_data, val.mv_size, &m, &hlen) < 0) {
                        rc = MDB_CORRUPTED;
                        break;
                }
                time_format_us(m.time_us, tbuf);
                json_array_append_new(versions,
                                      json_pack("{s:I,s:s,s:I,s:b,s:I}", "version", (json_int_t)ver, "time",
                                                tbuf, "size", (json_int_t)m.size, "deleted",
                                                recmeta_tombstone(&m), "uid", (json_int_t)m.uid));
        }
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND) {
                json_decref(versions);
                return store_errno(rc);
        }
        j->audit.version = (int64_t)h.version;
        j->reply = json_pack("{s:o,s:b}", "versions", versions, "deleted", h.state != STATE_ACTIVE);
        if (last < h.version)
                json_object_set_new(j->reply, "next", json_integer((json_int_t)last));
        return 0;
}

static int count_active(struct vault *v, MDB_txn *txn, uint64_t *ret)
{
        MDB_cursor *cur;
        MDB_val key, val;
        uint64_t n = 0, disposed;
        int rc;

        rc = mdb_cursor_open(txn, v->store->heads, &cur);
        if (rc)
                return store_errno(rc);
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                struct record_head h;

                if (recmeta_head_decode(val.mv_data, val.mv_size, &h) == 0 && h.state == STATE_ACTIVE)
                        n++;
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
                return store_errno(rc);
        if ((rc = dispose_count_live_disposed(v, txn, &disposed)) < 0)
                return rc;
        *ret = n - disposed;
        return 0;
}

int records_active_load(struct vault *v)
{
        MDB_txn *txn;
        int r = store_begin(v->store, true, &txn);

        if (r < 0)
                return r;
        r = store_meta_get_u64(txn, v->store, RECORDS_ACTIVE_KEY, &v->records_active);
        if (r == -ENOENT) { /* a store from before the count was kept: once */
                r = count_active(v, txn, &v->records_active);
                if (r == 0)
                        r = store_meta_put_u64(txn, v->store, RECORDS_ACTIVE_KEY, v->records_active);
                if (r == 0)
                        return store_commit(txn);
        }
        mdb_txn_abort(txn);
        return r;
}
