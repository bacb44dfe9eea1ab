/* Collection commands: collection create, set, show, list (issue #13).
 * Names and settings come from vaultd and are shown escaped, in columns
 * as wide as the terminal shows them (a Vietnamese letter is two or three
 * bytes but one column). */
#include <inttypes.h>
#include <string.h>

#include "util.h"
#include "vaultctl.h"

enum {
        OPT_RETENTION = OPT_COMMAND,
        OPT_CONTENT,
        OPT_INDEX,
        OPT_PRIVATE_IDS,
        OPT_PRIVATE_NAME,
};

#define INDEX_ARGS_MAX 8

/* The settings options of create and set, into params. */
static void settings_parse(struct ctl *ctl, int argc, char **argv, json_t *params)
{
        static const struct option opts[] = {
                {"retention", required_argument, NULL, OPT_RETENTION},
                {"content", required_argument, NULL, OPT_CONTENT},
                {"index", required_argument, NULL, OPT_INDEX},
                {"private-ids", no_argument, NULL, OPT_PRIVATE_IDS},
                {"private-name", no_argument, NULL, OPT_PRIVATE_NAME},
                {},
        };
        json_t *index = NULL;
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_RETENTION)
                        json_object_set_new(params, "retention", json_string(optarg));
                else if (c == OPT_PRIVATE_IDS)
                        json_object_set_new(params, "private_ids", json_true());
                else if (c == OPT_PRIVATE_NAME)
                        json_object_set_new(params, "private_name", json_true());
                else if (c == OPT_CONTENT) {
                        if (strcmp(optarg, "json") != 0 && strcmp(optarg, "bytes") != 0)
                                die_usage(ctl, "--content is json or bytes, not '%s'", optarg);
                        json_object_set_new(params, "content", json_string(optarg));
                } else {
                        /* --index none: no index; otherwise FIELD, or FIELD,FIELD. */
                        if (!index)
                                index = json_array();
                        for (char *save = NULL, *f = strtok_r(optarg, ",", &save); f;
                             f = strtok_r(NULL, ",", &save))
                                if (strcmp(f, "none") != 0)
                                        json_array_append_new(index, json_string(f));
                        if (json_array_size(index) > INDEX_ARGS_MAX)
                                die_usage(ctl, "at most %d --index fields", INDEX_ARGS_MAX);
                }
        }
        if (index)
                json_object_set_new(params, "index", index);
}

static const char *index_text(json_t *col, char *buf, size_t size)
{
        json_t *f;
        size_t i, n = 0;

        buf[0] = '\0';
        json_array_foreach(json_object_get(col, "index"), i, f)
        {
                n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", i ? "," : "",
                                      json_string_value(f) ? json_string_value(f) : "?");
        }
        return buf[0] ? buf : "-";
}

static uint64_t count_of(json_t *o, const char *key)
{
        json_int_t n = json_integer_value(json_object_get(o, key));

        return n > 0 ? (uint64_t)n : 0;
}

static void show_collection(json_t *reply)
{
        json_t *col = json_object_get(reply, "collection");
        _cleanup_(freep) char *name = escape_json_string(json_object_get(col, "collection")),
                              *retention = escape_json_string(json_object_get(col, "retention")),
                              *content = escape_json_string(json_object_get(col, "content")),
                              *created = escape_json_string(json_object_get(col, "created")),
                              *updated = escape_json_string(json_object_get(col, "updated"));
        char index[512];
        _cleanup_(freep) char *shown_index = escape_string(index_text(col, index, sizeof(index)));
        bool defined = json_is_true(json_object_get(col, "defined"));

        printf("collection: %s%s\n", name,
               defined ? "" : " (implicit: nobody created it; the defaults apply)");
        printf("content:    %s\n", content);
        printf("retention:  %s%s\n", retention,
               strcmp(retention, "none") == 0
                       ? " (no period: only records given a retain_until date fall due)"
                       : " after each record's last change");
        printf("index:      %s\n", shown_index);
        printf("ids:        %s\n", json_is_true(json_object_get(col, "private_ids"))
                                           ? "private: stored and audited as pseudonyms (ps-...)"
                                           : "as given (in the clear in the store, the trail and backups)");
        if (json_is_true(json_object_get(col, "private_name"))) {
                _cleanup_(freep) char *pc = escape_json_string(json_object_get(col, "stored_as"));
                printf("name:       private: stored and audited as %s\n", pc);
        }
        printf("records:    %" PRIu64 " live, %" PRIu64 " deleted, %" PRIu64 " disposed, %" PRIu64
               " on hold\n",
               count_of(col, "live"), count_of(col, "deleted"), count_of(col, "disposed"),
               count_of(col, "held"));
        if (defined)
                printf("created:    %s\nchanged:    %s\n", created, updated);
}

static int create_or_set(struct ctl *ctl, int argc, char **argv, const char *method)
{
        json_t *params = json_object();
        char **pos;

        settings_parse(ctl, argc, argv, params);
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        json_object_set_new(params, "collection", json_string(pos[0]));
        return ctl_show(ctl, method, params, show_collection);
}

int cmd_collection_create(struct ctl *ctl, int argc, char **argv)
{
        return create_or_set(ctl, argc, argv, "io.vaultd.records.CreateCollection");
}

int cmd_collection_set(struct ctl *ctl, int argc, char **argv)
{
        return create_or_set(ctl, argc, argv, "io.vaultd.records.SetCollection");
}

int cmd_collection_show(struct ctl *ctl, int argc, char **argv)
{
        char **pos;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        return ctl_show(ctl, "io.vaultd.records.GetCollection", json_pack("{s:s}", "collection", pos[0]),
                        show_collection);
}

static void show_list(json_t *reply)
{
        json_t *list = json_object_get(reply, "collections"), *col;
        int w = (int)strlen("COLLECTION");
        size_t i;

        json_array_foreach(list, i, col)
        {
                _cleanup_(freep) char *name = escape_json_string(json_object_get(col, "collection"));
                int n = text_width(name);
                if (n > w)
                        w = n;
        }
        if (json_array_size(list) == 0) {
                printf("no collections\n");
                return;
        }
        print_padded("COLLECTION", w);
        printf("  %-7s  %-9s  %8s  %8s  %8s  %8s  %s\n", "CONTENT", "RETENTION", "LIVE", "DELETED",
               "DISPOSED", "HELD", "INDEX");
        json_array_foreach(list, i, col)
        {
                _cleanup_(freep) char *name = escape_json_string(json_object_get(col, "collection")),
                                      *content = escape_json_string(json_object_get(col, "content")),
                                      *retention = escape_json_string(json_object_get(col, "retention"));
                char index[512];
                _cleanup_(freep) char *shown_index = escape_string(index_text(col, index, sizeof(index)));

                print_padded(name, w);
                printf("  %-7s  %-9s  %8" PRIu64 "  %8" PRIu64 "  %8" PRIu64 "  %8" PRIu64 "  %s%s\n",
                       content, retention, count_of(col, "live"), count_of(col, "deleted"),
                       count_of(col, "disposed"), count_of(col, "held"), shown_index,
                       json_is_true(json_object_get(col, "private_name")) ? "  (private name)"
                       : json_is_true(json_object_get(col, "defined"))    ? ""
                                                                          : "  (implicit)");
        }
}

int cmd_collection_list(struct ctl *ctl, int argc, char **argv)
{
        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        ctl_positional(ctl, argc, argv, 0, 0);
        return ctl_show(ctl, "io.vaultd.records.ListCollections", NULL, show_list);
}

/* Counts RebuildIndex answers, summed over its calls. */
static const char *const rebuild_counts[] = {"records", "current", "reindexed", "dropped", "unreadable"};

int cmd_collection_rebuild_index(struct ctl *ctl, int argc, char **argv)
{
        json_t *total = json_object(), *reply;
        uint64_t calls = 0;
        bool done = false;
        char **pos;

        while (ctl_getopt(ctl, argc, argv, "", NULL) != -1)
                ;
        pos = ctl_positional(ctl, argc, argv, 1, 1);
        /* Each call does a bounded share and vaultd remembers where it
         * stopped: an interrupted rebuild goes on at the next command. */
        while (!done) {
                reply = ctl_call(ctl, "io.vaultd.records.RebuildIndex",
                                 json_pack("{s:s}", "collection", pos[0]));
                for (size_t i = 0; i < ELEMENTSOF(rebuild_counts); i++)
                        json_object_set_new(total, rebuild_counts[i],
                                            json_integer((json_int_t)(count_of(total, rebuild_counts[i]) +
                                                                      count_of(reply, rebuild_counts[i]))));
                json_object_set(total, "generation", json_object_get(reply, "generation"));
                done = json_is_true(json_object_get(reply, "done"));
                json_decref(reply);
                calls++;
        }
        json_object_set_new(total, "calls", json_integer((json_int_t)calls));
        if (ctl->json)
                print_json(total);
        else
                printf("index key generation %" PRIu64 ": %" PRIu64 " records, %" PRIu64
                       " re-indexed, %" PRIu64 " already current, %" PRIu64
                       " dropped (their terms must be put again), %" PRIu64 " unreadable\n",
                       count_of(total, "generation"), count_of(total, "records"),
                       count_of(total, "reindexed"), count_of(total, "current"), count_of(total, "dropped"),
                       count_of(total, "unreadable"));
        json_decref(total);
        return 0;
}
