/*
 * auth.h — credential checks for the hook and API endpoints.
 *
 * Every comparison of a presented credential with a configured secret is
 * constant-time (crypto_equal) and none reports which part failed. Pure: the
 * caller passes the clock.
 *
 * Ownership: all arguments are borrowed.
 */
#ifndef AMICD_AUTH_H
#define AMICD_AUTH_H

#include "config.h"
#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SIGNATURE_TOLERANCE_S 300

/* auth_token — true when presented (may be NULL) equals the secret. */
bool auth_token(const struct secret *secret, const char *presented);

/* auth_bearer — true when authorization is "Bearer <secret>". */
bool auth_bearer(const struct secret *secret, const char *authorization);

/*
 * auth_eventbridge — true when the request carries the configured API key
 * (api_key_value: the configured header's value, may be NULL) or the configured
 * Basic credentials (authorization, may be NULL).
 */
bool auth_eventbridge(const struct config_auth *auth, const char *api_key_value,
		      const char *authorization);

/*
 * auth_webhook_signature — Standard Webhooks: some "v1,<base64>" in sig_header
 * (space-separated) is the HMAC-SHA256 under key of "id.timestamp.body", and
 * timestamp is within AUTH_SIGNATURE_TOLERANCE_S of now_s. Returns AMICD_OK or
 * AMICD_ERR_AUTH (err says why, for the log only: never send it to the client).
 */
enum amicd_rc auth_webhook_signature(const struct secret *key, const char *id, const char *timestamp,
				     const char *sig_header, const void *body, size_t body_len,
				     int64_t now_s, struct amicd_error *err);

#endif
