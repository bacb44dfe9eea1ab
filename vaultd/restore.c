#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "log.h"
#include "storefile.h"
#include "statedir.h"
#include "store.h"
#include "util.h"

/* Where the new store is built, inside the state directory (one file
 * system, so the final rename is atomic). */
#define RESTORE_DIR "restore.tmp"
/* The last checkpoint vaultd published beside the store (rollback
 * detection at start-up), and the most of it an audit line may quote. */
#define CHECKPOINT_FILE     "checkpoint.last"
#define CHECKPOINT_FILE_MAX 16384

struct restore {
        const char *file, *dir;
        int dir_fd;
        struct storefile *backup;
        struct storefile_report verdict;
        bool replacing;       /* DIR holds a store, which --force replaces */
        json_t *replaced;     /* what it was: vault, lines, head (when readable) */
        json_t *superseded;   /* checkpoint.last's note, or its hash */
        char kept[64];        /* the replaced store's new name */
        bool kept_in_work;    /* it could not move out of RESTORE_DIR */
        struct state_dir *sd; /* checked and locked while we work */
        uid_t uid;            /* the user vaultd serves as: may own the directory */
};

static int verify_backup(struct restore *rs)
{
        char why[256];
        int r = storefile_open(rs->file, &rs->backup, why, sizeof(why));

        if (r == -EBADMSG) {
                log_error("%s is not a usable backup: %s; nothing was changed", rs->file, why);
                return r;
        }
        if (r < 0) {
                log_error("cannot read the backup %s: %s", rs->file, strerror(-r));
                return r;
        }
        r = storefile_verify(rs->backup, NULL, &rs->verdict);
        if (r == -EBADMSG)
                log_error("the backup %s does NOT verify (audit line %" PRId64 "): %s; nothing was changed "
                          "(restore an older backup; keep this one as evidence)",
                          rs->file, rs->verdict.bad_seq, rs->verdict.why);
        else if (r < 0)
                log_error("cannot check the backup %s: %s", rs->file, strerror(-r));
        return r;
}

/* What the store about to be replaced holds, for the restore line. */
static json_t *describe_store(const char *path)
{
        char why[256], hex[AUDIT_HASH_HEX_SIZE];
        struct storefile *sf = NULL;
        const struct storefile_info *in;
        json_t *o;

        if (storefile_open(path, &sf, why, sizeof(why)) < 0)
                return json_pack("{s:s}", "unreadable", why);
        in = storefile_info(sf);
        hex_encode(in->head, AUDIT_HASH_SIZE, hex);
        o = json_pack("{s:s,s:I,s:s}", "vault", in->vault_id, "lines", (json_int_t)in->lines, "head_hash",
                      hex);
        storefile_free(sf);
        return o;
}

/* The state directory: made when missing; refused when a process has the
 * store open, or when it holds one and force was not given. */
static int check_target(struct restore *rs, bool force)
{
        char path[4096];
        struct stat st;
        int r;

        char err[STATE_DIR_ERR_MAX];

        if (mkdir(rs->dir, 0700) < 0 && errno != EEXIST) {
                log_error("cannot create the state directory %s: %m", rs->dir);
                return -errno;
        }
        /* The same checks and lock as a starting vaultd's: a directory
         * that belongs to us, and no daemon in it while we work. */
        r = state_dir_open(rs->dir, rs->uid, false, &rs->sd, err, sizeof(err));
        if (r < 0) {
                log_error("%s", err);
                return r;
        }
        rs->dir_fd = rs->sd->fd;
        r = storefile_in_use(rs->dir);
        if (r != 0) {
                log_error("the vault in %s is in use (%s): stop vaultd first (systemctl stop vaultd.socket "
                          "vaultd), then restore",
                          rs->dir, r > 0 ? "a process holds its lock" : strerror(-r));
                return r > 0 ? -EBUSY : r;
        }
        if (fstatat(rs->dir_fd, STORE_DATA_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!force) {
                log_error("%s already holds a vault: not replacing it. To replace it with the backup, add "
                          "--force (the old store is kept beside it, as " STORE_DATA_FILE ".replaced-TIME)",
                          rs->dir);
                return -EEXIST;
        }
        rs->replacing = true;
        snprintf(path, sizeof(path), "%s/" STORE_DATA_FILE, rs->dir);
        rs->replaced = describe_store(path);
        return rs->replaced ? 0 : -ENOMEM;
}

/* checkpoint.last's claim, quoted whole when it is text that fits. */
static int read_published_checkpoint(struct restore *rs)
{
        char path[4096], hex[AUDIT_HASH_HEX_SIZE];
        _cleanup_(freep) char *text = NULL;
        uint8_t hash[AUDIT_HASH_SIZE];
        size_t len;
        int r;

        snprintf(path, sizeof(path), "%s/" CHECKPOINT_FILE, rs->dir);
        r = read_file_max(path, CHECKPOINT_FILE_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && r != -EFBIG) {
                log_error("cannot read %s: %s", path, strerror(-r));
                return r;
        }
        if (r >= 0 && (rs->superseded = json_stringn(text, len)))
                return 0;
        /* Not UTF-8, or too long to quote: its hash stands for it. */
        if (r >= 0)
                crypto_hash_sha256(hash, (const uint8_t *)text, len);
        else
                memset(hash, 0, sizeof(hash));
        hex_encode(hash, AUDIT_HASH_SIZE, hex);
        rs->superseded = json_pack("{s:s}", "sha256", r >= 0 ? hex : "(larger than 16 KiB)");
        return rs->superseded ? 0 : -ENOMEM;
}

/* Removes what an earlier, interrupted restore left. */
static void clear_work_dir(struct restore *rs)
{
        int fd = openat(rs->dir_fd, RESTORE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return;
        unlinkat(fd, STORE_DATA_FILE, 0);
        unlinkat(fd, STORE_LOCK_FILE, 0);
        close(fd);
        unlinkat(rs->dir_fd, RESTORE_DIR, AT_REMOVEDIR);
}

/* A compacted copy of the backup in DIR/RESTORE_DIR/data.mdb. */
static int build_store(struct restore *rs)
{
        _cleanup_(closep) int work = -1, fd = -1;
        int r;

        clear_work_dir(rs);
        if (mkdirat(rs->dir_fd, RESTORE_DIR, 0700) < 0 ||
            (work = openat(rs->dir_fd, RESTORE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
            (fd = openat(work, STORE_DATA_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600)) < 0)
                return -errno;
        r = storefile_copy(rs->backup, fd);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}

static json_t *restore_facts(struct restore *rs)
{
        const struct storefile_info *in = storefile_info(rs->backup);
        char hex[AUDIT_HASH_HEX_SIZE];
        json_t *o;

        hex_encode(in->head, AUDIT_HASH_SIZE, hex);
        o = json_pack("{s:s,s:I,s:s,s:s,s:I}", "backup_vault", in->vault_id, "backup_seq",
                      (json_int_t)(in->lines - 1), "backup_hash", hex, "backup_time", rs->verdict.head_time,
                      "backup_bytes", (json_int_t)in->bytes);
        if (o && rs->replaced)
                json_object_set(o, "replaced", rs->replaced);
        if (o && rs->superseded)
                json_object_set(o, "superseded_checkpoint", rs->superseded);
        return o;
}

/* The restored trail's first new line, in the new store. */
static int append_restore_line(struct restore *rs)
{
        struct passwd *pw = getpwuid(getuid());
        struct vault_store *s = NULL;
        json_t *extra = restore_facts(rs);
        char work[4096];
        MDB_txn *txn;
        int r = extra ? 0 : -ENOMEM;

        snprintf(work, sizeof(work), "%s/" RESTORE_DIR, rs->dir);
        if (r == 0 && (r = store_open(work, false, &s)) == 0 && (r = store_begin(s, true, &txn)) == 0) {
                struct audit_entry e = {
                        .time_us = now_realtime_us(),
                        .actor = {getuid(), getgid(), getpid(), pw ? pw->pw_name : NULL, "system"},
                        .op = "admin.restore",
                        .version = -1,
                        .result = "ok",
                        .extra = extra,
                };
                r = audit_append_offline(s, txn, &e);
                if (r == 0)
                        r = store_commit(txn);
                else
                        mdb_txn_abort(txn);
        }
        store_free(s);
        json_decref(extra);
        return r;
}

/* Owned as the state directory is (the service's account), mode 0600. */
static int set_owner(struct restore *rs, int work)
{
        struct stat st;

        if (fstat(rs->dir_fd, &st) < 0 || fchmodat(work, STORE_DATA_FILE, 0600, 0) < 0)
                return -errno;
        if (geteuid() == 0 && fchownat(work, STORE_DATA_FILE, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

/* One rename puts the new store in place: an exchange with the old one,
 * which then moves aside, or a rename that replaces nothing. */
static int install_store(struct restore *rs)
{
        _cleanup_(closep) int work =
                openat(rs->dir_fd, RESTORE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        char stamp[TIME_STRING_MAX];
        int r;

        if (work < 0 || (r = set_owner(rs, work)) < 0)
                return work < 0 ? -errno : r;
        unlinkat(work, STORE_LOCK_FILE, 0);
        if (!rs->replacing)
                return renameat2(work, STORE_DATA_FILE, rs->dir_fd, STORE_DATA_FILE, RENAME_NOREPLACE) < 0
                               ? -errno
                               : 0;
        if (renameat2(work, STORE_DATA_FILE, rs->dir_fd, STORE_DATA_FILE, RENAME_EXCHANGE) < 0)
                return -errno;
        time_format_us(now_realtime_us(), stamp); /* the name keeps "2026-11-29T14:03:07" */
        snprintf(rs->kept, sizeof(rs->kept), STORE_DATA_FILE ".replaced-%.19s", stamp);
        if (renameat2(work, STORE_DATA_FILE, rs->dir_fd, rs->kept, RENAME_NOREPLACE) < 0) {
                log_warning("the replaced store stays in %s/" RESTORE_DIR "/: %m", rs->dir);
                snprintf(rs->kept, sizeof(rs->kept), RESTORE_DIR "/" STORE_DATA_FILE);
                rs->kept_in_work = true;
        }
        return 0;
}

static void report(struct restore *rs)
{
        const struct storefile_info *in = storefile_info(rs->backup);
        char hex[AUDIT_HASH_HEX_SIZE];

        hex_encode(in->head, AUDIT_HASH_SIZE, hex);
        printf("restored vault %s into %s from %s:\n"
               "  the backup's trail ends at seq %" PRIu64 " (hash %s, %s);\n"
               "  seq %" PRIu64 " records the restore (admin.restore)\n",
               in->vault_id, rs->dir, rs->file, in->lines - 1, hex, rs->verdict.head_time, in->lines);
        if (rs->replacing)
                printf("  the store it replaced is kept as %s/%s: delete it once the restored vault "
                       "serves\n",
                       rs->dir, rs->kept);
        if (rs->superseded)
                printf("  %s (the last checkpoint published for the old store) is superseded; the\n"
                       "  admin.restore line quotes it\n",
                       CHECKPOINT_FILE);
        printf("Next: start vaultd (systemctl start vaultd.socket), then 'vaultctl audit verify'.\n"
               "It opens only with the vault's root key file.\n");
}

int restore_run(const char *file, const char *state_dir, bool force, uid_t uid)
{
        struct restore rs = {.file = file, .dir = state_dir, .dir_fd = -1, .uid = uid};
        int r;

        if ((r = verify_backup(&rs)) < 0 || (r = check_target(&rs, force)) < 0 ||
            (r = read_published_checkpoint(&rs)) < 0)
                goto out;
        r = build_store(&rs);
        if (r == 0)
                r = append_restore_line(&rs);
        if (r == 0)
                r = install_store(&rs);
        if (r < 0) {
                log_error("cannot restore %s into %s: %s; the vault there is unchanged", file, state_dir,
                          strerror(-r));
                clear_work_dir(&rs);
                goto out;
        }
        /* From here the store is in place: a failure below is only logged. */
        if (!rs.kept_in_work)
                clear_work_dir(&rs);
        if (rs.superseded && unlinkat(rs.dir_fd, CHECKPOINT_FILE, 0) < 0 && errno != ENOENT)
                log_warning("cannot remove %s/%s (%m): vaultd will refuse the restored store until it is "
                            "removed, or is started once with --accept-rollback",
                            state_dir, CHECKPOINT_FILE);
        if (fsync(rs.dir_fd) < 0)
                log_warning("cannot sync %s: %m", state_dir);
        report(&rs);
out:
        storefile_free(rs.backup);
        json_decref(rs.replaced);
        json_decref(rs.superseded);
        state_dir_free(rs.sd); /* closes dir_fd, and the lock goes with it */
        return r;
}
