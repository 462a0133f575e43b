/*
 * test_oplogs.c — what an operator chasing a problem gets from amicd's log
 * lines and answers (issue 11, item 10), against the real binary:
 *
 *   - every 401 line (GitLab, EventBridge, admin, read API) names the client's
 *     address ("remote") and any X-Forwarded-For the router added;
 *   - an ignored delivery's log line carries its note (why it was ignored);
 *   - "pinned AMI unavailable" names the AMI (image_id);
 *   - a failed trigger attempt names the URL, without user:password@ or query;
 *   - an admin 404 names the ASG it did not find;
 *   - GET /api/v1/amis?account= with an account not in the configuration is a
 *     400 naming it and the configured ones, not an empty list;
 *   - a replay naming event ids that do not exist is a 400 naming them, and
 *     replays nothing.
 *
 * Log lines are matched whole: the message and the field on one line.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASG "workers-stage"
#define SHA_PARENT "60c8eedbd9916e98e042832de430e52be7ffe0ac"
#define SHA_A "61c979eab8ea475e0b84db7556d2049e9dae6d89"
#define AMI_A "ami-08fdc871471476ef5"
#define ADMIN_AUTH "Authorization: Bearer " SUPPORT_ADMIN_TOKEN
#define WAIT_MS 15000
/* port 9 (discard) on loopback: nothing listens, every attempt fails at once */
#define SECRET_URL "http://trigger-user:pa55w0rd-in-url@127.0.0.1:9/terraform-resources?token=q-s3cret"
#define LOGGED_URL "\"url\":\"http://127.0.0.1:9/terraform-resources\""

static int setup_default(void **state) { return h_fx_setup(state, NULL, 0); }

static int setup_read_token(void **state)
{
	struct amicd_opts o = { .read_token = true };

	return h_fx_setup(state, &o, 0);
}

static int setup_secret_url(void **state)
{
	struct amicd_opts o = { .trigger_url = SECRET_URL, .trigger_extra = "  max_attempts: 2\n" };

	return h_fx_setup(state, &o, 0);
}

static int teardown(void **state)
{
	struct h_fx *f = *state;
	int rc = h_stop_and_check(&f->p);

	h_fx_teardown(state);
	return rc;
}

/* --- helpers ------------------------------------------------------------------------- */

struct line_want {
	const struct amicd_proc *p;
	const char *msg;
	const char *needle;
};

/* A line of p's log with "msg":"<msg>" and needle on it. */
static bool has_line(void *ctx)
{
	const struct line_want *w = ctx;
	char *log = support_read_file(w->p->log, NULL), msg[256];
	bool found = false;

	if (log == NULL)
		return false;
	snprintf(msg, sizeof msg, "\"msg\":\"%s\"", w->msg);
	for (char *line = log, *nl; line != NULL && *line != '\0' && !found; line = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		found = strstr(line, msg) != NULL && strstr(line, w->needle) != NULL;
	}
	free(log);
	return found;
}

/* Wait (bounded) for a log line with msg and needle; fails the test naming both. */
static void want_line(const struct amicd_proc *p, const char *msg, const char *needle)
{
	struct line_want w = { p, msg, needle };

	if (!support_wait_until(has_line, &w, WAIT_MS))
		fail_msg("no log line \"%s\" with %s in %s", msg, needle, p->log);
}

static long request(const struct amicd_proc *p, const char *method, const char *path, const char *const *headers,
		    const char *body, json_t **out)
{
	struct http_result r;
	long status;

	if (strcmp(method, "GET") == 0)
		assert_int_equal(h_get(p, path, headers, &r), 0);
	else
		assert_int_equal(h_post(p, path, headers, body, strlen(body), &r), 0);
	status = r.status;
	if (out != NULL) {
		*out = json_loadb(r.body, r.body_len, 0, NULL);
		if (*out == NULL)
			fail_msg("%s %s answered %ld with a body that is not JSON: %s", method, path, status, r.body);
	}
	http_result_free(&r);
	return status;
}

static long post_admin(const struct amicd_proc *p, const char *path, const char *body, json_t **out)
{
	const char *h[] = { "Content-Type: application/json", ADMIN_AUTH, NULL };

	return request(p, "POST", path, h, body, out);
}

/* push A and the AMI A shared with the ASG's account: pinned to A. */
static void pin_a(const struct amicd_proc *p)
{
	char *push = h_push_variant(SHA_PARENT, SHA_A), *ev = h_ami_shared_variant("ops-shared", AMI_A, SHA_A, NULL, true);
	char word[32];

	assert_non_null(push);
	assert_non_null(ev);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "ops-push-a", push, NULL, word, sizeof word), 202);
	assert_int_equal(h_post_eb(p, ev, NULL, NULL, 0), 202);
	assert_true(h_wait_pin(p, ASG, SHA_A, WAIT_MS));
	free(ev);
	free(push);
}

/* --- tests ------------------------------------------------------------------------------ */

/* Every 401 line names the remote address, and the X-Forwarded-For the router added. */
static void unauthorized_lines_name_the_remote(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	char *push = support_fixture("gitlab-push.json", NULL);
	const char *gitlab[] = { "Content-Type: application/json", "X-Gitlab-Token: wrong", "X-Gitlab-Event: Push Hook",
				 "X-Forwarded-For: 203.0.113.7", NULL };
	const char *eb[] = { "Content-Type: application/json", "x-api-key: wrong", NULL };
	const char *admin[] = { "Content-Type: application/json", "Authorization: Bearer wrong", NULL };
	const char *reader[] = { "Authorization: Bearer wrong", NULL };

	assert_non_null(push);
	assert_int_equal(request(p, "POST", "/hooks/gitlab", gitlab, push, NULL), 401);
	assert_int_equal(request(p, "POST", "/hooks/eventbridge", eb, "{}", NULL), 401);
	assert_int_equal(request(p, "POST", "/api/v1/admin/asgs/" ASG "/freeze", admin, "{\"reason\":\"x\"}", NULL), 401);
	assert_int_equal(request(p, "GET", "/api/v1/asgs", reader, NULL, NULL), 401);
	want_line(p, "gitlab delivery refused: bad token", "\"remote\":\"127.0.0.1\",\"forwarded_for\":\"203.0.113.7\"");
	want_line(p, "eventbridge delivery refused: bad credentials", "\"remote\":\"127.0.0.1\"");
	want_line(p, "admin request refused: bad token", "\"remote\":\"127.0.0.1\"");
	want_line(p, "read request refused: bad token", "\"remote\":\"127.0.0.1\"");
	want_line(p, "read request refused: bad token", "\"path\":\"/api/v1/asgs\"");
	free(push);
}

/* An ignored delivery's line says why. */
static void ignored_delivery_logs_its_note(void **state)
{
	struct h_fx *f = *state;
	char *branch = h_fixture_with("gitlab-push.json", "ref", json_string("refs/heads/feature/x"));
	char word[32];

	assert_non_null(branch);
	assert_int_equal(h_post_gitlab(&f->p, "Push Hook", "ops-ignored", branch, NULL, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	want_line(&f->p, "delivery stored", "\"status\":\"ignored\"");
	want_line(&f->p, "delivery stored", "\"note\":\"branch not tracked: feature/x");
	free(branch);
}

/* "pinned AMI unavailable" names the AMI. */
static void pinned_ami_line_names_the_image(void **state)
{
	struct h_fx *f = *state;
	char *ev;

	pin_a(&f->p);
	ev = h_state_variant("ops-dereg", AMI_A, "deregistered", "2025-03-04T12:00:00Z");
	assert_non_null(ev);
	assert_int_equal(h_post_eb(&f->p, ev, NULL, NULL, 0), 202);
	free(ev);
	want_line(&f->p, "pinned AMI unavailable", "\"image_id\":\"" AMI_A "\"");
}

/* A failed trigger attempt names the URL, never its user:password or query. */
static void failed_trigger_names_the_url(void **state)
{
	struct h_fx *f = *state;

	pin_a(&f->p);
	want_line(&f->p, "trigger attempt failed", LOGGED_URL);
	want_line(&f->p, "trigger failed for good", LOGGED_URL);
	assert_false(h_log_contains(&f->p, "pa55w0rd-in-url"));
	assert_false(h_log_contains(&f->p, "q-s3cret"));
	assert_false(h_log_contains(&f->p, "trigger-user"));
}

/* 404s name the ASG; an unknown account is a 400; a replay of unknown ids says which. */
static void answers_name_what_is_not_there(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	json_t *out = NULL;
	int64_t events;

	pin_a(p);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/workers-stagee/freeze", "{\"reason\":\"x\"}", &out), 404);
	assert_non_null(strstr(h_text(out, "error.message"), "\"workers-stagee\""));
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/thaw", "{\"reason\":\"x\"}", &out), 404);
	assert_non_null(strstr(h_text(out, "error.message"), ASG));
	assert_non_null(strstr(h_text(out, "error.message"), "/thaw"));
	json_decref(out);

	/* an account not in the configuration: 400, naming it and the configured ones */
	assert_int_equal(request(p, "GET", "/api/v1/amis?account=image-builder-stag", NULL, NULL, &out), 400);
	assert_string_equal(h_text(out, "error.path"), "query.account");
	assert_non_null(strstr(h_text(out, "error.message"), "\"image-builder-stag\""));
	assert_non_null(strstr(h_text(out, "error.message"), "image-builder-stage (444455556666)"));
	json_decref(out);
	/* by name or by id: listed */
	assert_int_equal(request(p, "GET", "/api/v1/amis?account=image-builder-stage", NULL, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "amis")), 1);
	json_decref(out);
	assert_int_equal(request(p, "GET", "/api/v1/amis?account=444455556666", NULL, NULL, &out), 200);
	assert_int_equal(json_array_size(json_object_get(out, "amis")), 1);
	json_decref(out);

	/* a replay naming ids that do not exist: 400 naming them, nothing replayed */
	events = h_db_int(p, "SELECT max(id) FROM events", NULL);
	assert_true(events >= 2);
	assert_int_equal(post_admin(p, "/api/v1/admin/replay", "{\"event_ids\":[1,9001,9002]}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.event_ids");
	assert_non_null(strstr(h_text(out, "error.message"), "9001, 9002"));
	json_decref(out);
	assert_false(h_log_contains(p, "\"msg\":\"replay started\""));
	/* the ids that exist replay as before */
	assert_int_equal(post_admin(p, "/api/v1/admin/replay", "{\"event_ids\":[1],\"dry_run\":true}", &out), 200);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unauthorized_lines_name_the_remote, setup_read_token, teardown),
		cmocka_unit_test_setup_teardown(ignored_delivery_logs_its_note, setup_default, teardown),
		cmocka_unit_test_setup_teardown(pinned_ami_line_names_the_image, setup_default, teardown),
		cmocka_unit_test_setup_teardown(failed_trigger_names_the_url, setup_secret_url, teardown),
		cmocka_unit_test_setup_teardown(answers_name_what_is_not_there, setup_default, teardown),
	};

	return h_run_tests("oplogs", tests, NULL, NULL);
}
