/*
 * ingest.c — the group-commit writer (see ingest.h).
 *
 * One mutex guards a FIFO list; the writer swaps the whole list out under the
 * lock and writes it without holding the lock, so submitters never wait on
 * disk. Receipt order is kept: event ids grow in the order deliveries were
 * submitted.
 */
#include "ingest.h"

#include "bgthread.h"
#include "log.h"
#include "utf8.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_EVERY_MS 1000

struct ingest {
	struct store *store;
	char *db_path;
	struct bgthread *thread;       /* NULL once drained */
	pthread_mutex_t lock;
	struct ingest_item *head, *tail;
	size_t queued;
	size_t writing;        /* items of the batch being written */
	size_t max_queued;     /* bound on queued + writing */
	size_t rejected_keep;
	size_t rejected_keep_bytes;
	bool stopping;                 /* no more items are accepted (under lock) */
	ingest_commit_fn on_commit;
	void *on_commit_cls;
	struct ingest_stats stats;
	struct ingest_health health;   /* under lock */
};

/* Record the outcome of a commit or probe in the health (writer thread). */
static void record_health(struct ingest *ig, enum amicd_rc rc, const struct amicd_error *err)
{
	int64_t now = util_now_ms();
	bool was_failing;

	pthread_mutex_lock(&ig->lock);
	was_failing = ig->health.failing;
	if (rc == AMICD_OK) {
		ig->health.failing = false;
		ig->health.failing_since_ms = 0;
		ig->health.last_ok_ms = now;
	} else {
		if (!was_failing)
			ig->health.failing_since_ms = now;
		ig->health.failing = true;
		utf8_copy(ig->health.error, sizeof ig->health.error, err->message);
	}
	pthread_mutex_unlock(&ig->lock);
	if (rc == AMICD_OK && was_failing)
		LOG(LL_INFO, "the database can be written again", "{s:s}", "database", ig->db_path);
	else if (rc != AMICD_OK && !was_failing)
		LOG(LL_ERROR, "the database cannot be written; deliveries are answered 503 until it can",
		    "{s:s,s:s}", "database", ig->db_path, "error", err->message);
}

/* The database file is gone or replaced: fail for good, and say so once. */
static bool db_moved(struct ingest *ig, struct amicd_error *err)
{
	bool first;

	if (!ig->health.db_moved && !store_file_moved(ig->store))
		return false;
	pthread_mutex_lock(&ig->lock);
	first = !ig->health.db_moved;
	ig->health.db_moved = true;
	pthread_mutex_unlock(&ig->lock);
	amicd_error_set(err, AMICD_ERR_STORE, NULL,
			"the database file %s (or its -wal) was deleted or replaced while amicd runs; "
			"nothing more is accepted: restore it and restart amicd", ig->db_path);
	if (first)
		LOG(LL_ERROR, "database file removed under a running amicd", "{s:s,s:s}", "database", ig->db_path,
		    "error", err->message);
	return true;
}

static enum amicd_rc write_batch(struct ingest *ig, struct ingest_item *batch, bool *new_queued,
				 struct amicd_error *err)
{
	enum amicd_rc rc;

	*new_queued = false;
	if (db_moved(ig, err))
		return AMICD_ERR_STORE;
	rc = store_begin(ig->store, err);
	if (rc != AMICD_OK)
		return rc;
	for (struct ingest_item *it = batch; it != NULL; it = it->next) {
		if (it->kind == INGEST_EVENT) {
			rc = store_event_put(ig->store, &it->event, err);
			if (rc == AMICD_OK && !it->event.duplicate && it->event.status[0] == 'q') {
				*new_queued = true;
				if (it->stored != NULL)
					it->stored(it);
			}
		} else {
			rc = store_rejected_put(ig->store, &it->rejected, ig->rejected_keep, ig->rejected_keep_bytes,
						err);
		}
		if (rc != AMICD_OK)
			goto fail;
	}
	rc = store_commit(ig->store, err);
	if (rc != AMICD_OK)
		goto fail;
	/* committed, but into a file someone just deleted? then it is not durable */
	if (db_moved(ig, err))
		return AMICD_ERR_STORE;
	return AMICD_OK;
fail:
	store_rollback(ig->store);
	return rc;
}

/* Nothing to write for a second: check the file, and probe while failing. */
static void idle_check(struct ingest *ig)
{
	struct amicd_error err = { { 0 }, { 0 } };
	bool failing;

	if (db_moved(ig, &err)) {
		record_health(ig, AMICD_ERR_STORE, &err);
		return;
	}
	pthread_mutex_lock(&ig->lock);
	failing = ig->health.failing;
	pthread_mutex_unlock(&ig->lock);
	if (failing)
		record_health(ig, store_probe(ig->store, util_now_ms(), &err), &err);
}

/* The writer thread: a batch whenever items are queued, an idle check every
 * PROBE_EVERY_MS without any; once stopping, what is queued is still written. */
static void writer(struct bgthread *bt, void *arg)
{
	struct ingest *ig = arg;

	for (;;) {
		struct ingest_item *batch, *next;
		struct amicd_error err = { { 0 }, { 0 } };
		enum amicd_rc rc;
		size_t n;
		bool new_queued = false;

		pthread_mutex_lock(&ig->lock);
		if (ig->head == NULL) {
			bool stop = ig->stopping;

			pthread_mutex_unlock(&ig->lock);
			if (stop)
				break;
			if (bgthread_wait(bt, PROBE_EVERY_MS) == BGTHREAD_TIMED_OUT)
				idle_check(ig);
			continue;
		}
		batch = ig->head;
		n = ig->queued;
		ig->head = ig->tail = NULL;
		ig->health.waiting_since_ms = 0;
		ig->health.writing_since_ms = util_now_ms();
		ig->queued = 0;
		ig->writing = n;
		pthread_mutex_unlock(&ig->lock);

		rc = write_batch(ig, batch, &new_queued, &err);
		record_health(ig, rc, &err);
		if (rc != AMICD_OK)
			LOG(LL_WARN, "commit failed", "{s:s,s:I}", "error", err.message, "deliveries", (json_int_t)n);

		pthread_mutex_lock(&ig->lock);
		ig->health.writing_since_ms = 0;
		ig->stats.batches++;
		ig->stats.items += n;
		if (rc != AMICD_OK)
			ig->stats.failed_batches++;
		if (n > ig->stats.max_batch)
			ig->stats.max_batch = n;
		pthread_mutex_unlock(&ig->lock);

		if (rc == AMICD_OK && new_queued && ig->on_commit != NULL)
			ig->on_commit(ig->on_commit_cls);
		for (struct ingest_item *it = batch; it != NULL; it = next) {
			next = it->next; /* done() may free it */
			it->next = NULL;
			it->done(it, rc, &err);
		}
		pthread_mutex_lock(&ig->lock);
		ig->writing = 0;
		pthread_mutex_unlock(&ig->lock);
	}
}

/* Free what ingest_start made of ig; the writer is stopped (or never ran). */
static void ingest_free(struct ingest *ig)
{
	if (ig == NULL)
		return;
	store_close(&ig->store);
	pthread_mutex_destroy(&ig->lock);
	free(ig->db_path);
	free(ig);
}

enum amicd_rc ingest_start(const struct ingest_options *opt, struct ingest **out, struct amicd_error *err)
{
	struct ingest *ig = NULL;
	enum amicd_rc rc;

	*out = NULL;
	ig = calloc(1, sizeof *ig);
	if (ig == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	pthread_mutex_init(&ig->lock, NULL);
	ig->max_queued = opt->max_queued;
	ig->rejected_keep = opt->rejected_keep;
	ig->rejected_keep_bytes = opt->rejected_keep_bytes;
	ig->on_commit = opt->on_commit;
	ig->on_commit_cls = opt->on_commit_cls;
	ig->health.last_ok_ms = util_now_ms();
	ig->db_path = strdup(opt->db_path);
	if (ig->db_path == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	rc = store_open(opt->db_path, opt->busy_timeout_ms, &ig->store, err);
	if (rc != AMICD_OK)
		goto out;
	rc = bgthread_start("amicd-ingest", writer, ig, &ig->thread, err);
out:
	if (rc != AMICD_OK) {
		ingest_free(ig);
		return rc;
	}
	*out = ig;
	return AMICD_OK;
}

enum amicd_rc ingest_submit(struct ingest *ig, struct ingest_item *item)
{
	enum amicd_rc rc = AMICD_OK;

	item->next = NULL;
	pthread_mutex_lock(&ig->lock);
	if (ig->stopping || ig->queued + ig->writing >= ig->max_queued) {
		rc = AMICD_ERR_BUSY;
	} else {
		if (ig->tail != NULL) {
			ig->tail->next = item;
		} else {
			ig->head = item;
			ig->health.waiting_since_ms = util_now_ms();
		}
		ig->tail = item;
		ig->queued++;
		bgthread_wake(ig->thread); /* under lock: ingest_drain cannot have stopped it */
	}
	pthread_mutex_unlock(&ig->lock);
	return rc;
}

void ingest_stats_get(struct ingest *ig, struct ingest_stats *out)
{
	pthread_mutex_lock(&ig->lock);
	*out = ig->stats;
	out->queued = ig->queued;
	pthread_mutex_unlock(&ig->lock);
}

void ingest_health_get(struct ingest *ig, struct ingest_health *out)
{
	pthread_mutex_lock(&ig->lock);
	*out = ig->health;
	pthread_mutex_unlock(&ig->lock);
}

void ingest_drain(struct ingest *ig)
{
	if (ig == NULL)
		return;
	pthread_mutex_lock(&ig->lock);
	ig->stopping = true;
	pthread_mutex_unlock(&ig->lock);
	bgthread_stop(&ig->thread); /* the writer empties the queue first */
}

void ingest_stop(struct ingest **pig)
{
	if (pig == NULL || *pig == NULL)
		return;
	ingest_drain(*pig);
	ingest_free(*pig);
	*pig = NULL;
}
