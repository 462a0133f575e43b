/*
 * test_ingest.c — unit tests of ingest.c, the group-commit writer: batching
 * under concurrent submitters, duplicates inside and across batches, the
 * on_commit wake-up, the max_queued bound, a failed batch, draining on stop,
 * and the bounded rejected deliveries.
 *
 * Every test gets its own temporary directory with a database migrated to the
 * real (embedded) schema. Batches are made deterministic with a "gate": an
 * item whose done() blocks the writer thread until the test opens the gate, so
 * everything submitted meanwhile is known to form the next batch. Waiting is
 * always on a condition variable with a deadline, never a sleep.
 *
 * done() and on_commit run on the writer thread: they only record what they
 * saw under the context lock; all assertions run on the test's thread.
 */
#include "error.h"
#include "ingest.h"
#include "crypto.h"
#include "store.h"
#include "support.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_S 60 /* generous: sanitizer builds on a loaded machine */

struct fx;

struct titem {
	struct ingest_item it;
	struct fx *fx;
	char key[48];
	char payload[128];
	char message[48];
	bool gate;                /* done() blocks until the gate opens */
	/* written by done() under fx->lock */
	int calls;
	enum amicd_rc rc;
	char err[sizeof ((struct amicd_error *)0)->message];
};

struct fx {
	char dir[PATH_MAX - 64];
	char db[PATH_MAX];
	struct ingest *ig;
	struct amicd_error err;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done_calls;
	int commits;              /* on_commit calls */
	int64_t visible_at_commit; /* events another connection saw inside on_commit */
	struct store *reader;     /* that other connection, used only by on_commit */
	bool gate_entered;
	bool gate_open;

	struct titem *items;
	size_t n_items, cap_items;
};

/* --- callbacks (writer thread) -------------------------------------------- */

static void done_cb(struct ingest_item *item, enum amicd_rc rc, const struct amicd_error *err)
{
	struct titem *ti = item->cls;
	struct fx *fx = ti->fx;

	pthread_mutex_lock(&fx->lock);
	ti->calls++;
	ti->rc = rc;
	snprintf(ti->err, sizeof ti->err, "%s", err != NULL ? err->message : "");
	fx->done_calls++;
	pthread_cond_broadcast(&fx->cond);
	if (ti->gate) {
		fx->gate_entered = true;
		pthread_cond_broadcast(&fx->cond);
		while (!fx->gate_open)
			pthread_cond_wait(&fx->cond, &fx->lock);
	}
	pthread_mutex_unlock(&fx->lock);
}

static void commit_cb(void *cls)
{
	struct fx *fx = cls;
	int64_t n = -1;

	/* what a worker woken now would find, through its own connection */
	if (fx->reader != NULL)
		store_count(fx->reader, "events", &n, NULL);
	pthread_mutex_lock(&fx->lock);
	fx->commits++;
	fx->visible_at_commit = n;
	pthread_cond_broadcast(&fx->cond);
	pthread_mutex_unlock(&fx->lock);
}

/* --- waiting with a deadline ---------------------------------------------- */

static struct timespec deadline_in(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	return ts;
}

/* Wait until done() has been called n times in all; false on timeout. */
static bool wait_done(struct fx *fx, int n)
{
	struct timespec dl = deadline_in(WAIT_S);
	bool ok = true;

	pthread_mutex_lock(&fx->lock);
	while (fx->done_calls < n && ok)
		ok = pthread_cond_timedwait(&fx->cond, &fx->lock, &dl) != ETIMEDOUT || fx->done_calls >= n;
	ok = fx->done_calls >= n;
	pthread_mutex_unlock(&fx->lock);
	return ok;
}

static void assert_done(struct fx *fx, int n)
{
	if (!wait_done(fx, n))
		fail_msg("timed out waiting for %d done() calls (have %d)", n, fx->done_calls);
}

static void gate_arm(struct fx *fx)
{
	pthread_mutex_lock(&fx->lock);
	fx->gate_entered = false;
	fx->gate_open = false;
	pthread_mutex_unlock(&fx->lock);
}

/* Wait until the writer sits inside the gate item's done(). */
static void gate_wait_entered(struct fx *fx)
{
	struct timespec dl = deadline_in(WAIT_S);
	bool timed_out = false;

	pthread_mutex_lock(&fx->lock);
	while (!fx->gate_entered && !timed_out)
		timed_out = pthread_cond_timedwait(&fx->cond, &fx->lock, &dl) == ETIMEDOUT;
	timed_out = !fx->gate_entered;
	pthread_mutex_unlock(&fx->lock);
	if (timed_out)
		fail_msg("the writer never reached the gate");
}

static void gate_open(struct fx *fx)
{
	pthread_mutex_lock(&fx->lock);
	fx->gate_open = true;
	pthread_cond_broadcast(&fx->cond);
	pthread_mutex_unlock(&fx->lock);
}

static int item_calls(struct fx *fx, const struct titem *ti)
{
	int calls;

	pthread_mutex_lock(&fx->lock);
	calls = ti->calls;
	pthread_mutex_unlock(&fx->lock);
	return calls;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" to contain \"%s\"", hay != NULL ? hay : "(null)", needle);
}

/* --- items ---------------------------------------------------------------- */

static struct titem *new_item(struct fx *fx)
{
	struct titem *ti;

	assert_true(fx->n_items < fx->cap_items);
	ti = &fx->items[fx->n_items++];
	memset(ti, 0, sizeof *ti);
	ti->fx = fx;
	ti->it.done = done_cb;
	ti->it.cls = ti;
	return ti;
}

static struct titem *event_item(struct fx *fx, const char *source, const char *key, const char *status)
{
	struct titem *ti = new_item(fx);
	struct store_event *ev = &ti->it.event;

	snprintf(ti->key, sizeof ti->key, "%s", key);
	snprintf(ti->payload, sizeof ti->payload, "{\"key\":\"%s\",\"n\":%zu}", key, fx->n_items);
	ti->it.kind = INGEST_EVENT;
	ev->source = source;
	ev->kind = "push";
	ev->delivery_id = NULL;
	ev->dedup_key = ti->key;
	ev->status = status;
	ev->note = strcmp(status, "ignored") == 0 ? "not watched" : NULL;
	ev->headers_json = "{}";
	ev->payload = ti->payload;
	ev->payload_len = strlen(ti->payload);
	crypto_sha256_hex(ev->payload, ev->payload_len, ev->payload_sha256);
	ev->received_at_ms = util_now_ms();
	ev->id = -1;
	return ti;
}

static struct titem *queued(struct fx *fx, const char *key)
{
	return event_item(fx, "gitlab", key, "queued");
}

static struct titem *rejected_item(struct fx *fx, const char *message)
{
	struct titem *ti = new_item(fx);
	struct store_rejected *rj = &ti->it.rejected;

	snprintf(ti->message, sizeof ti->message, "%s", message);
	ti->it.kind = INGEST_REJECTED;
	rj->source = "eventbridge";
	rj->code = "bad_request";
	rj->message = ti->message;
	rj->json_path = "$.detail";
	rj->headers_json = "{}";
	rj->body = "{\"detail\":";
	rj->body_len = strlen("{\"detail\":");
	rj->received_at_ms = util_now_ms();
	return ti;
}

static struct titem *gate_item(struct fx *fx, const char *key, const char *status)
{
	struct titem *ti = event_item(fx, "gitlab", key, status);

	ti->gate = true;
	return ti;
}

static void submit_ok(struct fx *fx, struct titem *ti)
{
	assert_int_equal(ingest_submit(fx->ig, &ti->it), AMICD_OK);
}

/* Submit one item and wait for its done(); it is a batch of its own. */
static void submit_wait(struct fx *fx, struct titem *ti)
{
	int before;

	pthread_mutex_lock(&fx->lock);
	before = fx->done_calls;
	pthread_mutex_unlock(&fx->lock);
	submit_ok(fx, ti);
	assert_done(fx, before + 1);
	assert_int_equal(item_calls(fx, ti), 1);
}

/* --- database helpers ----------------------------------------------------- */

static int64_t db_count(struct fx *fx, const char *table)
{
	struct store *st = NULL;
	int64_t n = -1;

	if (store_open(fx->db, 1000, &st, &fx->err) != AMICD_OK ||
	    store_count(st, table, &n, &fx->err) != AMICD_OK)
		fail_msg("count %s: %s", table, fx->err.message);
	store_close(&st);
	return n;
}

static void db_text(struct fx *fx, const char *sql, char *buf, size_t size)
{
	assert_int_equal(support_db_text(fx->db, sql, buf, size), 0);
}

static sqlite3 *lock_db(struct fx *fx)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void start(struct fx *fx, int busy_ms, size_t max_queued, size_t rejected_keep, bool with_commit_cb)
{
	struct ingest_options opt = { .db_path = fx->db, .busy_timeout_ms = busy_ms, .max_queued = max_queued,
				      .rejected_keep = rejected_keep, .rejected_keep_bytes = 64 << 20,
				      .on_commit = with_commit_cb ? commit_cb : NULL, .on_commit_cls = fx };
	enum amicd_rc rc = ingest_start(&opt, &fx->ig, &fx->err);

	if (rc != AMICD_OK)
		fail_msg("ingest_start: %s", fx->err.message);
	assert_non_null(fx->ig);
}

static struct ingest_stats stats(struct fx *fx)
{
	struct ingest_stats s;

	ingest_stats_get(fx->ig, &s);
	return s;
}

/* --- fixture -------------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	struct store *st = NULL;

	if (fx == NULL)
		return -1;
	if (support_tmpdir(fx->dir, sizeof fx->dir, NULL, "amicd-test-ingest") != 0) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof fx->db, "%s/amicd.db", fx->dir);
	if (support_store_open_migrated(fx->db, 1000, &st, &fx->err) != AMICD_OK) {
		fprintf(stderr, "setup: %s\n", fx->err.message);
		return -1;
	}
	store_close(&st);
	pthread_mutex_init(&fx->lock, NULL);
	pthread_cond_init(&fx->cond, NULL);
	fx->gate_open = true;
	fx->cap_items = 8192;
	fx->items = calloc(fx->cap_items, sizeof *fx->items);
	if (fx->items == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	gate_open(fx); /* a failed test may have left the writer at the gate */
	ingest_stop(&fx->ig);
	store_close(&fx->reader);
	support_rmtree(fx->dir);
	pthread_cond_destroy(&fx->cond);
	pthread_mutex_destroy(&fx->lock);
	free(fx->items);
	free(fx);
	return 0;
}

/* --- tests ---------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 250

struct producer {
	struct fx *fx;
	size_t first;
	pthread_barrier_t *go;
	int refused;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	pthread_barrier_wait(p->go);
	for (size_t i = p->first; i < p->first + PER_THREAD; i++)
		if (ingest_submit(p->fx->ig, &p->fx->items[i].it) != AMICD_OK)
			p->refused++;
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void test_concurrent_submitters_batch(void **state)
{
	struct fx *fx = *state;
	pthread_t th[THREADS];
	struct producer p[THREADS];
	pthread_barrier_t go;
	int64_t *ids;
	struct ingest_stats s;
	const int total = THREADS * PER_THREAD;

	start(fx, 5000, 4096, 100, false);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			char key[32];

			snprintf(key, sizeof key, "t%d-i%d", t, i);
			queued(fx, key);
		}
	assert_int_equal(pthread_barrier_init(&go, NULL, THREADS), 0);
	for (int t = 0; t < THREADS; t++) {
		p[t] = (struct producer){ .fx = fx, .first = (size_t)t * PER_THREAD, .go = &go };
		assert_int_equal(pthread_create(&th[t], NULL, produce, &p[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(p[t].refused, 0);
	}
	pthread_barrier_destroy(&go);
	assert_done(fx, total);

	ids = calloc((size_t)total, sizeof *ids);
	assert_non_null(ids);
	pthread_mutex_lock(&fx->lock);
	for (int i = 0; i < total; i++) {
		const struct titem *ti = &fx->items[i];

		if (ti->calls != 1 || ti->rc != AMICD_OK || ti->it.event.duplicate) {
			pthread_mutex_unlock(&fx->lock);
			free(ids);
			fail_msg("item %d: calls %d rc %d duplicate %d (%s)", i, ti->calls, ti->rc,
				 ti->it.event.duplicate, ti->err);
		}
		ids[i] = ti->it.event.id;
	}
	pthread_mutex_unlock(&fx->lock);
	/* receipt order is kept: each thread's events got growing ids */
	for (int t = 0; t < THREADS; t++)
		for (int i = t * PER_THREAD + 1; i < (t + 1) * PER_THREAD; i++)
			if (ids[i] <= ids[i - 1]) {
				int64_t a = ids[i - 1], b = ids[i];

				free(ids);
				fail_msg("thread %d: item %d got id %lld after id %lld", t, i, (long long)b,
					 (long long)a);
			}
	qsort(ids, (size_t)total, sizeof *ids, cmp_i64);
	for (int i = 1; i < total; i++)
		if (ids[i] == ids[i - 1]) {
			int64_t dup = ids[i];

			free(ids);
			fail_msg("event id %lld given twice", (long long)dup);
		}
	assert_true(ids[0] > 0);
	free(ids);

	/* done() may only be called once the writer is past a commit: stats are final */
	s = stats(fx);
	print_message("ingest: %d items in %llu batches (%.1f items/batch, largest %llu)\n", total,
		      (unsigned long long)s.batches, (double)s.items / (double)(s.batches ? s.batches : 1),
		      (unsigned long long)s.max_batch);
	assert_int_equal(s.items, total);
	assert_int_equal(s.failed_batches, 0);
	assert_int_equal(s.queued, 0);
	assert_true(s.batches < s.items);
	assert_true(s.max_batch > 1);

	ingest_stop(&fx->ig);
	assert_null(fx->ig);
	assert_int_equal(db_count(fx, "events"), total);
}

static void test_duplicates_in_and_across_batches(void **state)
{
	struct fx *fx = *state;
	struct titem *g, *a, *a2, *b, *a3, *c, *a4, *g2;
	struct ingest_stats s;

	start(fx, 5000, 100, 100, false);
	gate_arm(fx);
	g = gate_item(fx, "gate", "queued");
	submit_ok(fx, g);
	gate_wait_entered(fx);

	/* these five form one batch */
	a = queued(fx, "k1");
	a2 = queued(fx, "k1");
	b = queued(fx, "k2");
	a3 = queued(fx, "k1");
	c = event_item(fx, "eventbridge", "k1", "queued");
	submit_ok(fx, a);
	submit_ok(fx, a2);
	submit_ok(fx, b);
	submit_ok(fx, a3);
	submit_ok(fx, c);
	gate_open(fx);
	assert_done(fx, 6);

	s = stats(fx);
	assert_int_equal(s.batches, 2);
	assert_int_equal(s.max_batch, 5);
	for (struct titem *const *ti = (struct titem *const[]){ g, a, a2, b, a3, c, NULL }; *ti != NULL; ti++) {
		assert_int_equal(item_calls(fx, *ti), 1);
		assert_int_equal((*ti)->rc, AMICD_OK);
	}
	assert_false(a->it.event.duplicate);
	assert_true(a2->it.event.duplicate);
	assert_int_equal(a2->it.event.id, a->it.event.id);
	assert_true(a3->it.event.duplicate);
	assert_int_equal(a3->it.event.id, a->it.event.id);
	assert_false(b->it.event.duplicate);
	assert_true(b->it.event.id > a->it.event.id);
	assert_false(c->it.event.duplicate); /* same key, other source */
	assert_true(c->it.event.id != a->it.event.id);

	/* across batches */
	a4 = queued(fx, "k1");
	submit_wait(fx, a4);
	assert_int_equal(a4->rc, AMICD_OK);
	assert_true(a4->it.event.duplicate);
	assert_int_equal(a4->it.event.id, a->it.event.id);
	g2 = queued(fx, "gate");
	submit_wait(fx, g2);
	assert_true(g2->it.event.duplicate);
	assert_int_equal(g2->it.event.id, g->it.event.id);

	ingest_stop(&fx->ig);
	assert_int_equal(db_count(fx, "events"), 4); /* gate, k1, k2, eventbridge k1 */
}

static int commits(struct fx *fx, int64_t *visible)
{
	int n;

	pthread_mutex_lock(&fx->lock);
	n = fx->commits;
	if (visible != NULL)
		*visible = fx->visible_at_commit;
	pthread_mutex_unlock(&fx->lock);
	return n;
}

static void test_on_commit(void **state)
{
	struct fx *fx = *state;
	struct titem *g;
	int64_t visible = -1;

	assert_int_equal(store_open(fx->db, 1000, &fx->reader, &fx->err), AMICD_OK);
	start(fx, 5000, 100, 100, true);

	/* a new queued event: on_commit, and the row is already visible to others */
	submit_wait(fx, queued(fx, "e1"));
	assert_int_equal(commits(fx, &visible), 1);
	assert_int_equal(visible, 1);

	/* a duplicate alone: no wake-up */
	submit_wait(fx, queued(fx, "e1"));
	assert_int_equal(commits(fx, NULL), 1);
	/* an ignored event alone: stored, but nothing for the worker */
	submit_wait(fx, event_item(fx, "gitlab", "i1", "ignored"));
	assert_int_equal(commits(fx, NULL), 1);
	/* a rejected delivery alone */
	submit_wait(fx, rejected_item(fx, "bad"));
	assert_int_equal(commits(fx, NULL), 1);

	/* one batch of only duplicates, ignored and rejected items (the gate is ignored too) */
	gate_arm(fx);
	g = gate_item(fx, "g-ignored", "ignored");
	submit_ok(fx, g);
	gate_wait_entered(fx);
	submit_ok(fx, queued(fx, "e1"));
	submit_ok(fx, event_item(fx, "gitlab", "i2", "ignored"));
	submit_ok(fx, rejected_item(fx, "bad2"));
	gate_open(fx);
	assert_done(fx, 8);
	assert_int_equal(stats(fx).max_batch, 3);
	assert_int_equal(commits(fx, NULL), 1);

	/* one new queued event among duplicates: exactly one wake-up for the batch */
	gate_arm(fx);
	submit_ok(fx, gate_item(fx, "g2", "ignored"));
	gate_wait_entered(fx);
	submit_ok(fx, queued(fx, "e1"));
	submit_ok(fx, queued(fx, "e2"));
	submit_ok(fx, queued(fx, "e3"));
	gate_open(fx);
	assert_done(fx, 12);
	assert_int_equal(commits(fx, &visible), 2);
	assert_int_equal(visible, 7); /* e1 i1 g-ignored i2 g2 e2 e3: duplicates add no row */
}

static void test_max_queued(void **state)
{
	struct fx *fx = *state;
	struct titem *g, *in[3], *out[2], *later;
	struct ingest_stats s;

	start(fx, 5000, 4, 100, false);
	gate_arm(fx);
	g = gate_item(fx, "gate", "queued");
	submit_ok(fx, g);
	gate_wait_entered(fx); /* the writer holds g: one of the 4 places is taken */

	for (int i = 0; i < 3; i++) {
		char key[8];

		snprintf(key, sizeof key, "in%d", i);
		in[i] = queued(fx, key);
		submit_ok(fx, in[i]);
	}
	out[0] = queued(fx, "out0");
	out[1] = rejected_item(fx, "out1");
	assert_int_equal(ingest_submit(fx->ig, &out[0]->it), AMICD_ERR_BUSY);
	assert_int_equal(ingest_submit(fx->ig, &out[1]->it), AMICD_ERR_BUSY);
	s = stats(fx);
	assert_int_equal(s.queued, 3);

	gate_open(fx);
	assert_done(fx, 4);
	/* room again once the batches are done */
	later = queued(fx, "later");
	submit_wait(fx, later);
	assert_int_equal(later->rc, AMICD_OK);

	ingest_stop(&fx->ig); /* joins the writer: no done() can come after this */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(item_calls(fx, in[i]), 1);
		assert_int_equal(in[i]->rc, AMICD_OK);
	}
	assert_int_equal(item_calls(fx, out[0]), 0);
	assert_int_equal(item_calls(fx, out[1]), 0);
	assert_int_equal(fx->done_calls, 5);
	assert_int_equal(db_count(fx, "events"), 5);
	assert_int_equal(db_count(fx, "rejected_deliveries"), 0);
}

static void test_failed_commit(void **state)
{
	struct fx *fx = *state;
	struct titem *g, *f[3], *r[3];
	struct ingest_stats s;
	sqlite3 *other;
	int64_t t0;

	start(fx, 50, 100, 100, true);
	gate_arm(fx);
	g = gate_item(fx, "gate", "queued");
	submit_ok(fx, g);
	gate_wait_entered(fx); /* g has committed: the write lock is free */

	other = lock_db(fx);
	for (int i = 0; i < 3; i++) {
		char key[8];

		snprintf(key, sizeof key, "f%d", i);
		f[i] = i == 1 ? rejected_item(fx, "f1") : queued(fx, key);
		submit_ok(fx, f[i]);
	}
	t0 = util_monotonic_ns();
	gate_open(fx);
	assert_done(fx, 4);
	print_message("failed batch reported after %.1f ms\n", (double)(util_monotonic_ns() - t0) / 1e6);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(item_calls(fx, f[i]), 1);
		assert_int_equal(f[i]->rc, AMICD_ERR_STORE);
		assert_contains(f[i]->err, "locked");
	}
	s = stats(fx);
	assert_int_equal(s.batches, 2);
	assert_int_equal(s.failed_batches, 1);
	assert_int_equal(s.max_batch, 3);
	assert_int_equal(commits(fx, NULL), 1); /* only the gate's commit */

	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(db_count(fx, "events"), 1);
	assert_int_equal(db_count(fx, "rejected_deliveries"), 0);

	/* later submissions succeed; the failed keys were never stored */
	for (int i = 0; i < 3; i++) {
		char key[8];

		snprintf(key, sizeof key, "f%d", i);
		r[i] = queued(fx, key);
		submit_wait(fx, r[i]);
		assert_int_equal(r[i]->rc, AMICD_OK);
		assert_false(r[i]->it.event.duplicate);
	}
	assert_int_equal(commits(fx, NULL), 4);
	assert_int_equal(db_count(fx, "events"), 4);
}

static void test_failed_item_fails_whole_batch(void **state)
{
	struct fx *fx = *state;
	struct titem *g, *p1, *bad, *p2, *again;

	start(fx, 5000, 100, 100, true);
	gate_arm(fx);
	g = gate_item(fx, "gate", "queued");
	submit_ok(fx, g);
	gate_wait_entered(fx);
	p1 = queued(fx, "p1");
	bad = event_item(fx, "bitbucket", "x", "queued"); /* violates the CHECK on source */
	p2 = queued(fx, "p2");
	submit_ok(fx, p1);
	submit_ok(fx, bad);
	submit_ok(fx, p2);
	gate_open(fx);
	assert_done(fx, 4);

	/* nothing of the batch is half-stored: p1 was written before bad failed */
	assert_int_equal(p1->rc, AMICD_ERR_STORE);
	assert_int_equal(bad->rc, AMICD_ERR_STORE);
	assert_int_equal(p2->rc, AMICD_ERR_STORE);
	assert_contains(bad->err, "CHECK");
	assert_int_equal(stats(fx).failed_batches, 1);
	assert_int_equal(commits(fx, NULL), 1);
	assert_int_equal(db_count(fx, "events"), 1);

	again = queued(fx, "p1");
	submit_wait(fx, again);
	assert_int_equal(again->rc, AMICD_OK);
	assert_false(again->it.event.duplicate);
	assert_int_equal(db_count(fx, "events"), 2);
}

struct stopper {
	struct ingest **ig;
};

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;

	ingest_stop(s->ig);
	return NULL;
}

static void test_stop_drains_queue(void **state)
{
	struct fx *fx = *state;
	struct ingest *ig;
	struct titem *g, *q[50];
	pthread_t th;
	struct stopper sp = { &fx->ig };
	int64_t t_end;
	int probes = 0;
	bool refused = false;

	start(fx, 5000, 6000, 100, false);
	ig = fx->ig;
	gate_arm(fx);
	g = gate_item(fx, "gate", "queued");
	submit_ok(fx, g);
	gate_wait_entered(fx);
	for (int i = 0; i < 50; i++) {
		char key[8];

		snprintf(key, sizeof key, "q%d", i);
		q[i] = i % 10 == 9 ? rejected_item(fx, key) : queued(fx, key);
		submit_ok(fx, q[i]);
	}

	/* stop while 50 wait; the writer cannot finish (it is at the gate), so ig
	 * stays valid until the gate opens. Poll, with a deadline, for the moment
	 * submissions are refused. */
	assert_int_equal(pthread_create(&th, NULL, stop_thread, &sp), 0);
	t_end = util_monotonic_ns() + (int64_t)WAIT_S * 1000000000;
	while (!refused && util_monotonic_ns() < t_end && fx->n_items < fx->cap_items) {
		struct titem *probe = queued(fx, "probe");
		struct timespec pause = { 0, 1000000 };

		snprintf(probe->key, sizeof probe->key, "probe%d", probes);
		if (ingest_submit(ig, &probe->it) == AMICD_OK) {
			probes++;
			nanosleep(&pause, NULL); /* poll interval, not synchronisation */
		} else {
			refused = true;
			fx->n_items--; /* the refused probe is not expected to finish */
		}
	}
	gate_open(fx);
	pthread_join(th, NULL);
	assert_true(refused);
	assert_null(fx->ig);

	/* every accepted item was committed and reported, once */
	assert_int_equal(fx->done_calls, 1 + 50 + probes);
	for (size_t i = 0; i < fx->n_items; i++) {
		assert_int_equal(fx->items[i].calls, 1);
		assert_int_equal(fx->items[i].rc, AMICD_OK);
	}
	assert_int_equal(db_count(fx, "events"), 1 + 45 + probes);
	assert_int_equal(db_count(fx, "rejected_deliveries"), 5);
}

static void test_stop_drains_burst(void **state)
{
	struct fx *fx = *state;
	const int n = 500;

	start(fx, 5000, 1000, 100, false);
	for (int i = 0; i < n; i++) {
		char key[16];

		snprintf(key, sizeof key, "b%d", i);
		submit_ok(fx, queued(fx, key));
	}
	ingest_stop(&fx->ig); /* right away: most are still queued */
	assert_null(fx->ig);
	assert_int_equal(fx->done_calls, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(fx->items[i].calls, 1);
		assert_int_equal(fx->items[i].rc, AMICD_OK);
	}
	assert_int_equal(db_count(fx, "events"), n);
}

static void test_rejected_trimmed(void **state)
{
	struct fx *fx = *state;
	char got[64];
	struct titem *r;

	start(fx, 5000, 100, 3, false);
	/* five in one batch */
	gate_arm(fx);
	submit_ok(fx, gate_item(fx, "gate", "queued"));
	gate_wait_entered(fx);
	for (int i = 1; i <= 5; i++) {
		char msg[8];

		snprintf(msg, sizeof msg, "m%d", i);
		submit_ok(fx, rejected_item(fx, msg));
	}
	gate_open(fx);
	assert_done(fx, 6);
	assert_int_equal(stats(fx).max_batch, 5);
	for (size_t i = 0; i < fx->n_items; i++)
		assert_int_equal(fx->items[i].rc, AMICD_OK);
	assert_int_equal(db_count(fx, "rejected_deliveries"), 3);
	db_text(fx, "SELECT group_concat(message, ',') FROM (SELECT message FROM rejected_deliveries ORDER BY id)",
		got, sizeof got);
	assert_string_equal(got, "m3,m4,m5");

	/* and one at a time */
	r = rejected_item(fx, "m6");
	submit_wait(fx, r);
	assert_int_equal(r->rc, AMICD_OK);
	submit_wait(fx, rejected_item(fx, "m7"));
	assert_int_equal(db_count(fx, "rejected_deliveries"), 3);
	db_text(fx, "SELECT group_concat(message, ',') FROM (SELECT message FROM rejected_deliveries ORDER BY id)",
		got, sizeof got);
	assert_string_equal(got, "m5,m6,m7");
	assert_int_equal(db_count(fx, "events"), 1);
}

static void test_start_fails_cleanly(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX + 32];
	struct ingest *ig = NULL;
	struct ingest_options opt = { .db_path = path, .busy_timeout_ms = 100, .max_queued = 10, .rejected_keep = 10 };

	snprintf(path, sizeof path, "%s/missing/amicd.db", fx->dir);
	assert_int_equal(ingest_start(&opt, &ig, &fx->err), AMICD_ERR_STORE);
	assert_null(ig);
	ingest_stop(&ig); /* NULL: a no-op */
	ingest_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_submitters_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_in_and_across_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_item_fails_whole_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_drains_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_drains_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_fails_cleanly, setup, teardown),
	};

	return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
