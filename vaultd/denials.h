/* Denials of callers that hold no role at all, summed up in the audit
 * trail. Every such call is still answered only after a durable line names
 * it, but one line per (uid, method) and window carries the count, the
 * first and last time and the collections asked for, so a local user with
 * no role cannot fill the disk through the trail (one line and one journal
 * entry per window instead of one per call). Event-loop side only. */
#pragma once

#include <stdint.h>

#include "vault.h"

/* Collections named in one summary line, at most; more are counted. */
#define DENIALS_COLLECTIONS_MAX 8
/* Distinct (uid, method) pairs tracked at once. */
#define DENIALS_PAIRS_MAX 4096

struct denials;

int denials_new(uint64_t window_us, struct denials **ret);
/* Frees the tracker and returns the jobs still waiting for a line (linked
 * by ->next: the caller's, to free). Summary jobs in the writer come back
 * from it on their own, with their waiting jobs. */
struct job *denials_free(struct denials *d);

/* Takes a denied job of a caller with no role: it waits (attached to its
 * connection, not done) until a summary line that counts it is durable.
 * Returns 0, or -ENOSPC when too many pairs are tracked (the caller then
 * audits the job on its own). */
int denials_add(struct denials *d, struct job *j, uint64_t now_us);

/* The summary jobs due now (window passed since the pair's last line, and
 * no line of the pair in flight), linked by ->next, to submit to the
 * writer. Each is a denied internal job whose ->waiting list holds the
 * jobs it answers. */
struct job *denials_take_due(struct denials *d, uint64_t now_us);

/* A summary job is durable (or failed): forgets it and returns its waiting
 * jobs, linked by ->next, for the caller to answer with its result. */
struct job *denials_done(struct denials *d, struct job *summary);
