/*
 * ingest.c — the group-commit writer (see ingest.h).
 *
 * One mutex guards a FIFO list; the writer swaps the whole list out under the
 * lock and writes it without holding the lock, so submitters never wait on
 * disk. Receipt order is kept: event ids grow in the order deliveries were
 * submitted.
 */
#include "ingest.h"

#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct ingest {
	struct store *store;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct ingest_item *head, *tail;
	size_t queued;
	size_t writing;        /* items of the batch being written */
	size_t max_queued;     /* bound on queued + writing */
	size_t rejected_keep;
	bool stopping;
	ingest_commit_fn on_commit;
	void *on_commit_cls;
	struct ingest_stats stats;
};

static enum amicd_rc write_batch(struct ingest *ig, struct ingest_item *batch, bool *new_queued,
				 struct amicd_error *err)
{
	enum amicd_rc rc;

	*new_queued = false;
	rc = store_begin(ig->store, err);
	if (rc != AMICD_OK)
		return rc;
	for (struct ingest_item *it = batch; it != NULL; it = it->next) {
		if (it->kind == INGEST_EVENT) {
			rc = store_event_put(ig->store, &it->event, err);
			if (rc == AMICD_OK && !it->event.duplicate && it->event.status[0] == 'q')
				*new_queued = true;
		} else {
			rc = store_rejected_put(ig->store, &it->rejected, ig->rejected_keep, err);
		}
		if (rc != AMICD_OK)
			goto fail;
	}
	rc = store_commit(ig->store, err);
	if (rc == AMICD_OK)
		return AMICD_OK;
fail:
	store_rollback(ig->store);
	return rc;
}

static void *writer(void *arg)
{
	struct ingest *ig = arg;

	pthread_setname_np(pthread_self(), "amicd-ingest");

	for (;;) {
		struct ingest_item *batch, *next;
		struct amicd_error err = { { 0 }, { 0 } };
		enum amicd_rc rc;
		size_t n;
		bool new_queued = false;

		pthread_mutex_lock(&ig->lock);
		while (ig->head == NULL && !ig->stopping)
			pthread_cond_wait(&ig->wake, &ig->lock);
		if (ig->head == NULL) {
			pthread_mutex_unlock(&ig->lock);
			break;
		}
		batch = ig->head;
		n = ig->queued;
		ig->head = ig->tail = NULL;
		ig->queued = 0;
		ig->writing = n;
		pthread_mutex_unlock(&ig->lock);

		rc = write_batch(ig, batch, &new_queued, &err);
		if (rc != AMICD_OK)
			LOG(LL_ERROR, "commit failed", "{s:s,s:I}", "error", err.message, "deliveries",
			    (json_int_t)n);

		pthread_mutex_lock(&ig->lock);
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
	return NULL;
}

enum amicd_rc ingest_start(const char *db_path, int busy_timeout_ms, size_t max_queued,
			   size_t rejected_keep, ingest_commit_fn on_commit, void *on_commit_cls,
			   struct ingest **out, struct amicd_error *err)
{
	struct ingest *ig;
	enum amicd_rc rc;

	*out = NULL;
	ig = calloc(1, sizeof *ig);
	if (ig == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	rc = store_open(db_path, busy_timeout_ms, &ig->store, err);
	if (rc != AMICD_OK) {
		free(ig);
		return rc;
	}
	ig->max_queued = max_queued;
	ig->rejected_keep = rejected_keep;
	ig->on_commit = on_commit;
	ig->on_commit_cls = on_commit_cls;
	pthread_mutex_init(&ig->lock, NULL);
	pthread_cond_init(&ig->wake, NULL);
	if (pthread_create(&ig->thread, NULL, writer, ig) != 0) {
		pthread_cond_destroy(&ig->wake);
		pthread_mutex_destroy(&ig->lock);
		store_close(&ig->store);
		free(ig);
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "cannot start the writer thread");
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
		if (ig->tail != NULL)
			ig->tail->next = item;
		else
			ig->head = item;
		ig->tail = item;
		ig->queued++;
		pthread_cond_signal(&ig->wake);
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

void ingest_stop(struct ingest **pig)
{
	struct ingest *ig;

	if (pig == NULL || *pig == NULL)
		return;
	ig = *pig;
	pthread_mutex_lock(&ig->lock);
	ig->stopping = true;
	pthread_cond_signal(&ig->wake);
	pthread_mutex_unlock(&ig->lock);
	pthread_join(ig->thread, NULL);
	store_close(&ig->store);
	pthread_cond_destroy(&ig->wake);
	pthread_mutex_destroy(&ig->lock);
	free(ig);
	*pig = NULL;
}
