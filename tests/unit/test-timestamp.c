/* Unit tests for lib/timestamp.c: the strict RFC 3339 UTC parser that
 * reads the trail's own times and Export's since/until. What it refuses
 * reaches vaultd from any auditor, so the refusals are tested as well as
 * the times it reads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "timestamp.h"
#include "util.h"

/* 2026-11-29T14:03:07Z */
#define T_2026_11_29 1795960987ull
#define USEC         1000000ull

static void test_reads_the_trails_times(void **state)
{
        char buf[TIME_STRING_MAX];
        uint64_t us = 0;

        (void)state;
        assert_int_equal(timestamp_parse_utc("2026-11-29T14:03:07.123456Z", &us), 0);
        assert_int_equal(us, T_2026_11_29 * USEC + 123456);
        /* What vaultd writes, it reads back to the microsecond. */
        time_format_us(us, buf);
        assert_string_equal(buf, "2026-11-29T14:03:07.123456Z");
        assert_int_equal(timestamp_parse_utc("2026-11-29T14:03:07Z", &us), 0);
        assert_int_equal(us, T_2026_11_29 * USEC);
        assert_int_equal(timestamp_parse_utc("2026-11-29T14:03:07.5Z", &us), 0);
        assert_int_equal(us, T_2026_11_29 * USEC + 500000);
        assert_int_equal(timestamp_parse_utc("1970-01-01T00:00:00Z", &us), 0);
        assert_int_equal(us, 0);
        assert_int_equal(timestamp_parse_utc("2028-02-29T23:59:59Z", &us), 0);
}

static void test_refuses_what_is_not_one(void **state)
{
        static const char *const bad[] = {
                "",
                "2026-11-29",
                "2026-11-29 14:03:07Z",
                "2026-11-29T14:03:07",
                "2026-11-29T14:03:07+07:00",
                "2026-11-29T14:03:07z",
                "2026-11-29T14:03:07.Z",
                "2026-11-29T14:03:07.1234567Z",
                "2026-11-29T14:03:07ZZ",
                "2026-11-29T24:00:00Z",
                "2026-11-29T14:60:00Z",
                "2026-11-29T14:03:60Z",
                "2026-02-29T00:00:00Z",
                "2026-04-31T00:00:00Z",
                "2026-13-01T00:00:00Z",
                "2026-00-01T00:00:00Z",
                "1969-12-31T23:59:59Z",
                "+2026-11-29T14:03:07Z",
                "2026-1-29T14:03:07Z",
        };
        uint64_t us = 42;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(timestamp_parse_utc(bad[i], &us), -EINVAL);
                assert_int_equal(us, 42); /* written only on success */
        }
        assert_int_equal(timestamp_parse_utc(NULL, &us), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reads_the_trails_times),
                cmocka_unit_test(test_refuses_what_is_not_one),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
