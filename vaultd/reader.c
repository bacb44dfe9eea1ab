#include "reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "methods.h"
#include "util.h"
#include "varlink.h"

/* Where a task is. Only the thread runs a RUNNING task; only the event
 * loop takes a READY task's output. */
enum task_state {
        TASK_IDLE,    /* output taken; nothing asked */
        TASK_QUEUED,  /* in the run queue */
        TASK_RUNNING, /* a slice runs on the thread */
        TASK_READY,   /* output waits for the event loop */
};

struct reader_task {
        struct reader *rd;
        struct job *job; /* NULL once cancelled */
        const struct reader_ops *ops;
        void *state;
        enum task_state st;
        bool done;        /* the reply is complete: no slice follows */
        bool cancelled;   /* the job is gone: free when no one holds the task */
        bool in_ready;    /* linked in rd's ready list */
        bool dispatching; /* in a list reader_dispatch walks: it frees a cancelled one */
        struct reader_buf out;
        int result;
        const char *error;
        json_t *error_params;
        struct reader_task *run_next, *ready_next;
};

struct verify_claim {
        uid_t uid;
        const struct job *job;
};

struct reader {
        struct vault *v;
        int fd; /* eventfd: the ready list is not empty */
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping;
        struct reader_task *run_head, *run_tail;
        struct reader_task *ready_head, *ready_tail;
        struct verify_claim claims[READER_VERIFY_MAX];
        size_t nclaims;
};

int reader_buf_reserve(struct reader_buf *b, size_t n)
{
        size_t cap;
        char *p;

        if (b->cap - b->len >= n)
                return 0;
        if (n > SIZE_MAX / 2 - b->len)
                return -ENOMEM;
        for (cap = b->cap ? b->cap : 4096; cap - b->len < n; cap *= 2)
                ;
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int reader_buf_append(struct reader_buf *b, const void *p, size_t n)
{
        int r = reader_buf_reserve(b, n);

        if (r < 0)
                return r;
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

int reader_buf_reply(struct reader_buf *b, json_t *params, bool continues)
{
        char *msg;
        size_t len;
        int r = vl_reply_encode(params, continues, &msg, &len);

        if (r < 0)
                return r;
        r = reader_buf_append(b, msg, len + 1);
        free(msg);
        return r;
}

void reader_buf_done(struct reader_buf *b)
{
        free(b->data);
        *b = (struct reader_buf){0};
}

static void task_free(struct reader_task *t)
{
        if (t->ops && t->state)
                t->ops->free(t->state);
        reader_buf_done(&t->out);
        json_decref(t->error_params);
        free(t);
}

static void list_remove(struct reader_task **head, struct reader_task **tail, struct reader_task *t,
                        size_t next_offset)
{
#define NEXT(x) (*(struct reader_task **)((char *)(x) + next_offset))
        struct reader_task *prev = NULL;

        for (struct reader_task *i = *head; i; prev = i, i = NEXT(i)) {
                if (i != t)
                        continue;
                if (prev)
                        NEXT(prev) = NEXT(t);
                else
                        *head = NEXT(t);
                if (*tail == t)
                        *tail = prev;
                NEXT(t) = NULL;
                return;
        }
#undef NEXT
}

static void run_push(struct reader *rd, struct reader_task *t)
{
        t->st = TASK_QUEUED;
        t->run_next = NULL;
        if (rd->run_tail)
                rd->run_tail->run_next = t;
        else
                rd->run_head = t;
        rd->run_tail = t;
        pthread_cond_signal(&rd->wake);
}

/* Under the lock: a cancelled task that neither the thread nor a dispatch
 * holds is unlinked, and returned for the caller to free unlocked. */
static struct reader_task *task_unheld(struct reader *rd, struct reader_task *t)
{
        if (!t->cancelled || t->st == TASK_RUNNING || t->dispatching)
                return NULL;
        if (t->st == TASK_QUEUED)
                list_remove(&rd->run_head, &rd->run_tail, t, offsetof(struct reader_task, run_next));
        if (t->in_ready)
                list_remove(&rd->ready_head, &rd->ready_tail, t, offsetof(struct reader_task, ready_next));
        return t;
}

static void claim_release_locked(struct reader *rd, const struct job *j)
{
        for (size_t i = 0; i < rd->nclaims; i++)
                if (rd->claims[i].job == j) {
                        rd->claims[i] = rd->claims[--rd->nclaims];
                        return;
                }
}

/* One slice of t, in a read transaction of its own. */
static void task_slice(struct reader *rd, struct reader_task *t)
{
        uint64_t start = now_monotonic_us();
        MDB_txn *txn;
        int r;

        r = store_read_begin(rd->v->store, &txn);
        if (r == 0) {
                do
                        r = t->ops->next(rd->v, txn, t->state, &t->out, &t->done, &t->error,
                                         &t->error_params);
                while (r == 0 && !t->done && t->out.len < READER_CHUNK_BYTES &&
                       now_monotonic_us() - start < READER_SLICE_USEC);
                store_read_end(rd->v->store, txn);
        }
        if (r != 0) {
                t->result = r;
                t->done = true;
        }
}

static void notify(struct reader *rd)
{
        uint64_t one = 1;

        if (write(rd->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                log_warning("cannot wake the event loop for a finished read: %m");
}

/* After a slice: the output goes to the event loop, or the task waits for
 * its next turn. */
static struct reader_task *slice_done(struct reader *rd, struct reader_task *t)
{
        if (t->done && t->job)
                claim_release_locked(rd, t->job); /* before the reply: the caller may verify again */
        if (!t->done && t->out.len == 0 && !t->cancelled) {
                run_push(rd, t); /* nothing to show yet: the next turn */
                return NULL;
        }
        t->st = TASK_READY;
        if (t->cancelled)
                return task_unheld(rd, t);
        /* A task in a list being dispatched is called back there. */
        if (!t->in_ready && !t->dispatching) {
                bool was_empty = !rd->ready_head;

                t->in_ready = true;
                t->ready_next = NULL;
                if (rd->ready_tail)
                        rd->ready_tail->ready_next = t;
                else
                        rd->ready_head = t;
                rd->ready_tail = t;
                if (was_empty)
                        notify(rd);
        }
        return NULL;
}

static void *reader_main(void *userdata)
{
        struct reader *rd = userdata;

        pthread_setname_np(pthread_self(), "vaultd-reader");
        pthread_mutex_lock(&rd->lock);
        for (;;) {
                struct reader_task *t, *gone;

                while (!rd->stopping && !rd->run_head)
                        pthread_cond_wait(&rd->wake, &rd->lock);
                if (rd->stopping)
                        break;
                t = rd->run_head;
                rd->run_head = t->run_next;
                if (!rd->run_head)
                        rd->run_tail = NULL;
                t->run_next = NULL;
                t->st = TASK_RUNNING;
                pthread_mutex_unlock(&rd->lock);
                task_slice(rd, t);
                pthread_mutex_lock(&rd->lock);
                gone = slice_done(rd, t);
                if (gone) {
                        pthread_mutex_unlock(&rd->lock);
                        task_free(gone);
                        pthread_mutex_lock(&rd->lock);
                }
        }
        pthread_mutex_unlock(&rd->lock);
        return NULL;
}

int reader_start(struct vault *v, struct reader **ret)
{
        struct reader *rd = calloc(1, sizeof(*rd));
        int r;

        if (!rd)
                return -ENOMEM;
        rd->v = v;
        pthread_mutex_init(&rd->lock, NULL);
        pthread_cond_init(&rd->wake, NULL);
        rd->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (rd->fd < 0) {
                r = -errno;
                reader_stop(rd);
                return r;
        }
        r = -pthread_create(&rd->thread, NULL, reader_main, rd);
        if (r < 0) {
                reader_stop(rd);
                return r;
        }
        rd->started = true;
        *ret = rd;
        return 0;
}

void reader_stop(struct reader *rd)
{
        struct reader_task *t, *next;

        if (!rd)
                return;
        if (rd->started) {
                pthread_mutex_lock(&rd->lock);
                rd->stopping = true;
                pthread_cond_signal(&rd->wake);
                pthread_mutex_unlock(&rd->lock);
                pthread_join(rd->thread, NULL);
        }
        /* Tasks still linked belong to jobs not freed yet (there should
         * be none: connections close first): they are detached, and their
         * job frees them (reader_task_cancel without a reader). */
        for (t = rd->run_head; t; t = next) {
                next = t->run_next;
                t->run_next = NULL;
                t->st = TASK_IDLE;
                t->rd = NULL;
        }
        for (t = rd->ready_head; t; t = next) {
                next = t->ready_next;
                t->ready_next = NULL;
                t->in_ready = false;
                t->rd = NULL;
        }
        rd->run_head = rd->run_tail = rd->ready_head = rd->ready_tail = NULL;
        if (rd->fd >= 0)
                close(rd->fd);
        pthread_cond_destroy(&rd->wake);
        pthread_mutex_destroy(&rd->lock);
        free(rd);
}

int reader_fd(struct reader *rd)
{
        return rd->fd;
}

static int task_new(struct reader *rd, struct job *j, struct reader_task **ret)
{
        struct reader_task *t = calloc(1, sizeof(*t));
        int r;

        if (!t)
                return -ENOMEM;
        t->rd = rd;
        t->job = j;
        t->ops = j->method->reader;
        r = t->ops->start(rd->v, j, &t->state);
        if (r < 0) {
                free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int reader_poll(struct reader *rd, struct job *j, bool request, struct reader_out *ret)
{
        struct reader_task *t = j->reader_task;
        int r = 0;

        if (!t) {
                if (!request)
                        return 0;
                r = task_new(rd, j, &t);
                if (r < 0)
                        return r;
                j->reader_task = t;
                pthread_mutex_lock(&rd->lock);
                run_push(rd, t);
                pthread_mutex_unlock(&rd->lock);
                return 0;
        }
        pthread_mutex_lock(&rd->lock);
        if (t->st == TASK_READY) {
                *ret = (struct reader_out){t->out, t->done, t->result, t->error, t->error_params};
                t->out = (struct reader_buf){0};
                t->error_params = NULL;
                t->st = TASK_IDLE;
                r = 1;
        }
        if (t->st == TASK_IDLE && !t->done && request)
                run_push(rd, t);
        pthread_mutex_unlock(&rd->lock);
        return r;
}

bool reader_task_busy(struct reader_task *t)
{
        bool busy;

        if (!t || !t->rd)
                return false;
        pthread_mutex_lock(&t->rd->lock);
        busy = t->st == TASK_QUEUED || t->st == TASK_RUNNING;
        pthread_mutex_unlock(&t->rd->lock);
        return busy;
}

void reader_dispatch(struct reader *rd, void (*ready)(struct job *j, void *userdata), void *userdata)
{
        struct reader_task *list, *t, *next;
        uint64_t count;

        if (read(rd->fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                log_warning("reader eventfd read failed: %m");
        pthread_mutex_lock(&rd->lock);
        list = rd->ready_head;
        rd->ready_head = rd->ready_tail = NULL;
        for (t = list; t; t = t->ready_next) {
                t->in_ready = false;
                t->dispatching = true;
        }
        pthread_mutex_unlock(&rd->lock);
        for (t = list; t; t = next) {
                struct reader_task *gone;
                struct job *j;

                pthread_mutex_lock(&rd->lock);
                next = t->ready_next;
                t->ready_next = NULL;
                t->dispatching = false;
                j = t->job;
                gone = task_unheld(rd, t);
                pthread_mutex_unlock(&rd->lock);
                if (gone)
                        task_free(gone);
                else if (j)
                        ready(j, userdata); /* may free j, and t with it */
        }
}

void reader_task_cancel(struct reader_task *t)
{
        struct reader *rd;
        struct reader_task *gone;

        if (!t)
                return;
        rd = t->rd;
        if (!rd) {
                task_free(t);
                return;
        }
        pthread_mutex_lock(&rd->lock);
        t->job = NULL;
        t->cancelled = true;
        gone = task_unheld(rd, t);
        pthread_mutex_unlock(&rd->lock);
        if (gone)
                task_free(gone);
}

int reader_claim(struct reader *rd, uid_t uid, const struct job *j)
{
        int r = 0;

        pthread_mutex_lock(&rd->lock);
        for (size_t i = 0; i < rd->nclaims && r == 0; i++) {
                if (rd->claims[i].job == j)
                        goto out; /* the same job, its batch run again */
                if (rd->claims[i].uid == uid)
                        r = -EBUSY;
        }
        if (r == 0 && rd->nclaims == READER_VERIFY_MAX)
                r = -EAGAIN;
        if (r == 0)
                rd->claims[rd->nclaims++] = (struct verify_claim){uid, j};
out:
        pthread_mutex_unlock(&rd->lock);
        return r;
}

void reader_release(struct reader *rd, const struct job *j)
{
        pthread_mutex_lock(&rd->lock);
        claim_release_locked(rd, j);
        pthread_mutex_unlock(&rd->lock);
}
