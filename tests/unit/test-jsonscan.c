/* Unit tests for lib/jsonscan.c: the fast reader of audit lines against
 * jansson, on a table of valid and malformed texts and on many mutations
 * of real audit lines (the differential check of tests/fuzz/jscan-oracle.h). */
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

#include "../fuzz/jscan-oracle.h"
#include "auditfmt.h"
#include "util.h"

/* jansson's verdict (valid: an object it reads with duplicates refused)
 * and whether jscan reads it itself (fast) or leaves it to jansson. */
static const struct {
        const char *text;
        bool valid, fast;
} cases[] = {
        {"{}", true, true},
        {" {\"a\":1}\r\n", true, true},
        {"{\"seq\":1,\"prev\":\"ab\",\"actor\":{\"uid\":5,\"role\":null},\"x\":[1,{\"y\":true},[]]}", true,
         true},
        {"{\"s\":\"caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80\"}", true, true},
        {"{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}", true, true},
        {"{\"n\":-0,\"m\":123456789012345678,\"t\":false}", true, true},
        /* Left to jansson, which accepts them. */
        {"{\"s\":\"\\u00e9\"}", true, false},
        {"{\"\\u0061\":1}", true, false},
        {"{\"a\\n\":1}", true, false},
        {"{\"n\":1.5}", true, false},
        {"{\"n\":1e3}", true, false},
        {"{\"n\":1234567890123456789}", true, false},
        {"[1]", false, false},
        /* Refused by both. */
        {"{\"a\":1,\"a\":2}", false, false},
        {"{\"o\":{\"a\":1,\"a\":1}}", false, false},
        {"{\"l\":[{\"a\":1,\"a\":2}]}", false, false},
        {"{\"a\":1}x", false, false},
        {"{\"a\":1}{}", false, false},
        {"{\"a\":01}", false, false},
        {"{\"a\":-}", false, false},
        {"{\"a\":1.}", false, false},
        {"{\"a\":tru}", false, false},
        {"{\"a\":truex}", false, false},
        {"{\"a\":nul}", false, false},
        {"{\"a\":1,}", false, false},
        {"{,}", false, false},
        {"{\"a\" 1}", false, false},
        {"{\"a\":\"\x01\"}", false, false},
        {"{\"a\":\"\\x\"}", false, false},
        {"{\"a\":\"\\u0000\"}", false, false},
        {"{\"a\":\"\\ud800\"}", false, false},
        {"{\"a\":\"\xc0\xaf\"}", false, false},
        {"{\"a\":\"\xe0\x80\xaf\"}", false, false},
        {"{\"a\":\"\xed\xa0\x80\"}", false, false},
        {"{\"a\":\"\xf4\x90\x80\x80\"}", false, false},
        {"{\"a\":\"\xf8\x88\x80\x80\x80\"}", false, false},
        {"{\"a\":\"\xc3\"}", false, false},
        {"{\"a\":\"\xff\"}", false, false},
        {"{\"a\":1}\xc3\xa9", false, false},
        {"\xef\xbb\xbf{}", false, false},
        {"{\"a\":\"x}", false, false},
        {"{\"a\":[1,2}", false, false},
        {"{\"a\":1", false, false},
        {"", false, false},
        {"{\"a\":1\x0b}", false, false},
        {"{\"a\":99999999999999999999}", false, false},
};

static void check(const char *text, size_t len, bool *ret_fast)
{
        const char *why = jscan_oracle(text, len, ret_fast);

        if (why)
                fail_msg("jscan and jansson disagree on %.*s: %s", (int)len, text, why);
}

static void test_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t len = strlen(cases[i].text);
                json_t *o = json_loadb(cases[i].text, len, JSON_REJECT_DUPLICATES, NULL);
                bool fast;

                if (json_is_object(o) != cases[i].valid)
                        fail_msg("case %zu: jansson's verdict is not the table's", i);
                json_decref(o);
                check(cases[i].text, len, &fast);
                if (fast != cases[i].fast)
                        fail_msg("case %zu (%s): jscan %s it", i, cases[i].text,
                                 fast ? "read" : "left to jansson");
        }
}

static void test_deep_nesting(void **state)
{
        char text[2 * JSCAN_DEPTH_MAX + 16];
        bool fast;
        int depth;

        (void)state;
        for (depth = 1; depth <= JSCAN_DEPTH_MAX + 1; depth++) {
                size_t n = 0;

                text[n++] = '{';
                text[n++] = '"', text[n++] = 'a', text[n++] = '"', text[n++] = ':';
                for (int i = 1; i < depth; i++)
                        text[n++] = '[';
                text[n++] = '1';
                for (int i = 1; i < depth; i++)
                        text[n++] = ']';
                text[n++] = '}';
                check(text, n, &fast);
                assert_true(fast == (depth <= JSCAN_DEPTH_MAX));
        }
}

/* Audit lines as vaultd writes them, with the odd characters a name or
 * a reason may bring. */
static size_t base_lines(char *lines[], size_t max)
{
        static const char *users[] = {"payments", "Nguyễn \"Văn\" A\\B", NULL};
        uint8_t prev[AUDIT_HASH_SIZE] = {0x9f, 0x2c};
        size_t n = 0;

        for (size_t u = 0; u < ELEMENTSOF(users) && n < max; u++) {
                json_t *extra = json_pack("{s:i,s:s,s:[s,s]}", "size", 412, "reason", "tab\there / ok",
                                          "rules", "allow user 1", "deny group 2");
                struct audit_entry e = {
                        .time_us = 1764424987123456ull,
                        .actor = {.uid = 1001, .gid = 1001, .pid = 733, .user = users[u], .role = "service"},
                        .op = "records.put",
                        .collection = "nguoi-co-cong",
                        .id = "NB-2024-000123",
                        .version = 3,
                        .result = "ok",
                        .extra = u == 1 ? extra : NULL,
                };
                size_t len;

                assert_int_equal(auditfmt_line(42 + u, &e, prev, &lines[n], &len), 0);
                n++;
                json_decref(extra);
        }
        lines[n++] = strdup("{\"checkpoint\":\"vaultd/x\\n12\\nq3w=\\n\\n\xe2\x80\x94 vaultd/x AAAA\\n\"}");
        lines[n++] = strdup("{\"format\":\"vaultd-audit-export/1\",\"first_seq\":0,\"last_seq\":9,"
                            "\"prev\":\"0000\",\"exported\":\"2026-11-29T14:03:07Z\"}");
        return n;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* Mutations that reach the corners: the bytes JSON gives a meaning to,
 * escapes, digits, and bytes of valid and invalid UTF-8. */
static void mutate(char *buf, size_t *len, size_t cap)
{
        static const char bytes[] =
                "\"\\{}[],: \t\r\n0123456789-.eEutrfalsnbx/\x01\x1f\x7f\xc3\xa9\xe2\x80\x94"
                "\xed\xa0\xf4\x90\xc0\xff";
        size_t pos = *len ? rnd() % *len : 0;

        switch (rnd() % 4) {
        case 0: /* replace a byte */
                if (*len)
                        buf[pos] = bytes[rnd() % (sizeof(bytes) - 1)];
                break;
        case 1: /* insert a byte */
                if (*len + 1 < cap) {
                        memmove(buf + pos + 1, buf + pos, *len - pos);
                        buf[pos] = bytes[rnd() % (sizeof(bytes) - 1)];
                        (*len)++;
                }
                break;
        case 2: /* delete a byte */
                if (*len) {
                        memmove(buf + pos, buf + pos + 1, *len - pos - 1);
                        (*len)--;
                }
                break;
        default: { /* copy a piece elsewhere: duplicate members, nesting */
                size_t from = rnd() % (*len + 1), n = rnd() % 24;

                if (from + n > *len)
                        n = *len - from;
                if (*len + n < cap) {
                        memmove(buf + pos + n, buf + pos, *len - pos);
                        memmove(buf + pos, buf + (from >= pos ? from + n : from), n);
                        *len += n;
                }
        }
        }
}

/* jscan_quote against jansson: the same string for valid UTF-8, -EILSEQ
 * where jansson refuses the bytes. */
static void check_quote(const char *s, size_t len)
{
        static char out[JSCAN_QUOTED_MAX(4096)];
        json_t *str = json_stringn(s, len);
        char *dumped;
        size_t n;
        int r = jscan_quote(s, len, out, &n);

        if (!str) {
                if (r != -EILSEQ)
                        fail_msg("jscan_quote took bytes jansson refuses: %.*s", (int)len, s);
                return;
        }
        assert_int_equal(r, 0);
        dumped = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
        assert_non_null(dumped);
        if (strlen(dumped) != n + 2 || memcmp(dumped + 1, out, n) != 0)
                fail_msg("jscan_quote wrote %.*s, jansson %s", (int)n, out, dumped);
        free(dumped);
        json_decref(str);
}

static void test_mutations(void **state)
{
        char *lines[8], buf[4096];
        size_t n = base_lines(lines, ELEMENTSOF(lines)), fast_count = 0, rounds = 300000;
        bool fast;

        (void)state;
        check_quote("\0\x01\x1f\x7f\"\\/\b\f\n\r\t", 12);
        for (size_t i = 0; i < n; i++) {
                check_quote(lines[i], strlen(lines[i]));
                check(lines[i], strlen(lines[i]), &fast);
                assert_true(fast); /* the common lines take the fast path */
        }
        for (size_t r = 0; r < rounds; r++) {
                const char *base = lines[r % n];
                size_t len = strlen(base), k = 1 + rnd() % 3;

                memcpy(buf, base, len);
                while (k--)
                        mutate(buf, &len, sizeof(buf));
                check(buf, len, &fast);
                check_quote(buf, len);
                fast_count += fast;
        }
        /* Both ways were taken often: the comparison was not vacuous. */
        assert_true(fast_count > rounds / 20 && fast_count < rounds - rounds / 20);
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_mutations),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
