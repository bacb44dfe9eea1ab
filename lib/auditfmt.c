#include "auditfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sha256.h"
#include "util.h"

#define EM_DASH "\xe2\x80\x94"

int auditfmt_line_json(uint64_t seq, const struct audit_entry *e, const uint8_t prev[AUDIT_HASH_SIZE],
                       char **ret, size_t *ret_len)
{
        char tbuf[TIME_STRING_MAX], hex[AUDIT_HASH_HEX_SIZE];
        json_t *o, *actor;
        const char *k;
        json_t *v;
        char *s;

        if (!e->op || !e->result)
                return -EINVAL;
        time_format_us(e->time_us, tbuf);
        hex_encode(prev, AUDIT_HASH_SIZE, hex);
        actor = json_pack("{s:I,s:I,s:I}", "uid", (json_int_t)e->actor.uid, "gid", (json_int_t)e->actor.gid,
                          "pid", (json_int_t)e->actor.pid);
        o = json_pack("{s:I,s:s,s:o,s:s}", "seq", (json_int_t)seq, "time", tbuf, "actor", actor, "op",
                      e->op);
        if (!o)
                return -ENOMEM;
        if (e->actor.user)
                json_object_set_new(actor, "user", json_string(e->actor.user));
        json_object_set_new(actor, "role", e->actor.role ? json_string(e->actor.role) : json_null());
        if (e->collection)
                json_object_set_new(o, "collection", json_string(e->collection));
        if (e->id)
                json_object_set_new(o, "id", json_string(e->id));
        if (e->version >= 0)
                json_object_set_new(o, "version", json_integer(e->version));
        json_object_foreach(e->extra, k, v) if (!json_object_get(o, k) && strcmp(k, "prev") &&
                                                strcmp(k, "result")) json_object_set(o, k, v);
        json_object_set_new(o, "result", json_string(e->result));
        if (e->error)
                json_object_set_new(o, "error", json_string(e->error));
        json_object_set_new(o, "prev", json_string(hex));
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        if (strlen(s) > AUDIT_LINE_MAX) {
                free(s);
                return -E2BIG;
        }
        *ret_len = strlen(s);
        *ret = s;
        return 0;
}

void auditfmt_hash(const char *line, size_t len, uint8_t out[AUDIT_HASH_SIZE])
{
        sha256(line, len, out);
}

void audit_chain_init(struct audit_chain *c, uint64_t first_seq, const uint8_t prev[AUDIT_HASH_SIZE])
{
        c->next_seq = first_seq;
        memcpy(c->prev, prev, AUDIT_HASH_SIZE);
}

/* seq and prev of a line, checked against the chain; f says what the
 * line holds (read by jscan or by jansson). */
struct chain_fields {
        bool is_line; /* an object with an integer seq and a string prev */
        int64_t seq;
        const char *prev; /* not NUL-terminated */
        size_t prev_len;
};

static int chain_check(struct audit_chain *c, const char *line, size_t len, const struct chain_fields *f,
                       char *why, size_t whylen)
{
        char hex[AUDIT_HASH_HEX_SIZE];
        bool prev_ok;

        if (!f->is_line)
                return why_bad(why, whylen, "not an audit line (JSON object with seq and prev)");
        if ((uint64_t)f->seq != c->next_seq || f->seq < 0)
                return why_bad(why, whylen, "seq is %" PRId64 ", expected %" PRIu64, f->seq, c->next_seq);
        hex_encode(c->prev, AUDIT_HASH_SIZE, hex);
        prev_ok = f->prev_len == 2 * AUDIT_HASH_SIZE && memcmp(f->prev, hex, f->prev_len) == 0;
        if (!prev_ok && c->next_seq == 0)
                return why_bad(why, whylen, "prev of line 0 is not 64 zeros");
        if (!prev_ok)
                return why_bad(why, whylen,
                               "prev does not match the hash of line %" PRIu64
                               " (a line is missing, altered or out of order)",
                               c->next_seq - 1);
        auditfmt_hash(line, len, c->prev);
        c->next_seq++;
        return 0;
}

static bool line_shape_ok(const char *line, size_t len, char *why, size_t whylen)
{
        if (len > AUDIT_LINE_MAX || memchr(line, '\n', len) || memchr(line, '\0', len)) {
                why_bad(why, whylen, "line is too long or contains a newline or NUL");
                return false;
        }
        return true;
}

/* The slow path: the whole line parsed by jansson. */
static int chain_feed_parsed(struct audit_chain *c, const char *line, size_t len, char *why, size_t whylen)
{
        json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *seq = json_object_get(o, "seq"), *prev = json_object_get(o, "prev");
        struct chain_fields f = {.is_line =
                                         json_is_object(o) && json_is_integer(seq) && json_is_string(prev)};
        int k;

        if (f.is_line) {
                f.seq = json_integer_value(seq);
                f.prev = json_string_value(prev);
                f.prev_len = json_string_length(prev);
        }
        k = chain_check(c, line, len, &f, why, whylen);
        json_decref(o);
        return k;
}

int audit_chain_feed_scanned(struct audit_chain *c, const char *line, size_t len, const struct jscan *js,
                             char *why, size_t whylen)
{
        const struct jscan_member *seq = jscan_get(js, -1, "seq"), *prev = jscan_get(js, -1, "prev");
        struct chain_fields f = {0};

        if (!line_shape_ok(line, len, why, whylen))
                return -EBADMSG;
        /* An escaped prev is compared by its value: jansson decodes it. */
        if (prev && prev->type == JSCAN_STRING_ESCAPED)
                return chain_feed_parsed(c, line, len, why, whylen);
        if (seq && seq->type == JSCAN_INTEGER && prev && prev->type == JSCAN_STRING)
                f = (struct chain_fields){true, jscan_integer(seq), prev->val, prev->val_len};
        return chain_check(c, line, len, &f, why, whylen);
}

int audit_chain_feed(struct audit_chain *c, const char *line, size_t len, char *why, size_t whylen)
{
        struct jscan js;

        if (!line_shape_ok(line, len, why, whylen))
                return -EBADMSG;
        if (jscan_object(line, len, &js))
                return audit_chain_feed_scanned(c, line, len, &js, why, whylen);
        return chain_feed_parsed(c, line, len, why, whylen);
}

int signing_key_at(const char *hist, size_t len, uint64_t size, char *buf, size_t cap)
{
        const char *best = NULL, *line = hist, *end = hist + len, *eol, *sp;
        size_t best_len = 0;

        for (; line < end && (eol = memchr(line, '\n', (size_t)(end - line))); line = eol + 1) {
                char num[24];

                sp = memchr(line, ' ', (size_t)(eol - line));
                if (!sp || sp == line || (size_t)(sp - line) >= sizeof(num) ||
                    strspn(line, "0123456789") != (size_t)(sp - line))
                        return -EINVAL;
                memcpy(num, line, (size_t)(sp - line));
                num[sp - line] = '\0';
                if (strtoull(num, NULL, 10) >= size)
                        break;
                best = sp + 1;
                best_len = (size_t)(eol - best);
        }
        if (!best || best_len == 0)
                return -EINVAL;
        if (best_len >= cap)
                return -ENAMETOOLONG;
        memcpy(buf, best, best_len);
        buf[best_len] = '\0';
        return 0;
}
