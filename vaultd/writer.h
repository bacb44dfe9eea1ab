/* The writer thread (DESIGN §3): takes every queued job as one batch, runs
 * the batch in one LMDB write transaction with one sync (group commit), and
 * only then hands the jobs back to the event loop for their replies. */
#pragma once

#include <stdint.h>

#include "vault.h"

struct writer;

struct writer_stats {
        uint64_t batches, jobs, retries, storage_failures;
};

/* Starts the thread. notify_fd is written (8 bytes, an eventfd count) when
 * finished jobs are ready. The caller owns *ret (writer_stop). */
int writer_start(struct vault *v, int notify_fd, struct writer **ret);
/* Queues a job; ownership passes to the writer until writer_take_done. */
void writer_submit(struct writer *w, struct job *j);
/* Queues the jobs head..tail (linked by ->next, tail->next NULL) at once. */
void writer_submit_list(struct writer *w, struct job *head, struct job *tail);
/* Record bodies waiting to be sent were freed: jobs that waited for room
 * (JOB_WAIT) may run now. */
void writer_kick(struct writer *w);
/* Takes all finished jobs, oldest first, as a list linked by ->next. */
struct job *writer_take_done(struct writer *w);
/* Runs what is queued, signs a final checkpoint, joins the thread and frees
 * the writer. Returns the finished jobs not yet taken (the caller's). */
struct job *writer_stop(struct writer *w);
void writer_get_stats(struct writer *w, struct writer_stats *ret);
/* How long the writer has been inside one batch or checkpoint (monotonic
 * microseconds), 0 while it waits for work. The watchdog is fed only while
 * this stays short: a stuck writer must get the service restarted. */
uint64_t writer_busy_us(struct writer *w);
