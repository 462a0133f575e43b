/*
 * worker.c — facts, decisions and promotions (see worker.h).
 */
#include "worker.h"

#include "apply.h"
#include "bgthread.h"
#include "log.h"
#include "pinfile.h"
#include "status.h"
#include "store_facts.h"
#include "utf8.h"
#include "util.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_BATCH 128
/* A pass holds every event's parsed payload until its commit (the facts point
 * into it), and a parsed push takes a few times its text: a pass takes at most
 * this many bytes of payload (and at least one event), so twelve 20 MiB pushes
 * queued at once are not all parsed at once. */
#define WORKER_BATCH_BYTES (32u << 20)
/* Events prepared on receipt, waiting for the worker (worker_offer): past this
 * many the oldest is dropped and that event is parsed from the store instead. */
#define WORKER_OFFERED_MAX 4096
#define WORKER_IDLE_MS 30000
#define WORKER_RETRY_MS 2000

struct worker {
	const struct config *cfg;
	struct trigger *trig;
	struct store *store;
	struct bgthread *thread;
	pthread_mutex_t lock;
	bool *pin_dirty;                 /* per ASG: its pin file still needs writing (under lock) */
	char (*pin_error)[256];          /* per ASG: why its pin file could not be written ("" : it was) (under lock) */
	bool *pin_bad;                   /* per ASG: its pinned AMI was unavailable at the last look */
	struct worker_health health;     /* under lock */
	atomic_uint_fast64_t events_processed, facts_applied, promotions, passes, pin_file_failures;
	atomic_uint_fast64_t events_parsed;  /* queued events parsed from the store (not offered) */
	bool decide_all;                 /* the next pass decides every ASG (under lock) */
	int64_t last_all_ms;             /* the last pass that decided every ASG (worker thread) */
	void (*on_facts)(void *, const bool *); /* under lock */
	void *on_facts_cls;
	/* Events prepared on receipt (worker_offer), in id order: a ring (under lock). */
	struct apply_event *offered[WORKER_OFFERED_MAX];
	size_t offered_first, offered_n;
};

static void check_pinned_amis(struct worker *w, const bool *only);

struct batch {
	struct worker *w;
	struct apply_event *offered;     /* taken for the event the walk is at (need_payload → prepare_event) */
	struct apply_event events[WORKER_BATCH];
	size_t n;
	size_t bytes;                    /* of the payloads prepared */
	bool full;                       /* a queued event was left for the next pass */
};

/* The oldest offer, out of the ring (under lock; offered_n > 0). */
static struct apply_event *offered_pop_first(struct worker *w)
{
	struct apply_event *e = w->offered[w->offered_first];

	w->offered[w->offered_first] = NULL;
	w->offered_first = (w->offered_first + 1) % WORKER_OFFERED_MAX;
	w->offered_n--;
	return e;
}

static void offered_drop_first(struct worker *w)
{
	struct apply_event *e = offered_pop_first(w);

	apply_event_release(e);
	free(e);
}

/* The event offered for id, taken out of the ring (NULL when none was: it is
 * parsed from the store then). Offers older than id are stale (their events were
 * parsed before the offer came): dropped on the way. */
static struct apply_event *take_offered(struct worker *w, int64_t id)
{
	struct apply_event *e = NULL;

	pthread_mutex_lock(&w->lock);
	while (w->offered_n > 0 && w->offered[w->offered_first]->id < id)
		offered_drop_first(w);
	if (w->offered_n > 0 && w->offered[w->offered_first]->id == id)
		e = offered_pop_first(w);
	pthread_mutex_unlock(&w->lock);
	return e;
}

/* Before the walk reads an event's body: when its facts were offered on
 * receipt, take them — the body is not needed. Once the batch is full, the body
 * is not needed either (prepare_event stops the walk). */
static bool need_payload(int64_t id, void *cls)
{
	struct batch *b = cls;

	if (b->n == WORKER_BATCH)
		return false;
	b->offered = take_offered(b->w, id);
	return b->offered == NULL;
}

/* Phase one, no lock held: the queued events' facts — as offered on receipt,
 * or parsed from the store. AMICD_ERR_BUSY (with full set) stops the walk once
 * the batch is full. */
static enum amicd_rc prepare_event(const struct store_queued *ev, void *cls)
{
	struct batch *b = cls;
	struct apply_event *offered = b->offered;

	b->offered = NULL;
	/* (need_payload takes an offer only while the batch has room) */
	if (b->n == WORKER_BATCH || (b->n > 0 && offered == NULL && b->bytes + ev->payload_len > WORKER_BATCH_BYTES)) {
		b->full = true;
		return AMICD_ERR_BUSY;
	}
	if (offered != NULL) {
		b->events[b->n++] = *offered; /* its facts own their strings: a shallow move */
		free(offered);
		return AMICD_OK;
	}
	b->bytes += ev->payload_len;
	atomic_fetch_add(&b->w->events_parsed, 1);
	apply_event_prepare(b->w->cfg, ev, &b->events[b->n++]);
	return AMICD_OK;
}

static void mark_dirty(struct worker *w, size_t i)
{
	pthread_mutex_lock(&w->lock);
	w->pin_dirty[i] = true;
	pthread_mutex_unlock(&w->lock);
}

static void set_pin_error(struct worker *w, size_t i, const char *error)
{
	pthread_mutex_lock(&w->lock);
	utf8_copy(w->pin_error[i], sizeof w->pin_error[i], error);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Make the pin file of ASG i match its stored pin (rewriting it only when it
 * differs, with rewrite: always), then release the trigger that waits for it.
 * The trigger goes only after the file is durably in place: terraform-resources
 * must never be told to apply a pin it cannot read yet.
 */
static enum amicd_rc sync_pin(struct worker *w, size_t i, bool rewrite, bool *rewritten, struct amicd_error *err)
{
	const struct config_asg *asg = &w->cfg->asgs[i];
	struct store_pin pin;
	bool found = false, released = false;
	enum amicd_rc rc = store_pin_get(w->store, asg->identifier, &pin, &found, err);

	*rewritten = false;
	if (rc != AMICD_OK || !found)
		return rc;
	if (rewrite) {
		rc = pinfile_write(asg, &pin, err);
		*rewritten = rc == AMICD_OK;
	} else {
		rc = pinfile_sync(asg, &pin, rewritten, err);
	}
	if (rc == AMICD_OK)
		rc = store_trigger_pin_written(w->store, pin.promotion_id, &released, err);
	if (rc == AMICD_OK && released)
		trigger_wake(w->trig);
	if (rc == AMICD_OK && *rewritten)
		LOG(LL_INFO, "pin file written", "{s:s,s:s,s:s,s:I}", "asg", asg->identifier, "file", asg->pin_file,
		    "image_id", pin.image_id, "promotion_id", (json_int_t)pin.promotion_id);
	return rc;
}

/* Write the pin files still owed; true when all are written. The worker is
 * their only writer, so a file never goes back to an older pin. */
static bool write_pins(struct worker *w)
{
	bool all = true;

	for (size_t i = 0; i < w->cfg->n_asgs; i++) {
		const struct config_asg *asg = &w->cfg->asgs[i];
		struct amicd_error err = { { 0 }, { 0 } };
		bool owed, rewritten;

		pthread_mutex_lock(&w->lock);
		owed = w->pin_dirty[i];
		w->pin_dirty[i] = false;
		pthread_mutex_unlock(&w->lock);
		if (!owed)
			continue;
		if (sync_pin(w, i, true, &rewritten, &err) == AMICD_OK) {
			set_pin_error(w, i, "");
			continue;
		}
		mark_dirty(w, i);
		set_pin_error(w, i, err.message);
		atomic_fetch_add(&w->pin_file_failures, 1);
		all = false;
		LOG(LL_ERROR, "cannot write the pin file; its trigger waits; will retry", "{s:s,s:s,s:s}", "asg",
		    asg->identifier, "file", asg->pin_file, "error", err.message);
	}
	return all;
}

static void record_pass(struct worker *w, enum amicd_rc rc, const struct amicd_error *err)
{
	pthread_mutex_lock(&w->lock);
	w->health.pass_since_ms = 0;
	if (rc == AMICD_OK) {
		w->health.failing = false;
		w->health.failing_since_ms = 0;
		w->health.last_ok_ms = util_now_ms();
	} else {
		if (!w->health.failing)
			w->health.failing_since_ms = util_now_ms();
		w->health.failing = true;
		utf8_copy(w->health.error, sizeof w->health.error, err->message);
	}
	pthread_mutex_unlock(&w->lock);
}

/*
 * One pass: up to WORKER_BATCH queued events (WORKER_BATCH_BYTES of payload)
 * prepared outside the lock, then their facts, statuses and the decisions of
 * the ASGs those facts concern in one transaction. Every ASG is decided by a
 * pass without events (the idle timer), after worker_redecide or
 * worker_pin_changed, and at least every WORKER_IDLE_MS under steady traffic:
 * what changes with time alone (a source failing long enough) is seen too.
 * *more when the batch was full.
 */
static enum amicd_rc run_pass(struct worker *w, bool *more)
{
	struct batch *b = calloc(1, sizeof *b);
	struct amicd_error err = { { 0 }, { 0 } };
	size_t n_asgs = w->cfg->n_asgs;
	bool *promoted = calloc(n_asgs + 1, sizeof *promoted);
	bool *affected = calloc(n_asgs + 1, sizeof *affected);
	size_t n_promoted = 0, n_facts = 0;
	enum amicd_rc rc;
	bool all;

	*more = false;
	pthread_mutex_lock(&w->lock);
	w->health.woken_since_ms = 0; /* the wake-up is being answered */
	w->health.pass_since_ms = util_now_ms();
	all = w->decide_all || w->health.pass_since_ms - w->last_all_ms >= WORKER_IDLE_MS;
	w->decide_all = false;
	pthread_mutex_unlock(&w->lock);
	if (promoted == NULL || affected == NULL || b == NULL) {
		rc = amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	b->w = w;
	rc = store_events_walk(w->store, false, 0, 0, WORKER_BATCH + 1, need_payload, prepare_event, b, &err);
	if (rc == AMICD_ERR_BUSY && b->full)
		rc = AMICD_OK;
	if (rc == AMICD_OK)
		rc = store_begin(w->store, &err);
	for (size_t i = 0; rc == AMICD_OK && i < b->n; i++) {
		const struct fact_list *facts = &b->events[i].facts;

		rc = apply_event_write(w->store, &b->events[i], &err);
		for (size_t j = 0; rc == AMICD_OK && j < facts->n; j++)
			rc = apply_affected(w->cfg, w->store, &facts->items[j], affected, &err);
		n_facts += facts->n;
	}
	all = all || b->n == 0;
	if (all)
		memset(affected, 1, n_asgs * sizeof *affected);
	if (rc == AMICD_OK)
		rc = apply_decide_all(w->cfg, w->store, util_now_ms(), false, NULL, promoted, &n_promoted, affected,
				      &err);
	if (rc == AMICD_OK)
		rc = store_commit(w->store, &err);
	for (size_t i = 0; i < b->n; i++)
		apply_event_release(&b->events[i]);
out:
	record_pass(w, rc, &err);
	if (rc == AMICD_OK && all)
		w->last_all_ms = util_now_ms();
	if (rc != AMICD_OK) {
		pthread_mutex_lock(&w->lock);
		w->decide_all = w->decide_all || all; /* the retry owes it too */
		pthread_mutex_unlock(&w->lock);
		store_rollback(w->store);
		LOG(LL_ERROR, "worker pass failed; will retry", "{s:s}", "error", err.message);
		goto done;
	}
	atomic_fetch_add(&w->passes, 1);
	atomic_fetch_add(&w->events_processed, b->n);
	atomic_fetch_add(&w->facts_applied, n_facts);
	atomic_fetch_add(&w->promotions, n_promoted);
	for (size_t i = 0; i < n_asgs; i++)
		if (promoted[i])
			mark_dirty(w, i);
	if (n_promoted > 0)
		write_pins(w); /* each written pin file releases its trigger */
	if (n_facts > 0 || n_promoted > 0)
		check_pinned_amis(w, affected);
	if (n_facts > 0) {
		void (*fn)(void *, const bool *);
		void *cls;

		pthread_mutex_lock(&w->lock);
		fn = w->on_facts;
		cls = w->on_facts_cls;
		pthread_mutex_unlock(&w->lock);
		if (fn != NULL)
			fn(cls, affected);
	}
	*more = b->full;
done:
	free(promoted);
	free(affected);
	free(b);
	return rc;
}

/* Report (log) the pinned AMIs that became unavailable, or available again
 * (of the ASGs with only[i] set; NULL: all). */
static void check_pinned_amis(struct worker *w, const bool *only)
{
	for (size_t i = 0; i < w->cfg->n_asgs; i++) {
		struct asg_status s;
		struct amicd_error err;
		bool bad;

		if (only != NULL && !only[i])
			continue;

		if (asg_status_get(w->store, &w->cfg->asgs[i], NULL, &s, &err) != AMICD_OK)
			return;
		bad = s.has_pin && !s.pin.available;
		if (bad && !w->pin_bad[i])
			LOG(LL_WARN, "pinned AMI unavailable", "{s:s,s:s,s:s,s:s,s:s}", "asg", w->cfg->asgs[i].identifier,
			    "image_id", s.pin.image_id, "commit", s.pin.commit, "account", w->cfg->asgs[i].account->uid,
			    "reason", s.pin.unavailable_reason);
		else if (!bad && w->pin_bad[i])
			LOG(LL_INFO, "pinned AMI available again", "{s:s,s:s}", "asg", w->cfg->asgs[i].identifier,
			    "image_id", s.pin.image_id);
		w->pin_bad[i] = bad;
	}
}

/* At start: pin files equal to the stored pins, and no trigger left waiting for one. */
static void repair_pins(struct worker *w)
{
	for (size_t i = 0; i < w->cfg->n_asgs; i++) {
		const struct config_asg *asg = &w->cfg->asgs[i];
		struct amicd_error err = { { 0 }, { 0 } };
		bool rewritten = false;

		if (sync_pin(w, i, false, &rewritten, &err) != AMICD_OK) {
			mark_dirty(w, i);
			set_pin_error(w, i, err.message);
			atomic_fetch_add(&w->pin_file_failures, 1);
			LOG(LL_ERROR, "cannot repair the pin file; will retry", "{s:s,s:s,s:s}", "asg", asg->identifier,
			    "file", asg->pin_file, "error", err.message);
		} else if (rewritten) {
			LOG(LL_WARN, "pin file repaired from the database", "{s:s,s:s}", "asg", asg->identifier,
			    "file", asg->pin_file);
		}
	}
}

/* The worker thread: a pass whenever woken, every WORKER_IDLE_MS regardless,
 * and every WORKER_RETRY_MS while a pass fails or a pin file is owed. */
static void run(struct bgthread *bt, void *arg)
{
	struct worker *w = arg;

	/* Under overload, answering senders within their timeouts comes first:
	 * deriving facts may lag by milliseconds. Lower this thread's priority. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
		LOG(LL_DEBUG, "cannot lower the worker's priority", NULL);
	repair_pins(w);
	check_pinned_amis(w, NULL);
	for (;;) {
		bool more = false;
		enum amicd_rc rc = run_pass(w, &more);
		bool owed = !write_pins(w);
		int64_t wait_ms;

		if (rc == AMICD_OK && more)
			continue;
		wait_ms = rc != AMICD_OK || owed ? WORKER_RETRY_MS : WORKER_IDLE_MS;
		if (bgthread_wait(bt, wait_ms) == BGTHREAD_STOPPING)
			break;
	}
}

/* Free what worker_start made of w; the thread is stopped (or never ran). */
static void worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	store_close(&w->store);
	while (w->offered_n > 0)
		offered_drop_first(w);
	pthread_mutex_destroy(&w->lock);
	free(w->pin_dirty);
	free(w->pin_bad);
	free(w->pin_error);
	free(w);
}

enum amicd_rc worker_start(const struct config *cfg, struct trigger *trig, struct worker **out,
			   struct amicd_error *err)
{
	struct worker *w = NULL;
	enum amicd_rc rc;

	*out = NULL;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	pthread_mutex_init(&w->lock, NULL);
	w->cfg = cfg;
	w->trig = trig;
	w->pin_dirty = calloc(cfg->n_asgs + 1, sizeof *w->pin_dirty);
	w->pin_bad = calloc(cfg->n_asgs + 1, sizeof *w->pin_bad);
	w->pin_error = calloc(cfg->n_asgs + 1, sizeof *w->pin_error);
	w->health.last_ok_ms = util_now_ms();
	if (w->pin_dirty == NULL || w->pin_bad == NULL || w->pin_error == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	rc = store_open(cfg->database, cfg->limits.busy_timeout_ms, &w->store, err);
	if (rc != AMICD_OK)
		goto out;
	rc = bgthread_start("amicd-worker", run, w, &w->thread, err);
out:
	if (rc != AMICD_OK) {
		worker_free(w);
		return rc;
	}
	*out = w;
	return AMICD_OK;
}

void worker_wake(void *arg)
{
	struct worker *w = arg;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (w->health.woken_since_ms == 0)
		w->health.woken_since_ms = util_now_ms();
	bgthread_wake(w->thread);
	pthread_mutex_unlock(&w->lock);
}

void worker_offer(struct worker *w, struct apply_event *ev)
{
	if (w == NULL) {
		apply_event_release(ev);
		free(ev);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (w->offered_n > 0 && w->offered[(w->offered_first + w->offered_n - 1) % WORKER_OFFERED_MAX]->id >= ev->id) {
		pthread_mutex_unlock(&w->lock); /* out of order: cannot happen with one writer; parse instead */
		apply_event_release(ev);
		free(ev);
		return;
	}
	if (w->offered_n == WORKER_OFFERED_MAX)
		offered_drop_first(w);
	w->offered[(w->offered_first + w->offered_n) % WORKER_OFFERED_MAX] = ev;
	w->offered_n++;
	pthread_mutex_unlock(&w->lock);
}

void worker_withdraw(struct worker *w, int64_t id)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	/* the failed batch's offers are the newest ones */
	while (w->offered_n > 0) {
		size_t last = (w->offered_first + w->offered_n - 1) % WORKER_OFFERED_MAX;

		if (w->offered[last]->id < id)
			break;
		apply_event_release(w->offered[last]);
		free(w->offered[last]);
		w->offered[last] = NULL;
		w->offered_n--;
	}
	pthread_mutex_unlock(&w->lock);
}

void worker_redecide(void *arg)
{
	struct worker *w = arg;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->decide_all = true;
	if (w->health.woken_since_ms == 0)
		w->health.woken_since_ms = util_now_ms();
	bgthread_wake(w->thread);
	pthread_mutex_unlock(&w->lock);
}

void worker_pin_changed(struct worker *w, size_t index)
{
	if (w == NULL || index >= w->cfg->n_asgs)
		return;
	pthread_mutex_lock(&w->lock);
	w->decide_all = true;
	w->pin_dirty[index] = true;
	if (w->health.woken_since_ms == 0)
		w->health.woken_since_ms = util_now_ms();
	bgthread_wake(w->thread);
	pthread_mutex_unlock(&w->lock);
}

void worker_on_facts(struct worker *w, void (*fn)(void *, const bool *), void *cls)
{
	pthread_mutex_lock(&w->lock);
	w->on_facts = fn;
	w->on_facts_cls = cls;
	pthread_mutex_unlock(&w->lock);
}

void worker_stats_get(struct worker *w, struct worker_stats *out)
{
	out->events_processed = atomic_load(&w->events_processed);
	out->facts_applied = atomic_load(&w->facts_applied);
	out->promotions = atomic_load(&w->promotions);
	out->passes = atomic_load(&w->passes);
	out->pin_file_failures = atomic_load(&w->pin_file_failures);
	out->events_parsed = atomic_load(&w->events_parsed);
}

void worker_health_get(struct worker *w, struct worker_health *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->health;
	pthread_mutex_unlock(&w->lock);
}

bool worker_pin_file_error(struct worker *w, size_t index, char *error, size_t size)
{
	bool failing = false;

	if (w == NULL || index >= w->cfg->n_asgs)
		return false;
	pthread_mutex_lock(&w->lock);
	failing = w->pin_error[index][0] != '\0';
	snprintf(error, size, "%s", w->pin_error[index]);
	pthread_mutex_unlock(&w->lock);
	return failing;
}

void worker_stop(struct worker **pw)
{
	if (pw == NULL || *pw == NULL)
		return;
	bgthread_stop(&(*pw)->thread); /* the pass in progress finishes first */
	worker_free(*pw);
	*pw = NULL;
}
