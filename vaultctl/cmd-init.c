/* vaultctl init: creates the store, the root key file and line 0 of the
 * audit trail. This is the only command that works on the files directly. */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "keys.h"
#include "store.h"
#include "util.h"
#include "vaultctl.h"

static int init_store(const char *dir, const char *key_file, const char *origin, char **ret_vkey,
                      char ret_id[33])
{
        struct vault_store *s = NULL;
        struct vault_keys *k = NULL;
        struct audit_log *log = NULL;
        struct passwd *pw = getpwuid(getuid());
        struct audit_actor actor = {getuid(), getgid(), getpid(), pw ? pw->pw_name : NULL, "admin"};
        MDB_txn *txn;
        int r;

        r = store_open(dir, true, &s);
        if (r < 0)
                return r;
        if ((r = keys_load(key_file, &k)) < 0 || (r = store_begin(s, true, &txn)) < 0)
                goto out;
        if ((r = keys_store_init(k, s, txn)) < 0 || (r = audit_store_init(s, k, txn, &actor, origin)) < 0) {
                mdb_txn_abort(txn);
                goto out;
        }
        if ((r = store_commit(txn)) < 0 || (r = store_begin(s, false, &txn)) < 0)
                goto out;
        r = audit_log_open(s, k, txn, &log);
        mdb_txn_abort(txn);
        if (r == 0) {
                *ret_vkey = strdup(log->vkey);
                memcpy(ret_id, log->vault_id, 33);
        }
out:
        audit_log_free(log);
        keys_free(k);
        store_free(s);
        return r;
}

enum {
        OPT_STATE_DIR = OPT_COMMAND,
        OPT_KEY_FILE,
        OPT_ORIGIN,
};

struct init_args {
        const char *dir, *key_file, *origin;
};

static void init_parse(struct ctl *ctl, int argc, char **argv, struct init_args *a)
{
        static const struct option opts[] = {
                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                {"key-file", required_argument, NULL, OPT_KEY_FILE},
                {"origin", required_argument, NULL, OPT_ORIGIN},
                {},
        };
        int c;

        while ((c = ctl_getopt(ctl, argc, argv, "", opts)) != -1) {
                if (c == OPT_STATE_DIR)
                        a->dir = optarg;
                else if (c == OPT_KEY_FILE)
                        a->key_file = optarg;
                else
                        a->origin = optarg;
        }
        ctl_positional(ctl, argc, argv, 0, 0);
        if (!a->dir || !a->key_file)
                die_usage(ctl, "init needs --state-dir DIR and --key-file FILE");
}

/* Refuses to overwrite a root key or a vault. */
static void init_check(const struct init_args *a)
{
        char path[4096];
        struct stat st;

        if (lstat(a->key_file, &st) == 0)
                die("%s already exists; refusing to overwrite a root key (choose another --key-file)",
                    a->key_file);
        if (mkdir(a->dir, 0700) < 0 && errno != EEXIST)
                die("cannot create %s: %m", a->dir);
        snprintf(path, sizeof(path), "%s/data.mdb", a->dir);
        if (lstat(path, &st) == 0)
                die("%s already holds a vault; refusing to overwrite it (choose another --state-dir)",
                    a->dir);
}

static void init_undo(const struct init_args *a)
{
        char path[4096];

        unlink(a->key_file);
        snprintf(path, sizeof(path), "%s/data.mdb", a->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/lock.mdb", a->dir);
        unlink(path);
}

int cmd_init(struct ctl *ctl, int argc, char **argv)
{
        struct init_args a = {0};
        _cleanup_(freep) char *vkey = NULL;
        char id[33];
        int r;

        init_parse(ctl, argc, argv, &a);
        init_check(&a);
        r = keys_root_create(a.key_file);
        if (r < 0)
                die("cannot create the root key %s: %s", a.key_file, strerror(-r));
        r = init_store(a.dir, a.key_file, a.origin, &vkey, id);
        if (r < 0) {
                init_undo(&a);
                die("cannot create the vault in %s: %s", a.dir, strerror(-r));
        }
        if (ctl->json) {
                json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "vault", id, "state_dir", a.dir, "key_file",
                                      a.key_file, "verifier_key", vkey ?: "");
                print_json(o);
                json_decref(o);
        } else
                printf("created vault %s in %s\nroot key: %s (keep it safe and backed up separately)\n"
                       "audit verifier key: %s\n",
                       id, a.dir, a.key_file, vkey ?: "?");
        return EXIT_SUCCESS;
}
