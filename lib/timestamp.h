/* RFC 3339 times in UTC, as the audit trail writes them ("time" of every
 * line, time_format_us() in util.h) and as Export's since/until take them.
 * Parsing only; nothing here reads the clock or the local time zone. */
#pragma once

#include <stdint.h>

/* Longest string timestamp_parse_utc() accepts: 2026-11-29T14:03:07.123456Z. */
#define TIMESTAMP_UTC_MAX 27

/* Parses "YYYY-MM-DDTHH:MM:SS[.f…]Z" (1 to 6 fraction digits, UTC only: a
 * "Z", no offset) into microseconds since the epoch. The date must exist
 * (no 2026-02-30) and lie from 1970 to 9999. -EINVAL on anything else;
 * *ret_us is written only on success. */
int timestamp_parse_utc(const char *s, uint64_t *ret_us);
