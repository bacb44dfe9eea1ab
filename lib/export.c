/* Offline verification of an audit export (docs/audit-format.md §Export). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include <sodium.h>

#include "auditfmt.h"
#include "util.h"

struct export_state {
        struct export_report *rep;
        struct audit_chain chain;
        const char *vkey;
        char *key; /* the key checkpoints must be signed by now */
        const char *origin;
        uint8_t (*hashes)[AUDIT_HASH_SIZE]; /* hash of each line, by seq - first_seq */
        uint64_t nhashes;
        uint64_t last_size; /* of the last checkpoint checked */
        bool covered;       /* a checkpoint covers the last line */
};

__attribute__((format(printf, 4, 5))) static int fail(struct export_report *rep, uint64_t lineno,
                                                      int64_t seq, const char *fmt, ...)
{
        va_list ap;

        rep->bad_line = lineno;
        rep->bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static int read_header(struct export_state *st, json_t *h)
{
        json_t *fmt = json_object_get(h, "format"), *first = json_object_get(h, "first_seq"),
               *last = json_object_get(h, "last_seq"), *prev = json_object_get(h, "prev");
        const char *origin = json_string_value(json_object_get(h, "origin"));
        const char *vkey = json_string_value(json_object_get(h, "verifier_key"));
        uint8_t prevbin[AUDIT_HASH_SIZE];

        if (!json_is_string(fmt) || strcmp(json_string_value(fmt), EXPORT_FORMAT) != 0)
                return fail(st->rep, 1, -1, "not a vaultd audit export (format is not %s)", EXPORT_FORMAT);
        if (!origin || !vkey || !json_is_integer(first) || !json_is_integer(last) || !json_is_string(prev) ||
            json_integer_value(first) < 0 || json_integer_value(last) < json_integer_value(first) ||
            hex_decode(json_string_value(prev), prevbin, AUDIT_HASH_SIZE) < 0)
                return fail(st->rep, 1, -1, "export header is incomplete or malformed");
        st->rep->first_seq = (uint64_t)json_integer_value(first);
        st->rep->last_seq = (uint64_t)json_integer_value(last);
        if (st->rep->last_seq - st->rep->first_seq >= (1u << 26))
                return fail(st->rep, 1, -1, "export is too large to verify in one piece");
        st->origin = origin;
        audit_chain_init(&st->chain, st->rep->first_seq, prevbin);
        st->nhashes = st->rep->last_seq - st->rep->first_seq + 1;
        st->hashes = calloc(st->nhashes, AUDIT_HASH_SIZE);
        if (!st->hashes)
                return -ENOMEM;
        /* The header names the key in force at the export's start. */
        if (st->vkey && !note_verifier_equal(st->vkey, vkey))
                return fail(
                        st->rep, 1, -1,
                        "the export's checkpoints start with verifier key %s, not the one given (another "
                        "vault, or an export that starts after a signing-key change)",
                        vkey);
        st->key = strdup(st->vkey ? st->vkey : vkey);
        return st->key ? 0 : -ENOMEM;
}

static int check_checkpoint(struct export_state *st, uint64_t lineno, const char *note)
{
        struct checkpoint c;
        char why[sizeof(st->rep->why)];
        int k;

        if (checkpoint_verify(note, st->key, &c, why, sizeof(why)) < 0)
                return fail(st->rep, lineno, -1, "%s", why);
        if (strcmp(c.origin, st->origin) != 0)
                k = fail(st->rep, lineno, -1, "checkpoint origin %s is not the export's", c.origin);
        else if (c.size == 0 || c.size - 1 < st->rep->first_seq || c.size - 1 >= st->chain.next_seq)
                k = fail(st->rep, lineno, -1, "checkpoint of size %" PRIu64 " covers no line of this export",
                         c.size);
        else if (sodium_memcmp(c.hash, st->hashes[c.size - 1 - st->rep->first_seq], AUDIT_HASH_SIZE) != 0)
                k = fail(st->rep, lineno, (int64_t)c.size - 1,
                         "checkpoint of size %" PRIu64 " does not match line %" PRIu64, c.size, c.size - 1);
        else
                k = 0;
        if (k == 0 && c.size <= st->last_size)
                k = fail(st->rep, lineno, -1, "checkpoints are not in order of size");
        if (k == 0) {
                if (c.size - 1 == st->rep->last_seq)
                        st->covered = true;
                st->last_size = c.size;
                st->rep->checkpoints++;
                /* Signed by the key in force and by the next one: from
                 * here on, the next one alone is trusted. */
                if (c.next_key && !note_verifier_equal(c.next_key, st->key)) {
                        free(st->key);
                        st->key = c.next_key;
                        c.next_key = NULL;
                        st->rep->key_changes++;
                }
        }
        checkpoint_done(&c);
        return k;
}

static int verify_line(struct export_state *st, uint64_t lineno, const char *line, size_t len)
{
        json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL), *cp;
        int k;

        if (!json_is_object(o)) {
                json_decref(o);
                return fail(st->rep, lineno, -1, "not a JSON object");
        }
        if ((cp = json_object_get(o, "checkpoint")))
                k = json_is_string(cp) ? check_checkpoint(st, lineno, json_string_value(cp))
                                       : fail(st->rep, lineno, -1, "checkpoint is not a string");
        else if (st->rep->checkpoints > 0)
                k = fail(st->rep, lineno, -1, "audit line after the checkpoints");
        else if (st->chain.next_seq > st->rep->last_seq)
                k = fail(st->rep, lineno, -1, "more lines than the header announces");
        else {
                char why[160];
                uint64_t seq = st->chain.next_seq;

                k = audit_chain_feed(&st->chain, line, len, why, sizeof(why));
                if (k < 0)
                        k = fail(st->rep, lineno, (int64_t)seq, "%s", why);
                else {
                        memcpy(st->hashes[seq - st->rep->first_seq], st->chain.prev, AUDIT_HASH_SIZE);
                        st->rep->lines++;
                }
        }
        json_decref(o);
        return k;
}

int export_verify(FILE *f, const char *vkey, struct export_report *ret)
{
        struct export_state st = {.rep = ret, .vkey = vkey};
        _cleanup_(freep) char *line = NULL;
        json_t *header_keep = NULL;
        size_t cap = 0;
        uint64_t lineno = 0;
        ssize_t n;
        int k = 0;

        *ret = (struct export_report){.bad_seq = -1};
        while ((n = getline(&line, &cap, f)) > 0) {
                lineno++;
                if (line[n - 1] != '\n') {
                        k = fail(ret, lineno, -1, "last line is not terminated (truncated file?)");
                        break;
                }
                if (lineno == 1) {
                        /* The header's strings must outlive this line. */
                        header_keep = json_loadb(line, (size_t)n - 1, 0, NULL);
                        if (!json_is_object(header_keep)) {
                                k = fail(ret, 1, -1, "not a JSON object");
                                break;
                        }
                        k = read_header(&st, header_keep);
                } else
                        k = verify_line(&st, lineno, line, (size_t)n - 1);
                if (k < 0)
                        break;
        }
        if (k == 0 && ferror(f))
                k = -EIO;
        if (k == 0 && lineno == 0)
                k = fail(ret, 0, -1, "the file is empty");
        if (k == 0 && st.chain.next_seq != ret->last_seq + 1)
                k = fail(ret, lineno, (int64_t)st.chain.next_seq,
                         "export ends at seq %" PRIu64 " but the header announces %" PRIu64,
                         st.chain.next_seq - 1, ret->last_seq);
        if (k == 0 && !st.covered)
                k = fail(ret, lineno, (int64_t)ret->last_seq, "no signed checkpoint covers the last line");
        if (k == 0)
                snprintf(ret->last_key, sizeof(ret->last_key), "%s", st.key);
        free(st.hashes);
        free(st.key);
        json_decref(header_keep);
        return k;
}
