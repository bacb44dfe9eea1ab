/* Errors and results as a person or a script reads them: one line on
 * stderr, or under --json one object on stdout; and the exit code each
 * error name maps to (vaultctl.h has the table). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vaultctl.h"

#define MESSAGE_MAX 2048

static bool report_json;

/* The JSON document being streamed to stdout, if any. */
static struct {
        bool open;
        size_t items;
} stream;

/* Values are printed on one line each, members in the order received. */
#define STREAM_FLAGS (JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)

/* Exit codes and what to do, by error name (vaultd's without their
 * interface). Any name not here exits with 1. */
static const struct {
        const char *name;
        int exit_code;
        const char *hint;
} error_kinds[] = {
        {"AccessDenied", EXIT_DENIED,
         "your user holds no role allowing this; an admin grants roles in vaultd's policy file"},
        {"NotFound", EXIT_NOT_FOUND,
         "check the collection and id; 'vaultctl list COLLECTION' shows the live records"},
        {"IntegrityError", EXIT_NOT_VERIFIED,
         "stored data failed verification; keep the vault as it is and call an admin"},
        {"RecordsInconsistent", EXIT_NOT_VERIFIED,
         "the records do not match the audit trail; keep the vault as it is and call an admin"},
        {"Conflict", EXIT_FAILURE, "the record changed meanwhile; read it again, then retry"},
        {"StorageFull", EXIT_FAILURE, "free disk space on the vault's state directory"},
        {"Sealed", EXIT_FAILURE, "the vault is sealed: an admin must run 'vaultctl unseal'"},
        {"TooLarge", EXIT_FAILURE, "the record is larger than vaultd's --max-body"},
        {"InternalError", EXIT_FAILURE, "see vaultd's log: journalctl -u vaultd"},
        {"UsageError", EXIT_USAGE, NULL},
        {"NotVerified", EXIT_NOT_VERIFIED, NULL},
        {"ConnectionFailed", EXIT_UNREACHABLE, NULL},
        {"ConnectionClosed", EXIT_UNREACHABLE, NULL},
        {"Timeout", EXIT_UNREACHABLE, NULL},
};

void report_set_json(bool json)
{
        report_json = json;
}

static const char *short_name(const char *name)
{
        const char *dot = strrchr(name, '.');

        return dot ? dot + 1 : name;
}

static int error_kind(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(error_kinds); i++)
                if (strcmp(short_name(name), error_kinds[i].name) == 0)
                        return (int)i;
        return -1;
}

int error_exit_code(const char *name)
{
        int k = error_kind(name);

        return k < 0 ? EXIT_FAILURE : error_kinds[k].exit_code;
}

void report_line(const char *fmt, ...)
{
        _cleanup_(freep) char *shown = NULL;
        char message[MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        shown = escape_string(message);
        fprintf(stderr, "vaultctl: %s\n", shown);
}

void report_error(const char *name, json_t *params, json_t *extra, const char *message)
{
        json_t *o;

        if (!report_json) {
                report_line("%s", message);
                return;
        }
        o = json_pack("{s:s,s:o,s:s}", "error", name, "parameters",
                      params ? json_incref(params) : json_object(), "message", message);
        if (o && extra)
                json_object_update(o, extra);
        if (o && stream.open)
                json_stream_end(o);
        else if (o)
                print_json(o);
        json_decref(o);
}

void die_error(const char *name, json_t *params, const char *fmt, ...)
{
        char message[MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        report_error(name, params, NULL, message);
        json_decref(params);
        exit(error_exit_code(name));
}

char *reply_error_text(json_t *msg)
{
        const char *name = json_string_value(json_object_get(msg, "error")) ?: "UnknownError";
        json_t *params = json_object_get(msg, "parameters"), *v;
        int k = error_kind(name);
        const char *key;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        if (!f)
                return NULL;
        fputs(short_name(name), f);
        /* "Sealed (hint)", not "Sealed: (hint)", when there is nothing to name. */
        if (json_object_size(params) > 0)
                fputc(':', f);
        json_object_foreach(params, key, v)
        {
                char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                fprintf(f, " %s=%s", key, s ? s : json_string_value(v));
                free(s);
        }
        if (k >= 0 && error_kinds[k].hint)
                fprintf(f, " (%s)", error_kinds[k].hint);
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}

void report_reply_error(json_t *msg, const char *prefix, json_t *extra)
{
        const char *name = json_string_value(json_object_get(msg, "error")) ?: "UnknownError";
        _cleanup_(freep) char *text = reply_error_text(msg);
        char message[MESSAGE_MAX];

        snprintf(message, sizeof(message), "%s%s", prefix, text ? text : name);
        report_error(name, json_object_get(msg, "parameters"), extra, message);
}

void die_reply(json_t *msg)
{
        const char *name = json_string_value(json_object_get(msg, "error")) ?: "UnknownError";

        report_reply_error(msg, "", NULL);
        exit(error_exit_code(name));
}

void print_json(json_t *params)
{
        json_dumpf(params, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
}

void json_stream_begin(const char *key)
{
        json_t *k = json_string(key);

        fputs("{\n  ", stdout);
        json_dumpf(k, stdout, JSON_ENCODE_ANY);
        fputs(": [", stdout);
        json_decref(k);
        stream.open = true;
        stream.items = 0;
}

void json_stream_item(json_t *item)
{
        fputs(stream.items++ ? ",\n    " : "\n    ", stdout);
        json_dumpf(item, stdout, STREAM_FLAGS);
}

void json_stream_end(json_t *members)
{
        const char *key;
        json_t *v;

        fputs(stream.items ? "\n  ]" : "]", stdout);
        json_object_foreach(members, key, v)
        {
                json_t *k = json_string(key);

                fputs(",\n  ", stdout);
                json_dumpf(k, stdout, JSON_ENCODE_ANY);
                fputs(": ", stdout);
                json_dumpf(v, stdout, STREAM_FLAGS);
                json_decref(k);
        }
        fputs("\n}\n", stdout);
        stream.open = false;
}

const char *plural(uint64_t n, const char *one, const char *many)
{
        return n == 1 ? one : many;
}
