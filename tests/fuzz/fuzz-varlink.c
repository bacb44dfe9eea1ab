/* Fuzz target: varlink framing and the call decoder, as the daemon runs
 * them on bytes from a client. The first byte picks the chunk size the
 * bytes arrive in, so split messages are explored too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vl_reader r;
        size_t chunk, off = 1;

        if (size < 1)
                return 0;
        chunk = (size_t)data[0] % 64 + 1;
        vl_reader_init(&r, 4096);
        while (off < size) {
                size_t n = size - off < chunk ? size - off : chunk;
                char *msg;
                size_t len;
                int k;

                if (vl_reader_feed(&r, data + off, n) < 0)
                        break;
                off += n;
                while ((k = vl_reader_next(&r, &msg, &len)) > 0) {
                        struct vl_call call;
                        const char *field;

                        if (vl_call_parse(msg, len, &call, &field) == 0) {
                                char *out;
                                size_t olen;

                                if (vl_reply_encode(call.parameters, call.more, &out, &olen) == 0)
                                        free(out);
                                json_decref(call.root);
                        }
                        free(msg);
                }
                if (k < 0)
                        break; /* oversized: the daemon drops the peer */
        }
        vl_reader_done(&r);
        return 0;
}
