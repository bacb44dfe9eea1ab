/* Unit tests for lib/jsonfield.c: a top-level member read in place, for
 * the terms a json collection's records are found by. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "jsonfield.h"

static int get(const char *body, const char *name, char *out, size_t cap)
{
        return jsonfield_scalar((const uint8_t *)body, strlen(body), name, out, cap);
}

static void test_strings_numbers_and_escapes(void **state)
{
        char out[64];

        (void)state;
        assert_int_equal(get("{\"so_cccd\":\"037090001234\"}", "so_cccd", out, sizeof(out)), 12);
        assert_string_equal(out, "037090001234");
        assert_int_equal(get(" { \"a\" : 1 , \"so_cccd\" : -12.5e3 } ", "so_cccd", out, sizeof(out)), 7);
        assert_string_equal(out, "-12.5e3");
        /* Escapes, a surrogate pair, and an escaped key. */
        assert_int_equal(
                get("{\"ho_\\u0074en\":\"L\\u00ea \\\"B\\\" \\ud83d\\ude00\"}", "ho_ten", out, sizeof(out)),
                (int)strlen("Lê \"B\" \xf0\x9f\x98\x80"));
        assert_string_equal(out, "Lê \"B\" \xf0\x9f\x98\x80");
        /* The first of duplicate members. */
        assert_int_equal(get("{\"k\":\"1\",\"k\":\"2\"}", "k", out, sizeof(out)), 1);
        assert_string_equal(out, "1");
}

static void test_only_top_level_scalars(void **state)
{
        char out[64];

        (void)state;
        /* Nested members, strings that look like members, other types. */
        assert_int_equal(get("{\"n\":{\"k\":\"x\"},\"s\":\"{\\\"k\\\":1}\",\"a\":[\"k\",{\"k\":2}]}", "k",
                             out, sizeof(out)),
                         -ENOENT);
        assert_int_equal(get("{\"k\":null}", "k", out, sizeof(out)), -ENOENT);
        assert_int_equal(get("{\"k\":true}", "k", out, sizeof(out)), -ENOENT);
        assert_int_equal(get("{\"k\":[\"1\"]}", "k", out, sizeof(out)), -ENOENT);
        assert_int_equal(get("{}", "k", out, sizeof(out)), -ENOENT);
        assert_int_equal(get("{\"x\":{\"y\":[1,2,{}]},\"k\":\"found\"}", "k", out, sizeof(out)), 5);
        assert_string_equal(out, "found");
}

static void test_limits_and_garbage(void **state)
{
        char out[4];

        (void)state;
        assert_int_equal(get("{\"k\":\"1234\"}", "k", out, sizeof(out)), -E2BIG);
        assert_int_equal(get("{\"k\":12345}", "k", out, sizeof(out)), -E2BIG);
        assert_int_equal(get("[1]", "k", out, sizeof(out)), -EBADMSG);
        assert_int_equal(get("{\"a\" 1}", "k", out, sizeof(out)), -EBADMSG);
        assert_int_equal(get("{\"a\":\"unterminated", "k", out, sizeof(out)), -EBADMSG);
        assert_int_equal(get("{\"a\":1", "k", out, sizeof(out)), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strings_numbers_and_escapes),
                cmocka_unit_test(test_only_top_level_scalars),
                cmocka_unit_test(test_limits_and_garbage),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
