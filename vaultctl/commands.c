/* The command table and the help it prints: for each command its usage,
 * what it does, an example, and the role it needs. */
#include <string.h>

#include "auditview.h"
#include "vaultctl.h"

#define GLOBAL_OPTIONS_HELP                                                                                 \
        "Options (before or after the command):\n"                                                          \
        "  --socket PATH      vaultd's socket [$VAULTD_SOCKET, else " DEFAULT_SOCKET "]\n"                  \
        "  --json             print results and errors as JSON, for scripts\n"                              \
        "  --timeout SECONDS  give up when vaultd does not answer in time [30; 0: no limit]\n"              \
        "  -h, --help         this text; 'vaultctl COMMAND --help' for a command\n"                         \
        "  --version          print vaultctl's version\n"

#define EXIT_STATUS_HELP                                                                                    \
        "Exit status: 0 success, 1 other failure, 2 usage error, 3 the evidence does not\n"                 \
        "verify, 4 cannot reach vaultd, 5 access denied, 6 not found.\n"

static const struct command cosign_commands[] = {
        {"import", "audit cosign", cmd_audit_cosign_import, "FILE...",
         "store a witness's cosignatures of a checkpoint in the vault",
         "Hands each FILE to vaultd, which keeps the cosignatures in it next to the\n"
         "checkpoint they sign; exports and proofs then carry them. FILE is the\n"
         "checkpoint with the witness's signature lines appended: the request that\n"
         "'audit witness-request' wrote with the witness's reply appended will do\n"
         "('-': standard input). vaultd refuses a checkpoint it did not sign (another\n"
         "size, another root: another history) and lines that are not\n"
         "cosignatures; it cannot check a witness's signature, which\n"
         "'audit verify --witness' does.",
         "cat request.txt reply.txt | vaultctl audit cosign import -",
         "the cosigner, auditor or admin role"},
        {},
};

static const struct command audit_commands[] = {
        {"head", "audit", cmd_audit_head, "", "the trail's head and the verifier key",
         "Shows the number of lines in the audit trail, the hash of the last one, the\n"
         "origin, and the verifier key that signs checkpoints. Write the verifier key\n"
         "down once, from the vault's own host: offline checks trust it.",
         "vaultctl audit head", "the auditor or admin role"},
        {"export", "audit", cmd_audit_export,
         "[-o FILE [--force]] [--since WHEN] [--until WHEN] [--from-seq SEQ] [--to-seq SEQ]\n"
         "       [--format jsonl|csv [--key VKEY] [FILTERS]]",
         "write the trail as JSON Lines with signed checkpoints, or as CSV",
         "Writes the audit trail as JSON Lines: a header, the audit lines exactly as\n"
         "stored, and the signed checkpoints that cover them (docs/audit-format.md).\n"
         "It reports how many audit lines and checkpoints it wrote (on stderr when the\n"
         "export goes to stdout), their seqs and their times in the local time zone;\n"
         "the same numbers 'vaultctl audit verify --file' reports for that file. FILE\n"
         "is written as 'get -o' writes one: a new file of yours, mode 0600 (it names\n"
         "record ids), put in place when complete.\n"
         "\n"
         "  -o, --output FILE   write to FILE, not stdout; refuses an existing FILE or a\n"
         "                      symbolic link\n"
         "  --force             replace an existing regular FILE with the new one\n"
         "  --since WHEN        from the first line at or after WHEN, local time:\n"
         "                      2026-11-01, 2026-11-01T08:00 or 2026-11-01T08:00:00\n"
         "                      (TZ, else the system's zone)\n"
         "  --until WHEN        up to the last line before WHEN (not included): a month\n"
         "                      is --since 2026-11-01 --until 2026-12-01\n"
         "  --from-seq SEQ      first audit line [0] (also --from)\n"
         "  --to-seq SEQ        last audit line (also --to)\n"
         "  --format FORMAT     jsonl, the evidence [default]; or csv, one row per line\n"
         "                      for a spreadsheet (UTF-8, local and UTC times), made\n"
         "                      only from an export that verifies (exit 3 if not)\n"
         "  --key VKEY          with csv: the verifier key the export must verify with\n"
         "\n"
         "With --until or --to-seq the export runs on to the next signed checkpoint, so\n"
         "it may hold later lines; the CSV leaves them out. Filters, with csv only, choose\n"
         "the rows, never what is verified (shell patterns: 'records.*'):\n"
         "  --user NAME|UID  --role ROLE  --collection NAME  --id ID  --op OP\n"
         "  --result ok|denied|error\n"
         "\n"
         "A long export may need --timeout 0.",
         "vaultctl audit export -o audit-2026-11.jsonl --since 2026-11-01 --until 2026-12-01",
         "the auditor or admin role"},
        {"report", "audit", cmd_audit_report,
         "-o FILE [--force] [--since WHEN] [--until WHEN] [--from-seq SEQ] [--to-seq SEQ]\n"
         "       [--key VKEY] [--witness WKEY]... [--lang vi|en] [FILTERS]",
         "a report of a period for people: one HTML file",
         "Exports the period as 'audit export' does, verifies all of it (with --key,\n"
         "against the key you trust), and writes one HTML file that opens anywhere and\n"
         "prints on A4: the verification, the signed head, the range covered, the\n"
         "verifier key, the Merkle tree and the witnesses' cosignatures of its\n"
         "checkpoint; activity and denials per day as charts; requests by operation,\n"
         "role, user and result; every denied request; every admin and key action; the\n"
         "records created, changed, deleted. Prints a short summary, verdict first.\n"
         "An export that does not verify still gets a report, whose first line says so\n"
         "in red, and exit 3.\n"
         "\n"
         "  -o, --output FILE  the HTML file (new, mode 0600)\n"
         "  --force            replace an existing regular FILE with the new one\n"
         "  --since WHEN, --until WHEN, --from-seq SEQ, --to-seq SEQ\n"
         "                     the period, as for 'audit export' (local time)\n"
         "  --key VKEY         the verifier key you trust ('vaultctl audit head')\n"
         "  --witness WKEY     a witness's key (as for 'audit verify'; repeatable): its\n"
         "                     cosignature is marked as verifying or not; others are\n"
         "                     listed unchecked\n"
         "  --lang vi|en       Vietnamese or English [from LC_ALL, LC_MESSAGES, LANG:\n"
         "                     vi_* gives vi]; dates and numbers as the language writes\n"
         "                     them (30/11/2026, 1.234)\n"
         "\n"
         "Filters choose what the report counts and lists, never what is verified:\n"
         "  --user NAME|UID  --role ROLE  --collection NAME  --id ID  --op OP\n"
         "  --result ok|denied|error",
         "vaultctl audit report --since 2026-11-01 --until 2026-12-01 --lang vi -o bao-cao-2026-11.html",
         "the auditor or admin role"},
        {"prove", "audit", cmd_audit_prove, "--seq SEQ | --record COLLECTION ID [--size SIZE] [-o FILE]",
         "a line's (or a record's lines') Merkle inclusion proof",
         "Writes a proof file: audit line SEQ, or the lines that wrote each version of\n"
         "record ID of COLLECTION (Put, Delete), each with its inclusion proof in the\n"
         "audit trail's Merkle tree (RFC 6962), and the signed checkpoint of that tree\n"
         "(docs/audit-format.md). A few kilobytes prove a dossier's history without\n"
         "the rest of the trail: check the file offline with 'audit verify --proof'.\n"
         "Go's tlog.CheckRecord accepts the same proofs.\n"
         "\n"
         "  --seq SEQ          the audit line to prove\n"
         "  --record           the record named by COLLECTION ID\n"
         "  --size SIZE        the tree to prove against [the newest signed checkpoint's]\n"
         "  -o, --output FILE  write the proof there (new file, 0600) [stdout]\n"
         "  --force            replace FILE if it exists",
         "vaultctl audit prove --record nguoi-co-cong NB-2024-000123 -o NB-2024-000123.proof",
         "the auditor or admin role"},
        {"consistency", "audit", cmd_audit_consistency, "OLD NEW [-o FILE]",
         "prove the trail of NEW lines extends the one of OLD lines",
         "Writes a proof file with the Merkle consistency proof (RFC 6962) from the\n"
         "tree of the first OLD audit lines to the tree of the first NEW, and the\n"
         "signed checkpoints of both sizes when there are. It shows that nothing in\n"
         "the first OLD lines was changed or removed since: check it offline with\n"
         "'audit verify --proof'. Go's tlog.CheckTree accepts the same proofs.\n"
         "\n"
         "  -o, --output FILE  write the proof there (new file, 0600) [stdout]\n"
         "  --force            replace FILE if it exists",
         "vaultctl audit consistency 1000 2000 -o since-last-audit.proof", "the auditor or admin role"},
        {"witness-request", "audit", cmd_audit_witness_request,
         "--since SIZE [--size SIZE] [--key VKEY] [-o FILE [--force]]",
         "a witness's add-checkpoint request for the newest checkpoint",
         "Writes the body of a c2sp.org/tlog-witness add-checkpoint request: \"old\n"
         "SIZE\", the Merkle consistency proof from the tree of SIZE lines (the last\n"
         "checkpoint the witness cosigned; 0 for none) to the newest checkpoint's,\n"
         "a blank line, and that checkpoint. The answer is checked first, as 'audit\n"
         "verify --proof' would. POST it to the witness's add-checkpoint URL; a\n"
         "witness that answers 409 names the size it holds in its reply.\n"
         "\n"
         "  --since SIZE       the size of the checkpoint the witness cosigned last\n"
         "  --size SIZE        the checkpoint to have cosigned [the newest]\n"
         "  --key VKEY         the vault's verifier key to check the checkpoint with\n"
         "                     [the one vaultd names]\n"
         "  -o, --output FILE  write the request there (new file, 0600) [stdout]\n"
         "  --force            replace FILE if it exists",
         "vaultctl audit witness-request --since 1532 -o request.txt",
         "the cosigner, auditor or admin role"},
        {"cosign", "audit", NULL, "COMMAND", "witnesses' cosignatures of checkpoints",
         "Witnesses' cosignatures (c2sp.org/tlog-cosignature) of the vault's\n"
         "checkpoints.",
         NULL, NULL, cosign_commands},
        {"verify", "audit", cmd_audit_verify,
         "[--file EXPORT] [--key VKEY] [--partial] [--state FILE | --since-head SEQ:HASH]\n"
         "       [--witness WKEY... [--quorum N]] | --proof FILE [--key VKEY] [--witness WKEY... [--quorum "
         "N]]",
         "check the live trail, or an export file offline",
         "Without options, makes vaultd check its whole stored trail: every line's\n"
         "hash chain, every checkpoint signature, and the records against it. With\n"
         "--file, checks an export here, without vaultd; with --key, --state or\n"
         "--since-head but no --file, exports the live trail and checks it here.\n"
         "\n"
         "  --file EXPORT        the export to check\n"
         "  --key VKEY           the verifier key you trust ('vaultctl audit head');\n"
         "                       without it the file is checked against the key it\n"
         "                       names itself, which proves it is consistent, not\n"
         "                       where it came from\n"
         "  --partial            accept an export that stops before the trail's end\n"
         "                       (--until, --to-seq); it says how long the trail was\n"
         "  --state FILE         continuity: the trail must contain the head this\n"
         "                       file remembers unchanged; when all verifies, the\n"
         "                       file moves on to this export's head (made if missing)\n"
         "  --since-head SEQ:HASH  the same from a head written down ('audit head')\n"
         "  --proof FILE         check a proof file ('audit prove', 'audit consistency')\n"
         "                       offline: its proofs against its root, and its\n"
         "                       checkpoints against --key\n"
         "  --witness WKEY       a witness's key (type 0x04, c2sp.org/tlog-cosignature)\n"
         "                       you trust; repeat for each. The checkpoint that covers\n"
         "                       the last line (of a proof: its tree) must carry valid\n"
         "                       cosignatures by --quorum of them; each is named with\n"
         "                       its verdict\n"
         "  --quorum N           how many distinct witnesses must have cosigned [all]\n"
         "\n"
         "Exits with 3 when the evidence does not verify; names the first bad line.",
         "vaultctl audit verify --file audit-2026-11.jsonl --key 'vaultd/...+...+...' --state audit.state",
         "the auditor or admin role (with --file: nothing, no daemon)"},
        {"resolve", "audit", cmd_audit_resolve, "COLLECTION PSEUDONYM | COLLECTION-PSEUDONYM --reason TEXT",
         "the record id, or collection name, behind a pseudonym",
         "Prints the record id that PSEUDONYM (ps- and 32 hex digits, as the trail,\n"
         "exports, reports and backups show the ids of a collection with private\n"
         "ids) stands for. Given only a collection's pseudonym (pc- and 32 hex\n"
         "digits: a collection created with --private-name), prints its name.\n"
         "The call is audited with the collection, the pseudonym and the reason,\n"
         "never the id or the name: resolve only what an investigation needs.\n"
         "\n"
         "  --reason TEXT  why, for the audit trail (required): the investigation's\n"
         "                 reference",
         "vaultctl audit resolve nguoi-co-cong ps-3f0c9a61d2e44b7c8e0f1a2b3c4d5e6f --reason 'TT-2026/17'",
         "the auditor or admin role"},
        {"rotate-key", "audit", cmd_audit_rotate_key, "", "replace the audit signing key",
         "Makes a new Ed25519 key sign the audit trail's checkpoints. The checkpoint\n"
         "signed right after is signed by the old and the new key and names the new\n"
         "one, so a verifier that trusts the old key follows the change; later\n"
         "checkpoints are signed by the new key alone, and the keeper forgets the old\n"
         "one. Do it when the old key may have leaked, or by routine. Prints the new\n"
         "verifier key: give it to auditors for exports that start after the change.",
         "vaultctl audit rotate-key", "the admin role"},
        {},
};

static const struct command policy_commands[] = {
        {"check", "policy", cmd_policy_check, "FILE", "lint a policy file before installing it",
         "Reads a policy file the way vaultd does and reports its errors (naming the\n"
         "line) and warnings (users or groups this host does not know), then each rule\n"
         "as vaultd reads it, in one canonical line. Nothing is changed.",
         "vaultctl policy check new.policy", "nothing (no daemon; any user who can read FILE)"},
        {"reload", "policy", cmd_policy_reload, "", "make vaultd re-read its policy file",
         "Makes vaultd re-read its policy file. A file that does not parse is rejected\n"
         "and the old policy stays. Prints the number of rules and any warnings.",
         "vaultctl policy reload", "the admin role"},
        {},
};

static const struct command key_commands[] = {
        {"list", "key", cmd_key_list, "", "the KEK versions and the data keys each wraps",
         "Lists every key-encryption key (KEK) version in a table: its number,\n"
         "whether it is current (*: new data keys are wrapped with it), when it was\n"
         "made (local time; the first one was made with the vault), and how many\n"
         "stored data keys it wraps. vaultd reads every stored record version to\n"
         "count them. No key material is shown.",
         "vaultctl key list", "the admin role"},
        {"rotate", "key", cmd_key_rotate, "", "make a new KEK version current",
         "Makes vaultd create a KEK of the next version and wrap every new data key\n"
         "with it at once. Data keys already stored stay under their older KEK, which\n"
         "keeps working, until 'vaultctl key rewrap' moves them.",
         "vaultctl key rotate", "the admin role"},
        {"rewrap", "key", cmd_key_rewrap, "[--batch N]", "move data keys from older KEKs to the current one",
         "Makes vaultd re-wrap every data key still under an older KEK with the\n"
         "current one, N per call, until none is left; services keep reading and\n"
         "writing meanwhile. Record bodies are not re-encrypted. On a terminal it\n"
         "shows progress; otherwise it prints a line after each call. Ctrl-C stops it\n"
         "after the call in flight (exit 1); run it again to go on where it stopped,\n"
         "as vaultd remembers. Prints how many data keys it re-wrapped.\n"
         "\n"
         "  --batch N  data keys re-wrapped per call (1-10000) [1000]",
         "vaultctl key rewrap --batch 500", "the admin role"},
        {"retire", "key", cmd_key_retire, "VERSION", "destroy a KEK version no data key needs",
         "Makes vaultd destroy KEK version VERSION for good. vaultd refuses (KeyInUse,\n"
         "exit 1, with its reason) while VERSION is current or still wraps data keys:\n"
         "rotate and rewrap first. 'vaultctl key list' shows each version's data keys.",
         "vaultctl key retire 1", "the admin role"},
        {},
};

static const struct command backup_commands[] = {
        {"verify", "backup", cmd_backup_verify, "FILE [--key VKEY]",
         "check a backup offline, without vaultd",
         "Checks a backup file here, without vaultd and without any key: that it is a\n"
         "vault store that opens, that its audit trail chains from line 0 to its head,\n"
         "and that every signed checkpoint in it verifies, by the rules of\n"
         "'vaultctl audit verify --file' (the copy's trail is checked as an export).\n"
         "Prints the vault id, the head (seq, hash, time), the checkpoints, the number\n"
         "of records and the size. Nothing is written; FILE may be on read-only media.\n"
         "\n"
         "  --key VKEY  the verifier key you trust ('vaultctl audit head', written down\n"
         "              once); without it the copy is checked against the key it names\n"
         "              itself, which proves it is whole, not where it came from\n"
         "\n"
         "Exits with 3 when the copy does not verify (cut short, edited, another key),\n"
         "naming the first bad audit line. Records stay encrypted: this reads no body.",
         "vaultctl backup verify /var/backups/vaultd/vaultd-20261129T020000Z.mdb --key 'vaultd/...+...+...'",
         "nothing (no daemon; any user who can read FILE)"},
        {},
};

static const struct command collection_commands[] = {
        {"create", "collection", cmd_collection_create,
         "NAME [--retention PERIOD] [--content json|bytes] [--index FIELD]... [--private-ids] "
         "[--private-name]",
         "define a collection and its settings",
         "Defines collection NAME with its settings. A collection that already holds\n"
         "records without being defined (an implicit one, with the defaults) may be\n"
         "defined too. The settings are audited.\n"
         "\n"
         "  --retention PERIOD   how long a record is kept after its last change: 10y,\n"
         "                       18m, 90d, or none [none]. A record's own retain_until\n"
         "                       (put --retain-until) replaces it.\n"
         "  --content json|bytes json: every new body must be one JSON object (vaultd\n"
         "                       refuses others, naming the line and column); bytes:\n"
         "                       anything, such as scanned PDFs [bytes]\n"
         "  --index FIELD        a field to look records up by (repeat, or FIELD,FIELD)\n"
         "  --private-ids        ids are personal data (a citizen ID in them): store,\n"
         "                       index and audit them as keyed pseudonyms; services\n"
         "                       keep using the real ids ('audit resolve' gives one\n"
         "                       back). Only while the collection holds no record\n"
         "  --private-name       the name itself is sensitive: store, count and audit\n"
         "                       the collection under a keyed pseudonym (pc-...);\n"
         "                       services and the policy keep using the name. Only\n"
         "                       when created, before any record has the name\n"
         "\n"
         "Names: lower-case letters (Vietnamese too), digits and . _ - /, at most 64\n"
         "bytes of UTF-8.",
         "vaultctl collection create nguoi-co-cong --retention 10y --content json --index so_cccd",
         "the admin role"},
        {"set", "collection", cmd_collection_set,
         "NAME [--retention PERIOD] [--content json|bytes] [--index FIELD]... [--private-ids]",
         "change a collection's settings",
         "Changes the settings given, keeps the others. The audit line holds the\n"
         "settings before and after. Bodies already stored are not checked again.\n"
         "--index none removes every index field. Options as for 'collection create'.",
         "vaultctl collection set nguoi-co-cong --retention 15y", "the admin role"},
        {"show", "collection", cmd_collection_show, "NAME", "a collection's settings and record counts",
         "Shows a collection's settings and how many of its records are live, deleted,\n"
         "disposed and on hold. An implicit collection (records were put, nobody\n"
         "defined it) shows the defaults. vaultd counts by reading the collection's\n"
         "records.",
         "vaultctl collection show nguoi-co-cong",
         "the admin or auditor role, or the service role for NAME"},
        {"list", "collection", cmd_collection_list, "", "every collection with its record counts",
         "Lists the collections, defined or implicit, with their settings and record\n"
         "counts. Admins and auditors see every collection; a service sees the\n"
         "collections it is granted.",
         "vaultctl collection list", "the admin, auditor or service role"},
        {"rebuild-index", "collection", cmd_collection_rebuild_index, "NAME",
         "rotate a collection's index key and rebuild its index",
         "Makes a new index key for NAME (Put uses it at once) and rebuilds the\n"
         "index for Find, in calls of at most 1000 records each, until done; the\n"
         "old key is dropped then. Meanwhile Find looks under both keys and still\n"
         "finds every record (its reply says rebuilding). The terms given with\n"
         "put --index (kept sealed with each record's body) are tagged again; a\n"
         "json collection's live records get their terms again from their latest\n"
         "body; records put by an older vaultd, which kept no terms, are dropped:\n"
         "the count says how many need their terms put again. Interrupted, even by\n"
         "a crash, it goes on where it stopped when run again. Audited, one line\n"
         "per call, with counts and never a value.",
         "vaultctl collection rebuild-index nguoi-co-cong", "the admin role"},
        {},
};

static const struct command records_commands[] = {
        {"due", "records", cmd_records_due, "COLLECTION", "records past their retention, not on hold",
         "Lists the records of COLLECTION whose retention has ended and that are not\n"
         "on hold or disposed of: each id, when it fell due and its versions. A record\n"
         "falls due at its retain_until (put --retain-until), or else its collection's\n"
         "retention period after its last change; with neither, never.",
         "vaultctl records due nguoi-co-cong", "the admin or auditor role"},
        {},
};

static const struct command hold_commands[] = {
        {"set", "hold", cmd_hold_set, "COLLECTION ID --reason TEXT", "put a record on legal hold",
         "Holds a record (a dispute, an inspection): it cannot be disposed of and is\n"
         "never due until the hold is cleared. The reason goes into the audit trail.",
         "vaultctl hold set nguoi-co-cong 123/QĐ-UBND --reason 'thanh tra 2026'", "the admin role"},
        {"clear", "hold", cmd_hold_clear, "COLLECTION ID --reason TEXT", "release a record's hold",
         "Releases a hold; the reason goes into the audit trail.",
         "vaultctl hold clear nguoi-co-cong 123/QĐ-UBND --reason 'inspection closed'", "the admin role"},
        {"list", "hold", cmd_hold_list, "[COLLECTION]", "the records on hold",
         "Lists the records on hold (of COLLECTION, or all): since when, by whom, why.",
         "vaultctl hold list", "the admin or auditor role"},
        {},
};

static const struct command top_commands[] = {
        {"status", NULL, cmd_status, "[--check]", "what the vault is doing, and whether it needs you",
         "Shows vaultd's state: serving, degraded (it serves, but something needs an\n"
         "admin) or sealed. Admins and auditors also see the problems and warnings\n"
         "under it ('man vaultctl', HEALTH, says what to do about each), the vault,\n"
         "its record and audit line counts, open connections, the sandbox, uptime,\n"
         "the last signed checkpoint, the store's and the disk's space, integrity\n"
         "failures since vaultd started and the last backup. A service or a cosigner\n"
         "sees only whether the vault serves or is sealed. Not audited.\n"
         "\n"
         "  --check  exit with 1 when the state is not serving (for monitoring);\n"
         "           without it, status exits with 0 whenever vaultd answers",
         "vaultctl status --check", "any user the policy knows (any role)"},
        {"put", NULL, cmd_put,
         "COLLECTION ID [FILE|-] [--if-version N] [--retain-until DATE] [--index FIELD=VALUE]",
         "store a new version of a record",
         "Stores FILE (or standard input) as a new version of the record and prints\n"
         "the version number.\n"
         "\n"
         "  --if-version N  store only if the current version is N (0: the record\n"
         "                  must be new); otherwise Conflict\n"
         "  --retain-until DATE  keep the record until DATE (2036-12-31, UTC), instead\n"
         "                  of its collection's retention period after its last change\n"
         "  --index FIELD=VALUE  a term to find the record by ('vaultctl find'), for\n"
         "                  an index field of the collection (repeat for more fields);\n"
         "                  they replace the previous version's. Without it, a json\n"
         "                  collection takes the body's top-level fields of those names.\n"
         "                  vaultd keeps only a keyed tag of VALUE, never VALUE itself",
         "vaultctl put nguoi-co-cong NCC-2024-000123 dossier.json", "the service role for COLLECTION"},
        {"get", NULL, cmd_get, "COLLECTION ID [--version N] [-o FILE [--force]]", "read a record",
         "Writes the record's latest (or given) version to standard output or FILE,\n"
         "byte for byte. Only on a terminal is a final newline added when the body\n"
         "lacks one, so that the prompt starts on a line of its own.\n"
         "FILE is always a new file of yours, mode 0600: the body goes to a temporary\n"
         "file beside it, renamed to FILE when complete. A file or link someone else\n"
         "put at FILE (say in /tmp) is never written to.\n"
         "\n"
         "  --version N        that version (after the command, this is the record's\n"
         "                     version, not vaultctl's)\n"
         "  -o, --output FILE  write to FILE; refuses (exit 1) an existing FILE or a\n"
         "                     symbolic link\n"
         "  --force            replace an existing regular FILE with the new one",
         "vaultctl get nguoi-co-cong NCC-2024-000123 --version 2 -o v2.json",
         "the service role for COLLECTION"},
        {"delete", NULL, cmd_delete, "COLLECTION ID [--if-version N]", "delete a record (history stays)",
         "Deletes the record by writing a tombstone version; its history stays\n"
         "readable by version number.\n"
         "\n"
         "  --if-version N  delete only if the current version is N; otherwise Conflict",
         "vaultctl delete nguoi-co-cong NCC-2024-000123", "the service role for COLLECTION"},
        {"list", NULL, cmd_list, "COLLECTION [--after ID] [--limit N] [--all]", "list live records",
         "Lists the live records of a collection in id order: id, version, time of\n"
         "the latest version. With --all, each page is printed as it arrives; with\n"
         "--json too, as one JSON object whose \"records\" array grows a line per\n"
         "record (an error on the way ends that object with the error's members).\n"
         "A listing stops with an error (exit 1) when vaultd's next page would not\n"
         "start after the last, or after 100,000 pages (then go on with --after ID).\n"
         "\n"
         "  --after ID  start after this id\n"
         "  --limit N   records per page (1-1000) [100]\n"
         "  --all       follow every page",
         "vaultctl list nguoi-co-cong --all", "the service role for COLLECTION"},
        {"find", NULL, cmd_find, "COLLECTION FIELD VALUE|- [--after ID] [--limit N]",
         "find records by an index field's value",
         "Prints the ids of the live records of COLLECTION whose term for FIELD (an\n"
         "index field: 'vaultctl collection show') is VALUE, one per line, in id\n"
         "order. VALUE is compared in Unicode NFC, exactly otherwise. VALUE \"-\"\n"
         "reads it from the first line of standard input, so that a citizen ID is\n"
         "not left on the command line, where other local users can read it. The\n"
         "audit trail records the field and how many matched, never the value.\n"
         "\n"
         "  --after ID  start after this id\n"
         "  --limit N   ids at most (1-1000) [100]",
         "echo 037090001234 | vaultctl find nguoi-co-cong so_cccd -",
         "the service role for COLLECTION, or admin"},
        {"history", NULL, cmd_history, "COLLECTION ID", "list every version of a record",
         "Lists every version of a record, oldest first: version, time, stored or\n"
         "deleted, size, and the uid that wrote it. Pages are printed as they arrive\n"
         "(under --json as one object, like 'list --all'), and the same limits hold:\n"
         "each page must start after the last, and 100,000 pages at most.",
         "vaultctl history nguoi-co-cong NCC-2024-000123", "the service role for COLLECTION"},
        {"import", NULL, cmd_import, "COLLECTION FILE|- [--skip N]", "store many records from JSON Lines",
         "Stores records from JSON Lines, one {\"id\": ID, \"record\": {...}} per line\n"
         "(the record object is stored as compact JSON). Calls are pipelined. A line\n"
         "that fails is reported and the import goes on; AccessDenied, Sealed or\n"
         "StorageFull stop it at once. On a terminal it shows progress. When it stops\n"
         "or is interrupted (Ctrl-C) it says how many records were stored and the\n"
         "--skip N that resumes it.\n"
         "\n"
         "  --skip N  skip the first N lines of the input",
         "vaultctl import ho-ngheo records.jsonl", "the service role for COLLECTION"},
        {"records", NULL, NULL, "COMMAND [ARGS]", NULL,
         "Records control: which records are due for disposal.", NULL, NULL, records_commands},
        {"hold", NULL, NULL, "COMMAND [ARGS]", NULL, "Legal holds: records that must not be disposed of.",
         NULL, NULL, hold_commands},
        {"dispose", NULL, cmd_dispose,
         "COLLECTION ID --reason TEXT | --due COLLECTION --reason TEXT [--yes] [--include-shortened]",
         "destroy a due record's bodies for good (crypto-shredding)",
         "Disposes of a record whose retention has ended: vaultd destroys the body and\n"
         "the data key of every version, so no key can decrypt them again; the record's\n"
         "versions (time, size, who), its audit lines and the disposal's line remain,\n"
         "and a Get answers Disposed. Refused (exit 1) while the record is on hold\n"
         "(OnHold) or its retention runs (RetentionActive, with the date).\n"
         "\n"
         "  --reason TEXT  why, for the audit trail (required)\n"
         "  --due          dispose of every due record of COLLECTION ('records due'),\n"
         "                 one audited call each, with progress; asks first\n"
         "  --yes          do not ask (for scripts)\n"
         "  --include-shortened\n"
         "                 with --due, also records a service's retain_until made due\n"
         "                 before the collection's period (left out and listed\n"
         "                 otherwise: a compromised service could shorten them)\n"
         "\n"
         "Backups taken before the disposal still hold the record: see 'Records\n"
         "control' in README.md.",
         "vaultctl dispose --due nguoi-co-cong --reason 'hết hạn lưu trữ 10 năm'", "the admin role"},
        {"collection", NULL, NULL, "COMMAND [ARGS]", NULL,
         "Collections and their settings: how long records are kept, what bodies must\n"
         "be, which fields are indexed.",
         NULL, NULL, collection_commands},
        {"audit", NULL, NULL, "COMMAND [ARGS]", NULL,
         "The audit trail: every request to vaultd, hash-chained and signed.", NULL, NULL, audit_commands},
        {"policy", NULL, NULL, "COMMAND [ARGS]", NULL, "The access policy: who may do what.", NULL, NULL,
         policy_commands},
        {"key", NULL, NULL, "COMMAND [ARGS]", NULL,
         "The key-encryption keys (KEKs) that wrap each record's data key: list them,\n"
         "rotate to a new one, re-wrap data keys under it, retire old ones. Key\n"
         "material never leaves vaultd.",
         NULL, NULL, key_commands},
        {"unseal", NULL, cmd_unseal, "[--passphrase-file FILE]", "open a sealed vault with its passphrase",
         "A root key file sealed by a passphrase starts vaultd sealed: records calls\n"
         "answer Sealed until this. Asks for the passphrase on the terminal (echo off)\n"
         "and sends it to vaultd, which opens the root key and serves. A wrong one is\n"
         "refused and audited, and vaultd takes the next attempt only after a delay\n"
         "(1 s, doubling with each failure in a row, at most an hour; exit 1 with the\n"
         "time to wait). Run it after every start of vaultd. Does nothing when the\n"
         "vault is not sealed. The passphrase is never printed or logged.\n"
         "\n"
         "  --passphrase-file FILE  read the passphrase from FILE's first line ('-':\n"
         "                          standard input) instead of the terminal",
         "vaultctl unseal", "the admin role"},
        {"seal", NULL, cmd_seal, "", "wipe the keys from vaultd's memory until unseal",
         "Makes vaultd wipe the root key, every KEK and the signing key from its\n"
         "memory: records calls answer Sealed, the audit trail stays readable, until\n"
         "'vaultctl unseal'. For a vault whose key file is sealed by a passphrase;\n"
         "vaultd refuses (exit 1, with its reason) when the key file is plain, as\n"
         "nothing could unseal it again.",
         "vaultctl seal", "the admin role"},
        {"backup", NULL, cmd_backup, "FILE", "copy the vault into a new file, while it serves",
         "Makes vaultd write a consistent, compacted copy of the whole vault (records,\n"
         "keys as stored, audit trail) into FILE, while services keep working. vaultctl\n"
         "creates the file (mode 0600, yours; an existing FILE is refused) and hands it\n"
         "to vaultd over the socket: vaultd needs no access to the path. FILE appears\n"
         "only once vaultd has written and synced all of it. On a terminal it shows\n"
         "progress. Prints the size and the audit head the copy holds. Both the call\n"
         "and its outcome are audited. --timeout limits a wait without progress, not\n"
         "the whole copy.\n"
         "\n"
         "Records in the copy are encrypted under the vault's keys: restoring needs the\n"
         "root key file (keep it apart from backups). Check a copy with 'vaultctl backup\n"
         "verify FILE'; restore one with 'vaultd --restore FILE' (vaultd(8)).",
         "vaultctl backup /var/backups/vaultd/manual-2026-11-29.mdb", "the admin role", backup_commands},
        {},
};

const struct command vaultctl_command = {
        NULL,         NULL,
        NULL,         "[OPTIONS] COMMAND [ARGS]",
        NULL,         "Controls and audits vaultd, the records vault, over its socket.",
        NULL,         NULL,
        top_commands,
};

const struct command *command_find(const struct command *group, const char *name)
{
        for (const struct command *c = group->subcommands; c && c->name; c++)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

const char *command_title(const struct command *c, char *buf, size_t size)
{
        if (!c->name)
                snprintf(buf, size, "vaultctl");
        else if (c->group)
                snprintf(buf, size, "%s %s", c->group, c->name);
        else
                snprintf(buf, size, "%s", c->name);
        return buf;
}

/* One line per command, subcommands spelled out (a command that runs
 * itself and has subcommands, as backup, shows on a line of its own). */
static void list_commands(const struct command *group, FILE *f)
{
        char title[64];

        for (const struct command *c = group->subcommands; c->name; c++) {
                if (c->run)
                        fprintf(f, "  %-15s %s\n", command_title(c, title, sizeof(title)), c->summary);
                if (c->subcommands)
                        list_commands(c, f);
        }
}

void command_help(const struct command *c, FILE *f)
{
        char title[64];

        command_title(c, title, sizeof(title));
        fprintf(f, "usage: %s%s %s\n\n%s\n", c->name ? "vaultctl " : "", title, c->usage, c->help);
        if (c->subcommands) {
                fprintf(f, "\nCommands:\n");
                list_commands(c, f);
        }
        if (c->example)
                fprintf(f, "\nExample:\n  %s\n", c->example);
        if (c->needs)
                fprintf(f, "\nNeeds: %s.\n", c->needs);
        if (!c->name)
                fprintf(f, "\n" GLOBAL_OPTIONS_HELP "\n" EXIT_STATUS_HELP);
        else if (c->subcommands)
                fprintf(f, "\n'vaultctl %s COMMAND --help' for more.\n", title);
        else
                fprintf(f, "\nAlso: --socket PATH, --json, --timeout SECONDS (see 'vaultctl --help').\n");
}
