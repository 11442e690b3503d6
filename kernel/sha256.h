/*
** sha256.h - SHA-256 (FIPS 180-4), for keys that must not collide by accident: the LLM
** cache keys a stored reply by the hash of its canonical request. Not for secrets.
*/
#ifndef HONE_SHA256_H
#define HONE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t length;          /* bytes hashed so far */
    unsigned char block[64];
    size_t used;              /* bytes waiting in block */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
/* Writes the digest as 64 lower-case hex digits and a NUL into hex. */
void sha256_hex(Sha256 *s, char hex[65]);

#endif
