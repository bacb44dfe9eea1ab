#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void log_msg(int priority, const char *fmt, ...)
{
        static const char *const names[] = {"emerg",   "alert",  "crit", "error",
                                            "warning", "notice", "info", "debug"};
        va_list ap;

        fprintf(stderr, "vaultd: %s: ", names[priority & 7]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
