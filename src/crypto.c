/*
 * crypto.c — see crypto.h. Pure: no I/O.
 */
#include "crypto.h"

#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* SHA-256, fetched from the provider once: OpenSSL 3 fetches EVP_sha256() anew
 * on every EVP_Digest, which cost as much as hashing a 3 KB body. */
static const EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

void crypto_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int md_len = 0;

	EVP_Digest(data, len, md, &md_len, sha256(), NULL);
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

bool crypto_hmac_sha256(const void *key, size_t key_len, const void *const *parts,
			const size_t *part_lens, size_t n, unsigned char out[32])
{
	bool ok = false;
	unsigned char *msg = NULL;
	size_t total = 0, at = 0;
	unsigned int out_len = 0;

	for (size_t i = 0; i < n; i++)
		total += part_lens[i];
	msg = malloc(total > 0 ? total : 1);
	if (msg == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		memcpy(msg + at, parts[i], part_lens[i]);
		at += part_lens[i];
	}
	ok = HMAC(EVP_sha256(), key, (int)key_len, msg, total, out, &out_len) != NULL &&
	     out_len == 32;
out:
	free(msg);
	return ok;
}

bool crypto_base64_decode(const char *in, size_t in_len, unsigned char **out, size_t *out_len)
{
	unsigned char *buf = NULL;
	int n;
	size_t pad = 0;

	*out = NULL;
	if (in_len == 0 || in_len % 4 != 0 || in_len > (size_t)1 << 20)
		return false;
	/* EVP_DecodeBlock is lenient: only the alphabet, with '=' as the last one or two */
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '+' || c == '/';

		if (c == '=' && (i == in_len - 1 || (i == in_len - 2 && in[in_len - 1] == '=')))
			continue;
		if (!alpha)
			return false;
	}
	buf = malloc(in_len / 4 * 3 + 1);
	if (buf == NULL)
		return false;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)in_len);
	if (n < 0) {
		free(buf);
		return false;
	}
	if (in[in_len - 1] == '=')
		pad++;
	if (in[in_len - 2] == '=')
		pad++;
	if (pad > 0) {
		/* canonical only: the bits the padding leaves over must be zero, so that one
		 * byte string has exactly one encoding (found by fuzz_auth) */
		static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		unsigned v = (unsigned)(strchr(alphabet, in[in_len - 1 - pad]) - alphabet);

		if ((pad == 1 && (v & 0x03) != 0) || (pad == 2 && (v & 0x0f) != 0)) {
			free(buf);
			return false;
		}
	}
	*out = buf;
	*out_len = (size_t)n - pad;
	return true;
}

char *crypto_base64_encode(const unsigned char *data, size_t len)
{
	char *buf = malloc((len + 2) / 3 * 4 + 1);

	if (buf == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)buf, data, (int)len);
	return buf;
}

bool crypto_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
	unsigned char da[32], db[32];
	unsigned int n = 0;

	EVP_Digest(a, a_len, da, &n, sha256(), NULL);
	EVP_Digest(b, b_len, db, &n, sha256(), NULL);
	/* the lengths are compared after, so the timing cannot tell them apart */
	return (CRYPTO_memcmp(da, db, sizeof da) == 0) & (a_len == b_len);
}
