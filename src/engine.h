/*
 * engine.h — the steps that turn stored deliveries into promotions, on a store
 * connection the caller owns and inside the caller's transaction: apply one
 * event's facts; decide every ASG and record the promotions. Used by the worker
 * (queued events as they come) and by the admin replay (any stored events,
 * again, possibly as a dry run).
 *
 * Ownership: arguments are borrowed; decisions (may be NULL) gets new entries.
 */
#ifndef AMICD_ENGINE_H
#define AMICD_ENGINE_H

#include "config.h"
#include "error.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* One event made ready to apply: its facts and the status they give it. */
struct engine_event {
	int64_t id;
	char kind[32];
	json_t *payload;          /* the facts point into it */
	struct fact_list facts;
	const char *status;       /* "processed", "ignored" or "failed" */
	char note[600];
};

/*
 * engine_event_prepare — parse ev and derive its facts, without touching the
 * store (so a caller can do it before taking the write lock). Never fails:
 * an event that does not parse gets status "failed" and a note. Release with
 * engine_event_release.
 */
void engine_event_prepare(const struct config *cfg, const struct store_queued *ev, struct engine_event *out);

/* engine_event_apply — write a prepared event's facts and status, in the caller's transaction. */
enum amicd_rc engine_event_apply(struct store *st, const struct engine_event *ev, struct amicd_error *err);

void engine_event_release(struct engine_event *ev);

/*
 * engine_apply_event — prepare and apply in one go: apply ev's facts and set its status: "processed" (it
 * yielded facts), "ignored" (valid, nothing to act on; the note says why) or
 * "failed" (its payload does not parse as its kind). *n_facts counts the facts.
 * Fails only when the store does.
 */
enum amicd_rc engine_apply_event(const struct config *cfg, struct store *st, const struct store_queued *ev,
				 size_t *n_facts, struct amicd_error *err);

/*
 * engine_decide_all — decide every configured ASG; unless dry_run, record a
 * promotion (actor "auto") for each that should move, and set promoted[i]
 * (cfg->n_asgs entries, may be NULL). decisions (may be NULL) receives one
 * {asg, action, commit, image_id, reason} per ASG.
 */
enum amicd_rc engine_decide_all(const struct config *cfg, struct store *st, bool dry_run, json_t *decisions,
				bool *promoted, size_t *n_promoted, struct amicd_error *err);

/* engine_pin_unavailable — for each ASG whether its pinned AMI is unavailable (see
 * decide_pin_unavailable); why[i] (may be NULL) gets the reason, static. */
enum amicd_rc engine_pins_unavailable(const struct config *cfg, struct store *st, bool *unavailable,
				      const char **why, struct amicd_error *err);

#endif
