/*
 * auth.c — see auth.h. Pure: no I/O.
 */
#include "auth.h"

#include "crypto.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool auth_token(const struct secret *secret, const char *presented)
{
	if (secret->bytes == NULL || presented == NULL)
		return false;
	return crypto_equal(secret->bytes, secret->len, presented, strlen(presented));
}

bool auth_bearer(const struct secret *secret, const char *authorization)
{
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	return auth_token(secret, authorization + 7);
}

static bool basic_ok(const struct config_auth *auth, const char *authorization)
{
	unsigned char *decoded = NULL;
	size_t len = 0;
	const char *b64;
	char *expected = NULL;
	size_t user_len;
	bool ok = false;

	if (auth->eventbridge_basic_user == NULL || authorization == NULL ||
	    strncasecmp(authorization, "Basic ", 6) != 0)
		return false;
	b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	if (!crypto_base64_decode(b64, strlen(b64), &decoded, &len))
		return false;
	user_len = strlen(auth->eventbridge_basic_user);
	expected = malloc(user_len + 1 + auth->eventbridge_basic_password.len);
	if (expected != NULL) {
		memcpy(expected, auth->eventbridge_basic_user, user_len);
		expected[user_len] = ':';
		memcpy(expected + user_len + 1, auth->eventbridge_basic_password.bytes,
		       auth->eventbridge_basic_password.len);
		ok = crypto_equal(expected, user_len + 1 + auth->eventbridge_basic_password.len, decoded, len);
		memset(expected, 0, user_len + 1 + auth->eventbridge_basic_password.len);
	}
	memset(decoded, 0, len);
	free(decoded);
	free(expected);
	return ok;
}

bool auth_eventbridge(const struct config_auth *auth, const char *api_key_value,
		      const char *authorization)
{
	bool key_ok = auth->eventbridge_api_key_header != NULL &&
		      auth_token(&auth->eventbridge_api_key, api_key_value);
	bool basic = basic_ok(auth, authorization);

	return key_ok || basic;
}

enum amicd_rc auth_webhook_signature(const struct secret *key, const char *id, const char *timestamp,
				     const char *sig_header, const void *body, size_t body_len,
				     int64_t now_s, struct amicd_error *err)
{
	unsigned char mac[32];
	char *expected = NULL;
	char *end = NULL;
	long long ts;
	bool match = false;
	const char *p;

	if (id == NULL || timestamp == NULL || sig_header == NULL)
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "webhook-id, webhook-timestamp or webhook-signature missing");
	ts = strtoll(timestamp, &end, 10);
	if (end == timestamp || *end != '\0')
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "webhook-timestamp is not a number");
	if (ts < now_s - AUTH_SIGNATURE_TOLERANCE_S || ts > now_s + AUTH_SIGNATURE_TOLERANCE_S)
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "webhook-timestamp is more than 5 minutes off");
	{
		const void *parts[] = { id, ".", timestamp, ".", body };
		const size_t lens[] = { strlen(id), 1, strlen(timestamp), 1, body_len };

		if (!crypto_hmac_sha256(key->bytes, key->len, parts, lens, 5, mac))
			return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "cannot compute HMAC");
	}
	expected = crypto_base64_encode(mac, sizeof mac);
	if (expected == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	/* "v1,<sig> v1,<sig2> v2,…": any v1 entry may match; check them all */
	for (p = sig_header; *p != '\0';) {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len > 3 && strncmp(p, "v1,", 3) == 0)
			match |= crypto_equal(expected, strlen(expected), p + 3, len - 3);
		p += len;
	}
	free(expected);
	if (!match)
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "no v1 signature matches");
	return AMICD_OK;
}
