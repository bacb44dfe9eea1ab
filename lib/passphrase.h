/* Passphrases from a file or the terminal, for sealing and unsealing the
 * root key (vaultd --generate-key, vaultctl unseal and passwd). They live
 * in guarded memory: free them with passphrase_free, which wipes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Longest passphrase accepted, in bytes. */
#define PASSPHRASE_MAX 1024

/* The first line of path ("-": standard input), without its newline.
 * -EINVAL when it is empty, -E2BIG when longer than PASSPHRASE_MAX,
 * -EILSEQ when it is not UTF-8 text (it travels as JSON). */
int passphrase_from_file(const char *path, char **ret, size_t *ret_len);
/* Asks on the controlling terminal with echo off; with confirm, asks
 * twice and fails with -EINVAL when the answers differ. -ENOTTY without a
 * terminal. */
int passphrase_prompt(const char *prompt, bool confirm, char **ret, size_t *ret_len);
void passphrase_free(char *p);
