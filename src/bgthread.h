/*
 * bgthread.h — a named background thread that sleeps until it is woken, a
 * timeout passes, or it is asked to stop: the shape shared by the ingest
 * writer, the worker and the trigger dispatcher.
 *
 * The thread runs fn(bt, cls) once; fn loops, doing its work and then calling
 * bgthread_wait(). Any thread may call bgthread_wake(): the wake-up is kept
 * until the next bgthread_wait() returns, so one that arrives while fn is busy
 * is not lost. bgthread_stop() makes every later bgthread_wait() return
 * BGTHREAD_STOPPING at once and joins the thread; what fn does with that — drain
 * its queue first, abort an attempt — is fn's business. The state fn works on
 * keeps its own lock: the helper's lock guards only the wake-up and the stop.
 *
 * Ownership: the struct bgthread is the helper's, created by bgthread_start and
 * freed by bgthread_stop; cls is borrowed and must outlive the thread. name is
 * copied.
 */
#ifndef AMICD_BGTHREAD_H
#define AMICD_BGTHREAD_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

struct bgthread;

/* The thread's body; returning ends the thread. */
typedef void (*bgthread_fn)(struct bgthread *bt, void *cls);

/* Why bgthread_wait returned. */
enum bgthread_wake {
	BGTHREAD_WOKEN,         /* bgthread_wake was called (since the last wait returned) */
	BGTHREAD_TIMED_OUT,     /* timeout_ms passed without a wake-up */
	BGTHREAD_STOPPING       /* bgthread_stop was called: finish and return from fn */
};

/*
 * bgthread_start — start a thread named name (at most 15 bytes, as
 * pthread_setname_np allows; the name is set before fn runs) that runs
 * fn(bt, cls). *out is set before the thread starts, so fn may reach the
 * struct bgthread through cls. AMICD_ERR_NOMEM (err says why) when the thread
 * cannot be started; *out is then NULL.
 */
enum amicd_rc bgthread_start(const char *name, bgthread_fn fn, void *cls, struct bgthread **out,
			     struct amicd_error *err);

/* bgthread_wake — make the thread's current or next bgthread_wait return. Any thread; NULL is a no-op. */
void bgthread_wake(struct bgthread *bt);

/*
 * bgthread_wait — from the thread only: sleep until a wake-up, timeout_ms
 * milliseconds (CLOCK_MONOTONIC; 0 or less: do not sleep), or a stop, and say
 * which; stop wins over a wake-up, a wake-up over the timeout. The wake-up is
 * consumed whatever the answer.
 */
enum bgthread_wake bgthread_wait(struct bgthread *bt, int64_t timeout_ms);

/* bgthread_stopping — true once bgthread_stop was called. Any thread, without a lock. */
bool bgthread_stopping(const struct bgthread *bt);

/*
 * bgthread_stop — ask the thread to stop, wake it, wait for fn to return, free
 * *bt and set it to NULL. Not from the thread itself. NULL is a no-op.
 */
void bgthread_stop(struct bgthread **bt);

#endif
