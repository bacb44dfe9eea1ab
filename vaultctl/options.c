/* Command lines, GNU style: getopt_long for each command, with the global
 * options accepted before or after the command. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vaultctl.h"

enum {
        OPT_SOCKET = 0x100,
        OPT_JSON,
        OPT_TIMEOUT,
        OPT_VERSION,
};

/* A command's own option of the same name comes first and wins: `get
 * --version N` is a record version, `vaultctl --version` vaultctl's. */
static const struct option global_options[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
};

#define LONGOPTS_MAX  24
#define SHORTOPTS_MAX 32
/* A week: longer than any export, short enough to be a number. */
#define TIMEOUT_MAX (7u * 86400u)

void die_usage(const struct ctl *ctl, const char *fmt, ...)
{
        char message[1024], title[64];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        command_title(ctl->cmd, title, sizeof(title));
        if (ctl->json) {
                char text[1200];

                snprintf(text, sizeof(text), "%s; try '%s%s --help'", message,
                         ctl->cmd->name ? "vaultctl " : "", title);
                die_error(ERR_USAGE, json_pack("{s:s}", "command", title), "%s", text);
        }
        report_line("%s", message);
        fprintf(stderr, "Try '%s%s --help'.\n", ctl->cmd->name ? "vaultctl " : "", title);
        exit(EXIT_USAGE);
}

void ctl_getopt_begin(struct ctl *ctl, const struct command *c)
{
        ctl->cmd = c;
        optind = 0; /* glibc: start afresh on a new argv */
        opterr = 0; /* the messages are ours */
}

/* The option getopt_long just stopped at, as the user wrote it. */
static void failed_option(int argc, char **argv, char *buf, size_t size)
{
        const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";

        if (strncmp(arg, "--", 2) == 0)
                snprintf(buf, size, "%.*s", (int)strcspn(arg, "="), arg);
        else
                snprintf(buf, size, "-%c", optopt);
}

static void bad_option(struct ctl *ctl, int argc, char **argv, int c)
{
        char name[128];

        failed_option(argc, argv, name, sizeof(name));
        if (c == ':')
                die_usage(ctl, "option '%s' needs a value", name);
        if (optopt != 0 && strncmp(name, "--", 2) == 0)
                die_usage(ctl, "option '%s' takes no value", name);
        die_usage(ctl, "unknown option '%s'", name);
}

/* Acts on a global option; returns false when c is not one. */
static bool global_option(struct ctl *ctl, int c)
{
        switch (c) {
        case OPT_SOCKET:
                if (!*optarg)
                        die_usage(ctl, "--socket needs a path");
                ctl->socket_path = optarg;
                return true;
        case OPT_JSON:
                ctl->json = true;
                report_set_json(true);
                return true;
        case OPT_TIMEOUT:
                ctl->timeout_s = (unsigned)arg_uint(ctl, "--timeout", optarg, TIMEOUT_MAX);
                return true;
        case OPT_VERSION:
                printf("vaultctl %s\n", VAULTD_VERSION);
                exit(EXIT_SUCCESS);
        case 'h':
                command_help(ctl->cmd, stdout);
                exit(EXIT_SUCCESS);
        default:
                return false;
        }
}

int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
        struct option all[LONGOPTS_MAX];
        char optstring[SHORTOPTS_MAX];
        bool stop = shortopts[0] == '+';
        size_t n = 0;
        int c;

        for (; longopts && longopts[n].name && n < LONGOPTS_MAX - ELEMENTSOF(global_options) - 1; n++)
                all[n] = longopts[n];
        memcpy(all + n, global_options, sizeof(global_options));
        all[n + ELEMENTSOF(global_options)] = (struct option){0};
        /* ':' first: a missing value is told apart from an unknown option. */
        snprintf(optstring, sizeof(optstring), "%s:%sh", stop ? "+" : "", shortopts + stop);
        for (;;) {
                c = getopt_long(argc, argv, optstring, all, NULL);
                if (c == ':' || c == '?')
                        bad_option(ctl, argc, argv, c);
                if (!global_option(ctl, c))
                        return c;
        }
}

char **ctl_positional(struct ctl *ctl, int argc, char **argv, int min, int max)
{
        char title[64];
        int n = argc - optind;

        if (n < min)
                die_usage(ctl, "missing arguments; usage: vaultctl %s %s",
                          command_title(ctl->cmd, title, sizeof(title)), ctl->cmd->usage);
        if (n > max)
                die_usage(ctl, "unexpected argument '%s'", argv[optind + max]);
        return argv + optind;
}

uint64_t arg_uint(struct ctl *ctl, const char *what, const char *s, uint64_t max)
{
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || s[0] < '0' || s[0] > '9' || v > max)
                die_usage(ctl, "%s must be a whole number from 0 to %llu, not '%s'", what,
                          (unsigned long long)max, s);
        return v;
}
