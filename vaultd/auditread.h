/* The long reads of io.vaultd.audit (Export, Verify) as the reader thread
 * runs them (vaultd/reader.h). Export writes the file of
 * docs/audit-format.md, "Export files"; Verify checks the trail and the
 * records against it (docs/audit-format.md, "Online verification"). */
#pragma once

#include "reader.h"

extern const struct reader_ops auditread_export;
extern const struct reader_ops auditread_verify;
