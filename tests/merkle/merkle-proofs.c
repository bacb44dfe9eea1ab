/* The C side of the Merkle tree differential test: lib/merkle.c proves and
 * checks what tests/merkle/gotlog (Go's tlog package) does, in the same
 * formats (see gotlog/main.go):
 *
 *   merkle-proofs prove LEAVES QUERIES
 *   merkle-proofs check < ANSWERS
 *
 * prove builds the tree with merkle_append into stored hashes held in
 * memory, then answers each query with merkle_root and
 * merkle_prove_inclusion or merkle_prove_consistency; check prints "ok"
 * or "reject <errno name>" per answer (merkle_verify_*). Exit 2 on a usage
 * or input error. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "merkle.h"

#define H         MERKLE_HASH_SIZE
#define LINE_MAX_ (1u << 20)

/* Stored hashes, one growing array per level. */
struct mem {
        uint8_t (*level[MERKLE_LEVELS])[H];
        uint64_t count[MERKLE_LEVELS];
        uint64_t cap[MERKLE_LEVELS];
};

__attribute__((noreturn)) static void die(const char *msg)
{
        fprintf(stderr, "merkle-proofs: %s\n", msg);
        exit(2);
}

static int mem_get(void *userdata, unsigned level, uint64_t index, uint8_t ret[H])
{
        struct mem *m = userdata;

        if (index >= m->count[level])
                return -ENOENT;
        memcpy(ret, m->level[level][index], H);
        return 0;
}

static int mem_put(void *userdata, unsigned level, uint64_t index, const uint8_t hash[H])
{
        struct mem *m = userdata;

        if (index != m->count[level])
                die("stored hashes out of order");
        if (m->count[level] == m->cap[level]) {
                m->cap[level] = m->cap[level] ? 2 * m->cap[level] : 64;
                m->level[level] = realloc(m->level[level], m->cap[level] * H);
                if (!m->level[level])
                        die("out of memory");
        }
        memcpy(m->level[level][m->count[level]++], hash, H);
        return 0;
}

static void print_hash(const uint8_t h[H])
{
        char b64[sodium_base64_ENCODED_LEN(H, sodium_base64_VARIANT_ORIGINAL)];

        printf(" %s", sodium_bin2base64(b64, sizeof(b64), h, H, sodium_base64_VARIANT_ORIGINAL));
}

static void print_proof(uint8_t (*p)[H], int n)
{
        for (int i = 0; i < n; i++)
                print_hash(p[i]);
        printf("\n");
}

static void prove(const char *leaves_path, const char *queries_path)
{
        static struct mem mem;
        const struct merkle_hashes h = {mem_get, mem_put, &mem};
        uint8_t(*leaves)[H] = NULL, proof[MERKLE_PROOF_MAX][H], r1[H], r2[H];
        static char line[LINE_MAX_];
        uint64_t n = 0, a, b;
        char kind[8];
        FILE *f = fopen(leaves_path, "rb");

        if (!f)
                die("cannot open the leaves");
        while (fgets(line, sizeof(line), f)) {
                size_t len = strlen(line);

                if (len && line[len - 1] == '\n')
                        len--;
                leaves = realloc(leaves, (n + 1) * H);
                if (!leaves)
                        die("out of memory");
                merkle_leaf_hash(line, len, leaves[n]);
                if (merkle_append(&h, n, leaves[n]) < 0)
                        die("merkle_append failed");
                n++;
        }
        fclose(f);
        if (!(f = fopen(queries_path, "r")))
                die("cannot open the queries");
        while (fscanf(f, "%7s %" SCNu64 " %" SCNu64, kind, &a, &b) == 3) {
                int k;

                if (strcmp(kind, "incl") == 0) {
                        if (b >= n || (k = merkle_prove_inclusion(&h, b, a, proof)) < 0 ||
                            merkle_root(&h, a, r1) < 0)
                                die("cannot prove inclusion");
                        printf("incl %" PRIu64 " %" PRIu64, a, b);
                        print_hash(leaves[b]);
                        print_hash(r1);
                } else if (strcmp(kind, "cons") == 0) {
                        if ((k = merkle_prove_consistency(&h, a, b, proof)) < 0 ||
                            merkle_root(&h, a, r1) < 0 || merkle_root(&h, b, r2) < 0)
                                die("cannot prove consistency");
                        printf("cons %" PRIu64 " %" PRIu64, a, b);
                        print_hash(r1);
                        print_hash(r2);
                } else
                        die("bad query");
                print_proof(proof, k);
        }
        fclose(f);
        free(leaves);
}

static void check(void)
{
        static char line[LINE_MAX_];
        uint8_t hashes[MERKLE_PROOF_MAX + 8][H];

        while (fgets(line, sizeof(line), stdin)) {
                char *save = NULL, *kind = strtok_r(line, " \n", &save);
                char *sa = strtok_r(NULL, " \n", &save), *sb = strtok_r(NULL, " \n", &save), *tok;
                size_t n = 0;
                uint64_t a, b;
                int k;

                if (!kind || !sa || !sb)
                        die("bad answer");
                a = strtoull(sa, NULL, 10);
                b = strtoull(sb, NULL, 10);
                while ((tok = strtok_r(NULL, " \n", &save))) {
                        size_t len;

                        if (n == sizeof(hashes) / H ||
                            sodium_base642bin(hashes[n], H, tok, strlen(tok), NULL, &len, NULL,
                                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
                            len != H)
                                die("bad hash");
                        n++;
                }
                if (n < 2)
                        die("bad answer");
                if (strcmp(kind, "incl") == 0)
                        k = merkle_verify_inclusion(b, a, hashes[0], (const void *)(hashes + 2), n - 2,
                                                    hashes[1]);
                else if (strcmp(kind, "cons") == 0)
                        k = merkle_verify_consistency(a, b, hashes[0], hashes[1], (const void *)(hashes + 2),
                                                      n - 2);
                else
                        die("bad answer");
                if (k == 0)
                        printf("ok\n");
                else
                        printf("reject %s\n", k == -EBADMSG ? "EBADMSG" : k == -EINVAL ? "EINVAL" : "other");
        }
}

int main(int argc, char **argv)
{
        if (sodium_init() < 0)
                die("libsodium failed to start");
        if (argc == 4 && strcmp(argv[1], "prove") == 0)
                prove(argv[2], argv[3]);
        else if (argc == 2 && strcmp(argv[1], "check") == 0)
                check();
        else {
                fprintf(stderr,
                        "usage: merkle-proofs prove LEAVES QUERIES | merkle-proofs check < ANSWERS\n");
                return 2;
        }
        return 0;
}
