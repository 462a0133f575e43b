/*
 * test_disk.c — a full disk, for real: the database on a small tmpfs of its
 * own (mount -t tmpfs; the tests run as root in CI, and skip with a message
 * where mounting is refused), filled while 8 senders deliver.
 *
 * What must hold: every delivery answered 2xx is in the database afterwards;
 * every other answer during the full period is 503 with Retry-After (never a
 * hang, a 500 or a dropped connection); /readyz is not 200 while full; once
 * space is freed, deliveries get 2xx again within seconds without a restart;
 * and SIGTERM, even while the disk is full and senders are waiting, exits 0.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define SENDERS 8
#define MAX_ACKED 200000
#define WAIT_MS 60000

struct disk {
	char mnt[256];
	char db[320];
	char filler[320];
	bool mounted;
	struct amicd_proc p;
	bool started;
};

struct senders {
	const struct amicd_proc *p;
	const char *body;
	size_t len;
	atomic_bool stop;
	atomic_int acked, unavailable, bad, seq;
	atomic_int_fast64_t last_ok_ms, first_503_ms;
	pthread_mutex_t lock;
	char **acked_keys;
	size_t n_acked;
	char bad_answer[256];
};

static int setup(void **state)
{
	struct disk *d = calloc(1, sizeof *d);

	if (d == NULL)
		return -1;
	if (support_tmpdir(d->mnt, sizeof d->mnt, NULL, "amicd-disk") != 0) {
		free(d);
		return -1;
	}
	snprintf(d->db, sizeof d->db, "%s/amicd.db", d->mnt);
	snprintf(d->filler, sizeof d->filler, "%s/filler", d->mnt);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct disk *d = *state;

	harness_cleanup(&d->p);
	if (d->mounted && umount(d->mnt) != 0)
		fprintf(stderr, "umount %s: %s\n", d->mnt, strerror(errno));
	rmdir(d->mnt);
	free(d);
	return 0;
}

/* Mount a tmpfs of size bytes at d->mnt, or skip the test with the reason. */
static void mount_or_skip(struct disk *d, size_t size)
{
	char opts[64];

	if (geteuid() != 0) {
		print_message("SKIPPED: mounting a tmpfs needs root (CI runs the tests as root)\n");
		skip();
	}
	snprintf(opts, sizeof opts, "size=%zu,mode=0700", size);
	if (mount("tmpfs", d->mnt, "tmpfs", 0, opts) != 0) {
		print_message("SKIPPED: mount -t tmpfs refused here (%s); the disk-full test needs it\n", strerror(errno));
		skip();
	}
	d->mounted = true;
}

/* Fill the disk but for keep bytes. */
static void fill(const struct disk *d, size_t keep)
{
	struct statvfs sv;
	static char block[65536];
	int fd = open(d->filler, O_WRONLY | O_CREAT | O_APPEND, 0600);
	uint64_t avail;

	assert_true(fd >= 0);
	assert_int_equal(statvfs(d->mnt, &sv), 0);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	memset(block, 'f', sizeof block);
	while (avail > keep + sizeof block) {
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			break;
		avail -= sizeof block;
	}
	close(fd);
}

static size_t sink(char *ptr, size_t size, size_t n, void *cls)
{
	(void)ptr;
	(void)cls;
	return size * n;
}

struct answer {
	bool retry_after;
};

static size_t header_cb(char *ptr, size_t size, size_t n, void *cls)
{
	struct answer *a = cls;

	if (size * n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
		a->retry_after = true;
	return size * n;
}

static void *sender(void *arg)
{
	struct senders *s = arg;
	CURL *c = curl_easy_init();

	while (!atomic_load(&s->stop)) {
		int seq = atomic_fetch_add(&s->seq, 1);
		char key[64];
		struct curl_slist *h = NULL;
		struct answer a = { false };
		long status = 0;
		CURLcode cc;

		snprintf(key, sizeof key, "disk-%d", seq);
		h = h_gitlab_slist(key);
		h_curl_gitlab_post(c, s->p, h, s->body, s->len);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
		cc = curl_easy_perform(c);
		curl_slist_free_all(h);
		if (cc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			char *copy = strdup(key);

			pthread_mutex_lock(&s->lock);
			if (copy != NULL && s->n_acked < MAX_ACKED)
				s->acked_keys[s->n_acked++] = copy;
			else
				free(copy);
			pthread_mutex_unlock(&s->lock);
			atomic_fetch_add(&s->acked, 1);
			atomic_store(&s->last_ok_ms, support_now_ms());
		} else if (status == 503 && a.retry_after) {
			int64_t none = 0;

			atomic_fetch_add(&s->unavailable, 1);
			atomic_compare_exchange_strong(&s->first_503_ms, &none, support_now_ms());
		} else if (!atomic_load(&s->stop)) {
			pthread_mutex_lock(&s->lock);
			if (s->bad_answer[0] == '\0')
				snprintf(s->bad_answer, sizeof s->bad_answer, "key %s: curl %d (%s), status %ld%s", key,
					 (int)cc, curl_easy_strerror(cc), status, status == 503 ? " without Retry-After" : "");
			pthread_mutex_unlock(&s->lock);
			atomic_fetch_add(&s->bad, 1);
		}
	}
	curl_easy_cleanup(c);
	return NULL;
}

static long readyz(const struct amicd_proc *p)
{
	struct http_result r;
	long status = -1;

	if (h_get(p, "/readyz", NULL, &r) == 0)
		status = r.status;
	http_result_free(&r);
	return status;
}

static bool ready(void *ctx)
{
	return readyz(ctx) == 200;
}

struct count_wait {
	atomic_int *counter;
	int above;
};

static bool counted(void *ctx)
{
	struct count_wait *w = ctx;

	return atomic_load(w->counter) > w->above;
}

static bool wait_for(atomic_int *counter, int above, int timeout_ms)
{
	struct count_wait w = { counter, above };

	return support_wait_until(counted, &w, timeout_ms);
}

static void check_all_acked_stored(struct disk *d, struct senders *s)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	char ok[32] = "";
	size_t missing = 0;

	assert_int_equal(sqlite3_open_v2(d->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE delivery_id = ?1", -1, &q, NULL),
			 SQLITE_OK);
	for (size_t i = 0; i < s->n_acked; i++) {
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, s->acked_keys[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int(q, 0) != 1) {
			if (missing++ < 5)
				print_error("acknowledged delivery %s is not stored exactly once\n", s->acked_keys[i]);
		}
	}
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		snprintf(ok, sizeof ok, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_int_equal(missing, 0);
	assert_string_equal(ok, "ok");
}

static void senders_start(struct senders *s, const struct amicd_proc *p, pthread_t *threads)
{
	memset(s, 0, sizeof *s);
	s->p = p;
	s->body = support_fixture("gitlab-push.json", &s->len);
	assert_non_null(s->body);
	s->acked_keys = calloc(MAX_ACKED, sizeof *s->acked_keys);
	assert_non_null(s->acked_keys);
	pthread_mutex_init(&s->lock, NULL);
	for (int i = 0; i < SENDERS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, sender, s), 0);
}

static void senders_stop(struct senders *s, pthread_t *threads)
{
	atomic_store(&s->stop, true);
	for (int i = 0; i < SENDERS; i++)
		pthread_join(threads[i], NULL);
}

static void senders_free(struct senders *s)
{
	for (size_t i = 0; i < s->n_acked; i++)
		free(s->acked_keys[i]);
	free(s->acked_keys);
	free((char *)s->body);
	pthread_mutex_destroy(&s->lock);
}

static void full_disk_then_space_back(void **state)
{
	struct disk *d = *state;
	struct amicd_opts opts = { .database = d->db };
	struct senders s;
	pthread_t threads[SENDERS];
	int64_t freed_ms, back_ms;
	long ready_while_full;
	int unavailable_at_free;

	mount_or_skip(d, 16u << 20);
	assert_int_equal(harness_init(&d->p, &opts), 0);
	assert_int_equal(harness_start(&d->p), 0);
	senders_start(&s, &d->p, threads);
	assert_true(wait_for(&s.acked, 50, WAIT_MS));

	/* the disk fills up under the senders */
	fill(d, 256 * 1024);
	if (!wait_for(&s.unavailable, 20, WAIT_MS))
		fail_msg("the disk filled, but no 503 came (acked %d, bad %d: %s)", atomic_load(&s.acked),
			 atomic_load(&s.bad), s.bad_answer);
	ready_while_full = readyz(&d->p);
	print_message("disk full: %d acknowledged, %d answered 503 + Retry-After, /readyz %ld\n",
		      atomic_load(&s.acked), atomic_load(&s.unavailable), ready_while_full);
	assert_int_equal(ready_while_full, 503);

	/* space comes back: deliveries are accepted again within seconds, no restart */
	unavailable_at_free = atomic_load(&s.unavailable);
	freed_ms = support_now_ms();
	assert_int_equal(unlink(d->filler), 0);
	{
		int acked_at_free = atomic_load(&s.acked);

		assert_true(wait_for(&s.acked, acked_at_free + 20, WAIT_MS));
	}
	back_ms = atomic_load(&s.last_ok_ms) - freed_ms;
	support_wait_until(ready, &d->p, WAIT_MS);
	assert_int_equal(readyz(&d->p), 200);
	print_message("space freed: 2xx again after %lld ms (503s meanwhile: %d)\n", (long long)back_ms,
		      atomic_load(&s.unavailable) - unavailable_at_free);
	senders_stop(&s, threads);
	if (atomic_load(&s.bad) > 0)
		fail_msg("%d answers were neither 2xx nor 503 + Retry-After; first: %s", atomic_load(&s.bad), s.bad_answer);

	assert_int_equal(harness_stop(&d->p, SIGTERM, 30000), 0);
	check_all_acked_stored(d, &s);
	senders_free(&s);
}

static void sigterm_while_full(void **state)
{
	struct disk *d = *state;
	struct amicd_opts opts = { .database = d->db };
	struct senders s;
	pthread_t threads[SENDERS];
	int status;

	mount_or_skip(d, 16u << 20);
	assert_int_equal(harness_init(&d->p, &opts), 0);
	assert_int_equal(harness_start(&d->p), 0);
	senders_start(&s, &d->p, threads);
	assert_true(wait_for(&s.acked, 20, WAIT_MS));
	fill(d, 128 * 1024);
	assert_true(wait_for(&s.unavailable, 20, WAIT_MS));
	/* stop while the disk is full and the senders keep sending */
	status = harness_stop(&d->p, SIGTERM, 30000);
	senders_stop(&s, threads);
	print_message("SIGTERM while full: exit %d after %d acknowledged, %d answered 503\n", status,
		      atomic_load(&s.acked), atomic_load(&s.unavailable));
	assert_int_equal(status, 0);
	assert_false(h_log_contains(&d->p, "suspended connections"));
	unlink(d->filler);
	check_all_acked_stored(d, &s);
	senders_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_disk_then_space_back, setup, teardown),
		cmocka_unit_test_setup_teardown(sigterm_while_full, setup, teardown),
	};

	return h_run_tests("disk", tests, NULL, NULL);
}
