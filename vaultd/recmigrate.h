/* The store upgrade from format 1, whose version headers named no audit
 * line, to format 2 (vaultd/recmeta.h), at start-up before serving. It
 * needs no key, so a sealed vault upgrades too: each version that a line
 * of the trail wrote (records.put or records.delete, ok, same kind, uid
 * and size) gets that line's seq, and its time and its head's times
 * become the line's (they were taken microseconds apart). Bodies stay in
 * their envelopes; Get checks those against the trail (format 3 binds
 * the metadata itself). Done in transactions of a few thousand lines,
 * resumed where a crash left it; the last one sets format 2 and appends
 * one audit line, op vault.upgrade. */
#pragma once

#include "vault.h"

/* Upgrades v's store when it is of format 1 (v->audit open, no write
 * transaction open, the writer not started). Returns 1 when it upgraded
 * (*ret_bound versions bound, *ret_unbound left as they were because no
 * line wrote them: Verify names those), 0 when the store is current,
 * -EPROTONOSUPPORT when a newer vaultd wrote it, other -errno. */
int recmigrate_run(struct vault *v, uint64_t *ret_bound, uint64_t *ret_unbound);
