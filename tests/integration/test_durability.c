/*
 * test_durability.c — what a 2xx promises, checked against the real binary:
 *
 *  - 200 deliveries sent at once (curl multi, 200 connections) are all
 *    acknowledged and all stored, once each;
 *  - crash: deliveries are sent by several threads while amicd is killed with
 *    SIGKILL at a random moment; restarted on the same database, every delivery
 *    that got a 2xx is there exactly once with the id it was given, the database
 *    passes integrity_check, and re-sending everything gives duplicates for
 *    what was acknowledged and never a second row. Repeated over rounds; the
 *    random seed is printed so a failure can be replayed (AMICD_TEST_SEED).
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONCURRENT 200
#define CRASH_ROUNDS 4
#define CRASH_THREADS 8
#define PER_THREAD_MAX 4000

static char *push_body;
static size_t push_len;

static int group_setup(void **state)
{
	(void)state;
	push_body = support_fixture("gitlab-push.json", &push_len);
	return push_body != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	free(push_body);
	return 0;
}

static int setup(void **state)
{
	return h_proc_setup(state, NULL, true);
}

struct sink {
	char data[256];
	size_t len;
};

static size_t to_sink(char *ptr, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;
	size_t take = size * n;

	if (take > sizeof s->data - 1 - s->len)
		take = sizeof s->data - 1 - s->len;
	memcpy(s->data + s->len, ptr, take);
	s->len += take;
	s->data[s->len] = '\0';
	return size * n;
}

/* POST the push fixture with headers, its answer into s. */
static void setup_post(CURL *c, const struct amicd_proc *p, struct curl_slist *h, struct sink *s)
{
	h_curl_gitlab_post(c, p, h, push_body, push_len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
}

static int64_t event_id_of(const struct sink *s)
{
	json_t *j = json_loads(s->data, 0, NULL);
	int64_t id = json_integer_value(json_object_get(j, "event_id"));

	json_decref(j);
	return id;
}

static void concurrent_deliveries_all_stored(void **state)
{
	struct amicd_proc *p = *state;
	CURLM *multi = curl_multi_init();
	CURL *easy[CONCURRENT];
	struct curl_slist *hdrs[CONCURRENT];
	struct sink sinks[CONCURRENT];
	int running = 0, ok = 0;
	int64_t deadline = support_now_ms() + 60000;

	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)CONCURRENT);
	for (int i = 0; i < CONCURRENT; i++) {
		char key[32];

		snprintf(key, sizeof key, "concurrent-%d", i);
		memset(&sinks[i], 0, sizeof sinks[i]);
		hdrs[i] = h_gitlab_slist(key);
		easy[i] = curl_easy_init();
		setup_post(easy[i], p, hdrs[i], &sinks[i]);
		curl_easy_setopt(easy[i], CURLOPT_FRESH_CONNECT, 1L);
		curl_multi_add_handle(multi, easy[i]);
	}
	do {
		curl_multi_perform(multi, &running);
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	} while (running > 0 && support_now_ms() < deadline);
	assert_int_equal(running, 0);
	for (int i = 0; i < CONCURRENT; i++) {
		long code = 0;

		curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
		if (code == 202 && strstr(sinks[i].data, "\"queued\"") != NULL)
			ok++;
		else
			print_error("delivery %d: HTTP %ld %s\n", i, code, sinks[i].data);
		curl_multi_remove_handle(multi, easy[i]);
		curl_easy_cleanup(easy[i]);
		curl_slist_free_all(hdrs[i]);
	}
	curl_multi_cleanup(multi);
	assert_int_equal(ok, CONCURRENT);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events", NULL), CONCURRENT);
	assert_int_equal(h_db_int(p, "SELECT count(DISTINCT delivery_id) FROM events", NULL), CONCURRENT);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE delivery_id LIKE 'concurrent-%'", NULL), CONCURRENT);
}

/* --- crash -------------------------------------------------------------------- */

struct sender {
	pthread_t thread;
	const struct amicd_proc *p;
	int round, index;
	atomic_bool *stop;
	atomic_int *acked_total;
	int sent;                      /* attempted keys: 0..sent-1 */
	int64_t acked_id[PER_THREAD_MAX]; /* 0: no 2xx seen */
};

static void key_of(char *buf, size_t size, int round, int thread, int i)
{
	snprintf(buf, size, "crash-r%d-t%d-%d", round, thread, i);
}

static void *send_loop(void *arg)
{
	struct sender *s = arg;
	CURL *c = curl_easy_init();

	for (int i = 0; i < PER_THREAD_MAX && !atomic_load(s->stop); i++) {
		char key[64];
		struct curl_slist *h;
		struct sink sink = { { 0 }, 0 };
		long code = 0;

		key_of(key, sizeof key, s->round, s->index, i);
		h = h_gitlab_slist(key);
		setup_post(c, s->p, h, &sink);
		s->sent = i + 1;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_slist_free_all(h);
		if (code == 202) {
			s->acked_id[i] = event_id_of(&sink);
			atomic_fetch_add(s->acked_total, 1);
		} else if (code != 0) {
			print_error("unexpected HTTP %ld for %s: %s\n", code, key, sink.data);
		} else {
			break; /* the server is gone */
		}
	}
	curl_easy_cleanup(c);
	return NULL;
}

static void crash_keeps_every_acknowledged_delivery(void **state)
{
	struct amicd_proc *p = *state;
	const char *seed_env = getenv("AMICD_TEST_SEED");
	unsigned seed = seed_env != NULL ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
	static struct sender senders[CRASH_THREADS];
	int64_t total_acked = 0;

	print_message("crash test seed %u (AMICD_TEST_SEED to replay)\n", seed);
	srand(seed);
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		atomic_bool stop = false;
		atomic_int acked = 0;
		int want = 20 + rand() % 200;
		int64_t deadline = support_now_ms() + 30000;
		int64_t round_acked = 0;

		for (int t = 0; t < CRASH_THREADS; t++) {
			memset(&senders[t], 0, sizeof senders[t]);
			senders[t].p = p;
			senders[t].round = round;
			senders[t].index = t;
			senders[t].stop = &stop;
			senders[t].acked_total = &acked;
			assert_int_equal(pthread_create(&senders[t].thread, NULL, send_loop, &senders[t]), 0);
		}
		/* kill at a random point once some deliveries are acknowledged, mid-stream */
		while (atomic_load(&acked) < want && support_now_ms() < deadline) {
			struct timespec pause = { 0, 1000 * 1000 };

			nanosleep(&pause, NULL);
		}
		assert_int_equal(harness_stop(p, SIGKILL, 5000), 128 + SIGKILL);
		atomic_store(&stop, true);
		for (int t = 0; t < CRASH_THREADS; t++)
			pthread_join(senders[t].thread, NULL);

		assert_int_equal(harness_start(p), 0);
		assert_int_equal(h_db_int(p, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'", NULL), 0);
		for (int t = 0; t < CRASH_THREADS; t++) {
			for (int i = 0; i < senders[t].sent; i++) {
				char key[64], sql[160];
				int64_t n;

				key_of(key, sizeof key, round, t, i);
				n = h_db_int(p, "SELECT count(*) FROM events WHERE delivery_id = ?1", key);
				if (senders[t].acked_id[i] != 0) {
					round_acked++;
					if (n != 1)
						fail_msg("acknowledged delivery %s stored %lld times", key, (long long)n);
					snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE id = %lld AND delivery_id = ?1",
						 (long long)senders[t].acked_id[i]);
					assert_int_equal(h_db_int(p, sql, key), 1);
				} else {
					assert_true(n == 0 || n == 1); /* committed but the answer was lost: allowed */
				}
			}
		}
		/* the senders retry everything: acknowledged ones are duplicates, nothing is stored twice */
		for (int t = 0; t < CRASH_THREADS; t++) {
			for (int i = 0; i < senders[t].sent; i++) {
				char key[64], idem[128];
				const char *h[8];
				struct http_result r;

				key_of(key, sizeof key, round, t, i);
				h_gitlab_headers(h, "Push Hook", key, idem);
				assert_int_equal(h_post(p, "/hooks/gitlab", h, push_body, push_len, &r), 0);
				if (senders[t].acked_id[i] != 0) {
					assert_int_equal(r.status, 200);
					assert_non_null(strstr(r.body, "\"duplicate\""));
				} else {
					assert_true(r.status == 200 || r.status == 202);
				}
				http_result_free(&r);
				assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE delivery_id = ?1", key), 1);
			}
		}
		print_message("round %d: killed after %lld acknowledged deliveries; all present once\n", round,
			      (long long)round_acked);
		total_acked += round_acked;
	}
	assert_true(total_acked >= CRASH_ROUNDS * 20);
	assert_int_equal(h_db_int(p, "SELECT count(*) - count(DISTINCT delivery_id) FROM events", NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(concurrent_deliveries_all_stored, setup, h_proc_teardown),
		cmocka_unit_test_setup_teardown(crash_keeps_every_acknowledged_delivery, setup, h_proc_teardown),
	};

	return h_run_tests("integration: durability", tests, group_setup, group_teardown);
}
