/* Unit tests for lib/names.c (Unicode names in NFC), lib/jsoncheck.c
 * (json content without a parser that copies the body) and the retention
 * arithmetic of vaultd/collections.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "collections.h"
#include "jsoncheck.h"
#include "names.h"
#include "timestamp.h"
#include "util.h"

static void test_names_the_office_writes(void **state)
{
        (void)state;
        assert_true(name_id_valid("NB-2024-000123"));
        assert_true(name_id_valid("123/QĐ-UBND"));
        assert_true(name_id_valid("Nguyễn-Văn-A"));
        assert_true(name_collection_valid("người-có-công"));
        assert_true(name_collection_valid("bao-tro/2026"));
        /* Every name the ASCII rules allowed stays valid. */
        assert_true(name_id_valid("a.b_c:d-E9"));
        assert_true(name_collection_valid("a.b_c-9"));
}

static void test_names_refused(void **state)
{
        char why[200];
        static const char *const ids[] = {"",         "a b",   "-a",      "/a",       "a\x1b[2J", "a\u202eb",
                                          "a\u200bb", "a\xff", "a\ue000", "a\u00a0b", "\u0301a"};
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                assert_false(name_id_valid(ids[i]));
        assert_false(name_collection_valid("Hồ-sơ"));
        assert_false(name_collection_valid("a,b"));
        assert_false(name_collection_valid("*"));
        /* Not NFC: o + combining circumflex + grave. */
        assert_false(name_check(NAME_ID, "ho\u0302\u0300", why, sizeof(why)));
        assert_non_null(strstr(why, "NFC"));
        assert_false(name_check(NAME_ID, "a\x07", why, sizeof(why)));
        assert_non_null(strstr(why, "U+0007 (byte 1)"));
}

static void test_lengths_in_bytes(void **state)
{
        char id[NAME_ID_MAX + 4];

        (void)state;
        memset(id, 'a', NAME_ID_MAX);
        id[NAME_ID_MAX] = '\0';
        assert_true(name_id_valid(id));
        strcpy(id + NAME_ID_MAX - 1, "ằ"); /* 3 bytes: 130 in all */
        assert_false(name_id_valid(id));
}

static void test_normalise(void **state)
{
        char out[64];

        (void)state;
        assert_int_equal(name_normalise("ho\u0302\u0300-so\u031b", out, sizeof(out)), strlen("hồ-sơ"));
        assert_string_equal(out, "hồ-sơ");
        assert_true(name_collection_valid(out));
        assert_int_equal(name_normalise("ascii-stays", out, sizeof(out)), 11);
        assert_int_equal(name_normalise("a\xff", out, sizeof(out)), -EILSEQ);
        assert_int_equal(name_normalise("ằằằ", out, 5), -ENAMETOOLONG);
}

static void test_json_objects(void **state)
{
        struct jsoncheck_error e;
        static const char *const good[] = {
                "{}",
                " {\"a\":1}\n",
                "{\"a\":[1,-0.5e+3,true,false,null,\"\\u00e9\\ud83d\\ude00\"]}",
                "{\"tên\":{\"x\":[]}}",
        };
        static const struct {
                const char *body;
                size_t offset, line, column;
        } bad[] = {
                {"[]", 0, 1, 1},
                {"", 0, 1, 1},
                {"{\"a\":01}", 6, 1, 7},
                {"{\"a\":1,}", 7, 1, 8},
                {"{a:1}", 1, 1, 2},
                {"{\"a\":\"\x01\"}", 6, 1, 7},
                {"{\"a\":1}{}", 7, 1, 8},
                {"{\n\"é\":x}", 7, 2, 5},
                {"{\"a\":\"\\ud800\"}", 12, 1, 13},
                {"{\"a\":\"\\q\"}", 7, 1, 8},
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_int_equal(jsoncheck_object((const uint8_t *)good[i], strlen(good[i]), &e), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(jsoncheck_object((const uint8_t *)bad[i].body, strlen(bad[i].body), &e),
                                 -EBADMSG);
                assert_int_equal(e.offset, bad[i].offset);
                assert_int_equal(e.line, bad[i].line);
                assert_int_equal(e.column, bad[i].column);
                assert_non_null(e.reason);
        }
}

static uint64_t at(const char *s)
{
        uint64_t us;

        assert_int_equal(timestamp_parse_utc(s, &us), 0);
        return us;
}

static void test_retention_calendar(void **state)
{
        struct retention r;

        (void)state;
        assert_int_equal(retention_parse("10y", &r), 0);
        assert_int_equal(retention_add(at("2026-11-29T14:03:07.5Z"), &r), at("2036-11-29T14:03:07.5Z"));
        assert_int_equal(retention_parse("1y", &r), 0);
        assert_int_equal(retention_add(at("2028-02-29T00:00:00Z"), &r), at("2029-02-28T00:00:00Z"));
        assert_int_equal(retention_parse("18m", &r), 0);
        assert_int_equal(retention_add(at("2026-08-31T12:00:00Z"), &r), at("2028-02-29T12:00:00Z"));
        assert_int_equal(retention_parse("90d", &r), 0);
        assert_int_equal(retention_add(at("2026-12-01T00:00:00Z"), &r), at("2027-03-01T00:00:00Z"));
        assert_int_equal(retention_parse("none", &r), 0);
        assert_int_equal(retention_add(at("2026-12-01T00:00:00Z"), &r), UINT64_MAX);
        assert_int_equal(retention_parse("0y", &r), -EINVAL);
        assert_int_equal(retention_parse("201y", &r), -EINVAL);
        assert_int_equal(retention_parse("10w", &r), -EINVAL);
        assert_int_equal(retention_parse("10y ", &r), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_the_office_writes),
                cmocka_unit_test(test_names_refused),
                cmocka_unit_test(test_lengths_in_bytes),
                cmocka_unit_test(test_normalise),
                cmocka_unit_test(test_json_objects),
                cmocka_unit_test(test_retention_calendar),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
