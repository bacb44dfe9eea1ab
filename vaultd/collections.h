/* Collections with settings (issue #13, docs/protocol.md "Collections"):
 * how long their records are kept, what their bodies must be, which
 * fields are indexed. An admin creates a collection and changes its
 * settings; each change is audited with the settings before and after.
 *
 * A collection nobody created is *implicit*: it comes into being with its
 * first Put, as every collection did before settings existed, and has the
 * defaults (content bytes, no retention period, no index). So existing
 * vaults and clients keep working; an admin may create an implicit
 * collection later to give it settings. Settings live in the collections
 * table (lib/storelayout.h) as a small JSON object. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "recmeta.h"
#include "vault.h"

enum collection_content {
        CONTENT_BYTES, /* anything: scanned PDFs, images (the default) */
        CONTENT_JSON,  /* one JSON object (lib/jsoncheck.h) */
};

/* A retention period: count years, months or days. */
struct retention {
        char unit; /* 'y', 'm', 'd'; 0: none */
        uint32_t count;
};
#define RETENTION_TEXT_MAX  16
#define RETENTION_YEARS_MAX 200

#define COLLECTION_INDEX_MAX 8
#define COLLECTION_FIELD_MAX 64

struct collection_settings {
        bool created; /* false: implicit, the defaults */
        enum collection_content content;
        struct retention retention;
        size_t nindex;
        char index[COLLECTION_INDEX_MAX][COLLECTION_FIELD_MAX + 1];
        /* Ids are stored, indexed and audited as keyed pseudonyms
         * (vaultd/pseudonym.h); set only while the collection is empty. */
        bool private_ids;
        /* The collection is stored under its name's pseudonym
         * (vaultd/collname.h); given only when it is created. */
        bool private_name;
        uint64_t created_us, updated_us;
};

/* The settings of collection name: its stored ones, or the defaults of an
 * implicit collection (created false). -EIO when they are malformed. */
int collection_settings_get(struct vault *v, MDB_txn *txn, const char *name,
                            struct collection_settings *ret);

/* "10y", "6m", "90d" (or "none": no period). -EINVAL otherwise. */
int retention_parse(const char *s, struct retention *ret);
void retention_format(const struct retention *r, char buf[static RETENTION_TEXT_MAX]);
/* from_us plus the period, in the UTC calendar (the 29th of February plus
 * a year is the 28th); UINT64_MAX when there is no period. */
uint64_t retention_add(uint64_t from_us, const struct retention *r);

/* io.vaultd.records.CreateCollection, SetCollection (admin),
 * GetCollection, ListCollections (admin, auditor; a service: the
 * collections it is granted). Handlers as in vaultd/records.h. */
/* A change to collection name's record counts (live, deleted, disposed,
 * held), in txn, by the call that makes it. */
int collection_count_add(struct vault *v, MDB_txn *txn, const char *name, int live, int deleted,
                         int disposed, int held);

int collections_create(struct vault *v, MDB_txn *txn, struct job *j);
int collections_set(struct vault *v, MDB_txn *txn, struct job *j);
int collections_get(struct vault *v, MDB_txn *txn, struct job *j);
int collections_list(struct vault *v, MDB_txn *txn, struct job *j);
