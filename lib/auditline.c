/* The audit line written directly: one per request, on the writer's
 * critical path, where building and dumping a jansson object cost more
 * than the rest of a Put's audit work (issue #12). Byte for byte what
 * auditfmt_line_json prints, which it falls back to for anything unusual;
 * tests/unit/test-auditfmt.c compares the two. */
#include "auditfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct out {
        char *p;
        size_t len;
        bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
        if (o->full || o->len + n > AUDIT_LINE_MAX) {
                o->full = true;
                return;
        }
        memcpy(o->p + o->len, s, n);
        o->len += n;
}

static void puts_(struct out *o, const char *s)
{
        put(o, s, strlen(s));
}

static void put_int(struct out *o, int64_t v)
{
        char b[24];
        int n = snprintf(b, sizeof(b), "%" PRId64, v);

        put(o, b, (size_t)n);
}

/* A string jansson prints as it is: printable ASCII without '"' or '\'. */
static bool plain(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
                        return false;
        return true;
}

/* ,"key":"value" (the value plain, checked by the caller). */
static void put_field(struct out *o, const char *key, const char *value)
{
        put(o, ",\"", 2);
        puts_(o, key);
        put(o, "\":\"", 3);
        puts_(o, value);
        put(o, "\"", 1);
}

/* Whether an extra field of this name would not simply follow the fixed
 * ones in jansson's output (it is dropped, or it takes the place of a
 * field that comes later). */
static bool extra_key_special(const char *k)
{
        static const char *const names[] = {"seq", "time",    "actor",  "op",    "collection",
                                            "id",  "version", "result", "error", "prev"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(k, names[i]) == 0)
                        return true;
        return false;
}

static bool entry_plain(const struct audit_entry *e)
{
        const char *k;
        json_t *v;

        if (!plain(e->op) || !plain(e->result) || (e->error && !plain(e->error)) ||
            (e->collection && !plain(e->collection)) || (e->id && !plain(e->id)) ||
            (e->actor.user && !plain(e->actor.user)) || (e->actor.role && !plain(e->actor.role)))
                return false;
        if (e->extra && !json_is_object(e->extra))
                return false;
        json_object_foreach(e->extra, k, v) if (!plain(k) || extra_key_special(k)) return false;
        return true;
}

int auditfmt_line(uint64_t seq, const struct audit_entry *e, const uint8_t prev[AUDIT_HASH_SIZE], char **ret,
                  size_t *ret_len)
{
        char tbuf[TIME_STRING_MAX], hex[AUDIT_HASH_HEX_SIZE];
        struct out o = {0};
        const char *k;
        json_t *v;

        if (!e->op || !e->result)
                return -EINVAL;
        if (!entry_plain(e))
                return auditfmt_line_json(seq, e, prev, ret, ret_len);
        o.p = malloc(AUDIT_LINE_MAX + 1);
        if (!o.p)
                return -ENOMEM;
        time_format_us(e->time_us, tbuf);
        hex_encode(prev, AUDIT_HASH_SIZE, hex);
        put(&o, "{\"seq\":", 7);
        put_int(&o, (int64_t)seq);
        put_field(&o, "time", tbuf);
        put(&o, ",\"actor\":{\"uid\":", 16);
        put_int(&o, e->actor.uid);
        put(&o, ",\"gid\":", 7);
        put_int(&o, e->actor.gid);
        put(&o, ",\"pid\":", 7);
        put_int(&o, e->actor.pid);
        if (e->actor.user)
                put_field(&o, "user", e->actor.user);
        if (e->actor.role)
                put_field(&o, "role", e->actor.role);
        else
                put(&o, ",\"role\":null", 12);
        put(&o, "}", 1);
        put_field(&o, "op", e->op);
        if (e->collection)
                put_field(&o, "collection", e->collection);
        if (e->id)
                put_field(&o, "id", e->id);
        if (e->version >= 0) {
                put(&o, ",\"version\":", 11);
                put_int(&o, e->version);
        }
        json_object_foreach(e->extra, k, v)
        {
                char *val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

                if (!val) {
                        free(o.p);
                        return -ENOMEM;
                }
                put(&o, ",\"", 2);
                puts_(&o, k);
                put(&o, "\":", 2);
                puts_(&o, val);
                free(val);
        }
        put_field(&o, "result", e->result);
        if (e->error)
                put_field(&o, "error", e->error);
        put_field(&o, "prev", hex);
        put(&o, "}", 1);
        if (o.full) {
                free(o.p);
                return -E2BIG;
        }
        o.p[o.len] = '\0';
        *ret = o.p;
        *ret_len = o.len;
        return 0;
}
