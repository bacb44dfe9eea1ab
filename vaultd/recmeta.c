#include "recmeta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jsonscan.h"

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

/* The number in s[0..n), all digits (checked by the caller). */
static unsigned decimal(const char *s, int n)
{
        unsigned v = 0;

        while (n--)
                v = v * 10 + (unsigned)(*s++ - '0');
        return v;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
        static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

        return days[month - 1] + (month == 2 && leap);
}

int recmeta_time_parse(const char *s, uint64_t *ret)
{
        /* Exactly time_format_us's spelling for 1970..9999: digits where
         * it writes digits, each field in its range, a day the month has
         * (a Verify parses two times per version: no sscanf, no timegm). */
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
        unsigned year, month, day, hour, min, sec;

        if (!s || strlen(s) != sizeof(shape) - 1)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(shape) - 1; i++)
                if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
                        return -EINVAL;
        year = decimal(s, 4), month = decimal(s + 5, 2), day = decimal(s + 8, 2);
        hour = decimal(s + 11, 2), min = decimal(s + 14, 2), sec = decimal(s + 17, 2);
        if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
            hour > 23 || min > 59 || sec > 59)
                return -EINVAL;
        *ret = ((uint64_t)days_from_civil(year, month, day) * 86400u + hour * 3600u + min * 60u + sec) *
                       1000000u +
               decimal(s + 20, 6);
        return 0;
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

/* A plain string member (no escapes) into out, NUL-terminated; -EBADMSG
 * when it is missing, not a string, or too long for cap. */
static int scanned_copy(const struct jscan_member *m, char *out, size_t cap)
{
        if (!m || m->type != JSCAN_STRING || m->val_len >= cap)
                return -EBADMSG;
        memcpy(out, m->val, m->val_len);
        out[m->val_len] = '\0';
        return 0;
}

/* line_fields for a line jscan read, with the same verdicts: the same
 * fields, read without a tree. */
static int line_fields_scanned(const struct jscan *js, uint64_t seq, struct record_name *n,
                               struct version_meta *m)
{
        const struct jscan_member *op = jscan_get(js, -1, "op"), *actor = jscan_get(js, -1, "actor"),
                                  *version = jscan_get(js, -1, "version"), *size = jscan_get(js, -1, "size"),
                                  *uid = NULL;
        char time[TIME_STRING_MAX];
        int64_t s;

        if ((!jscan_string_is(op, OP_PUT) && !jscan_string_is(op, OP_DELETE)) ||
            !jscan_string_is(jscan_get(js, -1, "result"), "ok"))
                return -ENOENT;
        m->kind = jscan_string_is(op, OP_PUT) ? RECMETA_KIND_DATA : RECMETA_KIND_TOMBSTONE;
        if (actor && actor->type == JSCAN_OBJECT)
                uid = jscan_get(js, jscan_index(js, actor), "uid");
        if (scanned_copy(jscan_get(js, -1, "collection"), n->collection, sizeof(n->collection)) < 0 ||
            !name_collection_valid(n->collection) ||
            scanned_copy(jscan_get(js, -1, "id"), n->id, sizeof(n->id)) < 0 || !name_id_valid(n->id) ||
            !version || version->type != JSCAN_INTEGER || jscan_integer(version) < 1 || !uid ||
            uid->type != JSCAN_INTEGER || jscan_integer(uid) < 0 || jscan_integer(uid) > UINT32_MAX ||
            scanned_copy(jscan_get(js, -1, "time"), time, sizeof(time)) < 0 ||
            recmeta_time_parse(time, &m->time_us) < 0)
                return -EBADMSG;
        s = m->kind == RECMETA_KIND_DATA ? (size && size->type == JSCAN_INTEGER ? jscan_integer(size) : -1)
                                         : 0;
        if (s < 0)
                return -EBADMSG;
        n->version = (uint64_t)jscan_integer(version);
        m->uid = (uint32_t)jscan_integer(uid);
        m->size = (uint64_t)s;
        m->seq = seq;
        return 0;
}

/* Whether jscan's reading of a line serves line_fields: its strings must
 * hold no escapes (jansson compares and copies their decoded values). */
static bool scanned_plain(const struct jscan *js)
{
        static const char *const names[] = {"op", "result", "collection", "id", "time"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const struct jscan_member *m = jscan_get(js, -1, names[i]);

                if (m && m->type == JSCAN_STRING_ESCAPED)
                        return false;
        }
        return true;
}

int recmeta_line_parse(const char *line, size_t len, uint64_t seq, struct record_name *ret_name,
                       struct version_meta *ret_meta)
{
        struct jscan js;
        json_t *o;
        int r = -EBADMSG;

        /* jscan refuses duplicate keys, which jansson (flags 0) takes
         * (the last wins): such a line goes to jansson too. */
        if (jscan_object(line, len, &js) && scanned_plain(&js))
                return line_fields_scanned(&js, seq, ret_name, ret_meta);
        o = json_loadb(line, len, 0, NULL);

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
