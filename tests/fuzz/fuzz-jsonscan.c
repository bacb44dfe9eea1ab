/* Fuzz target: the fast audit-line reader (lib/jsonscan.c) against
 * jansson on the same bytes. Any text jscan accepts must be an object to
 * jansson (with duplicate keys refused) with the same members; a
 * difference aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jscan-oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        bool fast;
        const char *why = jscan_oracle((const char *)data, size, &fast);

        if (why) {
                fprintf(stderr, "jscan and jansson disagree: %s\n", why);
                abort();
        }
        return 0;
}
