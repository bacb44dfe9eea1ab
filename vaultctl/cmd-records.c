/* Record commands: put, get, delete, list, history, import. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"
#include "vaultctl.h"

#define INPUT_MAX       (256u << 20)
#define IMPORT_WINDOW   64
#define IMPORT_LINE_MAX (1u << 20)

static json_t *record_params(const char *collection, const char *id)
{
        return json_pack("{s:s,s:s}", "collection", collection, "id", id);
}

static int finish(struct ctl *ctl, json_t *reply, const char *verb, const char *a, const char *b)
{
        if (!reply)
                return EXIT_FAILURE;
        if (ctl->json)
                print_json(reply);
        else
                printf("%s %s/%s, version %lld\n", verb, a, b,
                       (long long)json_integer_value(json_object_get(reply, "version")));
        json_decref(reply);
        return 0;
}

int cmd_put(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[3], *if_version = NULL;
        const struct opt opts[] = {{"if-version", &if_version}, {}};
        int n = args_parse(command_find("put"), argc, argv, opts, pos, 2, 3);
        size_t len, b64len;
        char *body = read_input(n == 3 ? pos[2] : "-", INPUT_MAX, &len), *b64;
        json_t *params = record_params(pos[0], pos[1]);

        b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
        b64 = malloc(b64len);
        if (!b64)
                die("out of memory");
        sodium_bin2base64(b64, b64len, (unsigned char *)body, len, sodium_base64_VARIANT_ORIGINAL);
        sodium_memzero(body, len);
        free(body);
        json_object_set_new(params, "data", json_string(b64));
        free(b64);
        if (if_version)
                json_object_set_new(params, "if_version",
                                    json_integer(arg_uint("--if-version", if_version)));
        return finish(ctl, ctl_call(ctl, "io.vaultd.records.Put", params), "stored", pos[0], pos[1]);
}

static void write_body(const char *out, const unsigned char *buf, size_t len)
{
        int fd = STDOUT_FILENO;

        if (out && (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
                die("cannot create %s: %m", out);
        if (write_all(fd, buf, len) < 0)
                die("cannot write %s: %m", out ? out : "standard output");
        if (out && close(fd) < 0)
                die("cannot write %s: %m", out);
}

int cmd_get(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[2], *version = NULL, *out = NULL;
        const struct opt opts[] = {{"version", &version}, {"output", &out}, {}};
        const char *b64;
        unsigned char *buf;
        size_t len;
        json_t *params, *reply;

        args_parse(command_find("get"), argc, argv, opts, pos, 2, 2);
        params = record_params(pos[0], pos[1]);
        if (version)
                json_object_set_new(params, "version", json_integer(arg_uint("--version", version)));
        reply = ctl_call(ctl, "io.vaultd.records.Get", params);
        if (!reply)
                return EXIT_FAILURE;
        if (ctl->json && !out) {
                print_json(reply);
                json_decref(reply);
                return 0;
        }
        b64 = json_string_value(json_object_get(reply, "data"));
        if (!b64)
                die("vaultd sent a reply without data");
        buf = malloc(strlen(b64) / 4 * 3 + 3);
        if (!buf || sodium_base642bin(buf, strlen(b64) / 4 * 3 + 3, b64, strlen(b64), NULL, &len, NULL,
                                      sodium_base64_VARIANT_ORIGINAL) < 0)
                die("vaultd sent data that is not base64");
        write_body(out, buf, len);
        sodium_memzero(buf, len);
        free(buf);
        json_decref(reply);
        return 0;
}

int cmd_delete(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[2], *if_version = NULL;
        const struct opt opts[] = {{"if-version", &if_version}, {}};
        json_t *params;

        args_parse(command_find("delete"), argc, argv, opts, pos, 2, 2);
        params = record_params(pos[0], pos[1]);
        if (if_version)
                json_object_set_new(params, "if_version",
                                    json_integer(arg_uint("--if-version", if_version)));
        return finish(ctl, ctl_call(ctl, "io.vaultd.records.Delete", params), "deleted", pos[0], pos[1]);
}

int cmd_list(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[1], *after = NULL, *limit = NULL;
        bool all = false;
        const struct opt opts[] = {{"after", &after}, {"limit", &limit}, {"all", NULL, &all}, {}};
        json_t *collected = json_array();
        _cleanup_(freep) char *next = NULL;

        args_parse(command_find("list"), argc, argv, opts, pos, 1, 1);
        if (after)
                next = strdup(after);
        do {
                json_t *params = json_pack("{s:s}", "collection", pos[0]), *reply, *rec;
                size_t i;

                if (next)
                        json_object_set_new(params, "after", json_string(next));
                if (limit)
                        json_object_set_new(params, "limit", json_integer(arg_uint("--limit", limit)));
                reply = ctl_call(ctl, "io.vaultd.records.List", params);
                if (!reply) {
                        json_decref(collected);
                        return EXIT_FAILURE;
                }
                json_array_foreach(json_object_get(reply, "records"), i, rec)
                {
                        json_array_append(collected, rec);
                        if (!ctl->json)
                                printf("%-40s v%-5lld %s\n", json_string_value(json_object_get(rec, "id")),
                                       (long long)json_integer_value(json_object_get(rec, "version")),
                                       json_string_value(json_object_get(rec, "updated")));
                }
                free(next);
                next = json_string_value(json_object_get(reply, "next"))
                               ? strdup(json_string_value(json_object_get(reply, "next")))
                               : NULL;
                json_decref(reply);
        } while (all && next);
        if (ctl->json) {
                json_t *o = json_pack("{s:o}", "records", collected);
                if (next)
                        json_object_set_new(o, "next", json_string(next));
                print_json(o);
                json_decref(o);
        } else {
                if (next)
                        printf("(more: --after %s, or --all)\n", next);
                json_decref(collected);
        }
        return 0;
}

int cmd_history(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[2];
        json_t *all = json_array(), *reply = NULL, *v;
        json_int_t after = 0;
        size_t i;

        args_parse(command_find("history"), argc, argv, NULL, pos, 2, 2);
        /* Every page: a history is read whole. */
        for (;;) {
                json_t *params = record_params(pos[0], pos[1]);

                json_object_set_new(params, "after_version", json_integer(after));
                json_decref(reply);
                reply = ctl_call(ctl, "io.vaultd.records.History", params);
                if (!reply) {
                        json_decref(all);
                        return EXIT_FAILURE;
                }
                json_array_extend(all, json_object_get(reply, "versions"));
                if (!json_is_integer(json_object_get(reply, "next")))
                        break;
                after = json_integer_value(json_object_get(reply, "next"));
        }
        json_object_set(reply, "versions", all);
        json_object_del(reply, "next");
        if (ctl->json)
                print_json(reply);
        else
                json_array_foreach(all, i, v)
                        printf("v%-5lld %s  %s  uid %lld\n",
                               (long long)json_integer_value(json_object_get(v, "version")),
                               json_string_value(json_object_get(v, "time")),
                               json_is_true(json_object_get(v, "deleted")) ? "deleted       " : "stored",
                               (long long)json_integer_value(json_object_get(v, "uid")));
        json_decref(all);
        json_decref(reply);
        return 0;
}

/* Turns one import line into Put parameters, or NULL (with a message). */
static json_t *import_params(const char *collection, const char *line, size_t len, size_t lineno)
{
        json_t *o = json_loadb(line, len, 0, NULL), *params = NULL;
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *rec = json_object_get(o, "record");
        char *body, *b64;
        size_t blen;

        if (!id || !json_is_object(rec)) {
                fprintf(stderr, "vaultctl: line %zu: expected {\"id\": ID, \"record\": {...}}\n", lineno);
                json_decref(o);
                return NULL;
        }
        body = json_dumps(rec, JSON_COMPACT);
        blen = sodium_base64_ENCODED_LEN(strlen(body), sodium_base64_VARIANT_ORIGINAL);
        b64 = malloc(blen);
        if (!body || !b64)
                die("out of memory");
        sodium_bin2base64(b64, blen, (unsigned char *)body, strlen(body), sodium_base64_VARIANT_ORIGINAL);
        params = json_pack("{s:s,s:s,s:s}", "collection", collection, "id", id, "data", b64);
        sodium_memzero(body, strlen(body));
        free(body);
        free(b64);
        json_decref(o);
        return params;
}

int cmd_import(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[2];
        FILE *f;
        char *line = NULL;
        size_t cap = 0, lineno = 0, inflight = 0, ok = 0, failed = 0;
        ssize_t n;

        args_parse(command_find("import"), argc, argv, NULL, pos, 2, 2);
        f = strcmp(pos[1], "-") == 0 ? stdin : fopen(pos[1], "re");
        if (!f)
                die("cannot open %s: %m", pos[1]);
        for (;;) {
                json_t *params = NULL;

                n = getline(&line, &cap, f);
                if (n > 0) {
                        lineno++;
                        if ((size_t)n > IMPORT_LINE_MAX)
                                die("line %zu is longer than %u bytes", lineno, IMPORT_LINE_MAX);
                        params = import_params(pos[0], line, (size_t)n, lineno);
                        if (!params) {
                                failed++;
                                continue;
                        }
                        ctl_send(ctl, "io.vaultd.records.Put", params, false);
                        inflight++;
                }
                /* Keep a window of calls in flight; drain at the end. */
                while (inflight > 0 && (inflight >= IMPORT_WINDOW || n <= 0)) {
                        json_t *msg = ctl_recv(ctl);
                        if (json_object_get(msg, "error")) {
                                ctl_print_error(msg);
                                failed++;
                        } else
                                ok++;
                        json_decref(msg);
                        inflight--;
                }
                if (n <= 0)
                        break;
        }
        free(line);
        if (f != stdin)
                fclose(f);
        if (ctl->json) {
                json_t *o = json_pack("{s:I,s:I}", "stored", (json_int_t)ok, "failed", (json_int_t)failed);
                print_json(o);
                json_decref(o);
        } else
                printf("imported %zu records into %s (%zu failed)\n", ok, pos[0], failed);
        return failed ? EXIT_FAILURE : 0;
}
