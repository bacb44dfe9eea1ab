/* RFC 3339 UTC times, parsed strictly: the trail's own "time" fields and
 * Export's since/until (docs/protocol.md). */
#include "timestamp.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define USEC_PER_SEC 1000000ull

/* Reads exactly n decimal digits at *s and moves past them; -1 if any is
 * not a digit. */
static int digits(const char **s, int n)
{
        int v = 0;

        for (int i = 0; i < n; i++, (*s)++) {
                if (**s < '0' || **s > '9')
                        return -1;
                v = v * 10 + (**s - '0');
        }
        return v;
}

/* The fraction after the seconds, as microseconds; -1 when malformed. */
static int64_t fraction_us(const char **s)
{
        int64_t us = 0;
        int n = 0;

        if (**s != '.')
                return 0;
        for ((*s)++; **s >= '0' && **s <= '9'; (*s)++, n++) {
                if (n == 6)
                        return -1;
                us = us * 10 + (**s - '0');
        }
        if (n == 0)
                return -1;
        for (; n < 6; n++)
                us *= 10;
        return us;
}

int timestamp_parse_utc(const char *s, uint64_t *ret_us)
{
        struct tm tm = {0}, check;
        int year, mon, day, hour, min, sec;
        int64_t us;
        time_t t;

        if (!s || strlen(s) > TIMESTAMP_UTC_MAX)
                return -EINVAL;
        year = digits(&s, 4);
        if (year < 1970 || *s++ != '-' || (mon = digits(&s, 2)) < 1 || mon > 12 || *s++ != '-' ||
            (day = digits(&s, 2)) < 1 || day > 31 || *s++ != 'T' || (hour = digits(&s, 2)) < 0 ||
            hour > 23 || *s++ != ':' || (min = digits(&s, 2)) < 0 || min > 59 || *s++ != ':' ||
            (sec = digits(&s, 2)) < 0 || sec > 59 || (us = fraction_us(&s)) < 0 || strcmp(s, "Z") != 0)
                return -EINVAL;
        tm = (struct tm){.tm_year = year - 1900,
                         .tm_mon = mon - 1,
                         .tm_mday = day,
                         .tm_hour = hour,
                         .tm_min = min,
                         .tm_sec = sec};
        t = timegm(&tm);
        /* timegm() moves 2026-02-30 to March 2nd: such a date does not exist. */
        if (t < 0 || !gmtime_r(&t, &check) || check.tm_mday != day || check.tm_mon != mon - 1)
                return -EINVAL;
        *ret_us = (uint64_t)t * USEC_PER_SEC + (uint64_t)us;
        return 0;
}
