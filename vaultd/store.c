#include "store.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util.h"

#define STORE_MAP_INITIAL (256ull << 20)
#define STORE_MAX_READERS 64

int store_errno(int rc)
{
        switch (rc) {
        case MDB_SUCCESS:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
                return -ENOBUFS;
        case MDB_TXN_FULL:
        case MDB_PAGE_FULL:
                return -ENOSPC;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_BAD_TXN:
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
                return -EIO;
        case MDB_READERS_FULL:
        case MDB_DBS_FULL:
                return -EBUSY;
        case MDB_BAD_VALSIZE:
                return -EINVAL;
        default:
                return rc > 0 ? -rc : -EIO;
        }
}

static int open_dbs(struct vault_store *s, bool create)
{
        /* always: made in a store that predates it (the tree is built
         * from the trail at start-up, vaultd/auditree.h). */
        static const struct {
                const char *name;
                size_t off;
                bool always_create; /* new in an older store */
        } dbs[] = {
                {STORE_DB_META, offsetof(struct vault_store, meta)},
                {STORE_DB_HEADS, offsetof(struct vault_store, heads)},
                {STORE_DB_VERSIONS, offsetof(struct vault_store, versions)},
                {STORE_DB_AUDIT, offsetof(struct vault_store, audit)},
                {STORE_DB_CHECKPOINTS, offsetof(struct vault_store, checkpoints)},
                {STORE_DB_KEYS, offsetof(struct vault_store, keys)},
                {STORE_DB_TREE, offsetof(struct vault_store, tree), true},
                {STORE_DB_COLLECTIONS, offsetof(struct vault_store, collections), true},
                {STORE_DB_RECCTL, offsetof(struct vault_store, recctl), true},
                {STORE_DB_CKEYS, offsetof(struct vault_store, ckeys), true},
                {STORE_DB_FINDEX, offsetof(struct vault_store, findex), true},
                {STORE_DB_FTERMS, offsetof(struct vault_store, fterms), true},
                {STORE_DB_PSEUDONYMS, offsetof(struct vault_store, pseudonyms), true},
                {STORE_DB_COSIGNATURES, offsetof(struct vault_store, cosignatures), true},
        };
        MDB_txn *txn;
        int rc;

        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc)
                return store_errno(rc);
        for (size_t i = 0; i < ELEMENTSOF(dbs); i++) {
                rc = mdb_dbi_open(txn, dbs[i].name, create || dbs[i].always_create ? MDB_CREATE : 0,
                                  (MDB_dbi *)((char *)s + dbs[i].off));
                if (rc) {
                        mdb_txn_abort(txn);
                        return store_errno(rc);
                }
        }
        return store_errno(mdb_txn_commit(txn));
}

/* data.mdb must hold every page its meta page names: a shorter file (a
 * copy cut short, a disk that filled during cp) would fault (SIGBUS) on the
 * first read past its end. -EUCLEAN when it is short. */
static int check_length(struct vault_store *s)
{
        MDB_envinfo info;
        MDB_stat stat;
        struct stat st;
        int fd, rc;

        if ((rc = mdb_env_get_fd(s->env, &fd)) != 0 || (rc = mdb_env_stat(s->env, &stat)) != 0 ||
            (rc = mdb_env_info(s->env, &info)) != 0)
                return store_errno(rc);
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize)
                return -EUCLEAN;
        return 0;
}

/* LMDB opens its files by path: give it the directory already opened (and
 * checked by the caller) through /proc, so that the path cannot lead
 * elsewhere meanwhile. Without /proc, the path as given. */
static int env_open(struct vault_store *s, bool create)
{
        char path[64];
        int rc;

        snprintf(path, sizeof(path), "/proc/self/fd/%d", s->dir_fd);
        rc = mdb_env_open(s->env, access(path, F_OK) == 0 ? path : s->dir, MDB_NOTLS, 0600);
        if (rc == MDB_INVALID)
                return -EMEDIUMTYPE;
        if (rc == MDB_VERSION_MISMATCH)
                return -EPROTONOSUPPORT;
        if (rc)
                return store_errno(rc);
        return create ? 0 : check_length(s);
}

int store_open_at(int dir_fd, const char *dir, bool create, struct vault_store **ret)
{
        struct vault_store *s;
        MDB_envinfo info;
        struct stat st;
        int rc, k;

        k = fstatat(dir_fd, STORE_DATA_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
        if (create && k == 0)
                return -EEXIST;
        if (!create && k < 0)
                return k;
        /* LMDB would take an empty file for a new store. */
        if (!create && st.st_size == 0)
                return -EUCLEAN;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_rwlock_init(&s->resize_lock, NULL);
        s->dir = strdup(dir);
        s->dir_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (s->dir_fd < 0) {
                k = -errno;
                goto fail;
        }
        rc = mdb_env_create(&s->env);
        if (rc || !s->dir) {
                k = rc ? store_errno(rc) : -ENOMEM;
                goto fail;
        }
        mdb_env_set_maxdbs(s->env, STORE_DBS_MAX);
        mdb_env_set_maxreaders(s->env, STORE_MAX_READERS);
        /* NOTLS: read transactions are not tied to threads' TLS slots. */
        k = env_open(s, create);
        if (k < 0)
                goto fail;
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize;
        if (s->map_size < STORE_MAP_INITIAL) {
                s->map_size = STORE_MAP_INITIAL;
                mdb_env_set_mapsize(s->env, s->map_size);
        }
        k = open_dbs(s, create);
        if (k < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        store_free(s);
        return k;
}

int store_open(const char *dir, bool create, struct vault_store **ret)
{
        int fd, k;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        k = store_open_at(fd, dir, create, ret);
        close(fd);
        return k;
}

void store_free(struct vault_store *s)
{
        if (!s)
                return;
        if (s->env)
                mdb_env_close(s->env);
        pthread_rwlock_destroy(&s->resize_lock);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        free(s->dir);
        free(s);
}

int store_begin(struct vault_store *s, bool write, MDB_txn **ret)
{
        return store_errno(mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, ret));
}

int store_commit(MDB_txn *txn)
{
        return store_errno(mdb_txn_commit(txn));
}

int store_begin_child(MDB_txn *parent, MDB_txn **ret)
{
        return store_errno(mdb_txn_begin(mdb_txn_env(parent), parent, 0, ret));
}

int store_read_begin(struct vault_store *s, MDB_txn **ret)
{
        int k;

        pthread_rwlock_rdlock(&s->resize_lock);
        k = store_begin(s, false, ret);
        if (k < 0)
                pthread_rwlock_unlock(&s->resize_lock);
        return k;
}

void store_read_end(struct vault_store *s, MDB_txn *txn)
{
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&s->resize_lock);
}

int store_space_check(struct vault_store *s, uint64_t need, bool use_reserve)
{
        struct statvfs st;

        if (fstatvfs(s->dir_fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.f_bavail * st.f_frsize < need + (use_reserve ? 0 : STORE_RESERVE_BYTES))
                return -ENOSPC;
        return 0;
}

int store_usage(struct vault_store *s, struct store_usage *ret)
{
        struct store_usage u = {0};
        MDB_envinfo info;
        struct statvfs vfs;
        struct stat st;
        MDB_stat stat;
        int fd, rc;

        /* The map is read through pointers a resize replaces: hold it. */
        pthread_rwlock_rdlock(&s->resize_lock);
        rc = mdb_env_info(s->env, &info);
        if (rc == 0)
                rc = mdb_env_stat(s->env, &stat);
        if (rc == 0)
                rc = mdb_env_get_fd(s->env, &fd);
        if (rc == 0) {
                u.map_size = info.me_mapsize;
                u.map_used = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
                u.file_size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
        }
        pthread_rwlock_unlock(&s->resize_lock);
        if (rc != 0)
                return store_errno(rc);
        if (fstatvfs(s->dir_fd, &vfs) < 0)
                return -errno;
        u.disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        u.disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        *ret = u;
        return 0;
}

int store_grow(struct vault_store *s)
{
        int rc;

        if (s->map_size >= STORE_MAP_LIMIT)
                return -ENOSPC;
        pthread_rwlock_wrlock(&s->resize_lock);
        rc = mdb_env_set_mapsize(s->env, s->map_size * 2);
        if (rc == 0)
                s->map_size *= 2;
        pthread_rwlock_unlock(&s->resize_lock);
        return store_errno(rc);
}

int store_make_room(struct vault_store *s)
{
        MDB_envinfo info;
        MDB_stat st;
        int r;

        for (;;) {
                if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
                        return -EIO;
                if (((uint64_t)info.me_last_pgno + 1) * st.ms_psize * 2 <= s->map_size)
                        return 0;
                if ((r = store_grow(s)) < 0)
                        return r;
        }
}

int store_copy(struct vault_store *s, int fd)
{
        int rc;

        pthread_rwlock_rdlock(&s->resize_lock);
        rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
        pthread_rwlock_unlock(&s->resize_lock);
        return store_errno(rc);
}

struct reader_search {
        pid_t pid;
        size_t thread;
        bool found;
};

/* One line of mdb_reader_list(): "pid thread txnid", txnid "-" for a slot
 * without a transaction. */
static int reader_line(const char *msg, void *userdata)
{
        struct reader_search *rs = userdata;
        unsigned long long txnid;
        size_t thread;
        int pid;

        if (sscanf(msg, "%d %zx %llu", &pid, &thread, &txnid) == 3 && pid == rs->pid && thread == rs->thread)
                rs->found = true;
        return 0;
}

bool store_reading(struct vault_store *s, pthread_t thread)
{
        struct reader_search rs = {getpid(), (size_t)thread, false};

        mdb_reader_list(s->env, reader_line, &rs);
        return rs.found;
}

int store_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, MDB_val *ret)
{
        MDB_val k = {klen, (void *)key};

        return store_errno(mdb_get(txn, dbi, &k, ret));
}

int store_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned flags)
{
        MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};

        return store_errno(mdb_put(txn, dbi, &k, &v, flags));
}

int store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
        MDB_val k = {klen, (void *)key};

        return store_errno(mdb_del(txn, dbi, &k, NULL));
}

int store_meta_get_u64(MDB_txn *txn, struct vault_store *s, const char *name, uint64_t *ret)
{
        MDB_val v;
        int k = store_get(txn, s->meta, name, strlen(name), &v);

        if (k < 0)
                return k;
        if (v.mv_size != 8)
                return -EIO;
        *ret = be64_get(v.mv_data);
        return 0;
}

int store_meta_put_u64(MDB_txn *txn, struct vault_store *s, const char *name, uint64_t v)
{
        uint8_t b[8];

        be64_put(b, v);
        return store_put(txn, s->meta, name, strlen(name), b, 8, 0);
}
