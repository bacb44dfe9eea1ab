/* Unit tests for lib/auditfmt.c and lib/export.c: the audit line format, its
 * hash chain, checkpoints as signed notes, and offline export verification. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
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

static char *make_line(uint64_t seq, const char *op, const uint8_t prev[AUDIT_HASH_SIZE],
                       size_t *ret_len)
{
        char id[32];
        struct audit_entry e = {
                .time_us = TIME_US + seq,
                .actor = { .uid = 1000, .gid = 1000, .pid = 4242, .user = "svc", .role = "service" },
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

/* Sign text as ORIGIN with sk, the way vaultd signs checkpoints. */
static char *sign_note(const char *text, const uint8_t pk[32], const uint8_t sk[64])
{
        uint8_t id[4], sig[crypto_sign_BYTES];
        char *note;

        crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), sk);
        note_key_id(ORIGIN, pk, id);
        assert_int_equal(checkpoint_note(text, ORIGIN, id, sig, &note), 0);
        return note;
}

static char *make_checkpoint(uint64_t size, const uint8_t hash[AUDIT_HASH_SIZE], const uint8_t pk[32],
                             const uint8_t sk[64])
{
        char *text, *note;

        assert_int_equal(checkpoint_text(ORIGIN, size, hash, &text), 0);
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
        h = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s}", "format", EXPORT_FORMAT, "vault", "x",
                      "origin", ORIGIN, "verifier_key", vkey, "first_seq", (json_int_t)0, "last_seq",
                      (json_int_t)(NLINES - 1), "prev", zeros, "exported", "t");
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

static void test_chain_altered_line(void **state)
{
        struct fixture *f = *state;
        char why[256];

        free(f->lines[4]);
        f->lines[4] = alter_op(f->lines[4 - 0] = make_line(4, "records.put", zero_hash, &f->lens[4]));
}
