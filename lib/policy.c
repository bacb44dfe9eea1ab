#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define POLICY_MAX_RULES  4096
#define POLICY_MAX_TOKENS 16
#define ACCOUNTS_FILE_MAX (4u << 20)
#define ACCOUNTS_MAX      65536

static const struct {
        const char *name;
        unsigned bit;
} roles[] = {
        {"admin", ROLE_ADMIN},
        {"auditor", ROLE_AUDITOR},
        {"service", ROLE_SERVICE},
        {"cosigner", ROLE_COSIGNER},
};

const char *policy_role_name(unsigned mask)
{
        for (size_t i = 0; i < ELEMENTSOF(roles); i++)
                if (mask & roles[i].bit)
                        return roles[i].name;
        return NULL;
}

char *policy_rule_text(const struct policy_rule *r)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        const char *sep = "";

        if (!f)
                return NULL;
        fprintf(f, "allow %s %s role ", r->is_group ? "group" : "user", r->name);
        for (size_t i = 0; i < ELEMENTSOF(roles); i++)
                if (r->roles & roles[i].bit) {
                        fprintf(f, "%s%s", sep, roles[i].name);
                        sep = ",";
                }
        if (r->all_collections)
                fputs(" collections *", f);
        else if (r->ncollections) {
                fputs(" collections ", f);
                for (size_t i = 0; i < r->ncollections; i++)
                        fprintf(f, "%s%s", i ? "," : "", r->collections[i]);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static void rule_clear(struct policy_rule *r)
{
        free(r->name);
        for (size_t i = 0; i < r->ncollections; i++)
                free(r->collections[i]);
        free(r->collections);
}

static void id_names_free(struct id_name *t, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(t[i].name);
        free(t);
}

void policy_free(struct policy *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->nrules; i++)
                rule_clear(&p->rules[i]);
        free(p->rules);
        for (size_t i = 0; i < p->nwarnings; i++)
                free(p->warnings[i]);
        free(p->warnings);
        id_names_free(p->users, p->nusers);
        id_names_free(p->groups, p->ngroups);
        free(p);
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, unsigned line,
                                                      const char *fmt, ...)
{
        va_list ap;
        int n = snprintf(err, errlen, "line %u: ", line);

        va_start(ap, fmt);
        if (n > 0 && (size_t)n < errlen)
                vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int parse_number(const char *s, uint32_t *ret)
{
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT32_MAX - 1)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int parse_roles(char *s, unsigned *ret)
{
        unsigned mask = 0;

        for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(roles) && strcmp(t, roles[i].name); i++)
                        ;
                if (i == ELEMENTSOF(roles))
                        return -EINVAL;
                mask |= roles[i].bit;
        }
        if (!mask)
                return -EINVAL;
        *ret = mask;
        return 0;
}

static int parse_collections(struct policy_rule *r, char *s)
{
        if (strcmp(s, "*") == 0) {
                r->all_collections = true;
                return 0;
        }
        for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char nfc[NAME_COLLECTION_MAX + 1];
                char **n;
                /* Compared in NFC, as vaultd keeps every name. */
                if (name_normalise(t, nfc, sizeof(nfc)) < 0 || !name_collection_valid(nfc))
                        return -EINVAL;
                t = nfc;
                n = realloc(r->collections, (r->ncollections + 1) * sizeof(char *));
                if (!n)
                        return -ENOMEM;
                r->collections = n;
                if (!(r->collections[r->ncollections] = strdup(t)))
                        return -ENOMEM;
                r->ncollections++;
        }
        return r->ncollections ? 0 : -EINVAL;
}

/* Reads "name:x:id:..." lines (the passwd and group format). A missing
 * file is an empty table. */
static int id_names_load(const char *path, struct id_name **ret, size_t *ret_n)
{
        _cleanup_(freep) char *text = NULL;
        struct id_name *t = NULL;
        size_t n = 0, len;
        char *line, *save = NULL;
        int k = read_file_max(path, ACCOUNTS_FILE_MAX, &text, &len);

        if (k == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (k < 0)
                return k;
        for (line = strtok_r(text, "\n", &save); line && n < ACCOUNTS_MAX;
             line = strtok_r(NULL, "\n", &save)) {
                char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *c3;
                uint32_t id;
                struct id_name *bigger;

                if (!c2 || !(c3 = strchr(c2 + 1, ':')) || c1 == line)
                        continue;
                *c1 = *c3 = '\0';
                if (parse_number(c2 + 1, &id) < 0)
                        continue;
                bigger = realloc(t, (n + 1) * sizeof(*t));
                if (!bigger || !(bigger[n].name = strdup(line))) {
                        id_names_free(bigger ? bigger : t, n);
                        return -ENOMEM;
                }
                t = bigger;
                t[n++].id = id;
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

/* Resolves a user or group name (or number) to its id. */
static void resolve(const struct policy *p, struct policy_rule *r)
{
        const struct id_name *t = r->is_group ? p->groups : p->users;
        size_t n = r->is_group ? p->ngroups : p->nusers;

        if (parse_number(r->name, &r->id) == 0) {
                r->resolved = true;
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (strcmp(t[i].name, r->name) == 0) {
                        r->id = t[i].id;
                        r->resolved = true;
                        return;
                }
}

const char *policy_user_name(const struct policy *p, uid_t uid)
{
        for (size_t i = 0; p && i < p->nusers; i++)
                if (p->users[i].id == uid)
                        return p->users[i].name;
        return NULL;
}

static int add_warning(struct policy *p, unsigned line, const char *what, const char *name)
{
        char **n = realloc(p->warnings, (p->nwarnings + 1) * sizeof(char *));

        if (!n)
                return -ENOMEM;
        p->warnings = n;
        if (asprintf(&p->warnings[p->nwarnings],
                     "line %u: no %s named '%s' on this system; the rule "
                     "grants nothing",
                     line, what, name) < 0)
                return -ENOMEM;
        p->nwarnings++;
        return 0;
}

/* One rule: allow (user|group) NAME role ROLES [collections LIST|*] */
static int parse_rule(struct policy *p, char **tok, size_t ntok, unsigned line, char *err, size_t errlen)
{
        struct policy_rule r = {.line = line};
        int k;

        if (strcmp(tok[0], "allow") != 0)
                return fail(err, errlen, line, "unknown keyword '%s' (expected 'allow')", tok[0]);
        if (ntok != 5 && ntok != 7)
                return fail(err, errlen, line,
                            "expected 'allow user|group NAME role ROLE[,ROLE] "
                            "[collections NAME[,NAME]|*]'");
        if (strcmp(tok[1], "user") != 0 && strcmp(tok[1], "group") != 0)
                return fail(err, errlen, line, "expected 'user' or 'group', not '%s'", tok[1]);
        if (strcmp(tok[3], "role") != 0)
                return fail(err, errlen, line, "expected 'role', not '%s'", tok[3]);
        r.is_group = tok[1][0] == 'g';
        if (parse_roles(tok[4], &r.roles) < 0)
                return fail(err, errlen, line,
                            "unknown role in '%s' (roles: admin, auditor, service, cosigner)", tok[4]);
        if (ntok == 7) {
                if (strcmp(tok[5], "collections") != 0)
                        return fail(err, errlen, line, "expected 'collections', not '%s'", tok[5]);
                k = parse_collections(&r, tok[6]);
                if (k < 0) {
                        rule_clear(&r);
                        return k == -ENOMEM ? k : fail(err, errlen, line, "invalid collection list");
                }
        }
        if ((r.roles & ROLE_SERVICE) && !r.all_collections && r.ncollections == 0) {
                rule_clear(&r);
                return fail(err, errlen, line,
                            "the service role needs 'collections LIST' or "
                            "'collections *'");
        }
        if (!(r.name = strdup(tok[2]))) {
                rule_clear(&r);
                return -ENOMEM;
        }
        resolve(p, &r);
        if (!r.resolved && (k = add_warning(p, line, r.is_group ? "group" : "user", r.name)) < 0) {
                rule_clear(&r);
                return k;
        }
        p->rules[p->nrules++] = r;
        return 0;
}

static int parse_line(struct policy *p, char *s, unsigned line, char *err, size_t errlen)
{
        char *tok[POLICY_MAX_TOKENS], *hash = strchr(s, '#');
        size_t ntok = 0;

        if (hash)
                *hash = '\0';
        for (char *save = NULL, *t = strtok_r(s, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
                if (ntok == POLICY_MAX_TOKENS)
                        return fail(err, errlen, line, "too many words");
                tok[ntok++] = t;
        }
        if (ntok == 0)
                return 0;
        if (p->nrules == POLICY_MAX_RULES)
                return fail(err, errlen, line, "more than %d rules", POLICY_MAX_RULES);
        if (p->nrules % 64 == 0) {
                struct policy_rule *bigger = realloc(p->rules, (p->nrules + 64) * sizeof(*p->rules));
                if (!bigger)
                        return -ENOMEM;
                p->rules = bigger;
        }
        return parse_rule(p, tok, ntok, line, err, errlen);
}

int policy_parse(const char *text, size_t len, struct policy **ret, char *err, size_t errlen)
{
        _cleanup_(freep) char *copy = NULL;
        struct policy *p;
        unsigned line = 0;
        char *s, *nl;
        int k = 0;

        if (len > POLICY_FILE_MAX)
                return fail(err, errlen, 0, "policy is larger than %u bytes", POLICY_FILE_MAX);
        if (memchr(text, '\0', len))
                return fail(err, errlen, 0, "policy contains a NUL byte");
        copy = strndup(text, len);
        p = calloc(1, sizeof(*p));
        if (!copy || !p) {
                policy_free(p);
                return -ENOMEM;
        }
        if ((k = id_names_load("/etc/passwd", &p->users, &p->nusers)) < 0 ||
            (k = id_names_load("/etc/group", &p->groups, &p->ngroups)) < 0) {
                snprintf(err, errlen, "cannot read /etc/passwd or /etc/group: %s", strerror(-k));
                policy_free(p);
                return k;
        }
        for (s = copy; s && k == 0; s = nl) {
                nl = strchr(s, '\n');
                if (nl)
                        *nl++ = '\0';
                k = parse_line(p, s, ++line, err, errlen);
        }
        if (k < 0) {
                policy_free(p);
                return k;
        }
        *ret = p;
        return 0;
}

int policy_load(const char *path, struct policy **ret, char *err, size_t errlen)
{
        _cleanup_(freep) char *text = NULL;
        size_t len;
        int k = read_file_max(path, POLICY_FILE_MAX, &text, &len);

        if (k == -EINVAL)
                snprintf(err, errlen, "cannot read %s: not a regular file (replace it with the policy file)",
                         path);
        else if (k < 0)
                snprintf(err, errlen, "cannot read %s: %s", path, strerror(-k));
        if (k < 0)
                return k;
        return policy_parse(text, len, ret, err, errlen);
}

static bool rule_matches(const struct policy_rule *r, const struct peer_id *peer)
{
        if (!r->resolved)
                return false;
        if (!r->is_group)
                return r->id == peer->uid;
        if (r->id == peer->gid)
                return true;
        for (size_t i = 0; i < peer->ngroups; i++)
                if (peer->groups[i] == r->id)
                        return true;
        return false;
}

static bool rule_has_collection(const struct policy_rule *r, const char *collection)
{
        if (r->all_collections)
                return true;
        for (size_t i = 0; i < r->ncollections; i++)
                if (strcmp(r->collections[i], collection) == 0)
                        return true;
        return false;
}

int policy_check(const struct policy *p, const struct peer_id *peer, unsigned roles_mask,
                 const char *collection, const char **ret_role)
{
        for (size_t i = 0; p && i < p->nrules; i++) {
                const struct policy_rule *r = &p->rules[i];
                unsigned both = r->roles & roles_mask;

                if (!both || !rule_matches(r, peer))
                        continue;
                if (collection && !rule_has_collection(r, collection))
                        continue;
                *ret_role = policy_role_name(both);
                return 0;
        }
        return -EACCES;
}

unsigned policy_roles(const struct policy *p, const struct peer_id *peer)
{
        unsigned mask = 0;

        for (size_t i = 0; p && i < p->nrules; i++)
                if (rule_matches(&p->rules[i], peer))
                        mask |= p->rules[i].roles;
        return mask;
}
