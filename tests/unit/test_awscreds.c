/*
 * test_awscreds.c — awscreds_get against a fake STS on 127.0.0.1 that checks
 * what STS checks: each AssumeRole request's SigV4 signature
 * (tests/unit/sigv4.h) for the region and service "sts" it plays, the session
 * token of temporary source keys, Action, Version, RoleArn and the form
 * content type; for AssumeRoleWithWebIdentity, the token, and that the request
 * is not signed. It answers in STS's own shapes: the documented
 * AssumeRoleResponse (tests/data/sts-assumerole-response.xml, with the
 * credentials it issues), its AssumeRoleWithWebIdentity twin, and
 * <ErrorResponse> with the status STS uses for each code.
 *
 * Covered: static keys unchanged, no STS call; AssumeRole once, then cached;
 * refreshed within 5 minutes of Expiration; a failed refresh that keeps good
 * credentials, and one that cannot; the source's session token; a changed
 * source asks again; AccessDenied, InvalidClientTokenId,
 * SignatureDoesNotMatch (failing, the code named); Throttling, 503, no answer
 * in time, cancelled (retry); a 200 that is not credentials; web identity
 * (the token read from its file on each call, unsigned, a wrong token, a
 * missing file); the environment's default chain; sources that cannot be
 * used; and no secret in any outcome (every secret checked with strstr).
 */
#include "awscreds.h"
#include "fakehttp.h"
#include "sigv4.h"
#include "support.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define REGION "eu-west-1"
#define ROLE "arn:aws:iam::444455556666:role/amicd-read"
#define ROLE_DENIED "arn:aws:iam::444455556666:role/denied"
#define ROLE_THROTTLED "arn:aws:iam::444455556666:role/throttled"
#define ROLE_UNAVAILABLE "arn:aws:iam::444455556666:role/unavailable"
#define ROLE_SILENT "arn:aws:iam::444455556666:role/silent"
#define ROLE_ECHO "arn:aws:iam::444455556666:role/echo"
#define ROLE_GARBAGE "arn:aws:iam::444455556666:role/garbage"
#define EXPIRATION "2026-12-01T12:00:00Z"
#define LATER_EXPIRATION "2026-12-01T13:00:00Z"
#define HOUR_MS (3600 * 1000LL)
#define MIN_MS (60 * 1000LL)

#define STATIC_ID "AKIDSTATICEXAMPLE"
#define STATIC_SECRET "static/secret+key"
#define SOURCE_ID "ASIASOURCEEXAMPLE"
#define SOURCE_SECRET "source/temporary+secret"
#define SOURCE_TOKEN "source-session-token-value"
#define WEB_TOKEN_1 "web-identity-token-eyJhbGciOiJSUzI1NiJ9.one.sig"
#define WEB_TOKEN_2 "web-identity-token-eyJhbGciOiJSUzI1NiJ9.two.sig"

static const struct sigv4_key keys[] = {
	{ STATIC_ID, STATIC_SECRET, NULL },
	{ SOURCE_ID, SOURCE_SECRET, SOURCE_TOKEN },
};

/* Every secret a test hands out or STS issues: none may appear in an outcome. */
static const char *const secrets[] = { STATIC_SECRET, SOURCE_SECRET, SOURCE_TOKEN, "issued-secret-",
				       "issued-session-token-", "web-identity-token-", "not-the-secret" };

struct fake {
	struct fakehttp *srv;
	char endpoint[64];
	char dir[256];
	char token_file[320];
	int64_t exp_ms;           /* EXPIRATION in ms */
	pthread_mutex_t lock;
	/* what the fake answers */
	char expiration[32];
	char web_token[128];      /* the one token the identity provider vouches for */
	const char *mode;         /* NULL, or the role whose behaviour every request gets */
	char *fixture;
	/* what it saw last */
	char action[64];
	char role[128];
	char session_name[128];
	char version[32];
	char content_type[128];
	char token[256];          /* WebIdentityToken */
	char security_token[128]; /* x-amz-security-token */
	char key_id[64];          /* Credential= of the Authorization header */
	bool authorization;       /* an Authorization header came */
	char query[128];
	unsigned issued;
};

/* STS's error shape: <ErrorResponse><Error><Type><Code><Message></Error><RequestId>. */
static void sts_error(const struct fakehttp_request *req, int status, const char *type, const char *code,
		      const char *message)
{
	char body[2048];

	snprintf(body, sizeof body,
		 "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>%s</Type>\n"
		 "    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n"
		 "  <RequestId>9b2d3c4e-5f60-4718-8a9b-0c1d2e3f4a5b</RequestId>\n</ErrorResponse>\n",
		 type, code, message);
	fakehttp_answer(req, status, "text/xml", NULL, body, strlen(body));
}

/* The documented AssumeRoleResponse with credentials of its own (number n), or its web identity twin. */
static void sts_credentials(struct fake *f, const struct fakehttp_request *req, bool web, unsigned n)
{
	char id[32], secret[64], token[64];
	char *a, *b;

	snprintf(id, sizeof id, "ASIAISSUED%04u", n);
	snprintf(secret, sizeof secret, "issued-secret-%u/abc+def", n);
	snprintf(token, sizeof token, "issued-session-token-%u", n);
	a = support_replace_all(f->fixture, "ASIAEXAMPLEAMICD0001", id, NULL);
	b = support_replace_all(a, "EXAMPLEsecretKEYnotREAL/0000000000000000", secret, NULL);
	free(a);
	a = support_replace_all(b, "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENnotREAL0000000000000000000000000000000000000000000000000000",
				token, NULL);
	free(b);
	b = support_replace_all(a, EXPIRATION, f->expiration, NULL);
	free(a);
	if (web) {
		a = support_replace_all(b, "AssumeRoleResponse", "AssumeRoleWithWebIdentityResponse", NULL);
		free(b);
		b = support_replace_all(a, "AssumeRoleResult", "AssumeRoleWithWebIdentityResult", NULL);
		free(a);
		a = support_replace_all(b, "<PackedPolicySize>6</PackedPolicySize>",
					"<SubjectFromWebIdentityToken>system:serviceaccount:amicd:amicd"
					"</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience>"
					"<Provider>arn:aws:iam::444455556666:oidc-provider/oidc.example.net</Provider>",
					NULL);
		free(b);
		b = a;
	}
	fakehttp_answer(req, 200, "text/xml", NULL, b, strlen(b));
	free(b);
}

static void sts(struct fakehttp *srv, const struct fakehttp_request *req, void *cls)
{
	struct fake *f = cls;
	struct sigv4_header headers[FAKEHTTP_MAX_HEADERS];
	struct sigv4_request sreq = { .method = req->method, .path = req->path, .query = req->query,
				      .headers = headers, .n_headers = req->n_headers, .body = req->body,
				      .body_len = req->body_len };
	struct sigv4_expect exp = { .region = REGION, .service = "sts", .keys = keys,
				    .n_keys = sizeof keys / sizeof keys[0], .now = time(NULL) };
	const char *auth = fakehttp_header_get(req, "Authorization"), *h;
	char msg[256], action[64], role[128], token[256], echo[512], web_token[128];
	const char *behaviour;
	bool web;
	unsigned n;

	for (size_t i = 0; i < req->n_headers; i++)
		headers[i] = (struct sigv4_header){ req->headers[i].name, req->headers[i].value };
	fakehttp_form_get(req->body, "Action", action, sizeof action);
	fakehttp_form_get(req->body, "RoleArn", role, sizeof role);
	fakehttp_form_get(req->body, "WebIdentityToken", token, sizeof token);
	web = strcmp(action, "AssumeRoleWithWebIdentity") == 0;
	pthread_mutex_lock(&f->lock);
	snprintf(f->action, sizeof f->action, "%s", action);
	snprintf(f->role, sizeof f->role, "%s", role);
	snprintf(f->token, sizeof f->token, "%s", token);
	fakehttp_form_get(req->body, "RoleSessionName", f->session_name, sizeof f->session_name);
	fakehttp_form_get(req->body, "Version", f->version, sizeof f->version);
	h = fakehttp_header_get(req, "Content-Type");
	snprintf(f->content_type, sizeof f->content_type, "%s", h != NULL ? h : "");
	h = fakehttp_header_get(req, "x-amz-security-token");
	snprintf(f->security_token, sizeof f->security_token, "%s", h != NULL ? h : "");
	f->authorization = auth != NULL;
	f->key_id[0] = '\0';
	if (auth != NULL && strstr(auth, "Credential=") != NULL)
		sscanf(strstr(auth, "Credential=") + 11, "%63[^/]", f->key_id);
	snprintf(f->query, sizeof f->query, "%s", req->query);
	behaviour = f->mode != NULL ? f->mode : role;
	snprintf(web_token, sizeof web_token, "%s", f->web_token);
	pthread_mutex_unlock(&f->lock);

	if (strcmp(req->method, "POST") != 0 || (!web && strcmp(action, "AssumeRole") != 0)) {
		sts_error(req, 400, "Sender", "InvalidAction", "Could not find operation for version");
		return;
	}
	if (!web) {
		enum sigv4_result r = sigv4_verify(&sreq, &exp, msg, sizeof msg);

		if (r != SIGV4_OK) {
			/* STS's names and statuses: an unknown key or a missing token is InvalidClientTokenId */
			const char *code = r == SIGV4_AUTH_FAILURE ? "InvalidClientTokenId" : sigv4_result_code(r);

			sts_error(req, r == SIGV4_INCOMPLETE_SIGNATURE || r == SIGV4_REQUEST_EXPIRED ? 400 : 403,
				  "Sender", code, msg);
			return;
		}
	} else if (strcmp(token, web_token) != 0 && strcmp(behaviour, ROLE_ECHO) != 0) {
		sts_error(req, 400, "Sender", "InvalidIdentityToken", "Incorrect token audience");
		return;
	}
	if (strcmp(behaviour, ROLE_DENIED) == 0) {
		snprintf(msg, sizeof msg, "User: arn:aws:iam::111122223333:user/amicd is not authorized to perform: "
					  "sts:AssumeRole on resource: %s", role);
		sts_error(req, 403, "Sender", "AccessDenied", msg);
	} else if (strcmp(behaviour, ROLE_THROTTLED) == 0) {
		sts_error(req, 400, "Sender", "Throttling", "Rate exceeded");
	} else if (strcmp(behaviour, ROLE_UNAVAILABLE) == 0) {
		fakehttp_answer(req, 503, "text/plain", NULL, "Service Unavailable", 19);
	} else if (strcmp(behaviour, ROLE_SILENT) == 0) {
		fakehttp_stall(srv, req);
	} else if (strcmp(behaviour, ROLE_GARBAGE) == 0) {
		fakehttp_answer(req, 200, "text/html", NULL, "<html>login</html>", 18);
	} else if (strcmp(behaviour, ROLE_ECHO) == 0) {
		/* a careless service: its message quotes what it was sent */
		h = fakehttp_header_get(req, "x-amz-security-token");
		snprintf(echo, sizeof echo, "bad request with %s", web ? token : h != NULL ? h : "");
		sts_error(req, 400, "Sender", "ValidationError", echo);
	} else if (strcmp(behaviour, ROLE) == 0) {
		pthread_mutex_lock(&f->lock);
		n = ++f->issued;
		pthread_mutex_unlock(&f->lock);
		sts_credentials(f, req, web, n);
	} else {
		sts_error(req, 400, "Sender", "ValidationError", "no such role");
	}
}

static int fake_start(void **state)
{
	struct fake *f = calloc(1, sizeof *f);
	struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 11, .tm_mday = 1, .tm_hour = 12 };

	if (f == NULL)
		return -1;
	pthread_mutex_init(&f->lock, NULL);
	f->fixture = support_fixture("sts-assumerole-response.xml", NULL);
	if (f->fixture == NULL || support_tmpdir(f->dir, sizeof f->dir, NULL, "amicd-test-awscreds") != 0)
		return -1;
	snprintf(f->token_file, sizeof f->token_file, "%s/token", f->dir);
	f->exp_ms = (int64_t)timegm(&tm) * 1000;
	f->srv = fakehttp_start(sts, f);
	if (f->srv == NULL)
		return -1;
	snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%u/", fakehttp_port(f->srv));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = f;
	return 0;
}

static int fake_stop(void **state)
{
	struct fake *f = *state;

	fakehttp_stop(f->srv);
	support_rmtree(f->dir);
	pthread_mutex_destroy(&f->lock);
	free(f->fixture);
	free(f);
	curl_global_cleanup();
	return 0;
}

/* Each test starts from a fake that issues credentials expiring at EXPIRATION. */
static int fake_reset(void **state)
{
	struct fake *f = *state;

	pthread_mutex_lock(&f->lock);
	snprintf(f->expiration, sizeof f->expiration, "%s", EXPIRATION);
	snprintf(f->web_token, sizeof f->web_token, "%s", WEB_TOKEN_1);
	f->mode = NULL;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void no_secrets(const struct awscreds_outcome *o)
{
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		if (strstr(o->error, secrets[i]) != NULL || strstr(o->code, secrets[i]) != NULL)
			fail_msg("a secret (%s…) in the outcome: %s / %s", secrets[i], o->code, o->error);
	}
}

/* awscreds_get that must answer AMICD_OK; the outcome is checked for secrets. */
static struct awscreds_outcome get(struct awscreds *c, const struct awscreds_source *src, int64_t now_ms,
				   struct aws_credentials *out)
{
	struct awscreds_outcome o;
	struct amicd_error err = { { 0 }, { 0 } };

	if (awscreds_get(c, src, now_ms, out, &o, &err) != AMICD_OK)
		fail_msg("awscreds_get: %s", err.message);
	no_secrets(&o);
	if (o.status != AWSCREDS_READY) {
		assert_null(out->access_key_id);
		assert_null(out->secret_access_key);
		assert_null(out->session_token);
	}
	return o;
}

static struct awscreds_source role_source(const struct fake *f, const char *role)
{
	return (struct awscreds_source){ .access_key_id = STATIC_ID, .secret_access_key = STATIC_SECRET,
					 .role_arn = role, .sts_endpoint = f->endpoint, .region = REGION,
					 .timeout_ms = 5000 };
}

static void expect_ready(const struct awscreds_outcome *o)
{
	if (o->status != AWSCREDS_READY)
		fail_msg("status %d: %s", o->status, o->error);
}

static void test_static_keys_unchanged(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = { .access_key_id = STATIC_ID, .secret_access_key = STATIC_SECRET,
				       .session_token = SOURCE_TOKEN, .sts_endpoint = f->endpoint, .region = REGION };
	struct aws_credentials out;
	unsigned before = fakehttp_requests(f->srv);
	struct awscreds_outcome o = get(c, &src, f->exp_ms, &out);

	expect_ready(&o);
	assert_ptr_equal(out.access_key_id, src.access_key_id);
	assert_ptr_equal(out.secret_access_key, src.secret_access_key);
	assert_ptr_equal(out.session_token, src.session_token);
	assert_int_equal(o.sts_calls, 0);
	assert_int_equal(o.expires_ms, 0);
	assert_string_equal(o.error, "");
	src.session_token = NULL;
	o = get(c, &src, f->exp_ms, &out);
	expect_ready(&o);
	assert_null(out.session_token);
	assert_int_equal(fakehttp_requests(f->srv), before);
	awscreds_free(c);
}

static void test_assume_role_once_then_cached(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE);
	struct aws_credentials out;
	struct awscreds_outcome o;
	unsigned before = fakehttp_requests(f->srv), n;
	char id[32];

	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	assert_int_equal(o.sts_calls, 1);
	assert_false(o.cached);
	assert_int_equal(o.expires_ms, f->exp_ms);
	assert_int_equal(o.http_status, 200);
	assert_int_equal(fakehttp_requests(f->srv), before + 1);
	pthread_mutex_lock(&f->lock);
	n = f->issued;
	assert_string_equal(f->action, "AssumeRole");
	assert_string_equal(f->version, "2011-06-15");
	assert_string_equal(f->role, ROLE);
	assert_string_equal(f->session_name, "amicd");
	assert_string_equal(f->key_id, STATIC_ID);
	assert_string_equal(f->security_token, "");
	assert_string_equal(f->query, "");
	assert_non_null(strstr(f->content_type, "application/x-www-form-urlencoded"));
	pthread_mutex_unlock(&f->lock);
	snprintf(id, sizeof id, "ASIAISSUED%04u", n);
	assert_string_equal(out.access_key_id, id);
	assert_non_null(strstr(out.secret_access_key, "issued-secret-"));
	assert_non_null(strstr(out.session_token, "issued-session-token-"));

	/* asked again 55 minutes later (5 min + 1 ms before expiry): the cache answers */
	o = get(c, &src, f->exp_ms - AWSCREDS_REFRESH_MS - 1, &out);
	expect_ready(&o);
	assert_true(o.cached);
	assert_int_equal(o.sts_calls, 0);
	assert_int_equal(o.http_status, 0);
	assert_string_equal(out.access_key_id, id);
	assert_int_equal(fakehttp_requests(f->srv), before + 1);
	awscreds_free(c);
}

static void test_refreshed_within_five_minutes(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE);
	struct aws_credentials out;
	struct awscreds_outcome o;
	char first[32];

	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	snprintf(first, sizeof first, "%s", out.access_key_id);
	pthread_mutex_lock(&f->lock);
	snprintf(f->expiration, sizeof f->expiration, "%s", LATER_EXPIRATION);
	pthread_mutex_unlock(&f->lock);
	o = get(c, &src, f->exp_ms - AWSCREDS_REFRESH_MS, &out);
	expect_ready(&o);
	assert_false(o.cached);
	assert_int_equal(o.sts_calls, 1);
	assert_int_equal(o.expires_ms, f->exp_ms + HOUR_MS);
	assert_string_not_equal(out.access_key_id, first);
	/* and the new ones are cached in turn */
	o = get(c, &src, f->exp_ms, &out);
	expect_ready(&o);
	assert_true(o.cached);
	awscreds_free(c);
}

static void test_failed_refresh_keeps_good_credentials(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE);
	struct aws_credentials out;
	struct awscreds_outcome o;
	char first[32];

	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	snprintf(first, sizeof first, "%s", out.access_key_id);
	pthread_mutex_lock(&f->lock);
	f->mode = ROLE_THROTTLED;
	pthread_mutex_unlock(&f->lock);
	/* 4 minutes left: STS is asked, throttles, and the credentials still serve */
	o = get(c, &src, f->exp_ms - 4 * MIN_MS, &out);
	expect_ready(&o);
	assert_true(o.cached);
	assert_int_equal(o.sts_calls, 1);
	assert_string_equal(o.code, "Throttling");
	assert_non_null(strstr(o.error, "refreshing failed (STS answered 400 Throttling: Rate exceeded)"));
	assert_non_null(strstr(o.error, EXPIRATION));
	assert_string_equal(out.access_key_id, first);
	/* 30 s left: not worth signing with; try again later */
	o = get(c, &src, f->exp_ms - 30 * 1000, &out);
	assert_int_equal(o.status, AWSCREDS_RETRY);
	assert_int_equal(o.sts_calls, 1);
	/* STS is back: fresh credentials */
	pthread_mutex_lock(&f->lock);
	f->mode = NULL;
	pthread_mutex_unlock(&f->lock);
	o = get(c, &src, f->exp_ms - 30 * 1000, &out);
	expect_ready(&o);
	assert_false(o.cached);
	assert_string_not_equal(out.access_key_id, first);
	awscreds_free(c);
}

static void test_changed_source_asks_again(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE);
	struct aws_credentials out;
	struct awscreds_outcome o;

	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	src.session_name = "amicd-stage";
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	assert_int_equal(o.sts_calls, 1);
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->session_name, "amicd-stage");
	pthread_mutex_unlock(&f->lock);
	/* another role that is refused: nothing of the first role's is handed out */
	src.role_arn = ROLE_DENIED;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	src.role_arn = ROLE;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	assert_int_equal(o.sts_calls, 1);
	awscreds_free(c);
}

static void test_source_session_token_sent(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE);
	struct aws_credentials out;
	struct awscreds_outcome o;

	src.access_key_id = SOURCE_ID;
	src.secret_access_key = SOURCE_SECRET;
	src.session_token = SOURCE_TOKEN;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->security_token, SOURCE_TOKEN);
	assert_string_equal(f->key_id, SOURCE_ID);
	pthread_mutex_unlock(&f->lock);
	/* the temporary keys without their token: STS does not know them */
	src.session_token = NULL;
	src.session_name = "no-token"; /* another source: not the cache */
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_string_equal(o.code, "InvalidClientTokenId");
	assert_int_equal(o.http_status, 403);
	assert_non_null(strstr(o.error, "InvalidClientTokenId"));
	awscreds_free(c);
}

static void test_refusals_fail_naming_the_code(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE_DENIED);
	struct aws_credentials out;
	struct awscreds_outcome o = get(c, &src, f->exp_ms - HOUR_MS, &out);

	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_int_equal(o.sts_calls, 1);
	assert_int_equal(o.http_status, 403);
	assert_string_equal(o.code, "AccessDenied");
	assert_non_null(strstr(o.error, "STS answered 403 AccessDenied: User: arn:aws:iam::111122223333:user/amicd"));

	/* a wrong secret: the fake sees the signature is not the key's, as STS would */
	src.role_arn = ROLE;
	src.secret_access_key = "not-the-secret";
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_string_equal(o.code, "SignatureDoesNotMatch");

	/* 200, but not STS speaking */
	src.secret_access_key = STATIC_SECRET;
	src.role_arn = ROLE_GARBAGE;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_non_null(strstr(o.error, "STS answered 200 but not credentials"));
	awscreds_free(c);
}

static bool cancelled(void *cls)
{
	(void)cls;
	return true;
}

static void test_throttling_5xx_and_silence_are_retried(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE_THROTTLED);
	struct aws_credentials out;
	struct awscreds_outcome o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	int64_t t0;

	assert_int_equal(o.status, AWSCREDS_RETRY);
	assert_string_equal(o.code, "Throttling");
	assert_int_equal(o.http_status, 400);
	assert_string_equal(o.error, "STS answered 400 Throttling: Rate exceeded");

	src.role_arn = ROLE_UNAVAILABLE;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_RETRY);
	assert_int_equal(o.http_status, 503);
	assert_string_equal(o.error, "STS answered 503 without an AWS error");

	src.role_arn = ROLE_SILENT;
	src.timeout_ms = 300;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_RETRY);
	assert_int_equal(o.http_status, 0);
	assert_non_null(strstr(o.error, "no answer from STS"));

	src.timeout_ms = 10000;
	src.cancel = cancelled;
	t0 = support_now_ms();
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_RETRY);
	assert_string_equal(o.error, "the STS request was cancelled");
	assert_true(support_now_ms() - t0 < 5000);
	awscreds_free(c);
}

static void write_token(const struct fake *f, const char *token)
{
	char text[256];

	snprintf(text, sizeof text, "%s\n", token);
	assert_int_equal(support_write_file(NULL, f->token_file, text), 0);
}

static void test_web_identity(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = { .role_arn = ROLE, .web_identity_token_file = f->token_file,
				       .sts_endpoint = f->endpoint, .region = REGION, .session_name = "amicd-pod",
				       .timeout_ms = 5000 };
	struct aws_credentials out;
	struct awscreds_outcome o;
	char first[32];

	write_token(f, WEB_TOKEN_1);
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	assert_int_equal(o.sts_calls, 1);
	assert_non_null(strstr(out.session_token, "issued-session-token-"));
	snprintf(first, sizeof first, "%s", out.access_key_id);
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->action, "AssumeRoleWithWebIdentity");
	assert_string_equal(f->token, WEB_TOKEN_1);
	assert_string_equal(f->role, ROLE);
	assert_string_equal(f->session_name, "amicd-pod");
	assert_false(f->authorization); /* not signed */
	assert_string_equal(f->security_token, "");
	pthread_mutex_unlock(&f->lock);

	/* cached, then refreshed with the token the kubelet has rotated in since */
	o = get(c, &src, f->exp_ms - 10 * MIN_MS, &out);
	assert_true(o.cached);
	write_token(f, WEB_TOKEN_2);
	pthread_mutex_lock(&f->lock);
	snprintf(f->web_token, sizeof f->web_token, "%s", WEB_TOKEN_2);
	pthread_mutex_unlock(&f->lock);
	o = get(c, &src, f->exp_ms - 2 * MIN_MS, &out);
	expect_ready(&o);
	assert_false(o.cached);
	assert_string_not_equal(out.access_key_id, first);
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->token, WEB_TOKEN_2);
	pthread_mutex_unlock(&f->lock);

	/* a token the identity provider does not vouch for */
	write_token(f, WEB_TOKEN_1);
	o = get(c, &src, f->exp_ms + HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_string_equal(o.code, "InvalidIdentityToken");

	/* no token file: failing, STS not asked */
	src.web_identity_token_file = "/nonexistent/amicd/token";
	o = get(c, &src, f->exp_ms + HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_int_equal(o.sts_calls, 0);
	assert_non_null(strstr(o.error, "cannot read the web identity token file /nonexistent/amicd/token"));
	awscreds_free(c);
}

static void test_env_chain(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = { .timeout_ms = 5000 };
	struct aws_credentials out;
	struct awscreds_outcome o;
	struct amicd_error err = { { 0 }, { 0 } };
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
					    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION",
					    "AWS_DEFAULT_REGION", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS" };

	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	/* nothing set: no credentials */
	awscreds_source_from_env(&src);
	assert_null(src.access_key_id);
	assert_null(src.role_arn);
	assert_null(src.region);
	assert_int_equal(awscreds_get(c, &src, f->exp_ms, &out, &o, &err), AMICD_ERR_INVALID);

	/* keys, and a token with them */
	setenv("AWS_ACCESS_KEY_ID", STATIC_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", STATIC_SECRET, 1);
	setenv("AWS_SESSION_TOKEN", SOURCE_TOKEN, 1);
	setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
	setenv("AWS_ROLE_ARN", ROLE, 1); /* ignored beside keys, as the SDKs do */
	awscreds_source_from_env(&src);
	assert_string_equal(src.access_key_id, STATIC_ID);
	assert_string_equal(src.secret_access_key, STATIC_SECRET);
	assert_string_equal(src.session_token, SOURCE_TOKEN);
	assert_null(src.role_arn);
	assert_string_equal(src.region, "eu-central-1");
	o = get(c, &src, f->exp_ms, &out);
	expect_ready(&o);
	assert_string_equal(out.access_key_id, STATIC_ID);
	assert_int_equal(o.sts_calls, 0);

	/* EKS / OpenShift: a role and a projected token, no keys */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", f->token_file, 1);
	setenv("AWS_REGION", REGION, 1);
	setenv("AWS_ROLE_SESSION_NAME", "amicd-env", 1);
	setenv("AWS_ENDPOINT_URL_STS", f->endpoint, 1);
	src = (struct awscreds_source){ .timeout_ms = 5000 };
	awscreds_source_from_env(&src);
	assert_null(src.access_key_id);
	assert_null(src.session_token);
	assert_string_equal(src.role_arn, ROLE);
	assert_string_equal(src.web_identity_token_file, f->token_file);
	assert_string_equal(src.region, REGION);
	assert_string_equal(src.session_name, "amicd-env");
	assert_string_equal(src.sts_endpoint, f->endpoint);
	write_token(f, WEB_TOKEN_1);
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	expect_ready(&o);
	assert_int_equal(o.sts_calls, 1);
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->action, "AssumeRoleWithWebIdentity");
	assert_string_equal(f->session_name, "amicd-env");
	pthread_mutex_unlock(&f->lock);

	/* what the caller set stays */
	src = (struct awscreds_source){ .region = "us-east-2", .session_name = "mine" };
	awscreds_source_from_env(&src);
	assert_string_equal(src.region, "us-east-2");
	assert_string_equal(src.session_name, "mine");
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	awscreds_free(c);
}

static void test_no_secret_in_messages(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct awscreds_source src = role_source(f, ROLE_ECHO);
	struct aws_credentials out;
	struct awscreds_outcome o;

	/* STS quoting the session token: its message is dropped, the code kept */
	src.access_key_id = SOURCE_ID;
	src.secret_access_key = SOURCE_SECRET;
	src.session_token = SOURCE_TOKEN;
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_string_equal(o.code, "ValidationError");
	assert_string_equal(o.error, "STS answered 400 ValidationError (its message is withheld: it quotes a credential)");
	assert_null(strstr(o.error, SOURCE_TOKEN));

	/* … or the web identity token */
	src = (struct awscreds_source){ .role_arn = ROLE_ECHO, .web_identity_token_file = f->token_file,
					.sts_endpoint = f->endpoint, .region = REGION, .timeout_ms = 5000 };
	write_token(f, WEB_TOKEN_2);
	o = get(c, &src, f->exp_ms - HOUR_MS, &out);
	assert_int_equal(o.status, AWSCREDS_FAILING);
	assert_null(strstr(o.error, WEB_TOKEN_2));
	assert_null(strstr(o.error, "web-identity-token"));
	awscreds_free(c);
}

static void test_sources_that_cannot_be_used(void **state)
{
	struct fake *f = *state;
	struct awscreds *c = awscreds_new();
	struct aws_credentials out;
	struct awscreds_outcome o;
	struct amicd_error err = { { 0 }, { 0 } };
	const struct awscreds_source bad[] = {
		{ 0 },                                                               /* nothing */
		{ .access_key_id = STATIC_ID, .region = REGION },                    /* half a pair */
		{ .secret_access_key = STATIC_SECRET, .role_arn = ROLE, .region = REGION },
		{ .web_identity_token_file = "/tmp/token", .region = REGION },       /* no role */
		{ .role_arn = ROLE, .region = REGION },                              /* a role, nothing to ask with */
		{ .access_key_id = STATIC_ID, .secret_access_key = STATIC_SECRET, .role_arn = ROLE,
		  .sts_endpoint = "http://127.0.0.1:1/" },                           /* no region to sign for */
	};
	unsigned before = fakehttp_requests(f->srv);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		amicd_error_clear(&err);
		assert_int_equal(awscreds_get(c, &bad[i], f->exp_ms, &out, &o, &err), AMICD_ERR_INVALID);
		assert_string_not_equal(err.message, "");
		assert_null(strstr(err.message, STATIC_SECRET));
		assert_null(out.access_key_id);
	}
	assert_int_equal(fakehttp_requests(f->srv), before);
	awscreds_free(c);
	awscreds_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_static_keys_unchanged, fake_reset),
		cmocka_unit_test_setup(test_assume_role_once_then_cached, fake_reset),
		cmocka_unit_test_setup(test_refreshed_within_five_minutes, fake_reset),
		cmocka_unit_test_setup(test_failed_refresh_keeps_good_credentials, fake_reset),
		cmocka_unit_test_setup(test_changed_source_asks_again, fake_reset),
		cmocka_unit_test_setup(test_source_session_token_sent, fake_reset),
		cmocka_unit_test_setup(test_refusals_fail_naming_the_code, fake_reset),
		cmocka_unit_test_setup(test_throttling_5xx_and_silence_are_retried, fake_reset),
		cmocka_unit_test_setup(test_web_identity, fake_reset),
		cmocka_unit_test_setup(test_env_chain, fake_reset),
		cmocka_unit_test_setup(test_no_secret_in_messages, fake_reset),
		cmocka_unit_test_setup(test_sources_that_cannot_be_used, fake_reset),
	};

	return cmocka_run_group_tests_name("awscreds", tests, fake_start, fake_stop);
}
