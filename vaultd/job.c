#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "reader.h"
#include "vault.h"

int job_fail(struct job *j, const char *error, json_t *params)
{
        j->error = error;
        json_decref(j->error_params);
        j->error_params = params ? params : json_object();
        return JOB_FAILED;
}

int job_invalid(struct job *j, const char *iface, const char *parameter, const char *reason)
{
        /* Error names are static strings: pick the interface's own. */
        if (strcmp(iface, "io.vaultd.records") == 0)
                j->error = "io.vaultd.records.InvalidParameter";
        else if (strcmp(iface, "io.vaultd.audit") == 0)
                j->error = "io.vaultd.audit.InvalidParameter";
        else
                j->error = "io.vaultd.admin.InvalidParameter";
        json_decref(j->error_params);
        j->error_params = json_pack("{s:s,s:s}", "parameter", parameter, "reason", reason);
        return JOB_FAILED;
}

void job_reset(struct job *j)
{
        if (j->body_held) { /* a body, perhaps of 0 bytes */
                if (j->body)
                        sodium_memzero(j->body, j->body_len);
                free(j->body);
                __atomic_sub_fetch(j->body_held, j->body_len, __ATOMIC_RELAXED);
                if (j->holds_large)
                        __atomic_sub_fetch(j->conn_large, 1, __ATOMIC_RELAXED);
                j->holds_large = false;
                j->body = NULL;
                j->body_held = NULL;
                j->body_len = j->body_off = 0;
        }
        j->wait_turn = false;
        json_decref(j->reply);
        json_decref(j->error_params);
        json_decref(j->audit.extra);
        j->reply = NULL;
        j->error = NULL;
        j->error_params = NULL;
        j->audit = (struct job_audit){.version = -1};
}

void job_free(struct job *j)
{
        if (!j)
                return;
        job_reset(j);
        json_decref(j->call.root);
        json_decref(j->preset_error_params);
        json_decref(j->denial_summary);
        if (j->has_fd)
                close(j->fd);
        policy_free(j->pending_policy);
        reader_task_cancel(j->reader_task);
        if (j->verify_claim)
                reader_release(j->verify_claim, j);
        free((char *)j->actor.user);
        if (j->out) {
                sodium_memzero(j->out, j->out_len);
                free(j->out);
        }
        free(j);
}

int param_string(struct job *j, const char *iface, const char *name, bool required, const char **ret)
{
        json_t *v = json_object_get(j->call.parameters, name);

        if (!v || json_is_null(v)) {
                *ret = NULL;
                return required ? job_invalid(j, iface, name, "is required") : 0;
        }
        if (!json_is_string(v))
                return job_invalid(j, iface, name, "must be a string");
        *ret = json_string_value(v);
        return 0;
}

int param_uint(struct job *j, const char *iface, const char *name, bool required, uint64_t max,
               uint64_t *ret, bool *ret_present)
{
        json_t *v = json_object_get(j->call.parameters, name);

        if (ret_present)
                *ret_present = v && !json_is_null(v);
        if (!v || json_is_null(v))
                return required ? job_invalid(j, iface, name, "is required") : 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
                char reason[64];
                snprintf(reason, sizeof(reason), "must be an integer from 0 to %llu",
                         (unsigned long long)max);
                return job_invalid(j, iface, name, reason);
        }
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}
