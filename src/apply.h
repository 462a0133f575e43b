/*
 * apply.h — what turns stored deliveries into promotions, on a store
 * connection the caller owns and inside the caller's transaction: apply one
 * event's facts; run the decision engine (decide.h) for every ASG and record
 * the promotions it calls for. Used by the worker (queued events as they come)
 * and by the admin replay (any stored events, again, possibly as a dry run).
 * The clock is the caller's: promotions are stamped with the now_ms passed in.
 *
 * Ownership: arguments are borrowed; decisions (may be NULL) is filled in place.
 */
#ifndef AMICD_APPLY_H
#define AMICD_APPLY_H

#include "config.h"
#include "decide.h"
#include "error.h"
#include "facts.h"
#include "store_facts.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One event made ready to apply: its facts and the status they give it. */
struct apply_event {
	int64_t id;
	char kind[32];
	json_t *payload;          /* the facts point into it */
	struct fact_list facts;
	const char *status;       /* "processed", "ignored" or "failed" */
	char note[600];
};

/*
 * apply_event_prepare — parse ev and derive its facts, without touching the
 * store (so a caller can do it before taking the write lock). Never fails:
 * an event that does not parse gets status "failed" and a note. Release with
 * apply_event_release.
 */
void apply_event_prepare(const struct config *cfg, const struct store_queued *ev, struct apply_event *out);

/*
 * apply_event_prepare_doc — the same from a payload already parsed (a delivery
 * on its request path): facts and status exactly as apply_event_prepare would
 * derive them from the stored bytes, but the facts own their strings (payload
 * stays NULL), so doc may be freed at once. id is left 0 for the caller to
 * set. AMICD_ERR_NOMEM leaves nothing to release.
 */
enum amicd_rc apply_event_prepare_doc(const struct config *cfg, const char *source, const char *kind,
				      const json_t *doc, struct apply_event *out);

/* apply_event_write — write a prepared event's facts and status, in the caller's transaction. */
enum amicd_rc apply_event_write(struct store *st, const struct apply_event *ev, struct amicd_error *err);

void apply_event_release(struct apply_event *ev);

/*
 * apply_event — prepare and write in one go: apply ev's facts and set its
 * status: "processed" (it yielded facts), "ignored" (valid, nothing to act on;
 * the note says why) or "failed" (its payload does not parse as its kind).
 * *n_facts counts the facts. Fails only when the store does.
 */
enum amicd_rc apply_event(const struct config *cfg, struct store *st, const struct store_queued *ev,
			  size_t *n_facts, struct amicd_error *err);

/* What the decision engine said for one ASG. */
struct apply_decision {
	const char *asg;          /* the config's identifier */
	bool promote;
	char commit[72];          /* promote: the new pin; keep: the pin ("" when none) */
	char image_id[64];
	enum decide_state state;
	char reason[256];
};

/*
 * apply_affected — set affected[i] (cfg->n_asgs entries) for every ASG whose
 * decision or status the fact f may change, asking st (the caller's
 * transaction, the fact applied or not) who sees an image whose state changed:
 * a push or branch observation moves the ASGs following that repo and branch;
 * a tag, share or images observation the ASGs of that account (a public or
 * organization share: all) in that region; an image's state or owner the ASGs
 * of the accounts that see a tag on it, of its owner, and those pinned to it.
 * A pass then decides only those instead of every ASG.
 */
enum amicd_rc apply_affected(const struct config *cfg, struct store *st, const struct fact *f, bool *affected,
			     struct amicd_error *err);

/*
 * apply_decide_all — decide every configured ASG (only: those with only[i]
 * set; NULL: all); unless dry_run, record a
 * promotion (actor "auto", at now_ms) for each that should move, and set
 * promoted[i] (cfg->n_asgs entries, may be NULL). decisions (cfg->n_asgs
 * entries, may be NULL) receives each ASG's decision.
 */
enum amicd_rc apply_decide_all(const struct config *cfg, struct store *st, int64_t now_ms, bool dry_run,
			       struct apply_decision *decisions, bool *promoted, size_t *n_promoted,
			       const bool *only, struct amicd_error *err);

#endif
