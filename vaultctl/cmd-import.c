/* vaultctl import: many records from JSON Lines, with a bounded window of
 * pipelined Put calls. It stops at the first reply that every later line
 * would get too (AccessDenied, Sealed, StorageFull), and on Ctrl-C; either
 * way it drains the calls in flight and says what was stored and the
 * --skip N that resumes it. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"
#include "vaultctl.h"

#define IMPORT_WINDOW     64
#define IMPORT_LINE_MAX   (1u << 20)
#define IMPORT_ERRORS_MAX 100 /* per-line errors kept for --json */
#define SKIP_MAX          (UINT64_C(1) << 53)

enum {
        OPT_SKIP = OPT_COMMAND,
};

struct import {
        struct ctl *ctl;
        const char *collection, *path;
        FILE *f;
        uint64_t skip;
        uint64_t lineno; /* lines read */
        uint64_t stored, failed;
        uint64_t window[IMPORT_WINDOW]; /* line of each call in flight */
        size_t head, inflight;
        bool replied;  /* a reply came back: the window may open */
        json_t *fatal; /* the reply that stopped the import */
        uint64_t fatal_line;
        json_t *errors; /* per-line errors, for --json */
        struct progress progress;
};

static const struct progress_label importing = {"importing", "record", "records"};

static bool is_fatal(json_t *msg)
{
        static const char *const fatal[] = {"AccessDenied", "Sealed", "StorageFull"};
        const char *name = json_string_value(json_object_get(msg, "error")) ?: "";
        const char *dot = strrchr(name, '.');

        for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
                if (strcmp(dot ? dot + 1 : name, fatal[i]) == 0)
                        return true;
        return false;
}

/* The summary that every ending of an import carries under --json. */
static json_t *import_summary(const struct import *im, uint64_t resume)
{
        json_t *o = json_pack("{s:I,s:I,s:I,s:I}", "stored", (json_int_t)im->stored, "failed",
                              (json_int_t)im->failed, "lines", (json_int_t)im->lineno, "skipped",
                              (json_int_t)im->skip);

        if (resume > 0)
                json_object_set_new(o, "resume_skip", json_integer((json_int_t)resume));
        return o;
}

/* Ends an import that did not finish: one line with what went wrong, what
 * was stored and the --skip that resumes it. Exits with the error's code. */
__attribute__((noreturn)) static void import_stop(struct import *im, const char *name, json_t *params,
                                                  const char *what, uint64_t resume)
{
        json_t *extra = json_pack("{s:o}", "import", import_summary(im, resume));
        char message[4096], skip[48] = "";

        progress_clear(&im->progress);
        if (resume > 0)
                snprintf(skip, sizeof(skip), " --skip %" PRIu64, resume);
        snprintf(message, sizeof(message),
                 "%s; %" PRIu64 " %s stored, %" PRIu64 " failed; resume with: vaultctl import %s %s%s", what,
                 im->stored, plural(im->stored, "record", "records"), im->failed, im->collection, im->path,
                 skip);
        report_error(name, params, extra, message);
        json_decref(extra);
        exit(error_exit_code(name));
}

/* The line to resume from after a connection failure: calls in flight may
 * or may not have been stored. */
__attribute__((noreturn)) static void import_die_io(struct import *im, int r)
{
        uint64_t resume = im->inflight ? im->window[im->head] - 1 : im->lineno;
        struct ctl_failure f;

        ctl_io_failure(im->ctl, r, &f);
        import_stop(im, f.name, f.params, f.message, resume);
}

/* A line that failed on its own; the import goes on. */
static void import_line_failed(struct import *im, uint64_t line, const char *name, json_t *params,
                               const char *text)
{
        im->failed++;
        if (!im->ctl->json) {
                progress_clear(&im->progress);
                report_line("line %" PRIu64 ": %s", line, text);
                return;
        }
        if (json_array_size(im->errors) < IMPORT_ERRORS_MAX)
                json_array_append_new(im->errors,
                                      json_pack("{s:I,s:s,s:o,s:s}", "line", (json_int_t)line, "error", name,
                                                "parameters", params ? json_incref(params) : json_object(),
                                                "message", text));
}

/* Takes the oldest call's reply; with wait false only when it is already
 * there. Returns whether it took one. */
static bool import_receive(struct import *im, bool wait)
{
        uint64_t line = im->window[im->head];
        json_t *msg;
        int r = wait ? ctl_recv(im->ctl, &msg) : ctl_recv_ready(im->ctl, &msg);

        if (r == -EAGAIN && !wait)
                return false;
        if (r < 0)
                import_die_io(im, r);
        im->head = (im->head + 1) % IMPORT_WINDOW;
        im->inflight--;
        im->replied = true;
        if (!json_object_get(msg, "error")) {
                im->stored++;
                json_decref(msg);
                return true;
        }
        if (im->fatal) {
                im->failed++; /* the same cause, most likely: told once */
        } else if (is_fatal(msg)) {
                im->failed++;
                im->fatal = json_incref(msg);
                im->fatal_line = line;
        } else {
                _cleanup_(freep) char *text = reply_error_text(msg);
                import_line_failed(im, line, json_string_value(json_object_get(msg, "error")),
                                   json_object_get(msg, "parameters"), text ? text : "error");
        }
        json_decref(msg);
        return true;
}

/* Calls in flight at most: one until the first reply is back, so that a
 * collection the user may not write costs one denial, not a window's. */
static size_t import_window(const struct import *im)
{
        return im->replied ? IMPORT_WINDOW : 1;
}

/* Turns one line into Put parameters, or NULL when it is not
 * {"id": ID, "record": {...}}. */
static json_t *import_params(const char *collection, const char *line, size_t len)
{
        json_t *o = json_loadb(line, len, 0, NULL), *params = NULL;
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *rec = json_object_get(o, "record");
        char *body, *b64;
        size_t blen;

        if (!id || !json_is_object(rec)) {
                json_decref(o);
                return NULL;
        }
        body = json_dumps(rec, JSON_COMPACT);
        if (!body)
                die("out of memory");
        blen = sodium_base64_ENCODED_LEN(strlen(body), sodium_base64_VARIANT_ORIGINAL);
        b64 = malloc(blen);
        if (!b64)
                die("out of memory");
        sodium_bin2base64(b64, blen, (unsigned char *)body, strlen(body), sodium_base64_VARIANT_ORIGINAL);
        params = json_pack("{s:s,s:s,s:s}", "collection", collection, "id", id, "data", b64);
        sodium_memzero(body, strlen(body));
        sodium_memzero(b64, blen);
        free(body);
        free(b64);
        json_decref(o);
        return params;
}

/* Sends one line's Put, or counts the line as failed. */
static void import_line(struct import *im, const char *line, size_t len)
{
        json_t *params;
        int r;

        if (len > IMPORT_LINE_MAX) {
                import_line_failed(im, im->lineno, ERR_FAILED, NULL, "longer than 1 MiB; skipped");
                return;
        }
        params = import_params(im->collection, line, len);
        if (!params) {
                import_line_failed(im, im->lineno, ERR_FAILED, NULL,
                                   "expected {\"id\": ID, \"record\": {...}}; skipped");
                return;
        }
        r = ctl_send(im->ctl, "io.vaultd.records.Put", params, false);
        if (r < 0)
                import_die_io(im, r);
        im->window[(im->head + im->inflight) % IMPORT_WINDOW] = im->lineno;
        im->inflight++;
}

static void import_run(struct import *im)
{
        _cleanup_(freep) char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        while (!interrupt_requested() && !im->fatal) {
                n = getline(&line, &cap, im->f);
                if (n < 0)
                        break;
                im->lineno++;
                if (im->lineno <= im->skip)
                        continue;
                import_line(im, line, (size_t)n);
                while (im->inflight > 0 && import_receive(im, im->inflight >= import_window(im)))
                        ;
                progress_update(&im->progress, im->stored, (int64_t)ftello(im->f));
        }
        if (line)
                sodium_memzero(line, cap);
        if (!interrupt_requested() && ferror(im->f)) {
                char what[512];

                snprintf(what, sizeof(what), "cannot read %s after line %" PRIu64 ": %s", im->path,
                         im->lineno, strerror(errno));
                while (im->inflight > 0)
                        import_receive(im, true);
                import_stop(im, ERR_FAILED, NULL, what, im->lineno);
        }
        while (im->inflight > 0)
                import_receive(im, true);
        progress_clear(&im->progress);
}

static void import_open(struct import *im)
{
        struct stat st;

        im->f = strcmp(im->path, "-") == 0 ? stdin : fopen(im->path, "re");
        if (!im->f)
                die("cannot open %s: %m", im->path);
        progress_begin(&im->progress, &importing, isatty(STDERR_FILENO) && !im->ctl->json,
                       fstat(fileno(im->f), &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1);
}

/* Says how it ended; the exit status. */
static int import_report(struct import *im)
{
        char what[4096];

        if (im->fatal) {
                _cleanup_(freep) char *text = reply_error_text(im->fatal);
                snprintf(what, sizeof(what), "import stopped at line %" PRIu64 ": %s", im->fatal_line,
                         text ? text : "error");
                import_stop(im, json_string_value(json_object_get(im->fatal, "error")),
                            json_object_get(im->fatal, "parameters"), what, im->fatal_line - 1);
        }
        if (interrupt_requested()) {
                snprintf(what, sizeof(what), "interrupted after line %" PRIu64, im->lineno);
                import_stop(im, ERR_INTERRUPTED, NULL, what, im->lineno);
        }
        if (im->failed > 0) {
                json_t *params = json_pack("{s:O}", "errors", im->errors),
                       *extra = json_pack("{s:o}", "import", import_summary(im, 0));
                snprintf(what, sizeof(what),
                         "imported %" PRIu64 " %s into %s, but %" PRIu64 " %s of %s failed (%s)", im->stored,
                         plural(im->stored, "record", "records"), im->collection, im->failed,
                         plural(im->failed, "line", "lines"), im->path,
                         im->ctl->json ? "the first are in parameters.errors" : "listed above");
                report_error(ERR_IMPORT_INCOMPLETE, params, extra, what);
                json_decref(params);
                json_decref(extra);
                return EXIT_FAILURE;
        }
        if (im->ctl->json) {
                json_t *o = import_summary(im, 0);
                print_json(o);
                json_decref(o);
        } else
                printf("imported %" PRIu64 " %s into %s\n", im->stored,
                       plural(im->stored, "record", "records"), im->collection);
        return EXIT_SUCCESS;
}

int cmd_import(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {{"skip", required_argument, NULL, OPT_SKIP}, {}};
        struct import im = {.ctl = ctl, .errors = json_array()};
        char **pos;

        while (ctl_getopt(ctl, argc, argv, "", opts) != -1)
                im.skip = arg_uint(ctl, "--skip", optarg, SKIP_MAX);
        pos = ctl_positional(ctl, argc, argv, 2, 2);
        im.collection = pos[0];
        im.path = pos[1];
        import_open(&im);
        interrupt_catch();
        import_run(&im);
        if (im.f != stdin)
                fclose(im.f);
        return import_report(&im);
}
