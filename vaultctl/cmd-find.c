/* find: the records whose index term for a field is a value (issue #13). */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "util.h"
#include "vaultctl.h"

#define LIMIT_MAX 1000u
/* A value read from standard input (VALUE "-"): one line. */
#define VALUE_LINE_MAX 4096

enum {
        OPT_AFTER = OPT_COMMAND,
        OPT_LIMIT,
};

/* VALUE "-": the first line of standard input, so that a citizen ID need
 * not be on the command line (which other local users can read in
 * /proc). */
static char *value_from_stdin(char buf[static VALUE_LINE_MAX])
{
        size_t n;

        if (!fgets(buf, VALUE_LINE_MAX, stdin))
                die("no value on standard input");
        n = strlen(buf);
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        else if (!feof(stdin))
                die("the value on standard input is longer than %d bytes", VALUE_LINE_MAX - 1);
        return buf;
}

int cmd_find(struct ctl *ctl, int argc, char **argv)
{
        static const struct option opts[] = {
                {"after", required_argument, NULL, OPT_AFTER},
                {"limit", required_argument, NULL, OPT_LIMIT},
                {},
        };
        char buf[VALUE_LINE_MAX], **pos;
        const char *after = NULL, *value;
        json_int_t limit = -1;
        json_t *params, *reply, *id, *next;
        size_t i;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_AFTER)
                        after = optarg;
                else
                        limit = (json_int_t)arg_uint(ctl, "--limit", optarg, LIMIT_MAX);
        }
        pos = ctl_positional(ctl, argc, argv, 3, 3);
        value = strcmp(pos[2], "-") == 0 ? value_from_stdin(buf) : pos[2];
        params = json_pack("{s:s,s:s,s:s}", "collection", pos[0], "field", pos[1], "value", value);
        sodium_memzero(buf, sizeof(buf));
        if (!params)
                die("the value is not UTF-8 text");
        if (after)
                json_object_set_new(params, "after", json_string(after));
        if (limit >= 0)
                json_object_set_new(params, "limit", json_integer(limit));
        reply = ctl_call(ctl, "io.vaultd.records.Find", params);
        if (ctl->json) {
                print_json(reply);
                json_decref(reply);
                return EXIT_SUCCESS;
        }
        json_array_foreach(json_object_get(reply, "ids"), i, id)
        {
                _cleanup_(freep) char *shown = escape_json_string(id);
                printf("%s\n", shown);
        }
        next = json_object_get(reply, "next");
        if (json_is_string(next)) {
                _cleanup_(freep) char *shown = escape_json_string(next);
                printf("(more: --after %s)\n", shown);
        } else if (json_array_size(json_object_get(reply, "ids")) == 0)
                report_line("no live record of %s has that %s", pos[0], pos[1]);
        json_decref(reply);
        return EXIT_SUCCESS;
}
