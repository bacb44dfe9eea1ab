#include "b64.h"

#include <errno.h>

/* The mask loops below are written for the vectoriser, which -O2 runs
 * only with its cheapest cost model (GCC 12): this file asks for more. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

/* Branch-free comparisons of values below 256, as in libsodium's codecs:
 * 0xFF when true, 0 when false. */
static inline unsigned GT(unsigned x, unsigned y)
{
        return ((y - x) >> 8) & 0xFF;
}
static inline unsigned GE(unsigned x, unsigned y)
{
        return GT(y, x) ^ 0xFF;
}
static inline unsigned LT(unsigned x, unsigned y)
{
        return GT(y, x);
}
static inline unsigned LE(unsigned x, unsigned y)
{
        return GE(y, x);
}
static inline unsigned EQ(unsigned x, unsigned y)
{
        return (((0u - (x ^ y)) >> 8) & 0xFF) ^ 0xFF;
}

static inline char byte_to_char(unsigned x)
{
        return (char)((LT(x, 26) & (x + 'A')) | (GE(x, 26) & LT(x, 52) & (x + ('a' - 26))) |
                      (GE(x, 52) & LT(x, 62) & (x - 4u) /* '0' + x - 52 */) | (EQ(x, 62) & '+') |
                      (EQ(x, 63) & '/'));
}

/* The value of c, or 0xFF when c is not in the alphabet. */
static inline unsigned char_to_byte(unsigned c)
{
        unsigned x = (GE(c, 'A') & LE(c, 'Z') & (c - 'A')) | (GE(c, 'a') & LE(c, 'z') & (c - ('a' - 26))) |
                     (GE(c, '0') & LE(c, '9') & (c + 4u) /* c - '0' + 52 */) | (EQ(c, '+') & 62) |
                     (EQ(c, '/') & 63);

        return x | (EQ(x, 0) & (EQ(c, 'A') ^ 0xFF));
}

/* Characters of 6-bit values, in place, over a whole block at a time:
 * written as byte-wise masks (no branch, no table) so that the compiler
 * vectorises the loop. */
static void values_to_chars(uint8_t *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t x = v[i];
                uint8_t ge26 = (uint8_t) - (uint8_t)(x >= 26), ge52 = (uint8_t) - (uint8_t)(x >= 52),
                        ge62 = (uint8_t) - (uint8_t)(x >= 62), ge63 = (uint8_t) - (uint8_t)(x >= 63);
                /* 'A'+x; 'a'-26+x = +6; '0'-52+x = -75; '+' = -15; '/' = +3 */
                v[i] = (uint8_t)(x + 'A' + (ge26 & 6) - (ge52 & 75) - (ge62 & 15) + (ge63 & 3));
        }
}

#define BLOCK 3072 /* input bytes per block: 4096 characters */

void b64_encode(char *out, const uint8_t *in, size_t len)
{
        size_t whole = len / 3 * 3;

        for (size_t done = 0; done < whole;) {
                size_t n = whole - done < BLOCK ? whole - done : BLOCK;
                uint8_t *o = (uint8_t *)out + done / 3 * 4;

                for (size_t i = 0; i < n; i += 3) {
                        const uint8_t *p = in + done + i;
                        uint8_t *q = o + i / 3 * 4;
                        q[0] = p[0] >> 2;
                        q[1] = (uint8_t)((p[0] & 3) << 4 | p[1] >> 4);
                        q[2] = (uint8_t)((p[1] & 15) << 2 | p[2] >> 6);
                        q[3] = p[2] & 63;
                }
                values_to_chars(o, n / 3 * 4);
                done += n;
        }
        out += whole / 3 * 4;
        in += whole;
        if (len - whole == 1) {
                out[0] = byte_to_char(in[0] >> 2);
                out[1] = byte_to_char((in[0] & 3) << 4);
                out[2] = out[3] = '=';
        } else if (len - whole == 2) {
                unsigned v = (unsigned)in[0] << 8 | in[1];
                out[0] = byte_to_char(v >> 10);
                out[1] = byte_to_char((v >> 4) & 63);
                out[2] = byte_to_char((v & 15) << 2);
                out[3] = '=';
        }
}

/* Values of characters, 0xFF for any outside the alphabet; vectorised
 * like values_to_chars. */
static void chars_to_values(uint8_t *v, const uint8_t *c, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint8_t x = c[i];
                uint8_t up = (uint8_t) - (uint8_t)((uint8_t)(x - 'A') < 26),
                        lo = (uint8_t) - (uint8_t)((uint8_t)(x - 'a') < 26),
                        dig = (uint8_t) - (uint8_t)((uint8_t)(x - '0') < 10),
                        plus = (uint8_t) - (uint8_t)(x == '+'), slash = (uint8_t) - (uint8_t)(x == '/');
                v[i] = (uint8_t)((up & (x - 'A')) | (lo & (x - 'a' + 26)) | (dig & (x - '0' + 52)) |
                                 (plus & 62) | (slash & 63) | (uint8_t) ~(up | lo | dig | plus | slash));
        }
}

int b64_decode(uint8_t *out, size_t out_max, const char *in, size_t len, size_t *ret_len)
{
        const unsigned char *s = (const unsigned char *)in;
        size_t pad = 0, n, i, o = 0;
        unsigned bad = 0;

        if (len % 4)
                return -EINVAL;
        if (len && s[len - 1] == '=')
                pad = s[len - 2] == '=' ? 2 : 1;
        n = len / 4 * 3 - pad;
        if (n > out_max)
                return -ENOBUFS;
        /* Every quad but a padded last one, a block at a time. */
        size_t whole = len - (pad ? 4 : 0);
        for (i = 0; i < whole;) {
                uint8_t v[BLOCK / 3 * 4];
                size_t k = whole - i < sizeof(v) ? whole - i : sizeof(v);
                uint8_t seen = 0;

                chars_to_values(v, s + i, k);
                for (size_t q = 0; q < k; q += 4) {
                        seen |= v[q] | v[q + 1] | v[q + 2] | v[q + 3];
                        out[o++] = (uint8_t)(v[q] << 2 | v[q + 1] >> 4);
                        out[o++] = (uint8_t)(v[q + 1] << 4 | v[q + 2] >> 2);
                        out[o++] = (uint8_t)(v[q + 2] << 6 | v[q + 3]);
                }
                bad |= seen;
                i += k;
        }
        if (pad) {
                unsigned a = char_to_byte(s[i]), b = char_to_byte(s[i + 1]);
                bad |= a | b;
                if (pad == 2) {
                        bad |= (b & 15) ? 0xFF : 0; /* bits past the last byte must be zero */
                        out[o++] = (uint8_t)(a << 2 | b >> 4);
                } else {
                        unsigned c = char_to_byte(s[i + 2]);
                        bad |= c | ((c & 3) ? 0xFF : 0);
                        out[o++] = (uint8_t)(a << 2 | b >> 4);
                        out[o++] = (uint8_t)(b << 4 | c >> 2);
                }
        }
        if (bad & 0xC0)
                return -EINVAL;
        *ret_len = o;
        return 0;
}
