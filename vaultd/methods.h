/* The dispatch table: every method the socket answers, with its handler and
 * the roles allowed to call it (OpenSSH monitor.c's mon_table, in spirit). */
#pragma once

#include <stdbool.h>

#include "vault.h"

struct reader_ops;

struct method {
        const char *name;
        const char *op; /* audit op name ("records.put") */
        /* Audited methods: runs in the writer thread inside the batch. */
        int (*run)(struct vault *v, MDB_txn *txn, struct job *j);
        /* Unaudited methods: answered at once by the event loop. */
        int (*direct)(struct vault *v, struct job *j);
        /* After the audit line is durable, produces the reply (or the next
         * of a stream) in the event loop; *ret_continues asks to be called
         * again. Returns 0, JOB_FAILED with an error set, or -errno. */
        int (*after)(struct vault *v, struct job *j, json_t **ret_params, bool *ret_continues);
        /* Long reads (Export, Verify): once the audit line is durable, the
         * reply is produced on the reader thread (vaultd/reader.h). */
        const struct reader_ops *reader;
        /* Audited methods: runs in the writer once the batch is committed
         * (for work outside the store that must follow it: the keeper's). */
        void (*committed)(struct vault *v, struct job *j);
        /* Audited methods: runs in the writer after the batch's checkpoint,
         * before the next batch (for work that wants the committed, signed
         * state and the writer paused: a Backup's snapshot). */
        void (*settled)(struct vault *v, struct job *j);
        /* What one call may write beyond twice its request's bytes, for
         * the free-space check before its batch (a RebuildIndex rewrites
         * index entries all over the store). */
        uint64_t writes;
        unsigned roles; /* allowed roles; 0: any peer the policy knows */
        /* Of roles, those allowed only the calls narrow_ok accepts (by
         * their parameters): a caller granted the method by no other role
         * is denied the rest, as if the role did not allow the method. */
        unsigned narrow_roles;
        bool (*narrow_ok)(json_t *params);
        bool scoped;        /* the "collection" parameter must be granted too */
        bool needs_more;    /* must be called with "more": true */
        bool incremental;   /* its reply comes from the reader thread, in chunks */
        bool checkpoint;    /* sign a checkpoint in the same batch */
        bool large_message; /* may be up to --max-message (a body); others 64 KiB */
        bool needs_keys;    /* answers Sealed while the root key is sealed */
        bool takes_fd;      /* may keep a descriptor passed with the call (SCM_RIGHTS) */
};

/* Finds a method by its full name. -ENOENT when the interface exists but
 * not the method, -ESRCH when the interface is unknown. */
int method_find(const char *name, const struct method **ret);
/* "<interface of m>.<short>" as a static string, for the generic errors
 * (AccessDenied, InternalError, IntegrityError, StorageFull); NULL when m's
 * interface does not declare that error. */
const char *method_error(const struct method *m, const char *short_name);
/* Sets the declared error that stands for -errno r on j (StorageFull for
 * -ENOSPC, IntegrityError or InternalError for -EIO, else InternalError)
 * and returns JOB_FAILED; returns r itself when j's interface declares no
 * such error (org.varlink.service): the caller cannot answer. */
int job_fail_errno(struct job *j, int r);
/* Decides under policy p whether j's caller may make j's call (its method,
 * the collection it names for a scoped method, and the parameters a
 * narrow role is limited to), and sets the audit actor's role: the role
 * that allows it, or any role the caller holds. */
bool method_authorise(const struct policy *p, struct job *j);
/* Whether name is an interface this service implements. */
bool interface_known(const char *name);

/* Interface descriptions, embedded from the .varlink files in docs/. */
const char *interface_description(const char *name);
extern const char *const interface_names[];
