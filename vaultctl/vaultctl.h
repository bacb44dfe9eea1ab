/* vaultctl: the control CLI. One file per command group; this header is
 * what they share: options, the connection, and output helpers. vaultctl is
 * a one-shot tool, so helpers here may print and exit (signify, minisign). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "varlink.h"

#define EXIT_USAGE 2

struct ctl {
        const char *socket_path;
        bool json;
        int fd;
        struct vl_reader reader;
};

struct command {
        const char *name;
        int (*run)(struct ctl *ctl, int argc, char **argv);
        const char *usage; /* one line of arguments */
        const char *help;  /* what it does */
};

/* Connects on first use; dies with a clear message when the daemon is not
 * there. */
void ctl_connect(struct ctl *ctl);
/* Calls a method (params stolen, may be NULL) and waits for its reply.
 * Returns the reply parameters (caller decrefs), or prints the error in one
 * line and returns NULL. */
json_t *ctl_call(struct ctl *ctl, const char *method, json_t *params);
/* Calls a method and prints the reply: as JSON with --json, else through
 * human(). Returns the exit status. */
int ctl_show(struct ctl *ctl, const char *method, json_t *params, void (*human)(json_t *reply));
/* Sends a call without waiting (pipelining). */
void ctl_send(struct ctl *ctl, const char *method, json_t *params, bool more);
/* Receives the next message (a reply or an error object, caller decrefs). */
json_t *ctl_recv(struct ctl *ctl);
/* Prints an error message object in one line: "vaultctl: Name: k=v ...". */
void ctl_print_error(json_t *msg);

/* Prints params as JSON (for --json). */
void print_json(json_t *params);
/* Parses a non-negative integer argument or dies with usage. */
long long arg_uint(const char *what, const char *s);
/* Reads a whole file ("-" for stdin) up to max bytes, or dies. */
char *read_input(const char *path, size_t max, size_t *ret_len);
/* Prints "usage: vaultctl NAME USAGE" and HELP. */
void command_usage(const struct command *c, FILE *f);
/* True when argv has -h or --help. */
bool wants_help(int argc, char **argv);

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

int cmd_init(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_put(struct ctl *ctl, int argc, char **argv);
int cmd_get(struct ctl *ctl, int argc, char **argv);
int cmd_delete(struct ctl *ctl, int argc, char **argv);
int cmd_list(struct ctl *ctl, int argc, char **argv);
int cmd_history(struct ctl *ctl, int argc, char **argv);
int cmd_import(struct ctl *ctl, int argc, char **argv);
int cmd_audit(struct ctl *ctl, int argc, char **argv);
int cmd_policy(struct ctl *ctl, int argc, char **argv);

extern const struct command commands[];

/* A command's options: "--name VALUE" (value != NULL) or "--name" (flag). */
struct opt {
        const char *name;
        const char **value; /* set for options taking a value */
        bool *flag;         /* set for flags */
};
/* Parses argv[1..] into options and positional arguments (at most maxpos).
 * Dies with the command's usage on anything unexpected. Returns the number
 * of positional arguments, which must lie in [minpos, maxpos]. */
int args_parse(const struct command *c, int argc, char **argv, const struct opt *opts, const char **pos,
               int minpos, int maxpos);
/* The command table entry by name. */
const struct command *command_find(const char *name);
