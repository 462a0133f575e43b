/*
 * test_bgthread.c — unit tests of bgthread.c, the background thread behind the
 * ingest writer, the worker and the trigger dispatcher: the thread starts with
 * its name and reaches its struct through cls, a wake-up reaches it (also one
 * sent while it is busy), an unwoken wait times out after its timeout and not
 * before, stop wins over a pending wake-up, and stop joins.
 *
 * The thread's body records every answer of bgthread_wait under the fixture's
 * lock and broadcasts; the test waits on that condition variable with a
 * deadline, never a sleep. A "hold" keeps the body from reaching its first
 * wait until the test has set up what it wants to be pending.
 */
#include "bgthread.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define WAIT_S 60 /* generous: sanitizer builds on a loaded machine */
#define LONG_MS (10 * 60 * 1000) /* a timeout no test waits out */

struct fx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bgthread *bt;
	struct amicd_error err;

	/* set by the test */
	int64_t timeout_ms;        /* what the body passes to bgthread_wait */
	bool hold;                 /* the body waits before its first bgthread_wait */

	/* recorded by the body */
	bool started;
	bool returned;
	char name[16];
	struct bgthread *seen_bt;  /* the bt the body was given */
	struct bgthread *cls_bt;   /* fx->bt as the body found it at start */
	int answers[3];            /* per enum bgthread_wake */
	enum bgthread_wake first;  /* the first answer */
	int64_t last_wait_ns;      /* how long the last bgthread_wait took */
	bool stopping_seen;        /* bgthread_stopping() at the end */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	pthread_mutex_init(&fx->lock, NULL);
	pthread_cond_init(&fx->cond, NULL);
	fx->timeout_ms = LONG_MS;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	bgthread_stop(&fx->bt);
	pthread_cond_destroy(&fx->cond);
	pthread_mutex_destroy(&fx->lock);
	free(fx);
	return 0;
}

/* --- the thread's body ------------------------------------------------------ */

static void body(struct bgthread *bt, void *cls)
{
	struct fx *fx = cls;
	enum bgthread_wake why;

	pthread_mutex_lock(&fx->lock);
	pthread_getname_np(pthread_self(), fx->name, sizeof fx->name);
	fx->seen_bt = bt;
	fx->cls_bt = fx->bt;
	fx->started = true;
	pthread_cond_broadcast(&fx->cond);
	while (fx->hold)
		pthread_cond_wait(&fx->cond, &fx->lock);
	pthread_mutex_unlock(&fx->lock);
	do {
		int64_t timeout_ms, t0;

		pthread_mutex_lock(&fx->lock);
		timeout_ms = fx->timeout_ms;
		pthread_mutex_unlock(&fx->lock);
		t0 = util_monotonic_ns();
		why = bgthread_wait(bt, timeout_ms);
		pthread_mutex_lock(&fx->lock);
		if (fx->answers[0] + fx->answers[1] + fx->answers[2] == 0)
			fx->first = why;
		fx->answers[why]++;
		fx->last_wait_ns = util_monotonic_ns() - t0;
		pthread_cond_broadcast(&fx->cond);
		pthread_mutex_unlock(&fx->lock);
	} while (why != BGTHREAD_STOPPING);
	pthread_mutex_lock(&fx->lock);
	fx->stopping_seen = bgthread_stopping(bt);
	fx->returned = true;
	pthread_mutex_unlock(&fx->lock);
}

/* A body that ends at once, before anyone stops it. */
static void body_returns(struct bgthread *bt, void *cls)
{
	struct fx *fx = cls;

	(void)bt;
	pthread_mutex_lock(&fx->lock);
	fx->returned = true;
	pthread_cond_broadcast(&fx->cond);
	pthread_mutex_unlock(&fx->lock);
}

/* --- waiting with a deadline ------------------------------------------------ */

/* Wait until *count is at least n (or, count NULL, until *flag), both under
 * fx->lock; false on timeout. */
static bool wait_at_least(struct fx *fx, const int *count, const bool *flag, int n)
{
	struct timespec dl;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_S;
	pthread_mutex_lock(&fx->lock);
	while (ok && (count != NULL ? *count < n : !*flag))
		ok = pthread_cond_timedwait(&fx->cond, &fx->lock, &dl) != ETIMEDOUT;
	ok = count != NULL ? *count >= n : *flag;
	pthread_mutex_unlock(&fx->lock);
	return ok;
}

static void assert_answers(struct fx *fx, enum bgthread_wake why, int n)
{
	if (!wait_at_least(fx, &fx->answers[why], NULL, n))
		fail_msg("timed out waiting for %d answers %d (have %d)", n, (int)why, fx->answers[why]);
}

static void assert_started(struct fx *fx)
{
	if (!wait_at_least(fx, NULL, &fx->started, 1))
		fail_msg("the thread never started");
}

static void start(struct fx *fx, bool hold)
{
	fx->hold = hold;
	assert_int_equal(bgthread_start("amicd-bgtest", body, fx, &fx->bt, &fx->err), AMICD_OK);
	assert_non_null(fx->bt);
	assert_started(fx);
}

static void release(struct fx *fx)
{
	pthread_mutex_lock(&fx->lock);
	fx->hold = false;
	pthread_cond_broadcast(&fx->cond);
	pthread_mutex_unlock(&fx->lock);
}

static int answers(struct fx *fx, enum bgthread_wake why)
{
	int n;

	pthread_mutex_lock(&fx->lock);
	n = fx->answers[why];
	pthread_mutex_unlock(&fx->lock);
	return n;
}

/* --- tests ------------------------------------------------------------------ */

/* The body runs on a thread of the given name (set before it runs, as the
 * fault VFS filters on it) with its own bt, which it can also reach through cls. */
static void test_start_names_thread(void **state)
{
	struct fx *fx = *state;

	start(fx, false);
	pthread_mutex_lock(&fx->lock);
	assert_string_equal(fx->name, "amicd-bgtest");
	assert_ptr_equal(fx->seen_bt, fx->bt);
	assert_ptr_equal(fx->cls_bt, fx->bt);
	pthread_mutex_unlock(&fx->lock);
	assert_false(bgthread_stopping(fx->bt));
}

/* Each wake-up ends a wait that would otherwise last ten minutes. */
static void test_wake_reaches_thread(void **state)
{
	struct fx *fx = *state;

	start(fx, false);
	bgthread_wake(fx->bt);
	assert_answers(fx, BGTHREAD_WOKEN, 1);
	bgthread_wake(fx->bt);
	assert_answers(fx, BGTHREAD_WOKEN, 2);
	assert_int_equal(answers(fx, BGTHREAD_TIMED_OUT), 0);
	assert_int_equal(answers(fx, BGTHREAD_STOPPING), 0);
}

/* A wake-up sent while the thread is busy (not waiting) is kept for its next
 * wait, and consumed by it: a zero timeout then answers "timed out". */
static void test_wake_while_busy_is_kept_once(void **state)
{
	struct fx *fx = *state;

	fx->timeout_ms = 0;
	start(fx, true);
	bgthread_wake(fx->bt);
	bgthread_wake(fx->bt); /* wake-ups do not add up */
	release(fx);
	assert_answers(fx, BGTHREAD_TIMED_OUT, 3);
	pthread_mutex_lock(&fx->lock);
	assert_int_equal(fx->first, BGTHREAD_WOKEN);
	assert_int_equal(fx->answers[BGTHREAD_WOKEN], 1);
	pthread_mutex_unlock(&fx->lock);
}

/* Without a wake-up the wait ends by itself, not before its timeout. */
static void test_timed_wakeup(void **state)
{
	struct fx *fx = *state;

	fx->timeout_ms = 50;
	start(fx, false);
	assert_answers(fx, BGTHREAD_TIMED_OUT, 3);
	pthread_mutex_lock(&fx->lock);
	assert_true(fx->last_wait_ns >= 50 * 1000000LL);
	assert_int_equal(fx->answers[BGTHREAD_WOKEN], 0);
	pthread_mutex_unlock(&fx->lock);
}

/* Stop ends a long wait, and when bgthread_stop returns the body has returned. */
static void test_stop_joins(void **state)
{
	struct fx *fx = *state;

	start(fx, false);
	bgthread_stop(&fx->bt);
	assert_null(fx->bt);
	pthread_mutex_lock(&fx->lock);
	assert_true(fx->returned);
	assert_true(fx->stopping_seen);
	assert_int_equal(fx->answers[BGTHREAD_STOPPING], 1);
	assert_int_equal(fx->answers[BGTHREAD_WOKEN], 0);
	pthread_mutex_unlock(&fx->lock);
	bgthread_stop(&fx->bt); /* NULL: a no-op */
}

static void *stopper(void *arg)
{
	struct fx *fx = arg;

	bgthread_stop(&fx->bt);
	return NULL;
}

/* Stop asked while a wake-up is pending: the wait answers "stopping". */
static void test_stop_wins_over_wake(void **state)
{
	struct fx *fx = *state;
	struct bgthread *bt;
	pthread_t th;
	int64_t t_end = util_monotonic_ns() + (int64_t)WAIT_S * 1000000000;

	start(fx, true);
	bt = fx->bt;
	bgthread_wake(bt);
	assert_int_equal(pthread_create(&th, NULL, stopper, fx), 0);
	/* bgthread_stop blocks in the join while the body is held: poll for its flag */
	while (!bgthread_stopping(bt) && util_monotonic_ns() < t_end) {
		struct timespec pause = { 0, 1000000 };

		nanosleep(&pause, NULL);
	}
	assert_true(bgthread_stopping(bt));
	release(fx);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_null(fx->bt);
	pthread_mutex_lock(&fx->lock);
	assert_true(fx->returned);
	assert_int_equal(fx->first, BGTHREAD_STOPPING);
	assert_int_equal(fx->answers[BGTHREAD_WOKEN], 0);
	assert_int_equal(fx->answers[BGTHREAD_STOPPING], 1);
	pthread_mutex_unlock(&fx->lock);
}

/* A body that returned by itself is joined by stop all the same. */
static void test_stop_after_body_returned(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(bgthread_start("amicd-bgtest", body_returns, fx, &fx->bt, &fx->err), AMICD_OK);
	if (!wait_at_least(fx, NULL, &fx->returned, 1))
		fail_msg("the body never ran");
	bgthread_wake(fx->bt); /* nobody waits: harmless */
	bgthread_stop(&fx->bt);
	assert_null(fx->bt);
}

static void test_null_is_a_noop(void **state)
{
	struct bgthread *none = NULL;

	(void)state;
	bgthread_wake(NULL);
	bgthread_stop(&none);
	bgthread_stop(NULL);
	assert_null(none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_names_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wake_reaches_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wake_while_busy_is_kept_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timed_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_joins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_wins_over_wake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_after_body_returned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_is_a_noop, setup, teardown),
	};

	return cmocka_run_group_tests_name("bgthread", tests, NULL, NULL);
}
