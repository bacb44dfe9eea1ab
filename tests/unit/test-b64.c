/* Unit tests for lib/b64.c, against libsodium's codec (the reference it
 * replaces on the record-body path): the same text for every length, the
 * same bytes and the same verdict for valid, mutated and random input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"

#define MAXN 300

static void test_encodes_as_libsodium(void **state)
{
        uint8_t in[MAXN];
        char ours[MAXN * 2], theirs[MAXN * 2];

        (void)state;
        for (size_t n = 0; n < MAXN; n++) {
                for (int round = 0; round < 20; round++) {
                        randombytes_buf(in, n);
                        b64_encode(ours, in, n);
                        sodium_bin2base64(theirs, sizeof(theirs), in, n, sodium_base64_VARIANT_ORIGINAL);
                        assert_int_equal(b64_encoded_len(n), strlen(theirs));
                        assert_memory_equal(ours, theirs, b64_encoded_len(n));
                }
        }
}

/* Both decoders on the same ASCII text: same verdict, and same bytes if
 * valid. (Bytes above 0x7f are left out: libsodium reads them as signed
 * chars and accepts some as digits — "\xff24=" decodes to two bytes —
 * where b64_decode refuses them all; see the test below.) */
static void check_same(const char *text, size_t len)
{
        uint8_t ours[MAXN * 2], theirs[MAXN * 2];
        size_t ol = 0, tl = 0;
        const char *end = NULL;
        int r = b64_decode(ours, sizeof(ours), text, len, &ol);
        int t = sodium_base642bin(theirs, sizeof(theirs), text, len, NULL, &tl, &end,
                                  sodium_base64_VARIANT_ORIGINAL);

        /* libsodium with an end pointer stops at the first bad character;
         * the whole text must be consumed for it to count as valid. */
        bool valid = t == 0 && end == text + len;

        if (valid != (r == 0)) {
                char hex[MAXN * 4 + 1];
                sodium_bin2hex(hex, sizeof(hex), (const unsigned char *)text, len);
                fail_msg("verdicts differ on %s: ours %d, libsodium %d", hex, r, t);
        }
        if (valid) {
                assert_int_equal(ol, tl);
                assert_memory_equal(ours, theirs, ol);
        }
}

static void test_decodes_as_libsodium(void **state)
{
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\0\x7f";
        uint8_t in[MAXN];
        char text[MAXN * 2];

        (void)state;
        for (size_t n = 0; n < MAXN; n++) {
                randombytes_buf(in, n);
                b64_encode(text, in, n);
                size_t len = b64_encoded_len(n);
                check_same(text, len);
                /* One character changed, cut or added, at random. */
                for (int round = 0; round < 30 && len; round++) {
                        char m[MAXN * 2];
                        memcpy(m, text, len);
                        m[randombytes_uniform((uint32_t)len)] =
                                alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
                        check_same(m, len);
                        check_same(m, len - 1 - randombytes_uniform((uint32_t)len));
                        m[len] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
                        check_same(m, len + 1);
                }
        }
        /* Short texts of every shape, padding in every place. */
        for (int round = 0; round < 200000; round++) {
                char m[8];
                size_t len = 1 + randombytes_uniform(8);
                for (size_t i = 0; i < len; i++)
                        m[i] = "AQgw/+=z"[randombytes_uniform(8)];
                check_same(m, len);
        }
        check_same("", 0);
}

static void test_refuses_non_canonical_and_oversized(void **state)
{
        uint8_t out[8];
        size_t n;

        (void)state;
        assert_int_equal(b64_decode(out, sizeof(out), "QQ==", 4, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(out[0], 'A');
        assert_int_equal(b64_decode(out, sizeof(out), "QR==", 4, &n), -EINVAL); /* unused bits set */
        assert_int_equal(b64_decode(out, sizeof(out), "QUI=", 4, &n), 0);
        assert_int_equal(b64_decode(out, sizeof(out), "QUJ=", 4, &n), -EINVAL);
        assert_int_equal(b64_decode(out, sizeof(out), "QUJD", 4, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(b64_decode(out, sizeof(out), "QUJD=", 5, &n), -EINVAL);
        assert_int_equal(b64_decode(out, sizeof(out), "Q===", 4, &n), -EINVAL);
        assert_int_equal(b64_decode(out, sizeof(out), "====", 4, &n), -EINVAL);
        assert_int_equal(b64_decode(out, 2, "QUJD", 4, &n), -ENOBUFS);
}

static void test_refuses_every_byte_outside_ascii(void **state)
{
        uint8_t out[8];
        size_t n;

        (void)state;
        for (unsigned c = 0x80; c <= 0xff; c++)
                for (int pos = 0; pos < 4; pos++) {
                        char t[4] = {'Q', 'U', 'J', 'D'};
                        t[pos] = (char)c;
                        assert_int_equal(b64_decode(out, sizeof(out), t, 4, &n), -EINVAL);
                        t[3] = '=';
                        if (pos < 3)
                                assert_int_equal(b64_decode(out, sizeof(out), t, 4, &n), -EINVAL);
                }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_encodes_as_libsodium),
                cmocka_unit_test(test_decodes_as_libsodium),
                cmocka_unit_test(test_refuses_non_canonical_and_oversized),
                cmocka_unit_test(test_refuses_every_byte_outside_ascii),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
