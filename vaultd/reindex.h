/* Index key rotation and rebuild (issue #13, docs/protocol.md
 * "RebuildIndex"): io.vaultd.records.RebuildIndex (admin). Its first call
 * makes the collection's next index key, which retires the old one (Put
 * and Find use the new key at once), then each call rebuilds the index of
 * at most REINDEX_RECORDS_MAX records (or REINDEX_BYTES_MAX bytes of
 * bodies decrypted) and says whether it is done; the next call goes on
 * from where the last stopped, so a collection of any size is rebuilt
 * without holding the writer for long. Per record whose tags were made
 * under an older key:
 *
 * - json collection, live record: its terms are taken again from its
 *   latest body, as a Put without "index" takes them (lib/jsonfield.h);
 * - otherwise (bytes, deleted, or a body that gives none) its tags are
 *   dropped: vaultd keeps no value to tag again, and the reply counts
 *   them, so the service can put their terms again.
 *
 * Each call writes one audit line with its counts, never a value.
 * Handler as in vaultd/records.h. */
#pragma once

#include "vault.h"

/* Records one call looks at, and body bytes it decrypts, at most. */
#define REINDEX_RECORDS_MAX 1000
#define REINDEX_BYTES_MAX   (16u << 20)

int reindex_rebuild(struct vault *v, MDB_txn *txn, struct job *j);
