/* vaultd: the records vault daemon. Start-up order follows DESIGN §3. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keystore.h"
#include "passphrase.h"
#include "cosign.h"
#include "log.h"
#include "auditree.h"
#include "recmigrate.h"
#include "records.h"
#include "restore.h"
#include "sandbox.h"
#include "server.h"
#include "util.h"

struct options {
        const char *state_dir, *socket_path, *key_file, *policy_path, *user;
        const char *generate_key;                       /* --generate-key FILE: write a key, then exit */
        const char *passphrase_file;                    /* seal the new key by the passphrase in this file */
        const char *new_key_file, *new_passphrase_file; /* --rekey */
        bool rekey;
        const char *restore;   /* --restore FILE: install a backup, then exit */
        const char *witnesses; /* --witnesses FILE */
        bool force;            /* --restore over an existing store */
        bool passphrase;       /* seal the new key by a passphrase asked for */
        struct server_config server;
        size_t body_max;
        bool allow_root, no_sandbox, init_if_empty, init_only, allow_user_namespace;
        bool accept_rollback; /* start although the store is behind what was published */
};

/* systemd's LoadCredential=/LoadCredentialEncrypted= puts the key here. */
#define CREDENTIAL_NAME "vaultd.key"

static void usage(FILE *f)
{
        fprintf(f, "Usage: vaultd --state-dir DIR --key-file FILE --policy FILE [--socket PATH] [options]\n"
                   "       vaultd --generate-key FILE\n"
                   "       vaultd --restore FILE --state-dir DIR [--force]\n"
                   "\n"
                   "Serves the records vault in DIR on a Unix socket (varlink). SIGTERM or SIGINT\n"
                   "stop it cleanly; SIGHUP reloads the policy. With --init-if-empty, an empty DIR\n"
                   "gets a new vault under the root key (as the systemd unit does on first start).\n"
                   "\n"
                   "  --state-dir DIR         the vault's directory (LMDB store)\n"
                   "  --key-file FILE         root key file (mode 0600); $CREDENTIALS_DIRECTORY/\n"
                   "                          vaultd.key, when present, is used instead\n"
                   "  --policy FILE           access policy (see policy/vaultd.policy)\n"
                   "  --socket PATH           socket to listen on [/run/vaultd/vaultd.sock]\n"
                   "  --init-if-empty         create the vault when DIR is empty (first start)\n"
                   "  --init                  create the vault in DIR (empty or missing) and exit;\n"
                   "                          needs only --state-dir and --key-file\n"
                   "  --generate-key FILE     write a new random root key to FILE (mode 0600,\n"
                   "                          never overwritten) and exit\n"
                   "  --passphrase            with --generate-key: seal the key by a passphrase,\n"
                   "                          asked twice on the terminal (vaultd then starts\n"
                   "                          sealed, until 'vaultctl unseal')\n"
                   "  --passphrase-file FILE  the same, with the passphrase in FILE's first line\n"
                   "  --rekey                 with vaultd stopped: put the vault's keys under the\n"
                   "                          root key of --new-key-file (made with --generate-key),\n"
                   "                          then exit; the old key file no longer opens it\n"
                   "  --new-key-file FILE     the new root key file for --rekey\n"
                   "  --new-passphrase-file FILE  its passphrase, when it is sealed\n"
                   "  --accept-rollback       start although the store is older than (or forked\n"
                   "                          from) the last checkpoint published in DIR, as after\n"
                   "                          restoring a backup; the trail records it\n"
                   "  --restore FILE          with vaultd stopped: verify the backup FILE (vaultctl\n"
                   "                          backup) and install it as the vault in DIR, then\n"
                   "                          exit; its first new audit line records the restore\n"
                   "  --force                 with --restore: replace a vault DIR already holds\n"
                   "                          (kept beside it as data.mdb.replaced-TIME)\n"
                   "  --max-body BYTES        largest record body [16777216]\n"
                   "  --max-connections N     concurrent clients [256]\n"
                   "  --max-connections-per-user N  per peer uid [64]\n"
                   "  --max-pending N         calls in flight per client [64]\n"
                   "  --request-timeout SEC   time a client has to send one message [10]\n"
                   "  --idle-timeout SEC      idle clients are disconnected after [600]\n"
                   "  --write-timeout SEC     clients must read 1 MiB of their waiting replies\n"
                   "                          (or all of them) in each SEC, or are cut off [30]\n"
                   "  --memory-budget BYTES   queued calls and unsent replies, all clients [67108864]\n"
                   "  --denial-window SEC     one audit line per role-less uid and method per [1]\n"
                   "  --user NAME             user to switch to when started as root [vaultd]\n"
                   "  --allow-root            keep running as root (not recommended)\n"
                   "  --witnesses FILE        the witnesses whose cosignatures the vault keeps, one\n"
                   "                          verifier key per line [witnesses beside --policy,\n"
                   "                          when there is one]: others, and forged ones, are\n"
                   "                          refused\n"
                   "  --allow-user-namespace  serve although uids are remapped (a user namespace):\n"
                   "                          only when every caller shares vaultd's namespace\n"
                   "  --no-sandbox            no seccomp filter or limits (debugging only)\n"
                   "  -h, --help              this text\n"
                   "  --version               print the version and exit\n");
}

static int parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || !*s || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A key passed as a systemd credential takes the place of --key-file. */
static void use_credential(struct options *o)
{
        static char path[4096];
        const char *dir = getenv("CREDENTIALS_DIRECTORY");

        if (dir && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, CREDENTIAL_NAME) < sizeof(path) &&
            access(path, F_OK) == 0)
                o->key_file = path;
}

static int parse_args(int argc, char **argv, struct options *o)
{
        enum {
                O_STATE = 256,
                O_SOCKET,
                O_KEY,
                O_POLICY,
                O_BODY,
                O_CONN,
                O_PEND,
                O_REQ,
                O_IDLE,
                O_WRITE,
                O_CONN_USER,
                O_USER,
                O_ALLOW_ROOT,
                O_NO_SANDBOX,
                O_INIT_IF_EMPTY,
                O_INIT,
                O_GENERATE_KEY,
                O_PASSPHRASE_FILE,
                O_PASSPHRASE,
                O_ALLOW_USERNS,
                O_WITNESSES,
                O_MEMORY,
                O_DENIAL_WINDOW,
                O_REKEY,
                O_NEW_KEY,
                O_NEW_PASSPHRASE_FILE,
                O_ACCEPT_ROLLBACK,
                O_RESTORE,
                O_FORCE,
                O_VERSION
        };
        static const struct option longopts[] = {
                {"state-dir", required_argument, NULL, O_STATE},
                {"socket", required_argument, NULL, O_SOCKET},
                {"key-file", required_argument, NULL, O_KEY},
                {"policy", required_argument, NULL, O_POLICY},
                {"max-body", required_argument, NULL, O_BODY},
                {"max-connections", required_argument, NULL, O_CONN},
                {"max-pending", required_argument, NULL, O_PEND},
                {"request-timeout", required_argument, NULL, O_REQ},
                {"idle-timeout", required_argument, NULL, O_IDLE},
                {"write-timeout", required_argument, NULL, O_WRITE},
                {"max-connections-per-user", required_argument, NULL, O_CONN_USER},
                {"user", required_argument, NULL, O_USER},
                {"allow-root", no_argument, NULL, O_ALLOW_ROOT},
                {"no-sandbox", no_argument, NULL, O_NO_SANDBOX},
                {"init-if-empty", no_argument, NULL, O_INIT_IF_EMPTY},
                {"init", no_argument, NULL, O_INIT},
                {"generate-key", required_argument, NULL, O_GENERATE_KEY},
                {"passphrase-file", required_argument, NULL, O_PASSPHRASE_FILE},
                {"passphrase", no_argument, NULL, O_PASSPHRASE},
                {"allow-user-namespace", no_argument, NULL, O_ALLOW_USERNS},
                {"witnesses", required_argument, NULL, O_WITNESSES},
                {"memory-budget", required_argument, NULL, O_MEMORY},
                {"denial-window", required_argument, NULL, O_DENIAL_WINDOW},
                {"rekey", no_argument, NULL, O_REKEY},
                {"new-key-file", required_argument, NULL, O_NEW_KEY},
                {"new-passphrase-file", required_argument, NULL, O_NEW_PASSPHRASE_FILE},
                {"accept-rollback", no_argument, NULL, O_ACCEPT_ROLLBACK},
                {"restore", required_argument, NULL, O_RESTORE},
                {"force", no_argument, NULL, O_FORCE},
                {"version", no_argument, NULL, O_VERSION},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        unsigned long long v;
        int c;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case O_STATE:
                        o->state_dir = optarg;
                        break;
                case O_SOCKET:
                        o->socket_path = optarg;
                        break;
                case O_KEY:
                        o->key_file = optarg;
                        break;
                case O_POLICY:
                        o->policy_path = optarg;
                        break;
                case O_BODY:
                        if (parse_uint(optarg, 1, 256ull << 20, &v) < 0)
                                goto bad;
                        o->body_max = v;
                        break;
                case O_CONN:
                        if (parse_uint(optarg, 1, 65536, &v) < 0)
                                goto bad;
                        o->server.max_connections = (unsigned)v;
                        break;
                case O_PEND:
                        if (parse_uint(optarg, 1, 4096, &v) < 0)
                                goto bad;
                        o->server.max_pending = (unsigned)v;
                        break;
                case O_REQ:
                case O_IDLE:
                        if (parse_uint(optarg, 1, 86400, &v) < 0)
                                goto bad;
                        *(c == O_REQ ? &o->server.request_timeout_us : &o->server.idle_timeout_us) =
                                v * 1000000u;
                        break;
                case O_WRITE:
                        if (parse_uint(optarg, 1, 86400, &v) < 0)
                                goto bad;
                        o->server.write_timeout_us = v * 1000000u;
                        break;
                case O_MEMORY:
                        if (parse_uint(optarg, 1u << 20, 1ull << 40, &v) < 0)
                                goto bad;
                        o->server.memory_budget = v;
                        break;
                case O_DENIAL_WINDOW:
                        if (parse_uint(optarg, 1, 3600, &v) < 0)
                                goto bad;
                        o->server.denial_window_us = v * 1000000u;
                        break;
                case O_CONN_USER:
                        if (parse_uint(optarg, 1, 65536, &v) < 0)
                                goto bad;
                        o->server.max_connections_per_user = (unsigned)v;
                        break;
                case O_USER:
                        o->user = optarg;
                        break;
                case O_ALLOW_ROOT:
                        o->allow_root = true;
                        break;
                case O_NO_SANDBOX:
                        o->no_sandbox = true;
                        break;
                case O_INIT_IF_EMPTY:
                        o->init_if_empty = true;
                        break;
                case O_INIT:
                        o->init_only = true;
                        break;
                case O_GENERATE_KEY:
                        o->generate_key = optarg;
                        break;
                case O_PASSPHRASE_FILE:
                        o->passphrase_file = optarg;
                        break;
                case O_PASSPHRASE:
                        o->passphrase = true;
                        break;
                case O_REKEY:
                        o->rekey = true;
                        break;
                case O_NEW_KEY:
                        o->new_key_file = optarg;
                        break;
                case O_NEW_PASSPHRASE_FILE:
                        o->new_passphrase_file = optarg;
                        break;
                case O_ACCEPT_ROLLBACK:
                        o->accept_rollback = true;
                        break;
                case O_RESTORE:
                        o->restore = optarg;
                        break;
                case O_FORCE:
                        o->force = true;
                        break;
                case O_WITNESSES:
                        o->witnesses = optarg;
                        break;
                case O_ALLOW_USERNS:
                        o->allow_user_namespace = true;
                        break;
                case O_VERSION:
                        printf("vaultd %s\n", VAULTD_VERSION);
                        exit(EXIT_SUCCESS);
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "vaultd: unexpected argument '%s' (see --help)\n", argv[optind]);
                return -EINVAL;
        }
        if (o->generate_key)
                return 0;
        if (o->force && !o->restore) {
                fprintf(stderr, "vaultd: --force goes with --restore (see --help)\n");
                return -EINVAL;
        }
        if (o->restore) {
                if (o->state_dir)
                        return 0;
                fprintf(stderr, "vaultd: --restore needs --state-dir (see --help)\n");
                return -EINVAL;
        }
        use_credential(o);
        if (o->init_only && o->state_dir && o->key_file)
                return 0;
        if (o->rekey) {
                if (o->state_dir && o->key_file && o->new_key_file)
                        return 0;
                fprintf(stderr,
                        "vaultd: --rekey needs --state-dir, --key-file and --new-key-file (see --help)\n");
                return -EINVAL;
        }
        if (!o->state_dir || !o->key_file || !o->policy_path) {
                fprintf(stderr, "vaultd: --state-dir, --key-file and --policy are required (see --help)\n");
                return -EINVAL;
        }
        return 0;
bad:
        fprintf(stderr, "vaultd: invalid value '%s' for --%s\n", optarg, longopts[c - O_STATE].name);
        return -EINVAL;
}

/* mlock fails with ENOMEM when RLIMIT_MEMLOCK is too low (EPERM when it is
 * 0), and with EPERM when a system call filter forbids it: say which. */
static void warn_memlock(int err)
{
        struct rlimit rl = {0, 0};

        getrlimit(RLIMIT_MEMLOCK, &rl);
        if (err == EPERM && rl.rlim_cur > 0)
                log_warning("cannot lock key memory in RAM: mlock is not permitted (a system call filter "
                            "around vaultd forbids it: systemd's SystemCallFilter=, or a container's, must "
                            "allow @memlock): keys may be written to swap");
        else
                log_warning("cannot lock key memory in RAM (%s; RLIMIT_MEMLOCK is %llu bytes): keys may be "
                            "written to swap; raise LimitMEMLOCK= or use encrypted swap",
                            strerror(err), (unsigned long long)rl.rlim_cur);
}

/* What the keeper's answers about the root key mean, for the admin. */
static const char *key_error(int r)
{
        if (r == -EKEYREVOKED)
                return "the root key is sealed by a passphrase: create the vault with 'vaultd --init "
                       "--passphrase' (or --passphrase-file FILE)";
        return r == -EPERM     ? "the key file is readable by others; chmod 600 it"
               : r == -ENOEXEC ? "not a vaultd root key file (make one with 'vaultd --generate-key FILE')"
               : r == -EBADMSG ? "this root key does not open this vault (wrong key file, or a store "
                                 "from another vault?)"
               : r == -ENOENT  ? "the key file does not exist"
                               : strerror(-r);
}

/* The user vaultd serves as: --user when started as root (unless
 * --allow-root), else whoever started it. */
static uid_t service_uid(const struct options *o)
{
        struct passwd *pw;

        if (geteuid() == 0 && !o->allow_root && (pw = getpwnam(o->user)))
                return pw->pw_uid;
        return geteuid();
}

/* Opens, checks and locks the state directory (vaultd/statedir.h) and
 * checks the files in it, before anything else touches them. */
static int state_dir_take(const struct options *o, bool create, struct state_dir **ret)
{
        char err[STATE_DIR_ERR_MAX];
        struct state_dir *d = NULL;
        uid_t uid = service_uid(o);
        int r = state_dir_open(o->state_dir, uid, create, &d, err, sizeof(err));

        if (r == 0 && (r = state_dir_check_files(d, uid, err, sizeof(err))) < 0)
                state_dir_free(d);
        if (r < 0) {
                log_error("%s", err);
                return r;
        }
        *ret = d;
        return 0;
}

/* Why the store in dir does not open, and what to do. */
static void log_store_error(const char *dir, int r)
{
        const char *restore = "restore the state directory from a good backup (a copy taken with vaultd "
                              "stopped, or made with mdb_copy), or keep this copy as evidence and create "
                              "a new vault";

        if (r == -ENOENT)
                log_error("no vault in %s (there is no data.mdb): create one with 'vaultd --init "
                          "--state-dir %s --key-file FILE', or start with --init-if-empty",
                          dir, dir);
        else if (r == -EMEDIUMTYPE)
                log_error("%s/data.mdb is not an LMDB store (or its first pages are damaged): %s", dir,
                          restore);
        else if (r == -EPROTONOSUPPORT)
                log_error("%s/data.mdb was written by an LMDB of another format version: %s", dir, restore);
        else if (r == -EUCLEAN)
                log_error("%s/data.mdb is incomplete: it is empty or shorter than its own header says, as a "
                          "copy cut short is (cp or tar while vaultd ran, a full disk). Not serving: %s",
                          dir, restore);
        else if (r == -EIO)
                log_error(
                        "the store in %s is damaged: LMDB finds pages that are missing or inconsistent, as "
                        "in a copy of a running vault's directory (cp -a, tar). Not serving: %s",
                        dir, restore);
        else if (r == -ENOKEY)
                log_error("the store in %s lacks one of its key records (a wrapped key, the signing key or "
                          "the vault's origin): it is damaged or incomplete. Not serving: %s",
                          dir, restore);
        else if (r == -EACCES)
                log_error("cannot open the store in %s: permission denied (vaultd runs as uid %u; the "
                          "directory and its files must belong to that user or to root)",
                          dir, (unsigned)geteuid());
        else
                log_error("cannot open the vault in %s: %s", dir, strerror(-r));
}

/* Forks the keeper (DESIGN §3) before any thread starts; it drops to the
 * account the worker drops to, and keeps itself apart by seccomp and by
 * not being dumpable. It reads the root key file itself. */
static int keeper_launch(const struct options *o, struct keeper **ret)
{
        uid_t uid = getuid();
        gid_t gid = getgid();
        uint8_t *probe;
        int r;

        if (geteuid() == 0 && !o->allow_root) {
                struct passwd *pw = getpwnam(o->user);

                /* An unknown user is the worker's error to report (its drop
                 * fails); the keeper dies with it. */
                if (pw) {
                        uid = pw->pw_uid;
                        gid = pw->pw_gid;
                }
        }
        /* The keeper locks its key pages under the same limits: ask here,
         * where a warning can be logged. */
        probe = sodium_malloc(KEYS_KEY_SIZE);
        if (probe && sodium_mlock(probe, KEYS_KEY_SIZE) < 0)
                warn_memlock(errno);
        sodium_free(probe);
        r = keeper_start(o->key_file, uid, gid, !o->no_sandbox, ret);
        if (r < 0)
                log_error("cannot start the key keeper: %s", strerror(-r));
        return r;
}

/* Signs the new vault's first checkpoint (over line 0), so that even an
 * empty vault's trail can be verified against its key, and publishes it
 * beside the store. */
static int first_checkpoint(struct vault_store *s, struct keeper *kp, const struct state_dir *d)
{
        struct published *pub = NULL;
        struct audit_log *log = NULL;
        MDB_txn *txn;
        int r = store_begin(s, false, &txn);

        if (r < 0)
                return r;
        r = audit_log_open(s, kp, txn, &log);
        mdb_txn_abort(txn);
        if (r == 0)
                r = audit_checkpoint(log, now_realtime_us(), true);
        if (r == 0 && (r = published_open(d->fd, &pub)) == 0)
                r = published_update(pub, log);
        published_free(pub);
        audit_log_free(log);
        return r;
}

/* A vault is created under an open root key: a sealed key file needs its
 * passphrase here (--passphrase or --passphrase-file). */
static int unseal_for_init(const struct options *o, struct keeper *kp)
{
        char *pass = NULL;
        size_t len = 0;
        int r;

        if (!o->passphrase && !o->passphrase_file)
                return 0; /* a plain key file; a sealed one fails with a clear message below */
        r = o->passphrase_file ? passphrase_from_file(o->passphrase_file, &pass, &len)
                               : passphrase_prompt("Passphrase of the root key: ", false, &pass, &len);
        if (r == 0)
                r = keeper_unseal(kp, pass, len);
        passphrase_free(pass);
        if (r < 0)
                log_error("cannot open the sealed root key %s: %s", o->key_file,
                          r == -EKEYREJECTED ? "wrong passphrase" : strerror(-r));
        return r;
}

/* A new vault in the empty state directory (--init, or --init-if-empty at
 * first start), under the root key the keeper read; line 0 of its trail
 * names vaultd itself (role "system"). Only an empty directory qualifies,
 * so that a directory holding anything else (a half-restored backup,
 * files of another program) is never taken over. */
static int vault_create(const struct options *o, struct keeper *kp, const struct state_dir *d)
{
        struct passwd *pw = getpwuid(getuid());
        struct audit_actor actor = {getuid(), getgid(), getpid(), pw ? pw->pw_name : NULL, "system"};
        _cleanup_(freep) char *vkey = NULL, *origin = NULL;
        struct vault_store *s = NULL;
        MDB_txn *txn = NULL;
        uint8_t id[16], pk[32];
        char idhex[33];
        int r;

        r = state_dir_empty(d);
        if (r < 0) {
                log_error("no vault in %s, and %s: not creating one there", o->state_dir,
                          r == -ENOTEMPTY ? "the directory is not empty" : strerror(-r));
                return r;
        }
        randombytes_buf(id, sizeof(id));
        hex_encode(id, sizeof(id), idhex);
        if (asprintf(&origin, "vaultd/%s", idhex) < 0)
                return -ENOMEM;
        if ((r = unseal_for_init(o, kp)) < 0)
                return r;
        if ((r = store_open_at(d->fd, o->state_dir, true, &s)) == 0 &&
            (r = store_begin(s, true, &txn)) == 0) {
                if ((r = keystore_create(kp, s, txn, origin)) < 0 ||
                    (r = audit_store_init(s, kp, txn, &actor, idhex, origin)) < 0)
                        mdb_txn_abort(txn);
                else
                        r = store_commit(txn);
        }
        if (r == 0)
                r = first_checkpoint(s, kp, d);
        store_free(s);
        if (r == 0) {
                keeper_public(kp, pk);
                r = note_verifier_key(origin, pk, &vkey);
        }
        if (r == 0)
                log_msg(LOG_NOTICE, "%screated vault %s in %s under the root key %s; audit verifier key %s",
                        o->init_only ? "" : "first start: ", idhex, o->state_dir, o->key_file, vkey);
        if (r < 0) {
                log_error("cannot create a vault in %s: %s", o->state_dir, key_error(r));
                /* Leave the directory empty, so the next start tries again. */
                (void)unlinkat(d->fd, "data.mdb", 0);
                (void)unlinkat(d->fd, "lock.mdb", 0);
                (void)unlinkat(d->fd, PUBLISHED_FILE, 0);
        }
        return r;
}

/* A store written by an older vaultd binds its records to the audit trail
 * before anything is served (vaultd/recmigrate.h). */
static int vault_upgrade(struct vault *v, const char *state_dir)
{
        uint64_t bound = 0, unbound = 0;
        int r = recmigrate_run(v, &bound, &unbound);

        if (r >= 0) {
                int k = records_active_load(v);
                if (k < 0) {
                        log_error("cannot count records in %s: %s", state_dir, strerror(-k));
                        return k;
                }
        }

        if (r == -EPROTONOSUPPORT)
                log_error("the store in %s was written by a newer vaultd (store format above %d): run that "
                          "version, or restore a backup this one wrote",
                          state_dir, STORE_FORMAT_VERSION);
        else if (r < 0)
                log_error("cannot upgrade the store in %s: %s", state_dir, strerror(-r));
        else if (r > 0)
                log_msg(LOG_NOTICE,
                        "upgraded the store in %s to format %d: %" PRIu64 " record versions bound to "
                        "the audit trail",
                        state_dir, STORE_FORMAT_VERSION, bound);
        if (unbound)
                log_warning("%" PRIu64 " record versions match no audit line and stay unbound: "
                            "'vaultctl audit verify' names them",
                            unbound);
        return r < 0 ? r : 0;
}

/* A store made before the audit trail's Merkle tree gets it now, once
 * (vaultd/auditree.h); so does one an older vaultd appended to since.
 * Before the keeper is told its floor: it takes the tree's frontier with
 * it, and signs roots from then on. */
static int vault_build_tree(struct vault *v, const char *state_dir)
{
        uint64_t added = 0, start = now_monotonic_us();
        int r = auditree_build(v->store, &added);

        /* A tree longer than the trail, or a line missing: opening the
         * trail (audit_log_open) says which, and what was cut. */
        if (r == -EIO)
                return 0;
        if (r < 0)
                log_error("cannot build the audit trail's Merkle tree in %s: %s", state_dir, strerror(-r));
        else if (added > 0)
                log_msg(LOG_NOTICE,
                        "built the audit trail's Merkle tree in %s: %" PRIu64
                        " lines in %.1f s (once: the store was made before it, or an older vaultd wrote "
                        "to it)",
                        state_dir, added, (double)(now_monotonic_us() - start) / 1e6);
        return r;
}

/* Opens the store (creating it first when allowed), starts the keeper and
 * hands it the vault's wrapped keys; the vault is then ready to serve. */

static const char *const rollback_names[] = {
        [ROLLBACK_NONE] = "none",       [ROLLBACK_BEHIND] = "behind",
        [ROLLBACK_FORKED] = "forked",   [ROLLBACK_OTHER_VAULT] = "other-vault",
        [ROLLBACK_DAMAGED] = "damaged",
};

static void hash_base64(const uint8_t hash[AUDIT_HASH_SIZE], char *out, size_t size)
{
        sodium_bin2base64(out, size, hash, AUDIT_HASH_SIZE, sodium_base64_VARIANT_ORIGINAL);
}

/* Why the store does not continue the published history, and what to do. */
static void log_rollback(const struct options *o, const struct audit_log *log,
                         const struct rollback_check *c)
{
        const char *what = "Not serving. If this copy was put back on purpose (a backup restored), start "
                           "once with --accept-rollback: vaultd then serves it and records the rollback "
                           "as the first new line of the trail. Otherwise keep this directory as evidence";

        if (c->state == ROLLBACK_BEHIND)
                log_error("the store in %s is older than the audit trail this vault already published: it "
                          "holds %llu audit lines, but checkpoint %llu was published (%s/" PUBLISHED_FILE
                          ", and the journal). An older copy of the store was put back, or lines were "
                          "removed. %s",
                          o->state_dir, (unsigned long long)c->store_size,
                          (unsigned long long)c->published_size, o->state_dir, what);
        else if (c->state == ROLLBACK_FORKED)
                log_error(
                        "the store in %s does not continue the audit trail this vault already published: "
                        "at line %llu its history differs from published checkpoint %llu (%s/" PUBLISHED_FILE
                        ", and the journal). Another copy of the store, which went on on its own, was put "
                        "back. %s",
                        o->state_dir, (unsigned long long)c->published_size - 1,
                        (unsigned long long)c->published_size, o->state_dir, what);
        else if (c->state == ROLLBACK_OTHER_VAULT)
                log_error("the store in %s is another vault than the one that published its checkpoints "
                          "here: the store's origin is %s, %s/" PUBLISHED_FILE " names %s. A store was "
                          "swapped in. %s",
                          o->state_dir, log->origin, o->state_dir, c->published_origin, what);
        else if (c->state == ROLLBACK_DAMAGED)
                log_error("%s/" PUBLISHED_FILE " is damaged: it holds no intact copy of the last "
                          "checkpoint published, so the store cannot be checked against it (compare with "
                          "the journal: journalctl -o json MESSAGE_ID=" LOG_MESSAGE_ID_CHECKPOINT "). %s",
                          o->state_dir, what);
}

/* --accept-rollback: the store is served as it is, and its trail says so
 * first (what was published, and what the store holds). */
static int accept_rollback(struct vault *v, const struct rollback_check *c)
{
        struct passwd *pw = getpwuid(getuid());
        char ph[64], sh[64];
        json_t *extra;
        MDB_txn *txn;
        int r;

        hash_base64(c->published_hash, ph, sizeof(ph));
        hash_base64(c->store_hash, sh, sizeof(sh));
        extra = json_pack("{s:s,s:{s:s,s:I,s:s},s:{s:I,s:s}}", "reason", rollback_names[c->state],
                          "published", "origin", c->published_origin, "size", (json_int_t)c->published_size,
                          "hash", c->published_size ? ph : "", "store", "size", (json_int_t)c->store_size,
                          c->state == ROLLBACK_FORKED ? "hash_at_published_size" : "hash", sh);
        if (!extra)
                return -ENOMEM;
        struct audit_entry e = {.time_us = now_realtime_us(),
                                .actor = {getuid(), getgid(), getpid(), pw ? pw->pw_name : NULL, "system"},
                                .op = "admin.accept-rollback",
                                .version = -1,
                                .result = "ok",
                                .extra = extra};
        r = store_begin(v->store, true, &txn);
        if (r == 0) {
                audit_txn_begin(v->audit);
                r = audit_append(v->audit, txn, &e, NULL);
                if (r == 0)
                        r = store_commit(txn);
                else
                        mdb_txn_abort(txn);
        }
        json_decref(extra);
        if (r < 0)
                return r;
        audit_txn_commit(v->audit);
        log_warning("--accept-rollback: serving the store as it is (%s; %llu audit lines, published "
                    "checkpoint %llu); recorded as audit line %llu",
                    rollback_names[c->state], (unsigned long long)c->store_size,
                    (unsigned long long)c->published_size, (unsigned long long)c->store_size);
        return 0;
}

/* Compares the store with the checkpoint last published beside it; one
 * that does not continue it is served only with --accept-rollback. Then
 * publishes the store's last checkpoint where the file lags behind it (a
 * vault made before checkpoints were published, a crash between a
 * checkpoint and its publication, a rollback just accepted). */
static int check_published(struct vault *v, const struct options *o, MDB_txn *txn,
                           struct rollback_check *ret)
{
        struct rollback_check c;
        int r = published_open(v->state_dir->fd, &v->published);

        if (r < 0) {
                log_error("cannot open %s/" PUBLISHED_FILE ": %s", o->state_dir, strerror(-r));
                return r;
        }
        r = published_compare(v->published, v->audit, txn, &c);
        if (r < 0) {
                log_store_error(o->state_dir, r);
                return r;
        }
        if (!v->published->note && !v->published->damaged && v->audit->checkpoint_size > 1)
                log_warning("%s/" PUBLISHED_FILE " is missing (a vault made by an older vaultd, or the file "
                            "was removed): publishing the store's checkpoint %llu; compare it with earlier "
                            "ones in the journal (journalctl -o json MESSAGE_ID=" LOG_MESSAGE_ID_CHECKPOINT
                            ")",
                            o->state_dir, (unsigned long long)v->audit->checkpoint_size);
        if (c.state != ROLLBACK_NONE && !o->accept_rollback) {
                log_rollback(o, v->audit, &c);
                return -ESTALE;
        }
        *ret = c;
        return 0;
}

/* After the read transaction of vault_open: records an accepted rollback,
 * then brings checkpoint.last up to the store's last checkpoint. */
static int publish_at_start(struct vault *v, const struct options *o, const struct rollback_check *c)
{
        int r = 0;

        if (c->state != ROLLBACK_NONE)
                r = accept_rollback(v, c);
        else if (o->accept_rollback)
                log_msg(LOG_NOTICE, "--accept-rollback: the store continues the published trail; nothing to "
                                    "accept");
        if (r == 0 && (r = published_update(v->published, v->audit)) < 0)
                log_error("cannot publish the last checkpoint to %s/" PUBLISHED_FILE ": %s", o->state_dir,
                          strerror(-r));
        return r;
}

/* Locks the state directory, opens the store (creating it first when
 * allowed), starts the keeper and hands it the vault's wrapped keys; checks
 * the store against what was published; the vault is then ready to serve. */
/* The witnesses file: --witnesses, or "witnesses" beside the policy when
 * it exists. A file given that cannot be read, or a bad key, stops
 * vaultd: a vault would otherwise keep cosignatures its admin meant it to
 * check. */
static int load_witnesses(const struct options *o, struct vault *v)
{
        _cleanup_(freep) char *dir = strdup(o->policy_path), *beside = NULL, *text = NULL;
        const char *path = o->witnesses;
        char err[256];
        size_t len;
        int r;

        if (!dir)
                return -ENOMEM;
        if (!path) {
                if (asprintf(&beside, "%s/witnesses", dirname(dir)) < 0)
                        return -ENOMEM;
                if (access(beside, F_OK) < 0 && errno == ENOENT)
                        return 0;
                path = beside;
        }
        if ((r = read_file_max(path, 65536, &text, &len)) < 0) {
                log_error("cannot read the witnesses file %s: %s", path, strerror(-r));
                return r;
        }
        if (!(v->witnesses = calloc(COSIGN_WITNESSES_MAX, sizeof(*v->witnesses))))
                return -ENOMEM;
        if ((r = cosigners_parse(text, v->witnesses, COSIGN_WITNESSES_MAX, &v->nwitnesses, err,
                                 sizeof(err))) < 0) {
                log_error("witnesses file %s rejected: %s", path, err);
                return r;
        }
        if (v->nwitnesses)
                log_info("cosignatures are kept only from the %zu %s of %s, checked", v->nwitnesses,
                         v->nwitnesses == 1 ? "witness" : "witnesses", path);
        else
                log_warning("the witnesses file %s names no witness: cosignatures are checked for their "
                            "shape only",
                            path);
        return 0;
}

static void free_witnesses(struct vault *v)
{
        for (size_t i = 0; v->witnesses && i < v->nwitnesses; i++)
                cosigner_done(&v->witnesses[i]);
        free(v->witnesses);
}

static int vault_open(struct vault *v, const struct options *o)
{
        struct rollback_check rollback = {.state = ROLLBACK_NONE};
        bool created = false;
        MDB_txn *txn;
        int r;

        r = state_dir_take(o, o->init_if_empty, &v->state_dir);
        if (r < 0)
                return r;
        r = keeper_launch(o, &v->keeper);
        if (r < 0)
                return r;
        r = store_open_at(v->state_dir->fd, o->state_dir, false, &v->store);
        if (r == -ENOENT && o->init_if_empty) {
                r = vault_create(o, v->keeper, v->state_dir);
                if (r < 0)
                        return r;
                created = true;
                r = store_open_at(v->state_dir->fd, o->state_dir, false, &v->store);
        }
        if (r < 0) {
                log_store_error(o->state_dir, r);
                return r;
        }
        if ((r = vault_build_tree(v, o->state_dir)) < 0)
                return r;
        r = store_begin(v->store, false, &txn);
        if (r < 0) {
                log_store_error(o->state_dir, r);
                return r;
        }
        if (!created && (r = keystore_open(v->keeper, v->store, txn)) == -EKEYREVOKED) {
                log_msg(LOG_NOTICE,
                        "the root key %s is sealed by a passphrase: serving sealed (records answer "
                        "Sealed, the audit trail is readable) until 'vaultctl unseal'",
                        o->key_file);
                v->sealed = true;
                r = 0;
        } else if (r == -ENOKEY || r == -EIO)
                log_store_error(o->state_dir, r);
        else if (r < 0)
                log_error("cannot open the vault's keys with %s: %s", o->key_file, key_error(r));
        if (r < 0)
                goto out;
        r = audit_log_open(v->store, v->keeper, txn, &v->audit);
        if (r == -ESTALE)
                log_error("the audit trail in %s is shorter than its last signed checkpoint: lines were "
                          "removed from the store (tampering, or an old copy put back). Not serving: "
                          "restore the store from a good backup, or keep this copy as evidence",
                          o->state_dir);
        else if (r == -EIO || r == -ENOENT)
                log_store_error(o->state_dir, -EIO);
        else if (r < 0)
                log_error("cannot read the audit head in %s: %s", o->state_dir, strerror(-r));
        if (r == 0)
                r = check_published(v, o, txn, &rollback);
out:
        mdb_txn_abort(txn);
        if (r == 0)
                r = publish_at_start(v, o, &rollback);
        if (r == 0)
                r = vault_upgrade(v, o->state_dir);
        return r;
}

/* Step 4 of DESIGN §3: from here on, nothing new is opened for writing. */
static int confine(const struct options *o, struct vault *v, struct server *srv)
{
        _cleanup_(freep) char *policy_dir = strdup(o->policy_path);
        bool landlock = false;
        int r;

        r = sandbox_drop_privileges(o->user, o->allow_root);
        if (r == -ENOENT)
                log_error("started as root, but user '%s' does not exist: create it (packaging/sysusers.d), "
                          "or pass --user NAME",
                          o->user);
        else if (r < 0)
                log_error("cannot drop privileges to '%s': %s", o->user, strerror(-r));
        if (r < 0)
                return r;
        if (o->allow_root && geteuid() == 0)
                log_warning("running as root (--allow-root): a compromise would own the machine");
        if (access(o->policy_path, R_OK) < 0)
                log_warning("user '%s' cannot read the policy %s (%m): SIGHUP and ReloadPolicy will fail "
                            "until it can",
                            o->user, o->policy_path);
        v->sandbox = "off";
        if (o->no_sandbox) {
                log_warning("SANDBOX DISABLED (--no-sandbox): no seccomp filter, no limits; debugging only");
                return server_start_writer(srv);
        }
        if (!policy_dir)
                return -ENOMEM;
        /* Directories, not files: an edited policy or account list is
         * usually a new file renamed into place. */
        const char *const readable[] = {dirname(policy_dir), "/etc", NULL};

        if ((r = sandbox_begin(readable, &landlock)) < 0 || (r = server_start_writer(srv)) < 0 ||
            (r = sandbox_finish()) < 0) {
                log_error("cannot apply the sandbox: %s%s", strerror(-r),
                          r == -EPERM ? " (a system call filter around vaultd refuses a call the sandbox "
                                        "makes: systemd's SystemCallFilter=, or a container's, must allow "
                                        "seccomp and landlock_create_ruleset, landlock_add_rule, "
                                        "landlock_restrict_self)"
                                      : "");
                return r;
        }
        v->sandbox = landlock ? "seccomp+landlock" : "seccomp";
        if (!landlock)
                log_warning("this kernel has no Landlock: files may still be opened for reading by path "
                            "(seccomp still forbids writing, executing and network access)");
        return 0;
}

/* --init: creates the vault and exits. */
static int init_vault(const struct options *o)
{
        struct state_dir *d = NULL;
        struct keeper *kp = NULL;
        int r = state_dir_take(o, true, &d);

        if (r == 0 && (r = keeper_launch(o, &kp)) == 0)
                r = vault_create(o, kp, d);
        keeper_free(kp);
        state_dir_free(d);
        return r;
}

/* Loads a key file, opening a sealed one with its passphrase (from
 * pass_file, else asked on the terminal). */
static int open_key_file(const char *path, const char *pass_file, const char *prompt,
                         struct vault_keys **ret)
{
        struct vault_keys *k = NULL;
        char *pass = NULL;
        size_t len = 0;
        int r = keys_load(path, &k);

        if (r == 0 && keys_locked(k)) {
                r = pass_file ? passphrase_from_file(pass_file, &pass, &len)
                              : passphrase_prompt(prompt, false, &pass, &len);
                if (r == 0)
                        r = keys_unlock(k, pass, len);
                passphrase_free(pass);
        }
        if (r < 0) {
                log_error("cannot open the key file %s: %s", path,
                          r == -EKEYREJECTED ? "wrong passphrase"
                          : r == -EBADMSG    ? "not a vaultd root key file"
                          : r == -ENOTTY     ? "it is sealed: give its passphrase file"
                                             : key_error(r));
                keys_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

/* --rekey: with vaultd stopped, the vault's KEKs and signing key move
 * under a new root key (rotate-root, or a new passphrase with a new key
 * file). Offline on purpose: no root key ever leaves a running keeper,
 * where a compromised worker could ask for it too. */
static int rekey(const struct options *o)
{
        struct passwd *pw = getpwuid(getuid());
        struct audit_actor actor = {getuid(), getgid(), getpid(), pw ? pw->pw_name : NULL, "system"};
        struct vault_keys *old = NULL, *new = NULL;
        struct state_dir *d = NULL;
        struct vault_store *s = NULL;
        MDB_txn *txn = NULL;
        json_t *extra = NULL;
        size_t n = 0;
        int r;

        if ((r = state_dir_take(o, false, &d)) < 0)
                goto out;
        if ((r = open_key_file(o->key_file, o->passphrase_file,
                               "Passphrase of the current root key: ", &old)) < 0 ||
            (r = open_key_file(o->new_key_file, o->new_passphrase_file,
                               "Passphrase of the new root key: ", &new)) < 0)
                goto out;
        if ((r = store_open_at(d->fd, o->state_dir, false, &s)) < 0 ||
            (r = store_begin(s, true, &txn)) < 0) {
                log_store_error(o->state_dir, r);
                goto out;
        }
        r = keystore_rekey(old, new, s, txn, &n);
        if (r == -EBADMSG)
                log_error("the root key %s does not open this vault (wrong key file?)", o->key_file);
        extra = json_pack("{s:I}", "keks", (json_int_t)n);
        if (r == 0) {
                struct audit_entry e = {.time_us = now_realtime_us(),
                                        .actor = actor,
                                        .op = "admin.rekey",
                                        .version = -1,
                                        .result = "ok",
                                        .extra = extra};
                r = audit_append_offline(s, txn, &e);
        }
        if (r == 0)
                r = store_commit(txn);
        else
                mdb_txn_abort(txn);
        if (r == 0)
                printf("%zu KEKs and the audit signing key are now under the root key of %s.\n"
                       "Install it as vaultd's key file (or re-encrypt it as the systemd credential) "
                       "before\n"
                       "vaultd starts again: %s no longer opens this vault (backups taken before still\n"
                       "open with it).\n",
                       n, o->new_key_file, o->key_file);
        else if (r != -EBADMSG)
                log_error("cannot rekey the vault in %s: %s", o->state_dir, strerror(-r));
out:
        json_decref(extra);
        store_free(s);
        state_dir_free(d);
        keys_free(old);
        keys_free(new);
        return r;
}

/* --generate-key FILE: the one way to make a root key for a new vault. */
static int generate_key(const struct options *o)
{
        const char *path = o->generate_key;
        char *pass = NULL;
        size_t len = 0;
        int r = 0;

        if (o->passphrase_file)
                r = passphrase_from_file(o->passphrase_file, &pass, &len);
        else if (o->passphrase)
                r = passphrase_prompt("Passphrase for the new root key: ", true, &pass, &len);
        if (r < 0) {
                log_error("cannot read the passphrase: %s",
                          r == -ENOTTY   ? "no terminal to ask on (use --passphrase-file FILE)"
                          : r == -EINVAL ? "it is empty, or the two answers differ"
                          : r == -EILSEQ ? "it is not UTF-8 text (a NUL byte, or another encoding)"
                                         : strerror(-r));
                return r;
        }
        r = keys_root_create(path, pass, len);
        passphrase_free(pass);
        if (r == -EEXIST)
                log_error("%s already exists; refusing to overwrite a root key", path);
        else if (r < 0)
                log_error("cannot create the root key %s: %s", path, strerror(-r));
        else
                printf("root key written to %s (mode 0600%s)\n"
                       "Keep a copy offline, apart from backups of the state directory: without it the "
                       "vault cannot be opened.\n",
                       path,
                       len ? ", sealed by the passphrase: vaultd starts sealed until 'vaultctl unseal'"
                           : "");
        return r;
}

/* Peer credentials name callers as this process's user namespace sees
 * them. Anywhere but in the identity map, callers outside the map all
 * appear as the overflow uid: refuse, unless told every caller is inside. */
static int check_user_namespace(const struct options *o)
{
        char map[256];
        int r = sandbox_ids_remapped(map, sizeof(map));

        if (r == 0)
                return 0;
        if (r < 0) {
                log_error("cannot tell whether user ids are remapped (reading /proc/self/uid_map: %s): "
                          "mount /proc, or pass --allow-user-namespace",
                          strerror(-r));
                return r;
        }
        if (o->allow_user_namespace) {
                log_warning(
                        "user ids are remapped (%s) and --allow-user-namespace is given: callers outside "
                        "this user namespace appear as the overflow uid",
                        map);
                return 0;
        }
        log_error(
                "user ids are remapped (%s): vaultd runs in a user namespace (systemd's PrivateUsers=, a "
                "rootless container), where the kernel reports callers by mapped ids or as the overflow uid "
                "65534, so the policy would grant nothing and the audit trail would name the wrong users. "
                "Run vaultd outside it (remove PrivateUsers= from the unit), or pass "
                "--allow-user-namespace if every caller lives in this namespace too",
                map);
        return -EPERM;
}

/* jansson holds copies of record bodies (requests, Get replies): wipe
 * every block it frees, so no body lingers in freed heap memory. */
static void wiping_free(void *p)
{
        if (!p)
                return;
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
}

int main(int argc, char **argv)
{
        struct options o = {
                .socket_path = "/run/vaultd/vaultd.sock",
                .user = "vaultd",
                .body_max = VAULT_BODY_MAX_DEFAULT,
                .server =
                        {
                                .max_connections = 256,
                                .max_connections_per_user = 64,
                                .max_pending = 64,
                                .request_timeout_us = 10 * 1000000ull,
                                .idle_timeout_us = 600 * 1000000ull,
                                .write_timeout_us = 30 * 1000000ull,
                        },
        };
        struct vault v = {0};
        struct server *srv = NULL;
        char err[POLICY_ERR_MAX];
        int r;

        log_open();
        /* A peer that is gone (a client, the keeper) is an error to
         * handle, not a signal that kills. */
        signal(SIGPIPE, SIG_IGN);
        /* Record bodies of 4 MiB and more (decrypted by the writer, freed
         * by the event loop) get pages of their own, returned when freed:
         * glibc's moving threshold would put them in the heap, which then
         * stays as large as the most ever held at once. Smaller blocks
         * stay in the heap, which is not trimmed below 32 MiB: LMDB
         * allocates 2 x 2 MiB for every job's child transaction, and a
         * mapping each would cost an mmap, a munmap and page faults. */
        mallopt(M_MMAP_THRESHOLD, 4 << 20);
        mallopt(M_TRIM_THRESHOLD, 32 << 20);
        json_set_alloc_funcs(malloc, wiping_free);
        if (parse_args(argc, argv, &o) < 0)
                return 2;
        if (sodium_init() < 0) {
                log_error("libsodium failed to initialise");
                return 1;
        }
        if (o.generate_key)
                return generate_key(&o) < 0 ? 1 : 0;
        if (o.init_only)
                return init_vault(&o) < 0 ? 1 : 0;
        if (o.rekey)
                return rekey(&o) < 0 ? 1 : 0;
        if (o.restore)
                return restore_run(o.restore, o.state_dir, o.force, service_uid(&o)) < 0 ? 1 : 0;
        if (check_user_namespace(&o) < 0)
                return 1;
        o.server.socket_path = o.socket_path;
        /* Base64 grows a body by 4/3; leave room for the JSON around it. */
        o.server.max_message = o.body_max / 3 * 4 + 8 + 65536;
        v.body_max = o.body_max;
        v.bodies_limit = o.server.memory_budget ? o.server.memory_budget : VAULT_MEMORY_BUDGET_DEFAULT;
        v.policy_path = o.policy_path;
        health_init(&v.health);
        v.started_us = now_monotonic_us();
        r = policy_load(o.policy_path, &v.policy, err, sizeof(err));
        if (r < 0) {
                log_error("policy %s rejected: %s", o.policy_path, err);
                return 1;
        }
        for (size_t i = 0; i < v.policy->nwarnings; i++)
                log_warning("policy %s: %s", o.policy_path, v.policy->warnings[i]);
        r = load_witnesses(&o, &v);
        if (r == 0)
                r = vault_open(&v, &o);
        if (r == 0)
                r = server_new(&v, &o.server, &srv);
        if (r == 0)
                r = confine(&o, &v, srv);
        if (r == 0)
                r = server_run(srv);
        server_free(srv);
        audit_log_free(v.audit);
        keeper_free(v.keeper);
        published_free(v.published);
        store_free(v.store);
        state_dir_free(v.state_dir);
        policy_free(v.policy);
        free_witnesses(&v);
        health_done(&v.health);
        return r < 0 ? 1 : 0;
}
