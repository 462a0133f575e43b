/*
 * awscreds.h — the credentials amicd signs with to call EC2 as one account
 * (design §9): static keys as given, or temporary ones from STS — AssumeRole
 * signed with the keys (SigV4 through libcurl's CURLOPT_AWS_SIGV4,
 * "aws:amz:<region>:sts", a session token as x-amz-security-token), or, with
 * no keys, AssumeRoleWithWebIdentity (unsigned; the token is read from its
 * file on every call, as the kubelet rotates it) — cached until
 * AWSCREDS_REFRESH_MS before they expire. STS API 2011-06-15, every
 * parameter in a POST form body.
 *
 * Independent of the configuration: the caller fills a struct
 * awscreds_source (from config.h's account, or awscreds_source_from_env for
 * the default chain).
 *
 * The answer is one of three outcomes, as ec2api's: credentials; try again
 * later (Throttling, another service-side code, a 5xx, no answer in time,
 * cancelled); or the source fails until someone acts (AccessDenied,
 * InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken,
 * InvalidIdentityToken, an unreadable token file, any other error: its code
 * is in the message). When a refresh does not succeed but the cached
 * credentials are still good for AWSCREDS_MIN_VALID_MS, those are the answer
 * (and the message says the refresh failed).
 *
 * Blocking (one STS request at most per call, bounded by the source's
 * timeout); never on a request path. Not thread-safe: one struct awscreds per
 * source, used by one thread at a time.
 *
 * Secrets: the secret key, session tokens and the web identity token never
 * appear in a message, an error or a log line (an STS message that quotes one
 * is dropped); the buffers that held them (the form body, the token file's
 * bytes, STS's answer, the request's header, the cache) are overwritten
 * (explicit_bzero) before they are freed.
 *
 * Ownership: the source's strings are borrowed for the call. The credentials
 * awscreds_get gives point into the source's strings (static keys) or into
 * the cache (STS's), valid until the next awscreds_get or awscreds_free on
 * the same cache, and as long as the source's strings are.
 */
#ifndef AMICD_AWSCREDS_H
#define AMICD_AWSCREDS_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

#define AWSCREDS_REFRESH_MS (5 * 60 * 1000)      /* ask STS again this long before Expiration */
#define AWSCREDS_MIN_VALID_MS (60 * 1000)        /* a cached credential still worth using when a refresh fails */
#define AWSCREDS_MAX_TOKEN_BYTES 16384           /* a web identity token file (a JWT of a few kB) */
#define AWSCREDS_DEFAULT_SESSION_NAME "amicd"

/* Credentials of one account: static keys, or what STS gave for a role. */
struct aws_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;      /* NULL: long-term keys */
};

/* Where one account's credentials come from. Strings are borrowed. */
struct awscreds_source {
	const char *access_key_id;            /* static keys, or NULL (then both NULL) */
	const char *secret_access_key;
	const char *session_token;            /* optional, with static keys (AWS_SESSION_TOKEN) */
	const char *role_arn;                 /* NULL: the keys as they are; else sts:AssumeRole with them */
	const char *web_identity_token_file;  /* with role_arn and no keys: sts:AssumeRoleWithWebIdentity */
	const char *sts_endpoint;             /* NULL: https://sts.<region>.amazonaws.com (.com.cn in cn-*) */
	const char *region;                   /* STS's signing region and regional endpoint */
	const char *session_name;             /* RoleSessionName; NULL: AWSCREDS_DEFAULT_SESSION_NAME */
	long timeout_ms;                      /* the STS request; 0: 10 s */
	bool (*cancel)(void *cls);            /* optional: true aborts the STS request (a stopping server) */
	void *cancel_cls;
};

enum awscreds_status {
	AWSCREDS_READY,                 /* credentials to sign with */
	AWSCREDS_RETRY,                 /* transient: throttled, 5xx, no answer, cancelled */
	AWSCREDS_FAILING,               /* credentials, permissions, the token file, a bad answer: someone must act */
};

struct awscreds_outcome {
	enum awscreds_status status;
	bool cached;                    /* READY with what an earlier call got from STS */
	int64_t expires_ms;             /* READY from STS: Expiration (ms since the epoch); 0 for static keys */
	unsigned sts_calls;             /* STS requests this call made: 0 or 1 */
	long http_status;               /* of STS's answer; 0 when none came or none was asked */
	char code[64];                  /* STS's error code ("AccessDenied", …), "" when none */
	char error[320];                /* RETRY / FAILING: what happened; READY: a refresh that failed, or "". Never a secret */
};

struct awscreds;   /* a cache for one source */

/* awscreds_new — an empty cache; NULL when out of memory. */
struct awscreds *awscreds_new(void);

/* awscreds_free — wipe the cached secrets and free; NULL is a no-op. */
void awscreds_free(struct awscreds *c);

/*
 * awscreds_get — the credentials to sign with at now_ms (wall-clock ms since
 * the epoch: STS's Expiration is a UTC time). Static keys without role_arn
 * come back unchanged and STS is not asked. With role_arn, the cached STS
 * credentials while now_ms is before their Expiration less
 * AWSCREDS_REFRESH_MS and the source names the same role, keys, token file,
 * endpoint, region and session name; otherwise STS is asked once.
 *
 * Keys and a web identity token file together: the keys are used
 * (AssumeRole). *out is set only on AWSCREDS_READY (zeroed otherwise);
 * *outcome always.
 *
 * Returns AMICD_OK whatever STS answered (the outcome says what);
 * AMICD_ERR_INVALID for a source that cannot be used (no keys and no role
 * with a token file, half a key pair, a role without a region or endpoint to
 * ask, a web identity token file without a role); AMICD_ERR_NOMEM.
 */
enum amicd_rc awscreds_get(struct awscreds *c, const struct awscreds_source *src, int64_t now_ms,
			   struct aws_credentials *out, struct awscreds_outcome *outcome, struct amicd_error *err);

/*
 * awscreds_source_from_env — the default chain, as the AWS SDKs read it:
 * AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) when both
 * are set and non-empty, else AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (as
 * EKS and OpenShift set them); the credential fields not found are cleared
 * (NULL). region (AWS_REGION, else AWS_DEFAULT_REGION), session_name
 * (AWS_ROLE_SESSION_NAME) and sts_endpoint (AWS_ENDPOINT_URL_STS) are taken
 * from the environment only when NULL in src. Other fields are left as they
 * are. The strings point into the environment: valid until it changes.
 */
void awscreds_source_from_env(struct awscreds_source *src);

#endif
