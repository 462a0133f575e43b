/*
 * test_faults.c — the whole server, in this process, over the fault VFS: a
 * write, sync or truncate of the database fails (full disk, I/O error) at
 * every call of a delivery's commit, of the worker's pass and of an admin
 * action, in turn. After each: the client was told 503 + Retry-After, /readyz
 * said not ready, nothing acknowledged is missing, and once the fault is
 * lifted the same operation succeeds — without a restart.
 *
 * The server is started with server_start() on 127.0.0.1:0 from a config
 * written to a temp dir; requests go over loopback with libcurl. Faults can be
 * limited to one thread (faultvfs_only_thread), so the worker's or an admin
 * request's writes fail while deliveries still commit, or held
 * (faultvfs_hold), so a thread stops at a known point while others go on.
 * Waiting is polling with a deadline, never a fixed sleep.
 */
#include "app.h"
#include "config.h"
#include "faultvfs.h"
#include "log.h"
#include "server.h"
#include "support.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 30000

struct fx {
	char dir[PATH_MAX - 64];
	char db[PATH_MAX];
	struct config *cfg;
	struct app *app;
	char base[64];
	char *push;           /* gitlab-push.json */
	int n;                /* deliveries made, for unique keys */
	int acked;            /* deliveries answered 2xx */
	bool frozen;          /* the ASG's state after the last admin action that went through */
};

/* --- plumbing -------------------------------------------------------------- */

static void request(struct fx *fx, const char *method, const char *path, const char *const *headers,
		    const char *body, struct http_result *r)
{
	char url[256];

	snprintf(url, sizeof url, "%s%s", fx->base, path);
	support_http(method, url, headers, body, body != NULL ? strlen(body) : 0, 30000L, r);
}

/* The answer told the client to come back: Retry-After: 5. */
static void assert_retry_after(const struct http_result *r)
{
	char value[32];

	assert_non_null(http_result_header(r, "Retry-After", value, sizeof value));
	assert_string_equal(value, "5");
}

/* POST one push delivery with a fresh Idempotency-Key; its status (and the reply). */
static long deliver(struct fx *fx, struct http_result *r)
{
	char idem[96];
	const char *headers[] = { "Content-Type: application/json", "X-Gitlab-Event: Push Hook",
				  "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN, idem, NULL };

	snprintf(idem, sizeof idem, "Idempotency-Key: faults-%d", fx->n++);
	request(fx, "POST", "/hooks/gitlab", headers, fx->push, r);
	if (r->status >= 200 && r->status < 300)
		fx->acked++;
	return r->status;
}

static long get_status(struct fx *fx, const char *path)
{
	struct http_result r;
	long status;

	request(fx, "GET", path, NULL, NULL, &r);
	status = r.status;
	http_result_free(&r);
	return status;
}

/* a raw connection of its own; faults are off or on another thread while it reads */
static int64_t db_int(struct fx *fx, const char *sql)
{
	return support_db_int(fx->db, sql, NULL);
}

/* What a wait polls for: GET path answers want, or (sql set) the query returns want. */
struct until {
	struct fx *fx;
	const char *path;
	const char *sql;
	int64_t want;
};

static bool reached(void *ctx)
{
	struct until *u = ctx;

	return (u->sql != NULL ? db_int(u->fx, u->sql) : get_status(u->fx, u->path)) == u->want;
}

/* Poll until GET path answers want, or the deadline passes. */
static bool wait_status(struct fx *fx, const char *path, long want, int timeout_ms)
{
	struct until u = { fx, path, NULL, want };

	return support_wait_until(reached, &u, timeout_ms);
}

static bool wait_db(struct fx *fx, const char *sql, int64_t want, int timeout_ms)
{
	struct until u = { fx, NULL, sql, want };

	return support_wait_until(reached, &u, timeout_ms);
}

static int setup_with(void **state, const char *limits_extra)
{
	struct fx *fx = calloc(1, sizeof *fx);
	struct amicd_error err = { { 0 }, { 0 } };
	const struct amicd_opts opts = { .log_level = "error", .trigger_extra = "  max_attempts: 1\n",
					 .limits_extra = limits_extra };

	if (fx == NULL)
		return -1;
	if (support_tmpdir(fx->dir, sizeof fx->dir, NULL, "amicd-test-faults") != 0)
		return -1;
	snprintf(fx->db, sizeof fx->db, "%s/amicd.db", fx->dir);
	fx->push = support_fixture("gitlab-push.json", NULL);
	if (fx->push == NULL)
		return -1;
	fx->cfg = support_config_load(fx->dir, &opts);
	if (fx->cfg == NULL)
		return -1;
	log_set_level_name("error");
	faultvfs_disarm();
	if (server_start(fx->cfg, &fx->app, &err) != AMICD_OK) {
		print_error("server_start: %s\n", err.message);
		return -1;
	}
	snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%u", server_port(fx->app));
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

/* /readyz turns not ready after 1 s of work not taken (limits.stall_seconds) */
static int setup_stall(void **state)
{
	return setup_with(state, "  stall_seconds: 1\n");
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	faultvfs_disarm();
	if (!server_stop(&fx->app, 10000))
		print_error("server_stop: requests left suspended\n");
	config_free(fx->cfg);
	free(fx->push);
	support_rmtree(fx->dir);
	free(fx);
	return 0;
}

/*
 * One operation of the server, faulted at each of its calls in turn: clean()
 * does it once without a fault (its calls on thread are counted); attempt()
 * does it with the fault armed and returns whether the fault fired — when it
 * did not (the operation took another path), attempt() has checked that it
 * succeeded, otherwise that it failed the way it must; recover() runs once the
 * fault is lifted and checks that the same operation goes through again.
 */
struct faulted_op {
	const char *thread;
	void (*clean)(struct fx *fx);
	bool (*attempt)(struct fx *fx, unsigned op, int k);
	void (*recover)(struct fx *fx);
};

/* Fail every write, sync and truncate of fo, with a full disk and with an I/O error; how many fired. */
static int fault_every_call(struct fx *fx, const struct faulted_op *fo)
{
	static const unsigned ops[] = { FAULTVFS_WRITE, FAULTVFS_SYNC, FAULTVFS_TRUNCATE };
	int faulted = 0;

	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		for (int kind = 0; kind < 2; kind++) {
			int calls;

			faultvfs_only_thread(fo->thread);
			faultvfs_count_reset();
			fo->clean(fx);
			calls = faultvfs_count(ops[o]);
			faultvfs_disarm();
			for (int k = 1; k <= calls; k++) {
				bool fired;

				faultvfs_only_thread(fo->thread);
				faultvfs_arm(ops[o], FAULTVFS_ANY, k, true,
					     kind == 0 ? faultvfs_full_rc(ops[o]) : faultvfs_ioerr_rc(ops[o]));
				fired = fo->attempt(fx, ops[o], k);
				faultvfs_disarm();
				if (fired) {
					faulted++;
					fo->recover(fx);
				}
			}
		}
	}
	return faulted;
}

/* --- deliveries ------------------------------------------------------------- */

static void delivery_clean(struct fx *fx)
{
	struct http_result r;

	assert_int_equal(deliver(fx, &r), 202);
	http_result_free(&r);
}

static bool delivery_attempt(struct fx *fx, unsigned op, int k)
{
	struct http_result r;
	long status = deliver(fx, &r);

	if (faultvfs_fired() == 0) {
		assert_int_equal(status, 202);
		http_result_free(&r);
		return false;
	}
	/* the disk is "full": 503 with Retry-After, and not ready */
	if (status != 503)
		fail_msg("op %u call %d: answered %ld: %s", op, k, status, r.body ? r.body : "");
	assert_retry_after(&r);
	http_result_free(&r);
	assert_int_equal(get_status(fx, "/readyz"), 503);
	return true;
}

static void delivery_recover(struct fx *fx)
{
	/* ready again and accepting, without a restart */
	assert_true(wait_status(fx, "/readyz", 200, WAIT_MS));
	delivery_clean(fx);
}

static void test_every_call_of_a_delivery_commit(void **state)
{
	static const struct faulted_op fo = { "amicd-ingest", delivery_clean, delivery_attempt, delivery_recover };
	struct fx *fx = *state;
	int faulted = fault_every_call(fx, &fo);

	print_message("%d delivery commits faulted; every one answered 503, then recovered\n", faulted);
	assert_true(faulted > 0);
	/* nothing acknowledged is missing */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM events"), fx->acked);
}

/* --- the worker's pass ------------------------------------------------------ */

#define QUEUED "SELECT count(*) FROM events WHERE status = 'queued'"

static void pass_clean(struct fx *fx)
{
	delivery_clean(fx);
	assert_true(wait_db(fx, QUEUED, 0, WAIT_MS));
}

/* The worker's pass has failed (the fault fired) or gone through (nothing queued). */
static bool pass_over(void *ctx)
{
	return faultvfs_fired() != 0 || db_int(ctx, QUEUED) == 0;
}

static bool pass_attempt(struct fx *fx, unsigned op, int k)
{
	(void)op;
	(void)k;
	/* the delivery itself commits: the writer's thread is not faulted */
	delivery_clean(fx);
	/* give the worker its pass; it fails or goes through another path */
	support_wait_until(pass_over, fx, WAIT_MS);
	if (faultvfs_fired() == 0)
		return false;
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
	return true;
}

static void pass_recover(struct fx *fx)
{
	/* the next delivery wakes the worker, and everything queued is processed */
	pass_clean(fx);
	assert_true(wait_status(fx, "/readyz", 200, WAIT_MS));
}

static void test_every_call_of_a_worker_pass(void **state)
{
	static const struct faulted_op fo = { "amicd-worker", pass_clean, pass_attempt, pass_recover };
	struct fx *fx = *state;
	int faulted = fault_every_call(fx, &fo);

	print_message("%d worker passes faulted; each was retried and went through\n", faulted);
	assert_true(faulted > 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM events"), fx->acked);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM pushes"), fx->acked);
}

/* --- an admin action -------------------------------------------------------- */

#define FROZEN "SELECT frozen FROM asg_state WHERE asg = 'workers-stage'"

/* Freeze the ASG when it is not, unfreeze it when it is: its status, and the reply. */
static long toggle_freeze(struct fx *fx, struct http_result *r)
{
	const char *headers[] = { "Content-Type: application/json", "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL };

	request(fx, "POST", fx->frozen ? "/api/v1/admin/asgs/workers-stage/unfreeze" : "/api/v1/admin/asgs/workers-stage/freeze",
		headers, "{\"reason\":\"fault test\"}", r);
	if (r->status == 200)
		fx->frozen = !fx->frozen;
	return r->status;
}

static void admin_clean(struct fx *fx)
{
	struct http_result r;

	assert_int_equal(toggle_freeze(fx, &r), 200);
	http_result_free(&r);
}

static bool admin_attempt(struct fx *fx, unsigned op, int k)
{
	struct http_result r;
	long status = toggle_freeze(fx, &r);

	if (faultvfs_fired() == 0) {
		assert_int_equal(status, 200);
		http_result_free(&r);
		return false;
	}
	if (status != 503)
		fail_msg("op %u call %d: admin answered %ld: %s", op, k, status, r.body ? r.body : "");
	assert_retry_after(&r);
	http_result_free(&r);
	assert_int_equal(db_int(fx, FROZEN), fx->frozen); /* nothing changed */
	return true;
}

static void admin_recover(struct fx *fx)
{
	/* the same action goes through, and deliveries never stopped */
	admin_clean(fx);
	delivery_clean(fx);
}

static void test_every_call_of_an_admin_action(void **state)
{
	static const struct faulted_op fo = { "amicd-http-pool", admin_clean, admin_attempt, admin_recover };
	struct fx *fx = *state;
	int faulted = fault_every_call(fx, &fo);

	print_message("%d admin actions faulted; each answered 503 and changed nothing, then went through\n", faulted);
	assert_true(faulted > 0);
	assert_int_equal(db_int(fx, FROZEN), fx->frozen);
}

/* --- the database removed under the server ------------------------------------ */

static void test_database_removed(void **state)
{
	struct fx *fx = *state;
	struct http_result r;
	char path[PATH_MAX + 8];

	assert_int_equal(deliver(fx, &r), 202);
	http_result_free(&r);
	/* an operator deletes the files */
	unlink(fx->db);
	snprintf(path, sizeof path, "%s-wal", fx->db);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", fx->db);
	unlink(path);
	/* never acknowledged into a file no one can see: 503, and not ready */
	assert_int_equal(deliver(fx, &r), 503);
	assert_retry_after(&r);
	http_result_free(&r);
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(deliver(fx, &r), 503);
		http_result_free(&r);
	}
}

/* Only the write-ahead log deleted: the newest commits live there, so the same. */
static void test_wal_removed(void **state)
{
	struct fx *fx = *state;
	struct http_result r;
	char path[PATH_MAX + 8];

	assert_int_equal(deliver(fx, &r), 202);
	http_result_free(&r);
	snprintf(path, sizeof path, "%s-wal", fx->db);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(deliver(fx, &r), 503);
	http_result_free(&r);
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
}

/* --- a hung disk: readiness says so while it lasts, and recovers ----------------- */

struct bg_delivery {
	struct fx *fx;
	long status;
	pthread_t thread;
};

static void *deliver_in_background(void *arg)
{
	struct bg_delivery *d = arg;
	struct http_result r;

	d->status = deliver(d->fx, &r);
	http_result_free(&r);
	return NULL;
}

static bool some_call_held(void *ctx)
{
	(void)ctx;
	return faultvfs_held() > 0;
}

/* The /readyz reason, or "" (the caller frees nothing: static buffer). */
static const char *ready_reason(struct fx *fx)
{
	static char reason[512];
	struct http_result r;
	json_t *j;

	request(fx, "GET", "/readyz", NULL, NULL, &r);
	j = r.body != NULL ? json_loads(r.body, 0, NULL) : NULL;
	snprintf(reason, sizeof reason, "%s", json_string_value(json_object_get(j, "reason")) != NULL
						      ? json_string_value(json_object_get(j, "reason")) : "");
	json_decref(j);
	http_result_free(&r);
	return reason;
}

/* The writer's commit hangs (its fsync never returns): not ready after stall_seconds, ready once it returns. */
static void test_writer_hung(void **state)
{
	struct fx *fx = *state;
	struct bg_delivery d = { .fx = fx };

	assert_int_equal(get_status(fx, "/readyz"), 200);
	faultvfs_hold(FAULTVFS_SYNC, "amicd-ingest");
	assert_int_equal(pthread_create(&d.thread, NULL, deliver_in_background, &d), 0);
	assert_true(support_wait_until(some_call_held, NULL, WAIT_MS));
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
	assert_non_null(strstr(ready_reason(fx), "writer"));
	faultvfs_release();
	pthread_join(d.thread, NULL);
	assert_int_equal(d.status, 202); /* acknowledged once it was on disk */
	assert_true(wait_status(fx, "/readyz", 200, WAIT_MS));
}

/*
 * The worker's commit hangs: not ready after stall_seconds; a delivery meanwhile
 * is answered 503 + Retry-After (the write lock is not waited for without
 * bound); ready again, and every stored event taken, once the commit returns.
 */
static void test_worker_hung(void **state)
{
	struct fx *fx = *state;
	struct http_result r;

	assert_int_equal(get_status(fx, "/readyz"), 200);
	faultvfs_hold(FAULTVFS_SYNC, "amicd-worker");
	assert_int_equal(deliver(fx, &r), 202); /* the writer is fine: stored */
	http_result_free(&r);
	assert_true(support_wait_until(some_call_held, NULL, WAIT_MS));
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
	assert_non_null(strstr(ready_reason(fx), "worker"));
	/* the hung pass holds the write lock: a delivery gets 503 within busy_timeout, never hangs */
	assert_int_equal(deliver(fx, &r), 503);
	assert_retry_after(&r);
	http_result_free(&r);
	faultvfs_release();
	assert_true(wait_status(fx, "/readyz", 200, WAIT_MS));
	assert_true(wait_db(fx, "SELECT count(*) FROM events WHERE status = 'queued'", 0, WAIT_MS));
}

/* An EC2 AMI State Change for an image no ASG can see: facts that concern no ASG. */
static void deliver_unrelated(struct fx *fx, int n)
{
	const char *headers[] = { "Content-Type: application/json", "x-api-key: " SUPPORT_EB_KEY, NULL };
	struct http_result r;
	char body[512];

	snprintf(body, sizeof body,
		 "{\"version\":\"0\",\"id\":\"unrelated-%d\",\"detail-type\":\"EC2 AMI State Change\","
		 "\"source\":\"aws.ec2\",\"account\":\"999988887777\",\"time\":\"2026-12-01T00:00:00Z\","
		 "\"region\":\"ap-south-1\",\"resources\":[],\"detail\":{\"ImageId\":\"ami-0%016d\","
		 "\"State\":\"available\"}}", n, n);
	request(fx, "POST", "/hooks/eventbridge", headers, body, &r);
	assert_int_equal(r.status, 202);
	http_result_free(&r);
}

/*
 * worker_redecide (the reconciler's wake-up once a source has failed long
 * enough) makes the next pass decide every ASG even when that pass has events
 * whose facts concern none. The ASG's AMI is made ready behind the worker's back
 * (rows written directly), so only a full decision promotes it. The worker's
 * pass for a first unrelated event is held at its first read, after its walk
 * took its snapshot; worker_redecide and a second unrelated event come while it
 * is held, so the next pass has that event to apply. Without the full decision
 * nothing would promote before the 30 s idle pass.
 */
static void test_redecide_with_events_queued(void **state)
{
	struct fx *fx = *state;
	struct http_result r;
	char msg[256];

	assert_int_equal(deliver(fx, &r), 202); /* head: the fixture's after, 61c979e… */
	http_result_free(&r);
	assert_true(wait_db(fx, "SELECT count(*) FROM events WHERE status = 'queued'", 0, WAIT_MS));
	if (support_db_exec(fx->db,
			    "INSERT INTO amis (region, image_id, owner, state, state_time, state_event, created_ms,"
			    " first_event, state_rank) VALUES ('eu-west-1', 'ami-0feed00000000001', '"
			    SUPPORT_ACCOUNT_UID "', 'available', 1764547200000, 1, 1764547200000, 1, 1);"
			    "INSERT INTO ami_tag_ops (region, image_id, account, key, op, value, ev_time, event_id)"
			    " VALUES ('eu-west-1', 'ami-0feed00000000001', '" SUPPORT_ACCOUNT_UID "', 'git-sha', 'set',"
			    " '61c979eab8ea475e0b84db7556d2049e9dae6d89', 1764547200000, 1);"
			    "INSERT INTO ami_tags (region, image_id, account, key, value, ev_time, event_id)"
			    " VALUES ('eu-west-1', 'ami-0feed00000000001', '" SUPPORT_ACCOUNT_UID "', 'git-sha',"
			    " '61c979eab8ea475e0b84db7556d2049e9dae6d89', 1764547200000, 1);"
			    "INSERT INTO ami_shares (region, image_id, account, shared, ev_time, event_id)"
			    " VALUES ('eu-west-1', 'ami-0feed00000000001', '" SUPPORT_ACCOUNT_UID "', 1, 1764547200000, 1);",
			    msg, sizeof msg) != 0)
		fail_msg("seed the AMI: %s", msg);
	faultvfs_hold(FAULTVFS_READ, "amicd-worker");
	deliver_unrelated(fx, 1);
	assert_true(support_wait_until(some_call_held, NULL, WAIT_MS));
	worker_redecide(fx->app->worker);
	deliver_unrelated(fx, 2); /* the held pass's snapshot does not have it: the next pass does */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM pins"), 0);
	faultvfs_release();
	assert_true(wait_db(fx, "SELECT count(*) FROM events WHERE status = 'queued'", 0, WAIT_MS));
	if (!wait_db(fx, "SELECT count(*) FROM pins WHERE image_id = 'ami-0feed00000000001'", 1, 5000))
		fail_msg("worker_redecide did not make the next pass decide every ASG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_call_of_a_delivery_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_call_of_a_worker_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_call_of_an_admin_action, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redecide_with_events_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_hung, setup_stall, teardown),
		cmocka_unit_test_setup_teardown(test_worker_hung, setup_stall, teardown),
	};
	int rc;

	if (faultvfs_register() != SQLITE_OK)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("faults", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
