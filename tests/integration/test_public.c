/*
 * test_public.c — public_listen (design §4) against the real amicd binary: the
 * second listener serves the two hooks and /healthz and nothing else (404),
 * while listen still serves everything, and without public_listen there is no
 * second listener.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct amicd_opts public_opts = { .extra = "public_listen: 127.0.0.1:0\n" };

static int setup_public(void **state) { return h_proc_setup(state, &public_opts, true); }
static int setup_default(void **state) { return h_proc_setup(state, NULL, true); }

/* pub becomes p talking to the port of public_listen, found in p's log (0 when absent). */
static unsigned public_port(const struct amicd_proc *p, struct amicd_proc *pub)
{
	char *log = support_read_file(p->log, NULL);
	const char *at = log != NULL ? strstr(log + p->log_mark, "\"public_port\":") : NULL;
	unsigned port = at != NULL ? (unsigned)strtoul(at + strlen("\"public_port\":"), NULL, 10) : 0;

	free(log);
	*pub = *p;
	pub->port = port;
	snprintf(pub->base, sizeof pub->base, "http://127.0.0.1:%u", port);
	return port;
}

static long status_of(const struct amicd_proc *p, const char *method, const char *path, const char *const *headers,
		      const char *body)
{
	struct http_result r;
	long status;

	if (strcmp(method, "GET") == 0)
		h_get(p, path, headers, &r);
	else
		h_post(p, path, headers, body, body != NULL ? strlen(body) : 0, &r);
	status = r.status;
	http_result_free(&r);
	return status;
}

static void hooks_on_both_only_hooks_public(void **state)
{
	struct amicd_proc *p = *state;
	struct amicd_proc pub;
	static const char *const admin[] = { "Authorization: Bearer " SUPPORT_ADMIN_TOKEN,
					     "Content-Type: application/json", NULL };
	static const char *const reads[] = { "GET", "/api/v1/asgs", "GET", "/api/v1/asgs/" SUPPORT_ASG,
					     "GET", "/api/v1/events", "GET", "/api/v1/commits",
					     "GET", "/api/v1/amis", "GET", "/metrics", "GET", "/readyz" };
	static const char *const admins[] = { "/api/v1/admin/reconcile", "/api/v1/admin/replay",
					      "/api/v1/admin/asgs/" SUPPORT_ASG "/freeze" };
	char *push1 = h_push_variant("0000000000000000000000000000000000000000",
				     "1111111111111111111111111111111111111111");
	char *push2 = h_push_variant("1111111111111111111111111111111111111111",
				     "2222222222222222222222222222222222222222");
	char *eb = support_fixture("eventbridge-ami-state-change.json", NULL);
	char word[32];

	assert_non_null(push1);
	assert_non_null(push2);
	assert_non_null(eb);
	assert_int_not_equal(public_port(p, &pub), 0);
	assert_int_not_equal(pub.port, p->port);

	/* the hooks, on both */
	assert_int_equal(h_post_gitlab(&pub, "Push Hook", NULL, push1, NULL, word, sizeof word), 202);
	assert_int_equal(h_post_gitlab(p, "Push Hook", NULL, push2, NULL, word, sizeof word), 202);
	assert_int_equal(h_post_eb(&pub, eb, NULL, word, sizeof word), 202);
	/* their authentication holds on the public port too */
	assert_int_equal(status_of(&pub, "POST", "/hooks/gitlab", (const char *const[]){
					   "Content-Type: application/json", "X-Gitlab-Token: wrong", NULL }, push1), 401);
	assert_int_equal(status_of(&pub, "GET", "/healthz", NULL, NULL), 200);
	assert_int_equal(status_of(p, "GET", "/healthz", NULL, NULL), 200);

	/* the read API, /metrics and /readyz: 404 on the public port, 200 on listen */
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i += 2) {
		long got = status_of(&pub, reads[i], reads[i + 1], NULL, NULL);

		if (got != 404)
			fail_msg("public %s %s: %ld, not 404", reads[i], reads[i + 1], got);
		got = status_of(p, reads[i], reads[i + 1], NULL, NULL);
		if (got != 200)
			fail_msg("listen %s %s: %ld, not 200", reads[i], reads[i + 1], got);
	}
	/* the admin API: 404 on the public port even with the right token; served on listen */
	for (size_t i = 0; i < sizeof admins / sizeof admins[0]; i++) {
		long got = status_of(&pub, "POST", admins[i], admin, "{}");

		if (got != 404)
			fail_msg("public POST %s: %ld, not 404", admins[i], got);
	}
	assert_int_equal(status_of(p, "POST", "/api/v1/admin/replay", admin, "{\"dry_run\":true}"), 200);
	assert_int_equal(status_of(p, "POST", "/api/v1/admin/asgs/" SUPPORT_ASG "/freeze", admin,
				   "{\"reason\":\"public_listen test\"}"), 200);
	/* and anything unknown is 404 there as everywhere */
	assert_int_equal(status_of(&pub, "GET", "/", NULL, NULL), 404);

	free(push1);
	free(push2);
	free(eb);
}

static void no_public_listen_no_second_listener(void **state)
{
	struct amicd_proc *p = *state;
	struct amicd_proc pub;

	assert_int_equal(public_port(p, &pub), 0);
	assert_false(h_log_contains(p, "listening for the public"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hooks_on_both_only_hooks_public, setup_public, h_proc_teardown),
		cmocka_unit_test_setup_teardown(no_public_listen_no_second_listener, setup_default, h_proc_teardown),
	};

	return h_run_tests("integration: public_listen", tests, NULL, NULL);
}
