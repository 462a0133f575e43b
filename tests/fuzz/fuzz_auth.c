/*
 * fuzz_auth.c — the credential parsers: Standard Webhooks signatures
 * ("v1,<base64>" lists; lines: id, timestamp, signature header, then the
 * body), Basic credentials and Bearer tokens, and base64 itself. Properties:
 * base64 decode then encode round-trips; a random signature never verifies;
 * the right signature always does.
 */
#include "fuzz.h"
#include "fuzz_common.h"

#include "auth.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_config();
	return 0;
}

/* The next line of data (NUL-terminated copy; caller frees), advancing *at. */
static char *line(const uint8_t *data, size_t size, size_t *at)
{
	size_t start = *at;

	while (*at < size && data[*at] != '\n')
		(*at)++;
	{
		char *out = strndup((const char *)data + start, *at - start);

		if (*at < size)
			(*at)++;
		return out;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key_bytes[] = "0123456789abcdef0123456789abcdef";
	const struct secret key = { (unsigned char *)key_bytes, 32 };
	size_t at = 0;
	char *id = line(data, size, &at), *ts = line(data, size, &at), *sig = line(data, size, &at);
	const char *body = (const char *)data + at;
	size_t blen = size - at;
	struct amicd_error err;
	unsigned char *raw = NULL;
	size_t raw_len = 0;

	if (id == NULL || ts == NULL || sig == NULL)
		abort();
	/* a made-up signature: never valid */
	fuzz_check(auth_webhook_signature(&key, id, ts, sig, body, blen, 1764014400, &err) != AMICD_OK ||
		   strstr(sig, "v1,") != NULL);
	/* the right signature over this id, timestamp and body: valid when the timestamp is now */
	{
		unsigned char mac[32];
		const void *parts[] = { id, ".", "1764014400", ".", body };
		size_t lens[] = { strlen(id), 1, 10, 1, blen };
		char *b64, *header = NULL;

		if (crypto_hmac_sha256(key_bytes, 32, parts, lens, 5, mac) && (b64 = crypto_base64_encode(mac, 32)) != NULL) {
			if (asprintf(&header, "v1,bm90IGl0 v1,%s", b64) > 0)
				fuzz_check(id[0] == '\0' ||
					   auth_webhook_signature(&key, id, "1764014400", header, body, blen, 1764014400,
								  &err) == AMICD_OK);
			free(header);
			free(b64);
		}
	}
	/* Basic and Bearer on whatever the signature line holds */
	{
		char *authz = NULL;

		if (asprintf(&authz, "Basic %s", sig) > 0)
			(void)auth_eventbridge(&fuzz_config()->auth, NULL, authz);
		free(authz);
		(void)auth_bearer(&fuzz_config()->auth.admin_token, sig);
		(void)auth_token(&fuzz_config()->auth.gitlab_token, sig);
	}
	/* base64: what decodes re-encodes to the same text */
	if (crypto_base64_decode(sig, strlen(sig), &raw, &raw_len)) {
		char *again = crypto_base64_encode(raw, raw_len);

		fuzz_check(again != NULL && strcmp(again, sig) == 0);
		free(again);
		free(raw);
	}
	free(id);
	free(ts);
	free(sig);
	return 0;
}
