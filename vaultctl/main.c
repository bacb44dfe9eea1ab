/* vaultctl: talks to vaultd over its socket and nothing else (a vault is
 * created by vaultd --init).
 * main() reads the global options, finds the command (through its group)
 * and runs it. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util.h"
#include "vaultctl.h"

/* --json anywhere on the line selects JSON for the errors found while the
 * line is still being parsed, too. */
static bool json_requested(int argc, char **argv)
{
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--json") == 0)
                        return true;
        return false;
}

/* jansson holds copies of what vaultctl sends and receives: passphrases
 * (unseal), record bodies, key files. Every block it frees is
 * wiped, as in vaultd, so none lingers in freed heap memory. */
static void wiping_free(void *p)
{
        if (!p)
                return;
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
}

/* Names the commands of a group, for "missing command" messages. */
static void group_names(const struct command *group, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        for (const struct command *c = group->subcommands; c->name && len < size; c++)
                len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", c->name);
}

/* Parses a group's global options up to its command, then runs that (or
 * descends into it, for a group of subcommands). */
static int dispatch(struct ctl *ctl, const struct command *group, int argc, char **argv)
{
        const struct command *c;
        char names[256];

        ctl_getopt_begin(ctl, group);
        while (ctl_getopt(ctl, argc, argv, "+", NULL) != -1)
                ;
        group_names(group, names, sizeof(names));
        if (optind >= argc)
                die_usage(ctl, "missing command (one of: %s)", names);
        c = command_find(group, argv[optind]);
        if (!c)
                die_usage(ctl, "unknown command '%s' (one of: %s)", argv[optind], names);
        argc -= optind;
        argv += optind;
        /* A command with subcommands of its own runs itself unless the next
         * word names one ("backup FILE", "backup verify FILE"). */
        if (c->subcommands && (!c->run || (argc > 1 && command_find(c, argv[1]))))
                return dispatch(ctl, c, argc, argv);
        ctl_getopt_begin(ctl, c);
        return c->run(ctl, argc, argv);
}

int main(int argc, char **argv)
{
        struct ctl ctl = {
                .fd = -1,
                .socket_path = getenv("VAULTD_SOCKET"),
                .timeout_s = DEFAULT_TIMEOUT_SECONDS,
        };
        int r;

        json_set_alloc_funcs(malloc, wiping_free);
        if (!ctl.socket_path || !*ctl.socket_path)
                ctl.socket_path = DEFAULT_SOCKET;
        ctl.json = json_requested(argc, argv);
        report_set_json(ctl.json);
        if (sodium_init() < 0)
                die("libsodium failed to initialise (is /dev/urandom readable?)");
        r = dispatch(&ctl, &vaultctl_command, argc, argv);
        ctl_close(&ctl);
        return r;
}
