/* Unit tests for vaultd/health.c: the thresholds that make a vault
 * "degraded", the warnings that do not, the sentences, the STATUS= text,
 * and the counting of integrity failures. Facts are made up here; the
 * integration tests (tests/integration/test_health.py) bring them about
 * for real where that can be done in a test's time. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "health.h"
#include "util.h"

#define NOW_US  (1764424987ull * 1000000u)
#define MIB     (1ull << 20)
#define GIB     (1ull << 30)
#define MINUTES (60ull * 1000000u)
#define HOURS   (60 * MINUTES)

/* A well vault: half its 100 GiB disk free, every line signed a minute
 * ago, backed up an hour ago. */
static struct health_facts well(void)
{
        return (struct health_facts){
                .now_us = NOW_US,
                .has_usage = true,
                .usage = {.file_size = 80 * MIB,
                          .map_size = 256 * MIB,
                          .map_used = 80 * MIB,
                          .disk_free = 50 * GIB,
                          .disk_total = 100 * GIB},
                .audit_lines = 1000,
                .checkpoint_size = 1000,
                .checkpoint_signed_s = (NOW_US - MINUTES) / 1000000u,
                .has_backup = true,
                .backup_time_us = NOW_US - HOURS,
        };
}

static struct health_verdict judge(const struct health_facts *f)
{
        struct health_verdict vd;

        health_judge(f, &vd);
        return vd;
}

static void test_well(void **state)
{
        struct health_facts f = well();
        struct health_verdict vd = judge(&f);
        char line[HEALTH_STATUS_LINE_MAX];

        (void)state;
        assert_int_equal(vd.state, HEALTH_SERVING);
        assert_int_equal(vd.nproblems, 0);
        assert_int_equal(vd.nwarnings, 0);
        assert_string_equal(health_state_name(vd.state), "serving");
        health_status_line(&f, &vd, 12, 3, line, sizeof(line));
        assert_string_equal(line, "serving: 12 records, 1000 audit lines, 3 clients; disk 50 % free; last "
                                  "checkpoint 1 min ago; last backup 60 min ago");
}

static void test_disk(void **state)
{
        struct health_facts f = well();
        struct health_verdict vd;

        (void)state;
        f.usage.disk_free = 10 * GIB + 1; /* at the 10 % line: well */
        assert_int_equal(judge(&f).state, HEALTH_SERVING);
        f.usage.disk_free = 9 * GIB;
        vd = judge(&f);
        assert_int_equal(vd.state, HEALTH_DEGRADED);
        assert_string_equal(vd.problems[0], "disk nearly full: 9 % free (9.0 GiB left)");
        /* A small disk: 31 MiB is more than 10 % of 100 MiB, but less than
         * four times the reserve. */
        f.usage.disk_total = 100 * MIB;
        f.usage.disk_free = 31 * MIB;
        vd = judge(&f);
        assert_string_equal(vd.problems[0], "disk nearly full: 31 % free (31 MiB left)");
        f.usage.disk_free = HEALTH_DISK_MIN_BYTES;
        assert_int_equal(judge(&f).state, HEALTH_SERVING);
        /* Under the reserve and a margin: writes are being refused. */
        f.usage.disk_free = STORE_RESERVE_BYTES;
        vd = judge(&f);
        assert_int_equal(vd.nproblems, 1);
        assert_string_equal(vd.problems[0], "disk full: 8.0 MiB left, writes are refused (StorageFull)");
        /* Unknown (the store did not answer): nothing said. */
        f.has_usage = false;
        assert_int_equal(judge(&f).state, HEALTH_SERVING);
}

static void test_map(void **state)
{
        struct health_facts f = well();

        (void)state;
        /* A full map that can still grow is not a problem. */
        f.usage.map_used = f.usage.map_size;
        assert_int_equal(judge(&f).state, HEALTH_SERVING);
        f.usage.map_size = STORE_MAP_LIMIT;
        f.usage.map_used = STORE_MAP_LIMIT / 100 * 95;
        assert_string_equal(judge(&f).problems[0], "store map nearly full: 5 % free at its largest size");
}

static void test_checkpoint(void **state)
{
        struct health_facts f = well();
        struct health_verdict vd;

        (void)state;
        f.audit_lines = 1035;
        f.unsigned_since_us = NOW_US - 9 * MINUTES;
        assert_int_equal(judge(&f).state, HEALTH_SERVING);
        f.unsigned_since_us = NOW_US - 11 * MINUTES;
        f.checkpoint_signed_s = (NOW_US - 3 * HOURS) / 1000000u;
        vd = judge(&f);
        assert_int_equal(vd.state, HEALTH_DEGRADED);
        assert_string_equal(vd.problems[0], "no checkpoint signed for 3 h (35 audit lines waiting)");
        /* None signed with a time: how long the lines have waited. */
        f.checkpoint_signed_s = 0;
        assert_string_equal(judge(&f).problems[0],
                            "no checkpoint signed for 11 min (35 audit lines waiting)");
        /* Sealed, nothing can be signed: expected, and the state is sealed. */
        f.sealed = true;
        vd = judge(&f);
        assert_int_equal(vd.state, HEALTH_SEALED);
        assert_int_equal(vd.nproblems, 0);
}

static void test_integrity(void **state)
{
        struct health_facts f = well();
        struct health_verdict vd;
        struct integrity_event e = {.kind = INTEGRITY_RECORD, .time_us = NOW_US - 2 * HOURS, .seq = 77};

        (void)state;
        strcpy(e.op, "records.get");
        f.last = f.last_other = e;
        f.integrity_failures = 1;
        vd = judge(&f);
        assert_int_equal(vd.state, HEALTH_DEGRADED);
        assert_string_equal(vd.problems[0], "integrity failure 2 h ago: records.get (audit seq 77)");
        /* A day later it is history: counted, no longer a problem. */
        f.last_other.time_us = NOW_US - 25 * HOURS;
        assert_int_equal(judge(&f).state, HEALTH_SERVING);
        /* A checkpoint that was not signed names no call. */
        f.last_other =
                (struct integrity_event){.kind = INTEGRITY_CHECKPOINT, .time_us = NOW_US, .seq = UINT64_MAX};
        assert_string_equal(
                judge(&f).problems[0],
                "integrity failure under a minute ago: a checkpoint was not signed or published");
        /* A failed Verify stays a problem, however old, until one passes. */
        f.last_other.time_us = 0;
        f.verify_failed = true;
        strcpy(f.verify_problem, "audit verify failed at seq 812");
        vd = judge(&f);
        assert_int_equal(vd.nproblems, 1);
        assert_string_equal(vd.problems[0], "audit verify failed at seq 812");
}

static void test_backup_and_writer(void **state)
{
        struct health_facts f = well();
        struct health_verdict vd;

        (void)state;
        f.backup_time_us = NOW_US - 47 * HOURS;
        assert_int_equal(judge(&f).nwarnings, 0);
        f.backup_time_us = NOW_US - 73 * HOURS;
        vd = judge(&f);
        /* A warning, not a problem: the vault serves as well as before. */
        assert_int_equal(vd.state, HEALTH_SERVING);
        assert_string_equal(vd.warnings[0], "last backup 3 days old");
        f.has_backup = false;
        assert_string_equal(judge(&f).warnings[0], "no backup yet");
        f.writer_busy_us = 45 * 1000000ull;
        vd = judge(&f);
        assert_int_equal(vd.state, HEALTH_DEGRADED);
        assert_string_equal(vd.problems[0], "writes stuck: one batch has run for 45 s");
}

static void test_status_line(void **state)
{
        struct health_facts f = well();
        struct health_verdict vd;
        char line[HEALTH_STATUS_LINE_MAX];

        (void)state;
        f.usage.disk_free = 3 * GIB;
        f.verify_failed = true;
        strcpy(f.verify_problem, "audit verify failed at seq 4");
        f.has_backup = false;
        f.checkpoint_signed_s = 0;
        vd = judge(&f);
        health_status_line(&f, &vd, 5, 1, line, sizeof(line));
        assert_string_equal(line,
                            "degraded (disk nearly full: 3 % free (3.0 GiB left); audit verify failed at "
                            "seq 4): 5 records, 1000 audit lines, 1 clients; disk 3 % free; no backup yet");
        /* At most three problems, then how many more. */
        f.writer_busy_us = 60 * 1000000ull;
        f.last_other =
                (struct integrity_event){.kind = INTEGRITY_CHECKPOINT, .time_us = NOW_US, .seq = UINT64_MAX};
        vd = judge(&f);
        assert_int_equal(vd.nproblems, 4);
        health_status_line(&f, &vd, 5, 1, line, sizeof(line));
        assert_non_null(strstr(line, "; 1 more): 5 records"));
        /* Cut to the buffer, never past it. */
        health_status_line(&f, &vd, 5, 1, line, 20);
        assert_string_equal(line, "degraded (disk near");
}

static void test_counting(void **state)
{
        struct health h;
        struct integrity_event e = {.kind = INTEGRITY_RECORD, .seq = 9, .version = 1};

        (void)state;
        health_init(&h);
        strcpy(e.op, "records.get");
        strcpy(e.what, "records.get of collection c, version 1: does not authenticate");
        health_integrity(&h, &e);
        assert_int_equal(h.failures, 1);
        assert_true(h.last.time_us > 0);
        assert_int_equal(h.last_other.seq, 9);
        e.kind = INTEGRITY_VERIFY;
        e.seq = 10;
        health_verify_result(&h, &e, "audit verify failed at seq 3");
        assert_int_equal(h.failures, 2);
        assert_true(h.verify_failed);
        assert_int_equal(h.last.seq, 10);
        assert_int_equal(h.last_other.seq, 9); /* a Verify's stays apart */
        health_verify_result(&h, NULL, NULL);
        assert_false(h.verify_failed);
        assert_int_equal(h.failures, 2); /* passing does not undo what happened */
        health_done(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_well),        cmocka_unit_test(test_disk),
                cmocka_unit_test(test_map),         cmocka_unit_test(test_checkpoint),
                cmocka_unit_test(test_integrity),   cmocka_unit_test(test_backup_and_writer),
                cmocka_unit_test(test_status_line), cmocka_unit_test(test_counting),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
