/* Fuzz target: the policy parser and access checks. */
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct policy *p;
        char err[POLICY_ERR_MAX];
        const char *role;
        gid_t groups[2] = {100, 1000};
        struct peer_id peer = {1000, 1000, groups, 2};

        if (policy_parse((const char *)data, size, &p, err, sizeof(err)) < 0)
                return 0;
        (void)policy_check(p, &peer, ROLE_SERVICE, "c", &role);
        (void)policy_check(p, &peer, ROLE_ADMIN | ROLE_AUDITOR, NULL, &role);
        (void)policy_roles(p, &peer);
        (void)policy_user_name(p, 0);
        policy_free(p);
        return 0;
}
