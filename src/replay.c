/*
 * replay.c — replays in chunks (see replay.h).
 */
#include "replay.h"

#include "log.h"
#include "store_facts.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define REPLAY_CHUNK 500          /* events per transaction */
#define REPLAY_PROGRESS_EVERY 10000

struct walk {
	const struct config *cfg;
	struct store *st;
	struct replay_result *out;
	int64_t last_id;
	size_t in_chunk;
	int64_t t0_ns;
	struct amicd_error *err;  /* the caller's: why an event could not be applied */
};

static enum amicd_rc replay_event(const struct store_queued *ev, void *cls)
{
	struct walk *w = cls;
	size_t n = 0;
	enum amicd_rc rc = apply_event(w->cfg, w->st, ev, &n, w->err);

	if (rc != AMICD_OK) {
		LOG(LL_ERROR, "replay: cannot apply an event", "{s:I,s:s}", "event_id", (json_int_t)ev->id, "error",
		    w->err != NULL ? w->err->message : "");
		return rc;
	}
	w->last_id = ev->id;
	w->in_chunk++;
	w->out->events++;
	w->out->facts += n;
	if (w->out->events % REPLAY_PROGRESS_EVERY == 0)
		LOG(LL_INFO, "replay progress", "{s:I,s:I,s:f}", "events", (json_int_t)w->out->events, "last_event_id",
		    (json_int_t)ev->id, "seconds", (double)(util_monotonic_ns() - w->t0_ns) / 1e9);
	return AMICD_OK;
}

/* One transaction of the chunk kind: on a shadow no write lock, else the store's. */
static enum amicd_rc chunk_begin(struct store *st, bool shadow, struct amicd_error *err)
{
	return shadow ? store_shadow_begin(st, err) : store_begin(st, err);
}

static enum amicd_rc chunk_end(struct store *st, bool shadow, enum amicd_rc rc, struct amicd_error *err)
{
	if (rc == AMICD_OK)
		return shadow ? store_shadow_commit(st, err) : store_commit(st, err);
	if (!shadow)
		store_rollback(st);
	/* a failed shadow chunk is left open: the replay stops, and closing the shadow discards it */
	return rc;
}

static bool cancelled(const atomic_bool *cancel, struct amicd_error *err)
{
	if (cancel == NULL || !atomic_load(cancel))
		return false;
	amicd_error_set(err, AMICD_ERR_BUSY, NULL, "amicd is stopping: the replay was abandoned, nothing changed");
	return true;
}

/* Apply the events of rq (up to max_id for a range or all) in chunks. */
static enum amicd_rc apply_chunks(struct walk *w, const struct replay_request *rq, bool shadow, int64_t max_id,
				  const atomic_bool *cancel, struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;

	if (rq->kind == REPLAY_IDS) {
		for (size_t i = 0; i < rq->n_ids && rc == AMICD_OK;) {
			if (cancelled(cancel, err))
				return AMICD_ERR_BUSY;
			rc = chunk_begin(w->st, shadow, err);
			for (size_t k = 0; rc == AMICD_OK && k < REPLAY_CHUNK && i < rq->n_ids; k++, i++)
				rc = store_events_walk(w->st, true, rq->ids[i], rq->ids[i], 1, NULL, replay_event, w, err);
			rc = chunk_end(w->st, shadow, rc, err);
		}
		return rc;
	}
	w->last_id = (rq->kind == REPLAY_RANGE ? rq->from_id : 1) - 1;
	for (;;) {
		int64_t to = rq->kind == REPLAY_RANGE && rq->to_id > 0 && rq->to_id < max_id ? rq->to_id : max_id;

		if (w->last_id >= to)
			return AMICD_OK;
		if (cancelled(cancel, err))
			return AMICD_ERR_BUSY;
		w->in_chunk = 0;
		rc = chunk_begin(w->st, shadow, err);
		if (rc == AMICD_OK)
			rc = store_events_walk(w->st, true, w->last_id + 1, to, REPLAY_CHUNK, NULL, replay_event, w, err);
		rc = chunk_end(w->st, shadow, rc, err);
		if (rc != AMICD_OK || w->in_chunk < REPLAY_CHUNK)
			return rc;
	}
}

enum amicd_rc replay_run(const struct config *cfg, const struct replay_request *rq, const atomic_bool *cancel,
			 bool *promoted, struct replay_result *out, struct amicd_error *err)
{
	bool shadow = rq->kind == REPLAY_ALL || rq->dry_run;
	struct store *st = NULL;
	struct walk w = { .cfg = cfg, .out = out, .t0_ns = util_monotonic_ns(), .err = err };
	int64_t max_id = 0;
	enum amicd_rc rc;

	memset(out, 0, sizeof *out);
	out->decisions = calloc(cfg->n_asgs + 1, sizeof *out->decisions);
	out->n_decisions = cfg->n_asgs;
	if (out->decisions == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	rc = shadow ? store_shadow_open(cfg->database, cfg->limits.busy_timeout_ms, rq->kind != REPLAY_ALL, &st, err)
		    : store_open(cfg->database, cfg->limits.busy_timeout_ms, &st, err);
	if (rc == AMICD_OK)
		rc = store_max_event_id(st, &max_id, err);
	w.st = st;
	if (rc == AMICD_OK)
		rc = apply_chunks(&w, rq, shadow, max_id, cancel, err);
	if (rc == AMICD_OK && rq->dry_run) {
		size_t n = 0;

		/* decided on the shadow: nothing is written, no lock is taken */
		rc = apply_decide_all(cfg, st, util_now_ms(), true, out->decisions, NULL, &n, NULL, err);
	} else if (rc == AMICD_OK) {
		/* the short part, under the write lock: catch up, swap (a full replay), decide */
		rc = store_begin(st, err);
		if (rc == AMICD_OK && rq->kind == REPLAY_ALL) {
			int64_t newest = 0;

			rc = store_max_event_id(st, &newest, err);
			if (rc == AMICD_OK && newest > max_id) {
				w.last_id = max_id;
				rc = store_events_walk(st, true, max_id + 1, newest, (int)(newest - max_id), NULL, replay_event, &w,
						       err);
			}
			if (rc == AMICD_OK)
				rc = store_shadow_swap(st, &out->changed_rows, err);
		}
		if (rc == AMICD_OK)
			rc = apply_decide_all(cfg, st, util_now_ms(), false, out->decisions, promoted, &out->promotions, NULL, err);
		if (rc == AMICD_OK)
			rc = store_commit(st, err);
		if (rc != AMICD_OK)
			store_rollback(st);
	}
	store_close(&st);
	if (rc != AMICD_OK) {
		free(out->decisions);
		out->decisions = NULL;
		out->n_decisions = 0;
	}
	return rc;
}
