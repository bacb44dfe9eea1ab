#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "methods.h"
#include "util.h"
#include "writer.h"

#define IFACE "io.vaultd.admin"
/* What TryLater asks a second caller to wait while a backup runs. */
#define BACKUP_RETRY_AFTER_S 10
/* How often the writer looks whether the copy has taken its snapshot
 * (it does within a fraction of a millisecond: a thread start). */
#define SNAPSHOT_POLL_NS     20000L
#define SNAPSHOT_WAIT_MAX_US 1000000u

/* The copy in progress: one at a time, so one of these. The writer fills
 * it in before the copy thread starts and leaves it alone while `active`
 * (under lock) says a thread runs; the thread reads it, and clears active
 * as its last act. */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t idle;
        bool active;
        bool snapshot; /* atomic: the copy's read transaction began, or the copy ended */
        struct vault *v;
        struct job *call; /* the Backup call, deferred until the completion answers it */
        int fd;           /* the call's, borrowed */
        uint64_t request_seq, head_seq, time_us;
        uint8_t head[AUDIT_HASH_SIZE];
        pthread_t thread;
} copy = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

static int backup_done_run(struct vault *v, MDB_txn *txn, struct job *j);

/* The completion: an internal job in the name of the Backup's caller,
 * whose line (admin.backup-done) answers the call waiting for it. */
static const struct method backup_done_method = {
        .name = "io.vaultd.admin.Backup",
        .op = "admin.backup-done",
        .run = backup_done_run,
        .checkpoint = true,
};

static int check_fd(struct job *j)
{
        struct stat st;
        int flags;

        if (!j->has_fd)
                return job_invalid(j, IFACE, "fd",
                                   "no file descriptor came with the call: pass a new, empty file open for "
                                   "writing with the call's first byte (SCM_RIGHTS, docs/protocol.md), as "
                                   "'vaultctl backup FILE' does");
        flags = fcntl(j->fd, F_GETFL);
        if (flags < 0 || fstat(j->fd, &st) < 0)
                return job_invalid(j, IFACE, "fd", "the descriptor cannot be examined");
        if (!S_ISREG(st.st_mode))
                return job_invalid(j, IFACE, "fd",
                                   "not a regular file (a FIFO, socket or device cannot hold a backup)");
        if ((flags & O_PATH) || (flags & O_ACCMODE) == O_RDONLY)
                return job_invalid(j, IFACE, "fd", "the file is open read-only: open it for writing");
        if (st.st_size != 0)
                return job_invalid(j, IFACE, "fd", "the file is not empty: pass a new, empty file");
        return 0;
}

static bool copy_running(void)
{
        bool active;

        pthread_mutex_lock(&copy.lock);
        active = copy.active;
        pthread_mutex_unlock(&copy.lock);
        return active;
}

int backup_run(struct vault *v, MDB_txn *txn, struct job *j)
{
        int r;

        (void)v;
        (void)txn;
        if ((r = check_fd(j)) != 0)
                return r;
        if (copy_running())
                return job_fail(j, IFACE ".TryLater",
                                json_pack("{s:I}", "retry_after", (json_int_t)BACKUP_RETRY_AFTER_S));
        return 0;
}

/* Queues the completion of call, with facts (stolen) as its parameters:
 * request_seq, head_seq, head_hash, time, and size and milliseconds, or
 * reason when the copy failed. */
static void completion_submit(struct vault *v, struct job *call, json_t *facts)
{
        struct job *c = calloc(1, sizeof(*c));
        char *user = call->actor.user ? strdup(call->actor.user) : NULL;

        if (!c || !facts || (call->actor.user && !user)) {
                /* Nothing can answer the call now; its client times out. */
                log_error("out of memory: the backup of audit seq %llu gets no completion line or reply",
                          (unsigned long long)call->seq);
                free(c);
                free(user);
                json_decref(facts);
                return;
        }
        c->method = &backup_done_method;
        c->internal = true; /* the call was authorised; its completion must be written */
        c->audit.version = -1;
        c->actor = call->actor;
        c->actor.user = user;
        c->call.root = facts;
        c->call.parameters = facts;
        c->waiting = call;
        writer_submit(v->writer, c);
}

/* Ends the copy (r: 0 or -errno) and lets the next one start. */
static void copy_finish(int r, uint64_t size, uint64_t elapsed_us)
{
        char hex[AUDIT_HASH_HEX_SIZE], when[TIME_STRING_MAX];
        json_t *facts;

        hex_encode(copy.head, AUDIT_HASH_SIZE, hex);
        time_format_us(copy.time_us, when);
        facts = json_pack("{s:I,s:I,s:s,s:s}", "request_seq", (json_int_t)copy.request_seq, "head_seq",
                          (json_int_t)copy.head_seq, "head_hash", hex, "time", when);
        if (facts && r < 0)
                json_object_set_new(facts, "reason", json_string(strerror(-r)));
        else if (facts)
                json_object_update_new(facts, json_pack("{s:I,s:I}", "size", (json_int_t)size,
                                                        "milliseconds", (json_int_t)(elapsed_us / 1000)));
        completion_submit(copy.v, copy.call, facts);
        pthread_mutex_lock(&copy.lock);
        copy.active = false;
        pthread_cond_broadcast(&copy.idle);
        pthread_mutex_unlock(&copy.lock);
}

static void *copy_main(void *arg)
{
        uint64_t start = now_monotonic_us();
        struct stat st = {0};
        int r;

        (void)arg;
        pthread_setname_np(pthread_self(), "vaultd-backup");
        r = lseek(copy.fd, 0, SEEK_SET) < 0 ? -errno : store_copy(copy.v->store, copy.fd);
        __atomic_store_n(&copy.snapshot, true, __ATOMIC_RELEASE);
        if (r == 0 && fsync(copy.fd) < 0)
                r = -errno;
        if (r == 0 && fstat(copy.fd, &st) < 0)
                r = -errno;
        copy_finish(r, (uint64_t)st.st_size, now_monotonic_us() - start);
        return NULL;
}

/* The writer stays paused (no commit) until the copy's read transaction
 * has begun, so that the copy holds exactly the head recorded for it. It
 * begins within a thread start; should LMDB's reader table ever not show
 * it, writers must not wait for the whole copy. */
static void wait_snapshot(struct vault *v)
{
        const struct timespec pause = {0, SNAPSHOT_POLL_NS};
        uint64_t deadline = now_monotonic_us() + SNAPSHOT_WAIT_MAX_US;

        while (!__atomic_load_n(&copy.snapshot, __ATOMIC_ACQUIRE) && !store_reading(v->store, copy.thread)) {
                if (now_monotonic_us() > deadline) {
                        log_warning("backup of audit seq %llu: its snapshot did not show in LMDB's reader "
                                    "table within a second; writers go on, and the copy may hold lines "
                                    "after seq %llu, the head recorded for it",
                                    (unsigned long long)copy.request_seq, (unsigned long long)copy.head_seq);
                        return;
                }
                nanosleep(&pause, NULL);
        }
}

static int copy_start(void)
{
        pthread_attr_t attr;
        int r;

        if ((r = pthread_attr_init(&attr)) != 0)
                return -r;
        r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (r == 0)
                r = pthread_create(&copy.thread, &attr, copy_main, NULL);
        pthread_attr_destroy(&attr);
        return -r;
}

void backup_settled(struct vault *v, struct job *j)
{
        char reason[128];
        bool busy;
        int r;

        j->deferred = true;
        pthread_mutex_lock(&copy.lock);
        busy = copy.active;
        copy.active = true;
        pthread_mutex_unlock(&copy.lock);
        if (busy) { /* two Backups in one batch: the first one runs */
                completion_submit(v, j,
                                  json_pack("{s:I,s:s}", "request_seq", (json_int_t)j->seq, "reason",
                                            "another backup started first"));
                return;
        }
        if ((r = store_make_room(v->store)) < 0)
                log_warning("cannot grow the map before a backup (%s): a batch that needs a larger map "
                            "waits until the backup ends",
                            strerror(-r));
        copy.v = v;
        copy.call = j;
        copy.fd = j->fd;
        copy.request_seq = j->seq;
        copy.head_seq = v->audit->next_seq - 1;
        memcpy(copy.head, v->audit->head, AUDIT_HASH_SIZE);
        copy.time_us = now_realtime_us();
        __atomic_store_n(&copy.snapshot, false, __ATOMIC_RELEASE);
        r = copy_start();
        if (r < 0) {
                snprintf(reason, sizeof(reason), "cannot start the copy thread: %s", strerror(-r));
                log_error("backup of audit seq %llu: %s", (unsigned long long)j->seq, reason);
                copy_finish(r, 0, 0);
                return;
        }
        wait_snapshot(v);
}

/* A copy that failed: the call's InternalError, with why and what to do. */
static int copy_failed(struct job *j, json_t *facts)
{
        char why[512];

        snprintf(why, sizeof(why),
                 "the backup failed: %s; nothing in the vault changed, the file is incomplete: "
                 "delete it (and check the space and health of its disk)",
                 json_string_value(json_object_get(facts, "reason")) ?: "unknown error");
        j->audit.extra = json_pack("{s:O,s:O}", "request_seq", json_object_get(facts, "request_seq"),
                                   "reason", json_object_get(facts, "reason"));
        return job_fail(j, IFACE ".InternalError", json_pack("{s:s}", "reason", why));
}

static int backup_done_run(struct vault *v, MDB_txn *txn, struct job *j)
{
        json_t *facts = j->call.parameters;
        uint64_t size = (uint64_t)json_integer_value(json_object_get(facts, "size"));
        uint64_t head = (uint64_t)json_integer_value(json_object_get(facts, "head_seq"));
        int r;

        if (json_object_get(facts, "reason"))
                return copy_failed(j, facts);
        if ((r = store_meta_put_u64(txn, v->store, META_BACKUP_TIME, now_realtime_us())) < 0 ||
            (r = store_meta_put_u64(txn, v->store, META_BACKUP_SIZE, size)) < 0 ||
            (r = store_meta_put_u64(txn, v->store, META_BACKUP_SEQ, head)) < 0)
                return r;
        j->audit.extra = json_pack(
                "{s:O,s:O,s:O,s:O,s:O}", "request_seq", json_object_get(facts, "request_seq"), "size",
                json_object_get(facts, "size"), "head_seq", json_object_get(facts, "head_seq"), "head_hash",
                json_object_get(facts, "head_hash"), "milliseconds", json_object_get(facts, "milliseconds"));
        j->reply = json_pack("{s:O,s:O,s:O,s:O}", "size", json_object_get(facts, "size"), "head_seq",
                             json_object_get(facts, "head_seq"), "head_hash",
                             json_object_get(facts, "head_hash"), "time", json_object_get(facts, "time"));
        return j->audit.extra && j->reply ? 0 : -ENOMEM;
}

int backup_last_time(struct vault *v, uint64_t *ret_us)
{
        MDB_txn *txn;
        int r = store_read_begin(v->store, &txn);

        if (r < 0)
                return r;
        r = store_meta_get_u64(txn, v->store, META_BACKUP_TIME, ret_us);
        store_read_end(v->store, txn);
        return r;
}

int backup_status(struct vault *v, json_t *reply)
{
        char when[TIME_STRING_MAX];
        uint64_t last = 0, now = now_realtime_us();
        int r = backup_last_time(v, &last);

        if (r == -ENOENT)
                return 0; /* never backed up: the fields stay out */
        if (r < 0)
                return r;
        time_format_us(last, when);
        return json_object_update_new(reply,
                                      json_pack("{s:s,s:I}", "backup_time", when, "backup_age_seconds",
                                                (json_int_t)(now > last ? (now - last) / 1000000u : 0)));
}

void backup_wait(struct vault *v)
{
        (void)v;
        pthread_mutex_lock(&copy.lock);
        if (copy.active)
                log_info("waiting for the backup in progress (audit seq %llu) to end",
                         (unsigned long long)copy.request_seq);
        while (copy.active)
                pthread_cond_wait(&copy.idle, &copy.lock);
        pthread_mutex_unlock(&copy.lock);
}
