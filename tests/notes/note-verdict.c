/* The C side of the differential signed-note test: lib/note.c's verdict on
 * each note, in the format of tests/notes/gonote (Go's package):
 *
 *   note-verdict VERIFIER_KEY NOTE_FILE...
 *
 * prints "<file name without .note> <verdict> (<why>)" per file, the
 * verdict one of ok, malformed, invalid-signature, unverified: note_parse
 * -EBADMSG is malformed; then note_check with the verifier key, 0 ok,
 * -ENOENT unverified, -EBADMSG invalid-signature. Exit 2 on a usage or
 * file error, 1 on any other result. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "note.h"
#include "util.h"

static int read_file(const char *path, char **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t len = 0, cap = 0, n;

        if (!f)
                return -errno;
        do {
                if (len == cap) {
                        char *b = realloc(buf, cap = cap ? 2 * cap : 4096);

                        if (!b) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = b;
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
        } while (n > 0);
        if (ferror(f)) {
                free(buf);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        *ret = buf;
        *ret_len = len;
        return 0;
}

static const char *verdict(const char *msg, size_t len, const char *name, const uint8_t pk[32], char *why,
                           size_t whylen)
{
        struct note n;
        int k;

        k = note_parse(msg, len, &n, why, whylen);
        if (k == -EBADMSG)
                return "malformed";
        if (k < 0) {
                snprintf(why, whylen, "note_parse: %s", strerror(-k));
                return NULL;
        }
        k = note_check(&n, name, pk);
        note_done(&n);
        snprintf(why, whylen, "note_check: %d", k);
        switch (k) {
        case 0:
                return "ok";
        case -ENOENT:
                return "unverified";
        case -EBADMSG:
                return "invalid-signature";
        }
        return NULL;
}

int main(int argc, char **argv)
{
        _cleanup_(freep) char *name = NULL;
        uint8_t pk[32], id[4];
        int status = 0;

        if (argc < 3) {
                fprintf(stderr, "usage: note-verdict VERIFIER_KEY NOTE_FILE...\n");
                return 2;
        }
        if (sodium_init() < 0 || note_verifier_parse(argv[1], &name, pk, id) < 0) {
                fprintf(stderr, "note-verdict: verifier key \"%s\" is malformed\n", argv[1]);
                return 2;
        }
        for (int i = 2; i < argc; i++) {
                _cleanup_(freep) char *msg = NULL, *base = strdup(argv[i]);
                char why[256] = "", *b, *dot;
                const char *v;
                size_t len = 0;
                int k;

                if (!base)
                        return 2;
                k = read_file(argv[i], &msg, &len);
                if (k < 0) {
                        fprintf(stderr, "note-verdict: %s: %s\n", argv[i], strerror(-k));
                        return 2;
                }
                b = basename(base);
                dot = strrchr(b, '.');
                if (dot && strcmp(dot, ".note") == 0)
                        *dot = '\0';
                v = verdict(msg, len, name, pk, why, sizeof(why));
                if (!v)
                        status = 1;
                printf("%s %s (%s)\n", b, v ? v : "error:", why);
        }
        return status;
}
