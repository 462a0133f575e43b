/*
 * crypto.h — the few primitives amicd needs, over OpenSSL: SHA-256, HMAC-SHA256,
 * base64, and a constant-time comparison.
 *
 * Pure functions: no I/O, no global state beyond OpenSSL's own.
 */
#ifndef AMICD_CRYPTO_H
#define AMICD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* crypto_sha256_hex — lower-case hex SHA-256 of data into out (65 bytes incl. NUL). */
void crypto_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * crypto_hmac_sha256 — HMAC-SHA256 of the concatenation of n parts under key.
 * Returns true on success (out holds 32 bytes).
 */
bool crypto_hmac_sha256(const void *key, size_t key_len, const void *const *parts,
			const size_t *part_lens, size_t n, unsigned char out[32]);

/*
 * crypto_base64_decode — decode standard base64 (with padding, canonical: the
 * bits left over before the padding are zero) into *out (caller frees).
 * Returns false on bad input or out of memory.
 */
bool crypto_base64_decode(const char *in, size_t in_len, unsigned char **out, size_t *out_len);

/* crypto_base64_encode — standard base64 of data; caller frees; NULL on OOM. */
char *crypto_base64_encode(const unsigned char *data, size_t len);

/*
 * crypto_equal — true when a and b hold the same bytes. Takes the same time
 * whatever the contents, and does not reveal where they differ or whether the
 * lengths differ (both sides are hashed before the constant-time compare).
 */
bool crypto_equal(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
