/* Small helpers shared by vaultd and vaultctl: cleanup attributes, byte
 * order, time stamps, hex (the syntax of names is in lib/names.h).
 * Nothing here holds state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)  __attribute__((cleanup(f)))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
        free(*(void **)p);
}
static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}

/* Collection names and record ids: lib/names.h. */
#include "names.h"

static inline void be64_put(uint8_t *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)v;
}
static inline uint64_t be64_get(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}
static inline void be16_put(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}
static inline uint16_t be16_get(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}
static inline void be32_put(uint8_t *p, uint32_t v)
{
        for (int i = 3; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)v;
}
static inline uint32_t be32_get(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Microseconds since the epoch, from CLOCK_REALTIME. */
/* FNV-1a over len bytes of p, on from h (FNV1A_INIT to start). Not
 * keyed: whoever picks the keys can make them collide, so only for
 * tables that stay correct and bounded when they do. */
#define FNV1A_INIT 0xcbf29ce484222325ull
static inline uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
        for (size_t i = 0; i < len; i++)
                h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
        return h;
}

uint64_t now_realtime_us(void);
/* Microseconds from CLOCK_MONOTONIC. */
uint64_t now_monotonic_us(void);

#define TIME_STRING_MAX 64
/* Writes "2026-11-29T14:03:07.123456Z" (UTC) for a microsecond time stamp. */
void time_format_us(uint64_t us, char buf[static TIME_STRING_MAX]);

#define AGE_STRING_MAX 32
/* An age for people, coarse so that it changes rarely: "under a minute",
 * "12 min" (under two hours), "5 h" (under two days), "3 days". */
void age_format(uint64_t seconds, char buf[static AGE_STRING_MAX]);

#define SIZE_STRING_MAX 32
/* A size for people in binary units: "512 bytes", "7.5 MiB", "233 GiB". */
void size_format(uint64_t bytes, char buf[static SIZE_STRING_MAX]);

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Parses exactly 2*len hex digits; -EINVAL on anything else. */
int hex_decode(const char *in, uint8_t *out, size_t len);

/* Reads a whole small file (at most max bytes) opened O_NOFOLLOW.
 * Returns the length; *ret is malloc'd and NUL-terminated.
 * -EFBIG when it is larger than max, -EINVAL when it is not a regular
 * file (a FIFO is refused at once, without waiting for a writer). */
int read_file_max(const char *path, size_t max, char **ret, size_t *ret_len);

/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);
/* Reads exactly len bytes, retrying on EINTR and short reads. -EPIPE when
 * the file ends first. */
int read_full(int fd, void *buf, size_t len);

/* Writes a reason to why (when not NULL) and returns -EBADMSG: the verdict
 * of a check that names what failed. */
__attribute__((format(printf, 3, 4))) int why_bad(char *why, size_t whylen, const char *fmt, ...);
/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): plain arithmetic, no time zone file. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
