/*
 * test_reconcile.c — the reconciler (design §9) against fakes that check what
 * the real services check: a GitLab branch API that wants its PRIVATE-TOKEN
 * and the project path URL-encoded, and one EC2 + STS endpoint that verifies
 * every request's SigV4 signature (tests/unit/sigv4.h, itself proved on AWS's
 * test suite) for the service it plays, the session token of temporary
 * credentials, and answers in AWS's own shapes (DescribeImagesResponse,
 * AssumeRoleResponse, <Response><Errors><Error>, ErrorResponse).
 *
 * The fake EC2 lists, for the one account the keys belong to, the images it
 * holds whose tag git-sha (as that account sees it) matches the filter — so a
 * test makes an AMI appear, become available, lose its tag or vanish by
 * editing the fake's state, with no EventBridge at all.
 *
 * Cases a–k of issue 9: promotion without EventBridge; bootstrap from the
 * sources alone; a lost push; the rollback cycle with a late second copy;
 * a tag removed in the account; the pinned AMI gone; throttling, 503 and 403;
 * AssumeRole; no secret anywhere; unchanged passes store nothing; replay.
 */
#include "harness.h"
#include "../unit/fakehttp.h"
#include "../unit/sigv4.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHA_X "1111111111111111111111111111111111111111"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccc"

#define API_TOKEN "glpat-it-reconcile-0123456789"
#define KEY_ID "AKIDRECONCILEEXAMPLE"
#define KEY_SECRET "reconcile/static+secret-key"
#define TEMP_KEY_ID "ASIARECONCILETEMP"
#define TEMP_SECRET "reconcile/temporary+secret"
#define TEMP_TOKEN "reconcile-session-token-FwoGZXIvYXdzEB0aDO"
#define ROLE_ARN "arn:aws:iam::444455556666:role/amicd-read"
#define WEB_TOKEN "eyJhbGciOiJSUzI1NiJ9.it-web-identity-token.c2lnbmF0dXJl"

#define MAX_IMAGES 8

struct fake_image {
	char id[32];
	char owner[16];
	char state[16];
	char sha[72];      /* git-sha as the ASG's account sees it; "" = untagged there */
	bool listed;       /* launchable by the account at all */
};

struct fake {
	struct fakehttp *srv;
	pthread_mutex_t lock;
	char head[72];              /* "" : 404 Branch Not Found */
	int gitlab_status;          /* 0: answer normally; else this status */
	bool gitlab_stall;          /* never answer GitLab requests (until the client gives up) */
	unsigned throttle_next;     /* answer the next N DescribeImages with 503 RequestLimitExceeded */
	unsigned unavailable_next;  /* … with a bare 503 */
	bool deny;                  /* 403 UnauthorizedOperation while set */
	struct fake_image images[MAX_IMAGES];
	size_t n_images;
	unsigned gitlab_requests, ec2_requests, sts_requests, bad_signatures;
	char last_token_header[128];
};

static struct fake *fake;       /* the group's */
static char repo_url[96];
static char token_dir[256];     /* holds the web identity token file */

static const struct sigv4_key keys[] = {
	{ KEY_ID, KEY_SECRET, NULL },
	{ TEMP_KEY_ID, TEMP_SECRET, TEMP_TOKEN },
};

static void aws_error(const struct fakehttp_request *req, int status, const char *code, bool sts)
{
	char body[1024];

	if (sts)
		snprintf(body, sizeof body,
			 "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
			 "<Code>%s</Code><Message>refused by the fake</Message></Error><RequestId>r-1</RequestId>"
			 "</ErrorResponse>", code);
	else
		snprintf(body, sizeof body,
			 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code>"
			 "<Message>refused by the fake</Message></Error></Errors><RequestID>r-1</RequestID></Response>",
			 code);
	fakehttp_answer(req, status, "text/xml;charset=UTF-8", NULL, body, strlen(body));
}

/* Does the form's filter (Filter.1.Value.N or ImageId.1) select image im? */
static bool selected(const char *form, const struct fake_image *im)
{
	char name[32], value[128];

	if (fakehttp_form_get(form, "ImageId.1", value, sizeof value))
		return strcmp(value, im->id) == 0;
	for (int i = 1; i <= 50; i++) {
		snprintf(name, sizeof name, "Filter.1.Value.%d", i);
		if (!fakehttp_form_get(form, name, value, sizeof value))
			break;
		if (im->sha[0] != '\0' && strcasecmp(value, im->sha) == 0)
			return true;
	}
	return false;
}

static void describe_images(const struct fakehttp_request *req, struct fake *f)
{
	char body[16384], value[64];
	size_t len = 0;

	if (f->deny) {
		aws_error(req, 403, "UnauthorizedOperation", false);
		return;
	}
	if (f->throttle_next > 0) {
		f->throttle_next--;
		aws_error(req, 503, "RequestLimitExceeded", false);
		return;
	}
	if (f->unavailable_next > 0) {
		f->unavailable_next--;
		fakehttp_answer(req, 503, "text/html", NULL, "<html>unavailable</html>", 24);
		return;
	}
	if (!fakehttp_form_get(req->body, "ImageId.1", value, sizeof value) &&
	    (!fakehttp_form_get(req->body, "Filter.1.Name", value, sizeof value) || strcmp(value, "tag:git-sha") != 0)) {
		aws_error(req, 400, "InvalidParameterCombination", false);
		return;
	}
	len += (size_t)snprintf(body + len, sizeof body - len,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse "
				"xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-2</requestId><imagesSet>");
	for (size_t i = 0; i < f->n_images; i++) {
		const struct fake_image *im = &f->images[i];

		if (!im->listed || !selected(req->body, im))
			continue;
		len += (size_t)snprintf(body + len, sizeof body - len,
					"<item><imageId>%s</imageId><imageState>%s</imageState><imageOwnerId>%s"
					"</imageOwnerId><creationDate>2026-11-30T10:0%zu:00.000Z</creationDate>"
					"<isPublic>false</isPublic><tagSet>",
					im->id, im->state, im->owner, i);
		if (im->sha[0] != '\0')
			len += (size_t)snprintf(body + len, sizeof body - len,
						"<item><key>git-sha</key><value>%s</value></item>", im->sha);
		len += (size_t)snprintf(body + len, sizeof body - len, "</tagSet></item>");
	}
	len += (size_t)snprintf(body + len, sizeof body - len, "</imagesSet></DescribeImagesResponse>");
	fakehttp_answer(req, 200, "text/xml;charset=UTF-8", NULL, body, len);
}

static void assume_role(const struct fakehttp_request *req, struct fake *f)
{
	char body[2048], value[256], expires[32];
	time_t later = time(NULL) + 3600;
	struct tm tm;

	if (!fakehttp_form_get(req->body, "RoleArn", value, sizeof value) || strcmp(value, ROLE_ARN) != 0) {
		aws_error(req, 403, "AccessDenied", true);
		return;
	}
	gmtime_r(&later, &tm);
	strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
	f->sts_requests++;
	if (strcmp(value, ROLE_ARN) == 0 && fakehttp_form_get(req->body, "WebIdentityToken", value, sizeof value)) {
		snprintf(body, sizeof body,
			 "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
			 "<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>system:serviceaccount:ns:amicd"
			 "</SubjectFromWebIdentityToken><Credentials><AccessKeyId>" TEMP_KEY_ID "</AccessKeyId>"
			 "<SecretAccessKey>" TEMP_SECRET "</SecretAccessKey><SessionToken>" TEMP_TOKEN "</SessionToken>"
			 "<Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
			 "<ResponseMetadata><RequestId>r-4</RequestId></ResponseMetadata>"
			 "</AssumeRoleWithWebIdentityResponse>", expires);
		fakehttp_answer(req, 200, "text/xml", NULL, body, strlen(body));
		return;
	}
	snprintf(body, sizeof body,
		 "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
		 "<AssumedRoleUser><Arn>arn:aws:sts::444455556666:assumed-role/amicd-read/amicd</Arn>"
		 "<AssumedRoleId>ARO123EXAMPLE123:amicd</AssumedRoleId></AssumedRoleUser><Credentials>"
		 "<AccessKeyId>" TEMP_KEY_ID "</AccessKeyId><SecretAccessKey>" TEMP_SECRET "</SecretAccessKey>"
		 "<SessionToken>" TEMP_TOKEN "</SessionToken><Expiration>%s</Expiration></Credentials>"
		 "</AssumeRoleResult><ResponseMetadata><RequestId>r-3</RequestId></ResponseMetadata>"
		 "</AssumeRoleResponse>", expires);
	fakehttp_answer(req, 200, "text/xml", NULL, body, strlen(body));
}

static void gitlab_branch(const struct fakehttp_request *req, struct fake *f)
{
	const char *token = fakehttp_header_get(req, "PRIVATE-TOKEN");
	char body[1024];

	f->gitlab_requests++;
	if (token == NULL || strcmp(token, API_TOKEN) != 0) {
		fakehttp_answer(req, 401, "application/json", NULL, "{\"message\":\"401 Unauthorized\"}", 30);
		return;
	}
	/* GitLab wants the project path as one encoded segment */
	if (strcmp(req->path, "/api/v4/projects/platform%2Fgolden-images/repository/branches/main") != 0) {
		fakehttp_answer(req, 404, "application/json", NULL, "{\"message\":\"404 Project Not Found\"}", 35);
		return;
	}
	if (f->gitlab_status != 0) {
		fakehttp_answer(req, f->gitlab_status, "application/json", NULL, "{\"message\":\"busy\"}", 18);
		return;
	}
	if (f->head[0] == '\0') {
		fakehttp_answer(req, 404, "application/json", NULL, "{\"message\":\"404 Branch Not Found\"}", 34);
		return;
	}
	snprintf(body, sizeof body,
		 "{\"name\":\"main\",\"merged\":false,\"protected\":true,\"default\":true,\"commit\":{\"id\":\"%s\","
		 "\"short_id\":\"%.8s\",\"title\":\"a change\",\"author_name\":\"Dev\",\"parent_ids\":[]}}",
		 f->head, f->head);
	fakehttp_answer(req, 200, "application/json", NULL, body, strlen(body));
}

static void serve(struct fakehttp *srv, const struct fakehttp_request *req, void *cls)
{
	struct fake *f = cls;
	struct sigv4_header headers[FAKEHTTP_MAX_HEADERS];
	struct sigv4_request sreq = { .method = req->method, .path = req->path, .query = req->query,
				      .headers = headers, .n_headers = req->n_headers, .body = req->body,
				      .body_len = req->body_len };
	char action[64] = "", msg[256];
	const char *tok;
	enum sigv4_result r;
	bool sts;

	pthread_mutex_lock(&f->lock);
	if (strncmp(req->path, "/api/v4/", 8) == 0 && f->gitlab_stall) {
		f->gitlab_requests++;
		pthread_mutex_unlock(&f->lock);
		fakehttp_stall(srv, req);
		return;
	}
	if (strncmp(req->path, "/api/v4/", 8) == 0) {
		gitlab_branch(req, f);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	fakehttp_form_get(req->body, "Action", action, sizeof action);
	if (strcmp(action, "AssumeRoleWithWebIdentity") == 0) {
		/* not signed: STS trusts the token (and refuses a signed request's extra credentials) */
		char token[256];

		if (fakehttp_header_get(req, "Authorization") != NULL ||
		    !fakehttp_form_get(req->body, "WebIdentityToken", token, sizeof token) || strcmp(token, WEB_TOKEN) != 0)
			aws_error(req, 400, "InvalidIdentityToken", true);
		else
			assume_role(req, f);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	sts = strncmp(action, "AssumeRole", 10) == 0;
	for (size_t i = 0; i < req->n_headers; i++)
		headers[i] = (struct sigv4_header){ req->headers[i].name, req->headers[i].value };
	r = sigv4_verify(&sreq, &(struct sigv4_expect){ .region = SUPPORT_REGION, .service = sts ? "sts" : "ec2",
							.keys = keys, .n_keys = 2, .now = time(NULL) },
			 msg, sizeof msg);
	tok = fakehttp_header_get(req, "x-amz-security-token");
	snprintf(f->last_token_header, sizeof f->last_token_header, "%s", tok != NULL ? tok : "");
	if (r != SIGV4_OK) {
		f->bad_signatures++;
		aws_error(req, r == SIGV4_SIGNATURE_DOES_NOT_MATCH ? 403 : r == SIGV4_AUTH_FAILURE ? 401 : 400,
			  sigv4_result_code(r), sts);
	} else if (sts) {
		assume_role(req, f);
	} else if (strcmp(action, "DescribeImages") == 0) {
		f->ec2_requests++;
		describe_images(req, f);
	} else {
		aws_error(req, 400, "InvalidAction", false);
	}
	pthread_mutex_unlock(&f->lock);
}

/* --- the fake's state, as a test sets it ------------------------------------------------ */

static void set_head(const char *sha)
{
	pthread_mutex_lock(&fake->lock);
	snprintf(fake->head, sizeof fake->head, "%s", sha != NULL ? sha : "");
	pthread_mutex_unlock(&fake->lock);
}

/* Add or change an image the account can launch, tagged git-sha = sha there. */
static void set_image(const char *id, const char *state, const char *sha, bool listed)
{
	struct fake_image *im = NULL;

	pthread_mutex_lock(&fake->lock);
	for (size_t i = 0; i < fake->n_images; i++)
		if (strcmp(fake->images[i].id, id) == 0)
			im = &fake->images[i];
	if (im == NULL && fake->n_images < MAX_IMAGES)
		im = &fake->images[fake->n_images++];
	if (im != NULL) {
		snprintf(im->id, sizeof im->id, "%s", id);
		snprintf(im->owner, sizeof im->owner, "111122223333");
		snprintf(im->state, sizeof im->state, "%s", state);
		snprintf(im->sha, sizeof im->sha, "%s", sha != NULL ? sha : "");
		im->listed = listed;
	}
	pthread_mutex_unlock(&fake->lock);
}

static unsigned counter(const unsigned *which)
{
	unsigned v;

	pthread_mutex_lock(&fake->lock);
	v = *which;
	pthread_mutex_unlock(&fake->lock);
	return v;
}

/* --- fixtures ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	fake = calloc(1, sizeof *fake);
	if (fake == NULL)
		return -1;
	pthread_mutex_init(&fake->lock, NULL);
	fake->srv = fakehttp_start(serve, fake);
	if (fake->srv == NULL)
		return -1;
	snprintf(repo_url, sizeof repo_url, "http://127.0.0.1:%u/platform/golden-images", fakehttp_port(fake->srv));
	if (support_tmpdir(token_dir, sizeof token_dir, NULL, "amicd-it-token") != 0 ||
	    support_write_file(token_dir, "token", WEB_TOKEN "\n") != 0)
		return -1;
	setenv("AMICD_IT_GITLAB_API_TOKEN", API_TOKEN, 1);
	setenv("AMICD_IT_AWS_KEY_ID", KEY_ID, 1);
	setenv("AMICD_IT_AWS_SECRET", KEY_SECRET, 1);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	fakehttp_stop(fake->srv);
	support_rmtree(token_dir);
	pthread_mutex_destroy(&fake->lock);
	free(fake);
	fake = NULL;
	return 0;
}

/* Reset the fake and start an amicd that asks it: with_gitlab / with_aws select the sources. */
enum creds { KEYS, KEYS_AND_ROLE, WEB_IDENTITY };

static int start(void **state, bool with_gitlab, enum creds creds, int interval_s, unsigned flags)
{
	static char resources[512], accounts[512], extra[1024];
	unsigned port = fakehttp_port(fake->srv);
	struct amicd_opts o = { .log_level = "debug" };

	pthread_mutex_lock(&fake->lock);
	fake->head[0] = '\0';
	fake->gitlab_status = 0;
	fake->gitlab_stall = false;
	fake->throttle_next = fake->unavailable_next = 0;
	fake->deny = false;
	fake->n_images = 0;
	fake->gitlab_requests = fake->ec2_requests = fake->sts_requests = fake->bad_signatures = 0;
	pthread_mutex_unlock(&fake->lock);
	snprintf(resources, sizeof resources,
		 "  - provider: asg\n    identifier: " SUPPORT_ASG "\n    account: " SUPPORT_ACCOUNT "\n"
		 "    region: " SUPPORT_REGION "\n    image:\n      repo: { url: %s, ref: main, tag_name: git-sha }\n",
		 repo_url);
	if (creds == WEB_IDENTITY)
		snprintf(accounts, sizeof accounts,
			 "  - name: " SUPPORT_ACCOUNT "\n    uid: \"" SUPPORT_ACCOUNT_UID "\"\n    aws: {}\n");
	else
		snprintf(accounts, sizeof accounts,
			 "  - name: " SUPPORT_ACCOUNT "\n    uid: \"" SUPPORT_ACCOUNT_UID "\"\n"
			 "    aws: { access_key_id_env: AMICD_IT_AWS_KEY_ID, secret_access_key_env: AMICD_IT_AWS_SECRET%s }\n",
			 creds == KEYS_AND_ROLE ? ", role_arn: \"" ROLE_ARN "\"" : "");
	snprintf(extra, sizeof extra,
		 "aws:\n  endpoints: { ec2: \"http://127.0.0.1:%u\", sts: \"http://127.0.0.1:%u\" }\n%s%s%s"
		 "%s%u%s"
		 "reconcile: { interval_seconds: %d, waiting_interval_seconds: 1, timeout_seconds: 3 }\n",
		 port, port, creds == WEB_IDENTITY ? "  role_arn: \"" ROLE_ARN "\"\n  web_identity_token_file: " : "",
		 creds == WEB_IDENTITY ? token_dir : "", creds == WEB_IDENTITY ? "/token\n" : "",
		 with_gitlab ? "gitlab_api:\n  - { url: \"http://127.0.0.1:" : "",
		 with_gitlab ? port : 0, with_gitlab ? "\", token_env: AMICD_IT_GITLAB_API_TOKEN }\n" : "",
		 interval_s);
	if (!with_gitlab) {
		/* no gitlab_api: drop the "0" the format left */
		char *zero = strstr(extra, "\n0reconcile");

		if (zero != NULL)
			memmove(zero + 1, zero + 2, strlen(zero + 2) + 1);
	}
	o.resources = resources;
	o.accounts = accounts;
	o.extra = extra;
	return h_fx_setup(state, &o, flags | H_FX_RECEIVER);
}

static int setup_both(void **state) { return start(state, true, KEYS, 300, H_FX_NO_START); }
static int setup_ec2_only(void **state) { return start(state, false, KEYS, 300, H_FX_NO_START); }
static int setup_role(void **state) { return start(state, true, KEYS_AND_ROLE, 300, H_FX_NO_START); }
static int setup_web_identity(void **state) { return start(state, true, WEB_IDENTITY, 300, H_FX_NO_START); }
static int setup_short_interval(void **state) { return start(state, true, KEYS, 1, H_FX_NO_START); }

static int teardown(void **state)
{
	struct h_fx *f = *state;

	if (f != NULL && h_stop_and_check(&f->p) != 0)
		fail_msg("amicd did not stop cleanly");
	return h_fx_teardown(state);
}

/* A push to the tracked branch, in the URL form the fake serves. */
static long push(const struct amicd_proc *p, const char *before, const char *after, const char *idem, int64_t *id)
{
	static unsigned n;
	char body[1024], word[32], uuid[96];

	/* each hook of the project sends its own delivery: its own X-Gitlab-Event-UUID */
	snprintf(uuid, sizeof uuid, "X-Gitlab-Event-UUID: %s-%u", idem != NULL ? idem : "delivery", ++n);
	snprintf(body, sizeof body,
		 "{\"object_kind\":\"push\",\"event_name\":\"push\",\"ref\":\"refs/heads/main\",\"before\":\"%s\","
		 "\"after\":\"%s\",\"checkout_sha\":\"%s\",\"project\":{\"web_url\":\"%s\",\"git_http_url\":\"%s.git\"},"
		 "\"commits\":[],\"total_commits_count\":0}",
		 before, after, after, repo_url, repo_url);
	return h_post_hook(p, "/hooks/gitlab", (const char *[]){ "Content-Type: application/json",
			   "X-Gitlab-Event: Push Hook", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN, uuid, NULL },
			   body, id, word, sizeof word);
}

struct head_wait {
	const struct amicd_proc *p;
	const char *sha;
};

static bool head_is(void *ctx)
{
	const struct head_wait *w = ctx;
	json_t *asg = h_asg(w->p, SUPPORT_ASG);
	bool ok = asg != NULL && h_str(asg, "head.commit") != NULL && strcmp(h_str(asg, "head.commit"), w->sha) == 0;

	json_decref(asg);
	return ok;
}

static bool wait_head(const struct amicd_proc *p, const char *sha, int timeout_ms)
{
	struct head_wait w = { p, sha };

	return support_wait_until(head_is, &w, timeout_ms);
}

static json_t *admin_reconcile(const struct amicd_proc *p)
{
	struct http_result r = { 0 };
	json_t *j;

	if (h_post(p, "/api/v1/admin/reconcile", (const char *[]){ "Content-Type: application/json",
		   "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL }, "{}", 2, &r) != 0 || r.status != 200)
		fail_msg("admin reconcile: %ld %s", r.status, r.body != NULL ? r.body : "");
	j = json_loads(r.body, 0, NULL);
	http_result_free(&r);
	assert_non_null(j);
	return j;
}

static int64_t observations(const struct amicd_proc *p)
{
	return h_db_int(p, "SELECT count(*) FROM events WHERE source IN ('gitlab-api', 'ec2-api')", NULL);
}

/* --- the cases ------------------------------------------------------------------------------- */

/* (a) no EventBridge at all: a push, then EC2 starts listing the AMI → promotion within the waiting interval. */
static void no_eventbridge(void **state)
{
	struct h_fx *f = *state;
	int64_t id;

	set_head(SHA_A);
	assert_int_equal(harness_start(&f->p), 0);
	assert_int_equal(push(&f->p, SHA_X, SHA_A, NULL, &id), 202);
	assert_true(wait_head(&f->p, SHA_A, 5000));
	set_image("ami-0a0000000000000a1", "pending", SHA_A, true);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	/* waiting_interval_seconds: 1 — the next look finds it */
	if (!h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000))
		fail_msg("no promotion without EventBridge");
	assert_true(h_receiver_wait(f->rx, 1, 5000));
	assert_int_equal(counter(&fake->bad_signatures), 0);
}

/* (b) bootstrap: no webhook ever — the start alone pins the ASG from the branch API and DescribeImages. */
static void bootstrap(void **state)
{
	struct h_fx *f = *state;
	json_t *asg;

	set_head(SHA_B);
	set_image("ami-0b0000000000000b1", "available", SHA_B, true);
	assert_int_equal(harness_start(&f->p), 0);
	if (!h_wait_pin(&f->p, SUPPORT_ASG, SHA_B, 8000))
		fail_msg("a fresh amicd did not pin from the sources");
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_string_equal(h_str(asg, "head.source"), "gitlab-api");
	assert_true(json_is_true(h_json_at(asg, "sources.gitlab.polled")));
	assert_true(json_is_true(h_json_at(asg, "sources.ec2.polled")));
	assert_non_null(h_str(asg, "sources.ec2.last_checked_at"));
	assert_int_equal(json_array_size(h_json_at(asg, "problems")), 0);
	json_decref(asg);
}

/* (c) a lost push: GitLab's head moved without a webhook → the interval pass finds it. */
static void lost_push(void **state)
{
	struct h_fx *f = *state;

	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	/* B is pushed and built; its hook is lost (a 503, GitLab never re-sends) */
	set_image("ami-0b0000000000000b1", "available", SHA_B, true);
	set_head(SHA_B);
	if (!h_wait_pin(&f->p, SUPPORT_ASG, SHA_B, 10000))
		fail_msg("the interval pass did not find the lost push");
}

/* (d) the rollback cycle: X→A, A→B, B→A, then a late second copy of A→B → the head GitLab reports. */
static void rollback_cycle(void **state)
{
	struct h_fx *f = *state;
	int64_t id;
	json_t *asg;

	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	set_image("ami-0b0000000000000b1", "available", SHA_B, true);
	set_head(SHA_A);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	set_head(SHA_B);
	assert_int_equal(push(&f->p, SHA_A, SHA_B, NULL, &id), 202);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_B, 8000));
	set_head(SHA_A);
	assert_int_equal(push(&f->p, SHA_B, SHA_A, NULL, &id), 202);
	if (!h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000)) {
		char *log = support_read_file(f->p.log, NULL);
		fprintf(stderr, "%s\n", log != NULL ? log : "");
		free(log);
		fail_msg("the rollback was not promoted");
	}
	/* a second hook on the project delivers its (late) copy of A→B */
	assert_int_equal(push(&f->p, SHA_A, SHA_B, NULL, &id), 202);
	assert_true(h_wait_event_done(&f->p, id, 5000));
	asg = admin_reconcile(&f->p);
	json_decref(asg);
	assert_true(wait_head(&f->p, SHA_A, 5000));
	assert_true(h_pin_is(&f->p, SUPPORT_ASG, SHA_A));
	/* B was never promoted again after the rollback */
	assert_int_equal(h_db_int(&f->p, "SELECT count(*) FROM promotions WHERE commit_sha = ?1", SHA_B), 1);
}

/* (e) the tag removed in the ASG's account (the image drops out of the answer) → not ready, pin kept. */
static void tag_removed(void **state)
{
	struct h_fx *f = *state;
	json_t *asg;

	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	set_image("ami-0b0000000000000b1", "available", SHA_B, true);
	set_head(SHA_B);
	set_image("ami-0b0000000000000b1", "available", NULL, true); /* the copy of the tag is gone there */
	json_decref(admin_reconcile(&f->p));
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_string_equal(h_str(asg, "head.commit"), SHA_B);
	assert_string_equal(h_str(asg, "state"), "waiting");
	assert_string_equal(h_str(asg, "pin.commit"), SHA_A);
	json_decref(asg);
}

/* (f) the pinned AMI absent → pinned_ami_unavailable. */
static void pinned_gone(void **state)
{
	struct h_fx *f = *state;
	json_t *asg;

	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	set_image("ami-0a0000000000000a1", "available", SHA_A, false); /* deregistered, or unshared */
	json_decref(admin_reconcile(&f->p));
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_false(json_is_true(h_json_at(asg, "pin.available")));
	assert_string_equal(h_str(asg, "problems.0.code"), "pinned_ami_unavailable");
	assert_non_null(strstr(h_str(asg, "reason"), "ami-0a0000000000000a1"));
	assert_string_equal(h_str(asg, "pin.commit"), SHA_A); /* reported, never acted on */
	json_decref(asg);
}

/* (g) RequestLimitExceeded and 503 → backoff, then success; 403 → source_failing naming the code, then cleared. */
static void throttling_and_refusal(void **state)
{
	struct h_fx *f = *state;
	json_t *asg, *rep;
	unsigned before;

	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	pthread_mutex_lock(&fake->lock);
	fake->throttle_next = 1;
	fake->unavailable_next = 1;
	pthread_mutex_unlock(&fake->lock);
	assert_int_equal(harness_start(&f->p), 0);
	if (!h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 10000))
		fail_msg("throttling was not retried to success");
	before = counter(&fake->ec2_requests);
	assert_true(before >= 3);
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_int_equal(json_array_size(h_json_at(asg, "problems")), 0);
	json_decref(asg);

	pthread_mutex_lock(&fake->lock);
	fake->deny = true;
	pthread_mutex_unlock(&fake->lock);
	rep = admin_reconcile(&f->p);
	assert_string_equal(h_str(rep, "reconciled.0.ec2"), "failing");
	json_decref(rep);
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_string_equal(h_str(asg, "problems.0.code"), "source_failing");
	assert_non_null(strstr(h_str(asg, "problems.0.message"), "UnauthorizedOperation"));
	assert_non_null(strstr(h_str(asg, "reason"), "UnauthorizedOperation"));
	assert_non_null(strstr(h_str(asg, "sources.ec2.last_error"), "UnauthorizedOperation"));
	json_decref(asg);

	pthread_mutex_lock(&fake->lock);
	fake->deny = false;
	pthread_mutex_unlock(&fake->lock);
	json_decref(admin_reconcile(&f->p));
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_int_equal(json_array_size(h_json_at(asg, "problems")), 0);
	assert_true(json_is_null(h_json_at(asg, "sources.ec2.last_error")));
	json_decref(asg);
}

/*
 * (h) role_arn → AssumeRole called once, its session token sent as x-amz-security-token.
 * Also run with web identity (aws.web_identity_token_file + role_arn, as on OpenShift):
 * AssumeRoleWithWebIdentity, unsigned, with the token from the file.
 */
static void assume_role_once(void **state)
{
	struct h_fx *f = *state;

	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	json_decref(admin_reconcile(&f->p));
	json_decref(admin_reconcile(&f->p));
	assert_int_equal(counter(&fake->sts_requests), 1);
	pthread_mutex_lock(&fake->lock);
	assert_string_equal(fake->last_token_header, TEMP_TOKEN);
	pthread_mutex_unlock(&fake->lock);
	assert_int_equal(counter(&fake->bad_signatures), 0);
}

/* (i) keys, tokens and session tokens appear in no log line, event payload or API answer. */
static void no_secret_anywhere(void **state)
{
	struct h_fx *f = *state;
	static const char *const secrets[] = { API_TOKEN, KEY_SECRET, TEMP_SECRET, TEMP_TOKEN, WEB_TOKEN };
	struct http_result r = { 0 };
	char *log;

	assume_role_once(state);
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		assert_false(h_log_contains(&f->p, secrets[i]));
		assert_int_equal(h_db_int(&f->p, "SELECT count(*) FROM event_bodies WHERE instr(payload, ?1) > 0"
					  " OR instr(headers, ?1) > 0", secrets[i]), 0);
	}
	for (int64_t id = 1; id <= h_db_int(&f->p, "SELECT max(id) FROM events", NULL); id++) {
		char path[64];

		snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)id);
		assert_int_equal(h_get(&f->p, path, NULL, &r), 0);
		for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
			assert_null(strstr(r.body, secrets[i]));
		http_result_free(&r);
	}
	assert_int_equal(h_get(&f->p, "/api/v1/asgs", NULL, &r), 0);
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		assert_null(strstr(r.body, secrets[i]));
	http_result_free(&r);
	assert_int_equal(h_get(&f->p, "/metrics", NULL, &r), 0);
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		assert_null(strstr(r.body, secrets[i]));
	http_result_free(&r);
	log = support_read_file(f->p.log, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "images observed")); /* the log was written at all */
	free(log);
}

/* (j) ten unchanged passes add no event rows. */
static void unchanged_passes_store_nothing(void **state)
{
	struct h_fx *f = *state;
	int64_t n;
	unsigned asked;

	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	json_decref(admin_reconcile(&f->p)); /* settle: the pinned AMI's first answer */
	n = observations(&f->p);
	asked = counter(&fake->gitlab_requests);
	for (int i = 0; i < 10; i++) {
		json_t *rep = admin_reconcile(&f->p);

		assert_string_equal(h_str(rep, "reconciled.0.gitlab"), "unchanged");
		assert_string_equal(h_str(rep, "reconciled.0.ec2"), "unchanged");
		json_decref(rep);
	}
	assert_true(counter(&fake->gitlab_requests) >= asked + 10);
	assert_int_equal(observations(&f->p), n);
}

/* (k) replay over a DB with observations gives the same pins and no new promotion. */
static void replay_converges(void **state)
{
	struct h_fx *f = *state;
	struct http_result r = { 0 };
	int64_t promotions;

	rollback_cycle(state);
	promotions = h_db_int(&f->p, "SELECT count(*) FROM promotions", NULL);
	assert_int_equal(h_post(&f->p, "/api/v1/admin/replay", (const char *[]){ "Content-Type: application/json",
			"Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL }, "{}", 2, &r), 0);
	assert_int_equal(r.status, 200);
	http_result_free(&r);
	assert_true(h_pin_is(&f->p, SUPPORT_ASG, SHA_A));
	assert_int_equal(h_db_int(&f->p, "SELECT count(*) FROM promotions", NULL), promotions);
	assert_true(wait_head(&f->p, SHA_A, 2000));
}

/* An account without GitLab: EC2 alone, the push rule decides and no confirmation is awaited. */
static void ec2_only(void **state)
{
	struct h_fx *f = *state;
	int64_t id;
	json_t *asg;

	assert_int_equal(harness_start(&f->p), 0);
	assert_int_equal(push(&f->p, SHA_X, SHA_C, NULL, &id), 202);
	set_image("ami-0c0000000000000c1", "available", SHA_C, true);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_C, 8000));
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_false(json_is_true(h_json_at(asg, "sources.gitlab.polled")));
	assert_string_equal(h_str(asg, "head.source"), "gitlab");
	json_decref(asg);
	assert_int_equal(counter(&fake->gitlab_requests), 0);
}

/* GitLab failing: the push rule decides after the source timeout, and the ASG shows source_failing. */
static void gitlab_failing(void **state)
{
	struct h_fx *f = *state;
	int64_t id;
	json_t *asg;

	pthread_mutex_lock(&fake->lock);
	fake->gitlab_status = 403;
	pthread_mutex_unlock(&fake->lock);
	set_image("ami-0c0000000000000c1", "available", SHA_C, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_int_equal(push(&f->p, SHA_X, SHA_C, NULL, &id), 202);
	if (!h_wait_pin(&f->p, SUPPORT_ASG, SHA_C, 12000))
		fail_msg("with GitLab failing, the push rule did not decide");
	asg = h_asg(&f->p, SUPPORT_ASG);
	assert_string_equal(h_str(asg, "problems.0.code"), "source_failing");
	assert_non_null(strstr(h_str(asg, "problems.0.message"), "403"));
	json_decref(asg);
}

static bool gitlab_asked(void *ctx)
{
	(void)ctx;
	return counter(&fake->gitlab_requests) > 0;
}

/* SIGTERM does not wait for a silent source longer than the source timeout (3 s here). */
static void sigterm_while_a_source_is_silent(void **state)
{
	struct h_fx *f = *state;
	int64_t t0;
	int status;

	pthread_mutex_lock(&fake->lock);
	fake->gitlab_stall = true;
	pthread_mutex_unlock(&fake->lock);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(support_wait_until(gitlab_asked, NULL, 5000));
	t0 = support_now_ms();
	status = harness_stop(&f->p, SIGTERM, 10000);
	assert_int_equal(status, 0);
	print_message("SIGTERM with GitLab silent: exit 0 after %lld ms (timeout_seconds: 3)\n",
		      (long long)(support_now_ms() - t0));
	assert_true(support_now_ms() - t0 < 3000);
}

/* /metrics, source metrics included, passes `promtool check metrics` (Debian's prometheus package). */
static void metrics_pass_promtool(void **state)
{
	struct h_fx *f = *state;
	struct http_result r = { 0 };
	char path[512], cmd[1024], out[4096] = "";
	FILE *p;
	size_t n;
	int status;
	int64_t id;
	const char *waited;
	double secs;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		print_message("promtool not installed (scripts/deps.sh test installs it): skipped\n");
		skip();
	}
	set_head(SHA_A);
	set_image("ami-0a0000000000000a1", "available", SHA_A, true);
	assert_int_equal(harness_start(&f->p), 0);
	assert_true(h_wait_pin(&f->p, SUPPORT_ASG, SHA_A, 8000));
	assert_int_equal(h_get(&f->p, "/metrics", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "amicd_source_requests_total{source=\"ec2-api\",outcome=\"ok\"}"));
	assert_non_null(strstr(r.body, "amicd_source_failing{asg=\"" SUPPORT_ASG "\",source=\"gitlab\"} 0"));
	/* the per-ASG gauges (design §4): every state and every problem code, 0 or 1 */
	assert_non_null(strstr(r.body, "amicd_asg_state{asg=\"" SUPPORT_ASG "\",state=\"up_to_date\"} 1\n"));
	assert_non_null(strstr(r.body, "amicd_asg_state{asg=\"" SUPPORT_ASG "\",state=\"waiting\"} 0\n"));
	assert_non_null(strstr(r.body, "amicd_asg_frozen{asg=\"" SUPPORT_ASG "\"} 0\n"));
	assert_non_null(strstr(r.body, "amicd_asg_head_waiting_seconds{asg=\"" SUPPORT_ASG "\"} 0.000\n"));
	assert_non_null(strstr(r.body, "amicd_asg_last_promotion_timestamp_seconds{asg=\"" SUPPORT_ASG "\"} 1"));
	for (size_t i = 0; i < 4; i++) {
		static const char *const codes[] = { "trigger_failed", "trigger_retrying", "pinned_ami_unavailable",
						     "source_failing" };
		char line[160];

		snprintf(line, sizeof line, "amicd_asg_problems{asg=\"%s\",code=\"%s\"} 0\n", SUPPORT_ASG, codes[i]);
		if (strstr(r.body, line) == NULL)
			fail_msg("no line %s in /metrics", line);
	}
	http_result_free(&r);
	/* a new head without its AMI: waiting, and the head's wait counts up from its received_at */
	set_head(SHA_B);
	assert_int_equal(push(&f->p, SHA_A, SHA_B, NULL, &id), 202);
	assert_true(wait_head(&f->p, SHA_B, 5000));
	usleep(1100 * 1000);
	assert_int_equal(h_get(&f->p, "/metrics", NULL, &r), 0);
	assert_non_null(strstr(r.body, "amicd_asg_state{asg=\"" SUPPORT_ASG "\",state=\"waiting\"} 1\n"));
	waited = strstr(r.body, "amicd_asg_head_waiting_seconds{asg=\"" SUPPORT_ASG "\"} ");
	assert_non_null(waited);
	secs = strtod(strchr(waited, '}') + 2, NULL);
	if (secs < 0.5 || secs > 30)
		fail_msg("head waiting %.3f s, expected about 1 s", secs);
	snprintf(path, sizeof path, "%s/metrics.txt", f->p.dir);
	assert_int_equal(support_write_file(f->p.dir, "metrics.txt", r.body), 0);
	http_result_free(&r);
	snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	status = pclose(p);
	if (status != 0)
		fail_msg("promtool check metrics: %s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(no_eventbridge, setup_both, teardown),
		cmocka_unit_test_setup_teardown(bootstrap, setup_both, teardown),
		cmocka_unit_test_setup_teardown(lost_push, setup_short_interval, teardown),
		cmocka_unit_test_setup_teardown(rollback_cycle, setup_both, teardown),
		cmocka_unit_test_setup_teardown(tag_removed, setup_both, teardown),
		cmocka_unit_test_setup_teardown(pinned_gone, setup_both, teardown),
		cmocka_unit_test_setup_teardown(throttling_and_refusal, setup_both, teardown),
		cmocka_unit_test_setup_teardown(assume_role_once, setup_role, teardown),
		cmocka_unit_test_setup_teardown(no_secret_anywhere, setup_role, teardown),
		cmocka_unit_test_setup_teardown(assume_role_once, setup_web_identity, teardown),
		cmocka_unit_test_setup_teardown(no_secret_anywhere, setup_web_identity, teardown),
		cmocka_unit_test_setup_teardown(unchanged_passes_store_nothing, setup_both, teardown),
		cmocka_unit_test_setup_teardown(replay_converges, setup_both, teardown),
		cmocka_unit_test_setup_teardown(ec2_only, setup_ec2_only, teardown),
		cmocka_unit_test_setup_teardown(gitlab_failing, setup_both, teardown),
		cmocka_unit_test_setup_teardown(sigterm_while_a_source_is_silent, setup_both, teardown),
		cmocka_unit_test_setup_teardown(metrics_pass_promtool, setup_both, teardown),
	};

	return h_run_tests("reconcile", tests, group_setup, group_teardown);
}
