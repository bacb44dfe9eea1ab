/* SHA-256 of public bytes (audit lines, checkpoint texts), with the CPU's
 * SHA extensions when it has them (x86-64 SHA-NI), else libsodium's. The
 * audit chain hashes every line it writes or verifies, and libsodium's
 * portable code takes most of a verification's time; the result is the
 * same either way (tests/unit/test-sha256.c compares the two). Not for
 * secrets: nothing here is constant-time beyond what SHA-256 is anyway. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32

/* out = SHA-256(data[0..len)). */
void sha256(const void *data, size_t len, uint8_t out[SHA256_SIZE]);
/* out = SHA-256(prefix || data[0..len)): a Merkle tree's leaf (0x00) and
 * node (0x01) hashes. */
void sha256_prefixed(uint8_t prefix, const void *data, size_t len, uint8_t out[SHA256_SIZE]);
/* libsodium's SHA-256, whatever the CPU: the references for tests. */
void sha256_portable(const void *data, size_t len, uint8_t out[SHA256_SIZE]);
void sha256_prefixed_portable(uint8_t prefix, const void *data, size_t len, uint8_t out[SHA256_SIZE]);
/* Whether sha256() uses the CPU's SHA instructions. */
int sha256_accelerated(void);
