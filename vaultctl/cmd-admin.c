/* Admin commands: status, policy check, policy reload. */
#include <string.h>

#include "policy.h"
#include "vaultctl.h"

static void show_status(json_t *reply)
{
        printf("state:        %s\nvault:        %s\nversion:      %s\nrecords:      %lld\n"
               "audit lines:  %lld\nconnections:  %lld\nsandbox:      %s\nuptime:       %llds\n"
               "requests:     %lld in %lld batches\n",
               json_string_value(json_object_get(reply, "state")),
               json_string_value(json_object_get(reply, "vault")),
               json_string_value(json_object_get(reply, "version")),
               (long long)json_integer_value(json_object_get(reply, "records")),
               (long long)json_integer_value(json_object_get(reply, "audit_lines")),
               (long long)json_integer_value(json_object_get(reply, "connections")),
               json_string_value(json_object_get(reply, "sandbox")),
               (long long)json_integer_value(json_object_get(reply, "uptime_seconds")),
               (long long)json_integer_value(json_object_get(reply, "requests")),
               (long long)json_integer_value(json_object_get(reply, "batches")));
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
        args_parse(command_find("status"), argc, argv, NULL, NULL, 0, 0);
        return ctl_show(ctl, "io.vaultd.admin.Status", NULL, show_status);
}

static void show_reload(json_t *reply)
{
        printf("policy reloaded: %lld rules\n",
               (long long)json_integer_value(json_object_get(reply, "rules")));
}

static int policy_check_file(struct ctl *ctl, const char *path)
{
        char err[POLICY_ERR_MAX];
        struct policy *p;

        if (policy_load(path, &p, err, sizeof(err)) < 0) {
                fprintf(stderr, "vaultctl: %s: %s\n", path, err);
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < p->nwarnings; i++)
                fprintf(stderr, "vaultctl: %s: warning: %s\n", path, p->warnings[i]);
        if (ctl->json) {
                json_t *o = json_pack("{s:b,s:I,s:I}", "valid", 1, "rules", (json_int_t)p->nrules,
                                      "warnings", (json_int_t)p->nwarnings);
                print_json(o);
                json_decref(o);
        } else
                printf("%s: OK, %zu rules, %zu warnings\n", path, p->nrules, p->nwarnings);
        policy_free(p);
        return 0;
}

int cmd_policy(struct ctl *ctl, int argc, char **argv)
{
        const char *pos[1];

        if (argc >= 2 && strcmp(argv[1], "check") == 0) {
                args_parse(command_find("policy"), argc - 1, argv + 1, NULL, pos, 1, 1);
                return policy_check_file(ctl, pos[0]);
        }
        if (argc >= 2 && strcmp(argv[1], "reload") == 0) {
                args_parse(command_find("policy"), argc - 1, argv + 1, NULL, NULL, 0, 0);
                return ctl_show(ctl, "io.vaultd.admin.ReloadPolicy", NULL, show_reload);
        }
        command_usage(command_find("policy"), wants_help(argc, argv) ? stdout : stderr);
        return wants_help(argc, argv) ? 0 : EXIT_USAGE;
}
