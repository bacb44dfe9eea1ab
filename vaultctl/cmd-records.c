/* Record commands: put, get, delete, list, history. (import has its own
 * file.) */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"
#include "vaultctl.h"

#define INPUT_MAX   (256u << 20)
#define VERSION_MAX (UINT64_C(1) << 53) /* exact in every JSON reader */
#define LIMIT_MAX   1000u

enum {
        OPT_IF_VERSION = OPT_COMMAND,
        OPT_RETAIN_UNTIL,
        OPT_VERSION_OF_RECORD,
        OPT_AFTER,
        OPT_LIMIT,
        OPT_ALL,
        OPT_FORCE,
        OPT_INDEX,
};

static json_t *record_params(const char *collection, const char *id)
{
        return json_pack("{s:s,s:s}", "collection", collection, "id", id);
}

static int finish(struct ctl *ctl, json_t *reply, const char *verb, const char *a, const char *b)
{
        _cleanup_(freep) char *coll = escape_string(a), *id = escape_string(b);

        if (ctl->json)
                print_json(reply);
        else
                printf("%s %s/%s, version %lld\n", verb, coll, id,
                       (long long)json_integer_value(json_object_get(reply, "version")));
        json_decref(reply);
        return EXIT_SUCCESS;
}

/* Reads a whole file ("-" for stdin) up to max bytes, or dies. */
static char *read_input(const char *path, size_t max, size_t *ret_len)
{
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
        size_t len = 0, cap = 65536;
        char *buf = malloc(cap);

        if (!f)
                die("cannot open %s: %m", path);
        if (!buf)
                die("out of memory");
        for (;;) {
                size_t n;
                if (len == cap) {
                        if (cap >= max + 1)
                                die("%s is larger than %zu bytes, the most vaultctl sends", path, max);
                        cap *= 2;
                        char *bigger = realloc(buf, cap);
                        if (!bigger)
                                die("out of memory");
                        buf = bigger;
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f))
                die("cannot read %s: %m", path);
        if (len > max)
                die("%s is larger than %zu bytes, the most vaultctl sends", path, max);
        if (f != stdin)
                fclose(f);
        *ret_len = len;
        return buf;
}

static json_int_t if_version_arg(struct ctl *ctl)
{
        return (json_int_t)arg_uint(ctl, "--if-version", optarg, VERSION_MAX);
}

/* --index FIELD=VALUE: one term for Find, added to *index. */
static void index_arg(struct ctl *ctl, const char *arg, json_t **index)
{
        const char *eq = strchr(arg, '=');
        char field[65];

        if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(field) || !eq[1])
                die_usage(ctl, "--index takes FIELD=VALUE, such as --index so_cccd=037090001234");
        memcpy(field, arg, (size_t)(eq - arg));
        field[eq - arg] = '\0';
        if (!*index)
                *index = json_object();
        if (json_object_get(*index, field))
                die_usage(ctl, "--index gives the field %s twice", field);
        if (json_object_set_new(*index, field, json_string(eq + 1)) < 0)
                die_usage(ctl, "--index %s: the value is not UTF-8 text", field);
}

int cmd_put(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"if-version", required_argument, NULL, OPT_IF_VERSION},
                {"retain-until", required_argument, NULL, OPT_RETAIN_UNTIL},
                {"index", required_argument, NULL, OPT_INDEX},
                {},
        };
        json_int_t if_version = -1;
        const char *retain_until = NULL;
        json_t *index = NULL;
        size_t len, b64len;
        char **pos, *body, *b64;
        json_t *params;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_RETAIN_UNTIL)
                        retain_until = optarg;
                else if (c == OPT_INDEX)
                        index_arg(ctl, optarg, &index);
                else
                        if_version = if_version_arg(ctl);
        }
        pos = ctl_positional(ctl, argc, argv, 2, 3);
        warn_citizen_id(ctl, pos[0], pos[1]);
        body = read_input(argc - optind == 3 ? pos[2] : "-", INPUT_MAX, &len);
        b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
        b64 = malloc(b64len);
        if (!b64)
                die("out of memory");
        sodium_bin2base64(b64, b64len, (unsigned char *)body, len, sodium_base64_VARIANT_ORIGINAL);
        sodium_memzero(body, len);
        free(body);
        params = record_params(pos[0], pos[1]);
        json_object_set_new(params, "data", json_string(b64));
        sodium_memzero(b64, b64len);
        free(b64);
        if (if_version >= 0)
                json_object_set_new(params, "if_version", json_integer(if_version));
        if (retain_until)
                json_object_set_new(params, "retain_until", json_string(retain_until));
        if (index)
                json_object_set_new(params, "index", index);
        return finish(ctl, ctl_call(ctl, "io.vaultd.records.Put", params), "stored", pos[0], pos[1]);
}

/* Writes a body exactly, to the -o file or stdout. On a terminal only, a
 * final newline is added when the body lacks one: a pipe or a file gets the
 * bytes as stored, so binary bodies are never altered. */
static void write_body(struct output *out, const unsigned char *buf, size_t len)
{
        int fd = out ? out->fd : STDOUT_FILENO;

        if (write_all(fd, buf, len) < 0)
                die("cannot write %s: %m", out ? out->path : "standard output");
        if (!out && len > 0 && buf[len - 1] != '\n' && isatty(fd))
                (void)write_all(fd, "\n", 1);
        if (!out)
                return;
        output_commit(out);
        if (close(out->fd) < 0)
                die("cannot write %s: %m", out->path);
}

static void print_body(json_t *reply, struct output *out)
{
        const char *b64 = json_string_value(json_object_get(reply, "data"));
        size_t len, b64len, cap;
        unsigned char *buf;

        if (!b64)
                die("vaultd sent a reply without data (is this vaultd's socket?)");
        b64len = strlen(b64);
        cap = b64len / 4 * 3 + 3;
        buf = malloc(cap);
        if (!buf ||
            sodium_base642bin(buf, cap, b64, b64len, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) < 0)
                die("vaultd sent data that is not base64 (is this vaultd's socket?)");
        write_body(out, buf, len);
        sodium_memzero(buf, len);
        free(buf);
}

struct get_args {
        const char *out;
        bool force;
        json_int_t version; /* < 0: the latest */
};

static void get_parse(struct ctl *ctl, int argc, char **argv, struct get_args *a)
{
        static const struct option opts[] = {
                {"version", required_argument, NULL, OPT_VERSION_OF_RECORD},
                {"output", required_argument, NULL, 'o'},
                {"force", no_argument, NULL, OPT_FORCE},
                {},
        };
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "o:", opts)) != -1) {
                if (c == 'o')
                        a->out = optarg;
                else if (c == OPT_FORCE)
                        a->force = true;
                else
                        a->version = (json_int_t)arg_uint(ctl, "--version", optarg, VERSION_MAX);
        }
        if (a->force && !a->out)
                die_usage(ctl, "--force replaces the file given with -o FILE; there is none");
}

int cmd_get(struct ctl *ctl, int argc, char **argv)
{
        struct get_args a = {.version = -1};
        struct output out;
        json_t *params, *reply;
        char **pos;

        get_parse(ctl, argc, argv, &a);
        pos = ctl_positional(ctl, argc, argv, 2, 2);
        /* Before the read, so that a refused FILE costs no audited read. */
        if (a.out)
                output_open(&out, a.out, a.force);
        params = record_params(pos[0], pos[1]);
        if (a.version >= 0)
                json_object_set_new(params, "version", json_integer(a.version));
        reply = ctl_call(ctl, "io.vaultd.records.Get", params);
        if (ctl->json && !a.out)
                print_json(reply);
        else
                print_body(reply, a.out ? &out : NULL);
        json_decref(reply);
        return EXIT_SUCCESS;
}

int cmd_delete(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {{"if-version", required_argument, NULL, OPT_IF_VERSION}, {}};
        json_int_t if_version = -1;
        json_t *params;
        char **pos;

        while (ctl_getopt(ctl, argc, argv, "", opts) != -1)
                if_version = if_version_arg(ctl);
        pos = ctl_positional(ctl, argc, argv, 2, 2);
        params = record_params(pos[0], pos[1]);
        if (if_version >= 0)
                json_object_set_new(params, "if_version", json_integer(if_version));
        return finish(ctl, ctl_call(ctl, "io.vaultd.records.Delete", params), "deleted", pos[0], pos[1]);
}

/* Width of the widest member named key (a string as shown, escaped, or an
 * integer in decimal) among the objects, at least min. */
static int column_width(json_t *objects, const char *key, int min)
{
        json_t *o, *v;
        size_t i;
        int w = min;

        json_array_foreach(objects, i, o)
        {
                char buf[32];
                int n;

                v = json_object_get(o, key);
                if (json_is_string(v)) {
                        _cleanup_(freep) char *shown = escape_json_string(v);
                        n = text_width(shown);
                } else
                        n = snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
                if (n > w)
                        w = n;
        }
        return w;
}

/* A listing shown page by page, as the pages arrive. Column widths only
 * grow: a later page's longer id widens its own rows, not the heading
 * already printed. Each starts as wide as its heading. */
struct list_view {
        const char *collection;
        int idw, vw;
        bool heading; /* printed */
        uint64_t shown;
};

static void print_record(const struct list_view *v, json_t *rec)
{
        _cleanup_(freep) char *id = escape_json_string(json_object_get(rec, "id")),
                              *updated = escape_json_string(json_object_get(rec, "updated"));

        print_padded(id, v->idw);
        printf("  %*lld  %s\n", v->vw, (long long)json_integer_value(json_object_get(rec, "version")),
               updated);
}

static void list_show(void *userdata, json_t *page, bool last)
{
        struct list_view *v = userdata;
        json_t *records = json_object_get(page, "records"), *next = json_object_get(page, "next"), *rec;
        _cleanup_(freep) char *after = escape_json_string(next);
        bool more = last && json_is_string(next); /* one page asked for, and more follow */
        size_t i;

        v->idw = column_width(records, "id", v->idw);
        v->vw = column_width(records, "version", v->vw);
        if (!v->heading && (json_array_size(records) > 0 || more)) {
                printf("%-*s  %*s  %s\n", v->idw, "ID", v->vw, "VERSION", "UPDATED");
                v->heading = true;
        }
        json_array_foreach(records, i, rec)
        {
                print_record(v, rec);
                v->shown++;
        }
        if (more)
                printf("(%" PRIu64 " %s shown; more: --after %s, or --all)\n", v->shown,
                       plural(v->shown, "record", "records"), after);
        else if (last && v->shown == 0)
                printf("no live records in %s\n", v->collection);
}

struct list_args {
        const char *after;
        json_int_t limit; /* < 0: vaultd's default */
        bool all;
};

static void list_parse(struct ctl *ctl, int argc, char **argv, struct list_args *a)
{
        static const struct option opts[] = {
                {"after", required_argument, NULL, OPT_AFTER},
                {"limit", required_argument, NULL, OPT_LIMIT},
                {"all", no_argument, NULL, OPT_ALL},
                {},
        };
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_AFTER)
                        a->after = optarg;
                else if (c == OPT_LIMIT)
                        a->limit = (json_int_t)arg_uint(ctl, "--limit", optarg, VERSION_MAX);
                else
                        a->all = true;
        }
}

int cmd_list(struct ctl *ctl, int argc, char **argv)
{
        struct list_args a = {.limit = -1};
        struct list_view view = {.idw = 2, .vw = 7};
        struct pager pg = {
                .method = "io.vaultd.records.List",
                .cursor_key = "after",
                .items_key = "records",
                .resume_option = "--after",
                .show = list_show,
                .userdata = &view,
        };
        char **pos;
        int r;

        list_parse(ctl, argc, argv, &a);
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        view.collection = pos[0];
        pg.all = a.all;
        pg.params = json_pack("{s:s}", "collection", pos[0]);
        if (a.limit >= 0)
                json_object_set_new(pg.params, "limit", json_integer(a.limit));
        if (a.after && !(pg.cursor = json_string(a.after)))
                die_usage(ctl, "--after needs a record id, not '%s'", a.after);
        r = pager_run(ctl, &pg);
        json_decref(pg.params);
        json_decref(pg.cursor);
        return r;
}

/* A history shown page by page; widths only grow, as in list_view. */
struct history_view {
        int vw, tw, sw, uw;
        bool heading; /* printed */
};

static void print_version(const struct history_view *h, json_t *v)
{
        _cleanup_(freep) char *when = escape_json_string(json_object_get(v, "time"));

        printf("%*lld  %-*s  %-7s  %*lld  %*lld\n", h->vw,
               (long long)json_integer_value(json_object_get(v, "version")), h->tw, when,
               json_is_true(json_object_get(v, "deleted")) ? "deleted" : "stored", h->sw,
               (long long)json_integer_value(json_object_get(v, "size")), h->uw,
               (long long)json_integer_value(json_object_get(v, "uid")));
}

static void history_show(void *userdata, json_t *page, bool last)
{
        struct history_view *h = userdata;
        json_t *versions = json_object_get(page, "versions"), *v;
        size_t i;

        (void)last;
        h->vw = column_width(versions, "version", h->vw);
        h->tw = column_width(versions, "time", h->tw);
        h->sw = column_width(versions, "size", h->sw);
        h->uw = column_width(versions, "uid", h->uw);
        if (!h->heading) {
                printf("%*s  %-*s  %-7s  %*s  %*s\n", h->vw, "VERSION", h->tw, "TIME", "STATE", h->sw,
                       "SIZE", h->uw, "UID");
                h->heading = true;
        }
        json_array_foreach(versions, i, v)
        {
                print_version(h, v);
        }
}

int cmd_history(struct ctl *ctl, int argc, char **argv)
{
        struct history_view view = {.vw = 7, .tw = 4, .sw = 4, .uw = 3};
        struct pager pg = {
                .method = "io.vaultd.records.History",
                .cursor_key = "after_version",
                .items_key = "versions",
                .all = true, /* a history is read whole */
                .show = history_show,
                .userdata = &view,
        };
        char **pos;
        int r;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 2, 2);
        pg.params = record_params(pos[0], pos[1]);
        r = pager_run(ctl, &pg);
        json_decref(pg.params);
        return r;
}
