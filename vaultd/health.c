#include "health.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "log.h"
#include "util.h"
#include "vault.h"
#include "writer.h"

/* How many problems the STATUS= line shows (all are in Status). */
#define STATUS_LINE_PROBLEMS 3

void health_init(struct health *h)
{
        *h = (struct health){0};
        pthread_mutex_init(&h->lock, NULL);
}

void health_done(struct health *h)
{
        pthread_mutex_destroy(&h->lock);
}

static const char *kind_name(enum integrity_kind kind)
{
        switch (kind) {
        case INTEGRITY_RECORD:
                return "record";
        case INTEGRITY_VERIFY:
                return "verify";
        case INTEGRITY_CHECKPOINT:
                return "checkpoint";
        }
        return "unknown";
}

const char *health_state_name(enum health_state state)
{
        switch (state) {
        case HEALTH_SERVING:
                return "serving";
        case HEALTH_DEGRADED:
                return "degraded";
        case HEALTH_SEALED:
                return "sealed";
        }
        return "unknown";
}

/* Counts e (time set) under the lock; the caller logs it. */
static void note_locked(struct health *h, struct integrity_event *e)
{
        if (!e->time_us)
                e->time_us = now_realtime_us();
        h->failures++;
        h->last = *e;
        if (e->kind != INTEGRITY_VERIFY)
                h->last_other = *e;
}

static void log_event(const struct integrity_event *e)
{
        char message[sizeof(e->what) + 48];

        if (e->seq != UINT64_MAX)
                snprintf(message, sizeof(message), "%s (audit seq %" PRIu64 ")", e->what, e->seq);
        else
                snprintf(message, sizeof(message), "%s", e->what);
        log_integrity(kind_name(e->kind), e->op, e->seq, message);
}

void health_integrity(struct health *h, const struct integrity_event *e)
{
        struct integrity_event copy = *e;

        pthread_mutex_lock(&h->lock);
        note_locked(h, &copy);
        pthread_mutex_unlock(&h->lock);
        log_event(&copy);
}

void health_verify_result(struct health *h, const struct integrity_event *e, const char *problem)
{
        struct integrity_event copy;

        pthread_mutex_lock(&h->lock);
        h->verify_failed = e != NULL;
        h->verify_problem[0] = '\0';
        if (e) {
                copy = *e;
                note_locked(h, &copy);
                snprintf(h->verify_problem, sizeof(h->verify_problem), "%s", problem);
        }
        pthread_mutex_unlock(&h->lock);
        if (e)
                log_event(&copy);
}

void health_gather(struct vault *v, struct health_facts *ret)
{
        struct health_facts f = {.now_us = now_realtime_us()};
        struct audit_log *log = v->audit;

        f.sealed = __atomic_load_n(&v->sealed, __ATOMIC_RELAXED);
        f.has_usage = v->store && store_usage(v->store, &f.usage) == 0;
        if (log) {
                f.audit_lines = __atomic_load_n(&log->next_seq, __ATOMIC_RELAXED);
                f.checkpoint_size = __atomic_load_n(&log->checkpoint_size, __ATOMIC_RELAXED);
                f.checkpoint_signed_s = __atomic_load_n(&log->checkpoint_signed_s, __ATOMIC_RELAXED);
                f.unsigned_since_us = __atomic_load_n(&log->unsigned_since_us, __ATOMIC_RELAXED);
        }
        f.has_backup = v->store && backup_last_time(v, &f.backup_time_us) == 0;
        f.writer_busy_us = v->writer ? writer_busy_us(v->writer) : 0;
        pthread_mutex_lock(&v->health.lock);
        f.integrity_failures = v->health.failures;
        f.last = v->health.last;
        f.last_other = v->health.last_other;
        f.verify_failed = v->health.verify_failed;
        memcpy(f.verify_problem, v->health.verify_problem, sizeof(f.verify_problem));
        pthread_mutex_unlock(&v->health.lock);
        *ret = f;
}

static uint64_t seconds_since(uint64_t now_us, uint64_t then_us)
{
        return now_us > then_us ? (now_us - then_us) / 1000000u : 0;
}

static unsigned percent(uint64_t part, uint64_t whole)
{
        return whole ? (unsigned)(part * 100 / whole) : 0;
}

__attribute__((format(printf, 2, 3))) static void add_problem(struct health_verdict *vd, const char *fmt,
                                                              ...)
{
        va_list ap;

        if (vd->nproblems == HEALTH_PROBLEMS_MAX)
                return;
        va_start(ap, fmt);
        vsnprintf(vd->problems[vd->nproblems++], HEALTH_SENTENCE_MAX, fmt, ap);
        va_end(ap);
}

__attribute__((format(printf, 2, 3))) static void add_warning(struct health_verdict *vd, const char *fmt,
                                                              ...)
{
        va_list ap;

        if (vd->nwarnings == HEALTH_WARNINGS_MAX)
                return;
        va_start(ap, fmt);
        vsnprintf(vd->warnings[vd->nwarnings++], HEALTH_SENTENCE_MAX, fmt, ap);
        va_end(ap);
}

static void judge_space(const struct health_facts *f, struct health_verdict *vd)
{
        const struct store_usage *u = &f->usage;
        char left[SIZE_STRING_MAX];

        if (!f->has_usage)
                return;
        size_format(u->disk_free, left);
        if (u->disk_free < STORE_RESERVE_BYTES + HEALTH_DISK_FULL_MARGIN)
                add_problem(vd, "disk full: %s left, writes are refused (StorageFull)", left);
        else if (u->disk_free < HEALTH_DISK_MIN_BYTES ||
                 (u->disk_total && u->disk_free * 100 < u->disk_total * HEALTH_DISK_MIN_PERCENT))
                add_problem(vd, "disk nearly full: %u %% free (%s left)",
                            percent(u->disk_free, u->disk_total), left);
        if (u->map_size >= STORE_MAP_LIMIT && u->map_used <= u->map_size &&
            (u->map_size - u->map_used) * 100 < u->map_size * HEALTH_MAP_MIN_PERCENT)
                add_problem(vd, "store map nearly full: %u %% free at its largest size",
                            percent(u->map_size - u->map_used, u->map_size));
}

static void judge_checkpoint(const struct health_facts *f, struct health_verdict *vd)
{
        uint64_t waiting = f->audit_lines > f->checkpoint_size ? f->audit_lines - f->checkpoint_size : 0;
        char age[AGE_STRING_MAX];

        /* Sealed, the keeper holds no signing key: lines wait by design. */
        if (f->sealed || !f->unsigned_since_us || waiting == 0 ||
            seconds_since(f->now_us, f->unsigned_since_us) < HEALTH_CHECKPOINT_STALE_S)
                return;
        age_format(f->checkpoint_signed_s ? seconds_since(f->now_us, f->checkpoint_signed_s * 1000000u)
                                          : seconds_since(f->now_us, f->unsigned_since_us),
                   age);
        add_problem(vd, "no checkpoint signed for %s (%" PRIu64 " audit %s waiting)", age, waiting,
                    waiting == 1 ? "line" : "lines");
}

static void judge_integrity(const struct health_facts *f, struct health_verdict *vd)
{
        const struct integrity_event *e = &f->last_other;
        char age[AGE_STRING_MAX], seq[48] = "";

        if (f->verify_failed)
                add_problem(vd, "%s", f->verify_problem);
        if (!e->time_us || seconds_since(f->now_us, e->time_us) >= HEALTH_INTEGRITY_RECENT_S)
                return;
        age_format(seconds_since(f->now_us, e->time_us), age);
        if (e->seq != UINT64_MAX)
                snprintf(seq, sizeof(seq), " (audit seq %" PRIu64 ")", e->seq);
        add_problem(vd, "integrity failure %s ago: %s%s", age,
                    e->kind == INTEGRITY_CHECKPOINT ? "a checkpoint was not signed or published" : e->op,
                    seq);
}

void health_judge(const struct health_facts *f, struct health_verdict *ret)
{
        struct health_verdict vd = {0};
        char age[AGE_STRING_MAX];

        judge_space(f, &vd);
        judge_checkpoint(f, &vd);
        judge_integrity(f, &vd);
        if (f->writer_busy_us >= HEALTH_WRITER_STUCK_S * 1000000ull)
                add_problem(&vd, "writes stuck: one batch has run for %" PRIu64 " s",
                            f->writer_busy_us / 1000000u);
        /* The vault works without a recent backup; losing the disk is what
         * it would cost. */
        if (!f->has_backup)
                add_warning(&vd, "no backup yet");
        else if (seconds_since(f->now_us, f->backup_time_us) > HEALTH_BACKUP_WARN_S) {
                age_format(seconds_since(f->now_us, f->backup_time_us), age);
                add_warning(&vd, "last backup %s old", age);
        }
        vd.state = f->sealed ? HEALTH_SEALED : vd.nproblems ? HEALTH_DEGRADED : HEALTH_SERVING;
        *ret = vd;
}

static json_t *sentences(const char (*list)[HEALTH_SENTENCE_MAX], size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_string(list[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *event_json(const struct integrity_event *e)
{
        char when[TIME_STRING_MAX];
        json_t *o;

        time_format_us(e->time_us, when);
        o = json_pack("{s:s,s:s,s:s,s:s}", "kind", kind_name(e->kind), "operation", e->op, "what", e->what,
                      "time", when);
        if (o && e->seq != UINT64_MAX)
                json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
        if (o && e->collection[0])
                json_object_set_new(o, "collection", json_string(e->collection));
        if (o && e->id[0])
                json_object_set_new(o, "id", json_string(e->id));
        if (o && e->version >= 0)
                json_object_set_new(o, "version", json_integer((json_int_t)e->version));
        return o;
}

static int add_checkpoint_fields(json_t *o, const struct health_facts *f)
{
        char when[TIME_STRING_MAX];

        if (json_object_update_new(o, json_pack("{s:I,s:I}", "checkpoint_size",
                                                (json_int_t)f->checkpoint_size, "unsigned_lines",
                                                (json_int_t)(f->audit_lines > f->checkpoint_size
                                                                     ? f->audit_lines - f->checkpoint_size
                                                                     : 0))) < 0)
                return -1;
        if (!f->checkpoint_signed_s)
                return 0;
        time_format_us(f->checkpoint_signed_s * 1000000u, when);
        return json_object_update_new(
                o, json_pack("{s:s,s:I}", "checkpoint_time", when, "checkpoint_age_seconds",
                             (json_int_t)seconds_since(f->now_us, f->checkpoint_signed_s * 1000000u)));
}

static int add_usage_fields(json_t *o, const struct health_facts *f)
{
        const struct store_usage *u = &f->usage;

        if (!f->has_usage)
                return 0;
        return json_object_update_new(
                o, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "store_bytes", (json_int_t)u->file_size,
                             "map_bytes", (json_int_t)u->map_size, "map_used_bytes", (json_int_t)u->map_used,
                             "map_free_percent",
                             (json_int_t)percent(u->map_used <= u->map_size ? u->map_size - u->map_used : 0,
                                                 u->map_size),
                             "disk_free_bytes", (json_int_t)u->disk_free, "disk_total_bytes",
                             (json_int_t)u->disk_total, "disk_free_percent",
                             (json_int_t)percent(u->disk_free, u->disk_total)));
}

json_t *health_json(const struct health_facts *f, const struct health_verdict *vd)
{
        json_t *o = json_pack("{s:o*,s:o*,s:I}", "problems", sentences(vd->problems, vd->nproblems),
                              "warnings", sentences(vd->warnings, vd->nwarnings), "integrity_failures",
                              (json_int_t)f->integrity_failures);

        if (!o || !json_object_get(o, "problems") || !json_object_get(o, "warnings") ||
            add_checkpoint_fields(o, f) < 0 || add_usage_fields(o, f) < 0 ||
            (f->last.time_us && json_object_set_new(o, "integrity_last", event_json(&f->last)) < 0)) {
                json_decref(o);
                return NULL;
        }
        return o;
}

void health_status_line(const struct health_facts *f, const struct health_verdict *vd, uint64_t records,
                        unsigned clients, char *buf, size_t size)
{
        char age[AGE_STRING_MAX];
        size_t n = 0;

#define APPEND(...)                                                                                         \
        do {                                                                                                \
                if (n < size)                                                                               \
                        n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__);                              \
        } while (0)

        APPEND("%s", health_state_name(vd->state));
        for (size_t i = 0; i < vd->nproblems && i < STATUS_LINE_PROBLEMS; i++)
                APPEND("%s%s", i == 0 ? " (" : "; ", vd->problems[i]);
        if (vd->nproblems > STATUS_LINE_PROBLEMS)
                APPEND("; %zu more", vd->nproblems - STATUS_LINE_PROBLEMS);
        if (vd->nproblems)
                APPEND(")");
        APPEND(": %" PRIu64 " records, %" PRIu64 " audit lines, %u clients", records, f->audit_lines,
               clients);
        if (f->has_usage && f->usage.disk_total)
                APPEND("; disk %u %% free", percent(f->usage.disk_free, f->usage.disk_total));
        if (f->checkpoint_signed_s) {
                age_format(seconds_since(f->now_us, f->checkpoint_signed_s * 1000000u), age);
                APPEND("; last checkpoint %s ago", age);
        }
        if (f->has_backup) {
                age_format(seconds_since(f->now_us, f->backup_time_us), age);
                APPEND("; last backup %s ago", age);
        } else
                APPEND("; no backup yet");
#undef APPEND
}
