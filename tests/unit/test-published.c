/* checkpoint.last as the daemon reads it at start: the newest intact slot
 * wins, a torn one gives way to the other, a file with no intact slot is
 * damaged, and a link is never followed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "published.h"
#include "util.h"

#define NOTE_A                                                                                              \
        "vaultd/0123\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 vaultd/0123 c2ln\n"
#define NOTE_B                                                                                              \
        "vaultd/0123\n9\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n\xe2\x80\x94 vaultd/0123 c2ln\n"

struct fixture {
        char dir[64];
        int dir_fd;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || sodium_init() < 0)
                return -1;
        strcpy(f->dir, "/tmp/test-published-XXXXXX");
        if (!mkdtemp(f->dir) || (f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        unlinkat(f->dir_fd, PUBLISHED_FILE, 0);
        close(f->dir_fd);
        rmdir(f->dir);
        free(f);
        return 0;
}

/* One slot as vaultd writes it. */
static void slot(char buf[PUBLISHED_SLOT_SIZE], uint64_t generation, const char *note)
{
        uint8_t hash[crypto_hash_sha256_BYTES];
        char hex[2 * sizeof(hash) + 1];
        int len = snprintf(buf, PUBLISHED_SLOT_SIZE, "vaultd-checkpoint/1 %llu\n%s",
                           (unsigned long long)generation, note);

        crypto_hash_sha256(hash, (const unsigned char *)buf, (size_t)len);
        hex_encode(hash, sizeof(hash), hex);
        len += snprintf(buf + len, PUBLISHED_SLOT_SIZE - (size_t)len, "sha256 %s\n", hex);
        memset(buf + len, '\n', PUBLISHED_SLOT_SIZE - (size_t)len);
}

static void write_file(struct fixture *f, const char *data, size_t len)
{
        int fd = openat(f->dir_fd, PUBLISHED_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, data, len), 0);
        close(fd);
}

static void test_new_file_holds_nothing(void **state)
{
        struct fixture *f = *state;
        struct published *p = NULL;
        struct stat st;

        assert_int_equal(published_open(f->dir_fd, &p), 0);
        assert_null(p->note);
        assert_false(p->damaged);
        assert_int_equal(fstatat(f->dir_fd, PUBLISHED_FILE, &st, 0), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        published_free(p);
}

static void test_newest_intact_slot_wins(void **state)
{
        struct fixture *f = *state;
        char buf[2 * PUBLISHED_SLOT_SIZE];
        struct published *p = NULL;

        slot(buf, 3, NOTE_A);
        slot(buf + PUBLISHED_SLOT_SIZE, 4, NOTE_B);
        write_file(f, buf, sizeof(buf));
        assert_int_equal(published_open(f->dir_fd, &p), 0);
        assert_string_equal(p->note, NOTE_B);
        assert_int_equal(p->size, 9);
        assert_int_equal(p->generation, 4);
        published_free(p);

        /* Torn in the middle of its note: the other slot, one older. */
        buf[PUBLISHED_SLOT_SIZE + 40] ^= 1;
        write_file(f, buf, sizeof(buf));
        assert_int_equal(published_open(f->dir_fd, &p), 0);
        assert_string_equal(p->note, NOTE_A);
        assert_int_equal(p->size, 7);
        assert_false(p->damaged);
        published_free(p);

        /* Cut short after the first slot (a crash before the second was
         * ever written). */
        slot(buf, 1, NOTE_A);
        write_file(f, buf, PUBLISHED_SLOT_SIZE);
        assert_int_equal(published_open(f->dir_fd, &p), 0);
        assert_string_equal(p->note, NOTE_A);
        published_free(p);
}

static void test_no_intact_slot_is_damaged(void **state)
{
        struct fixture *f = *state;
        char buf[2 * PUBLISHED_SLOT_SIZE];
        struct published *p = NULL;

        slot(buf, 1, NOTE_A);
        slot(buf + PUBLISHED_SLOT_SIZE, 2, NOTE_B);
        buf[30] ^= 1;
        buf[PUBLISHED_SLOT_SIZE + 30] ^= 1;
        write_file(f, buf, sizeof(buf));
        assert_int_equal(published_open(f->dir_fd, &p), 0);
        assert_null(p->note);
        assert_true(p->damaged);
        published_free(p);

        /* An intact slot whose note is not a checkpoint note. */
        slot(buf, 1, "hello\n");
        write_file(f, buf, PUBLISHED_SLOT_SIZE);
        assert_int_equal(published_open(f->dir_fd, &p), 0);
        assert_true(p->damaged);
        published_free(p);
}

static void test_link_is_not_followed(void **state)
{
        struct fixture *f = *state;
        struct published *p = NULL;
        char target[96];

        snprintf(target, sizeof(target), "%s/target", f->dir);
        assert_int_equal(symlinkat(target, f->dir_fd, PUBLISHED_FILE), 0);
        assert_int_equal(published_open(f->dir_fd, &p), -ELOOP);
        assert_int_equal(access(target, F_OK), -1); /* nothing created there */
}

static void test_note_fields(void **state)
{
        char origin[PUBLISHED_ORIGIN_MAX];
        uint8_t hash[AUDIT_HASH_SIZE];
        uint64_t size = 0;

        (void)state;
        assert_int_equal(published_note_fields(NOTE_B, origin, &size, hash), 0);
        assert_string_equal(origin, "vaultd/0123");
        assert_int_equal(size, 9);
        assert_int_equal(hash[0], 1);
        assert_int_equal(published_note_fields("vaultd/0123\n0\nAA==\n", origin, &size, hash), -EBADMSG);
        assert_int_equal(published_note_fields("vaultd/0123\n9x\n", origin, &size, hash), -EBADMSG);
        assert_int_equal(published_note_fields("\n9\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n", origin,
                                               &size, hash),
                         -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_new_file_holds_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newest_intact_slot_wins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_intact_slot_is_damaged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_link_is_not_followed, setup, teardown),
                cmocka_unit_test(test_note_fields),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
