/* The words and conventions of the audit report, in Vietnamese and
 * English: headings and labels, numbers (1.234 or 1,234) and dates
 * (30/11/2026 or 2026-11-30). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum label {
        L_TITLE,
        L_VERIFIED,
        L_VERIFIED_SELF,
        L_NOT_VERIFIED,
        L_NOT_VERIFIED_HINT,
        L_FACTS,
        L_PERIOD,
        L_PERIOD_ALL,
        L_PERIOD_START,
        L_PERIOD_END,
        L_TIME_ZONE,
        L_VERIFIED_RANGE,
        L_PERIOD_RANGE,
        L_PERIOD_NONE,
        L_SIGNED_HEAD,
        L_TREE,
        L_TREE_SIGNED,
        L_HEAD_TIME,
        L_VERIFIER_KEY,
        L_KEY_FROM_EXPORT,
        L_KEY_CHANGES,
        L_FILTER,
        L_FILTER_NONE,
        L_FILTER_MATCHED,
        L_GENERATED,
        L_LINES,
        L_REQUESTS,
        L_CHECKPOINTS,
        L_ACTIVITY_PER_DAY,
        L_DENIALS_PER_DAY,
        L_ACTIVITY_PER_MONTH,
        L_DENIALS_PER_MONTH,
        L_COUNTS,
        L_BY_OP,
        L_BY_ROLE,
        L_BY_USER,
        L_BY_RESULT,
        L_DENIED_REQUESTS,
        L_ADMIN_ACTIONS,
        L_RECORD_CHANGES,
        L_NONE_IN_PERIOD,
        L_MORE_ROWS,
        L_COL_SEQ,
        L_COL_TIME,
        L_COL_USER,
        L_COL_ROLE,
        L_COL_OP,
        L_COL_RECORD,
        L_COL_VERSION,
        L_COL_RESULT,
        L_COL_ERROR,
        L_COL_COUNT,
        L_COL_DETAILS,
        L_COL_CHANGE,
        L_CREATED,
        L_CHANGED,
        L_DELETED,
        L_DISPOSED,
        L_RESULT_OK,
        L_RESULT_DENIED,
        L_RESULT_ERROR,
        L_ROLE_ADMIN,
        L_ROLE_AUDITOR,
        L_ROLE_SERVICE,
        L_ROLE_COSIGNER,
        L_ROLE_SYSTEM,
        L_ROLE_NONE,
        L_UNKNOWN,
        L_DENIAL_SUMMARY,
        L_HOW_TO_CHECK,
        L_REPORT_WRITTEN,
        L_COSIGNATURES,
        L_COSIGN_NONE,
        L_COSIGN_KEY,
        L_COSIGN_AT,
        L_COSIGN_OK,
        L_COSIGN_BAD,
        L_COSIGN_UNCHECKED,
        L_COSIGN_MISSING,
        L_COUNT_LABELS
};

struct lang {
        const char *code; /* "vi", "en" */
        const char *labels[L_COUNT_LABELS];
        char thousands; /* '.' or ',' */
        bool day_first; /* 30/11/2026, else 2026-11-30 */
};

/* The language of that code, or NULL. */
const struct lang *lang_find(const char *code);
/* From the environment, as the C library chooses messages: LC_ALL, else
 * LC_MESSAGES, else LANG; "vi…" gives Vietnamese, anything else English. */
const struct lang *lang_default(void);
const char *lang_label(const struct lang *l, enum label which);
/* "1.234.567" or "1,234,567" into buf. */
#define LANG_NUMBER_MAX 32
const char *lang_number(const struct lang *l, uint64_t n, char buf[static LANG_NUMBER_MAX]);
/* Local date, and date and time, in the language's order. */
#define LANG_TIME_MAX 64
const char *lang_date(const struct lang *l, uint64_t us, char buf[static LANG_TIME_MAX]);
const char *lang_month(const struct lang *l, uint64_t us, char buf[static LANG_TIME_MAX]);
const char *lang_datetime(const struct lang *l, uint64_t us, char buf[static LANG_TIME_MAX]);
/* A result ("ok", "denied", "error") or role in words; NULL: the value
 * itself is shown. */
const char *lang_result(const struct lang *l, const char *result);
const char *lang_role(const struct lang *l, const char *role);
