/* The report's words. Vietnamese as a provincial office writes it (the
 * Department's own terms: nhật ký kiểm toán, hồ sơ, vai trò), with the
 * national conventions: dd/mm/yyyy and '.' between thousands. */
#include "report-lang.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditview.h"

static const struct lang vietnamese = {
        "vi",
        {
                [L_TITLE] = "Báo cáo nhật ký kiểm toán",
                [L_VERIFIED] = "ĐÃ XÁC MINH: nhật ký nguyên vẹn, chuỗi băm và chữ ký số hợp lệ",
                [L_VERIFIED_SELF] =
                        "Chỉ xác minh với khóa do chính tệp xuất nêu (không có --key): chứng "
                        "minh tính nhất quán, chưa chứng minh nguồn gốc. Hãy dùng --key với khóa "
                        "xác minh đã ghi lại.",
                [L_NOT_VERIFIED] = "KHÔNG XÁC MINH ĐƯỢC: không thể tin cậy nội dung dưới đây",
                [L_NOT_VERIFIED_HINT] = "Giữ nguyên hệ thống và tệp xuất, báo ngay cho quản trị viên.",
                [L_FACTS] = "Thông tin xác minh",
                [L_PERIOD] = "Kỳ báo cáo",
                [L_PERIOD_ALL] = "toàn bộ nhật ký đã xuất",
                [L_PERIOD_START] = "từ đầu",
                [L_PERIOD_END] = "đến cuối",
                [L_TIME_ZONE] = "Múi giờ",
                [L_VERIFIED_RANGE] = "Phạm vi đã xác minh",
                [L_PERIOD_RANGE] = "Phạm vi của kỳ báo cáo",
                [L_PERIOD_NONE] = "không có dòng nhật ký nào trong kỳ",
                [L_SIGNED_HEAD] = "Đầu chuỗi đã ký",
                [L_TREE] = "Cây Merkle",
                [L_TREE_SIGNED] = "gốc đã ký",
                [L_HEAD_TIME] = "Thời điểm của dòng cuối đã ký",
                [L_VERIFIER_KEY] = "Khóa xác minh",
                [L_KEY_FROM_EXPORT] = "(do tệp xuất nêu, chưa đối chiếu với khóa đã ghi lại)",
                [L_KEY_CHANGES] = "Số lần đổi khóa ký",
                [L_FILTER] = "Bộ lọc",
                [L_FILTER_NONE] = "không lọc (mọi dòng của kỳ)",
                [L_FILTER_MATCHED] = "dòng khớp bộ lọc",
                [L_GENERATED] = "Lập báo cáo lúc",
                [L_LINES] = "dòng nhật ký",
                [L_REQUESTS] = "yêu cầu",
                [L_CHECKPOINTS] = "điểm kiểm tra đã ký",
                [L_ACTIVITY_PER_DAY] = "Hoạt động theo ngày",
                [L_DENIALS_PER_DAY] = "Yêu cầu bị từ chối theo ngày",
                [L_ACTIVITY_PER_MONTH] = "Hoạt động theo tháng",
                [L_DENIALS_PER_MONTH] = "Yêu cầu bị từ chối theo tháng",
                [L_COUNTS] = "Thống kê yêu cầu",
                [L_BY_OP] = "Theo thao tác",
                [L_BY_ROLE] = "Theo vai trò",
                [L_BY_USER] = "Theo người dùng",
                [L_BY_RESULT] = "Theo kết quả",
                [L_DENIED_REQUESTS] = "Các yêu cầu bị từ chối",
                [L_ADMIN_ACTIONS] = "Thao tác quản trị và quản lý khóa",
                [L_RECORD_CHANGES] = "Hồ sơ được tạo, sửa, xóa, hủy",
                [L_NONE_IN_PERIOD] = "Không có trong kỳ.",
                [L_MORE_ROWS] =
                        "dòng nữa không hiển thị; xem đầy đủ bằng: vaultctl audit export --format csv",
                [L_COL_SEQ] = "Số TT",
                [L_COL_TIME] = "Thời gian",
                [L_COL_USER] = "Người dùng, vai trò",
                [L_COL_ROLE] = "Vai trò",
                [L_COL_OP] = "Thao tác",
                [L_COL_RECORD] = "Hồ sơ",
                [L_COL_VERSION] = "Phiên bản",
                [L_COL_RESULT] = "Kết quả",
                [L_COL_ERROR] = "Lỗi",
                [L_COL_COUNT] = "Số lượng",
                [L_COL_DETAILS] = "Chi tiết",
                [L_COL_CHANGE] = "Thay đổi",
                [L_CREATED] = "tạo mới",
                [L_CHANGED] = "sửa đổi",
                [L_DELETED] = "xóa",
                [L_DISPOSED] = "hủy",
                [L_RESULT_OK] = "thành công",
                [L_RESULT_DENIED] = "bị từ chối",
                [L_RESULT_ERROR] = "lỗi",
                [L_ROLE_ADMIN] = "quản trị",
                [L_ROLE_AUDITOR] = "kiểm toán",
                [L_ROLE_SERVICE] = "dịch vụ",
                [L_ROLE_COSIGNER] = "đồng xác nhận",
                [L_ROLE_SYSTEM] = "hệ thống",
                [L_ROLE_NONE] = "không có vai trò",
                [L_UNKNOWN] = "không rõ",
                [L_DENIAL_SUMMARY] = "(gộp)",
                [L_HOW_TO_CHECK] = "Kiểm tra lại độc lập: vaultctl audit export -o TỆP, rồi vaultctl audit "
                                   "verify --file TỆP --key KHÓA (xem docs/audit-format.md).",
                [L_REPORT_WRITTEN] = "Đã ghi báo cáo",
                [L_COSIGNATURES] = "Chữ ký đồng xác nhận của bên chứng kiến (witness)",
                [L_COSIGN_NONE] = "điểm kiểm tra của cây này chưa có chữ ký đồng xác nhận nào",
                [L_COSIGN_KEY] = "khóa",
                [L_COSIGN_AT] = "ký lúc",
                [L_COSIGN_OK] = "hợp lệ với khóa đã cho (--witness)",
                [L_COSIGN_BAD] = "KHÔNG hợp lệ (giả mạo, hoặc ký nội dung khác)",
                [L_COSIGN_UNCHECKED] = "chưa kiểm tra (không có khóa --witness tương ứng)",
                [L_COSIGN_MISSING] = "không có chữ ký trên điểm kiểm tra này",
        },
        '.',
        true,
};

static const struct lang english = {
        "en",
        {
                [L_TITLE] = "Audit trail report",
                [L_VERIFIED] = "VERIFIED: the trail is intact, its hash chain and signatures are valid",
                [L_VERIFIED_SELF] = "Checked only against the key the export names itself (no --key): this "
                                    "proves consistency, not origin. Give --key with the verifier key you "
                                    "wrote down.",
                [L_NOT_VERIFIED] = "DOES NOT VERIFY: nothing below can be trusted",
                [L_NOT_VERIFIED_HINT] = "Keep the vault and the export as they are, and call an admin now.",
                [L_FACTS] = "Verification",
                [L_PERIOD] = "Period",
                [L_PERIOD_ALL] = "the whole export",
                [L_PERIOD_START] = "the start",
                [L_PERIOD_END] = "the end",
                [L_TIME_ZONE] = "Time zone",
                [L_VERIFIED_RANGE] = "Verified range",
                [L_PERIOD_RANGE] = "Lines of the period",
                [L_PERIOD_NONE] = "no audit line in the period",
                [L_SIGNED_HEAD] = "Signed head",
                [L_TREE] = "Merkle tree",
                [L_TREE_SIGNED] = "root signed",
                [L_HEAD_TIME] = "Time of the last signed line",
                [L_VERIFIER_KEY] = "Verifier key",
                [L_KEY_FROM_EXPORT] = "(named by the export, not checked against a key you trust)",
                [L_KEY_CHANGES] = "Signing-key changes",
                [L_FILTER] = "Filter",
                [L_FILTER_NONE] = "none (every line of the period)",
                [L_FILTER_MATCHED] = "lines match the filter",
                [L_GENERATED] = "Report made",
                [L_LINES] = "audit lines",
                [L_REQUESTS] = "requests",
                [L_CHECKPOINTS] = "signed checkpoints",
                [L_ACTIVITY_PER_DAY] = "Activity per day",
                [L_DENIALS_PER_DAY] = "Denials per day",
                [L_ACTIVITY_PER_MONTH] = "Activity per month",
                [L_DENIALS_PER_MONTH] = "Denials per month",
                [L_COUNTS] = "Requests counted",
                [L_BY_OP] = "By operation",
                [L_BY_ROLE] = "By role",
                [L_BY_USER] = "By user",
                [L_BY_RESULT] = "By result",
                [L_DENIED_REQUESTS] = "Denied requests",
                [L_ADMIN_ACTIONS] = "Admin and key actions",
                [L_RECORD_CHANGES] = "Records created, changed, deleted, disposed",
                [L_NONE_IN_PERIOD] = "None in the period.",
                [L_MORE_ROWS] = "more rows not shown; all of them: vaultctl audit export --format csv",
                [L_COL_SEQ] = "Seq",
                [L_COL_TIME] = "Time",
                [L_COL_USER] = "User, role",
                [L_COL_ROLE] = "Role",
                [L_COL_OP] = "Operation",
                [L_COL_RECORD] = "Record",
                [L_COL_VERSION] = "Version",
                [L_COL_RESULT] = "Result",
                [L_COL_ERROR] = "Error",
                [L_COL_COUNT] = "Count",
                [L_COL_DETAILS] = "Details",
                [L_COL_CHANGE] = "Change",
                [L_CREATED] = "created",
                [L_CHANGED] = "changed",
                [L_DELETED] = "deleted",
                [L_DISPOSED] = "disposed",
                [L_RESULT_OK] = "ok",
                [L_RESULT_DENIED] = "denied",
                [L_RESULT_ERROR] = "error",
                [L_ROLE_ADMIN] = "admin",
                [L_ROLE_AUDITOR] = "auditor",
                [L_ROLE_SERVICE] = "service",
                [L_ROLE_COSIGNER] = "cosigner",
                [L_ROLE_SYSTEM] = "system",
                [L_ROLE_NONE] = "no role",
                [L_UNKNOWN] = "unknown",
                [L_DENIAL_SUMMARY] = "(summed up)",
                [L_HOW_TO_CHECK] =
                        "To check independently: vaultctl audit export -o FILE, then vaultctl audit "
                        "verify --file FILE --key KEY (see docs/audit-format.md).",
                [L_REPORT_WRITTEN] = "Report written to",
                [L_COSIGNATURES] = "Witness cosignatures",
                [L_COSIGN_NONE] = "the checkpoint of this tree carries no cosignature",
                [L_COSIGN_KEY] = "key",
                [L_COSIGN_AT] = "signed at",
                [L_COSIGN_OK] = "verifies with the key given (--witness)",
                [L_COSIGN_BAD] = "does NOT verify (forged, or of another text)",
                [L_COSIGN_UNCHECKED] = "not checked (no --witness key for it)",
                [L_COSIGN_MISSING] = "no cosignature on this checkpoint",
        },
        ',',
        false,
};

const struct lang *lang_find(const char *code)
{
        if (strcmp(code, "vi") == 0)
                return &vietnamese;
        if (strcmp(code, "en") == 0)
                return &english;
        return NULL;
}

const struct lang *lang_default(void)
{
        static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};

        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
                const char *v = getenv(vars[i]);

                if (v && *v)
                        return strncmp(v, "vi", 2) == 0 ? &vietnamese : &english;
        }
        return &english;
}

const char *lang_label(const struct lang *l, enum label which)
{
        return l->labels[which];
}

const char *lang_number(const struct lang *l, uint64_t n, char buf[static LANG_NUMBER_MAX])
{
        char digits[24];
        int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n), o = 0;

        for (int i = 0; i < len; i++) {
                if (i > 0 && (len - i) % 3 == 0)
                        buf[o++] = l->thousands;
                buf[o++] = digits[i];
        }
        buf[o] = '\0';
        return buf;
}

const char *lang_date(const struct lang *l, uint64_t us, char buf[static LANG_TIME_MAX])
{
        struct tm tm;

        local_tm(us, &tm);
        if (l->day_first)
                snprintf(buf, LANG_TIME_MAX, "%02d/%02d/%04d", tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900);
        else
                snprintf(buf, LANG_TIME_MAX, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        return buf;
}

const char *lang_month(const struct lang *l, uint64_t us, char buf[static LANG_TIME_MAX])
{
        struct tm tm;

        local_tm(us, &tm);
        if (l->day_first)
                snprintf(buf, LANG_TIME_MAX, "%02d/%04d", tm.tm_mon + 1, tm.tm_year + 1900);
        else
                snprintf(buf, LANG_TIME_MAX, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
        return buf;
}

const char *lang_datetime(const struct lang *l, uint64_t us, char buf[static LANG_TIME_MAX])
{
        struct tm tm;
        size_t n;

        lang_date(l, us, buf);
        local_tm(us, &tm);
        n = strlen(buf);
        snprintf(buf + n, LANG_TIME_MAX - n, " %02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
        return buf;
}

const char *lang_result(const struct lang *l, const char *result)
{
        if (!result)
                return l->labels[L_UNKNOWN];
        if (strcmp(result, "ok") == 0)
                return l->labels[L_RESULT_OK];
        if (strcmp(result, "denied") == 0)
                return l->labels[L_RESULT_DENIED];
        if (strcmp(result, "error") == 0)
                return l->labels[L_RESULT_ERROR];
        return NULL;
}

const char *lang_role(const struct lang *l, const char *role)
{
        if (!role)
                return l->labels[L_ROLE_NONE];
        if (strcmp(role, "admin") == 0)
                return l->labels[L_ROLE_ADMIN];
        if (strcmp(role, "auditor") == 0)
                return l->labels[L_ROLE_AUDITOR];
        if (strcmp(role, "service") == 0)
                return l->labels[L_ROLE_SERVICE];
        if (strcmp(role, "cosigner") == 0)
                return l->labels[L_ROLE_COSIGNER];
        if (strcmp(role, "system") == 0)
                return l->labels[L_ROLE_SYSTEM];
        return NULL;
}
