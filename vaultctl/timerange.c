/* Periods as an auditor states them: dates and times in the local time
 * zone (TZ, else the system's), turned into the UTC times vaultd's Export
 * takes; and local times and the zone's name for every output, so that a
 * month's boundaries are the office's, not UTC's. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditview.h"
#include "timestamp.h"
#include "util.h"

#define USEC_PER_SEC 1000000ull
#define LOCAL_FORMS  "YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS"
#define ZONEINFO     "zoneinfo/"
#define ZONEINFO_DIR "/usr/share/zoneinfo/"

/* Reads n decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* Splits one of the LOCAL_FORMS into tm; -EINVAL when s is none of them. */
static int local_fields(const char *s, struct tm *ret)
{
        size_t len = strlen(s);
        int year, mon, day, hour = 0, min = 0, sec = 0;

        if (len != 10 && len != 16 && len != 19)
                return -EINVAL;
        year = digits(s, 4);
        mon = digits(s + 5, 2);
        day = digits(s + 8, 2);
        if (year < 1970 || s[4] != '-' || s[7] != '-' || mon < 1 || mon > 12 || day < 1 || day > 31)
                return -EINVAL;
        if (len >= 16) {
                hour = digits(s + 11, 2);
                min = digits(s + 14, 2);
                if ((s[10] != 'T' && s[10] != ' ') || s[13] != ':' || hour < 0 || hour > 23 || min < 0 ||
                    min > 59)
                        return -EINVAL;
        }
        if (len == 19) {
                sec = digits(s + 17, 2);
                if (s[16] != ':' || sec < 0 || sec > 59)
                        return -EINVAL;
        }
        *ret = (struct tm){.tm_year = year - 1900,
                           .tm_mon = mon - 1,
                           .tm_mday = day,
                           .tm_hour = hour,
                           .tm_min = min,
                           .tm_sec = sec,
                           .tm_isdst = -1};
        return 0;
}

/* A date or time in the local zone, as microseconds since the epoch. */
static uint64_t parse_local(struct ctl *ctl, const char *option, const char *s)
{
        struct tm want, got;
        char zone[ZONE_TEXT_MAX];
        time_t t;

        zone_describe(now_realtime_us(), zone);
        if (local_fields(s, &want) < 0)
                die_usage(ctl, "%s '%s' is not a date or time: give %s, in local time (%s)", option, s,
                          LOCAL_FORMS, zone);
        got = want;
        t = mktime(&got);
        if (t == (time_t)-1 || t < 0)
                die_usage(ctl, "%s '%s' is out of range", option, s);
        /* mktime() moves 2026-02-30 to March 2nd, and a time that a clock
         * change skipped to the next hour: neither exists. */
        if (got.tm_mday != want.tm_mday || got.tm_mon != want.tm_mon)
                die_usage(ctl, "%s '%s': that month has no such day", option, s);
        if (got.tm_hour != want.tm_hour || got.tm_min != want.tm_min)
                die_usage(ctl, "%s '%s' does not exist in local time (%s): the clocks skipped it", option, s,
                          zone);
        return (uint64_t)t * USEC_PER_SEC;
}

void period_option(struct ctl *ctl, struct period *p, int c, const char *value)
{
        switch (c) {
        case OPT_SINCE:
                p->since_us = parse_local(ctl, "--since", value);
                p->has_since = true;
                break;
        case OPT_UNTIL:
                p->until_us = parse_local(ctl, "--until", value);
                p->has_until = true;
                break;
        case OPT_FROM_SEQ:
                p->from_seq = arg_uint(ctl, "--from-seq", value, INT64_MAX);
                p->has_from = true;
                break;
        case OPT_TO_SEQ:
                p->to_seq = arg_uint(ctl, "--to-seq", value, INT64_MAX);
                p->has_to = true;
                break;
        }
}

/* A TZ that names no zone makes the C library use UTC without a word,
 * which would put every boundary off by the office's offset: refuse it. */
static void zone_check(struct ctl *ctl)
{
        const char *tz = getenv("TZ");
        char path[PATH_MAX];
        struct stat st;

        if (!tz || !*tz || (*tz == ':' && !tz[1]))
                return;
        if (*tz == ':')
                tz++;
        /* A POSIX rule ("ICT-7") carries its offset; a name must be a file. */
        if (strpbrk(tz, "0123456789") && !strchr(tz, '/'))
                return;
        snprintf(path, sizeof(path), "%s%s", *tz == '/' ? "" : ZONEINFO_DIR, tz);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                die_usage(ctl,
                          "TZ=%s names no time zone (no %s): times would be UTC; give a zone such as "
                          "Asia/Ho_Chi_Minh, or unset TZ for the system's",
                          tz, path);
}

void period_check(struct ctl *ctl, const struct period *p)
{
        zone_check(ctl);
        if (p->has_since && p->has_from)
                die_usage(ctl, "give --since or --from-seq, not both");
        if (p->has_until && p->has_to)
                die_usage(ctl, "give --until or --to-seq, not both");
        if (p->has_since && p->has_until && p->until_us <= p->since_us)
                die_usage(ctl, "--until must be later than --since (the period is [since, until))");
        if (p->has_from && p->has_to && p->to_seq < p->from_seq)
                die_usage(ctl, "--to-seq must not be below --from-seq");
}

void period_params(const struct period *p, json_t *params)
{
        char t[TIME_STRING_MAX];

        if (p->has_from)
                json_object_set_new(params, "from_seq", json_integer((json_int_t)p->from_seq));
        if (p->has_to)
                json_object_set_new(params, "to_seq", json_integer((json_int_t)p->to_seq));
        if (p->has_since) {
                time_format_us(p->since_us, t);
                json_object_set_new(params, "since", json_string(t));
        }
        if (p->has_until) {
                time_format_us(p->until_us, t);
                json_object_set_new(params, "until", json_string(t));
        }
}

bool period_past_end(const struct period *p, uint64_t seq, uint64_t time_us)
{
        return (p->has_to && seq > p->to_seq) || (p->has_until && time_us >= p->until_us);
}

void local_tm(uint64_t us, struct tm *ret)
{
        time_t t = (time_t)(us / USEC_PER_SEC);

        if (!localtime_r(&t, ret))
                *ret = (struct tm){.tm_mday = 1, .tm_year = 70};
}

void local_format(uint64_t us, enum local_style style, char buf[static LOCAL_TIME_MAX])
{
        struct tm tm;

        local_tm(us, &tm);
        snprintf(buf, LOCAL_TIME_MAX, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        if (style == LOCAL_MINUTES)
                snprintf(buf + 10, LOCAL_TIME_MAX - 10, " %02d:%02d", tm.tm_hour, tm.tm_min);
        else if (style == LOCAL_SECONDS)
                snprintf(buf + 10, LOCAL_TIME_MAX - 10, " %02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The zone's name: TZ's, else what /etc/localtime links to, else
 * /etc/timezone's; "" when none says. */
static void zone_name(char *buf, size_t size)
{
        const char *tz = getenv("TZ"), *z;
        char link[PATH_MAX] = "";
        ssize_t n;
        FILE *f;

        buf[0] = '\0';
        if (tz) {
                tz += *tz == ':';
                z = strstr(tz, ZONEINFO);
                snprintf(buf, size, "%s", z ? z + strlen(ZONEINFO) : *tz ? tz : "UTC");
                return;
        }
        n = readlink("/etc/localtime", link, sizeof(link) - 1);
        if (n > 0) {
                link[n] = '\0';
                z = strstr(link, ZONEINFO);
                if (z) {
                        snprintf(buf, size, "%s", z + strlen(ZONEINFO));
                        return;
                }
        }
        f = fopen("/etc/timezone", "re");
        if (f) {
                if (fgets(buf, (int)size, f))
                        buf[strcspn(buf, "\n")] = '\0';
                fclose(f);
        }
}

void zone_describe(uint64_t us, char buf[static ZONE_TEXT_MAX])
{
        char name[96];
        struct tm tm;
        long off;

        tzset();
        zone_name(name, sizeof(name));
        local_tm(us, &tm);
        off = tm.tm_gmtoff;
        snprintf(buf, ZONE_TEXT_MAX, "%s, UTC%c%02ld:%02ld", name[0] ? name : tm.tm_zone,
                 off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
}

void span_add(struct period_span *span, const struct audit_row *row)
{
        if (!span->any) {
                span->any = true;
                span->first = row->seq;
                span->first_time_us = row->time_us;
        }
        span->last = row->seq;
        span->last_time_us = row->time_us;
        span->lines++;
}

/* Lines are written as {"seq":N,"time":"…", so the time is found near the
 * start without parsing the whole line; anything else is parsed. */
#define TIME_MEMBER      ",\"time\":\""
#define TIME_SEARCH_SPAN 48

uint64_t line_time_us(const char *line, size_t len)
{
        const char *at = memmem(line, len < TIME_SEARCH_SPAN ? len : TIME_SEARCH_SPAN, TIME_MEMBER,
                                strlen(TIME_MEMBER));
        char t[TIMESTAMP_UTC_MAX + 1];
        uint64_t us = 0;
        size_t n;

        if (at) {
                at += strlen(TIME_MEMBER);
                n = strcspn(at, "\"");
                if (n <= TIMESTAMP_UTC_MAX && at + n < line + len) {
                        memcpy(t, at, n);
                        t[n] = '\0';
                        if (timestamp_parse_utc(t, &us) == 0)
                                return us;
                }
        }
        json_t *o = json_loadb(line, len, 0, NULL);
        if (timestamp_parse_utc(json_string_value(json_object_get(o, "time")), &us) < 0)
                us = 0;
        json_decref(o);
        return us;
}

void period_summary(FILE *f, const struct period *p, uint64_t first_us, uint64_t last_us)
{
        char zone[ZONE_TEXT_MAX], a[LOCAL_TIME_MAX], b[LOCAL_TIME_MAX];
        _cleanup_(freep) char *shown = NULL;

        zone_describe(first_us, zone);
        shown = escape_string(zone);
        local_format(first_us, LOCAL_SECONDS, a);
        local_format(last_us, LOCAL_SECONDS, b);
        fprintf(f, "line times: %s .. %s, local time (%s)\n", a, b, shown);
        if (p->has_since || p->has_until) {
                local_format(p->since_us, LOCAL_MINUTES, a);
                local_format(p->until_us, LOCAL_MINUTES, b);
                fprintf(f, "period asked: from %s until %s (excluded)\n", p->has_since ? a : "the start",
                        p->has_until ? b : "the end");
        }
        if (p->has_until || p->has_to)
                fprintf(f, "the export runs on to the first signed checkpoint at or after the period's end, "
                           "so it may hold later lines; 'audit report' and --format csv leave them out\n");
}

void period_json(json_t *o, const struct period *p, uint64_t first_us, uint64_t last_us)
{
        char zone[ZONE_TEXT_MAX], a[TIME_STRING_MAX], b[TIME_STRING_MAX];

        zone_describe(first_us, zone);
        time_format_us(first_us, a);
        time_format_us(last_us, b);
        json_object_set_new(o, "time_zone", json_string(zone));
        json_object_set_new(o, "first_time", json_string(a));
        json_object_set_new(o, "last_time", json_string(b));
        if (p->has_since) {
                time_format_us(p->since_us, a);
                json_object_set_new(o, "since", json_string(a));
        }
        if (p->has_until) {
                time_format_us(p->until_us, b);
                json_object_set_new(o, "until", json_string(b));
        }
}
