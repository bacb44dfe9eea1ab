#include "admin.h"

#include <errno.h>
#include <string.h>

#include "backup.h"
#include "collname.h"
#include "log.h"
#include "util.h"
#include "writer.h"

#define IFACE "io.vaultd.admin"

int admin_status(struct vault *v, struct job *j)
{
        struct writer_stats st = {0};
        struct health_facts facts;
        struct health_verdict verdict;
        bool sealed = __atomic_load_n(&v->sealed, __ATOMIC_RELAXED);

        /* Counters and health show every tenant's activity (a Get that met
         * damaged data, the disk filling up): a service (or a cosigner)
         * sees only whether the vault serves or is sealed, so it cannot
         * watch another service's records grow or fail. */
        if (!(policy_roles(v->policy, &j->peer) & (ROLE_ADMIN | ROLE_AUDITOR))) {
                j->reply = json_pack("{s:s,s:s}", "state", sealed ? "sealed" : "serving", "version",
                                     VAULTD_VERSION);
                return j->reply ? 0 : -ENOMEM;
        }
        health_gather(v, &facts);
        health_judge(&facts, &verdict);
        j->reply =
                json_pack("{s:s,s:s}", "state", health_state_name(verdict.state), "version", VAULTD_VERSION);
        if (!j->reply)
                return -ENOMEM;
        if (v->writer)
                writer_get_stats(v->writer, &st);
        if (json_object_update_new(
                    j->reply,
                    json_pack(
                            "{s:s,s:I,s:I,s:I,s:s,s:I,s:I,s:I}", "vault", v->audit->vault_id, "records",
                            (json_int_t)__atomic_load_n(&v->records_active, __ATOMIC_RELAXED), "audit_lines",
                            (json_int_t)__atomic_load_n(&v->audit->next_seq, __ATOMIC_RELAXED),
                            "connections", (json_int_t)v->connections, "sandbox", v->sandbox ?: "off",
                            "uptime_seconds", (json_int_t)((now_monotonic_us() - v->started_us) / 1000000u),
                            "batches", (json_int_t)st.batches, "requests", (json_int_t)st.jobs)) < 0 ||
            json_object_update_new(j->reply, health_json(&facts, &verdict)) < 0)
                return -ENOMEM;
        /* Status answers even when the store cannot say when the last
         * backup was: the fields are left out, as before any backup. */
        (void)backup_status(v, j->reply);
        return 0;
}

/* The rules of a that b does not have, as canonical lines, at most
 * POLICY_DIFF_MAX of them (the count says how many in all). */
#define POLICY_DIFF_MAX 50

/* A rule's text as the trail may hold it: a private collection named by
 * its pseudonym (vaultd/collname.h), one not told apart now (sealed) by
 * "-". */
static char *rule_text_stored(struct vault *v, MDB_txn *txn, const struct policy_rule *r)
{
        struct policy_rule copy = *r;
        char **names = calloc(r->ncollections + 1, sizeof(*names)), *text = NULL;
        size_t i;

        for (i = 0; names && i < r->ncollections; i++) {
                const char *c = r->collections[i];
                char stored[NAME_COLLECTION_MAX + 1];
                int x = name_collection_valid(c) ? collname_stored(v, txn, c, stored) : 2;

                if (x < 0 || !(names[i] = strdup(x == 0 ? stored : x == 1 ? "-" : c)))
                        break;
        }
        if (names && i == r->ncollections) {
                copy.collections = names;
                text = policy_rule_text(&copy);
        }
        for (i = 0; names && i < r->ncollections; i++)
                free(names[i]);
        free(names);
        return text;
}

static json_t *rules_missing(struct vault *v, MDB_txn *txn, const struct policy *a, const struct policy *b,
                             size_t *ret_count)
{
        json_t *out = json_array();
        size_t count = 0;

        for (size_t i = 0; out && a && i < a->nrules; i++) {
                _cleanup_(freep) char *text = policy_rule_text(&a->rules[i]);
                bool found = false;

                for (size_t k = 0; text && b && k < b->nrules && !found; k++) {
                        _cleanup_(freep) char *other = policy_rule_text(&b->rules[k]);

                        found = other && strcmp(text, other) == 0;
                }
                if (!text || found)
                        continue;
                if (count++ < POLICY_DIFF_MAX) {
                        _cleanup_(freep) char *stored = rule_text_stored(v, txn, &a->rules[i]);

                        json_array_append_new(out, json_string(stored ?: "-"));
                }
        }
        *ret_count = count;
        return out;
}

int admin_reload_policy(struct vault *v, MDB_txn *txn, struct job *j)
{
        char err[POLICY_ERR_MAX];
        struct policy *p;
        json_t *warnings;
        int r;

        policy_free(j->pending_policy);
        j->pending_policy = NULL;
        r = policy_load(v->policy_path, &p, err, sizeof(err));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return job_invalid(j, IFACE, "policy", err);
        warnings = json_array();
        for (size_t i = 0; i < p->nwarnings; i++)
                json_array_append_new(warnings, json_string(p->warnings[i]));
        j->pending_policy = p;
        j->reply = json_pack("{s:I,s:o}", "rules", (json_int_t)p->nrules, "warnings", warnings);
        /* What changed, for the trail (an auditor's report shows it). */
        {
                size_t added, removed;
                json_t *a = rules_missing(v, txn, p, j->previous_policy, &added),
                       *d = rules_missing(v, txn, j->previous_policy, p, &removed);

                j->audit.extra =
                        json_pack("{s:I,s:o,s:o}", "rules", (json_int_t)p->nrules, "added", a, "removed", d);
                if (j->audit.extra && (added > POLICY_DIFF_MAX || removed > POLICY_DIFF_MAX)) {
                        json_object_set_new(j->audit.extra, "added_count", json_integer((json_int_t)added));
                        json_object_set_new(j->audit.extra, "removed_count",
                                            json_integer((json_int_t)removed));
                }
        }
        return 0;
}

void admin_log_policy_warnings(const struct policy *p, const char *path)
{
        for (size_t i = 0; i < p->nwarnings; i++)
                log_warning("policy %s: %s", path, p->warnings[i]);
}

int admin_reload_policy_after(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues)
{
        admin_log_policy_warnings(j->pending_policy, v->policy_path);
        policy_free(v->policy);
        v->policy = j->pending_policy;
        j->pending_policy = NULL;
        *ret_params = json_incref(j->reply);
        *ret_continues = false;
        return 0;
}
