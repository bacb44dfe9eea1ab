/* Private ids (issue #13): audit resolve, and put's warning when an id
 * looks like a citizen ID in a collection that keeps ids in the clear. */
#include <ctype.h>
#include <string.h>

#include "util.h"
#include "vaultctl.h"

/* A Vietnamese citizen ID (căn cước công dân) has 12 digits. */
#define CITIZEN_ID_DIGITS 12

/* Whether id holds a run of exactly 12 digits. */
static bool looks_like_citizen_id(const char *id)
{
        size_t run = 0;

        for (const char *p = id;; p++) {
                if (*p >= '0' && *p <= '9') {
                        run++;
                        continue;
                }
                if (run == CITIZEN_ID_DIGITS)
                        return true;
                if (!*p)
                        return false;
                run = 0;
        }
}

void warn_citizen_id(struct ctl *ctl, const char *collection, const char *id)
{
        json_t *msg = NULL;
        bool private_ids = false;

        if (!looks_like_citizen_id(id))
                return;
        if (ctl_request(ctl, "io.vaultd.records.GetCollection", json_pack("{s:s}", "collection", collection),
                        &msg) == 0)
                private_ids = json_is_true(json_object_get(
                        json_object_get(json_object_get(msg, "parameters"), "collection"), "private_ids"));
        json_decref(msg);
        if (!private_ids)
                report_line("warning: the id looks like a citizen ID (12 digits), and %s keeps ids in the "
                            "clear: in the store, the audit trail, exports and backups. Use an opaque "
                            "dossier number and 'put --index so_cccd=...' to find it, or a collection "
                            "created with --private-ids",
                            collection);
}

int cmd_audit_resolve(struct ctl *ctl, int argc, char **argv)
{
        enum { OPT_REASON = OPT_COMMAND };
        static const struct option opts[] = {{"reason", required_argument, NULL, OPT_REASON}, {}};
        const char *reason = NULL;
        char **pos;
        json_t *reply, *params;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1)
                reason = optarg;
        if (!reason)
                die_usage(ctl, "--reason TEXT is required: why the id is needed goes into the audit trail");
        pos = ctl_positional(ctl, argc, argv, 1, 2);
        /* One argument: a private collection's pseudonym (pc-...). */
        params = json_pack("{s:s,s:s}", "collection", pos[0], "reason", reason);
        if (pos[1])
                json_object_set_new(params, "pseudonym", json_string(pos[1]));
        reply = ctl_call(ctl, "io.vaultd.audit.Resolve", params);
        if (ctl->json)
                print_json(reply);
        else {
                _cleanup_(freep) char *shown =
                        escape_json_string(json_object_get(reply, pos[1] ? "id" : "name"));
                printf("%s\n", shown);
        }
        json_decref(reply);
        return EXIT_SUCCESS;
}
