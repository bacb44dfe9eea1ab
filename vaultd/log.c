#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/stat.h>

#include <systemd/sd-journal.h>

#include "util.h"

static bool use_journal;

void log_open(void)
{
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        use_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
                      st.st_dev == dev && st.st_ino == ino;
}

__attribute__((format(printf, 2, 0))) static void log_vmsg(int priority, const char *fmt, va_list ap)
{
        static const char *const names[] = {"emerg",   "alert",  "crit", "error",
                                            "warning", "notice", "info", "debug"};
        char msg[1024];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (use_journal) {
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", priority, NULL);
                return;
        }
        fprintf(stderr, "vaultd: %s: %s\n", names[priority & 7], msg);
}

void log_msg(int priority, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vmsg(priority, fmt, ap);
        va_end(ap);
}

void log_request(int priority, const char *op, uint64_t seq, const char *result, const char *error,
                 uid_t uid)
{
        if (use_journal) {
                sd_journal_send("MESSAGE=%s %s (%s) for uid %u, audit seq %llu", op, result, error ?: "-",
                                (unsigned)uid, (unsigned long long)seq, "PRIORITY=%i", priority,
                                "VAULTD_OP=%s", op, "VAULTD_SEQ=%llu", (unsigned long long)seq,
                                "VAULTD_RESULT=%s", result, "VAULTD_ERROR=%s", error ?: "", "VAULTD_UID=%u",
                                (unsigned)uid, NULL);
                return;
        }
        log_msg(priority, "%s %s (%s) for uid %u, audit seq %llu", op, result, error ?: "-", (unsigned)uid,
                (unsigned long long)seq);
}

void log_checkpoint(const char *origin, uint64_t size, const char *hash, const char *note)
{
        char message[512], prio[16], origin_f[320], size_f[48], hash_f[96];
        _cleanup_(freep) char *note_f = NULL;

        if (!use_journal) {
                log_msg(LOG_INFO, "audit checkpoint of %s at size %llu published: hash %s", origin,
                        (unsigned long long)size, hash);
                return;
        }
        /* sd_journal_sendv, not sd_journal_send: the printf form drops the
         * note's last newline, and the note is evidence, byte for byte. */
        snprintf(message, sizeof(message), "MESSAGE=audit checkpoint of %s at size %llu published", origin,
                 (unsigned long long)size);
        snprintf(prio, sizeof(prio), "PRIORITY=%i", LOG_INFO);
        snprintf(origin_f, sizeof(origin_f), "VAULTD_CHECKPOINT_ORIGIN=%s", origin);
        snprintf(size_f, sizeof(size_f), "VAULTD_CHECKPOINT_SIZE=%llu", (unsigned long long)size);
        snprintf(hash_f, sizeof(hash_f), "VAULTD_CHECKPOINT_HASH=%s", hash);
        if (asprintf(&note_f, "VAULTD_CHECKPOINT_NOTE=%s", note) < 0)
                return;
        const char *const fields[] = {
                message, "MESSAGE_ID=" LOG_MESSAGE_ID_CHECKPOINT, prio, origin_f, size_f, hash_f, note_f};
        struct iovec iov[ELEMENTSOF(fields)];

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                iov[i] = (struct iovec){(void *)fields[i], strlen(fields[i])};
        sd_journal_sendv(iov, (int)ELEMENTSOF(iov));
}

void log_integrity(const char *kind, const char *op, uint64_t seq, const char *message)
{
        char seq_f[32] = "";

        if (!use_journal) {
                log_msg(LOG_ERR, "integrity failure (%s): %s", kind, message);
                return;
        }
        if (seq != UINT64_MAX)
                snprintf(seq_f, sizeof(seq_f), "%llu", (unsigned long long)seq);
        sd_journal_send("MESSAGE=integrity failure (%s): %s", kind, message, "PRIORITY=%i", LOG_ERR,
                        "MESSAGE_ID=" LOG_MESSAGE_ID_INTEGRITY, "VAULTD_INTEGRITY=1",
                        "VAULTD_INTEGRITY_KIND=%s", kind, "VAULTD_OP=%s", op, "VAULTD_SEQ=%s", seq_f, NULL);
}
