/* The access policy (DESIGN §8, docs/policy.md): maps peers, as the kernel
 * reports them (SO_PEERCRED, SO_PEERGROUPS), to roles and collections.
 * Deny by default: a peer no rule names holds no role. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The fixed roles (docs/policy.md). The cosigner carries checkpoints to
 * witnesses and their cosignatures back (the witness poster): consistency
 * proofs and AddCosignatures, none of the auditor's reading. */
enum {
        ROLE_ADMIN = 1u << 0,
        ROLE_AUDITOR = 1u << 1,
        ROLE_SERVICE = 1u << 2,
        ROLE_COSIGNER = 1u << 3,
};

#define POLICY_FILE_MAX (1u << 20)
#define POLICY_ERR_MAX  256

struct policy_rule {
        bool is_group;
        uint32_t id;   /* uid or gid */
        char *name;    /* as written (name or number) */
        bool resolved; /* false when the name is unknown here: the rule grants nothing */
        unsigned roles;
        bool all_collections;
        char **collections;
        size_t ncollections;
        unsigned line;
};

/* One entry of /etc/passwd or /etc/group. */
struct id_name {
        uint32_t id;
        char *name;
};

struct policy {
        struct policy_rule *rules;
        size_t nrules;
        char **warnings; /* "line N: …" for rules that grant nothing */
        size_t nwarnings;
        /* Names come from these files, read when the policy is parsed, not
         * from NSS: the sandboxed daemon must not load or run NSS modules.
         * Accounts known only to a directory service are named by number. */
        struct id_name *users, *groups;
        size_t nusers, ngroups;
};

struct peer_id {
        uid_t uid;
        gid_t gid;
        const gid_t *groups; /* supplementary groups */
        size_t ngroups;
};

/* Parses policy text. On error returns -EINVAL and writes
 * "line N: what is wrong" into err. The caller owns *ret (policy_free). */
int policy_parse(const char *text, size_t len, struct policy **ret, char *err, size_t errlen);
/* Reads and parses a file (at most POLICY_FILE_MAX bytes). */
int policy_load(const char *path, struct policy **ret, char *err, size_t errlen);
void policy_free(struct policy *p);

/* Decides whether peer may act in one of the roles in roles_mask, on
 * collection (NULL when the method has none). Returns 0 and the role name
 * granting it (static string), or -EACCES. */
int policy_check(const struct policy *p, const struct peer_id *peer, unsigned roles_mask,
                 const char *collection, const char **ret_role);
/* Any role the peer holds at all (for the audit actor of a denial). */
unsigned policy_roles(const struct policy *p, const struct peer_id *peer);
/* The name of uid in /etc/passwd as read with the policy, or NULL. */
const char *policy_user_name(const struct policy *p, uid_t uid);
/* Static name of the lowest role bit in mask, or NULL. */
const char *policy_role_name(unsigned mask);
/* A rule in one canonical line, as a policy file could write it: "allow
 * user|group NAME role R[,R…] [collections C[,C…]|*]". Caller frees. */
char *policy_rule_text(const struct policy_rule *r);
