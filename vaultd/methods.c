#include "methods.h"

#include <errno.h>
#include <string.h>

#include "admin.h"
#include "auditapi.h"
#include "auditprove.h"
#include "auditread.h"
#include "backup.h"
#include "collections.h"
#include "cosignatures.h"
#include "dispose.h"
#include "findindex.h"
#include "keyadmin.h"
#include "pseudonym.h"
#include "records.h"
#include "reindex.h"
#include "util.h"

static int service_get_info(struct vault *v, struct job *j)
{
        json_t *names = json_array();

        (void)v;
        for (size_t i = 0; interface_names[i]; i++)
                json_array_append_new(names, json_string(interface_names[i]));
        j->reply =
                json_pack("{s:s,s:s,s:s,s:s,s:o}", "vendor", "vaultd project", "product", "vaultd",
                          "version", VAULTD_VERSION, "url", "https://vaultd.invalid/", "interfaces", names);
        return j->reply ? 0 : -ENOMEM;
}

static int service_get_interface_description(struct vault *v, struct job *j)
{
        const char *name, *text;
        int r;

        (void)v;
        if ((r = param_string(j, "org.varlink.service", "interface", true, &name)) != 0)
                return job_fail(j, "org.varlink.service.InvalidParameter",
                                json_pack("{s:s}", "parameter", "interface"));
        text = interface_description(name);
        if (!text)
                return job_fail(j, "org.varlink.service.InterfaceNotFound",
                                json_pack("{s:s}", "interface", name));
        j->reply = json_pack("{s:s}", "description", text);
        return j->reply ? 0 : -ENOMEM;
}

#define AUDIT_ROLES (ROLE_AUDITOR | ROLE_ADMIN)

/* Prove as a cosigner may call it: a consistency proof (old_size, and
 * size or not), which brings hashes and the signed checkpoints only. A
 * line's proof (seq) or a record's (collection, id) shows what the trail
 * holds: that is the auditor's. A null stands for an absent parameter, as
 * the handler reads it. */
static bool prove_consistency_only(json_t *params)
{
        json_t *v = json_object_get(params, "old_size");
        const char *key;

        if (!v || json_is_null(v))
                return false;
        json_object_foreach(params, key, v)
        {
                if (!json_is_null(v) && strcmp(key, "old_size") != 0 && strcmp(key, "size") != 0)
                        return false;
        }
        return true;
}

static const struct method methods[] = {
        {"org.varlink.service.GetInfo", NULL, .direct = service_get_info},
        {"org.varlink.service.GetInterfaceDescription", NULL, .direct = service_get_interface_description},
        {"io.vaultd.records.Put", "records.put", pseudonym_put, .roles = ROLE_SERVICE, .scoped = true,
         .needs_keys = true, .large_message = true},
        {"io.vaultd.records.Get", "records.get", pseudonym_get, .roles = ROLE_SERVICE, .scoped = true,
         .needs_keys = true},
        {"io.vaultd.records.Delete", "records.delete", pseudonym_delete, .roles = ROLE_SERVICE,
         .scoped = true, .needs_keys = true},
        {"io.vaultd.records.List", "records.list", pseudonym_list, .roles = ROLE_SERVICE, .scoped = true,
         .needs_keys = true},
        {"io.vaultd.records.History", "records.history", pseudonym_history, .roles = ROLE_SERVICE,
         .scoped = true, .needs_keys = true},
        {"io.vaultd.records.Find", "records.find", pseudonym_find, .roles = ROLE_SERVICE | ROLE_ADMIN,
         .scoped = true, .needs_keys = true},
        {"io.vaultd.records.CreateCollection", "records.create-collection", collections_create,
         .roles = ROLE_ADMIN},
        {"io.vaultd.records.SetCollection", "records.set-collection", collections_set, .roles = ROLE_ADMIN},
        {"io.vaultd.records.GetCollection", "records.get-collection", collections_get,
         .roles = ROLE_ADMIN | ROLE_AUDITOR | ROLE_SERVICE, .scoped = true},
        {"io.vaultd.records.ListCollections", "records.list-collections", collections_list,
         .roles = ROLE_ADMIN | ROLE_AUDITOR | ROLE_SERVICE},
        {"io.vaultd.records.SetHold", "records.set-hold", pseudonym_set_hold, .roles = ROLE_ADMIN},
        {"io.vaultd.records.ListHolds", "records.list-holds", dispose_list_holds, .roles = AUDIT_ROLES},
        {"io.vaultd.records.Due", "records.due", dispose_due, .roles = AUDIT_ROLES},
        {"io.vaultd.records.Dispose", "records.dispose", pseudonym_dispose, .roles = ROLE_ADMIN},
        /* Each of its records' tags is an entry on a page of its own, at
         * worst: 9 pages a record. */
        {"io.vaultd.records.RebuildIndex", "records.rebuild-index", reindex_rebuild, .roles = ROLE_ADMIN,
         .needs_keys = true, .writes = REINDEX_RECORDS_MAX * (COLLECTION_INDEX_MAX + 1) * 4096},
        {"io.vaultd.audit.Head", "audit.head", auditapi_head, .roles = AUDIT_ROLES},
        {"io.vaultd.audit.Export", "audit.export", auditapi_export, .reader = &auditread_export,
         .roles = AUDIT_ROLES, .needs_more = true, .incremental = true, .checkpoint = true},
        {"io.vaultd.audit.Verify", "audit.verify", auditapi_verify, .reader = &auditread_verify,
         .roles = AUDIT_ROLES, .incremental = true},
        /* One name, one entry: the cosigner (the witness poster) is allowed
         * Prove for consistency proofs only, a rule on the call's
         * parameters that method_authorise applies before the call is
         * queued, so a line's or a record's proof asked by a cosigner is
         * denied, and audited, like any call its role does not allow. */
        {"io.vaultd.audit.Prove", "audit.prove", pseudonym_prove, .roles = AUDIT_ROLES | ROLE_COSIGNER,
         .narrow_roles = ROLE_COSIGNER, .narrow_ok = prove_consistency_only},
        /* Auditors and cosigners too: the poster that carries requests to
         * witnesses needs no admin role (docs/witnesses.md). */
        {"io.vaultd.audit.AddCosignatures", "audit.add-cosignatures", cosign_add,
         .roles = AUDIT_ROLES | ROLE_COSIGNER},
        {"io.vaultd.audit.Resolve", "audit.resolve", pseudonym_resolve, .roles = AUDIT_ROLES,
         .needs_keys = true},
        /* Every role; only admins and auditors see more than the state
         * and the version (admin.h). */
        {"io.vaultd.admin.Status", "admin.status", .direct = admin_status,
         .roles = ROLE_ADMIN | ROLE_AUDITOR | ROLE_SERVICE | ROLE_COSIGNER},
        {"io.vaultd.admin.ReloadPolicy", "admin.reload-policy", admin_reload_policy,
         .after = admin_reload_policy_after, .roles = ROLE_ADMIN},
        {"io.vaultd.admin.RotateKey", "admin.rotate-key", keyadmin_rotate,
         .committed = keyadmin_rotate_committed, .roles = ROLE_ADMIN, .needs_keys = true},
        {"io.vaultd.admin.RotateSigningKey", "admin.rotate-signing-key", keyadmin_rotate_signing,
         .committed = keyadmin_rotate_signing_committed, .roles = ROLE_ADMIN, .needs_keys = true,
         .checkpoint = true},
        {"io.vaultd.admin.Rewrap", "admin.rewrap", keyadmin_rewrap, .roles = ROLE_ADMIN, .needs_keys = true},
        {"io.vaultd.admin.ListKeys", "admin.list-keys", keyadmin_list, .roles = ROLE_ADMIN},
        {"io.vaultd.admin.RetireKey", "admin.retire-key", keyadmin_retire,
         .committed = keyadmin_retire_committed, .roles = ROLE_ADMIN, .needs_keys = true},
        {"io.vaultd.admin.Unseal", "admin.unseal", keyadmin_unseal, .roles = ROLE_ADMIN},
        {"io.vaultd.admin.Seal", "admin.seal", keyadmin_seal, .roles = ROLE_ADMIN},
        /* The copy starts once the batch's checkpoint is stored, so it holds a
         * trail signed to its end; the reply follows a second line. */
        {"io.vaultd.admin.Backup", "admin.backup", backup_run, .settled = backup_settled,
         .roles = ROLE_ADMIN, .takes_fd = true, .checkpoint = true},
};

/* Names are compared, stored and audited in NFC (lib/names.h): a name a
 * keyboard composed otherwise is rewritten in the call's parameters before
 * the policy sees it. A string that does not normalise stays as it is, for
 * the handler to refuse. */
static void normalise_names(json_t *params)
{
        static const char *const keys[] = {"collection", "id", "after"};
        char buf[NAME_ID_MAX * 4 + 1];

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_t *v = json_object_get(params, keys[i]);

                if (json_is_string(v) && name_normalise(json_string_value(v), buf, sizeof(buf)) >= 0 &&
                    strcmp(buf, json_string_value(v)) != 0)
                        json_object_set_new(params, keys[i], json_string(buf));
        }
}

bool method_authorise(const struct policy *p, struct job *j)
{
        const struct method *m = j->method;
        unsigned roles = m->roles;
        json_t *coll;
        const char *role = NULL;

        normalise_names(j->call.parameters);
        coll = json_object_get(j->call.parameters, "collection");

        if (m->roles == 0)
                return true;
        if (m->narrow_roles && !m->narrow_ok(j->call.parameters))
                roles &= ~m->narrow_roles;
        /* A scoped method's collection is checked for the service role
         * only: admins and auditors are granted no collections. */
        if (policy_check(p, &j->peer, roles & ~(unsigned)ROLE_SERVICE, NULL, &role) == 0 ||
            ((roles & ROLE_SERVICE) &&
             policy_check(p, &j->peer, ROLE_SERVICE,
                          m->scoped && json_is_string(coll) ? json_string_value(coll) : NULL, &role) == 0)) {
                j->actor.role = role;
                return true;
        }
        j->actor.role = policy_role_name(policy_roles(p, &j->peer));
        return false;
}

int method_find(const char *name, const struct method **ret)
{
        const char *dot = strrchr(name, '.');
        char iface[128];

        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
                if (strcmp(methods[i].name, name) == 0) {
                        *ret = &methods[i];
                        return 0;
                }
        if (!dot || (size_t)(dot - name) >= sizeof(iface))
                return -ESRCH;
        memcpy(iface, name, (size_t)(dot - name));
        iface[dot - name] = '\0';
        return interface_known(iface) ? -ENOENT : -ESRCH;
}

/* The generic errors each interface declares (docs/io.vaultd.*.varlink);
 * org.varlink.service declares none of them (its InvalidParameter has no
 * reason field). */
static const char *const generic_errors[] = {
        "io.vaultd.records.AccessDenied",   "io.vaultd.records.InternalError",
        "io.vaultd.records.IntegrityError", "io.vaultd.records.StorageFull",
        "io.vaultd.audit.AccessDenied",     "io.vaultd.audit.InternalError",
        "io.vaultd.audit.IntegrityError",   "io.vaultd.audit.StorageFull",
        "io.vaultd.admin.AccessDenied",     "io.vaultd.admin.InternalError",
        "io.vaultd.admin.StorageFull",      "io.vaultd.records.InvalidParameter",
        "io.vaultd.audit.InvalidParameter", "io.vaultd.admin.InvalidParameter",
        "io.vaultd.records.Sealed",         "io.vaultd.admin.Sealed",
        "io.vaultd.audit.Sealed",
};

const char *method_error(const struct method *m, const char *short_name)
{
        size_t ilen = (size_t)(strrchr(m->name, '.') - m->name);

        for (size_t i = 0; i < sizeof(generic_errors) / sizeof(generic_errors[0]); i++)
                if (strncmp(generic_errors[i], m->name, ilen) == 0 && generic_errors[i][ilen] == '.' &&
                    strcmp(generic_errors[i] + ilen + 1, short_name) == 0)
                        return generic_errors[i];
        return NULL;
}

int job_fail_errno(struct job *j, int r)
{
        const char *name;

        if (r == -ENOSPC && (name = method_error(j->method, "StorageFull")))
                return job_fail(j, name, json_pack("{s:s}", "reason", "the disk is full"));
        /* Damaged stored data. A record's IntegrityError names the record;
         * elsewhere the damaged item has no declared name: InternalError. */
        if (r == -EIO && j->audit.collection && j->audit.id &&
            (name = method_error(j->method, "IntegrityError")) && strstr(name, ".records."))
                return job_fail(j, name,
                                json_pack("{s:s,s:s,s:I,s:s}", "collection", j->audit.collection, "id",
                                          j->audit.id, "version",
                                          (json_int_t)(j->audit.version > 0 ? j->audit.version : 0),
                                          "reason", "stored data is damaged"));
        name = method_error(j->method, "InternalError");
        if (!name)
                return r;
        return job_fail(j, name,
                        json_pack("{s:s}", "reason",
                                  r == -EIO ? "stored data is damaged (run 'vaultctl audit verify')"
                                            : strerror(-r)));
}
