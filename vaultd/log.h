/* Daemon logging: structured journal entries under systemd, plain lines on
 * stderr otherwise. Messages never carry secrets, record contents or search
 * values: callers pass only names, numbers and error strings. */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

/* Decides between the journal and stderr (JOURNAL_STREAM names stderr). */
void log_open(void);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)

/* One request worth an admin's attention (a denial, a storage failure),
 * with fields VAULTD_OP, VAULTD_SEQ, VAULTD_RESULT, VAULTD_ERROR, VAULTD_UID. */
void log_request(int priority, const char *op, uint64_t seq, const char *result, const char *error,
                 uid_t uid);

/* The MESSAGE_ID of published checkpoints (journalctl MESSAGE_ID=...). */
#define LOG_MESSAGE_ID_CHECKPOINT "1e944f584f9541b4b880467f3b5a8e3e"

/* A signed checkpoint, published outside the store (vaultd/published.h):
 * a journal entry with MESSAGE_ID LOG_MESSAGE_ID_CHECKPOINT and fields
 * VAULTD_CHECKPOINT_ORIGIN, _SIZE, _HASH (standard base64 of the hash of
 * line size-1, as in the note) and _NOTE (the signed note); on stderr, one
 * line with origin, size and hash. */
void log_checkpoint(const char *origin, uint64_t size, const char *hash, const char *note);

/* The MESSAGE_ID of integrity failures (journalctl MESSAGE_ID=...). */
#define LOG_MESSAGE_ID_INTEGRITY "4d345242bf01416cbc90b6a553fb8cc9"

/* An integrity failure (vaultd/health.h), at error level: a journal entry
 * with MESSAGE_ID LOG_MESSAGE_ID_INTEGRITY and fields VAULTD_INTEGRITY=1,
 * VAULTD_INTEGRITY_KIND (record, verify, checkpoint), VAULTD_OP and
 * VAULTD_SEQ (the audit line of the call that met it; empty when none:
 * seq UINT64_MAX); on stderr, one line. message names no record id. */
void log_integrity(const char *kind, const char *op, uint64_t seq, const char *message);
