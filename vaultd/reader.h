/* The reader thread: the long reads of the audit trail (audit.Export and
 * audit.Verify) run here, off the event loop, once their call's audit
 * line is durable. The thread takes the calls under way in turn, a slice
 * each (one chunk of an Export's reply, or about 10 ms of a Verify), each
 * slice in a read transaction of its own: so one caller's long read
 * neither stalls another's nor keeps the map from being resized for
 * longer than a slice (store_grow waits for read transactions to end).
 *
 * The event loop only ships what a slice produced, and asks for the next
 * chunk only while the connection's buffer and the memory budget have
 * room (reader_poll): a reply never runs ahead of its reader by more than
 * one chunk.
 *
 * One Verify per caller (uid) runs at a time, and at most
 * READER_VERIFY_MAX in all: reader_claim, from the method's run in the
 * writer, refuses another before its audit line is written, so the line
 * says it was refused (docs/protocol.md, TryLater). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vault.h"

/* Verifications running at once, all callers together. */
#define READER_VERIFY_MAX 8
/* A slice of an Export produces about this many bytes of reply. */
#define READER_CHUNK_BYTES (256u << 10)
/* A slice of a Verify lasts about this long. */
#define READER_SLICE_USEC 10000

/* Messages of a reply, each NUL-terminated as on the wire. */
struct reader_buf {
        char *data;
        size_t len, cap;
};

/* Makes room for n more bytes at data + len. -ENOMEM. */
int reader_buf_reserve(struct reader_buf *b, size_t n);
/* Appends n bytes. -ENOMEM. */
int reader_buf_append(struct reader_buf *b, const void *p, size_t n);
/* Appends a reply message with params (borrowed) and "continues". */
int reader_buf_reply(struct reader_buf *b, json_t *params, bool continues);
void reader_buf_done(struct reader_buf *b);

/* How a method reads: its state is made on the event loop from the job
 * (start), then advanced on the reader thread (next), and freed on either
 * thread (free). */
struct reader_ops {
        /* Event loop, once the call's audit line is durable. -errno. */
        int (*start)(struct vault *v, const struct job *j, void **ret_state);
        /* Reader thread, in a read transaction: does the next piece of
         * work and appends what it has of the reply to out (each message
         * NUL-terminated). *ret_done when the reply is complete. Returns
         * 0; or JOB_FAILED with *ret_error (a static name) and
         * *ret_params (owned) set, or -errno: the reply then ends with
         * that error, after what out holds. */
        int (*next)(struct vault *v, MDB_txn *txn, void *state, struct reader_buf *out, bool *ret_done,
                    const char **ret_error, json_t **ret_params);
        void (*free)(void *state);
};

struct reader;
struct reader_task;

/* Starts the thread, with an eventfd the event loop watches
 * (reader_fd). Call before the sandbox is sealed (it makes the eventfd).
 * The caller owns *ret (reader_stop). */
int reader_start(struct vault *v, struct reader **ret);
/* Stops the thread and frees every task still under way. NULL is fine. */
void reader_stop(struct reader *rd);
/* Readable when reader_dispatch has work. */
int reader_fd(struct reader *rd);

/* What reader_poll hands over: messages to send (owned by the caller,
 * reader_buf_done), and whether they end the reply; result is not 0 when
 * the reply ends with an error (JOB_FAILED with error/params, or -errno). */
struct reader_out {
        struct reader_buf buf;
        bool last;
        int result;
        const char *error;
        json_t *params; /* owned */
};

/* Event loop, for an incremental job at the head of its connection
 * (j->method->reader): starts its read on the first call, then collects
 * what it produced. Returns 1 with *ret filled when output was ready, 0
 * when none is (reader_dispatch calls back when some is), -errno. With
 * request, the next chunk is asked for at once when none is under way;
 * without, the read waits until a call with request. */
int reader_poll(struct reader *rd, struct job *j, bool request, struct reader_out *ret);
/* Whether t (NULL: none yet) is asked for output the thread has not
 * produced yet: reader_dispatch will call back. */
bool reader_task_busy(struct reader_task *t);
/* Event loop, when reader_fd is readable: calls ready(job, userdata) for
 * each job whose read produced something since the last call. ready may
 * free jobs (their tasks with them). */
void reader_dispatch(struct reader *rd, void (*ready)(struct job *j, void *userdata), void *userdata);
/* From job_free (event loop): j's read stops; its task is freed now, or
 * by the thread at the end of the slice that runs it. */
void reader_task_cancel(struct reader_task *t);

/* Writer thread, from Verify's run: one Verify per uid, READER_VERIFY_MAX
 * in all. 0 when j may run (also when j already holds its claim: a batch
 * run again), -EBUSY when another Verify of uid runs, -EAGAIN when
 * READER_VERIFY_MAX run. The claim ends when j's read completes or j is
 * freed (reader_release). */
int reader_claim(struct reader *rd, uid_t uid, const struct job *j);
/* Ends j's claim, if it holds one (any thread). */
void reader_release(struct reader *rd, const struct job *j);
