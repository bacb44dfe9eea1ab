#include "recmeta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define OP_PUT    "records.put"
#define OP_DELETE "records.delete"

void recmeta_version_encode(const struct version_meta *m, uint8_t out[RECMETA_HEADER])
{
        out[0] = m->kind;
        be64_put(out + 1, m->time_us);
        be32_put(out + 9, m->uid);
        be64_put(out + 13, m->size);
        be64_put(out + 21, m->seq);
}

int recmeta_version_decode(const uint8_t *val, size_t len, struct version_meta *ret, size_t *ret_header_len)
{
        struct version_meta m;
        size_t hlen;

        if (len < 1)
                return -EBADMSG;
        m.kind = val[0];
        switch (m.kind) {
        case RECMETA_KIND_DATA:
        case RECMETA_KIND_TOMBSTONE:
        case RECMETA_KIND_DISPOSED:
                hlen = RECMETA_HEADER;
                break;
        case RECMETA_KIND_LEGACY_DATA:
        case RECMETA_KIND_LEGACY_TOMBSTONE:
        case RECMETA_KIND_LEGACY_DISPOSED:
                hlen = RECMETA_LEGACY_HEADER;
                break;
        default:
                return -EBADMSG;
        }
        if (len < hlen || ((recmeta_tombstone(&m) || recmeta_disposed(&m)) && len != hlen))
                return -EBADMSG;
        m.time_us = be64_get(val + 1);
        m.uid = be32_get(val + 9);
        m.size = be64_get(val + 13);
        m.seq = hlen == RECMETA_HEADER ? be64_get(val + 21) : UINT64_MAX;
        *ret = m;
        *ret_header_len = hlen;
        return 0;
}

void recmeta_head_encode(const struct record_head *h, uint8_t out[RECMETA_HEAD_SIZE])
{
        be64_put(out, h->version);
        out[8] = h->state;
        be64_put(out + 9, h->created_us);
        be64_put(out + 17, h->updated_us);
}

int recmeta_head_decode(const uint8_t *val, size_t len, struct record_head *ret)
{
        if (len != RECMETA_HEAD_SIZE || (val[8] != RECMETA_STATE_ACTIVE && val[8] != RECMETA_STATE_DELETED))
                return -EBADMSG;
        *ret = (struct record_head){be64_get(val), val[8], be64_get(val + 9), be64_get(val + 17)};
        return 0;
}

int recmeta_key_parse(const uint8_t *key, size_t len, bool with_version, struct record_name *ret)
{
        const uint8_t *nul = memchr(key, '\0', len);
        size_t cl, il;

        if (with_version) {
                if (len < 9 || key[len - 9] != '\0')
                        return -EBADMSG;
                len -= 9;
        }
        if (!nul || nul >= key + len)
                return -EBADMSG;
        cl = (size_t)(nul - key);
        il = len - cl - 1;
        if (cl > NAME_COLLECTION_MAX || il > NAME_ID_MAX || memchr(nul + 1, '\0', il))
                return -EBADMSG;
        memcpy(ret->collection, key, cl);
        ret->collection[cl] = '\0';
        memcpy(ret->id, nul + 1, il);
        ret->id[il] = '\0';
        if (!name_collection_valid(ret->collection) || !name_id_valid(ret->id))
                return -EBADMSG;
        ret->version = with_version ? be64_get(key + len + 1) : 0;
        return 0;
}

size_t recmeta_key_build(const struct record_name *n, bool with_version, uint8_t out[RECMETA_KEY_MAX])
{
        size_t cl = strlen(n->collection) + 1, il = strlen(n->id);

        memcpy(out, n->collection, cl);
        memcpy(out + cl, n->id, il);
        if (!with_version)
                return cl + il;
        out[cl + il] = '\0';
        be64_put(out + cl + il + 1, n->version);
        return cl + il + 9;
}

int recmeta_time_parse(const char *s, uint64_t *ret)
{
        struct tm tm = {0};
        unsigned frac;
        time_t t;
        int n = 0;

        if (!s || strlen(s) != 27 ||
            sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 ||
            n != 27)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm);
        if (t < 0)
                return -EINVAL;
        *ret = (uint64_t)t * 1000000u + frac;
        /* Only the one spelling: "2026-02-30" or "24:00" would come back
         * as another day and not match its own formatting. */
        char again[TIME_STRING_MAX];
        time_format_us(*ret, again);
        return strcmp(again, s) == 0 ? 0 : -EINVAL;
}

static int copy_name(json_t *o, const char *field, char *out, size_t cap, bool collection)
{
        const char *s = json_string_value(json_object_get(o, field));

        if (!s || strlen(s) >= cap || !(collection ? name_collection_valid(s) : name_id_valid(s)))
                return -EBADMSG;
        strcpy(out, s);
        return 0;
}

static int line_fields(json_t *o, uint64_t seq, struct record_name *n, struct version_meta *m)
{
        const char *op = json_string_value(json_object_get(o, "op")),
                   *result = json_string_value(json_object_get(o, "result"));
        json_t *version = json_object_get(o, "version"),
               *uid = json_object_get(json_object_get(o, "actor"), "uid"),
               *size = json_object_get(o, "size");
        json_int_t s;

        if (!op || (strcmp(op, OP_PUT) != 0 && strcmp(op, OP_DELETE) != 0) || !result ||
            strcmp(result, "ok") != 0)
                return -ENOENT;
        m->kind = strcmp(op, OP_PUT) == 0 ? RECMETA_KIND_DATA : RECMETA_KIND_TOMBSTONE;
        if (copy_name(o, "collection", n->collection, sizeof(n->collection), true) < 0 ||
            copy_name(o, "id", n->id, sizeof(n->id), false) < 0 || !json_is_integer(version) ||
            json_integer_value(version) < 1 || !json_is_integer(uid) || json_integer_value(uid) < 0 ||
            json_integer_value(uid) > UINT32_MAX ||
            recmeta_time_parse(json_string_value(json_object_get(o, "time")), &m->time_us) < 0)
                return -EBADMSG;
        s = m->kind == RECMETA_KIND_DATA ? (json_is_integer(size) ? json_integer_value(size) : -1) : 0;
        if (s < 0)
                return -EBADMSG;
        n->version = (uint64_t)json_integer_value(version);
        m->uid = (uint32_t)json_integer_value(uid);
        m->size = (uint64_t)s;
        m->seq = seq;
        return 0;
}

bool recmeta_line_may_write(const char *line, size_t len)
{
        /* Inside a JSON string a quote is escaped, so these bytes occur
         * only as the op field itself. */
        static const char *const ops[] = {"\"op\":\"" OP_PUT "\"", "\"op\":\"" OP_DELETE "\""};

        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (memmem(line, len, ops[i], strlen(ops[i])))
                        return true;
        return false;
}

int recmeta_line_parse(const char *line, size_t len, uint64_t seq, struct record_name *ret_name,
                       struct version_meta *ret_meta)
{
        json_t *o = json_loadb(line, len, 0, NULL);
        int r = -EBADMSG;

        if (json_is_object(o))
                r = line_fields(o, seq, ret_name, ret_meta);
        json_decref(o);
        return r;
}

int recmeta_line_check(const char *line, size_t len, const struct record_name *n,
                       const struct version_meta *m, char *why, size_t whylen)
{
        char have[TIME_STRING_MAX], want[TIME_STRING_MAX];
        struct record_name ln;
        struct version_meta lm;
        int r = recmeta_line_parse(line, len, m->seq, &ln, &lm);

        if (r == -ENOENT)
                return why_bad(why, whylen, "it names audit line %" PRIu64 ", which wrote no version",
                               m->seq);
        if (r < 0)
                return why_bad(why, whylen, "it names audit line %" PRIu64 ", which is malformed", m->seq);
        if (strcmp(ln.collection, n->collection) != 0 || strcmp(ln.id, n->id) != 0 ||
            ln.version != n->version)
                return why_bad(why, whylen,
                               "audit line %" PRIu64 " wrote %s/%s version %" PRIu64 ", not this one",
                               m->seq, ln.collection, ln.id, ln.version);
        if (recmeta_tombstone(&lm) != recmeta_tombstone(m))
                return why_bad(why, whylen, "it is %s, but audit line %" PRIu64 " wrote %s",
                               recmeta_tombstone(m) ? "a deletion" : "data", m->seq,
                               recmeta_tombstone(&lm) ? "a deletion" : "data");
        if (lm.time_us != m->time_us) {
                time_format_us(m->time_us, have);
                time_format_us(lm.time_us, want);
                return why_bad(why, whylen, "its time is %s, but audit line %" PRIu64 " says %s", have,
                               m->seq, want);
        }
        if (lm.uid != m->uid)
                return why_bad(why, whylen,
                               "its uid is %" PRIu32 ", but audit line %" PRIu64 " says %" PRIu32, m->uid,
                               m->seq, lm.uid);
        if (lm.size != m->size)
                return why_bad(why, whylen,
                               "its size is %" PRIu64 ", but audit line %" PRIu64 " says %" PRIu64, m->size,
                               m->seq, lm.size);
        return 0;
}

int recmeta_head_check(const struct record_head *h, const struct version_meta *latest,
                       const struct version_meta *first, char *why, size_t whylen)
{
        char have[TIME_STRING_MAX], want[TIME_STRING_MAX];

        if (h->state == RECMETA_STATE_ACTIVE && recmeta_tombstone(latest))
                return why_bad(why, whylen,
                               "the head says the record is live, but its latest version %" PRIu64
                               " is a deletion",
                               h->version);
        if (h->state == RECMETA_STATE_DELETED && !recmeta_tombstone(latest))
                return why_bad(why, whylen,
                               "the head says the record is deleted, but its latest version %" PRIu64
                               " holds data",
                               h->version);
        if (h->updated_us != latest->time_us) {
                time_format_us(h->updated_us, have);
                time_format_us(latest->time_us, want);
                return why_bad(why, whylen, "the head's update time %s is not version %" PRIu64 "'s, %s",
                               have, h->version, want);
        }
        if (first && h->created_us != first->time_us) {
                time_format_us(h->created_us, have);
                time_format_us(first->time_us, want);
                return why_bad(why, whylen, "the head's creation time %s is not version 1's, %s", have,
                               want);
        }
        return 0;
}
