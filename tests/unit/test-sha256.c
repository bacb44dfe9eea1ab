/* Unit tests for lib/sha256.c: the SHA-NI code path gives libsodium's
 * result on every length around the block and padding boundaries, and
 * the standard test vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "sha256.h"
#include "util.h"

static void test_vectors(void **state)
{
        static const struct {
                const char *in, *hex;
        } v[] = {
                {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
                {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        };
        uint8_t h[SHA256_SIZE];
        char hex[2 * SHA256_SIZE + 1];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                sha256(v[i].in, strlen(v[i].in), h);
                hex_encode(h, SHA256_SIZE, hex);
                assert_string_equal(hex, v[i].hex);
        }
}

static void test_same_as_libsodium(void **state)
{
        static uint8_t buf[4200];
        uint8_t a[SHA256_SIZE], b[SHA256_SIZE];

        (void)state;
        assert_true(sodium_init() >= 0);
        randombytes_buf(buf, sizeof(buf));
        for (size_t len = 0; len <= sizeof(buf); len++) {
                sha256(buf, len, a);
                sha256_portable(buf, len, b);
                if (memcmp(a, b, SHA256_SIZE) != 0)
                        fail_msg("SHA-256 of %zu bytes differs from libsodium's", len);
                /* A Merkle leaf or node: the prefix shifts every block by one. */
                for (uint8_t prefix = 0; prefix < 2; prefix++) {
                        sha256_prefixed(prefix, buf, len, a);
                        sha256_prefixed_portable(prefix, buf, len, b);
                        if (memcmp(a, b, SHA256_SIZE) != 0)
                                fail_msg("SHA-256 of 0x%02x and %zu bytes differs from libsodium's", prefix,
                                         len);
                }
        }
        /* Say which path was compared: on a CPU without SHA-NI both are
         * libsodium's, and this test proves nothing about the other. */
        printf("sha256: %s\n", sha256_accelerated() ? "SHA-NI compared with libsodium" : "libsodium only");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
                cmocka_unit_test(test_same_as_libsodium),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
