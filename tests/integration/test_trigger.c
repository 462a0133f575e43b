/*
 * test_trigger.c — the terraform-resources trigger (design §6) against the real
 * amicd binary and a receiver in the test process:
 *
 *  - failures retried with backoff (1 s, doubling, capped) under one
 *    Idempotency-Key, then delivered;
 *  - retries carried across a restart (SIGTERM while retrying, and SIGTERM
 *    while a request is in flight);
 *  - max_attempts reached: state "failed" with the last error;
 *  - a newer promotion of the same ASG supersedes an undelivered older one;
 *  - the Bearer token sent, and never logged;
 *  - a request the receiver holds past timeout_seconds counts as a failed attempt;
 *  - command triggers: the AMICD_* environment; a hanging command killed after
 *    timeout_seconds with its whole process group;
 *  - a pin file that cannot be written holds its trigger back (the ASG and
 *    /metrics say so); once it can, the file is written first, then the trigger;
 *  - the ASG's problems[]: trigger_retrying while the pin's trigger fails and
 *    is retried, trigger_failed (first, in the reason) once it gave up;
 *  - POST …/retrigger: a new attempt series under amicd-promotion-<id>-2,
 *    recorded in the promotion's history; 409 without a pin; 400 without a reason.
 *
 * Each test starts its own amicd and receiver in setup and stops both in
 * teardown. Every wait polls the REST API, a file, /proc or the receiver until
 * a deadline; nothing sleeps to synchronise.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA_PARENT "60c8eedbd9916e98e042832de430e52be7ffe0ac"
#define SHA_A "61c979eab8ea475e0b84db7556d2049e9dae6d89"
#define SHA_B "b7e23ec29af22b0b4e41da31e868d57226121c84"
#define AMI_A "ami-08fdc871471476ef5"
#define AMI_B "ami-0b1d2c3e4f5a6b7c8"
#define DEST "444455556666"
#define ASG "workers-stage"
#define TRIGGER_TOKEN "it-trigger-token-5e1f9a"
#define WAIT_MS 15000
#define QUIET_MS 1000

#define ENV_SCRIPT \
	"#!/bin/sh\n" \
	"# amicd integration test: record the AMICD_* environment\n" \
	"dir=$(dirname \"$0\")\n" \
	"env | grep '^AMICD_' | sort > \"$dir/trigger-env.tmp\"\n" \
	"mv \"$dir/trigger-env.tmp\" \"$dir/trigger-env\"\n" \
	"exit 0\n"

#define HANG_SCRIPT \
	"#!/bin/sh\n" \
	"# amicd integration test: a command that hangs\n" \
	"dir=$(dirname \"$0\")\n" \
	"echo $$ > \"$dir/trigger-pgid.tmp\"\n" \
	"mv \"$dir/trigger-pgid.tmp\" \"$dir/trigger-pgid\"\n" \
	"sleep 30\n" \
	"exit 0\n"

/* --- fixtures ---------------------------------------------------------------------- */

/* The pins directory cannot be created: a regular file stands at its path (root ignores modes). */
static int setup_pins_blocked(void **state)
{
	struct h_fx *f;
	char path[400];

	if (h_fx_setup(state, NULL, H_FX_RECEIVER | H_FX_NO_START) != 0)
		return -1;
	f = *state;
	snprintf(path, sizeof path, "%s/pins", f->p.dir);
	if (support_write_file(NULL, path, "not a directory\n") != 0 || harness_start(&f->p) != 0) {
		h_fx_teardown(state);
		return -1;
	}
	return 0;
}

static int setup_retry5(void **state)
{
	struct amicd_opts o = { .trigger_extra = "  max_attempts: 5\n  backoff_max_seconds: 2\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_retry5_cap1(void **state)
{
	struct amicd_opts o = { .trigger_extra = "  max_attempts: 5\n  backoff_max_seconds: 1\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_long_timeout(void **state)
{
	struct amicd_opts o = { .trigger_extra = "  timeout_seconds: 30\n  max_attempts: 5\n  backoff_max_seconds: 1\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_retry2(void **state)
{
	struct amicd_opts o = { .trigger_extra = "  max_attempts: 2\n  backoff_max_seconds: 1\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_retry20(void **state)
{
	struct amicd_opts o = { .trigger_extra = "  max_attempts: 20\n  backoff_max_seconds: 1\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_token(void **state)
{
	struct amicd_opts o = { .trigger_token = TRIGGER_TOKEN };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_url_timeout(void **state)
{
	struct amicd_opts o = { .trigger_extra = "  timeout_seconds: 1\n  max_attempts: 1\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_env_command(void **state)
{
	struct amicd_opts o = { .trigger_script = ENV_SCRIPT };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

static int setup_hang_command(void **state)
{
	struct amicd_opts o = { .trigger_script = HANG_SCRIPT,
				.trigger_extra = "  timeout_seconds: 1\n  max_attempts: 1\n" };

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

/* Live (not zombie) processes in process group pgid, from /proc. */
static int live_in_group(long pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512];
		const char *after;
		FILE *in;
		char st = '?';
		long ppid = 0, pgrp = 0;
		size_t len;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		in = fopen(path, "r");
		if (in == NULL)
			continue;
		len = fread(buf, 1, sizeof buf - 1, in);
		fclose(in);
		buf[len] = '\0';
		after = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
		if (after != NULL && sscanf(after + 1, " %c %ld %ld", &st, &ppid, &pgrp) == 3 && pgrp == pgid &&
		    st != 'Z' && st != 'X')
			n++;
	}
	closedir(d);
	return n;
}

/* The process group the hanging script reported, or 0. */
static long script_pgid(const struct h_fx *f)
{
	char path[400];
	char *text;
	long pgid = 0;

	snprintf(path, sizeof path, "%s/trigger-pgid", f->p.dir);
	text = support_read_file(path, NULL);
	if (text != NULL)
		pgid = strtol(text, NULL, 10);
	free(text);
	return pgid;
}

static int teardown(void **state)
{
	struct h_fx *f = *state;
	long pgid = script_pgid(f);

	harness_cleanup(&f->p);
	/* a command this test's amicd started and a failed test left running */
	if (pgid > 1 && live_in_group(pgid) > 0)
		kill((pid_t)-pgid, SIGKILL);
	return h_fx_teardown(state);
}

/* --- deliveries and the API ------------------------------------------------------------ */

static int64_t push_commit(struct h_fx *f, const char *idem, const char *before, const char *after)
{
	char *body = h_push_variant(before, after);
	int64_t id = 0;

	assert_non_null(body);
	assert_int_equal(h_post_gitlab(&f->p, "Push Hook", idem, body, &id, NULL, 0), 202);
	assert_true(h_wait_event_done(&f->p, id, WAIT_MS));
	free(body);
	return id;
}

static int64_t shared(struct h_fx *f, const char *id, const char *image, const char *commit)
{
	char *body = h_ami_shared_variant(id, image, commit, DEST, true);
	int64_t eid = 0;

	assert_non_null(body);
	assert_int_equal(h_post_eb(&f->p, body, &eid, NULL, 0), 202);
	assert_true(h_wait_event_done(&f->p, eid, WAIT_MS));
	free(body);
	return eid;
}

struct trig_wait {
	struct h_fx *f;
	size_t n_promotions;       /* at least this many promotions */
	json_int_t id;             /* 0: the newest */
	const char *state;         /* NULL: any */
	json_int_t min_attempts;
	json_t *found;             /* the promotion, when reached */
};

static bool trigger_reached(void *ctx)
{
	struct trig_wait *w = ctx;
	json_t *list = h_promotions(&w->f->p, ASG);
	json_t *p = NULL, *c;
	size_t i;

	if (list == NULL || json_array_size(list) < w->n_promotions || json_array_size(list) == 0) {
		json_decref(list);
		return false;
	}
	json_array_foreach(list, i, c)
		if (w->id == 0 ? i == 0 : json_integer_value(json_object_get(c, "id")) == w->id)
			p = c;
	if (p == NULL || (w->state != NULL && (h_str(p, "trigger.state") == NULL ||
					      strcmp(h_str(p, "trigger.state"), w->state) != 0)) ||
	    json_integer_value(json_object_get(json_object_get(p, "trigger"), "attempts")) < w->min_attempts) {
		json_decref(list);
		return false;
	}
	json_decref(w->found);
	w->found = json_deep_copy(p);
	json_decref(list);
	return true;
}

/* Promotion id (0: the newest) once its trigger is in state (NULL: any) after min_attempts. */
static json_t *wait_trigger(struct h_fx *f, size_t n_promotions, json_int_t id, const char *state,
			    json_int_t min_attempts, int timeout_ms)
{
	struct trig_wait w = { f, n_promotions, id, state, min_attempts, NULL };

	if (!support_wait_until(trigger_reached, &w, timeout_ms)) {
		json_t *list = h_promotions(&f->p, ASG);
		char *text = list != NULL ? h_dump(list) : NULL;

		fail_msg("promotion %lld: no trigger state %s with %lld attempt(s) within %d ms; promotions: %s",
			 (long long)id, state != NULL ? state : "(any)", (long long)min_attempts, timeout_ms,
			 text != NULL ? text : "(none)");
	}
	return w.found;
}

/* Push A, its AMI shared and tagged: the new promotion (trigger in any state). */
static json_t *promote_a(struct h_fx *f)
{
	push_commit(f, "push-a", SHA_PARENT, SHA_A);
	shared(f, "shared-a", AMI_A, SHA_A);
	return wait_trigger(f, 1, 0, NULL, 0, WAIT_MS);
}

static void assert_request(struct h_fx *f, size_t i, json_int_t promotion_id, unsigned status)
{
	struct h_received rec;
	char key[64];

	snprintf(key, sizeof key, "amicd-promotion-%lld", (long long)promotion_id);
	assert_true(h_receiver_get(f->rx, i, &rec));
	assert_string_equal(rec.idempotency_key, key);
	assert_string_equal(rec.path, "/terraform-resources");
	assert_int_equal(rec.status, status);
	h_received_clear(&rec);
}

/* Request i came backoff_ms after request i-1 (not earlier; within a generous margin later). */
static void assert_gap(struct h_fx *f, size_t i, int64_t backoff_ms)
{
	struct h_received a, b;
	int64_t gap;

	assert_true(h_receiver_get(f->rx, i - 1, &a));
	assert_true(h_receiver_get(f->rx, i, &b));
	gap = b.received_ms - a.received_ms;
	h_received_clear(&a);
	h_received_clear(&b);
	if (gap < backoff_ms - 100 || gap > backoff_ms + 900)
		fail_msg("request %zu came %lld ms after request %zu; the backoff is %lld ms", i, (long long)gap, i - 1,
			 (long long)backoff_ms);
}

/* POST an admin action on ASG with the admin token; the status, *out the parsed answer (new reference). */
static long post_action(struct h_fx *f, const char *action, const char *body, json_t **out)
{
	const char *h[] = { "Content-Type: application/json", "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL };
	struct http_result r;
	char path[200];
	long status;

	snprintf(path, sizeof path, "/api/v1/admin/asgs/" ASG "/%s", action);
	assert_int_equal(h_post(&f->p, path, h, body, strlen(body), &r), 0);
	status = r.status;
	*out = json_loadb(r.body, r.body_len, 0, NULL);
	if (*out == NULL)
		fail_msg("%s answered %ld with a body that is not JSON: %s", path, status, r.body);
	http_result_free(&r);
	return status;
}

/* Request i carried Idempotency-Key key and got status. */
static void assert_request_key(struct h_fx *f, size_t i, const char *key, unsigned status)
{
	struct h_received rec;

	assert_true(h_receiver_get(f->rx, i, &rec));
	assert_string_equal(rec.idempotency_key, key);
	assert_int_equal(rec.status, status);
	h_received_clear(&rec);
}

struct problem_wait {
	struct h_fx *f;
	const char *code;          /* problems[0].code wanted; NULL: no problems */
	json_t *asg;               /* the ASG when reached */
};

static bool first_problem(void *ctx)
{
	struct problem_wait *w = ctx;
	json_t *asg = h_asg(&w->f->p, ASG);
	const json_t *problems = asg != NULL ? h_json_at(asg, "problems") : NULL;
	bool ok = problems != NULL && json_is_array(problems) &&
		  (w->code == NULL ? json_array_size(problems) == 0
				   : strcmp(h_text(asg, "problems.0.code"), w->code) == 0);

	if (ok) {
		json_decref(w->asg);
		w->asg = asg;
		return true;
	}
	json_decref(asg);
	return false;
}

/* The ASG once its first problem is code (NULL: once it has none). */
static json_t *wait_problem(struct h_fx *f, const char *code)
{
	struct problem_wait w = { f, code, NULL };

	if (!support_wait_until(first_problem, &w, WAIT_MS)) {
		json_t *asg = h_asg(&f->p, ASG);
		char *text = asg != NULL ? h_dump(asg) : NULL;

		fail_msg("problems[0] never became %s; the ASG: %s", code != NULL ? code : "(none)",
			 text != NULL ? text : "(none)");
	}
	return w.asg;
}

/* --- tests: url ---------------------------------------------------------------------------- */

static bool metric_has(struct h_fx *f, const char *line)
{
	struct http_result r;
	bool found;

	if (h_get(&f->p, "/metrics", NULL, &r) != 0)
		return false;
	found = r.body != NULL && strstr(r.body, line) != NULL;
	http_result_free(&r);
	return found;
}

struct pin_wait {
	struct h_fx *f;
	bool written;
};

static bool pin_file_state(void *ctx)
{
	struct pin_wait *w = ctx;
	json_t *asg = h_asg(&w->f->p, ASG);
	const json_t *written = asg != NULL ? h_json_at(asg, "pin.file_written") : NULL;
	bool ok = written != NULL && json_is_boolean(written) && json_boolean_value(written) == w->written;

	json_decref(asg);
	return ok;
}

static void pin_file_blocked_trigger_waits(void **state)
{
	struct h_fx *f = *state;
	struct pin_wait w = { f, false };
	char dir[400], file[400];
	json_t *p, *asg, *done;
	struct h_received rec;
	json_int_t id;

	h_pin_file(&f->p, ASG, file, sizeof file);
	h_receiver_watch_file(f->rx, file);
	p = promote_a(f);
	id = h_num(p, "id");
	/* the promotion is recorded, the pin file cannot be written: the trigger waits, and says so */
	assert_true(support_wait_until(pin_file_state, &w, WAIT_MS));
	asg = h_asg(&f->p, ASG);
	assert_non_null(h_json_at(asg, "pin.file_error"));
	assert_true(json_is_string(h_json_at(asg, "pin.file_error")));
	assert_non_null(strstr(json_string_value(json_object_get(asg, "reason")), "cannot be written"));
	json_decref(asg);
	assert_true(metric_has(f, "amicd_pin_file_pending{asg=\"" ASG "\"} 1"));
	assert_false(metric_has(f, "amicd_pin_file_write_failures_total 0\n"));
	done = wait_trigger(f, 1, id, "pending", 0, WAIT_MS);
	assert_true(json_is_true(h_json_at(done, "trigger.waiting_for_pin_file")));
	json_decref(done);
	assert_false(h_receiver_wait(f->rx, 1, QUIET_MS));
	assert_int_equal(access(file, F_OK), -1);

	/* the directory can be made: the worker's retry writes the file, then the trigger goes */
	snprintf(dir, sizeof dir, "%s/pins", f->p.dir);
	assert_int_equal(unlink(dir), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));
	assert_true(h_receiver_get(f->rx, 0, &rec));
	assert_true(rec.watched_file_existed); /* the file was there when terraform-resources was told */
	h_received_clear(&rec);
	done = wait_trigger(f, 1, id, "delivered", 1, WAIT_MS);
	json_decref(done);
	w.written = true;
	assert_true(support_wait_until(pin_file_state, &w, WAIT_MS));
	assert_true(metric_has(f, "amicd_pin_file_pending{asg=\"" ASG "\"} 0"));
	json_decref(p);
}

static void retries_then_delivered(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done;
	json_int_t id;

	h_receiver_answer(f->rx, 500, 2, 200);
	p = promote_a(f);
	id = h_num(p, "id");
	done = wait_trigger(f, 1, id, "delivered", 0, WAIT_MS);
	assert_int_equal(h_num(done, "trigger.attempts"), 3);
	assert_true(json_is_null(json_object_get(json_object_get(done, "trigger"), "last_error")));
	assert_true(h_receiver_wait(f->rx, 3, WAIT_MS));
	assert_request(f, 0, id, 500);
	assert_request(f, 1, id, 500);
	assert_request(f, 2, id, 200);
	/* first retry after 1 s, then doubling: 2 s */
	assert_gap(f, 1, 1000);
	assert_gap(f, 2, 2000);
	assert_false(h_receiver_wait(f->rx, 4, QUIET_MS));
	json_decref(p);
	json_decref(done);
}

/* backoff_max_seconds 1: every retry after 1 s, not 1, 2, 4 s. */
static void backoff_capped(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done;
	json_int_t id;

	h_receiver_answer(f->rx, 500, 3, 200);
	p = promote_a(f);
	id = h_num(p, "id");
	done = wait_trigger(f, 1, id, "delivered", 0, WAIT_MS);
	assert_int_equal(h_num(done, "trigger.attempts"), 4);
	assert_true(h_receiver_wait(f->rx, 4, WAIT_MS));
	for (size_t i = 1; i < 4; i++) {
		assert_request(f, i, id, i < 3 ? 500 : 200);
		assert_gap(f, i, 1000);
	}
	json_decref(p);
	json_decref(done);
}

/*
 * SIGTERM while a trigger request is in flight (the receiver holds its answer):
 * amicd still stops promptly with 0, and the trigger is delivered after the
 * restart. attempts counts the requests made (design §6), the cut-off one too.
 */
static void sigterm_during_attempt(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done;
	json_int_t id;
	int64_t t0;

	h_receiver_hang(f->rx, 20000);
	p = promote_a(f);
	id = h_num(p, "id");
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));
	t0 = support_now_ms();
	assert_int_equal(harness_stop(&f->p, SIGTERM, 10000), 0);
	assert_true(support_now_ms() - t0 < 5000);

	h_receiver_hang(f->rx, 0);
	assert_int_equal(harness_start(&f->p), 0);
	done = wait_trigger(f, 1, id, "delivered", 0, WAIT_MS);
	assert_true(h_receiver_wait(f->rx, 2, WAIT_MS));
	assert_request(f, 1, id, 200);
	assert_false(h_receiver_wait(f->rx, 3, QUIET_MS));
	if (h_num(done, "trigger.attempts") != 2)
		fail_msg("trigger.attempts is %lld after 2 requests (one cut off by SIGTERM, one delivered)",
			 (long long)h_num(done, "trigger.attempts"));
	json_decref(p);
	json_decref(done);
}

static void retry_survives_restart(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done;
	json_int_t id;
	size_t n;

	h_receiver_answer(f->rx, 500, 0, 500);
	p = promote_a(f);
	id = h_num(p, "id");
	json_decref(wait_trigger(f, 1, id, "pending", 1, WAIT_MS));
	assert_int_equal(harness_stop(&f->p, SIGTERM, 10000), 0);

	h_receiver_answer(f->rx, 200, 0, 200);
	assert_int_equal(harness_start(&f->p), 0);
	done = wait_trigger(f, 1, id, "delivered", 0, WAIT_MS);
	assert_true(h_num(done, "trigger.attempts") >= 2);
	assert_true(json_is_null(json_object_get(json_object_get(done, "trigger"), "last_error")));
	/* every request under one key; the first failed, the last delivered */
	n = h_receiver_count(f->rx);
	assert_true(n >= 2);
	assert_int_equal((size_t)h_num(done, "trigger.attempts"), n);
	assert_request(f, 0, id, 500);
	for (size_t i = 1; i + 1 < n; i++)
		assert_request(f, i, id, 500);
	assert_request(f, n - 1, id, 200);
	assert_false(h_receiver_wait(f->rx, n + 1, QUIET_MS));
	json_decref(p);
	json_decref(done);
}

static void max_attempts_failed(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done;
	json_int_t id;

	h_receiver_answer(f->rx, 500, 0, 500);
	p = promote_a(f);
	id = h_num(p, "id");
	done = wait_trigger(f, 1, id, "failed", 0, WAIT_MS);
	assert_int_equal(h_num(done, "trigger.attempts"), 2);
	assert_string_equal(h_str(done, "trigger.last_error"), "HTTP 500");
	assert_true(h_receiver_wait(f->rx, 2, WAIT_MS));
	assert_request(f, 0, id, 500);
	assert_request(f, 1, id, 500);
	assert_false(h_receiver_wait(f->rx, 3, QUIET_MS));
	json_decref(p);
	json_decref(done);
}

static void retrying_is_a_problem(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *asg;
	char want[64];

	h_receiver_answer(f->rx, 503, 0, 503);
	p = promote_a(f);
	json_decref(wait_trigger(f, 1, h_num(p, "id"), "pending", 1, WAIT_MS));
	asg = wait_problem(f, "trigger_retrying");
	assert_non_null(strstr(h_text(asg, "problems.0.message"), "attempt(s) failed"));
	assert_non_null(strstr(h_text(asg, "problems.0.message"), "HTTP 503"));
	assert_non_null(h_str(asg, "problems.0.since"));
	snprintf(want, sizeof want, "the trigger of promotion %lld", (long long)h_num(p, "id"));
	assert_int_equal(strncmp(h_text(asg, "reason"), want, strlen(want)), 0);
	json_decref(asg);
	json_decref(p);
}

/* Gave up: the ASG says so first; a retrigger sends a second series, which is delivered. */
static void failed_then_retriggered(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done, *asg, *out = NULL, *list;
	json_int_t id;
	char key[64], want[64];

	h_receiver_answer(f->rx, 503, 2, 200);
	p = promote_a(f);
	id = h_num(p, "id");
	done = wait_trigger(f, 1, id, "failed", 2, WAIT_MS);
	assert_string_equal(h_str(done, "trigger.last_error"), "HTTP 503");
	assert_int_equal(h_num(done, "trigger.series"), 1);
	asg = wait_problem(f, "trigger_failed");
	assert_string_equal(h_text(asg, "state"), "up_to_date");
	assert_non_null(h_str(asg, "problems.0.since"));
	assert_non_null(strstr(h_text(asg, "problems.0.message"), "gave up after 2 attempt(s): HTTP 503"));
	/* the reason leads with it: never just "pinned to head …" */
	snprintf(want, sizeof want, "the trigger of promotion %lld", (long long)id);
	assert_int_equal(strncmp(h_text(asg, "reason"), want, strlen(want)), 0);
	assert_true(metric_has(f, "amicd_trigger_gave_up_total 1\n"));
	json_decref(asg);

	assert_int_equal(post_action(f, "retrigger", "{\"reason\":\"terraform-resources is back\"}", &out), 200);
	assert_int_equal(h_num(out, "promotion_id"), id);
	assert_int_equal(h_num(out, "trigger_series"), 2);
	assert_string_equal(h_text(out, "asg.identifier"), ASG);
	/* the answer is the ASG after the action: nothing has failed in the new series yet */
	assert_true(json_array_size(h_json_at(out, "asg.problems")) == 0 ||
		    strcmp(h_text(out, "asg.problems.0.code"), "trigger_failed") != 0);
	json_decref(out);

	assert_true(h_receiver_wait(f->rx, 3, WAIT_MS));
	snprintf(key, sizeof key, "amicd-promotion-%lld", (long long)id);
	assert_request_key(f, 0, key, 503);
	assert_request_key(f, 1, key, 503);
	snprintf(key, sizeof key, "amicd-promotion-%lld-2", (long long)id);
	assert_request_key(f, 2, key, 200);
	json_decref(done);
	done = wait_trigger(f, 1, id, "delivered", 1, WAIT_MS);
	assert_int_equal(h_num(done, "trigger.attempts"), 1);
	assert_int_equal(h_num(done, "trigger.series"), 2);
	assert_string_equal(h_text(done, "trigger.retriggered.actor"), "admin");
	assert_string_equal(h_text(done, "trigger.retriggered.reason"), "terraform-resources is back");
	assert_non_null(h_str(done, "trigger.retriggered.at"));
	asg = wait_problem(f, NULL);
	json_decref(asg);
	assert_false(h_receiver_wait(f->rx, 4, QUIET_MS));
	assert_true(h_log_contains(&f->p, "\"msg\":\"retrigger\""));
	assert_true(h_log_contains(&f->p, "terraform-resources is back"));

	/* a delivered trigger can be sent again too: series 3 */
	assert_int_equal(post_action(f, "retrigger", "{\"reason\":\"terraform run lost\"}", &out), 200);
	assert_int_equal(h_num(out, "trigger_series"), 3);
	json_decref(out);
	assert_true(h_receiver_wait(f->rx, 4, WAIT_MS));
	snprintf(key, sizeof key, "amicd-promotion-%lld-3", (long long)id);
	assert_request_key(f, 3, key, 200);
	list = h_promotions(&f->p, ASG);
	assert_int_equal(json_array_size(list), 1); /* no new promotion: the same pin, sent again */
	json_decref(list);
	json_decref(done);
	json_decref(p);
}

static void retrigger_refused(void **state)
{
	struct h_fx *f = *state;
	json_t *out = NULL, *p;

	/* no pin yet */
	assert_int_equal(post_action(f, "retrigger", "{\"reason\":\"try\"}", &out), 409);
	assert_string_equal(h_text(out, "error.code"), "conflict");
	assert_non_null(strstr(h_text(out, "error.message"), "no pin"));
	json_decref(out);
	/* bodies refused whatever the pin */
	p = promote_a(f);
	json_decref(wait_trigger(f, 1, h_num(p, "id"), "delivered", 1, WAIT_MS));
	assert_int_equal(post_action(f, "retrigger", "{}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.reason");
	json_decref(out);
	assert_int_equal(post_action(f, "retrigger", "{\"reason\":\"\"}", &out), 400);
	json_decref(out);
	assert_int_equal(post_action(f, "retrigger", "{\"reason\":\"x\",\"force\":true}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.force");
	json_decref(out);
	assert_int_equal(post_action(f, "retrigger", "{\"reason\":", &out), 400);
	json_decref(out);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS)); /* nothing sent again */
	json_decref(p);
}

static void newer_promotion_supersedes(void **state)
{
	struct h_fx *f = *state;
	json_t *older, *newer, *list;
	json_int_t old_id, new_id;
	size_t n, delivered = 0;

	h_receiver_answer(f->rx, 500, 0, 500);
	older = promote_a(f);
	old_id = h_num(older, "id");
	json_decref(wait_trigger(f, 1, old_id, "pending", 1, WAIT_MS));

	push_commit(f, "push-b", SHA_A, SHA_B);
	shared(f, "shared-b", AMI_B, SHA_B);
	newer = wait_trigger(f, 2, 0, NULL, 0, WAIT_MS);
	new_id = h_num(newer, "id");
	assert_true(new_id > old_id);
	assert_string_equal(h_str(newer, "commit"), SHA_B);
	/* superseded in the promotion's own transaction */
	json_decref(wait_trigger(f, 2, old_id, "superseded", 0, 1));

	h_receiver_answer(f->rx, 200, 0, 200);
	json_decref(newer);
	newer = wait_trigger(f, 2, new_id, "delivered", 0, WAIT_MS);
	assert_true(json_is_null(json_object_get(json_object_get(newer, "trigger"), "last_error")));
	assert_false(h_receiver_wait(f->rx, h_receiver_count(f->rx) + 1, QUIET_MS));

	list = h_promotions(&f->p, ASG);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(h_num(json_array_get(list, 0), "id"), new_id);
	assert_string_equal(h_str(json_array_get(list, 0), "trigger.state"), "delivered");
	assert_int_equal(h_num(json_array_get(list, 1), "id"), old_id);
	assert_string_equal(h_str(json_array_get(list, 1), "trigger.state"), "superseded");
	assert_string_equal(h_str(json_array_get(list, 0), "previous.commit"), SHA_A);
	json_decref(list);

	/* the newer one was delivered exactly once */
	n = h_receiver_count(f->rx);
	for (size_t i = 0; i < n; i++) {
		struct h_received rec;
		char key[64];

		snprintf(key, sizeof key, "amicd-promotion-%lld", (long long)new_id);
		assert_true(h_receiver_get(f->rx, i, &rec));
		if (strcmp(rec.idempotency_key, key) == 0 && rec.status == 200)
			delivered++;
		h_received_clear(&rec);
	}
	assert_int_equal(delivered, 1);
	json_decref(older);
	json_decref(newer);
}

static void bearer_token_sent_not_logged(void **state)
{
	struct h_fx *f = *state;
	struct h_received rec;
	json_t *p;

	p = promote_a(f);
	json_decref(wait_trigger(f, 1, h_num(p, "id"), "delivered", 0, WAIT_MS));
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));
	assert_true(h_receiver_get(f->rx, 0, &rec));
	assert_string_equal(rec.authorization, "Bearer " TRIGGER_TOKEN);
	h_received_clear(&rec);
	assert_int_equal(harness_stop(&f->p, SIGTERM, 10000), 0);
	assert_false(h_log_contains(&f->p, TRIGGER_TOKEN));
	json_decref(p);
}

/* The receiver holds its answer past timeout_seconds: a failed attempt, not a hang. */
static void url_timeout_is_a_failed_attempt(void **state)
{
	struct h_fx *f = *state;
	json_t *p, *done;
	int64_t t0;

	h_receiver_hang(f->rx, 5000);
	p = promote_a(f);
	t0 = support_now_ms();
	done = wait_trigger(f, 1, h_num(p, "id"), "failed", 1, WAIT_MS);
	assert_true(support_now_ms() - t0 < 5000);
	assert_int_equal(h_num(done, "trigger.attempts"), 1);
	assert_non_null(h_str(done, "trigger.last_error"));
	assert_int_equal(h_receiver_count(f->rx), 1);
	json_decref(p);
	json_decref(done);
}

/* --- tests: command -------------------------------------------------------------------------- */

struct file_wait {
	const char *path;
	char *text;
};

static bool file_there(void *ctx)
{
	struct file_wait *w = ctx;

	w->text = support_read_file(w->path, NULL);
	return w->text != NULL;
}

/* The value of NAME in "NAME=value" lines, or NULL. */
static const char *env_value(const char *env, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *line = env; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

		if (len > n && strncmp(line, name, n) == 0 && line[n] == '=') {
			snprintf(buf, size, "%.*s", (int)(len - n - 1), line + n + 1);
			return buf;
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
	return NULL;
}

static void command_gets_environment(void **state)
{
	struct h_fx *f = *state;
	char path[400], buf[128], id_text[32];
	struct file_wait w = { path, NULL };
	json_t *p, *done;
	static const char *const names[] = { "AMICD_ASG", "AMICD_ACCOUNT", "AMICD_REGION", "AMICD_COMMIT",
					     "AMICD_IMAGE_ID", "AMICD_PROMOTION_ID" };
	const char *values[6];

	p = promote_a(f);
	done = wait_trigger(f, 1, h_num(p, "id"), "delivered", 0, WAIT_MS);
	assert_int_equal(h_num(done, "trigger.attempts"), 1);
	snprintf(path, sizeof path, "%s/trigger-env", f->p.dir);
	assert_true(support_wait_until(file_there, &w, WAIT_MS));
	snprintf(id_text, sizeof id_text, "%lld", (long long)h_num(p, "id"));
	values[0] = ASG;
	values[1] = "image-builder-stage";
	values[2] = "eu-west-1";
	values[3] = SHA_A;
	values[4] = AMI_A;
	values[5] = id_text;
	for (size_t i = 0; i < 6; i++) {
		const char *v = env_value(w.text, names[i], buf, sizeof buf);

		if (v == NULL || strcmp(v, values[i]) != 0)
			fail_msg("%s is %s, expected %s; the environment:\n%s", names[i], v != NULL ? v : "(unset)",
				 values[i], w.text);
	}
	free(w.text);
	json_decref(p);
	json_decref(done);
}

struct group_wait {
	long pgid;
};

static bool group_gone(void *ctx)
{
	struct group_wait *w = ctx;

	return live_in_group(w->pgid) == 0;
}

static void command_killed_after_timeout(void **state)
{
	struct h_fx *f = *state;
	char path[400];
	struct file_wait fw = { path, NULL };
	struct group_wait gw = { 0 };
	json_t *p, *done;
	int64_t t0;

	p = promote_a(f);
	t0 = support_now_ms();
	snprintf(path, sizeof path, "%s/trigger-pgid", f->p.dir);
	assert_true(support_wait_until(file_there, &fw, WAIT_MS)); /* the command ran */
	free(fw.text);
	done = wait_trigger(f, 1, h_num(p, "id"), "failed", 1, WAIT_MS);
	assert_true(support_now_ms() - t0 < 5000);
	assert_int_equal(h_num(done, "trigger.attempts"), 1);
	assert_non_null(h_str(done, "trigger.last_error"));
	assert_non_null(strstr(h_str(done, "trigger.last_error"), "killed"));
	/* the script and its `sleep 30`: the whole process group is gone */
	gw.pgid = script_pgid(f);
	assert_true(gw.pgid > 1);
	if (!support_wait_until(group_gone, &gw, 3000))
		fail_msg("%d process(es) of the command's group %ld still alive", live_in_group(gw.pgid), gw.pgid);
	json_decref(p);
	json_decref(done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(retries_then_delivered, setup_retry5, teardown),
		cmocka_unit_test_setup_teardown(backoff_capped, setup_retry5_cap1, teardown),
		cmocka_unit_test_setup_teardown(retry_survives_restart, setup_retry5, teardown),
		cmocka_unit_test_setup_teardown(sigterm_during_attempt, setup_long_timeout, teardown),
		cmocka_unit_test_setup_teardown(max_attempts_failed, setup_retry2, teardown),
		cmocka_unit_test_setup_teardown(newer_promotion_supersedes, setup_retry20, teardown),
		cmocka_unit_test_setup_teardown(bearer_token_sent_not_logged, setup_token, teardown),
		cmocka_unit_test_setup_teardown(url_timeout_is_a_failed_attempt, setup_url_timeout, teardown),
		cmocka_unit_test_setup_teardown(command_gets_environment, setup_env_command, teardown),
		cmocka_unit_test_setup_teardown(command_killed_after_timeout, setup_hang_command, teardown),
		cmocka_unit_test_setup_teardown(pin_file_blocked_trigger_waits, setup_pins_blocked, teardown),
		cmocka_unit_test_setup_teardown(retrying_is_a_problem, setup_retry5, teardown),
		cmocka_unit_test_setup_teardown(failed_then_retriggered, setup_retry2, teardown),
		cmocka_unit_test_setup_teardown(retrigger_refused, setup_retry2, teardown),
	};

	return h_run_tests("integration: trigger", tests, NULL, NULL);
}
