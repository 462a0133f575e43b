/*
 * test_ec2api.c — ec2_describe_images against a fake EC2 on 127.0.0.1 that
 * checks what EC2 checks: every request's SigV4 signature (tests/unit/sigv4.h,
 * itself proved on AWS's test suite) for the region and service it plays, the
 * session token of temporary credentials, Action and Version, and that every
 * parameter came in the form body (none in the URL). It answers in EC2's own
 * shapes: DescribeImagesResponse pages joined by NextToken, and
 * <Response><Errors><Error> with the status EC2 uses for each code.
 *
 * Covered: a filter by tag and commits, over two pages; an image by id, and
 * one EC2 does not know (InvalidAMIID.NotFound: zero images, an answer); an
 * empty answer; throttling and 5xx (retry); UnauthorizedOperation and a wrong
 * secret (failing, the code named); temporary credentials; no answer in time;
 * nothing secret in what the client returns.
 */
#include "ec2api.h"
#include "fakehttp.h"
#include "sigv4.h"
#include "support.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define REGION "eu-west-1"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define NEXT_TOKEN "page-2/token+with=odd chars"

static const struct sigv4_key keys[] = {
	{ "AKIDSTATICEXAMPLE", "static/secret+key", NULL },
	{ "ASIATEMPEXAMPLE", "temporary/secret", "temporary-session-token-value" },
};

struct fake {
	struct fakehttp *srv;
	char endpoint[64];
	pthread_mutex_t lock;
	char last_form[2048];
	char last_query[256];
	int pages;
};

static void ec2_error(const struct fakehttp_request *req, int status, const char *code, const char *message)
{
	char body[1024];

	snprintf(body, sizeof body,
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message>"
		 "</Error></Errors><RequestID>00000000-0000-4000-8000-000000000000</RequestID></Response>",
		 code, message);
	fakehttp_answer(req, status, "text/xml;charset=UTF-8", NULL, body, strlen(body));
}

/* One page of images "ami-<id>" tagged git-sha=<commit> in this account. */
static void images_page(const struct fakehttp_request *req, const char *const *ids, const char *commit, size_t n,
			const char *next_token)
{
	char body[8192];
	size_t len = 0;

	len += (size_t)snprintf(body + len, sizeof body - len,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse "
				"xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><imagesSet>");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, sizeof body - len,
					"<item><imageId>%s</imageId><imageState>available</imageState>"
					"<imageOwnerId>111122223333</imageOwnerId><creationDate>2025-03-04T08:3%zu:00.000Z"
					"</creationDate><isPublic>false</isPublic><blockDeviceMapping><item><deviceName>/dev/xvda"
					"</deviceName></item></blockDeviceMapping><tagSet><item><key>git-sha</key><value>%s"
					"</value></item></tagSet></item>", ids[i], i, commit);
	len += (size_t)snprintf(body + len, sizeof body - len, "</imagesSet>");
	if (next_token != NULL)
		len += (size_t)snprintf(body + len, sizeof body - len, "<nextToken>%s</nextToken>", next_token);
	len += (size_t)snprintf(body + len, sizeof body - len, "</DescribeImagesResponse>");
	fakehttp_answer(req, 200, "text/xml;charset=UTF-8", NULL, body, len);
}

static void ec2(struct fakehttp *srv, const struct fakehttp_request *req, void *cls)
{
	struct fake *f = cls;
	struct sigv4_header headers[FAKEHTTP_MAX_HEADERS];
	struct sigv4_request sreq = { .method = req->method, .path = req->path, .query = req->query,
				      .headers = headers, .n_headers = req->n_headers, .body = req->body,
				      .body_len = req->body_len };
	struct sigv4_expect exp = { .region = REGION, .service = "ec2", .keys = keys,
				    .n_keys = sizeof keys / sizeof keys[0], .now = time(NULL) };
	char msg[256], value[256], token[256];
	enum sigv4_result r;

	for (size_t i = 0; i < req->n_headers; i++)
		headers[i] = (struct sigv4_header){ req->headers[i].name, req->headers[i].value };
	pthread_mutex_lock(&f->lock);
	snprintf(f->last_form, sizeof f->last_form, "%s", req->body);
	snprintf(f->last_query, sizeof f->last_query, "%s", req->query);
	f->pages++;
	pthread_mutex_unlock(&f->lock);
	r = sigv4_verify(&sreq, &exp, msg, sizeof msg);
	if (r != SIGV4_OK) {
		/* EC2's statuses: 401 AuthFailure, 403 SignatureDoesNotMatch, 400 for the malformed ones */
		ec2_error(req, r == SIGV4_AUTH_FAILURE || r == SIGV4_MISSING_AUTHENTICATION_TOKEN ? 401
			       : r == SIGV4_SIGNATURE_DOES_NOT_MATCH			       ? 403
												       : 400,
			  sigv4_result_code(r), msg);
		return;
	}
	if (strcmp(req->method, "POST") != 0 || !fakehttp_form_get(req->body, "Action", value, sizeof value) ||
	    strcmp(value, "DescribeImages") != 0 || !fakehttp_form_get(req->body, "Version", value, sizeof value) ||
	    strcmp(value, "2016-11-15") != 0) {
		ec2_error(req, 400, "InvalidAction", "The action or version is not valid for this web service.");
		return;
	}
	if (fakehttp_form_get(req->body, "ImageId.1", value, sizeof value)) {
		static const char *const one[] = { "ami-0aaaaaaaaaaaaaaa1" };

		if (strcmp(value, one[0]) == 0)
			images_page(req, one, SHA_A, 1, NULL);
		else
			ec2_error(req, 400, "InvalidAMIID.NotFound", "The image id does not exist");
		return;
	}
	if (!fakehttp_form_get(req->body, "Filter.1.Name", value, sizeof value) || strcmp(value, "tag:git-sha") != 0 ||
	    !fakehttp_form_get(req->body, "Filter.1.Value.1", value, sizeof value)) {
		ec2_error(req, 400, "InvalidParameterCombination", "a filter is expected");
		return;
	}
	if (strcmp(value, "throttled") == 0) {
		ec2_error(req, 503, "RequestLimitExceeded", "Request limit exceeded.");
	} else if (strcmp(value, "unavailable") == 0) {
		fakehttp_answer(req, 502, "text/html", NULL, "<html>bad gateway</html>", 24);
	} else if (strcmp(value, "denied") == 0) {
		ec2_error(req, 403, "UnauthorizedOperation", "You are not authorized to perform this operation.");
	} else if (strcmp(value, "silent") == 0) {
		fakehttp_stall(srv, req);
	} else if (strcmp(value, SHA_A) == 0) {
		static const char *const first[] = { "ami-0aaaaaaaaaaaaaaa1", "ami-0aaaaaaaaaaaaaaa2" };
		static const char *const second[] = { "ami-0aaaaaaaaaaaaaaa3" };

		if (!fakehttp_form_get(req->body, "NextToken", token, sizeof token))
			images_page(req, first, SHA_A, 2, NEXT_TOKEN);
		else if (strcmp(token, NEXT_TOKEN) == 0)
			images_page(req, second, SHA_A, 1, NULL);
		else
			ec2_error(req, 400, "InvalidParameterValue", "bad NextToken");
	} else {
		images_page(req, NULL, value, 0, NULL); /* no image carries that tag here */
	}
}

static int fake_start(void **state)
{
	struct fake *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	pthread_mutex_init(&f->lock, NULL);
	f->srv = fakehttp_start(ec2, f);
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
	pthread_mutex_destroy(&f->lock);
	free(f);
	curl_global_cleanup();
	return 0;
}

static const struct aws_credentials static_keys = { "AKIDSTATICEXAMPLE", "static/secret+key", NULL };

/* Ask for the images tagged git-sha = commits; the answer (the caller frees it). */
static struct ec2_images_answer ask(struct fake *f, const struct aws_credentials *cred, const char *const *commits,
				    size_t n, const char *image_id, long timeout_ms)
{
	struct ec2_images_request rq = { .endpoint = f->endpoint, .region = REGION, .cred = cred, .tag_name = "git-sha",
					 .commits = commits, .n_commits = n, .image_id = image_id,
					 .timeout_ms = timeout_ms };
	struct ec2_images_answer a;
	struct amicd_error err = { { 0 }, { 0 } };

	if (ec2_describe_images(&rq, &a, &err) != AMICD_OK)
		fail_msg("ec2_describe_images: %s", err.message);
	/* nothing secret in what comes back */
	assert_null(strstr(a.error, cred->secret_access_key));
	if (cred->session_token != NULL)
		assert_null(strstr(a.error, cred->session_token));
	/* every parameter in the body, none in the URL */
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->last_query, "");
	pthread_mutex_unlock(&f->lock);
	return a;
}

static void test_images_over_two_pages(void **state)
{
	struct fake *f = *state;
	const char *commits[] = { SHA_A, SHA_B };
	struct ec2_images_answer a = ask(f, &static_keys, commits, 2, NULL, 5000);

	if (a.outcome != EC2_IMAGES)
		fail_msg("outcome %d: %s", a.outcome, a.error);
	assert_int_equal(a.pages, 2);
	assert_int_equal(a.images.n, 3);
	assert_null(a.images.next_token);
	assert_string_equal(a.images.items[0].image_id, "ami-0aaaaaaaaaaaaaaa1");
	assert_string_equal(a.images.items[2].image_id, "ami-0aaaaaaaaaaaaaaa3");
	assert_string_equal(a.images.items[2].owner_id, "111122223333");
	assert_int_equal(a.images.items[0].n_tags, 1); /* the block device item is not a tag */
	assert_string_equal(a.images.items[0].tags[0].value, SHA_A);
	pthread_mutex_lock(&f->lock);
	/* both commits asked in one request, the token echoed back encoded */
	assert_non_null(strstr(f->last_form, "Filter.1.Value.2=" SHA_B));
	assert_non_null(strstr(f->last_form, "NextToken=page-2%2Ftoken%2Bwith%3Dodd%20chars"));
	pthread_mutex_unlock(&f->lock);
	ec2_images_answer_free(&a);
}

static void test_image_by_id_and_one_gone(void **state)
{
	struct fake *f = *state;
	struct ec2_images_answer a = ask(f, &static_keys, NULL, 0, "ami-0aaaaaaaaaaaaaaa1", 5000);

	assert_int_equal(a.outcome, EC2_IMAGES);
	assert_int_equal(a.images.n, 1);
	assert_string_equal(a.images.items[0].state, "available");
	ec2_images_answer_free(&a);

	/* deregistered, or no longer shared: EC2 does not know it — zero images, an answer */
	a = ask(f, &static_keys, NULL, 0, "ami-0bbbbbbbbbbbbbbb9", 5000);
	assert_int_equal(a.outcome, EC2_IMAGES);
	assert_int_equal(a.images.n, 0);
	assert_string_equal(a.code, "InvalidAMIID.NotFound");
	assert_int_equal(a.http_status, 400);
	ec2_images_answer_free(&a);
}

static void test_no_image_with_the_tag(void **state)
{
	struct fake *f = *state;
	const char *commits[] = { SHA_B };
	struct ec2_images_answer a = ask(f, &static_keys, commits, 1, NULL, 5000);

	assert_int_equal(a.outcome, EC2_IMAGES);
	assert_int_equal(a.images.n, 0);
	ec2_images_answer_free(&a);
}

static void test_throttling_and_5xx_are_retried(void **state)
{
	struct fake *f = *state;
	const char *throttled[] = { "throttled" }, *unavailable[] = { "unavailable" };
	struct ec2_images_answer a = ask(f, &static_keys, throttled, 1, NULL, 5000);

	assert_int_equal(a.outcome, EC2_RETRY);
	assert_int_equal(a.http_status, 503);
	assert_string_equal(a.code, "RequestLimitExceeded");
	assert_string_equal(a.error, "EC2 answered 503 RequestLimitExceeded: Request limit exceeded.");
	assert_int_equal(a.images.n, 0);
	ec2_images_answer_free(&a);

	a = ask(f, &static_keys, unavailable, 1, NULL, 5000);
	assert_int_equal(a.outcome, EC2_RETRY);
	assert_string_equal(a.error, "EC2 answered 502 without an AWS error");
	ec2_images_answer_free(&a);
}

static void test_permissions_and_signatures_fail_the_source(void **state)
{
	struct fake *f = *state;
	const char *denied[] = { "denied" }, *commits[] = { SHA_A };
	static const struct aws_credentials wrong = { "AKIDSTATICEXAMPLE", "not-the-secret", NULL };
	static const struct aws_credentials unknown = { "AKIDUNKNOWN", "whatever", NULL };
	struct ec2_images_answer a = ask(f, &static_keys, denied, 1, NULL, 5000);

	assert_int_equal(a.outcome, EC2_FAILING);
	assert_string_equal(a.code, "UnauthorizedOperation");
	assert_int_equal(a.http_status, 403);
	ec2_images_answer_free(&a);

	/* a signing mistake (here: the wrong secret) is seen by the fake, as by EC2 */
	a = ask(f, &wrong, commits, 1, NULL, 5000);
	assert_int_equal(a.outcome, EC2_FAILING);
	assert_string_equal(a.code, "SignatureDoesNotMatch");
	ec2_images_answer_free(&a);

	a = ask(f, &unknown, commits, 1, NULL, 5000);
	assert_int_equal(a.outcome, EC2_FAILING);
	assert_string_equal(a.code, "AuthFailure");
	ec2_images_answer_free(&a);
}

static void test_temporary_credentials(void **state)
{
	struct fake *f = *state;
	const char *commits[] = { SHA_A };
	static const struct aws_credentials temp = { "ASIATEMPEXAMPLE", "temporary/secret",
						     "temporary-session-token-value" };
	static const struct aws_credentials no_token = { "ASIATEMPEXAMPLE", "temporary/secret", NULL };
	struct ec2_images_answer a = ask(f, &temp, commits, 1, NULL, 5000);

	if (a.outcome != EC2_IMAGES)
		fail_msg("outcome %d: %s", a.outcome, a.error);
	assert_int_equal(a.images.n, 3);
	ec2_images_answer_free(&a);

	/* the same keys without their session token: AWS refuses them */
	a = ask(f, &no_token, commits, 1, NULL, 5000);
	assert_int_equal(a.outcome, EC2_FAILING);
	assert_string_equal(a.code, "AuthFailure");
	ec2_images_answer_free(&a);
}

static void test_no_answer_in_time_is_retried(void **state)
{
	struct fake *f = *state;
	const char *silent[] = { "silent" };
	struct ec2_images_answer a = ask(f, &static_keys, silent, 1, NULL, 300);

	assert_int_equal(a.outcome, EC2_RETRY);
	assert_int_equal(a.http_status, 0);
	assert_non_null(strstr(a.error, "no answer from EC2"));
	ec2_images_answer_free(&a);
}

static void test_requests_that_cannot_be_asked(void **state)
{
	struct fake *f = *state;
	struct ec2_images_request rq = { .endpoint = f->endpoint, .region = REGION, .cred = &static_keys,
					 .tag_name = "git-sha" };
	struct ec2_images_answer a;
	struct amicd_error err = { { 0 }, { 0 } };
	const char *many[EC2API_MAX_COMMITS + 1];

	for (size_t i = 0; i < EC2API_MAX_COMMITS + 1; i++)
		many[i] = SHA_A;
	assert_int_equal(ec2_describe_images(&rq, &a, &err), AMICD_ERR_INVALID); /* no commits */
	rq.commits = many;
	rq.n_commits = EC2API_MAX_COMMITS + 1;
	assert_int_equal(ec2_describe_images(&rq, &a, &err), AMICD_ERR_INVALID);
	rq.n_commits = 1;
	rq.cred = NULL;
	assert_int_equal(ec2_describe_images(&rq, &a, &err), AMICD_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_images_over_two_pages),
		cmocka_unit_test(test_image_by_id_and_one_gone),
		cmocka_unit_test(test_no_image_with_the_tag),
		cmocka_unit_test(test_throttling_and_5xx_are_retried),
		cmocka_unit_test(test_permissions_and_signatures_fail_the_source),
		cmocka_unit_test(test_temporary_credentials),
		cmocka_unit_test(test_no_answer_in_time_is_retried),
		cmocka_unit_test(test_requests_that_cannot_be_asked),
	};

	return cmocka_run_group_tests_name("ec2api", tests, fake_start, fake_stop);
}
