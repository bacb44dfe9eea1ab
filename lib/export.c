/* Offline verification of an audit export (docs/audit-format.md §Export). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include <sodium.h>

#include "auditfmt.h"
#include "auditproof.h"
#include "merkle.h"
#include "timestamp.h"
#include "util.h"

struct export_state {
        struct export_report *rep;
        const struct export_opts *opts;
        struct audit_chain chain;
        int64_t exported; /* the header's export time, seconds; -1 when it has none */
        char *key;        /* the key checkpoints must be signed by now */
        const char *origin;
        uint8_t (*hashes)[AUDIT_HASH_SIZE];  /* hash of each line, by seq - first_seq */
        uint8_t (*leaves)[MERKLE_HASH_SIZE]; /* its leaf hash in the tree */
        uint64_t nhashes;
        /* The Merkle tree: from the header's frontier of the first_seq
         * lines (tree_known; an export from before the tree has none),
         * extended leaf by leaf to each checkpoint's size in turn. */
        bool tree_known;
        struct merkle_frontier tree;
        bool since_root_seen; /* the tree passed opts->since_size: since_root_got is its root */
        uint8_t since_root_got[MERKLE_HASH_SIZE];
        struct checkpoint_forms forms;
        uint64_t last_size; /* of the last checkpoint checked */
        bool covered;       /* a checkpoint covers the last line */
        bool beyond;        /* the last checkpoint lies beyond the last line (a partial export) */
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
        st->leaves = calloc(st->nhashes, MERKLE_HASH_SIZE);
        if (!st->hashes || !st->leaves)
                return -ENOMEM;
        /* The tree before the first line: its frontier, which the signed
         * roots the lines lead to then vouch for. */
        if (json_object_get(h, "tree")) {
                if (auditproof_frontier_parse(json_object_get(h, "tree"), st->rep->first_seq, &st->tree) < 0)
                        return fail(st->rep, 1, -1,
                                    "the header's \"tree\" is not the frontier of the tree of %" PRIu64
                                    " lines",
                                    st->rep->first_seq);
                st->tree_known = true;
        } else if (st->rep->first_seq == 0) {
                merkle_frontier_init(&st->tree);
                st->tree_known = true;
        }
        {
                const char *when = json_string_value(json_object_get(h, "exported"));
                uint64_t us;

                st->exported = when && timestamp_parse_utc(when, &us) == 0 ? (int64_t)(us / 1000000) : -1;
        }
        /* The header names the key in force at the export's start. */
        if (st->opts->vkey && !note_verifier_equal(st->opts->vkey, vkey))
                return fail(
                        st->rep, 1, -1,
                        "the export's checkpoints start with verifier key %s, not the one given (another "
                        "vault, or an export that starts after a signing-key change)",
                        vkey);
        st->key = strdup(st->opts->vkey ? st->opts->vkey : vkey);
        return st->key ? 0 : -ENOMEM;
}

/* The tree extended to size lines (of this export), noting its root as
 * it passes the size continuity asks about. */
static int tree_advance(struct export_state *st, uint64_t size)
{
        const struct export_opts *o = st->opts;
        int k;

        for (;;) {
                if (o->has_since_root && st->tree.size == o->since_size && o->since_size > 0 &&
                    !st->since_root_seen) {
                        if ((k = merkle_frontier_root(&st->tree, st->since_root_got)) < 0)
                                return k;
                        st->since_root_seen = true;
                }
                if (st->tree.size >= size)
                        return 0;
                if ((k = merkle_frontier_append(&st->tree, st->leaves[st->tree.size - st->rep->first_seq])) <
                    0)
                        return k;
        }
}

/* The root of the tree of size lines, or NULL when it cannot be known
 * (an export without the header's frontier). */
static const uint8_t *tree_root_at(struct export_state *st, uint64_t size, uint8_t root[MERKLE_HASH_SIZE])
{
        if (!st->tree_known || size < st->tree.size || size == 0 || tree_advance(st, size) < 0 ||
            merkle_frontier_root(&st->tree, root) < 0)
                return NULL;
        return root;
}

/* The witnesses' cosignatures of a checkpoint whose root the lines gave. */
static void check_cosignatures(struct export_state *st, const char *note, uint64_t size)
{
        struct export_report *rep = st->rep;
        struct cosign_verdict v;

        if (st->opts->nwitnesses == 0 ||
            cosign_verdict(note, strlen(note), st->opts->witnesses, st->opts->nwitnesses, &v) < 0)
                return;
        if (size == rep->last_seq + 1) {
                rep->cosigned_size = size;
                rep->cosigned = v;
        }
        if (v.valid > 0 && v.valid >= rep->best.valid) {
                rep->best_size = size;
                rep->best = v;
        }
}

static int check_checkpoint(struct export_state *st, uint64_t lineno, const char *note)
{
        uint8_t root[MERKLE_HASH_SIZE];
        struct checkpoint c;
        bool beyond;
        char why[sizeof(st->rep->why)];
        int k;

        if (st->beyond)
                return fail(
                        st->rep, lineno, -1,
                        "a checkpoint follows the one beyond the export's last line (which must be last)");
        if (checkpoint_verify(note, st->key, &c, why, sizeof(why)) < 0)
                return fail(st->rep, lineno, -1, "%s", why);
        beyond = c.size > st->rep->last_seq + 1 && st->chain.next_seq == st->rep->last_seq + 1;
        if (strcmp(c.origin, st->origin) != 0)
                k = fail(st->rep, lineno, -1, "checkpoint origin %s is not the export's", c.origin);
        else if (beyond)
                k = 0; /* the vault's head at export time, past this export's end: no line to check */
        else if (c.size == 0 || c.size - 1 < st->rep->first_seq || c.size - 1 >= st->chain.next_seq)
                k = fail(st->rep, lineno, -1, "checkpoint of size %" PRIu64 " covers no line of this export",
                         c.size);
        else if (c.size <= st->last_size)
                k = fail(st->rep, lineno, -1, "checkpoints are not in order of size");
        else if ((k = checkpoint_form(&st->forms, &c, tree_root_at(st, c.size, root),
                                      st->hashes[c.size - 1 - st->rep->first_seq], why, sizeof(why))) < 0)
                k = fail(st->rep, lineno, (int64_t)c.size - 1, "%s", why);
        else {
                if (c.size - 1 == st->rep->last_seq)
                        st->rep->tree_root_signed = k == 1;
                if (k == 1)
                        check_cosignatures(st, note, c.size);
                k = 0;
        }
        if (k == 0) {
                st->beyond = beyond;
                if (c.size - 1 == st->rep->last_seq)
                        st->covered = true;
                st->last_size = c.size;
                st->rep->head_size = c.size;
                st->rep->head_time = c.time;
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

/* An audit line (not a checkpoint) of the file; js: its members when
 * jscan read it, else NULL. */
static int verify_audit_line(struct export_state *st, uint64_t lineno, const char *line, size_t len,
                             const struct jscan *js)
{
        char why[160];
        uint64_t seq = st->chain.next_seq;
        int k;

        if (st->rep->checkpoints > 0)
                return fail(st->rep, lineno, -1, "audit line after the checkpoints");
        if (st->chain.next_seq > st->rep->last_seq)
                return fail(st->rep, lineno, -1, "more lines than the header announces");
        k = js ? audit_chain_feed_scanned(&st->chain, line, len, js, why, sizeof(why))
               : audit_chain_feed(&st->chain, line, len, why, sizeof(why));
        if (k < 0)
                return fail(st->rep, lineno, (int64_t)seq, "%s", why);
        memcpy(st->hashes[seq - st->rep->first_seq], st->chain.prev, AUDIT_HASH_SIZE);
        merkle_leaf_hash(line, len, st->leaves[seq - st->rep->first_seq]);
        st->rep->lines++;
        return 0;
}

static int verify_line(struct export_state *st, uint64_t lineno, const char *line, size_t len)
{
        struct jscan js;
        json_t *o, *cp;
        int k;

        /* The common case, an audit line jscan is sure of, without a tree;
         * anything else (checkpoints too) as jansson reads it. */
        if (jscan_object(line, len, &js) && !jscan_get(&js, -1, "checkpoint"))
                return verify_audit_line(st, lineno, line, len, &js);
        o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) {
                json_decref(o);
                return fail(st->rep, lineno, -1, "not a JSON object");
        }
        if ((cp = json_object_get(o, "checkpoint")))
                k = json_is_string(cp) ? check_checkpoint(st, lineno, json_string_value(cp))
                                       : fail(st->rep, lineno, -1, "checkpoint is not a string");
        else
                k = verify_audit_line(st, lineno, line, len, NULL);
        json_decref(o);
        return k;
}

/* After the last line: the end, continuity, and freshness. */
static int verify_end(struct export_state *st, uint64_t lineno)
{
        struct export_report *rep = st->rep;
        const struct export_opts *o = st->opts;

        if (st->chain.next_seq != rep->last_seq + 1)
                return fail(rep, lineno, (int64_t)st->chain.next_seq,
                            "export ends at seq %" PRIu64 " but the header announces %" PRIu64,
                            st->chain.next_seq - 1, rep->last_seq);
        if (!st->covered)
                return fail(rep, lineno, (int64_t)rep->last_seq,
                            "no signed checkpoint covers the last line");
        memcpy(rep->last_hash, st->hashes[rep->last_seq - rep->first_seq], AUDIT_HASH_SIZE);
        rep->tree_size = rep->last_seq + 1;
        rep->tree_known = tree_root_at(st, rep->tree_size, rep->tree_root) != NULL;
        /* Vouched for by the signature on that root, or, by a checkpoint
         * of the old form, through the chain when the lines start at 0. */
        rep->tree_verified = rep->tree_known && (rep->tree_root_signed || rep->first_seq == 0);
        rep->forms = st->forms;
        if (o->has_since_root) {
                if (o->since_size > rep->last_seq + 1)
                        return fail(rep, lineno, (int64_t)o->since_size - 1,
                                    "the export ends at seq %" PRIu64 ", before the head verified last time "
                                    "(%" PRIu64 " lines): a trail rolled back or cut short",
                                    rep->last_seq, o->since_size);
                if (o->since_size < rep->first_seq || !st->tree_known)
                        return fail(rep, 1, (int64_t)o->since_size,
                                    "the export starts at seq %" PRIu64
                                    " and cannot show the tree of the %" PRIu64
                                    " lines verified last time: export from seq %" PRIu64 " or earlier",
                                    rep->first_seq, o->since_size, o->since_size);
                if (!st->since_root_seen || !rep->tree_verified ||
                    sodium_memcmp(st->since_root_got, o->since_root, MERKLE_HASH_SIZE) != 0)
                        return fail(rep, lineno, (int64_t)o->since_size - 1,
                                    "the tree of its first %" PRIu64
                                    " lines differs from the one verified last time: the trail was "
                                    "rewritten, or is another history (a fork)",
                                    o->since_size);
        } else if (o->has_since) {
                const uint8_t *h;

                if (o->since_seq > rep->last_seq)
                        return fail(rep, lineno, (int64_t)o->since_seq,
                                    "the export ends at seq %" PRIu64 ", before the head verified last time "
                                    "(seq %" PRIu64 "): a trail rolled back or cut short",
                                    rep->last_seq, o->since_seq);
                if (o->since_seq < rep->first_seq)
                        return fail(rep, 1, (int64_t)o->since_seq,
                                    "the export starts at seq %" PRIu64
                                    ", after the head verified last time "
                                    "(seq %" PRIu64 "): export from that seq or earlier to prove the trail "
                                    "extends it",
                                    rep->first_seq, o->since_seq);
                h = st->hashes[o->since_seq - rep->first_seq];
                if (sodium_memcmp(h, o->since_hash, AUDIT_HASH_SIZE) != 0)
                        return fail(rep, lineno, (int64_t)o->since_seq,
                                    "at seq %" PRIu64
                                    " this trail differs from the one verified last time: it "
                                    "was rewritten, or is another history (a fork)",
                                    o->since_seq);
        }
        if (st->beyond && !o->partial)
                return fail(rep, lineno, (int64_t)rep->last_seq,
                            "the export ends at seq %" PRIu64 ", but the vault held %" PRIu64
                            " lines when it was exported (its signed head): a part, not the whole trail "
                            "(pass --partial if you asked for a range)",
                            rep->last_seq, rep->head_size);
        /* The header's export time must be the newest checkpoint's: one cut
         * back to an older checkpoint has an older one. */
        if (!o->archive && rep->head_time > 0 &&
            (st->exported < rep->head_time || st->exported - rep->head_time > EXPORT_FRESH_SECONDS)) {
                char when[TIME_STRING_MAX];

                time_format_us((uint64_t)rep->head_time * 1000000, when);
                return fail(
                        rep, 1, -1,
                        st->exported < 0
                                ? "the header has no valid export time, so nothing shows the export is whole"
                                : "the export says it was made at a time its newest checkpoint (signed %s, "
                                  "%" PRIu64
                                  " lines) does not match: an older export, or one cut back to an "
                                  "earlier checkpoint (a sealed vault signs none: export once it is "
                                  "unsealed)",
                        when, rep->head_size);
        }
        return 0;
}

int export_verify_opts(FILE *f, const struct export_opts *opts, struct export_report *ret)
{
        struct export_state st = {.rep = ret, .opts = opts, .exported = -1};
        _cleanup_(freep) char *line = NULL;
        json_t *header_keep = NULL;
        size_t cap = 0, len;
        uint64_t lineno = 0, blank = 0;
        ssize_t n;
        int k = 0;

        *ret = (struct export_report){.bad_seq = -1};
        while ((n = getline(&line, &cap, f)) > 0) {
                lineno++;
                if (line[n - 1] != '\n') {
                        k = fail(ret, lineno, -1, "last line is not terminated (truncated file?)");
                        break;
                }
                len = (size_t)n - 1;
                /* A JSON line cannot hold a raw CR: one before the newline
                 * came from a Windows round trip, and is not hashed. */
                if (len && line[len - 1] == '\r') {
                        len--;
                        ret->crlf_lines++;
                }
                if (len == 0) { /* blank lines are tolerated at the end only */
                        blank++;
                        continue;
                }
                if (blank) {
                        k = fail(ret, lineno - 1, -1, "a blank line inside the export");
                        break;
                }
                if (lineno == 1) {
                        /* The header's strings must outlive this line. */
                        header_keep = json_loadb(line, len, 0, NULL);
                        if (!json_is_object(header_keep)) {
                                k = fail(ret, 1, -1, "not a JSON object");
                                break;
                        }
                        k = read_header(&st, header_keep);
                } else
                        k = verify_line(&st, lineno, line, len);
                if (k < 0)
                        break;
        }
        if (k == 0 && ferror(f))
                k = -EIO;
        if (k == 0 && lineno == blank)
                k = fail(ret, 0, -1, "the file is empty");
        if (k == 0)
                k = verify_end(&st, lineno);
        if (k == 0) {
                snprintf(ret->last_key, sizeof(ret->last_key), "%s", st.key);
                snprintf(ret->origin, sizeof(ret->origin), "%s", st.origin);
        }
        free(st.hashes);
        free(st.leaves);
        free(st.key);
        json_decref(header_keep);
        return k;
}

int export_verify(FILE *f, const char *vkey, struct export_report *ret)
{
        struct export_opts o = {.vkey = vkey};

        return export_verify_opts(f, &o, ret);
}
