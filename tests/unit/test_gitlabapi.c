/*
 * test_gitlabapi.c — gitlab_branch_get against a fake GitLab on 127.0.0.1
 * that checks what GitLab checks: the PRIVATE-TOKEN header (401 otherwise),
 * the project path URL-encoded as one path segment (a raw "/" would be
 * another route: 404), and answers with GitLab's own shapes —
 * {"message":"404 Branch Not Found"}, {"message":"404 Project Not Found"},
 * 429 with Retry-After, a 502 page from a proxy.
 *
 * The fake is fakehttp (tests/unit/fakehttp.h): it sees the raw request, so
 * the bytes curl sent, encoding included.
 */
#include "fakehttp.h"
#include "gitlabapi.h"
#include "repourl.h"
#include "support.h"

#include <arpa/inet.h>
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
#include <unistd.h>

#include <cmocka.h>

#define TOKEN "glpat-test-token-1234567890"
#define PROJECT "/api/v4/projects/platform%2Fgolden-images/repository/branches/"
#define HEAD "61c979eab8ea475e0b84db7556d2049e9dae6d89" /* tests/data/gitlab-branch.json */

struct fake {
	struct fakehttp *srv;
	unsigned port;
	char *branch_json;           /* the fixture */
	pthread_mutex_t lock;
	char last_path[512];         /* the raw request target of the last request */
};

static void json_answer(const struct fakehttp_request *req, int status, const char *body)
{
	fakehttp_answer(req, status, "application/json", NULL, body, strlen(body));
}

static void gitlab(struct fakehttp *srv, const struct fakehttp_request *req, void *cls)
{
	struct fake *f = cls;
	const char *token = fakehttp_header_get(req, "PRIVATE-TOKEN");
	const char *branch;

	pthread_mutex_lock(&f->lock);
	snprintf(f->last_path, sizeof f->last_path, "%s", req->target);
	pthread_mutex_unlock(&f->lock);
	if (strcmp(req->method, "GET") != 0) {
		json_answer(req, 405, "{\"message\":\"405 Method Not Allowed\"}");
		return;
	}
	if (token == NULL || strcmp(token, TOKEN) != 0) {
		json_answer(req, 401, "{\"message\":\"401 Unauthorized\"}");
		return;
	}
	if (strncmp(req->path, PROJECT, strlen(PROJECT)) != 0) {
		json_answer(req, 404, "{\"message\":\"404 Project Not Found\"}");
		return;
	}
	branch = req->path + strlen(PROJECT);
	if (strcmp(branch, "main") == 0) {
		json_answer(req, 200, f->branch_json);
	} else if (strcmp(branch, "release%2F2025%20q1") == 0) {
		json_answer(req, 200, "{\"name\":\"release/2025 q1\",\"commit\":{\"id\":"
				      "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}");
	} else if (strcmp(branch, "limited") == 0) {
		fakehttp_answer(req, 429, "text/plain", "Retry-After: 7\r\n", "Retry later\n", 12);
	} else if (strcmp(branch, "proxy") == 0) {
		fakehttp_answer(req, 502, "text/html", NULL, "<html>502 Bad Gateway</html>", 28);
	} else if (strcmp(branch, "garbled") == 0) {
		json_answer(req, 200, "{\"name\":\"garbled\",\"commit\":{\"id\":\"not-a-commit\"}}");
	} else if (strcmp(branch, "huge") == 0) {
		size_t n = GITLAB_MAX_ANSWER_BYTES + 4096;
		char *big = malloc(n);

		if (big != NULL) {
			memset(big, ' ', n);
			fakehttp_answer(req, 200, "application/json", NULL, big, n);
			free(big);
		}
	} else if (strcmp(branch, "slow") == 0) {
		fakehttp_stall(srv, req); /* the client's timeout must end it */
	} else {
		json_answer(req, 404, "{\"message\":\"404 Branch Not Found\"}");
	}
}

static int fake_start(void **state)
{
	struct fake *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	pthread_mutex_init(&f->lock, NULL);
	f->branch_json = support_fixture("gitlab-branch.json", NULL);
	f->srv = f->branch_json != NULL ? fakehttp_start(gitlab, f) : NULL;
	if (f->srv == NULL)
		return -1;
	f->port = fakehttp_port(f->srv);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*state = f;
	return 0;
}

static int fake_stop(void **state)
{
	struct fake *f = *state;

	fakehttp_stop(f->srv);
	free(f->branch_json);
	pthread_mutex_destroy(&f->lock);
	free(f);
	curl_global_cleanup();
	return 0;
}

/* Ask the fake for branch of repo with token; the answer (the caller frees it). */
static struct gitlab_branch_answer ask(struct fake *f, const char *repo, const char *branch, const char *token,
				       long timeout_ms)
{
	struct gitlab_branch_answer a;
	struct amicd_error err = { { 0 }, { 0 } };
	char api[64];
	char *url;
	struct gitlab_branch_request rq = { .token = token, .timeout_ms = timeout_ms };

	snprintf(api, sizeof api, "http://127.0.0.1:%u", f->port);
	url = repo_url_gitlab_branch(repo, api, branch);
	assert_non_null(url);
	rq.url = url;
	if (gitlab_branch_get(&rq, &a, &err) != AMICD_OK)
		fail_msg("gitlab_branch_get: %s", err.message);
	free(url);
	/* the token is in nothing amicd keeps or says */
	assert_null(strstr(a.error, TOKEN));
	assert_true(a.body == NULL || strstr(a.body, TOKEN) == NULL);
	return a;
}

static const char *http_repo(struct fake *f)
{
	static char repo[128];

	snprintf(repo, sizeof repo, "http://127.0.0.1:%u/platform/golden-images", f->port);
	return repo;
}

static void test_head(void **state)
{
	struct fake *f = *state;
	struct gitlab_branch_answer a = ask(f, http_repo(f), "main", TOKEN, 5000);

	assert_int_equal(a.outcome, GITLAB_BRANCH_HEAD);
	assert_int_equal(a.http_status, 200);
	assert_string_equal(a.commit, HEAD);
	assert_non_null(a.body); /* kept: it becomes the observation's payload */
	assert_non_null(strstr(a.body, "\"protected\": true"));
	pthread_mutex_lock(&f->lock);
	assert_string_equal(f->last_path, PROJECT "main");
	pthread_mutex_unlock(&f->lock);
	gitlab_branch_answer_free(&a);
}

static void test_branch_name_encoded_and_sha256_lower_cased(void **state)
{
	struct fake *f = *state;
	struct gitlab_branch_answer a = ask(f, http_repo(f), "release/2025 q1", TOKEN, 5000);

	assert_int_equal(a.outcome, GITLAB_BRANCH_HEAD);
	assert_string_equal(a.commit, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	gitlab_branch_answer_free(&a);
}

static void test_branch_gone_is_an_outcome_not_an_error(void **state)
{
	struct fake *f = *state;
	struct gitlab_branch_answer a = ask(f, http_repo(f), "deleted-branch", TOKEN, 5000);

	assert_int_equal(a.outcome, GITLAB_BRANCH_GONE);
	assert_int_equal(a.http_status, 404);
	gitlab_branch_answer_free(&a);
}

static void test_failing_sources(void **state)
{
	struct fake *f = *state;
	struct gitlab_branch_answer a = ask(f, http_repo(f), "main", "glpat-wrong", 5000);
	char repo[128];

	/* a wrong token: failing, with GitLab's words, not the token */
	assert_int_equal(a.outcome, GITLAB_BRANCH_FAILING);
	assert_int_equal(a.http_status, 401);
	assert_string_equal(a.error, "GitLab answered 401: 401 Unauthorized");
	assert_null(strstr(a.error, "glpat-wrong"));
	gitlab_branch_answer_free(&a);

	/* a project the token cannot see: also 404, but not "branch gone" */
	snprintf(repo, sizeof repo, "http://127.0.0.1:%u/platform/other", f->port);
	a = ask(f, repo, "main", TOKEN, 5000);
	assert_int_equal(a.outcome, GITLAB_BRANCH_FAILING);
	assert_string_equal(a.error, "GitLab answered 404: 404 Project Not Found");
	gitlab_branch_answer_free(&a);

	/* 200 that is not a branch */
	a = ask(f, http_repo(f), "garbled", TOKEN, 5000);
	assert_int_equal(a.outcome, GITLAB_BRANCH_FAILING);
	assert_non_null(strstr(a.error, "commit.id"));
	gitlab_branch_answer_free(&a);

	/* an answer over the bound is not read to the end */
	a = ask(f, http_repo(f), "huge", TOKEN, 5000);
	assert_int_equal(a.outcome, GITLAB_BRANCH_FAILING);
	assert_non_null(strstr(a.error, "larger than"));
	assert_true(a.body_len <= GITLAB_MAX_ANSWER_BYTES);
	gitlab_branch_answer_free(&a);
}

static void test_transient_trouble_is_retried(void **state)
{
	struct fake *f = *state;
	struct gitlab_branch_answer a = ask(f, http_repo(f), "limited", TOKEN, 5000);
	int64_t t0;

	assert_int_equal(a.outcome, GITLAB_BRANCH_RETRY);
	assert_int_equal(a.http_status, 429);
	assert_int_equal(a.retry_after_s, 7);
	gitlab_branch_answer_free(&a);

	a = ask(f, http_repo(f), "proxy", TOKEN, 5000);
	assert_int_equal(a.outcome, GITLAB_BRANCH_RETRY);
	assert_int_equal(a.http_status, 502);
	assert_string_equal(a.error, "GitLab answered 502");
	gitlab_branch_answer_free(&a);

	/* no answer within the timeout: retried, and the call returned (it is bounded) */
	t0 = support_now_ms();
	a = ask(f, http_repo(f), "slow", TOKEN, 300);
	assert_int_equal(a.outcome, GITLAB_BRANCH_RETRY);
	assert_int_equal(a.http_status, 0);
	assert_non_null(strstr(a.error, "no answer from GitLab"));
	print_message("a silent GitLab was given up after %lld ms (timeout 300 ms)\n",
		      (long long)(support_now_ms() - t0));
	gitlab_branch_answer_free(&a);
}

static void test_unreachable_is_retried(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct gitlab_branch_answer ans;
	struct amicd_error err = { { 0 }, { 0 } };
	char url[160];
	struct gitlab_branch_request rq = { .url = url, .token = TOKEN, .timeout_ms = 5000 };

	(void)state;
	/* a port that was free a moment ago: nothing listens there */
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	snprintf(url, sizeof url, "http://127.0.0.1:%u%smain", ntohs(a.sin_port), PROJECT);
	assert_int_equal(gitlab_branch_get(&rq, &ans, &err), AMICD_OK);
	assert_int_equal(ans.outcome, GITLAB_BRANCH_RETRY);
	assert_non_null(strstr(ans.error, "no answer from GitLab"));
	gitlab_branch_answer_free(&ans);
}

static bool cancel_now(void *cls)
{
	(void)cls;
	return true;
}

static void test_cancelled_transfer_ends(void **state)
{
	struct fake *f = *state;
	struct gitlab_branch_answer a;
	struct amicd_error err = { { 0 }, { 0 } };
	char url[160];
	struct gitlab_branch_request rq = { .url = url, .token = TOKEN, .timeout_ms = 10000, .cancel = cancel_now };

	snprintf(url, sizeof url, "http://127.0.0.1:%u%sslow", f->port, PROJECT);
	assert_int_equal(gitlab_branch_get(&rq, &a, &err), AMICD_OK);
	assert_int_equal(a.outcome, GITLAB_BRANCH_RETRY);
	gitlab_branch_answer_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_branch_name_encoded_and_sha256_lower_cased),
		cmocka_unit_test(test_branch_gone_is_an_outcome_not_an_error),
		cmocka_unit_test(test_failing_sources),
		cmocka_unit_test(test_transient_trouble_is_retried),
		cmocka_unit_test(test_unreachable_is_retried),
		cmocka_unit_test(test_cancelled_transfer_ends),
	};

	return cmocka_run_group_tests_name("gitlabapi", tests, fake_start, fake_stop);
}
