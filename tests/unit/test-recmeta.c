/* Unit tests for vaultd/recmeta.c: the stored layouts of version headers,
 * heads and keys, and the comparisons that bind them to the audit trail
 * (a version against the line that wrote it, a head against its
 * versions). Lines are made by lib/auditfmt.c, as the daemon makes them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auditfmt.h"
#include "recmeta.h"
#include "util.h"

/* 2025-11-29T14:03:07.123456Z */
#define TIME_US 1764424987123456ull
#define SEQ     42

static const struct version_meta data_meta = {RECMETA_KIND_DATA, TIME_US, 1001, 412, SEQ};
static const struct record_name alice = {"people", "NB-2024-000123", 3};

/* The audit line seq SEQ that wrote alice with data_meta (op put or
 * delete), as the writer appends it; extra fields as given. */
static char *line_for(const char *op, const char *result, const char *user, json_t *extra)
{
        static const uint8_t prev[AUDIT_HASH_SIZE];
        struct audit_entry e = {
                .time_us = TIME_US,
                .actor = {1001, 1001, 733, user, "service"},
                .op = op,
                .collection = alice.collection,
                .id = alice.id,
                .version = (int64_t)alice.version,
                .result = result,
                .error = strcmp(result, "ok") ? "AccessDenied" : NULL,
                .extra = extra,
        };
        char *line;
        size_t len;

        assert_int_equal(auditfmt_line(SEQ, &e, prev, &line, &len), 0);
        json_decref(extra);
        return line;
}

static char *put_line(void)
{
        return line_for("records.put", "ok", "payments",
                        json_pack("{s:I}", "size", (json_int_t)data_meta.size));
}

static void test_version_layout(void **state)
{
        uint8_t b[RECMETA_HEADER + 3] = {0};
        struct version_meta m;
        size_t hlen;

        (void)state;
        recmeta_version_encode(&data_meta, b);
        assert_int_equal(recmeta_version_decode(b, sizeof(b), &m, &hlen), 0);
        assert_int_equal(hlen, RECMETA_HEADER);
        assert_int_equal(m.kind, data_meta.kind);
        assert_int_equal(m.time_us, data_meta.time_us);
        assert_int_equal(m.uid, data_meta.uid);
        assert_int_equal(m.size, data_meta.size);
        assert_int_equal(m.seq, data_meta.seq);
        /* A tombstone carries no envelope; an unknown kind is no version. */
        b[0] = RECMETA_KIND_TOMBSTONE;
        assert_int_equal(recmeta_version_decode(b, sizeof(b), &m, &hlen), -EBADMSG);
        assert_int_equal(recmeta_version_decode(b, RECMETA_HEADER, &m, &hlen), 0);
        assert_true(recmeta_tombstone(&m) && !recmeta_legacy(&m));
        assert_int_equal(recmeta_version_decode(b, RECMETA_HEADER - 1, &m, &hlen), -EBADMSG);
        b[0] = 5;
        assert_int_equal(recmeta_version_decode(b, sizeof(b), &m, &hlen), -EBADMSG);
        assert_int_equal(recmeta_version_decode(b, 0, &m, &hlen), -EBADMSG);
        /* Store format 1: the same fields without a seq. */
        b[0] = RECMETA_KIND_LEGACY_DATA;
        assert_int_equal(recmeta_version_decode(b, RECMETA_LEGACY_HEADER + 40, &m, &hlen), 0);
        assert_int_equal(hlen, RECMETA_LEGACY_HEADER);
        assert_true(recmeta_legacy(&m) && !recmeta_tombstone(&m));
        assert_int_equal(m.uid, 1001);
        assert_int_equal(m.size, 412);
}

static void test_head_layout(void **state)
{
        struct record_head h = {7, RECMETA_STATE_DELETED, TIME_US, TIME_US + 5}, back;
        uint8_t b[RECMETA_HEAD_SIZE];

        (void)state;
        recmeta_head_encode(&h, b);
        assert_int_equal(recmeta_head_decode(b, sizeof(b), &back), 0);
        assert_int_equal(back.version, h.version);
        assert_int_equal(back.state, h.state);
        assert_int_equal(back.created_us, h.created_us);
        assert_int_equal(back.updated_us, h.updated_us);
        assert_int_equal(recmeta_head_decode(b, sizeof(b) - 1, &back), -EBADMSG);
        b[8] = 3;
        assert_int_equal(recmeta_head_decode(b, sizeof(b), &back), -EBADMSG);
}

static void test_keys(void **state)
{
        static const struct {
                const char *bytes;
                size_t len;
        } bad[] = {
                {"people", 6},          /* no id */
                {"people\0", 7},        /* empty id */
                {"\0alice", 6},         /* empty collection */
                {"people\0al\0ce", 12}, /* NUL inside the id */
                {"People\0alice", 12},  /* not a collection name */
                {"people\0-alice", 13}, /* not an id */
        };
        uint8_t key[RECMETA_KEY_MAX];
        struct record_name n;
        size_t len;

        (void)state;
        len = recmeta_key_build(&alice, true, key);
        assert_int_equal(len, strlen(alice.collection) + 1 + strlen(alice.id) + 9);
        assert_int_equal(recmeta_key_parse(key, len, true, &n), 0);
        assert_string_equal(n.collection, alice.collection);
        assert_string_equal(n.id, alice.id);
        assert_int_equal(n.version, alice.version);
        /* A heads key is the versions key's prefix. */
        assert_int_equal(recmeta_key_build(&alice, false, key), len - 9);
        assert_int_equal(recmeta_key_parse(key, len - 9, false, &n), 0);
        assert_int_equal(n.version, 0);
        assert_int_equal(recmeta_key_parse(key, len - 9, true, &n), -EBADMSG);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(recmeta_key_parse((const uint8_t *)bad[i].bytes, bad[i].len, false, &n),
                                 -EBADMSG);
}

static void test_time_parse(void **state)
{
        static const char *const bad[] = {
                "2025-11-29T14:03:07.123456",
                "2025-11-29T14:03:07Z",
                "2025-11-29 14:03:07.123456Z",
                "2025-02-30T14:03:07.123456Z",
                "2025-11-29T24:00:00.000000Z",
                "",
                NULL,
        };
        char s[TIME_STRING_MAX];
        uint64_t us;

        (void)state;
        time_format_us(TIME_US, s);
        assert_int_equal(recmeta_time_parse(s, &us), 0);
        assert_int_equal(us, TIME_US);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(recmeta_time_parse(bad[i], &us), -EINVAL);
}

/* The definition recmeta_time_parse had (and must keep): what sscanf
 * reads, timegm accepts, and time_format_us writes back the same. */
static int time_parse_reference(const char *s, uint64_t *ret)
{
        struct tm tm = {0};
        char again[TIME_STRING_MAX];
        unsigned frac;
        time_t t;
        int n = 0;

        if (!s || strlen(s) != 27 ||
            sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 ||
            n != 27)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm);
        if (t < 0)
                return -EINVAL;
        *ret = (uint64_t)t * 1000000u + frac;
        time_format_us(*ret, again);
        return strcmp(again, s) == 0 ? 0 : -EINVAL;
}

static void test_time_parse_reference(void **state)
{
        static const char alphabet[] = "0123456789-:.TZ +9";
        uint64_t x = 88172645463325252ull, a, b;
        char s[TIME_STRING_MAX];
        int ok = 0;

        (void)state;
        for (int i = 0; i < 200000; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                /* Times from 1970 to 2200, then one character changed. */
                time_format_us(x % (7258118400ull * 1000000u), s);
                if (i % 2)
                        s[(x >> 40) % 27] = alphabet[(x >> 50) % (sizeof(alphabet) - 1)];
                int r = recmeta_time_parse(s, &a);

                assert_int_equal(r, time_parse_reference(s, &b));
                if (r == 0)
                        assert_true(a == b);
                ok += r == 0;
        }
        assert_true(ok > 100000 && ok < 200000); /* both verdicts were compared */
}

static void test_line_parse(void **state)
{
        char *line = put_line();
        struct record_name n;
        struct version_meta m;

        (void)state;
        assert_true(recmeta_line_may_write(line, strlen(line)));
        assert_int_equal(recmeta_line_parse(line, strlen(line), SEQ, &n, &m), 0);
        assert_string_equal(n.collection, alice.collection);
        assert_string_equal(n.id, alice.id);
        assert_int_equal(n.version, alice.version);
        assert_int_equal(m.kind, data_meta.kind);
        assert_int_equal(m.time_us, data_meta.time_us);
        assert_int_equal(m.uid, data_meta.uid);
        assert_int_equal(m.size, data_meta.size);
        assert_int_equal(m.seq, data_meta.seq);
        free(line);
        /* A deletion writes a tombstone, of size 0. */
        line = line_for("records.delete", "ok", "payments", NULL);
        assert_int_equal(recmeta_line_parse(line, strlen(line), SEQ, &n, &m), 0);
        assert_int_equal(m.kind, RECMETA_KIND_TOMBSTONE);
        assert_int_equal(m.size, 0);
        free(line);
        /* Denied calls and reads wrote nothing. */
        line = line_for("records.put", "denied", "payments", NULL);
        assert_int_equal(recmeta_line_parse(line, strlen(line), SEQ, &n, &m), -ENOENT);
        free(line);
        line = line_for("records.get", "ok", "payments", NULL);
        assert_int_equal(recmeta_line_parse(line, strlen(line), SEQ, &n, &m), -ENOENT);
        assert_false(recmeta_line_may_write(line, strlen(line)));
        free(line);
        /* A user name that spells the op is escaped: no false match. */
        line = line_for("records.get", "ok", "x\",\"op\":\"records.put", NULL);
        assert_false(recmeta_line_may_write(line, strlen(line)));
        free(line);
        /* A put without its size does not say what it wrote. */
        line = line_for("records.put", "ok", "payments", NULL);
        assert_int_equal(recmeta_line_parse(line, strlen(line), SEQ, &n, &m), -EBADMSG);
        free(line);
}

static void test_line_check(void **state)
{
        static const struct {
                const char *what;
                size_t offset, size;
                uint64_t value;
        } edits[] = {
                {"its time is", offsetof(struct version_meta, time_us), 8, TIME_US - 1},
                {"its uid is", offsetof(struct version_meta, uid), 4, 0},
                {"its size is", offsetof(struct version_meta, size), 8, 413},
                {"audit line 42 wrote", offsetof(struct version_meta, seq), 8, SEQ},
        };
        char *line = put_line(), why[256];
        struct record_name other = alice;
        struct version_meta m;

        (void)state;
        assert_int_equal(recmeta_line_check(line, strlen(line), &alice, &data_meta, why, sizeof(why)), 0);
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                m = data_meta;
                if (edits[i].size == 8)
                        memcpy((char *)&m + edits[i].offset, &edits[i].value, 8);
                else
                        memcpy((char *)&m + edits[i].offset, &(uint32_t){(uint32_t)edits[i].value}, 4);
                /* The seq edit leaves m as it was and moves the record. */
                other.version = edits[i].offset == offsetof(struct version_meta, seq) ? 2 : alice.version;
                assert_int_equal(recmeta_line_check(line, strlen(line), &other, &m, why, sizeof(why)),
                                 -EBADMSG);
                assert_non_null(strstr(why, edits[i].what));
        }
        m = data_meta;
        m.kind = RECMETA_KIND_TOMBSTONE;
        m.size = 0;
        assert_int_equal(recmeta_line_check(line, strlen(line), &alice, &m, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "is a deletion"));
        strcpy(other.id, "NB-2024-000124");
        other.version = alice.version;
        assert_int_equal(recmeta_line_check(line, strlen(line), &other, &data_meta, why, sizeof(why)),
                         -EBADMSG);
        free(line);
        line = line_for("records.get", "ok", "payments", NULL);
        assert_int_equal(recmeta_line_check(line, strlen(line), &alice, &data_meta, why, sizeof(why)),
                         -EBADMSG);
        assert_non_null(strstr(why, "wrote no version"));
        free(line);
}

static void test_head_check(void **state)
{
        struct version_meta first = data_meta, latest = data_meta, tomb = data_meta;
        struct record_head h = {3, RECMETA_STATE_ACTIVE, TIME_US - 10, TIME_US};
        char why[256];

        (void)state;
        first.time_us = TIME_US - 10;
        tomb.kind = RECMETA_KIND_TOMBSTONE;
        assert_int_equal(recmeta_head_check(&h, &latest, &first, why, sizeof(why)), 0);
        assert_int_equal(recmeta_head_check(&h, &latest, NULL, why, sizeof(why)), 0);
        /* Undeleted: the head says live, its latest version is a deletion. */
        assert_int_equal(recmeta_head_check(&h, &tomb, &first, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "is a deletion"));
        h.state = RECMETA_STATE_DELETED;
        assert_int_equal(recmeta_head_check(&h, &latest, &first, why, sizeof(why)), -EBADMSG);
        assert_int_equal(recmeta_head_check(&h, &tomb, &first, why, sizeof(why)), 0);
        h.updated_us--;
        assert_int_equal(recmeta_head_check(&h, &tomb, &first, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "update time"));
        h.updated_us++;
        h.created_us++;
        assert_int_equal(recmeta_head_check(&h, &tomb, &first, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "creation time"));
        assert_int_equal(recmeta_head_check(&h, &tomb, NULL, why, sizeof(why)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version_layout),
                cmocka_unit_test(test_head_layout),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_time_parse),
                cmocka_unit_test(test_time_parse_reference),
                cmocka_unit_test(test_line_parse),
                cmocka_unit_test(test_line_check),
                cmocka_unit_test(test_head_check),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
