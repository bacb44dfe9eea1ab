/* Key commands: key list, key rotate, key rewrap, key retire. The KEKs
 * never leave vaultd's keeper: these commands name versions and count data
 * keys, nothing more. rewrap is the long one: many Rewrap calls, each
 * resumable, so it shows progress and stops cleanly on Ctrl-C. */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vaultctl.h"

/* vaultd's bounds for one Rewrap call (docs/io.vaultd.admin.varlink). */
#define REWRAP_BATCH_DEFAULT 1000u
#define REWRAP_BATCH_MAX     10000u
/* KEK versions are 32-bit on vaultd's side; it says which exist. */
#define KEK_VERSION_MAX UINT32_MAX
#define CREATED_MAX     64
#define MESSAGE_MAX     2048

#define RESUME_HINT "run 'vaultctl key rewrap' again to go on: vaultd remembers where it stopped"

enum {
        OPT_BATCH = OPT_COMMAND,
};

/* A count from vaultd's reply; anything but a non-negative integer is 0. */
static uint64_t count_of(json_t *o, const char *key)
{
        json_int_t n = json_integer_value(json_object_get(o, key));

        return n > 0 ? (uint64_t)n : 0;
}

static void no_arguments(struct ctl *ctl, int argc, char **argv)
{
        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        ctl_positional(ctl, argc, argv, 0, 0);
}

/* "2026-11-29 15:03:07 CET" for vaultd's "2026-11-29T14:03:07.123456Z";
 * false when utc is not such a time. */
static bool local_time(const char *utc, char buf[static CREATED_MAX])
{
        struct tm tm = {0};
        const char *end = strptime(utc, "%Y-%m-%dT%H:%M:%S", &tm);
        time_t t;

        if (!end)
                return false;
        if (*end == '.')
                end += 1 + strspn(end + 1, "0123456789");
        if (strcmp(end, "Z") != 0)
                return false;
        t = timegm(&tm);
        if (t == (time_t)-1 || !localtime_r(&t, &tm))
                return false;
        return strftime(buf, CREATED_MAX, "%Y-%m-%d %H:%M:%S %Z", &tm) > 0;
}

/* The CREATED cell: local time, "with the vault" for the first KEK (no
 * time recorded), or what vaultd sent, escaped, when it is not a time. */
static char *created_text(json_t *created)
{
        char buf[CREATED_MAX];
        char *s;

        if (!created || json_is_null(created))
                s = strdup("with the vault");
        else if (json_is_string(created) && local_time(json_string_value(created), buf))
                s = strdup(buf);
        else
                return escape_json_string(created);
        if (!s)
                die("out of memory");
        return s;
}

static int number_width(uint64_t n, int min)
{
        char buf[32];
        int w = snprintf(buf, sizeof(buf), "%" PRIu64, n);

        return w > min ? w : min;
}

/* One table, columns as wide as their widest cell: versions and counts
 * right-aligned, the rest left-aligned. */
static void show_keys(json_t *reply)
{
        json_t *keys = json_object_get(reply, "keys"), *k;
        size_t i, n = json_array_size(keys);
        char **created = calloc(n ? n : 1, sizeof(*created));
        int vw = 7, cw = 7, dw = 9;

        if (!created)
                die("out of memory");
        json_array_foreach(keys, i, k)
        {
                created[i] = created_text(json_object_get(k, "created"));
                vw = number_width(count_of(k, "version"), vw);
                cw = (int)strlen(created[i]) > cw ? (int)strlen(created[i]) : cw;
                dw = number_width(count_of(k, "data_keys"), dw);
        }
        printf("%*s  %-7s  %-*s  %*s\n", vw, "VERSION", "CURRENT", cw, "CREATED", dw, "DATA KEYS");
        json_array_foreach(keys, i, k)
        {
                printf("%*" PRIu64 "  %-7s  %-*s  %*" PRIu64 "\n", vw, count_of(k, "version"),
                       json_is_true(json_object_get(k, "current")) ? "*" : "", cw, created[i], dw,
                       count_of(k, "data_keys"));
                free(created[i]);
        }
        free(created);
}

int cmd_key_list(struct ctl *ctl, int argc, char **argv)
{
        no_arguments(ctl, argc, argv);
        return ctl_show(ctl, "io.vaultd.admin.ListKeys", NULL, show_keys);
}

static void show_rotated(json_t *reply)
{
        printf("KEK version %" PRIu64 " is now current (was %" PRIu64
               "); run 'vaultctl key rewrap' to move old data keys to it\n",
               count_of(reply, "version"), count_of(reply, "previous"));
}

int cmd_key_rotate(struct ctl *ctl, int argc, char **argv)
{
        no_arguments(ctl, argc, argv);
        return ctl_show(ctl, "io.vaultd.admin.RotateKey", NULL, show_rotated);
}

/* KeyInUse: vaultd's reason, and the data keys still in the way. */
__attribute__((noreturn)) static void die_key_in_use(json_t *msg)
{
        const char *name = json_string_value(json_object_get(msg, "error"));
        json_t *params = json_object_get(msg, "parameters");
        uint64_t deks = count_of(params, "data_keys");
        char message[MESSAGE_MAX], left[64] = "";

        if (deks > 0)
                snprintf(left, sizeof(left), " (%" PRIu64 " %s)", deks,
                         plural(deks, "data key", "data keys"));
        /* report_error() escapes the reason on a terminal; JSON gets it exact. */
        snprintf(message, sizeof(message), "cannot retire KEK version %" PRIu64 ": %s%s",
                 count_of(params, "version"),
                 json_string_value(json_object_get(params, "reason")) ?: "in use", left);
        report_error(name, params, NULL, message);
        exit(error_exit_code(name));
}

static bool is_error(json_t *msg, const char *kind)
{
        const char *name = json_string_value(json_object_get(msg, "error"));
        const char *dot = name ? strrchr(name, '.') : NULL;

        return dot && strcmp(dot + 1, kind) == 0;
}

int cmd_key_retire(struct ctl *ctl, int argc, char **argv)
{
        json_t *msg, *reply;
        uint64_t version;
        char **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        version = arg_uint(ctl, "VERSION", pos[0], KEK_VERSION_MAX);
        r = ctl_request(ctl, "io.vaultd.admin.RetireKey", json_pack("{s:I}", "version", (json_int_t)version),
                        &msg);
        if (r < 0)
                ctl_die_io(ctl, r);
        if (is_error(msg, "KeyInUse"))
                die_key_in_use(msg);
        if (json_object_get(msg, "error"))
                die_reply(msg);
        reply = json_object_get(msg, "parameters");
        if (ctl->json)
                print_json(reply);
        else
                printf("KEK version %" PRIu64 " retired: vaultd destroyed it\n", count_of(reply, "version"));
        json_decref(msg);
        return EXIT_SUCCESS;
}

static const struct progress_label rewrapping = {"rewrapping", "data key", "data keys"};

struct rewrap {
        struct ctl *ctl;
        uint64_t batch;
        uint64_t total; /* data keys under older KEKs when it began */
        uint64_t rewrapped, scanned, calls;
        uint64_t version; /* the KEK they move to: current, then each reply's */
        bool done;
        struct progress progress;
};

/* The current KEK version and the data keys the older ones still wrap. */
static void rewrap_count(struct rewrap *rw)
{
        json_t *reply = ctl_call(rw->ctl, "io.vaultd.admin.ListKeys", NULL), *k;
        size_t i;

        json_array_foreach(json_object_get(reply, "keys"), i, k)
        {
                if (json_is_true(json_object_get(k, "current")))
                        rw->version = count_of(k, "version");
                else
                        rw->total += count_of(k, "data_keys");
        }
        json_decref(reply);
}

/* What every ending carries under --json. */
static json_t *rewrap_summary(const struct rewrap *rw)
{
        return json_pack("{s:I,s:I,s:I,s:b,s:I}", "rewrapped", (json_int_t)rw->rewrapped, "scanned",
                         (json_int_t)rw->scanned, "calls", (json_int_t)rw->calls, "done", rw->done,
                         "version", (json_int_t)rw->version);
}

/* Ends a rewrap that did not finish: what went wrong, what was done, and
 * how to go on. Exits with the error's code. */
__attribute__((noreturn)) static void rewrap_stop(struct rewrap *rw, const char *name, json_t *params,
                                                  const char *what)
{
        json_t *extra = json_pack("{s:o}", "rewrap", rewrap_summary(rw));
        char message[MESSAGE_MAX];

        progress_clear(&rw->progress);
        snprintf(message, sizeof(message), "%s; %" PRIu64 " %s re-wrapped under KEK version %" PRIu64 "; %s",
                 what, rw->rewrapped, plural(rw->rewrapped, "data key", "data keys"), rw->version,
                 RESUME_HINT);
        report_error(name, params, extra, message);
        json_decref(extra);
        exit(error_exit_code(name));
}

/* One Rewrap call, added to the totals. */
static void rewrap_call(struct rewrap *rw)
{
        char what[MESSAGE_MAX];
        json_t *msg, *reply;
        uint64_t scanned;
        int r;

        r = ctl_request(rw->ctl, "io.vaultd.admin.Rewrap",
                        json_pack("{s:I}", "limit", (json_int_t)rw->batch), &msg);
        if (r < 0) {
                struct ctl_failure f;

                ctl_io_failure(rw->ctl, r, &f);
                rewrap_stop(rw, f.name, f.params, f.message);
        }
        if (json_object_get(msg, "error")) {
                _cleanup_(freep) char *text = reply_error_text(msg);

                snprintf(what, sizeof(what), "rewrap stopped: %s", text ? text : "error");
                rewrap_stop(rw, json_string_value(json_object_get(msg, "error")) ?: ERR_FAILED,
                            json_object_get(msg, "parameters"), what);
        }
        reply = json_object_get(msg, "parameters");
        scanned = count_of(reply, "scanned");
        rw->done = json_is_true(json_object_get(reply, "done"));
        /* A pass that neither ends nor moves on would be called forever. */
        if (!rw->done && scanned == 0)
                rewrap_stop(
                        rw, ERR_FAILED, NULL,
                        "vaultd's Rewrap neither finished nor scanned anything (is this vaultd's socket? "
                        "vaultd never does this)");
        rw->calls++;
        rw->scanned += scanned;
        rw->rewrapped += count_of(reply, "rewrapped");
        rw->version = count_of(reply, "version");
        json_decref(msg);
}

/* After each call: the progress line on a terminal, else a plain line
 * (none under --json: stdout holds one object, stderr stays quiet). */
static void rewrap_show(struct rewrap *rw)
{
        uint64_t total = rw->total > rw->rewrapped ? rw->total : rw->rewrapped;

        if (rw->progress.on)
                progress_update(&rw->progress, rw->rewrapped, (int64_t)rw->rewrapped);
        else if (!rw->ctl->json)
                fprintf(stderr, "rewrap: %" PRIu64 " of %" PRIu64 " %s re-wrapped\n", rw->rewrapped, total,
                        plural(total, "data key", "data keys"));
}

int cmd_key_rewrap(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {{"batch", required_argument, NULL, OPT_BATCH}, {}};
        struct rewrap rw = {.ctl = ctl, .batch = REWRAP_BATCH_DEFAULT};

        while (ctl_getopt(ctl, argc, argv, "", opts) != -1) {
                rw.batch = arg_uint(ctl, "--batch", optarg, REWRAP_BATCH_MAX);
                if (rw.batch == 0)
                        die_usage(ctl, "--batch must be from 1 to %u, not '%s'", REWRAP_BATCH_MAX, optarg);
        }
        ctl_positional(ctl, argc, argv, 0, 0);
        rewrap_count(&rw);
        progress_begin(&rw.progress, &rewrapping, isatty(STDERR_FILENO) && !ctl->json, (int64_t)rw.total);
        interrupt_catch();
        /* Ctrl-C is looked at between calls: the one in flight completes. */
        while (!rw.done && !interrupt_requested()) {
                rewrap_call(&rw);
                rewrap_show(&rw);
        }
        progress_clear(&rw.progress);
        if (!rw.done)
                rewrap_stop(&rw, ERR_INTERRUPTED, NULL, "interrupted");
        if (ctl->json) {
                json_t *o = rewrap_summary(&rw);

                print_json(o);
                json_decref(o);
        } else
                printf("%" PRIu64 " %s re-wrapped under KEK version %" PRIu64 "\n", rw.rewrapped,
                       plural(rw.rewrapped, "data key", "data keys"), rw.version);
        return EXIT_SUCCESS;
}
