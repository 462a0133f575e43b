/*
 * test_hooks.c — every row of the hook table (design §4) against the real amicd
 * binary: 202 queued, 200 duplicate, 200 ignored, 401, 400 with the JSON path
 * (and the raw body kept), 413, 415, 405, 404, 503 with Retry-After when the
 * store is locked; for POST /hooks/gitlab and POST /hooks/eventbridge. Also the
 * events API, the probes, secrets kept out of the log and the API, and a clean
 * SIGTERM.
 *
 * Each test starts its own amicd in its own temp dir (setup) and stops it
 * (teardown): no test depends on another.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int setup_default(void **state) { return h_proc_setup(state, NULL, true); }

static int setup_small_body(void **state)
{
	struct amicd_opts o = { .max_body_bytes = 4096 };

	return h_proc_setup(state, &o, true);
}

static int setup_signing(void **state)
{
	struct amicd_opts o = { .signing = true };

	return h_proc_setup(state, &o, true);
}

static int setup_signing_only(void **state)
{
	struct amicd_opts o = { .signing_only = true };

	return h_proc_setup(state, &o, true);
}

static int setup_basic(void **state)
{
	struct amicd_opts o = { .basic = true };

	return h_proc_setup(state, &o, true);
}

static int setup_read_token(void **state)
{
	struct amicd_opts o = { .read_token = true };

	return h_proc_setup(state, &o, true);
}

static int setup_short_busy(void **state)
{
	struct amicd_opts o = { .busy_timeout_ms = 100 };

	return h_proc_setup(state, &o, true);
}

static json_t *body_json(const struct http_result *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

	if (j == NULL)
		fail_msg("response is not JSON: %s", r->body);
	return j;
}

static int64_t count_events(struct amicd_proc *p)
{
	return h_db_int(p, "SELECT count(*) FROM events", NULL);
}

/* --- GitLab ------------------------------------------------------------------ */

static void gitlab_push_queued_then_duplicate(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	char word[32];
	int64_t id1 = 0, id2 = 0;

	assert_int_equal(h_post_gitlab(p, "Push Hook", "idem-1", push, &id1, word, sizeof word), 202);
	assert_string_equal(word, "queued");
	assert_true(id1 > 0);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "idem-1", push, &id2, word, sizeof word), 200);
	assert_string_equal(word, "duplicate");
	assert_int_equal(id2, id1);
	assert_int_equal(count_events(p), 1);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE status IN ('queued', 'processed') AND kind = 'push'", NULL), 1);
	free(push);
}

static void gitlab_duplicate_by_event_uuid_and_body(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	char *other = h_fixture_with("gitlab-push.json", "checkout_sha", json_string("a580d6e1e6ce37d05cd5b731b52c416f02966915"));
	const char *h[] = { "Content-Type: application/json", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN,
			    "X-Gitlab-Event: Push Hook", "X-Gitlab-Event-UUID: 7b1c5d6e-uuid", NULL };
	struct http_result r;

	assert_int_equal(h_post(p, "/hooks/gitlab", h, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 202);
	http_result_free(&r);
	assert_int_equal(h_post(p, "/hooks/gitlab", h, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"duplicate\""));
	http_result_free(&r);
	/* same event UUID, different body: not the same delivery */
	assert_int_equal(h_post(p, "/hooks/gitlab", h, other, strlen(other), &r), 0);
	assert_int_equal(r.status, 202);
	http_result_free(&r);
	assert_int_equal(count_events(p), 2);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE delivery_id = ?1", "7b1c5d6e-uuid"), 2);
	free(push);
	free(other);
}

static void gitlab_ignored_kinds(void **state)
{
	struct amicd_proc *p = *state;
	char *tag = support_fixture("gitlab-tag-push.json", NULL);
	char *branch = h_fixture_with("gitlab-push.json", "ref", json_string("refs/heads/feature/x"));
	char *repo = support_fixture("gitlab-push.json", NULL);
	char *mr = strdup("{\"object_kind\":\"merge_request\",\"project\":{}}");
	char word[32];
	int64_t id = 0;
	json_t *doc = json_loads(repo, 0, NULL);

	/* an untracked repository: every URL of the push points elsewhere */
	json_t *proj = json_object_get(doc, "project");
	json_object_set_new(proj, "web_url", json_string("https://gitlab.example.net/other/thing"));
	json_object_set_new(proj, "git_http_url", json_string("https://gitlab.example.net/other/thing.git"));
	json_object_set_new(proj, "git_ssh_url", json_string("git@gitlab.example.net:other/thing.git"));
	free(repo);
	repo = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);

	assert_int_equal(h_post_gitlab(p, "Tag Push Hook", "t-1", tag, &id, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	assert_int_equal(h_post_gitlab(p, "Push Hook", "b-1", branch, &id, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	assert_int_equal(h_post_gitlab(p, "Push Hook", "r-1", repo, &id, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	assert_int_equal(h_post_gitlab(p, "Merge Request Hook", "m-1", mr, &id, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	/* stored, with a note saying why */
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE status = 'ignored' AND note IS NOT NULL", NULL), 4);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE note LIKE '%not tracked%'", NULL), 2);
	free(tag);
	free(branch);
	free(repo);
	free(mr);
}

/* The fixture's push with the project's three URLs pointing at path (on the same host). */
static char *push_of_repo(const char *path, const char *before, const char *after)
{
	char *text = support_fixture("gitlab-push.json", NULL);
	json_t *doc = json_loads(text, 0, NULL);
	json_t *proj = json_object_get(doc, "project");
	char url[256];

	free(text);
	snprintf(url, sizeof url, "https://gitlab.example.net/%s", path);
	json_object_set_new(proj, "web_url", json_string(url));
	snprintf(url, sizeof url, "https://gitlab.example.net/%s.git", path);
	json_object_set_new(proj, "git_http_url", json_string(url));
	snprintf(url, sizeof url, "git@gitlab.example.net:%s.git", path);
	json_object_set_new(proj, "git_ssh_url", json_string(url));
	if (before != NULL)
		json_object_set_new(doc, "before", json_string(before));
	else
		json_object_del(doc, "before");
	if (after != NULL)
		json_object_set_new(doc, "after", json_string(after));
	else
		json_object_del(doc, "after");
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

#define SHA256_A "5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa998877"
#define SHA256_B "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

/*
 * Whether a push matters is decided on its repo and ref first: a push amicd
 * does not follow is ignored (200, stored, with its note) whatever else its
 * body holds, so a group hook is never disabled for one odd project. A SHA-256
 * repository's 64-hex ids are accepted where they matter too.
 */
static void gitlab_untracked_first_sha256(void **state)
{
	struct amicd_proc *p = *state;
	static const struct {
		const char *idem, *path, *before, *after;
		long status;
		const char *word;       /* the status word, or the 400's JSON path */
	} cases[] = {
		/* untracked repository: SHA-256, malformed, missing ids */
		{ "u-1", "other/sha256-thing", SHA256_A, SHA256_B, 200, "ignored" },
		{ "u-2", "other/thing", "not-a-commit", NULL, 200, "ignored" },
		{ "u-3", "other/thing", NULL, NULL, 200, "ignored" },
		/* tracked repository, a branch no ASG follows */
		{ "u-4", "platform/golden-images", "60c8", "xyz", 200, "ignored" },
		/* tracked: the ids matter, 40 or 64 hex */
		{ "u-5", "platform/golden-images", SHA256_A, SHA256_B, 202, "queued" },
		{ "u-6", "platform/golden-images", SHA256_B, "xyz", 400, "$.after" },
		{ "u-7", "platform/golden-images", SHA256_A "0", SHA256_B, 400, "$.before" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *body = push_of_repo(cases[i].path, cases[i].before, cases[i].after);
		const char *h[8];
		char idem_buf[128];
		struct http_result r;
		json_t *j;

		assert_non_null(body);
		if (i == 3) { /* another branch */
			json_t *doc = json_loads(body, 0, NULL);

			json_object_set_new(doc, "ref", json_string("refs/heads/feature/sha256"));
			free(body);
			body = json_dumps(doc, JSON_COMPACT);
			json_decref(doc);
		}
		h_gitlab_headers(h, "Push Hook", cases[i].idem, idem_buf);
		assert_int_equal(h_post(p, "/hooks/gitlab", h, body, strlen(body), &r), 0);
		if (r.status != cases[i].status)
			fail_msg("case %zu: %ld %s", i, r.status, r.body);
		j = body_json(&r);
		if (r.status == 400)
			assert_string_equal(h_text(j, "error.path"), cases[i].word);
		else
			assert_string_equal(h_text(j, "status"), cases[i].word);
		json_decref(j);
		http_result_free(&r);
		free(body);
	}
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE note LIKE 'repository not tracked: "
				  "https://gitlab.example.net/other/%'", NULL), 3);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE note LIKE 'branch not tracked: feature/sha256%'",
				  NULL), 1);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM rejected_deliveries", NULL), 2);
	/* the queued SHA-256 push becomes the head, all 64 digits of it */
	{
		int64_t id = h_db_int(p, "SELECT id FROM events WHERE delivery_id = 'u-5'", NULL);
		json_t *a;

		assert_true(h_wait_event_done(p, id, 15000));
		a = h_asg(p, "workers-stage");
		assert_non_null(a);
		assert_string_equal(h_text(a, "head.commit"), SHA256_B);
		json_decref(a);
	}
}

/*
 * A system hook (X-Gitlab-Event: System Hook) is ignored whatever its body
 * says, with a note pointing to a project or group hook: here a push as
 * GitLab's system hook sends it (its data builder's shape: event_name and
 * object_kind "push", the project and the repository), for the tracked repo
 * and branch, and a repository_update, which has no object_kind.
 */
static void gitlab_system_hook_ignored(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	const char *update = "{\"event_name\":\"repository_update\",\"user_id\":1,\"user_name\":\"Ada Builder\","
			     "\"user_email\":\"ada@example.net\",\"project_id\":812,\"project\":{\"name\":\"golden-images\","
			     "\"web_url\":\"https://gitlab.example.net/platform/golden-images\"},\"changes\":[{\"before\":"
			     "\"60c8eedbd9916e98e042832de430e52be7ffe0ac\",\"after\":\"61c979eab8ea475e0b84db7556d2049e9dae6d89\","
			     "\"ref\":\"refs/heads/main\"}],\"refs\":[\"refs/heads/main\"]}";
	const char *h[] = { "Content-Type: application/json", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN,
			    "X-Gitlab-Event: System Hook", "X-Gitlab-Instance: https://gitlab.example.net",
			    "User-Agent: GitLab/17.6.0", NULL };
	const char *bodies[] = { push, update };
	struct http_result r;
	json_t *j, *a;

	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(h_post(p, "/hooks/gitlab", h, bodies[i], strlen(bodies[i]), &r), 0);
		assert_int_equal(r.status, 200);
		j = body_json(&r);
		assert_string_equal(h_text(j, "status"), "ignored");
		assert_non_null(strstr(h_text(j, "note"), "system hooks are not acted on"));
		assert_non_null(strstr(h_text(j, "note"), "project or group webhook"));
		json_decref(j);
		http_result_free(&r);
	}
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE status = 'ignored' AND kind = 'system'", NULL), 2);
	/* the head did not move */
	a = h_asg(p, "workers-stage");
	assert_non_null(a);
	assert_true(json_is_null(json_object_get(a, "head")));
	json_decref(a);
	free(push);
}

/*
 * GitLab's project paths ignore case: a push naming the tracked repo in another
 * case is tracked (the config says platform/golden-images), and
 * GET /api/v1/commits?repo= finds its commit by any of the repo's URL forms.
 */
static void repo_paths_any_case(void **state)
{
	struct amicd_proc *p = *state;
	char *push = push_of_repo("Platform/Golden-Images", "60c8eedbd9916e98e042832de430e52be7ffe0ac",
				  "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	static const char *const queries[] = {
		"https://gitlab.example.net/platform/golden-images",
		"https://gitlab.example.net/PLATFORM/Golden-Images",
		"https://GITLAB.example.net/platform/golden-images.git",
		"git%40gitlab.example.net%3Aplatform%2Fgolden-images.git",
		"git@gitlab.example.net:Platform/golden-images.git",
		"ssh%3A%2F%2Fgit%40gitlab.example.net%3A2222%2Fplatform%2Fgolden-images.git",
		"https%3A%2F%2Fgitlab.example.net%2Fplatform%2Fgolden-images%2F",
	};
	int64_t id = 0;
	char word[32];
	json_t *j;

	assert_non_null(push);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "case-1", push, &id, word, sizeof word), 202);
	assert_string_equal(word, "queued");
	assert_true(h_wait_event_done(p, id, 15000));
	j = h_asg(p, "workers-stage");
	assert_non_null(j);
	assert_string_equal(h_text(j, "head.commit"), "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	json_decref(j);
	for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
		char path[256];

		snprintf(path, sizeof path, "/api/v1/commits?repo=%s&ref=main", queries[i]);
		j = h_get_json(p, path);
		if (j == NULL || json_array_size(json_object_get(j, "commits")) != 1)
			fail_msg("%s: %s", path, j != NULL ? h_dump(j) : "no answer");
		assert_string_equal(h_text(j, "commits.0.commit"), "61c979eab8ea475e0b84db7556d2049e9dae6d89");
		assert_string_equal(h_text(j, "commits.0.repo"), "https://gitlab.example.net/platform/golden-images");
		json_decref(j);
	}
	/* another repo: nothing */
	j = h_get_json(p, "/api/v1/commits?repo=https://gitlab.example.net/platform/golden-images2");
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "commits")), 0);
	json_decref(j);
	free(push);
}

static void gitlab_branch_delete_queued(void **state)
{
	struct amicd_proc *p = *state;
	char *del = support_fixture("gitlab-push-branch-delete.json", NULL);
	char word[32];

	assert_int_equal(h_post_gitlab(p, "Push Hook", "del-1", del, NULL, word, sizeof word), 202);
	assert_string_equal(word, "queued");
	free(del);
}

static void gitlab_unauthorized(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	const char *wrong[] = { "Content-Type: application/json", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN "x",
				"X-Gitlab-Event: Push Hook", NULL };
	const char *none[] = { "Content-Type: application/json", "X-Gitlab-Event: Push Hook", NULL };
	struct http_result r;

	assert_int_equal(h_post(p, "/hooks/gitlab", wrong, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.body, "\"unauthorized\""));
	http_result_free(&r);
	assert_int_equal(h_post(p, "/hooks/gitlab", none, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(count_events(p), 0);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM rejected_deliveries", NULL), 0);
	free(push);
}

static char *sign(const char *id, const char *ts, const char *body)
{
	static const unsigned char key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
	unsigned char mac[32];
	unsigned int mac_len = 0;
	char *msg = NULL, *out = malloc(64);

	if (asprintf(&msg, "%s.%s.%s", id, ts, body) < 0)
		return NULL;
	HMAC(EVP_sha256(), key, sizeof key, (unsigned char *)msg, strlen(msg), mac, &mac_len);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len);
	free(msg);
	return out;
}

/*
 * POST a Push Hook signed as GitLab signs it (Standard Webhooks, the HMAC
 * computed above with OpenSSL, not with amicd's code), with the headers
 * GitLab's WebHookService sends; token NULL sends no X-Gitlab-Token. The status.
 */
static long post_signed_as(struct amicd_proc *p, const char *body, const char *id, long ts_offset, bool tamper,
			   const char *token, const char *content_type)
{
	char ts[32], id_h[96], ts_h[64], sig_h[160], token_h[128], ct_h[96];
	char *sig;
	struct http_result r;
	long code;
	size_t n = 0;
	const char *h[10];

	snprintf(ts, sizeof ts, "%ld", (long)time(NULL) + ts_offset);
	sig = sign(id, ts, body);
	if (tamper)
		sig[0] = sig[0] == 'A' ? 'B' : 'A';
	snprintf(id_h, sizeof id_h, "webhook-id: %s", id);
	snprintf(ts_h, sizeof ts_h, "webhook-timestamp: %s", ts);
	snprintf(sig_h, sizeof sig_h, "webhook-signature: v1,bm90LXRoaXMtb25l v1,%s", sig);
	snprintf(ct_h, sizeof ct_h, "Content-Type: %s", content_type);
	h[n++] = ct_h;
	if (token != NULL) {
		snprintf(token_h, sizeof token_h, "X-Gitlab-Token: %s", token);
		h[n++] = token_h;
	}
	h[n++] = "X-Gitlab-Event: Push Hook";
	h[n++] = "User-Agent: GitLab/17.6.0";
	h[n++] = id_h;
	h[n++] = ts_h;
	h[n++] = sig_h;
	h[n] = NULL;
	assert_int_equal(h_post(p, "/hooks/gitlab", h, body, strlen(body), &r), 0);
	code = r.status;
	http_result_free(&r);
	free(sig);
	return code;
}

static long post_signed(struct amicd_proc *p, const char *body, const char *id, long ts_offset, bool tamper)
{
	return post_signed_as(p, body, id, ts_offset, tamper, SUPPORT_GITLAB_TOKEN, "application/json");
}

static void gitlab_signature(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	const char *h[] = { "Content-Type: application/json", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN,
			    "X-Gitlab-Event: Push Hook", NULL };
	struct http_result r;

	assert_int_equal(post_signed(p, push, "msg_1", 0, false), 202);
	assert_int_equal(post_signed(p, push, "msg_2", 0, true), 401);
	assert_int_equal(post_signed(p, push, "msg_3", -400, false), 401);
	assert_int_equal(post_signed(p, push, "msg_4", 400, false), 401);
	assert_int_equal(post_signed(p, push, "msg_5", -200, false), 200); /* same body, no key: duplicate */
	/* the right token without any signature is not enough when signing is configured */
	assert_int_equal(h_post(p, "/hooks/gitlab", h, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(count_events(p), 1);
	free(push);
}

/* With both a secret token and signing configured, each must pass on its own. */
static void gitlab_signature_and_token_both_needed(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);

	assert_int_equal(post_signed_as(p, push, "msg_b1", 0, false, SUPPORT_GITLAB_TOKEN "x", "application/json"), 401);
	assert_int_equal(post_signed_as(p, push, "msg_b2", 0, false, NULL, "application/json"), 401);
	assert_int_equal(post_signed_as(p, push, "msg_b3", 0, true, SUPPORT_GITLAB_TOKEN, "application/json"), 401);
	assert_int_equal(count_events(p), 0);
	assert_int_equal(post_signed_as(p, push, "msg_b4", 0, false, SUPPORT_GITLAB_TOKEN, "application/json"), 202);
	assert_int_equal(count_events(p), 1);
	free(push);
}

/*
 * A hook with a signing token and no secret token (GitLab allows it): a signed
 * delivery without X-Gitlab-Token is accepted; an unsigned, badly signed or
 * stale one is not; the Content-Type is judged only once the signature holds.
 */
static void gitlab_signing_only(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	const char *unsigned_h[] = { "Content-Type: application/json", "X-Gitlab-Event: Push Hook", NULL };
	const char *token_only[] = { "Content-Type: application/json", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN,
				     "X-Gitlab-Event: Push Hook", NULL };
	const char *text_unsigned[] = { "Content-Type: text/plain", "X-Gitlab-Event: Push Hook", NULL };
	struct http_result r;
	json_t *j;

	assert_int_equal(post_signed_as(p, push, "msg_s1", 0, false, NULL, "application/json"), 202);
	assert_int_equal(post_signed_as(p, push, "msg_s2", 0, true, NULL, "application/json"), 401);
	assert_int_equal(post_signed_as(p, push, "msg_s3", -400, false, NULL, "application/json"), 401);
	assert_int_equal(h_post(p, "/hooks/gitlab", unsigned_h, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(h_post(p, "/hooks/gitlab", token_only, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	/* 401 before 415: unsigned with a wrong type learns nothing; signed with a wrong type gets 415 */
	assert_int_equal(h_post(p, "/hooks/gitlab", text_unsigned, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(post_signed_as(p, push, "msg_s4", 0, true, NULL, "text/plain"), 401);
	assert_int_equal(post_signed_as(p, push, "msg_s5", 0, false, NULL, "text/plain"), 415);
	assert_int_equal(count_events(p), 1);
	/* the stored delivery keeps the signature's id and time, never the signature */
	j = h_get_json(p, "/api/v1/events/1");
	assert_non_null(j);
	assert_string_equal(h_text(j, "headers.webhook-id"), "msg_s1");
	assert_null(h_json_at(j, "headers.webhook-signature"));
	json_decref(j);
	free(push);
}

/* 401 before 415 on every authenticated route that takes a body. */
static void unauthenticated_wrong_type_gets_401(void **state)
{
	struct amicd_proc *p = *state;
	static const char *const paths[] = { "/hooks/gitlab", "/hooks/eventbridge", "/api/v1/admin/replay",
					     "/api/v1/admin/asgs/workers-stage/freeze" };
	const char *none[] = { "Content-Type: text/plain", NULL };
	const char *wrong[] = { "Content-Type: application/xml", "X-Gitlab-Token: nope", "X-Api-Key: nope",
				"Authorization: Bearer nope", NULL };
	const char *no_type[] = { "X-Gitlab-Event: Push Hook", NULL };

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct http_result r;

		assert_int_equal(h_post(p, paths[i], none, "<x/>", 4, &r), 0);
		assert_int_equal(r.status, 401);
		assert_null(strstr(r.body, "Content-Type"));
		http_result_free(&r);
		assert_int_equal(h_post(p, paths[i], wrong, "<x/>", 4, &r), 0);
		assert_int_equal(r.status, 401);
		http_result_free(&r);
		assert_int_equal(h_post(p, paths[i], no_type, "{}", 2, &r), 0);
		assert_int_equal(r.status, 401);
		http_result_free(&r);
	}
	assert_int_equal(count_events(p), 0);
}

static void gitlab_bad_request_keeps_body(void **state)
{
	struct amicd_proc *p = *state;
	char *no_after = h_fixture_with("gitlab-push.json", "after", NULL);
	char *bad_url = h_fixture_with("gitlab-push.json", "project.web_url", json_integer(7));
	const char *h[8];
	char idem_buf[128];
	struct http_result r;
	json_t *j;

	h_gitlab_headers(h, "Push Hook", "bad-1", idem_buf);
	assert_int_equal(h_post(p, "/hooks/gitlab", h, "{\"ref\": [", 9, &r), 0);
	assert_int_equal(r.status, 400);
	j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "malformed_json");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "path")), "$");
	json_decref(j);
	http_result_free(&r);

	assert_int_equal(h_post(p, "/hooks/gitlab", h, no_after, strlen(no_after), &r), 0);
	assert_int_equal(r.status, 400);
	j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "path")), "$.after");
	json_decref(j);
	http_result_free(&r);

	assert_int_equal(h_post(p, "/hooks/gitlab", h, bad_url, strlen(bad_url), &r), 0);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"$.project.web_url\""));
	http_result_free(&r);

	assert_int_equal(count_events(p), 0);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM rejected_deliveries WHERE source = 'gitlab'", NULL), 3);
	assert_int_equal(h_db_int(p, "SELECT length(body) FROM rejected_deliveries WHERE json_path = '$.after'", NULL),
			 (int64_t)strlen(no_after));
	free(no_after);
	free(bad_url);
}

static void gitlab_too_large(void **state)
{
	struct amicd_proc *p = *state;
	size_t n = 8192;
	char *big = malloc(n + 1);
	const char *h[8];
	char idem_buf[128];
	struct http_result r;

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	h_gitlab_headers(h, "Push Hook", "big-1", idem_buf);
	assert_int_equal(h_post(p, "/hooks/gitlab", h, big, n, &r), 0);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "payload_too_large"));
	http_result_free(&r);
	assert_int_equal(count_events(p), 0);
	free(big);
}

static void gitlab_media_type_method_path(void **state)
{
	struct amicd_proc *p = *state;
	const char *text[] = { "Content-Type: text/plain", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN, NULL };
	struct http_result r;
	char allow[64];

	assert_int_equal(h_post(p, "/hooks/gitlab", text, "{}", 2, &r), 0);
	assert_int_equal(r.status, 415);
	http_result_free(&r);
	assert_int_equal(h_get(p, "/hooks/gitlab", NULL, &r), 0);
	assert_int_equal(r.status, 405);
	assert_non_null(http_result_header(&r, "Allow", allow, sizeof allow));
	assert_string_equal(allow, "POST");
	http_result_free(&r);
	assert_int_equal(h_post(p, "/hooks/nothing", text, "{}", 2, &r), 0);
	assert_int_equal(r.status, 404);
	http_result_free(&r);
	assert_int_equal(h_post(p, "/healthz", text, "{}", 2, &r), 0);
	assert_int_equal(r.status, 405);
	http_result_free(&r);
}

/* The store is locked past busy_timeout_ms: 503 with Retry-After, nothing stored; then it works. */
static void store_locked_answers_503(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	char *eb = support_fixture("eventbridge-ami-state-change.json", NULL);
	sqlite3 *db = NULL;
	const char *h[8];
	char idem_buf[128], retry[16];
	struct http_result r;

	assert_int_equal(sqlite3_open(p->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000); /* amicd's worker may hold the lock for a moment */
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	h_gitlab_headers(h, "Push Hook", "locked-1", idem_buf);
	assert_int_equal(h_post(p, "/hooks/gitlab", h, push, strlen(push), &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(http_result_header(&r, "Retry-After", retry, sizeof retry));
	assert_true(atoi(retry) > 0);
	assert_non_null(strstr(r.body, "store_unavailable"));
	assert_null(strstr(r.body, "database is locked")); /* SQLite's detail stays in the log */
	http_result_free(&r);
	assert_int_equal(h_post_eb(p, eb, NULL, NULL, 0), 503);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count_events(p), 0);
	/* the sender's retry succeeds */
	assert_int_equal(h_post_gitlab(p, "Push Hook", "locked-1", push, NULL, NULL, 0), 202);
	assert_int_equal(h_post_eb(p, eb, NULL, NULL, 0), 202);
	assert_int_equal(count_events(p), 2);
	assert_true(h_log_contains(p, "delivery not stored"));
	free(push);
	free(eb);
}

/* --- EventBridge --------------------------------------------------------------- */

static void eventbridge_kinds_queued_and_duplicate(void **state)
{
	struct amicd_proc *p = *state;
	static const char *const fixtures[][2] = {
		{ "eventbridge-ami-state-change.json", "ami_state" },
		{ "eventbridge-cloudtrail-modifyimageattribute.json", "ami_launch_permission" },
		{ "eventbridge-cloudtrail-createtags.json", "ami_tags" },
		{ "eventbridge-ami-shared.json", "ami_shared" },
	};

	for (size_t i = 0; i < 4; i++) {
		char *body = support_fixture(fixtures[i][0], NULL);
		char word[32];
		int64_t id = 0, id2 = 0;

		assert_int_equal(h_post_eb(p, body, &id, word, sizeof word), 202);
		assert_string_equal(word, "queued");
		assert_int_equal(h_post_eb(p, body, &id2, word, sizeof word), 200);
		assert_string_equal(word, "duplicate");
		assert_int_equal(id, id2);
		{
			char sql[128];

			snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE id = %lld AND kind = ?1", (long long)id);
			assert_int_equal(h_db_int(p, sql, fixtures[i][1]), 1);
		}
		free(body);
	}
	assert_int_equal(count_events(p), 4);
}

static void eventbridge_ignored(void **state)
{
	struct amicd_proc *p = *state;
	char *other = h_fixture_with("eventbridge-ami-state-change.json", "detail-type", json_string("EC2 Instance State-change Notification"));
	char *err = h_fixture_with("eventbridge-cloudtrail-createtags.json", "detail.errorCode", json_string("Client.UnauthorizedOperation"));
	char *err2 = NULL;
	char word[32];
	json_t *doc = json_loads(err, 0, NULL);

	json_object_set_new(doc, "id", json_string("another-id-for-the-error-record"));
	err2 = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_int_equal(h_post_eb(p, other, NULL, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	assert_int_equal(h_post_eb(p, err2, NULL, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE status = 'ignored'", NULL), 2);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE note LIKE '%UnauthorizedOperation%'", NULL), 1);
	free(other);
	free(err);
	free(err2);
}

static void eventbridge_unauthorized(void **state)
{
	struct amicd_proc *p = *state;
	char *body = support_fixture("eventbridge-ami-shared.json", NULL);
	const char *wrong[] = { "Content-Type: application/json", "X-Api-Key: nope", NULL };
	const char *none[] = { "Content-Type: application/json", NULL };
	struct http_result r;

	assert_int_equal(h_post(p, "/hooks/eventbridge", wrong, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(h_post(p, "/hooks/eventbridge", none, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(count_events(p), 0);
	free(body);
}

static void eventbridge_basic_auth(void **state)
{
	struct amicd_proc *p = *state;
	char *body = support_fixture("eventbridge-ami-shared.json", NULL);
	char authz[128];
	const char *h[] = { "Content-Type: application/json", authz, NULL };
	unsigned char b64[96];
	struct http_result r;

	EVP_EncodeBlock(b64, (const unsigned char *)SUPPORT_EB_USER ":" SUPPORT_EB_PASSWORD, (int)strlen(SUPPORT_EB_USER ":" SUPPORT_EB_PASSWORD));
	snprintf(authz, sizeof authz, "Authorization: Basic %s", b64);
	assert_int_equal(h_post(p, "/hooks/eventbridge", h, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 202);
	http_result_free(&r);
	EVP_EncodeBlock(b64, (const unsigned char *)SUPPORT_EB_USER ":wrong", (int)strlen(SUPPORT_EB_USER ":wrong"));
	snprintf(authz, sizeof authz, "Authorization: Basic %s", b64);
	assert_int_equal(h_post(p, "/hooks/eventbridge", h, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	free(body);
}

static void eventbridge_bad_request(void **state)
{
	struct amicd_proc *p = *state;
	static const char *const paths[][2] = {
		{ "id", "$.id" },
		{ "detail", "$.detail" },
		{ "detail.ImageId", "$.detail.ImageId" },
		{ "region", "$.region" },
	};

	for (size_t i = 0; i < 4; i++) {
		char *body = h_fixture_with("eventbridge-ami-state-change.json", paths[i][0], NULL);
		const char *h[4];
		struct http_result r;
		json_t *j;

		h_eb_headers(h);
		assert_int_equal(h_post(p, "/hooks/eventbridge", h, body, strlen(body), &r), 0);
		assert_int_equal(r.status, 400);
		j = body_json(&r);
		assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "path")), paths[i][1]);
		json_decref(j);
		http_result_free(&r);
		free(body);
	}
	assert_int_equal(count_events(p), 0);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM rejected_deliveries WHERE source = 'eventbridge'", NULL), 4);
}

static void eventbridge_too_large_media_method(void **state)
{
	struct amicd_proc *p = *state;
	size_t n = 5000;
	char *big = malloc(n + 1);
	const char *h[4];
	const char *text[] = { "Content-Type: text/plain", "X-Api-Key: " SUPPORT_EB_KEY, NULL };
	struct http_result r;
	char allow[64];

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	h_eb_headers(h);
	assert_int_equal(h_post(p, "/hooks/eventbridge", h, big, n, &r), 0);
	assert_int_equal(r.status, 413);
	http_result_free(&r);
	assert_int_equal(h_post(p, "/hooks/eventbridge", text, "{}", 2, &r), 0);
	assert_int_equal(r.status, 415);
	http_result_free(&r);
	assert_int_equal(h_get(p, "/hooks/eventbridge", NULL, &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(http_result_header(&r, "Allow", allow, sizeof allow), "POST");
	http_result_free(&r);
	free(big);
}

/* --- events API, probes, secrets, shutdown --------------------------------------- */

static void events_api(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	char *eb = support_fixture("eventbridge-ami-shared.json", NULL);
	struct http_result r;
	json_t *j, *events;
	int64_t first = 0;
	char path[64];

	assert_int_equal(h_post_gitlab(p, "Push Hook", "api-1", push, &first, NULL, 0), 202);
	for (int i = 2; i <= 5; i++) {
		char key[16];

		snprintf(key, sizeof key, "api-%d", i);
		assert_int_equal(h_post_gitlab(p, "Push Hook", key, push, NULL, NULL, 0), 202);
	}
	assert_int_equal(h_post_eb(p, eb, NULL, NULL, 0), 202);

	assert_int_equal(h_get(p, "/api/v1/events?limit=4", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	events = json_object_get(j, "events");
	assert_int_equal(json_array_size(events), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "id")), 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(events, 0), "source")), "eventbridge");
	assert_string_equal(json_string_value(json_object_get(json_array_get(events, 0), "delivery_id")),
			    "0b6c2f0e-9a61-4c4e-9d1f-6f0a3c2b7e11");
	assert_int_equal(json_integer_value(json_object_get(j, "next")), 3);
	json_decref(j);
	http_result_free(&r);

	assert_int_equal(h_get(p, "/api/v1/events?limit=4&before=3", NULL, &r), 0);
	j = body_json(&r);
	assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
	assert_true(json_is_null(json_object_get(j, "next")));
	json_decref(j);
	http_result_free(&r);

	assert_int_equal(h_get(p, "/api/v1/events?limit=0", NULL, &r), 0);
	assert_int_equal(r.status, 400);
	http_result_free(&r);

	snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)first);
	assert_int_equal(h_get(p, path, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "payload"), "after")),
			    "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "headers"), "x-gitlab-event")), "Push Hook");
	assert_null(json_object_get(json_object_get(j, "headers"), "x-gitlab-token"));
	assert_string_equal(json_string_value(json_object_get(j, "delivery_id")), "api-1");
	json_decref(j);
	http_result_free(&r);

	assert_int_equal(h_get(p, "/api/v1/events/6", NULL, &r), 0);
	assert_null(strstr(r.body, SUPPORT_EB_KEY));
	assert_null(strstr(r.body, "x-api-key"));
	http_result_free(&r);

	assert_int_equal(h_get(p, "/api/v1/events/999", NULL, &r), 0);
	assert_int_equal(r.status, 404);
	http_result_free(&r);
	free(push);
	free(eb);
}

/*
 * Stored headers are an allow-list (design §4): the custom headers a user adds
 * to a GitLab hook, or as an API destination's header parameters, may carry
 * credentials, and neither the database nor GET /api/v1/events/{id} ever holds
 * them. What the senders themselves send is kept.
 */
static void custom_headers_never_stored(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	char *eb = support_fixture("eventbridge-ami-shared.json", NULL);
	static const char *const custom_values[] = { "vault-s3cr3t-9d1f", "custom-auth-77aa", "203.0.113.9",
						     "tenant-42-secret", "Bearer ey-custom-jwt", "session=abc123" };
	const char *gitlab_h[] = {
		"Content-Type: application/json", "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN, "X-Gitlab-Event: Push Hook",
		"X-Gitlab-Instance: https://gitlab.example.net", "X-Gitlab-Webhook-UUID: 2f3e6c1a-webhook",
		"X-Gitlab-Event-UUID: 9a8b7c6d-event", "Idempotency-Key: 5b0c6d3e-idem", "User-Agent: GitLab/17.6.0",
		/* added by the user in the hook's "Custom headers" */
		"X-Vault-Credential: vault-s3cr3t-9d1f", "X-Custom-Auth: custom-auth-77aa", "X-Forwarded-For: 203.0.113.9",
		"X-Tenant: tenant-42-secret", "Authorization: Bearer ey-custom-jwt", "Cookie: session=abc123",
		"X-Gitlab-Vault-Credential: vault-s3cr3t-9d1f", NULL };
	const char *eb_h[] = { "Content-Type: application/json; charset=utf-8", "X-Api-Key: " SUPPORT_EB_KEY,
			       "User-Agent: Amazon/EventBridge/ApiDestinations", "X-Tenant: tenant-42-secret",
			       "X-Vault-Credential: vault-s3cr3t-9d1f", NULL };
	static const char *const gitlab_kept[] = { "content-type", "x-gitlab-event", "x-gitlab-instance",
						   "x-gitlab-webhook-uuid", "x-gitlab-event-uuid", "idempotency-key",
						   "user-agent", "content-length" };
	int64_t ids[2] = { 0, 0 };

	assert_int_equal(h_post_hook(p, "/hooks/gitlab", gitlab_h, push, &ids[0], NULL, 0), 202);
	assert_int_equal(h_post_hook(p, "/hooks/eventbridge", eb_h, eb, &ids[1], NULL, 0), 202);
	for (size_t k = 0; k < 2; k++) {
		char path[64];
		struct http_result r;
		json_t *j;
		const char *name;
		json_t *v;

		snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)ids[k]);
		assert_int_equal(h_get(p, path, NULL, &r), 0);
		assert_int_equal(r.status, 200);
		for (size_t i = 0; i < sizeof custom_values / sizeof custom_values[0]; i++)
			if (strstr(r.body, custom_values[i]) != NULL)
				fail_msg("%s shows %s: %s", path, custom_values[i], r.body);
		assert_null(strstr(r.body, SUPPORT_GITLAB_TOKEN));
		assert_null(strstr(r.body, SUPPORT_EB_KEY));
		j = body_json(&r);
		json_object_foreach(json_object_get(j, "headers"), name, v) {
			bool ok = false;

			for (size_t i = 0; k == 0 && i < sizeof gitlab_kept / sizeof gitlab_kept[0]; i++)
				ok = ok || strcmp(name, gitlab_kept[i]) == 0;
			if (k == 1)
				ok = strcmp(name, "content-type") == 0 || strcmp(name, "user-agent") == 0 ||
				     strcmp(name, "content-length") == 0;
			if (!ok)
				fail_msg("%s stores header %s", path, name);
		}
		if (k == 0) {
			assert_string_equal(h_text(j, "headers.x-gitlab-instance"), "https://gitlab.example.net");
			assert_string_equal(h_text(j, "headers.idempotency-key"), "5b0c6d3e-idem");
		} else {
			assert_string_equal(h_text(j, "headers.user-agent"), "Amazon/EventBridge/ApiDestinations");
		}
		json_decref(j);
		http_result_free(&r);
	}
	for (size_t i = 0; i < sizeof custom_values / sizeof custom_values[0]; i++)
		assert_int_equal(h_db_int(p, "SELECT count(*) FROM event_bodies WHERE instr(headers, ?1) > 0", custom_values[i]), 0);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM event_bodies WHERE headers LIKE '%x-vault%' OR headers LIKE '%cookie%'"
				  " OR headers LIKE '%authorization%' OR headers LIKE '%x-forwarded%'", NULL), 0);
	free(push);
	free(eb);
}

static void read_token_protects_api(void **state)
{
	struct amicd_proc *p = *state;
	const char *good[] = { "Authorization: Bearer " SUPPORT_READ_TOKEN, NULL };
	const char *admin[] = { "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL };
	const char *bad[] = { "Authorization: Bearer nope", NULL };
	struct http_result r;

	assert_int_equal(h_get(p, "/api/v1/events", NULL, &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(h_get(p, "/api/v1/events", bad, &r), 0);
	assert_int_equal(r.status, 401);
	http_result_free(&r);
	assert_int_equal(h_get(p, "/api/v1/events", good, &r), 0);
	assert_int_equal(r.status, 200);
	http_result_free(&r);
	assert_int_equal(h_get(p, "/api/v1/events", admin, &r), 0);
	assert_int_equal(r.status, 200);
	http_result_free(&r);
	/* probes stay open for the platform */
	assert_int_equal(h_get(p, "/healthz", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	http_result_free(&r);
}

static void probes(void **state)
{
	struct amicd_proc *p = *state;
	struct http_result r;

	assert_int_equal(h_get(p, "/healthz", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	http_result_free(&r);
	assert_int_equal(h_get(p, "/readyz", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "ready"));
	http_result_free(&r);
}

static void secrets_never_logged(void **state)
{
	struct amicd_proc *p = *state;
	char *push = support_fixture("gitlab-push.json", NULL);
	char *eb = support_fixture("eventbridge-ami-shared.json", NULL);
	const char *wrong[] = { "Content-Type: application/json", "X-Gitlab-Token: guess-" SUPPORT_GITLAB_TOKEN, NULL };
	struct http_result r;

	assert_int_equal(h_post_gitlab(p, "Push Hook", "s-1", push, NULL, NULL, 0), 202);
	assert_int_equal(h_post_eb(p, eb, NULL, NULL, 0), 202);
	assert_int_equal(h_post(p, "/hooks/gitlab", wrong, push, strlen(push), &r), 0);
	http_result_free(&r);
	assert_int_equal(harness_stop(p, SIGTERM, 10000), 0);
	assert_false(h_log_contains(p, SUPPORT_GITLAB_TOKEN));
	assert_false(h_log_contains(p, SUPPORT_EB_KEY));
	assert_false(h_log_contains(p, SUPPORT_ADMIN_TOKEN));
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM event_bodies WHERE headers LIKE '%" SUPPORT_GITLAB_TOKEN "%'"
				  " OR headers LIKE '%" SUPPORT_EB_KEY "%'", NULL), 0);
	free(push);
	free(eb);
}

static void sigterm_exits_zero(void **state)
{
	struct amicd_proc *p = *state;

	assert_int_equal(harness_stop(p, SIGTERM, 10000), 0);
	assert_true(h_log_contains(p, "\"msg\":\"stopped\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(gitlab_push_queued_then_duplicate, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_duplicate_by_event_uuid_and_body, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_ignored_kinds, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_untracked_first_sha256, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_system_hook_ignored, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(repo_paths_any_case, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_branch_delete_queued, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_unauthorized, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_signature, setup_signing, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_signature_and_token_both_needed, setup_signing, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_signing_only, setup_signing_only, h_proc_teardown),
		cmocka_unit_test_setup_teardown(unauthenticated_wrong_type_gets_401, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_bad_request_keeps_body, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_too_large, setup_small_body, h_proc_teardown),
		cmocka_unit_test_setup_teardown(gitlab_media_type_method_path, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(store_locked_answers_503, setup_short_busy, h_proc_teardown),
		cmocka_unit_test_setup_teardown(eventbridge_kinds_queued_and_duplicate, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(eventbridge_ignored, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(eventbridge_unauthorized, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(eventbridge_basic_auth, setup_basic, h_proc_teardown),
		cmocka_unit_test_setup_teardown(eventbridge_bad_request, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(eventbridge_too_large_media_method, setup_small_body, h_proc_teardown),
		cmocka_unit_test_setup_teardown(events_api, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(custom_headers_never_stored, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(read_token_protects_api, setup_read_token, h_proc_teardown),
		cmocka_unit_test_setup_teardown(probes, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(secrets_never_logged, setup_default, h_proc_teardown),
		cmocka_unit_test_setup_teardown(sigterm_exits_zero, setup_default, h_proc_teardown),
	};

	return h_run_tests("integration: hooks", tests, NULL, NULL);
}
