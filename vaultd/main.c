/* vaultd: the records vault daemon. Start-up order follows DESIGN §3. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "records.h"
#include "sandbox.h"
#include "server.h"
#include "util.h"

struct options {
        const char *state_dir, *socket_path, *key_file, *policy_path, *user;
        struct server_config server;
        size_t body_max;
        bool allow_root, no_sandbox;
};

/* systemd's LoadCredential=/LoadCredentialEncrypted= puts the key here. */
#define CREDENTIAL_NAME "vaultd.key"

static void usage(FILE *f)
{
        fprintf(f, "Usage: vaultd --state-dir DIR --key-file FILE --policy FILE [--socket PATH] [options]\n"
                   "\n"
                   "Serves the records vault in DIR on a Unix socket (varlink). SIGTERM or SIGINT\n"
                   "stop it cleanly; SIGHUP reloads the policy. Create a vault with 'vaultctl init'.\n"
                   "\n"
                   "  --state-dir DIR         the vault's directory (LMDB store)\n"
                   "  --key-file FILE         root key file (mode 0600); $CREDENTIALS_DIRECTORY/\n"
                   "                          vaultd.key, when present, is used instead\n"
                   "  --policy FILE           access policy (see policy/vaultd.policy)\n"
                   "  --socket PATH           socket to listen on [/run/vaultd/vaultd.sock]\n"
                   "  --max-body BYTES        largest record body [16777216]\n"
                   "  --max-connections N     concurrent clients [256]\n"
                   "  --max-connections-per-user N  per peer uid [64]\n"
                   "  --max-pending N         calls in flight per client [32]\n"
                   "  --request-timeout SEC   time a client has to send one message [10]\n"
                   "  --idle-timeout SEC      idle clients are disconnected after [600]\n"
                   "  --write-timeout SEC     clients not reading replies are cut off after [30]\n"
                   "  --user NAME             user to switch to when started as root [vaultd]\n"
                   "  --allow-root            keep running as root (not recommended)\n"
                   "  --no-sandbox            no seccomp filter or limits (debugging only)\n"
                   "  -h, --help              this text\n");
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
                O_NO_SANDBOX
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
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        use_credential(o);
        if (optind < argc || !o->state_dir || !o->key_file || !o->policy_path) {
                fprintf(stderr, "vaultd: --state-dir, --key-file and --policy are required (see --help)\n");
                return -EINVAL;
        }
        return 0;
bad:
        fprintf(stderr, "vaultd: invalid value '%s' for --%s\n", optarg, longopts[c - O_STATE].name);
        return -EINVAL;
}

/* Opens the store and unwraps the keys; the vault is then ready to serve. */
static int vault_open(struct vault *v, const struct options *o)
{
        MDB_txn *txn;
        int r;

        r = store_open(o->state_dir, false, &v->store);
        if (r < 0) {
                log_error("cannot open the vault in %s: %s%s", o->state_dir, strerror(-r),
                          r == -ENOENT ? " (create one with 'vaultctl init')" : "");
                return r;
        }
        r = keys_load(o->key_file, &v->keys);
        if (r < 0) {
                log_error("cannot load the root key %s: %s", o->key_file,
                          r == -EPERM     ? "the file is readable by others; chmod 600 it"
                          : r == -EBADMSG ? "not a vaultd root key file"
                                          : strerror(-r));
                return r;
        }
        r = store_begin(v->store, false, &txn);
        if (r < 0)
                return r;
        r = keys_store_open(v->keys, v->store, txn);
        if (r == -EBADMSG)
                log_error("the root key %s does not open this vault (wrong key file?)", o->key_file);
        if (r == 0 && !keys_memory_locked(v->keys)) {
                struct rlimit rl = {0, 0};
                getrlimit(RLIMIT_MEMLOCK, &rl);
                log_warning("cannot lock key memory in RAM (RLIMIT_MEMLOCK is %llu bytes): keys may be "
                            "written to swap; raise LimitMEMLOCK= or use encrypted swap",
                            (unsigned long long)rl.rlim_cur);
        }
        if (r == 0 && (r = audit_log_open(v->store, v->keys, txn, &v->audit)) < 0)
                log_error("cannot read the audit head: %s", strerror(-r));
        if (r == 0 && (r = records_count_active(v, txn, &v->records_active)) < 0)
                log_error("cannot count records: %s", strerror(-r));
        mdb_txn_abort(txn);
        if (r == 0)
                keys_seal_idle(v->keys);
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
                log_error("cannot apply the sandbox: %s", strerror(-r));
                return r;
        }
        v->sandbox = landlock ? "seccomp+landlock" : "seccomp";
        if (!landlock)
                log_warning("this kernel has no Landlock: files may still be opened for reading by path "
                            "(seccomp still forbids writing, executing and network access)");
        return 0;
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
                                .max_pending = 32,
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
        json_set_alloc_funcs(malloc, wiping_free);
        if (parse_args(argc, argv, &o) < 0)
                return 2;
        if (sodium_init() < 0) {
                log_error("libsodium failed to initialise");
                return 1;
        }
        o.server.socket_path = o.socket_path;
        /* Base64 grows a body by 4/3; leave room for the JSON around it. */
        o.server.max_message = o.body_max / 3 * 4 + 8 + 65536;
        v.body_max = o.body_max;
        v.policy_path = o.policy_path;
        v.started_us = now_monotonic_us();
        r = policy_load(o.policy_path, &v.policy, err, sizeof(err));
        if (r < 0) {
                log_error("policy %s rejected: %s", o.policy_path, err);
                return 1;
        }
        for (size_t i = 0; i < v.policy->nwarnings; i++)
                log_warning("policy %s: %s", o.policy_path, v.policy->warnings[i]);
        r = vault_open(&v, &o);
        if (r == 0)
                r = server_new(&v, &o.server, &srv);
        if (r == 0)
                r = confine(&o, &v, srv);
        if (r == 0)
                r = server_run(srv);
        server_free(srv);
        audit_log_free(v.audit);
        keys_free(v.keys);
        store_free(v.store);
        policy_free(v.policy);
        return r < 0 ? 1 : 0;
}
