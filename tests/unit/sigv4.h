/*
 * sigv4.h — an AWS Signature Version 4 verifier, for the fakes that stand in
 * for EC2 and STS in the tests (style habit 15: fakes check what the real thing
 * checks). Given a request as the fake received it, the keys it knows, the
 * region and service it plays and the time it takes as "now", sigv4_verify
 * answers with the error code real AWS would send (IncompleteSignature,
 * SignatureDoesNotMatch, AuthFailure, RequestExpired, ...) or SIGV4_OK.
 *
 * Only the header form of SigV4 (an Authorization header, AWS4-HMAC-SHA256,
 * the date in X-Amz-Date) and the canonical URI rule of every service but S3
 * (normalised path, each byte outside the unreserved set percent-encoded,
 * so an encoded byte on the wire is encoded again). Presigned URLs, chunked
 * payloads, SigV4a and S3's single-encoding rule are not implemented.
 *
 * Test support: linked into every unit and integration test. Pure: no I/O,
 * no clock (now is an argument), no global state beyond OpenSSL's.
 *
 * Ownership: arguments are borrowed; a struct sigv4_request filled by
 * sigv4_request_parse owns its memory and is emptied with sigv4_request_free.
 */
#ifndef AMICD_TEST_SIGV4_H
#define AMICD_TEST_SIGV4_H

#include <stddef.h>
#include <time.h>

/* The answer, named after the AWS error code the real service would send. */
enum sigv4_result {
	SIGV4_OK = 0,
	SIGV4_MISSING_AUTHENTICATION_TOKEN, /* no Authorization header at all */
	SIGV4_INCOMPLETE_SIGNATURE,         /* Authorization or X-Amz-Date malformed, host not signed */
	SIGV4_SIGNATURE_DOES_NOT_MATCH,     /* wrong signature, scope region/service/date, unsigned token */
	SIGV4_AUTH_FAILURE,                 /* unknown access key id; session token missing or wrong */
	SIGV4_REQUEST_EXPIRED,              /* X-Amz-Date more than 15 minutes from now */
};

/* sigv4_result_code — the AWS error code ("SignatureDoesNotMatch", ..., "OK" for SIGV4_OK). */
const char *sigv4_result_code(enum sigv4_result r);

/* One header as received: the name in any case, the value untrimmed. Repeats are allowed. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* A request as received on the wire. */
struct sigv4_request {
	const char *method;
	const char *path;                  /* raw, as on the request line, without the query */
	const char *query;                 /* raw query string after '?'; NULL or "" when none */
	const struct sigv4_header *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	void *owned;                       /* sigv4_request_parse's memory; NULL otherwise */
};

/* A credential the fake knows. session_token non-NULL: requests must carry it. */
struct sigv4_key {
	const char *access_key_id;
	const char *secret;
	const char *session_token;
};

/* What the fake plays: its region and service, its keys, and its clock. */
struct sigv4_expect {
	const char *region;
	const char *service;
	const struct sigv4_key *keys;
	size_t n_keys;
	time_t now;                        /* seconds since the epoch, UTC */
};

/*
 * sigv4_verify — recompute req's signature with the secret of the access key
 * id its Authorization header names and compare it (in constant time) with
 * the one it carries; check the credential scope (region, service, the date
 * of X-Amz-Date), the skew of X-Amz-Date against exp->now (at most 15 min
 * either way) and, for a key with a session token, that x-amz-security-token
 * is present, equal and signed. A request that carries x-amz-content-sha256
 * is signed over that value, which must also be the SHA-256 of the body.
 *
 * Returns SIGV4_OK or the error real AWS would answer; msg (may be NULL)
 * receives a one-line reason either way ("" on success).
 */
enum sigv4_result sigv4_verify(const struct sigv4_request *req, const struct sigv4_expect *exp, char *msg,
			       size_t msg_size);

/*
 * sigv4_request_parse — parse one raw HTTP/1.1 request (request line, header
 * lines ended by "\r\n" or "\n", a blank line, the body: whatever follows, or
 * Content-Length bytes when that header is present) into *out, which then
 * points into memory of its own. Returns 0, or -1 (out emptied) when the text
 * is not a request or memory runs out. This is the reader for the AWS test
 * suite's .req files and for raw requests a test listener captured.
 */
int sigv4_request_parse(const char *raw, size_t len, struct sigv4_request *out);

/* sigv4_request_free — release what sigv4_request_parse allocated; NULL and empty requests are fine. */
void sigv4_request_free(struct sigv4_request *req);

#endif
