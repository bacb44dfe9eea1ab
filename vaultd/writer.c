#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "methods.h"
#include "collname.h"
#include "pseudonym.h"
#include "recprefetch.h"
#include "records.h"
#include "util.h"

#define WRITER_BATCH_MAX 1024
#define WRITER_RETRY_MAX 8
/* A batch stops growing past this many request bytes, so one transaction
 * stays far below the map size. */
#define WRITER_BATCH_BYTES (64u << 20)
/* What one refusal's audit line may take on disk, for the space check
 * (names are short; the line, its key and its page share). */
#define REFUSAL_LINE_BYTES 2048

struct writer {
        struct vault *v;
        int notify_fd;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        struct job *queue_head, *queue_tail;
        /* The large lane: jobs waiting for a batch of their own to decrypt
         * a large body (JOB_WAIT), in call order, and whether the next
         * batch is theirs: they take turns with the queue, one job per
         * batch, the oldest first. */
        struct job *large_head, *large_tail;
        bool large_turn;
        struct job *done_head, *done_tail;
        bool stopping;
        bool kicked; /* bodies were sent: jobs waiting for room may run */
        struct writer_stats stats;
        uint64_t busy_since; /* monotonic µs, 0 when idle; atomic */
        /* A checkpoint failed to be signed and stored, or to be published,
         * and has not succeeded since (each is reported once). */
        bool sign_failing, publish_failing;
        /* The policy in force at commit: calls are authorised again against
         * it, so nothing a reload revoked commits after the reload's line.
         * It is swapped here when a reload commits; the event loop frees a
         * policy only after that (DESIGN §8). */
        const struct policy *policy;
};

static void set_busy(struct writer *w, bool busy)
{
        __atomic_store_n(&w->busy_since, busy ? now_monotonic_us() : 0, __ATOMIC_RELAXED);
}

uint64_t writer_busy_us(struct writer *w)
{
        uint64_t since = __atomic_load_n(&w->busy_since, __ATOMIC_RELAXED);

        return since ? now_monotonic_us() - since : 0;
}

static void list_append(struct job **head, struct job **tail, struct job *j)
{
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

/* Whether j will run its method in its batch (as run_job decides), so
 * that what the method writes counts for the batch's space. */
static bool job_runs(struct vault *v, const struct job *j)
{
        /* (An internal job runs unless denied: a SIGHUP's reload does, a
         * denial summary does not.) */
        return !j->denied && !j->preset_error &&
               !(j->method->needs_keys && __atomic_load_n(&v->sealed, __ATOMIC_RELAXED));
}

static bool writes_much(struct vault *v, const struct job *j)
{
        return j->method->writes && job_runs(v, j);
}

/* A denied call's audit line names the record it asked for, when the
 * names are well-formed (never arbitrary client bytes). */
static void denied_audit_fields(struct vault *v, MDB_txn *txn, struct job *j)
{
        const char *coll = json_string_value(json_object_get(j->call.parameters, "collection"));
        const char *id = json_string_value(json_object_get(j->call.parameters, "id"));
        char stored[NAME_COLLECTION_MAX + 1];

        /* A private collection is named by its pseudonym; one that cannot
         * be told apart now (sealed) is not named at all. */
        if (coll && name_collection_valid(coll) && collname_stored(v, txn, coll, stored) == 0)
                j->audit.collection = strcmp(stored, coll) == 0 ? coll : collname_adopt(j, stored);
        /* An id of a collection with private ids never reaches the trail,
         * nor one of a collection not told apart. */
        if (id && name_id_valid(id) && (j->audit.collection || !coll || !name_collection_valid(coll)) &&
            !(j->audit.collection && pseudonym_private(v, txn, j->audit.collection)))
                j->audit.id = id;
}

static int append_line(struct writer *w, MDB_txn *txn, struct job *j, int r);

/* Runs one job in a child transaction and appends its audit line. *policy
 * is the policy in force at this point of the batch; a reload moves it. */
static int run_job(struct writer *w, MDB_txn *txn, struct job *j, const struct policy **policy)
{
        MDB_txn *child;
        int r;

        job_reset(j);
        if (!j->denied && !j->internal && j->method->roles && !method_authorise(*policy, j))
                j->denied = true; /* revoked since the event loop let it through */
        if (j->denied) {
                denied_audit_fields(w->v, txn, j);
                if (j->denial_summary)
                        collname_summary(w->v, txn, j->denial_summary);
                j->audit.extra = json_incref(j->denial_summary);
                r = job_fail(j, method_error(j->method, "AccessDenied"),
                             json_pack("{s:s}", "method", j->method->name));
        } else if (j->method->needs_keys && __atomic_load_n(&w->v->sealed, __ATOMIC_RELAXED))
                r = job_fail(j, method_error(j->method, "Sealed"), NULL);
        else if (j->preset_error)
                r = job_fail(j, j->preset_error, json_incref(j->preset_error_params));
        else {
                r = store_begin_child(txn, &child);
                if (r < 0)
                        return r;
                j->previous_policy = *policy;
                r = collname_run(w->v, child, j);
                if (r == JOB_WAIT) { /* for a later batch: nothing done, no line */
                        mdb_txn_abort(child);
                        job_reset(j);
                        j->wait_turn = true;
                        return 0;
                }
                if (r == 0)
                        r = store_commit(child);
                else
                        mdb_txn_abort(child);
                if (r == 0 && j->pending_policy)
                        *policy = j->pending_policy; /* a reload: in force for the rest */
                if (r == -ENOBUFS)
                        return r;
                if (r < 0)
                        r = job_fail_errno(j, r);
        }
        return append_line(w, txn, j, r);
}

/* Appends j's audit line; r is what its run returned (0: ok). */
static int append_line(struct writer *w, MDB_txn *txn, struct job *j, int r)
{
        struct audit_entry e = {
                .time_us = j->audit.time_us && r == 0 ? j->audit.time_us : now_realtime_us(),
                .actor = j->actor,
                .op = j->method->op,
                .collection = j->audit.collection,
                .id = j->audit.id,
                .version = j->audit.version,
                .result = r == 0      ? "ok"
                          : j->denied ? "denied"
                                      : "error",
                .error = j->error ? strrchr(j->error, '.') + 1 : NULL,
                .extra = j->audit.extra,
        };

        return audit_append(w->v->audit, txn, &e, &j->seq);
}

/* A write transaction for a batch that writes about need bytes (only
 * refusals may use the store's reserve), with the audit head tracking it. */
static int txn_begin(struct writer *w, uint64_t need, bool use_reserve, MDB_txn **ret)
{
        int r = store_space_check(w->v->store, need, use_reserve);

        if (r < 0 || (r = store_begin(w->v->store, true, ret)) < 0)
                return r;
        audit_txn_begin(w->v->audit);
        return 0;
}

/* A checkpoint could not be signed and stored, or published (r): an
 * integrity failure, counted and logged once for as long as it lasts
 * (*failing; the next try is a second away). A full disk is not one:
 * Status shows the disk. */
static void checkpoint_failed(struct writer *w, bool *failing, const char *what, int r)
{
        struct integrity_event e = {.kind = INTEGRITY_CHECKPOINT, .seq = UINT64_MAX, .version = -1};

        if (r == -EIO && store_space_check(w->v->store, 0, false) == -ENOSPC)
                r = -ENOSPC; /* LMDB reports a short write on a full disk as EIO */
        if (*failing)
                return;
        *failing = true;
        if (r == -ENOSPC) {
                log_error("%s: the disk is full; free space in the state directory's file system", what);
                return;
        }
        snprintf(e.op, sizeof(e.op), "audit.checkpoint");
        snprintf(e.what, sizeof(e.what), "%s: %s", what, strerror(-r));
        health_integrity(&w->v->health, &e);
}

/* Signs a checkpoint when one is due (by count or time, or force: an
 * Export's, or at shutdown). The lines are durable either way: a failure
 * only delays the checkpoint, and is logged. */
static void checkpoint(struct writer *w, bool force)
{
        struct audit_log *log = w->v->audit;
        uint64_t stored = log->checkpoint_size;
        char what[128];
        int r;

        /* Sealed, the keeper has no signing key: the lines wait for the
         * first checkpoint after unseal, which covers them all. */
        if (__atomic_load_n(&w->v->sealed, __ATOMIC_RELAXED))
                return;
        r = audit_checkpoint(log, now_realtime_us(), force);
        if (r == -EBADMSG) /* the keeper hashed the lines itself, and they do not chain */
                checkpoint_failed(w, &w->sign_failing,
                                  "the key keeper refused to sign an audit checkpoint: the lines since the "
                                  "last one do not chain (altered in the store?)",
                                  r);
        else if (r < 0)
                checkpoint_failed(w, &w->sign_failing, "cannot sign an audit checkpoint", r);
        else if (log->checkpoint_size != stored && w->sign_failing) {
                w->sign_failing = false;
                log_info("audit checkpoints are signed again (size %llu)",
                         (unsigned long long)log->checkpoint_size);
        }
        /* Published once stored (vaultd/published.h), retried until it
         * is; a failure leaves the file one checkpoint behind, which the
         * next start accepts. */
        if (!w->v->published)
                return;
        r = published_update(w->v->published, log);
        if (r < 0) {
                snprintf(what, sizeof(what), "cannot publish audit checkpoint %llu to " PUBLISHED_FILE,
                         (unsigned long long)log->checkpoint_size);
                checkpoint_failed(w, &w->publish_failing, what, r);
        } else if (w->publish_failing) {
                w->publish_failing = false;
                log_info("audit checkpoint %llu published to " PUBLISHED_FILE " again",
                         (unsigned long long)log->checkpoint_size);
        }
}

/* One attempt at a batch. -ENOBUFS: the map is full, grow and retry. */
static int run_batch_once(struct writer *w, struct job *batch)
{
        uint64_t active = __atomic_load_n(&w->v->records_active, __ATOMIC_RELAXED);
        const struct policy *policy = w->policy;
        bool force_checkpoint = false;
        uint64_t bytes = 0;
        MDB_txn *txn;
        int r;

        /* Twice the request bytes bounds what the batch writes (bodies are
         * base64 on the wire, slightly larger sealed on disk), with what
         * a method writes beyond its request: only for a call that will
         * run it (a denied one must not make its batch StorageFull). */
        for (struct job *j = batch; j; j = j->next)
                bytes += 2 * j->cost + (job_runs(w->v, j) ? j->method->writes : 0);
        r = txn_begin(w, bytes, false, &txn);
        if (r < 0)
                return r;
        /* The batch's pseudonyms (one keeper round trip per collection
         * with private ids) and data keys (one round trip), not one of
         * each per record call (a job whose pseudonym or key was not
         * fetched asks for it). */
        if (!__atomic_load_n(&w->v->sealed, __ATOMIC_RELAXED))
                recprefetch_batch(w->v, txn, batch);
        for (struct job *j = batch; j; j = j->next) {
                r = run_job(w, txn, j, &policy);
                if (r < 0)
                        goto abort;
                force_checkpoint |= j->method->checkpoint && !j->wait_turn;
        }
        keeper_dek_forget(w->v->keeper);
        keeper_pseudonym_forget(w->v->keeper);
        /* The count of active records, kept so start-up never scans. */
        if (__atomic_load_n(&w->v->records_active, __ATOMIC_RELAXED) != active &&
            (r = store_meta_put_u64(txn, w->v->store, RECORDS_ACTIVE_KEY,
                                    __atomic_load_n(&w->v->records_active, __ATOMIC_RELAXED))) < 0)
                goto abort;
        r = store_commit(txn);
        /* LMDB reports a short write on a full disk as EIO. */
        if (r == -EIO && store_space_check(w->v->store, bytes, false) == -ENOSPC)
                r = -ENOSPC;
        if (r < 0)
                return r;
        audit_txn_commit(w->v->audit);
        w->policy = policy;
        for (struct job *j = batch; j; j = j->next)
                if (!j->error && !j->wait_turn && j->method->committed)
                        j->method->committed(w->v, j);
        checkpoint(w, force_checkpoint);
        for (struct job *j = batch; j; j = j->next)
                if (!j->error && !j->wait_turn && j->method->settled)
                        j->method->settled(w->v, j);
        return 0;
abort:
        keeper_dek_forget(w->v->keeper);
        keeper_pseudonym_forget(w->v->keeper);
        mdb_txn_abort(txn);
        return r;
}

/* The batch could not be written (err): every job is refused with its
 * own audit line, in a transaction of audit lines alone that may use the
 * store's reserve, so even a StorageFull reply follows its durable line.
 * Returns 0, or -errno when not even that can be written. */
static int refuse_batch(struct writer *w, struct job *batch, int err)
{
        uint64_t need = 0;
        MDB_txn *txn;
        int r;

        for (struct job *j = batch; j; j = j->next)
                need += REFUSAL_LINE_BYTES;
        r = txn_begin(w, need, true, &txn);
        if (r < 0)
                return r;
        for (struct job *j = batch; j; j = j->next) {
                job_reset(j);
                r = job_fail_errno(j, err);
                if (r >= 0)
                        r = append_line(w, txn, j, r);
                if (r < 0) {
                        mdb_txn_abort(txn);
                        return r;
                }
        }
        r = store_commit(txn);
        if (r < 0)
                return r;
        audit_txn_commit(w->v->audit);
        return 0;
}

/* Not even a refusal could be written: these jobs must not be answered
 * (every answer follows its durable line); the event loop fails closed. */
static void abandon_batch(struct job *batch)
{
        for (struct job *j = batch; j; j = j->next) {
                job_reset(j);
                j->unaudited = true;
                j->seq = UINT64_MAX;
        }
}

static void run_batch(struct writer *w, struct job *batch)
{
        uint64_t active = __atomic_load_n(&w->v->records_active, __ATOMIC_RELAXED);
        int r, tries = 0;

        for (;;) {
                r = run_batch_once(w, batch);
                if (r != -ENOBUFS || tries++ == WRITER_RETRY_MAX)
                        break;
                __atomic_store_n(&w->v->records_active, active, __ATOMIC_RELAXED);
                pthread_mutex_lock(&w->lock);
                w->stats.retries++;
                pthread_mutex_unlock(&w->lock);
                if (store_grow(w->v->store) < 0)
                        break;
        }
        if (r < 0) {
                /* Nothing was written: no reply may claim otherwise. */
                __atomic_store_n(&w->v->records_active, active, __ATOMIC_RELAXED);
                pthread_mutex_lock(&w->lock);
                w->stats.storage_failures++;
                pthread_mutex_unlock(&w->lock);
                if (refuse_batch(w, batch, r == -ENOBUFS ? -ENOSPC : r) < 0)
                        abandon_batch(batch);
        }
}

static void notify(struct writer *w)
{
        uint64_t one = 1;

        if (write(w->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                fprintf(stderr, "vaultd: cannot wake the event loop: %m\n");
}

static struct job *take_batch(struct writer *w)
{
        struct job *batch, *last;
        size_t n = 1, bytes;

        w->v->large_lane = w->large_head && (w->large_turn || !w->queue_head);
        if (w->v->large_lane) {
                /* The oldest whose connection holds no large body yet (a
                 * connection's own order is kept: all of its jobs wait
                 * while it holds one); when stopping, the oldest (nothing
                 * is sent any more, so nothing would be released). */
                struct job *prev = NULL;

                bool stopping = __atomic_load_n(&w->v->bodies_unlimited, __ATOMIC_RELAXED);

                for (batch = w->large_head; batch; prev = batch, batch = batch->next)
                        if (stopping || !batch->conn_large ||
                            !__atomic_load_n(batch->conn_large, __ATOMIC_RELAXED))
                                break;
                if (batch) {
                        if (prev)
                                prev->next = batch->next;
                        else
                                w->large_head = batch->next;
                        if (w->large_tail == batch)
                                w->large_tail = prev;
                        batch->next = NULL;
                        w->large_turn = false;
                        w->stats.batches++;
                        w->stats.jobs++;
                        return batch;
                }
                w->v->large_lane = false;
                if (!w->queue_head)
                        return NULL; /* until a connection sends its body */
        }
        w->large_turn = w->large_head != NULL;
        batch = last = w->queue_head;
        bytes = batch->cost;
        /* A call that writes much beyond its request (RebuildIndex) has a
         * batch of its own: should the disk lack room for it, only it is
         * refused. */
        while (last->next && n < WRITER_BATCH_MAX && bytes + last->next->cost <= WRITER_BATCH_BYTES &&
               !writes_much(w->v, batch) && !writes_much(w->v, last->next)) {
                last = last->next;
                bytes += last->cost;
                n++;
        }
        w->queue_head = last->next;
        if (!w->queue_head)
                w->queue_tail = NULL;
        last->next = NULL;
        w->stats.batches++;
        w->stats.jobs += n;
        return batch;
}

/* A run batch: the jobs that are done go to the event loop (woken once),
 * those that wait to the large lane: at its end, in order, or back at its
 * head when the large lane's own batch still found no room (call order
 * matters: a connection's bodies are sent in order, so a later one held
 * before an earlier one could keep the budget full for ever). Returns how
 * many are done. Called with the lock held. */
static size_t hand_back(struct writer *w, struct job *batch)
{
        size_t done = 0;

        if (w->v->large_lane && batch->wait_turn) { /* one job, back where it was first */
                batch->next = w->large_head;
                w->large_head = batch;
                if (!w->large_tail)
                        w->large_tail = batch;
                return 0;
        }
        while (batch) {
                struct job *next = batch->next;
                if (batch->wait_turn)
                        list_append(&w->large_head, &w->large_tail, batch);
                else {
                        list_append(&w->done_head, &w->done_tail, batch);
                        done++;
                }
                batch = next;
        }
        if (done)
                notify(w);
        return done;
}

/* All that is queued waits for bodies to be sent: until one is
 * (writer_kick), or a moment, not a spin. Called with the lock held. */
static void wait_kick(struct writer *w)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        if (!w->kicked && !w->stopping)
                pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        w->kicked = false;
}

static void *writer_main(void *arg)
{
        struct writer *w = arg;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->queue_head && !w->large_head && !w->stopping) {
                        struct timespec ts;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += 1;
                        if (pthread_cond_timedwait(&w->wake, &w->lock, &ts) == ETIMEDOUT) {
                                pthread_mutex_unlock(&w->lock);
                                set_busy(w, true);
                                checkpoint(w, false);
                                set_busy(w, false);
                                pthread_mutex_lock(&w->lock);
                        }
                }
                if (!w->queue_head && !w->large_head)
                        break;
                struct job *batch = take_batch(w);
                if (!batch) { /* only large bodies wait, none may run yet */
                        wait_kick(w);
                        continue;
                }
                pthread_mutex_unlock(&w->lock);
                set_busy(w, true);
                run_batch(w, batch);
                set_busy(w, false);
                pthread_mutex_lock(&w->lock);
                if (hand_back(w, batch) == 0 && !w->queue_head)
                        wait_kick(w);
                w->kicked = false;
        }
        pthread_mutex_unlock(&w->lock);
        checkpoint(w, true);
        return NULL;
}

int writer_start(struct vault *v, int notify_fd, struct writer **ret)
{
        struct writer *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        w->v = v;
        w->policy = v->policy;
        w->notify_fd = notify_fd;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        r = pthread_create(&w->thread, NULL, writer_main, w);
        if (r) {
                free(w);
                return -r;
        }
        *ret = w;
        return 0;
}

void writer_submit_list(struct writer *w, struct job *head, struct job *tail)
{
        pthread_mutex_lock(&w->lock);
        if (w->queue_tail)
                w->queue_tail->next = head;
        else
                w->queue_head = head;
        w->queue_tail = tail;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

void writer_submit(struct writer *w, struct job *j)
{
        pthread_mutex_lock(&w->lock);
        list_append(&w->queue_head, &w->queue_tail, j);
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

struct job *writer_take_done(struct writer *w)
{
        struct job *done;

        pthread_mutex_lock(&w->lock);
        done = w->done_head;
        w->done_head = w->done_tail = NULL;
        pthread_mutex_unlock(&w->lock);
        return done;
}

void writer_kick(struct writer *w)
{
        pthread_mutex_lock(&w->lock);
        w->kicked = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

struct job *writer_stop(struct writer *w)
{
        struct job *done;

        if (!w)
                return NULL;
        /* The event loop sends nothing more: no body may wait for room. */
        __atomic_store_n(&w->v->bodies_unlimited, true, __ATOMIC_RELAXED);
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        done = w->done_head;
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        free(w);
        return done;
}

void writer_get_stats(struct writer *w, struct writer_stats *ret)
{
        pthread_mutex_lock(&w->lock);
        *ret = w->stats;
        pthread_mutex_unlock(&w->lock);
}
