/* vaultctl: talks to vaultd over its socket; `vaultctl init` creates a vault. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "vaultctl.h"

const struct command commands[] = {
        {"init", cmd_init, "--state-dir DIR --key-file FILE [--origin NAME]",
         "Creates an empty vault in DIR and a new root key file (mode 0600). Refuses to\n"
         "overwrite either. Keep the key file safe: without it the vault cannot be opened."},
        {"status", cmd_status, "", "Shows what the vault is doing (not audited)."},
        {"put", cmd_put, "COLLECTION ID [FILE|-] [--if-version N]",
         "Stores FILE (or standard input) as a new version of the record.\n"
         "--if-version N stores only if the current version is N (0: the record is new)."},
        {"get", cmd_get, "COLLECTION ID [--version N] [-o FILE]",
         "Writes the record's latest (or given) version to standard output or FILE."},
        {"delete", cmd_delete, "COLLECTION ID [--if-version N]",
         "Deletes the record (a tombstone version; its history stays)."},
        {"list", cmd_list, "COLLECTION [--after ID] [--limit N] [--all]",
         "Lists live records in id order; --all follows every page."},
        {"history", cmd_history, "COLLECTION ID", "Lists every version of a record."},
        {"import", cmd_import, "COLLECTION FILE|-",
         "Stores many records from JSON Lines: one {\"id\": ID, \"record\": {...}} per line\n"
         "(the record object is stored as compact JSON). Calls are pipelined."},
        {"audit", cmd_audit,
         "head | export [-o FILE] [--from SEQ] [--to SEQ] | verify [--file EXPORT [--key VKEY]]",
         "head: the trail's head and verifier key.\n"
         "export: writes the trail (JSON Lines: header, lines, signed checkpoints).\n"
         "verify: checks the live trail, or with --file an export offline (with --key,\n"
         "against the verifier key you trust; without, against the key the file names)."},
        {"policy", cmd_policy, "check FILE | reload",
         "check: lints a policy file before you install it.\nreload: makes vaultd re-read its policy."},
        {},
};

const struct command *command_find(const char *name)
{
        for (const struct command *c = commands; c->name; c++)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: vaultctl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
                   "Socket: --socket, else $VAULTD_SOCKET, else /run/vaultd/vaultd.sock.\n"
                   "--json prints replies as JSON for scripts. 'vaultctl COMMAND --help' for more.\n\n"
                   "Commands:\n");
        for (const struct command *c = commands; c->name; c++)
                fprintf(f, "  %-8s %s\n", c->name, c->usage);
}

int main(int argc, char **argv)
{
        struct ctl ctl = {.fd = -1, .socket_path = getenv("VAULTD_SOCKET")};
        const struct command *c;
        int i, r;

        if (!ctl.socket_path || !*ctl.socket_path)
                ctl.socket_path = "/run/vaultd/vaultd.sock";
        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        ctl.json = true;
                else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
                        ctl.socket_path = argv[++i];
                else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return EXIT_SUCCESS;
                } else {
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (i == argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        c = command_find(argv[i]);
        if (!c) {
                fprintf(stderr, "vaultctl: unknown command '%s'\n", argv[i]);
                usage(stderr);
                return EXIT_USAGE;
        }
        if (sodium_init() < 0)
                die("libsodium failed to initialise");
        r = c->run(&ctl, argc - i, argv + i);
        if (ctl.fd >= 0) {
                close(ctl.fd);
                vl_reader_done(&ctl.reader);
        }
        return r;
}
