/*
 * test_availability.c — reads and replays never stall deliveries, checked
 * against the real binary with a database of some size (thousands of stored
 * events, as many AMIs) seeded straight into SQLite.
 *
 * While a full replay and a dry-run replay run, and other clients keep asking
 * the heaviest read endpoints, a sender keeps delivering: every delivery made
 * while the replay was still running is acknowledged, and none waited for the
 * replay: the slowest took less than half the replay's own time (a
 * ratio within one run, so a slow or shared machine, or a sanitizer build,
 * moves both sides), and less than EventBridge's 5 s timeout. This is a bound
 * on an ordering property, not a benchmark.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_PUSHES 4000
#define SEED_AMIS 4000
#define WAIT_MS 120000
#define SENDER_TIMEOUT_MS 5000   /* EventBridge gives up on a delivery after 5 s (GitLab: 10 s) */

/* amicd is started by the test, after the seed. */
static int setup(void **state)
{
	return h_proc_setup(state, NULL, false);
}

static void hex40(unsigned n, char out[41])
{
	snprintf(out, 41, "%08x%032x", n, 0xabcdefu);
}

/* Insert queued events straight into the database: a long push history and AMIs tagged with its commits. */
static void seed(const struct amicd_proc *p)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL, *b = NULL;
	json_t *push = support_fixture_json("gitlab-push.json");
	json_t *shared = support_fixture_json("eventbridge-ami-shared.json");

	assert_non_null(push);
	assert_non_null(shared);
	assert_int_equal(sqlite3_open(p->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
		"INSERT INTO events (source, kind, delivery_id, dedup_key, received_at, status, payload_sha256)"
		" VALUES (?1, ?2, ?3, ?3, '2026-11-24T20:00:00.000Z', 'queued', '')",
		-1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
		"INSERT INTO event_bodies (event_id, headers, payload) VALUES (last_insert_rowid(), '{}', ?1)",
		-1, &b, NULL), SQLITE_OK);
	for (unsigned i = 0; i < SEED_PUSHES + SEED_AMIS; i++) {
		char before[41], after[41], key[64], image[32];
		char *text;

		if (i < SEED_PUSHES) {
			hex40(i, before);
			hex40(i + 1, after);
			json_object_set_new(push, "before", json_string(before));
			json_object_set_new(push, "after", json_string(after));
			text = json_dumps(push, JSON_COMPACT);
			snprintf(key, sizeof key, "idem:seed-push-%u", i);
			sqlite3_bind_text(s, 1, "gitlab", -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, "push", -1, SQLITE_STATIC);
		} else {
			unsigned k = i - SEED_PUSHES;

			hex40(k % SEED_PUSHES, after);
			snprintf(image, sizeof image, "ami-0%016x", k);
			snprintf(key, sizeof key, "seed-ami-%u", k);
			json_object_set_new(shared, "id", json_string(key));
			json_object_set_new(json_object_get(shared, "detail"), "ImageId", json_string(image));
			json_object_set_new(json_object_get(json_object_get(shared, "detail"), "Tags"), "git-sha",
					    json_string(after));
			text = json_dumps(shared, JSON_COMPACT);
			sqlite3_bind_text(s, 1, "eventbridge", -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, "ami_shared", -1, SQLITE_STATIC);
		}
		sqlite3_bind_text(s, 3, key, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_reset(s);
		sqlite3_bind_blob(b, 1, text, (int)strlen(text), SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(b), SQLITE_DONE);
		sqlite3_reset(b);
		free(text);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(b);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	json_decref(push);
	json_decref(shared);
}

static bool none_queued(void *ctx)
{
	return h_db_int(ctx, "SELECT count(*) FROM events WHERE status = 'queued'", NULL) == 0;
}

struct background {
	const struct amicd_proc *p;
	const char *path;          /* GET path (reads), or NULL: POST replay body */
	const char *body;
	atomic_bool done;
	atomic_bool stop;
	long status;
	atomic_int requests;
};

static void *replay_thread(void *arg)
{
	struct background *b = arg;
	const char *headers[] = { "Content-Type: application/json", "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL };
	struct http_result r;

	if (h_post(b->p, "/api/v1/admin/replay", headers, b->body, strlen(b->body), &r) == 0)
		b->status = r.status;
	http_result_free(&r);
	atomic_store(&b->done, true);
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct background *b = arg;

	while (!atomic_load(&b->stop)) {
		struct http_result r;

		if (h_get(b->p, b->path, NULL, &r) == 0)
			b->status = r.status;
		http_result_free(&r);
		atomic_fetch_add(&b->requests, 1);
	}
	return NULL;
}

/* Deliver while *done is false; every answer 2xx; *worst_ms the slowest. Returns how many. */
static int deliver_while(const struct amicd_proc *p, const char *body, atomic_bool *done, int64_t *worst_ms)
{
	int n = 0;

	*worst_ms = 0;
	while (!atomic_load(done)) {
		char idem[64];
		int64_t t0 = support_now_ms(), took;
		long status;

		snprintf(idem, sizeof idem, "during-%d-%lld", n, (long long)t0);
		status = h_post_gitlab(p, "Push Hook", idem, body, NULL, NULL, 0);
		took = support_now_ms() - t0;
		if (status != 202)
			fail_msg("delivery %d during the replay answered %ld", n, status);
		if (took > *worst_ms)
			*worst_ms = took;
		n++;
	}
	return n;
}

static void replay_and_reads_do_not_stall_deliveries(void **state)
{
	struct amicd_proc *p = *state;
	static const char *const replays[] = { "{\"dry_run\":true}", "{}" };
	char *push = support_fixture("gitlab-push.json", NULL);
	int64_t t0;

	assert_non_null(push);
	/* the schema first, then the history, then amicd works it off */
	assert_int_equal(harness_start(p), 0);
	assert_int_equal(harness_stop(p, SIGTERM, 10000), 0);
	seed(p);
	t0 = support_now_ms();
	assert_int_equal(harness_start(p), 0);
	assert_true(support_wait_until(none_queued, p, WAIT_MS));
	print_message("seeded %d events; the worker took them in %lld ms\n", SEED_PUSHES + SEED_AMIS,
		      (long long)(support_now_ms() - t0));

	for (size_t i = 0; i < sizeof replays / sizeof replays[0]; i++) {
		struct background replay = { .p = p, .body = replays[i] };
		struct background reads[2] = { { .p = p, .path = "/api/v1/commits?limit=500" },
					       { .p = p, .path = "/api/v1/amis?limit=500" } };
		pthread_t rt, readers[2];
		int64_t worst, took, started = support_now_ms();
		int n;

		for (int k = 0; k < 2; k++)
			assert_int_equal(pthread_create(&readers[k], NULL, reader_thread, &reads[k]), 0);
		assert_int_equal(pthread_create(&rt, NULL, replay_thread, &replay), 0);
		n = deliver_while(p, push, &replay.done, &worst);
		pthread_join(rt, NULL);
		for (int k = 0; k < 2; k++) {
			atomic_store(&reads[k].stop, true);
			pthread_join(readers[k], NULL);
			assert_int_equal(reads[k].status, 200);
		}
		took = support_now_ms() - started;
		print_message("replay %s: %lld ms; %d deliveries meanwhile, the slowest %lld ms; %d + %d heavy reads\n",
			      replays[i], (long long)took, n, (long long)worst,
			      atomic_load(&reads[0].requests), atomic_load(&reads[1].requests));
		assert_int_equal(replay.status, 200);
		assert_true(n >= 3); /* the replay took long enough for the check to mean something */
		if (worst * 2 >= took || worst >= SENDER_TIMEOUT_MS)
			fail_msg("a delivery during replay %s took %lld ms of the replay's %lld ms: it waited for it",
				 replays[i], (long long)worst, (long long)took);
	}
	free(push);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(replay_and_reads_do_not_stall_deliveries, setup, h_proc_teardown),
	};

	return h_run_tests("availability", tests, NULL, NULL);
}
