/* Record metadata as stored, and its binding to the audit trail
 * (docs/architecture.md, "Record metadata"). Each version's header names
 * the audit line that wrote it (its seq); that line, hash-chained and
 * signed, is the authority for the header: same record and version, same
 * time, uid, size and kind. A record's head must agree with its versions.
 * Everything here is pure: layouts, the parsing of an audit line that
 * wrote a version, and the comparisons; the store walks live in
 * vaultd/recverify.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Version kinds: 1 and 2 are store format 1's (no seq), 3 and 4 bind.
 * A disposal (vaultd/dispose.h) turns a data version into 5 (or a legacy
 * one into 6): its header stays, as its audit line wrote it, and it holds
 * no envelope any more. For the trail it is still the data its line
 * wrote. */
enum {
        RECMETA_KIND_LEGACY_DATA = 1,
        RECMETA_KIND_LEGACY_TOMBSTONE = 2,
        RECMETA_KIND_DATA = 3,
        RECMETA_KIND_TOMBSTONE = 4,
        RECMETA_KIND_DISPOSED = 5,
        RECMETA_KIND_LEGACY_DISPOSED = 6,
};

/* versions value: kind(1) time_us(8) uid(4) size(8) seq(8), then (data)
 * the envelope. Store format 1's header stopped before seq. */
#define RECMETA_HEADER        29
#define RECMETA_LEGACY_HEADER 21

struct version_meta {
        uint8_t kind;
        uint64_t time_us;
        uint32_t uid;
        uint64_t size; /* body bytes; 0 for a tombstone */
        uint64_t seq;  /* the audit line that wrote it (not for legacy kinds) */
};

static inline bool recmeta_legacy(const struct version_meta *m)
{
        return m->kind == RECMETA_KIND_LEGACY_DATA || m->kind == RECMETA_KIND_LEGACY_TOMBSTONE ||
               m->kind == RECMETA_KIND_LEGACY_DISPOSED;
}
/* Data whose body and data key were shredded: no envelope. */
static inline bool recmeta_disposed(const struct version_meta *m)
{
        return m->kind == RECMETA_KIND_DISPOSED || m->kind == RECMETA_KIND_LEGACY_DISPOSED;
}
static inline bool recmeta_tombstone(const struct version_meta *m)
{
        return m->kind == RECMETA_KIND_TOMBSTONE || m->kind == RECMETA_KIND_LEGACY_TOMBSTONE;
}

/* Writes m's header (RECMETA_HEADER bytes; m->kind must bind). */
void recmeta_version_encode(const struct version_meta *m, uint8_t out[RECMETA_HEADER]);
/* Reads a stored versions value: *ret its metadata, *ret_header_len where
 * its envelope starts. -EBADMSG when it is no version of any format, or a
 * tombstone or a disposed version carries an envelope. */
int recmeta_version_decode(const uint8_t *val, size_t len, struct version_meta *ret, size_t *ret_header_len);

/* heads value: version(8) state(1) created_us(8) updated_us(8). */
#define RECMETA_HEAD_SIZE 25
enum { RECMETA_STATE_ACTIVE = 1, RECMETA_STATE_DELETED = 2 };

struct record_head {
        uint64_t version; /* the latest */
        uint8_t state;
        uint64_t created_us, updated_us; /* times of version 1 and of the latest */
};

void recmeta_head_encode(const struct record_head *h, uint8_t out[RECMETA_HEAD_SIZE]);
/* -EBADMSG when len or the state is wrong. */
int recmeta_head_decode(const uint8_t *val, size_t len, struct record_head *ret);

/* A record version by name, as keys and audit lines spell it. */
struct record_name {
        char collection[NAME_COLLECTION_MAX + 1];
        char id[NAME_ID_MAX + 1];
        uint64_t version;
};

/* heads key: collection NUL id; versions key: that, NUL, be64(version). */
#define RECMETA_KEY_MAX (NAME_COLLECTION_MAX + NAME_ID_MAX + 2 + 8)
/* -EBADMSG when key is not a well-formed versions key (with_version) or
 * heads key. */
int recmeta_key_parse(const uint8_t *key, size_t len, bool with_version, struct record_name *ret);
/* Builds a key from n; returns its length. */
size_t recmeta_key_build(const struct record_name *n, bool with_version, uint8_t out[RECMETA_KEY_MAX]);

/* False when the line cannot have written a version (cheap: no parsing). */
bool recmeta_line_may_write(const char *line, size_t len);
/* Parses audit line seq if it wrote a version (op records.put or
 * records.delete, result ok): *ret_name names it, *ret_meta is what the
 * version's header must hold. -ENOENT for any other line, -EBADMSG when
 * such a line lacks a field. */
int recmeta_line_parse(const char *line, size_t len, uint64_t seq, struct record_name *ret_name,
                       struct version_meta *ret_meta);
/* Whether stored version n with header m is what audit line m->seq
 * (line, len bytes) wrote. -EBADMSG with the first difference in why. */
int recmeta_line_check(const char *line, size_t len, const struct record_name *n,
                       const struct version_meta *m, char *why, size_t whylen);

/* Whether head h agrees with its latest version (latest, numbered
 * h->version) and its version 1 (first; the same when h->version is 1;
 * NULL: its creation time is not checked). -EBADMSG with why when not. */
int recmeta_head_check(const struct record_head *h, const struct version_meta *latest,
                       const struct version_meta *first, char *why, size_t whylen);

/* "2026-11-29T14:03:07.123456Z" back to microseconds (as time_format_us
 * writes it, and nothing else). -EINVAL otherwise. */
int recmeta_time_parse(const char *s, uint64_t *ret);
