/*
 * test_reload.c — SIGHUP (design §8) against the real binary: the config file
 * is read again and amicd never dies on it.
 *
 * - A valid hot change (log_level info → debug, a rotated admin token, read
 *   auth turned on) applies at once: a debug line follows the next delivery,
 *   the new token is accepted and the old one refused.
 * - An invalid file is logged, every error with its file:line:column, and the
 *   running config stays: still serving, the old token still works.
 * - A change that needs a restart (listen, accounts, …) is logged as such and
 *   the running config stays.
 * Deliveries made right after each SIGHUP are all acknowledged, and amicd
 * still exits 0 on SIGTERM at the end (the teardown checks it). Waiting is by
 * polling the log, never by sleeping.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 15000
#define NEW_ADMIN_TOKEN "it-admin-token-rotated-5e11"

static int setup_info(void **state)
{
	struct amicd_opts o = { .log_level = "info", .read_token = true };

	return h_proc_setup(state, &o, true);
}

/* amicd must still exit 0 on SIGTERM after every SIGHUP of the test. */
static int teardown(void **state)
{
	int rc = h_stop_and_check(*state);

	h_proc_teardown(state);
	return rc;
}

/* Edit amicd's config: find (exactly once) becomes repl. */
static void edit_config(const struct amicd_proc *p, const char *find, const char *repl)
{
	char *text = support_read_file(p->config, NULL);
	char *next;
	size_t n = 0;

	assert_non_null(text);
	next = support_replace_all(text, find, repl, &n);
	assert_non_null(next);
	if (n != 1)
		fail_msg("test bug: \"%s\" occurs %zu times in %s", find, n, p->config);
	assert_int_equal(support_write_file(NULL, p->config, next), 0);
	free(text);
	free(next);
}

/* SIGHUP, then wait for the nth reload to be done: its last line is "config reloaded…" or "…failed…". */
static void hup(const struct amicd_proc *p, const char *done_needle)
{
	assert_int_equal(kill(p->pid, SIGHUP), 0);
	if (!h_wait_log(p, done_needle, WAIT_MS))
		fail_msg("no \"%s\" in the log after SIGHUP", done_needle);
}

/* GET /api/v1/asgs with a Bearer token: the HTTP status. */
static long get_with(const struct amicd_proc *p, const char *token)
{
	char authz[128];
	const char *headers[] = { authz, NULL };
	struct http_result r;
	long status;

	snprintf(authz, sizeof authz, "Authorization: Bearer %s", token);
	assert_int_equal(h_get(p, "/api/v1/asgs", headers, &r), 0);
	status = r.status;
	http_result_free(&r);
	return status;
}

/* A push delivery with a fresh Idempotency-Key: must be acknowledged. */
static void deliver(const struct amicd_proc *p, const char *idem)
{
	char *body = support_fixture("gitlab-push.json", NULL);
	long status;

	assert_non_null(body);
	status = h_post_gitlab(p, "Push Hook", idem, body, NULL, NULL, 0);
	free(body);
	if (status != 200 && status != 202)
		fail_msg("delivery %s answered %ld", idem, status);
}

static void hot_change_applies(void **state)
{
	struct amicd_proc *p = *state;
	char path[400];

	assert_int_equal(get_with(p, SUPPORT_ADMIN_TOKEN), 200);
	assert_int_equal(get_with(p, NEW_ADMIN_TOKEN), 401);
	deliver(p, "reload-before");
	assert_false(h_log_contains(p, "\"level\":\"debug\""));

	/* log_level debug, and the admin token file rotated in place (a Secret update) */
	edit_config(p, "log_level: info\n", "log_level: debug\n");
	snprintf(path, sizeof path, "%s/admin-token", p->dir);
	assert_int_equal(support_write_file(NULL, path, NEW_ADMIN_TOKEN "\n"), 0);
	hup(p, "\"config reloaded\"");
	assert_true(h_log_contains(p, "\"applied\":\"log_level, auth\""));
	assert_false(h_log_contains(p, "restart amicd"));

	deliver(p, "reload-after");
	if (!h_wait_log(p, "\"level\":\"debug\"", WAIT_MS))
		fail_msg("no debug line after log_level: debug was applied");
	assert_int_equal(get_with(p, NEW_ADMIN_TOKEN), 200);
	assert_int_equal(get_with(p, SUPPORT_ADMIN_TOKEN), 401);
	assert_int_equal(get_with(p, SUPPORT_READ_TOKEN), 200);
}

static void invalid_config_keeps_running(void **state)
{
	struct amicd_proc *p = *state;
	char needle[512];

	/* two errors: a misspelt key and a bad value */
	edit_config(p, "log_level: info\n", "log_level: loud\nlistne: 127.0.0.1:1\n");
	hup(p, "\"config reload failed; keeping the running config\"");
	/* support_config_write's lines: listen, database, pins_dir, log_level (4), …; every error positioned */
	snprintf(needle, sizeof needle, "\"error\":\"%s:5:1: unknown key \\\"listne\\\" in the configuration "
		 "(did you mean \\\"listen\\\"?)\"", p->config);
	assert_true(h_log_contains(p, needle));
	snprintf(needle, sizeof needle, "\"error\":\"%s:4:12: log_level must be debug, info, warn or error\"",
		 p->config);
	assert_true(h_log_contains(p, needle));
	assert_true(h_log_contains(p, "\"errors\":2"));

	/* still serving, on the old config */
	deliver(p, "invalid-after");
	assert_int_equal(get_with(p, SUPPORT_ADMIN_TOKEN), 200);
	assert_false(h_log_contains(p, "\"level\":\"debug\""));
}

static void restart_needing_change_is_said(void **state)
{
	struct amicd_proc *p = *state;

	/* a second account and another listen address: read once at start */
	edit_config(p, "listen: 127.0.0.1:0\n", "listen: 127.0.0.1:1\n");
	edit_config(p, "accounts:\n", "accounts:\n  - { name: image-builder-extra, uid: \"999988887777\" }\n");
	hup(p, "\"config reloaded: nothing to apply\"");
	assert_true(h_log_contains(p, "\"config changed; restart amicd to apply it\""));
	assert_true(h_log_contains(p, "\"sections\":\"listen, accounts\""));

	/* still serving on the old address, with the old config */
	deliver(p, "restart-after");
	assert_int_equal(get_with(p, SUPPORT_ADMIN_TOKEN), 200);

	/* a second SIGHUP with nothing new says the same: the running config still differs */
	hup(p, "\"restart_needed\":\"listen, accounts\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hot_change_applies, setup_info, teardown),
		cmocka_unit_test_setup_teardown(invalid_config_keeps_running, setup_info, teardown),
		cmocka_unit_test_setup_teardown(restart_needing_change_is_said, setup_info, teardown),
	};

	return h_run_tests("test_reload", tests, NULL, NULL);
}
