/* vaultctl: the control CLI. One file per concern: main.c (global options
 * and dispatch), commands.c (the command table and its help), options.c
 * (per-command getopt_long), report.c (errors, exit codes, JSON output),
 * escape.c (foreign text made safe for a terminal), client.c (the
 * connection, with deadlines), pages.c (paged listings), output.c (files
 * written for the user), progress.c (a progress line), interrupt.c
 * (Ctrl-C), and one file per command group (cmd-*.c). vaultctl is a
 * one-shot tool, so helpers here may print and exit (signify, minisign);
 * they exit with the code of the table below. */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "auditfmt.h"
#include "cosign.h"
#include "varlink.h"

/* Exit codes: the one table, documented in vaultctl(1) and README.md. */
/* EXIT_SUCCESS (0): the command did what was asked. */
/* EXIT_FAILURE (1): any other failure (Conflict, StorageFull, a file that
 * cannot be read, an import with failed lines, ...). */
#define EXIT_USAGE 2 /* bad command line: unknown option, missing argument */
/* The evidence does not verify: an export fails `audit verify --file`
 * (tampered, incomplete, other key), or vaultd answers IntegrityError. */
#define EXIT_NOT_VERIFIED 3
/* vaultd cannot be reached: no socket, refused, closed, or no answer within
 * --timeout. */
#define EXIT_UNREACHABLE 4
#define EXIT_DENIED      5 /* vaultd answered AccessDenied */
#define EXIT_NOT_FOUND   6 /* vaultd answered NotFound */

/* vaultctl's own error names (--json prints them like vaultd's). */
#define ERR_USAGE             "vaultctl.UsageError"       /* exit 2 */
#define ERR_NOT_VERIFIED      "vaultctl.NotVerified"      /* exit 3 */
#define ERR_CONNECTION_FAILED "vaultctl.ConnectionFailed" /* exit 4 */
#define ERR_CONNECTION_CLOSED "vaultctl.ConnectionClosed" /* exit 4 */
#define ERR_TIMEOUT           "vaultctl.Timeout"          /* exit 4 */
#define ERR_INVALID_POLICY    "vaultctl.InvalidPolicy"    /* exit 1 */
#define ERR_IMPORT_INCOMPLETE "vaultctl.ImportIncomplete" /* exit 1 */
#define ERR_INTERRUPTED       "vaultctl.Interrupted"      /* exit 1 */
#define ERR_FAILED            "vaultctl.Failed"           /* exit 1 */

#define DEFAULT_SOCKET          "/run/vaultd/vaultd.sock"
#define DEFAULT_TIMEOUT_SECONDS 30u

/* What the failed I/O was doing, for the message that explains it. */
enum ctl_phase {
        CTL_CONNECT,
        CTL_SEND,
        CTL_RECV,
};

struct ctl {
        const char *socket_path;
        bool json;
        unsigned timeout_s;        /* 0: wait as long as it takes */
        const struct command *cmd; /* the command being parsed or run */
        int fd;
        bool nonblocking;
        enum ctl_phase phase; /* of the last I/O error */
        struct vl_reader reader;
};

struct command {
        const char *name;                                   /* "export" */
        const char *group;                                  /* "audit" for a subcommand, else NULL */
        int (*run)(struct ctl *ctl, int argc, char **argv); /* NULL for a group */
        const char *usage;                                  /* arguments, one line */
        const char *summary;                                /* one line for the command list */
        const char *help;                                   /* what it does, its options */
        const char *example;
        const char *needs; /* who may run it */
        const struct command *subcommands;
};

/* commands.c */

/* The top of the tree: vaultctl itself, whose subcommands are the
 * commands. */
extern const struct command vaultctl_command;
/* The entry of a group by name, or NULL. */
const struct command *command_find(const struct command *group, const char *name);
/* Prints a command's (or group's) help: usage, what it does, options,
 * example, the role it needs. */
void command_help(const struct command *c, FILE *f);
/* Writes "audit export" (or "vaultctl" for the top) into buf. */
const char *command_title(const struct command *c, char *buf, size_t size);

/* options.c: command lines, GNU style, through getopt_long. */

/* Command options take values from here up; below are the global ones. */
#define OPT_COMMAND 0x200

/* Sets up a fresh parse of argv (argv[0] is the command's name). */
void ctl_getopt_begin(struct ctl *ctl, const struct command *c);
/* Returns the next of the command's own options (its val) and leaves its
 * value in optarg, or -1 when none is left (positional arguments then start
 * at argv[optind]). Handles the global options (--socket, --json,
 * --timeout, --help, --version) wherever they are. shortopts may start with
 * '+' to stop at the first non-option (for a group: its subcommand). Dies
 * with a usage error that names an unknown option or a missing value. */
int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Checks there are min..max positional arguments left and returns them. */
char **ctl_positional(struct ctl *ctl, int argc, char **argv, int min, int max);
/* Parses a non-negative integer at most max, or dies with a usage error. */
uint64_t arg_uint(struct ctl *ctl, const char *what, const char *s, uint64_t max);
/* Dies with a usage error: "vaultctl: MESSAGE" and "Try 'vaultctl CMD
 * --help'." (exit 2). */
__attribute__((noreturn, format(printf, 2, 3))) void die_usage(const struct ctl *ctl, const char *fmt, ...);

/* escape.c: text from vaultd or from a file, for a terminal. Every human
 * line that shows such text shows it through these. */

/* Returns s (len bytes, NULs allowed) with every character a terminal acts
 * on written as a visible escape: \r, \n, \t, \xNN for other C0
 * controls, DEL and bytes that are not UTF-8, \uNNNN for C1 controls and
 * the invisible bidi and line-breaking characters. Printable UTF-8 stays.
 * Caller frees; dies when out of memory. */
char *escape_bytes(const char *s, size_t len);
/* escape_bytes() of a C string; NULL gives "". */
char *escape_string(const char *s);
/* escape_bytes() of a JSON string's value; "" when v is not a string. */
char *escape_json_string(json_t *v);
/* How many terminal columns s (UTF-8, already escaped) takes: a
 * Vietnamese letter is one column, a CJK one two. */
int text_width(const char *s);
/* Prints s (escaped) and spaces up to width columns. */
void print_padded(const char *s, int width);

/* report.c: errors, exit codes and JSON output. */

/* Makes errors and results print as JSON (--json). */
void report_set_json(bool json);
/* The exit code for an error name: vaultd's (by the part after the last
 * dot) or vaultctl's own. */
int error_exit_code(const char *name);
/* Prints an error: one line "vaultctl: MESSAGE" on stderr (escaped, as it
 * may quote vaultd or a file), or under --json one object {"error",
 * "parameters", "message"} on stdout, with the members of extra (may be
 * NULL) added. params and extra are borrowed. */
void report_error(const char *name, json_t *params, json_t *extra, const char *message);
/* Prints "vaultctl: MESSAGE" on stderr, escaped: a warning, or an error that
 * does not end the command (a failed import line). */
__attribute__((format(printf, 1, 2))) void report_line(const char *fmt, ...);
/* Reports the error name (a vaultctl.* name) and exits with its code.
 * params (may be NULL) is stolen. */
__attribute__((noreturn, format(printf, 3, 4))) void die_error(const char *name, json_t *params,
                                                               const char *fmt, ...);
#define die(...) die_error(ERR_FAILED, NULL, __VA_ARGS__)
/* The text of an error reply from vaultd: "Name: k=v ... (what to do)",
 * or "Name (what to do)" without parameters. Caller frees. */
char *reply_error_text(json_t *msg);
/* Prints an error reply from vaultd, prefixed (may be "") and with extra
 * members under --json (may be NULL). */
void report_reply_error(json_t *msg, const char *prefix, json_t *extra);
/* Reports an error reply from vaultd and exits with its code. */
__attribute__((noreturn)) void die_reply(json_t *msg);
/* Prints params as JSON on stdout (results under --json). */
void print_json(json_t *params);
/* One JSON object streamed to stdout, {"KEY": [ITEM, ...], MEMBER, ...},
 * for a listing too long to hold: begin, each item as it comes, then end
 * with the other members (borrowed; may be NULL). An error reported while
 * it is open ends it with the error's members ("error", "parameters",
 * "message"), so that stdout still holds exactly one object. */
void json_stream_begin(const char *key);
void json_stream_item(json_t *item);
void json_stream_end(json_t *members);
/* "1 record", "2 records": n and the word for it. */
const char *plural(uint64_t n, const char *one, const char *many);

/* client.c: the connection to vaultd. */

/* Sends a call (params stolen, may be NULL), connecting first if needed.
 * Returns 0, or -errno with ctl->phase set (-ETIMEDOUT when vaultd took
 * neither the connection nor the call within the timeout). */
int ctl_send(struct ctl *ctl, const char *method, json_t *params, bool more);
/* Sends a call with the descriptor pass_fd attached to its first byte
 * (SCM_RIGHTS; nothing else may be in flight on the connection). pass_fd
 * stays the caller's. Returns as ctl_send(). */
int ctl_send_fd(struct ctl *ctl, const char *method, json_t *params, int pass_fd);
/* Waits at most the timeout for the next message (a reply or an error
 * object; caller decrefs). Returns 0, or -ETIMEDOUT, -ECONNRESET (closed),
 * -EBADMSG (not varlink), other -errno. */
int ctl_recv(struct ctl *ctl, json_t **ret);
/* Like ctl_recv() but does not wait: -EAGAIN when no whole message is
 * there yet. */
int ctl_recv_ready(struct ctl *ctl, json_t **ret);
/* Why a ctl_send()/ctl_recv() failed, and what to do, as an error. */
struct ctl_failure {
        const char *name; /* ERR_TIMEOUT, ERR_CONNECTION_FAILED, ... */
        json_t *params;   /* owned by the caller */
        char message[1024];
};
void ctl_io_failure(const struct ctl *ctl, int r, struct ctl_failure *ret);
/* Explains a failed ctl_send()/ctl_recv() and exits with code 4 (or 1 for a
 * malformed reply). */
__attribute__((noreturn)) void ctl_die_io(const struct ctl *ctl, int r);
/* Sends a call (params stolen) and waits for vaultd's answer, a reply or an
 * error object, left in *ret (caller decrefs). Returns 0, or -errno as
 * ctl_recv() does, for ctl_io_failure() to explain. */
int ctl_request(struct ctl *ctl, const char *method, json_t *params, json_t **ret);
/* Calls a method and returns its reply parameters (caller decrefs). Dies on
 * an error reply, with its exit code, or when vaultd cannot be reached. */
json_t *ctl_call(struct ctl *ctl, const char *method, json_t *params);
/* Calls a streamed method (more:true; params stolen) whose replies carry
 * "lines" (Export), handing each line to each() in order until the last
 * reply. Dies on an error reply or when vaultd cannot be reached. */
void ctl_stream_lines(struct ctl *ctl, const char *method, json_t *params,
                      void (*each)(const char *line, size_t len, void *data), void *data);
/* Calls a method and prints the reply: as JSON with --json, else through
 * human(). Returns the exit status. */
int ctl_show(struct ctl *ctl, const char *method, json_t *params, void (*human)(json_t *reply));
/* Closes the connection, if any. */
void ctl_close(struct ctl *ctl);

/* pages.c: listings that come in pages (list, history). */
struct pager {
        const char *method;        /* "io.vaultd.records.List" */
        json_t *params;            /* the call's other parameters, borrowed */
        const char *cursor_key;    /* the parameter "next" is passed back as */
        json_t *cursor;            /* where to start, borrowed; NULL: the beginning */
        const char *items_key;     /* the array each page holds: "records" */
        const char *resume_option; /* how a user starts after a cursor, or NULL */
        bool all;                  /* follow "next" to the end, else one page */
        /* Prints a page for people; last is set on the final one. */
        void (*show)(void *userdata, json_t *page, bool last);
        void *userdata;
};

/* Calls the method page after page, printing each as it arrives (as one
 * JSON document under --json) and keeping none. Dies (exit 1) when a page's
 * "next" does not come strictly after the previous one, or after 100,000
 * pages; and, like ctl_call(), on an error reply. Returns the exit
 * status. */
int pager_run(struct ctl *ctl, const struct pager *pg);

/* output.c: files written for the user (get -o, audit export -o). */
struct output {
        const char *path;    /* the target, borrowed */
        bool force;          /* may replace a regular file there */
        int fd;              /* the temporary file, written by the caller */
        char temp[PATH_MAX]; /* its name, next to path */
};

/* Makes a new temporary file for path: mode 0600, O_EXCL, in path's
 * directory, removed again if vaultctl exits or is killed before
 * output_commit(). Dies (exit 1) when path is a symbolic link or not a
 * regular file, or exists and force is false; nothing is created then. */
void output_open(struct output *o, const char *path, bool force);
/* Syncs the temporary file, renames it to path and syncs the directory: never over an existing
 * file without force (even one that appeared meanwhile), never through a
 * link. Dies on failure, removing the temporary file. o->fd stays open for
 * the caller to close. */
void output_commit(struct output *o);

/* progress.c: a progress line on a terminal (import, key rewrap). */

/* What is being counted: "importing", "record", "records". */
struct progress_label {
        const char *doing;
        const char *one, *many;
};

struct progress {
        const struct progress_label *label; /* borrowed, static */
        bool on;                            /* stderr is a terminal */
        bool shown;                         /* a line is on screen */
        int64_t total;                      /* the work to do (input bytes, data keys), or -1 */
        uint64_t start_us;                  /* monotonic */
        uint64_t last_us;                   /* of the last redraw */
};

/* Starts a meter; it draws only when on (stderr is a terminal). */
void progress_begin(struct progress *p, const struct progress_label *label, bool on, int64_t total);
/* Redraws "DOING: N things, R things/s[, P%, ETA M:SS]" at most a few times
 * a second; pos is how far the work has got, in the units of total (the
 * input offset reached, the data keys done). */
void progress_update(struct progress *p, uint64_t done, int64_t pos);
/* Erases the line, so that a message or the summary can take its place. */
void progress_clear(struct progress *p);

/* interrupt.c: Ctrl-C during a long command (import, key rewrap). */

/* From now on the first SIGINT only sets a flag, for the command to stop
 * at its next safe point; a second one kills vaultctl. */
void interrupt_catch(void);
/* Whether Ctrl-C was pressed since interrupt_catch(). */
bool interrupt_requested(void);

/* The commands. argv[0] is the command's own name. */
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_put(struct ctl *ctl, int argc, char **argv);
int cmd_get(struct ctl *ctl, int argc, char **argv);
int cmd_delete(struct ctl *ctl, int argc, char **argv);
int cmd_list(struct ctl *ctl, int argc, char **argv);
int cmd_find(struct ctl *ctl, int argc, char **argv);
int cmd_audit_resolve(struct ctl *ctl, int argc, char **argv);
/* put: warns on stderr when id looks like a citizen ID (12 digits) and
 * collection does not keep its ids as pseudonyms (asks vaultd). */
void warn_citizen_id(struct ctl *ctl, const char *collection, const char *id);
int cmd_history(struct ctl *ctl, int argc, char **argv);
int cmd_import(struct ctl *ctl, int argc, char **argv);
int cmd_audit_head(struct ctl *ctl, int argc, char **argv);
int cmd_audit_export(struct ctl *ctl, int argc, char **argv);
int cmd_audit_verify(struct ctl *ctl, int argc, char **argv);
int cmd_audit_rotate_key(struct ctl *ctl, int argc, char **argv);
/* cmd-prove.c */
int cmd_audit_prove(struct ctl *ctl, int argc, char **argv);
int cmd_audit_consistency(struct ctl *ctl, int argc, char **argv);
int cmd_audit_witness_request(struct ctl *ctl, int argc, char **argv);
int cmd_audit_cosign_import(struct ctl *ctl, int argc, char **argv);

/* cmd-witness.c: audit verify --witness VKEY... --quorum N. */
struct witness_opts {
        struct cosigner keys[COSIGN_WITNESSES_MAX];
        size_t n;
        unsigned quorum; /* 0 until given or checked */
};
/* Adds a witness key (--witness); dies with a usage error when it is
 * malformed, one too many, or the same key as one given before. */
void witness_option(struct ctl *ctl, struct witness_opts *w, const char *vkey);
/* After the options: --quorum needs witnesses and at most as many; it
 * defaults to all of them. */
void witness_options_check(struct ctl *ctl, struct witness_opts *w);
void witness_options_done(struct witness_opts *w);
/* Dies (exit 3) when fewer than the quorum cosigned the checkpoint of
 * size size (v: the verdict on it), naming each witness's verdict; hint,
 * when not NULL, says what to do instead. */
void witness_require(const struct ctl *ctl, const struct witness_opts *w, const struct cosign_verdict *v,
                     uint64_t size, const char *hint);
/* One line per witness: cosigned (when), no cosignature, or forged. */
void witness_show(const struct witness_opts *w, const struct cosign_verdict *v, uint64_t size, FILE *f);
/* {witnessed_size, quorum, cosigned, witnesses: [{name, cosignature: ok|missing|invalid, time?}]} */
json_t *witness_json(const struct witness_opts *w, const struct cosign_verdict *v, uint64_t size);
/* Checks a proof file offline (audit verify --proof) against vkey (NULL:
 * the key it names); dies with exit 3 when it does not verify. */
int audit_verify_proof(struct ctl *ctl, const char *path, const char *vkey, const struct witness_opts *w);
int cmd_policy_check(struct ctl *ctl, int argc, char **argv);
int cmd_policy_reload(struct ctl *ctl, int argc, char **argv);
int cmd_key_list(struct ctl *ctl, int argc, char **argv);
int cmd_key_rotate(struct ctl *ctl, int argc, char **argv);
int cmd_key_rewrap(struct ctl *ctl, int argc, char **argv);
int cmd_key_retire(struct ctl *ctl, int argc, char **argv);
int cmd_unseal(struct ctl *ctl, int argc, char **argv);
int cmd_backup(struct ctl *ctl, int argc, char **argv);
int cmd_backup_verify(struct ctl *ctl, int argc, char **argv);
int cmd_seal(struct ctl *ctl, int argc, char **argv);
int cmd_collection_create(struct ctl *ctl, int argc, char **argv);
int cmd_collection_set(struct ctl *ctl, int argc, char **argv);
int cmd_collection_show(struct ctl *ctl, int argc, char **argv);
int cmd_collection_list(struct ctl *ctl, int argc, char **argv);
int cmd_collection_rebuild_index(struct ctl *ctl, int argc, char **argv);
int cmd_records_due(struct ctl *ctl, int argc, char **argv);
int cmd_hold_set(struct ctl *ctl, int argc, char **argv);
int cmd_hold_clear(struct ctl *ctl, int argc, char **argv);
int cmd_hold_list(struct ctl *ctl, int argc, char **argv);
int cmd_dispose(struct ctl *ctl, int argc, char **argv);

/* continuity.c: the head an auditor verified last time. */
struct audit_state {
        bool exists; /* false: no state file yet (a first audit) */
        char *origin;
        uint64_t seq; /* the last line verified */
        uint8_t hash[AUDIT_HASH_SIZE];
        char *key;      /* the signing key in force at that line */
        char *verified; /* when, RFC 3339 UTC */
        /* The Merkle tree of lines 0 … seq (size seq + 1) and its root,
         * when that audit could vouch for it: the next one then needs no
         * line before size (docs/audit-format.md, "Continuity"). */
        bool has_root;
        uint64_t size;
        uint8_t root[32];
};
/* "SEQ:HEX" (vaultctl audit head prints it). -EINVAL when malformed. */
int since_head_parse(const char *s, uint64_t *ret_seq, uint8_t ret_hash[AUDIT_HASH_SIZE]);
/* Reads a state file; a missing one is not an error (exists false). */
int audit_state_load(const char *path, struct audit_state *ret, char *why, size_t whylen);
void audit_state_done(struct audit_state *st);
/* Writes the head of a verified export as the new state (0600, atomic). */
int audit_state_save(const char *path, const struct export_report *rep);
