/* Auditor commands: audit head, audit export, audit verify. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "auditfmt.h"
#include "util.h"
#include "vaultctl.h"

static void show_head(json_t *reply)
{
        printf("lines:        %lld\nhead hash:    %s\norigin:       %s\nverifier key: %s\n",
               (long long)json_integer_value(json_object_get(reply, "lines")),
               json_string_value(json_object_get(reply, "hash")),
               json_string_value(json_object_get(reply, "origin")),
               json_string_value(json_object_get(reply, "verifier_key")));
}

static int audit_head(struct ctl *ctl, int argc, char **argv)
{
        args_parse(command_find("audit"), argc, argv, NULL, NULL, 0, 0);
        return ctl_show(ctl, "io.vaultd.audit.Head", NULL, show_head);
}

static int audit_export(struct ctl *ctl, int argc, char **argv)
{
        const char *out = NULL, *from = NULL, *to = NULL;
        const struct opt opts[] = {{"output", &out}, {"from", &from}, {"to", &to}, {}};
        json_t *params = json_object(), *msg;
        size_t nlines = 0;
        FILE *f = stdout;
        int fd;

        args_parse(command_find("audit"), argc, argv, opts, NULL, 0, 0);
        if (from)
                json_object_set_new(params, "from_seq", json_integer(arg_uint("--from", from)));
        if (to)
                json_object_set_new(params, "to_seq", json_integer(arg_uint("--to", to)));
        if (out) {
                fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
                if (fd < 0 || !(f = fdopen(fd, "w")))
                        die("cannot create %s: %m%s", out, errno == EEXIST ? " (will not overwrite)" : "");
        }
        ctl_send(ctl, "io.vaultd.audit.Export", params, true);
        for (;;) {
                json_t *line;
                size_t i;

                msg = ctl_recv(ctl);
                if (json_object_get(msg, "error")) {
                        ctl_print_error(msg);
                        if (out)
                                unlink(out);
                        return EXIT_FAILURE;
                }
                json_array_foreach(json_object_get(json_object_get(msg, "parameters"), "lines"), i, line)
                {
                        fwrite(json_string_value(line), 1, json_string_length(line), f);
                        fputc('\n', f);
                        nlines++;
                }
                if (!json_is_true(json_object_get(msg, "continues")))
                        break;
                json_decref(msg);
        }
        json_decref(msg);
        if (fflush(f) != 0 || (out && (fsync(fileno(f)) < 0 || fclose(f) != 0)))
                die("cannot write %s: %m", out ? out : "standard output");
        if (out)
                fprintf(stderr, "exported %zu lines to %s\n", nlines, out);
        return 0;
}

static int verify_file(struct ctl *ctl, const char *path, const char *vkey)
{
        struct export_report rep;
        FILE *f = fopen(path, "re");
        int r;

        if (!f)
                die("cannot open %s: %m", path);
        r = export_verify(f, vkey, &rep);
        fclose(f);
        if (r == -EBADMSG) {
                if (rep.bad_seq >= 0)
                        fprintf(stderr,
                                "vaultctl: %s does NOT verify: line %" PRIu64 " of the file (seq %" PRId64
                                "): %s\n",
                                path, rep.bad_line, rep.bad_seq, rep.why);
                else
                        fprintf(stderr, "vaultctl: %s does NOT verify: line %" PRIu64 " of the file: %s\n",
                                path, rep.bad_line, rep.why);
                return EXIT_FAILURE;
        }
        if (r < 0)
                die("cannot read %s: %s", path, strerror(-r));
        if (ctl->json) {
                json_t *o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:b}", "valid", 1, "first_seq",
                                      (json_int_t)rep.first_seq, "last_seq", (json_int_t)rep.last_seq,
                                      "lines", (json_int_t)rep.lines, "checkpoints",
                                      (json_int_t)rep.checkpoints, "trusted_key", vkey != NULL);
                print_json(o);
                json_decref(o);
        } else {
                printf("OK: %s verifies: %" PRIu64 " lines (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64
                       " signed checkpoints\n",
                       path, rep.lines, rep.first_seq, rep.last_seq, rep.checkpoints);
                if (!vkey)
                        printf("note: checked against the key the file itself names; pass --key with the\n"
                               "vault's verifier key (vaultctl audit head) to prove where it came from\n");
        }
        return 0;
}

static void show_verified(json_t *reply)
{
        printf("OK: the audit trail verifies: %lld lines, %lld signed checkpoints, head %s\n",
               (long long)json_integer_value(json_object_get(reply, "lines")),
               (long long)json_integer_value(json_object_get(reply, "checkpoints")),
               json_string_value(json_object_get(reply, "hash")));
}

static int audit_verify(struct ctl *ctl, int argc, char **argv)
{
        const char *file = NULL, *vkey = NULL;
        const struct opt opts[] = {{"file", &file}, {"key", &vkey}, {}};

        args_parse(command_find("audit"), argc, argv, opts, NULL, 0, 0);
        if (file)
                return verify_file(ctl, file, vkey);
        return ctl_show(ctl, "io.vaultd.audit.Verify", NULL, show_verified);
}

int cmd_audit(struct ctl *ctl, int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "head") == 0)
                return audit_head(ctl, argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "export") == 0)
                return audit_export(ctl, argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "verify") == 0)
                return audit_verify(ctl, argc - 1, argv + 1);
        command_usage(command_find("audit"), wants_help(argc, argv) ? stdout : stderr);
        return wants_help(argc, argv) ? 0 : EXIT_USAGE;
}
