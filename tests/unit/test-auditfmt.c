/* Unit tests for lib/auditfmt.c and lib/export.c: the audit line format, its
 * hash chain, checkpoints as signed notes, and offline export verification. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "auditfmt.h"
#include "util.h"

#define NLINES 10
#define ORIGIN "example.org/log"
/* 2025-11-29T14:03:07.123456Z */
#define TIME_US 1764424987123456ull

/* A valid chain of NLINES audit lines, a signing key, and the pieces of an
 * export of that chain. */
struct fixture {
        char *lines[NLINES];
        size_t lens[NLINES];
        uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        char *vkey;
        char *header;     /* export header line */
        char *checkpoint; /* export checkpoint line for size NLINES */
};

static const uint8_t zero_hash[AUDIT_HASH_SIZE];

static char *make_line(uint64_t seq, const char *op, const uint8_t prev[AUDIT_HASH_SIZE], size_t *ret_len)
{
        char id[32];
        struct audit_entry e = {
                .time_us = TIME_US + seq,
                .actor = {.uid = 1000, .gid = 1000, .pid = 4242, .user = "svc", .role = "service"},
                .op = op,
                .collection = "people",
                .id = id,
                .version = (int64_t)seq + 1,
                .result = "ok",
        };
        char *line;

        snprintf(id, sizeof(id), "p-%" PRIu64, seq);
        assert_int_equal(auditfmt_line(seq, &e, prev, &line, ret_len), 0);
        return line;
}

/* A copy of line with one character of its "op" value changed; the line
 * stays valid JSON with the same seq and prev. */
static char *alter_op(const char *line)
{
        char *copy = strdup(line), *op;

        assert_non_null(copy);
        op = strstr(copy, "\"op\":\"records.put\"");
        assert_non_null(op);
        op[strlen("\"op\":\"records.")] = 'P';
        return copy;
}

/* The signed time of the test checkpoints: 2025-11-29T14:03:07Z. */
#define CP_TIME 1764424987

static char *text_of(uint64_t size, const uint8_t hash[AUDIT_HASH_SIZE])
{
        struct checkpoint c = {.origin = ORIGIN, .size = size, .time = CP_TIME};
        char *text;

        memcpy(c.hash, hash, AUDIT_HASH_SIZE);
        assert_int_equal(checkpoint_text(&c, &text), 0);
        return text;
}

/* Sign text as ORIGIN with sk, the way vaultd signs checkpoints. */
static char *sign_note(const char *text, const uint8_t pk[32], const uint8_t sk[64])
{
        uint8_t id[4], sig[crypto_sign_BYTES];
        char *note;

        crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), sk);
        note_key_id(ORIGIN, pk, id);
        assert_int_equal(checkpoint_note(text, ORIGIN, &id, &sig, 1, &note), 0);
        return note;
}

static char *make_checkpoint(uint64_t size, const uint8_t hash[AUDIT_HASH_SIZE], const uint8_t pk[32],
                             const uint8_t sk[64])
{
        char *text, *note;

        text = text_of(size, hash);
        note = sign_note(text, pk, sk);
        free(text);
        return note;
}

static char *export_header(const char *vkey)
{
        char zeros[AUDIT_HASH_HEX_SIZE];
        json_t *h;
        char *s;

        hex_encode(zero_hash, AUDIT_HASH_SIZE, zeros);
        h = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s}", "format", EXPORT_FORMAT, "vault", "x", "origin",
                      ORIGIN, "verifier_key", vkey, "first_seq", (json_int_t)0, "last_seq",
                      (json_int_t)(NLINES - 1), "prev", zeros, "exported", "2025-11-29T14:03:08.250000Z");
        assert_non_null(h);
        s = json_dumps(h, JSON_COMPACT);
        json_decref(h);
        assert_non_null(s);
        return s;
}

static char *export_checkpoint_line(const uint8_t pk[32], const uint8_t sk[64], const char *last_line)
{
        uint8_t hash[AUDIT_HASH_SIZE];
        char *note, *s;
        json_t *o;

        auditfmt_hash(last_line, strlen(last_line), hash);
        note = make_checkpoint(NLINES, hash, pk, sk);
        o = json_pack("{s:s}", "checkpoint", note);
        assert_non_null(o);
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        free(note);
        assert_non_null(s);
        return s;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        uint8_t prev[AUDIT_HASH_SIZE];

        assert_non_null(f);
        memcpy(prev, zero_hash, sizeof(prev));
        for (uint64_t i = 0; i < NLINES; i++) {
                f->lines[i] = make_line(i, "records.put", prev, &f->lens[i]);
                auditfmt_hash(f->lines[i], f->lens[i], prev);
        }
        crypto_sign_keypair(f->pk, f->sk);
        assert_int_equal(note_verifier_key(ORIGIN, f->pk, &f->vkey), 0);
        f->header = export_header(f->vkey);
        f->checkpoint = export_checkpoint_line(f->pk, f->sk, f->lines[NLINES - 1]);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        for (size_t i = 0; i < NLINES; i++)
                free(f->lines[i]);
        free(f->vkey);
        free(f->header);
        free(f->checkpoint);
        free(f);
        return 0;
}

/* Feeds n lines from seq 0. Returns the position of the first line the
 * chain rejects, with its reason in why, or -1 when all are accepted. */
static int chain_first_bad(char *const *lines, size_t n, char *why, size_t whylen)
{
        struct audit_chain c;

        why[0] = '\0';
        audit_chain_init(&c, 0, zero_hash);
        for (size_t i = 0; i < n; i++) {
                int k = audit_chain_feed(&c, lines[i], strlen(lines[i]), why, whylen);

                if (k < 0) {
                        assert_int_equal(k, -EBADMSG);
                        /* A rejected line does not advance the chain. */
                        assert_int_equal(c.next_seq, i);
                        return (int)i;
                }
        }
        assert_int_equal(c.next_seq, n);
        return -1;
}

static void test_chain_accepts_valid(void **state)
{
        struct fixture *f = *state;
        uint8_t last[AUDIT_HASH_SIZE];
        struct audit_chain c;
        char why[256] = "";

        assert_int_equal(chain_first_bad(f->lines, NLINES, why, sizeof(why)), -1);
        assert_string_equal(why, "");

        /* The chain ends holding the hash of the last line. */
        audit_chain_init(&c, 0, zero_hash);
        for (size_t i = 0; i < NLINES; i++)
                assert_int_equal(audit_chain_feed(&c, f->lines[i], f->lens[i], NULL, 0), 0);
        auditfmt_hash(f->lines[NLINES - 1], f->lens[NLINES - 1], last);
        assert_memory_equal(c.prev, last, AUDIT_HASH_SIZE);

        /* A chain may start in the middle, from the hash of the line before. */
        auditfmt_hash(f->lines[3], f->lens[3], last);
        audit_chain_init(&c, 4, last);
        for (size_t i = 4; i < NLINES; i++)
                assert_int_equal(audit_chain_feed(&c, f->lines[i], f->lens[i], NULL, 0), 0);
}

/* Replaces line i with a copy whose "op" value differs by one character. */
static void alter_line(struct fixture *f, size_t i)
{
        char *altered = alter_op(f->lines[i]);

        free(f->lines[i]);
        f->lines[i] = altered;
        f->lens[i] = strlen(altered);
}

static void test_chain_altered_line(void **state)
{
        struct fixture *f = *state;
        char why[256];

        alter_line(f, 4);
        /* Line 4 still links to line 3; line 5's prev no longer matches it. */
        assert_int_equal(chain_first_bad(f->lines, NLINES, why, sizeof(why)), 5);
        assert_true(strlen(why) > 0);
}

static void test_chain_removed_line(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES - 1], why[256];

        for (size_t i = 0, j = 0; i < NLINES; i++)
                if (i != 3)
                        lines[j++] = f->lines[i];
        assert_int_equal(chain_first_bad(lines, NLINES - 1, why, sizeof(why)), 3);
        assert_true(strlen(why) > 0);

        /* Removing the first line is caught too. */
        assert_int_equal(chain_first_bad(f->lines + 1, NLINES - 1, why, sizeof(why)), 0);
        assert_true(strlen(why) > 0);
}

static void test_chain_swapped_lines(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES], why[256];

        memcpy(lines, f->lines, sizeof(lines));
        lines[5] = f->lines[6];
        lines[6] = f->lines[5];
        assert_int_equal(chain_first_bad(lines, NLINES, why, sizeof(why)), 5);
        assert_true(strlen(why) > 0);
}

static void test_chain_wrong_seq(void **state)
{
        struct fixture *f = *state;
        uint8_t prev[AUDIT_HASH_SIZE];
        char *lines[NLINES], why[256];
        size_t len;

        /* Line 3 as it should be, but numbered 7: prev is right, seq is not. */
        memcpy(lines, f->lines, sizeof(lines));
        auditfmt_hash(f->lines[2], f->lens[2], prev);
        lines[3] = make_line(7, "records.put", prev, &len);
        assert_int_equal(chain_first_bad(lines, NLINES, why, sizeof(why)), 3);
        assert_true(strlen(why) > 0);
        free(lines[3]);

        /* Rebuilt with its own seq it is accepted again (the line is
         * deterministic), so the failure above was the seq. */
        lines[3] = make_line(3, "records.put", prev, &len);
        assert_string_equal(lines[3], f->lines[3]);
        assert_int_equal(chain_first_bad(lines, NLINES, why, sizeof(why)), -1);
        free(lines[3]);
}

static void test_chain_wrong_first_prev(void **state)
{
        struct fixture *f = *state;
        uint8_t prev[AUDIT_HASH_SIZE];
        char *lines[NLINES], why[256];
        size_t len;

        memset(prev, 0x11, sizeof(prev));
        memcpy(lines, f->lines, sizeof(lines));
        lines[0] = make_line(0, "records.put", prev, &len);
        assert_int_equal(chain_first_bad(lines, NLINES, why, sizeof(why)), 0);
        free(lines[0]);
        assert_true(strlen(why) > 0);
        /* There is no line before seq 0; the reason must not name one. */
        if (strstr(why, "18446744073709551615"))
                fail_msg("reason names a line before seq 0: %s", why);
}

#define ZEROS64 "0000000000000000000000000000000000000000000000000000000000000000"

static void test_chain_rejects_non_lines(void **state)
{
        /* Each differs from the minimal valid first line in one way. */
        static const char *const bad[] = {
                "",
                "[]",
                "{\"seq\":0}",
                "{\"seq\":\"0\",\"prev\":\"" ZEROS64 "\"}",
                "{\"seq\":-1,\"prev\":\"" ZEROS64 "\"}",
                "{\"seq\":0,\"prev\":\"" ZEROS64 "\",\"seq\":0}",
                "{\"seq\":0,\n\"prev\":\"" ZEROS64 "\"}",
                "{\"seq\":0,\"prev\":\"" ZEROS64 "\"",
        };
        static const char good[] = "{\"seq\":0,\"prev\":\"" ZEROS64 "\"}";
        struct audit_chain c;
        char why[256];

        (void)state;
        audit_chain_init(&c, 0, zero_hash);
        assert_int_equal(audit_chain_feed(&c, good, strlen(good), why, sizeof(why)), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why[0] = '\0';
                audit_chain_init(&c, 0, zero_hash);
                assert_int_equal(audit_chain_feed(&c, bad[i], strlen(bad[i]), why, sizeof(why)), -EBADMSG);
                assert_true(strlen(why) > 0);
        }
}

static void test_line_format(void **state)
{
        uint8_t prev[AUDIT_HASH_SIZE];
        char hex[AUDIT_HASH_HEX_SIZE], *line;
        json_t *extra, *o, *actor;
        const char *key, *last = NULL;
        void *it;
        size_t len;
        struct audit_entry e = {
                .time_us = TIME_US,
                .actor = {.uid = 1234, .gid = 5678, .pid = 99, .user = "alice", .role = NULL},
                .op = "records.get",
                .collection = "people",
                .id = "p-1",
                .version = 7,
                .result = "error",
                .error = "NotFound",
        };

        (void)state;
        memset(prev, 0xab, sizeof(prev));
        hex_encode(prev, sizeof(prev), hex);
        /* Extra fields may not replace the chain's own fields. */
        extra = json_pack("{s:i,s:s,s:s,s:s}", "seq", 99, "prev", "forged", "result", "forged", "note",
                          "two\nlines");
        assert_non_null(extra);
        e.extra = extra;
        assert_int_equal(auditfmt_line(5, &e, prev, &line, &len), 0);
        json_decref(extra);

        assert_int_equal(strlen(line), len);
        assert_null(memchr(line, '\n', len));
        o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
        assert_true(json_is_object(o));

        it = json_object_iter(o);
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), "seq");
        it = json_object_iter_next(o, it);
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), "time");
        it = json_object_iter_next(o, it);
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), "actor");
        json_object_foreach(o, key, actor) last = key;
        assert_string_equal(last, "prev");

        assert_int_equal(json_integer_value(json_object_get(o, "seq")), 5);
        assert_string_equal(json_string_value(json_object_get(o, "time")), "2025-11-29T14:03:07.123456Z");
        assert_string_equal(json_string_value(json_object_get(o, "prev")), hex);
        assert_string_equal(json_string_value(json_object_get(o, "op")), "records.get");
        assert_string_equal(json_string_value(json_object_get(o, "result")), "error");
        assert_string_equal(json_string_value(json_object_get(o, "error")), "NotFound");
        assert_int_equal(json_integer_value(json_object_get(o, "version")), 7);
        assert_string_equal(json_string_value(json_object_get(o, "note")), "two\nlines");
        actor = json_object_get(o, "actor");
        assert_int_equal(json_integer_value(json_object_get(actor, "uid")), 1234);
        assert_int_equal(json_integer_value(json_object_get(actor, "gid")), 5678);
        assert_int_equal(json_integer_value(json_object_get(actor, "pid")), 99);
        assert_string_equal(json_string_value(json_object_get(actor, "user")), "alice");
        assert_true(json_is_null(json_object_get(actor, "role")));
        json_decref(o);
        free(line);

        e.op = NULL;
        assert_int_equal(auditfmt_line(5, &e, prev, &line, &len), -EINVAL);
}

/* One of a few strings: plain, empty, with characters jansson escapes,
 * UTF-8, invalid UTF-8, or NULL where allowed. */
static const char *pick(bool nullable)
{
        static const char *const strings[] = {
                "records.put", "",
                "p-1",         "a b",
                "q\"uote",     "back\\slash",
                "tab\there",   "\x01ctl",
                "del\x7f",     "Nguy\xe1\xbb\x85n",
                "bad\xff",     "123/Q\xc4\x90-UBND",
                "x/y",         "~!@#$%^&*()_+{}|:<>?",
        };
        uint32_t n = (uint32_t)ELEMENTSOF(strings) + (nullable ? 3 : 0);
        uint32_t i = randombytes_uniform(n);

        return i < ELEMENTSOF(strings) ? strings[i] : NULL;
}

static json_t *random_extra(void)
{
        static const char *const keys[] = {"size",    "count",  "note",    "rules",      "seq",
                                           "prev",    "result", "error",   "collection", "id",
                                           "version", "actor",  "t\u00e9", "q\"k"};
        json_t *o = json_object();
        uint32_t n = randombytes_uniform(5);

        for (uint32_t i = 0; i < n; i++) {
                const char *k = keys[randombytes_uniform(ELEMENTSOF(keys))];
                const char *sv = pick(false);
                json_t *v;

                switch (randombytes_uniform(5)) {
                case 0:
                        v = json_integer((json_int_t)randombytes_random() - 1000);
                        break;
                case 1:
                        v = sv ? json_string(sv) : NULL;
                        break;
                case 2:
                        v = json_pack("[s,i,b,n]", "a\n", 3, 1);
                        break;
                case 3:
                        v = json_pack("{s:{s:s}}", "x", "y", "z\"w");
                        break;
                default:
                        v = json_real(1.5);
                        break;
                }
                if (v)
                        json_object_set_new(o, k, v);
        }
        return o;
}

/* The direct writer prints what jansson prints, for every entry: plain
 * ones it writes itself, and the rest (escapes, UTF-8, reserved extra
 * names) it hands to the reference. */
static void test_line_direct_matches_jansson(void **state)
{
        uint8_t prev[AUDIT_HASH_SIZE];
        unsigned direct = 0;

        (void)state;
        for (int round = 0; round < 20000; round++) {
                char *a = NULL, *b = NULL;
                size_t al = 0, bl = 0;
                struct audit_entry e = {
                        .time_us = (uint64_t)randombytes_random() * 1000003u,
                        .actor = {.uid = randombytes_random(),
                                  .gid = randombytes_uniform(70000),
                                  .pid = (int32_t)randombytes_random(),
                                  .user = pick(true),
                                  .role = pick(true)},
                        .op = pick(false),
                        .collection = pick(true),
                        .id = pick(true),
                        .version = (int64_t)randombytes_uniform(5) - 2,
                        .result = pick(false),
                        .error = pick(true),
                        .extra = randombytes_uniform(3) ? random_extra() : NULL,
                };
                uint64_t seq = randombytes_uniform(2) ? randombytes_random()
                                                      : UINT64_MAX / (1 + randombytes_uniform(9));
                int ra, rb;

                randombytes_buf(prev, sizeof(prev));
                ra = auditfmt_line(seq, &e, prev, &a, &al);
                rb = auditfmt_line_json(seq, &e, prev, &b, &bl);
                assert_int_equal(ra, rb);
                if (ra == 0) {
                        if (al != bl || memcmp(a, b, al))
                                fail_msg("lines differ:\n%s\n%s", a, b);
                        direct += !strchr(a, '\\') && !strchr(a, '\x80');
                }
                free(a);
                free(b);
                json_decref(e.extra);
        }
        assert_true(direct > 1000); /* the direct path was taken, not only the fallback */
}

static void test_note_key_id_independent(void **state)
{
        static const char *const names[] = {ORIGIN, "a", "vaultd/0123456789abcdef"};
        uint8_t pk[32], id[4], h[crypto_hash_sha256_BYTES], buf[128];

        (void)state;
        randombytes_buf(pk, sizeof(pk));
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t n = strlen(names[i]);

                memcpy(buf, names[i], n);
                buf[n] = 0x0a;
                buf[n + 1] = 0x01;
                memcpy(buf + n + 2, pk, 32);
                crypto_hash_sha256(h, buf, n + 2 + 32);
                note_key_id(names[i], pk, id);
                assert_memory_equal(id, h, 4);
        }
}

/* The example of golang.org/x/mod/sumdb/note (also in c2sp.org/signed-note
 * implementations): an independent implementation's key and signature. */
#define GO_NAME     "PeterNeumann"
#define GO_VKEY     "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_SEED_B64 "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_TEXT                                                                                             \
        "If you think cryptography is the answer to your problem,\n"                                        \
        "then you don't know what your problem is.\n"
#define GO_NOTE                                                                                             \
        GO_TEXT "\n\xe2\x80\x94 PeterNeumann "                                                              \
                "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"                       \
                "fqdngotpRZb6KE6RyyBwJnAM=\n"

static void test_signed_note_go_vector(void **state)
{
        uint8_t seed[33], pk[32], sk[64], id[4], pid[4], ppk[32], sig[64];
        static const uint8_t want_id[4] = {0xc7, 0x4f, 0x20, 0xa3};
        char *vkey, *note, *name;
        size_t seedlen;

        (void)state;
        assert_int_equal(sodium_base642bin(seed, sizeof(seed), GO_SEED_B64, strlen(GO_SEED_B64), NULL,
                                           &seedlen, NULL, sodium_base64_VARIANT_ORIGINAL),
                         0);
        assert_int_equal(seedlen, 33);
        assert_int_equal(seed[0], 0x01);
        crypto_sign_seed_keypair(pk, sk, seed + 1);

        note_key_id(GO_NAME, pk, id);
        assert_memory_equal(id, want_id, 4);
        assert_int_equal(note_verifier_key(GO_NAME, pk, &vkey), 0);
        assert_string_equal(vkey, GO_VKEY);
        assert_int_equal(note_verifier_parse(GO_VKEY, &name, ppk, pid), 0);
        assert_string_equal(name, GO_NAME);
        assert_memory_equal(ppk, pk, 32);
        assert_memory_equal(pid, want_id, 4);

        /* Ed25519 is deterministic: the same note, byte for byte. */
        crypto_sign_detached(sig, NULL, (const unsigned char *)GO_TEXT, strlen(GO_TEXT), sk);
        assert_int_equal(checkpoint_note(GO_TEXT, GO_NAME, &id, &sig, 1, &note), 0);
        assert_string_equal(note, GO_NOTE);

        free(name);
        free(note);
        free(vkey);
}

/* The two forms of a checkpoint's hash: the old one (the last line's
 * hash) up to a switch, the root after it, never back; neither fails. */
static void test_checkpoint_forms(void **state)
{
        uint8_t root[NOTE_HASH_SIZE], line[NOTE_HASH_SIZE], other[NOTE_HASH_SIZE];
        struct checkpoint_forms f = {0};
        struct checkpoint c = {.size = 4};
        char why[256];

        (void)state;
        memset(root, 1, sizeof(root));
        memset(line, 2, sizeof(line));
        memset(other, 3, sizeof(other));
        memcpy(c.hash, line, NOTE_HASH_SIZE);
        assert_int_equal(checkpoint_form(&f, &c, root, line, why, sizeof(why)), 0);
        c.size = 9;
        assert_int_equal(checkpoint_form(&f, &c, NULL, line, why, sizeof(why)), 0); /* root unknown */
        c.size = 12;
        memcpy(c.hash, root, NOTE_HASH_SIZE);
        assert_int_equal(checkpoint_form(&f, &c, root, line, why, sizeof(why)), 1);
        assert_int_equal(f.old, 2);
        assert_int_equal(f.old_last, 9);
        assert_int_equal(f.root, 1);
        assert_int_equal(f.root_first, 12);
        c.size = 20;
        memcpy(c.hash, line, NOTE_HASH_SIZE);
        assert_int_equal(checkpoint_form(&f, &c, root, line, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "never go back"));
        memcpy(c.hash, other, NOTE_HASH_SIZE);
        assert_int_equal(checkpoint_form(&f, &c, root, line, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "does not match its lines"));
        assert_int_equal(checkpoint_form(&f, &c, NULL, NULL, why, sizeof(why)), -EBADMSG);
        assert_int_equal(f.old, 2);
        assert_int_equal(f.root, 1);
}

static void test_checkpoint_verify(void **state)
{
        struct fixture *f = *state;
        uint8_t hash[AUDIT_HASH_SIZE], got_hash[AUDIT_HASH_SIZE];
        char *note, why[256] = "";
        struct checkpoint c;

        randombytes_buf(hash, sizeof(hash));
        note = make_checkpoint(NLINES, hash, f->pk, f->sk);
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), 0);
        assert_string_equal(c.origin, ORIGIN);
        assert_int_equal(c.size, NLINES);
        assert_memory_equal(c.hash, hash, AUDIT_HASH_SIZE);
        assert_int_equal(c.time, CP_TIME);
        assert_non_null(strstr(note, "\nvaultd-time 2025-11-29T14:03:07Z\n\n"));
        assert_null(c.next_key);
        (void)got_hash;
        checkpoint_done(&c);
        free(note);
}

/* The signed time: one canonical line at most; an edited one breaks the
 * signature, a malformed or second one the text. */
static void test_checkpoint_time(void **state)
{
        struct fixture *f = *state;
        static const char *const bad[] = {
                "vaultd-time 2025-11-29T14:03:07\n",
                "vaultd-time 2025-11-29 14:03:07Z\n",
                "vaultd-time 2025-1-29T14:03:07Z\n",
                "vaultd-time 2025-11-29T14:03:07.5Z\n",
                "vaultd-time 2025-11-29T14:03:07Z\nvaultd-time 2025-11-29T14:03:07Z\n",
        };
        uint8_t hash[AUDIT_HASH_SIZE];
        char *base, *text, *note, *at, why[256];
        struct checkpoint c;

        randombytes_buf(hash, sizeof(hash));
        note = make_checkpoint(NLINES, hash, f->pk, f->sk);
        at = strstr(note, "14:03:07Z");
        at[7] = '8'; /* 14:03:08Z: the signature no longer covers it */
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), -EBADMSG);
        free(note);
        {
                struct checkpoint plain = {.origin = ORIGIN, .size = NLINES}; /* time 0: no time line */

                memcpy(plain.hash, hash, AUDIT_HASH_SIZE);
                assert_int_equal(checkpoint_text(&plain, &base), 0);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_true(asprintf(&text, "%s%s", base, bad[i]) > 0);
                note = sign_note(text, f->pk, f->sk);
                assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), -EBADMSG);
                assert_non_null(strstr(why, "time"));
                free(note);
                free(text);
        }
        /* No time line (a vault from before signed time): time 0. */
        note = sign_note(base, f->pk, f->sk);
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), 0);
        assert_int_equal(c.time, 0);
        checkpoint_done(&c);
        free(note);
        free(base);
}

static void test_checkpoint_modified_size(void **state)
{
        struct fixture *f = *state;
        uint8_t hash[AUDIT_HASH_SIZE];
        char *note, *digit, why[256] = "";
        struct checkpoint c;

        randombytes_buf(hash, sizeof(hash));
        note = make_checkpoint(12, hash, f->pk, f->sk);
        digit = strstr(note, "\n12\n");
        assert_non_null(digit);
        digit[2] = '3';
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), -EBADMSG);
        assert_true(strlen(why) > 0);
        assert_null(c.origin);
        /* Restored, it verifies: only the digit made the difference. */
        digit[2] = '2';
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), 0);
        checkpoint_done(&c);
        free(note);
}

static void test_checkpoint_other_key(void **state)
{
        struct fixture *f = *state;
        uint8_t pk2[32], sk2[64], hash[AUDIT_HASH_SIZE], id[4], sig[64];
        char *text, *note, *both, why[256];
        struct checkpoint c;

        crypto_sign_keypair(pk2, sk2);
        randombytes_buf(hash, sizeof(hash));
        text = text_of(NLINES, hash);

        /* Signed by another key of the same name: not signed by the trusted key. */
        note = sign_note(text, pk2, sk2);
        why[0] = '\0';
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), -EBADMSG);
        assert_true(strlen(why) > 0);

        /* Signed by another key that claims the trusted key's id. */
        free(note);
        crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), sk2);
        note_key_id(ORIGIN, f->pk, id);
        assert_int_equal(checkpoint_note(text, ORIGIN, &id, &sig, 1, &note), 0);
        why[0] = '\0';
        assert_int_equal(checkpoint_verify(note, f->vkey, &c, why, sizeof(why)), -EBADMSG);
        assert_true(strlen(why) > 0);
        assert_null(c.origin);

        /* A note may carry more signatures: an unknown one beside the
         * trusted one does not matter. */
        free(note);
        note = sign_note(text, pk2, sk2);
        {
                char *good = sign_note(text, f->pk, f->sk);
                const char *other_sig = strstr(note, "\n\n") + 2;

                assert_true(asprintf(&both, "%s%s", good, other_sig) > 0);
                free(good);
        }
        assert_int_equal(checkpoint_verify(both, f->vkey, &c, why, sizeof(why)), 0);
        assert_string_equal(c.origin, ORIGIN);
        checkpoint_done(&c);
        free(both);
        free(note);
        free(text);
}

static void test_verifier_parse(void **state)
{
        struct fixture *f = *state;
        uint8_t pk[32], id[4], want_id[4];
        char *name = NULL, *bad, *p;

        assert_int_equal(note_verifier_parse(f->vkey, &name, pk, id), 0);
        assert_string_equal(name, ORIGIN);
        assert_memory_equal(pk, f->pk, 32);
        note_key_id(ORIGIN, f->pk, want_id);
        assert_memory_equal(id, want_id, 4);
        free(name);
        name = NULL;

        /* One hex digit of the key id changed. */
        bad = strdup(f->vkey);
        assert_non_null(bad);
        p = strchr(bad, '+') + 1;
        *p = *p == '0' ? '1' : '0';
        assert_int_equal(note_verifier_parse(bad, &name, pk, id), -EINVAL);
        assert_null(name);
        free(bad);

        /* The name changed: the id no longer matches it. */
        bad = strdup(f->vkey);
        assert_non_null(bad);
        bad[0] = 'E';
        assert_int_equal(note_verifier_parse(bad, &name, pk, id), -EINVAL);
        assert_null(name);
        free(bad);

        assert_int_equal(note_verifier_parse(ORIGIN, &name, pk, id), -EINVAL);
        assert_int_equal(note_verifier_parse("", &name, pk, id), -EINVAL);
        assert_null(name);
}

/* Runs export_verify over lines joined with newlines. */
static int export_run(char *const *lines, size_t n, const char *vkey, struct export_report *rep)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int k;

        assert_non_null(f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s\n", lines[i]);
        assert_int_equal(fclose(f), 0);
        f = fmemopen(buf, len, "r");
        assert_non_null(f);
        k = export_verify(f, vkey, rep);
        fclose(f);
        free(buf);
        return k;
}

/* The export file of the fixture: header, NLINES lines, one checkpoint. */
static size_t export_lines(struct fixture *f, char **out)
{
        out[0] = f->header;
        memcpy(out + 1, f->lines, sizeof(f->lines));
        out[NLINES + 1] = f->checkpoint;
        return NLINES + 2;
}

/* The newest checkpoint must have been signed when the header says the
 * export was made (an export cut back to an older one has an older time);
 * a copy's trail (archive) has no export time to check. */
static void test_export_freshness(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES + 2], *late = NULL, *none = NULL;
        struct export_report rep;
        size_t n = export_lines(f, lines);
        FILE *in;

        late = strdup(f->header);
        memcpy(strstr(late, "2025-11-29T14:03:08"), "2025-11-29T15:03:08", 19); /* an hour later */
        lines[0] = late;
        assert_int_equal(export_run(lines, n, f->vkey, &rep), -EBADMSG);
        assert_non_null(strstr(rep.why, "an older export, or one cut back"));
        none = strdup(f->header);
        memcpy(strstr(none, "\"exported\""), "\"exportex\"", 10);
        lines[0] = none;
        assert_int_equal(export_run(lines, n, f->vkey, &rep), -EBADMSG);
        assert_non_null(strstr(rep.why, "no valid export time"));
        /* The same file as a backup's trail: no export time to check. */
        lines[0] = late;
        in = NULL;
        {
                char *buf = NULL;
                size_t size = 0;
                FILE *mem = open_memstream(&buf, &size);

                for (size_t i = 0; i < n; i++)
                        fprintf(mem, "%s\n", lines[i]);
                fclose(mem);
                in = fmemopen(buf, size, "r");
                assert_int_equal(export_verify_opts(
                                         in, &(struct export_opts){.vkey = f->vkey, .archive = true}, &rep),
                                 0);
                fclose(in);
                free(buf);
        }
        free(late);
        free(none);
}

static void test_export_valid(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES + 2];
        struct export_report rep;
        size_t n = export_lines(f, lines);

        assert_int_equal(export_run(lines, n, f->vkey, &rep), 0);
        assert_int_equal(rep.lines, NLINES);
        assert_int_equal(rep.checkpoints, 1);
        assert_int_equal(rep.first_seq, 0);
        assert_int_equal(rep.last_seq, NLINES - 1);
        assert_int_equal(rep.bad_line, 0);
        assert_int_equal(rep.bad_seq, -1);

        /* Without a trusted key the header's own key is used. */
        assert_int_equal(export_run(lines, n, NULL, &rep), 0);
        assert_int_equal(rep.checkpoints, 1);
}

static void test_export_altered_line(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES + 2];
        struct export_report rep;
        size_t n;

        /* seq 4 is file line 6; the break shows at seq 5, file line 7. */
        alter_line(f, 4);
        n = export_lines(f, lines);
        assert_int_equal(export_run(lines, n, f->vkey, &rep), -EBADMSG);
        assert_int_equal(rep.bad_line, 7);
        assert_int_equal(rep.bad_seq, 5);
        assert_true(strlen(rep.why) > 0);
}

static void test_export_altered_last_line(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES + 2];
        struct export_report rep;
        size_t n;

        /* No later line links to the last one; the checkpoint (file line
         * NLINES + 2) catches it. */
        alter_line(f, NLINES - 1);
        n = export_lines(f, lines);
        assert_int_equal(export_run(lines, n, f->vkey, &rep), -EBADMSG);
        assert_int_equal(rep.lines, NLINES);
        assert_int_equal(rep.bad_line, NLINES + 2);
        assert_int_equal(rep.bad_seq, NLINES - 1);
        assert_true(strlen(rep.why) > 0);
}

static void test_export_missing_checkpoint(void **state)
{
        struct fixture *f = *state;
        char *lines[NLINES + 2];
        struct export_report rep;
        size_t n = export_lines(f, lines);

        assert_int_equal(export_run(lines, n - 1, f->vkey, &rep), -EBADMSG);
        assert_int_equal(rep.checkpoints, 0);
        assert_true(rep.bad_line > 0);
        assert_true(strlen(rep.why) > 0);
}

static void test_export_other_key(void **state)
{
        struct fixture *f = *state;
        uint8_t pk2[32], sk2[64];
        char *lines[NLINES + 2], *vkey2;
        struct export_report rep;
        size_t n = export_lines(f, lines);

        crypto_sign_keypair(pk2, sk2);
        assert_int_equal(note_verifier_key(ORIGIN, pk2, &vkey2), 0);

        /* The auditor trusts another key than the one that signed. */
        assert_int_equal(export_run(lines, n, vkey2, &rep), -EBADMSG);
        assert_int_equal(rep.bad_line, 1);
        assert_true(strlen(rep.why) > 0);

        /* A forged export that copies the trusted header but is signed by
         * another key fails at the checkpoint. */
        free(f->checkpoint);
        f->checkpoint = export_checkpoint_line(pk2, sk2, f->lines[NLINES - 1]);
        n = export_lines(f, lines);
        assert_int_equal(export_run(lines, n, f->vkey, &rep), -EBADMSG);
        assert_int_equal(rep.bad_line, NLINES + 2);
        assert_true(strlen(rep.why) > 0);

        /* Naming the forger's key in the header does not help either. */
        free(f->header);
        f->header = export_header(vkey2);
        n = export_lines(f, lines);
        assert_int_equal(export_run(lines, n, f->vkey, &rep), -EBADMSG);
        assert_int_equal(rep.bad_line, 1);
        free(vkey2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_checkpoint_forms),
                cmocka_unit_test_setup_teardown(test_chain_accepts_valid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_altered_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_removed_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_swapped_lines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_wrong_seq, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chain_wrong_first_prev, setup, teardown),
                cmocka_unit_test(test_chain_rejects_non_lines),
                cmocka_unit_test(test_line_format),
                cmocka_unit_test(test_line_direct_matches_jansson),
                cmocka_unit_test(test_note_key_id_independent),
                cmocka_unit_test(test_signed_note_go_vector),
                cmocka_unit_test_setup_teardown(test_checkpoint_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_freshness, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoint_time, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoint_modified_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoint_other_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verifier_parse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_valid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_altered_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_altered_last_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_missing_checkpoint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_other_key, setup, teardown),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
