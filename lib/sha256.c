#include "sha256.h"

#include <string.h>

#include <sodium.h>

#include "util.h"

void sha256_portable(const void *data, size_t len, uint8_t out[SHA256_SIZE])
{
        crypto_hash_sha256(out, data, len);
}

void sha256_prefixed_portable(uint8_t prefix, const void *data, size_t len, uint8_t out[SHA256_SIZE])
{
        crypto_hash_sha256_state st;

        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, &prefix, 1);
        crypto_hash_sha256_update(&st, data, len);
        crypto_hash_sha256_final(&st, out);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t sha256_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* The compression function over whole 64-byte blocks, with the SHA-NI
 * instructions (the layout of Intel's white paper: the state as ABEF and
 * CDGH, four rounds per message vector, the schedule in a ring of four). */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_ni(uint32_t state[8], const uint8_t *data,
                                                                  size_t nblocks)
{
        const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
        __m128i s0, s1, tmp, w[4];

        tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1); /* CDAB */
        s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);  /* EFGH */
        s0 = _mm_alignr_epi8(tmp, s1, 8);                                           /* ABEF */
        s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                        /* CDGH */
        for (; nblocks > 0; nblocks--, data += 64) {
                __m128i abef = s0, cdgh = s1;

                for (int g = 0; g < 16; g++) {
                        __m128i m;

                        if (g < 4)
                                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * g)),
                                                     bswap);
                        else
                                m = _mm_sha256msg2_epu32(
                                        _mm_add_epi32(_mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]),
                                                      _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4)),
                                        w[(g + 3) & 3]);
                        w[g & 3] = m;
                        m = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&sha256_k[4 * g]));
                        s1 = _mm_sha256rnds2_epu32(s1, s0, m);
                        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
                }
                s0 = _mm_add_epi32(s0, abef);
                s1 = _mm_add_epi32(s1, cdgh);
        }
        tmp = _mm_shuffle_epi32(s0, 0x1B);                                      /* FEBA */
        s1 = _mm_shuffle_epi32(s1, 0xB1);                                       /* DCHG */
        _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(tmp, s1, 0xF0)); /* DCBA */
        _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(s1, tmp, 8));    /* HGFE */
}

/* SHA-256 of head[0..nhead) || data[0..len), nhead < 64: the head and
 * the data's first bytes make the first block, then the data's blocks are
 * hashed in place (a Merkle leaf's 0x00 needs no copy of the line). */
static void sha256_ni(const uint8_t *head, size_t nhead, const void *data, size_t len,
                      uint8_t out[SHA256_SIZE])
{
        uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
        uint8_t tail[128] = {0};
        const uint8_t *p = data;
        uint64_t total = (uint64_t)nhead + len;
        size_t full, rest, ntail;

        if (nhead && total >= 64) {
                memcpy(tail, head, nhead);
                memcpy(tail + nhead, p, 64 - nhead);
                blocks_ni(state, tail, 1);
                p += 64 - nhead;
                len -= 64 - nhead;
                nhead = 0;
                memset(tail, 0, sizeof(tail));
        }
        full = len / 64;
        rest = len % 64;
        blocks_ni(state, p, full);
        if (nhead) /* (head and p may be NULL when empty: no memcpy of them) */
                memcpy(tail, head, nhead);
        if (rest)
                memcpy(tail + nhead, p + 64 * full, rest);
        rest += nhead;
        ntail = rest < 56 ? 1 : 2;
        tail[rest] = 0x80;
        be64_put(tail + 64 * ntail - 8, total * 8);
        blocks_ni(state, tail, ntail);
        for (int i = 0; i < 8; i++)
                be32_put(out + 4 * i, state[i]);
}

/* CPUID: SSSE3 and SSE4.1 (leaf 1, ECX bits 9 and 19), SHA (leaf 7, EBX
 * bit 29). Asked once; the answer never changes. */
static int cpu_has_sha(void)
{
        static int known; /* 0: not asked yet, 1: yes, 2: no; a race asks twice, harmlessly */
        unsigned a, b, c, d;
        int v = __atomic_load_n(&known, __ATOMIC_RELAXED);

        if (v)
                return v == 1;
        v = 2;
        if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 9)) && (c & (1u << 19)) &&
            __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
                v = 1;
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
        return v == 1;
}

int sha256_accelerated(void)
{
        return cpu_has_sha();
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_SIZE])
{
        if (cpu_has_sha())
                sha256_ni(NULL, 0, data, len, out);
        else
                sha256_portable(data, len, out);
}

void sha256_prefixed(uint8_t prefix, const void *data, size_t len, uint8_t out[SHA256_SIZE])
{
        if (cpu_has_sha())
                sha256_ni(&prefix, 1, data, len, out);
        else
                sha256_prefixed_portable(prefix, data, len, out);
}
#else
int sha256_accelerated(void)
{
        return 0;
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_SIZE])
{
        sha256_portable(data, len, out);
}

void sha256_prefixed(uint8_t prefix, const void *data, size_t len, uint8_t out[SHA256_SIZE])
{
        sha256_prefixed_portable(prefix, data, len, out);
}
#endif
