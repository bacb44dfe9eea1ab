/* The daemon's shared context and the job: one audited request on its way
 * from the event loop through the writer thread and back (DESIGN §3). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "health.h"
#include "keeper.h"
#include "policy.h"
#include "published.h"
#include "statedir.h"
#include "store.h"

#define VAULT_BODY_MAX_DEFAULT (16u << 20)
/* --memory-budget's default: queued calls and unsent replies, and
 * (apart) record bodies decrypted for replies not yet sent. */
#define VAULT_MEMORY_BUDGET_DEFAULT (64ull << 20)

struct collname_cache;
struct cosigner;

struct vault {
        struct state_dir *state_dir; /* open and locked for the daemon's life */
        struct vault_store *store;
        struct published *published; /* the last checkpoint published outside the store */
        struct keeper *keeper;       /* the key keeper process (vaultd/keeper.h) */
        struct audit_log *audit;
        size_t body_max;         /* largest record body, bytes */
        uint64_t records_active; /* maintained by the writer; read racily by Status */
        /* The root key is sealed by a passphrase and not opened: records
         * answer Sealed. Written by the writer (and start-up), read by
         * Status: atomic. */
        bool sealed;
        /* Integrity failures since start (any thread; vaultd/health.h). */
        struct health health;
        /* Wrong passphrases back off, per vault (writer only). */
        unsigned unseal_failures;
        uint64_t unseal_not_before_us; /* monotonic */
        /* Record bodies decrypted for Get replies and not yet sent, in
         * bytes (added by the writer, taken off when a job is freed:
         * atomic), and what they may hold in all (--memory-budget). Large
         * bodies are decrypted only in batches of their own, one at a
         * time in call order (writer.c: the large lane); large_lane says
         * the current batch is one (writer only; records.c:
         * body_must_wait). */
        uint64_t bodies_held, bodies_limit;
        uint64_t small_bodies_held; /* (bodies up to 64 KiB: never wait, not in the budget) */
        bool large_lane;
        /* Private collection names mapped since start (writer only;
         * vaultd/collname.c). */
        struct collname_cache *collnames;
        bool bodies_unlimited; /* stopping: nothing waits any more (atomic) */

        /* The witnesses whose cosignatures AddCosignatures checks and
         * keeps (vaultd --witnesses; none: it checks their shape only).
         * Read at start, then only read. */
        struct cosigner *witnesses;
        size_t nwitnesses;

        /* Event-loop side. */
        struct policy *policy; /* swapped only by the event loop */
        const char *policy_path;
        struct writer *writer;
        /* The reader thread (vaultd/reader.h): Export and Verify. Its
         * claims are taken from the writer thread too. */
        struct reader *reader;
        unsigned connections;
        const char *sandbox; /* "off", "seccomp" or "seccomp+landlock" */
        uint64_t started_us; /* monotonic */
};

struct conn;
struct method;
struct reader;
struct reader_task;

/* What a method handler reports back for its audit line. */
struct job_audit {
        const char *collection, *id; /* borrowed from params */
        int64_t version;
        json_t *extra; /* owned */
        /* The line's time when the handler fixed it (a version written
         * carries the same time); 0: when the line is appended. */
        uint64_t time_us;
};

struct job {
        struct job *next;      /* writer queues */
        struct job *conn_next; /* the connection's replies, in call order */
        const struct method *method;
        struct vl_call_owned {
                json_t *root;       /* owned */
                json_t *parameters; /* borrowed from root */
                bool more, oneway;
        } call;
        struct audit_actor actor; /* user/role strings are owned by the job */
        /* Who called, as the policy sees it; groups are borrowed from the
         * connection, which outlives its jobs. */
        struct peer_id peer;
        size_t cost; /* request size in bytes, bounds a batch */
        bool denied;
        bool internal; /* the daemon's own (SIGHUP, denial summaries): the policy is not asked */
        /* A descriptor that came with the call (SCM_RIGHTS), kept only for a
         * method that takes one; owned: job_free closes it. */
        bool has_fd;
        int fd;
        /* Answered later by another job that lists this one in its
         * ->waiting (a Backup's completion): the event loop keeps it
         * pending when the writer hands it back. */
        bool deferred;
        /* A summary of denials (vaultd/denials.h): its line's extra fields,
         * the jobs it answers (linked by ->next), and its tracker entry. */
        json_t *denial_summary;
        struct job *waiting;
        void *denial_pair;
        const char *preset_error; /* fail with this error without running (e.g. a rejected reload) */
        json_t *preset_error_params;

        /* Results, written by the writer thread. */
        json_t *reply;     /* parameters on success (owned) */
        const char *error; /* error name on failure (static) */
        json_t *error_params;
        uint64_t seq;   /* this request's audit line */
        bool unaudited; /* no line could be written: never answer it */
        struct job_audit audit;
        /* Set by the writer when the method asked to run in a later batch
         * (JOB_WAIT: a large body's turn, or room for it): the job did
         * nothing and has no line yet. */
        bool wait_turn;
        /* Get: the record's body, decrypted (owned, wiped when freed) and
         * counted in *body_held (set when there is a body, even of 0
         * bytes); the event loop encodes it into the
         * reply's "data" as the peer reads (vaultd/conn.c: conn_body). */
        uint8_t *body;
        size_t body_len, body_off;
        uint64_t *body_held;
        /* Large bodies decrypted for the caller's connection and not yet
         * sent (a counter in its struct conn; atomic), and whether this
         * job's body is one of them: a connection holds one at a time. */
        unsigned *conn_large;
        bool holds_large;

        /* Event-loop side. */
        struct conn *conn; /* holds a reference; NULL for internal jobs */
        char *out;         /* encoded reply (final message) */
        size_t out_len;
        bool done;
        uint64_t stream_first, stream_end; /* Export: the range its run fixed */
        void *pending_policy;              /* ReloadPolicy: parsed, swapped in once durable */
        const void *previous_policy;       /* the writer's policy when the job ran (ReloadPolicy's diff) */
        /* Export, Verify: the read under way on the reader thread (owned:
         * job_free cancels it), and Verify's claim (vaultd/reader.h). */
        struct reader_task *reader_task;
        struct reader *verify_claim;
};

/* Return value of a handler that set a named error on the job. */
#define JOB_FAILED 1
/* Return value of a handler that must run in a later batch (a large body
 * while others wait to be sent): it did nothing; no audit line yet. */
#define JOB_WAIT 2

/* Sets a named error with parameters (stolen) and returns JOB_FAILED. */
int job_fail(struct job *j, const char *error, json_t *params);
/* Shorthand for InvalidParameter of interface iface ("io.vaultd.records"). */
int job_invalid(struct job *j, const char *iface, const char *parameter, const char *reason);
void job_free(struct job *j);
/* Drops results so a batch can be run again. */
void job_reset(struct job *j);

/* Parameter helpers for handlers: each returns 0, or JOB_FAILED with
 * InvalidParameter set. *ret is borrowed from the parameters. */
int param_string(struct job *j, const char *iface, const char *name, bool required, const char **ret);
int param_uint(struct job *j, const char *iface, const char *name, bool required, uint64_t max,
               uint64_t *ret, bool *ret_present);
