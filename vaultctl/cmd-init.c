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

int cmd_init(struct ctl *ctl, int argc, char **argv)
{
        const char *dir = NULL, *key_file = NULL, *origin = NULL;
        const struct opt opts[] = {
                {"state-dir", &dir},
                {"key-file", &key_file},
                {"origin", &origin},
                {},
        };
        _cleanup_(freep) char *vkey = NULL;
        char id[33], path[4096];
        struct stat st;
        int r;

        args_parse(command_find("init"), argc, argv, opts, NULL, 0, 0);
        if (!dir || !key_file) {
                command_usage(command_find("init"), stderr);
                return EXIT_USAGE;
        }
        if (lstat(key_file, &st) == 0)
                die("%s already exists; refusing to overwrite a root key", key_file);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                die("cannot create %s: %m", dir);
        snprintf(path, sizeof(path), "%s/data.mdb", dir);
        if (lstat(path, &st) == 0)
                die("%s already holds a vault; refusing to overwrite it", dir);
        r = keys_root_create(key_file);
        if (r < 0)
                die("cannot create the root key %s: %s", key_file, strerror(-r));
        r = init_store(dir, key_file, origin, &vkey, id);
        if (r < 0) {
                unlink(key_file);
                snprintf(path, sizeof(path), "%s/data.mdb", dir);
                unlink(path);
                snprintf(path, sizeof(path), "%s/lock.mdb", dir);
                unlink(path);
                die("cannot create the vault in %s: %s", dir, strerror(-r));
        }
        if (ctl->json) {
                json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "vault", id, "state_dir", dir, "key_file",
                                      key_file, "verifier_key", vkey ?: "");
                print_json(o);
                json_decref(o);
        } else
                printf("created vault %s in %s\nroot key: %s (keep it safe and backed up separately)\n"
                       "audit verifier key: %s\n",
                       id, dir, key_file, vkey ?: "?");
        return 0;
}
