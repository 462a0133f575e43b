/*
 * bgthread.c — a named background thread with wake, timed wait and stop (see
 * bgthread.h).
 *
 * One mutex and one condition variable (on CLOCK_MONOTONIC, so a change of the
 * wall clock neither shortens nor stretches a wait) guard two flags: woken,
 * consumed by every bgthread_wait, and stopping, which stays set. stopping is
 * also atomic so the thread's own callbacks (curl's progress function, a child
 * process's watch loop) can poll it without the lock.
 */
#include "bgthread.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bgthread {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool woken;                     /* under lock */
	atomic_bool stopping;           /* written under lock, read anywhere */
	bgthread_fn fn;
	void *cls;
	char name[16];
};

static void *trampoline(void *arg)
{
	struct bgthread *bt = arg;

	pthread_setname_np(pthread_self(), bt->name);
	bt->fn(bt, bt->cls);
	return NULL;
}

enum amicd_rc bgthread_start(const char *name, bgthread_fn fn, void *cls, struct bgthread **out,
			     struct amicd_error *err)
{
	struct bgthread *bt = NULL;
	pthread_condattr_t attr;
	bool attr_made = false, cond_made = false;
	enum amicd_rc rc = AMICD_OK;
	int e;

	*out = NULL;
	bt = calloc(1, sizeof *bt);
	if (bt == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	bt->fn = fn;
	bt->cls = cls;
	snprintf(bt->name, sizeof bt->name, "%s", name);
	atomic_init(&bt->stopping, false);
	pthread_mutex_init(&bt->lock, NULL);
	e = pthread_condattr_init(&attr);
	attr_made = e == 0;
	if (e == 0)
		e = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (e == 0)
		e = pthread_cond_init(&bt->cond, &attr);
	cond_made = e == 0;
	if (e == 0) {
		*out = bt; /* before the thread runs: fn may read it through cls */
		e = pthread_create(&bt->thread, NULL, trampoline, bt);
	}
	if (e != 0) {
		*out = NULL;
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "cannot start the %s thread: %s", name, strerror(e));
	}
out:
	if (attr_made)
		pthread_condattr_destroy(&attr);
	if (rc != AMICD_OK && bt != NULL) {
		if (cond_made)
			pthread_cond_destroy(&bt->cond);
		pthread_mutex_destroy(&bt->lock);
		free(bt);
	}
	return rc;
}

void bgthread_wake(struct bgthread *bt)
{
	if (bt == NULL)
		return;
	pthread_mutex_lock(&bt->lock);
	bt->woken = true;
	pthread_cond_signal(&bt->cond);
	pthread_mutex_unlock(&bt->lock);
}

enum bgthread_wake bgthread_wait(struct bgthread *bt, int64_t timeout_ms)
{
	enum bgthread_wake why = BGTHREAD_TIMED_OUT;
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms > 0) {
		until.tv_sec += (time_t)(timeout_ms / 1000);
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&bt->lock);
	while (!bt->woken && !atomic_load(&bt->stopping) && timeout_ms > 0 &&
	       pthread_cond_timedwait(&bt->cond, &bt->lock, &until) == 0)
		;
	if (atomic_load(&bt->stopping))
		why = BGTHREAD_STOPPING;
	else if (bt->woken)
		why = BGTHREAD_WOKEN;
	bt->woken = false;
	pthread_mutex_unlock(&bt->lock);
	return why;
}

bool bgthread_stopping(const struct bgthread *bt)
{
	return atomic_load(&bt->stopping);
}

void bgthread_stop(struct bgthread **pbt)
{
	struct bgthread *bt;

	if (pbt == NULL || *pbt == NULL)
		return;
	bt = *pbt;
	pthread_mutex_lock(&bt->lock);
	atomic_store(&bt->stopping, true);
	pthread_cond_signal(&bt->cond);
	pthread_mutex_unlock(&bt->lock);
	pthread_join(bt->thread, NULL);
	pthread_cond_destroy(&bt->cond);
	pthread_mutex_destroy(&bt->lock);
	free(bt);
	*pbt = NULL;
}
