/* The event loop's state, shared by its three files and no other:
 * server.c (the listener, the jobs the writer returns, timers and
 * signals), conn.c (a connection's life, I/O and memory budget) and
 * dispatch.c (from a message to a job). The daemon's interface to the
 * event loop is server.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "health.h"
#include "server.h"
#include "varlink.h"

struct server;

struct conn {
        struct server *srv;
        struct conn *prev, *next;
        int fd;
        sd_event_source *src;
        sd_event_source *defer; /* an incremental job's next turn */
        struct vl_reader in;
        char *out;
        size_t out_len, out_off, out_cap;
        struct job *pend_head, *pend_tail;
        unsigned npending;
        unsigned refs; /* jobs inside the writer, running handlers */
        /* A descriptor that came with the first byte of the message being
         * read (SCM_RIGHTS), for the call that message turns out to be; -1
         * when none (docs/protocol.md, "File descriptors"). */
        int fd_pending;
        struct ucred cred;
        gid_t *groups; /* supplementary groups (SO_PEERGROUPS) */
        size_t ngroups;
        char *user;
        uint64_t partial_since, last_activity;
        /* Since when replies wait for the peer to read (the current
         * --write-timeout window), and how much it read in that window. */
        uint64_t drain_since;
        size_t drained;
        size_t mem_held;     /* queued calls and unsent replies, bytes */
        unsigned large_held; /* large bodies decrypted for it, not yet sent (job.conn_large) */
        bool closed, closing;
};

struct server {
        struct vault *v;
        const struct server_config *cfg;
        sd_event *event;
        int listen_fd, notify_fd;
        struct writer *writer;
        struct conn *conns;
        bool activated;       /* the socket came from systemd */
        uint64_t watchdog_us; /* systemd's WatchdogSec, 0 when off */
        bool writer_stuck;    /* logged once per stall */
        /* The STATUS= text last sent, and the state it named. */
        char status_line[HEALTH_STATUS_LINE_MAX];
        enum health_state status_state;
        struct denials *denials;
        /* One budget for everything queued and unsent: past it, only
         * connections that hold nothing may read (back-pressure). */
        uint64_t mem_used, mem_budget;
        bool mem_wake; /* fell below the budget: paused connections may read */
        /* Calls for the writer, handed over together once per loop
         * iteration (on_post): the writer then sees all that arrived in
         * one wake-up as one batch, and is signalled once. */
        struct job *to_writer_head, *to_writer_tail;
        bool failing_closed;
};

/* conn.c */

/* After memory was freed: the connections the budget paused read again. */
void mem_wake_paused(struct server *s);
/* Frees c's memory, not its socket: a connection never linked into the
 * server's list, or a closed one that nothing refers to. */
void conn_free(struct conn *c);
/* Closes c and gives back its budget; its memory stays while references
 * (jobs in the writer, a running handler) hold it. */
void conn_close(struct conn *c);
/* A job in the writer or a running handler keeps c's memory (conn_unref:
 * the last reference to a closed connection frees it). */
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
/* Encodes j's reply or error into j->out (of a reply with a body, its
 * start); when it cannot, j's connection closes instead of answering. */
void job_encode(struct job *j);
/* Appends j to c's calls in flight, whose replies leave in this order,
 * and charges it against the memory budget. */
void job_attach(struct conn *c, struct job *j);
/* The reader thread's descriptor is readable (userdata: the server): its
 * output goes to the connections waiting for it. */
int on_reader_ready(sd_event_source *src, int fd, uint32_t revents, void *userdata);
/* Sends c's finished replies in call order as far as its peer reads, then
 * reads on; c may be closed on return. */
void conn_flush(struct conn *c);
/* A connection's socket is ready (userdata: the conn): reads and
 * dispatches its calls, sends its replies. */
int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata);
/* Reads the peer's credentials, groups and user name (policy) into c. */
void conn_peer(struct conn *c);

/* dispatch.c */

/* A job for a call of c (NULL: one of vaultd's own) by user (copied, may
 * be NULL), costing cost bytes; NULL without memory. The caller owns it. */
struct job *job_new(struct conn *c, const char *user, size_t cost);
/* Queues a named error (taking params) as c's next reply, not audited;
 * without memory c closes instead. */
void reply_error_now(struct conn *c, const char *error, json_t *params, size_t cost);
/* Queues j for the writer, in order; flush_to_writer hands the queue over
 * (at the end of each loop iteration, and at shutdown). */
void to_writer(struct server *s, struct job *j);
void flush_to_writer(struct server *s);
/* Queues the summary lines of role-less denials that are due. */
void submit_denial_summaries(struct server *s);
/* Turns one message of c (the caller frees it) into a job: answered at
 * once, queued for the writer, or counted in a summary of denials. */
void dispatch(struct conn *c, char *msg, size_t len);
