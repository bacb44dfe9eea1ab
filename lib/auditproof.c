#include "auditproof.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "note.h"

void auditproof_hash_b64(const uint8_t hash[MERKLE_HASH_SIZE], char out[MERKLE_HASH_B64_SIZE])
{
        sodium_bin2base64(out, MERKLE_HASH_B64_SIZE, hash, MERKLE_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL);
}

int auditproof_hash_parse(json_t *s, uint8_t ret[MERKLE_HASH_SIZE])
{
        const char *b64 = json_string_value(s);
        size_t len;

        if (!b64 || strlen(b64) != MERKLE_HASH_B64_SIZE - 1 ||
            sodium_base642bin(ret, MERKLE_HASH_SIZE, b64, MERKLE_HASH_B64_SIZE - 1, NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            len != MERKLE_HASH_SIZE)
                return -EINVAL;
        return 0;
}

json_t *auditproof_hashes_json(const uint8_t (*hashes)[MERKLE_HASH_SIZE], size_t n)
{
        char b64[MERKLE_HASH_B64_SIZE];
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++) {
                auditproof_hash_b64(hashes[i], b64);
                if (json_array_append_new(a, json_string(b64)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

int auditproof_hashes_parse(json_t *array, uint8_t (*ret)[MERKLE_HASH_SIZE])
{
        size_t n = json_array_size(array);

        if (!json_is_array(array) || n > MERKLE_PROOF_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (auditproof_hash_parse(json_array_get(array, i), ret[i]) < 0)
                        return -EINVAL;
        return (int)n;
}

json_t *auditproof_frontier_json(const struct merkle_frontier *f)
{
        uint8_t hashes[MERKLE_LEVELS][MERKLE_HASH_SIZE];
        size_t n = 0;

        for (int level = MERKLE_LEVELS - 1; level >= 0; level--)
                if ((f->size >> level) & 1)
                        memcpy(hashes[n++], f->hash[level], MERKLE_HASH_SIZE);
        return auditproof_hashes_json((const void *)hashes, n);
}

int auditproof_frontier_parse(json_t *array, uint64_t size, struct merkle_frontier *ret)
{
        uint8_t hashes[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
        struct merkle_frontier f = {.size = size};
        int n = auditproof_hashes_parse(array, hashes), i = 0;

        if (n != __builtin_popcountll(size))
                return -EINVAL;
        for (int level = MERKLE_LEVELS - 1; level >= 0; level--)
                if ((size >> level) & 1)
                        memcpy(f.hash[level], hashes[i++], MERKLE_HASH_SIZE);
        *ret = f;
        return 0;
}

static int fail(struct auditproof_report *rep, int64_t seq, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail(struct auditproof_report *rep, int64_t seq, const char *fmt, ...)
{
        va_list ap;

        rep->bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static bool size_of(json_t *v, uint64_t *ret)
{
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

/* A checkpoint given with the proof: signed by vkey, of size size;
 * *ret_root_signed when its hash is root. */
static int check_checkpoint(struct auditproof_report *rep, json_t *note, const char *vkey, uint64_t size,
                            const uint8_t root[MERKLE_HASH_SIZE], bool *ret_signed, bool *ret_root_signed)
{
        char why[256];
        struct checkpoint c;
        int r = 0;

        if (json_is_null(note) || !note)
                return 0;
        if (!json_is_string(note) || !vkey)
                return fail(rep, -1, "a checkpoint is not a string, or no verifier key is known");
        if (checkpoint_verify(json_string_value(note), vkey, &c, why, sizeof(why)) < 0)
                r = fail(rep, -1, "the checkpoint of size %" PRIu64 " does not verify: %s", size, why);
        else if (c.size != size)
                r = fail(rep, -1, "the checkpoint given for size %" PRIu64 " is of size %" PRIu64, size,
                         c.size);
        else {
                *ret_signed = true;
                *ret_root_signed = memcmp(c.hash, root, MERKLE_HASH_SIZE) == 0;
        }
        checkpoint_done(&c);
        return r;
}

/* Each {"seq", "line", "inclusion"} of lines, against root. */
static int check_lines(struct auditproof_report *rep, json_t *lines, const uint8_t root[MERKLE_HASH_SIZE])
{
        uint8_t proof[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE], leaf[MERKLE_HASH_SIZE];
        json_t *item;
        size_t i;

        if (lines && !json_is_array(lines))
                return fail(rep, -1, "\"lines\" is not an array");
        json_array_foreach(lines, i, item)
        {
                json_t *line = json_object_get(item, "line"), *parsed;
                uint64_t seq = 0;
                int n = auditproof_hashes_parse(json_object_get(item, "inclusion"), proof);
                bool same_seq;

                if (!size_of(json_object_get(item, "seq"), &seq) || !json_is_string(line) || n < 0)
                        return fail(rep, -1, "entry %zu of \"lines\" lacks seq, line or inclusion", i);
                parsed = json_loadb(json_string_value(line), json_string_length(line), 0, NULL);
                same_seq = json_integer_value(json_object_get(parsed, "seq")) == (json_int_t)seq;
                json_decref(parsed);
                if (!same_seq)
                        return fail(rep, (int64_t)seq,
                                    "the line given for seq %" PRIu64 " is not line %" PRIu64, seq, seq);
                merkle_leaf_hash(json_string_value(line), json_string_length(line), leaf);
                if (seq >= rep->size ||
                    merkle_verify_inclusion(seq, rep->size, leaf, (const void *)proof, (size_t)n, root) != 0)
                        return fail(rep, (int64_t)seq,
                                    "line %" PRIu64 " is not in the tree of %" PRIu64
                                    " lines: its inclusion "
                                    "proof fails",
                                    seq, rep->size);
                rep->lines++;
        }
        return 0;
}

int auditproof_verify(json_t *proof, const char *vkey, struct auditproof_report *ret)
{
        uint8_t root[MERKLE_HASH_SIZE], old_root[MERKLE_HASH_SIZE], cons[MERKLE_PROOF_MAX][MERKLE_HASH_SIZE];
        struct auditproof_report rep = {.bad_seq = -1};
        const char *format = json_string_value(json_object_get(proof, "format"));
        bool old_signed = false;
        int r, n;

        if (!vkey)
                vkey = json_string_value(json_object_get(proof, "verifier_key"));
        if (!format || strcmp(format, AUDITPROOF_FORMAT) != 0)
                r = fail(&rep, -1, "not a proof file (format " AUDITPROOF_FORMAT ")");
        else if (!size_of(json_object_get(proof, "size"), &rep.size) || rep.size == 0 ||
                 auditproof_hash_parse(json_object_get(proof, "root"), root) < 0)
                r = fail(&rep, -1, "the proof file lacks the tree's size or root");
        else if ((r = check_checkpoint(&rep, json_object_get(proof, "checkpoint"), vkey, rep.size, root,
                                       &rep.checkpoint, &rep.root_signed)) < 0 ||
                 (r = check_lines(&rep, json_object_get(proof, "lines"), root)) < 0)
                ;
        else if (json_object_get(proof, "old_size")) {
                n = auditproof_hashes_parse(json_object_get(proof, "consistency"), cons);
                if (!size_of(json_object_get(proof, "old_size"), &rep.old_size) || rep.old_size == 0 ||
                    rep.old_size > rep.size ||
                    auditproof_hash_parse(json_object_get(proof, "old_root"), old_root) < 0 || n < 0)
                        r = fail(&rep, -1, "the consistency proof lacks old_size, old_root or its hashes");
                else if (merkle_verify_consistency(rep.old_size, rep.size, old_root, root,
                                                   (const void *)cons, (size_t)n) != 0)
                        r = fail(&rep, -1,
                                 "the tree of %" PRIu64 " lines is not an extension of the tree of %" PRIu64
                                 " lines: the consistency proof fails",
                                 rep.size, rep.old_size);
                else
                        r = check_checkpoint(&rep, json_object_get(proof, "old_checkpoint"), vkey,
                                             rep.old_size, old_root, &old_signed, &rep.old_root_signed);
        }
        *ret = rep;
        return r;
}
