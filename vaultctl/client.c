/* The connection to vaultd and the output helpers every command uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vaultctl.h"

#define CTL_REPLY_MAX (64u << 20)

void die(const char *fmt, ...)
{
        va_list ap;

        fputs("vaultctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_FAILURE);
}

void ctl_connect(struct ctl *ctl)
{
        int fd;

        if (ctl->fd >= 0)
                return;
        fd = vl_connect(ctl->socket_path);
        if (fd < 0)
                die("cannot connect to %s: %s (is vaultd running? use --socket PATH or set "
                    "VAULTD_SOCKET)",
                    ctl->socket_path, strerror(-fd));
        ctl->fd = fd;
        vl_reader_init(&ctl->reader, CTL_REPLY_MAX);
}

void ctl_send(struct ctl *ctl, const char *method, json_t *params, bool more)
{
        int r;

        ctl_connect(ctl);
        r = vl_send_call(ctl->fd, method, params, more);
        json_decref(params);
        /* vaultd may have answered and closed (message too large): the
         * reply is read next. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                die("cannot send to vaultd: %s", strerror(-r));
}

json_t *ctl_recv(struct ctl *ctl)
{
        json_t *msg;
        int r = vl_recv(ctl->fd, &ctl->reader, &msg);

        if (r == -ECONNRESET)
                die("vaultd closed the connection (see its log)");
        if (r < 0)
                die("cannot read the reply from vaultd: %s", strerror(-r));
        return msg;
}

static const char *error_hint(const char *name)
{
        static const struct {
                const char *name, *hint;
        } hints[] = {
                {"AccessDenied",
                 "your user holds no role allowing this; an admin grants roles in the policy file"},
                {"StorageFull", "free disk space on the vault's state directory"},
                {"IntegrityError",
                 "stored data failed verification; keep the vault as it is and call an admin"},
                {"TooLarge", "the record is larger than vaultd's --max-body"},
        };

        for (size_t i = 0; i < ELEMENTSOF(hints); i++)
                if (strcmp(name, hints[i].name) == 0)
                        return hints[i].hint;
        return NULL;
}

void ctl_print_error(json_t *msg)
{
        const char *error = json_string_value(json_object_get(msg, "error")) ?: "UnknownError";
        const char *shortname = strrchr(error, '.') ? strrchr(error, '.') + 1 : error;
        json_t *params = json_object_get(msg, "parameters"), *v;
        const char *k, *hint = error_hint(shortname);

        fprintf(stderr, "vaultctl: %s", shortname);
        json_object_foreach(params, k, v)
        {
                char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                fprintf(stderr, " %s=%s", k, s ? s : json_string_value(v));
                free(s);
        }
        if (hint)
                fprintf(stderr, " (%s)", hint);
        fputc('\n', stderr);
}

json_t *ctl_call(struct ctl *ctl, const char *method, json_t *params)
{
        json_t *msg, *out;

        ctl_send(ctl, method, params, false);
        msg = ctl_recv(ctl);
        if (json_object_get(msg, "error")) {
                ctl_print_error(msg);
                json_decref(msg);
                return NULL;
        }
        out = json_incref(json_object_get(msg, "parameters"));
        json_decref(msg);
        return out ? out : json_object();
}

int ctl_show(struct ctl *ctl, const char *method, json_t *params, void (*human)(json_t *reply))
{
        json_t *reply = ctl_call(ctl, method, params);

        if (!reply)
                return EXIT_FAILURE;
        if (ctl->json)
                print_json(reply);
        else
                human(reply);
        json_decref(reply);
        return 0;
}

void print_json(json_t *params)
{
        json_dumpf(params, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
}

long long arg_uint(const char *what, const char *s)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || !*s || v < 0) {
                fprintf(stderr, "vaultctl: %s must be a non-negative integer, not '%s'\n", what, s);
                exit(EXIT_USAGE);
        }
        return v;
}

char *read_input(const char *path, size_t max, size_t *ret_len)
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
                                die("%s is larger than %zu bytes", path, max);
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
                die("%s is larger than %zu bytes", path, max);
        if (f != stdin)
                fclose(f);
        *ret_len = len;
        return buf;
}

void command_usage(const struct command *c, FILE *f)
{
        fprintf(f, "usage: vaultctl %s %s\n\n%s\n", c->name, c->usage, c->help);
}

bool wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
                        return true;
        return false;
}

int args_parse(const struct command *c, int argc, char **argv, const struct opt *opts, const char **pos,
               int minpos, int maxpos)
{
        int npos = 0;

        if (wants_help(argc, argv)) {
                command_usage(c, stdout);
                exit(EXIT_SUCCESS);
        }
        for (int i = 1; i < argc; i++) {
                const struct opt *o = NULL;

                if (argv[i][0] == '-' && argv[i][1] == '-') {
                        for (o = opts; o && o->name && strcmp(o->name, argv[i] + 2); o++)
                                ;
                        if (!o || !o->name)
                                goto bad;
                        if (o->flag)
                                *o->flag = true;
                        else if (i + 1 < argc)
                                *o->value = argv[++i];
                        else
                                goto bad;
                        continue;
                }
                if (argv[i][0] == '-' && argv[i][1] == 'o' && argv[i][2] == '\0') {
                        for (o = opts; o && o->name && strcmp(o->name, "output"); o++)
                                ;
                        if (!o || !o->name || i + 1 >= argc)
                                goto bad;
                        *o->value = argv[++i];
                        continue;
                }
                if (npos == maxpos)
                        goto bad;
                pos[npos++] = argv[i];
        }
        if (npos < minpos)
                goto bad;
        return npos;
bad:
        command_usage(c, stderr);
        exit(EXIT_USAGE);
}
