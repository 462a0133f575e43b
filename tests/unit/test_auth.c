/*
 * test_auth.c — credential checks (src/auth.h) and the primitives under them
 * (src/crypto.h).
 *
 * Covers: Standard Webhooks signatures (auth_webhook_signature) against vectors
 * computed independently of amicd (python3 hmac / openssl dgst, commands in the
 * comments) including the public Svix test vector; tampered body, wrong key,
 * the ±300 s timestamp window in both directions, several signatures in one
 * header, "v2," entries ignored, missing headers, non-numeric timestamps.
 * auth_token, auth_bearer (scheme case-insensitive), auth_eventbridge with an
 * API key and with Basic credentials (struct config_auth built by hand).
 * crypto_equal, crypto_base64_decode/encode, crypto_sha256_hex and
 * crypto_hmac_sha256 (RFC 4231 / FIPS 180-2 vectors).
 * Pure: no files, no environment.
 */
#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/*
 * amicd's own vector. Key = the 32 ASCII bytes "amicd-test-signing-key-32-bytes!",
 * i.e. whsec_YW1pY2QtdGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcyE= . Computed with:
 *
 *   printf '%s' 'msg_2Lz1amicd.1764018000.{"object_kind":"push","ref":"refs/heads/main"}' |
 *     openssl dgst -sha256 -mac HMAC \
 *       -macopt hexkey:$(printf '%s' 'amicd-test-signing-key-32-bytes!' | xxd -p -c 256) -binary | base64
 *
 * and cross-checked with:
 *
 *   python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("YW1pY2QtdGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcyE=");
 *     m=b"msg_2Lz1amicd.1764018000.{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\"}";
 *     print(base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode())'
 */
#define OUR_WHSEC "whsec_YW1pY2QtdGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcyE="
#define OUR_KEY_RAW "amicd-test-signing-key-32-bytes!"
#define OUR_ID "msg_2Lz1amicd"
#define OUR_TS "1764018000"
#define OUR_TS_N INT64_C(1764018000)
#define OUR_BODY "{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\"}"
#define OUR_SIG "FPEed8NPDgWihVx+JpBjwp4jVckrtIPCekaRwaiBHeM="

/*
 * The public Standard Webhooks / Svix test vector, reproduced with:
 *
 *   python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
 *     m=b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}";
 *     print(base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()).decode())'
 *   -> g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=   (equal to the published value)
 */
#define SVIX_WHSEC "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SVIX_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SVIX_TS "1614265330"
#define SVIX_TS_N INT64_C(1614265330)
#define SVIX_BODY "{\"test\": 2432232314}"
#define SVIX_SIG "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* A well-formed v1 signature that matches nothing (base64 of 32 zero bytes). */
#define ZERO_SIG "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

struct keys {
	struct secret ours;
	struct secret svix;
};

/* Decode "whsec_<base64>" into a struct secret the way the config does. */
static int secret_from_whsec(const char *whsec, struct secret *out)
{
	const char *b64 = whsec + strlen("whsec_");
	unsigned char *bytes = NULL;
	size_t len = 0;

	if (strncmp(whsec, "whsec_", 6) != 0 || !crypto_base64_decode(b64, strlen(b64), &bytes, &len))
		return -1;
	out->bytes = bytes;
	out->len = len;
	return 0;
}

static int setup_keys(void **state)
{
	int rc = -1;
	struct keys *k = calloc(1, sizeof *k);

	if (k == NULL)
		goto out;
	if (secret_from_whsec(OUR_WHSEC, &k->ours) != 0 || secret_from_whsec(SVIX_WHSEC, &k->svix) != 0)
		goto out;
	*state = k;
	k = NULL;
	rc = 0;
out:
	if (k != NULL) {
		free(k->ours.bytes);
		free(k->svix.bytes);
		free(k);
	}
	return rc;
}

static int teardown_keys(void **state)
{
	struct keys *k = *state;

	if (k != NULL) {
		free(k->ours.bytes);
		free(k->svix.bytes);
		free(k);
	}
	*state = NULL;
	return 0;
}

/* Verify OUR_BODY (or body) under key at now_s; returns the rc, err filled. */
static enum amicd_rc verify(const struct secret *key, const char *id, const char *ts, const char *sig,
			    const char *body, int64_t now_s, struct amicd_error *err)
{
	amicd_error_clear(err);
	return auth_webhook_signature(key, id, ts, sig, body, strlen(body), now_s, err);
}

/* ---- Standard Webhooks -------------------------------------------------- */

static void test_whsec_key_decodes(void **state)
{
	struct keys *k = *state;

	assert_int_equal(k->ours.len, strlen(OUR_KEY_RAW));
	assert_memory_equal(k->ours.bytes, OUR_KEY_RAW, strlen(OUR_KEY_RAW));
	/* "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" is 32 characters, so 24 bytes */
	assert_int_equal(k->svix.len, 24);
}

static void test_signature_match(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;

	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_OK);
	/* err may be NULL */
	assert_int_equal(auth_webhook_signature(&k->ours, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY,
						strlen(OUR_BODY), OUR_TS_N, NULL),
			 AMICD_OK);
}

static void test_signature_svix_vector(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;

	assert_int_equal(verify(&k->svix, SVIX_ID, SVIX_TS, "v1," SVIX_SIG, SVIX_BODY, SVIX_TS_N, &err), AMICD_OK);
	/* and the vector is specific to its key */
	assert_int_equal(verify(&k->ours, SVIX_ID, SVIX_TS, "v1," SVIX_SIG, SVIX_BODY, SVIX_TS_N, &err),
			 AMICD_ERR_AUTH);
}

/* The HMAC of the vector itself, through crypto_hmac_sha256 + base64, in parts. */
static void test_signature_vector_via_crypto(void **state)
{
	struct keys *k = *state;
	const void *parts[] = { OUR_ID, ".", OUR_TS, ".", OUR_BODY };
	const size_t lens[] = { strlen(OUR_ID), 1, strlen(OUR_TS), 1, strlen(OUR_BODY) };
	unsigned char mac[32];
	char *b64 = NULL;
	bool ok;

	assert_true(crypto_hmac_sha256(k->ours.bytes, k->ours.len, parts, lens, 5, mac));
	b64 = crypto_base64_encode(mac, sizeof mac);
	assert_non_null(b64);
	ok = strcmp(b64, OUR_SIG) == 0;
	if (!ok)
		print_error("got %s, want %s\n", b64, OUR_SIG);
	free(b64);
	assert_true(ok);
}

static void test_signature_tampered(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;
	char body[] = OUR_BODY;

	body[strlen(body) - 3] = 'M'; /* "main" -> "maiM"... any one byte */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1," OUR_SIG, body, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_true(err.message[0] != '\0');
	/* body one byte shorter */
	assert_int_equal(auth_webhook_signature(&k->ours, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY,
						strlen(OUR_BODY) - 1, OUR_TS_N, &err),
			 AMICD_ERR_AUTH);
	/* id and timestamp are signed too */
	assert_int_equal(verify(&k->ours, "msg_other", OUR_TS, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err),
			 AMICD_ERR_AUTH);
	assert_int_equal(verify(&k->ours, OUR_ID, "1764018001", "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err),
			 AMICD_ERR_AUTH);
	/* a signature with one character changed */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1,GPEed8NPDgWihVx+JpBjwp4jVckrtIPCekaRwaiBHeM=",
				OUR_BODY, OUR_TS_N, &err),
			 AMICD_ERR_AUTH);
	/* a truncated signature */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1,FPEed8NPDgWihVx+JpBjwp4jVckrtIPCekaRwaiBHeM",
				OUR_BODY, OUR_TS_N, &err),
			 AMICD_ERR_AUTH);
}

static void test_signature_wrong_key(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;
	struct secret almost = { (unsigned char *)OUR_KEY_RAW, strlen(OUR_KEY_RAW) - 1 };

	assert_int_equal(verify(&k->svix, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(verify(&almost, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	/* the whsec_ text itself is not the key: the base64 after it is */
	{
		struct secret text = { (unsigned char *)OUR_WHSEC, strlen(OUR_WHSEC) };

		assert_int_equal(verify(&text, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err),
				 AMICD_ERR_AUTH);
	}
}

static void test_signature_timestamp_window(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;
	static const struct {
		int64_t skew; /* now - timestamp */
		enum amicd_rc want;
	} cases[] = {
		{ 0, AMICD_OK },
		{ 299, AMICD_OK },    /* receiver 299 s ahead */
		{ -299, AMICD_OK },   /* receiver 299 s behind */
		{ 300, AMICD_OK },    /* exactly 5 minutes is not "more than" */
		{ -300, AMICD_OK },
		{ 301, AMICD_ERR_AUTH },
		{ -301, AMICD_ERR_AUTH },
		{ 86400, AMICD_ERR_AUTH },
		{ -86400, AMICD_ERR_AUTH },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum amicd_rc rc = verify(&k->ours, OUR_ID, OUR_TS, "v1," OUR_SIG, OUR_BODY,
					  OUR_TS_N + cases[i].skew, &err);

		if (rc != cases[i].want)
			fail_msg("skew %lld s: rc %d, want %d (%s)", (long long)cases[i].skew, (int)rc,
				 (int)cases[i].want, err.message);
	}
}

static void test_signature_several(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;

	/* key rotation: the second of two entries matches */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1," ZERO_SIG " v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err),
			 AMICD_OK);
	/* the last of three, with extra blanks */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1," ZERO_SIG "  v1," SVIX_SIG " v1," OUR_SIG " ",
				OUR_BODY, OUR_TS_N, &err),
			 AMICD_OK);
	/* none of several */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1," ZERO_SIG " v1," SVIX_SIG, OUR_BODY, OUR_TS_N, &err),
			 AMICD_ERR_AUTH);
}

static void test_signature_other_versions_ignored(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;

	/* the right bytes under another version tag do not count */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v2," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1a," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	/* a v2 entry next to a good v1 entry is skipped, not an error */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v2,whatever v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err),
			 AMICD_OK);
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1," OUR_SIG " v2,whatever", OUR_BODY, OUR_TS_N, &err),
			 AMICD_OK);
	/* empty and degenerate headers */
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "", OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "v1,", OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, "   ", OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
}

static void test_signature_missing_headers(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;

	assert_int_equal(verify(&k->ours, NULL, OUR_TS, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_true(err.message[0] != '\0');
	assert_int_equal(verify(&k->ours, OUR_ID, NULL, "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(verify(&k->ours, OUR_ID, OUR_TS, NULL, OUR_BODY, OUR_TS_N, &err), AMICD_ERR_AUTH);
	assert_int_equal(auth_webhook_signature(&k->ours, NULL, NULL, NULL, OUR_BODY, strlen(OUR_BODY), OUR_TS_N,
						NULL),
			 AMICD_ERR_AUTH);
}

static void test_signature_bad_timestamp(void **state)
{
	struct keys *k = *state;
	struct amicd_error err;
	static const char *const bad[] = { "", "abc", "1764018000x", "1764018000.5", "0x6923e850",
					   "99999999999999999999999" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum amicd_rc rc = verify(&k->ours, OUR_ID, bad[i], "v1," OUR_SIG, OUR_BODY, OUR_TS_N, &err);

		if (rc != AMICD_ERR_AUTH)
			fail_msg("timestamp \"%s\": rc %d, want AMICD_ERR_AUTH", bad[i], (int)rc);
		assert_true(err.message[0] != '\0');
	}
}

/* ---- tokens ------------------------------------------------------------- */

static void test_auth_token(void **state)
{
	struct secret s = { (unsigned char *)"glpat-s3cret", strlen("glpat-s3cret") };
	struct secret unset = { NULL, 0 };

	(void)state;
	assert_true(auth_token(&s, "glpat-s3cret"));
	assert_false(auth_token(&s, "glpat-s3creT"));
	assert_false(auth_token(&s, "glpat-s3cre"));   /* prefix */
	assert_false(auth_token(&s, "glpat-s3cret ")); /* suffix */
	assert_false(auth_token(&s, ""));
	assert_false(auth_token(&s, NULL));
	/* no secret configured: nothing matches, not even nothing */
	assert_false(auth_token(&unset, ""));
	assert_false(auth_token(&unset, NULL));
	assert_false(auth_token(&unset, "glpat-s3cret"));
}

static void test_auth_bearer(void **state)
{
	struct secret s = { (unsigned char *)"admin-t0ken", strlen("admin-t0ken") };
	struct secret unset = { NULL, 0 };

	(void)state;
	assert_true(auth_bearer(&s, "Bearer admin-t0ken"));
	assert_true(auth_bearer(&s, "bearer admin-t0ken"));
	assert_true(auth_bearer(&s, "BEARER admin-t0ken"));
	assert_true(auth_bearer(&s, "bEaReR admin-t0ken"));
	assert_false(auth_bearer(&s, "Bearer admin-t0keN"));
	assert_false(auth_bearer(&s, "Bearer admin-t0ke"));
	assert_false(auth_bearer(&s, "Bearer "));
	assert_false(auth_bearer(&s, "Bearer"));
	assert_false(auth_bearer(&s, "Beareradmin-t0ken"));
	assert_false(auth_bearer(&s, "Basic admin-t0ken"));
	assert_false(auth_bearer(&s, "Token admin-t0ken"));
	assert_false(auth_bearer(&s, "admin-t0ken"));
	assert_false(auth_bearer(&s, ""));
	assert_false(auth_bearer(&s, NULL));
	assert_false(auth_bearer(&unset, "Bearer "));
	assert_false(auth_bearer(&unset, "Bearer admin-t0ken"));
}

/* ---- EventBridge -------------------------------------------------------- */

/*
 * Basic credentials "eventbridge:s3cret:pw" (the password holds a ':'), from
 *   python3 -c 'import base64; print(base64.b64encode(b"eventbridge:s3cret:pw").decode())'
 * and likewise "eventbridge:wrong" and "other:s3cret:pw".
 */
#define BASIC_GOOD "ZXZlbnRicmlkZ2U6czNjcmV0OnB3"
#define BASIC_WRONG_PW "ZXZlbnRicmlkZ2U6d3Jvbmc="
#define BASIC_WRONG_USER "b3RoZXI6czNjcmV0OnB3"

static void eb_api_key(struct config_auth *a)
{
	memset(a, 0, sizeof *a);
	a->eventbridge_api_key_header = (char *)"x-api-key";
	a->eventbridge_api_key.bytes = (unsigned char *)"eb-key-123";
	a->eventbridge_api_key.len = strlen("eb-key-123");
}

static void eb_basic(struct config_auth *a)
{
	memset(a, 0, sizeof *a);
	a->eventbridge_basic_user = (char *)"eventbridge";
	a->eventbridge_basic_password.bytes = (unsigned char *)"s3cret:pw";
	a->eventbridge_basic_password.len = strlen("s3cret:pw");
}

static void test_eventbridge_api_key(void **state)
{
	struct config_auth a;

	(void)state;
	eb_api_key(&a);
	assert_true(auth_eventbridge(&a, "eb-key-123", NULL));
	assert_false(auth_eventbridge(&a, "eb-key-12", NULL));
	assert_false(auth_eventbridge(&a, "eb-key-1234", NULL));
	assert_false(auth_eventbridge(&a, "", NULL));
	assert_false(auth_eventbridge(&a, NULL, NULL));
	/* Basic is not configured: a well-formed Basic header does not help */
	assert_false(auth_eventbridge(&a, NULL, "Basic " BASIC_GOOD));
	/* the API key under Authorization is not the API key header */
	assert_false(auth_eventbridge(&a, NULL, "eb-key-123"));
	assert_false(auth_eventbridge(&a, NULL, "Bearer eb-key-123"));
}

static void test_eventbridge_basic(void **state)
{
	struct config_auth a;

	(void)state;
	eb_basic(&a);
	assert_true(auth_eventbridge(&a, NULL, "Basic " BASIC_GOOD));
	assert_true(auth_eventbridge(&a, NULL, "basic " BASIC_GOOD));
	assert_false(auth_eventbridge(&a, NULL, "Basic " BASIC_WRONG_PW));
	assert_false(auth_eventbridge(&a, NULL, "Basic " BASIC_WRONG_USER));
	assert_false(auth_eventbridge(&a, NULL, "Basic not-base64!"));
	assert_false(auth_eventbridge(&a, NULL, "Basic "));
	assert_false(auth_eventbridge(&a, NULL, "Bearer " BASIC_GOOD));
	assert_false(auth_eventbridge(&a, NULL, BASIC_GOOD));
	assert_false(auth_eventbridge(&a, NULL, NULL));
	/* no API key header configured: a value for it counts for nothing */
	assert_false(auth_eventbridge(&a, "s3cret:pw", NULL));
	assert_false(auth_eventbridge(&a, "", NULL));
}

static void test_eventbridge_both(void **state)
{
	struct config_auth a, b;

	(void)state;
	eb_api_key(&a);
	eb_basic(&b);
	a.eventbridge_basic_user = b.eventbridge_basic_user;
	a.eventbridge_basic_password = b.eventbridge_basic_password;
	assert_true(auth_eventbridge(&a, "eb-key-123", NULL));
	assert_true(auth_eventbridge(&a, NULL, "Basic " BASIC_GOOD));
	assert_true(auth_eventbridge(&a, "wrong", "Basic " BASIC_GOOD));
	assert_true(auth_eventbridge(&a, "eb-key-123", "Basic " BASIC_WRONG_PW));
	assert_false(auth_eventbridge(&a, "wrong", "Basic " BASIC_WRONG_PW));
	assert_false(auth_eventbridge(&a, NULL, NULL));
}

/* ---- crypto ------------------------------------------------------------- */

static void test_crypto_equal(void **state)
{
	(void)state;
	assert_true(crypto_equal("token-abc", 9, "token-abc", 9));
	assert_false(crypto_equal("token-abc", 9, "token-abd", 9));
	assert_false(crypto_equal("token-abc", 9, "Token-abc", 9));
	assert_false(crypto_equal("token-abc", 9, "token-ab", 8));   /* prefix */
	assert_false(crypto_equal("token-ab", 8, "token-abc", 9));
	assert_false(crypto_equal("token-abc", 9, "token-abc\0", 10)); /* trailing NUL counts */
	assert_true(crypto_equal("", 0, "", 0));
	assert_false(crypto_equal("", 0, "x", 1));
	assert_false(crypto_equal("x", 1, "", 0));
	/* binary data with NULs compared whole */
	assert_true(crypto_equal("a\0b", 3, "a\0b", 3));
	assert_false(crypto_equal("a\0b", 3, "a\0c", 3));
}

/* The helpers free before failing: fail_msg does not return. */
static void check_decode(const char *in, const char *want, size_t want_len)
{
	unsigned char *out = NULL;
	size_t len = 0;
	bool decoded = crypto_base64_decode(in, strlen(in), &out, &len);
	bool same = decoded && out != NULL && len == want_len && memcmp(out, want, want_len) == 0;

	free(out);
	if (!decoded)
		fail_msg("crypto_base64_decode(\"%s\") failed", in);
	if (!same)
		fail_msg("crypto_base64_decode(\"%s\"): %zu bytes, not the %zu expected", in, len, want_len);
}

static void check_decode_fails(const char *in)
{
	unsigned char *out = NULL;
	size_t len = 0;
	bool decoded = crypto_base64_decode(in, strlen(in), &out, &len);

	free(out);
	if (decoded)
		fail_msg("crypto_base64_decode(\"%s\") accepted bad input (%zu bytes)", in, len);
}

static void test_base64_decode(void **state)
{
	(void)state;
	check_decode("YWJj", "abc", 3);      /* no padding */
	check_decode("YWI=", "ab", 2);       /* one '=' */
	check_decode("YQ==", "a", 1);        /* two '=' */
	check_decode("YWJjZA==", "abcd", 4);
	check_decode("AAEC/+7/", "\x00\x01\x02\xff\xee\xff", 6); /* '+' and '/' */
	check_decode(OUR_WHSEC + 6, OUR_KEY_RAW, strlen(OUR_KEY_RAW));
	/* bad length */
	check_decode_fails("");
	check_decode_fails("Y");
	check_decode_fails("YW");
	check_decode_fails("YWJ");
	check_decode_fails("YQ=");
	check_decode_fails("YWJjZ");
	/* characters outside the alphabet */
	check_decode_fails("YW!j");
	check_decode_fails("YW J");
	check_decode_fails("YWJj\n");
	check_decode_fails("YW-_"); /* base64url is not standard base64 */
}

/* '=' only as the last one or two characters of the input. */
static void test_base64_decode_rejects_misplaced_padding(void **state)
{
	(void)state;
	check_decode_fails("====");
	check_decode_fails("Y===");
	check_decode_fails("YW=j");
	check_decode_fails("YQ==YWJj");
}

/* One byte string, one encoding: bits left over before the padding must be zero (fuzz_auth found it). */
static void test_base64_decode_rejects_noncanonical(void **state)
{
	(void)state;
	check_decode_fails("YR==");      /* "a" is YQ== */
	check_decode_fails("YWJ=");      /* "ab" is YWI= */
	check_decode_fails("ZYZlbnR=");  /* the fuzzer's input */
	check_decode("ZYZlbnQ=", "\x65\x86\x65\x6e\x74", 5);
}

static void test_base64_encode(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = { { "", "" }, { "a", "YQ==" }, { "ab", "YWI=" }, { "abc", "YWJj" }, { "abcd", "YWJjZA==" } };

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = crypto_base64_encode((const unsigned char *)cases[i].in, strlen(cases[i].in));
		bool ok = got != NULL && strcmp(got, cases[i].want) == 0;

		if (!ok)
			print_error("crypto_base64_encode(\"%s\") = %s, want %s\n", cases[i].in,
				    got != NULL ? got : "NULL", cases[i].want);
		free(got);
		assert_true(ok);
	}
}

static void test_sha256_hex(void **state)
{
	char hex[65];

	(void)state;
	/* FIPS 180-2 appendix B.1; also `printf abc | sha256sum` */
	crypto_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	crypto_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac_sha256_rfc4231(void **state)
{
	/* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?", given in three parts */
	const void *parts[] = { "what do ya ", "want for ", "nothing?" };
	const size_t lens[] = { 11, 9, 8 };
	static const unsigned char want[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
		0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	unsigned char mac[32];

	(void)state;
	assert_true(crypto_hmac_sha256("Jefe", 4, parts, lens, 3, mac));
	assert_memory_equal(mac, want, sizeof want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whsec_key_decodes, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_match, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_svix_vector, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_vector_via_crypto, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_tampered, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_wrong_key, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_timestamp_window, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_several, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_other_versions_ignored, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_missing_headers, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_signature_bad_timestamp, setup_keys, teardown_keys),
		cmocka_unit_test(test_auth_token),
		cmocka_unit_test(test_auth_bearer),
		cmocka_unit_test(test_eventbridge_api_key),
		cmocka_unit_test(test_eventbridge_basic),
		cmocka_unit_test(test_eventbridge_both),
		cmocka_unit_test(test_crypto_equal),
		cmocka_unit_test(test_base64_decode),
		cmocka_unit_test(test_base64_decode_rejects_misplaced_padding),
		cmocka_unit_test(test_base64_decode_rejects_noncanonical),
		cmocka_unit_test(test_base64_encode),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_hmac_sha256_rfc4231),
	};

	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
