/* The vault store's layout (DESIGN §5), in one place: the files of the
 * LMDB environment, its named databases, and the meta values that describe
 * the vault. vaultd/store.c creates and opens it; lib/storefile.c reads a
 * copy of it (a backup) without the daemon and without keys. */
#pragma once

/* Format 1 kept version headers without the audit line that wrote them;
 * format 2 binds every version to it (vaultd/recmigrate.h upgrades). */
#define STORE_FORMAT_VERSION 2

/* The environment in the state directory. */
#define STORE_DATA_FILE "data.mdb"
#define STORE_LOCK_FILE "lock.mdb"
/* Named databases an environment is opened with room for. */
#define STORE_DBS_MAX 16

/* The named databases. Keys and values:
 *   meta         name -> value (below)
 *   heads        collection NUL id -> a record's current version and state
 *   versions     collection NUL id NUL be64(version) -> header, envelope
 *   audit        be64(seq) -> the audit line, exact bytes
 *   checkpoints  be64(size) -> the signed note over lines 0..size-1
 *   keys         be32(KEK version) -> the KEK wrapped by the root key
 *   tree         be64(Go tlog's StoredHashIndex(level, index)) -> the
 *                Merkle tree hash of the complete subtree over audit
 *                lines [index << level, (index + 1) << level), 32 bytes
 *                (vaultd/auditree.c); appends go at the end; a store made
 *                before the tree gets it at start-up
 *   collections  name -> its settings (vaultd/collections.h), for the
 *                collections an admin created; 0x01 name -> its counts.
 *                A collection created with a private name is under its
 *                pseudonym "pc-" and 32 hex digits here and in every
 *                table (vaultd/collname.h)
 *   recctl       collection NUL id -> a record's retention, hold and
 *                disposal (vaultd/recctl.h), for the records that have any
 *   ckeys        collection NUL purpose(1: 'i' index, 'p' pseudonyms,
 *                'o' the index key a rebuild replaces, until it is done)
 *                -> gen(8) kek_version(4) wrapped key: the collection's
 *                own keys, made by the keeper and wrapped by a KEK like
 *                data keys (vaultd/ckeys.h); and collection NUL 'r'
 *                -> gen(8) total(8) last id: a rebuild's progress
 *   findex       collection NUL field NUL tag(8) id -> nothing: the blind
 *                index Find reads (vaultd/findindex.h)
 *   fterms       collection NUL id -> gen(8) n(1), n x (field_len(1) field
 *                tag(8)): a record's entries in findex, to remove them;
 *                then, when its Put gave the terms, version(8) len(2)
 *                and them sealed under that version's data key
 *                (vaultd/envelope.h envelope_seal_beside)
 *   pseudonyms   collection NUL pseudonym -> the record id sealed under
 *                the collection's pseudonym key, for the collections with
 *                private ids (vaultd/pseudonym.h); 0x01 "names" NUL
 *                pc-pseudonym -> a private collection's name, sealed
 *                under the names key (ckeys 0x01 "names" NUL 'p')
 *   cosignatures be64(size) key_id(4) witness name -> a witness's
 *                cosignature of the checkpoint of that size: its signature
 *                line, without the newline (vaultd/cosignatures.h)
 * These came with records control (issue #13); vaultd creates them in an
 * older store when it opens it. */
#define STORE_DB_META         "meta"
#define STORE_DB_HEADS        "heads"
#define STORE_DB_VERSIONS     "versions"
#define STORE_DB_AUDIT        "audit"
#define STORE_DB_CHECKPOINTS  "checkpoints"
#define STORE_DB_KEYS         "keys"
#define STORE_DB_TREE         "tree"
#define STORE_DB_COLLECTIONS  "collections"
#define STORE_DB_RECCTL       "recctl"
#define STORE_DB_CKEYS        "ckeys"
#define STORE_DB_FINDEX       "findex"
#define STORE_DB_FTERMS       "fterms"
#define STORE_DB_PSEUDONYMS   "pseudonyms"
#define STORE_DB_COSIGNATURES "cosignatures"

/* meta values (integers are be64). */
#define META_FORMAT        "format"        /* STORE_FORMAT_VERSION */
#define META_VAULT_ID      "vault.id"      /* 32 hex digits */
#define META_AUDIT_ORIGIN  "audit.origin"  /* checkpoint origin and signing key name */
#define META_AUDIT_NEXT    "audit.next"    /* lines in the trail (seq of the next) */
#define META_AUDIT_HEAD    "audit.head"    /* SHA-256 of the last line, 32 bytes */
#define META_AUDIT_CP_SIZE "audit.cp.size" /* size of the last stored checkpoint */
#define META_SIGN_PUB      "sign.pub"      /* the audit signing key's Ed25519 public key */
/* Which key signs which checkpoints, once the signing key was rotated: one
 * "SIZE VKEY\n" per key, VKEY signing the checkpoints above SIZE (until
 * the next line's). Absent before the first rotation: sign.pub alone. */
#define META_SIGN_KEYS "sign.keys"
/* The last backup vaultd wrote completely and synced (admin.Backup). */
#define META_BACKUP_TIME "backup.last.time" /* microseconds since the epoch */
#define META_BACKUP_SIZE "backup.last.size" /* bytes */
#define META_BACKUP_SEQ  "backup.last.seq"  /* the last audit line in it */
