/* Unit tests for lib/policy.c: parsing the policy file and deciding who may
 * act in which role on which collection. Rules name numeric ids so the tests
 * do not depend on the accounts of the machine, except root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "util.h"

#define SHIPPED_POLICY "policy/vaultd.policy"

static struct policy *parse_ok(const char *text)
{
        struct policy *p = NULL;
        char err[POLICY_ERR_MAX] = "";

        if (policy_parse(text, strlen(text), &p, err, sizeof(err)) < 0)
                fail_msg("policy_parse failed: %s\n--- policy:\n%s", err, text);
        assert_non_null(p);
        return p;
}

/* The role policy_check grants, or NULL when it denies. */
static const char *check(const struct policy *p, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
                         unsigned roles_mask, const char *collection)
{
        const struct peer_id peer = {.uid = uid, .gid = gid, .groups = groups, .ngroups = ngroups};
        const char *role = NULL;
        int k = policy_check(p, &peer, roles_mask, collection, &role);

        if (k < 0) {
                assert_int_equal(k, -EACCES);
                return NULL;
        }
        assert_int_equal(k, 0);
        assert_non_null(role);
        return role;
}

static void test_shipped_policy(void **state)
{
        _cleanup_(freep) char *text = NULL;
        struct policy *p = NULL;
        char err[POLICY_ERR_MAX] = "";
        size_t len;
        const char *role;

        (void)state;
        assert_true(read_file_max(SHIPPED_POLICY, POLICY_FILE_MAX, &text, &len) > 0);
        if (policy_parse(text, len, &p, err, sizeof(err)) < 0)
                fail_msg("%s: %s", SHIPPED_POLICY, err);
        assert_int_equal(p->nrules, 4);
        /* root is an administrator and nothing else. */
        role = check(p, 0, 0, NULL, 0, ROLE_ADMIN, NULL);
        assert_non_null(role);
        assert_string_equal(role, "admin");
        assert_null(check(p, 0, 0, NULL, 0, ROLE_SERVICE, "ho-ngheo"));
        assert_null(check(p, 0, 0, NULL, 0, ROLE_AUDITOR, NULL));
        /* The example service rules are commented out. */
        for (size_t i = 0; i < p->nrules; i++)
                assert_false(p->rules[i].roles & ROLE_SERVICE);
        /* The witness poster's group holds the cosigner role alone. */
        assert_true(p->rules[3].is_group);
        assert_string_equal(p->rules[3].name, "vaultd-witness");
        assert_int_equal(p->rules[3].roles, ROLE_COSIGNER);
        policy_free(p);

        /* policy_load reads the same file. */
        p = NULL;
        assert_int_equal(policy_load(SHIPPED_POLICY, &p, err, sizeof(err)), 0);
        assert_int_equal(p->nrules, 4);
        policy_free(p);
}

static void test_parse_errors(void **state)
{
        /* The broken line comes after three good ones, so it is line 4. */
        static const char prefix[] = "# a comment\n\nallow user 1234 role admin\n";
        static const char *const bad[] = {
                "deny user 1234 role admin\n",                         /* unknown keyword */
                "allow user 1234 role superuser\n",                    /* unknown role */
                "allow user 1234 role admin,root\n",                   /* one role unknown */
                "allow user 1234 as admin\n",                          /* missing 'role' */
                "allow user 1234 role service\n",                      /* no collections */
                "allow user 1234 role service collections Bad!Name\n", /* bad collection */
                "allow user 1234 role service collections a,B\n",      /* one bad of two */
                "allow user 1234 role service collections ,\n",        /* empty list */
                "allow user 1234 role admin collections ,\n",          /* empty list */
                "allow user 1234 role service collection a\n",         /* 'collections' typo */
                "allow user 1234 role\n",                              /* too few words */
                "allow user\n",                                        /* too few words */
                "allow user 1234 role admin collections\n",            /* six words */
                "allow uzer 1234 role admin\n",                        /* not user or group */
                "allow user 1234 role admin # fine\nallow\n",          /* error on line 5 */
                "allow user 1234 role service collections a b\n",      /* eight words */
                "deny user 1234 role admin",                           /* no final newline */
                "allow user 1234 role cosigners\n",                    /* a role misspelt */
                "allow user 1234 role Cosigner\n",                     /* roles are lower case */
        };
        char text[512], err[POLICY_ERR_MAX], want[32];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct policy *p = NULL;
                unsigned line = strstr(bad[i], "# fine") ? 5 : 4;

                snprintf(text, sizeof(text), "%s%s", prefix, bad[i]);
                err[0] = '\0';
                assert_int_equal(policy_parse(text, strlen(text), &p, err, sizeof(err)), -EINVAL);
                assert_null(p);
                snprintf(want, sizeof(want), "line %u: ", line);
                if (strncmp(err, want, strlen(want)) != 0)
                        fail_msg("for %s: error \"%s\" does not start with \"%s\"", bad[i], err, want);
                /* Something is said after the line number. */
                assert_true(strlen(err) > strlen(want));
        }
}

static void test_uid_rule(void **state)
{
        struct policy *p = parse_ok("allow user 1234 role admin\n");
        const struct peer_id peer = {.uid = 1234, .gid = 100};
        const char *role;

        (void)state;
        role = check(p, 1234, 100, NULL, 0, ROLE_ADMIN, NULL);
        assert_non_null(role);
        assert_string_equal(role, "admin");
        role = check(p, 1234, 100, NULL, 0, ROLE_ADMIN | ROLE_AUDITOR, NULL);
        assert_non_null(role);
        assert_string_equal(role, "admin");
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, NULL));
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "a"));
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_AUDITOR, NULL));
        /* Another user, and a user whose gid happens to be 1234. */
        assert_null(check(p, 1235, 100, NULL, 0, ROLE_ADMIN, NULL));
        assert_null(check(p, 1000, 1234, (const gid_t[]){1234}, 1, ROLE_ADMIN, NULL));
        assert_int_equal(policy_roles(p, &peer), ROLE_ADMIN);
        policy_free(p);
}

static void test_group_rule(void **state)
{
        struct policy *p = parse_ok("allow group 2000 role auditor\n");
        const char *role;

        (void)state;
        role = check(p, 1000, 2000, NULL, 0, ROLE_AUDITOR, NULL);
        assert_non_null(role);
        assert_string_equal(role, "auditor");
        role = check(p, 1000, 100, (const gid_t[]){10, 2000, 30}, 3, ROLE_AUDITOR, NULL);
        assert_non_null(role);
        assert_string_equal(role, "auditor");
        assert_null(check(p, 1000, 100, (const gid_t[]){10, 30}, 2, ROLE_AUDITOR, NULL));
        assert_null(check(p, 1000, 2000, NULL, 0, ROLE_ADMIN, NULL));
        /* A uid equal to the gid is not membership. */
        assert_null(check(p, 2000, 100, NULL, 0, ROLE_AUDITOR, NULL));
        policy_free(p);
}

static void test_service_collections(void **state)
{
        struct policy *p = parse_ok("allow user 1234 role service collections a,b\n");
        const char *role;

        (void)state;
        role = check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "a");
        assert_non_null(role);
        assert_string_equal(role, "service");
        assert_non_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "b"));
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "c"));
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "ab"));
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, ""));
        assert_null(check(p, 4321, 100, NULL, 0, ROLE_SERVICE, "a"));
        assert_null(check(p, 1234, 100, NULL, 0, ROLE_ADMIN, "a"));
        policy_free(p);
}

static void test_all_collections(void **state)
{
        struct policy *p = parse_ok("allow user 1234 role service collections *\n");
        const char *role;

        (void)state;
        role = check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "anything");
        assert_non_null(role);
        assert_string_equal(role, "service");
        assert_non_null(check(p, 1234, 100, NULL, 0, ROLE_SERVICE, "tre-em"));
        assert_null(check(p, 1235, 100, NULL, 0, ROLE_SERVICE, "anything"));
        policy_free(p);
}

static void test_unknown_name_warns(void **state)
{
        static const char text[] = "allow user root role admin\n"
                                   "allow user no-such-user.vaultd-test role admin\n"
                                   "allow group no-such-group.vaultd-test role auditor\n";
        struct policy *p;
        const char *role;

        (void)state;
        p = parse_ok("allow user no-such-user.vaultd-test role admin,auditor\n");
        assert_int_equal(p->nwarnings, 1);
        assert_non_null(strstr(p->warnings[0], "line 1:"));
        assert_non_null(strstr(p->warnings[0], "no-such-user.vaultd-test"));
        assert_int_equal(p->nrules, 1);
        assert_false(p->rules[0].resolved);
        /* It grants nothing, to anyone (the id field is left at 0: not root). */
        for (uid_t uid = 0; uid < 3; uid++) {
                const struct peer_id peer = {.uid = uid, .gid = uid};

                assert_null(check(p, uid, uid, NULL, 0, ROLE_ADMIN | ROLE_AUDITOR, NULL));
                assert_int_equal(policy_roles(p, &peer), 0);
        }
        assert_null(check(p, 65534, 65534, NULL, 0, ROLE_ADMIN, NULL));
        policy_free(p);

        /* root is known everywhere; each unknown name warns once, naming its line. */
        p = parse_ok(text);
        assert_int_equal(p->nwarnings, 2);
        assert_int_equal(strncmp(p->warnings[0], "line 2:", 7), 0);
        assert_int_equal(strncmp(p->warnings[1], "line 3:", 7), 0);
        role = check(p, 0, 0, NULL, 0, ROLE_ADMIN, NULL);
        assert_non_null(role);
        assert_string_equal(role, "admin");
        assert_null(check(p, 0, 0, NULL, 0, ROLE_AUDITOR, NULL));
        policy_free(p);
}

/* The cosigner role: a name in the language, its own bit, its name back
 * from policy_check and policy_role_name, and its place in a rule's text. */
static void test_cosigner_role(void **state)
{
        struct policy *p = parse_ok("allow group 3000 role cosigner\n"
                                    "allow user 1234 role cosigner,auditor\n");
        const struct peer_id witness = {
                .uid = 900, .gid = 100, .groups = (const gid_t[]){3000}, .ngroups = 1};
        static const char unknown[] = "allow user 1 role witness\n";
        char err[POLICY_ERR_MAX] = "";
        struct policy *bad = NULL;
        char *text;
        const char *role;

        (void)state;
        assert_int_equal(p->nrules, 2);
        assert_int_equal(p->rules[0].roles, ROLE_COSIGNER);
        assert_int_equal(p->rules[1].roles, ROLE_COSIGNER | ROLE_AUDITOR);
        assert_string_equal(policy_role_name(ROLE_COSIGNER), "cosigner");
        /* A member of the group: the cosigner role and nothing else. */
        role = check(p, 900, 100, (const gid_t[]){3000}, 1, ROLE_COSIGNER, NULL);
        assert_non_null(role);
        assert_string_equal(role, "cosigner");
        role = check(p, 900, 100, (const gid_t[]){3000}, 1, ROLE_ADMIN | ROLE_AUDITOR | ROLE_COSIGNER, NULL);
        assert_non_null(role);
        assert_string_equal(role, "cosigner");
        assert_null(check(p, 900, 100, (const gid_t[]){3000}, 1, ROLE_ADMIN | ROLE_AUDITOR, NULL));
        assert_null(check(p, 900, 100, (const gid_t[]){3000}, 1, ROLE_SERVICE, "a"));
        assert_null(check(p, 900, 100, NULL, 0, ROLE_COSIGNER, NULL));
        assert_int_equal(policy_roles(p, &witness), ROLE_COSIGNER);
        /* Holding both, the auditor's is named where it grants. */
        role = check(p, 1234, 100, NULL, 0, ROLE_ADMIN | ROLE_AUDITOR | ROLE_COSIGNER, NULL);
        assert_non_null(role);
        assert_string_equal(role, "auditor");
        role = check(p, 1234, 100, NULL, 0, ROLE_COSIGNER, NULL);
        assert_non_null(role);
        assert_string_equal(role, "cosigner");
        /* Canonical text, roles in their fixed order. */
        text = policy_rule_text(&p->rules[0]);
        assert_string_equal(text, "allow group 3000 role cosigner");
        free(text);
        text = policy_rule_text(&p->rules[1]);
        assert_string_equal(text, "allow user 1234 role auditor,cosigner");
        free(text);
        policy_free(p);

        /* An unknown role's error lists the roles, the cosigner among them. */
        assert_int_equal(policy_parse(unknown, strlen(unknown), &bad, err, sizeof(err)), -EINVAL);
        assert_null(bad);
        assert_non_null(strstr(err, "admin, auditor, service, cosigner"));
}

static void test_comments_and_blank_lines(void **state)
{
        static const char text[] = "# header comment\n"
                                   "\n"
                                   "   \t  \n"
                                   "  # indented comment\n"
                                   "allow user 1234 role admin   # trailing comment\n"
                                   "#allow user 5678 role admin\n"
                                   "\tallow\tgroup 2000  role service collections a\r\n"
                                   "\n";
        struct policy *p = parse_ok(text);

        (void)state;
        assert_int_equal(p->nrules, 2);
        assert_int_equal(p->nwarnings, 0);
        assert_int_equal(p->rules[0].line, 5);
        assert_int_equal(p->rules[1].line, 7);
        assert_non_null(check(p, 1234, 100, NULL, 0, ROLE_ADMIN, NULL));
        assert_null(check(p, 5678, 100, NULL, 0, ROLE_ADMIN, NULL));
        assert_non_null(check(p, 1, 2000, NULL, 0, ROLE_SERVICE, "a"));
        policy_free(p);

        /* Nothing but comments: a valid policy that grants nothing. */
        p = parse_ok("# nothing\n\n");
        assert_int_equal(p->nrules, 0);
        assert_null(check(p, 0, 0, NULL, 0, ROLE_ADMIN, NULL));
        policy_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shipped_policy),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_uid_rule),
                cmocka_unit_test(test_group_rule),
                cmocka_unit_test(test_service_collections),
                cmocka_unit_test(test_all_collections),
                cmocka_unit_test(test_unknown_name_warns),
                cmocka_unit_test(test_cosigner_role),
                cmocka_unit_test(test_comments_and_blank_lines),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
