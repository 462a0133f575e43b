/*
 * store_facts.h — the store's derived side, in the decision engine's terms:
 * the worker's walk over queued events, facts applied as rows (facts.h), and
 * the decision input of one ASG read back (decide.h). Kept apart from store.h
 * so that what only stores and lists data does not depend on the decision engine.
 *
 * Ownership: arguments are borrowed; a struct store_asg_facts is the caller's,
 * released with store_asg_facts_free, and everything its accessors return
 * lives as long as it does.
 */
#ifndef AMICD_STORE_FACTS_H
#define AMICD_STORE_FACTS_H

#include "config.h"
#include "decide.h"
#include "error.h"
#include "facts.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- events for the worker, facts in (store_facts.c) ------------------------- */

/* A queued event, handed to the worker (borrowed for the callback's duration). */
struct store_queued {
	int64_t id;
	const char *source;
	const char *kind;
	const void *payload;
	size_t payload_len;
};

/*
 * store_events_walk — call fn for up to limit events of status "queued" with
 * ids from from_id to to_id (0: no upper bound), oldest first, inside the
 * caller's transaction. A non-AMICD_OK return from fn stops the walk and is
 * returned. With all set, every event is visited whatever its status (replay).
 * need_payload (NULL: always) is asked first, for each event: false means fn
 * needs no payload (ev->payload NULL), and the body is not read at all.
 */
enum amicd_rc store_events_walk(struct store *st, bool all, int64_t from_id, int64_t to_id, int limit,
				bool (*need_payload)(int64_t id, void *cls),
				enum amicd_rc (*fn)(const struct store_queued *ev, void *cls), void *cls,
				struct amicd_error *err);

/* store_event_set_status — "processed", "ignored" or "failed", with a note (may be NULL). */
enum amicd_rc store_event_set_status(struct store *st, int64_t id, const char *status, const char *note,
				     struct amicd_error *err);

/*
 * store_image_viewers — for image_id in region: fn(account, NULL) for every
 * account that sees a tag on it, and fn(NULL, asg) for every ASG pinned to it
 * (in the caller's transaction): whose decisions a change of the image's state
 * can move.
 */
enum amicd_rc store_image_viewers(struct store *st, const char *region, const char *image_id,
				  void (*fn)(const char *account, const char *pinned_asg, void *cls), void *cls,
				  struct amicd_error *err);

/* store_fact_apply — apply one fact of event_id (last writer wins by time, then id). */
enum amicd_rc store_fact_apply(struct store *st, const struct fact *f, int64_t event_id, struct amicd_error *err);

/* --- the decision input of one ASG (store_asg.c) ------------------------------ */

/* The facts about one ASG, loaded for the decision engine. */
struct store_asg_facts;

/*
 * store_asg_facts_load — head, pushed commits, pin and frozen flag of asg, and
 * the AMIs of the ASG's region that its account sees tagged with the commits a
 * decision needs (pin, head, configured commit, those pushed since the pin),
 * plus the pinned AMI. Free with
 * store_asg_facts_free.
 */
enum amicd_rc store_asg_facts_load(struct store *st, const struct config_asg *asg,
				   struct store_asg_facts **out, struct amicd_error *err);
/*
 * store_asg_facts_load_for — the same, with the AMIs of n_extra more commits
 * (extra[i] borrowed), for readiness asked about commits the decision itself
 * does not need (a manual pin, the API's lists).
 */
enum amicd_rc store_asg_facts_load_for(struct store *st, const struct config_asg *asg, const char *const *extra,
				       size_t n_extra, struct store_asg_facts **out, struct amicd_error *err);
const struct decide_input *store_asg_facts_input(const struct store_asg_facts *f);
/* The head push's event id and receipt time ("" when no head). */
int64_t store_asg_facts_head_event(const struct store_asg_facts *f);
const char *store_asg_facts_head_received_at(const struct store_asg_facts *f);
/* Where the head came from: "gitlab" (a push), "gitlab-api" (GitLab's branch API), "" when no head. */
const char *store_asg_facts_head_source(const struct store_asg_facts *f);
/* How GitLab's branch API last answered about the ASG's branch (found false: never asked). */
const struct store_source_check *store_asg_facts_gitlab_check(const struct store_asg_facts *f);
/* Hold a head that came from a push until GitLab's branch API agrees (apply.c, status.c decide it). */
void store_asg_facts_set_unconfirmed(struct store_asg_facts *f, bool unconfirmed);
/* The pin's promotion id and time (0 / "" when no pin). */
int64_t store_asg_facts_pin_promotion(const struct store_asg_facts *f);
const char *store_asg_facts_pin_promoted_at(const struct store_asg_facts *f);
/* The pinned AMI as the ASG's account sees it (NULL when unknown or no pin). */
const struct decide_ami *store_asg_facts_pin_ami(const struct store_asg_facts *f);
/* The pinned AMI's owner account (NULL when unknown or no pin). */
const char *store_asg_facts_pin_owner(const struct store_asg_facts *f);
/* Whether, why, by whom and when the ASG was last frozen or unfrozen. */
struct store_asg_state {
	bool known;             /* ever frozen or unfrozen */
	bool frozen;
	char reason[256];
	char actor[16];
	char changed_at[32];
};
const struct store_asg_state *store_asg_facts_state(const struct store_asg_facts *f);
/* A commit blocked for the ASG (design §1): why, by whom, when. */
struct store_blocked {
	const char *commit;     /* lower-case hex */
	const char *reason;
	const char *actor;
	const char *at;         /* RFC 3339 */
};
/* The ASG's blocked commits, oldest block first; *n counts them. */
const struct store_blocked *store_asg_facts_blocked(const struct store_asg_facts *f, size_t *n);
void store_asg_facts_free(struct store_asg_facts **f);

#endif
