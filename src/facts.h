/*
 * facts.h — what a stored delivery means as facts: pushes to a tracked branch,
 * and for AMIs their state, owner, shares, and tags as seen from one account.
 *
 * Pure: no I/O, no clock. The store applies the facts; because every AMI fact
 * carries its event time, the store keeps, per fact, the one from the newest
 * event, and breaks ties of equal times by the fact's own value (a later
 * lifecycle state, a removed share, a deleted tag, then the greater value) —
 * never by arrival — so applying events in any order, any number of times,
 * converges to the same facts. (A DeleteTags depends on the value it meets at
 * its time, so the store keeps every tag operation and replays them in time
 * order.)
 *
 * Ownership: strings in a struct fact point into the payload or into the
 * fact_list (which owns normalised copies); both must outlive the facts.
 */
#ifndef AMICD_FACTS_H
#define AMICD_FACTS_H

#include "config.h"
#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum fact_kind {
	FACT_PUSH,       /* repo, branch, before, after, deleted */
	FACT_AMI_SEEN,   /* region, image_id, owner (may be NULL): the AMI exists */
	FACT_AMI_STATE,  /* region, image_id, state */
	FACT_AMI_SHARE,  /* region, image_id, account (an account id, "all" for public, or an organization
			    or OU ARN), shared */
	FACT_AMI_TAG,    /* region, image_id, account (the viewer), key, value; deleted: a DeleteTags
			    of key (NULL: every tag the account set, but aws:*) that removes it only
			    when value (the value it named) is NULL or matches */
	FACT_BRANCH_SEEN,  /* repo, branch, after (NULL: the branch is gone): GitLab's answer at time_ms */
	FACT_IMAGES_SEEN,  /* account, region, key (tag name), value (commit), listed: every image the
			      account can launch tagged key = value there, as of time_ms */
};

struct fact {
	enum fact_kind kind;
	int64_t time_ms;        /* when it happened (event time), the ordering key */
	const char *region;
	const char *image_id;
	const char *owner;
	const char *state;
	const char *account;
	bool shared;
	const char *key;
	const char *value;
	const char *repo;       /* FACT_PUSH: normal form of the tracked repo */
	const char *branch;
	const char *before;
	const char *after;
	bool deleted;           /* FACT_PUSH: a branch deletion; FACT_AMI_TAG: a DeleteTags */
	const char *listed;     /* FACT_IMAGES_SEEN: ",ami-1,ami-2," sorted ("," when none) */
};

struct fact_list {
	struct fact *items;
	size_t n;
	size_t cap;
	char **owned;           /* strings the facts point to */
	size_t n_owned;
	char note[300];         /* why the event yields no facts, or what its facts leave unknown; "" */
};

/*
 * facts_from_event — the facts of one stored delivery (source "gitlab" or
 * "eventbridge", kind and payload as stored) or observation (source
 * "gitlab-api", kind "branch_head"; source "ec2-api", kind "images": the
 * payloads reconcile.c stores, described in docs/api.md). A delivery that is valid but not acted on
 * (untracked branch, CloudTrail error, other kinds) yields no facts and says why
 * in out->note. AMICD_ERR_INVALID when the payload does not parse as its kind.
 * out must be zeroed or freshly freed; free with fact_list_free.
 */
enum amicd_rc facts_from_event(const struct config *cfg, const char *source, const char *kind,
			       const json_t *payload, struct fact_list *out, struct amicd_error *err);

void fact_list_free(struct fact_list *list);

/*
 * fact_list_detach — copy every string the facts point to into the list
 * itself, so that the payload they were derived from can be freed (the facts
 * a delivery's request derived travel to the worker this way). On
 * AMICD_ERR_NOMEM the list is unchanged.
 */
enum amicd_rc fact_list_detach(struct fact_list *list);

/*
 * fact_state_rank — where an AMI state stands in its lifecycle, for states
 * reported with equal event times: pending (and transient) 0 < available 1 <
 * failed, error, invalid and unknown states 2 < disabled 3 < deregistered 4.
 * The later one wins, so the order of arrival never decides.
 */
int fact_state_rank(const char *state);

#endif
