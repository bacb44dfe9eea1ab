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
