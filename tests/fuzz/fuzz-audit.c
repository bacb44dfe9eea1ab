/* Fuzz target: what an auditor feeds vaultctl: export files (header,
 * audit lines, signed checkpoint notes) and single checkpoint notes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auditfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed, valid verifier key (the public half of an all-zero seed). */
static char *vkey;

static void init(void)
{
        uint8_t seed[32] = {0}, pk[32], sk[64];

        if (vkey || sodium_init() < 0)
                return;
        crypto_sign_seed_keypair(pk, sk, seed);
        if (note_verifier_key("vaultd/fuzz", pk, &vkey) < 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct export_report rep;
        struct audit_chain chain;
        uint8_t zero[AUDIT_HASH_SIZE] = {0};
        char why[256], *note, *name = NULL;
        struct checkpoint cp;
        uint8_t pk[32], id[4];
        FILE *f;

        init();
        f = fmemopen((void *)data, size, "r");
        if (f) {
                (void)export_verify(f, NULL, &rep);
                fclose(f);
        }
        f = fmemopen((void *)data, size, "r");
        if (f) {
                (void)export_verify(f, vkey, &rep);
                fclose(f);
        }
        audit_chain_init(&chain, 0, zero);
        (void)audit_chain_feed(&chain, (const char *)data, size, why, sizeof(why));
        note = malloc(size + 1);
        if (!note)
                return 0;
        memcpy(note, data, size);
        note[size] = '\0';
        if (checkpoint_verify(note, vkey, &cp, why, sizeof(why)) == 0)
                checkpoint_done(&cp);
        if (note_verifier_parse(note, &name, pk, id) == 0)
                free(name);
        free(note);
        return 0;
}
