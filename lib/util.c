#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static uint64_t clock_us(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_realtime_us(void)
{
        return clock_us(CLOCK_REALTIME);
}
uint64_t now_monotonic_us(void)
{
        return clock_us(CLOCK_MONOTONIC);
}

void time_format_us(uint64_t us, char buf[static TIME_STRING_MAX])
{
        time_t sec = (time_t)(us / 1000000u);
        struct tm tm;

        gmtime_r(&sec, &tm);
        snprintf(buf, TIME_STRING_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(us % 1000000u));
}

void age_format(uint64_t seconds, char buf[static AGE_STRING_MAX])
{
        if (seconds < 60)
                snprintf(buf, AGE_STRING_MAX, "under a minute");
        else if (seconds < 2 * 3600)
                snprintf(buf, AGE_STRING_MAX, "%llu min", (unsigned long long)(seconds / 60));
        else if (seconds < 2 * 86400)
                snprintf(buf, AGE_STRING_MAX, "%llu h", (unsigned long long)(seconds / 3600));
        else
                snprintf(buf, AGE_STRING_MAX, "%llu days", (unsigned long long)(seconds / 86400));
}

void size_format(uint64_t bytes, char buf[static SIZE_STRING_MAX])
{
        static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double n = (double)bytes;
        size_t u = 0;

        while (n >= 1024 && u + 1 < ELEMENTSOF(units)) {
                n /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, SIZE_STRING_MAX, "%llu bytes", (unsigned long long)bytes);
        else
                snprintf(buf, SIZE_STRING_MAX, n < 10 ? "%.1f %s" : "%.0f %s", n, units[u]);
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * len] = '\0';
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t len)
{
        if (strlen(in) != 2 * len)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

int read_file_max(const char *path, size_t max, char **ret, size_t *ret_len)
{
        /* O_NONBLOCK: opening a FIFO planted at path must not wait for a
         * writer (it would hang the caller); it is refused below. */
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = buf;
        buf = NULL;
        if (ret_len)
                *ret_len = len;
        return (int)len;
}

int read_full(int fd, void *buf, size_t len)
{
        char *p = buf;

        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EPIPE;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int why_bad(char *why, size_t whylen, const char *fmt, ...)
{
        va_list ap;

        if (why && whylen) {
                va_start(ap, fmt);
                vsnprintf(why, whylen, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}
