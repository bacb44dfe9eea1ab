/* A progress line for long commands, redrawn in place on a terminal:
 * count, rate and, when the amount of work is known, percentage and ETA. */
#include <inttypes.h>

#include "util.h"
#include "vaultctl.h"

/* Redraws at most this often: readable, and cheap. */
#define PROGRESS_INTERVAL_US 250000u
#define USEC_PER_SEC         1000000.0

void progress_begin(struct progress *p, const struct progress_label *label, bool on, int64_t total)
{
        *p = (struct progress){.label = label, .on = on, .total = total, .start_us = now_monotonic_us()};
        p->last_us = p->start_us;
}

/* "1:05" or "2:03:07". */
static void format_duration(uint64_t s, char *buf, size_t size)
{
        if (s >= 3600)
                snprintf(buf, size, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s / 60 % 60, s % 60);
        else
                snprintf(buf, size, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
}

void progress_update(struct progress *p, uint64_t done, int64_t pos)
{
        uint64_t now = now_monotonic_us();
        double elapsed = (double)(now - p->start_us) / USEC_PER_SEC;
        char eta[64] = "", left[32];

        if (!p->on || now - p->last_us < PROGRESS_INTERVAL_US)
                return;
        p->last_us = now;
        if (p->total > 0 && pos > 0 && pos <= p->total) {
                format_duration((uint64_t)(elapsed * (double)(p->total - pos) / (double)pos), left,
                                sizeof(left));
                snprintf(eta, sizeof(eta), ", %d%%, ETA %s", (int)(pos * 100 / p->total), left);
        }
        fprintf(stderr, "\r\033[K%s: %" PRIu64 " %s, %.0f %s/s%s", p->label->doing, done,
                plural(done, p->label->one, p->label->many), elapsed > 0 ? (double)done / elapsed : 0.0,
                p->label->many, eta);
        p->shown = true;
}

void progress_clear(struct progress *p)
{
        if (!p->shown)
                return;
        fputs("\r\033[K", stderr);
        p->shown = false;
}
